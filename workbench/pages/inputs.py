"""Inputs: what does the model compute for *this* input, and when did it learn it?"""
from __future__ import annotations

import dash
import numpy as np
from dash import Input, Output, html

from workbench import probes
from workbench.app import store
from workbench.pages._common import FigureSpec, catalog_figure, page_layout, ref_of, register_figures, series
from workbench.store import MissingError, StoreError

dash.register_page(__name__, path="/inputs", name="Inputs", order=7)


def probe_mask(ref, selection) -> np.ndarray | None:
    """The selected probe's inputs, bool [p*p]; None for the full grid (or a probe since deleted)."""
    definition = store().probes(ref).get(selection.get("probe") or "")
    return probes.probe_mask(definition, store().info(ref)["spec"]) if definition else None


def chosen_input(ref, selection) -> int:
    """The selected input, or else the hardest input of the probe."""
    if selection.get("input") is not None:
        return int(selection["input"])
    hardest = series(ref, "input_graduation")["hardest"]
    mask = probe_mask(ref, selection)
    inside = hardest if mask is None else hardest[mask[hardest]]
    if not len(inside):
        raise ValueError(f"probe {selection.get('probe')!r} holds no inputs; pick another in the sidebar")
    return int(inside[0])


def selected_input(_ref, selection):
    return selection.get("input")


def key_frequencies(ref, _selection) -> np.ndarray:
    """The final model's key frequencies (progress_measures), none when not analyzed."""
    try:
        return np.flatnonzero(series(ref, "progress_measures")["key_mask"][-1]) + 1
    except MissingError:
        return np.array([], int)


def trace_figure(name: str, **options):
    """A builder for a renderer of one input's trace (`workbench.derived.input_trace`)."""
    def build(ref, selection):
        from workbench import derived
        from workbench.renderers import CATALOG
        trace = derived.input_trace(store(), ref, chosen_input(ref, selection))
        fig = CATALOG[name](trace, selection.get("epoch"), **{k: v(ref, selection) for k, v in options.items()})
        if selection.get("input") is None:
            fig.layout.meta = {**fig.layout.meta, "caption": "No input selected: showing the hardest one. "
                               + fig.layout.meta["caption"]}
        return fig
    return build


SPECS = [
    FigureSpec("grid", "The p×p grid by graduation epoch (click an input)", catalog_figure(
        "graduation_grid", probe=probe_mask, selected=selected_input), summary=False, click="input", height=600),
    FigureSpec("attribution", "Selected input: logit attribution and rank over epochs",
               trace_figure("input_attribution"), depends=("input", "probe"), height=600),
    FigureSpec("fraction", "Inputs graduated over training", catalog_figure("graduated_fraction", probe=probe_mask),
               depends=("probe",)),
    FigureSpec("frequencies", "Selected input: correct logit by frequency",
               trace_figure("input_frequencies", key_frequencies=key_frequencies), depends=("input", "probe")),
    FigureSpec("residue", "Accuracy by answer residue", catalog_figure("residue_accuracy", probe=probe_mask),
               depends=("probe",)),
    FigureSpec("hardest", "Hardest inputs (click one)", catalog_figure(
        "hardest_inputs", probe=probe_mask, selected=selected_input), click="input", depends=("probe", "input")),
    FigureSpec("spikes", "Loss spikes by input (click one)", catalog_figure("loss_spikes", probe=probe_mask),
               click="input", depends=("probe",), width=12),
]


def layout(**_query):
    return page_layout("inputs", SPECS, "Every input of the grid through training: when it is learned for good "
                       "(graduates), which answers come first, and for one input, which components produce its "
                       "answer. Train inputs are blue, test inputs orange; the sidebar's probe narrows every view.",
                       controls=[html.P(id="inputs-probe", className="small")])


@dash.callback(Output("inputs-probe", "children"), Input("selection", "data"))
def describe_probe(selection):
    """One line naming the probe in force and how many train and test inputs it holds."""
    ref = ref_of(selection)
    if ref is None:
        return ""
    try:
        mask = probe_mask(ref, selection or {})
        spec = store().info(ref)["spec"]
        train = probes.train_mask(spec)
    except (StoreError, ValueError) as err:
        return f"Cannot use this probe: {err}"
    if mask is None:
        return (f"Showing the full grid: {train.sum()} train and {(~train).sum()} test inputs. "
                f"Narrow it with a probe: `workbench probe add {ref} NAME --rule \"a < b\"`.")
    definition = store().probes(ref)[selection["probe"]]
    return (f"Probe {selection['probe']!r} ({probes.describe(definition)}): {(mask & train).sum()} train and "
            f"{(mask & ~train).sum()} test inputs.")


register_figures("inputs", SPECS)
