"""Developmental-interpretability figures: the local learning coefficient over epochs, its SGLD
chains at one epoch, and essential dynamics (the outputs' path through their principal components).

Read `llc` (per-epoch analyzer, stacked): `llc_mean`, `llc_std` [n_epochs], `llc_per_chain`
[n_epochs, chains], `loss_trace` [n_epochs, chains, draws] (minibatch loss per draw; NaN after a
chain stopped), `chain_health` [n_epochs, chains] (0 healthy, 1 diverged, 2 flat; see
`workbench.llc`), `train_loss` (L_n at the checkpoint), `test_loss`, the sampler settings `lr`,
`nbeta`, `localization`, `batch_size`, `seed` [n_epochs], and `epochs`.
Read `essential_dynamics` (series): `outputs.projection` [n_ckpt, 3], `outputs.explained_variance`
[3], `outputs.velocity` [n_ckpt − 1], `pairs` (the probe pairs used), `epochs`.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench.renderers import captions
from workbench.renderers.cursor import add_cursor, at_epoch, cursor_epoch, finish
from workbench.renderers.theme import COLORS, QUALITATIVE, base_layout, subplot_axis_names, with_alpha
from workbench.renderers.traces import epoch_band, epoch_line, unified_epoch_hover
from workbench.renderers.trajectories import trajectory_projections

HEALTH_NAMES = ("healthy", "diverged", "flat")  # = workbench.llc.HEALTH_NAMES (no torch import here)
LLC_COLOR = "#0f766e"


def _unhealthy(health: np.ndarray) -> list[str]:
    """Per epoch: "" or e.g. "chain 2 diverged, chain 3 flat"."""
    return [", ".join(f"chain {c + 1} {HEALTH_NAMES[h]}" for c, h in enumerate(row) if h) for row in health]


def llc_over_epochs(data: dict[str, np.ndarray], epoch: int | None = None, *,
                    phases: list[tuple[int, int, str]] | None = None) -> go.Figure:
    """λ̂ (mean over chains, ± one std band) over epochs above the train and test loss (log y),
    on one epoch axis; checkpoints with an unhealthy chain are marked ✕ and counted in the title.
    `phases` [(start, end, name)], when given, shade the training phases on both panels.
    Summary: two cursors, click epoch."""
    epochs = np.asarray(data["epochs"])
    mean, std = np.asarray(data["llc_mean"], np.float64), np.asarray(data["llc_std"], np.float64)
    notes = _unhealthy(np.asarray(data["chain_health"]))
    bad = np.array([bool(n) for n in notes])
    title = "Local learning coefficient λ̂ and loss"
    if bad.any():
        title += f" ({int(bad.sum())} of {len(epochs)} checkpoints with unhealthy chains, ✕)"
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08, row_heights=[0.6, 0.4])
    fig.update_layout(base_layout(title, "", "", captions.change_caption("λ̂", epochs, mean)
                                  + " Read it beside the test loss below.",
                                  height=520))
    for trace in epoch_band(epochs, mean - std, mean + std, "λ̂ ± std across chains", LLC_COLOR):
        fig.add_trace(trace, row=1, col=1)
    fig.add_trace(epoch_line(epochs, mean, "λ̂ (mean of chains)", LLC_COLOR, fmt=".3g", mode="lines+markers",
                             note=[f" ± {s:.2g}" + (f" — {n}" if n else "") for s, n in zip(std, notes)]),
                  row=1, col=1)
    if bad.any():
        fig.add_trace(go.Scatter(x=epochs[bad], y=mean[bad], mode="markers", name="unhealthy chain(s)",
                                 customdata=epochs[bad], text=np.asarray(notes, dtype=object)[bad],
                                 marker=dict(symbol="x", size=11, color=COLORS["current"]),
                                 hovertemplate="%{text}<extra></extra>"), row=1, col=1)
    for key, name in (("train_loss", "train loss"), ("test_loss", "test loss")):
        fig.add_trace(epoch_line(epochs, data[key], name, COLORS[name.split()[0]], fmt=".4g",
                                 mode="lines+markers"), row=2, col=1)
    fig.update_yaxes(title_text="λ̂ (effective dimensions)", row=1, col=1)
    fig.update_yaxes(title_text="loss (nats, log scale)", type="log", nticks=6, row=2, col=1)
    fig.update_xaxes(title_text="epoch", row=2, col=1)
    for start, end, name in phases or ():
        fig.add_vrect(x0=start, x1=end, fillcolor=with_alpha(COLORS["other"], 0.15), line_width=0,
                      annotation_text=name, annotation_position="top left", row="all", col=1)
    add_cursor(fig, cursor_epoch(epochs, epoch), subplot_axis_names(2))
    unified_epoch_hover(fig, 2)
    return finish(fig, click="epoch")


def llc_chains(data: dict[str, np.ndarray], epoch: int | None = None) -> go.Figure:
    """The SGLD chains behind λ̂ at one epoch: each chain's minibatch loss per draw, with the
    loss at the checkpoint (L_n(w*)) dashed; the title gives λ̂ and each chain's health.
    A healthy chain rises from L_n(w*) and levels off. Not clickable."""
    row, shown = at_epoch(data, epoch)
    trace = np.asarray(row["loss_trace"], np.float64)
    health = np.asarray(row["chain_health"]).astype(int)
    per_chain = np.asarray(row["llc_per_chain"], np.float64)
    draws = np.arange(1, trace.shape[1] + 1)
    status = "all chains healthy" if not health.any() else _unhealthy(health[None])[0]
    # The sampler's settings ride in the x title: an annotation below the axis collided with it.
    settings = ", ".join(f"{k} {float(row[k]):g}" for k in ("lr", "nbeta", "localization", "batch_size")
                         if k in row)
    fig = go.Figure(layout=base_layout(
        f"SGLD chains at epoch {shown}: λ̂ = {float(row['llc_mean']):.3g} ± {float(row['llc_std']):.2g} ({status})",
        "draw (SGLD step)" + (f" · {settings}" if settings else ""), "minibatch loss (nats)",
        "Healthy chains rise from the checkpoint's loss and level off; a chain still climbing (or "
        "non-finite) diverged — lower lr or raise localization; a chain that never moves is flat — raise lr."))
    for c, losses in enumerate(trace):
        color = QUALITATIVE[c % len(QUALITATIVE)]
        name = f"chain {c + 1} ({HEALTH_NAMES[health[c]]}, λ̂ {per_chain[c]:.3g})"
        fig.add_trace(go.Scatter(x=draws, y=losses, mode="lines", name=name, line=dict(color=color, width=1.5,
                                 dash="solid" if health[c] == 0 else "dot"),
                                 hovertemplate=f"chain {c + 1} · draw %{{x}}: loss %{{y:.4g}}<extra></extra>"))
    fig.add_hline(y=float(row["train_loss"]), line=dict(color=COLORS["cursor"], dash="dash", width=1),
                  annotation_text="L_n(w*) at the checkpoint", annotation_position="bottom right")
    return finish(fig)


def essential_dynamics_paths(data: dict[str, np.ndarray], epoch: int | None = None) -> go.Figure:
    """Essential dynamics: the outputs' path in the PC1/PC2 and PC2/PC3 planes, colored by
    epoch, the checkpoint nearest `epoch` ringed. customdata epoch, click epoch."""
    pairs = len(np.asarray(data.get("pairs", [])))
    return trajectory_projections(
        data, epoch, group="outputs", planes=((1, 2), (2, 3)),
        title=f"Essential dynamics (PCA of logits on {pairs} inputs)",
        caption="The function's own path, whatever the weights that encode it: look for sharp turns (candidate "
                "developmental stages) and compare their epochs with the phases above.")
