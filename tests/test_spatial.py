"""Spatial-scale metrics of maps over the (a, b) grid (workbench.spatial)."""
import numpy as np
import pytest
from scipy import ndimage

from workbench import spatial

P = 113


def grid(p=P):
    return np.meshgrid(np.arange(p), np.arange(p), indexing="ij")


def gaussian_blob(p=P, width=None):
    a, b = grid(p)
    width = width or p / 8
    return np.exp(-((a - p / 2) ** 2 + (b - p / 3) ** 2) / (2 * width ** 2))


def plaid(k, p=P):
    """cos(w_k a) cos(w_k b): the heatmap of a neuron reading frequency k from both inputs."""
    a, b = grid(p)
    return np.cos(2 * np.pi * k * a / p) * np.cos(2 * np.pi * k * b / p)


def test_smooth_blob_is_low_frequency_and_survives_downsampling():
    blob = gaussian_blob()
    assert spatial.low_frequency_energy_ratio(blob) > 0.95
    assert spatial.downsample_variance_preserved(blob) > 0.95
    assert spatial.scale_type(spatial.low_frequency_energy_ratio(blob),
                              spatial.downsample_variance_preserved(blob)) == "smooth blobs"


def test_high_frequency_plaid_has_no_low_frequency_energy_and_is_lost_by_downsampling():
    fine = plaid(40)
    assert spatial.low_frequency_energy_ratio(fine) == pytest.approx(0.0, abs=1e-12)
    assert spatial.downsample_variance_preserved(fine) < 0.1
    assert spatial.scale_type(spatial.low_frequency_energy_ratio(fine),
                              spatial.downsample_variance_preserved(fine)) == "fine plaid"


def test_white_noise_low_frequency_share_is_the_discs_area_share():
    noise = np.random.default_rng(0).standard_normal((50, P, P))
    i = np.arange(P) - P // 2
    disc = (i[:, None] ** 2 + i[None, :] ** 2) <= (0.125 * P) ** 2
    expected = (disc.sum() - 1) / (P * P - 1)                # the DC bin carries nothing
    assert expected == pytest.approx(0.049, abs=0.001)
    assert spatial.low_frequency_energy_ratio(noise).mean() == pytest.approx(expected, rel=0.03)


def test_disc_radius_is_one_eighth_of_the_map():
    # frequency 14 along one axis is inside the 14.1-bin disc at p = 113; frequency 15 is not
    a, _ = grid()
    inside, outside = np.cos(2 * np.pi * 14 * a / P), np.cos(2 * np.pi * 15 * a / P)
    np.testing.assert_allclose(spatial.low_frequency_energy_ratio(np.stack([inside, outside])), [1.0, 0.0],
                               atol=1e-12)


def test_bilinear_downsample_matches_scipy_zoom():
    blob = gaussian_blob() + 0.1 * np.random.default_rng(0).standard_normal((P, P))
    small = spatial.bilinear_downsample(blob, 14)
    assert small.shape == (14, 14)
    np.testing.assert_allclose(small, ndimage.zoom(blob, 14 / P, order=1), atol=1e-12)
    back = spatial.bilinear_resize(small, (P, P))
    np.testing.assert_allclose(back, ndimage.zoom(small, P / 14, order=1), atol=1e-12)


def test_mean_abs_gradient_is_scale_free_and_matches_a_plane_wave():
    a, _ = grid()
    k = 5
    wave = np.cos(2 * np.pi * k * a / P)
    # |Δ cos| averages 4 sin(w/2)/π along a, 0 along b; std 1/√2 -> 2√2 sin(w/2)/π ≈ 2√2 k / p
    expected = 2 * np.sqrt(2) * np.sin(np.pi * k / P) / np.pi
    assert spatial.mean_abs_gradient(wave) == pytest.approx(expected, rel=1e-3)
    assert spatial.mean_abs_gradient(100 * wave + 7) == pytest.approx(expected, rel=1e-3)
    checkerboard = (-1.0) ** np.add.outer(np.arange(64), np.arange(64))
    assert spatial.mean_abs_gradient(checkerboard) == pytest.approx(2.0)
    noise = np.random.default_rng(0).standard_normal((P, P))
    assert spatial.mean_abs_gradient(noise) == pytest.approx(2 / np.sqrt(np.pi), rel=0.03)


def test_neuron_stack_with_trailing_batch_axis_gives_per_neuron_values():
    acts = np.stack([gaussian_blob(), plaid(40), np.full((P, P), 0.3)], axis=-1)     # [p, p, 3]
    lf = spatial.low_frequency_energy_ratio(acts, axes=(0, 1))
    vp = spatial.downsample_variance_preserved(acts, axes=(0, 1))
    grad = spatial.mean_abs_gradient(acts, axes=(0, 1))
    assert lf.shape == vp.shape == grad.shape == (3,)
    assert lf[0] == pytest.approx(spatial.low_frequency_energy_ratio(gaussian_blob()))
    assert grad[0] < 0.1 < 1.0 < grad[1]
    assert np.isnan(lf[2]) and np.isnan(vp[2]) and np.isnan(grad[2])                # a dead neuron
    assert list(spatial.scale_type(lf, vp)) == ["smooth blobs", "fine plaid", "flat"]


def test_intermediate_frequency_is_mixed():
    # frequency 10: inside the 14-bin disc, but faster than the 14 x 14 grid can carry
    a, _ = grid()
    wave = np.cos(2 * np.pi * 10 * a / P)
    lf, vp = spatial.low_frequency_energy_ratio(wave), spatial.downsample_variance_preserved(wave)
    assert lf == pytest.approx(1.0) and vp < 0.5
    assert spatial.scale_type(lf, vp) == "mixed"
