"""Attention heads: what `=` attends to over the grid, frequency specialization, spatial scale.

Read `attention_heads`: `fve` [n_epochs, 2 (to a, to b), n_freq, n_heads], `dominant_freq`,
`dominant_fve` [n_epochs, 2, n_heads] (1-based k), `mean_attention` [n_epochs, 3 (a, b, =),
n_heads], spatial metrics and `scale_type` [n_epochs, 2, n_heads], `epochs`. Pattern maps come
from `workbench.derived.attention_maps`: [2 (to a, to b), n_heads, p (a), p (b)].
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench.renderers import captions
from workbench.renderers.cursor import add_cursor, at_epoch, cursor_epoch, epoch_suffix, finish
from workbench.renderers.neurons import SPATIAL_METRICS
from workbench.renderers.theme import (MAGNITUDE_COLORSCALE, MARGIN, SIDE_LEGEND, base_layout, head_color,
                                       subplot_axis_names)
from workbench.renderers.traces import epoch_line, grid_heatmap, unified_epoch_hover
from workbench.vocabulary import SCALE_TYPES

KEYS = ("a", "b")                       # axis 1 of the per-key arrays: attention to a, to b
KEY_DASH = {"a": "solid", "b": "dash"}


def _head_title(head: int, key: int, row: dict | None) -> str:
    title = f"head {head} → {KEYS[key]}"
    if row is not None:
        title += f" · k={int(row['dominant_freq'][key, head])} · FVE {float(row['dominant_fve'][key, head]):.2f}"
    return title


def attention_patterns(maps: np.ndarray, epoch: int | None = None, *, downsample: int | None = None,
                       stats: dict[str, np.ndarray] | None = None) -> go.Figure:
    """Attention from `=` to a (top row) and to b (bottom row) over the (a, b) grid, one column
    per head, one shared color scale. `stats` (the attention_heads artifact) adds each map's
    dominant k and FVE to its title. customdata head, click head."""
    maps = np.asarray(maps)                                                 # [2, n_heads, p, p]
    n_heads = maps.shape[1]
    row = at_epoch(stats, epoch)[0] if stats is not None else None
    titles = [_head_title(h, key, row) for key in range(2) for h in range(n_heads)]
    fig = make_subplots(rows=2, cols=n_heads, subplot_titles=titles, horizontal_spacing=0.03,
                        vertical_spacing=0.12)
    note = ""
    for key in range(2):
        for head in range(n_heads):
            trace, note = grid_heatmap(maps[key, head], downsample=downsample, id_value=head,
                                       id_label=f"head {head} → {KEYS[key]}<br>", value_label="attention")
            fig.add_trace(trace.update(coloraxis="coloraxis", colorscale=None), row=key + 1, col=head + 1)
    fig.update_layout(base_layout(
        f"Attention from = to a and b{epoch_suffix(epoch)}", "", "",
        captions.heads_caption(row, n_heads, SCALE_TYPES),
        height=190 * 2 + 120, showlegend=False),
        coloraxis=dict(colorscale=MAGNITUDE_COLORSCALE, colorbar=dict(title=dict(text="attention", side="right"),
                                                                       thickness=12)))
    fig.update_annotations(font_size=11)
    for x_axis, y_axis in subplot_axis_names(2 * n_heads):
        fig.layout[y_axis.replace("y", "yaxis")].update(scaleanchor=x_axis, constrain="domain", showticklabels=False)
    fig.update_xaxes(showticklabels=False, constrain="domain")
    fig.update_xaxes(title_text=f"b{note}", row=2, col=1)
    fig.update_yaxes(title_text=f"a{note and ' (bilinear)'}", row=2, col=1)
    return finish(fig, click="head")


def head_fve_heatmap(data: dict[str, np.ndarray], epoch: int | None = None) -> go.Figure:
    """FVE by frequency k of each head's attention to a and to b at an epoch (rows "head h → a").
    customdata head, click head."""
    row, shown = at_epoch(data, epoch)
    fve = np.asarray(row["fve"], dtype=np.float32)                         # [2, n_freq, n_heads]
    n_freq, n_heads = fve.shape[1:]
    z = fve.transpose(2, 0, 1).reshape(2 * n_heads, n_freq)                 # rows: head 0 → a, head 0 → b, ...
    heads = np.repeat(np.arange(n_heads), 2)
    labels = [f"head {h} → {KEYS[key]}" for h in range(n_heads) for key in range(2)]
    fig = go.Figure(layout=base_layout(
        f"Head frequency specialization{epoch_suffix(shown)}", "frequency k", "head → key",
        "A specialized head puts most of its attention map's variance on one frequency.",
        height=140 + 26 * 2 * n_heads, showlegend=False))
    fig.add_trace(go.Heatmap(
        z=z, x=np.arange(1, n_freq + 1), y=labels, zmin=0, zmax=1, colorscale=MAGNITUDE_COLORSCALE,
        customdata=np.broadcast_to(heads[:, None], z.shape),
        colorbar=dict(title=dict(text="FVE", side="right"), thickness=12),
        hovertemplate="%{y} · k=%{x}<br>FVE %{z:.2f}<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    return finish(fig, click="head")


def head_specialization_over_epochs(data: dict[str, np.ndarray], epoch: int | None = None) -> go.Figure:
    """Dominant FVE of each head's attention to a (solid) and b (dashed) over epochs; hover names
    the dominant k. Summary: cursor, click epoch."""
    epochs = np.asarray(data["epochs"])
    fve = np.asarray(data["dominant_fve"], dtype=np.float64)               # [n_epochs, 2, n_heads]
    freq = np.asarray(data["dominant_freq"])
    fig = go.Figure(layout=base_layout(
        "Head frequency specialization over training", "epoch", "dominant FVE (fraction)",
        captions.specialization_caption(epochs, fve[:, 0, :])))
    for head in range(fve.shape[2]):
        for key, name in enumerate(KEYS):
            trace = epoch_line(epochs, fve[:, key, head], f"head {head} → {name}", head_color(head), fmt=".2f",
                               dash=KEY_DASH[name], legendgroup=f"head {head}",
                               note=[f" (k={k})" for k in freq[:, key, head]])
            fig.add_trace(trace)
    fig.update_yaxes(range=[0, 1.02])
    fig.update_layout(legend=SIDE_LEGEND)
    add_cursor(fig, cursor_epoch(epochs, epoch))
    unified_epoch_hover(fig)
    return finish(fig, click="epoch")


def head_spatial_scale_over_epochs(data: dict[str, np.ndarray], epoch: int | None = None) -> go.Figure:
    """Each head's spatial-scale metrics over epochs (to a solid, to b dashed), one row per
    metric on a shared epoch axis (three cursors). Summary, click epoch."""
    epochs = np.asarray(data["epochs"])
    n_heads = np.shape(data["scale_type"])[2]
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.05)
    fig.update_layout(base_layout("Spatial scale of attention maps", "", "",
                                  "Smooth blobs keep their variance when down-sampled; fine plaid does not.",
                                  height=580))
    for r, (metric, title) in enumerate(SPATIAL_METRICS.items(), start=1):
        values = np.asarray(data[metric], dtype=np.float64)                # [n_epochs, 2, n_heads]
        for head in range(n_heads):
            for key, name in enumerate(KEYS):
                fig.add_trace(epoch_line(epochs, values[:, key, head], f"head {head} → {name}", head_color(head),
                                         fmt=".3f", dash=KEY_DASH[name], legendgroup=f"{head}{name}",
                                         showlegend=r == 1, width=1.5), row=r, col=1)
        fig.update_yaxes(title_text=title, title_font_size=11, row=r, col=1)
    fig.update_xaxes(title_text="epoch", row=3, col=1)
    fig.update_layout(legend=SIDE_LEGEND)
    add_cursor(fig, cursor_epoch(epochs, epoch), subplot_axis_names(3))
    unified_epoch_hover(fig, 3)
    return finish(fig, click="epoch")


def head_badges(data: dict[str, np.ndarray], epoch: int | None = None) -> list[dict]:
    """Per head at an epoch: {"head", "key" ("a"/"b", whichever map is more specialized),
    "dominant_freq", "fve", "scale_type" (of that map), "by_key": {key: {dominant_freq, fve,
    scale_type}}, "mean_attention": {"a", "b", "="}} — plain data for badges in the app."""
    row, _ = at_epoch(data, epoch)
    freq, fve, scale = row["dominant_freq"], row["dominant_fve"], row["scale_type"]
    attention = row.get("mean_attention")
    badges = []
    for head in range(np.shape(freq)[1]):
        by_key = {name: {"dominant_freq": int(freq[key, head]), "fve": float(fve[key, head]),
                         "scale_type": SCALE_TYPES[int(scale[key, head])]} for key, name in enumerate(KEYS)}
        best = max(KEYS, key=lambda name: by_key[name]["fve"])
        badge = {"head": head, "key": best, **by_key[best], "by_key": by_key}
        if attention is not None:
            badge["mean_attention"] = {t: float(attention[i, head]) for i, t in enumerate(("a", "b", "="))}
        badges.append(badge)
    return badges


TABLE_ROW, TABLE_BOTTOM = 26, 12  # px


def _badges_caption(badges: list[dict]) -> str:
    """What the heads table shows for this run: the cleanest head, and why the → a and → b
    columns agree when no head attends to `=`."""
    if not badges:
        return "No heads."
    best = max(badges, key=lambda b: b["fve"])
    text = (f"Head {best['head']} follows one frequency most cleanly: k = {best['dominant_freq']} explains "
            f"{best['fve']:.0%} of its map's variance.")
    to_equals = [b["mean_attention"]["="] for b in badges if "mean_attention" in b]
    if to_equals and len(to_equals) == len(badges) and max(to_equals) < 0.005:
        text += (" No head attends to = (mean under 0.005), so each head's map to b is ≈ 1 − its map to a:"
                 " the → a and → b columns agree.")
    return text


def head_badges_table(data: dict[str, np.ndarray], epoch: int | None = None) -> go.Figure:
    """`head_badges` as a table: per head, dominant k, FVE and scale type of the maps to a and to
    b, and mean attention to a / b / =. Not clickable (tables carry no click events)."""
    badges = head_badges(data, epoch)
    shown = at_epoch(data, epoch)[1]
    columns = ["head"] + [f"→ {k}: {c}" for k in KEYS for c in ("k", "FVE", "scale")] + ["attention a / b / ="]
    cells = [[b["head"] for b in badges]]
    for key in KEYS:
        cells += [[b["by_key"][key]["dominant_freq"] for b in badges],
                  [f"{b['by_key'][key]['fve']:.2f}" for b in badges],
                  [b["by_key"][key]["scale_type"] for b in badges]]
    cells.append([" / ".join(f"{v:.2f}" for v in b["mean_attention"].values()) if "mean_attention" in b else ""
                  for b in badges])
    layout = base_layout(f"Heads{epoch_suffix(shown)}", "", "", _badges_caption(badges),
                         height=MARGIN["t"] + TABLE_BOTTOM + TABLE_ROW * (len(badges) + 1) + 8, showlegend=False)
    layout["margin"] = {**MARGIN, "b": TABLE_BOTTOM}  # no axis below: every row in view, none behind a scroll
    fig = go.Figure(layout=layout)
    fig.add_trace(go.Table(header=dict(values=columns, align="left", font=dict(size=12), height=TABLE_ROW),
                           cells=dict(values=cells, align="left", height=TABLE_ROW),
                           columnwidth=[0.5] + [1] * (len(columns) - 2) + [1.8]))  # the last on one line at 1280 px
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return finish(fig)
