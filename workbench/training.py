"""The training loop: full-batch AdamW on one variant, checkpointed, resumable, deterministic.

Epoch e means "the weights after e optimizer steps". For every e in 0..epochs the loop records
the losses and accuracies of those weights, the L2 norm of every parameter and of its gradient,
and the learning rate of the step that follows; a checkpoint at epoch e holds exactly the weights
that history row e describes. Initialisation depends only on `seed`, the split only on
`data_seed`, neither on global RNG state, so equal seeds give identical histories and a resumed
run gives the history an uninterrupted one would.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from workbench import tasks
from workbench.families import Variant
from workbench.model import ModelConfig, Transformer, check_weights, init_weights
from workbench.store import Store, StoreError, VariantRef, timestamp

# (epoch, metrics of that epoch) -> True to stop early (the last checkpoint stays resumable)
EpochCallback = Callable[[int, dict], "bool | None"]


@dataclass(frozen=True)
class Split:
    """Inputs and answers of the training and test pairs, as tensors on one device."""
    train_a: torch.Tensor
    train_b: torch.Tensor
    train_y: torch.Tensor
    test_a: torch.Tensor
    test_b: torch.Tensor
    test_y: torch.Tensor

    @classmethod
    def for_variant(cls, spec: dict, device: str) -> "Split":
        p, dom, tr = spec["domain"]["p"], spec["domain"], spec["training"]
        train_idx, test_idx = tasks.train_test_split(p, tr["train_fraction"], dom["data_seed"])
        y = tasks.answers(dom["operation"], p)

        def tensors(idx):
            return [torch.as_tensor(x, device=device) for x in (idx // p, idx % p, y[idx])]
        return cls(*tensors(train_idx), *tensors(test_idx))


def cross_entropy_f64(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy computed in float64: float32 log-softmax underflows once the
    loss is tiny, which the progress-measures paper notes distorts late training."""
    return F.cross_entropy(logits.to(torch.float64), labels)


def learning_rate(training: dict, epoch: int) -> float:
    """Linear warm-up over `warmup_epochs` steps, then constant (the paper code's LambdaLR)."""
    warmup = training["warmup_epochs"]
    return training["lr"] * (min(epoch / warmup, 1.0) if warmup else 1.0)


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def _optimizer_arrays(model: Transformer, opt: torch.optim.Optimizer) -> dict[str, np.ndarray]:
    arrays = {}
    for name, param in model.named_parameters():
        state = opt.state[param]
        for key in ("exp_avg", "exp_avg_sq", "step"):
            arrays[f"{key}.{name}"] = state[key].detach().cpu().numpy()
    return arrays


def _restore_optimizer(model: Transformer, opt: torch.optim.Optimizer, arrays: dict[str, np.ndarray]) -> None:
    for name, param in model.named_parameters():
        opt.state[param] = {key: torch.as_tensor(arrays[f"{key}.{name}"]).to(param.device if key != "step" else "cpu")
                            for key in ("exp_avg", "exp_avg_sq", "step")}


def _resume_point(store: Store, ref: VariantRef, history_len: int) -> int | None:
    """The latest checkpoint with optimizer state and full history before it, if any."""
    for epoch in reversed(store.checkpoint_epochs(ref)):
        if epoch <= history_len and store.load_optimizer(ref, epoch) is not None:
            return epoch
    return None


def train(variant: Variant, store: Store | None = None, *, device: str | None = None,
          progress: bool = True, callback: EpochCallback | None = None) -> dict:
    """Train `variant` to its final epoch, resuming from its last checkpoint if it has one.

    Returns the variant's record (variant.json). Raises LockedError if another process is
    writing the variant and StoreError if the store holds a different variant under this id.
    """
    store = store or Store()
    ref = VariantRef(variant.family, variant.id)
    device = device or default_device()
    with store.lock(ref, "training"):
        info = _open_record(store, ref, variant)
        if info.get("status") in ("trained", "analyzed"):  # finished: nothing to do
            return info
        return _run(store, ref, variant, device, progress, callback)


def _open_record(store: Store, ref: VariantRef, variant: Variant) -> dict:
    if not store.exists(ref):
        info = {"family": variant.family, "id": variant.id, "spec": variant.spec,
                "overrides": variant.overrides, "status": "untrained", "created": timestamp(),
                "source": {"kind": "trained"}, "train_seconds": 0.0}
        store.write_info(ref, info)
        return info
    info = store.info(ref)
    if info.get("spec") != variant.spec:
        raise StoreError(f"variant {ref} already exists with a different recipe (the family file changed "
                         f"since it was trained?); delete {store.variant_dir(ref)} or train under another id")
    return info


def _run(store, ref, variant, device, progress, callback) -> dict:
    spec, epochs = variant.spec, variant.epochs
    cfg = ModelConfig.from_spec(spec)
    split = Split.for_variant(spec, device)
    schedule = set(variant.checkpoint_schedule())
    keep_all = spec["checkpoints"]["keep_optimizer"] == "all"

    history = _empty_history(cfg, epochs)
    start = 0
    if store.checkpoint_epochs(ref):
        previous = store.load_history(ref) if (store.variant_dir(ref) / "history.safetensors").is_file() else {}
        start = _resume_point(store, ref, len(previous.get("train_loss", ()))) or 0
        for key in history:
            if key in previous:
                history[key][:start] = previous[key][:start]
    if start:
        weights = check_weights(cfg, store.load_weights(ref, start), f"{ref} epoch {start}")
    else:
        weights = init_weights(cfg, spec["domain"]["seed"])
    store.drop_checkpoints_after(ref, start if start else -1)
    model = Transformer(cfg, weights).to(device)
    tr = spec["training"]
    opt = torch.optim.AdamW(model.parameters(), lr=tr["lr"], weight_decay=tr["weight_decay"],
                            betas=tuple(tr["betas"]))
    if start:
        _restore_optimizer(model, opt, store.load_optimizer(ref, start))
    info = store.update_info(ref, status="training")
    names = [name for name, _ in model.named_parameters()]
    params = list(model.parameters())

    bar = _progress_bar(progress, epochs, start, ref)
    began, stopped = time.perf_counter(), False
    for epoch in range(start, epochs + 1):
        lr = learning_rate(tr, epoch)
        for group in opt.param_groups:
            group["lr"] = lr
        logits = model.last_logits(split.train_a, split.train_b)
        loss = cross_entropy_f64(logits, split.train_y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        with torch.no_grad():
            test_logits = model.last_logits(split.test_a, split.test_b)
            row = torch.stack([
                loss.detach(), cross_entropy_f64(test_logits, split.test_y),
                (logits.argmax(-1) == split.train_y).double().mean(),
                (test_logits.argmax(-1) == split.test_y).double().mean(),
                *[n.double() for n in torch._foreach_norm(params)],
                *[n.double() for n in torch._foreach_norm([q.grad for q in params])],
            ]).cpu().numpy()
        metrics = _record(history, epoch, row, names, lr)
        if epoch in schedule:
            _save(store, ref, model, opt, history, epoch, keep_all)
        if bar:
            bar.update(1)
            bar.set_postfix(train=f"{metrics['train_loss']:.3g}", test=f"{metrics['test_loss']:.3g}",
                            test_acc=f"{metrics['test_acc']:.3f}", refresh=False)
        if callback and callback(epoch, metrics) and epoch < epochs:
            stopped = True
            break
        if epoch < epochs:
            opt.step()
    if bar:
        bar.close()
    seconds = info.get("train_seconds", 0.0) + time.perf_counter() - began
    if stopped:
        return store.update_info(ref, status="training", train_seconds=seconds)
    final = {k: float(history[k][epochs]) for k in ("train_loss", "test_loss", "train_acc", "test_acc")}
    return store.update_info(ref, status="trained", final=final, train_seconds=seconds, device=device)


def _empty_history(cfg: ModelConfig, epochs: int) -> dict[str, np.ndarray]:
    keys = ["train_loss", "test_loss", "train_acc", "test_acc", "lr"]
    keys += [f"weight_norm.{n}" for n in cfg.param_shapes()] + [f"grad_norm.{n}" for n in cfg.param_shapes()]
    return {k: np.full(epochs + 1, np.nan) for k in keys}


def _record(history: dict, epoch: int, row: np.ndarray, names: list[str], lr: float) -> dict:
    n = len(names)
    metrics = dict(zip(["train_loss", "test_loss", "train_acc", "test_acc"], row[:4]))
    metrics.update({f"weight_norm.{name}": v for name, v in zip(names, row[4 : 4 + n])})
    metrics.update({f"grad_norm.{name}": v for name, v in zip(names, row[4 + n :])})
    metrics["lr"] = lr
    for key, value in metrics.items():
        history[key][epoch] = value
    return metrics


def _save(store, ref, model, opt, history, epoch, keep_all) -> None:
    # History first, then optimizer state, then weights: whatever a crash interrupts, the
    # newest complete checkpoint has its optimizer state and every history row before it.
    store.save_history(ref, {k: v[: epoch + 1] for k, v in history.items()})
    optimizer = _optimizer_arrays(model, opt) if opt.state else _initial_optimizer_arrays(model)
    weights = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
    store.save_checkpoint(ref, epoch, weights, optimizer)
    if not keep_all:
        store.prune_optimizer(ref, keep=epoch)


def _initial_optimizer_arrays(model: Transformer) -> dict[str, np.ndarray]:
    """AdamW state before its first step (zeros), so epoch 0 is resumable like any other."""
    arrays = {}
    for name, param in model.named_parameters():
        arrays[f"exp_avg.{name}"] = np.zeros(param.shape, np.float32)
        arrays[f"exp_avg_sq.{name}"] = np.zeros(param.shape, np.float32)
        arrays[f"step.{name}"] = np.zeros((), np.float32)
    return arrays


def _progress_bar(enabled: bool, epochs: int, start: int, ref: VariantRef):
    if not enabled:
        return None
    from tqdm.auto import tqdm
    return tqdm(total=epochs + 1, initial=start, desc=str(ref), unit="epoch", dynamic_ncols=True)
