"""Fourier: which frequencies do the embedding, the unembedding and the neuron-logit map use?"""
from __future__ import annotations

from workbench.pages._common import FigurePage, FigureSpec, catalog_figure

PATH, NAME = "/fourier", "Fourier"

FIGURES = FigurePage("fourier", [
    FigureSpec("embed", "Embedding W_E over epochs", catalog_figure("embedding_fourier_over_epochs")),
    FigureSpec("embed-at", "Embedding W_E at the epoch", catalog_figure("embedding_fourier_norms"), summary=False),
    FigureSpec("unembed", "Unembedding W_U over epochs", catalog_figure("unembedding_fourier_over_epochs")),
    FigureSpec("unembed-at", "Unembedding W_U at the epoch", catalog_figure("unembedding_fourier_norms"), summary=False),
    FigureSpec("logit", "Neuron-logit map W_L = W_out·W_U over epochs", catalog_figure("logit_map_fourier_over_epochs")),
    FigureSpec("logit-at", "Neuron-logit map W_L at the epoch", catalog_figure("logit_map_fourier_norms"), summary=False),
])


def layout(store, config, **_variables):
    return FIGURES.layout("Norms of each weight matrix in the Fourier basis of Z_p: a grokked model concentrates "
                          "on a few key frequencies.", config)


register = FIGURES.register
