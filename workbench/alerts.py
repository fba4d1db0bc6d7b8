"""Training alerts: events in a run's curves a researcher should look at, each with its epoch, the
numbers that triggered it and the likely cause in one line. Pure NumPy.

Every detector takes a series `(x, y)` (x = epoch or step) and returns `Alert` records; `scan`
runs them all over a run's series with one `AlertRules`:
- non-finite: the first ±inf (or NaN, where NaN is a logged value rather than "not logged");
- sustained rise: a loss growing more than `rise` (20%) sample over sample for `rise_run` (3)
  samples in a row; at most `rise_max` (50) per series, those that grew most;
- divergence after a lucky start: the loss's best value comes in the first `early` (25%) of the
  run and the loss never again comes within `near` (1.5×) of it;
- abrupt change (change-point): a one-sample jump that is an outlier — more than `jump_sigma`
  (8) robust standard deviations of the sample-to-sample changes (or of their mean deviation,
  whichever is larger: accuracy on a small set moves in equal quanta) — and carries at least
  `jump_share` (40%) of the level shift between the `jump_window` (10) samples before and after
  (so a fast but smooth descent is not one), and a shift of at least `jump_min_span` (5%) of the
  series' span (1st to 99th percentile; early noise is not one). Losses are compared in log10;
  at most `jump_max` (50) per series, the largest (a noisy series of millions of samples would
  otherwise give thousands);
- weak gradient: a parameter group whose gradient norm stays below `weak_fraction` (1%) of the
  median of the other groups' for at least `weak_span` (20%) of the run;
- exploding weight norm: the total weight norm grows past `explode` (10×) its starting value.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from workbench.phases import HELD_OUT, tokens


@dataclass(frozen=True)
class AlertRules:
    rise: float = 0.2
    rise_run: int = 3
    rise_max: int = 50
    early: float = 0.25
    near: float = 1.5
    jump_sigma: float = 8.0
    jump_share: float = 0.4
    jump_window: int = 10
    jump_min_span: float = 0.05
    jump_max: int = 50
    weak_fraction: float = 0.01
    weak_span: float = 0.2
    explode: float = 10.0


@dataclass(frozen=True)
class Alert:
    kind: str
    epoch: float
    series: str
    cause: str
    evidence: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        numbers = ", ".join(f"{k} {_fmt(v)}" for k, v in self.evidence.items())
        return f"{self.kind} in {self.series} at {_fmt(self.epoch)}: {numbers}. {self.cause}"


def _fmt(value) -> str:
    """A number for a one-line summary: whole numbers with thousands separators, others to 4
    significant digits; NaN and ±inf as themselves (they are what a non-finite alert reports)."""
    value = float(value)
    if not np.isfinite(value):
        return str(value)
    return f"{value:,.0f}" if value == int(value) and abs(value) < 1e15 else f"{value:.4g}"


def is_loss(name: str) -> bool:
    return bool(tokens(name) & {"loss", "nll"})


def is_held_out(name: str) -> bool:
    return bool(tokens(name) & HELD_OUT)


def finite(x, y) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    keep = np.isfinite(y) & np.isfinite(x)
    return x[keep], y[keep]


def non_finite(name: str, x, y, nan_is_value: bool = True) -> list[Alert]:
    """The first ±inf in y, or the first NaN when NaN is a logged value (imported logs)."""
    y = np.asarray(y, dtype=np.float64)
    bad = np.isinf(y) | (np.isnan(y) if nan_is_value else False)
    if not bad.any():
        return []
    i = int(np.argmax(bad))
    last_good = y[:i][np.isfinite(y[:i])]
    return [Alert("non-finite value", float(x[i]), name,
                  "the loss overflowed: learning rate too high, a division by zero or log(0) in the loss, "
                  "or float16 overflow", {"value": float("nan") if np.isnan(y[i]) else float(y[i]),
                                          "last finite value": float(last_good[-1]) if len(last_good) else np.nan,
                                          "non-finite samples": int(bad.sum())})]


def sustained_rise(name: str, x, y, rules: AlertRules = AlertRules()) -> list[Alert]:
    """Each run of ≥ rise_run consecutive samples growing by more than `rise` each."""
    x, y = finite(x, y)
    if len(y) < rules.rise_run + 1:
        return []
    with np.errstate(divide="ignore", invalid="ignore"):
        rising = np.r_[False, (y[1:] > (1 + rules.rise) * y[:-1]) & (y[:-1] > 0), False]
    edges = np.flatnonzero(np.diff(rising.astype(np.int8)))
    alerts = []
    for start, stop in zip(edges[::2], edges[1::2]):  # rising[start+1 .. stop] are the rises
        if stop - start < rules.rise_run:
            continue
        cause = ("held-out loss climbing: overfitting (memorization, expected before grokking)" if is_held_out(name)
                 else "the optimizer is unstable: learning rate too high or warm-up too short (try a lower lr or "
                      "gradient clipping)")
        alerts.append(Alert("sustained rise", float(x[start]), name, cause,
                            {"from": float(y[start]), "to": float(y[stop]), "samples rising": int(stop - start),
                             "growth": float(y[stop] / y[start])}))
    if len(alerts) > rules.rise_max:
        alerts = sorted(sorted(alerts, key=lambda a: -a.evidence["growth"])[: rules.rise_max], key=lambda a: a.epoch)
    return alerts


def divergence_after_best(name: str, x, y, rules: AlertRules = AlertRules()) -> list[Alert]:
    """The best (lowest) loss comes early and the loss never comes back near it."""
    x, y = finite(x, y)
    if len(y) < 5 or np.any(y <= 0):
        return []
    best = int(np.argmin(y))
    if x[best] - x[0] > rules.early * (x[-1] - x[0]) or best == len(y) - 1:
        return []
    closest = float(np.min(y[best + 1:]))
    if closest <= rules.near * y[best]:
        return []
    cause = ("held-out loss best early, never recovered: overfitting without (yet) generalizing" if is_held_out(name)
             else "diverged after a lucky start: learning rate too high or the best epoch was noise; "
                  "restart from that checkpoint with a lower lr")
    return [Alert("divergence after best epoch", float(x[best]), name, cause,
                  {"best": float(y[best]), "closest after": closest, "final": float(y[-1])})]


def abrupt_changes(name: str, x, y, rules: AlertRules = AlertRules()) -> list[Alert]:
    """One-sample jumps that shift the level (module docstring); the alert's epoch is the first
    sample at the new level."""
    x, y = finite(x, y)
    w = rules.jump_window
    if len(y) < 2 * w + 2:
        return []
    log = is_loss(name) and np.all(y > 0)
    z = np.log10(y) if log else y
    d = np.diff(z)
    deviation = np.abs(d - np.median(d))
    # The robust sd of the steps; their mean deviation when more than half the steps are equal
    # (a quantized metric such as accuracy on a small set has MAD 0).
    noise = max(1.4826 * float(np.median(deviation)), float(np.mean(deviation)), 1e-12)
    span = float(np.subtract(*np.percentile(z, [99, 1])))
    candidates = np.flatnonzero(np.abs(d) > rules.jump_sigma * noise) + 1   # index of the first sample after
    alerts, last = [], -np.inf
    for i in candidates[np.argsort(-np.abs(d[candidates - 1]))]:
        if len(alerts) >= rules.jump_max:
            break
        if i < w or i + w > len(z) or abs(i - last) < w:
            continue
        shift = float(np.median(z[i: i + w]) - np.median(z[i - w: i]))
        step = float(d[i - 1])
        if (np.sign(shift) != np.sign(step) or abs(step) < rules.jump_share * abs(shift)
                or abs(shift) < max(rules.jump_sigma * noise, rules.jump_min_span * span)):
            continue
        last = i
        before, after = float(np.median(y[i - w: i])), float(np.median(y[i: i + w]))
        worse = (after > before) == (is_loss(name) or bool(tokens(name) & {"norm", "grad"}))
        cause = ("a sudden change in the objective, data or optimizer at this point (a loss term switching on, "
                 "a new data stage, an lr jump)" if worse else
                 "a sudden improvement: a schedule step (lr drop) or a fast phase transition")
        alerts.append(Alert("abrupt change", float(x[i]), name, cause,
                            {"median before": before, "median after": after, "one-step change": float(y[i] - y[i - 1]),
                             "noise (robust sd of steps)": noise, "log10 scale": float(log)}))
    return sorted(alerts, key=lambda a: a.epoch)


def weak_gradients(groups: dict[str, tuple], rules: AlertRules = AlertRules()) -> list[Alert]:
    """Parameter groups whose gradient norm is < weak_fraction of the others' median for a long stretch."""
    if len(groups) < 3:
        return []
    x = np.asarray(next(iter(groups.values()))[0], dtype=np.float64)
    norms = np.stack([np.asarray(y, dtype=np.float64) for _, y in groups.values()])   # [groups, samples]
    if norms.shape[1] != len(x):
        return []
    alerts = []
    for g, name in enumerate(groups):
        others = np.nanmedian(np.delete(norms, g, axis=0), axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            weak = np.nan_to_num(norms[g] / others, nan=np.inf) < rules.weak_fraction
        edges = np.flatnonzero(np.diff(np.r_[0, weak.astype(np.int8), 0]))
        for start, stop in zip(edges[::2], edges[1::2]):
            if stop - start >= max(3, rules.weak_span * len(x)):
                ratio = float(np.median(norms[g, start:stop] / others[start:stop]))
                alerts.append(Alert("weak gradient", float(x[start]), name,
                                    "this group is barely learning: frozen by mistake, a dead path (e.g. dead ReLUs, "
                                    "a head whose loss weight is tiny), or its learning rate is too small",
                                    {"ratio to the others' median": ratio, "until": float(x[stop - 1]),
                                     "samples": int(stop - start)}))
    return alerts


def exploding_norm(name: str, x, y, rules: AlertRules = AlertRules()) -> list[Alert]:
    """The weight norm grows past `explode`× its starting value (or stops being finite)."""
    alerts = non_finite(name, x, y, nan_is_value=False)
    x, y = finite(x, y)
    if len(y) < 2 or y[0] <= 0:
        return alerts
    over = np.flatnonzero(y > rules.explode * y[0])
    if len(over):
        i = int(over[0])
        alerts.append(Alert("exploding weight norm", float(x[i]), name,
                            "weights growing without bound: weight decay too weak for the learning rate, or a "
                            "diverging optimizer", {"start": float(y[0]), "here": float(y[i]), "final": float(y[-1])}))
    return alerts


def scan(series: dict[str, tuple], rules: AlertRules = AlertRules(), *, grad_groups: dict | None = None,
         weight_norm: tuple | None = None, nan_is_value: bool = True) -> list[Alert]:
    """Every detector over a run: losses get all series checks, other metrics the non-finite and
    abrupt-change checks; `grad_groups` {group: (x, grad norm)} and the total `weight_norm` (x, y)
    their own. Sorted by epoch."""
    alerts = []
    for name, (x, y) in series.items():
        alerts += non_finite(name, x, y, nan_is_value)
        alerts += abrupt_changes(name, x, y, rules)
        if is_loss(name):
            alerts += sustained_rise(name, x, y, rules) + divergence_after_best(name, x, y, rules)
    if grad_groups:
        alerts += weak_gradients(grad_groups, rules)
    if weight_norm is not None:
        alerts += exploding_norm("total weight norm", *weight_norm, rules)
    return sorted(alerts, key=lambda a: (a.epoch, a.kind))
