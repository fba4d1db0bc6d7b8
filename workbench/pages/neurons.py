"""Neurons: how do MLP neurons organize into frequency clusters, and what does one neuron compute?"""
from __future__ import annotations

import dash_bootstrap_components as dbc
import numpy as np
from dash import html

from workbench.analyzers.neurons import cluster_members, describe_cluster
from workbench.pages._common import FigurePage, FigureSpec, catalog_figure
from workbench.renderers.cursor import at_epoch

PATH, NAME = "/neurons", "Neurons"
DOWNSAMPLE_SIZE = 28


def frequencies(store, ref, _selection):
    return store.cached_series(ref, "neuron_frequencies")


def downsample(_store, _ref, selection):
    return DOWNSAMPLE_SIZE if selection.get("downsample") else None


def cluster_of_selected(store, ref, selection) -> np.ndarray:
    row, _ = at_epoch(frequencies(store, ref, selection), selection.get("epoch"))
    return cluster_members(row, selection.get("neuron") or 0)


def cluster_note(store, ref, selection) -> str:
    row, _ = at_epoch(frequencies(store, ref, selection), selection.get("epoch"))
    neuron = min(int(selection.get("neuron") or 0), len(row["dominant_freq"]) - 1)
    return describe_cluster(row, neuron, cluster_members(row, neuron))


def selected_neuron(_store, _ref, selection) -> int:
    return int(selection.get("neuron") or 0)


def grid_page(_store, _ref, selection):
    return max(0, int(selection.get("grid_page") or 1) - 1)


FIGURES = FigurePage("neurons", [
    FigureSpec("clusters", "Neurons × frequencies at the epoch (click a neuron)", catalog_figure("neuron_clusters"),
               summary=False, width=12, height=380),
    FigureSpec("sizes", "Cluster sizes over epochs", catalog_figure("cluster_sizes")),
    FigureSpec("fve", "Selected neuron: FVE by frequency over epochs", catalog_figure("neuron_fve_over_epochs"),
               depends=("neuron",)),
    FigureSpec("heatmap", "Selected neuron: activation over (a, b)", catalog_figure(
        "neuron_heatmap", frequencies=frequencies, downsample=downsample), summary=False, height=460),
    FigureSpec("grid", "The selected neuron's cluster (click a neuron)", catalog_figure(
        "neuron_heatmap_grid", neurons=cluster_of_selected, frequencies=frequencies, page=grid_page,
        downsample=downsample, about=cluster_note, selected=selected_neuron), summary=False, width=12, height=620,
        lazy=True),
    FigureSpec("scale", "Spatial scale of neuron maps", catalog_figure("neuron_spatial_scale"), lazy=True),
    FigureSpec("scale-types", "Neurons per scale type", catalog_figure("neuron_scale_types"), lazy=True),
], controls={"downsample": ("neurons-downsample", "value"), "grid_page": ("neurons-grid-page", "value")})


def layout(store, config, **_variables):
    controls = html.Div(className="d-flex gap-4 align-items-center mb-2", children=[
        dbc.Switch(id="neurons-downsample", label=f"show maps bilinearly down-sampled to {DOWNSAMPLE_SIZE}×"
                   f"{DOWNSAMPLE_SIZE} (coarse structure)", value=False),
        html.Div(className="d-flex align-items-center gap-2", children=[
            dbc.Label("cluster grid page", className="mb-0"),
            dbc.Input(id="neurons-grid-page", type="number", min=1, step=1, value=1, size="sm",
                      style={"width": "5rem"}, debounce=True)])])
    return FIGURES.layout("Each neuron's share of variance explained by each frequency (FVE); a grokked model has "
                          "most neurons in a few single-frequency clusters.", config, controls=[controls])


register = FIGURES.register
