"""Live pages: what one update of a training run's Overview costs, and many live runs at once.

As a ratio benchmark (`benchmarks/run.py live`): one second of a p = 59 run's training (about
30 new epochs) reaching an open Overview, through the app's own request handling. Baseline: the
page's summaries drawn again (what a page without live patches would send); candidate: the
summary figures' callbacks as they answer now (the loss curve's new points appended by Patch,
the other figures left alone). The notes give the bytes each sends, and the once-a-second poll's answer
while nothing changed.

    .venv/bin/python -m benchmarks.bench_live [--runs 10] [--seconds 30]

runs `--runs` live runs on one served app (each a writer appending a row every 30 ms, like a
training run, with a checkpoint every 100 epochs) and one client per run polling its run and
updating its Overview as a browser does, and prints latency percentiles and bytes per update.
Everything stays on 127.0.0.1. Nothing here asserts a time.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.bench_app import callback_body, page_key
from benchmarks.run import Benchmark

_state: dict = {}
EPOCHS_PER_SECOND = 30


def _run():
    """A finished p = 59 run of 600 epochs, to replay as if it were training (trained on first use)."""
    if "source" not in _state:
        from workbench.families import load_family
        from workbench.store import Store
        from workbench.training import train
        store = Store(Path(tempfile.mkdtemp()) / "source")
        variant = load_family("modular_addition_demo").variant(epochs=600, every=[[100, 600]])
        train(variant, store, progress=False)
        _state["source"] = (store, variant.ref)
    return _state["source"]


class LiveRun:
    """A copy of the source run, cut at `start`, that a call to `advance` trains on by rows."""

    def __init__(self, root: Path, start: int = 300):
        from workbench import live
        from workbench.store import Store
        source, ref = _run()
        self.store, self.ref, self.epoch = Store(root), ref, start
        self.store.write_info(ref, {**source.info(ref), "status": "training"})
        self.saved = source.load_history(ref)
        cut = {k: (x[x <= start], y[x <= start]) for k, (x, y) in self.saved.series.items()}
        self.store.save_history(ref, live.History(cut))
        for epoch in source.checkpoint_epochs(ref):
            if epoch <= start:
                self.store.save_checkpoint(ref, epoch, source.load_weights(ref, epoch))
        self.lock = self.store.lock(ref, "training")
        self.lock.__enter__()
        self.log = live.LiveLog(self.store, ref, list(self.saved), start + 1, 600, every=1e9)

    def advance(self, epochs: int) -> None:
        for _ in range(epochs):
            self.epoch = min(self.epoch + 1, 599)
            self.log.add(self.epoch, {k: self.saved.value_at(k, self.epoch) for k in self.saved})
        self.log.flush()

    def close(self) -> None:
        self.log.close()
        self.lock.__exit__(None, None, None)


def _client(app):
    from benchmarks.bench_app import _callback
    client = app.server.test_client()
    return client, summary_callbacks(client), _callback(client, "live-stamp")


def summary_callbacks(client) -> list[dict]:
    """The Overview's summary figures' callbacks (one per figure, each with its rendered store)."""
    return [c for c in client.get("/_dash-dependencies").get_json()
            if '"type":"wb-rendered"' in c["output"] and '"name":"overview-' in c["output"]]


def _rendered(body: bytes, before):
    answer = json.loads(body)["response"] if body else {}
    return next((v["data"] for k, v in answer.items() if "wb-rendered" in k), before)


def _summaries(client, callbacks, selection, rendered) -> tuple[int, list]:
    """Every summary callback's answer to a live update: (bytes in all, what each renders now)."""
    from benchmarks.bench_app import _post
    rendered = rendered or [None] * len(callbacks)
    bodies = [_post(client, c, [page_key(selection), {}], [selection, r], "live.data") for c, r in zip(callbacks, rendered)]
    return sum(len(b) for b in bodies), [_rendered(b, r) for b, r in zip(bodies, rendered)]


def _setup():
    if "live" not in _state:
        from workbench.app import create_app
        run = LiveRun(Path(tempfile.mkdtemp()) / "data")
        app = create_app(run.store.root)
        client, summaries, poll = _client(app)
        selection = {"variant": str(run.ref), "epoch": 300}
        _body, rendered = _summaries(client, summaries, selection, None)
        _state["live"] = (run, client, summaries, poll, selection, rendered)
    return _state["live"]


def _one_second(patched: bool) -> int:
    """One second of training (EPOCHS_PER_SECOND rows), then the Overview's summaries answer."""
    run, client, summaries, _poll, selection, rendered = _setup()
    if run.epoch >= 590:
        run.close()
        _state.pop("live")
        run, client, summaries, _poll, selection, rendered = _setup()
    run.advance(EPOCHS_PER_SECOND)
    size, new = _summaries(client, summaries, selection, rendered if patched else None)
    if patched:
        _state["live"] = (run, client, summaries, _poll, selection, new)
    _state["bytes", patched] = size
    return size


def _notes(_seconds: float) -> str:
    from benchmarks.bench_app import _post
    run, client, _summaries_cb, poll, selection, _rendered = _setup()
    first = _post(client, poll, [1], [selection, None], "live-interval.n_intervals")
    token = json.loads(first)["response"]["live-stamp"]["data"]
    response = client.post("/_dash-update-component", data=json.dumps({
        "output": poll["output"], "outputs": [{"id": o.split(".")[0], "property": o.split(".")[1]}
                                              for o in poll["output"].strip(".").split("...")],
        "inputs": [{**poll["inputs"][0], "value": 2}],
        "state": [{**poll["state"][0], "value": selection}, {**poll["state"][1], "value": token}],
        "changedPropIds": ["live-interval.n_intervals"]}), content_type="application/json")
    return (f"bytes per update ({EPOCHS_PER_SECOND} new epochs): {_state.get(('bytes', True), 0):,} patched vs "
            f"{_state.get(('bytes', False), 0):,} drawn again; a poll while nothing changed: HTTP "
            f"{response.status_code}, {len(response.get_data()):,} bytes")


BENCHMARKS = [
    Benchmark("live: one second of a p=59 run's training reaching an open Overview (server time, JSON included)",
              ("summaries drawn again", lambda: _one_second(False)), ("appended by Patch", lambda: _one_second(True)),
              repeats=5, notes=_notes),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_live")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args(argv)
    from werkzeug.serving import make_server

    from workbench.app import create_app
    root = Path(tempfile.mkdtemp())
    from workbench.store import VariantRef
    runs = [LiveRun(root / "data", start=300)]  # and copies of it under other ids, on the same data root
    runs += [_copy(runs[0], VariantRef(runs[0].ref.family, f"{runs[0].ref.id}-live{i}")) for i in range(1, args.runs)]
    app = create_app(root / "data")
    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    latencies, sizes, stop = {"poll": [], "update": []}, [], time.monotonic() + args.seconds

    def write(run):
        while time.monotonic() < stop:
            run.advance(3)
            time.sleep(0.1)

    def browse(run):
        from benchmarks.bench_app import _callback
        client = app.server.test_client()
        poll, summaries = _callback(client, "live-stamp"), summary_callbacks(client)
        url = f"http://127.0.0.1:{server.server_port}/_dash-update-component"
        selection, token, rendered, n = {"variant": str(run.ref), "epoch": 300}, None, [None] * len(summaries), 0
        while time.monotonic() < stop:
            n += 1
            began = time.perf_counter()
            answer = _http(url, poll, [n], [selection, token])
            latencies["poll"].append(time.perf_counter() - began)
            if answer:
                token = answer["response"]["live-stamp"]["data"]
                began = time.perf_counter()
                live_data = answer["response"]["live"]["data"]
                bodies = [_http(url, c, [page_key(selection), live_data], [selection, r], raw=True)
                          for c, r in zip(summaries, rendered)]
                latencies["update"].append(time.perf_counter() - began)
                sizes.append(sum(len(b) for b in bodies))
                rendered = [_rendered(b, r) for b, r in zip(bodies, rendered)]
            time.sleep(max(0.0, 1.0 - (time.perf_counter() - began)))

    threads = [threading.Thread(target=f, args=(r,)) for r in runs for f in (write, browse)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    server.shutdown()
    for run in runs:
        run.close()
    for kind, values in latencies.items():
        if values:
            values = sorted(values)
            print(f"{kind:7s} {len(values):5d} requests  p50 {1000 * statistics.median(values):7.1f} ms  "
                  f"p95 {1000 * values[int(0.95 * (len(values) - 1))]:7.1f} ms")
    if sizes:
        print(f"bytes per update: median {statistics.median(sizes):,.0f}, max {max(sizes):,}")
    return 0


def _copy(run: LiveRun, ref) -> LiveRun:
    """Another live run like `run`, under `ref`, on the same data root."""
    from workbench import live
    copy = LiveRun.__new__(LiveRun)
    copy.store, copy.ref, copy.epoch, copy.saved = run.store, ref, run.epoch, run.saved
    source, source_ref = _run()
    copy.store.write_info(ref, {**source.info(source_ref), "id": ref.id, "status": "training"})
    copy.store.save_history(ref, run.store.load_history(run.ref))
    for epoch in run.store.checkpoint_epochs(run.ref):
        copy.store.save_checkpoint(ref, epoch, run.store.load_weights(run.ref, epoch))
    copy.lock = copy.store.lock(ref, "training")
    copy.lock.__enter__()
    copy.log = live.LiveLog(copy.store, ref, list(run.saved), run.epoch + 1, 600, every=1e9)
    return copy


def _http(url, callback, inputs, state, raw=False):
    import urllib.request

    first = callback["inputs"][0]
    body = callback_body(callback, inputs, state, f"{first['id']}.{first['property']}")
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        text = response.read()
    if raw:
        return text
    return json.loads(text) if text else None


if __name__ == "__main__":
    sys.exit(main())
