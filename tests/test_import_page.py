"""The app's Import page: a checkpoint or a training log uploaded from the browser becomes a run,
through the same importers as the command line, and the page says what was read and assumed."""
from __future__ import annotations

import base64

import pytest
import torch
from selenium.webdriver.common.by import By

from browser import ServedApp
from test_app_browser import severe_console_errors, wait_for
from test_importers import reference_weights, transformer_lens_state
from workbench.errors import BadInputError
from workbench.pages import imports
from workbench.store import Store, VariantRef


def upload_of(path) -> str:
    """What dcc.Upload hands the callback: a data URL of the file's bytes."""
    return "data:application/octet-stream;base64," + base64.b64encode(path.read_bytes()).decode()


@pytest.fixture
def checkpoint(tmp_path):
    path = tmp_path / "my run (final).pt"
    torch.save(transformer_lens_state(reference_weights()), path)
    return path


def test_an_uploaded_checkpoint_becomes_a_variant_named_after_the_file(store, checkpoint):
    summary = imports.import_upload(store, upload_of(checkpoint), checkpoint.name, "checkpoint", "modular_addition",
                                    None, "data_seed=0 weight_decay=0", None, None)
    ref = summary["variant"]
    assert ref == VariantRef("modular_addition", "imported-my_run_final")
    info = store.info(ref)
    assert info["status"] == "trained"
    assert info["source"]["path"] == "my run (final).pt (uploaded in the app)"   # not the temporary copy
    assert info["spec"]["domain"]["data_seed"] == 0 and info["spec"]["training"]["weight_decay"] == 0
    assert summary["set"] == {"domain.data_seed": 0, "training.weight_decay": 0}
    shown = str(imports.describe(summary, "checkpoint"))
    assert "imported as modular_addition/imported-my_run_final" in shown and "/analyze?variant=" in shown


def test_bad_uploads_and_settings_get_one_line_errors_and_leave_nothing(store, checkpoint):
    upload = upload_of(checkpoint)
    with pytest.raises(BadInputError, match="expects key=value"):
        imports.import_upload(store, upload, checkpoint.name, "checkpoint", "modular_addition", None, "seed",
                              None, None)
    with pytest.raises(BadInputError, match="damaged"):
        imports.import_upload(store, "data:;base64,@@@", checkpoint.name, "checkpoint", "modular_addition",
                              None, "", None, None)
    message = imports.start(store, 1, upload, checkpoint.name, "checkpoint", "no_such_family", None, "", None, None)
    assert "no_such_family" in str(message) and "text-danger" in str(message)
    assert store.listing() == []


def test_an_uploaded_log_becomes_a_log_only_run_with_its_phases_and_gates(store, tmp_path):
    path = tmp_path / "metrics.csv"
    rows = ["step,train_loss,val_loss,val_acc"] + [f"{s},{2.0 / (1 + s)},{3.0 / (1 + s) + 0.1},{min(1, s / 50)}"
                                                   for s in range(0, 200, 5)]
    path.write_text("\n".join(rows) + "\n")
    assert imports.file_chosen("metrics.csv")[1] == "log" and imports.file_chosen("run.pth")[1] == "checkpoint"
    summary = imports.import_upload(store, upload_of(path), path.name, "log", None, None, None, None,
                                    "val_acc >= 0.5 by epoch 100")
    ref = summary["variant"]
    assert store.is_log(ref) and store.info(ref)["log"]["source"] == "metrics.csv (uploaded in the app)"
    assert [g.verdict for g in summary["gates"]] and summary["series"]["val_loss"] == 40
    shown = str(imports.describe(summary, "log"))
    assert "x = step" in shown and "/dynamics?variant=" in shown and "val_acc >= 0.5 by epoch 100" in shown


@pytest.mark.browser
def test_the_import_page_uploads_a_checkpoint_and_links_to_the_new_variant(browser, tmp_path, checkpoint):
    served = ServedApp(tmp_path / "data")
    try:
        browser.get(f"{served.url}/import")
        wait_for(browser, lambda d: d.find_element(By.ID, "import-start"), "no Import page")
        browser.find_element(By.CSS_SELECTOR, "#import-upload input[type=file]").send_keys(str(checkpoint))
        wait_for(browser, lambda d: d.find_element(By.ID, "import-start").is_enabled(), "Import never enabled")
        browser.find_element(By.ID, "import-settings").send_keys("data_seed=0")
        browser.find_element(By.ID, "import-start").click()
        headline = wait_for(browser, lambda d: d.find_element(By.ID, "import-headline"), "no import result")
        assert "imported as modular_addition/imported-my_run_final" in headline.text
        links = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "#import-result a")]
        assert any(link.endswith("/analyze?variant=modular_addition/imported-my_run_final") for link in links)
        assert Store(tmp_path / "data").exists(VariantRef("modular_addition", "imported-my_run_final"))
        assert not severe_console_errors(browser)
    finally:
        served.close()
