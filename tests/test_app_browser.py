"""The real app in headless Chromium, driven the way a researcher uses it."""
from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
from selenium.common.exceptions import JavascriptException, StaleElementReferenceException, TimeoutException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from browser import POLL, ServedApp
from workbench.store import VariantRef

pytestmark = pytest.mark.browser
WAIT = 60  # seconds at most for a condition; polled, never slept


@pytest.fixture(scope="module")
def served(tiny_analyzed):
    store, ref = tiny_analyzed
    app = ServedApp(store.root)
    yield app, store, ref
    app.close()


def query(driver) -> dict:
    return {k: v[-1] for k, v in parse_qs(urlparse(driver.current_url).query).items()}


def wait_for(driver, condition, message=""):
    # Figures re-render while we look at them: a stale element or a half-drawn plot means "not yet".
    wait = WebDriverWait(driver, WAIT, poll_frequency=POLL,
                         ignored_exceptions=(StaleElementReferenceException, JavascriptException))
    try:
        return wait.until(lambda d: condition(d), message)
    except TimeoutException:
        raise TimeoutException(f"{message} (at {driver.current_url}, epoch box "
                               f"{driver.find_element(By.ID, 'epoch-input').get_attribute('value')})") from None


def open_page(driver, base, path="/", **params):
    search = "&".join(f"{k}={v}" for k, v in params.items())
    driver.get(f"{base}{path}{'?' + search if search else ''}")
    wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .main-svg"), "no figure drawn")


def graph_element(driver, name):
    return driver.find_element(By.CSS_SELECTOR, f"div[id*='\"name\":\"{name}\"'] .js-plotly-plot")


def click_data_point(driver, name, trace, index):
    """Move the mouse onto a drawn data point and click it, as a user would."""
    plot = graph_element(driver, name)
    wait_for(driver, lambda d: d.execute_script(
        "const c = arguments[0].calcdata; return c && c.length > arguments[1] && c[arguments[1]].length > arguments[2];",
        plot, trace, index), f"{name} has no trace {trace} drawn")
    x, y = driver.execute_script("""
        const gd = arguments[0], t = gd._fullData[arguments[1]], pt = gd.calcdata[arguments[1]][arguments[2]];
        const xa = gd._fullLayout[t.xaxis === 'x' ? 'xaxis' : 'xaxis' + t.xaxis.slice(1)];
        const ya = gd._fullLayout[t.yaxis === 'y' ? 'yaxis' : 'yaxis' + t.yaxis.slice(1)];
        const box = gd.getBoundingClientRect();
        return [xa._offset + xa.c2p(pt.x) - box.width / 2, ya._offset + ya.c2p(pt.y) - box.height / 2];
    """, plot, trace, index)
    ActionChains(driver).move_to_element_with_offset(plot, int(x), int(y)).pause(0).click().perform()


def severe_console_errors(driver):
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE" and "favicon" not in e["message"]]


def test_a_copied_link_reopens_the_same_state(served, browser):
    app, store, ref = served
    open_page(browser, app.url, variant=str(ref), epoch=250, neuron=3)
    wait_for(browser, lambda d: query(d).get("epoch") == "250")
    assert query(browser) == {"variant": str(ref), "epoch": "250", "neuron": "3", "head": "0"}
    browser.refresh()
    wait_for(browser, lambda d: d.find_element(By.ID, "epoch-input").get_attribute("value") == "250")
    assert query(browser)["neuron"] == "3"
    assert not severe_console_errors(browser)


def test_prev_next_and_arrow_keys_step_through_checkpoints_and_back_undoes(served, browser):
    app, store, ref = served
    epochs = store.checkpoint_epochs(ref)
    open_page(browser, app.url, variant=str(ref), epoch=epochs[5])
    wait_for(browser, lambda d: query(d).get("epoch") == str(epochs[5]))
    browser.find_element(By.ID, "epoch-next").click()
    wait_for(browser, lambda d: query(d).get("epoch") == str(epochs[6]), "next did not advance")
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ARROW_LEFT)
    wait_for(browser, lambda d: query(d).get("epoch") == str(epochs[5]), "← did not step back")
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ARROW_LEFT)
    wait_for(browser, lambda d: query(d).get("epoch") == str(epochs[4]), "← did not step back")
    browser.back()
    wait_for(browser, lambda d: d.find_element(By.ID, "epoch-input").get_attribute("value") == str(epochs[5]),
             "back did not restore the previous epoch")


def test_typing_an_epoch_snaps_to_the_nearest_checkpoint(served, browser):
    app, store, ref = served
    open_page(browser, app.url, variant=str(ref), epoch=0)
    box = browser.find_element(By.ID, "epoch-input")
    box.clear()
    box.send_keys("262" + Keys.ENTER)
    wait_for(browser, lambda d: query(d).get("epoch") == "250")


def click_heatmap_cell(driver, name, column, row):
    """Hover one cell of a heatmap until plotly reports that very cell (figures around it may
    still be settling and move it), then click there; returns the cell's id (its customdata)."""
    plot = graph_element(driver, name)

    def hover_cell(d):
        x, y, xv, yv = d.execute_script("""
            const gd = arguments[0], i = arguments[1], j = arguments[2];
            const t = gd._fullData.find(d => d.type === 'heatmap');
            const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect();
            const xv = t.x ? t.x[i] : i, yv = t.y ? t.y[j] : j;
            return [xa._offset + xa.d2p(xv) - box.width / 2, ya._offset + ya.d2p(yv) - box.height / 2, xv, yv];
        """, plot, column, row)
        # Leave the plot first: a move to the point the mouse is already on fires no new hover.
        ActionChains(d).move_to_element_with_offset(plot, -plot.size["width"] // 2 + 1, -plot.size["height"] // 2 + 1) \
            .move_to_element_with_offset(plot, round(x), round(y)).perform()
        # Only plain fields: a hover point links back to the figure's data, which WebDriver cannot serialize.
        hovered = d.execute_script("""
            const h = arguments[0]._hoverdata;
            return h && h.length ? {x: h[0].x, y: h[0].y, customdata: h[0].customdata} : null;""", plot)
        return hovered if hovered and hovered.get("x") == xv and hovered.get("y") == yv else None
    hovered = wait_for(driver, hover_cell, f"hovering {name} cell ({column}, {row})")
    ActionChains(driver).click().perform()
    return int(hovered["customdata"])


def figure_title(driver, name):
    return driver.execute_script("const gd = arguments[0]; return gd.layout.title && gd.layout.title.text;",
                                 graph_element(driver, name))


def test_clicking_the_loss_curve_moves_the_epoch_everywhere(served, browser):
    app, store, ref = served
    epochs = store.checkpoint_epochs(ref)
    open_page(browser, app.url, variant=str(ref), epoch=epochs[-1])
    click_data_point(browser, "overview-loss", 0, 140)  # train loss at epoch 140 -> checkpoint 150 (or 125)
    wait_for(browser, lambda d: query(d).get("epoch") in ("125", "150"), "the click did not set the epoch")
    chosen = query(browser)["epoch"]
    wait_for(browser, lambda d: d.find_element(By.ID, "epoch-input").get_attribute("value") == chosen)
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});",  # below the fold: drawn once seen
                           graph_element(browser, "overview-neurons"))
    wait_for(browser, lambda d: f"epoch {chosen}" in (figure_title(d, "overview-neurons") or ""),
             "the detail figure did not follow the epoch")
    wait_for(browser, lambda d: d.execute_script(  # the summary's cursor moved (by Patch)
        "const s = arguments[0].layout.shapes; return s && s.length ? s[0].x0 : null;",
        graph_element(d, "overview-loss")) == int(chosen), "the loss curve's cursor did not move")
    assert not severe_console_errors(browser)


def test_clicking_a_neuron_cell_opens_that_neuron(served, browser):
    app, store, ref = served
    open_page(browser, app.url, "/neurons", variant=str(ref), epoch=500, neuron=0)
    wait_for(browser, lambda d: (figure_title(d, "neurons-heatmap") or "").startswith("neuron 0 "))
    neuron = click_heatmap_cell(browser, "neurons-clusters", 300, 3)
    wait_for(browser, lambda d: query(d).get("neuron") == str(neuron), "the click did not select the neuron")
    wait_for(browser, lambda d: (figure_title(d, "neurons-heatmap") or "").startswith(f"neuron {neuron} "),
             "the neuron heatmap did not follow")
    assert browser.find_element(By.ID, "neuron").get_attribute("value") == str(neuron)


def test_page_navigation_keeps_the_selection(served, browser):
    app, store, ref = served
    open_page(browser, app.url, variant=str(ref), epoch=250, neuron=7)
    wait_for(browser, lambda d: query(d).get("neuron") == "7")
    for page in ("Fourier", "Attention", "Trajectories", "Dimensionality", "Progress measures", "Neurons"):
        wait_for(browser, lambda d, page=page: "epoch=250" in (d.find_element(By.LINK_TEXT, page).get_attribute("href")
                                                               or ""), f"the {page} link carries the selection")
        browser.find_element(By.LINK_TEXT, page).click()
        wait_for(browser, lambda d: urlparse(d.current_url).path != "/" and query(d).get("epoch") == "250",
                 f"navigating to {page} lost the selection")
        wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .main-svg"))
    assert urlparse(browser.current_url).path == "/neurons" and query(browser)["neuron"] == "7"
    assert not severe_console_errors(browser)


def test_an_unanalyzed_variant_says_what_to_run(served, browser):
    app, store, ref = served
    from workbench.families import load_family
    from workbench.training import train
    variant = load_family("tiny_addition").variant(epochs=20, every=[[10, 20]])
    train(variant, store, progress=False)
    other = VariantRef(variant.family, variant.id)
    open_page(browser, app.url, "/neurons", variant=str(other))
    wait_for(browser, lambda d: f"workbench analyze {other}" in d.page_source, "no hint of the command to run")
    assert not severe_console_errors(browser)


def test_the_figure_toolbar_downloads_svg_when_asked(served, browser):
    app, store, ref = served
    open_page(browser, app.url, "/fourier", variant=str(ref))
    browser.find_element(By.CSS_SELECTOR, "label[for='_dbcprivate_radioitems_download-format_input_svg']").click()
    wait_for(browser, lambda d: d.execute_script(
        "return arguments[0]._context.toImageButtonOptions.format", graph_element(d, "fourier-embed")) == "svg")


def test_head_and_neuron_steppers_move_the_selection(served, browser):
    app, store, ref = served
    open_page(browser, app.url, "/attention", variant=str(ref), epoch=500, head=0, neuron=4)
    wait_for(browser, lambda d: query(d).get("head") == "0")
    browser.find_element(By.ID, "head-next").click()
    wait_for(browser, lambda d: query(d).get("head") == "1", "▶ did not select the next head")
    browser.find_element(By.ID, "neuron-prev").click()
    wait_for(browser, lambda d: query(d).get("neuron") == "3", "◀ did not select the previous neuron")


def test_clicking_a_trajectory_point_selects_its_epoch_not_its_coordinate(served, browser):
    app, store, ref = served
    epochs = store.checkpoint_epochs(ref)
    open_page(browser, app.url, "/trajectories", variant=str(ref), epoch=epochs[-1])
    click_data_point(browser, "trajectories-paths", 1, 12)  # trace 1: the checkpoints of the PC1/PC2 path
    wait_for(browser, lambda d: query(d).get("epoch") == str(epochs[12]), "the click did not select that epoch")
