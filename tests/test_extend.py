"""Learning-rate schedules, and extending a trained variant in place (more epochs, denser checkpoints)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from workbench.families import FamilyError, load_family
from workbench.store import Store, VariantRef
from workbench.errors import UserError
from workbench.training import extend, learning_rate, train


def ref(variant):
    return VariantRef(variant.family, variant.id)


def test_cosine_schedule_warms_up_then_falls_to_its_final_fraction():
    training = {"lr": 1e-2, "warmup_epochs": 10, "epochs": 110, "lr_schedule": "cosine", "lr_final_fraction": 0.1}
    assert learning_rate(training, 5) == pytest.approx(5e-3)
    assert learning_rate(training, 10) == pytest.approx(1e-2)
    assert learning_rate(training, 60) == pytest.approx(1e-2 * (0.1 + 0.9 * 0.5))  # half way: cos(pi/2) = 0
    assert learning_rate(training, 110) == pytest.approx(1e-3)


def test_step_schedule_multiplies_the_rate_every_step():
    training = {"lr": 1.0, "warmup_epochs": 0, "epochs": 1000, "lr_schedule": "step", "lr_step_epochs": 100,
                "lr_step_factor": 0.5}
    assert [learning_rate(training, e) for e in (0, 99, 100, 250)] == [1.0, 1.0, 0.5, 0.25]


def test_constant_schedule_is_the_papers_warm_up():
    training = {"lr": 1e-3, "warmup_epochs": 10, "epochs": 100}
    assert [learning_rate(training, e) for e in (0, 5, 10, 90)] == [0.0, 5e-4, 1e-3, 1e-3]


def test_schedule_overrides_name_the_variant_and_leave_old_recipes_alone():
    family = load_family("tiny_addition")
    assert "lr_schedule" not in family.variant().spec["training"]  # old records keep comparing equal
    assert family.variant(lr_schedule="constant").id == family.variant().id
    cosine = family.variant(lr_schedule="cosine", lr_final_fraction=0.0)
    assert cosine.id.endswith("lr_schedule=cosine") and cosine.spec["training"]["lr_schedule"] == "cosine"
    with pytest.raises(FamilyError, match="one of constant, cosine, step"):
        family.variant(lr_schedule="exponential")


def test_extending_epochs_gives_the_history_of_the_longer_run(store, tmp_path):
    family = load_family("tiny_addition")
    variant = family.variant(epochs=60, every=[[20, 200]])
    train(variant, store, progress=False)
    info = extend(ref(variant), store, epochs=100, progress=False)
    assert info["status"] == "trained" and info["spec"]["training"]["epochs"] == 100
    assert store.checkpoint_epochs(ref(variant)) == [0, 20, 40, 60, 80, 100]
    longer = family.variant(epochs=100, every=[[20, 200]])
    other = Store(tmp_path / "straight")
    train(longer, other, progress=False)
    extended, straight = store.load_history(ref(variant)), other.load_history(ref(longer))
    assert all(np.array_equal(extended[k], straight[k], equal_nan=True) for k in straight)
    assert train(variant, store, progress=False)["status"] == "trained"  # the family's command still works


def test_a_checkpoint_window_replays_through_the_same_weights(store, tmp_path):
    family = load_family("tiny_addition")
    variant = family.variant(epochs=60, every=[[20, 60]])
    train(variant, store, progress=False)
    info = extend(ref(variant), store, window=(25, 35, 5), progress=False)
    assert store.checkpoint_epochs(ref(variant)) == [0, 20, 25, 30, 35, 40, 60]
    record = info["extensions"][-1]
    assert record["replayed_from"] == 20 and record["added"] == 3 and record["max_loss_deviation"] == 0.0
    dense = family.variant(epochs=60, every=[[5, 60]])
    other = Store(tmp_path / "dense")
    train(dense, other, progress=False)
    for epoch in (25, 30, 35):
        a, b = store.load_weights(ref(variant), epoch), other.load_weights(ref(dense), epoch)
        assert all(np.array_equal(a[k], b[k]) for k in a)


def test_extensions_that_cannot_be_done_say_why(store):
    variant = load_family("tiny_addition").variant(epochs=40, every=[[20, 40]])
    train(variant, store, progress=False)
    with pytest.raises(UserError, match="more than that"):
        extend(ref(variant), store, epochs=30, progress=False)
    with pytest.raises(UserError, match="must end by then"):
        extend(ref(variant), store, window=(10, 80, 5), progress=False)
    cosine = load_family("tiny_addition").variant(epochs=40, every=[[20, 40]], lr_schedule="cosine")
    train(cosine, store, progress=False)
    with pytest.raises(UserError, match="cosine schedule"):
        extend(ref(cosine), store, epochs=80, progress=False)
    assert math.isfinite(store.info(ref(cosine))["final"]["train_loss"])


def test_extending_a_run_with_eval_every_keeps_its_cadence(store, tmp_path):
    family = load_family("tiny_addition")
    variant = family.variant(epochs=60, every=[[20, 200]], eval_every=7)
    train(variant, store, progress=False)
    extend(ref(variant), store, epochs=100, progress=False)
    longer = family.variant(epochs=100, every=[[20, 200]], eval_every=7)
    other = Store(tmp_path / "straight")
    train(longer, other, progress=False)
    extended, straight = store.load_history(ref(variant)), other.load_history(ref(longer))
    tested = sorted({*range(0, 101, 7), 20, 40, 60, 80, 100})  # the cadence, every checkpoint, the last epoch
    for key in ("test_loss", "test_acc"):
        np.testing.assert_array_equal(extended.x(key), tested)
        np.testing.assert_array_equal(extended[key], straight[key])
    assert all(np.array_equal(extended[k], straight[k], equal_nan=True) for k in straight)
