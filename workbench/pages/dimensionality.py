"""Dimensionality: how many directions does each weight matrix really use, and when does it compress?"""
from __future__ import annotations

import dash

from workbench.pages._common import FigureSpec, catalog_figure, page_layout, register_figures

dash.register_page(__name__, path="/dimensionality", name="Dimensionality", order=5)

SPECS = [
    FigureSpec("pr", "Participation ratio per matrix", catalog_figure("participation_ratio")),
    FigureSpec("gap", "Spectral gap per matrix", catalog_figure("spectral_gap")),
    FigureSpec("pr-heads", "Participation ratio per head", catalog_figure("participation_ratio", per_head=True)),
    FigureSpec("spectrum", "Singular values at the epoch", catalog_figure("singular_values"), summary=False),
]


def layout(**_query):
    return page_layout("dimensionality", SPECS, "Participation ratio (Σσ²)²/Σσ⁴ and the largest spectral gap: "
                       "the neuron-logit map W_L settles near rank 2 × the number of key frequencies.")


register_figures("dimensionality", SPECS)
