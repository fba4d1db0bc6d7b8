"""Neurons: how do MLP neurons organize into frequency clusters, and what does one neuron compute?"""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
import numpy as np
from dash import html

from workbench.pages._common import FigureSpec, catalog_figure, page_layout, register_figures, series
from workbench.renderers.cursor import at_epoch

dash.register_page(__name__, path="/neurons", name="Neurons", order=2)
CLUSTER_FVE = 0.85
DOWNSAMPLE_SIZE = 28


def frequencies(ref, _selection):
    return series(ref, "neuron_frequencies")


def downsample(_ref, selection):
    return DOWNSAMPLE_SIZE if selection.get("downsample") else None


def cluster_of_selected(ref, selection) -> np.ndarray:
    """Neurons in the selected neuron's frequency cluster at the epoch (strongest first), or the
    most frequency-selective neurons when it is in no cluster."""
    row, _ = at_epoch(series(ref, "neuron_frequencies"), selection.get("epoch"))
    neuron = min(int(selection.get("neuron") or 0), len(row["dominant_freq"]) - 1)
    same = (row["dominant_freq"] == row["dominant_freq"][neuron]) & (row["dominant_fve"] >= CLUSTER_FVE)
    members = np.flatnonzero(same) if row["dominant_fve"][neuron] >= CLUSTER_FVE else np.array([], int)
    if len(members) == 0:
        members = np.argsort(-row["dominant_fve"])[:64]
    return members[np.argsort(-row["dominant_fve"][members])]


def grid_page(_ref, selection):
    return max(0, int(selection.get("grid_page") or 1) - 1)


SPECS = [
    FigureSpec("clusters", "Neurons × frequencies at the epoch (click a neuron)", catalog_figure("neuron_clusters"),
               summary=False, click="neuron", width=12, height=380),
    FigureSpec("sizes", "Cluster sizes over epochs", catalog_figure("cluster_sizes")),
    FigureSpec("fve", "Selected neuron: FVE by frequency over epochs", catalog_figure("neuron_fve_over_epochs"),
               depends=("neuron",)),
    FigureSpec("heatmap", "Selected neuron: activation over (a, b)", catalog_figure(
        "neuron_heatmap", frequencies=frequencies, downsample=downsample), summary=False, height=460),
    FigureSpec("grid", "The selected neuron's cluster (click a neuron)", catalog_figure(
        "neuron_heatmap_grid", neurons=cluster_of_selected, frequencies=frequencies, page=grid_page,
        downsample=downsample), summary=False, click="neuron", height=620),
    FigureSpec("scale", "Spatial scale of neuron maps", catalog_figure("neuron_spatial_scale")),
    FigureSpec("scale-types", "Neurons per scale type", catalog_figure("neuron_scale_types")),
]
CONTROLS = {"downsample": ("neurons-downsample", "value"), "grid_page": ("neurons-grid-page", "value")}


def layout(**_query):
    controls = html.Div(className="d-flex gap-4 align-items-center mb-2", children=[
        dbc.Switch(id="neurons-downsample", label=f"show maps bilinearly down-sampled to {DOWNSAMPLE_SIZE}×"
                   f"{DOWNSAMPLE_SIZE} (coarse structure)", value=False),
        html.Div(className="d-flex align-items-center gap-2", children=[
            dbc.Label("cluster grid page", className="mb-0"),
            dbc.Input(id="neurons-grid-page", type="number", min=1, step=1, value=1, size="sm",
                      style={"width": "5rem"}, debounce=True)])])
    return page_layout("neurons", SPECS, "Each neuron's share of variance explained by each frequency (FVE); "
                       "a grokked model has most neurons in a few single-frequency clusters.", controls=[controls])


register_figures("neurons", SPECS, CONTROLS)
