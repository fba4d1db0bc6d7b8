"""Run every benchmark and print it as a ratio against its baseline, measured in the same run.

    .venv/bin/python benchmarks/run.py            # all
    .venv/bin/python benchmarks/run.py training   # those whose name contains "training"

A benchmark module `benchmarks/bench_*.py` defines `BENCHMARKS`: a list of `Benchmark`s. Each
times a baseline and a candidate doing the same work, interleaved, and reports the best of
several repeats, so machine load affects both sides alike. Nothing here asserts a time.
"""
from __future__ import annotations

import importlib
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


@dataclass
class Benchmark:
    name: str
    baseline: tuple[str, Callable[[], object]]
    candidate: tuple[str, Callable[[], object]]
    unit: str = "s per call"
    repeats: int = 5
    goal: float | None = None  # the speed-up we aim for, printed beside the result
    notes: Callable[[float], str] | None = None  # more lines from the candidate's time (absolute goals, sizes)


def best_time(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def run(bench: Benchmark) -> float:
    (base_name, base), (cand_name, cand) = bench.baseline, bench.candidate
    base(), cand()  # warm up
    base_t = cand_t = float("inf")
    for _ in range(bench.repeats):
        base_t = min(base_t, best_time(base, 1))
        cand_t = min(cand_t, best_time(cand, 1))
    ratio = base_t / cand_t
    goal = f"  (goal >= {bench.goal:g}x: {'met' if ratio >= bench.goal else 'NOT met'})" if bench.goal else ""
    print(f"{bench.name}\n  baseline  {base_name:38s} {base_t:9.4f} {bench.unit}\n"
          f"  candidate {cand_name:38s} {cand_t:9.4f} {bench.unit}\n  ratio     {ratio:.2f}x faster{goal}",
          flush=True)
    if bench.notes:
        print("  " + bench.notes(cand_t).replace("\n", "\n  "), flush=True)
    return ratio


def main(pattern: str = "") -> None:
    for path in sorted(Path(__file__).parent.glob("bench_*.py")):
        module = importlib.import_module(f"benchmarks.{path.stem}")
        for bench in module.BENCHMARKS:
            if pattern in bench.name:
                run(bench)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "")
