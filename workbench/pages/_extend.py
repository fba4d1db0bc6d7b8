"""Append a live run's new points to the lines the browser shows, instead of drawing the figure again.

A summary figure whose every trace draws a history series as it is (`meta={"series": name}`) or
its checkpoints (`meta={"checkpoints_on": name}`) is *extendable*: `lines` lists its traces with
the last x each shows, and `appended` answers with a `dash.Patch` that extends each trace's x, y
and customdata by the points measured since. A Patch extends plain lists only, so such a figure
travels with plain lists (`as_plain_lists`), not packed arrays. Both read the figure as the
browser gets it (`_common.for_browser`, a dict). Whether the figure changed in any
other way is `live.data_stamp`'s second token (`FigurePage.summary` decides).
"""
from __future__ import annotations

import dash
import numpy as np

from workbench import live
from workbench.store import Store, VariantRef

MAX_APPENDED = 5000  # points appended to a live figure's lines at once; more: it is drawn again


def lines(figure: dict) -> list | None:
    """[[trace index, "series" | "checkpoints_on", series name, last x shown], ...] when every
    trace of the figure draws a history series as it is (or its checkpoints), so a live run's new
    points can be appended to it; None otherwise."""
    traces = []
    for i, trace in enumerate(figure.get("data", [])):
        meta = trace.get("meta")
        kind = next((k for k in ("series", "checkpoints_on") if isinstance(meta, dict) and meta.get(k)), None)
        if kind is None:
            return None
        x = trace.get("x")
        last = x[-1] if x is not None and len(x) else None
        traces.append([i, kind, meta[kind], last.item() if isinstance(last, np.generic) else last])
    return traces or None


def as_plain_lists(figure: dict) -> dict:
    """`figure` with the x, y and customdata of the traces `lines` lists as plain lists, NaN as
    None: a Patch appends to those, not to packed arrays. Other figures are left as they are."""
    for index, *_ in lines(figure) or ():
        trace = figure["data"][index]
        for key in ("x", "y", "customdata"):
            if isinstance(trace.get(key), np.ndarray):
                trace[key] = [None if isinstance(v, float) and v != v else v for v in trace[key].tolist()]
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
