"""The model as a TransformerLens `HookedRootModule`: TL's hooks for notebooks and users' code.

`workbench.model.Transformer` has TL's parameter and hook names and its own `run_with_cache`,
with torch alone. `HookedTransformer` is the same model, weights and forward with TL's `HookPoint`
at every hook, so the whole of TL's hook API works on it: `run_with_cache` (with `pos_slice`,
`incl_bwd`, ...), `run_with_hooks`, `hooks()`, `add_hook`, `hook_dict`. Importing TransformerLens
takes seconds (it loads transformers, datasets and pandas), which is why this is the one module
that does: `wb.Variant.model` returns this model; training, analysis and the app never load it.
"""
from __future__ import annotations

import torch
from transformer_lens import HookedRootModule
from transformer_lens.hook_points import HookPoint

from workbench.model import ModelConfig, Transformer, check_weights


class HookedTransformer(Transformer, HookedRootModule):
    """`workbench.model.Transformer` with TransformerLens's hook points and hook API."""

    HOOK_POINT = HookPoint
    run_with_cache = HookedRootModule.run_with_cache  # TL's, not the plain model's

    def __init__(self, cfg: ModelConfig, weights: dict[str, torch.Tensor] | None = None):
        super().__init__(cfg, weights)
        self.setup()  # TL: names every module and collects the hook points


def load_hooked_model(cfg: ModelConfig, arrays: dict, source: str = "checkpoint",
                      device: str = "cpu") -> HookedTransformer:
    """A ready hooked model (eval mode) from a state dict, validated first (`model.check_weights`)."""
    return HookedTransformer(cfg, check_weights(cfg, arrays, source)).to(device).eval()
