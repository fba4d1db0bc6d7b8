"""Loss dynamics: one series with its trend, phases and alerts; its sliding periodogram and
autocorrelation; the spacing of its peaks per phase; its trend + oscillation decomposition; the
runs compared on one series; and the user's gates as a timeline.

Most figures read the dict of `workbench.oscillation.analyze` (x, y, trend, oscillation,
window_x, frequency, power, ...) of one series; x is the run's epoch (or step for a log indexed
by step), so every figure is a summary with the cursor contract and clicks select x.
Long series are drawn decimated (min and max of each bucket) and long runs have their windows
thinned: both are said in the figure's title.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench.renderers import captions
from workbench.renderers.cursor import add_cursor, cursor_epoch, finish
from workbench.renderers.phases import PHASE_COLORS, add_phases
from workbench.renderers.theme import COLORS, QUALITATIVE, base_layout, subplot_axis_names
from workbench.renderers.traces import decimate, epoch_line, unified_epoch_hover

MAX_POINTS = 4000
ALERT_COLOR = "#dc2626"
GATE_COLORS = {1: "#16a34a", 0: "#9ca3af", -1: "#dc2626"}
GATE_LABELS = {1: "passed", 0: "pending", -1: "failed"}


def _x_name(data) -> str:
    return data.get("x_name", "epoch")


def _sampling(data) -> str:
    notes = []
    if data.get("resampled"):
        notes.append(f"interpolated onto a uniform grid every {data['dx']:g}")
    if len(data["x"]) > MAX_POINTS:
        notes.append(f"drawn as min/max of {MAX_POINTS // 2} buckets of {len(data['x']):,} points")
    return f" ({'; '.join(notes)})" if notes else ""


def _windows(data) -> str:
    shown, total = data["windows_shown"], data["windows_total"]
    thinned = f", {shown} of {total} windows (adaptive stride)" if shown < total else f", {shown} windows"
    return f"windows of {data['window']} samples{thinned}"


def _scale_title(data, what: str) -> str:
    return f"log10 {what}" if data["scale"] == "log10" else what


def _value_at(x, y, at) -> float:
    return float(np.interp(at, x, y))


def series_figure(data: dict, epoch=None, *, name: str, alerts=(), phases=None) -> go.Figure:
    """The series, its trend (zero-phase low-pass) and every alert of the run as a marker on it
    (hover: the cause and the numbers). Summary: cursor, click epoch (alerts too)."""
    x, y = data["x"], data["y"]
    log = data["scale"] == "log10"
    fig = go.Figure(layout=base_layout(
        f"{name}<br><sup>{_sampling(data).strip(' ()') or 'every logged point'}</sup>", _x_name(data), f"{name}{' (log scale)' if log else ''}",
        "Shaded: the run's phases. Red markers: alerts (hover for the cause; click to go there).", log_y=log))
    fig.add_trace(epoch_line(x, y, name, COLORS["test"], max_points=MAX_POINTS, width=1.2))
    trend = 10 ** data["trend"] if log else data["trend"]
    fig.add_trace(epoch_line(x, trend, "trend (low-pass)", COLORS["cursor"], max_points=MAX_POINTS, dash="dash"))
    if alerts:
        at = np.asarray([a.epoch for a in alerts], dtype=np.float64)
        ys = np.asarray([_value_at(x, data["trend"], e) for e in at])
        fig.add_trace(go.Scatter(
            x=at, y=10 ** ys if log else ys, mode="markers", name="alerts", customdata=at.tolist(),
            text=[f"{a.kind} ({a.series})<br>{a.cause}" for a in alerts],
            marker=dict(color=ALERT_COLOR, size=11, symbol="triangle-down", line=dict(color="white", width=1)),
            hovertemplate="%{text}<br>at %{x:,}<extra>alert</extra>"))
    add_cursor(fig, cursor_epoch(x, epoch))
    unified_epoch_hover(fig)
    return add_phases(finish(fig, click="epoch"), phases)


def periodogram_figure(data: dict, epoch=None, *, phases=None) -> go.Figure:
    """Sliding periodogram of the oscillation: window position × frequency, log power; the
    dominant period of each window on top. Summary: cursor, click epoch."""
    unit = _x_name(data)
    fig = go.Figure(layout=base_layout(
        f"Sliding periodogram<br><sup>{_windows(data)}</sup>", f"{unit} (window centre)", f"frequency (cycles per {unit})",
        "A bright horizontal band is a steady period; a band that drifts is a period that changes with training."))
    if len(data["window_x"]):
        power = np.log10(np.maximum(data["power"], 1e-300)).T.astype(np.float32)
        fig.add_trace(go.Heatmap(
            x=data["window_x"], y=data["frequency"], z=power, colorscale="Viridis",
            colorbar=dict(title=dict(text="log10 power", side="right"), thickness=12),
            hovertemplate=f"{unit} %{{x:,}}<br>frequency %{{y:.4g}} (period %{{text}})<br>log10 power %{{z:.2f}}"
                          "<extra></extra>", text=np.broadcast_to(np.round(1 / data["frequency"], 2)[:, None],
                                                                  power.shape).astype(str)))
        fig.add_trace(go.Scatter(
            x=data["window_x"], y=1 / data["window_period"], mode="markers", name="dominant period",
            customdata=np.asarray(data["window_x"]).tolist(), text=np.round(data["window_period"], 2).astype(str),
            marker=dict(color="white", size=4, line=dict(color="black", width=0.5)),
            hovertemplate=f"dominant period %{{text}} {unit}s at %{{x:,}}<extra></extra>"))
    add_cursor(fig, cursor_epoch(data["x"], epoch), color=COLORS["cursor_on_dark"])
    return add_phases(finish(fig, click="epoch"), phases)


def autocorrelation_figure(data: dict, epoch=None, *, phases=None) -> go.Figure:
    """Autocorrelation of the oscillation in each window (lag × window position): stripes at
    multiples of a lag are a period. Summary: cursor, click epoch."""
    unit = _x_name(data)
    fig = go.Figure(layout=base_layout(
        f"Sliding autocorrelation<br><sup>{_windows(data)}</sup>", f"{unit} (window centre)", f"lag ({unit}s)",
        "Red stripes at lags T, 2T, ... mean a period T; a uniform color beyond lag 0 is noise."))
    if len(data["window_x"]):
        fig.add_trace(go.Heatmap(
            x=data["window_x"], y=data["lags"], z=data["autocorrelation"].T.astype(np.float32), colorscale="RdBu",
            reversescale=True, zmid=0, zmin=-1, zmax=1,
            colorbar=dict(title=dict(text="autocorrelation", side="right"), thickness=12),
            hovertemplate=f"{unit} %{{x:,}}<br>lag %{{y:g}}<br>autocorrelation %{{z:.2f}}<extra></extra>"))
    add_cursor(fig, cursor_epoch(data["x"], epoch), color=COLORS["cursor_on_dark"])
    return add_phases(finish(fig, click="epoch"), phases)


def phase_of(at: np.ndarray, phases) -> np.ndarray:
    """The phase name at each x ("before" / "after" outside the run's phases)."""
    names = np.full(len(at), "outside the phases", dtype=object)
    for name, start, end in (phases.intervals() if phases is not None else []):
        names[(at >= start) & (at <= end)] = name
    return names


def peak_spacing_figure(data: dict, epoch=None, *, phases=None) -> go.Figure:
    """Spacing between consecutive peaks of the oscillation: over training (left; click a peak
    to go there) and its distribution per phase (right; click a phase's bars to go to its
    start). Summary: cursor, click epoch."""
    unit = _x_name(data)
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, column_widths=[0.72, 0.28], horizontal_spacing=0.03)
    fig.update_layout(base_layout("Spacing between consecutive peaks", "", "", "A tight band is a steady period; "
                                  "a spread that changes between phases is a period that changes with training.",
                                  height=400))
    at, spacing = np.asarray(data["peak_x"]), np.asarray(data["spacing"])
    names = phase_of(at, phases)
    starts = {name: start for name, start, _ in (phases.intervals() if phases is not None else [])}
    bins = np.histogram_bin_edges(spacing, bins=min(40, max(5, len(spacing) // 10))) if len(spacing) else []
    for i, name in enumerate(dict.fromkeys(names)):
        color = PHASE_COLORS.get(name, QUALITATIVE[i % len(QUALITATIVE)])
        mine = names == name
        keep = decimate(spacing[mine], MAX_POINTS)
        fig.add_trace(go.Scattergl(x=at[mine][keep], y=spacing[mine][keep], mode="markers", name=name,
                                   legendgroup=name, customdata=at[mine][keep].tolist(),
                                   marker=dict(color=color, size=4),
                                   hovertemplate=f"peak at {unit} %{{x:,}}<br>spacing %{{y:g}}<extra>{name}</extra>"),
                      row=1, col=1)
        counts, edges = np.histogram(spacing[mine], bins=bins)
        start = starts.get(name, float(at[mine][0]))
        fig.add_trace(go.Bar(x=counts, y=(edges[:-1] + edges[1:]) / 2, orientation="h", name=name, legendgroup=name,
                             showlegend=False, marker=dict(color=color), opacity=0.6,
                             customdata=np.full(len(counts), start).tolist(),
                             hovertemplate=f"{name}: %{{x}} peaks with spacing ≈ %{{y:g}}<extra></extra>"),
                      row=1, col=2)
    fig.update_layout(barmode="overlay")
    fig.update_xaxes(title_text=f"{unit} of the peak", row=1, col=1)
    fig.update_xaxes(title_text="peaks (count)", row=1, col=2)
    fig.update_yaxes(title_text=f"spacing to the previous peak ({unit}s)", row=1, col=1)
    add_cursor(fig, cursor_epoch(data["x"], epoch), subplot_axis_names(1))
    return add_phases(finish(fig, click="epoch"), phases)


def decomposition_figure(data: dict, epoch=None, *, phases=None) -> go.Figure:
    """The series on its analysis scale with its trend (top) and the oscillation = series − trend
    (bottom); amplitude, structured share and dominant period in the title. Summary: two
    cursors, click epoch."""
    unit = _x_name(data)
    period = data["dominant_period"]
    title = (f"Trend + oscillation<br><sup>amplitude {data['amplitude']:.3g}, structured share "
             f"{data['structured_share']:.0%}" + (f", dominant period {period:.3g} {unit}s" if period else "") + "</sup>")
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.07, row_heights=[0.5, 0.5])
    fig.update_layout(base_layout(title.replace("</sup>", _sampling(data) + "</sup>"), "", "", captions.oscillation_caption(
        data["oscillation"], int(data["window"]), data["x"], float(data["structured_share"])), height=480))
    x = data["x"]
    fig.add_trace(epoch_line(x, data["y"] if data["scale"] == "linear" else np.log10(data["y"]), "series",
                             COLORS["test"], width=1, max_points=MAX_POINTS), row=1, col=1)
    fig.add_trace(epoch_line(x, data["trend"], "trend", COLORS["cursor"], max_points=MAX_POINTS), row=1, col=1)
    fig.add_trace(epoch_line(x, data["oscillation"], "oscillation", COLORS["excluded"], width=1,
                             max_points=MAX_POINTS), row=2, col=1)
    fig.update_yaxes(title_text=_scale_title(data, "value"), row=1, col=1)
    fig.update_yaxes(title_text=_scale_title(data, "oscillation"), row=2, col=1)
    fig.update_xaxes(title_text=unit, row=2, col=1)
    add_cursor(fig, cursor_epoch(x, epoch), subplot_axis_names(2))
    unified_epoch_hover(fig, 2)
    return add_phases(finish(fig, click="epoch"), phases)


def compared_runs_figure(data: list[dict], epoch=None, *, name: str) -> go.Figure:
    """One series of several runs on shared axes, each on its own x (its onset ringed).
    data: [{"label", "x", "y", "onset" (x or None)}]. Summary: cursor, click epoch."""
    log = all(len(d["y"]) and np.all(np.asarray(d["y"])[np.isfinite(d["y"])] > 0) for d in data)
    fig = go.Figure(layout=base_layout(f"{name}: compared runs", "epoch (or step)", name + (" (log scale)" if log else ""),
                                       "Each run on its own x; rings mark each run's grokking onset.", log_y=log))
    for i, run in enumerate(data):
        color = QUALITATIVE[i % len(QUALITATIVE)]
        fig.add_trace(epoch_line(run["x"], run["y"], run["label"], color, max_points=MAX_POINTS, width=1.5))
        if run.get("onset") is not None:
            fig.add_trace(go.Scatter(x=[run["onset"]], y=[_value_at(run["x"], run["y"], run["onset"])], mode="markers",
                                     customdata=[run["onset"]], name=f"{run['label']} onset", showlegend=False,
                                     marker=dict(size=13, color="rgba(0,0,0,0)", line=dict(color=color, width=2)),
                                     hovertemplate=f"{run['label']}: onset at %{{x:,}}<extra></extra>"))
    last = max((float(np.asarray(d["x"])[-1]) for d in data if len(d["x"])), default=0)
    add_cursor(fig, int(last) if epoch is None else int(epoch))
    return finish(fig, click="epoch")


def gate_timeline(results: list, epoch=None, *, phases=None, x_name: str = "epoch") -> go.Figure:
    """Each gate's status over the run (green passed, grey pending, red failed), one row per
    gate, from `workbench.gates.evaluate_all`. Summary: cursor, click epoch."""
    fig = go.Figure(layout=base_layout("Gates", x_name, "", "Green: the condition holds; grey: not yet, before its "
                                       "deadline; red: failed at or after its deadline.",
                                       height=max(200, 90 + 40 * len(results))))
    for status, color in GATE_COLORS.items():
        xs, ys, ids = [], [], []
        for result in results:
            row = f"{result.gate.text}  ({result.verdict})"
            mine = result.status == status
            edges = np.flatnonzero(np.diff(np.r_[0, mine.astype(np.int8), 0]))
            for start, stop in zip(edges[::2], edges[1::2]):
                segment = [result.x[start], result.x[stop - 1]]
                xs += segment + [None]
                ys += [row, row, None]
                ids += segment + [None]
        fig.add_trace(go.Scatter(x=xs, y=ys, customdata=ids, mode="lines+markers", name=GATE_LABELS[status],
                                 line=dict(color=color, width=10), marker=dict(color=color, size=10),
                                 hovertemplate=f"%{{y}}: {GATE_LABELS[status]} at {x_name} %{{x:,}}<extra></extra>"))
    last = max((float(r.x[-1]) for r in results if len(r.x)), default=0)
    add_cursor(fig, int(last) if epoch is None else int(epoch))
    fig.update_yaxes(autorange="reversed", title_text="")
    return add_phases(finish(fig, click="epoch"), phases)
