"""Send a figure as what changed since the browser last got it.

A page keeps, beside its figures, a dcc.Store with the fingerprints of what each figure shows
(`prints`): one short hash per key of each trace and per key of the layout, one level deeper
for the layout's dicts (axes, title, meta). `update(figure, before)` compares a freshly built
figure with those and answers with the least that brings the browser's copy up to date:

- `dash.no_update` when nothing changed (a figure that does not depend on what moved);
- a `dash.Patch` of the parts that changed (a heatmap's z, a title, tick labels), never the
  theme, the colour scale or the rest of the layout;
- the whole figure when the browser has none yet or its traces changed in number or type.

Plotly then redraws the figure from its new data without laying it out again. The cursor of a
summary figure moves by `renderers.cursor.move_cursor`, not through here. Dash drops an answer
that a newer call of the same callback overtook, so the prints in the store always describe
the figure on the page.
"""
from __future__ import annotations

import hashlib
from typing import Any

import dash
import numpy as np

DIGEST_BYTES = 8


def _feed(h, value: Any) -> None:
    if isinstance(value, dict):
        h.update(b"{")
        for key in sorted(value, key=str):
            h.update(str(key).encode() + b":")
            _feed(h, value[key])
        h.update(b"}")
    elif isinstance(value, (list, tuple)):
        h.update(b"[")
        for item in value:
            _feed(h, item)
            h.update(b",")
        h.update(b"]")
    elif isinstance(value, np.ndarray):
        h.update(f"<{value.dtype.str}{value.shape}>".encode())
        h.update(np.ascontiguousarray(value).tobytes())
    else:
        h.update(f"{type(value).__name__}:{value!r}".encode())


def digest(value: Any) -> str:
    """A short hash of a JSON-like value (dicts, lists, NumPy arrays, scalars)."""
    h = hashlib.blake2b(digest_size=DIGEST_BYTES)
    _feed(h, value)
    return h.hexdigest()


def prints(figure: dict) -> dict:
    """{"data": [{key: hash} per trace], "layout": {key: hash, or {sub-key: hash} for a dict}}."""
    layout = {key: ({sub: digest(v) for sub, v in value.items()} if isinstance(value, dict) else digest(value))
              for key, value in figure.get("layout", {}).items()}
    return {"data": [{key: digest(value) for key, value in trace.items()} for trace in figure.get("data", [])],
            "layout": layout}


def _kinds(figure_prints: dict) -> list:
    return [trace.get("type") for trace in figure_prints.get("data", [])]


def _patch_dict(patch, new: dict, old_prints: dict, new_prints: dict) -> bool:
    """Set the keys of `new` whose prints differ in `patch`, delete the keys gone; True if any."""
    changed = False
    for key, print_ in new_prints.items():
        before = old_prints.get(key)
        if before == print_:
            continue
        if isinstance(print_, dict) and isinstance(before, dict):
            changed |= _patch_dict(patch[key], new[key], before, print_)
        else:
            patch[key] = new[key]
            changed = True
    for key in old_prints.keys() - new_prints.keys():
        del patch[key]
        changed = True
    return changed


def update(figure: dict, before: dict | None) -> tuple[Any, dict]:
    """(what to send for `figure`, its prints) given the prints of what the browser shows."""
    now = prints(figure)
    if not isinstance(before, dict) or _kinds(before) != _kinds(now) or not isinstance(before.get("layout"), dict):
        return figure, now
    patch, changed = dash.Patch(), False
    for i, (trace, old, new) in enumerate(zip(figure["data"], before.get("data", []), now["data"])):
        changed |= _patch_dict(patch["data"][i], trace, old, new)
    changed |= _patch_dict(patch["layout"], figure.get("layout", {}), before["layout"], now["layout"])
    return (patch if changed else dash.no_update), now
