"""Phases of a grokking run, from its loss and accuracy curves: the one definition every page,
table and comparison uses. Pure NumPy.

A run is a dict of named series `{name: (x, y)}` (x = epoch or step, increasing; each series at
its own x, e.g. a test loss logged every 10 epochs; NaN and ±inf are ignored). `roles` finds the
train/held-out loss and accuracy among any names (`test_loss`, `test_losses`, `val/loss`,
`eval_acc`, a bare `loss`, ...; `describe_roles` says what it mapped). The events, in x units:

- memorization end: the first x at which train loss ≤ `memorized_loss` (0.05 nats: the model
  puts ≈ 95% probability on the right answer of the training pairs, on average);
- test-loss peak: where the held-out loss is highest (the raw maximum);
- grokking onset (the turn): where the held-out loss bends into its drop. Smooth the loss
  (centered moving average over `smoothing` = 1% of its samples, at least 3) and take the
  stretch from its peak to where it is half way down in orders of magnitude, at √(peak × final)
  (final = median of the last 5%). Fit that stretch (linear scale, least squares) with two
  straight segments that meet at one of the logged x (a hinge). If the second segment is the
  steeper, the loss bends down there: that x is the onset. If the first is the steeper, fit
  again (up to `MAX_HINGES` times) past the bend when the first segment fell less than the
  second (a relaxation right after a sharp peak), else before it (the drop, then its flattening
  foot); a loss that only ever falls more slowly has its onset at the peak. For a plateau followed by a
  straight descent the hinge is exactly where the descent starts; for the slow, almost linear
  decline the paper's runs show before their sharp drop (test loss ≈ 40 -> 11 over 80k epochs,
  then a fall by orders of magnitude) the first segment follows the decline and the onset is
  where the sharp drop begins (within the smoothing width). A run whose final held-out loss is
  not `min_drop` (10×) below its peak has not grokked: no onset;
- grok epoch: the first x with held-out accuracy ≥ `grokked_accuracy` (99%). A run that logged
  no held-out accuracy (losses only, as the progress-measures paper's files): the first x after
  the test-loss peak at which the held-out loss ≤ `grokked_loss` (0.05 nats, the level that
  marks memorization on the train loss) - on the sharp drop, where accuracy is close to 99% (on
  the tiny test run: epoch 251, accuracy 98.5% there, 99% reached at epoch 255);
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
ONSET_RULE = ("onset: where the smoothed test loss bends from its decline after the peak into its "
              "drop (a two-segment line fit)")
EVENTS = ("memorization_end", "test_loss_peak", "onset", "grok", "cleanup_end")
PHASE_NAMES = ("memorization", "circuit formation", "grokking", "cleanup")
HELD_OUT = {"test", "val", "valid", "validation", "eval", "dev", "holdout", "heldout"}
TRAIN = {"train", "training", "trn"}
LOSS_WORDS = {"loss", "losses", "nll", "xent", "ce"}
ACCURACY_WORDS = {"acc", "accs", "accuracy", "accuracies"}
ROLE_NAMES = {"train_loss": "train loss", "test_loss": "held-out loss", "train_acc": "train accuracy",
              "test_acc": "held-out accuracy", "weight_norm": "weight norm"}


@dataclass(frozen=True)
class PhaseRules:
    """The parameters of the definitions above (defaults are what the app shows)."""
    memorized_loss: float = 0.05
    grokked_accuracy: float = 0.99
    grokked_loss: float = 0.05
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
    for role, kind in (("train_loss", LOSS_WORDS), ("test_loss", LOSS_WORDS),
                       ("train_acc", ACCURACY_WORDS), ("test_acc", ACCURACY_WORDS)):
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


def grok_rule(names, rules: PhaseRules = PhaseRules()) -> str:
    """How the grok epoch of a run with these series is read, for labels: "test acc ≥ 99%", or
    "test loss ≤ 0.05" for a run without held-out accuracy."""
    if "test_acc" in roles(names):
        return f"test acc ≥ {rules.grokked_accuracy:.0%}"
    return f"test loss ≤ {rules.grokked_loss:g}"


def describe_roles(names) -> list[str]:
    """One note per role `roles` filled from a name that is not the role's own, and one for each
    loss or accuracy role nobody fills, e.g. "held-out loss <- test_losses"."""
    found = roles(names)
    notes = [f"{ROLE_NAMES[role]} <- {name}" for role, name in found.items() if name != role]
    missing = [ROLE_NAMES[r] for r in ("train_loss", "test_loss", "train_acc", "test_acc") if r not in found]
    if missing:
        notes.append(f"no {', '.join(missing)} series" + (
            " (the grok is located on the held-out loss's drop)" if "held-out accuracy" in missing
            and "test_loss" in found else ""))
    return notes


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


def smoothing_width(n: int, fraction: float, minimum: int = 5) -> int:
    return max(minimum, int(round(n * fraction))) | 1


def first_at_or_below(x, y, threshold: float) -> float | None:
    hits = np.flatnonzero(y <= threshold)
    return float(x[hits[0]]) if len(hits) else None


def onset_of_descent(x, loss, rules: PhaseRules = PhaseRules()) -> float | None:
    """The grokking onset of a held-out loss curve: where the tangent of its drop meets the
    baseline before it (see the module docstring); None if it never falls `min_drop`× below its peak."""
    x, loss = clean(x, loss)
    keep = loss > 0
    x, loss = x[keep], loss[keep]
    if len(loss) < 3:
        return None
    # At least 3 samples, not 5: a test loss logged every 10 epochs is then smoothed over 30
    # epochs, and its onset stays within one logging interval of the same run logged every epoch.
    smooth = moving_average(loss, smoothing_width(len(loss), rules.smoothing, minimum=3))
    peak = int(np.argmax(smooth))
    final = float(np.median(smooth[-max(1, len(loss) // 20):]))
    if final <= 0 or smooth[peak] < rules.min_drop * final:
        return None
    middle = peak + int(np.flatnonzero(smooth[peak:] <= np.sqrt(smooth[peak] * final))[0])
    start, end = peak, middle
    for _ in range(MAX_HINGES):
        if end - start < 4:
            break
        onset, before, after = _hinge(x[start: end + 1], smooth[start: end + 1])
        if after < before:          # the bend into a steeper descent: the drop starts here
            return onset
        bend = int(np.searchsorted(x, onset))
        if smooth[start] - smooth[bend] < smooth[bend] - smooth[end]:
            start = bend            # a short steeper stretch first (a relaxation after the peak): look past it
        else:
            end = bend              # the drop, then its flattening foot: look before the foot
    return float(x[peak])           # the loss falls ever more slowly from its peak: the drop starts there


MAX_HINGES = 8


def _hinge(x, y) -> tuple[float, float, float]:
    """The continuous two-segment line that fits (x, y) best (least squares): (the x where the
    segments meet, the slope before, the slope after). Every logged x but the ends is tried as
    the break, all at once: the normal equations of y ≈ a + b·min(x − c, 0) + d·max(x − c, 0)
    come from prefix sums (x is centred and scaled first, so the sums stay well conditioned)."""
    x0, scale = float(x[0]), float(x[-1] - x[0]) or 1.0
    t, y = (np.asarray(x, np.float64) - x0) / scale, np.asarray(y, np.float64)
    y_mean = y.mean()
    y = y - y_mean

    def prefix(v):
        return np.concatenate([[0.0], np.cumsum(v)])
    n = len(t)
    s0, s1, s2, sy, sty = prefix(np.ones(n)), prefix(t), prefix(t * t), prefix(y), prefix(t * y)
    j = np.arange(1, n - 1)                   # break at t[j]: left = indices < j, right = indices >= j
    c = t[j]
    left = [s0[j], s1[j], s2[j], sy[j], sty[j]]
    right = [s0[n] - s0[j], s1[n] - s1[j], s2[n] - s2[j], sy[n] - sy[j], sty[n] - sty[j]]
    su, suu, suy = left[1] - c * left[0], left[2] - 2 * c * left[1] + c * c * left[0], left[4] - c * left[3]
    sv, svv, svy = right[1] - c * right[0], right[2] - 2 * c * right[1] + c * c * right[0], right[4] - c * right[3]
    normal = np.stack([np.stack([np.full_like(c, n), su, sv], -1), np.stack([su, suu, np.zeros_like(c)], -1),
                       np.stack([sv, np.zeros_like(c), svv], -1)], -2)             # [breaks, 3, 3]
    rhs = np.stack([np.full_like(c, sy[n]), suy, svy], -1)                      # [breaks, 3]
    coef = np.linalg.solve(normal + 1e-12 * np.eye(3), rhs[..., None])[..., 0]
    sse = float(np.sum(y * y)) - np.einsum("bi,bi->b", coef, rhs)               # yᵀy − βᵀXᵀy
    best = int(np.argmin(sse))
    return float(x[j[best]]), float(coef[best, 1] / scale), float(coef[best, 2] / scale)


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
    elif events.get("test_loss_peak") is not None:     # losses only: the grok is on the held-out loss's drop
        x, y = clean(*series[role["test_loss"]])
        after = x >= events["test_loss_peak"]
        events["grok"] = first_at_or_below(x[after], y[after], rules.grokked_loss)
    if events.get("grok") is not None:
        candidates = dict(settling or {})
        if "weight_norm" in role:
            candidates[role["weight_norm"]] = series[role["weight_norm"]]
        ends = [settled_from(x, y, events["grok"], rules) for x, y in candidates.values()]
        if candidates and all(e is not None for e in ends):
            events["cleanup_end"] = max(ends)
    return Phases(first, last, **events)
