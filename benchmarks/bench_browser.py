"""Epoch steps, page switches and the first load in headless Chromium: wall time from the keypress
to the last figure drawn, and bytes of callback answers per step.

    .venv/bin/python -m benchmarks.bench_browser [--data DIR --variant FAMILY/ID] [--steps 10]

The timer runs in the browser (`tests/browser.py` TIMING_SCRIPT): it starts when the ← / → key
is dispatched and stops at the last callback answer or DOM change (Plotly drawing) before the
page goes quiet for 800 ms. Steps alternate between baseline and candidate, so machine load hits
both alike: the baseline first clears the page's record of what the browser shows (the stores
of its figures' prints, through Dash's `set_props`), so that step sends every detail figure
whole, as the app did before figures were patched; the candidate is the app as it is. Summaries
move only their cursors in both. Page switches and the first load (a new browser profile) are
timed once per page, to the last figure on screen drawn (those below the fold are drawn once
scrolled to, assets/lazy.js). Without --data it serves a p = 113 variant trained and analyzed into
benchmarks/.data on first use (200 epochs, a checkpoint every 10: 21 checkpoints; the figures
sent per step are the size of a full run's). Nothing here asserts a time.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

ROOT = Path(__file__).resolve().parent / ".data"
BENCHMARKS: list = []  # not a ratio benchmark of `benchmarks/run.py`; run this module directly
PAGES = {"/": "overview", "/neurons": "neurons", "/compare": "compare"}
WAIT_S = 120
QUIET_MS = 800  # the page is done when nothing happened for this long (longer than a busy machine's pauses)


def variant_ref(p: int = 113, epochs: int = 200):
    """(store, ref) of the benchmark variant, trained and analyzed on first use."""
    from workbench.families import load_family
    from workbench.pipeline import analyze
    from workbench.store import Store, VariantRef
    from workbench.training import train
    store = Store(ROOT)
    variant = load_family("modular_addition").variant(p=p, epochs=epochs, every=[[10, epochs]])
    ref = VariantRef(variant.family, variant.id)
    if not store.checkpoint_epochs(ref) or store.checkpoint_epochs(ref)[-1] < epochs:
        train(variant, store, progress=True)
    analyze(ref, store, progress=True)
    return store, ref


def open_page(driver, url: str, path: str, ref, epoch: int) -> float:
    """Navigate and wait until every figure on screen is drawn; ms from navigation start to the last draw."""
    driver.get(f"{url}{path}?variant={ref}&epoch={epoch}")
    return wait_settled(driver, 0, loaded=True)


def wait_settled(driver, start: float, loaded: bool = False) -> float:
    from browser import on_screen_drawn, settled
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        ms = settled(driver, start, QUIET_MS)
        if ms is not None and (not loaded or on_screen_drawn(driver)):  # below the fold: drawn once seen
            return ms
        time.sleep(0.05)
    raise TimeoutError(f"the page did not settle within {WAIT_S} s")


def shown_stores(path: str) -> list:
    """The ids of the stores holding what the browser shows of the page's per-epoch figures."""
    if path == "/compare":  # its figures follow the epoch in the browser (its side-by-side details are sent whole)
        return []
    from workbench.app import PAGES as MODULES
    from workbench.pages._common import shown_id
    page = next(m for m in MODULES if m.PATH == path)
    return [shown_id(f"{page.FIGURES.page}-{spec.name}") for spec in page.FIGURES.detail_specs]


def step(driver, path: str, baseline: bool = False) -> tuple[float, int]:
    """Press → once: (ms until the last figure is drawn, bytes of callback answers)."""
    from browser import answers_since
    if baseline:  # forget what the browser shows: every detail figure is sent whole, as before patches
        for store in shown_stores(path):
            driver.execute_script("window.dash_clientside.set_props(arguments[0], {data: null});", store)
    start = driver.execute_script(
        "const t = performance.now();"
        "document.dispatchEvent(new KeyboardEvent('keydown', {key: 'ArrowRight', bubbles: true}));"
        "return t;")
    ms = wait_settled(driver, start)
    return ms, sum(a["bytes"] for a in answers_since(driver, start))


def epoch_steps(driver, url: str, path: str, ref, epochs: list[int], n: int) -> dict:
    """n steps forward from checkpoint 40% in (warmed once first: the server caches per-input maps
    per epoch); odd steps as baseline, even ones as candidate, so both see the same moments of load."""
    first = max(0, min(len(epochs) * 2 // 5, len(epochs) - 2 * n - 1))
    open_page(driver, url, path, ref, epochs[first])
    for _ in range(2 * n):
        step(driver, path)
    open_page(driver, url, path, ref, epochs[first])
    results = {"baseline": [], "candidate": []}
    for i in range(2 * n):
        results["baseline" if i % 2 == 0 else "candidate"].append(step(driver, path, i % 2 == 0))
    return results


def page_switch(driver, path: str) -> tuple[float, int]:
    """Click the sidebar link to `path`: (ms until the figures on screen are drawn, bytes of callback answers)."""
    from browser import answers_since
    start = driver.execute_script(
        "const t = performance.now();"
        "document.querySelector(`#sidebar a[href^='${arguments[0]}?'], #sidebar a[href='${arguments[0]}']`).click();"
        "return t;", path)
    ms = wait_settled(driver, start, loaded=True)
    return ms, sum(a["bytes"] for a in answers_since(driver, start))


def cold_load(url: str, path: str, ref, epoch: int) -> tuple[float, int]:
    """A new browser profile (nothing cached) opening `path`: (ms from navigation start to every
    figure drawn, bytes of callback answers)."""
    from browser import answers_since, chromium_driver, install_timing
    with tempfile.TemporaryDirectory() as profile:
        driver = chromium_driver(profile)
        try:
            install_timing(driver)
            ms = open_page(driver, url, path, ref, epoch)
            return ms, sum(a["bytes"] for a in answers_since(driver, 0))
        finally:
            driver.quit()


def _median(values) -> float:
    return statistics.median(values) if values else float("nan")


def report(name: str, results: dict) -> None:
    """Median and best step of each mode (ms, and kB of callback answers), and their ratios."""
    def line(rows):
        ms = [r[0] for r in rows]
        return _median(ms), min(ms), max(ms), _median([r[1] for r in rows]) / 1e3
    base, cand = line(results["baseline"]), line(results["candidate"])
    print(f"{name}: epoch step over {len(results['candidate'])} steps each; ms median (best–worst); kB per step\n"
          f"  baseline  details sent whole  {base[0]:7.0f} ms ({base[1]:.0f}–{base[2]:.0f})  {base[3]:8.1f} kB\n"
          f"  candidate details patched     {cand[0]:7.0f} ms ({cand[1]:.0f}–{cand[2]:.0f})  {cand[3]:8.1f} kB\n"
          f"  ratio     median {base[0] / cand[0]:.2f}x, best {base[1] / cand[1]:.2f}x faster; "
          f"{base[3] / max(cand[3], 1e-3):.2f}x fewer bytes; goal < 300 ms (median): "
          f"{'met' if cand[0] < 300 else 'NOT met'}", flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", help="a data root (default: the p = 113 benchmark variant in benchmarks/.data)")
    parser.add_argument("--variant", help="FAMILY/ID in --data (default: its first)")
    parser.add_argument("--compare", help="FAMILY/ID of a second variant for the Compare page")
    parser.add_argument("--steps", type=int, default=10, help="epoch steps timed per mode and page")
    parser.add_argument("--pages", default="/,/neurons,/compare", help="comma-separated paths")
    args = parser.parse_args(argv)
    from browser import ServedApp, chromium_driver, install_timing
    from workbench.store import Store, VariantRef
    if args.data:
        store = Store(args.data)
        ref = VariantRef.parse(args.variant) if args.variant else store.listing()[0].ref
    else:
        store, ref = variant_ref()
    epochs = store.checkpoint_epochs(ref)
    p = store.info(ref)["spec"]["domain"]["p"]
    print(f"{ref}: p = {p}, {len(epochs)} checkpoints; headless Chromium; load average "
          f"{', '.join(f'{x:.1f}' for x in __import__('os').getloadavg())}", flush=True)
    import logging
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    app = ServedApp(store.root)
    paths = [path for path in args.pages.split(",") if path]
    extra = f"&compare={args.compare}" if args.compare else ""
    with tempfile.TemporaryDirectory() as profile:
        driver = chromium_driver(profile)
        try:
            install_timing(driver)
            for path in paths:
                results = epoch_steps(driver, app.url, path, f"{ref}{extra}", epochs, args.steps)
                report(f"{PAGES.get(path, path)} (p = {p})", results)
            middle = epochs[len(epochs) // 2]
            open_page(driver, app.url, paths[0], f"{ref}{extra}", middle)
            for path in paths[1:] + paths[:1]:
                ms, size = page_switch(driver, path)
                print(f"page switch to {path}: {ms:.0f} ms, {size / 1e3:.1f} kB of callback answers", flush=True)
        finally:
            driver.quit()
        for path in paths[:1]:
            ms, size = cold_load(app.url, path, f"{ref}{extra}", epochs[len(epochs) // 2])
            print(f"first load of {path} in a new browser profile: {ms:.0f} ms to every figure on screen drawn, "
                  f"{size / 1e3:.1f} kB of callback answers", flush=True)
    app.close()


if __name__ == "__main__":
    main()
