"""Training history: loss and accuracy curves, learning rate, weight and gradient norms.

All read a `workbench.history.History` (`Store.load_history`; a plain dict of arrays is read as
values at epochs 0, 1, 2, ...): `train_loss`, `test_loss`, `train_acc`, `test_acc`, `lr`,
`weight_norm.<param>`, `grad_norm.<param>`, each drawn at its own epochs (a test loss evaluated
every 10 epochs has a point every 10 epochs). NaN values are drawn as gaps. A run without some
of these series (an imported checkpoint's history is often losses only) gets a figure that says
what is missing, never an error.
"""
from __future__ import annotations

import numpy as np
import plotly.colors
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench.history import as_history
from workbench.phases import roles
from workbench.renderers import captions
from workbench.renderers.cursor import add_cursor, cursor_epoch, finish
from workbench.renderers.theme import COLORS, SIDE_LEGEND, base_layout, message_figure, subplot_axis_names
from workbench.renderers.traces import epoch_line, unified_epoch_hover

MAX_POINTS = 5000  # per line; longer histories are decimated (min and max per bucket kept)
PARAMETER_PALETTE = plotly.colors.qualitative.Dark24


def last_position(history) -> int:
    """The last position any series reached (where the cursor sits when no epoch is given)."""
    span = history.span()
    return int(span[1]) if span else 0


def _named(history, split: str, metric: str) -> str | None:
    """The series that is the run's `split` `metric` (`train_loss`, or a log's `loss`, `val_loss`,
    `eval/accuracy`, ... as `workbench.phases.roles` reads names); None if it has none."""
    return roles(history).get(f"{split}_{metric}")


def _has(history, metric: str) -> bool:
    return any(_named(history, split, metric) for split in ("train", "test"))


def _metric_traces(history, metric: str, fmt: str, showlegend: bool = True) -> list[go.Scatter]:
    traces = []
    for split in ("train", "test"):
        name = _named(history, split, metric)
        if name is not None:
            label = f"{split} {metric}" + ("" if name == f"{split}_{metric}" else f" ({name})")
            traces.append(epoch_line(*history.xy(name), label, COLORS[split], fmt=fmt, legendgroup=split,
                                     showlegend=showlegend, max_points=MAX_POINTS))
    return traces


def _checkpoint_trace(history, checkpoints, metric: str) -> go.Scatter:
    """Markers at checkpoint epochs, sitting on the test curve (train if there is no test) as drawn."""
    key = _named(history, "test", metric) or _named(history, "train", metric)
    x, y = history.xy(key)
    keep = np.isfinite(y)
    ckpt = np.asarray([c for c in checkpoints if len(x) and x[0] <= c <= x[-1]], dtype=np.int64)
    on_curve = np.interp(ckpt, x[keep], y[keep]) if keep.any() else np.full(len(ckpt), np.nan)
    return go.Scatter(x=ckpt, y=on_curve, mode="markers", name="checkpoints",
                      customdata=ckpt, marker=dict(color=COLORS["checkpoint"], size=6, symbol="circle-open"),
                      hovertemplate="checkpoint<extra></extra>")


def _missing(history, what: str, names: str) -> go.Figure:
    held = ", ".join(sorted(history)[:8]) + (" ..." if len(history) > 8 else "")
    return message_figure(f"This run has no {what} ({names}): nothing to draw here."
                          + (f"<br>Its history holds: {held}" if held else "<br>It has no history at all."))


def _reached(history, metric: str) -> str:
    """When each split of `metric` reached the workbench's threshold in this run (the caption)."""
    named = {split: history.xy(name) for split in ("train", "test")
             if (name := _named(history, split, metric)) is not None}
    return captions.metric_reached(named, metric, history.unit)


def _note(history, metric: str) -> str:
    """What the caption adds when one split of a metric is missing."""
    absent = [f"{split} {metric}" for split in ("train", "test") if _named(history, split, metric) is None]
    return f" (no {' or '.join(absent)} in this run's history)" if absent else ""


def loss_curves(history, epoch: int | None = None, *,
                checkpoints: list[int] | None = None, log_y: bool = True) -> go.Figure:
    """Train and test loss over epochs (log y), with optional checkpoint markers. Summary: cursor, click epoch."""
    history = as_history(history)
    if not _has(history, "loss"):
        return _missing(history, "loss series", "train_loss, test_loss")
    fig = go.Figure(layout=base_layout("Loss", history.unit, "loss (nats, log scale)" if log_y else "loss (nats)",
                                       _reached(history, "loss") + _note(history, "loss"), log_y=log_y))
    fig.add_traces(_metric_traces(history, "loss", ".4g"))
    if checkpoints:
        fig.add_trace(_checkpoint_trace(history, checkpoints, "loss"))
    add_cursor(fig, cursor_epoch([last_position(history)], epoch))
    unified_epoch_hover(fig)
    return finish(fig, click="epoch")


def accuracy_curves(history, epoch: int | None = None, *,
                    checkpoints: list[int] | None = None) -> go.Figure:
    """Train and test accuracy over epochs. Summary: cursor, click epoch."""
    history = as_history(history)
    if not _has(history, "acc"):
        return _missing(history, "accuracy series", "train_acc, test_acc")
    fig = go.Figure(layout=base_layout("Accuracy", history.unit, "accuracy (% of pairs)",
                                       _reached(history, "acc") + _note(history, "acc")))
    fig.add_traces(_metric_traces(history, "acc", ".1%"))
    if checkpoints:
        fig.add_trace(_checkpoint_trace(history, checkpoints, "acc"))
    fig.update_yaxes(tickformat=".0%", range=[-0.02, 1.02])
    add_cursor(fig, cursor_epoch([last_position(history)], epoch))
    unified_epoch_hover(fig)
    return finish(fig, click="epoch")


def loss_and_accuracy(history, epoch: int | None = None, *,
                      checkpoints: list[int] | None = None) -> go.Figure:
    """Loss (log y, top) and accuracy (bottom) on a shared epoch axis: two cursors, click epoch.
    Without accuracy series (a history of losses only) the loss alone."""
    history = as_history(history)
    if not _has(history, "acc"):
        fig = loss_curves(history, epoch, checkpoints=checkpoints)
        if not fig.layout.meta.get("missing"):
            fig.update_layout(title_text="Loss (this run has no accuracy series)")
        return fig
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.06, row_heights=[0.6, 0.4])
    fig.update_layout(base_layout("Loss and accuracy", "", "", " ".join(
        [_reached(history, "loss"), _reached(history, "acc")]) + _note(history, "loss") + _note(history, "acc"),
        height=520))
    for trace in _metric_traces(history, "loss", ".4g"):
        fig.add_trace(trace, row=1, col=1)
    for trace in _metric_traces(history, "acc", ".1%", showlegend=False):
        fig.add_trace(trace, row=2, col=1)
    if checkpoints and _has(history, "loss"):
        fig.add_trace(_checkpoint_trace(history, checkpoints, "loss"), row=1, col=1)
    fig.update_yaxes(type="log", nticks=6, title_text="loss (nats, log scale)", row=1, col=1)
    fig.update_yaxes(tickformat=".0%", range=[-0.02, 1.02], title_text="accuracy (% of pairs)", row=2, col=1)
    fig.update_xaxes(title_text=history.unit, row=2, col=1)
    add_cursor(fig, cursor_epoch([last_position(history)], epoch), subplot_axis_names(2))
    unified_epoch_hover(fig, 2)
    return finish(fig, click="epoch")


def learning_rate(history, epoch: int | None = None) -> go.Figure:
    """The learning rate schedule over epochs (warm-up, then constant in the reference recipe)."""
    history = as_history(history)
    if "lr" not in history:
        return _missing(history, "learning-rate series", "lr")
    fig = go.Figure(layout=base_layout("Learning rate", history.unit, "learning rate",
                                       "The warm-up ramp, then the schedule the optimizer followed.",
                                       showlegend=False))
    fig.add_trace(epoch_line(*history.xy("lr"), "lr", COLORS["lr"], fmt=".3g", max_points=MAX_POINTS))
    add_cursor(fig, cursor_epoch([last_position(history)], epoch))
    unified_epoch_hover(fig)
    return finish(fig, click="epoch")


def parameter_norms(history, epoch: int | None = None, *,
                    kind: str = "weight_norm", log_y: bool = True) -> go.Figure:
    """One line per parameter of history[f"{kind}.<param>"], kind "weight_norm" or "grad_norm"."""
    if kind not in ("weight_norm", "grad_norm"):
        raise ValueError(f"kind must be 'weight_norm' or 'grad_norm', got {kind!r}")
    history = as_history(history)
    names = sorted(k for k in history if k.startswith(kind + "."))
    what = "weight" if kind == "weight_norm" else "gradient"
    if not names:
        return _missing(history, f"{what} norms", f"{kind}.<parameter>")
    caption = captions.norm_trend({name[len(kind) + 1:]: history.xy(name) for name in names}, what)
    fig = go.Figure(layout=base_layout(f"{what.capitalize()} norm per parameter", history.unit,
                                       f"‖{what}‖ (L2 norm{', log scale' if log_y else ''})", caption,
                                       log_y=log_y, height=420))
    for i, name in enumerate(names):
        param = name[len(kind) + 1:]
        fig.add_trace(epoch_line(*history.xy(name), param, _param_color(i), fmt=".4g", width=1.5,
                                  max_points=MAX_POINTS))
    fig.update_layout(legend=SIDE_LEGEND)
    add_cursor(fig, cursor_epoch([last_position(history)], epoch))
    unified_epoch_hover(fig)
    return finish(fig, click="epoch")


def _param_color(i: int) -> str:
    return PARAMETER_PALETTE[i % len(PARAMETER_PALETTE)]


PLAN_CAPTION = ("Where checkpoints will fall: each one is an epoch you can open and analyze. Put them densely "
                "where the loss moves (memorization, the test-loss drop).")


def checkpoint_plan(planned: list[int], existing: list[int] | None = None,
                    history: dict[str, np.ndarray] | None = None) -> go.Figure:
    """Planned checkpoint epochs as ticks, over the variant's loss curves when it exists (the
    Train page's preview); existing checkpoints are drawn apart from the ones to be added."""
    existing = sorted(existing or [])
    added = sorted(set(planned) - set(existing))
    history = as_history(history) if history else None
    has_losses = bool(history) and "train_loss" in history
    title = f"Checkpoints: {len(added):,} to write" + (f", {len(existing):,} on disk" if existing else "")
    fig = go.Figure(layout=base_layout(title, "epoch", "loss (nats, log scale)" if has_losses else "checkpoints",
                                       PLAN_CAPTION, log_y=has_losses, height=300))
    if has_losses:
        fig.add_traces(_metric_traces(history, "loss", ".4g"))
    ticks = "y2" if has_losses else "y"
    for epochs, name, color, row in ((existing, "on disk", COLORS["checkpoint"], 0),
                                     (added, "to write", COLORS["test"], 1)):
        if epochs:
            fig.add_trace(go.Scatter(
                x=np.asarray(epochs), y=np.full(len(epochs), row), mode="markers", name=f"checkpoints {name}",
                yaxis=ticks, marker=dict(symbol="line-ns-open", size=14, color=color),
                hovertemplate=f"checkpoint {name}: epoch %{{x:,}}<extra></extra>"))
    rows = dict(range=[-0.5, 1.5], tickvals=[0, 1], ticktext=["on disk", "to write"], showgrid=False)
    if has_losses:
        fig.update_layout(yaxis2=dict(overlaying="y", side="right", **rows))
    else:
        fig.update_layout(yaxis=dict(type="linear", title=None, **rows))
    fig.update_xaxes(rangemode="tozero")
    return finish(fig)
