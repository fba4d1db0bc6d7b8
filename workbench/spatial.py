"""Spatial scale of maps over the input grid: smooth blobs or fine plaid?

A map is a 2-D array over the (a, b) grid, e.g. one head's attention to `a` as a function of the
inputs (a, b), or one neuron's activation heatmap. The grid is Z_p x Z_p, a torus, so metrics
treat maps as periodic. Every function takes a batch of maps, by default [..., h, w] (spatial
axes last); pass `axes=(0, 1)` for [p, p, n] stacks such as neuron activations [p, p, d_mlp].
Scalar results come back with the batch shape (the input shape without the two spatial axes).
A map with zero variance has no spatial scale: its metrics are NaN and its scale type "flat".
Pure NumPy: no torch, no I/O.
"""
from __future__ import annotations

import numpy as np

SMOOTH_THRESHOLD = 0.5  # scale_type: both metrics ≥ this -> smooth; both below -> plaid


def _spatial_last(maps, axes) -> np.ndarray:
    """maps with the two spatial axes moved to the end, as float64 [..., h, w]."""
    return np.moveaxis(np.asarray(maps, dtype=np.float64), axes, (-2, -1))


def _centred(maps: np.ndarray):
    """(maps minus their own mean [..., h, w], total squared deviation [...], flat [...]) where
    flat marks maps whose variance is zero up to rounding."""
    centred = maps - maps.mean(axis=(-2, -1), keepdims=True)
    sum_sq = np.einsum("...ij,...ij->...", centred, centred)
    flat = sum_sq <= 1e-24 * np.einsum("...ij,...ij->...", maps, maps) + 1e-300
    return centred, sum_sq, flat


def _ratio_or_nan(num, den, flat) -> np.ndarray:
    """num / den, NaN where the map is flat."""
    out = np.full(np.shape(flat), np.nan)
    np.divide(num, den, out=out, where=~flat)
    return out


def low_frequency_energy_ratio(maps, radius_fraction: float = 0.125, axes=(-2, -1)):
    """Share of a map's (mean-removed) spectral energy at low spatial frequency, [batch].

    |FFT2(A − mean)|² with zero frequency at the centre (fftshift); energy inside the disc of
    radius `radius_fraction` x size (12.5% -> 14.1 frequency bins at p = 113; an ellipse for
    non-square maps) divided by the total. 1 = smooth blob, about the disc's area share (≈ 5% at
    12.5%) = white noise, 0 = only fine structure (a checkerboard). Only the DFT bins inside the
    disc are computed (two small matrix products); the total comes from Parseval, Σ|Â|² = hw Σ A²,
    which is much faster than a full FFT at prime sizes."""
    maps = _spatial_last(maps, axes)
    centred, sum_sq, flat = _centred(maps)
    h, w = maps.shape[-2:]
    fi, fj = _centred_frequencies(h, radius_fraction), _centred_frequencies(w, radius_fraction)
    dft_i = np.exp(-2j * np.pi * np.outer(fi, np.arange(h)) / h)                     # [n_i, h]
    dft_j = np.exp(-2j * np.pi * np.outer(fj, np.arange(w)) / w)                     # [n_j, w]
    partial = np.tensordot(centred, dft_j, axes=(-1, 1))                               # [..., h, n_j]
    partial = np.tensordot(partial, dft_i, axes=(-2, 1))                               # [..., n_j, n_i]
    inside = (fj[:, None] / (radius_fraction * w)) ** 2 + (fi[None, :] / (radius_fraction * h)) ** 2 <= 1
    energy_inside = (np.abs(partial) ** 2 * inside).sum(axis=(-2, -1))
    return _ratio_or_nan(energy_inside, h * w * sum_sq, flat)


def _centred_frequencies(n: int, radius_fraction: float) -> np.ndarray:
    """Signed DFT frequencies of an n-point axis (fftshift order, -(n//2) .. n - n//2 - 1)
    within radius_fraction x n of zero."""
    f = np.arange(-(n // 2), n - n // 2)
    return f[np.abs(f) <= radius_fraction * n]


def _linear_interpolation_matrix(n_out: int, n_in: int) -> np.ndarray:
    """[n_out, n_in] weights of 1-D linear interpolation with aligned corners: output sample i
    sits at input coordinate i (n_in − 1)/(n_out − 1) (scipy.ndimage.zoom(order=1) convention)."""
    x = np.arange(n_out) * ((n_in - 1) / (n_out - 1)) if n_out > 1 else np.zeros(1)
    lo = np.clip(np.floor(x).astype(int), 0, n_in - 1)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = x - lo
    M = np.zeros((n_out, n_in))
    np.add.at(M, (np.arange(n_out), lo), 1.0 - frac)
    np.add.at(M, (np.arange(n_out), hi), frac)
    return M


def bilinear_resize(maps, shape: tuple[int, int], axes=(-2, -1)) -> np.ndarray:
    """Bilinear resize of maps [..., h, w] to [..., shape[0], shape[1]] (corners aligned, same
    result as scipy.ndimage.zoom(order=1) on each map). Spatial axes come back last."""
    maps = _spatial_last(maps, axes)
    rows = _linear_interpolation_matrix(shape[0], maps.shape[-2])
    cols = _linear_interpolation_matrix(shape[1], maps.shape[-1])
    return rows @ maps @ cols.T


def bilinear_downsample(maps, size: int = 14, axes=(-2, -1)) -> np.ndarray:
    """Bilinear down-sample of maps [..., h, w] to [..., size, size] (thumbnails for the UI and
    the coarse version used by `downsample_variance_preserved`)."""
    return bilinear_resize(maps, (size, size), axes)


def downsample_variance_preserved(maps, size: int = 14, axes=(-2, -1)):
    """Fraction of a map's variance that survives a bilinear round trip to size x size, [batch]:
        A_rec = up(down(A)),   1 − ‖A − A_rec‖² / ‖A − mean(A)‖²,   clipped to [0, 1]
    (the raw value can be negative when the coarse grid aliases fine structure into a pattern
    worse than the mean; clipping reads that as "nothing preserved"). At 14 x 14 only structure
    slower than ~7 cycles across the map survives."""
    maps = _spatial_last(maps, axes)
    h, w = maps.shape[-2:]
    rec = bilinear_resize(bilinear_resize(maps, (size, size)), (h, w))
    _, sum_sq, flat = _centred(maps)
    residual = np.einsum("...ij,...ij->...", maps - rec, maps - rec)
    return np.clip(1.0 - _ratio_or_nan(residual, sum_sq, flat), 0.0, 1.0)


def mean_abs_gradient(maps, axes=(-2, -1)):
    """Mean absolute step-to-step difference of a map in units of its standard deviation, [batch]:
        ( mean|A[i+1, j] − A[i, j]| + mean|A[i, j+1] − A[i, j]| ) / 2 / std(A),
    with periodic differences (the grid is a torus). Scale-free: a plane wave of frequency k
    along one axis gives 2√2 k/p (half from the other axis being flat), white noise 2/√π ≈ 1.13,
    a checkerboard 2."""
    maps = _spatial_last(maps, axes)
    d_rows = np.abs(np.roll(maps, -1, axis=-2) - maps).mean(axis=(-2, -1))
    d_cols = np.abs(np.roll(maps, -1, axis=-1) - maps).mean(axis=(-2, -1))
    _, sum_sq, flat = _centred(maps)
    std = np.sqrt(sum_sq / (maps.shape[-2] * maps.shape[-1]))
    return _ratio_or_nan((d_rows + d_cols) / 2, std, flat)


def scale_type(low_frequency_ratio, variance_preserved, threshold: float = SMOOTH_THRESHOLD):
    """Label per map from `low_frequency_energy_ratio` and `downsample_variance_preserved`:
        "smooth blobs" if both ≥ threshold (most energy within the 12.5% disc AND most variance
                       survives the 14 x 14 round trip),
        "fine plaid"   if both < threshold,
        "mixed"        otherwise (structure between ~7 and ~14 cycles across the map),
        "flat"         if either is NaN (zero-variance map).
    threshold 0.5 = "the majority of the map". Returns a str array with the batch shape."""
    lf = np.asarray(low_frequency_ratio, dtype=np.float64)
    vp = np.asarray(variance_preserved, dtype=np.float64)
    smooth, fine = (lf >= threshold) & (vp >= threshold), (lf < threshold) & (vp < threshold)
    labels = np.where(smooth, "smooth blobs", np.where(fine, "fine plaid", "mixed"))
    return np.where(np.isnan(lf) | np.isnan(vp), "flat", labels)
