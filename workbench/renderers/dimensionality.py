"""Effective dimensionality of the weight matrices: participation ratio, spectral gap, spectra.

Read `dimensionality`: for M in W_E, W_U, W_in, W_out, W_L `participation_ratio.M`,
`spectral_gap.M`, `gap_index.M` [n_epochs] and `sigma.M` [n_epochs, r]; for the per-head
matrices W_Q, W_K, W_V, W_O the same with a head axis: [n_epochs, n_heads] and
[n_epochs, n_heads, r]; `epochs`. Per-head matrices are drawn as their mean over heads
(dotted) unless `per_head=True` or a `head` is chosen.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from workbench.renderers import captions
from workbench.renderers.cursor import add_cursor, at_epoch, cursor_epoch, epoch_suffix, finish
from workbench.renderers.theme import MATRIX_COLORS, SIDE_LEGEND, base_layout
from workbench.renderers.traces import epoch_line, unified_epoch_hover
from workbench.vocabulary import HEAD_MATRICES, MATRICES as ANALYSED

MATRICES = (*(m for m in ANALYSED if m not in HEAD_MATRICES), "W_L", *HEAD_MATRICES)  # in the legend's order
HEAD_DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")


def _matrices(data, quantity: str, matrices) -> list[str]:
    return [m for m in (matrices or MATRICES) if f"{quantity}.{m}" in data]


def _gap_notes(index) -> list[str] | None:
    """" (after σ4)": where the largest gap of each epoch's spectrum is."""
    return None if index is None else [f" (after σ{int(i)})" for i in np.asarray(index)]


def _over_epochs(data, epoch, quantity: str, title: str, y_title: str, caption: str, fmt: str,
                 matrices, per_head: bool, log_y: bool = False) -> go.Figure:
    """One line per matrix of data[f"{quantity}.M"] over epochs (per-head matrices: mean over
    heads, or one line per head), hover extended with the gap index for spectral gaps."""
    epochs = np.asarray(data["epochs"])
    fig = go.Figure(layout=base_layout(title, "epoch", y_title, caption, log_y=log_y, height=420))
    for m in _matrices(data, quantity, matrices):
        values = np.asarray(data[f"{quantity}.{m}"], dtype=np.float64)
        index = data.get(f"gap_index.{m}") if quantity == "spectral_gap" else None
        color = MATRIX_COLORS.get(m, "#000")
        if values.ndim == 1:
            fig.add_trace(epoch_line(epochs, values, m, color, fmt=fmt, note=_gap_notes(index)))
        elif per_head:
            for h in range(values.shape[1]):
                fig.add_trace(epoch_line(epochs, values[:, h], f"{m} head {h}", color, fmt=fmt, width=1.2,
                                         dash=HEAD_DASHES[h % len(HEAD_DASHES)], legendgroup=m,
                                         note=None if index is None else _gap_notes(np.asarray(index)[:, h])))
        else:
            fig.add_trace(epoch_line(epochs, values.mean(axis=1), f"{m} (mean of {values.shape[1]} heads)", color,
                                     fmt=fmt, dash="dot"))
    fig.update_layout(legend=SIDE_LEGEND)
    add_cursor(fig, cursor_epoch(epochs, epoch))
    unified_epoch_hover(fig)
    return finish(fig, click="epoch")


def participation_ratio_over_epochs(data: dict[str, np.ndarray], epoch: int | None = None, *,
                                    matrices: list[str] | None = None, per_head: bool = False) -> go.Figure:
    """Participation ratio (Σσ²)²/Σσ⁴ of each matrix over epochs. Summary: cursor, click epoch."""
    return _over_epochs(data, epoch, "participation_ratio", "Effective dimension (participation ratio)",
                        "participation ratio (dimensions)",
                        " ".join(captions.change_caption(f"W_{m}", np.asarray(data["epochs"]),
                                                         data[f"participation_ratio.W_{m}"], ".1f")
                                 for m in ("E", "L") if f"participation_ratio.W_{m}" in data)
                        + " Look for W_L near 2 × the number of key frequencies.",
                        ".2f", matrices, per_head)


def spectral_gap_over_epochs(data: dict[str, np.ndarray], epoch: int | None = None, *,
                             matrices: list[str] | None = None, per_head: bool = False) -> go.Figure:
    """Largest σ_i/σ_{i+1} in the leading half of each spectrum over epochs (log y); hover gives
    i, the size of the signal subspace. Summary: cursor, click epoch."""
    return _over_epochs(data, epoch, "spectral_gap", "Spectral gap", "largest σᵢ/σᵢ₊₁ (ratio, log scale)",
                        "A gap opening means a low-rank signal separating from noise; its index is the rank.",
                        ".3g", matrices, per_head, log_y=True)


def singular_values(data: dict[str, np.ndarray], epoch: int | None = None, *,
                    matrices: list[str] | None = None, head: int | None = None,
                    normalize: bool = False) -> go.Figure:
    """Singular value spectrum σ_1 ≥ σ_2 ≥ ... of each matrix at an epoch (log y). Per-head
    matrices: the chosen `head`, else the mean over heads. `normalize` divides by σ_1."""
    row, shown = at_epoch(data, epoch)
    y_title = "σᵢ / σ₁ (log scale)" if normalize else "singular value σᵢ (log scale)"
    fig = go.Figure(layout=base_layout(
        f"Singular values{epoch_suffix(shown)}", "index i (1 = largest)", y_title,
        "A knee in the spectrum is the matrix's working rank: a few large σ, then a floor.",
        log_y=True, height=420))
    fig.update_yaxes(nticks=6)                                             # log ticks that do not overlap
    for m in _matrices(row, "sigma", matrices):
        sigma = np.asarray(row[f"sigma.{m}"], dtype=np.float64)
        name = m
        if sigma.ndim == 2:
            sigma, name = (sigma[head], f"{m} head {head}") if head is not None else (sigma.mean(axis=0), f"{m} (mean)")
        if normalize and sigma[0] > 0:
            sigma = sigma / sigma[0]
        fig.add_trace(go.Scatter(x=np.arange(1, len(sigma) + 1), y=sigma, mode="lines+markers", name=name,
                                 line=dict(color=MATRIX_COLORS.get(m, "#000"), width=1.5), marker=dict(size=4),
                                 hovertemplate=f"{name} · σ%{{x}} = %{{y:.3g}}<extra></extra>"))
    fig.update_layout(legend=SIDE_LEGEND)
    return finish(fig)
