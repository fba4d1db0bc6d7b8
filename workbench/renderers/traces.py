"""Trace builders the renderers share: epoch lines and bands, per-input grid heatmaps."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from workbench import spatial
from workbench.renderers.theme import MAGNITUDE_COLORSCALE, finite_or_none, with_alpha

EPOCH_HOVER_TITLE = dict(text="epoch %{x}")


def decimate(values, max_points: int | None) -> np.ndarray:
    """Indices of `values` to draw when there are more than max_points: the min and the max of
    each of max_points/2 consecutive buckets, so spikes survive (NaN-only buckets keep a NaN,
    drawn as a gap). All indices when max_points is None or not exceeded."""
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    if not max_points or n <= max_points:
        return np.arange(n)
    size = int(np.ceil(2 * n / max_points))
    padded = np.full(int(np.ceil(n / size)) * size, np.nan)
    padded[:n] = values
    buckets = padded.reshape(-1, size)
    start = np.arange(len(buckets)) * size
    lows = start + np.argmin(np.where(np.isnan(buckets), np.inf, buckets), axis=1)
    highs = start + np.argmax(np.where(np.isnan(buckets), -np.inf, buckets), axis=1)
    return np.unique(np.minimum(np.concatenate([lows, highs]), n - 1))


def epoch_line(epochs, values, name: str, color: str, *, fmt: str = ".4g", dash: str | None = None,
               note=None, legendgroup: str | None = None, showlegend: bool = True, width: float = 2.0,
               mode: str = "lines", max_points: int | None = None) -> go.Scatter:
    """One quantity over epochs; customdata is the epoch (the click id, one scalar per point).
    `note` (one string per epoch) is appended to the hover readout, e.g. " (k=14)". NaN and ±inf
    are drawn as gaps; more than `max_points` points are `decimate`d.
    (Extra hover values go in `text`, not in 2-D customdata: plotly.js hands 2-D customdata
    rows to Dash as typed arrays, which arrive as {"0": ..., "1": ...}, not lists.)"""
    keep = decimate(values, max_points)
    epochs = np.asarray(epochs)[keep]
    text = None if note is None else np.asarray(note, dtype=object)[keep]
    values = finite_or_none(np.asarray(values)[keep]).astype(np.float32)
    return go.Scatter(x=epochs, y=values, name=name, mode=mode, customdata=epochs, text=text,
                      line=dict(color=color, width=width, dash=dash), marker=dict(color=color, size=5),
                      legendgroup=legendgroup, showlegend=showlegend,
                      hovertemplate=f"{name}: %{{y:{fmt}}}{'%{text}' if note is not None else ''}<extra></extra>")


def epoch_band(epochs, lower, upper, name: str, color: str, *, legendgroup: str | None = None) -> list[go.Scatter]:
    """A shaded band between lower and upper over epochs (two traces, no hover, not clickable)."""
    epochs = np.asarray(epochs)
    common = dict(x=epochs, mode="lines", line=dict(width=0), hoverinfo="skip", showlegend=False,
                  legendgroup=legendgroup)
    return [go.Scatter(y=finite_or_none(lower), name=f"{name} (low)", **common),
            go.Scatter(y=finite_or_none(upper), name=name, fill="tonexty",
                       fillcolor=with_alpha(color, 0.18), **common)]


def unified_epoch_hover(fig: go.Figure, n_axes: int = 1) -> None:
    """Hover every line at the pointer's epoch together, under a title "epoch N"."""
    fig.update_layout(hovermode="x unified")
    for i in range(n_axes):
        fig.layout[f"xaxis{i + 1 if i else ''}"].update(unifiedhovertitle=EPOCH_HOVER_TITLE)


def grid_map(values, downsample: int | None) -> tuple[np.ndarray, np.ndarray, str]:
    """A p x p map over (a rows, b columns), optionally bilinearly down-sampled to
    downsample x downsample: (z [n, n] float32, axis coordinates in units of a/b [n], axis note).
    Down-sampled cells sit at their true (fractional) a, b positions (corners aligned)."""
    z = np.asarray(values, dtype=np.float32)
    p = z.shape[-1]
    if downsample and downsample < p:
        z = spatial.bilinear_downsample(z, int(downsample)).astype(np.float32)
        size = int(downsample)
        return z, np.linspace(0, p - 1, size), f" (bilinear {size}×{size} of {p}×{p})"
    return z, np.arange(p), ""


def grid_heatmap(values, *, downsample: int | None, id_value: int | str | None, id_label: str,
                 value_label: str, colorscale=MAGNITUDE_COLORSCALE, zmin=None, zmax=None,
                 showscale: bool = True, colorbar_title: str = "") -> tuple[go.Heatmap, str]:
    """Heatmap of one p x p map with a = row (y), b = column (x); customdata (the click id) is
    `id_value` in every cell (a neuron or a head), or with id_value "input" each cell's input
    a * p + b (of its nearest true (a, b) when down-sampled). Returns (trace, axis note)."""
    z, coords, note = grid_map(values, downsample)
    if id_value == "input":
        p, nearest = np.asarray(values).shape[-1], np.rint(coords).astype(np.int32)
        ids = nearest[:, None] * p + nearest[None, :]
    else:
        # int16: one id per cell is what a click needs, at a quarter of int64's bytes on the wire
        ids = None if id_value is None else np.full(z.shape, int(id_value), dtype=np.int16)
    fmt = ".1f" if note else "d"
    prefix = "≈" if note else "="
    trace = go.Heatmap(
        z=z, x=coords, y=coords, colorscale=colorscale, zmin=zmin, zmax=zmax, showscale=showscale,
        customdata=ids,
        colorbar=dict(title=dict(text=colorbar_title, side="right"), thickness=12),
        hovertemplate=(f"{id_label}a {prefix} %{{y:{fmt}}}, b {prefix} %{{x:{fmt}}}<br>"
                       f"{value_label}: %{{z:.3g}}<extra></extra>"))
    return trace, note
