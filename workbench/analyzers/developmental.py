"""Developmental-interpretability measures: the local learning coefficient (per epoch, optional)
and essential dynamics (series).

Essential dynamics (Hoogland et al. 2024, "Loss landscape degeneracy drives stagewise development
in transformers", arXiv 2402.02364) is PCA of the model's *outputs* across checkpoints: the
output-space counterpart of the parameter trajectory, blind to reparametrizations that leave the
function unchanged. Outputs are the logits at `=` on the pairs of `output_pairs(p)`, each input's
row centered over the p answers (the softmax ignores a per-input constant, so that direction
carries no change of the function), flattened into one vector per checkpoint.
"""
from __future__ import annotations

import numpy as np

from workbench import tasks
from workbench.familyschema import LLC_DEFAULTS
from workbench.analyzers.registry import register
from workbench.analyzers.trajectory import trajectory_summary

MAX_OUTPUTS = 2 ** 16  # logits kept per checkpoint: 100 checkpoints x 65,536 stay near 80 MB in the PCA
OUTPUT_PAIRS_SEED = 0


def output_pairs(p: int, max_outputs: int = MAX_OUTPUTS) -> np.ndarray:
    """Row-major pair indices whose outputs essential dynamics stacks: the whole grid when its
    p² × p logits fit in `max_outputs`, else a fixed random subset of max_outputs // p pairs
    (seed `OUTPUT_PAIRS_SEED`, sorted; 579 of 12,769 pairs at p = 113). The subset depends on p
    alone, so variants of one p share it and their paths can be fitted in one frame."""
    n = min(p * p, max(1, max_outputs // p))
    if n == p * p:
        return np.arange(p * p)
    return np.sort(np.random.default_rng(OUTPUT_PAIRS_SEED).choice(p * p, n, replace=False))


def centred_outputs(logits: np.ndarray) -> np.ndarray:
    """Logits [..., n_pairs, p] with each input's row centered over the answers, flattened to
    [..., n_pairs * p] (float32)."""
    logits = np.asarray(logits, dtype=np.float64)
    centred = logits - logits.mean(axis=-1, keepdims=True)
    return centred.reshape(*centred.shape[:-2], -1).astype(np.float32)


def model_outputs(spec: dict, weights: dict[str, np.ndarray], pairs: np.ndarray) -> np.ndarray:
    """Logits at `=` [len(pairs), p] of a checkpoint on the given row-major pair indices (float64,
    `workbench.model.ANALYSIS_DTYPE`)."""
    import torch  # heavy: only for a forward pass

    from workbench.model import ANALYSIS_DTYPE, ModelConfig, load_model  # torch
    model = load_model(ModelConfig.from_spec(spec), weights, dtype=ANALYSIS_DTYPE)
    inputs = torch.as_tensor(tasks.probe_inputs(spec["domain"]["p"])[pairs])
    with torch.no_grad():
        return model.last_logits(inputs[:, 0], inputs[:, 1]).numpy()


def essential_dynamics(logits: np.ndarray, epochs: np.ndarray) -> dict[str, np.ndarray]:
    """PCA of the centred outputs [n_checkpoints, n_pairs, p] across checkpoints, with the same
    summary as a parameter trajectory under the prefix "outputs." (projection on PC1-3,
    explained variance, speed through output space, PC2/PC3 loop geometry)."""
    return trajectory_summary(centred_outputs(logits), np.asarray(epochs), "outputs.")


@register("essential_dynamics", kind="series",
          reference="Hoogland et al. 2024 (essential dynamics: PCA of outputs across checkpoints)")
def essential_dynamics_series(ctx):
    """PCA of the model's outputs (centred logits on a fixed probe subset) over all checkpoints."""
    epochs = np.asarray(ctx.epochs)
    pairs = output_pairs(ctx.p)
    logits = np.stack([model_outputs(ctx.spec, ctx.weights(int(e)), pairs) for e in epochs])
    return {"epochs": epochs, "pairs": pairs, **essential_dynamics(logits, epochs)}


@register("llc", settings="llc", reference="Lau et al. 2023 (LLC); Hoogland et al. 2024; devinterp SGLD")
def local_learning_coefficient(ctx):
    """Local learning coefficient of the checkpoint on the training pairs (SGLD chains, devinterp)."""
    import torch  # heavy: the optional llc analyzer

    from workbench.llc import estimate_llc  # torch and devinterp
    settings = {**LLC_DEFAULTS, **ctx.spec.get("llc", {})}
    result = estimate_llc(ctx.model, ctx.pairs[ctx.train_mask], settings, progress=ctx.report)
    test = torch.as_tensor(ctx.pairs[~ctx.train_mask])
    with torch.no_grad():
        logits = ctx.model.last_logits(test[:, 0], test[:, 1]).double()
        test_loss = torch.nn.functional.cross_entropy(logits, test[:, 2]).item() if len(test) else np.nan
    return {**result, "train_loss": result.pop("init_loss"), "test_loss": np.float64(test_loss),
            **{key: np.float64(settings[key]) for key in ("lr", "nbeta", "localization", "batch_size", "seed")}}
