"""MLP neurons: frequency clusters (Nanda et al. 2023 §5.1) and the spatial scale of their maps."""
from __future__ import annotations

import numpy as np

from workbench import fourier
from workbench.analyzers.registry import register
from workbench.analyzers.spatial_scale import spatial_metrics
from workbench.vocabulary import FVE_THRESHOLD


def neuron_maps(ctx) -> np.ndarray:
    """Each neuron's post-ReLU activation at `=` over the grid, [p (a), p (b), d_mlp]."""
    return ctx.at_equals("blocks.0.mlp.hook_post").reshape(ctx.p, ctx.p, -1)


def cluster_members(row: dict[str, np.ndarray], neuron: int, fallback: int = 64) -> np.ndarray:
    """Neurons in `neuron`'s frequency cluster at one epoch of `neuron_frequencies` (dominant FVE ≥
    FVE_THRESHOLD for the same frequency), strongest first; when it is in no cluster, the
    `fallback` most frequency-selective neurons."""
    fve, freq = np.asarray(row["dominant_fve"]), np.asarray(row["dominant_freq"])
    neuron = min(max(int(neuron), 0), len(freq) - 1)
    members = np.flatnonzero((freq == freq[neuron]) & (fve >= FVE_THRESHOLD)) if fve[neuron] >= FVE_THRESHOLD \
        else np.argsort(-fve)[:fallback]
    return members[np.argsort(-fve[members])]


@register("neuron_frequencies", reference="Nanda et al. 2023 §5.1 (FVE per frequency, threshold 0.85)")
def neuron_frequencies(ctx):
    """Per neuron: FVE by frequency, dominant frequency; per frequency: cluster size; spatial scale."""
    maps = neuron_maps(ctx)
    fve = fourier.neuron_frequency_fve(maps)  # [n_freq, d_mlp]
    clusters = fourier.neuron_clusters(fve, FVE_THRESHOLD)
    return {"fve": fve.astype(np.float16),
            "dominant_freq": clusters["dominant_freq"].astype(np.int16),
            "dominant_fve": clusters["dominant_fve"].astype(np.float32),
            "cluster_size": clusters["cluster_sizes"].astype(np.int16),
            "fraction_explained": np.float32(clusters["fraction_explained"]),
            **spatial_metrics(np.moveaxis(maps, -1, 0))}
