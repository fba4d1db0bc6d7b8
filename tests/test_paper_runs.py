"""Other people's runs, read right: the progress-measures paper's files (with and without their
config), TransformerLens state dicts and the round trip through the paper's layout. Every file
is made here with torch.save, the way the paper's code makes them."""
from __future__ import annotations

import hashlib
import random
import re

import numpy as np
import pytest
import torch

from workbench.cli import main
from workbench.families import load_family
from workbench.importers import import_checkpoint
from workbench.model import ModelConfig, Transformer, check_weights
from workbench.paperrun import paper_state
from workbench.store import Store, VariantRef
from workbench.training import Split, cross_entropy_f64, train

P, SEED, FRAC, EPOCHS = 31, 7, 0.5, 80


def paper_split(p, frac_train, seed):
    """The paper code's gen_train_test, verbatim in substance: row-major pairs, the global
    `random` seeded with the config's seed, the first frac_train share for training."""
    pairs = [(i, j, p) for i in range(p) for j in range(p)]
    random.seed(seed)
    random.shuffle(pairs)
    div = int(frac_train * len(pairs))
    return pairs[:div], pairs[div:]


def loss_on(weights, pairs) -> float:
    cfg = ModelConfig(p=P)
    model = Transformer(cfg, check_weights(cfg, weights, "test")).eval()
    a, b = torch.tensor([x[0] for x in pairs]), torch.tensor([x[1] for x in pairs])
    with torch.no_grad():
        return float(cross_entropy_f64(model.last_logits(a, b), (a + b) % P))


@pytest.fixture(scope="module")
def memorized(tmp_path_factory):
    """A tiny model trained here for 80 epochs on the paper split of seed 7: it has memorized its
    training pairs, so its train loss tells its split from any other. (weights, history)."""
    import os
    from conftest import TEST_FAMILIES
    os.environ["WORKBENCH_FAMILIES"] = str(TEST_FAMILIES)
    store = Store(tmp_path_factory.mktemp("source") / "data")
    variant = load_family("tiny_addition").variant(epochs=EPOCHS, every=[[20, EPOCHS]], data_seed=SEED)
    train(variant, store, progress=False)
    ref = VariantRef(variant.family, variant.id)
    return store.load_weights(ref, EPOCHS), store.load_history(ref)


def paper_file(path, memorized, *, config=True, pad=False):
    """The paper's final full-run file: config, model, optimizer, scheduler, the final losses,
    train_losses (epochs 0..79) and test_losses (epochs 0, 10, ..., 70), epoch 80."""
    weights, history = memorized
    train_pairs, test_pairs = paper_split(P, FRAC, SEED)
    test_losses = [float(v) for v in history["test_loss"][:EPOCHS:10]]
    data = {"model": paper_state(weights), "train_losses": [float(v) for v in history["train_loss"][:EPOCHS]],
            "test_losses": test_losses + ([float("nan")] * (EPOCHS - len(test_losses)) if pad else []),
            "train_loss": loss_on(weights, train_pairs), "test_loss": loss_on(weights, test_pairs), "epoch": EPOCHS,
            "optimizer": {"state": {}, "param_groups": [{"lr": 1e-2, "betas": (0.9, 0.98), "eps": 1e-8,
                                                         "weight_decay": 1.0, "initial_lr": 1e-2, "amsgrad": False,
                                                         "params": list(range(11))}]},
            "scheduler": {"base_lrs": [1e-2], "last_epoch": EPOCHS, "_step_count": EPOCHS + 1}}
    if config:
        data["config"] = {"lr": 1e-2, "p": P, "d_model": 128, "fn_name": "add", "frac_train": FRAC,
                          "num_epochs": EPOCHS, "save_models": True, "save_every": 20, "stopping_thresh": -1,
                          "seed": SEED, "weight_decay": 1.0}
    torch.save(data, path)
    return data


def test_a_full_run_file_is_imported_with_its_own_config_split_and_cadence(store, tmp_path, memorized):
    data = paper_file(tmp_path / "run.pth", memorized)
    summary = import_checkpoint(tmp_path / "run.pth", "modular_addition", store)
    ref = summary["variant"]
    info = store.info(ref)
    spec = info["spec"]
    assert spec["domain"]["data_seed"] == SEED and spec["training"]["train_fraction"] == FRAC
    assert (spec["training"]["lr"], spec["training"]["weight_decay"], spec["training"]["epochs"]) == (1e-2, 1.0, 80)
    assert spec["training"]["eval_every"] == 10 and spec["training"]["betas"] == [0.9, 0.98]
    # The paper code's split, and its recorded final train loss reproduced on it (to 4 digits and more).
    split = Split.for_variant(spec, "cpu")
    train_pairs, _ = paper_split(P, FRAC, SEED)
    assert sorted((int(a), int(b)) for a, b in zip(split.train_a, split.train_b)) == sorted(
        (a, b) for a, b, _ in train_pairs)
    weights = {k: torch.as_tensor(v) for k, v in store.load_weights(ref, EPOCHS).items()}
    model = Transformer(ModelConfig.from_spec(spec), weights).eval()
    with torch.no_grad():
        recomputed = float(cross_entropy_f64(model.last_logits(split.train_a, split.train_b), split.train_y))
    assert recomputed == pytest.approx(data["train_loss"], rel=1e-4) and data["train_loss"] < 0.05
    assert summary["checks"][0].endswith("(agrees)")
    # History: each series at its own epochs, the test loss every 10.
    history = store.load_history(ref)
    np.testing.assert_array_equal(history.x("train_loss"), np.arange(80))
    np.testing.assert_array_equal(history.x("test_loss"), np.arange(0, 80, 10))
    np.testing.assert_array_equal(history["test_loss"], data["test_losses"])
    # Provenance: the file, its checksum, what was read, assumed and ignored.
    source = info["source"]
    assert source["sha256"] == hashlib.sha256((tmp_path / "run.pth").read_bytes()).hexdigest()
    assert source["read"]["domain.data_seed"] == "config['seed'] = 7"
    assert "optimizer" in source["read"]["training.betas"] and "domain.seed" in source["assumed"]
    assert source["ignored"] == {"save_models": True, "save_every": 20, "stopping_thresh": -1}
    assert "every 10 epochs" in source["history"]["test_loss"]


def test_without_config_the_defaults_are_assumed_said_and_caught_by_the_loss_check(store, tmp_path, memorized,
                                                                                    capsys):
    paper_file(tmp_path / "bare.pth", memorized, config=False)
    root = str(store.root)
    assert main(["import", str(tmp_path / "bare.pth"), "--data", root, "--family", "tiny_addition"]) == 0
    out = capsys.readouterr().out
    assert "domain.data_seed = 598" in out and "assumed" in out
    assert "x apart: the split, task or weights are not the file's" in out         # the family's split is wrong
    assert main(["import", str(tmp_path / "bare.pth"), "--data", root, "--family", "tiny_addition", "--id", "seeded",
                 "--set", "data_seed=7"]) == 0
    out = capsys.readouterr().out
    assert "domain.data_seed = 7 <- --set" in out and "final train loss: the file records" in out
    assert "apart" not in out and out.count("(agrees)") == 2
    info = store.info(VariantRef("tiny_addition", "seeded"))
    assert info["source"]["set"] == {"domain.data_seed": 7} and info["spec"]["training"]["epochs"] == 80


def test_nan_padding_is_not_data_and_every_command_reads_the_import(store, tmp_path, memorized, capsys):
    paper_file(tmp_path / "padded.pth", memorized, pad=True)
    root = str(store.root)
    assert main(["import", str(tmp_path / "padded.pth"), "--data", root]) == 0
    assert "72 trailing NaN (padding) dropped" in capsys.readouterr().out
    assert main(["list", "--data", root]) == 0
    assert "epochs        80/80" in capsys.readouterr().out
    assert main(["alerts", "imported-padded", "--data", root]) == 0
    out = capsys.readouterr().out
    assert "non-finite" not in out and re.search(r"phases: memorization end \d", out)
    history = store.load_history(VariantRef("modular_addition", "imported-padded"))
    assert len(history["test_loss"]) == 8 and np.isfinite(history["test_loss"]).all()


def test_import_log_places_the_paper_files_sparse_test_loss_at_its_epochs(store, tmp_path, memorized, capsys):
    paper_file(tmp_path / "log.pth", memorized, pad=True)
    assert main(["import-log", str(tmp_path / "log.pth"), "--data", str(store.root)]) == 0
    out = capsys.readouterr().out
    assert "x = epoch" in out and "train_losses (80)" in out and "test_losses (8)" in out
    assert "test_losses: its last 72 values are NaN padding" in out
    assert "held-out loss <- test_losses" in out and "train loss <- train_losses" in out
    assert "not read as series: config, model, optimizer, scheduler" in out
    history = store.load_history(VariantRef("logs", "log"))
    np.testing.assert_array_equal(history.x("test_losses"), np.arange(0, 80, 10))
    assert history.unit == "epoch"


def test_a_transformer_lens_state_dict_without_history_has_no_events_and_says_what_is_missing(store, tmp_path,
                                                                                              memorized, capsys):
    import workbench as wb
    weights, _ = memorized
    state = {k: torch.as_tensor(v) for k, v in weights.items()}
    state.update({f"blocks.0.attn.b_{n}": torch.zeros(4, 32) for n in "QKV"} | {"unembed.b_U": torch.zeros(P),
                 "blocks.0.attn.b_O": torch.zeros(128)})
    torch.save(state, tmp_path / "tl.pt")
    root = str(store.root)
    assert main(["import", str(tmp_path / "tl.pt"), "--data", root, "--family", "tiny_addition",
                 "--set", "data_seed=7", "--set", "train_fraction=0.5"]) == 0
    out = capsys.readouterr().out
    assert "history: none in the file" in out and "final train loss: the file records none" in out
    assert main(["alerts", "imported-tl", "--data", root]) == 0
    assert "no events" in capsys.readouterr().out
    from workbench import figures
    from workbench.store import MissingError
    v = wb.variant("tiny_addition/imported-tl", data=root)
    for name in ("loss_curves", "accuracy_curves", "learning_rate", "weight_norms"):
        shown = figures.safe_figure(v.ref, lambda name=name: figures.build(store, v.ref, name))   # the app's way
        assert shown.layout.meta["missing"]
        assert "imported from a file that held none" in shown.layout.annotations[0].text
        with pytest.raises(MissingError, match="its file held none"):                            # the API's way
            wb.figure(name, v, data=root)
    with pytest.raises(MissingError, match=r"wb.analyze\('tiny_addition/imported-tl', analyzers=\['llc'\]\)"):
        wb.figure("llc_over_epochs", v, data=root)                     # the call that really computes it
    with pytest.raises(MissingError, match="run `workbench analyze tiny_addition/imported-tl --analyzers llc`"):
        store.load_artifact(v.ref, "llc")                              # the store's words, which the CLI prints


def test_losses_only_figures_draw_what_there_is_and_name_what_is_not(store, tmp_path, memorized):
    import workbench as wb
    paper_file(tmp_path / "run.pth", memorized)
    v = wb.import_checkpoint(tmp_path / "run.pth", data=store.root)
    loss = wb.figure("loss_curves", v, data=store.root)
    test = next(t for t in loss.data if t.name == "test loss")
    np.testing.assert_array_equal(test.x, np.arange(0, 80, 10))                 # at its own epochs
    accuracy = wb.figure("accuracy_curves", v, data=store.root)
    assert accuracy.layout.meta["missing"] and "no accuracy series" in accuracy.layout.annotations[0].text
    both = wb.figure("loss_and_accuracy", v, data=store.root)
    assert "no accuracy series" in both.layout.title.text and not both.layout.meta.get("missing")
    lr = wb.figure("learning_rate", v, data=store.root)
    assert lr.layout.meta["missing"] and "learning-rate" in lr.layout.annotations[0].text


def test_a_run_trained_here_survives_the_round_trip_through_the_papers_layout(tiny_analyzed, tmp_path):
    from workbench import phases
    from workbench.analyzers.context import model_key_frequencies
    from workbench.pipeline import analyze
    store, ref = tiny_analyzed
    path = tmp_path / "tiny.pth"
    assert main(["export", str(ref), "--data", str(store.root), "--format", "progress-measures",
                 "--out", str(path)]) == 0
    data = torch.load(path, weights_only=True)                       # tensors, numbers, lists, dicts only
    original = store.load_history(ref)
    last = int(original.x("train_loss")[-1])
    assert len(data["train_losses"]) == last + 1 and len(data["test_losses"]) == len(range(0, last + 1, 10))
    back = Store(tmp_path / "back")
    summary = import_checkpoint(path, ref.family, back, id="back")
    mine, theirs = store.info(ref)["spec"], back.info(summary["variant"])["spec"]
    # The same split and recipe ...
    for split in ("train", "test"):
        assert all(torch.equal(getattr(Split.for_variant(mine, "cpu"), f"{split}_{c}"),
                               getattr(Split.for_variant(theirs, "cpu"), f"{split}_{c}")) for c in "aby")
    assert {k: theirs["training"][k] for k in ("lr", "weight_decay", "train_fraction", "epochs")} == {
        k: mine["training"][k] for k in ("lr", "weight_decay", "train_fraction", "epochs")}
    assert theirs["training"]["eval_every"] == 10 and summary["checks"][0].endswith("(agrees)")
    # ... the same weights and losses, the test loss at every 10th epoch ...
    assert back.checkpoint_epochs(summary["variant"]) == store.checkpoint_epochs(ref)
    w_mine, w_back = store.load_weights(ref, last), back.load_weights(summary["variant"], last)
    assert all(np.array_equal(w_mine[k], w_back[k]) for k in w_mine)
    history = back.load_history(summary["variant"])
    np.testing.assert_array_equal(history["train_loss"], original["train_loss"])
    np.testing.assert_array_equal(history.x("test_loss"), np.arange(0, last + 1, 10))
    np.testing.assert_array_equal(history["test_loss"], original["test_loss"][::10])
    # ... the same phases, from the losses, within one test-loss interval ...
    def loss_phases(h):
        return phases.detect_phases({k: h.xy(k) for k in ("train_loss", "test_loss")})
    here, there = loss_phases(original), loss_phases(history)
    assert here.memorization_end == there.memorization_end
    for event in ("test_loss_peak", "onset", "grok"):
        assert abs(getattr(here, event) - getattr(there, event)) <= 10, event
    # ... and the same key frequencies.
    assert model_key_frequencies(theirs, w_back).tolist() == model_key_frequencies(mine, w_mine).tolist()
    analyze(summary["variant"], back, analyzers=["progress_measures"], epochs=[last], progress=False, workers=1)
    keys = back.load_artifact(summary["variant"], "progress_measures")["key_mask"][-1]
    np.testing.assert_array_equal(keys, store.load_artifact(ref, "progress_measures")["key_mask"][-1])
