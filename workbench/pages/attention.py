"""Attention: what does `=` attend to, do heads specialise in frequencies, smooth or fine structure?"""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import html

from workbench.pages._common import FigureSpec, catalog_figure, page_layout, register_figures, series

dash.register_page(__name__, path="/attention", name="Attention", order=3)


def stats(ref, _selection):
    return series(ref, "attention_heads")


def downsample(_ref, selection):
    return 28 if selection.get("downsample") else None


SPECS = [
    FigureSpec("badges", "Heads at the epoch", catalog_figure("head_badges"), summary=False, width=12, height=300),
    FigureSpec("patterns", "Attention from = to a and to b (click a head)", catalog_figure(
        "attention_patterns", stats=stats, downsample=downsample), summary=False, click="head", width=12, height=520),
    FigureSpec("specialization", "Head frequency specialization", catalog_figure("head_specialization")),
    FigureSpec("fve", "Head FVE by frequency at the epoch (click a head)", catalog_figure("head_fve"),
               summary=False, click="head"),
    FigureSpec("scale", "Spatial scale of head maps", catalog_figure("head_spatial_scale"), width=12, height=520),
]
CONTROLS = {"downsample": ("attention-downsample", "value")}


def layout(**_query):
    switch = html.Div(className="mb-2", children=[dbc.Switch(
        id="attention-downsample", label="show maps bilinearly down-sampled to 28×28", value=False)])
    return page_layout("attention", SPECS, "Attention from the `=` position to the two operands over the whole "
                       "grid: smooth blobs vs fine plaid, and which frequency each head follows.", controls=[switch])


register_figures("attention", SPECS, CONTROLS)
