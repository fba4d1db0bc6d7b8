"""Attention heads: what `=` attends to over the grid, frequency specialization and spatial scale."""
from __future__ import annotations

import numpy as np

from workbench import fourier
from workbench.analyzers.registry import register
from workbench.analyzers.spatial_scale import spatial_metrics


def head_maps(ctx) -> np.ndarray:
    """Attention from `=` to `a` and to `b` per head over the grid, [2 (to a, to b), n_heads, p, p]."""
    pattern = ctx.at_equals("blocks.0.attn.hook_pattern")[:, :, :2]  # [p*p, head, key a/b]
    return pattern.reshape(ctx.p, ctx.p, -1, 2).transpose(3, 2, 0, 1)


@register("attention_heads", reference="FVE as Nanda et al. 2023 §5.1, applied to attention maps")
def attention_heads(ctx):
    """Per head and key (a, b): FVE by frequency of its attention map, dominant frequency, spatial scale."""
    maps = head_maps(ctx)  # [2, head, p, p]
    n_keys, n_heads = maps.shape[:2]
    fve = fourier.neuron_frequency_fve(maps.reshape(n_keys * n_heads, ctx.p, ctx.p).transpose(1, 2, 0))
    fve = fve.reshape(-1, n_keys, n_heads).transpose(1, 0, 2)  # [2, n_freq, head]
    pattern = ctx.at_equals("blocks.0.attn.hook_pattern")  # [p*p, head, 3]
    return {"fve": fve.astype(np.float32),
            "dominant_freq": fourier.dominant_frequency(fve, axis=1).astype(np.int16),  # [2, head]
            "dominant_fve": fve.max(axis=1).astype(np.float32),
            "mean_attention": pattern.mean(axis=0).T.astype(np.float32),  # [3 keys a/b/=, head]
            **spatial_metrics(maps)}
