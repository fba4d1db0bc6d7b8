"""Fourier norms of the embedding, unembedding and neuron-logit map, at an epoch and over epochs.

Read `fourier_embedding` (keys `norm`, `cos_norm`, `sin_norm` [n_epochs, n_freq], `key_mask`
[n_epochs, n_freq], `const_norm`, `gini` [n_epochs], `epochs`) or `fourier_unembedding` (the
same keys prefixed `W_U.` and `W_L.`; choose with `prefix`). Frequencies are 1-based: column i
is k = i + 1 (see `workbench.fourier`).
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from workbench.renderers import captions
from workbench.renderers.cursor import add_cursor, at_epoch, cursor_epoch, epoch_suffix, finish
from workbench.renderers.theme import COLORS, MAGNITUDE_COLORSCALE, base_layout
from workbench.vocabulary import key_frequencies

MATRIX_NAMES = {"": "W_E", "W_U.": "W_U", "W_L.": "W_L = W_out·W_U"}


def _prefix(prefix: str) -> str:
    """"" (embedding), or "W_U." / "W_L." whether or not the caller wrote the dot."""
    prefix = prefix or ""
    return prefix if not prefix or prefix.endswith(".") else prefix + "."


def fourier_norms(data: dict[str, np.ndarray], epoch: int | None = None, *, prefix: str = "",
                  frequency: int | None = None) -> go.Figure:
    """Bar chart of ‖component‖ per frequency k at an epoch, key frequencies highlighted, the
    selected `frequency` outlined. Hover gives the cos and sin parts. customdata k, click frequency."""
    prefix = _prefix(prefix)
    row, shown = at_epoch(data, epoch)
    norm = np.asarray(row[f"{prefix}norm"], dtype=np.float64)
    cos, sin = row[f"{prefix}cos_norm"], row[f"{prefix}sin_norm"]
    is_key = np.asarray(row[f"{prefix}key_mask"]).astype(bool)
    k = np.arange(1, len(norm) + 1)
    matrix = MATRIX_NAMES.get(prefix, prefix.rstrip("."))
    at = epoch_suffix(shown)
    fig = go.Figure(layout=base_layout(f"Fourier norms of {matrix}{at}", "frequency k",
                                       "‖component‖ (L2 norm)",
                                       captions.fourier_bars_caption(matrix.split(" ")[0], norm, is_key, shown)))
    for mask, name, color in ((is_key, "key frequencies", COLORS["key"]), (~is_key, "other", COLORS["other"])):
        fig.add_trace(go.Bar(
            x=k[mask], y=norm[mask], name=name, marker_color=color, customdata=k[mask], textposition="none",
            text=[f"cos {c:.3g} · sin {s:.3g}" for c, s in zip(np.asarray(cos)[mask], np.asarray(sin)[mask])],
            hovertemplate=f"k=%{{x}} ({name})<br>‖component‖ %{{y:.3g}}<br>%{{text}}<extra></extra>"))
    const = row.get(f"{prefix}const_norm")
    if const is not None:
        fig.add_annotation(xref="paper", yref="paper", x=1.0, y=0.98, xanchor="right", showarrow=False,
                           text=f"constant ‖·‖ = {float(const):.3g}", font=dict(size=11, color=COLORS["other"]))
    fig.update_layout(barmode="overlay", bargap=0.15)
    fig.update_xaxes(dtick=1 if len(k) <= 30 else 5)
    mark_frequency(fig, frequency, len(k), axis="x")
    return finish(fig, click="frequency")


def mark_frequency(fig: go.Figure, frequency: int | None, n_freq: int, axis: str = "y") -> None:
    """Outline the selected frequency k (1..n_freq) across the plot: a band at k on `axis`
    ("x" for bars over k, "y" for heatmaps with k up the side); nothing when none is selected."""
    if frequency is None or not 1 <= int(frequency) <= n_freq:
        return
    k = int(frequency)
    band = dict(x0=k - 0.5, x1=k + 0.5, y0=0, y1=1, xref="x", yref="y domain") if axis == "x" else \
        dict(x0=0, x1=1, y0=k - 0.5, y1=k + 0.5, xref="x domain", yref="y")
    fig.add_shape(type="rect", name=f"selected k={k}", layer="above", line=dict(color=COLORS["selected"], width=2,
                                                                               dash="dot"), **band)


def fourier_norms_over_epochs(data: dict[str, np.ndarray], epoch: int | None = None, *,
                              prefix: str = "") -> go.Figure:
    """Heatmap frequency k × epoch of ‖component‖; rows of the final epoch's key frequencies are
    outlined and their tick labels highlighted. Summary: cursor, click epoch (x = customdata = epoch)."""
    prefix = _prefix(prefix)
    epochs = np.asarray(data["epochs"])
    norm = np.asarray(data[f"{prefix}norm"], dtype=np.float32).T            # [n_freq, n_epochs]
    n_freq = norm.shape[0]
    k = np.arange(1, n_freq + 1)
    keys = key_frequencies(np.asarray(data[f"{prefix}key_mask"])[-1])
    matrix = MATRIX_NAMES.get(prefix, prefix.rstrip("."))
    fig = go.Figure(layout=base_layout(f"Fourier norms of {matrix} over training", "epoch", "frequency k",
                                       captions.fourier_heatmap_caption(matrix.split(" ")[0], norm.T, keys, epochs),
                                       height=max(360, 12 * n_freq + 120), showlegend=False))
    fig.add_trace(go.Heatmap(
        z=norm, x=epochs, y=k, colorscale=MAGNITUDE_COLORSCALE,
        customdata=np.broadcast_to(epochs, norm.shape),
        colorbar=dict(title=dict(text="‖component‖", side="right"), thickness=12),
        hovertemplate="epoch %{x} · k=%{y}<br>‖component‖ %{z:.3g}<extra></extra>"))
    add_cursor(fig, cursor_epoch(epochs, epoch), color=COLORS["cursor_on_dark"])
    for key in keys:
        fig.add_shape(type="rect", xref="x domain", yref="y", x0=0, x1=1, y0=key - 0.5, y1=key + 0.5,
                      name=f"key k={key}", line=dict(color=COLORS["key"], width=1.5))
    step = 1 if n_freq <= 30 else 5
    ticks = sorted(set(k[k % step == 0]) | {1} | set(keys.tolist()))
    fig.update_yaxes(tickvals=ticks, range=[0.5, n_freq + 0.5],
                     ticktext=[f"<span style='color:{COLORS['key']}'><b>{t} ★</b></span>" if t in keys else str(t)
                               for t in ticks])
    fig.layout.meta = {**fig.layout.meta, "key_frequencies": keys.tolist()}
    return finish(fig, click="epoch")
