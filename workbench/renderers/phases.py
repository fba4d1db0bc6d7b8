"""A run's phases (`workbench.phases.Phases`) drawn behind any summary figure (x = epoch).

`add_phases(fig, phases)` shades memorization, circuit formation, grokking and cleanup on every
x-axis that carries a cursor (labelling those wide enough to read), marks the test-loss peak
with a grey dotted line, and records the
phases in `layout.meta["phases"]`. The shapes are appended after the cursor shapes, so the
cursor contract (cursors first; pages move shapes[:cursor_shapes] with a Patch) still holds.
Over heatmaps the phases are drawn as boundary lines only, so the cells stay readable.
"""
from __future__ import annotations

import plotly.graph_objects as go

from workbench.phases import Phases
from workbench.renderers.theme import with_alpha

PHASE_COLORS = {"memorization": "#2563eb", "circuit formation": "#16a34a", "grokking": "#ea580c",
                "cleanup": "#9333ea"}
PHASE_SHAPE = "phase"
SHADE_ALPHA = 0.08
MIN_LABELLED = 0.08  # a phase narrower than this share of the run is shaded but not labelled (no overlaps)


def _label(text: str, color: str, position: str = "top center") -> dict:
    return dict(text=text, textposition=position, font=dict(size=10, color=color))


def add_phases(fig: go.Figure, phases: Phases | None) -> go.Figure:
    """Shade `phases` on each cursor's axes of a summary figure (no-op without phases or cursors)."""
    meta = dict(fig.layout.meta or {})
    n_cursors = int(meta.get("cursor_shapes", 0) or 0)
    if phases is None or not n_cursors:
        return fig
    over_heatmap = any(getattr(trace, "type", "") == "heatmap" for trace in fig.data)
    intervals = phases.intervals()
    extent = max(phases.last - phases.first, 1e-12)
    for i, cursor in enumerate(fig.layout.shapes[:n_cursors]):
        axes = dict(xref=cursor.xref, yref=cursor.yref, y0=0, y1=1, name=PHASE_SHAPE)
        for name, start, end in intervals:
            color = PHASE_COLORS[name]
            # the first phase's label starts at its left edge: centred, it would be cut at the axis
            position = "top left" if start <= phases.first else "top center"
            label = _label(name, color, position) if i == 0 and (end - start) >= MIN_LABELLED * extent else None
            if over_heatmap:  # the name runs down the boundary line, inside the plot (never clipped above it)
                fig.add_shape(type="line", x0=start, x1=start, layer="above", line=dict(color=color, width=1.5),
                              label=dict(text=name, textposition="end", textangle=90, yanchor="top", xanchor="left",
                                         font=dict(size=10, color="#f9fafb")) if label else None, **axes)
            else:
                fig.add_shape(type="rect", x0=start, x1=end, layer="below", line=dict(width=0),
                              fillcolor=with_alpha(color, SHADE_ALPHA), label=label, **axes)
        if phases.test_loss_peak is not None:
            fig.add_shape(type="line", x0=phases.test_loss_peak, x1=phases.test_loss_peak, layer="below",
                          line=dict(color="#6b7280", width=1, dash="dot"),
                          **axes)
    meta["phases"] = {name: [start, end] for name, start, end in intervals}
    fig.layout.meta = meta
    return fig
