"""Dimensionality: how many directions does each weight matrix really use, and when does it compress?"""
from __future__ import annotations

from workbench.pages._common import FigurePage, FigureSpec, catalog_figure

PATH, NAME = "/dimensionality", "Dimensionality"

FIGURES = FigurePage("dimensionality", [
    FigureSpec("pr", "Participation ratio per matrix", catalog_figure("participation_ratio")),
    FigureSpec("gap", "Spectral gap per matrix", catalog_figure("spectral_gap")),
    FigureSpec("pr-heads", "Participation ratio per head", catalog_figure("participation_ratio", per_head=True)),
    FigureSpec("spectrum", "Singular values at the epoch", catalog_figure("singular_values"), summary=False),
])


def layout(store, config, **_variables):
    return FIGURES.layout("Participation ratio (Σσ²)²/Σσ⁴ and the largest spectral gap: the neuron-logit map W_L "
                          "settles near rank 2 × the number of key frequencies.", config)


register = FIGURES.register
