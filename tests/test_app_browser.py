"""The real app in headless Chromium, driven the way a researcher uses it."""
from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from browser import ServedApp, chromium_driver

pytestmark = pytest.mark.browser
WAIT = 60  # seconds at most for a condition; polled, never slept


@pytest.fixture(scope="module")
def served(tiny_analyzed):
    store, ref = tiny_analyzed
    app = ServedApp(store.root)
    yield app, store, ref
    app.close()


@pytest.fixture(scope="module")
def browser(served, tmp_path_factory):
    driver = chromium_driver(tmp_path_factory.mktemp("chromium"))
    yield driver
    driver.quit()


def query(driver) -> dict:
    return {k: v[-1] for k, v in parse_qs(urlparse(driver.current_url).query).items()}


def wait_for(driver, condition, message=""):
    return WebDriverWait(driver, WAIT).until(lambda d: condition(d), message)


def open_page(driver, base, path="/", **params):
    search = "&".join(f"{k}={v}" for k, v in params.items())
    driver.get(f"{base}{path}{'?' + search if search else ''}")
    wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .main-svg"), "no figure drawn")


def graph_element(driver, name):
    return driver.find_element(By.CSS_SELECTOR, f"div[id*='\"name\":\"{name}\"'] .js-plotly-plot")


def click_data_point(driver, name, trace, index):
    """Move the mouse onto a drawn data point and click it, as a user would."""
    plot = graph_element(driver, name)
    x, y = driver.execute_script("""
        const gd = arguments[0], t = gd._fullData[arguments[1]], i = arguments[2];
        const xa = gd._fullLayout[t.xaxis === 'x' ? 'xaxis' : 'xaxis' + t.xaxis.slice(1)];
        const ya = gd._fullLayout[t.yaxis === 'y' ? 'yaxis' : 'yaxis' + t.yaxis.slice(1)];
        const box = gd.getBoundingClientRect();
        return [xa._offset + xa.d2p(t.x[i]) - box.width / 2, ya._offset + ya.d2p(t.y[i]) - box.height / 2];
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
