"""In headless Chromium: every clickable figure of the variant's pages, clicked, selects what it
declares (an epoch, a frequency, a neuron, a head, an input) and nothing else; the page names
the run; an unknown variant or an out-of-range neuron says so in one line."""
from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

from test_app_browser import click_data_point, click_heatmap_cell, graph_element, open_page, query, wait_for
from workbench.selection import snap

pytestmark = pytest.mark.browser
SELECTED = ("epoch", "frequency", "neuron", "head", "input")
# The Inputs page's grid is clicked, and its selection checked, in test_inputs_browser.py.
PAGES = ("/", "/fourier", "/neurons", "/attention", "/dimensionality")


def clickable_graphs(driver) -> list[dict]:
    """The ids of the page's figures ({"click": kind, "name": ...}), as the app drew them."""
    return driver.execute_script("""
        return Array.from(document.querySelectorAll('div[id^="{"]')).map(e => {
            try { return JSON.parse(e.id); } catch (err) { return null; } })
          .filter(i => i && i.type === 'wb-graph');""")


def target(driver, name, current):
    """A point of the figure that carries an id other than the current selection's: (trace,
    point or cell, its id, heatmap?); None when the figure shows nothing to click (a message)."""
    return driver.execute_script("""
        const gd = arguments[0], current = arguments[1];
        if (!gd.calcdata || (gd.layout.meta && gd.layout.meta.missing)) { return null; }
        for (let t = 0; t < gd._fullData.length; t++) {
            // The full trace's customdata: plotly has decoded the typed arrays numpy data is sent as.
            const tr = gd._fullData[t], cd = tr.customdata;
            // bars are left to the catalog test (their ids are their k or input): the pointer lands on points and cells
            if (!cd || !cd.length || !['scatter', 'heatmap'].includes(tr.type) || tr.visible !== true) { continue; }
            if (tr.type === 'heatmap') {
                const j = Math.floor(tr.z.length / 2), i = Math.floor(tr.z[j].length / 2);
                if (Number(cd[j][i]) !== current) { return [t, [i, j], Number(cd[j][i]), true]; }
                continue;
            }
            const pts = gd.calcdata[t];
            for (let k = Math.floor(pts.length / 2), n = 0; n < pts.length; n++, k = (k + 1) % pts.length) {
                if (isFinite(pts[k].x) && isFinite(pts[k].y) && Number(cd[k]) !== current) {
                    return [t, k, Number(cd[k]), false];
                }
            }
        }
        return null;""", graph_element(driver, name), current)


def test_every_figure_selects_what_it_declares_and_nothing_else(served_app, browser):
    app, store, ref = served_app
    epochs = store.checkpoint_epochs(ref)
    clicked = set()
    for path in PAGES:
        open_page(browser, app.url, path, variant=str(ref), epoch=epochs[-1], neuron=0, head=0)
        wait_for(browser, lambda d: not d.find_elements(By.XPATH, "//*[name()='text' and contains(., 'loading…')]"),
                 f"{path}: figures still loading")
        for graph in clickable_graphs(browser):
            kind, name = graph["click"], graph["name"]
            if kind == "none":
                continue
            before = query(browser)
            current = int(before.get(kind, -1))
            point = wait_for(browser, lambda d, name=name, current=current: target(d, name, current) or "nothing",
                             f"{name} not drawn")
            if point == "nothing":
                continue
            trace, where, expected, heatmap = point
            browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", graph_element(browser, name))
            expected = click_heatmap_cell(browser, name, *where, trace=trace) if heatmap else (
                click_data_point(browser, name, trace, where) or expected)
            want = str(snap(expected, epochs) if kind == "epoch" else expected)
            wait_for(browser, lambda d, kind=kind, want=want: query(d).get(kind) == want,  # noqa: B023
                     f"{path} {name}: a click did not select {kind} {want}")
            after = query(browser)
            changed = {k for k in SELECTED if k != kind and after.get(k) != before.get(k)}
            assert not changed, f"{path} {name} declares {kind} but its click also changed {changed}"
            clicked.add(kind)
    assert {"epoch", "neuron", "head", "input"} <= clicked, f"kinds exercised: {clicked}"


def test_every_page_names_the_run_in_its_header_and_the_tab_title(served_app, browser):
    app, store, ref = served_app
    open_page(browser, app.url, "/neurons", variant=str(ref))
    wait_for(browser, lambda d: ref.id in d.find_element(By.ID, "run-header").text, "the header names no run")
    header = browser.find_element(By.ID, "run-header").text
    assert ref.family in header and "p = 31" in header and "seed 0" in header
    wait_for(browser, lambda d: d.title == f"Neurons · {ref} — workbench", "the tab title names no page and run")


def test_an_unknown_variant_or_neuron_says_so_instead_of_silently_showing_another(served_app, browser):
    app, store, ref = served_app
    open_page(browser, app.url, "/", variant="no_such_family/none")
    wait_for(browser, lambda d: "No run 'no_such_family/none'" in d.find_element(By.ID, "selection-error").text,
             "an unknown variant went unmentioned")
    assert query(browser)["variant"] == str(ref)
    open_page(browser, app.url, "/neurons", variant=str(ref), neuron=9999)
    wait_for(browser, lambda d: query(d).get("neuron") == "511", "neuron 9999 was not clamped to the last neuron")
    assert "512 MLP neurons" in browser.find_element(By.ID, "selection-error").text
    assert "out of bounds" not in browser.find_element(By.TAG_NAME, "body").text
