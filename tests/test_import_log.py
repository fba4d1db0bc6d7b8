"""`workbench import-log`: every format, its own x per series, malformed files, and the run it makes."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from workbench import logimport
from workbench.cli import main
from workbench.logimport import read_log
from workbench.logrules import LogImportError
from workbench.store import VariantRef

STEPS = np.arange(0, 200)


def train_loss(steps):
    return 2.0 / (1 + steps / 20)


def test_csv_with_a_sparser_test_column_keeps_each_series_on_its_own_steps(tmp_path):
    path = tmp_path / "run.csv"
    rows = ["epoch,step,loss,val_loss,note"] + [
        f"{s // 50},{s},{train_loss(s)},{'' if s % 10 else train_loss(s) + 1},{'warm' if s < 5 else 'ok'}" for s in STEPS]
    path.write_text("\n".join(rows) + "\n")
    series, x_name, notes = read_log(path)
    assert x_name == "step" and set(series) == {"loss", "val_loss"}                  # steps preferred to epochs
    np.testing.assert_array_equal(series["loss"][0], STEPS)
    np.testing.assert_array_equal(series["val_loss"][0], STEPS[::10])
    np.testing.assert_allclose(series["val_loss"][1], train_loss(STEPS[::10]) + 1)
    assert any("note" in n for n in notes)
    by_epoch, x_name, _ = read_log(path, step="epoch", metrics=["loss"])
    assert x_name == "epoch" and list(by_epoch) == ["loss"] and len(by_epoch["loss"][0]) == 4   # last value per epoch


def test_jsonl_records_with_nested_metrics_and_logged_nan(tmp_path):
    path = tmp_path / "run.jsonl"
    lines = [json.dumps({"iteration": int(s), "train": {"loss": train_loss(s)}}) for s in STEPS[:50]]
    lines.insert(10, "")
    lines.append('{"iteration": 50, "train": {"loss": NaN}}')
    path.write_text("\n".join(lines) + "\n")
    series, x_name, _ = read_log(path)
    assert x_name == "iteration" and list(series) == ["train/loss"]
    assert len(series["train/loss"][0]) == 51 and np.isnan(series["train/loss"][1][-1])


def test_json_list_of_records_and_dict_of_lists_of_different_lengths(tmp_path):
    records = tmp_path / "records.json"
    records.write_text(json.dumps([{"step": int(s), "loss": train_loss(s)} for s in STEPS]))
    assert len(read_log(records)[0]["loss"][0]) == len(STEPS)
    columns = tmp_path / "columns.json"
    columns.write_text(json.dumps({"step": STEPS.tolist(), "loss": train_loss(STEPS).tolist(),
                                   "test_loss": [1.0] * 20, "acc": [0.5] * 7, "acc_step": [0, 5, 9, 30, 31, 90, 150]}))
    series, _, notes = read_log(columns)
    np.testing.assert_array_equal(series["test_loss"][0], STEPS[9::10])               # the end of each 10-step block
    np.testing.assert_array_equal(series["acc"][0], [0, 5, 9, 30, 31, 90, 150])       # its own steps
    assert any("logged every 10 steps, placed at the end of each block" in n for n in notes)
    assert "acc_step" not in series


def test_a_torch_file_of_lists_and_tensors_is_read_without_unpickling_code(tmp_path):
    path = tmp_path / "run.pth"
    torch.save({"epochs": list(range(100)), "train_losses": torch.tensor(train_loss(np.arange(100))),
                "test_losses": [float(v) for v in np.linspace(5, 0.01, 100)], "model": {"w": torch.zeros(2, 2)},
                "config": {"lr": 1e-3}}, path)
    series, x_name, notes = read_log(path)
    assert x_name == "epochs" and set(series) == {"train_losses", "test_losses"}
    assert any("not read as series: config, model" in n for n in notes)


@pytest.mark.parametrize("name, text, message", [
    ("bad.csv", "step,loss\n0,1.0\n1,abc\n", "line 3, column 'loss': 'abc' is not a number"),
    ("ragged.csv", "step,loss\n0,1.0\n1,0.9,7\n", "line 3 has 3 fields, the header has 2"),
    ("bad.jsonl", '{"step": 0, "loss": 1}\n{"step": 1, "loss": \n', "line 2 is not valid JSON"),
    ("list.jsonl", '{"step": 0, "loss": 1}\n[1, 2]\n', "line 2 is a list, not a JSON object"),
    ("bad.json", '{"step": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], "loss": [1, 2, 3, 4, 5, 6, 7]}',
     "key 'loss' has 7 values but 'step' has 10; no whole cadence fits"),
    ("nox.jsonl", '{"step": 0, "loss": 1}\n{"loss": 2}\n', "line 2 has no 'step'"),
    ("words.csv", "step,phase\n0,warmup\n", "no numeric metric"),
    ("run.txt", "step loss\n", "unknown log format '.txt'"),
])
def test_malformed_logs_are_refused_naming_the_line_or_key(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(LogImportError, match=message.replace("(", r"\(").replace("[", r"\[")):
        read_log(path)


def test_unknown_overrides_and_absurd_sizes_are_refused(tmp_path, monkeypatch):
    path = tmp_path / "run.csv"
    path.write_text("step,loss\n0,1\n1,0.5\n")
    with pytest.raises(LogImportError, match="--step 'time' is not a column; there are: loss, step"):
        read_log(path, step="time")
    with pytest.raises(LogImportError, match="--metrics 'acc' is not a numeric column"):
        read_log(path, metrics=["acc"])
    monkeypatch.setattr(logimport, "MAX_FILE_BYTES", 10)
    with pytest.raises(LogImportError, match="GiB are refused"):
        read_log(path)


def test_an_imported_log_is_a_run_the_app_lists_analyzes_and_compares(store, tmp_path, capsys):
    path = tmp_path / "other project.csv"
    steps = np.arange(1000)
    val_acc = np.where(steps < 400, 0.9, 0.3) + np.random.default_rng(0).normal(0, 0.01, 1000)
    path.write_text("step,train_loss,val_acc\n" + "\n".join(
        f"{s},{train_loss(s)},{a}" for s, a in zip(steps, val_acc)) + "\n")
    assert main(["import-log", str(path), "--data", str(store.root), "--gates", "val_acc >= 0.5 by 100"]) == 0
    out = capsys.readouterr().out
    ref = VariantRef("logs", "other-project")
    assert f"as {ref}" in out and "abrupt change in val_acc at 400" in out and "failed first at 400" in out
    assert main(["import-log", str(path), "--data", str(store.root)]) == 1
    assert "already exists; pass --replace" in capsys.readouterr().err
    [row] = store.listing()
    assert row.ref == ref and row.status == "log" and row.checkpoints == 0
    from workbench.compare import variant_metrics
    assert variant_metrics(store, ref)["analysis"] == "imported log"
    history = store.load_history(ref)                      # one history model: the log's own series and x
    assert history.unit == "step" and set(history) == {"train_loss", "val_acc"}
    np.testing.assert_array_equal(history.x("val_acc"), steps)
    # The Loss dynamics page shows it, its alerts and gates, and overlays it with a second log.
    assert main(["import-log", str(path), "--data", str(store.root), "--id", "again", "--metrics", "val_acc"]) == 0
    from workbench.pages import dynamics
    from workbench.pages._shell import selection_epochs
    stops = selection_epochs(store, str(ref))                                       # 500 of its 1,000 steps
    assert stops[:3] == [0, 2, 4] and stops[-1] == 999 and len(stops) == 500 and 400 in stops
    selection = {"variant": str(ref), "epoch": 500, "compare": ["logs/again"]}
    summaries = dynamics.FIGURES.summaries
    *figures, rendered = summaries(store, selection, "val_acc", None, "val_acc >= 0.5 by 100", None)
    titles = [f["layout"]["title"]["text"] for f in figures[:7]]
    assert titles[0].startswith("val_acc<br>") and "periodogram" in titles[3] and titles[5] == "Gates"
    assert titles[6] == "val_acc: compared runs", titles
    alerts = [t for t in figures[0]["data"] if t["name"] == "alerts"][0]
    assert alerts["customdata"] == [400.0]                                         # click the alert: epoch 400
    *moved, _ = summaries(store, {**selection, "epoch": 700}, "val_acc", None, "val_acc >= 0.5 by 100", rendered)
    assert "700" in str(moved[0].to_plotly_json())                                  # cursors move by Patch


def test_a_logs_own_names_draw_the_loss_and_accuracy_figures(store, tmp_path):
    import workbench as wb
    path = tmp_path / "trainer.csv"
    steps = np.arange(0, 300)
    path.write_text("step,loss,eval/loss,eval/accuracy\n" + "\n".join(
        f"{s},{train_loss(s)},{'' if s % 10 else 3 - s / 150},{'' if s % 10 else s / 300}" for s in steps) + "\n")
    v = wb.import_log(path, data=store.root)
    loss = wb.figure("loss_curves", v, data=store.root)
    names = [t.name for t in loss.data]
    assert names == ["train loss (loss)", "test loss (eval/loss)"] and loss.layout.xaxis.title.text == "step"
    np.testing.assert_array_equal(loss.data[1].x, steps[::10])
    accuracy = wb.figure("accuracy_curves", v, data=store.root)
    assert [t.name for t in accuracy.data] == ["test acc (eval/accuracy)"]
    assert "no train acc in this run's history" in accuracy.layout.meta["caption"]
