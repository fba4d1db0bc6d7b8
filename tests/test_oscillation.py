"""Oscillation analysis on planted rhythms and on noise."""
from __future__ import annotations

import numpy as np

from workbench import oscillation


def test_a_period_7_sinusoid_in_noise_is_found_at_7_with_a_high_structured_share():
    rng = np.random.default_rng(0)
    steps = np.arange(6000)
    loss = 0.2 + np.exp(-steps / 2000) + 0.05 * np.sin(2 * np.pi * steps / 7) + rng.normal(0, 0.02, len(steps))
    result = oscillation.analyze(steps, loss)
    assert abs(result["dominant_period"] - 7) < 0.05
    assert result["structured_share"] > 0.6
    assert abs(result["amplitude"] - np.sqrt(0.05**2 + 2 * 0.02**2)) < 0.01     # √2 · sd of sine + noise
    assert np.median(np.abs(result["window_period"] - 7)) < 0.3                  # every window sees it
    assert abs(np.median(result["spacing"]) - 7) <= 1                            # peaks 7 steps apart
    lag7 = result["autocorrelation"][:, 7].mean()
    assert lag7 > 0.5 and result["autocorrelation"][:, 3].mean() < -0.3         # in phase at 7, out at 3.5


def test_white_noise_is_unstructured():
    for seed in range(3):
        noise = 1 + np.random.default_rng(seed).normal(0, 0.1, 5000)
        assert oscillation.analyze(np.arange(5000), noise)["structured_share"] < 0.05


def test_long_series_keep_full_resolution_windows_and_say_how_many_are_shown():
    steps = np.arange(200_000)
    y = 1 + 0.1 * np.sin(2 * np.pi * steps / 7) + np.random.default_rng(1).normal(0, 0.05, len(steps))
    result = oscillation.analyze(steps, y, max_windows=50)
    assert result["windows_shown"] <= 50 < result["windows_total"]
    assert abs(result["dominant_period"] - 7) < 0.05 and np.all(np.abs(result["window_period"] - 7) < 0.5)


def test_an_irregularly_logged_series_is_put_on_a_uniform_grid_in_its_own_units():
    x = np.sort(np.random.default_rng(2).choice(np.arange(0, 20000), 1500, replace=False)).astype(float)
    y = 2 + np.sin(2 * np.pi * x / 300)    # ≈ 23 samples of the median spacing: inside a 100-sample window
    result = oscillation.analyze(x, y)
    assert result["resampled"] and abs(result["dx"] - np.median(np.diff(x))) < 1e-9
    assert abs(result["dominant_period"] - 300) < 10                              # in x units, not samples
