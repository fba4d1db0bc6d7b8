"""The selection (variant, epoch, neuron, head, compared variants) and its mirror in the URL query.

The selection lives in the browser: a `dcc.Store` that one callback keeps in step with the URL
(`?variant=family/id&epoch=1500&neuron=17&head=2&compare=family/id2,family/id3`), the sidebar
controls and clicks on figures. `compare` lists the variants shown beside the selected one.
A copied link reopens the same state; back/forward replay it; two tabs never share it.
"""
from __future__ import annotations

import bisect
from urllib.parse import parse_qs, urlencode

FIELDS = ("variant", "epoch", "neuron", "head", "compare")
INT_FIELDS = ("epoch", "neuron", "head")


def parse_query(search: str | None) -> dict:
    """`?variant=a/b&epoch=12` -> {"variant": "a/b", "epoch": 12}; malformed values are dropped."""
    values = parse_qs((search or "").lstrip("?"))
    selection = {}
    for key in FIELDS:
        if key not in values:
            continue
        raw = values[key][-1]
        if key in INT_FIELDS:
            try:
                selection[key] = int(raw)
            except ValueError:
                continue
        elif key == "compare":
            selection[key] = [v for v in raw.split(",") if v]
        else:
            selection[key] = raw
    return selection


def to_query(selection: dict) -> str:
    pairs = []
    for key in FIELDS:
        value = selection.get(key)
        if value is None or value == []:
            continue
        pairs.append((key, ",".join(value) if key == "compare" else str(value)))
    return "?" + urlencode(pairs, safe="/,=") if pairs else ""


def snap(epoch: int | float | None, epochs: list[int]) -> int | None:
    """The checkpoint epoch nearest to `epoch` (ties go to the earlier one)."""
    if not epochs:
        return None
    if epoch is None:
        return epochs[-1]
    i = bisect.bisect_left(epochs, epoch)
    candidates = epochs[max(0, i - 1): i + 1]
    return min(candidates, key=lambda e: (abs(e - epoch), e))


def step(epoch: int | None, epochs: list[int], delta: int) -> int | None:
    """The checkpoint `delta` places after (or before) `epoch`, clamped to the run."""
    if not epochs:
        return None
    i = epochs.index(snap(epoch, epochs))
    return epochs[min(max(i + delta, 0), len(epochs) - 1)]


def slider_marks(epochs: list[int], n_labels: int = 5) -> dict:
    """Every checkpoint is a stop; a few, evenly spaced in epochs, carry a label."""
    if not epochs:
        return {}
    spacing = (epochs[-1] - epochs[0]) / n_labels
    labelled, last = {epochs[-1]}, None
    for e in epochs:
        if (last is None or e - last >= spacing) and epochs[-1] - e >= spacing / 2:
            labelled.add(e)
            last = e
    return {e: (f"{e:,}" if e in labelled else "") for e in epochs}
