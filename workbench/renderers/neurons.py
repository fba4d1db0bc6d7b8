"""MLP neurons: frequency clusters (Nanda et al. 2023 §5.1), activation maps, spatial scale.

Read `neuron_frequencies`: `fve` [n_epochs, n_freq, d_mlp] (float16), `dominant_freq`
[n_epochs, d_mlp] (1-based k), `dominant_fve` [n_epochs, d_mlp], `cluster_size` [n_epochs,
n_freq], `fraction_explained` [n_epochs], spatial metrics `low_freq_ratio`,
`variance_preserved`, `mean_abs_gradient`, `scale_type` [n_epochs, d_mlp] and `epochs`.
Activation maps come from `workbench.derived.neuron_heatmaps`: [d_mlp, p (a), p (b)].
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench.renderers import captions
from workbench.renderers.cursor import add_cursor, at_epoch, cursor_epoch, epoch_suffix, finish
from workbench.renderers.fourier import mark_frequency
from workbench.renderers.theme import (COLORS, MAGNITUDE_COLORSCALE, SCALE_TYPE_COLORS, base_layout,
                                       frequency_color, subplot_axis_names)
from workbench.renderers.traces import epoch_band, epoch_line, grid_heatmap, unified_epoch_hover
from workbench.vocabulary import FVE_THRESHOLD, SCALE_TYPES

SPATIAL_METRICS = {  # key -> axis title (definitions in workbench.spatial)
    "low_freq_ratio": "low-freq. energy (frac.)",       # share inside the 12.5% disc
    "variance_preserved": "kept at 14×14 (frac.)",      # variance surviving the round trip
    "mean_abs_gradient": "mean |gradient| (std)",
}


def neurons_by_frequency(data: dict[str, np.ndarray], epoch: int | None = None) -> np.ndarray:
    """Neuron ids ordered by dominant frequency k, then by dominant FVE (highest first), [d_mlp]."""
    row, _ = at_epoch(data, epoch)
    return np.lexsort((-np.asarray(row["dominant_fve"], np.float64), np.asarray(row["dominant_freq"])))


def neuron_fve_heatmap(data: dict[str, np.ndarray], epoch: int | None = None, *,
                       threshold: float = FVE_THRESHOLD, neuron: int | None = None,
                       frequency: int | None = None) -> go.Figure:
    """Frequency k × neuron heatmap of FVE at an epoch, neurons sorted by dominant frequency
    (then FVE); x ticks name each cluster's k; the selected `neuron`'s column and `frequency`'s
    row are marked. customdata = neuron id per cell, click neuron."""
    row, shown = at_epoch(data, epoch)
    fve = np.asarray(row["fve"], dtype=np.float32)                         # [n_freq, d_mlp]
    n_freq, d_mlp = fve.shape
    order = neurons_by_frequency(row)
    dominant = np.asarray(row["dominant_freq"])[order]
    fve_sorted = fve[:, order]
    clustered = (fve_sorted.max(axis=0) >= threshold).mean()
    fig = go.Figure(layout=base_layout(
        f"Neuron frequency clusters{epoch_suffix(shown)}", "neurons, sorted by dominant frequency k (then FVE)",
        "frequency k", f"Blocks on the diagonal are frequency clusters; {clustered:.0%} of neurons are "
        f"explained ≥ {threshold:.0%} by one frequency now.", height=max(360, 10 * n_freq + 140), showlegend=False))
    fig.add_trace(go.Heatmap(
        z=fve_sorted, x=np.arange(d_mlp), y=np.arange(1, n_freq + 1), zmin=0, zmax=1,
        colorscale=MAGNITUDE_COLORSCALE, customdata=np.broadcast_to(order, fve_sorted.shape),
        colorbar=dict(title=dict(text="FVE", side="right"), thickness=12),
        hovertemplate="neuron %{customdata} · k=%{y}<br>FVE %{z:.2f}<extra></extra>"))
    starts = np.flatnonzero(np.r_[True, dominant[1:] != dominant[:-1]])
    ends = np.r_[starts[1:], d_mlp]
    big = (ends - starts) >= max(2, d_mlp // 60)                           # label clusters, not strays
    fig.update_xaxes(tickvals=((starts + ends - 1) / 2)[big], ticktext=[f"k={k}" for k in dominant[starts][big]],
                     tickangle=0, tickfont=dict(size=10), showgrid=False)
    fig.update_yaxes(range=[0.5, n_freq + 0.5], showgrid=False)
    if neuron is not None and 0 <= int(neuron) < d_mlp:
        column = int(np.flatnonzero(order == int(neuron))[0])
        fig.add_shape(type="rect", name=f"selected neuron {int(neuron)}", layer="above", xref="x", yref="y domain",
                      x0=column - 0.5 - d_mlp / 400, x1=column + 0.5 + d_mlp / 400, y0=0, y1=1,
                      line=dict(color=COLORS["selected"], width=2))
        fig.add_annotation(x=column, y=1, xref="x", yref="y domain", yanchor="bottom", showarrow=False,
                           text=f"▼ {int(neuron)}", font=dict(size=11, color=COLORS["selected"]))
    mark_frequency(fig, frequency, n_freq)
    return finish(fig, click="neuron")


def cluster_sizes_over_epochs(data: dict[str, np.ndarray], epoch: int | None = None, *,
                              stacked: bool = True) -> go.Figure:
    """Neurons per frequency cluster over epochs (stacked areas, or lines), only for frequencies
    that ever have a cluster. Summary: cursor, click epoch."""
    epochs = np.asarray(data["epochs"])
    sizes = np.asarray(data["cluster_size"], dtype=np.int64)               # [n_epochs, n_freq]
    n_freq = sizes.shape[1]
    fig = go.Figure(layout=base_layout(
        "Neuron clusters over training", "epoch", f"neurons with FVE ≥ {FVE_THRESHOLD} (count)",
        captions.clusters_caption(epochs, sizes, np.shape(data["dominant_freq"])[-1] if "dominant_freq" in data
                                  else None)))
    for k in np.flatnonzero(sizes.max(axis=0) > 0) + 1:
        trace = epoch_line(epochs, sizes[:, k - 1], f"k={k}", frequency_color(k, n_freq), fmt="d")
        if stacked:
            trace.update(stackgroup="clusters", line=dict(width=0.5))
        fig.add_trace(trace)
    add_cursor(fig, cursor_epoch(epochs, epoch))
    unified_epoch_hover(fig)
    return finish(fig, click="epoch")


def _stripes(p: int, row: dict | None, neuron: int) -> str:
    """What to look for in this neuron's map: stripes along a + b with the period of its k."""
    if row is None:
        return "Look for stripes along a + b (a Fourier neuron) rather than noise."
    k, fve = int(row["dominant_freq"][neuron]), float(row["dominant_fve"][neuron])
    return (f"Its dominant frequency k = {k} explains {fve:.0%} of its variance: look for stripes along a + b "
            f"with period p/k = {p}/{k} ≈ {p / k:.1f} inputs.")


def _one_map(maps, neuron: int) -> np.ndarray:
    return np.asarray(maps[neuron] if np.ndim(maps) == 3 else maps)  # only that neuron's (`derived.NeuronMaps`)


def _label(neuron: int, row: dict | None) -> str:
    if row is None:
        return f"neuron {neuron}"
    return (f"neuron {neuron} · k={int(row['dominant_freq'][neuron])} · "
            f"FVE {float(row['dominant_fve'][neuron]):.2f}")


def neuron_heatmap(maps: np.ndarray, epoch: int | None = None, *, neuron: int,
                   downsample: int | None = None, frequencies: dict[str, np.ndarray] | None = None) -> go.Figure:
    """One neuron's activation at `=` over the (a, b) grid. `maps` is that map [p, p] or every
    neuron's [d_mlp, p, p]; `frequencies` (the neuron_frequencies artifact) adds k and FVE to the
    title. customdata = the input a * p + b of each cell, click input."""
    row = at_epoch(frequencies, epoch)[0] if frequencies is not None else None
    z = _one_map(maps, neuron)
    trace, note = grid_heatmap(z, downsample=downsample, id_value="input", id_label=f"neuron {neuron}<br>",
                               value_label="activation", colorbar_title="activation")
    at = epoch_suffix(epoch)
    fig = go.Figure(layout=base_layout(
        f"{_label(neuron, row)}{at}", f"b (input token){note}", f"a (input token){note}",
        _stripes(z.shape[-1], row, neuron),
        height=440, showlegend=False))
    fig.add_trace(trace)
    fig.update_yaxes(scaleanchor="x", constrain="domain")
    fig.update_xaxes(constrain="domain")
    return finish(fig, click="input")


def neuron_fve_over_epochs(data: dict[str, np.ndarray], epoch: int | None = None, *, neuron: int) -> go.Figure:
    """One neuron's FVE by frequency k over epochs (heatmap); the final dominant k is outlined.
    Summary: cursor, click epoch."""
    epochs = np.asarray(data["epochs"])
    fve = np.asarray(data["fve"], dtype=np.float32)[:, :, neuron].T       # [n_freq, n_epochs]
    n_freq = fve.shape[0]
    final_k = int(np.asarray(data["dominant_freq"])[-1, neuron])
    fig = go.Figure(layout=base_layout(
        f"Neuron {neuron}: FVE by frequency over training", "epoch", "frequency k",
        "A neuron joins a cluster when one row takes over its variance (FVE near 1).",
        height=max(320, 9 * n_freq + 120), showlegend=False))
    fig.add_trace(go.Heatmap(
        z=fve, x=epochs, y=np.arange(1, n_freq + 1), zmin=0, zmax=1, colorscale=MAGNITUDE_COLORSCALE,
        customdata=np.broadcast_to(epochs, fve.shape),
        colorbar=dict(title=dict(text="FVE", side="right"), thickness=12),
        hovertemplate=f"neuron {neuron} · epoch %{{x}} · k=%{{y}}<br>FVE %{{z:.2f}}<extra></extra>"))
    add_cursor(fig, cursor_epoch(epochs, epoch), color=COLORS["cursor_on_dark"])
    fig.add_shape(type="rect", xref="x domain", yref="y", x0=0, x1=1, y0=final_k - 0.5, y1=final_k + 0.5,
                  name=f"final k={final_k}", line=dict(color=COLORS["key"], width=1.5))
    fig.update_yaxes(range=[0.5, n_freq + 0.5], showgrid=False)
    return finish(fig, click="epoch")


def neuron_heatmap_grid(maps: np.ndarray, epoch: int | None = None, *, neurons=None, order=None,
                        frequencies: dict[str, np.ndarray] | None = None, page: int = 0, page_size: int = 16,
                        columns: int = 4, downsample: int | None = None, about: str = "",
                        selected: int | None = None) -> go.Figure:
    """Small multiples of neuron activation maps, one page at a time.

    maps [d_mlp, p, p] are every neuron's maps (`derived.neuron_heatmaps`); pages walk through
    `order` (neuron ids, default `neurons`, default all; e.g. `neurons_by_frequency(...)`). Subplot titles read
    "neuron 17" over "k=14 · FVE 0.93" when `frequencies` is given; the `selected` neuron's title
    is highlighted; `about` (what these neurons are) leads the caption. customdata neuron, click
    neuron; meta also has "page", "n_pages" and "neurons" (the ids shown)."""
    neurons = np.arange(len(maps)) if neurons is None else np.asarray(neurons)
    order = neurons if order is None else np.asarray(order)
    n_pages = max(1, math.ceil(len(order) / page_size))
    page = min(max(int(page), 0), n_pages - 1)
    shown = [int(n) for n in order[page * page_size:(page + 1) * page_size]]
    info = at_epoch(frequencies, epoch)[0] if frequencies is not None else None
    columns = max(1, min(columns, len(shown)))
    rows = max(1, math.ceil(len(shown) / columns))
    traces, note = [], ""
    shown_maps = np.asarray(maps[shown]) if shown else []  # only these (`derived.NeuronMaps`)
    for neuron, z in zip(shown, shown_maps):
        trace, note = grid_heatmap(z, downsample=downsample, id_value=neuron,
                                   id_label=f"neuron {neuron}<br>", value_label="activation", showscale=False)
        traces.append(trace)
    at = epoch_suffix(epoch)
    # The grid is laid out by hand in one layout dict: plotly's make_subplots and per-axis
    # updates re-validate the figure on every call and cost most of this renderer's time.
    layout = base_layout(f"Neuron activations{at} — page {page + 1} of {n_pages}", "", "",
                         (about + " " if about else "") + "Look for one stripe period shared by the maps; click a "
                         "map to open that neuron.",
                         height=80 + 200 * rows, showlegend=False)
    h_gap, v_gap = 0.02, 0.4 / rows
    width, height = (1 - h_gap * (columns - 1)) / columns, (1 - v_gap * (rows - 1)) / rows
    annotations = []
    for i, (trace, (x_axis, y_axis)) in enumerate(zip(traces, subplot_axis_names(len(shown)))):
        row, col = divmod(i, columns)
        x0, y1 = col * (width + h_gap), 1 - row * (height + v_gap)
        trace.update(xaxis=x_axis, yaxis=y_axis)
        first = row == rows - 1 and col == 0
        layout[x_axis.replace("x", "xaxis")] = {
            "domain": [x0, min(1.0, x0 + width)], "anchor": y_axis, "showticklabels": False, "constrain": "domain",
            "title": {"text": f"b (input token){note}" if first else ""}}
        layout[y_axis.replace("y", "yaxis")] = {
            "domain": [max(0.0, y1 - height), y1], "anchor": x_axis, "scaleanchor": x_axis, "showticklabels": False,
            "constrain": "domain", "title": {"text": f"a{note and ' (bilinear)'}" if first else ""}}
        text = _label(shown[i], info).replace(" · ", "<br>", 1)
        mine = selected is not None and shown[i] == int(selected)
        annotations.append({"text": f"<b>{text}</b>" if mine else text, "x": x0 + width / 2, "y": y1,
                            "xref": "paper", "yref": "paper", "xanchor": "center", "yanchor": "bottom",
                            "showarrow": False, "font": {"size": 10, "color": COLORS["selected"] if mine else None}})
    layout["annotations"] = annotations
    fig = go.Figure(data=traces, layout=layout)
    finish(fig, click="neuron")
    fig.layout.meta = {**fig.layout.meta, "page": page, "n_pages": n_pages, "neurons": shown}
    return fig


def neuron_spatial_scale_over_epochs(data: dict[str, np.ndarray], epoch: int | None = None, *,
                                     band: tuple[float, float] = (25, 75)) -> go.Figure:
    """Median over neurons of each spatial-scale metric, with a percentile band, one row per
    metric on a shared epoch axis (three cursors). Summary, click epoch."""
    epochs = np.asarray(data["epochs"])
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.05)
    fig.update_layout(base_layout(
        "Spatial scale of neuron maps", "", "",
        "Look for the band narrowing as maps turn from noise into a periodic pattern; read with the scale types.",
        height=560, showlegend=False))
    for r, (key, title) in enumerate(SPATIAL_METRICS.items(), start=1):
        values = np.asarray(data[key], dtype=np.float64)                   # [n_epochs, d_mlp]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)                # all-NaN epochs: flat maps
            low, mid, high = np.nanpercentile(values, [band[0], 50, band[1]], axis=1)
        for trace in epoch_band(epochs, low, high, f"{band[0]:g}–{band[1]:g}th pct", COLORS["train"]):
            fig.add_trace(trace, row=r, col=1)
        pct = f"{band[0]:g}–{band[1]:g}th pct"
        fig.add_trace(epoch_line(epochs, mid, f"median {key}", COLORS["train"], fmt=".3f",
                                 note=[f" ({pct} {lo:.3f}–{hi:.3f})" for lo, hi in zip(low, high)]), row=r, col=1)
        fig.update_yaxes(title_text=title, title_font_size=11, row=r, col=1)
    fig.update_xaxes(title_text="epoch", row=3, col=1)
    add_cursor(fig, cursor_epoch(epochs, epoch), subplot_axis_names(3))
    unified_epoch_hover(fig, 3)
    return finish(fig, click="epoch")


def neuron_scale_types_over_epochs(data: dict[str, np.ndarray], epoch: int | None = None) -> go.Figure:
    """How many neurons have each scale type ("flat", "smooth blobs", "mixed", "fine plaid")
    over epochs, stacked. Summary: cursor, click epoch."""
    epochs = np.asarray(data["epochs"])
    codes = np.asarray(data["scale_type"])                                 # [n_epochs, d_mlp]
    counts = {name: (codes == code).sum(axis=1) for code, name in enumerate(SCALE_TYPES)}
    fig = go.Figure(layout=base_layout("Neuron map scale types", "epoch", "neurons (count)",
                                       captions.scale_types_caption(epochs, counts)))
    for code, (name, color) in enumerate(zip(SCALE_TYPES, SCALE_TYPE_COLORS)):
        fig.add_trace(epoch_line(epochs, (codes == code).sum(axis=1), name, color, fmt="d").update(
            stackgroup="types", line=dict(width=0.5)))
    add_cursor(fig, cursor_epoch(epochs, epoch))
    unified_epoch_hover(fig)
    return finish(fig, click="epoch")
