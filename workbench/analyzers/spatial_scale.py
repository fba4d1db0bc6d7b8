"""Spatial-scale metrics of p x p maps, shared by the neuron and attention analyzers."""
from __future__ import annotations

import numpy as np

from workbench import spatial
from workbench.vocabulary import SCALE_TYPES


def spatial_metrics(maps: np.ndarray, prefix: str = "") -> dict[str, np.ndarray]:
    """For maps [..., p, p]: low-frequency energy ratio (12.5% disc), variance preserved by a
    14 x 14 bilinear round trip, mean |gradient| in units of std, and the scale type code."""
    low = spatial.low_frequency_energy_ratio(maps)
    kept = spatial.downsample_variance_preserved(maps)
    labels = spatial.scale_type(low, kept)
    codes = np.vectorize(SCALE_TYPES.index, otypes=[np.uint8])(labels) if labels.size else labels.astype(np.uint8)
    return {f"{prefix}low_freq_ratio": low.astype(np.float32),
            f"{prefix}variance_preserved": kept.astype(np.float32),
            f"{prefix}mean_abs_gradient": spatial.mean_abs_gradient(maps).astype(np.float32),
            f"{prefix}scale_type": codes}
