"""What analyzers share: one checkpoint's weights, model, activations and probe (EpochContext),
or a whole run's checkpoints, history and stacked artifacts (SeriesContext).

Everything is computed lazily and at most once: the built-in analyzers read the model only at
`=` and share one run of its `=`-only path (`at_equals`), an analyzer that reads every position
(`activation`) costs one full forward, and a weight-only analyzer never runs the model.
"""
from __future__ import annotations

import hashlib
from functools import cached_property

import numpy as np

from workbench import fourier, tasks
from workbench.store import Store, VariantRef

BEFORE_MLP = ("blocks.0.attn.hook_pattern", "blocks.0.hook_resid_mid")  # `at_equals` names that need no MLP


class EpochContext:
    """One checkpoint of one variant. `weights` are NumPy arrays with TransformerLens names."""

    def __init__(self, spec: dict, epoch: int, weights: dict[str, np.ndarray],
                 final_weights: dict[str, np.ndarray] | None = None, progress=None):
        self.spec, self.epoch, self.weights = spec, epoch, weights
        self.final_weights = final_weights if final_weights is not None else weights
        self._progress = progress  # (fraction of this checkpoint done, note) -> None; set by the pipeline
        self._activations: dict = {}  # hook name -> activation over the probe (torch), see `activation`

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
        """The checkpoint's model, in the precision it trained in (`cfg.dtype`)."""
        from workbench.model import load_model  # torch
        return load_model(self.cfg, self.weights, f"epoch {self.epoch}")

    def activation(self, hook: str) -> np.ndarray:
        """A TransformerLens hook's activation over the probe, e.g. 'blocks.0.mlp.hook_post'
        -> [p*p, 3 positions, d_mlp], float64; rows are pairs in row-major (a, b) order. The first call
        runs the model over the probe once, recording every hook (~390 MB at p = 113): what is
        read only at `=` is cheaper from `at_equals`."""
        if not self._activations:
            import torch  # heavy: only for a forward pass
            with torch.no_grad():
                logits, cache = self._forward_model.run_with_cache(torch.as_tensor(tasks.probe_inputs(self.p)))
            self._activations.update({"logits": logits, **cache})
        return self._activations[hook].numpy()

    def at_equals(self, name: str) -> np.ndarray:
        """At the `=` position over the probe, rows in row-major (a, b) order: 'logits' [p*p, p],
        'blocks.0.mlp.hook_post' [p*p, d_mlp], 'blocks.0.hook_resid_mid' [p*p, d_model] or
        'blocks.0.attn.hook_pattern' [p*p, head, 3 key positions] (float64, `_forward_model`). One
        run of the model's `=`-only path (`Transformer.last_position`, the one training uses) gives
        all four: a third of `activation`'s work and a tenth of its memory; the last two alone stop
        before the MLP (a tenth of that again), the same values."""
        if name in BEFORE_MLP and "_at_equals" not in self.__dict__:
            return self._before_mlp[name]
        return self._at_equals[name]

    @cached_property
    def _before_mlp(self) -> dict[str, np.ndarray]:
        return self._equals_path(mlp=False)

    def _equals_path(self, mlp: bool) -> dict[str, np.ndarray]:
        import torch  # heavy: only for a forward pass
        grid = torch.as_tensor(tasks.probe_inputs(self.p))
        with torch.no_grad():
            return {k: v.numpy() for k, v in self._forward_model.last_position(grid[:, 0], grid[:, 1], mlp).items()}

    @cached_property
    def _forward_model(self):
        """The checkpoint's model in float64 whatever precision it trained in
        (`workbench.model.ANALYSIS_DTYPE`): so that the artifacts are the same whichever process,
        worker count or CPU computed them."""
        from workbench.model import ANALYSIS_DTYPE, load_model  # torch
        return load_model(self.cfg, self.weights, f"epoch {self.epoch}", dtype=ANALYSIS_DTYPE)

    @cached_property
    def _at_equals(self) -> dict[str, np.ndarray]:
        return self._equals_path(mlp=True)

    @cached_property
    def logits(self) -> np.ndarray:
        """Logits at the `=` position over the probe, [p*p, p], float64."""
        return self.at_equals("logits").astype(np.float64)

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
        return model_key_frequencies(self.spec, self.final_weights, self if self.final_weights is self.weights else None)


_MODEL_KEYS: dict[str, np.ndarray] = {}   # weights digest -> keys: one neuron analysis per final checkpoint


def model_key_frequencies(spec: dict, weights: dict[str, np.ndarray], ctx: EpochContext | None = None) -> np.ndarray:
    """A checkpoint's model key frequencies: those at least two of W_E's norms, W_L's norms and
    its neuron clusters agree on (`fourier.model_key_frequencies`). The clusters need one forward
    pass over the grid (`ctx`'s, when given: the context of these weights), so the answer is kept
    per checkpoint content (every epoch's progress measures use the final checkpoint's keys)."""
    digest = hashlib.blake2b(digest_size=16)
    for name in sorted(weights):
        digest.update(name.encode() + np.ascontiguousarray(weights[name]).tobytes())
    key = digest.hexdigest() + str(spec["domain"]["p"])
    if key not in _MODEL_KEYS:
        ctx = ctx or EpochContext(spec, -1, weights)
        p = ctx.p
        fve = fourier.neuron_frequency_fve(ctx.at_equals("blocks.0.mlp.hook_post").reshape(p, p, -1))
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
