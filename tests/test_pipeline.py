"""The pipeline: every artifact, stacked series, resumable, recomputes only what is stale."""
from __future__ import annotations

import numpy as np
import pytest

from workbench import analyzers as registry
from workbench.analyzers import UnknownAnalyzerError, register
from workbench.families import load_family
from workbench.pipeline import analyze, status
from workbench.store import VariantRef
from workbench.errors import BusyError, MissingError
from workbench.training import train


@pytest.fixture
def short_run(store):
    variant = load_family("tiny_addition").variant(epochs=60, every=[[10, 60]])
    train(variant, store, progress=False)
    return store, VariantRef(variant.family, variant.id)


def test_every_builtin_analyzer_writes_per_epoch_artifacts_and_a_stacked_series(tiny_analyzed):
    store, ref = tiny_analyzed
    epochs = store.checkpoint_epochs(ref)
    for name in registry.BUILTINS:
        series = store.load_artifact(ref, name)
        if name != "loss_dynamics":  # the run's phases and alerts, not one row per checkpoint
            assert list(series["epochs"]) == epochs, name
        if registry.get(name).kind == "epoch":
            assert store.artifact_epochs(ref, name) == epochs
    neurons = store.load_artifact(ref, "neuron_frequencies")
    assert neurons["fve"].shape == (len(epochs), 15, 512) and neurons["cluster_size"].shape == (len(epochs), 15)
    heads = store.load_artifact(ref, "attention_heads")
    assert heads["dominant_freq"].shape == (len(epochs), 2, 4) and heads["scale_type"].shape == (len(epochs), 2, 4)
    assert store.load_artifact(ref, "progress_measures")["restricted_loss"].shape == (len(epochs),)
    trajectory = store.load_artifact(ref, "parameter_trajectory")
    assert trajectory["all.projection"].shape == (len(epochs), 3)
    assert 0 < trajectory["all.explained_variance"].sum() <= 1
    assert store.info(ref)["status"] == "analyzed"
    assert all(row["missing"] == row["stale"] == 0 for row in status(ref, store).values())


def test_artifacts_stay_small(tiny_analyzed):
    store, ref = tiny_analyzed
    per_epoch = sum(p.stat().st_size for p in (store.variant_dir(ref) / "artifacts").glob("*/epoch_00000500.safetensors"))
    assert per_epoch < 100_000  # p=31; about 80 kB at p=113, budget 500 kB


def test_tiny_run_shows_the_published_signatures(tiny_analyzed):
    store, ref = tiny_analyzed
    embedding = store.load_artifact(ref, "fourier_embedding")
    neurons = store.load_artifact(ref, "neuron_frequencies")
    progress = store.load_artifact(ref, "progress_measures")
    epochs = embedding["epochs"]
    n_key = int(embedding["key_mask"][-1].sum())
    assert 1 <= n_key <= 6  # a handful of the 15 frequencies
    assert embedding["gini"][-1] > embedding["gini"][0] + 0.2  # sparser in frequency than at init
    assert neurons["fraction_explained"][-1] > 0.5  # most neurons explained by one frequency
    assert neurons["fraction_explained"][0] < 0.1
    final_keys = set(np.flatnonzero(progress["key_mask"][-1]) + 1)
    clustered = set(np.flatnonzero(neurons["cluster_size"][-1] >= 5) + 1)
    assert clustered <= final_keys | clustered and clustered & final_keys  # clusters sit on key frequencies
    memorized = np.argmax(progress["train_acc"] >= 0.999)
    assert progress["sum_squared_weights"][-1] < progress["sum_squared_weights"][memorized]  # cleanup
    assert progress["restricted_loss"][-1] < progress["test_loss"][-1]
    assert progress["excluded_loss"][-1] > 10 * progress["train_loss"][-1]
    assert epochs[-1] == 500


def test_rerun_recomputes_nothing_and_force_recomputes_everything(short_run):
    store, ref = short_run
    first = analyze(ref, store, progress=False, workers=1, analyzers=["fourier_embedding", "dimensionality"])
    assert first["epochs_analyzed"] == 7
    again = analyze(ref, store, progress=False, workers=1, analyzers=["fourier_embedding", "dimensionality"])
    assert again["epochs_analyzed"] == 0
    forced = analyze(ref, store, progress=False, workers=1, analyzers=["fourier_embedding"], force=True)
    assert forced["epochs_analyzed"] == 7


def test_interrupted_analysis_resumes_and_matches_an_uninterrupted_one(short_run, tmp_path):
    store, ref = short_run
    stopped = analyze(ref, store, progress=False, workers=1, analyzers=["neuron_frequencies"],
                      callback=lambda done, total, what: done == 3)
    assert stopped["epochs_analyzed"] == 3 and stopped["epochs_pending"] == 4
    assert status(ref, store, ["neuron_frequencies"])["neuron_frequencies"]["missing"] == 4
    resumed = analyze(ref, store, progress=False, workers=1, analyzers=["neuron_frequencies"])
    assert resumed["epochs_analyzed"] == 4
    series = store.load_artifact(ref, "neuron_frequencies")
    fresh = analyze(ref, store, progress=False, workers=1, analyzers=["neuron_frequencies"], force=True)
    assert fresh["epochs_analyzed"] == 7
    again = store.load_artifact(ref, "neuron_frequencies")
    assert all(np.array_equal(series[k], again[k], equal_nan=True) for k in series)


def test_a_changed_checkpoint_makes_only_its_artifacts_stale(short_run):
    store, ref = short_run
    analyze(ref, store, progress=False, workers=1, analyzers=["fourier_embedding"])
    weights = store.load_weights(ref, 30)
    store.save_checkpoint(ref, 30, {k: v * 1.01 for k, v in weights.items()})
    assert status(ref, store, ["fourier_embedding"])["fourier_embedding"]["stale"] == 1
    assert analyze(ref, store, progress=False, workers=1, analyzers=["fourier_embedding"])["epochs_analyzed"] == 1


def test_final_checkpoint_dependence_is_tracked(short_run):
    store, ref = short_run
    analyze(ref, store, progress=False, workers=1, analyzers=["progress_measures"])
    weights = store.load_weights(ref, 60)
    store.save_checkpoint(ref, 60, {k: v * 1.01 for k, v in weights.items()})
    assert status(ref, store, ["progress_measures"])["progress_measures"]["stale"] == 7  # all use the final keys


def test_a_user_analyzer_registers_in_a_few_lines_and_a_version_bump_recomputes_it(short_run):
    store, ref = short_run

    @register("mlp_sparsity_test")
    def mlp_sparsity(ctx):
        """Fraction of MLP neurons active at `=`, over the grid."""
        return {"active_fraction": (ctx.activation("blocks.0.mlp.hook_post")[:, -1] > 0).mean(axis=0)}
    try:
        assert analyze(ref, store, progress=False, analyzers=["mlp_sparsity_test"])["epochs_analyzed"] == 7
        assert store.load_artifact(ref, "mlp_sparsity_test")["active_fraction"].shape == (7, 512)
        register("mlp_sparsity_test", version=2)(mlp_sparsity)
        assert analyze(ref, store, progress=False, analyzers=["mlp_sparsity_test"])["epochs_analyzed"] == 7
    finally:
        registry.REGISTRY.pop("mlp_sparsity_test")


def test_parallel_workers_give_exactly_the_same_artifacts(short_run):
    # The workers are other processes with one thread each, this one has its own BLAS threads:
    # every per-checkpoint artifact must come out bit for bit the same (float64 analysis, ties by k).
    store, ref = short_run
    per_epoch = [n for n in registry.BUILTINS if registry.get(n).kind == "epoch"]
    analyze(ref, store, progress=False, workers=1, analyzers=per_epoch)
    serial = {name: store.load_artifact(ref, name) for name in per_epoch}
    analyze(ref, store, progress=False, workers=2, analyzers=per_epoch, force=True)
    for name in per_epoch:
        parallel = store.load_artifact(ref, name)
        assert sorted(parallel) == sorted(serial[name])
        for key in serial[name]:
            np.testing.assert_array_equal(parallel[key], serial[name][key], err_msg=f"{name}: {key}")


def test_bad_requests_are_explained(short_run, store):
    store_, ref = short_run
    with pytest.raises(UnknownAnalyzerError, match="unknown analyzer 'fourier'; known analyzers: attention_heads"):
        analyze(ref, store_, analyzers=["fourier"])
    with pytest.raises(MissingError, match="no checkpoints at epochs \\[15\\]"):
        analyze(ref, store_, epochs=[15], progress=False)
    with store_.lock(ref, "training"), pytest.raises(BusyError, match="busy"):
        analyze(ref, store_, progress=False)
    with pytest.raises(MissingError, match="no variant tiny_addition/nope"):
        analyze(VariantRef("tiny_addition", "nope"), store_)


def test_a_handful_of_checkpoints_is_analyzed_without_a_worker_pool(monkeypatch):
    """Worker processes cost seconds each to start (a fresh Python importing torch): an imported
    checkpoint or a few are analyzed in this process, a long run's hundred in one worker per core."""
    from workbench import pipeline
    monkeypatch.setattr(pipeline.threads, "available", lambda: 2)  # two free cores, whatever the machine is doing
    p113 = pipeline.SECONDS_PER_P113_CHECKPOINT
    assert all(pipeline._worker_count(None, n * p113, ["neuron_frequencies"]) == 1 for n in range(1, 9))
    assert pipeline._worker_count(None, 101 * p113, ["neuron_frequencies"]) == 2
