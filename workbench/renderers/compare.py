"""Several variants on one set of axes: metric overlays and parameter paths in a shared PCA frame.

Same contract as every renderer (see the package docstring): pure, cursor shapes first,
`meta = {"caption", "click", "cursor_shapes"}`; every point's customdata is the epoch of *its
own* variant, so a click selects that epoch even when x is shifted. customdata is a plain list:
Dash's clickData drops customdata that plotly sent as a typed (base64) array.

Overlays read `data = {"variants": [{"variant": "family/id", "label": str, "onset": int | None,
"index": its place among the compared (its color), "lines": {line name: (epochs [n], values [n])}},
...], "missing": [labels of variants without the data]}` (the first variant is the selected one;
`workbench.compare.OVERLAY_METRICS[metric]` names the lines and the axes). With
`align="onset"`, each variant is drawn at x = epoch − its grokking onset (`workbench.compare.
grokking_onset`), so every onset sits at x = 0; the one epoch of the selection then falls at a
different x on each variant, so there is one cursor per variant, at epoch − onset, and
`meta["cursor_offsets"]` lists each cursor's onset (a page moves cursor i to epoch − offset i).
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench.compare import OVERLAY_METRICS
from workbench.renderers.cursor import add_cursor, epoch_index, finish
from workbench.renderers.theme import COLORS, QUALITATIVE, base_layout, finite_or_none
from workbench.renderers.traces import decimate

BOTTOM_LEGEND = dict(orientation="h", x=0, xanchor="left", y=-0.2, yanchor="top", font=dict(size=11))
MAX_POINTS = 2000  # per line; longer histories keep the min and max of each bucket (and the onset)
LINE_DASHES = ("solid", "dash", "dot", "dashdot")
OVERLAY_HEIGHT, TRAJECTORY_HEIGHT = 440, 460  # px (the page reserves them while the figures load)
PLANES = ((1, 2), (1, 3), (2, 3))


def variant_color(i: int) -> str:
    return QUALITATIVE[i % len(QUALITATIVE)]


def _line_trace(label, line, epochs, values, offset, color, dash, fmt, onset) -> go.Scatter:
    keep = decimate(values, MAX_POINTS)
    if onset is not None and 0 <= onset - epochs[0] < len(epochs):
        keep = np.union1d(keep, np.searchsorted(epochs, [onset]))
    epochs, values = np.asarray(epochs)[keep], finite_or_none(np.asarray(values)[keep])
    where = "epoch %{customdata}" + ("" if not offset else f" (onset {offset:+d} → x = %{{x}})")
    return go.Scatter(x=epochs - offset, y=values, customdata=epochs.tolist(), name=f"{label} · {line}", mode="lines",
                      legendgroup=label, line=dict(color=color, dash=dash, width=2),
                      hovertemplate=f"{label} · {line}: %{{y:{fmt}}}<br>{where}<extra></extra>")


def metric_overlay(data: dict, epoch: int | None = None, *, metric: str = "loss", align: str = "epoch") -> go.Figure:
    """One overlay metric for every variant on shared axes: color = variant, dash = line.
    align "epoch" (raw epochs, one cursor) or "onset" (x = epoch − onset; variants without an
    onset are left out and named in the title). Summary: cursor(s), click epoch."""
    if align not in ("epoch", "onset"):
        raise ValueError(f"align must be 'epoch' or 'onset', got {align!r}")
    spec = OVERLAY_METRICS[metric]
    aligned = align == "onset"
    drawn = [not aligned or v.get("onset") is not None for v in data["variants"]]
    left_out = [v["label"] for v, shown in zip(data["variants"], drawn) if not shown]
    title = spec.title + (" aligned on grokking onset" if aligned else "")
    if left_out:
        title += f" (no onset, not drawn: {', '.join(left_out)})"
    if data.get("missing"):
        why = "not logged" if all(reads == "history" for _, reads, _ in spec.lines) else "not analyzed"
        title += f" ({why}: {', '.join(data['missing'])})"
    x_title = "epochs since grokking onset (epoch − onset)" if aligned else "epoch"
    fig = go.Figure(layout=base_layout(title, x_title, spec.y_title, spec.caption, log_y=spec.log_y,
                                       height=OVERLAY_HEIGHT, hovermode="closest" if aligned else "x unified"))
    fig.update_layout(legend=BOTTOM_LEGEND, margin=dict(b=110))
    for i, variant in enumerate(data["variants"]):
        if not drawn[i]:
            continue
        offset = int(variant["onset"]) if aligned else 0
        for j, (line, (epochs, values)) in enumerate(variant["lines"].items()):
            color = variant_color(variant.get("index", i))
            fig.add_trace(_line_trace(variant["label"], line, np.asarray(epochs), values, offset, color,
                                      LINE_DASHES[j % len(LINE_DASHES)], spec.fmt, variant.get("onset")))
    if spec.fmt.endswith("%"):
        fig.update_yaxes(tickformat=".0%", range=[-0.02, 1.02])
    offsets = _add_cursors(fig, data["variants"], drawn, epoch, aligned)
    if aligned:
        fig.add_vline(x=0, line=dict(color=COLORS["other"], width=1), annotation_text="onset",
                      annotation_position="top left")
    else:
        _mark_onsets(fig, data["variants"])
    fig = finish(fig, click="epoch")
    fig.layout.meta = {**fig.layout.meta, "cursor_offsets": offsets}
    return fig


def _mark_onsets(fig, variants) -> None:
    """Raw epochs: each variant's grokking onset as a dotted line in its color, labelled with its
    name (the phase marker that tells where each one turned)."""
    for i, variant in enumerate(variants):
        if variant.get("onset") is None:
            continue
        color = variant_color(variant.get("index", i))
        fig.add_shape(type="line", xref="x", yref="paper", x0=variant["onset"], x1=variant["onset"], y0=0, y1=1,
                      name=f"onset {variant['label']}", layer="below", line=dict(color=color, width=1.5, dash="dot"),
                      label=dict(text=f"onset {variant['label']}", textposition="end", textangle=-90,
                                 font=dict(size=10, color=color), yanchor="top"))


def _add_cursors(fig, variants, drawn, epoch, aligned) -> list[int]:
    """Raw epochs: one cursor at `epoch`. Aligned: one per drawn variant at epoch − onset."""
    if epoch is None:
        lines = [line for v in variants for line in v["lines"].values()]
        epoch = int(np.asarray(lines[0][0])[-1]) if lines else 0
    if not aligned:
        add_cursor(fig, int(epoch))
        return [0]
    offsets = []
    for i, variant in enumerate(variants):
        if drawn[i]:
            add_cursor(fig, int(epoch) - int(variant["onset"]), color=variant_color(variant.get("index", i)))
            offsets.append(int(variant["onset"]))
    return offsets


def shared_trajectory_paths(data: dict, epoch: int | None = None, *, labels: list[str] | None = None) -> go.Figure:
    """Every variant's parameter (or output) path in one PCA basis fitted on all their checkpoints
    (`workbench.compare.shared_trajectory`), in the PC1/PC2, PC1/PC3 and PC2/PC3 planes: color =
    variant, the checkpoint nearest `epoch` ringed on each path. customdata epoch, click epoch."""
    labels = labels or data["variants"]
    ratio = np.asarray(data["explained_variance"], dtype=np.float64)
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.08,
                        subplot_titles=[f"PC{a} / PC{b}" for a, b in PLANES])
    shown = "" if epoch is None else f", epoch {int(epoch)} ringed"
    group = data.get("group", "all")
    what = "Output paths (essential dynamics)" if group == "outputs" else f"Parameter paths ({group} parameters)"
    fig.update_layout(base_layout(
        f"{what} in one PCA frame ({len(labels)} variants{shown})",
        "", "", "One basis fitted on every compared checkpoint: paths that run side by side took the same route; "
        "where they part, the variants found different solutions.", height=TRAJECTORY_HEIGHT))
    fig.update_layout(legend=BOTTOM_LEGEND, margin=dict(b=110))
    traces, cols, rings = [], [], []
    for i, (label, epochs, projection) in enumerate(zip(labels, data["epochs"], data["projection"])):
        epochs, projection = np.asarray(epochs), np.asarray(projection, dtype=np.float64)
        current, color = epoch_index(epochs, epoch), variant_color(i)
        for col, (a, b) in enumerate(PLANES, start=1):
            x, y = projection[:, a - 1], projection[:, b - 1]
            hover = f"{label} · epoch %{{customdata}}<br>PC{a} %{{x:.3g}} · PC{b} %{{y:.3g}}<extra></extra>"
            traces.append(go.Scatter(x=x, y=y, mode="lines+markers", customdata=epochs.tolist(), name=label,
                                     legendgroup=label, showlegend=col == 1, hovertemplate=hover,
                                     line=dict(color=color, width=1.5), marker=dict(color=color, size=6)))
            traces.append(go.Scatter(x=x[[current]], y=y[[current]], mode="markers", customdata=[int(epochs[current])],
                                     name=f"{label} now", legendgroup=label, showlegend=False,
                                     hovertemplate="current " + hover,
                                     marker=dict(size=15, color="rgba(0,0,0,0)", line=dict(color=color, width=3))))
            rings.append({"trace": len(traces) - 1, "epochs": epochs.tolist(), "x": x.tolist(), "y": y.tolist()})
            cols += [col, col]
    fig.add_traces(traces, rows=[1] * len(traces), cols=cols)
    for col, (a, b) in enumerate(PLANES, start=1):
        fig.update_xaxes(title_text=f"PC{a} ({ratio[a - 1]:.0%} of shared variance)", row=1, col=col)
        fig.update_yaxes(title_text=f"PC{b} ({ratio[b - 1]:.0%} of shared variance)", row=1, col=col)
    # Where the ring of the epoch can go, for a front end that moves it (`cursor.move_rings`: each
    # ring trace and its path's checkpoints and points), and the title around the epoch.
    fig.layout.meta = {**(fig.layout.meta or {}), "rings": rings,
                       "epoch_title": [f"{what} in one PCA frame ({len(labels)} variants, epoch ", " ringed)"]}
    return finish(fig, click="epoch")
