"""Trajectories: how do the weights move through parameter space, and do they loop through grokking?"""
from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import html

from workbench.pages._common import FigurePage, FigureSpec, catalog_figure
from workbench.vocabulary import PARAMETER_GROUPS

PATH, NAME = "/trajectories", "Trajectories"


def group(_store, _ref, selection):
    return selection.get("group") or "all"


FIGURES = FigurePage("trajectories", [
    FigureSpec("paths", "Parameter path in the leading PCs (click a point)", catalog_figure(
        "trajectory_projections", group=group), summary=False, width=12, height=420),
    FigureSpec("velocity", "Speed through parameter space", catalog_figure("trajectory_velocity")),
    FigureSpec("variance", "Variance explained by PC1-3", catalog_figure("explained_variance"), summary=False),
    FigureSpec("path-3d", "Path through PC1-PC3", catalog_figure("trajectory_3d", group=group), summary=False,
               width=12, height=520),
    FigureSpec("essential-dynamics", "Essential dynamics: the outputs' path (click a point)",
               catalog_figure("essential_dynamics"), summary=False, width=12, height=420),
], controls={"group": ("trajectories-group", "value")})


def layout(store, config, **_variables):
    picker = html.Div(className="mb-2", children=[dbc.Label("parameter group", className="me-2"), dbc.RadioItems(
        id="trajectories-group", options=[{"label": g, "value": g} for g in PARAMETER_GROUPS], value="all",
        inline=True)])
    return FIGURES.layout("PCA of the flattened parameters across checkpoints; most runs draw a loop in the PC2/PC3 "
                          "plane through grokking. Essential dynamics (Hoogland et al. 2024) does the same for the "
                          "model's outputs.", config, controls=[picker])


register = FIGURES.register
