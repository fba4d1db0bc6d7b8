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
