"""App speed at p=113 with 101 checkpoints: an epoch step on Overview and Neurons (server time),
the first page load in Chromium, and `workbench serve` start-up.

The first run trains and analyzes a real p=113 variant (1,000 epochs, a checkpoint every 10;
about three minutes) into benchmarks/.data; later runs reuse it."""
from __future__ import annotations

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


def epoch_step(page: str, patched: bool):
    """One epoch step as the server sees it: the selection callback, then the page's callbacks,
    and their outputs serialized to JSON.
    `patched=False` is the baseline: re-render every figure, as a page without cursors would."""
    from dash._utils import to_json
    from workbench.app import sync_selection
    from workbench.pages._common import CALLBACKS
    store, ref = variant_ref()
    app = app_context()
    epochs = store.checkpoint_epochs(ref)
    controls = {"overview": (), "neurons": (False, 1)}[page]
    options = [{"value": str(ref)}]
    with app.server.test_request_context():
        selection = {"variant": str(ref), "epoch": epochs[40], "neuron": 3, "head": 0}
        *_, rendered = CALLBACKS[page]["summaries"](selection, *controls, None)
        for epoch in epochs[41:51]:  # warm the map cache for these epochs, as a first visit does
            CALLBACKS[page]["details"]({**selection, "epoch": epoch}, *controls)
    step = {"i": 41}

    def run():
        with app.server.test_request_context():
            epoch = epochs[step["i"]]
            step["i"] = 41 + (step["i"] - 40) % 10
            with _triggered("epoch-slider"):
                outputs = [sync_selection(search="", variant=str(ref), slider_epoch=epoch, typed_epoch=None,
                                          _prev=None, _next=None, neuron=3, _nprev=None, _nnext=None, head=0,
                                          typed_input=None, probe=None, compare_with=[], _clicks=[], current=selection, options=options)]
            outputs.append(CALLBACKS[page]["summaries"]({**selection, "epoch": epoch}, *controls,
                                                        rendered if patched else None))
            outputs.append(CALLBACKS[page]["details"]({**selection, "epoch": epoch}, *controls))
            to_json(outputs)  # the response body, as Dash serializes it
    return run


class _triggered:
    """Make dash.ctx report `component` as the trigger of a directly called callback."""
    def __init__(self, component):
        self.component = component

    def __enter__(self):
        from dash._callback_context import context_value
        from dash._utils import AttributeDict
        self.token = context_value.set(AttributeDict(triggered_inputs=[{"prop_id": f"{self.component}.value",
                                                                          "value": None}]))

    def __exit__(self, *exc):
        from dash._callback_context import context_value
        context_value.reset(self.token)


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
              ("cursors by Patch, details rebuilt", lazy(lambda: epoch_step("overview", True))),
              unit="s", repeats=10, notes=_step_notes),
    Benchmark("app: epoch step on Neurons (p=113, 101 checkpoints, server time)",
              ("re-render every figure", lazy(lambda: epoch_step("neurons", False))),
              ("cursors by Patch, details rebuilt", lazy(lambda: epoch_step("neurons", True))),
              unit="s", repeats=10, notes=_step_notes),
    Benchmark("app: start-up",
              ("import torch + transformer_lens (what a UI that loads the model pays)", import_torch),
              ("workbench serve until it answers", serve_ready), unit="s", repeats=2, notes=_startup_notes),
]
