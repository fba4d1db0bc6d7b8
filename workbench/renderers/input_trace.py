"""One input through training: which components produce its answer, and at which frequencies.

Read `workbench.derived.input_trace` (see `workbench.analyzers.logit_lens.attribution_summary`):
`correct_logit`, `correct_logit_centered`, `rank_after` [n_epochs, n_heads + 2] (components
embed, head 0.., MLP), `frequency_contribution` [n_epochs, n_freq + 1], `loss` [n_epochs],
`epochs`, and scalars `a`, `b`, `answer`, `train`.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench.renderers import captions
from workbench.renderers.cursor import add_cursor, cursor_epoch, finish
from workbench.renderers.theme import COLORS, SIDE_LEGEND, base_layout, head_color, subplot_axis_names
from workbench.renderers.traces import epoch_line, unified_epoch_hover
from workbench.vocabulary import component_names

COMPONENT_COLORS = {"embed": "#6b7280", "MLP": "#7c3aed", "model": "#111827"}  # heads: theme.head_color
DIVERGING_COLORSCALE = "RdBu_r"  # signed contributions: red raises the correct answer, blue lowers it


def input_title(trace: dict) -> str:
    split = "train" if int(trace["train"]) else "test"
    return f"input ({int(trace['a'])}, {int(trace['b'])}) → {int(trace['answer'])} · {split}"


def _color(name: str) -> str:
    return head_color(int(name.split()[1])) if name.startswith("head") else COMPONENT_COLORS[name]


def input_attribution(trace: dict[str, np.ndarray], epoch: int | None = None) -> go.Figure:
    """Top: the correct answer's logit from each component (minus its mean logit) and the model's
    total. Middle: the rank of the correct answer after adding each component in turn (logit
    lens). Bottom: the model's loss on this input. Summary: three cursors, click epoch."""
    epochs = np.asarray(trace["epochs"])
    centered = np.asarray(trace["correct_logit_centered"], np.float64)
    raw = np.asarray(trace["correct_logit"], np.float64)
    names = component_names(centered.shape[1] - 2)
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.06, row_heights=[0.5, 0.3, 0.2])
    fig.update_layout(base_layout(
        f"Direct logit attribution: {input_title(trace)}", "", "",
        "Which component pushes the right answer up (above 0) as training goes on, and after which one it "
        "ranks first: memorized inputs lean on few components, generalized ones on the MLP's Fourier features.",
        height=640))
    fig.update_layout(legend=SIDE_LEGEND)
    for i, name in enumerate(names):
        fig.add_trace(epoch_line(epochs, centered[:, i], name, _color(name), fmt=".3g", legendgroup=name,
                                 note=[f" (raw {v:.3g})" for v in raw[:, i]]), row=1, col=1)
        rank = np.asarray(trace["rank_after"])[:, i] + 1
        fig.add_trace(epoch_line(epochs, rank, f"rank after {'+ ' if i else ''}{name}", _color(name), fmt="d",
                                 legendgroup=name, showlegend=False), row=2, col=1)
    fig.add_trace(epoch_line(epochs, centered.sum(axis=1), "model (sum)", COMPONENT_COLORS["model"], fmt=".3g",
                             dash="dash"), row=1, col=1)
    fig.add_trace(epoch_line(epochs, np.asarray(trace["loss"]), "loss", COLORS["test"], fmt=".3g",
                             showlegend=False), row=3, col=1)
    fig.update_yaxes(title_text="correct logit − mean (logits)", row=1, col=1)
    fig.update_yaxes(title_text="rank (1 = top, log)", type="log", autorange="reversed", nticks=5, row=2, col=1)
    fig.update_yaxes(title_text="loss (nats, log)", type="log", nticks=5, row=3, col=1)
    fig.update_xaxes(title_text="epoch", row=3, col=1)
    add_cursor(fig, cursor_epoch(epochs, epoch), subplot_axis_names(3))
    unified_epoch_hover(fig, 3)
    return finish(fig, click="epoch")


def input_frequencies(trace: dict[str, np.ndarray], epoch: int | None = None, *,
                      key_frequencies=()) -> go.Figure:
    """The model's correct-answer logit split by Fourier frequency k of its logit vector, k × epoch
    (the split sums to the correct logit minus the mean logit). Key frequencies are marked ★.
    Summary: cursor, click epoch."""
    epochs = np.asarray(trace["epochs"])
    by_k = np.asarray(trace["frequency_contribution"], np.float64)[:, 1:].T         # [n_freq, n_epochs]
    n_freq = by_k.shape[0]
    keys = {int(k) for k in key_frequencies}
    limit = float(np.abs(by_k).max()) or 1.0
    fig = go.Figure(layout=base_layout(
        f"Which frequencies carry the answer: {input_title(trace)}", "epoch", "frequency k",
        captions.key_share_caption(by_k, sorted(keys), epochs), height=max(360, 9 * n_freq + 140), showlegend=False))
    fig.add_trace(go.Heatmap(
        z=by_k.astype(np.float32), x=epochs, y=np.arange(1, n_freq + 1), zmid=0, zmin=-limit, zmax=limit,
        colorscale=DIVERGING_COLORSCALE, customdata=np.broadcast_to(epochs, by_k.shape), colorbar=dict(title=dict(text="logit", side="right"), thickness=12),
        hovertemplate="epoch %{x} · k=%{y}<br>contributes %{z:.3g} to the correct logit<extra></extra>"))
    ticks = sorted(keys) if keys else []
    fig.update_yaxes(tickvals=ticks or None, ticktext=[f"★ k={k}" for k in ticks] or None,
                     range=[0.5, n_freq + 0.5], showgrid=False)
    add_cursor(fig, cursor_epoch(epochs, epoch), color=COLORS["cursor"])
    return finish(fig, click="epoch")
