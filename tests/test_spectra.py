"""Singular-value spectra against random-matrix theory and planted low rank (workbench.spectra)."""
import numpy as np
import pytest

from workbench import spectra


def test_gaussian_matrix_participation_ratio_matches_marchenko_pastur():
    W = np.random.default_rng(0).standard_normal((128, 512))
    expected = spectra.marchenko_pastur_participation_ratio(128, 512)
    assert expected == pytest.approx(102.4)
    assert spectra.participation_ratio(spectra.singular_values(W)) == pytest.approx(expected, rel=0.03)
    assert spectra.marchenko_pastur_participation_ratio(512, 128) == expected   # transpose: same


def test_participation_ratio_counts_equal_directions():
    assert spectra.participation_ratio(np.array([2.0, 2.0, 2.0, 0.0])) == pytest.approx(3.0)
    assert spectra.participation_ratio(np.array([5.0, 0.0, 0.0])) == pytest.approx(1.0)
    # λ = σ² = [4, 1]: (5)² / 17
    assert spectra.participation_ratio(np.array([2.0, 1.0])) == pytest.approx(25 / 17)


def test_rank_ten_neuron_logit_map_has_its_gap_after_ten():
    # W_L = W_out W_U of a trained model is ~rank 10 (two directions per key frequency)
    rng = np.random.default_rng(0)
    r = 10
    W = rng.standard_normal((512, r)) @ rng.standard_normal((r, 113)) + 0.01 * rng.standard_normal((512, 113))
    sigma = spectra.singular_values(W)
    assert sigma.shape == (113,) and np.all(np.diff(sigma) <= 0)
    ratio, index = spectra.spectral_gap(sigma)
    assert index == r
    assert ratio == pytest.approx(sigma[r - 1] / sigma[r]) and ratio > 50


def test_exact_low_rank_gap_is_infinite():
    ratio, index = spectra.spectral_gap(np.array([3.0, 2.0, 0.0, 0.0]))
    assert (ratio, index) == (np.inf, 2)


def test_per_head_spectra_are_batched():
    # W_Q [n_heads, d_model, d_head]: head h has rank h + 1
    rng = np.random.default_rng(0)
    W = np.stack([rng.standard_normal((128, h + 1)) @ rng.standard_normal((h + 1, 32)) for h in range(4)])
    W += 1e-3 * rng.standard_normal(W.shape)
    sigma = spectra.singular_values(W)
    assert sigma.shape == (4, 32)
    ratio, index = spectra.spectral_gap(sigma)
    assert list(index) == [1, 2, 3, 4]
    pr = spectra.participation_ratio(sigma)
    assert pr.shape == (4,)
    assert np.all(pr <= np.array([1, 2, 3, 4]) + 1e-3) and np.all(np.diff(pr) > 0)
