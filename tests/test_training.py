"""The training loop: deterministic, resumable, locked, and it really groks."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from workbench.families import load_family
from workbench.store import VariantRef
from workbench.errors import BusyError
from workbench.tasks import answers, train_test_split
from workbench.training import train


def short(epochs=60, **overrides):
    return load_family("tiny_addition").variant(epochs=epochs, every=[[20, epochs]], **overrides)


def ref(variant):
    return VariantRef(variant.family, variant.id)


def test_split_depends_only_on_the_data_seed():
    random.seed(1)
    first = train_test_split(31, 0.5, 598)
    random.seed(2)
    again = train_test_split(31, 0.5, 598)
    other = train_test_split(31, 0.5, 599)
    assert all(np.array_equal(x, y) for x, y in zip(first, again))
    assert not np.array_equal(first[0], other[0])
    train_idx, test_idx = first
    assert len(train_idx) == int(0.5 * 31 * 31) and len(set(train_idx) | set(test_idx)) == 31 * 31


def test_reference_split_has_the_papers_sizes():
    train_idx, test_idx = train_test_split(113, 0.3, 598)
    assert (len(train_idx), len(test_idx)) == (3830, 8939)


def test_operations_give_the_right_answers():
    assert answers("add", 7)[3 * 7 + 5] == 1
    assert answers("subtract", 7)[3 * 7 + 5] == 5
    assert answers("multiply", 7)[3 * 7 + 5] == 1


def test_same_seeds_give_identical_histories(store, tmp_path):
    from workbench.store import Store
    variant = short()
    torch.manual_seed(0)
    train(variant, store, progress=False)
    other = Store(tmp_path / "other")
    torch.manual_seed(12345)  # global RNG state must not matter
    train(variant, other, progress=False)
    first, second = store.load_history(ref(variant)), other.load_history(ref(variant))
    assert first.keys() == second.keys()
    assert all(np.array_equal(first[k], second[k], equal_nan=True) for k in first)
    assert not np.array_equal(first["train_loss"],
                              _history_of(short(seed=1), tmp_path / "seed1")["train_loss"])


def _history_of(variant, root):
    from workbench.store import Store
    store = Store(root)
    train(variant, store, progress=False)
    return store.load_history(ref(variant))


def test_history_records_losses_norms_and_learning_rate_every_epoch(store):
    variant = short(epochs=40)
    info = train(variant, store, progress=False)
    history = store.load_history(ref(variant))
    assert len(history["train_loss"]) == 41 and not np.isnan(history["test_acc"]).any()
    assert history["lr"][0] == 0 and history["lr"][5] == pytest.approx(0.5e-2) and history["lr"][20] == 1e-2
    assert (history["weight_norm.embed.W_E"] > 0).all() and (history["grad_norm.unembed.W_U"] > 0).all()
    assert store.checkpoint_epochs(ref(variant)) == [0, 20, 40]
    assert info["status"] == "trained" and info["final"]["train_loss"] == history["train_loss"][-1]


def test_interrupted_run_resumes_to_the_uninterrupted_history(store, tmp_path):
    variant = short(epochs=60)
    stop_at = 47  # between checkpoints 40 and 60: resumes from 40 and redoes 40..47
    train(variant, store, progress=False, callback=lambda epoch, _: epoch == stop_at)
    assert store.status(ref(variant)) == "interrupted"
    assert store.checkpoint_epochs(ref(variant)) == [0, 20, 40]
    train(variant, store, progress=False)
    resumed = store.load_history(ref(variant))
    uninterrupted = _history_of(variant, tmp_path / "straight")
    assert all(np.array_equal(resumed[k], uninterrupted[k], equal_nan=True) for k in resumed)
    from workbench.store import Store
    final_a = store.load_weights(ref(variant), 60)
    final_b = Store(tmp_path / "straight").load_weights(ref(variant), 60)
    assert all(np.array_equal(final_a[k], final_b[k]) for k in final_a)


def test_a_second_trainer_of_the_same_variant_is_refused(store):
    variant = short()
    with store.lock(ref(variant), "training"):
        with pytest.raises(BusyError, match="busy"):
            train(variant, store, progress=False)


@pytest.mark.slow
def test_tiny_run_memorizes_then_generalizes(tiny_trained):
    store, variant = tiny_trained
    history = store.load_history(ref(variant))
    memorized = int(np.argmax(history["train_acc"] >= 0.999))
    generalized = int(np.argmax(history["test_acc"] >= 0.99))
    assert history["train_acc"][-1] == 1.0 and history["test_acc"][-1] >= 0.99
    assert history["test_acc"][memorized] < 0.6  # memorized first ...
    assert generalized > 5 * memorized  # ... generalized much later
    assert history["weight_norm.blocks.0.mlp.W_in"][-1] < history["weight_norm.blocks.0.mlp.W_in"][memorized]


def test_eval_every_keeps_the_test_series_sparse_at_its_own_epochs(store, tmp_path):
    from workbench.history import X_PREFIX
    from workbench.store import read_arrays
    dense = short(epochs=60)
    sparse = short(epochs=60, eval_every=7)
    assert sparse.id.endswith("eval_every=7") and "eval_every" not in dense.spec["training"]
    train(dense, store, progress=False)
    stop_at = 50  # interrupted and resumed from the checkpoint at 40: the sparse series resumes too
    train(sparse, store, progress=False, callback=lambda epoch, _: epoch == stop_at)
    info = train(sparse, store, progress=False)
    full, thin = store.load_history(ref(dense)), store.load_history(ref(sparse))
    tested = sorted({*range(0, 61, 7), 0, 20, 40, 60})        # every 7th epoch, every checkpoint, the last
    for key in ("test_loss", "test_acc"):
        np.testing.assert_array_equal(thin.x(key), tested)
        np.testing.assert_array_equal(thin[key], full[key][tested])   # the same values where evaluated
    for key in ("train_loss", "train_acc", "lr", "grad_norm.embed.W_E"):
        np.testing.assert_array_equal(thin[key], full[key])            # the test forward changes no training
        np.testing.assert_array_equal(thin.x(key), np.arange(61))
    assert info["final"]["test_loss"] == full["test_loss"][60]
    arrays = read_arrays(store.variant_dir(ref(sparse)) / "history.safetensors")[0]
    assert sorted(k for k in arrays if k.startswith(X_PREFIX)) == ["x/test_acc", "x/test_loss"]
    dense_file = read_arrays(store.variant_dir(ref(dense)) / "history.safetensors")[0]
    assert not any(k.startswith(X_PREFIX) for k in dense_file)       # eval_every = 1: the file as before
