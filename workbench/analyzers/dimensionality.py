"""Effective dimensionality of the weight matrices: spectra, participation ratio, spectral gap."""
from __future__ import annotations

import numpy as np

from workbench import fourier, spectra
from workbench.analyzers.registry import register
from workbench.vocabulary import MATRICES


def spectrum_summary(W: np.ndarray, name: str) -> dict[str, np.ndarray]:
    """Singular values σ (descending), participation ratio (Σσ²)²/Σσ⁴ and the spectral gap:
    the largest σ_i/σ_{i+1} in the leading half, with i (the size of the signal subspace)."""
    sigma = spectra.singular_values(W)
    ratio, index = spectra.spectral_gap(sigma)
    return {f"sigma.{name}": sigma.astype(np.float32),
            f"participation_ratio.{name}": np.asarray(spectra.participation_ratio(sigma), np.float32),
            f"spectral_gap.{name}": np.asarray(ratio, np.float32),
            f"gap_index.{name}": np.asarray(index, np.int16)}


@register("dimensionality", reference="participation ratio: Gao et al. 2017; W_L rank: Nanda et al. 2023")
def dimensionality(ctx):
    """Singular values, participation ratio and spectral gap of W_E, W_U, W_in, W_out, W_L and each head's W_Q/K/V/O."""
    out = {}
    for name, param in MATRICES.items():
        out.update(spectrum_summary(ctx.weights[param], name))
    out.update(spectrum_summary(fourier.neuron_logit_map(ctx.weights), "W_L"))
    return out
