"""Train, watch, cancel, resume and analyze from the browser (each job its own process, started by the app)."""
from __future__ import annotations

import contextlib
import socket

import pytest
from selenium.common.exceptions import JavascriptException, StaleElementReferenceException, TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from browser import POLL, ServedApp
from workbench.store import Store, VariantRef

pytestmark = pytest.mark.browser
WAIT = 120  # seconds at most for a condition (jobs start a Python process each); polled, never slept


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("jobs") / "data"
    app = ServedApp(root)
    yield app, Store(root)
    app.close()


SLOTS = 2  # two jobs at a time, one thread each (the suite runs beside other work on 2 cores)


@pytest.fixture(autouse=True)
def job_slots(monkeypatch):
    monkeypatch.setenv("WORKBENCH_JOB_SLOTS", str(SLOTS))


def wait_for(driver, condition, message=""):
    wait = WebDriverWait(driver, WAIT, poll_frequency=POLL,
                         ignored_exceptions=(StaleElementReferenceException, JavascriptException))
    try:
        return wait.until(lambda d: condition(d), message)
    except TimeoutException:
        cards = [c.text.replace("\n", " | ") for c in driver.find_elements(By.CSS_SELECTOR, ".wb-job")]
        raise TimeoutException(f"{message}; jobs shown: {cards}") from None


def fill(driver, field_id, text):
    box = driver.find_element(By.ID, field_id)
    box.clear()
    box.send_keys(text, Keys.TAB)  # the inputs are debounced: the value counts once the box is left


def choose(driver, dropdown_id, value):
    driver.find_element(By.ID, dropdown_id).click()
    wait_for(driver, lambda d: d.find_element(By.XPATH, f"//*[@role='option'][.//input[@value='{value}']]")).click()


def click(driver, element):
    """Click a button as the page has it now (the job list re-renders under a native click's scroll)."""
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].click();", element)


def cards(driver) -> dict[str, str]:
    """Job target -> state, as the job list shows them (newest job of a target wins)."""
    shown = {}
    for card in reversed(driver.find_elements(By.CSS_SELECTOR, ".wb-job")):
        target = card.find_element(By.TAG_NAME, "code").text
        shown[target] = card.get_attribute("data-state")
    return shown


def card_of(driver, target):
    return next(c for c in driver.find_elements(By.CSS_SELECTOR, ".wb-job")
                if c.find_element(By.TAG_NAME, "code").text == target)


def open_train_form(driver, base, **fields):
    driver.get(f"{base}/train")
    wait_for(driver, lambda d: d.find_element(By.ID, "train-p").get_attribute("value"), "the form has no defaults")
    choose(driver, "train-family", "tiny_addition")
    wait_for(driver, lambda d: d.find_element(By.ID, "train-p").get_attribute("value") == "31", "tiny defaults")
    for name, value in fields.items():
        fill(driver, f"train-{name}", value)


def test_a_sweep_is_launched_watched_cancelled_resumed_and_browsed(served, browser):
    app, store = served
    open_train_form(browser, app.url, p="23, 29", seed="1, 2", epochs="100", every="50:100")
    wait_for(browser, lambda d: "4 variant(s)" in d.find_element(By.ID, "train-plan").text, "the plan lists the sweep")
    variants = [f"tiny_addition/p{p}-s{s}-d598-every=50x100-epochs=100" for p in (23, 29) for s in (1, 2)]
    assert all(v in browser.find_element(By.ID, "train-plan").text for v in variants)
    fill(browser, "train-seed", "1")  # two of them are enough to launch, watch, cancel, resume and browse
    wait_for(browser, lambda d: "2 variant(s)" in d.find_element(By.ID, "train-plan").text, "the plan follows the form")
    variants = variants[::2]

    # While the machine's job slots are held, every job waits in the queue: cancel one of them there.
    with contextlib.ExitStack() as slots:
        for index in range(SLOTS):
            slots.enter_context(store.job_lock(f"slot-{socket.gethostname()}-{index}"))
        click(browser, browser.find_element(By.ID, "train-start"))
        wait_for(browser, lambda d: sorted(cards(d)) == sorted(variants) and set(cards(d).values()) == {"queued"},
                 "both jobs queued")
        click(browser, card_of(browser, variants[1]).find_element(By.XPATH, ".//button[text()='Cancel']"))
        wait_for(browser, lambda d: cards(d)[variants[1]] == "cancelled", "the cancelled job says so")
    wait_for(browser, lambda d: cards(d)[variants[0]] == "done", "the other job finishes")
    done = card_of(browser, variants[0])
    assert "epoch 100 / 100" in done.text and "test accuracy" in done.text
    assert not store.exists(VariantRef(*variants[1].split("/")))

    click(browser, card_of(browser, variants[1]).find_element(By.XPATH, ".//button[text()='Resume']"))
    wait_for(browser, lambda d: cards(d)[variants[1]] == "done", "the resumed job finishes")
    assert all(store.status(VariantRef(*v.split("/"))) == "trained" for v in variants)

    browser.get(f"{app.url}/?variant={variants[1]}")
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .main-svg"), "the new variant opens")
    assert "Not trained" not in browser.find_element(By.ID, "page-content").text


def test_a_running_job_cancels_cleanly_and_the_variant_stays_resumable(served, browser):
    app, store = served
    open_train_form(browser, app.url, seed="7", epochs="200000", every="50:200000")
    wait_for(browser, lambda d: "1 variant(s)" in d.find_element(By.ID, "train-plan").text)
    click(browser, browser.find_element(By.ID, "train-start"))
    target = "tiny_addition/p31-s7-d598-every=50x200000-epochs=200000"
    wait_for(browser, lambda d: cards(d).get(target) == "running" and "epoch" in card_of(d, target).text,
             "the job runs and shows its epoch")
    click(browser, card_of(browser, target).find_element(By.XPATH, ".//button[text()='Cancel']"))
    wait_for(browser, lambda d: cards(d)[target] == "cancelled", "the job stops")
    ref = VariantRef(*target.split("/"))
    assert store.status(ref) == "interrupted" and store.checkpoint_epochs(ref)
    assert not list(store.variant_dir(ref).rglob("*.tmp"))
    assert "resumable" in card_of(browser, target).text


def test_the_analyze_page_runs_what_is_missing(served, browser):
    app, store = served
    ref = next(r for r in store.variants() if store.status(r) == "trained")
    browser.get(f"{app.url}/analyze")
    pick = wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, f"input[id*='analyze-pick'][id*='{ref.id}']"),
                    "the variant is listed")
    assert "missing" in browser.find_element(By.ID, "analyze-table").text
    click(browser, pick)
    click(browser, browser.find_element(By.ID, "analyze-run"))
    wait_for(browser, lambda d: cards(d).get(str(ref)) == "done", "the analysis job finishes")
    wait_for(browser, lambda d: store.status(ref) == "analyzed")
