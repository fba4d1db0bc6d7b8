"""The CPU thread policy (workbench.threads): the free cores, an override that wins everywhere,
the environment set before torch loads, and results that do not depend on the thread count."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from workbench import threads
from workbench.families import load_family
from workbench.store import Store
from workbench.training import train


class _Machine:
    """A fake 2-core machine and clock: `others(t, threads)` cores busy with other work, one unit
    of work taking `cost(threads)` seconds."""

    def __init__(self, monkeypatch, others, cost, cores=2):
        self.t, self.busy, self.others, self.cost, self.threads = 0.0, 0.0, others, cost, None
        monkeypatch.setattr(threads, "_sample", lambda: (self.t, self.busy, 0.0))
        monkeypatch.setattr(threads, "cores", lambda: cores)
        monkeypatch.setattr(threads.time, "monotonic", lambda: self.t)
        monkeypatch.setattr(threads.time, "sleep", self.sleep)
        monkeypatch.setattr(threads, "thread_invariant", lambda dtype="float32": True)
        monkeypatch.setattr(threads, "_ENTRY", None)
        monkeypatch.setattr(threads, "_looked", None)
        monkeypatch.delenv(threads.VARIABLE, raising=False)

    def sleep(self, seconds):  # the governor looking at the machine before it starts
        self.busy += self.others(self.t, 1) * seconds
        self.t += seconds

    def run(self, governor, seconds):
        """Work until `seconds`; the thread count at every whole second."""
        seen = {}
        while self.t < seconds:
            n = governor.tick()
            dt = self.cost(n)
            self.busy += self.others(self.t, n) * dt
            self.t += dt
            seen.setdefault(int(self.t), n)
        return seen


@pytest.fixture
def _restore_threads():
    saved = torch.get_num_threads()
    yield
    torch.set_num_threads(saved)


def test_threads_follow_the_cores_others_leave_free(monkeypatch, _restore_threads):
    # another process computes from 5 s to 15 s; one more thread would not make this one faster
    machine = _Machine(monkeypatch, others=lambda t, n: 1.0 if 5 <= t < 15 else 0.0, cost=lambda n: 0.1)
    governor = threads.Governor()
    seen = machine.run(governor, 25)
    assert seen[3] == 2 and seen[8] == 1 and seen[12] == 1 and seen[20] == 2
    assert sum(n == 1 for t, n in seen.items() if 7 <= t < 15) >= 7  # tries two threads at most once
    assert torch.get_num_threads() == governor.threads
    assert threads.Governor(limit=1).threads == 1  # a job's cap


def test_a_core_busy_only_with_work_that_yields_is_taken_when_that_is_faster(monkeypatch, _restore_threads):
    # the other core is busy while this process leaves it idle, and yields when it is used (work
    # at a priority CPU time cannot tell): CPU time says one thread, trying two shows they are faster
    machine = _Machine(monkeypatch, others=lambda t, n: 1.0 if n == 1 else 0.05, cost=lambda n: 0.02 / n)
    seen = machine.run(threads.Governor(), 40)
    assert seen[0] == 1 and sum(seen[t] == 2 for t in range(12, 40)) >= 25  # tried after ten windows, then kept


def test_niced_processes_time_counts_as_free_unless_this_one_is_niced_too():
    #        user nice system idle iowait irq softirq steal
    ticks = [100, 500, 50, 900, 7, 5, 5, 0]
    assert threads.busy_ticks(ticks, own_nice=0) == 160  # a niced job yields to this process
    assert threads.busy_ticks(ticks, own_nice=10) == 660  # ... not to a niced one


def test_two_threads_beside_a_real_competitor_are_tried_rarely(monkeypatch, _restore_threads):
    machine = _Machine(monkeypatch, others=lambda t, n: 1.0, cost=lambda n: 0.1 * n)  # two threads: twice as slow
    seen = machine.run(threads.Governor(), 300)
    assert sum(n == 2 for n in seen.values()) <= 8  # about 1 s in 10, then 20, 40, 80 windows


def test_the_override_wins(monkeypatch, _restore_threads):
    machine = _Machine(monkeypatch, others=lambda t, n: 0.0, cost=lambda n: 0.1)
    monkeypatch.setenv(threads.VARIABLE, "1")
    assert set(machine.run(threads.Governor(), 5).values()) == {1} and torch.get_num_threads() == 1
    assert threads.available() == 1  # a worker pool's size too
    monkeypatch.setenv(threads.VARIABLE, "many")
    from workbench.errors import BadInputError
    with pytest.raises(BadInputError, match="WORKBENCH_THREADS"):
        threads.pinned()


def test_without_thread_invariant_results_the_count_is_left_alone_within_the_limit(monkeypatch, _restore_threads):
    machine = _Machine(monkeypatch, others=lambda t, n: 1.5, cost=lambda n: 0.1)
    monkeypatch.setattr(threads, "thread_invariant", lambda dtype="float32": False)
    torch.set_num_threads(2)  # what the other processes do does not move it
    assert set(machine.run(threads.Governor(), 5).values()) == {2} and torch.get_num_threads() == 2
    # A job that shares the machine with another (two job slots on two cores) is held to its share:
    # two processes at two threads each spin against each other.
    threads.set_limit(1)
    try:
        assert set(machine.run(threads.Governor(), 10).values()) == {1} and torch.get_num_threads() == 1
    finally:
        threads.set_limit(None)


def test_the_environment_keeps_what_the_user_set():
    env = {}
    threads.prepare_environment(env)
    assert env == {"GOMP_SPINCOUNT": threads.SPIN_COUNT, "MKL_CBWR": "AUTO,STRICT", "OPENBLAS_NUM_THREADS": "1"}
    env = {"OMP_WAIT_POLICY": "ACTIVE", "MKL_CBWR": "AVX2", "OPENBLAS_NUM_THREADS": "4", threads.VARIABLE: "3"}
    threads.prepare_environment(env)
    assert env == {"OMP_WAIT_POLICY": "ACTIVE", "MKL_CBWR": "AVX2", "OPENBLAS_NUM_THREADS": "4", threads.VARIABLE: "3"}
    env = {threads.VARIABLE: "3"}
    threads.prepare_environment(env)
    assert env["OPENBLAS_NUM_THREADS"] == "3"             # a fixed count is NumPy's too


def test_workbench_threads_flag_sets_the_override_for_what_the_command_starts(monkeypatch, store):
    from workbench import cli
    monkeypatch.setenv(threads.VARIABLE, "auto")
    assert cli.main(["list", "--threads", "3", "--data", str(store.root)]) == 0
    assert threads.pinned() == 3
    assert cli.main(["list", "--threads", "0", "--data", str(store.root)]) == 1  # refused, with the fix


def test_worker_processes_inherit_the_environment_and_the_override(monkeypatch):
    """A fresh process that imports workbench (a job's process, a Celery worker) has the policy's
    environment, and the analysis workers it spawns use the overriding count."""
    import os
    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "MKL_CBWR", "OPENBLAS_NUM_THREADS")}
    env[threads.VARIABLE] = "3"
    code = ("import json; from workbench import threads, workerpool; pool, _ = workerpool.start_pool(2, ()); "
            "print(json.dumps([threads.report()] + [pool.submit(threads.report).result() for _ in range(2)])); "
            "pool.shutdown()")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    here, *workers = json.loads(out.stdout.strip().splitlines()[-1])
    assert here["GOMP_SPINCOUNT"] == threads.SPIN_COUNT and here["MKL_CBWR"] == "AUTO,STRICT"
    assert set(here["invariant"]) == {"float32", "float64"}
    if not torch.backends.mkl.is_available():
        assert not any(here["invariant"].values())
    assert [w["torch"] for w in workers] == [3, 3]
    assert all(w["GOMP_SPINCOUNT"] == threads.SPIN_COUNT and w["MKL_CBWR"] == "AUTO,STRICT" for w in workers)
    monkeypatch.delenv(threads.VARIABLE, raising=False)
    saved = torch.get_num_threads()
    try:
        threads.worker_setup()
        assert torch.get_num_threads() == 1  # without an override: one thread per worker, one worker per core
    finally:
        torch.set_num_threads(saved)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_training_gives_the_same_history_whatever_the_thread_count_where_the_probe_says_so(
        monkeypatch, tmp_path, dtype):
    """Where `thread_invariant` says a thread count cannot change results, it does not; where it
    says it can (torch without MKL, or a CPU where MKL does not keep its promise: float64 on an AMD
    EPYC), one training keeps one count throughout (a resumed run repeats it; test_crash_safety)."""
    if not threads.thread_invariant(dtype):
        pytest.skip(f"{dtype} products here depend on the thread count (or torch has no MKL)")
    variant = load_family("tiny_addition").variant(epochs=30, every=[[10, 30]], dtype=dtype)
    histories = []
    for count in ("1", "2"):
        monkeypatch.setenv(threads.VARIABLE, count)
        store = Store(tmp_path / count)
        train(variant, store, progress=False)
        histories.append(store.load_history(variant.ref))
    assert all(np.array_equal(histories[0][k], histories[1][k], equal_nan=True) for k in histories[0])
