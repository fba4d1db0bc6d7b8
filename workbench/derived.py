"""Heavy per-input data, recomputed from a checkpoint on demand and kept in the disk cache.

Neuron heatmaps (d_mlp maps of p x p) and attention maps are far larger than the per-epoch
artifacts (13 MB vs 80 kB per p = 113 checkpoint), and the app shows them one epoch at a time, so
they are not stored for every epoch. What is cached per checkpoint is what they are made from:
the run of the model's `=`-only path up to the MLP's input (`EpochContext.at_equals`, ~15 ms at
p = 113): the attention maps and the MLP's input at `=` (6.5 MB at p = 113). A neuron's map is one
column of the MLP from there, so a page computes the maps it shows (`NeuronMaps`: the selected
neuron and its cluster, ~1 ms each) instead of all 512 (0.25 s cold, and 5-8 s under twenty
users, bench_load). The cache is size-capped, under `<data root>/.cache/derived`
(`Store.disk_cache`); entries are keyed by the checkpoint's checksum, so a retrained checkpoint
never serves stale maps. One input's direct logit attribution across every checkpoint
(`input_trace`) is cached the same way.
"""
from __future__ import annotations

import hashlib
from functools import cached_property
import threading
from typing import Callable

import numpy as np

from workbench import tasks
from workbench.analyzers.attention import head_maps
from workbench.analyzers.context import EpochContext
from workbench.analyzers.logit_lens import attribution_summary, component_logits
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


def _before_mlp(store: Store, ref: VariantRef, epoch: int) -> dict[str, np.ndarray]:
    """The attention maps (float16 [2, head, p, p]) and the MLP's input at `=` (float32
    [p*p, d_model]) at a checkpoint, cached."""
    def compute():
        ctx = EpochContext(store.info(ref)["spec"], epoch, store.load_weights(ref, epoch))
        return {"attention_maps": head_maps(ctx).astype(np.float16),
                "resid_mid": ctx.at_equals("blocks.0.hook_resid_mid").astype(np.float32)}
    return _cached(store, ("before_mlp", ref.family, ref.id, epoch, store.checkpoint_fingerprint(ref, epoch)), compute)


class NeuronMaps:
    """Every MLP neuron's activation at `=` over the grid, [d_mlp, p (a), p (b)] float16, made a
    neuron at a time from the MLP's input: `maps[17]` or `maps[[3, 9]]` computes only those,
    `np.asarray(maps)` all of them."""

    def __init__(self, resid_mid: np.ndarray, spec: dict, weights: dict[str, np.ndarray], epoch: int):
        self.resid_mid, self.spec, self.weights, self.epoch = resid_mid, spec, weights, epoch
        p, self.d_mlp = spec["domain"]["p"], spec["model"]["d_mlp"]
        self.shape, self.ndim, self.dtype = (self.d_mlp, p, p), 3, np.dtype(np.float16)

    def __len__(self) -> int:
        return self.d_mlp

    @cached_property
    def _model(self):
        """The checkpoint's model, built once however often the maps are indexed."""
        from workbench.model import ANALYSIS_DTYPE, ModelConfig, load_model  # heavy: torch
        return load_model(ModelConfig.from_spec(self.spec), self.weights, f"epoch {self.epoch}", dtype=ANALYSIS_DTYPE)

    def __getitem__(self, index) -> np.ndarray:
        import torch  # heavy: the model's MLP
        ids, model = np.arange(self.d_mlp)[index], self._model
        with torch.no_grad():
            post = model.neuron_activations(torch.from_numpy(self.resid_mid).to(model.embed.W_E.dtype),
                                            torch.as_tensor(np.atleast_1d(ids)))
        maps = post.numpy().T.reshape(-1, *self.shape[1:]).astype(np.float16)
        return maps[0] if np.ndim(ids) == 0 else maps

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        maps = self[:]
        return maps if dtype is None else maps.astype(dtype)


def neuron_heatmaps(store: Store, ref: VariantRef, epoch: int) -> NeuronMaps:
    """Every MLP neuron's activation at `=` over the grid, [d_mlp, p (a), p (b)], float16 (made
    when indexed: `NeuronMaps`)."""
    return NeuronMaps(_before_mlp(store, ref, epoch)["resid_mid"], store.info(ref)["spec"],
                      store.load_weights(ref, epoch), epoch)


def attention_maps(store: Store, ref: VariantRef, epoch: int) -> np.ndarray:
    """Attention from `=` to `a` and to `b` per head over the grid, [2, n_heads, p (a), p (b)], float16."""
    return _before_mlp(store, ref, epoch)["attention_maps"]


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
