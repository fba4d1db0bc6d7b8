"""Append a live run's new points to the lines the browser shows, instead of drawing the figure again.

A summary figure whose every trace draws a history series as it is (`meta={"series": name}`) or
its checkpoints (`meta={"checkpoints_on": name}`) is *extendable*: `lines` lists its traces with
the last x each shows, and `appended` answers with a `dash.Patch` that extends each trace's x, y
and customdata by the points measured since. A Patch extends plain lists only, so such a figure
travels with plain lists (`as_plain_lists`), not packed arrays. Whether the figure changed in any
other way is `live.data_stamp`'s second token (`FigurePage.summary` decides).
"""
from __future__ import annotations

import dash
import numpy as np
import plotly.graph_objects as go

from workbench import live
from workbench.store import Store, VariantRef

MAX_APPENDED = 5000  # points appended to a live figure's lines at once; more: it is drawn again


def lines(figure: go.Figure) -> list | None:
    """[[trace index, "series" | "checkpoints_on", series name, last x shown], ...] when every
    trace of the figure draws a history series as it is (or its checkpoints), so a live run's new
    points can be appended to it; None otherwise."""
    traces = []
    for i, trace in enumerate(figure.data):
        meta = trace.meta
        kind = next((k for k in ("series", "checkpoints_on") if isinstance(meta, dict) and meta.get(k)), None)
        if kind is None:
            return None
        x = np.asarray(trace.x if trace.x is not None else [])
        traces.append([i, kind, meta[kind], x[-1].item() if len(x) else None])
    return traces or None


def as_plain_lists(figure: go.Figure, data: dict, traces: list | None) -> dict:
    """`data` (the figure as the browser gets it) with the x, y and customdata of the `traces`
    (`lines`) as plain lists, NaN as None: a Patch appends to those, not to packed arrays."""
    for index, *_ in traces or ():
        for key in ("x", "y", "customdata"):
            values = getattr(figure.data[index], key)
            if isinstance(values, np.ndarray):
                data["data"][index][key] = [None if isinstance(v, float) and v != v else v for v in values.tolist()]
    return data


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
