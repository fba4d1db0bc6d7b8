"""Parameter-trajectory math on planted paths (workbench.trajectory)."""

import numpy as np
import pytest

from workbench import trajectory


def circle_in_high_dimension(n=100, n_params=5000, radius=3.0, turns=1.0, seed=0):
    """Checkpoints on a circle spanned by two random orthonormal directions of R^n_params."""
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.standard_normal((n_params, 2)))
    theta = 2 * np.pi * turns * np.arange(n) / n
    offset = rng.standard_normal(n_params)
    X = offset + radius * (np.cos(theta)[:, None] * basis[:, 0] + np.sin(theta)[:, None] * basis[:, 1])
    return X, basis, theta


def test_pca_of_a_planted_circle_finds_two_equal_components():
    X, basis, _ = circle_in_high_dimension()
    components, ratio, proj = trajectory.pca(X)
    assert ratio[:2] == pytest.approx([0.5, 0.5], abs=1e-9)
    assert ratio.sum() == pytest.approx(1.0)
    assert components.shape[1] == 5000 and proj.shape == (100, len(ratio))
    # the two components span the planted plane, and the projected path is a circle of radius 3
    np.testing.assert_allclose(np.linalg.svd(components[:2] @ basis, compute_uv=False), [1, 1], atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(proj[:, :2], axis=1), 3.0, atol=1e-9)


def test_pca_gram_and_svd_routes_agree_with_the_definition():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 10)) @ rng.standard_normal((10, 400))      # rank 10, also once centred
    for Z in (X, X[:, :20]):                                                 # wide: Gram route; tall: SVD
        components, ratio, proj = trajectory.pca(Z)
        centred = Z - Z.mean(axis=0)
        s = np.linalg.svd(centred, compute_uv=False)
        assert len(ratio) == 10                                              # only real directions
        np.testing.assert_allclose(ratio, (s ** 2 / np.sum(s ** 2))[:10], atol=1e-12)
        np.testing.assert_allclose(proj, centred @ components.T, atol=1e-9)
        np.testing.assert_allclose(components @ components.T, np.eye(10), atol=1e-9)


def test_pca_of_many_parameters_goes_through_the_small_gram_matrix():
    # 100 checkpoints x 120k parameters: an [n_params, n_params] covariance would need 115 GB
    X = np.random.default_rng(0).random((100, 120_000), dtype=np.float32)
    components, ratio, proj = trajectory.pca(X, n_components=3)
    assert components.shape == (3, 120_000) and proj.shape == (100, 3)
    # i.i.d. checkpoints: no direction stands out, each explains about 1/99 of the variance
    assert ratio[0] < 0.02


def test_projecting_a_variant_onto_a_shared_basis():
    X, _, _ = circle_in_high_dimension()
    Y = X[::-1]                                                          # same circle, run backwards
    both = np.vstack([X, Y])
    components, _, proj = trajectory.pca(both, n_components=2)
    mean = both.mean(axis=0)
    np.testing.assert_allclose(trajectory.project(Y, mean, components), proj[100:], atol=1e-9)


def test_velocity_is_distance_per_epoch():
    X = np.array([[0.0, 0.0], [3.0, 4.0], [3.0, 4.0], [3.0, 10.0]])
    epochs = np.array([0, 10, 20, 50])
    np.testing.assert_allclose(trajectory.velocity(X, epochs), [0.5, 0.0, 0.2])


def circle_path(n=400, turns=1.0, radius=1.0):
    theta = 2 * np.pi * turns * np.arange(n) / (n - 1)
    return radius * np.stack([np.cos(theta), np.sin(theta)], axis=1)


def lasso_path(n=400, overlap=0.3, bend=0.01):
    """A loop that overshoots its start: r(θ) = 1 + bend (θ − π)², θ from −overlap to 2π + overlap.
    The way in and the way out meet at θ = 0 with different slopes, so the path crosses itself
    once and the loop it closes is a near-perfect unit circle."""
    theta = np.linspace(-overlap, 2 * np.pi + overlap, n)
    r = 1 + bend * (theta - np.pi) ** 2
    return np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1)


def test_loop_that_overshoots_its_start_crosses_once_with_the_circles_area_ratio():
    path = lasso_path()
    [(i, j)] = trajectory.self_intersections(path)
    assert i < 40 and j > 360                          # the first and last few segments
    assert trajectory.loop_area_ratio(path) == pytest.approx(1 / (4 * np.pi), rel=2e-3)


def test_closed_circle_touching_its_start_is_not_a_crossing_but_still_a_circle():
    path = circle_path()                               # last point == first point
    assert trajectory.self_intersections(path) == []
    assert trajectory.loop_area_ratio(path) == pytest.approx(1 / (4 * np.pi), rel=1e-4)


def test_figure_eight_loop_ratio_is_that_of_its_first_lobe():
    t = np.linspace(np.pi / 2, 5 * np.pi / 2, 800)
    eight = np.stack([np.sin(t), np.sin(t) * np.cos(t)], axis=1)      # lemniscate of Gerono
    [(i, j)] = trajectory.self_intersections(eight)                   # crosses once, at the origin
    assert (i, j) == (199, 599)                                       # t = π and t = 2π
    # the loop closed first is the lobe t in [π, 2π]: area 2/3, perimeter by dense arc length
    s = np.linspace(np.pi, 2 * np.pi, 20_001)
    perimeter = trajectory.path_length(np.stack([np.sin(s), np.sin(s) * np.cos(s)], axis=1))
    assert trajectory.loop_area_ratio(eight) == pytest.approx((2 / 3) / perimeter ** 2, rel=1e-3)


def test_arc_that_does_not_cross_is_closed_by_a_chord():
    half = circle_path(turns=0.5)                                    # half circle, radius 1
    assert trajectory.self_intersections(half) == []
    assert trajectory.path_length(half) == pytest.approx(np.pi, rel=1e-4)
    # closed by the diameter: area π/2, perimeter π + 2
    assert trajectory.loop_area_ratio(half) == pytest.approx((np.pi / 2) / (np.pi + 2) ** 2, rel=1e-4)


def test_straight_out_and_back_path_encloses_nothing():
    path = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [1.0, 0.0]])
    assert trajectory.self_intersections(path) == []                # collinear overlap is not a crossing
    assert trajectory.loop_area_ratio(path) == 0.0
