"""Helpers for browser tests: the real app served on a free loopback port, driven by headless
Chromium through Selenium. Waits poll for a condition (WebDriverWait); nothing sleeps."""
from __future__ import annotations

import shutil
import threading

import pytest

POLL = 0.1  # seconds between two looks at the page while waiting for a condition (selenium's 0.5 s
# made the click walk wait ~1 s a figure for what takes ~0.2 s)
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-dev-shm-usage", "--disable-extensions", "--no-first-run",
                  "--disable-component-update", "--disable-sync", "--window-size=1400,1000")


class ServedApp:
    """`create_app(root)` served by werkzeug in a daemon thread."""

    def __init__(self, root):
        from werkzeug.serving import make_server
        from workbench.app import create_app
        self.app = create_app(root)
        self.server = make_server("127.0.0.1", 0, self.app.server, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()


def chromium_driver(tmp_path):
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver_path):
        pytest.skip("Chromium and ChromeDriver are not installed (./setup.sh --test installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver_path), options=options)


# Installed in every document before the app's own scripts (Chrome DevTools `Page.addScriptToEvaluateOnNewDocument`):
# counts `/_dash-update-component` requests in flight, records each answer's size and outputs, and
# stamps the last moment anything happened (an answer with content arrived or the DOM changed, as when Plotly
# draws), in `performance.now()` milliseconds since navigation. With `window.__wb.parts = true`
# each answer also says how every output it carries came: {"<id>.<prop>": "value", or for a Dash
# Patch the list of the locations it sets, e.g. ["layout.title.text", "data.0.z"]}.
TIMING_SCRIPT = r"""
(function () {
    const t = window.__wb = {inflight: 0, last: 0, answers: [], parts: false};
    const fetch0 = window.fetch;
    window.fetch = function (resource, init) {
        const url = String((resource && resource.url) || resource);
        if (!url.includes("_dash-update-component")) { return fetch0.apply(this, arguments); }
        let output = "", sent = 0;
        try { const body = JSON.parse(init.body); output = body.output; sent = init.body.length; } catch (e) {}
        // The once-a-second live poll (`live-stamp`) is not part of what a step or a load does.
        if (output.includes("live-stamp")) { return fetch0.apply(this, arguments); }
        t.inflight++;
        return fetch0.apply(this, arguments).then(function (response) {
            return response.clone().arrayBuffer().then(function (buffer) {
                const answer = {output: output, bytes: buffer.byteLength, sent: sent, at: performance.now()};
                if (t.parts && buffer.byteLength) {
                    answer.parts = {};
                    const body = JSON.parse(new TextDecoder().decode(buffer)).response || {};
                    for (const id in body) {
                        for (const prop in body[id]) {
                            const value = body[id][prop];
                            answer.parts[id + "." + prop] = value && value.__dash_patch_update
                                ? value.operations.map(function (o) { return o.location.join("."); }) : "value";
                        }
                    }
                }
                t.answers.push(answer);
                // An empty answer (nothing to update) changes nothing on the page: not a last event.
                t.inflight--; if (buffer.byteLength) { t.last = performance.now(); }
                return response;
            });
        }, function (error) { t.inflight--; t.last = performance.now(); throw error; });
    };
    const watch = function () {
        // Dash marks a callback's outputs loading and back, and shows a hidden "loading" div while
        // any callback runs (the live poll's, once a second): neither is drawing.
        const marker = function (n) { return n.classList && n.classList.contains("_dash-loading-callback"); };
        const drawing = function (c) {
            if (c.type === "attributes") { return c.attributeName !== "data-dash-is-loading"; }
            const nodes = Array.from(c.addedNodes).concat(Array.from(c.removedNodes));
            return !(c.type === "childList" && nodes.length && nodes.every(marker));
        };
        new MutationObserver(function (changes) {
            if (changes.some(drawing)) { t.last = performance.now(); }
        }).observe(
            document.documentElement, {subtree: true, childList: true, attributes: true, characterData: true});
    };
    if (document.documentElement) { watch(); } else { document.addEventListener("DOMContentLoaded", watch); }
})();
"""


def install_timing(driver) -> None:
    """Run TIMING_SCRIPT in every page `driver` opens from now on (Chromium only)."""
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": TIMING_SCRIPT})


def answers_since(driver, start: float) -> list[dict]:
    """The callback answers ({output, bytes, sent, at}) that arrived after `start` (ms since navigation)."""
    return driver.execute_script("return window.__wb.answers.filter(a => a.at > arguments[0]);", start)


def settled(driver, start: float, quiet_ms: float = 400) -> float | None:
    """Milliseconds from `start` to the last answer or DOM change once the page is quiet (no callback
    in flight, nothing changed for `quiet_ms`, at least one answer since `start`); None until then."""
    return driver.execute_script("""
        const t = window.__wb, start = arguments[0], now = performance.now();
        if (t.inflight || !t.answers.some(a => a.at > start) || now - t.last < arguments[1]) { return null; }
        return t.last - start;""", start, quiet_ms)


# Scrolls the first shown figure still showing its "loading…" stand-in (or not drawn) into view;
# true when there is none. (Found anew on every call: a figure may be replaced while it loads.)
SCROLL_TO_LOADING_JS = r"""
const loading = Array.from(document.querySelectorAll('.js-plotly-plot')).find(g => g.offsetParent !== null
    && (!g._fullLayout || (g.layout.annotations || []).some(a => a.text === 'loading…')));
if (loading) { loading.scrollIntoView({block: 'center'}); }
return !loading;
"""
ON_SCREEN_DRAWN_JS = r"""
const plots = Array.from(document.querySelectorAll('.js-plotly-plot')).filter(g => {
    const box = g.getBoundingClientRect();
    return g.offsetParent !== null && box.bottom > 0 && box.top < window.innerHeight;
});
return plots.length > 0 && plots.every(g => g._fullLayout && !(g.layout.annotations || []).some(a => a.text === 'loading…'));
"""


def on_screen_drawn(driver) -> bool:
    """Every figure the window shows is drawn (those below the fold may wait to be seen: lazy ones)."""
    return driver.execute_script(ON_SCREEN_DRAWN_JS)


def draw_every_figure(driver, timeout: float = 60) -> None:
    """Scroll to each figure still loading until every shown figure is drawn (lazy figures are
    drawn once seen, assets/lazy.js), then back to the top."""
    from selenium.webdriver.support.ui import WebDriverWait
    wait = WebDriverWait(driver, timeout, poll_frequency=POLL)
    wait.until(on_screen_drawn, "the figures on screen were not drawn")
    wait.until(lambda d: d.execute_script(SCROLL_TO_LOADING_JS), "a figure scrolled into view was not drawn")
    driver.execute_script("window.scrollTo(0, 0);")



GRAPH_IDS_JS = "return Array.from(document.querySelectorAll(\"[id*='wb-graph']\")).map(e => e.id);"


def switch_page(driver, path: str, timeout: float = 60) -> None:
    """Go to page `path` as a user does, by its sidebar link: no reload, the selection stays (a
    switch takes a third of a fresh load). Returns once the new page's figures stand in place of
    the old page's (each page's figures have names of their own)."""
    from urllib.parse import urlparse

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    if urlparse(driver.current_url).path == path:
        return
    before = set(driver.execute_script(GRAPH_IDS_JS))
    driver.execute_script("arguments[0].click();",
                          driver.find_element(By.CSS_SELECTOR, f"a[id*='\"path\":\"{path}\"']"))
    wait = WebDriverWait(driver, timeout, poll_frequency=POLL)
    wait.until(lambda d: urlparse(d.current_url).path == path, f"the link to {path} did not open it")
    wait.until(lambda d: (lambda now: now and not now & before)(set(d.execute_script(GRAPH_IDS_JS))),
               f"{path} did not replace the page's figures")
