"""Phases of a run (workbench.phases): planted curves with known events, the tiny real run, and
the shading every summary figure carries."""
from __future__ import annotations

import numpy as np

from workbench import phases


def double_descent(onset=600, n=1200, seed=0):
    """Test loss: a first descent, a rise to a plateau (epochs 250-599), then a second, straight
    descent from the planted onset to 1/100 of the plateau, with 2% multiplicative noise."""
    x = np.arange(n)
    loss = np.interp(x, [0, 100, 250, onset, onset + 300, n], [3.0, 1.0, 4.0, 4.0, 0.04, 0.04])
    return x, loss * np.exp(np.random.default_rng(seed).normal(0, 0.02, n))


def test_the_onset_of_a_planted_second_descent_is_found_where_it_was_planted():
    for planted in (500, 600, 750):
        x, loss = double_descent(planted)
        assert abs(phases.onset_of_descent(x, loss) - planted) <= 5


def test_a_held_out_loss_that_never_falls_tenfold_has_no_onset():
    x, loss = double_descent()
    assert phases.onset_of_descent(x, np.maximum(loss, 0.5)) is None


def test_events_and_phases_of_a_planted_run_come_in_order():
    x, test_loss = double_descent(600)
    train_loss = np.interp(x, [0, 200, 1200], [3.0, 0.01, 0.001])
    test_acc = np.interp(x, [0, 600, 900, 1200], [0.0, 0.2, 1.0, 1.0])
    weight_norm = np.interp(x, [0, 800, 1000, 1200], [10.0, 12.0, 6.0, 6.0])
    found = phases.detect_phases({"loss": (x, train_loss), "val/loss": (x, test_loss), "val_accuracy": (x, test_acc),
                                  "weight_norm": (x, weight_norm)})
    assert found.memorization_end == int(np.argmax(train_loss <= 0.05))
    assert abs(found.onset - 600) <= 5 and found.grok == int(np.argmax(test_acc >= 0.99))
    assert 990 <= found.cleanup_end <= 1010                                  # the weight norm settles at 1000
    names = [name for name, _, _ in found.intervals()]
    assert names == ["memorization", "circuit formation", "grokking", "cleanup"]
    assert phases.Phases.from_arrays(found.to_arrays()) == found


def test_roles_match_the_names_other_projects_use():
    found = phases.roles(["epoch", "loss", "val/loss", "val_accuracy", "train_acc", "restricted_loss"])
    assert found == {"train_loss": "loss", "test_loss": "val/loss", "train_acc": "train_acc",
                     "test_acc": "val_accuracy"}


def test_the_tiny_run_memorizes_then_turns_then_groks(tiny_analyzed):
    store, ref = tiny_analyzed
    from workbench.analyzers.dynamics import stored_phases
    found = stored_phases(store.load_artifact(ref, "loss_dynamics"))
    history = store.load_history(ref)
    assert found.memorization_end < found.onset < found.grok
    assert found.grok == int(np.argmax(history["test_acc"] >= 0.99))
    assert found.test_loss_peak == int(np.argmax(history["test_loss"])) <= found.onset


def test_every_summary_figure_shades_the_phases_behind_its_cursor(tiny_analyzed):
    store, ref = tiny_analyzed
    from workbench import figures
    from workbench.renderers import CATALOG
    for name in ("loss_and_accuracy", "progress_losses", "embedding_fourier_over_epochs", "trajectory_velocity"):
        assert CATALOG[name].kind == "summary"
        fig = figures.build(store, ref, name, {"variant": str(ref), "epoch": 250})
        n = fig.layout.meta["cursor_shapes"]
        assert n >= 1 and all(s.name == "cursor" and s.x0 == 250 for s in fig.layout.shapes[:n])
        shaded = [s for s in fig.layout.shapes[n:] if s.name == "phase"]
        assert len(shaded) >= 4 * n, name                                # 4 phases (+ the peak) per axis
        assert set(fig.layout.meta["phases"]) == {"memorization", "circuit formation", "grokking", "cleanup"}
    detail = figures.build(store, ref, "neuron_clusters", {"variant": str(ref), "epoch": 250})
    assert not any(s.name == "phase" for s in detail.layout.shapes)


def paper_curve(every=10, seed=0):
    """The public progress-measures curve's shape: test loss peaks at 26.6 around epoch 1,420,
    relaxes and declines slowly, falls below 1 at 7,583 and below 0.01 at 8,258 (REFERENCES.md);
    logged every `every` epochs with 3% multiplicative noise."""
    x = np.arange(0, 20001, every)
    anchors = [(0, 4.7), (1420, 26.6), (3000, 14.0), (6800, 8.0), (7583, 1.0), (8258, 0.01), (12000, 3e-4),
               (20000, 1e-4)]
    log_loss = np.interp(x, [a for a, _ in anchors], np.log10([v for _, v in anchors]))
    return x, 10 ** log_loss * np.exp(np.random.default_rng(seed).normal(0, 0.03, len(x)))


def slow_decline(seed=0):
    """The issue's full run: test loss logged every 10 of 107,791 epochs, ≈ 40 -> 11 almost
    linearly over 80k epochs, then a sharp drop (10x per 500 epochs) to 1e-3."""
    x = np.arange(0, 107_791, 10)
    loss = np.interp(x, [0, 1500, 80_000], [4.7, 40.0, 11.0])
    drop = x > 80_000
    loss[drop] = np.maximum(11.0 * 10 ** (-(x[drop] - 80_000) / 500), 1e-3)
    return x, loss * np.exp(np.random.default_rng(seed).normal(0, 0.03, len(x)))


def test_losses_only_the_paper_curve_has_its_peak_onset_and_grok_on_the_sharp_drop():
    for every in (1, 10):
        for seed in range(3):
            x, loss = paper_curve(every, seed)
            found = phases.detect_phases({"test_losses": (x, loss)})
            assert abs(found.test_loss_peak - 1420) <= 100
            assert 6300 <= found.onset <= 6800 < 7583          # where the slow decline bends into the drop
            assert 7583 <= found.grok <= 8258                  # held-out loss ≤ 0.05 nats: on the drop


def test_the_onset_after_a_slow_linear_decline_is_where_the_sharp_drop_starts():
    for seed in range(3):
        x, loss = slow_decline(seed)
        found = phases.detect_phases({"train_losses": (x, np.full(len(x), 1e-6)), "test_losses": (x, loss)})
        assert 79_000 <= found.onset <= 80_000                  # within the smoothing width (1% = 1,078 epochs)
        assert 80_000 < found.grok < 81_500 and found.memorization_end == 0
        assert found.onset > found.test_loss_peak + 70_000      # not clamped to the peak


def test_names_other_trainers_use_are_recognised_and_described():
    names = ["train_losses", "test_losses", "epoch"]
    assert phases.roles(names) == {"train_loss": "train_losses", "test_loss": "test_losses"}
    assert phases.describe_roles(names) == [
        "train loss <- train_losses", "held-out loss <- test_losses",
        "no train accuracy, held-out accuracy series (the grok is located on the held-out loss's drop)"]
    assert phases.roles(["loss", "eval/loss", "accuracy", "eval/accuracy"]) == {
        "train_loss": "loss", "test_loss": "eval/loss", "train_acc": "accuracy", "test_acc": "eval/accuracy"}
    assert phases.describe_roles(["train_loss", "test_loss", "train_acc", "test_acc"]) == []


def test_a_decline_that_accelerates_into_the_drop_and_flattens_at_its_foot_has_its_onset_at_the_bend():
    """The demo's test loss (p = 59, seed 1, read every 100 epochs): a sharp peak, a relaxation,
    a slow decline speeding up into the drop, then the drop's flattening foot. Its onset is where
    the decline bends into the drop (the slope doubles between epochs 400 and 600), not the peak."""
    anchors = [(0, 4.1), (100, 6.19), (131, 7.4), (160, 7.12), (260, 6.44), (400, 5.76), (500, 5.15), (600, 4.45),
               (700, 3.65), (800, 2.75), (900, 1.82), (1000, 1.05), (1100, 0.55), (1200, 0.28), (1300, 0.15),
               (1400, 0.075), (1500, 0.036), (1600, 0.016), (1700, 0.006), (2500, 1e-4)]
    for every in (1, 10):
        x = np.arange(0, 2501, every)
        loss = 10 ** np.interp(x, [a for a, _ in anchors], np.log10([v for _, v in anchors]))
        found = phases.detect_phases({"test_loss": (x, loss)})
        assert found.test_loss_peak == 131 - 131 % every and 400 <= found.onset <= 600
