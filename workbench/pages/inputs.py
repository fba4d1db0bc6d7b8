"""Inputs: what does the model compute for *this* input, and when did it learn it?"""
from __future__ import annotations

import numpy as np
from dash import Input, Output, html

from workbench import derived, probes
from workbench.analyzers.predictions import hardest_in_probe
from workbench.errors import MissingError, UserError
from workbench.pages._common import FigurePage, FigureSpec, catalog_figure, ref_of
from workbench.renderers import CATALOG
from workbench.vocabulary import key_frequencies as keys_of_mask

PATH, NAME = "/inputs", "Inputs"


def probe_mask(store, ref, selection) -> np.ndarray | None:
    """The selected probe's inputs, bool [p*p]; None for the full grid (or a probe since deleted)."""
    definition = store.probes(ref).get(selection.get("probe") or "")
    return probes.probe_mask(definition, store.info(ref)["spec"]) if definition else None


def chosen_input(store, ref, selection) -> int:
    """The selected input, or else the hardest input of the probe."""
    if selection.get("input") is not None:
        return int(selection["input"])
    return hardest_in_probe(store.cached_series(ref, "input_graduation"), probe_mask(store, ref, selection))


def selected_input(_store, _ref, selection):
    return selection.get("input")


def key_frequencies(store, ref, _selection) -> np.ndarray:
    """The final model's key frequencies (progress_measures), none when not analyzed."""
    try:
        return keys_of_mask(store.cached_series(ref, "progress_measures")["key_mask"][-1])
    except MissingError:
        return np.array([], int)


def trace_figure(name: str, **options):
    """A builder for a renderer of one input's trace (`workbench.derived.input_trace`)."""
    def build(store, ref, selection):
        trace = derived.input_trace(store, ref, chosen_input(store, ref, selection))
        fig = CATALOG[name](trace, selection.get("epoch"), **{k: v(store, ref, selection) for k, v in options.items()})
        if selection.get("input") is None:
            fig.layout.meta = {**fig.layout.meta, "caption": "No input selected: showing the hardest one. "
                               + fig.layout.meta["caption"]}
        return fig
    build.click = CATALOG[name].click
    return build


FIGURES = FigurePage("inputs", [
    FigureSpec("grid", "The p×p grid by graduation epoch (click an input)", catalog_figure(
        "graduation_grid", probe=probe_mask, selected=selected_input), summary=False, height=600),
    FigureSpec("attribution", "Selected input: logit attribution and rank over epochs",
               trace_figure("input_attribution"), depends=("input", "probe"), height=600),
    FigureSpec("fraction", "Inputs graduated over training", catalog_figure("graduated_fraction", probe=probe_mask),
               depends=("probe",)),
    FigureSpec("frequencies", "Selected input: correct logit by frequency",
               trace_figure("input_frequencies", key_frequencies=key_frequencies), depends=("input", "probe")),
    FigureSpec("residue", "Accuracy by answer residue", catalog_figure("residue_accuracy", probe=probe_mask),
               depends=("probe",)),
    FigureSpec("hardest", "Hardest inputs (click one)", catalog_figure(
        "hardest_inputs", probe=probe_mask, selected=selected_input), depends=("probe", "input")),
    FigureSpec("spikes", "Loss spikes by input (click one)", catalog_figure("loss_spikes", probe=probe_mask),
               depends=("probe",), width=12),
])


def layout(store, config, **_variables):
    return FIGURES.layout("Every input of the grid through training: when it is learned for good (graduates), "
                          "which answers come first, and for one input, which components produce its answer. Train "
                          "inputs are blue, test inputs orange; the sidebar's probe narrows every view.", config,
                          controls=[html.P(id="inputs-probe", className="small")])


def describe_probe(store, selection) -> str:
    """One line naming the probe in force and how many train and test inputs it holds."""
    ref = ref_of(selection)
    if ref is None:
        return ""
    try:
        mask = probe_mask(store, ref, selection or {})
        train = probes.train_mask(store.info(ref)["spec"])
    except UserError as err:
        return f"Cannot use this probe: {err}"
    if mask is None:
        return (f"Showing the full grid: {train.sum()} train and {(~train).sum()} test inputs. "
                f"Narrow it with a probe: `workbench probe add {ref} NAME --rule \"a < b\"`.")
    definition = store.probes(ref)[selection["probe"]]
    return (f"Probe {selection['probe']!r} ({probes.describe(definition)}): {(mask & train).sum()} train and "
            f"{(mask & ~train).sum()} test inputs.")


def register(app, store) -> None:
    FIGURES.register(app, store)
    app.callback(Output("inputs-probe", "children"), Input("selection", "data"))(
        lambda selection: describe_probe(store, selection))
