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
The components are read off the model's own hooks (`hook_embed` + `hook_pos_embed`, each head's
`blocks.0.attn.hook_result`, `blocks.0.hook_mlp_out`): there is one forward pass, the model's.
"""
from __future__ import annotations

import numpy as np

from workbench import fourier
from workbench.analyzers.predictions import per_input_losses


def component_logits(weights: dict[str, np.ndarray], spec: dict, pairs: np.ndarray) -> np.ndarray:
    """Each component's contribution to the logits at `=` for inputs `pairs` [n, 2] (a, b),
    [n, n_heads + 2, p] float64, in the order of `vocabulary.component_names`: one run of the
    model (`workbench.model`, in float64, per-head outputs on) reading its hooks at `=`."""
    import torch  # heavy: only when an input is traced

    from workbench.model import ModelConfig, Transformer, check_weights  # torch
    cfg = ModelConfig.from_spec(spec)
    model = Transformer(cfg, check_weights(cfg, weights, "checkpoint")).double().eval()
    model.set_use_attn_result(True)
    pairs = np.asarray(pairs, np.int64).reshape(-1, 2)
    tokens = torch.as_tensor(np.column_stack([pairs, np.full(len(pairs), cfg.p)]))               # [n, 3]
    hooks = ("hook_embed", "hook_pos_embed", "blocks.0.attn.hook_result", "blocks.0.hook_mlp_out")
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens, names_filter=lambda name: name in hooks)
        embed = cache["hook_embed"][:, 2] + cache["hook_pos_embed"][:, 2]                       # [n, d_model]
        parts = torch.cat([embed[:, None], cache["blocks.0.attn.hook_result"][:, 2],            # [n, head, d_model]
                           cache["blocks.0.hook_mlp_out"][:, 2, None]], dim=1)                   # [n, n_comp, d_model]
        return (parts @ model.unembed.W_U).numpy()


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
