"""Modular arithmetic: the task, its train/test split and the probe (Power et al. 2022).

Every input is the three tokens `a b =` with a, b in [0, p) and `=` the token p, so the
vocabulary has p + 1 entries and the model predicts one of p answers at the last position.
Pairs are numbered in row-major order, pair index = a * p + b, everywhere in the workbench.
"""
from __future__ import annotations

import random

import numpy as np

ANSWERS = {
    "add": lambda a, b, p: (a + b) % p,
    "subtract": lambda a, b, p: (a - b) % p,
    "multiply": lambda a, b, p: (a * b) % p,
}


def probe_inputs(p: int) -> np.ndarray:
    """The full grid of `a b =` inputs, shape [p*p, 3], row-major in (a, b)."""
    a, b = np.divmod(np.arange(p * p), p)
    return np.stack([a, b, np.full_like(a, p)], axis=1)


def answers(operation: str, p: int) -> np.ndarray:
    """The correct answer for every pair of the grid, shape [p*p]."""
    a, b = np.divmod(np.arange(p * p), p)
    return ANSWERS[operation](a, b, p)


def train_test_split(p: int, train_fraction: float, data_seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Pair indices of the training and test sets.

    The shuffle is the progress-measures paper code's (`random.seed(seed); random.shuffle(pairs)`
    over row-major pairs, first int(frac * p^2) train), on a private `random.Random` so the split
    depends on `data_seed` alone: data_seed=598 reproduces the paper's split exactly.
    """
    pairs = list(range(p * p))
    random.Random(data_seed).shuffle(pairs)
    n_train = int(train_fraction * p * p)
    return np.array(sorted(pairs[:n_train])), np.array(sorted(pairs[n_train:]))


def train_mask(p: int, train_fraction: float, data_seed: int) -> np.ndarray:
    """[p*p] bool: which pairs of the grid are in the training set (see `train_test_split`)."""
    mask = np.zeros(p * p, bool)
    mask[train_test_split(p, train_fraction, data_seed)[0]] = True
    return mask
