"""Per-input traces at p=113: the prediction_trace analyzer on one checkpoint (time and bytes),
and one input's logit attribution over the 101 checkpoints of the app benchmarks' variant.

That variant (1,000 epochs, a checkpoint every 10) lives in benchmarks/.data (bench_app trains
it on first use); WORKBENCH_BENCH_DATA points at another copy, which is only read."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from safetensors.numpy import save

from benchmarks import bench_app
from benchmarks.bench_analysis import SPEC, WEIGHTS
from benchmarks.run import Benchmark
from workbench.analyzers.context import EpochContext
from workbench.analyzers.predictions import prediction_trace

PAIR = 4 * 113 + 29
_state = {}


def forward_only():
    """The grid's forward pass, which the trace shares with every activation analyzer."""
    return EpochContext(SPEC, 0, WEIGHTS).logits


def shared_context():
    if "ctx" not in _state:
        _state["ctx"] = EpochContext(SPEC, 0, WEIGHTS)
        _ = _state["ctx"].logits  # the shared forward pass, computed once
    return _state["ctx"]


def trace_after_forward():
    return prediction_trace(shared_context())


def trace_notes(seconds: float) -> str:
    size = len(save(trace_after_forward()))
    return (f"the trace adds {seconds * 1e3:.0f} ms to a checkpoint's analysis; stored per checkpoint {size / 1e3:.1f} kB "
            f"(int16 prediction, float16 log10 loss and confidence for {113 * 113:,} inputs); "
            f"100 checkpoints: {2 * 100 * size / 1e6:.1f} MB (per-epoch files + their stacked series)")


def bench_variant():
    if "ref" not in _state:
        from workbench.store import Store, VariantRef
        root = Path(os.environ.get("WORKBENCH_BENCH_DATA", bench_app.ROOT))
        store, ref = Store(root), VariantRef("modular_addition", "p113-s999-d598-every=10x1000-epochs=1000")
        if not store.checkpoint_epochs(ref):
            store, ref = bench_app.variant_ref()
        _state.update(store=store, ref=ref)
    return _state["store"], _state["ref"]


def trace_by_grid_forward():
    """Baseline: the full hooked forward over the whole grid at every checkpoint, then the input's row."""
    import torch
    from workbench import tasks
    from workbench.model import ModelConfig, load_model
    store, ref = bench_variant()
    spec = store.info(ref)["spec"]
    cfg, tokens = ModelConfig.from_spec(spec), torch.as_tensor(tasks.probe_inputs(113))
    rows = []
    for epoch in store.checkpoint_epochs(ref):
        with torch.no_grad():  # only the hooks a decomposition reads
            _, cache = load_model(cfg, store.load_weights(ref, epoch)).run_with_cache(
                tokens, names_filter=lambda name: name.endswith(("hook_z", "hook_mlp_out", "hook_embed")))
        rows.append(cache["blocks.0.hook_mlp_out"][PAIR, -1].numpy())
    return np.stack(rows)


def trace_one_input():
    from workbench.derived import compute_input_trace
    store, ref = bench_variant()
    return compute_input_trace(store, ref, PAIR)


def lens_notes(seconds: float) -> str:
    store, ref = bench_variant()
    n = len(store.checkpoint_epochs(ref))
    return f"{n} checkpoints: {seconds * 1e3 / n:.1f} ms per checkpoint, uncached (a cached trace is one disk-cache read)"


BENCHMARKS = [
    Benchmark("inputs: prediction_trace on one p=113 checkpoint, against the forward pass it shares",
              ("the grid's forward pass (shared by all analyzers)", forward_only),
              ("prediction_trace on the shared logits", trace_after_forward), unit="s", repeats=3, notes=trace_notes),
    Benchmark("inputs: one input's logit attribution over the p=113 run's checkpoints",
              ("a full forward over the grid per checkpoint", trace_by_grid_forward),
              ("derived.compute_input_trace (one input per checkpoint)", trace_one_input), unit="s", repeats=1,
              notes=lens_notes),
]
