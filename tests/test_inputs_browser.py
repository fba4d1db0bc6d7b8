"""The Inputs page in headless Chromium: click a grid cell, see that input's trace."""
from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from browser import ServedApp
from test_app_browser import click_heatmap_cell, figure_title, open_page, query, severe_console_errors, wait_for

pytestmark = pytest.mark.browser
P = 31


@pytest.fixture(scope="module")
def served(tiny_analyzed):
    store, ref = tiny_analyzed
    app = ServedApp(store.root)
    yield app, store, ref
    app.close()


def test_clicking_a_grid_cell_shows_that_inputs_trace(served, browser):
    app, store, ref = served
    open_page(browser, app.url, "/inputs", variant=str(ref), epoch=500)
    wait_for(browser, lambda d: (figure_title(d, "inputs-attribution") or "").startswith("Direct logit attribution"))
    pair = click_heatmap_cell(browser, "inputs-grid", 17, 4)   # column b = 17, row a = 4
    assert pair == 4 * P + 17
    wait_for(browser, lambda d: query(d).get("input") == str(pair), "the click did not select the input")
    wait_for(browser, lambda d: "input (4, 17) → 21" in (figure_title(d, "inputs-attribution") or ""),
             "the attribution did not follow the clicked input")
    wait_for(browser, lambda d: "input (4, 17) → 21" in (figure_title(d, "inputs-frequencies") or ""))
    assert browser.find_element(By.ID, "input-pair").get_attribute("value") == "4, 17"
    assert not severe_console_errors(browser)


def test_typing_an_input_and_picking_a_probe_narrow_the_views(served, browser):
    app, store, ref = served
    from workbench import probes
    store.save_probe(ref, "diagonal", probes.definition(rule="a == b"))
    open_page(browser, app.url, "/inputs", variant=str(ref), epoch=500, probe="diagonal")
    wait_for(browser, lambda d: "Probe 'diagonal' (rule a == b)" in d.find_element(By.ID, "inputs-probe").text,
             "the probe is not described")
    # every bar of the hardest list is an input on the diagonal
    labels = wait_for(browser, lambda d: d.execute_script(
        "const gd = arguments[0]; return gd.data && gd.data[0].y;",
        d.find_element(By.CSS_SELECTOR, "div[id*='\"name\":\"inputs-hardest\"'] .js-plotly-plot")))
    assert labels and all(label.split(")")[0].split(", ")[0][1:] == label.split(")")[0].split(", ")[1]
                          for label in labels)
    box = browser.find_element(By.ID, "input-pair")
    box.clear()
    box.send_keys("12, 0" + Keys.ENTER)
    wait_for(browser, lambda d: query(d).get("input") == str(12 * P), "typing the input did not select it")
    wait_for(browser, lambda d: "input (12, 0) → 12" in (figure_title(d, "inputs-attribution") or ""))
    store.delete_probe(ref, "diagonal")
