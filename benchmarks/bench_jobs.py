"""What running training as a job costs: `jobs.execute` (record, progress writes, cancel checks)
against calling `training.train` directly, on the same p=59 demo-family run of 300 epochs."""
from __future__ import annotations

import tempfile

from benchmarks.run import Benchmark
from workbench import jobs
from workbench.families import load_family
from workbench.store import Store
from workbench.training import train

VARIANT = load_family("modular_addition_demo").variant(epochs=300, every=[[100, 300]])


def _direct():
    train(VARIANT, Store(tempfile.mkdtemp()), progress=False)


def _as_job():
    store = Store(tempfile.mkdtemp())
    jobs.execute(store, jobs.submit_train(store, VARIANT)["id"])


BENCHMARKS = [
    Benchmark("jobs: 300 epochs at p=59 as a recorded job (progress every 0.5 s, cancel checked every epoch)",
              ("training.train directly", _direct), ("jobs.execute", _as_job), unit="s", repeats=3),
]
