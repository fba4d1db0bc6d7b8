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


def test_the_equals_path_gives_the_full_forwards_pattern_and_mlp_activations_at_equals():
    cfg = ModelConfig(p=31, d_model=32, n_heads=4, d_head=8, d_mlp=64)
    model = Transformer(cfg, init_weights(cfg, 2))
    grid = torch.as_tensor(probe_inputs(31))
    with torch.no_grad():
        logits, cache = model.run_with_cache(grid, names_filter=["blocks.0.attn.hook_pattern", "blocks.0.mlp.hook_post"])
        last = model.last_position(grid[:, 0], grid[:, 1])
    assert sorted(cache) == ["blocks.0.attn.hook_pattern", "blocks.0.mlp.hook_post"]  # only what was asked
    assert torch.allclose(last["logits"], logits[:, -1], atol=1e-5)
    assert torch.allclose(last["blocks.0.attn.hook_pattern"], cache["blocks.0.attn.hook_pattern"][:, :, -1], atol=1e-6)
    assert torch.allclose(last["blocks.0.mlp.hook_post"], cache["blocks.0.mlp.hook_post"][:, -1], atol=1e-5)


def test_the_hooked_model_is_the_same_model_with_transformer_lens_hooks():
    """`workbench.hooked` (what `wb.Variant.model` returns) is a TL HookedRootModule with the same
    weights, names, activations and logits; the plain model needs only torch."""
    import subprocess
    import sys
    from transformer_lens import HookedRootModule

    from workbench.hooked import HookedTransformer
    cfg = ModelConfig(p=7, d_model=16, n_heads=2, d_head=8, d_mlp=32)
    plain, hooked = Transformer(cfg, init_weights(cfg, 0)), HookedTransformer(cfg, init_weights(cfg, 0))
    assert isinstance(hooked, HookedRootModule) and plain.state_dict().keys() == hooked.state_dict().keys()
    tokens = torch.as_tensor(probe_inputs(7))
    with torch.no_grad():
        (logits, cache), (tl_logits, tl_cache) = plain.run_with_cache(tokens), hooked.run_with_cache(tokens)
        zeroed = hooked.run_with_hooks(tokens, fwd_hooks=[("blocks.0.hook_mlp_out", lambda x, hook: x * 0)])
    assert torch.equal(logits, tl_logits) and list(cache) == list(tl_cache)
    assert all(torch.equal(cache[k], tl_cache[k]) for k in cache)
    assert not torch.allclose(zeroed, tl_logits) and not hooked.blocks[0].hook_mlp_out.fwd_hooks  # hooks removed
    code = "import sys, workbench.model; print('transformer_lens' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"


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


def test_a_float64_model_starts_from_the_same_draws_and_runs_in_float64():
    narrow = ModelConfig(p=7, d_model=16, n_heads=2, d_head=8, d_mlp=32)
    wide = ModelConfig(p=7, d_model=16, n_heads=2, d_head=8, d_mlp=32, dtype="float64")
    w32, w64 = init_weights(narrow, 0), init_weights(wide, 0)
    assert all(w64[k].dtype == torch.float64 and torch.equal(w64[k].float(), w32[k]) for k in w32)
    model = Transformer(wide, w64)
    assert {p.dtype for p in model.parameters()} == {torch.float64}
    tokens = torch.as_tensor(probe_inputs(7))
    with torch.no_grad():
        logits = model.last_logits(tokens[:, 0], tokens[:, 1])
        assert logits.dtype == torch.float64
        assert torch.allclose(logits.float(), Transformer(narrow, w32).last_logits(tokens[:, 0], tokens[:, 1]), atol=1e-5)
    assert check_weights(wide, {k: v.numpy() for k, v in w32.items()}, "t")["embed.W_E"].dtype == torch.float64


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


def test_each_heads_output_is_hooked_and_sums_to_the_attention_output():
    """`set_use_attn_result(True)` adds TransformerLens's `hook_result` ([batch, pos, head, d_model])
    without changing the logits; the heads' outputs sum to `hook_attn_out`."""
    cfg = ModelConfig(p=7, d_model=16, n_heads=2, d_head=8, d_mlp=32)
    model = Transformer(cfg, init_weights(cfg, 0))
    tokens = torch.as_tensor(probe_inputs(7))
    plain, cache = model.run_with_cache(tokens)
    assert "blocks.0.attn.hook_result" not in cache                     # off by default, as in TL
    model.set_use_attn_result(True)
    logits, cache = model.run_with_cache(tokens)
    result = cache["blocks.0.attn.hook_result"]
    assert result.shape == (49, 3, 2, 16)
    assert torch.allclose(result.sum(dim=2), cache["blocks.0.hook_attn_out"], atol=1e-6)
    assert torch.allclose(logits, plain, atol=1e-5)


def _hand_written_component_logits(weights, cfg, pairs):
    """The third forward pass `analyzers/logit_lens.py` used to carry (float64 throughout): the
    reference the hooked model must reproduce."""
    import math
    w = {k: torch.as_tensor(np.asarray(v), dtype=torch.float64) for k, v in weights.items()}
    pairs = torch.as_tensor(np.asarray(pairs, np.int64).reshape(-1, 2))
    tokens = torch.cat([pairs, torch.full((len(pairs), 1), cfg.p)], dim=1)
    resid = w["embed.W_E"][tokens] + w["pos_embed.W_pos"]
    q = torch.einsum("nm,hmd->nhd", resid[:, 2], w["blocks.0.attn.W_Q"])
    k = torch.einsum("npm,hmd->nphd", resid, w["blocks.0.attn.W_K"])
    v = torch.einsum("npm,hmd->nphd", resid, w["blocks.0.attn.W_V"])
    pattern = (torch.einsum("nhd,nphd->nhp", q, k) / math.sqrt(cfg.d_head)).softmax(dim=-1)
    heads = torch.einsum("nhd,hdm->nhm", torch.einsum("nhp,nphd->nhd", pattern, v), w["blocks.0.attn.W_O"])
    resid_mid = resid[:, 2] + heads.sum(dim=1)
    mlp = torch.relu(resid_mid @ w["blocks.0.mlp.W_in"] + w["blocks.0.mlp.b_in"]) @ w["blocks.0.mlp.W_out"] \
        + w["blocks.0.mlp.b_out"]
    return (torch.cat([resid[:, 2, None], heads, mlp[:, None]], dim=1) @ w["unembed.W_U"]).numpy()


def test_direct_logit_attribution_reads_the_models_hooks_and_matches_the_hand_written_forward():
    from workbench.analyzers.logit_lens import component_logits
    cfg = ModelConfig(p=31, d_model=32, n_heads=4, d_head=8, d_mlp=64)
    weights = {k: v.numpy() for k, v in init_weights(cfg, 3).items()}
    rng = np.random.default_rng(0)
    weights = {k: (v + 0.05 * rng.standard_normal(v.shape)).astype(np.float32) for k, v in weights.items()}
    spec = {"domain": {"p": 31}, "model": {"d_model": 32, "n_heads": 4, "d_head": 8, "d_mlp": 64, "act_fn": "relu",
                                           "n_layers": 1}}
    pairs = np.array([[4, 29], [0, 0], [30, 17], [12, 5]])
    ours, reference = component_logits(weights, spec, pairs), _hand_written_component_logits(weights, cfg, pairs)
    assert ours.shape == (4, 6, 31) and ours.dtype == np.float64
    np.testing.assert_allclose(ours, reference, rtol=1e-12, atol=1e-12)
