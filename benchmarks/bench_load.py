"""Load: concurrent clients stepping epochs and switching pages against a real `workbench serve`.

    .venv/bin/python -m benchmarks.bench_load [--clients 20] [--seconds 60] [--data DIR]

Each client opens the app as a browser does (page, layout, dependencies), then loops: pick a page
and an epoch, send the selection callback (`/_dash-update-component`, the URL's new query), the
router's callback for the page, and the page's figure callbacks with the selection the server
returned - the same POSTs the browser sends. Everything stays on 127.0.0.1. Prints requests,
errors (non-2xx answers and callbacks that failed with the app's error message), p50/p95
latency per request kind, and the server's resident memory over time: it should level off,
not grow with the number of requests. Without --data it serves the p = 113 variant of
bench_app (trained on first use, about three minutes). Nothing here asserts a time.
"""
from __future__ import annotations

import argparse
import json
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from pathlib import Path

from benchmarks.bench_app import page_key

BENCHMARKS: list = []  # not a ratio benchmark; run this module directly
COLD_SECONDS = 15  # the server's first seconds: torch loading, every checkpoint's maps computed for the first time
PAGES = ["/", "/fourier", "/neurons", "/attention", "/dimensionality", "/progress", "/trajectories", "/inputs"]


class Client:
    """One simulated user, with its own cookie-less connection and the layout's callback specs."""

    def __init__(self, url: str, variant: str, epochs: list[int], rng: random.Random, record):
        self.url, self.variant, self.epochs, self.rng, self.record = url, variant, epochs, rng, record
        self.selection = None

    def request(self, kind: str, path: str, body: dict | None = None) -> dict | None:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data,
                                         headers={"Content-Type": "application/json"} if data else {})
        start = time.perf_counter()
        error = None
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                text = response.read()
                status = response.status
        except urllib.error.HTTPError as err:
            text, status, error = err.read(), err.code, f"HTTP {err.code}: {err.read()[:200]!r}"
        except (urllib.error.URLError, OSError) as err:
            text, status, error = b"", 0, f"{type(err).__name__}: {err}"
        answer = json.loads(text) if status == 200 and text[:1] == b"{" and body is not None else None
        if answer and "app-error" in answer.get("sideUpdate", {}):
            error = "callback failed: " + str(answer["sideUpdate"]["app-error"].get("children"))[:200]
        self.record(kind, time.perf_counter() - start, error)
        return answer

    def open(self, page: str) -> list[dict]:
        self.request("page", page + f"?variant={self.variant}")
        self.request("layout", "/_dash-layout")
        return json.loads(urllib.request.urlopen(self.url + "/_dash-dependencies", timeout=60).read())

    def run(self, stop: threading.Event, dependencies: list[dict]) -> None:
        by_output = {d["output"]: d for d in dependencies}
        select = next(d for d in dependencies if d["output"].startswith("..url.search...selection.data"))
        route = by_output["page-content.children"]
        while not stop.is_set():
            page = self.rng.choice(PAGES)
            query = f"?variant={self.variant}&epoch={self.rng.choice(self.epochs)}"
            answer = self.request("select", "/_dash-update-component", _body(select, {
                ("url", "search"): query, ("variant", "options"): [{"value": self.variant}],
                ("selection", "data"): self.selection}, changed="url.search"))
            if answer:
                self.selection = answer["response"]["selection"]["data"]
            self.request("route", "/_dash-update-component", _body(route, {
                ("url", "pathname"): page, ("download-format", "value"): "png"}, changed="url.pathname"))
            name = page.strip("/") or "overview"
            values = {("selection", "data"): self.selection, (f"{name}-page-key", "data"): page_key(self.selection)}
            for spec in dependencies:  # every figure of the new page (summaries by its page key)
                if spec["output"].startswith("..{") and f'"name":"{name}-' in spec["output"] \
                        and any(i["id"] in ("selection", f"{name}-page-key") for i in spec["inputs"]):
                    self.request(f"figures {name}", "/_dash-update-component",
                                 _body(spec, values, changed="selection.data"))


def _body(spec: dict, values: dict, changed: str) -> dict:
    """The POST a browser sends for the callback `spec`, with the given input and state values
    (others None)."""
    def items(deps):
        return [{"id": _parse_id(d["id"]), "property": d["property"],
                 "value": values.get((d["id"], d["property"]))} for d in deps]
    outputs = [dict(zip(("id", "property"), o.rsplit(".", 1))) for o in spec["output"].strip(".").split("...")]
    outputs = [{"id": _parse_id(o["id"]), "property": o["property"]} for o in outputs]
    return {"output": spec["output"], "outputs": outputs if spec["output"].startswith("..") else outputs[0],
            "inputs": items(spec["inputs"]), "state": items(spec["state"]), "changedPropIds": [changed]}


def _parse_id(text: str):
    return json.loads(text) if text.startswith("{") else text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _default_data() -> tuple[Path, str]:
    from benchmarks.bench_app import variant_ref
    store, ref = variant_ref()
    return store.root, str(ref)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--data", help="data root to serve (default: bench_app's p=113 variant)")
    parser.add_argument("--variant", help="family/id to browse (default: the first in the data root)")
    args = parser.parse_args(argv)

    import psutil

    from workbench.store import Store
    root, variant = (Path(args.data), args.variant) if args.data else _default_data()
    store = Store(root)
    variant = variant or str(store.variants()[0])
    epochs = store.checkpoint_epochs(next(r for r in store.variants() if str(r) == variant))
    port = _free_port()
    # The server's log goes to a file: a pipe nobody reads fills up and stalls the server.
    log = tempfile.NamedTemporaryFile("w+", prefix="workbench-serve-", suffix=".log")
    command = [sys.executable, "-m", "workbench.cli", "serve", "--data", str(root), "--port", str(port)]
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(url, server, log)
        memory = psutil.Process(server.pid)
        latencies, errors, lock = defaultdict(list), Counter(), threading.Lock()
        start, by_second = time.monotonic(), []  # by_second: (seconds since the clients started, latency): the cold start apart from the rest

        def record(kind, seconds, error):
            with lock:
                latencies[kind].append(seconds)
                by_second.append((time.monotonic() - start - seconds, seconds))
                if error:
                    errors[error] += 1

        rng = random.Random(0)
        clients = [Client(url, variant, epochs, random.Random(rng.random()), record) for _ in range(args.clients)]
        dependencies = clients[0].open("/")
        rss = [(0.0, _rss(memory))]
        stop = threading.Event()
        threads = [threading.Thread(target=c.run, args=(stop, dependencies), daemon=True) for c in clients]
        start = time.monotonic()
        for t in threads:
            t.start()
        while time.monotonic() - start < args.seconds:
            stop.wait(min(5.0, max(0.0, args.seconds - (time.monotonic() - start))))
            rss.append((time.monotonic() - start, _rss(memory)))
        stop.set()
        for t in threads:
            t.join(timeout=120)
        _report(args, variant, len(epochs), latencies, errors, rss, time.monotonic() - start)
        for label, keep in ((f"started in the first {COLD_SECONDS} s", lambda t: t < COLD_SECONDS),
                            ("started after that", lambda t: t >= COLD_SECONDS)):
            values = [s for t, s in by_second if keep(t)]
            print(f"  {label:28s} {len(values):6,d} requests  p50 {_ms(values, 50)}  p95 {_ms(values, 95)}")
        _print_failures(Path(log.name).read_text())
    finally:
        server.terminate()
        server.wait(timeout=30)
    return 0


def _rss(process) -> float:
    """Resident memory of the server and any processes it started, in MiB."""
    total = process.memory_info().rss
    for child in process.children(recursive=True):
        try:
            total += child.memory_info().rss
        except Exception:  # a child that just exited
            pass
    return total / 2**20


def _wait_until_serving(url: str, server: subprocess.Popen, log) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"workbench serve exited: {Path(log.name).read_text()}")
        try:
            urllib.request.urlopen(url + "/_dash-layout", timeout=5).read()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("workbench serve did not answer within two minutes")


def _report(args, variant, n_epochs, latencies, errors, rss, elapsed) -> None:
    every = [s for values in latencies.values() for s in values]
    print(f"load: {args.clients} clients for {elapsed:.0f} s against workbench serve ({variant}, {n_epochs} "
          f"checkpoints)")
    print(f"  requests  {len(every):,} ({len(every) / elapsed:.1f}/s), errors {sum(errors.values())}")
    print(f"  latency   p50 {_ms(every, 50)}  p95 {_ms(every, 95)}  max {max(every) * 1000:,.0f} ms")
    for kind in sorted(latencies):
        values = latencies[kind]
        print(f"    {kind:22s} {len(values):6,d} requests  p50 {_ms(values, 50)}  p95 {_ms(values, 95)}")
    print("  memory    RSS " + " -> ".join(f"{mib:.0f}" for _, mib in rss) + " MiB (every 5 s)")
    for error, count in errors.most_common(5):
        print(f"  error x{count}: {error}")


def _print_failures(log: str) -> None:
    """The last line of each distinct traceback the server logged for a failed callback."""
    failures = Counter()
    for block in log.split("callback failed")[1:]:
        lines = [line for line in block.splitlines() if line and not line.startswith((" ", "Traceback", "127.0.0.1"))]
        failures[lines[0] if lines else "?"] += 1
    for line, count in failures.most_common(5):
        print(f"  server: callback failed x{count}: {line}")


def _ms(values: list[float], q: int) -> str:
    if len(values) < 2:
        return f"{values[0] * 1000:,.0f} ms" if values else "-"
    return f"{statistics.quantiles(values, n=100)[q - 1] * 1000:,.0f} ms"


if __name__ == "__main__":
    sys.exit(main())
