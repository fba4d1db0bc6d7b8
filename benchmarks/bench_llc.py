"""LLC cost: the optional `llc` analyzer on one p=113 checkpoint with the default settings.

Baseline: every default per-epoch analyzer on the same checkpoint (what `workbench analyze`
costs without --analyzers llc), so the ratio says how many default analyses one LLC costs
(a ratio < 1). Uses the trained p=113 checkpoint in benchmarks/.data when the app benchmarks have
made it (the sampler's cost barely depends on the weights; its health does), else the paper's
initialization.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.run import Benchmark
from workbench import analyzers as registry
from workbench.analyzers.context import EpochContext
from workbench.families import load_family
from workbench.familyschema import LLC_DEFAULTS
from workbench.model import ModelConfig, init_weights

SPEC = load_family("modular_addition").variant().spec
DATA = Path(__file__).resolve().parent / ".data"


def _weights() -> tuple[dict[str, np.ndarray], str]:
    from workbench.store import Store, VariantRef
    for ref in Store(DATA).variants("modular_addition") if DATA.is_dir() else []:
        epochs = Store(DATA).checkpoint_epochs(ref)
        if epochs and Store(DATA).info(ref)["spec"]["domain"]["p"] == 113:
            epoch = epochs[len(epochs) // 2]
            return Store(DATA).load_weights(VariantRef(ref.family, ref.id), epoch), f"{ref.id} epoch {epoch}"
    return {k: v.numpy() for k, v in init_weights(ModelConfig.from_spec(SPEC), 999).items()}, "initialization"


WEIGHTS, SOURCE = _weights()
DEFAULT_PER_EPOCH = [registry.get(name) for name in registry.BUILTINS if registry.get(name).kind == "epoch"]


def default_analyzers():
    ctx = EpochContext(SPEC, 0, WEIGHTS)
    return {a.name: a.compute(ctx) for a in DEFAULT_PER_EPOCH}


def llc_default_settings():
    return registry.get("llc").compute(EpochContext(SPEC, 0, WEIGHTS))


def notes(seconds: float) -> str:
    result = llc_default_settings()
    steps = LLC_DEFAULTS["chains"] * LLC_DEFAULTS["draws"]
    health = ", ".join(("healthy", "diverged", "flat")[h] for h in result["chain_health"])
    return (f"checkpoint: {SOURCE}; λ̂ = {float(result['llc_mean']):.3g} ± {float(result['llc_std']):.2g} ({health})\n"
            f"{seconds:.2f} s per checkpoint = {steps} SGLD steps ({LLC_DEFAULTS['chains']} chains x "
            f"{LLC_DEFAULTS['draws']} draws, batch {LLC_DEFAULTS['batch_size']}): {1e3 * seconds / steps:.1f} ms per step; "
            f"100 checkpoints ≈ {100 * seconds / 60:.0f} min on one process")


BENCHMARKS = [
    Benchmark("LLC: the llc analyzer (default settings), one p=113 checkpoint",
              ("every default per-epoch analyzer", default_analyzers),
              ("llc analyzer", llc_default_settings), unit="s", repeats=2, notes=notes),
]
