"""In headless Chromium: the page names the run; an unknown variant or an out-of-range neuron
says so in one line. (What each figure's click selects is checked for the whole catalog in
test_click_contract.py.)"""
from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

from test_app_browser import open_page, query, wait_for

pytestmark = pytest.mark.browser


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
    assert query(browser)["variant"] == str(store.listing()[0].ref)  # the first run, as the notice says
    open_page(browser, app.url, "/neurons", variant=str(ref), neuron=9999)
    wait_for(browser, lambda d: query(d).get("neuron") == "511", "neuron 9999 was not clamped to the last neuron")
    wait_for(browser, lambda d: "512 MLP neurons" in d.find_element(By.ID, "selection-error").text,
             "the clamped neuron went unmentioned")  # the notice may land after the URL
    assert "out of bounds" not in browser.find_element(By.TAG_NAME, "body").text
