"""Training alerts and gates on planted curves."""
from __future__ import annotations

import numpy as np
import pytest

from workbench import alerts, gates


def noisy(values, sd=0.01, seed=0):
    return np.asarray(values) * np.exp(np.random.default_rng(seed).normal(0, sd, len(values)))


def test_a_step_drop_at_epoch_400_is_detected_at_400_within_2():
    epochs = np.arange(1000)
    accuracy = np.where(epochs < 400, 0.9, 0.3) + np.random.default_rng(0).normal(0, 0.01, 1000)
    found = alerts.abrupt_changes("val_acc", epochs, accuracy)
    assert len(found) == 1 and abs(found[0].epoch - 400) <= 2
    assert found[0].evidence["median before"] == pytest.approx(0.9, abs=0.01)
    assert found[0].evidence["median after"] == pytest.approx(0.3, abs=0.01)


def test_a_loss_term_switching_on_is_a_jump_but_a_smooth_fast_descent_is_not():
    epochs = np.arange(600)
    loss = noisy(np.where(epochs < 250, 1.0 / (1 + epochs / 30), 2.5))
    [jump] = alerts.abrupt_changes("train_loss", epochs, loss)
    assert abs(jump.epoch - 250) <= 2 and "loss term" in jump.cause
    grokking = noisy(10 ** np.interp(epochs, [0, 300, 340, 600], np.log10([3.0, 3.0, 0.01, 0.005])))  # 300× in 40
    assert alerts.abrupt_changes("test_loss", epochs, grokking) == []


def test_a_planted_divergence_after_a_best_epoch_1_is_reported():
    epochs = np.arange(200)
    loss = np.r_[2.0, 0.5, np.linspace(1.2, 4.0, 198)]
    [alert] = alerts.divergence_after_best("train_loss", epochs, loss)
    assert alert.epoch == 1 and alert.evidence["best"] == 0.5 and alert.evidence["final"] == 4.0
    assert alerts.divergence_after_best("train_loss", epochs, loss[::-1]) == []     # best at the end: fine


def test_a_sustained_rise_needs_three_rises_over_twenty_percent_in_a_row():
    loss = np.r_[1.0, 0.9, 0.8, 1.0, 1.3, 1.7, 2.2, 2.0, 1.0, 1.25, 1.0]
    [rise] = alerts.sustained_rise("loss", np.arange(len(loss)), loss)
    assert rise.epoch == 2 and rise.evidence["samples rising"] == 4 and rise.evidence["to"] == 2.2
    assert alerts.sustained_rise("loss", np.arange(len(loss)), loss, alerts.AlertRules(rise=0.3)) == []


def test_non_finite_values_weak_gradients_and_exploding_weights():
    x = np.arange(100.0)
    loss = np.r_[np.linspace(2, 1, 60), np.inf, np.full(39, np.nan)]
    [bad] = alerts.non_finite("loss", x, loss)
    assert bad.epoch == 60 and bad.evidence["last finite value"] == 1.0 and bad.evidence["non-finite samples"] == 40
    grads = {name: (x, np.full(100, 1.0)) for name in ("embed", "attn", "mlp")}
    grads["head_b"] = (x, np.r_[np.ones(30), np.full(70, 1e-4)])
    [weak] = alerts.weak_gradients(grads)
    assert weak.series == "head_b" and weak.epoch == 30 and weak.evidence["samples"] == 70
    [explode] = alerts.exploding_norm("weight norm", x, 5 * 1.05 ** x)
    assert explode.epoch == 48                                       # 1.05^47 = 9.9, 1.05^48 = 10.4


def test_gates_pass_fail_and_wait_for_their_deadline():
    epochs = np.arange(6.0)
    run = {"val_acc": (epochs, np.array([0.1, 0.3, 0.45, 0.6, 0.4, 0.7])), "loss": (epochs, np.linspace(1, 0, 6))}
    early, late, held = gates.evaluate_all("val_acc >= 0.5 by epoch 3; test_acc ≥ 0.2\nloss < 2", run)
    assert early.status.tolist() == [0, 0, 0, 1, -1, 1] and early.first_failure == 4 and early.verdict.startswith("failed")
    assert late.series == "val_acc" and late.status.tolist() == [-1, 1, 1, 1, 1, 1]   # test_acc ↔ val_acc by role
    assert held.verdict == "passed"


def test_unreadable_gates_say_what_a_gate_looks_like():
    with pytest.raises(gates.GateError, match="METRIC OP VALUE"):
        gates.parse_gates("val_acc is good")
    with pytest.raises(gates.GateError, match="does not log"):
        gates.evaluate_all("bleu > 3", {"loss": (np.arange(3), np.ones(3))})


def test_summaries_print_nan_and_inf_evidence():
    x = np.arange(20.0)
    [bad] = alerts.non_finite("test_loss", x, np.r_[np.full(5, np.nan), np.linspace(2, 1, 15)])
    assert "value nan" in bad.summary() and "last finite value nan" in bad.summary()
    alert = alerts.Alert("non-finite value", float("nan"), "loss", "cause", {"value": float("-inf"), "n": 3})
    assert alert.summary() == "non-finite value in loss at nan: value -inf, n 3. cause"
