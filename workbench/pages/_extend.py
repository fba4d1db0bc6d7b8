"""Append a live run's new points to the lines the browser shows, instead of drawing the figure again.

A summary figure whose every trace draws a history series as it is (`meta={"series": name}`) or
its checkpoints (`meta={"checkpoints_on": name}`) is *extendable*: `lines` lists its traces with
the last x each shows, and `appended` answers with a `dash.Patch` that extends each trace's x, y
and customdata by the points measured since. A Patch extends plain lists only, so such a figure
travels with plain lists (`as_plain_lists`, from the figure as drawn), not packed arrays; `lines`
reads the figure as the browser gets it (`_common.for_browser`, a dict). Whether the figure changed in any
other way is `live.data_stamp`'s second token (`FigurePage.summary` decides).
"""
from __future__ import annotations

import dash
import numpy as np
import plotly.graph_objects as go

from workbench import live
from workbench.store import Store, VariantRef

MAX_APPENDED = 5000  # points appended to a live figure's lines at once; more: it is drawn again


def _kind(meta) -> str | None:
    return next((k for k in ("series", "checkpoints_on") if isinstance(meta, dict) and meta.get(k)), None)


def lines(figure: dict) -> list | None:
    """[[trace index, "series" | "checkpoints_on", series name, last x shown], ...] when every
    trace of the figure (as `as_plain_lists` left it) draws a history series as it is (or its
    checkpoints), so a live run's new points can be appended to it; None otherwise."""
    traces = figure.get("data", [])
    kinds = [_kind(trace.get("meta")) for trace in traces]
    if not traces or None in kinds:
        return None
    out = []
    for i, (trace, kind) in enumerate(zip(traces, kinds)):
        x = trace.get("x")
        if x is not None and not isinstance(x, (list, tuple)):
            return None  # a packed array: a Patch cannot extend it
        out.append([i, kind, trace["meta"][kind], x[-1] if x else None])
    return out


def as_plain_lists(built: go.Figure, figure: dict) -> dict:
    """`figure` (`built` as the browser gets it) with the x, y and customdata of every trace as
    plain lists, NaN as None, when `lines` can list them: a Patch appends to plain lists, not to
    packed arrays. Other figures are left as they are."""
    if not built.data or None in [_kind(trace.meta) for trace in built.data]:
        return figure
    for index, trace in enumerate(built.data):
        for key in ("x", "y", "customdata"):
            values = getattr(trace, key)
            if isinstance(values, np.ndarray):
                figure["data"][index][key] = [None if isinstance(v, float) and v != v else v for v in values.tolist()]
    return figure


def appended(store: Store, ref: VariantRef, traces: list) -> tuple[dash.Patch | None, list | None]:
    """The Patch appending a live run's new points to the lines `lines` listed, and the list
    updated; (None, None) when there are too many to append (draw the figure again)."""
    history, patch, updated, count = live.history(store, ref), dash.Patch(), [], 0
    epochs = store.checkpoint_epochs(ref)
    for index, kind, name, last in traces:
        if kind == "series":
            xs, ys = live.new_points(history, name, last)
        else:
            xs = [e for e in epochs if last is None or e > last]
            xs = [e for e in xs if name in history and len(history.x(name)) and e <= history.x(name)[-1]]
            ys = [history.value_at(name, e) for e in xs]
            ys = [y if np.isfinite(y) else None for y in ys]
        if xs:
            for key, values in (("x", xs), ("y", ys), ("customdata", xs)):
                patch["data"][index][key].extend(values)
            count += len(xs)
        updated.append([index, kind, name, xs[-1] if xs else last])
    return (patch, updated) if count <= MAX_APPENDED else (None, None)
