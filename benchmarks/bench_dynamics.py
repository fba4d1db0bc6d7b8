"""Loss dynamics on a 1M-step log: oscillation analysis with an adaptive window stride vs every
window, and the phases + alerts analyzer against reading the log back from the store."""
from __future__ import annotations

import tempfile

import numpy as np

from benchmarks.run import Benchmark
from workbench import oscillation
from workbench.analyzers.dynamics import run_dynamics
from workbench.store import Store, VariantRef

N_STEPS = 1_000_000


def _log() -> dict:
    """Train loss every step (decay + a period-7 wobble + noise), validation every 100 steps
    with a grokking-like late drop and a planted collapse of val_acc at step 600,000."""
    rng = np.random.default_rng(0)
    steps = np.arange(N_STEPS, dtype=np.float64)
    train = (0.01 + np.exp(-steps / 2e5)) * (1 + 0.05 * np.sin(2 * np.pi * steps / 7)) * np.exp(rng.normal(0, .02, N_STEPS))
    val_steps = steps[::100]
    val = np.interp(val_steps, [0, 1e5, 4e5, 5e5, 1e6], [3, 6, 6, 0.01, 0.005])
    acc = np.where(val_steps < 6e5, 0.95, 0.4) + rng.normal(0, 0.005, len(val_steps))
    return {"train_loss": (steps, train), "val_loss": (val_steps, val), "val_acc": (val_steps, acc)}


def _store() -> tuple[Store, VariantRef]:
    store = Store(tempfile.mkdtemp(prefix="bench-dynamics-"))
    ref = VariantRef("logs", "synthetic-1M")
    store.save_log(ref, _log())
    store.write_info(ref, {"family": "logs", "id": ref.id, "status": "log", "spec": {}})
    return store, ref


STORE, REF = _store()
X, Y = STORE.load_log(REF)["train_loss"]

BENCHMARKS = [
    Benchmark(
        "loss dynamics: oscillation analysis of a 1M-step train loss (periodogram, autocorrelation, decomposition)",
        ("every window (stride 50 samples)", lambda: oscillation.analyze(X, Y, max_windows=np.inf)),
        ("adaptive stride (at most 400 windows)", lambda: oscillation.analyze(X, Y)),
        unit="s", repeats=2,
        notes=lambda t: f"{t:.2f} s for {N_STEPS:,} steps; the period-7 wobble is still found "
                        f"({oscillation.analyze(X, Y)['dominant_period']:.3f} steps)"),
    Benchmark(
        "loss dynamics: phases + alerts of a 1M-step log (the loss_dynamics analyzer)",
        ("reading the log back (Store.load_log)", lambda: STORE.load_log(REF)),
        ("phases + alerts (run_dynamics)", lambda: run_dynamics(STORE, REF)),
        unit="s", repeats=3, notes=lambda t: f"{t:.3f} s for {N_STEPS:,} + 2 × {N_STEPS // 100:,} points"),
]
