"""What an epoch step sends, in headless Chromium: summaries move only their cursor (a Patch),
figures that do not follow what changed are not sent again, per-epoch figures get their changed
parts patched. Behaviour only: nothing here times anything."""
from __future__ import annotations

import json

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from browser import ServedApp, answers_since, draw_every_figure, install_timing, on_screen_drawn, settled
from test_app_browser import graph_element, query, severe_console_errors, wait_for

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def served(tiny_analyzed, browser):
    store, ref = tiny_analyzed
    install_timing(browser)
    app = ServedApp(store.root)
    yield app, store, ref
    app.close()


def open_settled(driver, url, everything=True):
    """Open `url` and wait for its figures: every one (scrolling lazy ones into view and back), or
    only those on screen."""
    driver.get(url)
    driver.execute_script("window.__wb.parts = true;")
    if everything:
        draw_every_figure(driver)
    else:
        wait_for(driver, on_screen_drawn, "the figures on screen were not drawn")
    wait_for(driver, lambda d: settled(d, 0) is not None, "the page did not settle")


def title(driver, name) -> str:
    """Figure `name`'s title (found in the page as it is now: a figure may be replaced as it loads)."""
    return driver.execute_script(f"const g = document.querySelector(`div[id*='\"name\":\"{name}\"'] .js-plotly-plot`);"
                                 "return g && g.layout && g.layout.title ? g.layout.title.text : '';") or ""


def press(driver, key=Keys.ARROW_RIGHT, until=None) -> float:
    """Press `key`, wait for `until` (what the step must show; a quiet page alone can come before
    every callback was even asked for, on a busy machine) and for the page to settle."""
    start = driver.execute_script("return performance.now();")
    driver.find_element(By.TAG_NAME, "body").send_keys(key)
    if until is not None:
        wait_for(driver, until, "the step did not arrive")
    wait_for(driver, lambda d: settled(d, start) is not None, "the step did not settle")
    return start


def sent(driver, start, name) -> list:
    """How figure `name` came in the answers since `start`, one item per answer: "value" (the whole
    figure) or the list of locations a Patch set; an empty list when it was not sent."""
    graph = next(i for i in driver.execute_script("return Array.from(document.querySelectorAll('[id]'), e => e.id);")
                 if i.startswith("{") and json.loads(i).get("name") == name)
    return [kind for answer in answers_since(driver, start) for part, kind in (answer.get("parts") or {}).items()
            if part.startswith("{") and json.loads(part.rsplit(".", 1)[0]) == json.loads(graph)]


def cursor_x(driver, name):
    return driver.execute_script("const s = arguments[0].layout.shapes; return s && s.length ? s[0].x0 : null;",
                                 graph_element(driver, name))


def test_an_epoch_step_moves_cursors_and_patches_only_what_changed(served, browser):
    app, store, ref = served
    epochs = store.checkpoint_epochs(ref)
    open_settled(browser, f"{app.url}/?variant={ref}&epoch={epochs[5]}")
    # The neurons map below the fold follows steps while it is seen; the loss cursor moves anyway.
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", graph_element(browser, "overview-neurons"))
    wait_for(browser, lambda d: settled(d, 0) is not None, "the page did not settle")
    # Mark the loss figure's traces: a figure sent again would bring new ones.
    browser.execute_script("window.__lossData = arguments[0].data;", graph_element(browser, "overview-loss"))
    # ... and count its redraws: a cursor moves in place (Plotly would re-plot the whole figure)
    browser.execute_script("const gd = arguments[0]; gd.__redraws = 0; gd.on('plotly_afterplot', () => gd.__redraws++);",
                           graph_element(browser, "overview-loss"))
    drawn_z = "return Array.from(arguments[0]._fullData[0].z, row => Array.from(row).join()).join(';');"
    z_before = browser.execute_script(drawn_z, graph_element(browser, "overview-neurons"))
    start = press(browser, until=lambda d: f"epoch {epochs[6]}" in title(d, "overview-neurons")
                  and cursor_x(d, "overview-loss") == epochs[6])
    assert query(browser)["epoch"] == str(epochs[6])
    assert cursor_x(browser, "overview-loss") == epochs[6]
    assert not sent(browser, start, "overview-loss")  # its cursor moved in the browser: nothing asked of the server
    assert browser.execute_script("return arguments[0].data === window.__lossData;",
                                  graph_element(browser, "overview-loss"))
    loss_line = browser.execute_script(  # the cursor line drawn where the axis puts the new epoch
        "const gd = arguments[0], xa = gd._fullLayout.xaxis, d = gd.querySelector('.shapelayer path[data-index=\"0\"]');"
        "return [gd.__redraws, parseFloat(d.getAttribute('d').slice(1)), xa._offset + xa.d2p(arguments[1])];",
        graph_element(browser, "overview-loss"), epochs[6])
    assert loss_line[0] == 0 and abs(loss_line[1] - loss_line[2]) < 0.5, loss_line
    [changed] = sent(browser, start, "overview-neurons")            # a per-epoch figure: its changed parts,
    assert "data.0.z" in changed and not any(c.startswith("layout.template") for c in changed)  # not the theme
    assert browser.execute_script(drawn_z, graph_element(browser, "overview-neurons")) != z_before  # new data drawn
    press(browser, Keys.ARROW_LEFT, until=lambda d: f"epoch {epochs[5]}" in title(d, "overview-neurons"))
    assert cursor_x(browser, "overview-loss") == epochs[5]
    assert not severe_console_errors(browser)


def test_a_new_neuron_rebuilds_only_the_figures_that_follow_it(served, browser):
    app, store, ref = served
    epochs = store.checkpoint_epochs(ref)
    open_settled(browser, f"{app.url}/neurons?variant={ref}&epoch={epochs[-1]}&neuron=3")
    start = browser.execute_script("return performance.now();")
    browser.find_element(By.ID, "neuron-next").click()
    wait_for(browser, lambda d: query(d).get("neuron") == "4" and title(d, "neurons-heatmap").startswith("neuron 4 ")
             and title(d, "neurons-fve").startswith("Neuron 4"), "no new neuron")
    wait_for(browser, lambda d: settled(d, start) is not None, "the page did not settle")
    assert sent(browser, start, "neurons-fve") == ["value"]         # follows the neuron: rebuilt
    assert sent(browser, start, "neurons-sizes") == []              # does not: not sent at all
    assert sent(browser, start, "neurons-scale") == []
    assert not severe_console_errors(browser)


def test_the_cluster_grid_follows_the_epoch_only_once_it_is_on_screen(served, browser):
    app, store, ref = served
    epochs = store.checkpoint_epochs(ref)
    size = browser.get_window_size()
    browser.set_window_size(1400, 700)                              # the grid starts below the fold
    try:
        open_settled(browser, f"{app.url}/neurons?variant={ref}&epoch={epochs[5]}&neuron=3", everything=False)
        grid = graph_element(browser, "neurons-grid")
        assert browser.execute_script("return arguments[0].getBoundingClientRect().top > window.innerHeight + 100;",
                                      grid)
        assert sent(browser, 0, "neurons-grid") == [] and title(browser, "neurons-grid") == ""  # not drawn unseen
        browser.execute_script("arguments[0].scrollIntoView();", grid)
        wait_for(browser, lambda d: f"epoch {epochs[5]}" in title(d, "neurons-grid"), "the grid was not drawn when seen")
        browser.execute_script("window.scrollTo(0, 0);")
        wait_for(browser, lambda d: settled(d, 0) is not None, "the page did not settle")
        start = press(browser, until=lambda d: f"epoch {epochs[6]}" in title(d, "neurons-heatmap"))
        assert sent(browser, start, "neurons-grid") == []            # off screen: not sent
        assert f"epoch {epochs[5]}" in title(browser, "neurons-grid")
        start = browser.execute_script("arguments[0].scrollIntoView(); return performance.now();", grid)
        wait_for(browser, lambda d: f"epoch {epochs[6]}" in title(d, "neurons-grid"), "the grid did not catch up")
        assert sent(browser, start, "neurons-grid")
        press(browser, until=lambda d: f"epoch {epochs[7]}" in title(d, "neurons-grid"))  # on screen: it follows
        assert not severe_console_errors(browser)
    finally:
        browser.set_window_size(size["width"], size["height"])
