"""Report pages in headless Chromium: build one from two seeds, restart the app, reopen it by URL."""
from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from browser import ServedApp
from second_seed import second_seed
from test_app_browser import severe_console_errors, wait_for

pytestmark = pytest.mark.browser


def pick(driver, dropdown_id, value):
    """Open a dcc.Dropdown and click the option with `value`, as a user would."""
    driver.find_element(By.ID, dropdown_id).click()
    option = wait_for(driver, lambda d: d.find_element(
        By.CSS_SELECTOR, f"label.dash-dropdown-option:has(input[value='{value}'])"), f"no option {value}")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].click();", option)
    driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)


def type_into(driver, element_id, text):
    box = driver.find_element(By.ID, element_id)
    box.clear()
    box.send_keys(text)


def drawn_report_cells(driver) -> list[str]:
    """Titles of the report's cells whose figure plotly has drawn."""
    return driver.execute_script("""return Array.from(document.querySelectorAll('#report-view .wb-card'))
        .filter(c => c.querySelector('.js-plotly-plot .main-svg')).map(c => c.querySelector('h6').textContent);""")


def settled(driver) -> bool:
    """No Dash request in flight (the renderer marks loading components) and the document is complete."""
    return driver.execute_script("return document.readyState === 'complete' && "
                                 "!document.querySelector('[data-dash-is-loading=\"true\"]');")


def test_a_report_of_two_seeds_survives_restarting_the_app_and_opens_by_url(tiny_analyzed, browser):
    store, seed0 = tiny_analyzed
    seed1 = second_seed(store)
    first = ServedApp(store.root)
    try:
        browser.get(f"{first.url}/reports?variant={seed0}&epoch=250")
        wait_for(browser, lambda d: d.find_element(By.ID, "report-save"), "no report editor")
        type_into(browser, "report-save-name", "two-seeds")
        type_into(browser, "report-title", "Two seeds at the turn")
        type_into(browser, "report-notes", "seed 1 clusters later")
        for variant, figure, epoch in ((seed0, "loss_and_accuracy", None), (seed1, "neuron_clusters", "250")):
            pick(browser, "report-add-variant", str(variant))
            pick(browser, "report-add-figure", figure)
            if epoch:
                type_into(browser, "report-add-epoch", epoch)
            n = len(browser.find_elements(By.CSS_SELECTOR, "#report-items li"))
            browser.find_element(By.ID, "report-add").click()
            wait_for(browser, lambda d, n=n: len(d.find_elements(By.CSS_SELECTOR, "#report-items li")) == n + 1,
                     f"{figure} was not added")
        browser.find_element(By.ID, "report-save").click()
        wait_for(browser, lambda d: d.find_elements(By.ID, "report-saved-link"), "the report was not saved")
        wait_for(browser, settled)
        assert not severe_console_errors(browser)  # also empties the log before the restart
        browser.get("about:blank")  # the page polls its server every second: leave it before it stops
    finally:
        first.close()
    assert store.load_report("two-seeds")["figures"][1] == {"variant": str(seed1), "figure": "neuron_clusters",
                                                            "epoch": 250}

    second = ServedApp(store.root)  # a new app on the same data root: nothing held in memory survives
    try:
        browser.get(f"{second.url}/reports/two-seeds?variant={seed0}&epoch=150")
        wait_for(browser, lambda d: len(drawn_report_cells(d)) == 2, "the report's figures were not drawn")
        titles = drawn_report_cells(browser)
        assert titles[0] == f"loss_and_accuracy · {seed0} · the selected epoch (150)"
        assert titles[1] == f"neuron_clusters · {seed1} · epoch 250"
        assert browser.find_element(By.ID, "report-title-shown").text == "Two seeds at the turn"
        assert "seed 1 clusters later" in browser.find_element(By.CLASS_NAME, "wb-report-notes").text
        assert browser.find_elements(By.CSS_SELECTOR, "#reports-nav a[href='/reports/two-seeds']")
        wait_for(browser, settled)
        assert not severe_console_errors(browser)
    finally:
        second.close()
