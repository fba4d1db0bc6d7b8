"""The local learning coefficient (LLC) of a checkpoint, estimated with devinterp's SGLD sampler.

Lau, Furman, Wang, Murfet & Wei (2023), "The local learning coefficient: a singularity-aware
complexity measure" (arXiv 2308.12108): around a trained parameter w*, sample the tempered
posterior localised at w* with SGLD and take

    λ̂(w*) = nβ · (E_w[L_n(w)] − L_n(w*))

where L_n is the training loss, nβ the inverse temperature times the number of samples, and the
expectation runs over the chain's draws (minibatch losses). Hoogland et al. (2024, "Loss landscape
degeneracy drives stagewise development in transformers", arXiv 2402.02364) track λ̂ over
checkpoints: plateaus and turns in it mark developmental stages. For grokking, λ̂ rises while the
model memorizes (it uses more effective parameters) and falls when it switches to the simpler
generalizing circuit (devinterp's grokking example; Timaeus's grokking project).

The chains are devinterp's (`devinterp.slt.sampler.sample_single_chain` with the SGLD of
`devinterp.optim.SGMCMC.sgld`: Δw = ε/2 (nβ ∇L_batch(w) + γ (w − w*)) + N(0, ε)); the loss is ours:
cross-entropy of the answer at the `=` position (the model's fast `last_logits` path), in float64
like training. L_n(w*) is computed exactly on the whole training set.

Chain health (reported, never hidden): a chain *diverged* if its loss became non-finite (devinterp
then stops it) or kept climbing instead of settling (its last quarter of draws sits more than
`CLIMB_FRACTION` of its total rise above its second quarter, and further than twice the
draw-to-draw noise of the last quarter, so noise around a plateau does not count); it is *flat* if its loss never moved from L_n(w*) (every draw within
`FLAT_TOLERANCE` relative): ε too small to explore. Either makes λ̂ meaningless.
"""
from __future__ import annotations

import contextlib
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

HEALTHY, DIVERGED, FLAT = 0, 1, 2
HEALTH_NAMES = ("healthy", "diverged", "flat")
CLIMB_FRACTION = 0.5
FLAT_TOLERANCE = 1e-6

# (fraction of this checkpoint's sampling done in [0, 1], what is running) -> None
SamplerProgress = Callable[[float, str], None]


class _LastPosition(nn.Module):
    """The transformer seen as a function of (a, b) -> logits at `=`, without the `cfg`
    attribute devinterp takes for a TransformerLens HookedTransformer (it would call
    `.to(device, print_details=False)`, which our model does not take)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.model.last_logits(a, b)


def answer_loss(module: nn.Module, batch: dict) -> tuple[torch.Tensor, dict]:
    """devinterp's `evaluate(model, batch) -> (loss, info)`: mean cross-entropy of the answer,
    computed in float64. `batch["input_ids"]` is [batch, 3] rows of (a, b, answer)."""
    rows = batch["input_ids"]
    logits = module(rows[:, 0], rows[:, 1]).double()
    return F.cross_entropy(logits, rows[:, 2]), {}


def _full_loss(module: nn.Module, rows: torch.Tensor) -> float:
    with torch.no_grad():
        return float(answer_loss(module, {"input_ids": rows})[0])


@contextlib.contextmanager
def _quiet_chains():
    """devinterp draws a tqdm bar per chain (we report progress through our own callback) and
    runs `gc.collect()` before and after each chain to free GPU memory; on the CPU that frees
    nothing reference counting does not, and took a third of a p = 113 checkpoint's time."""
    from devinterp.slt import sampler  # heavy: devinterp loads when chains run
    from tqdm.auto import trange  # only when a bar is shown
    saved = sampler.trange, sampler._gc_and_empty_cache
    sampler.trange = lambda *args, **kwargs: trange(*args, **{**kwargs, "disable": True})
    if not torch.cuda.is_available():
        sampler._gc_and_empty_cache = lambda: None
    try:
        yield sampler
    finally:
        sampler.trange, sampler._gc_and_empty_cache = saved


@contextlib.contextmanager
def _one_thread():
    """SGLD steps on batches of 128 are too small to split across threads: on 2 busy cores, two
    torch threads made a p = 113 checkpoint take 105 s instead of ~6 s (benchmarks/bench_llc.py).
    One thread, and one worker process per core, is the fast way."""
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


def estimate_llc(model: nn.Module, pairs: np.ndarray, settings: dict,
                 progress: SamplerProgress | None = None) -> dict[str, np.ndarray]:
    """λ̂ at the model's weights on the training `pairs` [n, 3] of (a, b, answer).

    settings: lr (ε), nbeta (nβ), localization (γ), chains, draws, batch_size, seed (see
    `workbench.familyschema.LLC_DEFAULTS`). Chain c uses seed + c for its noise; every chain sees
    the same minibatch order (seeded by `seed`), so a run is reproducible bit for bit.

    Returns float64 arrays: llc_mean, llc_std (across chains, ddof 0 like devinterp),
    llc_per_chain [chains], loss_trace [chains, draws] (NaN after a chain stopped), init_loss
    (L_n(w*)), and chain_health [chains] (HEALTHY, DIVERGED or FLAT) as int8."""
    from devinterp.optim import SGMCMC  # heavy: devinterp
    chains, draws = int(settings["chains"]), int(settings["draws"])
    rows = torch.as_tensor(np.asarray(pairs), dtype=torch.long)
    module = _LastPosition(model)
    init_loss = _full_loss(module, rows)
    dataset = [{"input_ids": row} for row in rows]
    trace = np.full((chains, draws), np.nan)
    every = max(1, (chains * draws) // 100)

    def record(*, loss, draw, chain, **_):
        trace[chain, draw] = float(loss.mean())
        done = chain * draws + draw + 1
        if progress and (done % every == 0 or done == chains * draws):
            progress(done / (chains * draws), f"LLC chain {chain + 1}/{chains}, draw {draw + 1}/{draws}")

    with _quiet_chains() as sampler, _one_thread(), torch.enable_grad():
        for chain in range(chains):
            sampler.sample_single_chain(
                module, dataset, answer_loss, {name: None for name, _ in module.named_parameters()},
                num_draws=draws, sampling_method=SGMCMC.sgld, chain=chain,
                sampling_method_kwargs=dict(lr=float(settings["lr"]), nbeta=float(settings["nbeta"]),
                                            localization=float(settings["localization"])),
                seed=int(settings["seed"]) + chain, dataloader_seed=int(settings["seed"]),
                batch_size=min(int(settings["batch_size"]), len(dataset)), callbacks=[record])
    nbeta = float(settings["nbeta"])
    per_chain = nbeta * (np.nanmean(trace, axis=1) - init_loss)
    health = chain_health(trace, init_loss)
    return {"llc_mean": np.float64(np.mean(per_chain)), "llc_std": np.float64(np.std(per_chain)),
            "llc_per_chain": per_chain, "loss_trace": trace, "init_loss": np.float64(init_loss),
            "chain_health": health.astype(np.int8)}


def chain_health(trace: np.ndarray, init_loss: float) -> np.ndarray:
    """Per chain of `trace` [chains, draws]: HEALTHY, DIVERGED (non-finite or stopped early, or
    still climbing in its last quarter) or FLAT (never moved from init_loss). See the module doc."""
    trace = np.asarray(trace, dtype=np.float64)
    health = np.full(len(trace), HEALTHY, dtype=np.int8)
    quarter = max(1, trace.shape[1] // 4)
    for c, losses in enumerate(trace):
        if not np.isfinite(losses).all():
            health[c] = DIVERGED
            continue
        if np.all(np.abs(losses - init_loss) <= FLAT_TOLERANCE * max(abs(init_loss), 1e-12)):
            health[c] = FLAT
            continue
        second, last = losses[quarter:2 * quarter].mean(), losses[-quarter:].mean()
        climb = last - second
        noise = np.diff(losses[-quarter:]).std() / np.sqrt(2)  # draw-to-draw noise, blind to a trend
        if climb > CLIMB_FRACTION * (last - init_loss) and climb > 2 * noise:
            health[c] = DIVERGED
    return health
