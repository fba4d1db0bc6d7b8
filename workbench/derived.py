"""Heavy per-input data, recomputed from a checkpoint on demand and kept in the disk cache.

Neuron heatmaps (d_mlp maps of p x p) and attention maps are far larger than the per-epoch
artifacts (13 MB vs 80 kB per p=113 checkpoint), and the app shows them one epoch at a time, so
they are not stored for every epoch: one run of the model's `=`-only path (`EpochContext.at_equals`,
~0.1 s at p = 113) recomputes them, and a size-capped disk cache under `<data root>/.cache/derived`
(`Store.disk_cache`) keeps the recent ones, neurons and attention apart. Entries are keyed by the
checkpoint's checksum, so a retrained checkpoint never serves stale maps. One input's direct
logit attribution across every checkpoint (`input_trace`) is cached the same way.
"""
from __future__ import annotations

import hashlib
import threading
from typing import Callable

import numpy as np

from workbench import tasks
from workbench.analyzers.attention import head_maps
from workbench.analyzers.context import EpochContext
from workbench.analyzers.logit_lens import attribution_summary, component_logits
from workbench.analyzers.neurons import neuron_maps
from workbench.errors import BadInputError, NotTrainedError
from workbench.store import Store, VariantRef

CACHE_BYTES = 2 * 1024**3
# At most two recomputations at once (one per core): each forward over the p = 113 grid holds
# hundreds of MB of activations, and twenty users stepping epochs together otherwise pushed the
# server past 3.5 GB (benchmarks/bench_load.py). Waiting requests find the result in the cache.
_COMPUTE_SLOTS = threading.BoundedSemaphore(2)


# Torch threads for these computations (None: torch's own setting). `workbench serve` sets 1: its
# requests compute side by side in the slots above, and two OpenMP threads per computation on 2
# busy cores spin at each other's barriers - one input's trace over 101 p = 113 checkpoints took
# 11.5 s of CPU with two threads and 0.47 s with one.
_threads: int | None = None


def set_compute_threads(n: int | None) -> None:
    """Run the forward passes of maps and traces on `n` torch threads in this process (the server)."""
    global _threads
    _threads = n


def cache_for(store: Store):
    return store.disk_cache("derived", CACHE_BYTES)


def _cached(store: Store, key: tuple, compute: Callable[[], dict]) -> dict:
    """The cache's entry for `key`, else `compute()` (in one of the compute slots) stored there."""
    cache = cache_for(store)
    value = cache.get(key)
    if value is None:
        with _COMPUTE_SLOTS:
            value = cache.get(key)  # computed by another request while this one waited?
            if value is None:
                if _threads is not None:
                    import torch  # heavy: the computation runs the model anyway
                    torch.set_num_threads(_threads)
                value = compute()
                cache.set(key, value)
    return value


def _maps(store: Store, ref: VariantRef, epoch: int, kind: str) -> np.ndarray:
    """One kind of map ("neuron_maps" or "attention_maps") at a checkpoint. Each kind is its own cache
    entry, so the Attention page never reads the neurons' 13 MB; one run of the model's `=`-only
    path makes both, and the kind not asked for is stored too."""
    fingerprint = store.checkpoint_fingerprint(ref, epoch)
    keys = {k: (k, ref.family, ref.id, epoch, fingerprint) for k in ("neuron_maps", "attention_maps")}

    def compute():
        ctx = EpochContext(store.info(ref)["spec"], epoch, store.load_weights(ref, epoch))
        maps = {"neuron_maps": np.ascontiguousarray(np.moveaxis(neuron_maps(ctx), -1, 0)).astype(np.float16),
                "attention_maps": head_maps(ctx).astype(np.float16)}
        for other in (k for k in maps if k != kind):
            cache_for(store).set(keys[other], maps[other])
        return maps[kind]
    return _cached(store, keys[kind], compute)


def neuron_heatmaps(store: Store, ref: VariantRef, epoch: int) -> np.ndarray:
    """Every MLP neuron's activation at `=` over the grid, [d_mlp, p (a), p (b)], float16."""
    return _maps(store, ref, epoch, "neuron_maps")


def attention_maps(store: Store, ref: VariantRef, epoch: int) -> np.ndarray:
    """Attention from `=` to `a` and to `b` per head over the grid, [2, n_heads, p (a), p (b)], float16."""
    return _maps(store, ref, epoch, "attention_maps")


def input_trace(store: Store, ref: VariantRef, pair: int) -> dict[str, np.ndarray]:
    """`compute_input_trace`, cached: keyed by the input and every checkpoint's checksum, so a
    retrained or extended run never serves a stale trace."""
    epochs = store.checkpoint_epochs(ref)
    checksums = hashlib.sha256(" ".join(store.checkpoint_fingerprint(ref, e) for e in epochs).encode()).hexdigest()
    return _cached(store, ("input_trace", ref.family, ref.id, int(pair), checksums),
                   lambda: compute_input_trace(store, ref, pair))


def compute_input_trace(store: Store, ref: VariantRef, pair: int) -> dict[str, np.ndarray]:
    """One input's direct logit attribution at every checkpoint (the arrays of
    `workbench.analyzers.logit_lens.attribution_summary`), plus `epochs`, `pair` (the index
    a * p + b), `a`, `b`, `answer` and `train` (1 for a training pair). One forward of one input
    per checkpoint: the cost is reading the checkpoints."""
    epochs = store.checkpoint_epochs(ref)
    if not epochs:
        raise NotTrainedError(f"variant {ref} has no checkpoints; train it first (`workbench train {ref.family} ...`)",
                              ref=ref)
    spec = store.info(ref)["spec"]
    p = spec["domain"]["p"]
    if not 0 <= int(pair) < p * p:
        raise BadInputError(f"input {pair} is outside the {p}x{p} grid (pair index a * p + b, 0..{p * p - 1})")
    a, b = divmod(int(pair), p)
    answer = int(tasks.answers(spec["domain"]["operation"], p)[pair])
    logits = np.stack([component_logits(store.load_weights(ref, e), spec, [[a, b]])[0] for e in epochs])
    train = tasks.train_mask(p, spec["training"]["train_fraction"], spec["domain"]["data_seed"])[pair]
    return {**attribution_summary(logits, answer), "epochs": np.asarray(epochs, np.int64), "pair": np.int64(pair),
            "a": np.int64(a), "b": np.int64(b), "answer": np.int64(answer), "train": np.int64(train)}
