"""Fourier norms of the embedding, the unembedding and the neuron-logit map (weights only)."""
from __future__ import annotations

import numpy as np

from workbench import fourier
from workbench.analyzers.registry import register
from workbench.vocabulary import key_mask

NANDA = "Nanda et al. 2023, Progress measures for grokking via mechanistic interpretability, §4-5"


def fourier_summary(W: np.ndarray, prefix: str = "") -> dict[str, np.ndarray]:
    """Per-frequency norms of W [p, d] (rows = residues), its key frequencies as a mask over
    k = 1..(p-1)/2, and the Gini coefficient of the norms (Hurley & Rickard 2009)."""
    norms = fourier.frequency_norms(W)
    return {f"{prefix}cos_norm": norms["cos_norm"].astype(np.float32),
            f"{prefix}sin_norm": norms["sin_norm"].astype(np.float32),
            f"{prefix}norm": norms["norm"].astype(np.float32),
            f"{prefix}const_norm": np.float32(norms["const_norm"]),
            f"{prefix}key_mask": key_mask(fourier.key_frequencies(norms), len(norms["norm"])),
            f"{prefix}gini": np.float32(fourier.gini(norms["norm"]))}


@register("fourier_embedding", reference=NANDA)
def fourier_embedding(ctx):
    """Norms of W_E's first p rows (the number tokens) in the Fourier basis, key frequencies, Gini."""
    return fourier_summary(ctx.weights["embed.W_E"][: ctx.p])


@register("fourier_unembedding", reference=NANDA)
def fourier_unembedding(ctx):
    """The same for the unembedding W_U (prefix 'W_U.') and the neuron-logit map W_L (prefix 'W_L.')."""
    return {**fourier_summary(ctx.weights["unembed.W_U"].T, "W_U."),
            **fourier_summary(fourier.neuron_logit_map(ctx.weights).T, "W_L.")}
