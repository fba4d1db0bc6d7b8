"""Training history: loss and accuracy curves, learning rate, weight and gradient norms.

All read the `history` dict (`Store.load_history`): one array per metric, index = epoch,
length epochs + 1 (`train_loss`, `test_loss`, `train_acc`, `test_acc`, `lr`,
`weight_norm.<param>`, `grad_norm.<param>`). Missing values are NaN and drawn as gaps.
"""
from __future__ import annotations

import numpy as np
import plotly.colors
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench.renderers.cursor import add_cursor, cursor_epoch, finish
from workbench.renderers.theme import COLORS, SIDE_LEGEND, base_layout, finite_or_none, subplot_axis_names
from workbench.renderers.traces import epoch_line, unified_epoch_hover

MAX_POINTS = 5000  # per line; longer histories are decimated (min and max per bucket kept)
LOSS_CAPTION = ("Train loss falls first (memorization); test loss stays high, then drops late: "
                "that drop is grokking.")
PARAMETER_PALETTE = plotly.colors.qualitative.Dark24
ACCURACY_CAPTION = "Train accuracy reaches 100% early; test accuracy follows only when the model groks."


def history_epochs(history: dict[str, np.ndarray]) -> np.ndarray:
    """Epoch of each history entry: 0 .. len - 1."""
    return np.arange(len(next(iter(history.values()))))


def _metric_traces(history, epochs, metric: str, fmt: str, showlegend: bool = True) -> list[go.Scatter]:
    return [epoch_line(epochs, history[f"{split}_{metric}"], f"{split} {metric}", COLORS[split], fmt=fmt,
                       legendgroup=split, showlegend=showlegend, max_points=MAX_POINTS)
            for split in ("train", "test") if f"{split}_{metric}" in history]


def _checkpoint_trace(history, epochs, checkpoints, metric: str) -> go.Scatter:
    """Markers at checkpoint epochs, sitting on the test curve (train if there is no test)."""
    ckpt = np.asarray([c for c in checkpoints if 0 <= c < len(epochs)], dtype=np.int64)
    key = f"test_{metric}" if f"test_{metric}" in history else f"train_{metric}"
    return go.Scatter(x=ckpt, y=finite_or_none(history[key])[ckpt], mode="markers", name="checkpoints",
                      customdata=ckpt, marker=dict(color=COLORS["checkpoint"], size=6, symbol="circle-open"),
                      hovertemplate="checkpoint<extra></extra>")


def loss_curves(history: dict[str, np.ndarray], epoch: int | None = None, *,
                checkpoints: list[int] | None = None, log_y: bool = True) -> go.Figure:
    """Train and test loss over epochs (log y), with optional checkpoint markers. Summary: cursor, click epoch."""
    epochs = history_epochs(history)
    fig = go.Figure(layout=base_layout("Loss", "epoch", "loss (nats, log scale)" if log_y else "loss (nats)",
                                       LOSS_CAPTION, log_y=log_y))
    fig.add_traces(_metric_traces(history, epochs, "loss", ".4g"))
    if checkpoints is not None:
        fig.add_trace(_checkpoint_trace(history, epochs, checkpoints, "loss"))
    add_cursor(fig, cursor_epoch(epochs, epoch))
    unified_epoch_hover(fig)
    return finish(fig, click="epoch")


def accuracy_curves(history: dict[str, np.ndarray], epoch: int | None = None, *,
                    checkpoints: list[int] | None = None) -> go.Figure:
    """Train and test accuracy over epochs. Summary: cursor, click epoch."""
    epochs = history_epochs(history)
    fig = go.Figure(layout=base_layout("Accuracy", "epoch", "accuracy (% of pairs)", ACCURACY_CAPTION))
    fig.add_traces(_metric_traces(history, epochs, "acc", ".1%"))
    if checkpoints is not None:
        fig.add_trace(_checkpoint_trace(history, epochs, checkpoints, "acc"))
    fig.update_yaxes(tickformat=".0%", range=[-0.02, 1.02])
    add_cursor(fig, cursor_epoch(epochs, epoch))
    unified_epoch_hover(fig)
    return finish(fig, click="epoch")


def loss_and_accuracy(history: dict[str, np.ndarray], epoch: int | None = None, *,
                      checkpoints: list[int] | None = None) -> go.Figure:
    """Loss (log y, top) and accuracy (bottom) on a shared epoch axis: two cursors, click epoch."""
    epochs = history_epochs(history)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.06, row_heights=[0.6, 0.4])
    fig.update_layout(base_layout("Loss and accuracy", "", "", LOSS_CAPTION, height=520))
    for trace in _metric_traces(history, epochs, "loss", ".4g"):
        fig.add_trace(trace, row=1, col=1)
    for trace in _metric_traces(history, epochs, "acc", ".1%", showlegend=False):
        fig.add_trace(trace, row=2, col=1)
    if checkpoints is not None:
        fig.add_trace(_checkpoint_trace(history, epochs, checkpoints, "loss"), row=1, col=1)
    fig.update_yaxes(type="log", title_text="loss (nats, log scale)", row=1, col=1)
    fig.update_yaxes(tickformat=".0%", range=[-0.02, 1.02], title_text="accuracy (% of pairs)", row=2, col=1)
    fig.update_xaxes(title_text="epoch", row=2, col=1)
    add_cursor(fig, cursor_epoch(epochs, epoch), subplot_axis_names(2))
    unified_epoch_hover(fig, 2)
    return finish(fig, click="epoch")


def learning_rate(history: dict[str, np.ndarray], epoch: int | None = None) -> go.Figure:
    """The learning rate schedule over epochs (warm-up, then constant in the reference recipe)."""
    epochs = history_epochs(history)
    fig = go.Figure(layout=base_layout("Learning rate", "epoch", "learning rate",
                                       "The warm-up ramp, then the schedule the optimizer followed.",
                                       showlegend=False))
    fig.add_trace(epoch_line(epochs, history["lr"], "lr", COLORS["lr"], fmt=".3g", max_points=MAX_POINTS))
    add_cursor(fig, cursor_epoch(epochs, epoch))
    unified_epoch_hover(fig)
    return finish(fig, click="epoch")


def parameter_norms(history: dict[str, np.ndarray], epoch: int | None = None, *,
                    kind: str = "weight_norm", log_y: bool = True) -> go.Figure:
    """One line per parameter of history[f"{kind}.<param>"], kind "weight_norm" or "grad_norm"."""
    if kind not in ("weight_norm", "grad_norm"):
        raise ValueError(f"kind must be 'weight_norm' or 'grad_norm', got {kind!r}")
    epochs = history_epochs(history)
    names = sorted(k for k in history if k.startswith(kind + "."))
    what = "weight" if kind == "weight_norm" else "gradient"
    caption = ("Weight decay shrinks the weights once the memorizing solution is no longer needed."
               if kind == "weight_norm" else "Gradient norms spike around the phase transitions.")
    fig = go.Figure(layout=base_layout(f"{what.capitalize()} norm per parameter", "epoch",
                                       f"‖{what}‖ (L2 norm{', log scale' if log_y else ''})", caption,
                                       log_y=log_y, height=420))
    for i, name in enumerate(names):
        param = name[len(kind) + 1:]
        fig.add_trace(epoch_line(epochs, history[name], param, _param_color(i), fmt=".4g", width=1.5,
                                  max_points=MAX_POINTS))
    fig.update_layout(legend=SIDE_LEGEND)
    add_cursor(fig, cursor_epoch(epochs, epoch))
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
    has_losses = bool(history) and "train_loss" in history
    title = f"Checkpoints: {len(added):,} to write" + (f", {len(existing):,} on disk" if existing else "")
    fig = go.Figure(layout=base_layout(title, "epoch", "loss (nats, log scale)" if has_losses else "checkpoints",
                                       PLAN_CAPTION, log_y=has_losses, height=300))
    if has_losses:
        fig.add_traces(_metric_traces(history, history_epochs(history), "loss", ".4g"))
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
