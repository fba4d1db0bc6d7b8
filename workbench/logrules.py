"""What a training log is read as, whatever its format: which column is x, which are metrics, a
logged value as a number, each series' points in x order; the formats and limits, and the error
every log reader raises (`workbench.logimport` reads a file with them, `workbench.watch` a log
while it is written).

- x: the first column named step, global_step, iteration, iter, epoch, ... (`X_NAMES`; steps
  are preferred to epochs), or `--step NAME`; without one, the record number.
- metrics: every other numeric column (time stamps skipped), or those named with `--metrics`.
- Nested objects are flattened with "/" (`{"val": {"loss": 1}}` → `val/loss`).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from workbench.errors import BadInputError
from workbench.phases import tokens

X_NAMES = ("step", "global_step", "trainer/global_step", "_step", "steps", "iteration", "iter", "it", "epoch",
           "epochs")
SKIPPED_WORDS = {"time", "timestamp", "runtime", "wall", "date"}
MAX_FILE_BYTES = 1 << 30
MAX_POINTS = 50_000_000
FORMATS = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".pt": "torch",
           ".pth": "torch"}


class LogImportError(BadInputError):
    """The log cannot be read; the message names the line or key and what would work."""


# -- a value as a number -----------------------------------------------------------------------

def as_float(value) -> float | None:
    """The value as a number, or None when it is not one (a word, a list)."""
    if isinstance(value, (bool, int, float)):
        try:
            return float(value)
        except OverflowError:  # an integer beyond float range: as far as a float goes
            return math.inf if value > 0 else -math.inf
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def number(value, where: str, name: str, path) -> float:
    """A logged value as a float (numbers, numeric strings, booleans, nan/inf); LogImportError else."""
    result = as_float(value)
    if result is None:
        raise LogImportError(f"{path}: {where}, column {name!r}: {value!r} is not a number")
    return result


def is_number(value) -> bool:
    """A number a metric column counts (a boolean is not one)."""
    return not isinstance(value, bool) and as_float(value) is not None


def flat_record(record, where: str, path: Path, prefix: str = "") -> dict:
    """A record's named values, nested objects flattened with "/" and nulls left out."""
    if not isinstance(record, dict):
        raise LogImportError(f"{path}: {where} is a {type(record).__name__}, not an object of named values")
    out = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flat_record(value, where, path, name + "/"))
        elif value is not None:
            out[name] = value
    return out


# -- which column is x, which are metrics -------------------------------------------------------

def pick_x(names, step: str | None, path: Path, where: str) -> str | None:
    """`step` when given (refused when it is not one of `names`, a `where`), else the first of
    `X_NAMES` there is; None without one."""
    if step is not None:
        if step not in names:
            raise LogImportError(f"{path}: --step {step!r} is not a {where}; there are: {', '.join(sorted(names))}")
        return step
    lower = {n.lower(): n for n in names}
    return next((lower[c] for c in X_NAMES if c in lower), None)


def x_column(names, step: str | None = None, path="the log") -> str | None:
    """The x column among `names`: `step` when given (refused when absent), else the first of
    `X_NAMES` there is; None without one (x is then the record number)."""
    return pick_x(names, step, Path(path), "column")


def metric_names(candidates, x_name, metrics, path, where) -> list[str]:
    """The metrics named with --metrics (each refused unless a candidate), else every metric-like
    candidate."""
    if metrics:
        unknown = [m for m in metrics if m not in candidates]
        if unknown:
            raise LogImportError(f"{path}: --metrics {unknown[0]!r} is not a {where}; there are: "
                                 f"{', '.join(sorted(candidates))}")
        return list(metrics)
    return [n for n in candidates if is_metric(n, x_name)]


def is_metric(name: str, x_name: str | None) -> bool:
    """Whether a column is read as a metric by default: not the x, another x-like or a time column."""
    return name != x_name and name.lower() not in {c.lower() for c in X_NAMES} and not tokens(name) & SKIPPED_WORDS


# -- the series read ---------------------------------------------------------------------------

def in_x_order(x: np.ndarray, y: np.ndarray, name: str, notes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Points in increasing x; a repeated x (a resumed run logging again) keeps its last value."""
    if not np.all(np.isfinite(x)):
        raise LogImportError(f"{name}: its x values include {x[~np.isfinite(x)][0]} (x must be finite)")
    if len(x) > 1 and np.any(np.diff(x) <= 0):
        order = np.argsort(x, kind="stable")
        x, y = x[order], y[order]
        last = np.r_[x[1:] != x[:-1], True]
        if not last.all():
            notes.append(f"{name}: {int((~last).sum())} repeated x values, the last logged value kept")
        x, y = x[last], y[last]
    return x, y


def nonempty(series: dict, path: Path) -> dict:
    """`series`, refused when there is no metric in it."""
    if not series:
        raise LogImportError(f"{path} has no numeric metric to import (name them with --metrics)")
    return series
