"""Trajectories: how do the weights move through parameter space, and do they loop through grokking?"""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import html

from workbench.analyzers.trajectory import GROUPS
from workbench.pages._common import FigureSpec, catalog_figure, page_layout, register_figures


def group(_ref, selection):
    return selection.get("group") or "all"


dash.register_page(__name__, path="/trajectories", name="Trajectories", order=4)

SPECS = [
    FigureSpec("paths", "Parameter path in the leading PCs (click a point)", catalog_figure(
        "trajectory_projections", group=group), summary=False, width=12, height=420),
    FigureSpec("velocity", "Speed through parameter space", catalog_figure("trajectory_velocity")),
    FigureSpec("variance", "Variance explained by PC1-3", catalog_figure("explained_variance"), summary=False),
    FigureSpec("path-3d", "Path through PC1-PC3", catalog_figure("trajectory_3d", group=group), summary=False,
               width=12, height=520),
    FigureSpec("essential-dynamics", "Essential dynamics: the outputs' path (click a point)",
               catalog_figure("essential_dynamics"), summary=False, width=12, height=420),
]
CONTROLS = {"group": ("trajectories-group", "value")}


def layout(**_query):
    picker = html.Div(className="mb-2", children=[dbc.Label("parameter group", className="me-2"), dbc.RadioItems(
        id="trajectories-group", options=[{"label": g, "value": g} for g in GROUPS], value="all", inline=True)])
    return page_layout("trajectories", SPECS, "PCA of the flattened parameters across checkpoints; most runs draw "
                       "a loop in the PC2/PC3 plane through grokking. Essential dynamics (Hoogland et al. 2024) "
                       "does the same for the model's outputs.", controls=[picker])


register_figures("trajectories", SPECS, CONTROLS)
