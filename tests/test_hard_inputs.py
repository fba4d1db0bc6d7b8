"""Hard inputs, hard stops (issue 18): each finding of the adversarial probe, reproduced with the
input that broke it: memory, alerts, the debugger, orphaned workers. Memory is refused from
estimates before anything is allocated (no test allocates what it refuses); every refusal is one
line on stderr and leaves nothing in the store. One-line errors for bad values and wrong
guidance: test_one_line_errors.py."""
from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from refusals import copy_of, nothing_stored, one_line_error

from workbench.cli import main
from workbench.families import load_family
from workbench.store import VariantRef

REPO = Path(__file__).resolve().parents[1]


# -- 1. memory is bounded by the checks -----------------------------------------------------------

def test_a_family_at_the_documented_maximum_width_is_refused_before_anything_is_allocated(write_family, capsys, store):
    """d_model = d_mlp = 65,536 reached 22 GB and was OOM-killed (rc 137), leaving an `untrained`
    variant. Now the estimate (hundreds of GB) refuses it first, with the number and the fix."""
    from workbench import resources
    write_family("wide", 'extends = "tiny_addition"\n[model]\nd_model = 65536\nd_mlp = 65536\n')
    estimate = resources.training(load_family("wide").variant().spec)
    assert estimate.total > 100e9  # 4 x 65,536² weights alone are 17 GB, x28 bytes with gradients and AdamW
    assert main(["train", "wide", "--quiet"]) == 1
    one_line_error(capsys, "training wide/p31-s0-d598 needs about", "model and optimizer", "WORKBENCH_MEMORY_LIMIT",
                    "smaller model")
    nothing_stored(store.root)


def test_the_training_estimate_matches_measured_peaks_and_the_limit_can_be_set(monkeypatch, capsys, store):
    """Calibration (docs/performance.md): p = 113 with the paper's model measured a 231 MB peak,
    p = 401 at 90% train 2.9 GB; the estimate stays within 0.9-1.5x. $WORKBENCH_MEMORY_LIMIT
    replaces the budget, so a run that fits a machine is refused under a smaller limit."""
    from workbench import resources
    paper = load_family("modular_addition")
    assert 0.9 * 231e6 < resources.training(paper.variant().spec).total < 1.5 * 231e6
    big = resources.training(paper.variant(p=401, train_fraction=0.9).spec).total
    assert 0.9 * 2.89e9 < big < 1.5 * 2.89e9
    history = resources.training(paper.variant(epochs=10**9, **{"checkpoints.every": [[10**6, 10**9]]}).spec)
    assert history.total > 700e9  # every epoch of every series is kept: a billion epochs do not fit
    monkeypatch.setenv("WORKBENCH_MEMORY_LIMIT", "20M")
    assert main(["train", "tiny_addition", "--quiet"]) == 1
    one_line_error(capsys, "the limit is 20 MB ($WORKBENCH_MEMORY_LIMIT)")
    nothing_stored(store.root)
    monkeypatch.setenv("WORKBENCH_MEMORY_LIMIT", "lots")
    assert main(["train", "tiny_addition", "--quiet"]) == 1
    one_line_error(capsys, "$WORKBENCH_MEMORY_LIMIT = 'lots' is not a size")


def _safetensors(path: Path, tensors: dict[str, tuple[int, ...]]) -> None:
    """A float32 safetensors file of zeros with these shapes."""
    header, offset = {}, 0
    for name, shape in tensors.items():
        size = 4 * int(np.prod(shape))
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + bytes(offset))


def test_a_small_checkpoint_claiming_p_10007_is_refused_before_the_grid_checks(tmp_path, capsys, store):
    """A 320 kB safetensors file with W_E [10008, 4] and W_U [4, 10007] passed every import check,
    then the accuracy check allocated the p x p grid (2.7 GB, `_ArrayMemoryError`), leaving an
    `interrupted` variant whose id could not be reused."""
    d, p = 4, 10_007
    path = tmp_path / "huge_p.safetensors"
    _safetensors(path, {"embed.W_E": (p + 1, d), "pos_embed.W_pos": (3, d), "blocks.0.attn.W_Q": (1, d, 4),
                        "blocks.0.attn.W_K": (1, d, 4), "blocks.0.attn.W_V": (1, d, 4), "blocks.0.attn.W_O": (1, 4, d),
                        "blocks.0.mlp.W_in": (d, 8), "blocks.0.mlp.b_in": (8,), "blocks.0.mlp.W_out": (8, d),
                        "blocks.0.mlp.b_out": (d,), "unembed.W_U": (d, p)})
    assert path.stat().st_size < 400_000
    assert main(["import", str(path), "--family", "tiny_addition", "--id", "huge"]) == 1
    one_line_error(capsys, "importing huge_p.safetensors (p = 10007", "the accuracy and loss checks over the "
                    "10007x10007 grid", "TB")
    nothing_stored(store.root)


def _csv(path: Path, rows: int, noisy: bool = False) -> Path:
    rng = np.random.default_rng(0)
    loss = np.exp(-np.arange(rows) / rows * 5) * (1 + (rng.random(rows) * 3 if noisy else 0))
    path.write_text("step,loss,val_loss\n" + "".join(f"{i},{v:.6g},{2 * v:.6g}\n" for i, v in enumerate(loss)))
    return path


def test_a_log_is_read_as_a_stream_in_memory_proportional_to_its_points(tmp_path):
    """import-log of a 200 MB CSV peaked at 27x the file (every row a dict of strings; 26x and 216
    bytes a value here, measured with the old reader). Rows now go straight into compact arrays:
    about 33 bytes a value, 4x this file of short numbers."""
    import tracemalloc

    from workbench.logimport import read_log
    path = _csv(tmp_path / "metrics.csv", 60_000)
    tracemalloc.start()
    series, _, _ = read_log(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(series["loss"][0]) == 60_000
    assert peak < 40 * 3 * 60_000 and peak < 5 * path.stat().st_size, (peak, path.stat().st_size)


def test_a_log_with_more_points_than_the_memory_limit_holds_is_refused_while_it_streams(tmp_path, monkeypatch,
                                                                                       capsys, store):
    path = _csv(tmp_path / "metrics.csv", 3_000)  # 9,000 points: step, loss and val_loss
    monkeypatch.setenv("WORKBENCH_MEMORY_LIMIT", "1M")  # 6,250 points of 160 bytes
    assert main(["import-log", str(path)]) == 1
    one_line_error(capsys, "has more than 6,250 points by line", "memory limit of 1 MB ($WORKBENCH_MEMORY_LIMIT)",
                    "pick the metrics you need with --metrics")
    nothing_stored(store.root)
    assert main(["import-log", str(path), "--metrics", "loss"]) == 0  # only the kept column counts


def test_a_whole_json_document_too_large_for_memory_is_refused_with_the_streamed_formats(tmp_path, monkeypatch,
                                                                                        capsys, store):
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps([{"step": i, "loss": 1 / (i + 1)} for i in range(2000)]))
    monkeypatch.setenv("WORKBENCH_MEMORY_LIMIT", "1M")
    assert main(["import-log", str(path)]) == 1
    one_line_error(capsys, "reading metrics.json needs about", "Save the log as CSV or JSONL")
    nothing_stored(store.root)


def test_alerts_are_bounded_per_series_and_summarised_on_the_command_line(tmp_path, capsys):
    """The 8.1 M-row log printed 205,405 alert lines. Detectors keep the 50 largest events of a
    kind per series, and the command line prints 20 with the rest counted (`--all` prints all)."""
    path = _csv(tmp_path / "noisy.csv", 20_000, noisy=True)
    assert main(["import-log", str(path)]) == 0
    out = capsys.readouterr().out
    total = int(out.split(" alert(s)")[0].rsplit(" ", 1)[-1].replace(",", ""))
    assert 20 < total <= 2 * (2 * 50 + 5)  # two series: at most 50 rises and 50 jumps each, and a few others
    assert len(out.splitlines()) < 40 and "more (" in out and "workbench alerts logs/noisy --all" in out
    assert main(["alerts", "logs/noisy", "--all"]) == 0
    assert len(capsys.readouterr().out.splitlines()) > total


def test_the_apps_alert_list_is_bounded_too(store):
    from workbench.alerts import Alert
    from workbench.analyzers.dynamics import NAME, _json_bytes
    from workbench.pages.dynamics import SHOWN_ALERTS, alert_list
    ref = VariantRef("logs", "many")
    alerts = [Alert("abrupt change", float(i), f"metric{i % 300}", "a cause", {"median before": 1.0}).to_dict()
              for i in range(5_000)]
    store.save_artifact(ref, NAME, None, {"alerts_json": _json_bytes(alerts)})
    items = alert_list(store, {"variant": str(ref)}).children
    assert len(items) == SHOWN_ALERTS + 1 and "4,800 more: `workbench alerts logs/many --all`" in items[-1].children


def test_analysis_is_refused_when_its_grid_does_not_fit_and_automatic_workers_shrink_to_fit(tiny_trained, monkeypatch,
                                                                                         capsys):
    from workbench import resources
    from workbench.pipeline import _affordable_workers
    store, variant = tiny_trained
    spec = variant.spec
    one, two = resources.analysis(spec, 1).total, resources.analysis(spec, 2).total
    monkeypatch.setenv("WORKBENCH_MEMORY_LIMIT", str(int((one + two) / 2)))
    assert _affordable_workers(spec, 2, True, variant.ref) == 1  # automatic: fewer workers
    with pytest.raises(resources.ResourceError, match="fewer worker processes"):
        _affordable_workers(spec, 2, False, variant.ref)  # asked for: refused, with the fix
    monkeypatch.setenv("WORKBENCH_MEMORY_LIMIT", "1M")
    manifest = store.read_manifest(variant.ref)
    assert main(["analyze", str(variant.ref), "--data", str(store.root), "--force", "--quiet"]) == 1
    one_line_error(capsys, f"analyzing {variant.ref} needs about", "activations of the 31x31 grid")
    assert store.read_manifest(variant.ref) == manifest


# -- 2. alerts on non-finite values ----------------------------------------------------------------

def test_alerts_on_nan_and_inf_values_print_instead_of_crashing(tmp_path, capsys, store):
    """`alerts._fmt` raised `cannot convert float NaN to integer`: import-log of a CSV with nan/inf
    stored the run and exited 1 with a traceback; `workbench alerts` crashed the same way."""
    path = tmp_path / "blowup.csv"
    path.write_text("step,loss\n" + "".join(f"{i},{1 / (i + 1)}\n" for i in range(30)) + "30,inf\n31,nan\n32,-inf\n")
    assert main(["import-log", str(path)]) == 0
    assert "non-finite value in loss at 30: value inf, last finite value" in capsys.readouterr().out
    # A trained run's history with inf and NaN (what lr = inf used to train to).
    ref = VariantRef("tiny_addition", "blown")
    store.write_info(ref, {"family": ref.family, "id": ref.id, "status": "trained", "spec": {},
                           "source": {"kind": "trained"}})
    values = np.r_[np.linspace(3, 1, 40), np.inf, np.full(9, np.nan)]
    store.save_history(ref, {"train_loss": values, "test_loss": values, "train_acc": np.zeros(50),
                             "test_acc": np.zeros(50), "lr": np.full(50, np.inf)})
    assert main(["alerts", str(ref)]) == 0
    assert "non-finite value in train_loss at 40: value inf" in capsys.readouterr().out


# -- 3. no debugger behind the token ----------------------------------------------------------------

def test_debug_mode_is_refused_whenever_the_app_is_exposed(capsys, monkeypatch):
    """With --debug and --allow-remote the Werkzeug console answered without the token."""
    import dash
    monkeypatch.setattr(dash.Dash, "run", lambda *a, **k: pytest.fail("served"))
    token = "t" * 20
    for argv in (["serve", "--host", "0.0.0.0", "--allow-remote", "--token", token, "--debug"],
                 ["serve", "--allow-remote", "--token", token, "--debug"]):
        assert main(argv) == 1
        one_line_error(capsys, "--debug cannot be combined with --allow-remote", "/console")


# -- 4. no orphans ------------------------------------------------------------------------------------

def test_killing_analyze_kills_its_worker_processes(tiny_trained, tmp_path):
    """kill -9 of `workbench analyze --workers 2` left both spawned workers (and the resource
    tracker) running, every time. Workers now die with their parent."""
    import psutil
    store, variant = tiny_trained
    copy = copy_of(store, tmp_path)
    env = {**os.environ, "PYTHONPATH": str(REPO), "WORKBENCH_DATA": str(copy.root)}
    process = subprocess.Popen([sys.executable, "-m", "workbench.cli", "analyze", str(variant.ref), "--workers", "2",
                                "--force", "--quiet"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    parent = psutil.Process(process.pid)
    descendants, deadline = [], time.monotonic() + 120
    try:
        while time.monotonic() < deadline and process.poll() is None:
            descendants = parent.children(recursive=True)
            workers = [p for p in descendants if "resource_tracker" not in " ".join(p.cmdline())]
            if len(workers) >= 2:
                break
            time.sleep(0.05)
        assert process.poll() is None, "analyze finished before its workers were seen"
        time.sleep(0.5)
        descendants = parent.children(recursive=True)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        _, alive = psutil.wait_procs(descendants, timeout=15)
        assert not alive, [p.cmdline() for p in alive]
    finally:
        for child in descendants:  # whatever the outcome, nothing of this test keeps running
            try:
                child.kill()
            except psutil.NoSuchProcess:
                pass
