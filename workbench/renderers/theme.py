"""The look every renderer shares: colors, fonts, colorscales, figure size and the base layout.

Change a color here and every figure, in the app and in notebooks, follows. Colors name the
quantity, not the figure: train is always `COLORS["train"]`, a key frequency always
`COLORS["key"]`, frequency k always `frequency_color(k, n_freq)`.
"""
from __future__ import annotations

import numpy as np
import plotly.colors
import plotly.graph_objects as go
import plotly.io as pio

COLORS = {
    "train": "#2563eb",        # blue
    "test": "#ea580c",         # orange
    "restricted": "#16a34a",   # green: loss with only the key frequencies kept
    "excluded": "#9333ea",     # purple: loss with the key frequencies removed
    "key": "#db2777",          # a key frequency (bars, row outlines, markers)
    "other": "#9ca3af",        # everything that is not key / not selected
    "cursor": "#111827",       # the current-epoch line
    "cursor_on_dark": "#f9fafb",  # the same over heatmaps
    "current": "#dc2626",      # the current-epoch marker on trajectories
    "selected": "#f59e0b",     # the selected frequency or neuron (amber: visible on Viridis and white)
    "checkpoint": "#6b7280",   # checkpoint markers on the loss curves
    "lr": "#0d9488",
    "grid": "#e5e7eb",
}

# Scale types of `workbench.vocabulary.SCALE_TYPES` ("flat", "smooth blobs",
# "mixed", "fine plaid"), in that order.
SCALE_TYPE_COLORS = ("#d1d5db", "#0ea5e9", "#a3a3a3", "#f97316")

# One color per attention head, per weight matrix, per trajectory group (qualitative, stable).
QUALITATIVE = plotly.colors.qualitative.D3
MATRIX_COLORS = {"W_E": "#1f77b4", "W_U": "#ff7f0e", "W_in": "#2ca02c", "W_out": "#d62728",
                 "W_L": "#9467bd", "W_Q": "#8c564b", "W_K": "#e377c2", "W_V": "#7f7f7f", "W_O": "#17becf"}
GROUP_COLORS = {"all": "#111827", "embedding": "#1f77b4", "attention": "#8c564b",
                "mlp": "#2ca02c", "unembedding": "#ff7f0e"}

# Frequencies k = 1..(p-1)/2 sit on a circle (k and p-k are the same rotation), so the
# frequency colorscale is cyclic. Phase keeps every hue mid-lightness: readable on white.
FREQUENCY_COLORSCALE = plotly.colors.cyclical.Phase
MAGNITUDE_COLORSCALE = "Viridis"   # norms, FVE, activations, attention: 0 = dark
EPOCH_COLORSCALE = "Plasma"        # points colored by epoch (trajectories)

FONT = dict(family="Inter, system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif",
            size=13, color="#1f2937")
HEIGHT = 380                        # default figure height in px (width follows the container)
MARGIN = dict(l=64, r=24, t=84, b=52)   # top: the title, then the legend's row above the plot
TITLE_HEIGHT = 15                   # px of the title's font; the legend sits below it, never on it

# plotly_white, with numbers as researchers write them on y axes (1e−4, not SI's "100µ") and
# axis titles a size below the tick labels' neighbours so long ones fit beside the plot.
TEMPLATE = go.layout.Template(pio.templates["plotly_white"])
TEMPLATE.layout.yaxis.exponentformat = "e"
TEMPLATE.layout.yaxis.title.font.size = 12
TEMPLATE.layout.xaxis.title.font.size = 12
TEMPLATE.layout.scene.xaxis.exponentformat = TEMPLATE.layout.scene.yaxis.exponentformat = \
    TEMPLATE.layout.scene.zaxis.exponentformat = "e"
UIREVISION = "keep"                 # zoom and legend toggles survive figure updates


SIDE_LEGEND = dict(orientation="v", y=1.0, yanchor="top", x=1.02, xanchor="left")  # for many lines


def head_color(head: int) -> str:
    return QUALITATIVE[int(head) % len(QUALITATIVE)]


def frequency_color(k: int, n_freq: int) -> str:
    """Color of frequency k (1-based) among n_freq = (p-1)/2, from the cyclic frequency scale."""
    position = ((int(k) - 1) % max(n_freq, 1)) / max(n_freq, 1)
    return plotly.colors.sample_colorscale(
        plotly.colors.make_colorscale(FREQUENCY_COLORSCALE), [position])[0]


def with_alpha(color: str, alpha: float) -> str:
    """`color` ("#rrggbb" or "rgb(r, g, b)") as an rgba() string with opacity alpha (bands)."""
    r, g, b = (plotly.colors.hex_to_rgb(color) if color.startswith("#")
               else plotly.colors.unlabel_rgb(color))
    return f"rgba({int(r)}, {int(g)}, {int(b)}, {alpha})"


def base_layout(title: str, x_title: str, y_title: str, caption: str, *, height: int | None = None,
                width: int | None = None, log_y: bool = False, log_x: bool = False,
                showlegend: bool = True, hovermode: str = "closest") -> dict:
    """Layout shared by every figure: title, axis titles (with units), font, size, margins,
    white template, `uirevision` and `meta` = {"caption", "click": None, "cursor_shapes": 0}
    (renderers that select or have a cursor overwrite click/cursor_shapes via `cursor.finish`).
    Use as `go.Figure(layout=base_layout(...))`."""
    layout = dict(
        template=TEMPLATE,
        # The title at the top of the figure, the legend in its own row under it (above the plot).
        title=dict(text=title, x=0.0, xanchor="left", xref="paper", y=1.0, yref="container", yanchor="top",
                   pad=dict(t=8), font=dict(size=TITLE_HEIGHT)),
        xaxis=dict(title=dict(text=x_title), type="log" if log_x else None, zeroline=False),
        # at most ~6 labels on a log axis: over less than a decade plotly labels every digit, overlapping
        yaxis=dict(title=dict(text=y_title), type="log" if log_y else None, nticks=6 if log_y else None,
                   zeroline=False),
        font=FONT,
        height=height or HEIGHT,
        margin=MARGIN,
        showlegend=showlegend,
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="left", x=0.0, font=dict(size=11)),
        hovermode=hovermode,
        hoverlabel=dict(font=dict(family=FONT["family"], size=12)),
        uirevision=UIREVISION,
        meta={"caption": caption, "click": None, "cursor_shapes": 0},
    )
    if width:
        layout["width"] = width
    return layout


def subplot_axis_names(n: int) -> list[tuple[str, str]]:
    """("x", "y"), ("x2", "y2"), ... : the axis ids of the first n subplots of `make_subplots`."""
    return [("x", "y") if i == 0 else (f"x{i + 1}", f"y{i + 1}") for i in range(n)]


def tidy_log_ticks(fig: go.Figure) -> None:
    """Label each log y axis that spans less than three decades of data at 1, 2 and 5 of every
    decade: there plotly labels every digit (... 7 8 9), and near a decade's top they run into
    each other (`nticks` does not stop it)."""
    for axis in fig.select_yaxes():
        if axis.type != "log" or axis.dtick is not None:
            continue
        ident = "y" + axis.plotly_name[len("yaxis"):]
        values = [np.asarray(t.y, dtype=np.float64) for t in fig.data
                  if getattr(t, "y", None) is not None and (getattr(t, "yaxis", None) or "y") == ident]
        values = np.concatenate(values) if values else np.array([])
        values = values[np.isfinite(values) & (values > 0)]
        if values.size and np.log10(values.max() / values.min()) < 3:
            axis.dtick = "D2"


def finite_or_none(values) -> np.ndarray:
    """float64 copy of values with ±inf turned into NaN (plotly draws NaN as a gap)."""
    out = np.asarray(values, dtype=np.float64).copy()
    out[~np.isfinite(out)] = np.nan
    return out


def message_figure(text: str) -> go.Figure:
    """A blank figure that says why it is blank (what is missing, what to run); meta "missing".
    Without a template: a message needs none, and plotly's default is 7 kB more per figure sent
    (a page's placeholders are message figures)."""
    fig = go.Figure(layout={"template": go.layout.Template()})
    fig.add_annotation(text=text, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       font={"size": 14, "color": "#6c757d"})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(height=260, meta={"caption": "", "missing": True}, margin={"l": 10, "r": 10, "t": 10, "b": 10})
    return fig
