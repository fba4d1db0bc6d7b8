"""Parameter trajectories: the checkpoints' path through the top principal components.

Read `parameter_trajectory`: per group g in all / embedding / attention / mlp / unembedding,
`g.projection` [n_ckpt, 3] (PC1-3 coordinates), `g.explained_variance` [3], `g.velocity`
[n_ckpt - 1] (‖Δθ‖ / Δepoch between consecutive checkpoints), `g.path_length`,
`g.loop_area_ratio`, `g.crossing_epochs` [n_cross, 2] (start epochs of two crossing segments
in the PC2/PC3 plane), and `epochs` [n_ckpt].
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench.renderers import captions
from workbench.renderers.cursor import add_cursor, cursor_epoch, epoch_index, finish
from workbench.renderers.theme import COLORS, EPOCH_COLORSCALE, GROUP_COLORS, base_layout
from workbench.renderers.traces import epoch_line, unified_epoch_hover
from workbench.vocabulary import PARAMETER_GROUPS

GROUPS = tuple(PARAMETER_GROUPS)
PLANES = ((1, 2), (1, 3), (2, 3))
PATH_CAPTION = ("Look for where the path turns and where it slows (points bunch up); a loop in PC2/PC3, crossed "
                "segments marked ×, is a return near an earlier state.")


def _groups(data) -> list[str]:
    return [g for g in GROUPS if f"{g}.projection" in data]


def _crossing_points(projection, epochs, crossing_epochs, plane) -> np.ndarray:
    """Where the segments starting at each pair of crossing epochs meet in `plane`, [n, 2]."""
    i, j = plane[0] - 1, plane[1] - 1
    index = {int(e): n for n, e in enumerate(epochs)}
    points = []
    for e1, e2 in np.asarray(crossing_epochs).reshape(-1, 2):
        a, b = index[int(e1)], index[int(e2)]
        p, r = projection[a, [i, j]], projection[a + 1, [i, j]] - projection[a, [i, j]]
        q, s = projection[b, [i, j]], projection[b + 1, [i, j]] - projection[b, [i, j]]
        denom = r[0] * s[1] - r[1] * s[0]
        if denom:
            t = ((q[0] - p[0]) * s[1] - (q[1] - p[1]) * s[0]) / denom
            points.append(p + t * r)
    return np.asarray(points, dtype=np.float64).reshape(-1, 2)


def _path_traces(projection, epochs, current: int, plane, showscale: bool) -> list[go.Scatter]:
    i, j = plane[0] - 1, plane[1] - 1
    hover = f"epoch %{{customdata}}<br>PC{plane[0]} %{{x:.3g}} · PC{plane[1]} %{{y:.3g}}<extra></extra>"
    return [
        go.Scatter(x=projection[:, i], y=projection[:, j], mode="lines", line=dict(color=COLORS["other"], width=1),
                   hoverinfo="skip", showlegend=False),
        go.Scatter(x=projection[:, i], y=projection[:, j], mode="markers", name="checkpoints", customdata=epochs,
                   marker=dict(color=epochs, colorscale=EPOCH_COLORSCALE, size=7, showscale=showscale,
                               colorbar=dict(title=dict(text="epoch", side="right"), thickness=12)),
                   hovertemplate=hover, showlegend=False),
        go.Scatter(x=projection[[current], i], y=projection[[current], j], mode="markers", name="current epoch",
                   customdata=epochs[[current]], hovertemplate="current " + hover, showlegend=False,
                   marker=dict(size=15, color="rgba(0,0,0,0)", line=dict(color=COLORS["current"], width=3))),
    ]


def trajectory_projections(data: dict[str, np.ndarray], epoch: int | None = None, *, group: str = "all",
                           planes=PLANES, title: str = "Parameter trajectory ({group})",
                           caption: str = PATH_CAPTION) -> go.Figure:
    """The path of one parameter group (or of the outputs, group "outputs") in the PC1/PC2,
    PC1/PC3 and PC2/PC3 planes (or `planes`), points colored by epoch, the checkpoint nearest
    `epoch` ringed, PC2/PC3 self-crossings marked. customdata epoch, click epoch."""
    epochs = np.asarray(data["epochs"])
    projection = np.asarray(data[f"{group}.projection"], dtype=np.float64)
    ratio = np.asarray(data[f"{group}.explained_variance"], dtype=np.float64)
    current = epoch_index(epochs, epoch)
    planes = tuple(tuple(plane) for plane in planes)
    fig = make_subplots(rows=1, cols=len(planes), horizontal_spacing=0.08,
                        subplot_titles=[f"PC{a} / PC{b}" for a, b in planes])
    # the shared layout first: it blanks the first panel's axis titles, which are set below
    fig.update_layout(base_layout(f"{title.format(group=group)}, epoch {int(epochs[current])} ringed", "", "",
                                  caption, height=400, showlegend=False))
    for col, plane in enumerate(planes, start=1):
        for trace in _path_traces(projection, epochs, current, plane, showscale=col == len(planes)):
            fig.add_trace(trace, row=1, col=col)
        fig.update_xaxes(title_text=f"PC{plane[0]} ({ratio[plane[0] - 1]:.0%} of variance)", row=1, col=col)
        fig.update_yaxes(title_text=f"PC{plane[1]} ({ratio[plane[1] - 1]:.0%} of variance)", row=1, col=col)
    crossings = np.asarray(data.get(f"{group}.crossing_epochs", np.zeros((0, 2))))
    points = _crossing_points(projection, epochs, crossings, (2, 3))
    if len(points) and (2, 3) in planes:
        fig.add_trace(go.Scatter(
            x=points[:, 0], y=points[:, 1], mode="markers", name="self-crossing", showlegend=False,
            marker=dict(symbol="x", size=9, color=COLORS["cursor"]),
            text=[f"segments from epochs {a} and {b} cross" for a, b in crossings.reshape(-1, 2)],
            hovertemplate="%{text}<extra></extra>"), row=1, col=planes.index((2, 3)) + 1)
    return finish(fig, click="epoch")


def trajectory_3d(data: dict[str, np.ndarray], epoch: int | None = None, *, group: str = "all") -> go.Figure:
    """The path through PC1-PC3 in 3-D, line and points colored by epoch, current checkpoint
    marked. customdata epoch, click epoch."""
    epochs = np.asarray(data["epochs"])
    projection = np.asarray(data[f"{group}.projection"], dtype=np.float64)
    ratio = np.asarray(data[f"{group}.explained_variance"], dtype=np.float64)
    current = epoch_index(epochs, epoch)
    hover = "epoch %{customdata}<br>PC1 %{x:.3g} · PC2 %{y:.3g} · PC3 %{z:.3g}<extra></extra>"
    fig = go.Figure(layout=base_layout(f"Parameter trajectory ({group}) in 3-D", "", "", PATH_CAPTION,
                                       height=520, showlegend=False))
    fig.add_trace(go.Scatter3d(
        x=projection[:, 0], y=projection[:, 1], z=projection[:, 2], mode="lines+markers", customdata=epochs,
        line=dict(color=epochs, colorscale=EPOCH_COLORSCALE, width=4),
        marker=dict(size=3, color=epochs, colorscale=EPOCH_COLORSCALE, showscale=True,
                    colorbar=dict(title=dict(text="epoch", side="right"), thickness=12)),
        hovertemplate=hover, name="path"))
    fig.add_trace(go.Scatter3d(
        x=projection[[current], 0], y=projection[[current], 1], z=projection[[current], 2], mode="markers",
        customdata=epochs[[current]], hovertemplate="current " + hover, name="current epoch",
        marker=dict(size=8, color=COLORS["current"], symbol="circle-open")))
    fig.update_layout(scene=dict(**{f"{axis}axis": dict(title=dict(text=f"PC{n} ({ratio[n - 1]:.0%})",
                                                                    font=dict(size=11)),
                                                         nticks=4, tickfont=dict(size=9))
                                    for n, axis in enumerate("xyz", start=1)}, aspectmode="cube",
                                 camera=dict(eye=dict(x=1.6, y=1.6, z=1.1))),
                      scene_uirevision="keep", margin=dict(l=10, r=10, t=60, b=10))
    return finish(fig, click="epoch")


def explained_variance(data: dict[str, np.ndarray], epoch: int | None = None) -> go.Figure:
    """Share of each group's trajectory variance in PC1, PC2, PC3 (grouped bars). Not clickable."""
    fig = go.Figure(layout=base_layout(
        "Variance explained by the top principal components", "principal component",
        "explained variance (fraction)",
        "PC1–3 hold " + ", ".join(f"{float(np.sum(data[f'{group}.explained_variance'])):.0%} ({group})"
                                  for group in _groups(data)) + " of each group's path variance."))
    for group in _groups(data):
        ratio = np.asarray(data[f"{group}.explained_variance"], dtype=np.float64)
        fig.add_trace(go.Bar(x=[f"PC{n}" for n in range(1, len(ratio) + 1)], y=ratio, name=group,
                             marker_color=GROUP_COLORS.get(group),
                             hovertemplate=f"{group} · %{{x}}: %{{y:.1%}} of variance<extra></extra>"))
    fig.update_layout(barmode="group")
    fig.update_yaxes(tickformat=".0%")
    return finish(fig)


def trajectory_velocity(data: dict[str, np.ndarray], epoch: int | None = None, *, log_y: bool = True) -> go.Figure:
    """Speed through parameter space, ‖Δθ‖ / Δepoch, per group, plotted at the end of each
    checkpoint interval (log y). Summary: cursor, click epoch."""
    epochs = np.asarray(data["epochs"])
    fig = go.Figure(layout=base_layout(
        "Speed through parameter space", "epoch", f"‖Δθ‖ per epoch (L2 norm{', log scale' if log_y else ''})",
        captions.speed_caption(epochs[1:], data[f"{_groups(data)[0]}.velocity"]) if _groups(data) else "",
        log_y=log_y))
    for group in _groups(data):
        fig.add_trace(epoch_line(epochs[1:], data[f"{group}.velocity"], group, GROUP_COLORS.get(group, "#000"),
                                 fmt=".3g", mode="lines+markers",
                                 note=[f" (since epoch {e})" for e in epochs[:-1]]))
    add_cursor(fig, cursor_epoch(epochs, epoch))
    unified_epoch_hover(fig)
    return finish(fig, click="epoch")
