"""The analyzer registry: analyzers register by name here, the pipeline looks them up.

`workbench.analyzers` re-exports `register`; see its docstring for writing your own.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from workbench.errors import BadInputError


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
BUILTINS = ("fourier_embedding", "fourier_unembedding", "neuron_frequencies", "attention_heads",
            "dimensionality", "progress_measures", "parameter_trajectory", "loss_dynamics", "prediction_trace",
            "input_graduation", "essential_dynamics")
OPTIONAL = ("llc",)  # built in, but run only when asked for (`--analyzers llc`): they cost more


def register(name: str, *, kind: str = "epoch", version: int = 1, reference: str = "",
             uses_final: bool = False, inputs: tuple[str, ...] = (), settings: str | None = None) -> Callable:
    """Decorator: register `fn(ctx) -> dict[str, np.ndarray]` as analyzer `name`. A series
    analyzer lists in `inputs` the per-epoch analyzers it reads: they run first, and it reruns
    when their series change. `settings` names the spec's analysis section it reads (e.g. "llc")."""
    if kind not in ("epoch", "series"):
        raise BadInputError(f"analyzer kind must be 'epoch' or 'series', got {kind!r}")

    def decorate(fn: Callable) -> Callable:
        REGISTRY[name] = Analyzer(name, kind, fn, version, reference, uses_final, tuple(inputs), settings)
        return fn
    return decorate


class UnknownAnalyzerError(BadInputError):
    """An analyzer name that is not registered; the message lists the known ones."""


def get(name: str) -> Analyzer:
    if name not in REGISTRY:
        raise UnknownAnalyzerError(f"unknown analyzer {name!r}; known analyzers: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


def all_analyzers() -> list[Analyzer]:
    return list(REGISTRY.values())
