"""What analyzers share: one checkpoint's weights, model, activations and probe (EpochContext),
or a whole run's checkpoints, history and stacked artifacts (SeriesContext).

Everything is computed lazily and at most once, so ten activation analyzers cost one forward
pass and a weight-only analyzer never runs the model.
"""
from __future__ import annotations

import hashlib
from functools import cached_property

import numpy as np

from workbench import fourier, tasks
from workbench.store import Store, VariantRef


class EpochContext:
    """One checkpoint of one variant. `weights` are NumPy arrays with TransformerLens names."""

    def __init__(self, spec: dict, epoch: int, weights: dict[str, np.ndarray],
                 final_weights: dict[str, np.ndarray] | None = None, progress=None):
        self.spec, self.epoch, self.weights = spec, epoch, weights
        self.final_weights = final_weights if final_weights is not None else weights
        self._progress = progress  # (fraction of this checkpoint done, note) -> None; set by the pipeline

    def report(self, fraction: float, note: str) -> None:
        """Progress inside a long analyzer (e.g. SGLD chains): shown on the pipeline's bar."""
        if self._progress is not None:
            self._progress(fraction, note)

    @property
    def p(self) -> int:
        return self.spec["domain"]["p"]

    @property
    def n_freq(self) -> int:
        return (self.p - 1) // 2

    @cached_property
    def cfg(self):
        from workbench.model import ModelConfig  # torch, when an analyzer needs the model
        return ModelConfig.from_spec(self.spec)

    @cached_property
    def model(self):
        from workbench.model import load_model  # torch
        return load_model(self.cfg, self.weights, f"epoch {self.epoch}")

    @cached_property
    def _cache(self) -> dict:
        """One `run_with_cache` over the probe (the full p*p grid of `a b =`), every hook."""
        import torch  # heavy: only for a forward pass
        with torch.no_grad():
            logits, cache = self.model.run_with_cache(torch.as_tensor(tasks.probe_inputs(self.p)))
        return {"logits": logits, **dict(cache.items())}

    def activation(self, hook: str) -> np.ndarray:
        """A TransformerLens hook's activation over the probe, e.g. 'blocks.0.mlp.hook_post'
        -> [p*p, 3 positions, d_mlp]; rows are pairs in row-major (a, b) order."""
        return self._cache[hook].numpy()

    @cached_property
    def logits(self) -> np.ndarray:
        """Logits at the `=` position over the probe, [p*p, p], float64."""
        return self._cache["logits"][:, -1].double().numpy()

    @cached_property
    def labels(self) -> np.ndarray:
        return tasks.answers(self.spec["domain"]["operation"], self.p)

    @cached_property
    def pairs(self) -> np.ndarray:
        """[p*p, 3] rows (a, b, answer) of the probe, row-major in (a, b)."""
        return np.column_stack([tasks.probe_inputs(self.p)[:, :2], self.labels])

    @cached_property
    def train_mask(self) -> np.ndarray:
        """[p*p] bool: which pairs of the probe this variant trained on."""
        return tasks.train_mask(self.p, self.spec["training"]["train_fraction"], self.spec["domain"]["data_seed"])

    @cached_property
    def final_key_frequencies(self) -> np.ndarray:
        """The final checkpoint's model key frequencies (`fourier.model_key_frequencies`)."""
        return model_key_frequencies(self.spec, self.final_weights)


_MODEL_KEYS: dict[str, np.ndarray] = {}   # weights digest -> keys: one neuron analysis per final checkpoint


def model_key_frequencies(spec: dict, weights: dict[str, np.ndarray]) -> np.ndarray:
    """A checkpoint's model key frequencies: those at least two of W_E's norms, W_L's norms and
    its neuron clusters agree on (`fourier.model_key_frequencies`). The clusters need one forward
    pass over the grid, so the answer is kept per checkpoint content (every epoch's progress
    measures use the final checkpoint's keys)."""
    digest = hashlib.blake2b(digest_size=16)
    for name in sorted(weights):
        digest.update(name.encode() + np.ascontiguousarray(weights[name]).tobytes())
    key = digest.hexdigest() + str(spec["domain"]["p"])
    if key not in _MODEL_KEYS:
        ctx = EpochContext(spec, -1, weights)
        p = ctx.p
        fve = fourier.neuron_frequency_fve(ctx.activation("blocks.0.mlp.hook_post")[:, -1].reshape(p, p, -1))
        if len(_MODEL_KEYS) >= 4:
            _MODEL_KEYS.clear()
        _MODEL_KEYS[key] = fourier.model_key_frequencies(
            fourier.frequency_norms(weights["embed.W_E"][:p]), fourier.frequency_norms(fourier.neuron_logit_map(weights).T),
            fourier.neuron_clusters(fve)["cluster_sizes"], fve.shape[1])
    return _MODEL_KEYS[key]


class SeriesContext:
    """A whole run: checkpoint epochs, weights on demand, history and stacked per-epoch artifacts."""

    def __init__(self, store: Store, ref: VariantRef, spec: dict, epochs: list[int]):
        self.store, self.ref, self.spec, self.epochs = store, ref, spec, epochs

    @property
    def p(self) -> int:
        return self.spec["domain"]["p"]

    def weights(self, epoch: int) -> dict[str, np.ndarray]:
        return self.store.load_weights(self.ref, epoch)

    def series(self, analyzer: str) -> dict[str, np.ndarray]:
        """A per-epoch analyzer's artifacts stacked along a leading epoch axis (+ 'epochs')."""
        return self.store.load_artifact(self.ref, analyzer)

    @cached_property
    def history(self) -> dict[str, np.ndarray]:
        return self.store.load_history(self.ref)
