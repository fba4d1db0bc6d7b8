"""Per-input traces, direct logit attribution and custom probes, on planted cases and the tiny real run."""
from __future__ import annotations

import numpy as np
import pytest

from workbench import probes, tasks
from workbench.analyzers.predictions import (NEVER, accuracy_by_residue, graduation_epochs, hardest_order,
                                             loss_spikes, per_input_losses)
from workbench.errors import UserError


def test_graduation_is_the_first_checkpoint_from_which_an_input_stays_correct():
    epochs = np.array([0, 10, 20, 30])
    correct = np.array([[0, 1, 1, 0, 1],     # input 0: right from 10 on; input 1: right, wrong, right;
                        [1, 0, 1, 0, 1],     # input 2: right throughout; input 3: never right;
                        [1, 1, 1, 0, 0],     # input 4: right until the end, then wrong (forgotten)
                        [1, 1, 1, 0, 0]], bool)
    assert graduation_epochs(correct, epochs).tolist() == [10, 20, 0, NEVER, NEVER]


def test_accuracy_by_residue_counts_only_masked_inputs_of_each_answer():
    answers = np.array([0, 0, 1, 2])
    correct = np.array([[1, 0, 1, 0]], bool)
    acc = accuracy_by_residue(correct, answers, 3, mask=np.array([1, 1, 0, 1], bool))
    assert acc[0, 0] == 0.5 and np.isnan(acc[0, 1]) and acc[0, 2] == 0.0


def test_losses_stay_accurate_far_below_float_rounding():
    logits = np.array([[50.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    loss = per_input_losses(logits, np.array([0, 0]))
    assert loss[0] == pytest.approx(2 * np.exp(-50), rel=1e-12)   # log(1 + 2e^-50) is not rounded to 0
    assert loss[1] == pytest.approx(np.log(2 + np.e) - 0.0)


def test_a_spike_is_a_tenfold_rise_to_a_real_loss_and_hardest_puts_never_first():
    log10 = np.array([[-5, -5, -1], [-3, -0.5, -1], [-5, -5, 0.5]], np.float32)  # [epoch, input]
    spikes = loss_spikes(log10, np.array([0, 10, 20]))
    # input 0 rose 100x but only to 1e-3; input 1 rose 10^4.5x to 0.3; input 2 rose 10^1.5x to 3
    assert spikes["spike_inputs"].tolist() == [1, 2] and spikes["spike_epochs"].tolist() == [10, 20]
    order = hardest_order(np.array([5, NEVER, 20, 20]), np.array([0.0, 0.0, -3.0, -1.0]))
    assert order.tolist() == [1, 3, 2, 0]


@pytest.fixture(scope="module")
def graduation(tiny_analyzed):
    store, ref = tiny_analyzed
    return store.load_artifact(ref, "input_graduation")


def test_every_training_input_graduates_before_the_end(tiny_analyzed, graduation):
    store, ref = tiny_analyzed
    final = store.checkpoint_epochs(ref)[-1]
    train = graduation["train_mask"]
    assert train.sum() == len(tasks.train_test_split(31, 0.5, 598)[0])
    assert (graduation["graduation_epoch"][train] != NEVER).all()
    assert graduation["graduation_epoch"][train].max() < final


def test_test_inputs_graduate_later_on_average(graduation):
    epochs, train = graduation["graduation_epoch"], graduation["train_mask"]
    assert (epochs[~train] != NEVER).all()   # the tiny run groks: every test input is solved at the end
    assert epochs[~train].mean() > 2 * epochs[train].mean()


def test_the_trace_is_compact_and_agrees_with_the_progress_measures(tiny_analyzed, graduation):
    store, ref = tiny_analyzed
    trace = store.load_artifact(ref, "prediction_trace")
    assert trace["predicted"].dtype == np.int16 and trace["log10_loss"].dtype == np.float16
    assert trace["confidence"].dtype == np.float16 and trace["predicted"].shape == (len(trace["epochs"]), 31 * 31)
    progress = store.load_artifact(ref, "progress_measures")
    train = graduation["train_mask"]
    np.testing.assert_allclose(graduation["correct"][:, ~train].mean(axis=1), progress["test_acc"], atol=1e-6)
    # the per-input losses average (in float16 log10) to the grid's test loss within float16 precision
    mean_test_loss = (10.0 ** trace["log10_loss"][:, ~train].astype(np.float64)).mean(axis=1)
    np.testing.assert_allclose(mean_test_loss, progress["test_loss"], rtol=0.01)


def test_dla_components_sum_to_the_models_logits(tiny_analyzed):
    import torch
    from workbench.analyzers.logit_lens import component_logits
    from workbench.model import ModelConfig, load_model
    store, ref = tiny_analyzed
    spec = store.info(ref)["spec"]
    cfg = ModelConfig.from_spec(spec)
    pairs = np.array([[4, 29], [0, 0], [30, 17], [12, 5]])
    for epoch in (0, 250, 500):
        weights = store.load_weights(ref, epoch)
        parts = component_logits(weights, spec, pairs)                        # [4, n_heads + 2, p]
        assert parts.shape == (4, cfg.n_heads + 2, 31)
        tokens = torch.as_tensor(np.c_[pairs, np.full(4, 31)])
        with torch.no_grad():
            model_logits = load_model(cfg, weights)(tokens)[:, -1].double().numpy()
        np.testing.assert_allclose(parts.sum(axis=1), model_logits, atol=1e-4 * np.abs(model_logits).max())


def test_input_trace_reads_rank_and_frequencies_off_the_components(tiny_analyzed):
    from workbench import derived
    store, ref = tiny_analyzed
    pair = 4 * 31 + 29
    trace = derived.input_trace(store, ref, pair)
    assert (trace["a"], trace["b"], trace["answer"]) == (4, 29, (4 + 29) % 31)
    # at the end the model (all components) ranks the right answer first, with a tiny loss
    assert trace["rank_after"][-1, -1] == 0 and trace["loss"][-1] < 0.01
    # frequencies k >= 1 add up to the model's centered logit, and with the constant to its raw logit
    freqs = trace["frequency_contribution"]
    np.testing.assert_allclose(freqs[:, 1:].sum(axis=1), trace["correct_logit_centered"].sum(axis=1), atol=1e-4)
    np.testing.assert_allclose(freqs.sum(axis=1), trace["correct_logit"].sum(axis=1), atol=1e-4)
    with pytest.raises(ValueError, match="outside the 31x31 grid"):
        derived.input_trace(store, ref, 31 * 31)


@pytest.mark.parametrize("rule, expected", [
    ("a < b", lambda a, b, c, tr: a < b),
    ("test", lambda a, b, c, tr: ~tr),
    ("answer == 0", lambda a, b, c, tr: c == 0),
    ("train and (a + b) % 2 == 1", lambda a, b, c, tr: tr & ((a + b) % 2 == 1)),
    ("0 < a <= 3 or not b != 7", lambda a, b, c, tr: ((a > 0) & (a <= 3)) | (b == 7)),
    ("c == p - 1", lambda a, b, c, tr: c == 30),
])
def test_a_probe_rule_selects_exactly_the_intended_inputs(tiny_analyzed, rule, expected):
    store, ref = tiny_analyzed
    spec = store.info(ref)["spec"]
    a, b = np.divmod(np.arange(31 * 31), 31)
    train = tasks.train_mask(31, 0.5, 598)
    mask = probes.probe_mask(probes.definition(rule=rule), spec)
    assert np.array_equal(mask, expected(a, b, (a + b) % 31, train))


@pytest.mark.parametrize("rule, problem", [
    ("__import__('os').system('true')", "Call is not allowed"),
    ("a.real > 0", "Attribute is not allowed"),
    ("x < 3", "unknown name 'x'"),
    ("a < 2.5", "only integer constants"),
    ("a <", "not an expression"),
    ("a % 2", "compare it"),
    ("a % 0 == 1", "divides by zero"),
    ("[a for a in b]", "not allowed"),
])
def test_a_bad_probe_rule_is_refused_with_the_reason(rule, problem):
    spec = {"domain": {"p": 31, "operation": "add", "data_seed": 598}, "training": {"train_fraction": 0.5}}
    with pytest.raises(probes.ProbeError, match=problem.replace("(", r"\(")):
        probes.probe_mask(probes.definition(rule=rule), spec)


def test_probes_are_stored_with_the_variant_and_listed_inputs_filter_exactly(tiny_analyzed, tmp_path):
    import shutil
    from workbench.store import Store
    store, ref = tiny_analyzed
    copy = Store(tmp_path / "copy")
    shutil.copy2(store.variant_dir(ref) / "variant.json", (copy.variant_dir(ref).mkdir(parents=True) or
                                                            copy.variant_dir(ref)) / "variant.json")
    copy.save_probe(ref, "small", probes.definition(inputs=probes.parse_inputs("4,29 0,0; 30 1", 31)))
    copy.save_probe(ref, "below", probes.definition(rule="a < b"))
    assert sorted(copy.probes(ref)) == ["below", "small"]
    mask = probes.probe_mask(copy.probes(ref)["small"], store.info(ref)["spec"])
    assert np.flatnonzero(mask).tolist() == [0, 4 * 31 + 29, 30 * 31 + 1]
    copy.delete_probe(ref, "below")
    assert list(copy.probes(ref)) == ["small"]
    for bad in ("../escape", "a/b", "", ".hidden"):
        with pytest.raises(UserError, match="invalid probe name"):
            copy.save_probe(ref, bad, {"rule": "a < b"})
    with pytest.raises(probes.ProbeError, match="outside the grid"):
        probes.parse_inputs("4,31", 31)


def test_the_probe_command_adds_lists_and_deletes_and_refuses_bad_rules(tiny_analyzed, capsys):
    from workbench.cli import main
    store, ref = tiny_analyzed
    data = ["--data", str(store.root)]
    assert main(["probe", "add", str(ref), "zero-answers", "--rule", "answer == 0", *data]) == 0
    assert "holds" in capsys.readouterr().out
    assert main(["probe", "list", ref.id, *data]) == 0
    assert "31 inputs  rule answer == 0" in capsys.readouterr().out
    assert np.flatnonzero(probes.probe_mask(store.probes(ref)["zero-answers"], store.info(ref)["spec"])).tolist() \
        == [a * 31 + (31 - a) % 31 for a in range(31)]
    assert main(["probe", "add", str(ref), "evil", "--rule", "open('x')", *data]) == 1
    assert capsys.readouterr().err.startswith("error: probe rule \"open('x')\": Call is not allowed")
    assert main(["probe", "add", str(ref), "../up", "--inputs", "1,2", *data]) == 1
    assert "invalid probe name" in capsys.readouterr().err
    assert main(["probe", "delete", str(ref), "zero-answers", *data]) == 0
    assert "zero-answers" not in store.probes(ref)


def test_the_sidebar_reads_a_typed_input_and_keeps_it_on_the_grid():
    from workbench import selection as sel
    assert sel.parse_pair("4, 29", 31) == 4 * 31 + 29 and sel.parse_pair(" 4 29 ", 31) == 4 * 31 + 29
    assert sel.parse_pair("", 31) is None and sel.pair_text(4 * 31 + 29, 31) == "4, 29"
    with pytest.raises(ValueError, match="0..30"):
        sel.parse_pair("4, 31", 31)
    assert sel.parse_query("?input=153&probe=below") == {"input": 153, "probe": "below"}
    assert sel.to_query({"variant": "f/v", "input": 153, "probe": "below"}) == "?variant=f/v&input=153&probe=below"


def test_the_grid_fills_in_as_the_epoch_advances_and_a_probe_hides_the_rest(graduation):
    from workbench.renderers import CATALOG
    g, test = graduation["graduation_epoch"], ~graduation["train_mask"]
    solved = np.sort(g[test & (g != NEVER)])
    mid = int(solved[len(solved) // 2])                          # the checkpoint by which half of them graduated
    below = probes.evaluate_rule("a < b", 31, graduation["answers"].astype(int), graduation["train_mask"])
    fig = CATALOG["graduation_grid"](graduation, mid, probe=below, selected=5)
    train_z, test_z, pending = (np.asarray(t.z, np.float64).ravel() for t in fig.data[:3])
    shown = ~np.isnan(train_z) | ~np.isnan(test_z) | ~np.isnan(pending)
    assert np.array_equal(shown, below)                          # exactly the probe's cells are drawn
    done = (g != NEVER) & (g <= mid)                             # graduated by `mid`; NEVER is never done
    assert np.array_equal(~np.isnan(train_z), below & graduation["train_mask"] & done)
    assert np.array_equal(~np.isnan(test_z), below & ~graduation["train_mask"] & done)
    assert (below & ~done).any() and (below & done).any()        # mid-run: some cells drawn, some pending
    assert fig.layout.meta["click"] == "input" and fig.data[0].customdata[4][17] == 4 * 31 + 17
    hardest = CATALOG["hardest_inputs"](graduation, mid, probe=below, count=10)
    ids = np.asarray(hardest.data[0].customdata)
    assert below[ids].all() and len(ids) == 10


def test_the_inputs_page_follows_the_probe_and_the_input(tiny_analyzed):
    from workbench.pages import inputs
    store, ref = tiny_analyzed
    store.save_probe(ref, "answer-seven", probes.definition(rule="answer == 7"))
    selection = {"variant": str(ref), "epoch": 250, "probe": "answer-seven"}
    *figures, _rendered = inputs.FIGURES.summaries(store, selection, None)
    attribution, hardest = figures[0], figures[4]
    assert all(label.endswith("→ 7") for label in hardest["data"][0]["y"])
    assert "→ 7 · " in attribution["layout"]["title"]["text"]   # no input chosen: the probe's hardest
    *figures, _ = inputs.FIGURES.summaries(store, {**selection, "input": 4 * 31 + 29}, None)
    assert "input (4, 29) → 2" in figures[0]["layout"]["title"]["text"]
    store.delete_probe(ref, "answer-seven")


def test_a_series_analyzer_brings_the_trace_it_reads_and_reruns_when_that_changes():
    from workbench import analyzers as registry
    from workbench.pipeline import _series_digest, _with_inputs
    graduation = registry.get("input_graduation")
    assert [a.name for a in _with_inputs([graduation])] == ["prediction_trace", "input_graduation"]
    fingerprints = {0: "aa", 10: "bb"}
    before = _series_digest(graduation, fingerprints, {"series": {"prediction_trace": "x1"}})
    assert before != _series_digest(graduation, fingerprints, {"series": {"prediction_trace": "x2"}})
