"""A run is live in the app: started from the Train page with "analyze as it trains", its Overview
grows without a reload - the loss curve gains points, the Fourier heatmap gains checkpoints, the
sidebar tells the run's state - and "follow the latest epoch" keeps the selection at the newest."""
from __future__ import annotations

import time

import pytest
from selenium.common.exceptions import (JavascriptException, NoSuchElementException, StaleElementReferenceException,
                                        TimeoutException)
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from browser import ServedApp
from workbench import jobs
from workbench.store import Store, VariantRef

pytestmark = pytest.mark.browser
# Seconds at most for one condition, polled every 0.2 s: generous, because on a loaded machine a
# job's process starts slowly and training, analysis and the browser share two cores.
WAIT = 300
# The tiny test family, long enough to be still training when the test stops it: the test needs
# ~1,000 epochs (about 45 a second on the shared 2-core machine); a run left alone ends in minutes.
EPOCHS = 6000
TARGET = f"tiny_addition/p31-s5-d598-every=50x{EPOCHS}-epochs={EPOCHS}"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("live") / "data"
    app, store = ServedApp(root), Store(root)
    yield app, store
    # Whatever happened above, no job outlives the test: each runs in a process of its own.
    for job in jobs.listing(store):
        jobs.cancel(store, job["id"])
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline and any(j["state"] not in jobs.FINAL for j in jobs.listing(store)):
        time.sleep(0.5)
    app.close()


@pytest.fixture(autouse=True)
def job_slots(monkeypatch):
    monkeypatch.setenv("WORKBENCH_JOB_SLOTS", "1")  # the follower takes no slot: it runs beside the training


def wait_for(driver, condition, message=""):
    wait = WebDriverWait(driver, WAIT, poll_frequency=0.2,
                         ignored_exceptions=(StaleElementReferenceException, JavascriptException,
                                                             NoSuchElementException))
    try:
        return wait.until(lambda d: condition(d), message)
    except TimeoutException:
        raise TimeoutException(f"{message}; sidebar says: {driver.find_element(By.ID, 'run-state').text!r}") from None


def graph_data(driver, name: str) -> list[dict]:
    """The traces a graph shows now, as plotly.js drew them (x as a plain list)."""
    plot = driver.find_element(By.CSS_SELECTOR, f"div[id*='\"name\":\"{name}\"'] .js-plotly-plot")
    return driver.execute_script("""
        return (arguments[0]._fullData || []).map(t => ({type: t.type, name: t.name || "", x: Array.from(t.x || [])}));
    """, plot)


def loss_points(driver) -> int:
    return max((len(t["x"]) for t in graph_data(driver, "overview-loss") if t["name"].startswith("train loss")),
               default=0)


def heatmap_epochs(driver) -> list:
    return next((t["x"] for t in graph_data(driver, "overview-fourier") if t["type"] == "heatmap"), [])


def test_a_training_job_grows_its_pages_without_a_reload(served, browser):
    app, store = served
    browser.get(f"{app.url}/train")
    wait_for(browser, lambda d: d.find_element(By.ID, "train-p").get_attribute("value"), "the form has defaults")
    browser.find_element(By.ID, "train-family").click()
    wait_for(browser, lambda d: d.find_element(By.XPATH, "//*[@role='option'][.//input[@value='tiny_addition']]")).click()
    wait_for(browser, lambda d: d.find_element(By.ID, "train-p").get_attribute("value") == "31", "tiny defaults")
    for field, value in (("seed", "5"), ("epochs", str(EPOCHS)), ("every", f"50:{EPOCHS}")):
        box = browser.find_element(By.ID, f"train-{field}")
        box.clear()
        box.send_keys(value, "\t")
    wait_for(browser, lambda d: TARGET in d.find_element(By.ID, "train-plan").text, "the plan names the variant")
    browser.execute_script("arguments[0].click();", browser.find_element(By.ID, "train-follow"))
    browser.execute_script("arguments[0].click();", browser.find_element(By.ID, "train-start"))
    ref = VariantRef.parse(TARGET)
    wait_for(browser, lambda d: store.exists(ref) and len(store.checkpoint_epochs(ref)) >= 2, "training started")

    # Open the run's Overview once; everything after this happens without a reload.
    browser.get(f"{app.url}/?variant={TARGET}")
    browser.execute_script("window.__sameDocument = true;")
    wait_for(browser, lambda d: "training" in d.find_element(By.ID, "run-state").text
             and "ETA" in d.find_element(By.ID, "run-state").text, "the sidebar shows the run training, with an ETA")
    first = wait_for(browser, loss_points, "the loss curve is drawn")
    wait_for(browser, lambda d: loss_points(d) > first + 20, "the loss curve extends")
    wait_for(browser, lambda d: heatmap_epochs(d), "the Fourier heatmap shows the first analyzed checkpoints")
    seen = set(heatmap_epochs(browser))
    wait_for(browser, lambda d: set(heatmap_epochs(d)) - seen, "a new checkpoint appears in the Fourier heatmap")
    assert browser.execute_script("return window.__sameDocument === true;"), "the page was reloaded"

    # Following the latest epoch moves the selection to each new checkpoint as it lands.
    browser.execute_script("arguments[0].click();", browser.find_element(By.ID, "follow-latest"))
    newest = store.checkpoint_epochs(ref)[-1]
    wait_for(browser, lambda d: int(d.find_element(By.ID, "epoch-input").get_attribute("value") or -1) > newest,
             "the selected epoch follows the newest checkpoint")
    assert browser.execute_script("return window.__sameDocument === true;"), "the page was reloaded"

    # Stopping the run from the app leaves it resumable; its follower finishes what it had.
    train_job = next(j for j in jobs.listing(store) if j["kind"] == "train" and j["target"] == TARGET)
    assert train_job["state"] == "running", f"the run ended before the test stopped it (raise EPOCHS): {train_job}"
    jobs.cancel(store, train_job["id"])
    wait_for(browser, lambda d: all(j["state"] in jobs.FINAL for j in jobs.listing(store)), "both jobs end")
    assert store.status(ref) == "interrupted"
    wait_for(browser, lambda d: "interrupted" in d.find_element(By.ID, "run-state").text, "the sidebar says so")
    follower = next(j for j in jobs.listing(store) if j["kind"] == "analyze")
    assert follower["state"] == "done", follower
    assert not store.live_path(ref).exists() and not list(store.variant_dir(ref).rglob("*.tmp"))
