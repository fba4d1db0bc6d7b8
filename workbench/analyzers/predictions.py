"""Per-input prediction traces: what the model answers for every input (a, b), epoch by epoch.

`prediction_trace` (per epoch) stores, for every pair of the p x p grid (row-major, pair index
a * p + b), the predicted answer, the loss and the confidence, compactly (int16 / float16:
~6 bytes per input, 77 kB per p = 113 checkpoint). `input_graduation` (series) turns the
stacked traces into per-input histories: when each input *graduates* (is answered correctly
from some checkpoint to the end of the run), accuracy per answer residue, the hardest inputs and
the loss spikes. Train/test membership is the variant's own split.

Graduation is resolved to the checkpoint schedule: an input that graduates at epoch 1,230 of a
run checkpointed every 100 epochs is reported at 1,300, the first checkpoint from which it stays
correct. The pure functions here are what the renderers use to restrict these views to a probe.
"""
from __future__ import annotations

import numpy as np

from workbench import tasks
from workbench.analyzers.registry import register
from workbench.errors import BadInputError
from workbench.vocabulary import NEVER

LOSS_FLOOR = 1e-30      # losses below this are stored as this (log10 = -30); float64 logits rarely get there
SPIKE_FACTOR = 10.0     # a loss spike: the loss rises at least 10x from one checkpoint to the next ...
SPIKE_MIN_LOSS = 0.1    # ... to at least 0.1 (p(correct) below ~0.9), so jitter near zero is no spike


def per_input_losses(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Cross-entropy of each row, [n], float64, accurate down to ~1e-300: with d = logits − the
    correct logit and m = max(d) ≥ 0, loss = m + log(e^−m + Σ_{c≠y} e^{d_c − m}), which is
    log1p(Σ_{c≠y} e^{d_c}) when the correct answer is on top (no 1 + tiny rounding to 1)."""
    logits = np.asarray(logits, np.float64)
    rows = np.arange(len(labels))
    d = logits - logits[rows, labels][:, None]
    m = d.max(axis=1)
    others = np.exp(d - m[:, None])
    others[rows, labels] = 0.0
    others = others.sum(axis=1)
    return np.where(m == 0, np.log1p(others), m + np.log(np.exp(-m) + others))


@register("prediction_trace", reference="per-input view of the grid (Power et al. 2022; Nanda et al. 2023)")
def prediction_trace(ctx):
    """Per input of the grid: predicted answer, log10 loss and confidence (int16/float16)."""
    logits, labels = ctx.logits, ctx.labels
    loss = per_input_losses(logits, labels)
    shifted = logits - logits.max(axis=1, keepdims=True)
    confidence = 1.0 / np.exp(shifted).sum(axis=1)  # softmax probability of the predicted answer
    return {
        "predicted": logits.argmax(axis=1).astype(np.int16),                          # [p*p]
        # log10 of the loss: float16 keeps ~3 significant digits of it from 1e-30 to 1e4, where
        # float16 of the loss itself would flush every loss below 6e-8 to zero
        "log10_loss": np.log10(np.maximum(loss, LOSS_FLOOR)).astype(np.float16),      # [p*p]
        "confidence": confidence.astype(np.float16),                                  # [p*p]
    }


def graduation_epochs(correct: np.ndarray, epochs: np.ndarray) -> np.ndarray:
    """First checkpoint epoch from which each input is correct at every later checkpoint,
    [n_inputs] int64; NEVER (-1) for inputs wrong at the final checkpoint. correct: [n_epochs, n_inputs]."""
    correct = np.asarray(correct, bool)
    stays = np.flip(np.logical_and.accumulate(np.flip(correct, 0), axis=0), 0)  # correct from row i to the end
    first = np.argmax(stays, axis=0)
    return np.where(stays[-1], np.asarray(epochs, np.int64)[first], NEVER)


def accuracy_by_residue(correct: np.ndarray, answers: np.ndarray, p: int, mask: np.ndarray | None = None) -> np.ndarray:
    """Accuracy over the inputs (in `mask`) whose answer is each residue, [n_epochs, p] float32;
    NaN for residues with no such input."""
    correct = np.asarray(correct, bool)
    mask = np.ones(correct.shape[1], bool) if mask is None else np.asarray(mask, bool)
    totals = np.bincount(answers[mask], minlength=p).astype(np.float64)
    hits = np.stack([np.bincount(answers[mask], weights=row[mask], minlength=p) for row in correct])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, hits / totals, np.nan).astype(np.float32)


def restricted_to_probe(graduation: dict[str, np.ndarray], probe: np.ndarray | None) -> dict[str, np.ndarray]:
    """The `input_graduation` artifact with its accuracy per answer residue over the inputs of
    `probe` (bool [p*p]) only; unchanged for None (the whole grid)."""
    if probe is None:
        return graduation
    probe, train = np.asarray(probe, bool), np.asarray(graduation["train_mask"], bool)
    answers = np.asarray(graduation["answers"], np.int64)
    p = int(round(np.sqrt(len(answers))))
    return {**graduation,
            "train_accuracy_by_residue": accuracy_by_residue(graduation["correct"], answers, p, probe & train),
            "test_accuracy_by_residue": accuracy_by_residue(graduation["correct"], answers, p, probe & ~train)}


def hardest_in_probe(graduation: dict[str, np.ndarray], probe: np.ndarray | None) -> int:
    """The hardest input (pair index) of `probe` (bool [p*p]; None: the whole grid) by the
    `input_graduation` order; BadInputError when the probe holds no input."""
    hardest = np.asarray(graduation["hardest"])
    inside = hardest if probe is None else hardest[np.asarray(probe, bool)[hardest]]
    if not len(inside):
        raise BadInputError("the probe holds no inputs; pick another in the sidebar")
    return int(inside[0])


def loss_spikes(log10_loss: np.ndarray, epochs: np.ndarray) -> dict[str, np.ndarray]:
    """Every (input, checkpoint) at which the loss rose ≥ SPIKE_FACTOR x since the previous
    checkpoint to ≥ SPIKE_MIN_LOSS: spike_inputs, spike_epochs [n_spikes] and spike_decades
    (log10 of the rise), ordered by epoch."""
    log10_loss = np.asarray(log10_loss, np.float32)
    rise = np.diff(log10_loss, axis=0)                                          # [n_epochs - 1, n]
    hit = (rise >= np.log10(SPIKE_FACTOR)) & (log10_loss[1:] >= np.log10(SPIKE_MIN_LOSS))
    rows, inputs = np.nonzero(hit)
    return {"spike_inputs": inputs.astype(np.int32), "spike_epochs": np.asarray(epochs, np.int64)[rows + 1],
            "spike_decades": rise[rows, inputs].astype(np.float32)}


def hardest_order(graduation: np.ndarray, mean_log10_loss: np.ndarray) -> np.ndarray:
    """Input indices, hardest first: never graduated, then latest graduation; ties (graduation is
    resolved to checkpoints) broken by the higher mean log10 loss over the run."""
    late = np.where(np.asarray(graduation) == NEVER, np.iinfo(np.int64).max, graduation)
    return np.lexsort((-np.asarray(mean_log10_loss, np.float64), -late)).astype(np.int32)


@register("input_graduation", kind="series", inputs=("prediction_trace",),
          reference="per-input learning order; graduation resolved to the checkpoint schedule")
def input_graduation(ctx):
    """Graduation epoch per input, accuracy per answer residue, hardest inputs and loss spikes."""
    trace = ctx.series("prediction_trace")
    epochs, p = np.asarray(trace["epochs"]), ctx.p
    answers = tasks.answers(ctx.spec["domain"]["operation"], p)
    train = tasks.train_mask(p, ctx.spec["training"]["train_fraction"], ctx.spec["domain"]["data_seed"])
    correct = trace["predicted"] == answers[None, :]                              # [n_epochs, p*p]
    graduation = graduation_epochs(correct, epochs)
    mean_loss = trace["log10_loss"].astype(np.float32).mean(axis=0)
    return {
        "epochs": epochs,
        "graduation_epoch": graduation,                                           # [p*p], NEVER = -1
        "train_mask": train,                                                      # [p*p]
        "answers": answers.astype(np.int16),                                      # [p*p]
        "correct": correct,                                                       # [n_epochs, p*p]
        "mean_log10_loss": mean_loss,                                             # [p*p]
        "hardest": hardest_order(graduation, mean_loss),                          # [p*p], hardest first
        "train_accuracy_by_residue": accuracy_by_residue(correct, answers, p, train),   # [n_epochs, p]
        "test_accuracy_by_residue": accuracy_by_residue(correct, answers, p, ~train),   # [n_epochs, p]
        **loss_spikes(trace["log10_loss"], epochs),
    }
