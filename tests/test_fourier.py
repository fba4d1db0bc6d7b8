"""Fourier analysis on Z_p against analytic ground truth (workbench.fourier)."""

import numpy as np
import pytest

from workbench import fourier

P = 31


def planted_embedding(p, freqs, amplitudes=None, d=64, noise=0.01, seed=0):
    """W [p, d]: each planted frequency k writes cos(w_k x) and sin(w_k x) into random directions
    of the residual stream (how a grokked W_E looks), plus small Gaussian noise."""
    rng = np.random.default_rng(seed)
    x = np.arange(p)
    W = noise * rng.standard_normal((p, d))
    for k, amp in zip(freqs, amplitudes or [1.0] * len(freqs)):
        w = 2 * np.pi * k / p
        cos_dir, sin_dir = rng.standard_normal((2, d))
        W += amp * (np.outer(np.cos(w * x), cos_dir) + np.outer(np.sin(w * x), sin_dir))
    return W


def test_basis_is_orthonormal_with_cos_first_rows():
    F = fourier.fourier_basis(P)
    assert F.shape == (P, P)
    np.testing.assert_allclose(F @ F.T, np.eye(P), atol=1e-12)
    x = np.arange(P)
    np.testing.assert_allclose(F[0], np.full(P, 1 / np.sqrt(P)))
    np.testing.assert_allclose(F[5], np.cos(2 * np.pi * 3 * x / P) * np.sqrt(2 / P), atol=1e-12)  # cos 3
    np.testing.assert_allclose(F[6], np.sin(2 * np.pi * 3 * x / P) * np.sqrt(2 / P), atol=1e-12)  # sin 3
    assert fourier.basis_labels(P)[:4] == ["const", "cos 1", "sin 1", "cos 2"]
    assert fourier.basis_labels(P)[-1] == "sin 15"
    assert not F.flags.writeable


def test_basis_rejects_even_modulus():
    with pytest.raises(ValueError):
        fourier.fourier_basis(30)


def test_frequency_norms_split_a_single_cosine_and_preserve_total_norm():
    x = np.arange(P)
    W = np.stack([3 * np.cos(2 * np.pi * 4 * x / P), np.full(P, 2.0)], axis=1)   # [p, 2]
    norms = fourier.frequency_norms(W)
    assert norms["norm"].shape == ((P - 1) // 2,)
    assert norms["cos_norm"][3] == pytest.approx(3 * np.sqrt(P / 2))              # k = 4 at index 3
    assert norms["sin_norm"][3] == pytest.approx(0, abs=1e-9)
    assert norms["const_norm"] == pytest.approx(2 * np.sqrt(P))
    total = np.sum(norms["norm"] ** 2) + norms["const_norm"] ** 2
    assert total == pytest.approx(np.sum(W ** 2))


def test_planted_frequencies_are_recovered_exactly_and_are_sparse():
    norms = fourier.frequency_norms(planted_embedding(P, [3, 7, 11]))
    assert sorted(fourier.key_frequencies(norms)) == [3, 7, 11]
    assert fourier.gini(norms["norm"]) > 0.75          # 3 of 15 frequencies; uniform would be 0


def test_many_unequal_planted_frequencies_are_all_found():
    # five of fifteen frequencies, unequal: a single "above 3x the mean of all frequencies"
    # threshold would keep only the strongest two
    W = planted_embedding(P, [2, 5, 9, 13, 14], amplitudes=[1.0, 1.3, 0.7, 1.0, 0.8], noise=0.02)
    norms = fourier.frequency_norms(W)
    key = fourier.key_frequencies(norms)
    assert key[0] == 5                                                  # strongest first
    assert sorted(key) == [2, 5, 9, 13, 14]
    assert np.sum(norms["norm"] ** 2 > 3 * np.mean(norms["norm"] ** 2)) < 5


def test_cleaned_up_tail_of_a_trained_model_is_not_key():
    # four key frequencies, then a weak heavy-tailed remainder like a grokked model after cleanup:
    # every tail frequency stands above the ones below it, but none carries an average share
    norm = np.full(29, 1e-4)
    norm[[6, 14, 21, 26]] = 1.0                                         # k = 7, 15, 22, 27
    norm[[2, 9, 19]] = [0.05, 0.02, 0.01]
    assert sorted(fourier.key_frequencies(norm)) == [7, 15, 22, 27]


def test_random_matrix_has_no_key_frequencies():
    W = np.random.default_rng(1).standard_normal((113, 128))
    assert len(fourier.key_frequencies(fourier.frequency_norms(W))) == 0


def test_gini_of_one_hot_and_constant_vectors():
    assert fourier.gini(np.eye(10)[3]) == pytest.approx(1 - 1 / 10)
    assert fourier.gini(np.full(10, 4.2)) == pytest.approx(0.0, abs=1e-12)
    assert fourier.gini(np.array([0.0, 0.0, 1.0, 1.0])) == pytest.approx(0.5)


def grid(p):
    a, b = np.meshgrid(np.arange(p), np.arange(p), indexing="ij")
    return a, b


def test_neuron_of_one_frequency_in_a_plus_b_is_pure():
    a, b = grid(P)
    w = 2 * np.pi * 5 / P
    acts = np.stack([np.cos(w * (a + b)) + 3.0, 2 * np.sin(w * a + 1.0) - np.cos(w * b)], axis=-1)
    fve = fourier.neuron_frequency_fve(acts)
    assert fve.shape == ((P - 1) // 2, 2)
    np.testing.assert_allclose(fve[4], [1.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(np.delete(fve, 4, axis=0), 0.0, atol=1e-12)


def test_relu_neuron_keeps_the_fundamental_share_of_its_variance():
    # relu(cos θ) = 1/π + cos θ / 2 + harmonics: the fundamental carries (1/8) / (1/4 − 1/π²) ≈ 0.84
    # of the variance, the rest sits at 2k, 4k, ... (so a pure ReLU wave sits just below 0.85).
    p = 113
    a, b = grid(p)
    acts = np.maximum(np.cos(2 * np.pi * 14 * (a + b) / p), 0)[..., None]
    fve = fourier.neuron_frequency_fve(acts)
    assert fve[13, 0] == pytest.approx(0.125 / (0.25 - 1 / np.pi ** 2), abs=0.005)
    assert fve[27, 0] > 0.1                              # the 2k = 28 harmonic


def test_dead_neuron_has_zero_fve():
    acts = np.zeros((P, P, 3), dtype=np.float32)
    acts[..., 1] = 0.7
    assert np.all(fourier.neuron_frequency_fve(acts)[:, :2] == 0)


def test_planted_neuron_clusters_are_counted_exactly():
    rng = np.random.default_rng(0)
    a, b = grid(P)
    planted = {3: 5, 7: 2, 11: 4}                       # frequency -> number of neurons
    neurons = []
    for k, count in planted.items():
        for _ in range(count):
            phase = rng.uniform(0, 2 * np.pi)
            neurons.append(np.cos(2 * np.pi * k * (a + b) / P + phase) + 0.05 * rng.standard_normal((P, P)))
    neurons += [rng.standard_normal((P, P)) for _ in range(3)]                     # unstructured
    clusters = fourier.neuron_clusters(fourier.neuron_frequency_fve(np.stack(neurons, -1)))
    sizes = clusters["cluster_sizes"]
    assert {k: int(sizes[k - 1]) for k in planted} == planted
    assert sizes.sum() == 11
    assert clusters["fraction_explained"] == pytest.approx(11 / 14)
    assert list(clusters["dominant_freq"][:5]) == [3] * 5


def test_near_ties_go_to_the_lowest_frequency_whichever_way_the_last_bits_fall():
    # Neuron 0: k = 2 and 3 equal up to rounding, either way round; neuron 1: k = 3 really larger.
    # Rows are frequencies k = 1..3, columns neurons.
    for bits in (+1e-12, -1e-12):
        fve = np.array([[0.1, 0.2], [0.4, 0.4], [0.4 + bits, 0.4 + 1e-6]])
        assert fourier.neuron_clusters(fve)["dominant_freq"].tolist() == [2, 3]
        norms = np.ones(15)
        norms[[2, 3]] = 5.0, 5.0 + bits                                   # k = 3 and 4 tie
        assert fourier.key_frequencies(norms).tolist() == [3, 4]          # strongest first, the tie by k
        assert fourier.key_frequencies(norms, max_count=1).tolist() == [3]
    assert fourier.key_frequencies(np.r_[1.0, 1.0, 5.0, 5.001, np.ones(11)], max_count=1).tolist() == [4]
    assert fourier.TIE == 1e-9


def test_white_noise_neurons_spread_their_variance_evenly_over_frequencies():
    acts = np.random.default_rng(0).standard_normal((113, 113, 512)).astype(np.float32)
    fve = fourier.neuron_frequency_fve(acts)
    assert fve.shape == (56, 512)
    # white noise spreads its variance evenly over the p² − 1 non-constant directions, of which
    # 8 per frequency (2 edge pairs + the 2x2 block) count towards FVE_k
    assert fve.mean() == pytest.approx(8 / (113 ** 2 - 1), rel=0.01)


def test_directions_over_the_pair_grid_are_orthonormal():
    D = fourier.key_frequency_directions(P, [3, 7, 11])
    assert D.shape == (P * P, 6)
    np.testing.assert_allclose(D.T @ D, np.eye(6), atol=1e-12)
    a, b = grid(P)
    # column 2 = cos(w_7 (a + b)) at pair index a*p + b, normalized
    expected = np.cos(2 * np.pi * 7 * (a + b) / P).ravel() * np.sqrt(2) / P
    np.testing.assert_allclose(D[:, 2], expected, atol=1e-12)


def fourier_algorithm_logits(p, freqs, scale=4.0):
    """logits[(a, b), c] = scale Σ_k cos(w_k(a + b − c)): the trained model's algorithm."""
    a, b = grid(p)
    c = np.arange(p)
    s = (a + b).ravel()[:, None] - c[None, :]
    return scale * sum(np.cos(2 * np.pi * k * s / p) for k in freqs), ((a + b) % p).ravel()


def test_fourier_algorithm_loses_nothing_when_restricted_and_everything_when_excluded():
    logits, labels = fourier_algorithm_logits(P, [3, 7, 11])
    full = fourier.cross_entropy_f64(logits, labels)
    assert full < 0.1
    assert fourier.restricted_loss(logits, labels, [3, 7, 11], P) == pytest.approx(full, abs=1e-10)
    train = np.random.default_rng(0).random(P * P) < 0.3
    # removing every key direction leaves all-zero logits: uniform prediction, loss log p
    assert fourier.excluded_loss(logits, labels, [3, 7, 11], P, mask=train) == pytest.approx(np.log(P))


def test_restriction_discards_memorisation_and_keeps_only_the_algorithm():
    logits, labels = fourier_algorithm_logits(P, [3, 7, 11])
    rng = np.random.default_rng(0)
    memorised = logits + 3.0 * rng.standard_normal(logits.shape)
    clean = fourier.cross_entropy_f64(logits, labels)
    restricted = fourier.restricted_loss(memorised, labels, [3, 7, 11], P)
    assert restricted < fourier.cross_entropy_f64(memorised, labels)
    assert restricted == pytest.approx(clean, rel=0.5)
    # dropping one key frequency costs loss
    assert fourier.restricted_loss(logits, labels, [3, 7], P) > 2 * clean


def test_a_weak_harmonic_in_the_embedding_alone_is_not_a_model_key():
    # W_E: keys 3 and 7 and a weaker harmonic 6 = 2·3 that W_E's own rule accepts; W_L (the
    # neuron-logit map) and the neuron clusters know 3 and 7 only; 11 is missed by W_E's rule but
    # has neurons and weight into the logits.
    w_e = planted_embedding(P, [3, 7, 6], amplitudes=[1.0, 0.9, 0.45])
    w_l = planted_embedding(P, [3, 7, 11], amplitudes=[1.0, 1.0, 0.8], seed=1)
    sizes = np.zeros(15, int)
    sizes[[2, 6, 10]] = [200, 150, 40]                                  # k = 3, 7, 11; none at 6
    assert sorted(fourier.key_frequencies(fourier.frequency_norms(w_e))) == [3, 6, 7]
    keys = fourier.model_key_frequencies(fourier.frequency_norms(w_e), fourier.frequency_norms(w_l), sizes, 512)
    assert keys.tolist() == [3, 7, 11]
    sizes[10] = 10                                                       # below 2% of 512: not a cluster
    assert fourier.model_key_frequencies(fourier.frequency_norms(w_e), fourier.frequency_norms(w_l), sizes,
                                         512).tolist() == [3, 7]        # 11 now has one view only
