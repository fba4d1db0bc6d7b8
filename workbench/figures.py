"""Catalog figures read from a store: (figure name, variant, selection) → the `go.Figure` the app shows.

The one place that turns a renderer of `workbench.renderers.CATALOG` into a figure of a stored
variant: it loads what the renderer reads (history, an artifact series, per-input maps from
`workbench.derived`), passes the selection's epoch, neuron, head or input, and shades the run's
phases behind summary figures. The app's pages, the Python API (`wb.figure`), exports and report
pages all build through here, so a figure looks the same everywhere. Imports neither dash nor torch.
"""
from __future__ import annotations

import inspect

import plotly.graph_objects as go

from workbench import derived
from workbench.analyzers import OPTIONAL
from workbench.analyzers.dynamics import run_phases
from workbench.analyzers.predictions import restricted_to_probe
from workbench.errors import (BadInputError, MissingError, NoHistoryError, NoModelError, NotAnalyzedError,
                              NotTrainedError, UserError)
from workbench.renderers import CATALOG
from workbench.renderers.phases import add_phases
from workbench.renderers.theme import message_figure  # noqa: F401 (pages and exports use it from here)
from workbench.selection import snap
from workbench.store import Store, VariantRef


MARKED = ("frequency", "neuron")  # selections a renderer that takes them marks (the selected k, the neuron)


class FigureError(BadInputError):
    """A figure that does not exist or cannot be drawn from what was given; the message says why."""


def names() -> list[str]:
    """Every figure name (the renderer catalog), sorted."""
    return sorted(CATALOG)


def load(store: Store, ref: VariantRef, reads: str, selection: dict):
    """The data a catalog renderer reads: the history, an artifact series, or per-input data
    (maps at the selection's epoch; `input_trace` of the selection's input)."""
    if reads == "history":
        return store.cached_history(ref)
    if reads == "derived.input_trace":
        if selection.get("input") is None:
            raise FigureError("this figure traces one input: give input= (the pair index a * p + b)")
        return derived.input_trace(store, ref, int(selection["input"]))
    if reads.startswith("derived."):
        epoch = snap(selection.get("epoch"), store.checkpoint_epochs(ref))
        if epoch is None:
            raise NotTrainedError(f"variant {ref} has no checkpoints; train it first "
                                  f"(`workbench train {ref.family} ...`)", ref=ref)
        return getattr(derived, reads.split(".", 1)[1])(store, ref, epoch)
    return store.cached_series(ref, reads)


def build(store: Store, ref: VariantRef, name: str, selection: dict | None = None, **options) -> go.Figure:
    """Catalog figure `name` of `ref` for `selection` ({"epoch", "neuron", "head", "input"}; a
    missing epoch means the last). Raises MissingError (what to run) when its data is missing.
    A `probe` option (bool [p*p]) narrows what is drawn of per-input data, aggregates included."""
    if name not in CATALOG:
        raise FigureError(f"no figure named {name!r}; figures: {', '.join(names())}")
    entry, selection = CATALOG[name], selection or {}
    for key in entry.requires:
        options.setdefault(key, selection.get(key) or 0)
    parameters = inspect.signature(entry.render).parameters
    for key in MARKED:
        if key in parameters and key not in options and selection.get(key) is not None:
            options[key] = selection[key]
    if entry.reads == "history" and "checkpoints" in parameters:
        options.setdefault("checkpoints", store.checkpoint_epochs(ref))
    data = load(store, ref, entry.reads, selection)
    if entry.reads == "input_graduation":
        data = restricted_to_probe(data, options.get("probe"))
    figure = entry(data, selection.get("epoch"), **options)
    if entry.kind == "summary":
        figure = add_phases(figure, run_phases(store, ref))
    return figure


def missing_message(ref: VariantRef | None, err: UserError) -> go.Figure:
    """The message figure for `err`, by its kind: what is missing and the command that makes it."""
    if ref is None:
        return message_figure("No variant yet: run `workbench demo` or `workbench train <family>`")
    if isinstance(err, NoModelError):
        return message_figure(f"{ref} is an imported training log: no model, so nothing to analyze here.<br>"
                              "Its curves are on the Overview and Loss dynamics pages.")
    if isinstance(err, NoHistoryError):
        return message_figure(f"No training history: {ref} was imported from a file that held none,<br>"
                              "so there are no loss curves, phases or alerts (its analyses work as usual)")
    if isinstance(err, NotAnalyzedError) and err.analyzer in OPTIONAL:  # not run by default: how to ask for it
        return message_figure(f"Optional analysis not run yet: run  workbench analyze {ref} --analyzers {err.analyzer}")
    if isinstance(err, NotAnalyzedError):
        return message_figure(f"Not analyzed yet: run  workbench analyze {ref}")
    if isinstance(err, NotTrainedError):
        return message_figure(f"Not trained yet: run  workbench train {ref.family} ...")
    return message_figure(f"Cannot show this: {err}")


def safe_figure(ref: VariantRef | None, make) -> go.Figure:
    """`make()`, or the message saying what is missing or wrong when it raises one of the user's
    errors (`workbench.errors`). Anything else is a bug in a renderer or builder: it propagates
    (the app logs it and says so; an export fails loudly) instead of passing as missing data."""
    if ref is None:
        return missing_message(None, MissingError("no variant"))
    try:
        return make()
    except UserError as err:
        return missing_message(ref, err)


def is_missing(figure) -> bool:
    """True for a message figure standing in for missing data."""
    meta = figure["layout"].get("meta") if isinstance(figure, dict) else figure.layout.meta
    return bool(isinstance(meta, dict) and meta.get("missing"))
