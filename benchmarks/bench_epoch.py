"""What an epoch of `workbench train modular_addition` (p = 113) really costs.

The floor is the work an epoch cannot skip: the train forward, backward and AdamW step, and the
test forward over the 8,939 test pairs. `train()` does more each epoch: the float64 losses, both
accuracies, every parameter's and gradient's norm, the history, the progress bar, the thread
policy's check and, every 100 epochs, a checkpoint. Goal: the whole epoch within 1.2x of the
floor (ratio >= 0.83x). A second benchmark shows what `eval_every = 10` saves.
"""
from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile

import torch

from benchmarks.run import Benchmark
from workbench import threads
from workbench.families import load_family
from workbench.model import ModelConfig, Transformer, init_weights
from workbench.store import Store
from workbench.training import Split, cross_entropy_f64, train

EPOCHS = 100  # epochs 0..100: 101 evaluations, 100 steps, checkpoints at 0 and 100
THREADS = str(threads.cores())  # both sides at the same count: this measures the epoch, not the policy


def _floor():
    spec = load_family("modular_addition").variant().spec
    cfg = ModelConfig.from_spec(spec)
    model = Transformer(cfg, init_weights(cfg, spec["domain"]["seed"]))
    split = Split.for_variant(spec, "cpu")
    tr = spec["training"]
    opt = torch.optim.AdamW(model.parameters(), lr=tr["lr"], weight_decay=tr["weight_decay"], betas=tuple(tr["betas"]))

    def epochs():
        torch.set_num_threads(int(THREADS))
        for _ in range(EPOCHS + 1):
            loss = cross_entropy_f64(model.last_logits(split.train_a, split.train_b), split.train_y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                model.last_logits(split.test_a, split.test_b)
    return epochs


def _train(**overrides):
    variant = load_family("modular_addition").variant(epochs=EPOCHS, **overrides)

    def epochs():
        root = tempfile.mkdtemp(prefix="bench-epoch-")
        saved = os.environ.get(threads.VARIABLE)
        os.environ[threads.VARIABLE] = THREADS
        try:
            with contextlib.redirect_stderr(io.StringIO()):  # the progress bar, as the command shows it
                train(variant, Store(root), progress=True)
        finally:
            shutil.rmtree(root, ignore_errors=True)
            if saved is None:
                os.environ.pop(threads.VARIABLE)
            else:
                os.environ[threads.VARIABLE] = saved
    return epochs


def _per_epoch(seconds: float) -> str:
    return f"{seconds / (EPOCHS + 1) * 1000:.1f} ms per epoch"


BENCHMARKS = [
    Benchmark("epoch: `workbench train modular_addition` epochs vs the floor (train fwd+bwd+step, test fwd); "
              "goal: within 1.2x",
              ("floor: train forward, backward, step; test forward", _floor()),
              ("train(): everything an epoch records", _train()),
              unit=f"s per {EPOCHS + 1} epochs", repeats=3, goal=1 / 1.2, notes=_per_epoch),
    Benchmark("epoch: test metrics every 10 epochs (eval_every = 10) vs every epoch",
              ("eval_every = 1", _train()),
              ("eval_every = 10", _train(eval_every=10)),
              unit=f"s per {EPOCHS + 1} epochs", repeats=3, notes=_per_epoch),
]
