"""The progress measures of Nanda et al. (2023) §5, per checkpoint."""
from __future__ import annotations

import math

import numpy as np

from workbench import fourier
from workbench.analyzers.registry import register
from workbench.vocabulary import key_mask


@register("progress_measures", uses_final=True, version=2,
          reference="Nanda et al. 2023 §5.2 (restricted and excluded loss, Gini, weight norm)")
def progress_measures(ctx):
    """Restricted/excluded loss for the final model's key frequencies (`key_mask`: those W_E, W_L
    and the neuron clusters agree on, `fourier.model_key_frequencies`), grid losses and
    accuracies, Gini, Σw²."""
    keys = ctx.final_key_frequencies
    logits, labels, train = ctx.logits, ctx.labels, ctx.train_mask
    if len(keys):
        restricted = fourier.restricted_loss(logits, labels, keys, ctx.p)
        excluded = fourier.excluded_loss(logits, labels, keys, ctx.p, mask=train)
    else:  # the final model has no key frequencies (it never generalized): nothing to restrict to
        restricted = excluded = np.nan
    correct = logits.argmax(axis=1) == labels
    p = ctx.p
    return {
        "restricted_loss": np.float64(restricted),
        "excluded_loss": np.float64(excluded),
        "train_loss": np.float64(fourier.cross_entropy_f64(logits[train], labels[train])),
        "test_loss": np.float64(fourier.cross_entropy_f64(logits[~train], labels[~train])),
        "train_acc": np.float32(correct[train].mean()),
        "test_acc": np.float32(correct[~train].mean()),
        "gini_W_E": np.float32(fourier.gini(fourier.frequency_norms(ctx.weights["embed.W_E"][:p])["norm"])),
        "gini_W_L": np.float32(fourier.gini(fourier.frequency_norms(fourier.neuron_logit_map(ctx.weights).T)["norm"])),
        # fsum rounds exactly: np.sum's result depends on the arrays' memory alignment, so the same
        # checkpoint gave answers one ulp apart in different processes.
        "sum_squared_weights": np.float64(math.fsum(math.fsum(np.square(w.astype(np.float64)).ravel())
                                                    for w in ctx.weights.values())),
        "key_mask": key_mask(keys, ctx.n_freq),
    }
