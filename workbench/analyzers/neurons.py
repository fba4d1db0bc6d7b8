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


def cluster_members(row: dict[str, np.ndarray], neuron: int) -> np.ndarray:
    """Neurons in `neuron`'s frequency cluster at one epoch of `neuron_frequencies` (dominant FVE ≥
    FVE_THRESHOLD for the same frequency), strongest first; when it is in no cluster, every
    neuron whose dominant frequency is the same as its own (it among them), strongest first."""
    fve, freq = np.asarray(row["dominant_fve"]), np.asarray(row["dominant_freq"])
    neuron = min(max(int(neuron), 0), len(freq) - 1)
    same = freq == freq[neuron]
    members = np.flatnonzero(same & (fve >= FVE_THRESHOLD)) if fve[neuron] >= FVE_THRESHOLD else np.flatnonzero(same)
    return members[np.argsort(-fve[members])]


def describe_cluster(row: dict[str, np.ndarray], neuron: int, members: np.ndarray) -> str:
    """One line saying what `cluster_members` chose for `neuron`, and why."""
    k, fve = int(row["dominant_freq"][neuron]), float(row["dominant_fve"][neuron])
    if fve >= FVE_THRESHOLD:
        return (f"The cluster of neuron {neuron}: the {len(members)} neurons whose dominant frequency k = {k} "
                f"explains ≥ {FVE_THRESHOLD:.0%} of their variance, strongest first.")
    return (f"Neuron {neuron} is in no cluster (its dominant frequency k = {k} explains {fve:.0%} of its variance, "
            f"under {FVE_THRESHOLD:.0%}): showing the {len(members)} neurons whose dominant frequency is also "
            f"k = {k}, strongest first.")


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
