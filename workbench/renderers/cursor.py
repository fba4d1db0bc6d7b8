"""The cursor and click contract shared by every renderer, the app's pages and the tests (see the
package docstring). The one module that draws, moves and reads cursors and clicks:

- `add_cursor` draws the current epoch as a vertical line named "cursor" on each x-axis of a
  summary figure; `finish` moves those shapes to the front of `layout.shapes` and records
  `meta = {"caption", "click", "cursor_shapes"}`.
- `move_cursor` moves them in a `dash.Patch` (or in a figure dict) without re-rendering, each by
  its own offset where a figure aligns several runs; `move_rings` moves the rings that mark the
  epoch on a path (a trajectory) in a figure dict.
- `clicked_id` reads the selected id (epoch, frequency, neuron, head or input) out of Dash
  `clickData`; `clicked` turns it into the selection change a click makes - of the kind the
  figure's catalog entry declares (`Renderer.click`), never anything else: a click on a bar at
  k = 22 selects frequency 22, not epoch 22.
- `epoch_index` / `at_epoch` pick one epoch's row out of a series artifact.

Which checkpoint an epoch means is one rule, `workbench.selection.snap`: the nearest (ties to the
earlier). The selection snaps a typed or clicked epoch with it, and a series read at an epoch
gives the analyzed epoch it snaps to, so summaries, details and the slider always agree.
"""
from __future__ import annotations

from typing import Any, Iterable

import numpy as np
import plotly.graph_objects as go

from workbench.renderers.theme import COLORS, tidy_log_ticks
from workbench.selection import INT_FIELDS, as_int, snap

CURSOR_NAME = "cursor"
CLICK_KINDS = (None, "epoch", "frequency", "neuron", "head", "input")  # what a click on a figure selects


def last_epoch(epochs) -> int:
    return int(np.asarray(epochs)[-1])


def cursor_epoch(epochs, epoch: int | None) -> int:
    """The epoch the cursor marks: `epoch`, or the last of `epochs` when it is None."""
    return last_epoch(epochs) if epoch is None else int(epoch)


def epoch_index(epochs, epoch: int | None) -> int:
    """Row of `epochs` (sorted, not empty) showing the model at `epoch`: the epoch it snaps to
    (`selection.snap`: the nearest, ties to the earlier), the last row for None."""
    epochs = np.asarray(epochs)
    if epoch is None:
        return len(epochs) - 1
    return int(np.searchsorted(epochs, snap(epoch, epochs.tolist())))


def at_epoch(data: dict[str, np.ndarray], epoch: int | None) -> tuple[dict[str, np.ndarray], int | None]:
    """One epoch's arrays out of an artifact, and the epoch they belong to.

    A series artifact (has "epochs" [n_epochs]) gives every array with that leading axis
    sliced at `epoch_index`; arrays without it (series scalars) come back as they are. A
    per-epoch artifact (no "epochs") is already one epoch: returned unchanged with `epoch`."""
    if "epochs" not in data:
        return dict(data), epoch
    epochs = np.asarray(data["epochs"])
    i = epoch_index(epochs, epoch)
    n = len(epochs)
    row = {key: (value[i] if np.ndim(value) >= 1 and np.shape(value)[0] == n else value)
           for key, value in data.items() if key != "epochs"}
    return row, int(epochs[i])


def add_cursor(fig: go.Figure, epoch: int, axes: Iterable[tuple[str, str]] = (("x", "y"),), *,
               color: str = COLORS["cursor"]) -> None:
    """A vertical line at `epoch` on each (x-axis, y-axis) pair, spanning the subplot's height
    (yref "paper" for a single plot, "<y> domain" for subplots). Pass a light `color` over heatmaps."""
    axes = list(axes)
    for x_axis, y_axis in axes:
        fig.add_shape(type="line", xref=x_axis, yref="paper" if len(axes) == 1 else f"{y_axis} domain",
                      x0=epoch, x1=epoch, y0=0, y1=1, name=CURSOR_NAME, layer="above",
                      line=dict(color=color, width=1.5, dash="dot"))


def finish(fig: go.Figure, *, click: str | None = None, caption: str | None = None) -> go.Figure:
    """Put the cursor shapes first in `layout.shapes` and record the contract in `layout.meta`:
    {"caption": ..., "click": click, "cursor_shapes": number of cursor shapes}. (Every renderer
    ends here: its log axes get readable ticks too, `theme.tidy_log_ticks`.)"""
    if click not in CLICK_KINDS:
        raise ValueError(f"click must be one of {CLICK_KINDS}, got {click!r}")
    tidy_log_ticks(fig)
    shapes = list(fig.layout.shapes)
    cursors = [s for s in shapes if s.name == CURSOR_NAME]
    if cursors:
        fig.layout.shapes = cursors + [s for s in shapes if s.name != CURSOR_NAME]
    meta = dict(fig.layout.meta or {})
    if caption is not None:
        meta["caption"] = caption
    meta.update(click=click, cursor_shapes=len(cursors))
    meta.setdefault("caption", "")
    fig.layout.meta = meta
    return fig


def move_cursor(target: Any, epoch: int, n_shapes: int, offsets: Iterable[int] = ()) -> Any:
    """Move the first `n_shapes` shapes (the cursors) to `epoch` - each minus its offset, if
    `offsets` are given (runs aligned on their own onsets) - in a `dash.Patch()` or in a figure
    dict (`fig.to_dict()`, or the `figure` property Dash hands a callback). Returns it."""
    offsets = list(offsets) or [0] * n_shapes
    for i in range(n_shapes):
        target["layout"]["shapes"][i]["x0"] = epoch - offsets[i]
        target["layout"]["shapes"][i]["x1"] = epoch - offsets[i]
    return target


def move_rings(figure: dict, rings: list[dict], epoch: int, title: list[str] | None = None) -> dict:
    """A copy of a path figure (dict) with each ring - a one-point trace marking the checkpoint of a
    path nearest `epoch` (`epoch_index`) - moved there: `rings` [{"trace", "epochs", "x", "y"}],
    the ring trace's index and its path's checkpoints and points; `title` [before, after] the
    epoch. What assets/cursor.js does in the browser on an epoch step."""
    data = list(figure["data"])
    for ring in rings:
        i = epoch_index(ring["epochs"], epoch)
        data[ring["trace"]] = {**data[ring["trace"]], "x": [ring["x"][i]], "y": [ring["y"][i]],
                               "customdata": [ring["epochs"][i]]}
    layout = dict(figure["layout"])
    if title:
        layout["title"] = {**layout.get("title", {}), "text": f"{title[0]}{int(epoch)}{title[1]}"}
    return {**figure, "data": data, "layout": layout}


def clicked_id(click_data: dict | None, x_fallback: bool = False) -> int | None:
    """The id a click selected, from Dash `clickData`: the customdata of the first clicked point
    that has one (a scalar in every renderer; a list's or a typed array's first element is
    accepted too), or with `x_fallback` its x (summary figures put epochs on x); None when
    nothing selectable was clicked. A client can send anything: ids are whole numbers ≥ 0."""
    points = click_data.get("points") if isinstance(click_data, dict) else None
    for point in points if isinstance(points, list) else []:
        if not isinstance(point, dict):
            continue
        data = point.get("customdata")
        if isinstance(data, (list, tuple)):
            data = data[0] if data else None
        elif isinstance(data, dict):             # a typed-array row serialized by the browser
            data = data.get("0")
        if data is None and x_fallback:
            data = point.get("x")
        try:
            value = as_int(round(float(data))) if data is not None else None
        except (TypeError, ValueError, OverflowError):
            value = None
        if value is not None:
            return value
    return None


def graph_click(kind: str | None) -> str:
    """`kind` as the app's graphs carry it in their ids (Dash ids hold no None): "none" for None."""
    if kind not in CLICK_KINDS:
        raise ValueError(f"click must be one of {CLICK_KINDS}, got {kind!r}")
    return kind or "none"


def clicked(kind: str | None, click_data: dict | None) -> dict:
    """The selection change a click on a figure makes: {kind: id} (kind "epoch", "frequency",
    "neuron", "head" or "input", as the figure declares), {} when it selects nothing ("none")
    or nothing selectable was clicked. Only epoch figures fall back to the point's x (their x
    is the epoch); any other kind reads the point's customdata or nothing."""
    if kind not in INT_FIELDS:
        return {}
    value = clicked_id(click_data, x_fallback=kind == "epoch")
    return {} if value is None else {kind: value}


def epoch_suffix(epoch: int | None) -> str:
    """" at epoch N" for titles, "" when the epoch is unknown."""
    return "" if epoch is None else f" at epoch {int(epoch)}"
