"""The hooked model: TransformerLens names and shapes, the paper's init, fast path = full forward."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from workbench.model import ModelConfig, Transformer, WeightsError, check_weights, init_weights
from workbench.tasks import probe_inputs


def test_fast_training_path_gives_the_full_forwards_last_position_logits():
    cfg = ModelConfig(p=113)
    model = Transformer(cfg, init_weights(cfg, 999))
    with torch.no_grad():  # make the weights less symmetric than at init, with nonzero biases
        for param in model.parameters():
            param.add_(0.05 * torch.randn(param.shape, generator=torch.Generator().manual_seed(1)))
        grid = torch.as_tensor(probe_inputs(113))
        full = model(grid)[:, -1]
        fast = model.last_logits(grid[:, 0], grid[:, 1])
    assert full.shape == fast.shape == (113 * 113, 113)
    assert (full - fast).abs().max() < 1e-5


def test_run_with_cache_exposes_transformer_lens_hooks_with_their_shapes():
    cfg = ModelConfig(p=7, d_model=16, n_heads=2, d_head=8, d_mlp=32)
    model = Transformer(cfg, init_weights(cfg, 0))
    tokens = torch.as_tensor(probe_inputs(7))
    _, cache = model.run_with_cache(tokens)
    assert cache["hook_embed"].shape == (49, 3, 16)
    assert cache["blocks.0.attn.hook_pattern"].shape == (49, 2, 3, 3)
    assert cache["blocks.0.attn.hook_q"].shape == (49, 3, 2, 8)
    assert cache["blocks.0.mlp.hook_post"].shape == (49, 3, 32)
    assert cache["blocks.0.hook_resid_post"].shape == (49, 3, 16)
    pattern = cache["blocks.0.attn.hook_pattern"]
    assert torch.allclose(pattern.sum(-1), torch.ones(49, 2, 3))
    assert (pattern[:, :, 0, 1:] == 0).all()  # causal: position 0 sees only itself


def test_parameters_have_transformer_lens_names_and_shapes():
    cfg = ModelConfig(p=113)
    shapes = {name: tuple(p.shape) for name, p in Transformer(cfg).named_parameters()}
    assert shapes == cfg.param_shapes()
    assert shapes["embed.W_E"] == (114, 128) and shapes["unembed.W_U"] == (128, 113)
    assert shapes["blocks.0.attn.W_O"] == (4, 32, 128)


def test_init_depends_only_on_the_seed_and_follows_the_paper_scales():
    cfg = ModelConfig(p=113)
    torch.manual_seed(123)
    first = init_weights(cfg, 999)
    torch.manual_seed(456)
    again = init_weights(cfg, 999)
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not torch.equal(first["embed.W_E"], init_weights(cfg, 1000)["embed.W_E"])
    assert first["embed.W_E"].std().item() == pytest.approx(1 / np.sqrt(128), rel=0.05)
    assert first["unembed.W_U"].std().item() == pytest.approx(1 / np.sqrt(114), rel=0.05)
    assert first["blocks.0.mlp.b_in"].abs().max() == 0


def test_paper_init_matches_drawing_with_the_global_generator_in_the_papers_layout():
    cfg = ModelConfig(p=113)
    torch.manual_seed(999)
    W_E_paper = torch.randn(128, 114) / np.sqrt(128)  # the paper's Embed draws first
    assert torch.equal(init_weights(cfg, 999)["embed.W_E"], W_E_paper.T)


def test_wrong_shapes_and_values_are_refused_with_the_parameter_named():
    cfg = ModelConfig(p=7, d_model=16, n_heads=2, d_head=8, d_mlp=32)
    weights = init_weights(cfg, 0)
    bad = {**weights, "blocks.0.attn.W_Q": weights["blocks.0.attn.W_Q"].transpose(1, 2)}
    with pytest.raises(WeightsError, match=r"blocks.0.attn.W_Q has shape \(2, 8, 16\), expected \(2, 16, 8\)"):
        check_weights(cfg, bad, "ckpt")
    with pytest.raises(WeightsError, match="missing: unembed.W_U"):
        check_weights(cfg, {k: v for k, v in weights.items() if k != "unembed.W_U"}, "ckpt")
    nan = {**weights, "embed.W_E": torch.full_like(weights["embed.W_E"], float("nan"))}
    with pytest.raises(WeightsError, match="embed.W_E contains NaN"):
        check_weights(cfg, nan, "ckpt")
