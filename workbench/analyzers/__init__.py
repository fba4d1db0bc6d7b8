"""The analyzer registry: named, versioned computations from checkpoints to artifacts.

A per-epoch analyzer is a function of an `EpochContext` (one checkpoint); a series analyzer is a
function of a `SeriesContext` (the whole run). Both return a dict of NumPy arrays, the artifact.
Per-epoch artifacts must have the same keys and shapes at every epoch: the pipeline stacks them
into one series file per analyzer, so "this metric over all epochs" is one read.

Register your own in a few lines (bump `version` when its output changes, and it is recomputed):

    from workbench.analyzers import register

    @register("mlp_sparsity")
    def mlp_sparsity(ctx):
        '''Fraction of MLP neurons active at the `=` position, over the full grid.'''
        post = ctx.activation("blocks.0.mlp.hook_post")[:, -1]      # [p*p, d_mlp]
        return {"active_fraction": (post > 0).mean(axis=0)}           # [d_mlp]
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Analyzer:
    name: str
    kind: str  # "epoch" (one checkpoint) or "series" (the whole run)
    compute: Callable[..., dict]
    version: int = 1
    reference: str = ""
    uses_final: bool = False  # reads the final checkpoint too (e.g. its key frequencies)
    inputs: tuple[str, ...] = ()  # per-epoch analyzers whose stacked series a series analyzer reads
    settings: str | None = None  # the spec's analysis section it reads (e.g. "llc"): a change recomputes it

    @property
    def description(self) -> str:
        return (self.compute.__doc__ or "").strip().splitlines()[0] if self.compute.__doc__ else ""


REGISTRY: dict[str, Analyzer] = {}


def register(name: str, *, kind: str = "epoch", version: int = 1, reference: str = "",
             uses_final: bool = False, inputs: tuple[str, ...] = (), settings: str | None = None) -> Callable:
    """Decorator: register `fn(ctx) -> dict[str, np.ndarray]` as analyzer `name`. A series
    analyzer lists in `inputs` the per-epoch analyzers it reads: they run first, and it reruns
    when their series change. `settings` names the spec's analysis section it reads (e.g. "llc")."""
    if kind not in ("epoch", "series"):
        raise ValueError(f"analyzer kind must be 'epoch' or 'series', got {kind!r}")

    def decorate(fn: Callable) -> Callable:
        REGISTRY[name] = Analyzer(name, kind, fn, version, reference, uses_final, tuple(inputs), settings)
        return fn
    return decorate


class UnknownAnalyzerError(KeyError):
    def __str__(self) -> str:
        return self.args[0]


def get(name: str) -> Analyzer:
    _load_builtins()
    if name not in REGISTRY:
        raise UnknownAnalyzerError(f"unknown analyzer {name!r}; known analyzers: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


def all_analyzers() -> list[Analyzer]:
    _load_builtins()
    return list(REGISTRY.values())


BUILTINS = ("fourier_embedding", "fourier_unembedding", "neuron_frequencies", "attention_heads",
            "dimensionality", "progress_measures", "parameter_trajectory", "loss_dynamics", "prediction_trace",
            "input_graduation", "essential_dynamics")
OPTIONAL = ("llc",)  # built in, but run only when asked for (`--analyzers llc`): they cost more


def _load_builtins() -> None:
    # Imported on first use so that registering a user analyzer never pays for torch.
    from workbench.analyzers import (attention, developmental, dimensionality, dynamics, fourier_norms,  # noqa: F401
                                     neurons, predictions, progress, trajectory)
