"""Worker processes for work spread over the cores (the analysis of checkpoints): spawned, one
thread each, ending with the process that started them, and sending progress notes back.

`start_pool(workers, modules)` starts them all; `pooled(pool, function, jobs, report)` runs
`function(job, progress)` in them and yields the results in order, passing each `progress(fraction,
note)` a worker makes on to `report(key, fraction, note)` while it waits.
"""
from __future__ import annotations

import contextlib
import ctypes
import importlib
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor, wait

from workbench import threads

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

_NOTES = None  # in a worker process: the queue its progress notes go to


def start_pool(workers: int, modules: tuple[str, ...]):
    """One single-threaded worker per core, each having imported torch and `modules`. Spawned, not
    forked: a forked child of a process that already ran torch's OpenMP pool can hang. The BLAS
    thread variables must be in the environment before a worker imports NumPy; two workers each
    running two BLAS threads on two cores spin against each other and were measured 3x slower
    than one process. Returns (executor, queue of the workers' progress notes)."""
    context = multiprocessing.get_context("spawn")
    notes = context.Queue()
    saved = {k: os.environ.get(k) for k in THREAD_VARIABLES}
    os.environ.update({k: str(threads.pinned() or 1) for k in THREAD_VARIABLES})
    try:
        pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                                   initargs=(modules, notes, os.getpid()))
        # Workers are spawned on demand, one per submit while none is idle: start them all now,
        # while the variables are set.
        for future in [pool.submit(int) for _ in range(workers)]:
            future.result()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return pool, notes


def pooled(pool, function, jobs, report):
    """`function(job, progress)` of each (key, job) of `jobs` in the pool's workers, the results in
    order, forwarding the workers' progress notes (key, fraction, note) from the pool's queue to
    `report` while waiting."""
    executor, notes = pool
    futures = [executor.submit(_call, function, key, job) for key, job in jobs]
    for future in futures:
        while True:
            finished = wait([future], timeout=0.2).done
            try:
                while True:
                    report(*notes.get_nowait())
            except queue.Empty:
                pass
            if finished:
                break
        yield future.result()


def _call(function, key, job):
    """In a worker: `function(job, progress)`, its progress notes sent to the pool's queue."""
    return function(job, lambda fraction, note: _NOTES.put((key, fraction, note)))


def _init_worker(modules: tuple[str, ...], notes, parent: int) -> None:
    global _NOTES
    die_with_parent(parent)
    import torch  # noqa: F401 - heavy: the worker processes analyze checkpoints
    threads.worker_setup()  # one thread per process, one process per core
    _NOTES = notes
    for module in modules:
        importlib.import_module(module)


def die_with_parent(parent: int) -> None:
    """Make this (worker) process end when process `parent` does, even by SIGKILL: on Linux the
    kernel sends it SIGKILL (prctl PR_SET_PDEATHSIG); everywhere, a thread checks every second
    that the parent is still there. A worker whose parent died before this ran exits now."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)
    threading.Thread(target=watch, name="watch-parent", daemon=True).start()
