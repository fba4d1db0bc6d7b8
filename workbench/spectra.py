"""Singular-value spectra of weight matrices: effective rank and the size of the signal subspace.

Every function accepts a leading batch axis, so per-head weights such as W_Q [n_heads, d_model,
d_head] are handled in one call: singular values come back as [..., min(m, n)] and the scalar
summaries as [...]. Singular values are always sorted in descending order (σ_1 ≥ σ_2 ≥ ...).
Pure NumPy: no torch, no I/O.
"""
from __future__ import annotations

import numpy as np


def singular_values(W: np.ndarray) -> np.ndarray:
    """Singular values of W [..., m, n], descending, shape [..., min(m, n)] (float64)."""
    return np.linalg.svd(np.asarray(W, dtype=np.float64), compute_uv=False)


def participation_ratio(sigma: np.ndarray) -> np.ndarray | float:
    """Participation ratio (effective rank) of singular values σ [..., r] -> [...]:
        λ = σ²,  PR = (Σλ)² / Σλ²,
    between 1 (rank one) and r (flat spectrum). 0 for an all-zero spectrum. Gao et al. (2017),
    "A theory of multineuronal dimensionality"; REFERENCES.md (participation ratio)."""
    lam = np.asarray(sigma, dtype=np.float64) ** 2
    num = lam.sum(axis=-1) ** 2
    den = (lam ** 2).sum(axis=-1)
    pr = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
    return float(pr) if pr.ndim == 0 else pr


def marchenko_pastur_participation_ratio(m: int, n: int) -> float:
    """Expected participation ratio of an m x n matrix of i.i.d. Gaussian entries, m ≤ n
    (the matrix and its transpose have the same value, so the order of m, n does not matter):
        PR ≈ m / (1 + m/n)   (from E Σλ = mn, E Σλ² ≈ mn(m + n) under Marchenko–Pastur).
    128 x 512 -> 102.4: the "no structure" baseline for a trained matrix of that shape."""
    m, n = min(m, n), max(m, n)
    return m / (1.0 + m / n)


def spectral_gap(sigma: np.ndarray):
    """Largest ratio between consecutive singular values in the leading half of the spectrum.

    sigma [..., r] descending, r ≥ 2. Over i = 1 .. max(1, r // 2) (1-based),
        ratio = max_i σ_i / σ_{i+1},   index = the argmax i,
    so `index` counts the singular values before the gap: the size of the signal subspace
    (a rank-r matrix plus small noise gives index r, provided r ≤ r_total / 2). A zero σ_{i+1}
    gives ratio inf. Returns (ratio, index): floats/ints, or arrays [...] for batched input.
    Used for the neuron-logit map W_L = W_out W_U, close to rank 2 x (number of key
    frequencies) in a trained model (Nanda et al. 2023)."""
    s = np.asarray(sigma, dtype=np.float64)
    if s.shape[-1] < 2:
        raise ValueError("spectral_gap needs at least two singular values")
    half = max(1, s.shape[-1] // 2)
    upper, lower = s[..., :half], s[..., 1:half + 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(lower > 0, upper / np.where(lower > 0, lower, 1.0),
                          np.where(upper > 0, np.inf, 1.0))
    index = ratios.argmax(axis=-1)
    ratio = np.take_along_axis(ratios, index[..., None], axis=-1)[..., 0]
    if ratio.ndim == 0:
        return float(ratio), int(index) + 1
    return ratio, index + 1
