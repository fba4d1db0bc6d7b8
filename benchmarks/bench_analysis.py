"""Analysis speed and size: every per-epoch analyzer on one p=113 checkpoint."""
from __future__ import annotations

import numpy as np
from safetensors.numpy import save

from benchmarks.run import Benchmark
from workbench import analyzers as registry
from workbench.analyzers.context import EpochContext
from workbench.families import load_family
from workbench.model import ModelConfig, init_weights

SPEC = load_family("modular_addition").variant().spec
WEIGHTS = {k: v.numpy() for k, v in init_weights(ModelConfig.from_spec(SPEC), 999).items()}
PER_EPOCH = [a for a in registry.all_analyzers() if a.kind == "epoch" and a.name not in registry.OPTIONAL]
OLDER_WORKBENCH_SECONDS = 29.0  # per p=113 checkpoint, measured on these machines (issue 3)


def shared_context():
    """One EpochContext: one forward pass shared by every activation analyzer."""
    ctx = EpochContext(SPEC, 0, WEIGHTS)
    return {a.name: a.compute(ctx) for a in PER_EPOCH}


def context_per_analyzer():
    """What a pipeline without a shared context does: a forward pass per analyzer."""
    return {a.name: a.compute(EpochContext(SPEC, 0, WEIGHTS)) for a in PER_EPOCH}


def notes(seconds: float) -> str:
    size = sum(len(save({k: np.asarray(v) for k, v in arrays.items()})) for arrays in shared_context().values())
    return (f"goal < 2 s per checkpoint: {'met' if seconds < 2 else 'NOT met'} ({seconds:.2f} s); "
            f"older workbench {OLDER_WORKBENCH_SECONDS:.0f} s -> {OLDER_WORKBENCH_SECONDS / seconds:.0f}x faster\n"
            f"stored artifacts per checkpoint: {size / 1e3:.0f} kB (budget 500 kB; older workbench ~18 MB)")


BENCHMARKS = [
    Benchmark("analysis: all per-epoch analyzers, one p=113 checkpoint",
              ("a context (forward pass) per analyzer", context_per_analyzer),
              ("one shared EpochContext", shared_context), unit="s", repeats=3, notes=notes),
]
