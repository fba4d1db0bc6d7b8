"""The model's key frequencies on a real grokked model: a harmonic planted in its embedding alone
(weak, no neuron cluster, no weight into the logits) must not become a key, and the progress
measures use the model's keys."""
from __future__ import annotations

import numpy as np

from workbench import fourier
from workbench.analyzers.context import EpochContext, model_key_frequencies


def test_a_harmonic_planted_in_the_embedding_of_the_grokked_tiny_model_is_not_a_key(tiny_analyzed):
    store, ref = tiny_analyzed
    spec, last = store.info(ref)["spec"], store.checkpoint_epochs(ref)[-1]
    weights, p = store.load_weights(ref, last), spec["domain"]["p"]
    keys = model_key_frequencies(spec, weights)
    assert 2 <= len(keys) <= 6
    k = int(keys[0])
    harmonic = 2 * k if 2 * k <= (p - 1) // 2 else p - 2 * k              # 2k, folded onto 1..(p-1)/2
    assert harmonic not in keys
    planted = dict(weights)
    w_e = weights["embed.W_E"].copy()
    direction = np.random.default_rng(0).standard_normal(w_e.shape[1])
    w_e[:p] += 1.5 * np.outer(fourier.fourier_basis(p)[2 * harmonic - 1], direction / np.linalg.norm(direction))
    planted["embed.W_E"] = w_e
    norms = fourier.frequency_norms(w_e[:p])["norm"]
    assert harmonic in fourier.key_frequencies(norms)                   # W_E's own rule takes it ...
    assert norms[harmonic - 1] < norms[keys - 1].min()                  # ... though weaker than every key
    ctx = EpochContext(spec, last, planted)
    fve = fourier.neuron_frequency_fve(ctx.activation("blocks.0.mlp.hook_post")[:, -1].reshape(p, p, -1))
    assert fourier.neuron_clusters(fve)["cluster_sizes"][harmonic - 1] == 0   # no neuron computes it
    assert model_key_frequencies(spec, planted).tolist() == keys.tolist()     # the model's keys stay


def test_progress_measures_use_the_model_keys(tiny_analyzed):
    store, ref = tiny_analyzed
    spec, last = store.info(ref)["spec"], store.checkpoint_epochs(ref)[-1]
    keys = model_key_frequencies(spec, store.load_weights(ref, last))
    mask = store.load_artifact(ref, "progress_measures")["key_mask"]
    assert (np.flatnonzero(mask[0]) + 1).tolist() == (np.flatnonzero(mask[-1]) + 1).tolist() == keys.tolist()
