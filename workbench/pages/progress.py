"""Progress measures (Nanda et al. 2023 §5): is the Fourier circuit forming before test loss falls?"""
from __future__ import annotations

from workbench.pages._common import FigurePage, FigureSpec, catalog_figure

PATH, NAME = "/progress", "Progress measures"

FIGURES = FigurePage("progress", [
    FigureSpec("losses", "Train, test, restricted and excluded loss", catalog_figure("progress_losses"), width=12),
    FigureSpec("gini", "Gini of the Fourier norms (W_E, W_L)", catalog_figure("gini")),
    FigureSpec("weights", "Sum of squared weights", catalog_figure("sum_squared_weights")),
    FigureSpec("weight-norms", "Weight norm per parameter", catalog_figure("weight_norms")),
    FigureSpec("grad-norms", "Gradient norm per parameter", catalog_figure("grad_norms")),
    FigureSpec("llc", "Local learning coefficient beside the loss (optional analyzer `llc`)",
               catalog_figure("llc_over_epochs"), width=8),
    FigureSpec("llc-chains", "SGLD chains behind the LLC at the epoch", catalog_figure("llc_chains"),
               summary=False, width=4),
])


def layout(store, config, **_variables):
    return FIGURES.layout("Restricted loss falls before test loss; excluded loss rises while train loss stays low; "
                          "weight norm falls through cleanup. The local learning coefficient (Lau et al. 2023) "
                          "rises through memorization and falls as the model groks.", config)


register = FIGURES.register
