"""Phases of a grokking run, from its loss and accuracy curves: the one definition every page,
table and comparison uses. Pure NumPy.

A run is a dict of named series `{name: (x, y)}` (x = epoch or step, increasing; NaN and ±inf
are ignored). `roles` finds the train/held-out loss and accuracy among any names (`test_loss`,
`val/loss`, `eval_acc`, ...). The events, in the units of x:

- memorization end: the first x at which train loss ≤ `memorized_loss` (0.05 nats: the model
  puts ≈ 95% probability on the right answer of the training pairs, on average);
- test-loss peak: where the held-out loss is highest (the raw maximum);
- grokking onset (the turn): the extrapolated onset of the held-out loss's descent (as onsets
  are read off thermal-analysis curves). Smooth the loss (centered moving average over
  `smoothing` = 1% of the run, at least 5 samples); after its peak, find where it has come 25%
  and 75% of the way down (linear scale) to its final level (median of the last 5%); the
  straight line through those two points reaches the peak's level at the onset (the logged x
  nearest to it, never before the peak). For a plateau followed by a straight descent this is
  exactly where the descent starts; measured on the middle half of the descent, it ignores the
  small relaxation right after a sharp peak. A run whose final held-out loss is not
  `min_drop` (10×) below its peak has not grokked: no onset;
- grok epoch: the first x with held-out accuracy ≥ `grokked_accuracy` (99%);
- cleanup end: after the grok epoch, the x from which every "settling" series (total weight
  norm, restricted and excluded loss — whichever the run has) stays within `settle_tolerance`
  (5%) of its range since grokking of its final value (smoothed). None while still settling
  in the last 5% of the run.

Phases (shaded on every summary figure): memorization [start, memorization end], circuit
formation [memorization end, onset], grokking [onset, grok], cleanup [grok, cleanup end].
Nanda et al. (2023, §5.2) name memorization, circuit formation and cleanup; we split the
turn-to-grok stretch out as "grokking" because it is where test loss falls.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields

import numpy as np

Series = dict[str, tuple[np.ndarray, np.ndarray]]
ONSET_RULE = ("onset: where the test loss's descent (the line through its 25% and 75% points) "
              "extends back to its peak level")
EVENTS = ("memorization_end", "test_loss_peak", "onset", "grok", "cleanup_end")
PHASE_NAMES = ("memorization", "circuit formation", "grokking", "cleanup")
HELD_OUT = {"test", "val", "valid", "validation", "eval", "dev", "holdout", "heldout"}
TRAIN = {"train", "training", "trn"}


@dataclass(frozen=True)
class PhaseRules:
    """The parameters of the definitions above (defaults are what the app shows)."""
    memorized_loss: float = 0.05
    grokked_accuracy: float = 0.99
    smoothing: float = 0.01
    min_drop: float = 10.0
    settle_tolerance: float = 0.05


@dataclass(frozen=True)
class Phases:
    """Event positions (x units; None when the run has no such event) and the run's extent."""
    first: float
    last: float
    memorization_end: float | None = None
    test_loss_peak: float | None = None
    onset: float | None = None
    grok: float | None = None
    cleanup_end: float | None = None

    def intervals(self) -> list[tuple[str, float, float]]:
        """(phase name, start, end) of each phase the run has, in order; cleanup runs to the end
        of the run while it has not settled."""
        ends = (self.memorization_end, self.onset, self.grok,
                self.cleanup_end if self.cleanup_end is not None else (self.last if self.grok is not None else None))
        out, start = [], self.first
        for name, end in zip(PHASE_NAMES, ends):
            if end is None:
                continue
            if end > start:
                out.append((name, float(start), float(end)))
            start = max(start, end)
        return out

    def to_arrays(self) -> dict[str, np.ndarray]:
        """float64 scalars, NaN for a missing event (artifacts hold arrays only)."""
        return {k: np.float64(np.nan if v is None else v) for k, v in asdict(self).items()}

    @classmethod
    def from_arrays(cls, data: dict) -> "Phases":
        values = {f.name: float(np.asarray(data[f.name])) for f in fields(cls) if f.name in data}
        return cls(**{k: (None if np.isnan(v) and k in EVENTS else v) for k, v in values.items()})


def tokens(name: str) -> set[str]:
    return set(re.split(r"[^a-z0-9]+", name.lower())) - {""}


def roles(names) -> dict[str, str]:
    """Which series plays which part: {"train_loss", "test_loss", "train_acc", "test_acc",
    "weight_norm"} -> a name. Exact names win; else a name whose words say loss/acc and
    train/held-out (no split word counts as train, e.g. a plain `loss`)."""
    names = sorted(names)
    found = {}
    for role, kind in (("train_loss", {"loss", "nll"}), ("test_loss", {"loss", "nll"}),
                       ("train_acc", {"acc", "accuracy"}), ("test_acc", {"acc", "accuracy"})):
        held_out = role.startswith("test")
        matches = [n for n in names if tokens(n) & kind and bool(tokens(n) & HELD_OUT) == held_out
                   and not tokens(n) & {"restricted", "excluded"}]
        if role in names:
            found[role] = role
        elif matches:
            found[role] = min(matches, key=lambda n: (not tokens(n) & (HELD_OUT | TRAIN), len(n)))
    norms = [n for n in names if {"weight", "norm"} <= tokens(n) or n == "sum_squared_weights"]
    if norms:
        found["weight_norm"] = min(norms, key=len)
    return found


def clean(x, y) -> tuple[np.ndarray, np.ndarray]:
    """The finite points of a series, as float64."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    keep = np.isfinite(x) & np.isfinite(y)
    return x[keep], y[keep]


def moving_average(values: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average over `width` samples (odd), edges padded with the end values."""
    width = max(1, int(width) | 1)
    if width == 1 or len(values) < 2:
        return values.astype(np.float64)
    half = width // 2
    padded = np.concatenate([np.full(half, values[0]), values, np.full(half, values[-1])])
    sums = np.cumsum(np.concatenate([[0.0], padded]))
    return (sums[width:] - sums[:-width]) / width


def smoothing_width(n: int, fraction: float) -> int:
    return max(5, int(round(n * fraction))) | 1


def first_at_or_below(x, y, threshold: float) -> float | None:
    hits = np.flatnonzero(y <= threshold)
    return float(x[hits[0]]) if len(hits) else None


def onset_of_descent(x, loss, rules: PhaseRules = PhaseRules()) -> float | None:
    """The grokking onset of a held-out loss curve: the extrapolated onset of its descent (see
    the module docstring); None if it never falls `min_drop`× below its peak."""
    x, loss = clean(x, loss)
    keep = loss > 0
    x, loss = x[keep], loss[keep]
    if len(loss) < 3:
        return None
    smooth = moving_average(loss, smoothing_width(len(loss), rules.smoothing))
    peak = int(np.argmax(smooth))
    final = float(np.median(smooth[-max(1, len(loss) // 20):]))
    if final <= 0 or smooth[peak] < rules.min_drop * final:
        return None
    quarter, three_quarters = (peak + int(np.flatnonzero(smooth[peak:] <= smooth[peak] - f * (smooth[peak] - final))[0])
                               for f in (0.25, 0.75))
    run = x[three_quarters] - x[quarter]
    onset = x[quarter] - 0.5 * run     # the line through both points reaches the peak level here
    return float(x[max(peak, int(np.argmin(np.abs(x - onset))))])


def settled_from(x, y, start: float, rules: PhaseRules) -> float | None:
    """The first x ≥ start after which smoothed y stays within settle_tolerance of its range
    (since start) of its final value; None if that is only in the last 5% of the run."""
    x, y = clean(x, y)
    after = x >= start
    if after.sum() < 3:
        return None
    x, y = x[after], moving_average(y[after], smoothing_width(int(after.sum()), rules.smoothing))
    span = float(np.ptp(y))
    if span == 0:
        return float(x[0])
    outside = np.flatnonzero(np.abs(y - y[-1]) > rules.settle_tolerance * span)
    settled = float(x[outside[-1] + 1]) if len(outside) else float(x[0])
    return None if settled > x[-1] - 0.05 * (x[-1] - x[0]) else settled


def detect_phases(series: Series, rules: PhaseRules = PhaseRules(), settling: Series | None = None) -> Phases:
    """The events and phases of a run (module docstring). `settling` adds series whose settling
    marks the end of cleanup (e.g. restricted/excluded loss from the progress measures); the
    run's own weight-norm series counts too."""
    if not series:
        raise ValueError("no series to find phases in")
    spans = [clean(x, y)[0] for x, y in series.values()]
    spans = [s for s in spans if len(s)]
    if not spans:
        raise ValueError("every series is empty or non-finite")
    first, last = min(float(s[0]) for s in spans), max(float(s[-1]) for s in spans)
    role = roles(series)
    events = {}
    if "train_loss" in role:
        events["memorization_end"] = first_at_or_below(*clean(*series[role["train_loss"]]), rules.memorized_loss)
    if "test_loss" in role:
        x, y = clean(*series[role["test_loss"]])
        events["test_loss_peak"] = float(x[np.argmax(y)]) if len(y) else None
        events["onset"] = onset_of_descent(x, y, rules)
    if "test_acc" in role:
        x, y = clean(*series[role["test_acc"]])
        hits = np.flatnonzero(y >= rules.grokked_accuracy)
        events["grok"] = float(x[hits[0]]) if len(hits) else None
    if events.get("grok") is not None:
        candidates = dict(settling or {})
        if "weight_norm" in role:
            candidates[role["weight_norm"]] = series[role["weight_norm"]]
        ends = [settled_from(x, y, events["grok"], rules) for x, y in candidates.values()]
        if candidates and all(e is not None for e in ends):
            events["cleanup_end"] = max(ends)
    return Phases(first, last, **events)
