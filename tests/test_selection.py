"""The selection mirrored in the URL: parse, encode, snap to checkpoints, step."""
from __future__ import annotations

from workbench.selection import parse_query, slider_marks, snap, step, to_query

EPOCHS = [0, 20, 40, 100, 150, 2500]


def test_query_round_trip():
    state = {"variant": "modular_addition_demo/p59-s1-d598", "epoch": 1500, "neuron": 17, "head": 2}
    assert to_query(state) == "?variant=modular_addition_demo/p59-s1-d598&epoch=1500&neuron=17&head=2"
    assert parse_query(to_query(state)) == state


def test_malformed_query_values_are_dropped_not_fatal():
    assert parse_query("?epoch=abc&neuron=3&junk=1") == {"neuron": 3}
    assert parse_query("") == {} and parse_query(None) == {}


def test_epochs_snap_to_the_nearest_checkpoint():
    assert snap(33, EPOCHS) == 40 and snap(30, EPOCHS) == 20 and snap(99999, EPOCHS) == 2500
    assert snap(None, EPOCHS) == 2500 and snap(5, []) is None


def test_prev_and_next_walk_the_checkpoints_and_stop_at_the_ends():
    assert step(40, EPOCHS, 1) == 100 and step(40, EPOCHS, -1) == 20
    assert step(0, EPOCHS, -1) == 0 and step(2500, EPOCHS, 1) == 2500


def test_slider_marks_every_checkpoint_but_labels_few():
    marks = slider_marks(EPOCHS)
    assert set(marks) == set(EPOCHS)
    labels = [e for e, label in marks.items() if label]
    assert 2500 in labels and 0 in labels and 20 not in labels
