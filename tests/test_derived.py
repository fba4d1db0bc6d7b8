"""Heavy per-input maps come from the checkpoint on demand and are cached, never stored per epoch."""
from __future__ import annotations

import numpy as np

from workbench import derived, fourier
from workbench.analyzers.context import EpochContext


def test_neuron_heatmaps_are_the_maps_the_neuron_analyzer_measured(tiny_analyzed):
    store, ref = tiny_analyzed
    maps = np.asarray(derived.neuron_heatmaps(store, ref, 500))
    assert maps.shape == (512, 31, 31) and maps.dtype == np.float16
    fve = fourier.neuron_frequency_fve(np.moveaxis(maps.astype(np.float32), 0, -1))
    stored = store.load_artifact(ref, "neuron_frequencies", 500)["fve"].astype(np.float32)
    assert np.abs(fve - stored).max() < 0.01


def test_attention_maps_are_probabilities_over_a_and_b(tiny_analyzed):
    store, ref = tiny_analyzed
    maps = derived.attention_maps(store, ref, 500).astype(np.float32)
    assert maps.shape == (2, 4, 31, 31)
    assert (maps >= 0).all() and (maps.sum(axis=0) <= 1.001).all()


def test_maps_are_cached_by_checkpoint_checksum_and_not_written_as_artifacts(tiny_analyzed):
    store, ref = tiny_analyzed
    derived.neuron_heatmaps(store, ref, 250)[3]
    cache = derived.cache_for(store)
    keys = sorted(k for k in cache.iterkeys() if k[2] == ref.id and k[3] == 250)
    assert [k[0] for k in keys] == ["before_mlp"]  # the MLP's input: each neuron's map is made from it
    assert all(k[4] == store.checkpoint_fingerprint(ref, 250) for k in keys)
    assert not list((store.variant_dir(ref) / "artifacts").glob("*heatmap*"))


def test_a_neurons_map_made_alone_is_its_map_in_the_full_forward(tiny_analyzed):
    store, ref = tiny_analyzed
    maps = derived.neuron_heatmaps(store, ref, 500)
    ctx = EpochContext(store.info(ref)["spec"], 500, store.load_weights(ref, 500))
    full = np.moveaxis(ctx.at_equals("blocks.0.mlp.hook_post").reshape(31, 31, 512), -1, 0)
    some = maps[[7, 300, 2]]
    assert some.shape == (3, 31, 31) and maps[300].shape == (31, 31)
    for got, neuron in zip(some, [7, 300, 2]):
        assert np.allclose(got.astype(np.float64), full[neuron], rtol=2e-3, atol=2e-3)
    assert np.array_equal(maps[300], some[1])
