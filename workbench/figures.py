"""Catalog figures read from a store: (figure name, variant, selection) → the `go.Figure` the app shows.

The one place that turns a renderer of `workbench.renderers.CATALOG` into a figure of a stored
variant: it loads what the renderer reads (history, an artifact series, per-input maps from
`workbench.derived`), passes the selection's epoch, neuron, head or input, and shades the run's
phases behind summary figures. The app's pages, the Python API (`wb.figure`), exports and report
pages all build through here, so a figure looks the same everywhere. Imports neither dash nor torch.
"""
from __future__ import annotations

import inspect
from functools import lru_cache

import plotly.graph_objects as go

from workbench.store import MissingError, Store, StoreError, VariantRef


class FigureError(StoreError):
    """A figure that does not exist or cannot be drawn from what was given; the message says why."""


def names() -> list[str]:
    """Every figure name (the renderer catalog), sorted."""
    from workbench.renderers import CATALOG
    return sorted(CATALOG)


def series(store: Store, ref: VariantRef, analyzer: str) -> dict:
    """An analyzer's stacked series, cached in memory until its file changes."""
    path = store.variant_dir(ref) / "artifacts" / analyzer / "series.safetensors"
    try:
        stamp = path.stat().st_mtime_ns
    except FileNotFoundError:
        stamp = None
    return _series(str(store.root), ref, analyzer, stamp)


@lru_cache(maxsize=64)
def _series(root, ref, analyzer, _stamp):
    return Store(root).load_artifact(ref, analyzer)


def history(store: Store, ref: VariantRef) -> dict:
    """The variant's training history, cached in memory until its file changes."""
    path = store.variant_dir(ref) / "history.safetensors"
    stamp = path.stat().st_mtime_ns if path.exists() else None
    return _history(str(store.root), ref, stamp)


@lru_cache(maxsize=16)
def _history(root, ref, _stamp):
    return Store(root).load_history(ref)


def run_phases(store: Store, ref: VariantRef):
    """The run's phases from its `loss_dynamics` artifact; None until it is analyzed."""
    from workbench.phases import Phases
    try:
        return Phases.from_arrays(series(store, ref, "loss_dynamics"))
    except (StoreError, KeyError):
        return None


def load(store: Store, ref: VariantRef, reads: str, selection: dict):
    """The data a catalog renderer reads: the history, an artifact series, or per-input data
    (maps at the selection's epoch; `input_trace` of the selection's input)."""
    if reads == "history":
        return history(store, ref)
    if reads == "derived.input_trace":
        from workbench import derived
        if selection.get("input") is None:
            raise FigureError("this figure traces one input: give input= (the pair index a * p + b)")
        return derived.input_trace(store, ref, int(selection["input"]))
    if reads.startswith("derived."):
        from workbench import derived
        from workbench.selection import snap
        epoch = snap(selection.get("epoch"), store.checkpoint_epochs(ref))
        if epoch is None:
            raise MissingError(f"variant {ref} has no checkpoints; train it first (`workbench train {ref.family} ...`)")
        return getattr(derived, reads.split(".", 1)[1])(store, ref, epoch)
    return series(store, ref, reads)


def build(store: Store, ref: VariantRef, name: str, selection: dict | None = None, **options) -> go.Figure:
    """Catalog figure `name` of `ref` for `selection` ({"epoch", "neuron", "head", "input"}; a
    missing epoch means the last). Raises StoreError (what to run) when its data is missing."""
    from workbench.renderers import CATALOG
    if name not in CATALOG:
        raise FigureError(f"no figure named {name!r}; figures: {', '.join(names())}")
    entry, selection = CATALOG[name], selection or {}
    for key in entry.requires:
        options.setdefault(key, selection.get(key) or 0)
    if entry.reads == "history" and "checkpoints" in inspect.signature(entry.render).parameters:
        options.setdefault("checkpoints", store.checkpoint_epochs(ref))
    figure = entry(load(store, ref, entry.reads, selection), selection.get("epoch"), **options)
    if entry.kind == "summary":
        from workbench.renderers.phases import add_phases
        figure = add_phases(figure, run_phases(store, ref))
    return figure


def message_figure(text: str) -> go.Figure:
    """A blank figure that says why it is blank (and what to run)."""
    fig = go.Figure()
    fig.add_annotation(text=text, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       font={"size": 14, "color": "#6c757d"})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(height=260, meta={"caption": "", "missing": True}, margin={"l": 10, "r": 10, "t": 10, "b": 10})
    return fig


def missing_message(ref: VariantRef | None, err: Exception) -> go.Figure:
    """The message figure for `err`: what is missing and the command that makes it."""
    if ref is None:
        return message_figure("No variant yet: run `workbench demo` or `workbench train <family>`")
    if isinstance(err, MissingError) and "artifact" in str(err):
        from workbench.analyzers import OPTIONAL
        optional = [name for name in OPTIONAL if f"no {name} artifact" in str(err)]
        if optional:  # not run by default: say how to ask for it
            return message_figure(f"Optional analysis not run yet: run  workbench analyze {ref} "
                                  f"--analyzers {optional[0]}")
        return message_figure(f"Not analyzed yet: run  workbench analyze {ref}")
    if isinstance(err, MissingError) and "history" in str(err):
        return message_figure(f"Not trained yet: run  workbench train {ref.family} ...")
    if isinstance(err, MissingError) and "no variant" in str(err):
        return message_figure(f"No variant {ref} in this data root (deleted or moved?)")
    return message_figure(f"Cannot show this: {err}")


def safe_figure(ref: VariantRef | None, make) -> go.Figure:
    """`make()` or the message saying what is missing; never a traceback in the browser."""
    if ref is None:
        return missing_message(None, MissingError("no variant"))
    try:
        return make()
    except (StoreError, KeyError, ValueError, IndexError) as err:
        return missing_message(ref, err)


def is_missing(figure) -> bool:
    """True for a message figure standing in for missing data."""
    meta = figure["layout"].get("meta") if isinstance(figure, dict) else figure.layout.meta
    return bool(isinstance(meta, dict) and meta.get("missing"))
