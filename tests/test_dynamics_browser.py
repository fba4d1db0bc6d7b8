"""The Loss dynamics page in headless Chromium, on a log imported from another project."""
from __future__ import annotations

import numpy as np
import pytest
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By

from browser import ServedApp
from test_app_browser import click_data_point, graph_element, open_page, query, severe_console_errors, wait_for

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from workbench.logimport import import_log
    from workbench.store import Store
    root = tmp_path_factory.mktemp("dynamics")
    steps = np.arange(1000)
    accuracy = np.where(steps < 400, 0.9, 0.3) + np.random.default_rng(0).normal(0, 0.01, 1000)
    loss = 2 / (1 + steps / 50) * (1 + 0.05 * np.sin(2 * np.pi * steps / 7))
    path = root / "run.csv"
    path.write_text("step,loss,val_acc\n" + "\n".join(f"{s},{v},{a}" for s, v, a in zip(steps, loss, accuracy)))
    store = Store(root / "data")
    summary = import_log(path, store)
    app = ServedApp(store.root)
    yield app, str(summary["variant"])
    app.close()


def cursor_x(driver, name):
    return driver.execute_script("const s = arguments[0].layout.shapes; return s && s.length ? s[0].x0 : null;",
                                 graph_element(driver, name))


def click_alert(driver) -> bool:
    """Click the planted drop's alert; False while it is not listed, or was listed anew between
    finding and clicking it (the list follows the page's callbacks)."""
    try:
        driver.find_element(By.XPATH, "//*[contains(text(), 'abrupt change · val_acc')]").click()
        return True
    except (NoSuchElementException, StaleElementReferenceException):
        return False


def test_clicking_an_alert_or_a_point_moves_the_epoch(served, browser):
    app, run = served
    open_page(browser, app.url, "/dynamics", variant=run, epoch=100)
    wait_for(browser, lambda d: query(d).get("epoch") == "100")
    wait_for(browser, click_alert, "the planted drop is not listed")
    wait_for(browser, lambda d: query(d).get("epoch") == "400", "clicking the alert did not move the epoch")
    wait_for(browser, lambda d: cursor_x(d, "dynamics-series") == 400, "the series cursor did not follow")
    # below the fold its cursor moves once it is in view (assets/cursor.js: Plotly redraws only what is seen)
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", graph_element(browser, "dynamics-periodogram"))
    wait_for(browser, lambda d: cursor_x(d, "dynamics-periodogram") == 400, "the periodogram cursor did not follow")
    browser.execute_script("window.scrollTo(0, 0);")
    click_data_point(browser, "dynamics-series", 0, 250)          # the loss at step 250
    wait_for(browser, lambda d: query(d).get("epoch") == "250", "clicking the curve did not move the epoch")
    assert not severe_console_errors(browser)
