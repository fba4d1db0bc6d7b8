"""A run while it trains: live rows, the run's state, analysis that follows it (and ends where an
analysis afterwards would), stacked series that grow by appending, pages that append by Patch."""
from __future__ import annotations

import threading

import dash
import numpy as np
import pytest

from workbench import jobs, live
from workbench.analyzers import registry
from workbench.errors import BusyError
from workbench.families import load_family
from workbench.pages import overview
from workbench.following import follow
from workbench.pipeline import analyze
from workbench.store import Store
from workbench.training import train

VARIANT = dict(epochs=150, every=[[10, 150]])


def test_training_appends_every_epoch_live_and_leaves_only_the_saved_history(store):
    variant = load_family("tiny_addition").variant(**VARIANT)
    seen = {}

    def look(epoch, _metrics):
        if epoch in (13, 57):  # between checkpoints: the saved history ends at the last one
            state = live.state(store, variant.ref)
            history = live.history(store, variant.ref)
            seen[epoch] = (state, history.x("train_loss")[-1], store.load_history(variant.ref).x("train_loss")[-1])
    train(variant, store, progress=False, callback=look)
    state, shown, saved = seen[57]
    assert saved == 50 and 50 <= shown <= 57 and state["status"] == "training" and state["epochs"] == 150
    assert state["checkpoints"] == 6 and state["last_checkpoint"] == 50
    assert "training · epoch" in live.describe(state) and "/ 150" in live.describe(state)
    assert not store.live_path(variant.ref).exists()  # finished: the history is saved, the live file gone
    final = live.history(store, variant.ref)
    assert np.array_equal(final["train_loss"], store.load_history(variant.ref)["train_loss"])
    assert live.describe(live.state(store, variant.ref)).startswith("trained · epoch 150 / 150")


def test_live_rows_merge_with_the_saved_history_test_series_at_their_own_epochs(store, tiny_trained):
    source, variant = tiny_trained
    ref = variant.ref
    store.write_info(ref, source.info(ref))
    saved = source.load_history(ref)
    cut = {k: (x[x <= 100], y[x <= 100]) for k, (x, y) in saved.series.items()}
    store.save_history(ref, live.History(cut))
    with store.lock(ref, "training"):
        log = live.LiveLog(store, ref, list(saved), start=90, epochs=500, sparse=("test_loss", "test_acc"), every=1e9)
        for epoch in range(90, 131):
            log.add(epoch, {k: saved.value_at(k, epoch) for k in saved}, tested=epoch % 10 == 0)
        assert live.history(store, ref).x("train_loss")[-1] == 100  # nothing flushed yet
        log.flush()
        merged = live.history(store, ref)
        assert merged.x("train_loss").tolist() == list(range(131))
        assert merged.x("test_loss").tolist() == list(range(90)) + list(range(90, 131, 10))
        assert np.array_equal(merged["train_loss"], saved["train_loss"][:131])
        x, y = live.new_points(merged, "train_loss", 128)
        assert x == [129, 130] and y == saved["train_loss"][129:131].tolist()
        log.close()
    assert live.history(store, ref).x("train_loss")[-1] == 100


def test_a_page_appends_a_live_runs_new_points_by_patch_and_redraws_only_what_changed(store, tiny_trained):
    source, variant = tiny_trained
    ref = variant.ref
    store.write_info(ref, {**source.info(ref), "status": "training"})
    saved = source.load_history(ref)
    store.save_history(ref, live.History({k: (x[x <= 100], y[x <= 100]) for k, (x, y) in saved.series.items()}))
    for epoch in (0, 50, 100):
        store.save_checkpoint(ref, epoch, source.load_weights(ref, epoch))
    selection = {"variant": str(ref), "epoch": 100}
    with store.lock(ref, "training"):
        log = live.LiveLog(store, ref, list(saved), start=101, epochs=500, every=1e9)
        *first, rendered = overview.FIGURES.summaries(store, selection, None)
        for epoch in range(101, 141):
            log.add(epoch, {k: saved.value_at(k, epoch) for k in saved})
        log.flush()
        *update, rendered_again = overview.FIGURES.summaries(store, selection, rendered)
        log.close()
    loss = update[0].to_plotly_json()["operations"]
    extended = {tuple(op["location"]): op["params"]["value"] for op in loss if op["operation"] == "Extend"}
    assert extended[("data", 0, "x")] == list(range(101, 141))           # train loss: the 40 new epochs
    assert extended[("data", 1, "x")] == list(range(101, 141))           # test loss, evaluated every epoch here
    assert all(figure is dash.no_update for figure in update[1:4])  # unchanged: nothing sent
    assert rendered_again["loss"]["lines"][0][3] == 140
    # The analysis moving on redraws the figures it feeds, not the loss curve.
    analyze(ref, store, analyzers=["fourier_embedding"], progress=False, workers=1)
    *after, _ = overview.FIGURES.summaries(store, selection, rendered_again)
    assert isinstance(after[1], dict) and after[1]["data"][0]["type"] == "heatmap"
    assert not isinstance(after[0], dict)


def test_stopping_and_resuming_a_followed_run_gives_the_artifacts_of_analyzing_it_afterwards(tmp_path):
    followed, afterwards = Store(tmp_path / "followed"), Store(tmp_path / "afterwards")
    variant = load_family("tiny_addition").variant(**VARIANT)
    followers = []

    def start_follower_then(stop_at):
        def callback(epoch, _metrics):
            if not followers or not followers[-1].is_alive():  # the run holds its lock now: follow it
                followers.append(threading.Thread(target=follow, args=(variant.ref, followed),
                                                  kwargs=dict(progress=False, poll=0.02, series_every=0.2)))
                followers[-1].start()
            return epoch == stop_at
        return callback
    info = train(variant, followed, progress=False, callback=start_follower_then(70))
    followers[-1].join()
    assert info["status"] == "training" and followed.status(variant.ref) == "interrupted"  # stopped, resumable
    assert followed.read_manifest(variant.ref)["epoch"]["fourier_embedding"].keys() >= {"0", "30", "70"}
    train(variant, followed, progress=False, callback=start_follower_then(None))
    followers[-1].join()
    assert followed.status(variant.ref) == "analyzed"

    train(variant, afterwards, progress=False)
    analyze(variant.ref, afterwards, progress=False, workers=1)
    assert followed.read_manifest(variant.ref) == afterwards.read_manifest(variant.ref)
    for analyzer in registry.BUILTINS:
        epochs = [None] + (followed.checkpoint_epochs(variant.ref) if registry.get(analyzer).kind == "epoch" else [])
        for epoch in epochs:
            mine, theirs = (s.load_artifact(variant.ref, analyzer, epoch) for s in (followed, afterwards))
            assert mine.keys() == theirs.keys()
            assert all(np.array_equal(mine[k], theirs[k], equal_nan=True) for k in mine), (analyzer, epoch)


def test_stacked_series_grow_by_appending_the_new_checkpoints_only(tiny_trained, tmp_path, monkeypatch):
    source, variant = tiny_trained
    store = Store(tmp_path / "data")
    ref = variant.ref
    store.write_info(ref, source.info(ref))
    store.save_history(ref, source.load_history(ref))
    epochs = source.checkpoint_epochs(ref)
    for epoch in epochs[:5]:
        store.save_checkpoint(ref, epoch, source.load_weights(ref, epoch))
    analyze(ref, store, analyzers=["fourier_embedding"], progress=False, workers=1)
    for epoch in epochs[5:8]:
        store.save_checkpoint(ref, epoch, source.load_weights(ref, epoch))
    read = []
    original = Store.load_artifact
    monkeypatch.setattr(Store, "load_artifact", lambda self, r, name, epoch=None: (read.append(epoch),
                                                                                    original(self, r, name, epoch))[1])
    analyze(ref, store, analyzers=["fourier_embedding"], progress=False, workers=1)
    assert sorted(e for e in read if e is not None) == epochs[5:8] and read.count(None) == 1
    stacked = original(store, ref, "fourier_embedding")
    assert stacked["epochs"].tolist() == epochs[:8]
    fresh = {k: np.stack([original(store, ref, "fourier_embedding", e)[k] for e in epochs[:8]]) for k in stacked
             if k != "epochs"}
    assert all(np.array_equal(stacked[k], fresh[k]) for k in fresh)


def test_an_analysis_follows_beside_its_training_but_a_plain_one_is_refused(store):
    variant = load_family("tiny_addition").variant(**VARIANT)
    job = jobs.submit_train(store, variant)
    follower = jobs.submit_analyze(store, variant.ref, follow=True)  # before the variant exists
    assert follower["args"]["follow"] and job["state"] == "queued"
    with pytest.raises(BusyError, match="already queued"):
        jobs.submit_train(store, variant)
    train(variant, store, progress=False, callback=lambda epoch, _m: epoch == 20)
    with store.lock(variant.ref, "training"), pytest.raises(BusyError, match="--follow"):
        analyze(variant.ref, store, progress=False)
    with store.lock(variant.ref, "following training", "analysis"), pytest.raises(BusyError, match="following"):
        analyze(variant.ref, store, progress=False)
    result = follow(variant.ref, store, progress=False)  # not training: one ordinary pass, then done
    assert result["followed"] == 0 and result["epochs_analyzed"] == 3
