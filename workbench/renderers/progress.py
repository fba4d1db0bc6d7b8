"""The progress measures of Nanda et al. (2023) §5 over epochs.

Read `progress_measures`: `restricted_loss`, `excluded_loss`, `train_loss`, `test_loss`
[n_epochs] (float64), `train_acc`, `test_acc`, `gini_W_E`, `gini_W_L`, `sum_squared_weights`
[n_epochs], `key_mask` [n_epochs, n_freq] (the final checkpoint's key frequencies, the same
at every epoch) and `epochs`.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from workbench.renderers import captions
from workbench.renderers.cursor import add_cursor, cursor_epoch, finish
from workbench.renderers.theme import COLORS, MATRIX_COLORS, base_layout
from workbench.renderers.traces import epoch_line, unified_epoch_hover
from workbench.vocabulary import key_frequencies

LOSSES = {  # key -> (legend name, color)
    "train_loss": ("train loss", COLORS["train"]),
    "test_loss": ("test loss", COLORS["test"]),
    "restricted_loss": ("restricted", COLORS["restricted"]),   # only the key frequencies kept (caption)
    "excluded_loss": ("excluded", COLORS["excluded"]),       # the key frequencies removed, train pairs
}


def _keys_text(data) -> str:
    mask = data.get("key_mask")
    if mask is None or not np.size(mask):
        return ""
    keys = key_frequencies(np.asarray(mask)[-1])
    return f" (key frequencies k = {', '.join(map(str, keys))})" if len(keys) else " (no key frequencies)"


def _losses_caption(data) -> str:
    """When restricted and test loss first fall to 0.05 nats for good, and how far excluded loss rose."""
    epochs = np.asarray(data["epochs"])
    reached = captions.metric_reached({split: (epochs, data[f"{split}_loss"]) for split in ("restricted", "test")
                                       if f"{split}_loss" in data}, "loss")
    if "excluded_loss" in data:
        reached += " " + captions.change_caption("Excluded loss", epochs, data["excluded_loss"])
    return reached + " Restricted: only the key frequencies kept; excluded: the key frequencies removed (train pairs)."


def progress_losses(data: dict[str, np.ndarray], epoch: int | None = None) -> go.Figure:
    """Train, test, restricted and excluded loss over epochs (log y). Summary: cursor, click epoch."""
    epochs = np.asarray(data["epochs"])
    fig = go.Figure(layout=base_layout(
        f"Progress measures{_keys_text(data)}", "epoch", "loss (nats, log scale)",
        _losses_caption(data), log_y=True, height=420))
    for key, (name, color) in LOSSES.items():
        if key in data:
            fig.add_trace(epoch_line(epochs, data[key], name, color, fmt=".4g", mode="lines+markers"))
    add_cursor(fig, cursor_epoch(epochs, epoch))
    unified_epoch_hover(fig)
    return finish(fig, click="epoch")


def gini_over_epochs(data: dict[str, np.ndarray], epoch: int | None = None) -> go.Figure:
    """Gini coefficient of the Fourier norms of W_E and W_L over epochs (1 = one frequency,
    0 = all equal). Summary: cursor, click epoch."""
    epochs = np.asarray(data["epochs"])
    fig = go.Figure(layout=base_layout(
        "Fourier sparsity (Gini of frequency norms)", "epoch", "Gini (0 uniform, 1 one frequency)",
        " ".join(captions.change_caption(f"Gini {m}", epochs, data[key], ".2f")
                 for key, m in (("gini_W_E", "W_E"), ("gini_W_L", "W_L")) if key in data)))
    for key, m in (("gini_W_E", "W_E"), ("gini_W_L", "W_L")):
        if key in data:
            fig.add_trace(epoch_line(epochs, data[key], f"Gini {m}", MATRIX_COLORS[m], fmt=".3f", mode="lines+markers"))
    fig.update_yaxes(range=[0, 1])
    add_cursor(fig, cursor_epoch(epochs, epoch))
    unified_epoch_hover(fig)
    return finish(fig, click="epoch")


def sum_squared_weights(data: dict[str, np.ndarray], epoch: int | None = None) -> go.Figure:
    """Σ w² over all parameters over epochs. Summary: cursor, click epoch."""
    epochs = np.asarray(data["epochs"])
    fig = go.Figure(layout=base_layout(
        "Total squared weight", "epoch", "Σ w² (sum over all parameters)",
        captions.change_caption("Σ w²", epochs, data["sum_squared_weights"], ".4g"), showlegend=False))
    fig.add_trace(epoch_line(epochs, data["sum_squared_weights"], "Σ w²", COLORS["cursor"], fmt=".4g",
                             mode="lines+markers"))
    add_cursor(fig, cursor_epoch(epochs, epoch))
    unified_epoch_hover(fig)
    return finish(fig, click="epoch")
