"""The CPU thread policy (workbench.threads) when other work shares the cores.

Each scenario runs in long-lived child processes (torch already imported, so only the work is
timed), with the policy (no $WORKBENCH_THREADS) or with a fixed count (WORKBENCH_THREADS=1 or 2):
- two trainings at once vs the same two one after the other: goal >= 0.91x (no more than 10 % later);
- a training beside a busy single-threaded process, the policy vs one thread: goal >= 0.95x (no
  slower, within the few percent two identical runs differ by);
- a training alone, the policy vs two threads (the best alone): goal >= 0.9x;
- the same three for an analysis (beside a training, beside a busy process, alone);
- an app job (a training in its own process, as the app starts it) beside the server computing
  its per-input maps, vs one after the other: goal >= 0.91x.
The trainings are short demo-family runs (p = 59), so the whole file takes a few minutes.
"""
from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.run import Benchmark

ROOT = Path(__file__).resolve().parent.parent
FAMILY, TRAIN_EPOCHS = "modular_addition_demo", 120
ANALYSIS = {"epochs": 200, "every": [[20, 200]]}  # 11 checkpoints to analyze
_children: dict[str, subprocess.Popen] = {}
_scratch = Path(tempfile.mkdtemp(prefix="bench-threads-"))
atexit.register(shutil.rmtree, _scratch, True)


def child_main() -> None:
    """A child: one JSON command per line on stdin, "done" on stdout when it is finished."""
    from workbench import derived, jobs  # first: workbench sets what torch reads when it loads
    import torch  # noqa: F401 - loaded once, before any timed work
    from workbench.families import load_family
    from workbench.pipeline import analyze
    from workbench.store import Store, VariantRef
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["do"] == "train":
            root = Path(tempfile.mkdtemp(dir=cmd["scratch"]))
            from workbench.training import train
            train(load_family(FAMILY).variant(**cmd["overrides"]), Store(root), progress=False)
            if not cmd.get("keep"):
                shutil.rmtree(root, ignore_errors=True)
            print(json.dumps({"root": str(root)}), flush=True)
            continue
        store, ref = Store(cmd["root"]), VariantRef(*cmd["ref"].split("/", 1))
        if cmd["do"] == "analyze":
            analyze(ref, store, force=True, progress=False)
        elif cmd["do"] == "maps":  # what the server computes for pages' per-input maps, cold, as it does
            derived.set_compute_threads(1)
            derived.cache_for(store).clear()
            for epoch in store.checkpoint_epochs(ref):
                derived.neuron_heatmaps(store, ref, epoch)[:16], derived.attention_maps(store, ref, epoch)
        elif cmd["do"] == "job":  # the app's way: a fresh process per job, in a fresh data root here
            root = Path(tempfile.mkdtemp(dir=cmd["scratch"]))
            job = jobs.submit_train(Store(root), load_family(FAMILY).variant(**cmd["overrides"]))
            jobs.start_process(str(root), job["id"]).wait()
            shutil.rmtree(root, ignore_errors=True)
        print(json.dumps({}), flush=True)


def _child(name: str, threads: str | None) -> subprocess.Popen:
    if name not in _children:
        env = {k: v for k, v in os.environ.items() if k != "WORKBENCH_THREADS"}
        if threads:
            env["WORKBENCH_THREADS"] = threads
        _children[name] = subprocess.Popen([sys.executable, "-m", "benchmarks.bench_threads", "child"], cwd=ROOT,
                                           env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        atexit.register(_children[name].kill)
    return _children[name]


def _send(child: subprocess.Popen, **cmd) -> None:
    child.stdin.write(json.dumps({"scratch": str(_scratch), **cmd}) + "\n")
    child.stdin.flush()


def _receive(child: subprocess.Popen) -> dict:
    line = child.stdout.readline()
    if not line:
        raise RuntimeError("a benchmark child process died")
    return json.loads(line)


def _at_once(*tasks) -> None:
    for child, cmd in tasks:
        _send(child, **cmd)
    for child, _ in tasks:
        _receive(child)


def _in_turn(*tasks) -> None:
    for task in tasks:
        _at_once(task)


_variant: dict = {}


def _analysis_variant() -> dict:
    """A demo-family run with 11 checkpoints, trained once (outside any timing)."""
    if not _variant:
        child = _child("setup", "2")
        _send(child, do="train", overrides=ANALYSIS, keep=True)
        root = _receive(child)["root"]
        from workbench.families import load_family
        _variant.update(root=root, ref=str(load_family(FAMILY).variant(**ANALYSIS).ref))
    return _variant


def _training(name: str, threads: str | None = None):
    return _child(name, threads), {"do": "train", "overrides": {"epochs": TRAIN_EPOCHS}}


def _analysis(name: str, threads: str | None = None):
    return _child(name, threads), {"do": "analyze", **_analysis_variant()}


class _Busy:
    """A busy single-threaded process for the duration of a `with`."""

    def __enter__(self):
        self.proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()


def _beside_busy(task):
    def run():
        with _Busy():
            _at_once(task())
    return run


def _job_beside_server(at_once: bool):
    def run():
        variant = _analysis_variant()
        server = (_child("server", None), {"do": "maps", **variant})
        job = (_child("app", None), {"do": "job", **variant, "overrides": {"epochs": TRAIN_EPOCHS}})
        (_at_once if at_once else _in_turn)(server, job)
    return run


BENCHMARKS = [
    Benchmark("threads: two trainings at once vs one after the other (goal: no more than 10% later)",
              ("one after the other", lambda: _in_turn(_training("a"), _training("b"))),
              ("both at once", lambda: _at_once(_training("a"), _training("b"))),
              unit="s", repeats=3, goal=0.91),
    Benchmark("threads: a training beside a busy process, policy vs one thread (goal: no slower)",
              ("WORKBENCH_THREADS=1", _beside_busy(lambda: _training("one", "1"))),
              ("policy", _beside_busy(lambda: _training("a"))),
              unit="s", repeats=3, goal=0.95),
    Benchmark("threads: a training alone, policy vs two threads (goal: within 10% of the best)",
              ("WORKBENCH_THREADS=2", lambda: _at_once(_training("two", "2"))),
              ("policy", lambda: _at_once(_training("a"))),
              unit="s", repeats=3, goal=0.9),
    Benchmark("threads: an analysis beside a training vs one after the other (goal: no more than 10% later)",
              ("one after the other", lambda: _in_turn(_training("a"), _analysis("b"))),
              ("both at once", lambda: _at_once(_training("a"), _analysis("b"))),
              unit="s", repeats=3, goal=0.91),
    Benchmark("threads: an analysis beside a busy process, policy vs one thread (goal: no slower)",
              ("WORKBENCH_THREADS=1", _beside_busy(lambda: _analysis("one", "1"))),
              ("policy", _beside_busy(lambda: _analysis("b"))),
              unit="s", repeats=3, goal=0.95),
    Benchmark("threads: an analysis alone, policy vs two threads (goal: within 10% of the best)",
              ("WORKBENCH_THREADS=2", lambda: _at_once(_analysis("two", "2"))),
              ("policy", lambda: _at_once(_analysis("b"))),
              unit="s", repeats=3, goal=0.9),
    Benchmark("threads: an app job beside the server computing maps vs one after the other (goal: <= 10% later)",
              ("one after the other", _job_beside_server(at_once=False)),
              ("both at once", _job_beside_server(at_once=True)),
              unit="s", repeats=3, goal=0.91),
]

if __name__ == "__main__" and sys.argv[1:] == ["child"]:
    child_main()
