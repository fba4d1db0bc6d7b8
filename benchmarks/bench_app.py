"""App speed at p=113 with 101 checkpoints: an epoch step on Overview and Neurons (server time),
the first page load in Chromium, and `workbench serve` start-up.

The first run trains and analyzes a real p=113 variant (1,000 epochs, a checkpoint every 10;
about three minutes) into benchmarks/.data; later runs reuse it."""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from benchmarks.run import Benchmark

ROOT = Path(__file__).resolve().parent / ".data"
_state = {}


def variant_ref():
    if "ref" not in _state:
        from workbench.families import load_family
        from workbench.pipeline import analyze
        from workbench.store import Store, VariantRef
        from workbench.training import train
        store = Store(ROOT)
        variant = load_family("modular_addition").variant(epochs=1000, every=[[10, 1000]])
        train(variant, store, progress=True)
        ref = VariantRef(variant.family, variant.id)
        analyze(ref, store, progress=True)
        _state.update(store=store, ref=ref)
    return _state["store"], _state["ref"]


def app_context():
    if "app" not in _state:
        from workbench.app import create_app
        store, ref = variant_ref()
        _state["app"] = create_app(store.root)
    return _state["app"]


def _callback(client, output_contains: str) -> dict:
    """The app's callback whose outputs include `output_contains`, from /_dash-dependencies."""
    return next(c for c in client.get("/_dash-dependencies").get_json() if output_contains in c["output"])


def callback_body(callback: dict, inputs: list, state: list, changed: str) -> dict:
    """The POST body a browser sends to call `callback` (values in the order of its inputs and state)."""
    def parse(spec):
        component, _, prop = spec.rpartition(".")
        return {"id": json.loads(component) if component.startswith("{") else component, "property": prop}
    outputs = [parse(o) for o in callback["output"].strip(".").split("...")]
    return {"output": callback["output"], "outputs": outputs if len(outputs) > 1 else outputs[0],
            "inputs": [{**i, "value": v} for i, v in zip(callback["inputs"], inputs)],
            "state": [{**i, "value": v} for i, v in zip(callback["state"], state)], "changedPropIds": [changed]}


def _post(client, callback: dict, inputs: list, state: list, changed: str) -> bytes:
    """Call `callback` the way the browser does (values in the order of its inputs and state)."""
    body = callback_body(callback, inputs, state, changed)
    response = client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return response.get_data()


def epoch_step(page: str, patched: bool):
    """One epoch step as the server answers it, through the app's own request handling: the
    selection callback, then the page's summaries and details, serialized to JSON.
    `patched=False` is the baseline: re-render every figure and send it whole, as a page that
    neither moves cursors nor patches figures would."""
    store, ref = variant_ref()
    client = app_context().server.test_client()
    epochs = store.checkpoint_epochs(ref)
    controls = {"overview": [], "neurons": [False, 1]}[page]
    select = _callback(client, "selection.data")
    dependencies = client.get("/_dash-dependencies").get_json()

    def figure_callbacks(kind):  # one callback per figure, each with the store of what it shows
        return [c for c in dependencies if f'"type":"{kind}"' in c["output"] and f'"name":"{page}-' in c["output"]]
    summaries, details = figure_callbacks("wb-rendered"), figure_callbacks("wb-shown")

    def ask(callback, chosen, state) -> bytes:  # as the browser asks: summaries by page key, details by selection
        summary = callback in summaries
        inputs = [page_key(chosen) if summary else chosen, {}, *controls]
        inputs += [True] * (len(callback["inputs"]) - len(inputs))  # a lazy figure is on screen: every one is timed
        return _post(client, callback, inputs, [chosen, state] if summary else [state], "selection.data")
    first = len(epochs) * 2 // 5  # checkpoint 40 of 101
    selection = {"variant": str(ref), "epoch": epochs[first], "neuron": 3, "head": 0}

    def answer(callback, epoch, state):
        response = json.loads(ask(callback, {**selection, "epoch": epoch}, state))["response"]
        return next(v["data"] for k, v in response.items() if "wb-rendered" in k or "wb-shown" in k)
    for callback in summaries:  # drawn once, as a first visit does (an epoch step then asks nothing of them)
        answer(callback, epochs[first], None)
    shown = {}
    for epoch in epochs[first:first + 11]:  # warm the map cache for these epochs, as a first visit does
        for i, callback in enumerate(details):
            shown[epoch, i] = answer(callback, epoch, None)
    step = {"i": first + 1}
    n_inputs = len(select["inputs"])

    def run():
        epoch, previous = epochs[step["i"]], epochs[step["i"] - 1]
        step["i"] = first + 1 + (step["i"] - first) % 10
        inputs = [""] + [None] * (n_inputs - 1)
        names = [f"{i['id']}.{i['property']}" for i in select["inputs"]]
        inputs[names.index("variant.value")], inputs[names.index("epoch-slider.value")] = str(ref), epoch
        inputs[names.index("neuron.value")], inputs[names.index("head.value")] = 3, 0
        _post(client, select, inputs, [selection, [{"value": str(ref)}]], "epoch-slider.value")
        if not patched:  # before: every summary drawn again; now their cursors move in the browser
            for callback in summaries:
                ask(callback, {**selection, "epoch": epoch}, None)
        for i, callback in enumerate(details):
            ask(callback, {**selection, "epoch": epoch}, shown.get((previous, i)) if patched else None)
    return run


def page_key(selection: dict) -> str:
    """What the browser computes for a page's key store (assets/cursor.js): the selection without its epoch."""
    return json.dumps([[k, selection[k]] for k in sorted(selection) if k != "epoch"], separators=(",", ":"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_ready():
    store, _ = variant_ref()
    port = _free_port()
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "workbench.cli", "serve", "--data", str(store.root),
                             "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):  # bounded: at most ~60 s of polling
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1).read()
                return time.perf_counter() - start
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("workbench serve did not answer within 60 s")
    finally:
        proc.terminate()
        proc.wait()


def import_torch():
    subprocess.run([sys.executable, "-c", "import torch, transformer_lens"], check=True)


def first_page_load() -> float:
    """Seconds from navigation to every figure of the Overview drawn, in headless Chromium."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from browser import ServedApp, chromium_driver
    from selenium.webdriver.support.ui import WebDriverWait
    store, ref = variant_ref()
    app = ServedApp(store.root)
    profile = ROOT / "chromium-profile"
    shutil.rmtree(profile, ignore_errors=True)
    driver = chromium_driver(profile)
    try:
        driver.get(f"{app.url}/?variant={ref}")  # warm: fonts, scripts, caches
        times = []
        for _ in range(3):
            start = time.perf_counter()
            driver.get(f"{app.url}/?variant={ref}&epoch=500")
            WebDriverWait(driver, 60).until(lambda d: d.execute_script(
                "const g = document.querySelectorAll('.js-plotly-plot');"
                "return g.length >= 6 && Array.from(g).every(x => x._fullLayout &&"
                " !(x.layout.annotations || []).some(a => a.text === 'loading…'));"))
            times.append(time.perf_counter() - start)
        return min(times)
    finally:
        driver.quit()
        app.close()


def _startup_notes(seconds: float) -> str:
    load = first_page_load()
    return (f"goal: serve ready < 5 s: {'met' if seconds < 5 else 'NOT met'} ({seconds:.2f} s)\n"
            f"first page load (Overview, every figure drawn, Chromium): {load:.2f} s; goal < 1.5 s: "
            f"{'met' if load < 1.5 else 'NOT met'}")


def _step_notes(seconds: float) -> str:
    return f"goal < 100 ms server time per epoch step: {'met' if seconds < 0.1 else 'NOT met'} ({seconds * 1e3:.0f} ms)"


def lazy(factory):
    """A benchmark function built on its first (warm-up, untimed) call."""
    built = {}

    def call():
        if "fn" not in built:
            built["fn"] = factory()
        return built["fn"]()
    return call


BENCHMARKS = [
    Benchmark("app: epoch step on Overview (p=113, 101 checkpoints, server time)",
              ("re-render every figure", lazy(lambda: epoch_step("overview", False))),
              ("cursors and details by Patch", lazy(lambda: epoch_step("overview", True))),
              unit="s", repeats=10, notes=_step_notes),
    Benchmark("app: epoch step on Neurons (p=113, 101 checkpoints, server time)",
              ("re-render every figure", lazy(lambda: epoch_step("neurons", False))),
              ("cursors and details by Patch", lazy(lambda: epoch_step("neurons", True))),
              unit="s", repeats=10, notes=_step_notes),
    Benchmark("app: start-up",
              ("import torch + transformer_lens (what a UI that loads the model pays)", import_torch),
              ("workbench serve until it answers", serve_ready), unit="s", repeats=2, notes=_startup_notes),
]
