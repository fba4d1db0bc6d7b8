"""Crash safety: `workbench train` and `workbench analyze` killed with SIGKILL at random points
leave a store whose every file reads cleanly; rerunning resumes and ends with exactly the history,
checkpoints and artifacts of an uninterrupted run (the session's tiny variant)."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from workbench.store import Store, VariantRef, read_arrays, read_json

KILLS = 3
REPO = Path(__file__).resolve().parents[1]


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "workbench.cli", *args, "--quiet"]


def _env(root: Path) -> dict:
    # One thread, as in the test process, so float reductions run in the same order.
    return {**os.environ, "PYTHONPATH": str(REPO), "WORKBENCH_DATA": str(root), "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1"}


def _count(directory: Path, pattern: str) -> int:
    return sum(1 for _ in directory.glob(pattern)) if directory.is_dir() else 0


def _run_and_kill(args: list[str], root: Path, progress, target: int) -> bool:
    """Start the command and SIGKILL it once `progress()` reaches `target` (polled, bounded by
    two minutes); True if it was killed, False if it finished first."""
    process = subprocess.Popen(_command(*args), env=_env(root), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while process.poll() is None and progress() < target and time.monotonic() < deadline:
        time.sleep(0.005)
    if process.poll() is not None:
        assert process.returncode == 0, process.stderr.read().decode()
        return False
    process.send_signal(signal.SIGKILL)
    process.wait()
    process.stderr.close()
    return True


def _assert_consistent(variant_dir: Path, context: str) -> None:
    """Every file that looks complete reads cleanly (checksums hold); anything else is a temp file."""
    for path in variant_dir.rglob("*"):
        if path.is_dir() or path.name in (".lock", ".analysis.lock"):
            continue
        if path.name.startswith(".") and path.name.endswith(".tmp"):
            continue  # a write the kill interrupted: never read, removed by the next writer
        if path.name == "live.bin":
            continue  # a killed run's live rows: read only while the variant trains, removed by the next writer
        if path.suffix == ".safetensors":
            read_arrays(path)
        elif path.suffix == ".json":
            read_json(path)
        else:
            raise AssertionError(f"{context}: unexpected file {path}")


def _finish(args: list[str], root: Path) -> None:
    done = subprocess.run(_command(*args), env=_env(root), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr


def test_train_and_analyze_killed_at_random_points_resume_to_the_uninterrupted_result(tmp_path, tiny_analyzed):
    reference_store, ref = tiny_analyzed
    seed = random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)
    root = tmp_path / "data"
    store = Store(root)
    variant_dir = root / ref.family / ref.id
    checkpoints = reference_store.checkpoint_epochs(ref)

    # Training: killed after a random number of checkpoints, three times, then run to the end.
    targets = sorted(rng.sample(range(1, len(checkpoints)), KILLS))
    for target in targets:
        _run_and_kill(["train", ref.family], root, lambda: _count(variant_dir / "checkpoints", "epoch_*"), target)
        _assert_consistent(variant_dir, f"train killed at {target} checkpoints (seed {seed})")
    _finish(["train", ref.family], root)
    _assert_equal_runs(reference_store, store, ref, seed)

    # Analysis: killed after a random number of artifact files, three times, then run to the end.
    artifacts = variant_dir / "artifacts"
    total = _count(reference_store.variant_dir(ref) / "artifacts", "*/*.safetensors")
    for target in sorted(rng.sample(range(1, total), KILLS)):
        _run_and_kill(["analyze", str(ref), "--workers", "1"], root, lambda: _count(artifacts, "*/*.safetensors"),
                      target)
        _assert_consistent(variant_dir, f"analyze killed at {target} artifacts (seed {seed})")
    _finish(["analyze", str(ref), "--workers", "1"], root)
    _assert_equal_artifacts(reference_store, store, ref, seed)


def _assert_equal_runs(expected: Store, actual: Store, ref: VariantRef, seed: int) -> None:
    want, got = expected.load_history(ref), actual.load_history(ref)
    assert sorted(want) == sorted(got)
    for key in want:
        np.testing.assert_array_equal(got[key], want[key], err_msg=f"history {key} (seed {seed})")
    assert actual.checkpoint_epochs(ref) == expected.checkpoint_epochs(ref)
    for epoch in expected.checkpoint_epochs(ref):
        want, got = expected.load_weights(ref, epoch), actual.load_weights(ref, epoch)
        for key in want:
            np.testing.assert_array_equal(got[key], want[key], err_msg=f"{key} at epoch {epoch} (seed {seed})")
    assert actual.info(ref)["status"] == "trained"


def _assert_equal_artifacts(expected: Store, actual: Store, ref: VariantRef, seed: int) -> None:
    want_dir, got_dir = expected.variant_dir(ref) / "artifacts", actual.variant_dir(ref) / "artifacts"
    want_files = sorted(p.relative_to(want_dir) for p in want_dir.glob("*/*.safetensors"))
    assert sorted(p.relative_to(got_dir) for p in got_dir.glob("*/*.safetensors")) == want_files
    for name in want_files:
        want, got = read_arrays(want_dir / name)[0], read_arrays(got_dir / name)[0]
        assert sorted(want) == sorted(got), name
        for key in want:
            np.testing.assert_array_equal(got[key], want[key], err_msg=f"{name}: {key} (seed {seed})")
