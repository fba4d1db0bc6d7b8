"""The words analyzers write and readers read: shared constants and the artifact schemas.

Analyzers (`workbench.analyzers`) import this module to write their artifacts; renderers, pages,
`compare` and the API import it to read them, so no reader imports an analyzer. `ARTIFACTS`
lists what every built-in analyzer writes (a test holds the analyzers to it): per key its dtype,
its shape (`n_epochs` leads every key of a stacked series, `epochs` holding them) and what it is.
Shapes use `p` (the prime), `n_freq = (p - 1) // 2` (frequencies k = 1..n_freq, 1-based), `d_mlp`,
`n_heads` and `n_ckpt` (checkpoints); `{matrix}` and `{group}` stand for each of MATRICES and
PARAMETER_GROUPS.
"""
from __future__ import annotations

import numpy as np

# A neuron (or head map) belongs to frequency k's cluster when k explains at least this fraction
# of its variance (FVE). Nanda et al. 2023 §5.1: 433 of 512 neurons pass it in the main run.
FVE_THRESHOLD = 0.85
# Graduation epoch of an input that is wrong at the final checkpoint (`input_graduation`).
NEVER = -1
# Spatial scale of a p x p map, stored as the index into this tuple (`scale_type` keys).
SCALE_TYPES = ("flat", "smooth blobs", "mixed", "fine plaid")
# Parameter groups of trajectories: TransformerLens name prefixes of each.
PARAMETER_GROUPS = {
    "all": ("",),
    "embedding": ("embed.", "pos_embed."),
    "attention": ("blocks.0.attn.",),
    "mlp": ("blocks.0.mlp.",),
    "unembedding": ("unembed.",),
}
# Weight matrices whose spectra `dimensionality` reads (besides W_L = W_out·W_U); the per-head
# ones are batched over heads.
MATRICES = {
    "W_E": "embed.W_E", "W_U": "unembed.W_U", "W_in": "blocks.0.mlp.W_in", "W_out": "blocks.0.mlp.W_out",
    "W_Q": "blocks.0.attn.W_Q", "W_K": "blocks.0.attn.W_K", "W_V": "blocks.0.attn.W_V", "W_O": "blocks.0.attn.W_O",
}
HEAD_MATRICES = ("W_Q", "W_K", "W_V", "W_O")


def component_names(n_heads: int) -> list[str]:
    """The components of direct logit attribution, in their stored order: the direct path
    (embedding), each attention head, the MLP."""
    return ["embed", *(f"head {h}" for h in range(n_heads)), "MLP"]


def key_mask(keys, n_freq: int) -> np.ndarray:
    """Key frequencies (1-based k) as stored: uint8 [n_freq], 1 at each key frequency."""
    mask = np.zeros(n_freq, np.uint8)
    mask[np.asarray(keys, int) - 1] = 1
    return mask


def key_frequencies(mask) -> np.ndarray:
    """The 1-based key frequencies of a stored mask [n_freq] (one epoch's row), ascending."""
    return np.flatnonzero(np.asarray(mask)) + 1


# -- artifact schemas: analyzer -> {key: (dtype, shape of one epoch, meaning)} ---------------------
# Per-epoch analyzers store one file per checkpoint and a stacked series (n_epochs leading, plus
# "epochs"); series analyzers store only the series file, with the shapes given here.

def _fourier(prefix: str, matrix: str) -> dict:
    return {f"{prefix}norm": ("float32", "[n_freq]", f"norm of {matrix} per frequency k (cos and sin together)"),
            f"{prefix}cos_norm": ("float32", "[n_freq]", f"norm of {matrix}'s cos k component"),
            f"{prefix}sin_norm": ("float32", "[n_freq]", f"norm of {matrix}'s sin k component"),
            f"{prefix}const_norm": ("float32", "[]", f"norm of {matrix}'s constant component"),
            f"{prefix}key_mask": ("uint8", "[n_freq]", "key frequencies (see key_mask)"),
            f"{prefix}gini": ("float32", "[]", "Gini coefficient of the norms (0 uniform, 1 one frequency)")}


def _spatial(shape: str) -> dict:
    return {"low_freq_ratio": ("float32", shape, "energy in the lowest 12.5% of spatial frequencies"),
            "variance_preserved": ("float32", shape, "variance kept by a 14 x 14 bilinear round trip"),
            "mean_abs_gradient": ("float32", shape, "mean |gradient| of the map, in units of its std"),
            "scale_type": ("uint8", shape, "index into SCALE_TYPES")}


def _path(prefix: str) -> dict:
    return {f"{prefix}projection": ("float32", "[n_ckpt, 3]", "the path in PC1-3"),
            f"{prefix}explained_variance": ("float32", "[3]", "variance ratio of PC1-3"),
            f"{prefix}velocity": ("float32", "[n_ckpt - 1]", "‖Δ‖ per epoch between checkpoints"),
            f"{prefix}path_length": ("float32", "[]", "length of the PC2/PC3 path"),
            f"{prefix}loop_area_ratio": ("float32", "[]", "area enclosed / path length² in PC2/PC3"),
            f"{prefix}crossing_epochs": ("int64", "[n_crossings, 2]", "epochs of self-crossing segments")}


def _spectrum(matrix: str) -> dict:
    heads = "[n_heads]" if matrix in HEAD_MATRICES else "[]"
    return {f"sigma.{matrix}": ("float32", "[n_heads, rank]" if heads != "[]" else "[rank]",
                                "singular values, descending"),
            f"participation_ratio.{matrix}": ("float32", heads, "(Σσ²)²/Σσ⁴, dimensions"),
            f"spectral_gap.{matrix}": ("float32", heads, "largest σ_i/σ_(i+1) in the leading half"),
            f"gap_index.{matrix}": ("int16", heads, "its i: the size of the signal subspace")}


ARTIFACTS: dict[str, dict[str, tuple[str, str, str]]] = {
    "fourier_embedding": _fourier("", "W_E"),
    "fourier_unembedding": {**_fourier("W_U.", "W_U"), **_fourier("W_L.", "W_L = W_out·W_U")},
    "neuron_frequencies": {
        "fve": ("float16", "[n_freq, d_mlp]", "fraction of each neuron's variance explained by frequency k"),
        "dominant_freq": ("int16", "[d_mlp]", "each neuron's best frequency k"),
        "dominant_fve": ("float32", "[d_mlp]", "its FVE"),
        "cluster_size": ("int16", "[n_freq]", "neurons with FVE ≥ FVE_THRESHOLD for frequency k"),
        "fraction_explained": ("float32", "[]", "share of neurons in some cluster"),
        **_spatial("[d_mlp]")},
    "attention_heads": {
        "fve": ("float32", "[2, n_freq, n_heads]", "FVE by frequency of each head's map to a and to b"),
        "dominant_freq": ("int16", "[2, n_heads]", "best frequency k of each map"),
        "dominant_fve": ("float32", "[2, n_heads]", "its FVE"),
        "mean_attention": ("float32", "[3, n_heads]", "mean attention from = to a, b and ="),
        **_spatial("[2, n_heads]")},
    "dimensionality": {k: v for m in (*MATRICES, "W_L") for k, v in _spectrum(m).items()},
    "progress_measures": {
        "restricted_loss": ("float64", "[]", "loss with only the final key frequencies kept (NaN: none)"),
        "excluded_loss": ("float64", "[]", "train loss with the key frequencies removed"),
        "train_loss": ("float64", "[]", "grid loss on the train pairs"),
        "test_loss": ("float64", "[]", "grid loss on the test pairs"),
        "train_acc": ("float32", "[]", "accuracy on the train pairs"),
        "test_acc": ("float32", "[]", "accuracy on the test pairs"),
        "gini_W_E": ("float32", "[]", "Gini of W_E's Fourier norms"),
        "gini_W_L": ("float32", "[]", "Gini of W_L's Fourier norms"),
        "sum_squared_weights": ("float64", "[]", "Σ w² over every parameter"),
        "key_mask": ("uint8", "[n_freq]", "the final checkpoint's key frequencies")},
    "prediction_trace": {
        "predicted": ("int16", "[p*p]", "the model's answer per input (pair index a * p + b)"),
        "log10_loss": ("float16", "[p*p]", "log10 of each input's loss (≥ -30)"),
        "confidence": ("float16", "[p*p]", "softmax probability of the answer given")},
    "input_graduation": {
        "epochs": ("int64", "[n_ckpt]", "checkpoint epochs"),
        "graduation_epoch": ("int64", "[p*p]", "first checkpoint from which the input stays correct; NEVER"),
        "train_mask": ("bool", "[p*p]", "trained on"),
        "answers": ("int16", "[p*p]", "the correct answer"),
        "correct": ("bool", "[n_ckpt, p*p]", "answered correctly"),
        "mean_log10_loss": ("float32", "[p*p]", "mean log10 loss over the run"),
        "hardest": ("int32", "[p*p]", "inputs, hardest first"),
        "train_accuracy_by_residue": ("float32", "[n_ckpt, p]", "accuracy per answer, train inputs"),
        "test_accuracy_by_residue": ("float32", "[n_ckpt, p]", "accuracy per answer, test inputs"),
        "spike_inputs": ("int32", "[n_spikes]", "input of each loss spike (≥ 10x rise)"),
        "spike_epochs": ("int64", "[n_spikes]", "its checkpoint"),
        "spike_decades": ("float32", "[n_spikes]", "log10 of the rise")},
    "parameter_trajectory": {"epochs": ("int64", "[n_ckpt]", "checkpoint epochs"),
                             **{k: v for g in PARAMETER_GROUPS for k, v in _path(f"{g}.").items()}},
    "essential_dynamics": {"epochs": ("int64", "[n_ckpt]", "checkpoint epochs"),
                           "pairs": ("int64", "[n_pairs]", "the probe inputs whose logits are used"),
                           **_path("outputs.")},
    "loss_dynamics": {
        **{event: ("float64", "[]", "epoch (or step) of the phase event; NaN: none")
           for event in ("first", "memorization_end", "test_loss_peak", "onset", "grok", "cleanup_end", "last")},
        "alerts_json": ("uint8", "[n_bytes]", "JSON list of `workbench.alerts.Alert` records"),
        "rules_json": ("uint8", "[n_bytes]", "JSON of the phase and alert rules used")},
    "llc": {
        "llc_mean": ("float64", "[]", "local learning coefficient λ̂, mean over chains"),
        "llc_std": ("float64", "[]", "its std over chains"),
        "llc_per_chain": ("float64", "[n_chains]", "λ̂ per SGLD chain"),
        "chain_health": ("int8", "[n_chains]", "0 healthy, 1 diverged, 2 flat (workbench.llc)"),
        "loss_trace": ("float64", "[n_chains, n_draws]", "each chain's loss"),
        "init_loss": ("float64", "[]", "loss at w*"), "train_loss": ("float64", "[]", "train loss at w*"),
        "test_loss": ("float64", "[]", "test loss at w*"),
        **{k: ("float64", "[]", "SGLD setting used") for k in ("lr", "nbeta", "localization", "batch_size", "seed")}},
}
