"""A run's recorded series: one model for every source - a run trained here, the history that
came with an imported checkpoint, an imported training log.

Each series is a pair (x, y): its values and the positions they were recorded at (epochs, or
steps for a log indexed by steps), increasing. A series keeps its own x: a test loss evaluated
every 10 epochs has a tenth of the train loss's points and stays that way - it is never padded
to a common length, and nothing reads a value's position off its index. Phases, alerts,
figures, comparisons and exports all take x from the series.

On disk (`history.safetensors`, see `Store.save_history`): one array per series with its
values, plus `x/<name>` with its positions for a series not recorded at every epoch 0, 1, 2, ...
A run evaluated every epoch therefore writes exactly the file it wrote before series had their
own positions, and such files read back unchanged.

Foreign histories need two more ideas, both here so every importer uses them:
- padding: trailing NaNs that only lengthen a short series to a longer one's length are not
  data (`strip_padding`);
- cadence: a series with fewer values than the run has epochs was logged every k-th epoch
  (`cadence` infers k from the counts, `place` puts value i at its epoch).
"""
from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

X_PREFIX = "x/"


class History(Mapping):
    """{name: values} like a dict, plus each series' own positions: `x(name)`, `xy(name)`,
    `series` ({name: (x, y)}); `unit` names what x counts ("epoch", "step", ...)."""

    def __init__(self, series: dict[str, tuple] | None = None, unit: str = "epoch"):
        self._series = {name: (np.asarray(x), np.asarray(y)) for name, (x, y) in (series or {}).items()}
        for name, (x, y) in self._series.items():
            if x.shape != y.shape or x.ndim != 1:
                raise ValueError(f"series {name!r}: {x.shape[0] if x.ndim else 0} positions for "
                                 f"{y.shape[0] if y.ndim else 0} values")
        self.unit = unit

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], unit: str = "epoch") -> "History":
        """The history.safetensors layout (module docstring): values, and `x/<name>` where given."""
        series = {}
        for name, values in arrays.items():
            if name.startswith(X_PREFIX):
                continue
            x = arrays.get(X_PREFIX + name)
            series[name] = (np.arange(len(values)) if x is None else x, values)
        return cls(series, unit)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The history.safetensors layout: positions written only where they are not 0..n-1."""
        arrays = {}
        for name, (x, y) in self._series.items():
            arrays[name] = y
            if not is_every_epoch(x):
                arrays[X_PREFIX + name] = x
        return arrays

    def __getitem__(self, name: str) -> np.ndarray:
        return self._series[name][1]

    def __iter__(self):
        return iter(self._series)

    def __len__(self) -> int:
        return len(self._series)

    def x(self, name: str) -> np.ndarray:
        return self._series[name][0]

    def xy(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        return self._series[name]

    @property
    def series(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        return dict(self._series)

    def value_at(self, name: str, x) -> float:
        """The value recorded at exactly `x`, NaN where the series has none."""
        xs, ys = self._series[name]
        i = int(np.searchsorted(xs, x))
        return float(ys[i]) if i < len(xs) and xs[i] == x else math.nan

    def span(self) -> tuple[float, float] | None:
        """(first, last) position over every series; None for an empty history."""
        xs = [x for x, _ in self._series.values() if len(x)]
        return (float(min(x[0] for x in xs)), float(max(x[-1] for x in xs))) if xs else None

    def __repr__(self) -> str:
        return f"History({', '.join(f'{n} ({len(x)})' for n, (x, _) in self._series.items())}; x = {self.unit})"


def as_history(data) -> History:
    """A History as it is, or a plain {name: values} dict read as a history (value i at epoch i,
    `x/<name>` arrays as positions)."""
    return data if isinstance(data, History) else History.from_arrays(dict(data))


def is_every_epoch(x) -> bool:
    x = np.asarray(x)
    return bool(np.array_equal(x, np.arange(len(x))))


def strip_padding(values, full_length: int) -> tuple[np.ndarray, int]:
    """(values without trailing padding, how many NaNs were dropped). Trailing NaNs are padding
    only when they bring the series exactly to `full_length` (the longest series' length) and
    the series is shorter without them; otherwise they are logged values (a diverged run)."""
    values = np.asarray(values, dtype=np.float64)
    finite_tail = np.flatnonzero(~np.isnan(values))
    kept = int(finite_tail[-1]) + 1 if len(finite_tail) else 0
    if len(values) == full_length and kept < full_length and kept > 0:
        return values[:kept], full_length - kept
    return values, 0


def cadence(n_values: int, n_epochs: int, prefer: str = "start") -> tuple[int, str] | None:
    """How `n_values` logged values spread over epochs 0 .. n_epochs-1: (k, "start") when value
    i is at epoch k·i (logged where epoch % k == 0, as the progress-measures code logs its test
    loss: ceil(n_epochs / k) values), (k, "end") when it is at k·(i+1) - 1 (the end of each
    block of k: floor(n_epochs / k) values); None when no whole k fits. When both fit
    (n_epochs a multiple of k) it is `prefer`. 10,780 values over 107,791 epochs: (10, "start")."""
    if n_values <= 0 or n_epochs <= 0 or n_values > n_epochs:
        return None
    if n_values == n_epochs:
        return 1, "start"
    guess = max(1, round(n_epochs / n_values))
    candidates = sorted({guess - 1, guess, guess + 1} - {0})
    fits = {"start": [k for k in candidates if math.ceil(n_epochs / k) == n_values],
            "end": [k for k in candidates if n_epochs // k == n_values]}
    for where in (prefer, "end" if prefer == "start" else "start"):
        if fits[where]:
            return fits[where][0], where
    return None


def place(n_values: int, k: int, where: str) -> np.ndarray:
    """The epochs of `n_values` values logged every `k` epochs (`cadence`'s answer)."""
    i = np.arange(n_values, dtype=np.int64)
    return k * i if where == "start" else k * (i + 1) - 1
