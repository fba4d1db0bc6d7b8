"""The selection (variant, epoch, frequency, neuron, head, input, probe, compared variants, the
Compare page's modes) and its mirror in the URL query.

The selection lives in the browser: a `dcc.Store` that one callback keeps in step with the URL
(`?variant=family/id&epoch=1500&neuron=17&head=2&input=481&probe=below&compare=family/id2`), the
sidebar controls and clicks on figures. `frequency` is a 1-based k (a click on a frequency axis);
`input` is a pair index a * p + b; `probe` names one of the variant's probes. `compare` lists the
variants shown beside the selected one; `align`, `cursors` and `side` are the Compare page's
overlay alignment, side-by-side cursor mode and side-by-side figure (absent = the defaults).
A copied link reopens the same state; back/forward replay it; two tabs never share it.
"""
from __future__ import annotations

import bisect
from urllib.parse import parse_qs, quote, unquote_plus, urlencode

FIELDS = ("variant", "epoch", "frequency", "neuron", "head", "input", "probe", "compare", "align", "cursors", "side")
INT_FIELDS = ("epoch", "frequency", "neuron", "head", "input")
OPTIONAL_FIELDS = ("frequency", "input", "probe", "align", "cursors", "side")  # absent unless chosen
MAX_COMPARED = 6  # variants shown together: the selected one and up to five compared with it


def parse_query(search: str | None) -> dict:
    """`?variant=a/b&epoch=12` -> {"variant": "a/b", "epoch": 12}; malformed values are dropped."""
    values = parse_qs((search or "").lstrip("?"))
    selection = {}
    for key in FIELDS:
        if key not in values:
            continue
        raw = values[key][-1]
        if key in INT_FIELDS:
            value = as_int(raw)
            if value is not None:
                selection[key] = value
        elif key == "compare":
            selection[key] = [unquote_plus(v) for v in _raw_value(search, key).split(",") if v][:MAX_COMPARED - 1]
        else:
            selection[key] = raw
    return selection


MAX_INT = 2**31 - 1   # no epoch, neuron or input index is larger; bigger numbers are mistakes


def sanitize(state) -> dict:
    """A selection as the app may trust it: known fields of the right type, anything else dropped
    (a client can send any JSON as a callback's state)."""
    if not isinstance(state, dict):
        return {}
    clean = {}
    for key in FIELDS:
        value = state.get(key)
        if key in INT_FIELDS:
            value = as_int(value)
        elif key == "compare":
            value = [v for v in value if isinstance(v, str)][:MAX_COMPARED - 1] if isinstance(value, list) else None
        elif not isinstance(value, str):
            value = None
        if value is not None:
            clean[key] = value
    return clean


def compared(selection: dict | None) -> list[str]:
    """The variants a selection shows together: the selected one first, then those it is compared
    with, each once (at most MAX_COMPARED)."""
    selection = selection if isinstance(selection, dict) else {}
    variants = [selection.get("variant"), *(selection.get("compare") or [])]
    return list(dict.fromkeys(v for v in variants if isinstance(v, str) and "/" in v))[:MAX_COMPARED]


def as_int(value) -> int | None:
    """A whole number in 0..MAX_INT from a URL, a control or a callback (which a client can forge),
    else None: `"12"`, `12.0` -> 12; `"-1"`, `"1e99"`, `"abc"`, `[1]`, `True`, nan -> None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        value = value.strip()
        if not value.isdigit() or len(value) > 12:
            return None
    try:
        number = float(value) if not isinstance(value, (int, str)) else int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if number != number or not 0 <= number <= MAX_INT or int(number) != number:
        return None
    return int(number)


def _raw_value(search: str | None, key: str) -> str:
    """The last `key=` value of a query as written (still percent-encoded)."""
    raw = ""
    for part in (search or "").lstrip("?").split("&"):
        name, _, value = part.partition("=")
        raw = value if unquote_plus(name) == key else raw
    return raw


def to_query(selection: dict) -> str:
    """The query string of a selection. The compared variants are one comma-separated value;
    a comma inside a variant id (e.g. `every=10x50,25x200`) is percent-encoded as %2C."""
    pairs = [(key, str(selection[key])) for key in FIELDS
             if key != "compare" and selection.get(key) is not None]
    query = urlencode(pairs, safe="/,=")
    if selection.get("compare"):
        query += ("&" if query else "") + "compare=" + ",".join(quote(v, safe="/=") for v in selection["compare"])
    return "?" + query if query else ""


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


def parse_pair(text: str | None, p: int) -> int | None:
    """`"4, 29"` (or `"4 29"`) -> the pair index 4 * p + 29; None when empty. ValueError says why not."""
    parts = (text or "").replace(",", " ").split()
    if not parts:
        return None
    try:
        a, b = (int(x) for x in parts)
    except ValueError:
        raise ValueError(f"input {text!r}: type two numbers a, b (e.g. 4, 29)") from None
    if not (0 <= a < p and 0 <= b < p):
        raise ValueError(f"input {text!r}: a and b must be in 0..{p - 1} for p = {p}")
    return a * p + b


def pair_text(pair: int | None, p: int) -> str:
    """The pair index as "a, b" (the input box's text); "" for None."""
    return "" if pair is None or not p else "{}, {}".format(*divmod(int(pair), p))
