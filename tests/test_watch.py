"""`workbench watch FILE`: a log written line by line by another process, alerts and failed gates
reported as the lines that raise them arrive, the run kept live in the store."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from workbench import live
from workbench.errors import ConflictError
from workbench.logimport import import_log
from workbench.logrules import LogImportError
from workbench.store import Store, VariantRef
from workbench.watch import GATE_FAILED, LogTail, Watcher

# Writes a CSV log line by line: the loss falls until step 40, then grows 50% a step (a planted
# divergence); it prints when each line was flushed (wall-clock time) so the test can time the alert.
WRITER = """
import sys, time
path, pause = sys.argv[1], float(sys.argv[2])
with open(path, "w") as f:
    f.write("step,loss,val_acc\\n"); f.flush()
    loss = 2.0
    for step in range(60):
        loss *= 0.95 if step < 40 else 1.5
        f.write(f"{step},{loss:.6g},{min(1.0, step / 100):.3f}\\n"); f.flush()
        print(step, time.time(), flush=True)
        time.sleep(pause)
"""
RISES_FROM, FIRES_AT = 39, 42   # the third rise of more than 20% in a row makes it a sustained rise


def watch_command(tmp_path, *args):
    return [sys.executable, "-m", "workbench.cli", "watch", str(tmp_path / "run.csv"), "--data",
            str(tmp_path / "data"), *args]


def run_watch_beside_writer(tmp_path, *args, pause=0.1):
    """Start `workbench watch`, then the writer; returns (exit code, [(time, line)] printed, {step: time written})."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    watcher = subprocess.Popen(watch_command(tmp_path, *args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, env=env)
    printed = []
    reader = threading.Thread(target=lambda: printed.extend((time.time(), line.rstrip()) for line in watcher.stdout))
    reader.start()
    deadline = time.monotonic() + 60
    while not printed and time.monotonic() < deadline:  # the banner: it is watching (the file does not exist yet)
        time.sleep(0.05)
    writer = subprocess.run([sys.executable, "-c", WRITER, str(tmp_path / "run.csv"), str(pause)],
                            capture_output=True, text=True, check=True)
    code = watcher.wait(timeout=120)
    reader.join()
    written = {int(step): float(at) for step, at in (line.split() for line in writer.stdout.splitlines())}
    return code, printed, written


def test_watch_reports_the_planted_divergence_at_the_line_that_causes_it(tmp_path):
    code, printed, written = run_watch_beside_writer(tmp_path, "--idle", "2")
    assert code == 0, printed
    alerts = [(at, line) for at, line in printed if "alert: sustained rise in loss" in line]
    assert len(alerts) == 1, printed
    at, line = alerts[0]
    # It names where the rise started, and it was raised by the line of step 42 (line 44: the header is line 1).
    assert f"sustained rise in loss at {RISES_FROM}:" in line and line.startswith(f"[line {FIRES_AT + 2}, step {FIRES_AT}]")
    latency = at - written[FIRES_AT]
    assert 0 <= latency < 1.0, f"reported {latency:.2f} s after the line was written"
    assert "60 records read" in "\n".join(text for _, text in printed)

    # The run is in the store as a log, as `import-log` of the finished file makes it (same alerts).
    ref = VariantRef("logs", "run")
    watched = np.asarray(live.history(Store(tmp_path / "data"), ref)["loss"])
    imported = import_log(tmp_path / "run.csv", Store(tmp_path / "other"))
    assert np.array_equal(watched, Store(tmp_path / "other").load_history(imported["variant"])["loss"])
    assert [a.summary() for a in imported["alerts"]][0].startswith(f"sustained rise in loss at {RISES_FROM}")


def test_exit_on_gate_stops_with_its_own_status_when_a_gate_fails(tmp_path):
    code, printed, _ = run_watch_beside_writer(tmp_path, "--gates", "val_acc >= 0.5 by 30", "--exit-on-gate",
                                               pause=0.02)
    assert code == GATE_FAILED, printed
    text = "\n".join(line for _, line in printed)
    assert "[line 32, step 30] gate: gate 'val_acc >= 0.5 by 30' on val_acc failed at 30" in text
    assert "failed gates: val_acc >= 0.5 by 30" in text


def test_the_tail_reads_whole_lines_only_and_starts_over_on_a_rewritten_file(tmp_path):
    path = tmp_path / "log.jsonl"
    tail = LogTail(path)
    assert tail.read() == []  # not there yet
    path.write_text('{"step": 0, "loss": 1.0}\n{"step": 1, "lo')
    assert tail.read() == [(1, {"step": 0, "loss": 1.0})]
    with open(path, "a") as f:
        f.write('ss": 0.5}\n')
    assert tail.read() == [(2, {"step": 1, "loss": 0.5})]
    path.write_text('{"step": 0, "loss": 9.0}\n')  # rewritten (shorter): read from the start
    assert tail.read() == [(1, {"step": 0, "loss": 9.0})] and tail.generation == 1
    path.write_text('{"step": 0, "loss": 9.0}\n[1, 2]\n')
    with pytest.raises(LogImportError, match="line 2 is a list"):
        tail.read()
    with pytest.raises(LogImportError, match="CSV/TSV or JSONL"):
        LogTail(tmp_path / "log.pt")


def test_a_watcher_scans_at_a_bounded_rate_and_reports_each_event_once(tmp_path, store):
    path = tmp_path / "train.csv"
    rows = [f"{i},{np.exp(-i / 50):.6g},{'nan' if i == 700 else 0.1}" for i in range(1000)]
    path.write_text("step,loss,grad_norm\n" + "\n".join(rows) + "\n")
    watcher = Watcher(path, store=store)
    events = watcher.poll(now=0.0)  # one batch of 1,000 lines: one scan, not 1,000
    assert [e.kind for e in events] == ["alert"] and "non-finite value in grad_norm at 700" in events[0].text
    assert events[0].line == 1001 and watcher.next_scan >= watcher.scan_cost
    with open(path, "a") as f:
        f.write("1000,0.1,0.1\n")
    assert watcher.poll(now=1e9) == []  # the same alert is not reported again
    watcher.save()
    assert store.load_log(VariantRef("logs", "train"))["loss"][0].tolist()[-1] == 1000
    store.write_info(VariantRef("logs", "trained"), {"status": "trained"})
    with pytest.raises(ConflictError, match="not a training log"):
        Watcher(path, store=store, id="trained").open_store()
