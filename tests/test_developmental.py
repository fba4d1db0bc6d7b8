"""Developmental interpretability: the local learning coefficient (devinterp SGLD) on the tiny real
run, the chain-health check, and essential dynamics recovering a planted low-rank output path."""
from __future__ import annotations

import numpy as np
import pytest

from workbench import compare, llc
from workbench.analyzers.context import EpochContext
from workbench.analyzers.developmental import essential_dynamics, output_pairs
from workbench.families import FamilyError, load_family
from workbench.familyschema import LLC_DEFAULTS
from workbench.pipeline import analyze, status
from workbench.renderers import CATALOG
from workbench.store import VariantRef


@pytest.fixture(scope="session")
def tiny_llc(tiny_trained):
    """The tiny run with the optional `llc` analyzer (tests/families/tiny_addition.toml: 2 chains x
    40 draws), and every progress call the pipeline made: (store, ref, calls)."""
    store, variant = tiny_trained
    ref = VariantRef(variant.family, variant.id)
    calls = []
    analyze(ref, store, analyzers=["llc"], progress=False, workers=1,
            callback=lambda done, total, what: calls.append((done, total, what)))
    return store, ref, calls


def _memorized_epoch(store, ref) -> int:
    train_acc = store.load_history(ref)["train_acc"]
    return next(e for e in store.checkpoint_epochs(ref) if train_acc[e] >= 0.99)


def test_llc_is_finite_at_every_checkpoint_and_its_chains_healthy_once_trained(tiny_llc):
    """λ̂ is defined at a local minimum of the loss (Lau et al. 2023). A trained checkpoint is near
    one, so every chain must rise from L_n(w*) and level off. The random initialization is not a
    minimum: a chain there may still drift; λ̂ must be finite, and the figure reports the drift."""
    store, ref, _ = tiny_llc
    data = store.load_artifact(ref, "llc")
    assert list(data["epochs"]) == store.checkpoint_epochs(ref)
    assert np.isfinite(data["llc_mean"]).all() and np.isfinite(data["llc_std"]).all()
    assert data["loss_trace"].shape == (len(data["epochs"]), 2, 40) and np.isfinite(data["loss_trace"]).all()
    trained = data["epochs"] > 0
    assert (data["chain_health"][trained] == llc.HEALTHY).all(), data["chain_health"]


def test_llc_rises_through_memorization_and_falls_when_the_model_groks(tiny_llc):
    """The sign in the literature: λ̂ counts the effective parameters the solution uses. It grows
    while the model memorizes its training pairs and drops when the simpler generalizing circuit
    takes over (devinterp's grokking example; Timaeus's grokking project). So λ̂ at
    initialization < λ̂ at memorization > λ̂ after grokking."""
    store, ref, _ = tiny_llc
    data = store.load_artifact(ref, "llc")
    by_epoch = dict(zip(data["epochs"].tolist(), data["llc_mean"]))
    memorized = _memorized_epoch(store, ref)
    assert by_epoch[0] < by_epoch[memorized] / 2
    assert by_epoch[data["epochs"][-1]] < by_epoch[memorized] / 2


def test_sampler_progress_reaches_the_pipeline_callback(tiny_llc):
    _, ref, calls = tiny_llc
    inside = [c for c in calls if "LLC chain" in c[2]]
    assert inside and all(0 < done <= total for done, total, _ in inside)
    assert any(done % 1 for done, _, _ in inside)  # fractions of a checkpoint
    assert inside[0][2].startswith("epoch 0: LLC chain 1/2")


def test_llc_is_reproducible_with_fixed_seeds_and_the_seed_matters(tiny_trained):
    store, variant = tiny_trained
    ref = VariantRef(variant.family, variant.id)
    ctx = EpochContext(variant.spec, 100, store.load_weights(ref, 100))
    settings = {**LLC_DEFAULTS, "chains": 2, "draws": 12}
    pairs = ctx.pairs[ctx.train_mask]
    first, again = llc.estimate_llc(ctx.model, pairs, settings), llc.estimate_llc(ctx.model, pairs, settings)
    assert np.array_equal(first["loss_trace"], again["loss_trace"]) and first["llc_mean"] == again["llc_mean"]
    other = llc.estimate_llc(ctx.model, pairs, {**settings, "seed": 7})
    assert not np.array_equal(first["loss_trace"], other["loss_trace"])


def test_chain_health_flags_diverging_climbing_and_flat_chains():
    rng = np.random.default_rng(0)
    draws = np.arange(200)
    init = 0.01
    healthy = init + 0.05 * (1 - np.exp(-draws / 15)) + 0.004 * rng.standard_normal(200)
    climbing = init + 0.002 * draws                             # never levels off
    exploding = init + np.exp(draws / 20) * 1e-3
    stopped = healthy.copy()
    stopped[120:] = np.nan                                      # devinterp stopped it on a non-finite loss
    flat = np.full(200, init)
    health = llc.chain_health(np.stack([healthy, climbing, exploding, stopped, flat]), init)
    assert health.tolist() == [llc.HEALTHY, llc.DIVERGED, llc.DIVERGED, llc.DIVERGED, llc.FLAT]


def test_llc_settings_come_from_the_family_and_a_change_makes_llc_stale(tiny_llc, tmp_path, monkeypatch):
    store, ref, _ = tiny_llc
    assert status(ref, store, ["llc"])["llc"]["stale"] == 0
    families = tmp_path / "families"
    families.mkdir()
    source = load_family("tiny_addition").source
    (families / "tiny_addition.toml").write_text(source.read_text().replace("draws = 40", "draws = 50"))
    monkeypatch.setenv("WORKBENCH_FAMILIES", str(families))
    assert status(ref, store, ["llc"])["llc"]["stale"] == len(store.checkpoint_epochs(ref))


def test_bad_llc_settings_are_refused_with_the_key_and_a_valid_value(tmp_path, monkeypatch):
    (tmp_path / "bad.toml").write_text('extends = "tiny_addition"\n[llc]\nnbeta = -1.0\n')
    (tmp_path / "typo.toml").write_text('extends = "tiny_addition"\n[llc]\nepsilon = 1e-4\n')
    monkeypatch.setenv("WORKBENCH_FAMILIES", f"{tmp_path}:{load_family('tiny_addition').source.parent}")
    with pytest.raises(FamilyError, match=r"llc\.nbeta = -1\.0 is invalid; it must be a positive"):
        load_family("bad")
    with pytest.raises(FamilyError, match=r"unknown key 'llc\.epsilon'; known keys in \[llc\]: lr, nbeta"):
        load_family("typo")
    assert load_family("modular_addition").spec["llc"] == LLC_DEFAULTS  # the file documents the defaults


def _planted_outputs(n=40, n_pairs=30, p=7, seed=0):
    """Logits base + c1(t) U1 + c2(t) U2 + d(t) (one constant per input, the direction the
    softmax ignores), U1, U2 orthonormal directions of per-input-centred outputs."""
    rng = np.random.default_rng(seed)
    directions = rng.standard_normal((2, n_pairs, p))
    directions -= directions.mean(axis=-1, keepdims=True)
    q, _ = np.linalg.qr(directions.reshape(2, -1).T)
    u = q.T.reshape(2, n_pairs, p)
    t = np.linspace(0, np.pi, n)
    c1, c2 = 3 * np.cos(t), np.cos(2 * t)  # uncorrelated over t (odd and even about π/2)
    drift = 50 * t[:, None, None] * rng.standard_normal((1, n_pairs, 1))
    base = rng.standard_normal((n_pairs, p))
    logits = base + c1[:, None, None] * u[0] + c2[:, None, None] * u[1] + drift
    return logits, np.arange(n) * 10, np.stack([c1 - c1.mean(), c2 - c2.mean()], axis=1)


def test_essential_dynamics_recovers_a_planted_low_rank_output_path():
    logits, epochs, path = _planted_outputs()
    out = essential_dynamics(logits, epochs)
    projection = out["outputs.projection"].astype(np.float64)
    assert out["outputs.explained_variance"][:2].sum() > 0.999   # the per-input drift is not a direction
    for k in range(2):                                           # PC k is the planted coordinate k (up to sign)
        assert np.allclose(np.abs(projection[:, k]), np.abs(path[:, k]), atol=1e-4)
    assert np.allclose(projection[:, 2], 0, atol=1e-4)


def test_output_pairs_keep_small_grids_whole_and_subsample_large_ones_the_same_way_every_time():
    assert np.array_equal(output_pairs(31), np.arange(31 * 31))
    pairs = output_pairs(113)
    assert len(pairs) == 2 ** 16 // 113 == 579 and np.array_equal(pairs, np.unique(pairs))
    assert np.array_equal(pairs, output_pairs(113)) and pairs.max() < 113 * 113


def test_essential_dynamics_of_the_tiny_run_and_its_shared_frame(tiny_analyzed):
    store, ref = tiny_analyzed
    data = store.load_artifact(ref, "essential_dynamics")
    epochs = store.checkpoint_epochs(ref)
    assert data["outputs.projection"].shape == (len(epochs), 3) and data["pairs"].shape == (31 * 31,)
    assert 0.5 < data["outputs.explained_variance"].sum() <= 1 + 1e-6
    shared = compare.shared_trajectory(store, [ref], compare.OUTPUTS)
    assert np.allclose(np.abs(shared["projection"][0]), np.abs(data["outputs.projection"]), atol=1e-3)
    fig = CATALOG["essential_dynamics"](data, 300)
    assert fig.layout.meta["click"] == "epoch" and "ringed" in fig.layout.title.text
    assert {trace.customdata[0] for trace in fig.data if trace.customdata is not None} <= set(epochs)


def test_llc_figure_bands_the_mean_marks_unhealthy_chains_and_shades_phases(tiny_llc):
    store, ref, _ = tiny_llc
    data = dict(store.load_artifact(ref, "llc"))
    health = data["chain_health"].copy()
    health[3] = [llc.DIVERGED, llc.FLAT]
    data["chain_health"] = health
    fig = CATALOG["llc_over_epochs"](data, 100, phases=[(0, 50, "memorization")])
    assert fig.layout.meta["click"] == "epoch" and fig.layout.meta["cursor_shapes"] == 2
    assert [s.x0 for s in fig.layout.shapes[:2]] == [100, 100]
    assert "with unhealthy chains" in fig.layout.title.text
    marks = next(t for t in fig.data if t.name == "unhealthy chain(s)")
    assert int(data["epochs"][3]) in list(marks.customdata) and "chain 1 diverged, chain 2 flat" in marks.text
    assert any(s.type == "rect" for s in fig.layout.shapes)       # the phase
    chains = CATALOG["llc_chains"](data, int(data["epochs"][3]))
    assert "chain 1 diverged" in chains.layout.title.text and len(chains.data) == 2
    assert chains.layout.xaxis.title.text and chains.layout.yaxis.title.text and chains.layout.meta["caption"]


def test_llc_overlay_and_the_missing_llc_message(tiny_llc, tiny_analyzed):
    store, ref, _ = tiny_llc
    data = compare.overlay_data("llc", [str(ref)], lambda v, reads: store.load_artifact(ref, reads), {})
    epochs, values = data["variants"][0]["lines"]["LLC"]
    assert list(epochs) == store.checkpoint_epochs(ref) and np.isfinite(values).all()
    from workbench.errors import NotAnalyzedError
    from workbench.figures import missing_message
    message = missing_message(ref, NotAnalyzedError("not there", ref=ref, analyzer="llc"))
    assert f"workbench analyze {ref} --analyzers llc" in message.layout.annotations[0].text


def test_worker_processes_forward_sampler_progress(tiny_trained, tmp_path):
    """With worker processes (one per core), the chains' progress comes back through a queue."""
    import shutil
    store, variant = tiny_trained
    ref = VariantRef(variant.family, variant.id)
    from workbench.store import Store
    copy = Store(tmp_path / "data")
    # Only the run itself: the LLC artifacts other tests computed must not leak into this series.
    shutil.copytree(store.variant_dir(ref), copy.variant_dir(ref), ignore=shutil.ignore_patterns("artifacts"))
    calls = []
    analyze(ref, copy, analyzers=["llc"], epochs=[0, 500], progress=False, workers=2, force=True,
            callback=lambda done, total, what: calls.append((done, total, what)))
    notes = [what for _, _, what in calls if "LLC chain" in what]
    assert {note.split(":")[0] for note in notes} == {"epoch 0", "epoch 500"}
    assert list(copy.load_artifact(ref, "llc")["epochs"]) == [0, 500]
