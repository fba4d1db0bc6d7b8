"""The Variants table and the Compare page in headless Chromium, with two seeds of the tiny run."""
from __future__ import annotations

import os
import threading
import time
from urllib.parse import urlparse

import pytest
from dash import ctx
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from browser import ServedApp, answers_since, draw_every_figure, install_timing, settled
from second_seed import second_seed
from test_app_browser import (click_data_point, figure_title, graph_element, open_page, query, severe_console_errors,
                              wait_for)
from workbench import compare
from workbench.pages import _shell
from workbench.store import VariantRef

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def served(tiny_analyzed, browser):
    store, seed0 = tiny_analyzed
    seed1 = second_seed(store)
    install_timing(browser)
    app = ServedApp(store.root)
    yield app, store, str(seed0), str(seed1)
    app.close()


def layout_of(driver, name) -> dict:
    """Title, shape x0s and traces (name, x, customdata; decoded from plotly's typed arrays) of a figure."""
    return driver.execute_script("""const gd = arguments[0]; return {title: gd.layout.title && gd.layout.title.text,
        shapes: (gd.layout.shapes || []).map(s => s.x0), data: (gd._fullData || []).map(t => ({name: t.name,
        x: Array.from(t.x || []), customdata: Array.from(t.customdata || [])}))};""", graph_element(driver, name))


def cursor(driver, name, i=0):
    shapes = layout_of(driver, name)["shapes"]
    return shapes[i] if len(shapes) > i else None


def into_view(driver, name):
    """Scroll figure `name` into view: one below the fold is drawn and moves its cursors only once it
    can be seen (a side-by-side slot is hidden until its section is drawn: the section then)."""
    driver.execute_script("const el = arguments[0]; (el.offsetParent === null ? el.closest('[data-wb-lazy]') : el)"
                          ".scrollIntoView({block: 'center'});", graph_element(driver, name))


def onset(store, variant) -> int:
    return compare.grokking_onset(store.load_history(VariantRef(*variant.split("/", 1)))["test_loss"])


def test_choosing_a_second_seed_under_compare_with_shows_both_side_by_side(served, browser):
    app, store, seed0, seed1 = served
    open_page(browser, app.url, "/compare", variant=seed0, epoch=250)
    browser.find_element(By.ID, "compare-with").click()
    option = wait_for(browser, lambda d: d.find_element(
        By.CSS_SELECTOR, f"label.dash-dropdown-option:has(input[value='{seed1}'])"))
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].click();", option)
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)
    wait_for(browser, lambda d: query(d).get("compare") == seed1, "the URL does not list the compared seed")
    into_view(browser, "compare-side-0")
    wait_for(browser, lambda d: (figure_title(d, "compare-side-1") or "").startswith(seed1.split("/")[1]),
             "the second column does not show the second seed")
    assert (figure_title(browser, "compare-side-0") or "").startswith(seed0.split("/")[1])
    wait_for(browser, lambda d: len(layout_of(d, "compare-loss")["data"]) == 4, "the overlay lacks a seed")
    assert not severe_console_errors(browser)


def test_clicking_an_overlay_point_moves_the_epoch_and_every_cursor(served, browser):
    app, store, seed0, seed1 = served
    open_page(browser, app.url, "/compare", variant=seed0, epoch=500, compare=seed1)
    draw_every_figure(browser)
    wait_for(browser, lambda d: cursor(d, "compare-side-1") == 500 and cursor(d, "compare-accuracy") == 500)
    wait_for(browser, lambda d: settled(d, 0) is not None, "the page did not settle")  # (scrolled back up)
    click_data_point(browser, "compare-loss", 2, 150)  # seed 1's train loss at epoch 150 (a checkpoint)
    wait_for(browser, lambda d: query(d).get("epoch") == "150", "the click did not set the epoch")
    for name in ("compare-loss", "compare-accuracy", "compare-clusters", "compare-side-0", "compare-side-1"):
        into_view(browser, name)
        wait_for(browser, lambda d, name=name: cursor(d, name) == 150, f"the cursor of {name} did not move")
    into_view(browser, "compare-trajectory")
    wait_for(browser, lambda d: "epoch 150 ringed" in (figure_title(d, "compare-trajectory") or ""))
    assert query(browser)["compare"] == seed1


def ring_epochs(driver) -> list:
    """The epochs the shared trajectory's rings mark (one per variant and plane; None for a ring
    not drawn on its path's point at that epoch)."""
    return driver.execute_script("""
        const data = arguments[0]._fullData;  // (decoded: typed arrays arrive base64-encoded in .data)
        return data.map((t, i) => [t, data[i - 1]]).filter(([t]) => t.name.endsWith(' now')).map(([ring, path]) => {
            const epoch = Array.from(ring.customdata)[0], at = Array.from(path.customdata).indexOf(epoch);
            return at >= 0 && Array.from(ring.x)[0] === Array.from(path.x)[at]
                && Array.from(ring.y)[0] === Array.from(path.y)[at] ? epoch : null;
        });""", graph_element(driver, "compare-trajectory"))


def test_an_epoch_step_moves_every_compare_cursor_without_asking_the_server_for_a_figure(served, browser):
    app, store, seed0, seed1 = served
    epochs = store.checkpoint_epochs(VariantRef.parse(seed0))
    names = ("compare-loss", "compare-accuracy", "compare-side-0", "compare-side-1")
    open_page(browser, app.url, "/compare", variant=seed0, epoch=250, compare=seed1)
    draw_every_figure(browser)  # those below the fold are drawn once seen
    wait_for(browser, lambda d: all(cursor(d, name) == 250 for name in names) and set(ring_epochs(d)) == {250},
             "the figures were not drawn at epoch 250")
    wait_for(browser, lambda d: settled(d, 0) is not None, "the page did not settle")
    start = browser.execute_script("window.__wb.parts = true; return performance.now();")
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ARROW_RIGHT)
    after = epochs[epochs.index(250) + 1]
    wait_for(browser, lambda d: cursor(d, "compare-loss") == after, "the cursor on screen did not move")
    wait_for(browser, lambda d: settled(d, start) is not None, "the step did not settle")
    assert set(ring_epochs(browser)) == {250}    # below the fold: left as it is until it can be seen
    for name in names:
        into_view(browser, name)
        wait_for(browser, lambda d, name=name: cursor(d, name) == after, f"the cursor of {name} did not move")
    into_view(browser, "compare-trajectory")
    wait_for(browser, lambda d: set(ring_epochs(d)) == {after}, "the trajectory's rings did not move")
    assert f"epoch {after} ringed" in figure_title(browser, "compare-trajectory")
    wait_for(browser, lambda d: settled(d, start) is not None, "the page did not settle")
    answers = answers_since(browser, start)
    assert any("selection.data" in answer["output"] for answer in answers)  # the selection moved on the server,
    sent = [part for answer in answers for part in answer.get("parts") or {}]  # (scrolling asks, and gets nothing)
    assert not [part for part in sent if "wb-graph" in part or "run-header" in part]  # nothing else: no figure
    assert not severe_console_errors(browser)


def test_aligning_on_onset_puts_both_onsets_at_zero_and_a_click_picks_that_seeds_epoch(served, browser):
    app, store, seed0, seed1 = served
    onsets = {seed0: onset(store, seed0), seed1: onset(store, seed1)}
    open_page(browser, app.url, "/compare", variant=seed0, epoch=250, compare=seed1)
    browser.find_element(By.CSS_SELECTOR, "label[for='_dbcprivate_radioitems_compare-align_input_onset']").click()
    wait_for(browser, lambda d: "aligned" in (layout_of(d, "compare-loss")["title"] or ""), "no onset alignment")
    for trace in layout_of(browser, "compare-loss")["data"]:
        variant = seed0 if trace["name"].startswith(seed0.split("/")[1]) else seed1
        assert trace["x"][trace["customdata"].index(onsets[variant])] == 0
    assert layout_of(browser, "compare-loss")["shapes"][:2] == [250 - onsets[seed0], 250 - onsets[seed1]]
    click_data_point(browser, "compare-loss", 3, 300)  # seed 1's test loss at its own epoch 300
    wait_for(browser, lambda d: query(d).get("epoch") == "300", "the click did not pick seed 1's epoch")
    wait_for(browser, lambda d: layout_of(d, "compare-loss")["shapes"][1] == 300 - onsets[seed1])


def test_a_mode_chosen_while_a_live_run_is_polled_is_not_lost(served, browser, monkeypatch):
    """Dash drops a callback's request in flight when the callback is asked again: here the
    selection's answer to the URL (align=onset), slowed, is overtaken by a live poll's. The
    selection must still end aligned, as the URL says."""
    app, store, seed0, seed1 = served
    answer = _shell.sync_selection

    def slow_for_the_url(*args, **kwargs):
        if ctx.triggered_id == "url":
            time.sleep(3)
        return answer(*args, **kwargs)
    open_page(browser, app.url, "/compare", variant=seed0, epoch=250, compare=seed1)
    wait_for(browser, lambda d: "Loss" in (layout_of(d, "compare-loss")["title"] or ""), "no loss overlay")
    monkeypatch.setattr(_shell, "sync_selection", slow_for_the_url)
    record = store.variant_dir(VariantRef.parse(seed0)) / "variant.json"
    done = threading.Event()

    def training():  # as a live run does: the variant's files change, and every poll says so
        while not done.wait(0.3):
            os.utime(record)
    writer = threading.Thread(target=training)
    writer.start()
    try:
        browser.find_element(By.CSS_SELECTOR, "label[for='_dbcprivate_radioitems_compare-align_input_onset']").click()
        wait_for(browser, lambda d: query(d).get("align") == "onset", "the URL did not take the mode")
        wait_for(browser, lambda d: "aligned" in (layout_of(d, "compare-loss")["title"] or ""),
                 "the selection lost the mode the URL names")
    finally:
        done.set()
        writer.join()


def open_table(driver, base, **params):
    driver.get(f"{base}/variants?" + "&".join(f"{k}={v}" for k, v in params.items()))
    wait_for(driver, lambda d: len(table_column(d, "variant_id")) >= 2, "no table rows")


def table_column(driver, column) -> list[str]:
    """The column's cells in the order the grid shows its rows (AG Grid positions rows by row-index)."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('.ag-center-cols-container .ag-row'))"
        ".sort((a, b) => a.getAttribute('row-index') - b.getAttribute('row-index'))"
        ".map(row => (row.querySelector(`.ag-cell[col-id='${arguments[0]}']`) || {}).textContent || '');", column)


def row_of(driver, variant):
    return driver.find_element(By.CSS_SELECTOR, f".ag-center-cols-container .ag-row[row-id='{variant}']")


def test_the_variant_table_sorts_by_grok_epoch_and_opens_rows(served, browser):
    app, store, seed0, seed1 = served
    grok = {v: compare.variant_metrics(store, VariantRef(*v.split("/", 1)))["grokked_epoch"] for v in (seed0, seed1)}
    assert grok[seed0] != grok[seed1]
    early, late = sorted(grok, key=grok.get)
    open_table(browser, app.url, variant=seed0)
    sort = ".ag-header-cell[col-id='grokked_epoch'] .ag-header-cell-label"
    browser.find_element(By.CSS_SELECTOR, sort).click()

    def order(d):
        ids = table_column(d, "variant_id")
        return [v for v in ids if v in (seed0.split("/")[1], seed1.split("/")[1])]
    wait_for(browser, lambda d: order(d) == [early.split("/")[1], late.split("/")[1]], "not sorted ascending")
    epochs = [int(t.replace(",", "")) for t in table_column(browser, "grokked_epoch") if t.strip()]
    assert epochs == sorted(epochs)
    browser.find_element(By.CSS_SELECTOR, sort).click()
    wait_for(browser, lambda d: order(d) == [late.split("/")[1], early.split("/")[1]], "not sorted descending")
    row_of(browser, seed1).find_element(By.CSS_SELECTOR, ".ag-cell[col-id='variant_id']").click()
    wait_for(browser, lambda d: query(d).get("variant") == seed1, "clicking a row did not select its variant")


def test_ticking_two_rows_and_pressing_compare_opens_them_in_compare(served, browser):
    app, store, seed0, seed1 = served
    open_table(browser, app.url, variant=seed0)
    for variant in (seed1, seed0):
        row_of(browser, variant).find_element(By.CSS_SELECTOR, "input.ag-checkbox-input").click()
    browser.find_element(By.ID, "variants-compare").click()
    wait_for(browser, lambda d: urlparse(d.current_url).path == "/compare", "compare did not open")
    wait_for(browser, lambda d: {query(d).get("variant"), query(d).get("compare")} == {seed0, seed1})
    wait_for(browser, lambda d: len(layout_of(d, "compare-loss")["data"]) == 4, "the overlay lacks a variant")
    assert not severe_console_errors(browser)
