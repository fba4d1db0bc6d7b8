"""Checkpoints from TransformerLens and from the progress-measures code become variants."""
from __future__ import annotations

import collections

import numpy as np
import pytest
import torch

from workbench.importers import CheckpointImportError, import_checkpoint
from workbench.model import ModelConfig, Transformer, init_weights
from workbench.store import VariantRef
from workbench.tasks import probe_inputs

CFG = ModelConfig(p=31)


def reference_weights():
    """Weights that are not symmetric under any transpose, so a wrong conversion shows."""
    weights = init_weights(CFG, 7)
    gen = torch.Generator().manual_seed(3)
    return {k: v + 0.01 * torch.randn(v.shape, generator=gen) for k, v in weights.items()}


def grid_logits(weights):
    grid = torch.as_tensor(probe_inputs(CFG.p))
    with torch.no_grad():
        return Transformer(CFG, weights)(grid)[:, -1]


def transformer_lens_state(weights):
    state = dict(weights)
    for name in ("b_Q", "b_K", "b_V"):
        state[f"blocks.0.attn.{name}"] = torch.zeros(CFG.n_heads, CFG.d_head)
    state["blocks.0.attn.b_O"] = torch.zeros(CFG.d_model)
    state["unembed.b_U"] = torch.zeros(CFG.p)
    state["blocks.0.attn.mask"] = torch.ones(3, 3).tril().bool()
    state["blocks.0.attn.IGNORE"] = torch.tensor(-1e5)
    return state


def progress_measures_state(weights):
    """The paper code's layout: transposed matrices, concatenated heads in W_O, `=` column in W_U."""
    w_u = torch.cat([weights["unembed.W_U"], torch.randn(CFG.d_model, 1)], dim=1)
    return collections.OrderedDict({
        "embed.W_E": weights["embed.W_E"].T.clone(),
        "pos_embed.W_pos": weights["pos_embed.W_pos"],
        "blocks.0.attn.W_K": weights["blocks.0.attn.W_K"].transpose(1, 2).clone(),
        "blocks.0.attn.W_Q": weights["blocks.0.attn.W_Q"].transpose(1, 2).clone(),
        "blocks.0.attn.W_V": weights["blocks.0.attn.W_V"].transpose(1, 2).clone(),
        "blocks.0.attn.W_O": weights["blocks.0.attn.W_O"].reshape(-1, CFG.d_model).T.clone(),
        "blocks.0.attn.mask": torch.ones(3, 3).tril(),
        "blocks.0.mlp.W_in": weights["blocks.0.mlp.W_in"].T.clone(),
        "blocks.0.mlp.b_in": weights["blocks.0.mlp.b_in"],
        "blocks.0.mlp.W_out": weights["blocks.0.mlp.W_out"].T.clone(),
        "blocks.0.mlp.b_out": weights["blocks.0.mlp.b_out"],
        "unembed.W_U": w_u,
    })


def imported_logits(store, variant_id, epoch):
    arrays = store.load_weights(VariantRef("modular_addition", variant_id), epoch)
    return grid_logits({k: torch.as_tensor(v) for k, v in arrays.items()})


def test_transformer_lens_state_dict_imports_unchanged(store, tmp_path):
    weights = reference_weights()
    torch.save(transformer_lens_state(weights), tmp_path / "tl.pt")
    summary = import_checkpoint(tmp_path / "tl.pt", "modular_addition", store, epoch=1200)
    assert summary["format"] == "transformer_lens" and summary["p"] == 31 and summary["epochs"] == [1200]
    assert torch.allclose(imported_logits(store, "imported-tl", 1200), grid_logits(weights), atol=1e-6)
    assert 0 <= summary["grid_accuracy"] <= 1
    info = store.info(VariantRef("modular_addition", "imported-tl"))
    assert info["spec"]["domain"]["p"] == 31 and info["source"]["kind"] == "imported"


def test_progress_measures_checkpoint_is_converted_and_its_losses_become_history(store, tmp_path):
    weights = reference_weights()
    torch.save({"model": progress_measures_state(weights), "train_losses": [4.0, 3.0, 2.5],
                "test_losses": [4.1, 4.2, 4.0], "epoch": 2}, tmp_path / "grok.pth")
    summary = import_checkpoint(tmp_path / "grok.pth", "modular_addition", store, id="paper")
    assert summary["format"] == "progress_measures" and summary["epochs"] == [2]
    assert torch.allclose(imported_logits(store, "paper", 2), grid_logits(weights), atol=1e-6)
    history = store.load_history(VariantRef("modular_addition", "paper"))
    assert np.array_equal(history["test_loss"], [4.1, 4.2, 4.0])


def test_full_run_file_imports_every_checkpoint(store, tmp_path):
    states = [progress_measures_state(init_weights(CFG, s)) for s in (1, 2)]
    torch.save({"checkpoints": states, "checkpoint_epochs": [0, 100]}, tmp_path / "full_run.pth")
    summary = import_checkpoint(tmp_path / "full_run.pth", "modular_addition", store)
    assert summary["epochs"] == [0, 100]
    assert store.checkpoint_epochs(VariantRef("modular_addition", "imported-full_run")) == [0, 100]


def test_wrong_shapes_are_refused_naming_the_parameter(store, tmp_path):
    state = transformer_lens_state(reference_weights())
    state["blocks.0.mlp.W_out"] = state["blocks.0.mlp.W_out"][:, :100]
    torch.save(state, tmp_path / "bad.pt")
    with pytest.raises(CheckpointImportError, match=r"blocks.0.mlp.W_out has shape \(512, 100\)"):
        import_checkpoint(tmp_path / "bad.pt", "modular_addition", store)
    assert store.variants() == []


def test_models_our_architecture_cannot_express_are_refused(store, tmp_path):
    state = transformer_lens_state(reference_weights())
    state["blocks.0.attn.b_Q"] += 1
    torch.save(state, tmp_path / "bias.pt")
    with pytest.raises(CheckpointImportError, match="b_Q is non-zero"):
        import_checkpoint(tmp_path / "bias.pt", "modular_addition", store)
    state = transformer_lens_state(reference_weights())
    state["blocks.0.ln1.w"] = torch.ones(CFG.d_model)
    torch.save(state, tmp_path / "ln.pt")
    with pytest.raises(CheckpointImportError, match="LayerNorm"):
        import_checkpoint(tmp_path / "ln.pt", "modular_addition", store)


def test_a_composite_vocabulary_is_refused_as_not_prime(store, tmp_path):
    cfg = ModelConfig(p=33)
    torch.save(transformer_lens_state(init_weights(cfg, 0)) | {"unembed.b_U": torch.zeros(33)}, tmp_path / "p33.pt")
    with pytest.raises(CheckpointImportError, match="domain.p = 33 is invalid; it must be prime"):
        import_checkpoint(tmp_path / "p33.pt", "modular_addition", store)


def test_pickled_code_is_never_run(store, tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ("pwned",))
    torch.save({"model": Payload()}, tmp_path / "evil.pth")
    with pytest.raises(CheckpointImportError, match="could not be loaded safely"):
        import_checkpoint(tmp_path / "evil.pth", "modular_addition", store)


def test_existing_variant_is_not_overwritten(store, tmp_path):
    torch.save(transformer_lens_state(reference_weights()), tmp_path / "tl.pt")
    import_checkpoint(tmp_path / "tl.pt", "modular_addition", store)
    with pytest.raises(CheckpointImportError, match="already exists"):
        import_checkpoint(tmp_path / "tl.pt", "modular_addition", store)


def test_an_imported_checkpoint_can_be_analyzed(store, tmp_path):
    from workbench.pipeline import analyze
    torch.save(transformer_lens_state(reference_weights()), tmp_path / "tl.pt")
    import_checkpoint(tmp_path / "tl.pt", "modular_addition", store, epoch=100)
    ref = VariantRef("modular_addition", "imported-tl")
    result = analyze(ref, store, progress=False, workers=1)
    from workbench import analyzers as registry
    series = [n for n in registry.BUILTINS if registry.get(n).kind == "series"]
    assert result["epochs_analyzed"] == 1 and result["series_analyzed"] == len(series)
    assert np.isnan(store.load_artifact(ref, "loss_dynamics")["onset"])           # no history: no phases
    assert store.load_artifact(ref, "neuron_frequencies", 100)["fve"].shape == (15, 512)
    assert store.load_artifact(ref, "parameter_trajectory")["all.projection"].shape == (1, 3)
    assert store.load_artifact(ref, "essential_dynamics")["outputs.projection"].shape == (1, 3)
