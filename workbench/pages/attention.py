"""Attention: what does `=` attend to, do heads specialise in frequencies, smooth or fine structure?"""
from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import html

from workbench.pages._common import FigurePage, FigureSpec, catalog_figure
from workbench.pages.neurons import DOWNSAMPLE_SIZE, downsample

PATH, NAME = "/attention", "Attention"


def stats(store, ref, _selection):
    return store.cached_series(ref, "attention_heads")


FIGURES = FigurePage("attention", [
    FigureSpec("badges", "Heads at the epoch", catalog_figure("head_badges"), summary=False, width=12, height=240),
    FigureSpec("patterns", "Attention from = to a and to b (click a head)", catalog_figure(
        "attention_patterns", stats=stats, downsample=downsample), summary=False, width=12, height=520),
    FigureSpec("specialization", "Head frequency specialization", catalog_figure("head_specialization")),
    FigureSpec("fve", "Head FVE by frequency at the epoch (click a head)", catalog_figure("head_fve"),
               summary=False),
    FigureSpec("scale", "Spatial scale of head maps", catalog_figure("head_spatial_scale"), width=12, height=520),
], controls={"downsample": ("attention-downsample", "value")})


def layout(store, config, **_variables):
    switch = html.Div(className="mb-2", children=[dbc.Switch(
        id="attention-downsample", label=f"show maps bilinearly down-sampled to {DOWNSAMPLE_SIZE}×{DOWNSAMPLE_SIZE}",
        value=False)])
    return FIGURES.layout("Attention from the `=` position to the two operands over the whole grid: smooth blobs vs "
                          "fine plaid, and which frequency each head follows.", config, controls=[switch])


register = FIGURES.register
