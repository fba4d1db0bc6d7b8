"""Direct logit attribution and the logit lens for chosen inputs (Elhage et al. 2021; nostalgebraist 2020).

The model has no LayerNorm and one layer, so the residual stream at `=` is exactly a sum of
component outputs, and the logits are that sum times W_U:

    logits = (W_E[=] + W_pos[2]) W_U          "embed": the direct path (the same for every input)
           + Σ_h  z_h W_O[h] W_U              "head h": each attention head's output
           + (ReLU(resid_mid W_in + b_in) W_out + b_out) W_U     "MLP" (its biases included)

`component_logits` returns these n_heads + 2 logit vectors per input; they sum to the model's
logits (a test holds them to it). `attribution_summary` reads off, per checkpoint: the correct
answer's logit from each component (raw and minus that component's mean logit, which is what
softmax sees), the rank of the correct answer after each cumulative component (the logit lens
at embed, + head 0, ..., + MLP = the model), and how much each Fourier frequency of the logit
vector contributes to the correct answer's logit. Cached per input by `workbench.derived`.
"""
from __future__ import annotations

import math

import numpy as np

from workbench import fourier
from workbench.analyzers.predictions import per_input_losses


def component_names(n_heads: int) -> list[str]:
    return ["embed", *(f"head {h}" for h in range(n_heads)), "MLP"]


def component_logits(weights: dict[str, np.ndarray], cfg, pairs: np.ndarray) -> np.ndarray:
    """Each component's contribution to the logits at `=` for inputs `pairs` [n, 2] (a, b),
    [n, n_heads + 2, p] float64, in the order of `component_names`. Float64 throughout, with
    the model's own activation function."""
    import torch
    import torch.nn.functional as F
    w = {k: torch.as_tensor(np.asarray(v), dtype=torch.float64) for k, v in weights.items()}
    pairs = torch.as_tensor(np.asarray(pairs, np.int64).reshape(-1, 2))
    tokens = torch.cat([pairs, torch.full((len(pairs), 1), cfg.p)], dim=1)          # [n, 3]
    resid = w["embed.W_E"][tokens] + w["pos_embed.W_pos"]                             # [n, 3, d_model]
    q = torch.einsum("nm,hmd->nhd", resid[:, 2], w["blocks.0.attn.W_Q"])
    k = torch.einsum("npm,hmd->nphd", resid, w["blocks.0.attn.W_K"])
    v = torch.einsum("npm,hmd->nphd", resid, w["blocks.0.attn.W_V"])
    pattern = (torch.einsum("nhd,nphd->nhp", q, k) / math.sqrt(cfg.d_head)).softmax(dim=-1)  # [n, head, key]
    z = torch.einsum("nhp,nphd->nhd", pattern, v)
    heads = torch.einsum("nhd,hdm->nhm", z, w["blocks.0.attn.W_O"])                    # [n, head, d_model]
    resid_mid = resid[:, 2] + heads.sum(dim=1)
    act = F.relu if cfg.act_fn == "relu" else F.gelu
    mlp = act(resid_mid @ w["blocks.0.mlp.W_in"] + w["blocks.0.mlp.b_in"]) @ w["blocks.0.mlp.W_out"] \
        + w["blocks.0.mlp.b_out"]
    parts = torch.cat([resid[:, 2, None], heads, mlp[:, None]], dim=1)                # [n, n_comp, d_model]
    return (parts @ w["unembed.W_U"]).numpy()


def attribution_summary(logits_by_component: np.ndarray, answer: int) -> dict[str, np.ndarray]:
    """For one input's component logits over checkpoints [n_epochs, n_comp, p] and its answer:
        correct_logit          [n_epochs, n_comp]   the correct answer's logit from each component
        correct_logit_centered [n_epochs, n_comp]   the same minus the component's mean logit
        rank_after             [n_epochs, n_comp]   rank of the correct answer (0 = top) after the
                                                     components up to this one are summed
        frequency_contribution [n_epochs, n_freq + 1]  the model's correct-answer logit split by
                                                     Fourier frequency of the logit vector (column 0
                                                     the constant; k-th column frequency k)
        loss                   [n_epochs]           the model's loss on this input
    Centered logits and the frequency split each sum over their axis to the model's value."""
    logits = np.asarray(logits_by_component, np.float64)
    p = logits.shape[-1]
    correct = logits[..., answer]
    cumulative = np.cumsum(logits, axis=1)                                            # [E, n_comp, p]
    rank_after = (cumulative > cumulative[..., answer, None]).sum(axis=-1)
    total = cumulative[:, -1]                                                         # [E, p]: the model
    basis = fourier.fourier_basis(p)                                                  # rows: const, cos 1, sin 1, ...
    per_row = (total @ basis.T) * basis[:, answer]                                    # [E, p]: Σ = total[answer]
    by_frequency = np.concatenate([per_row[:, :1], per_row[:, 1::2] + per_row[:, 2::2]], axis=1)
    return {"correct_logit": correct.astype(np.float32),
            "correct_logit_centered": (correct - logits.mean(axis=-1)).astype(np.float32),
            "rank_after": rank_after.astype(np.int16),
            "frequency_contribution": by_frequency.astype(np.float32),
            "loss": per_input_losses(total, np.full(len(total), answer))}
