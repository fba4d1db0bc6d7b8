"""The training loop: full-batch AdamW on one variant, checkpointed, resumable, deterministic.

Epoch e means "the weights after e optimizer steps". For every e in 0..epochs the loop records
the train loss and accuracy of those weights, the L2 norm of every parameter and of its gradient,
and the learning rate of the step that follows; the test loss and accuracy every `eval_every`
epochs (recipe option, default 1: every epoch), at every checkpoint and at the last epoch, kept
as a sparse series with its own epochs (`workbench.history`). A checkpoint at epoch e holds
exactly the weights that the history at epoch e describes. Initialization depends only on `seed`, the split only on
`data_seed`, neither on global RNG state, so equal seeds give identical histories and a resumed
run gives the history an uninterrupted one would. While it runs, every epoch's metrics also go to
the variant's live file (`workbench.live.LiveLog`), so the app's curves grow between checkpoints.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from workbench import resources, tasks, threads
from workbench.families import VariantSpec
from workbench.familyschema import (MAX_CHECKPOINTS, MAX_EPOCHS, OPTIONAL, checkpoint_schedule, schedule_size,
                                    setting)
from workbench.history import History
from workbench.live import LiveLog
from workbench.model import ModelConfig, Transformer, check_weights, init_weights
from workbench.errors import BadInputError, ConflictError
from workbench.store import TRAINED, Store, VariantRef, timestamp

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
    """The lr of the step after epoch `epoch`: a linear warm-up over `warmup_epochs` steps (the
    paper code's LambdaLR), then `lr_schedule`: constant; cosine from lr down to
    lr x lr_final_fraction at the last epoch; or step decay, x lr_step_factor every lr_step_epochs."""
    lr, warmup = training["lr"], training["warmup_epochs"]
    if warmup and epoch < warmup:
        return lr * epoch / warmup
    after = epoch - warmup
    schedule = training.get("lr_schedule", OPTIONAL["training"]["lr_schedule"])
    if schedule == "cosine":
        final = training.get("lr_final_fraction", OPTIONAL["training"]["lr_final_fraction"])
        progress = min(after / max(training["epochs"] - warmup, 1), 1.0)
        return lr * (final + (1 - final) * 0.5 * (1 + math.cos(math.pi * progress)))
    if schedule == "step":
        every = training.get("lr_step_epochs", OPTIONAL["training"]["lr_step_epochs"])
        return lr * training.get("lr_step_factor", OPTIONAL["training"]["lr_step_factor"]) ** (after // every)
    return lr


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_device(device: str | None) -> str:
    """The device to train on: `device` checked against what this machine has, else the default."""
    if device is None:
        return default_device()
    name, _, index = str(device).partition(":")
    if name == "cpu" and not index:
        return "cpu"
    if name == "cuda" and (not index or index.isdigit()):
        if not torch.cuda.is_available():
            raise BadInputError(f"--device {device}: CUDA is not available here (torch {torch.__version__}"
                                f"{' is a CPU build' if torch.version.cuda is None else ' sees no GPU'}); use "
                                "--device cpu, or leave --device out to use CUDA only when there is a GPU")
        if index and int(index) >= torch.cuda.device_count():
            raise BadInputError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s), "
                                f"cuda:0 to cuda:{torch.cuda.device_count() - 1}")
        return str(device)
    if name == "mps" and not index and torch.backends.mps.is_available():
        return "mps"
    raise BadInputError(f"--device {str(device)[:40]!r} is not a device here; use cpu or cuda (cuda:0, cuda:1, ...)")


def check_memory(spec: dict, device: str, what: str) -> None:
    """Refuse (ResourceError) a run whose estimated memory (`workbench.resources.training`) is more
    than the budget: of the GPU's free memory when training on CUDA, else of this machine's."""
    estimate = resources.training(spec, what)
    fix = "Use a smaller model, p or number of epochs (e.g. --set d_model=128 d_mlp=512)"
    if device.startswith("cuda"):
        free = torch.cuda.mem_get_info(torch.device(device))[0]
        if estimate.total > resources.SHARE * free:
            raise resources.ResourceError(
                f"{what} needs about {resources.size(estimate.total)} of GPU memory ({estimate.describe()}); "
                f"{device} has {resources.size(free)} free. {fix}, or train on --device cpu")
        return
    resources.check(estimate, fix)


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


def _resume_point(store: Store, ref: VariantRef, before: int) -> int | None:
    """The latest checkpoint at or before epoch `before` that has its optimizer state."""
    for epoch in reversed(store.checkpoint_epochs(ref)):
        if epoch <= before and store.load_optimizer(ref, epoch) is not None:
            return epoch
    return None


def train(variant: VariantSpec, store: Store | None = None, *, device: str | None = None,
          progress: bool = True, callback: EpochCallback | None = None) -> dict:
    """Train `variant` to its final epoch, resuming from its last checkpoint if it has one.

    Returns the variant's record (variant.json). Raises BusyError if another process is
    writing the variant and ConflictError if the store holds a different variant under this id.
    """
    store = store or Store()
    ref = variant.ref
    device = resolve_device(device)
    if not store.is_trained(ref):
        check_memory(variant.spec, device, f"training {ref}")
    with store.creating(ref, "training"):
        info = _open_record(store, ref, variant)
        if info.get("status") in TRAINED:  # finished: nothing to do
            return info
        return _run(store, ref, info["spec"], device, progress, callback)


def _open_record(store: Store, ref: VariantRef, variant: VariantSpec) -> dict:
    if not store.exists(ref):
        info = {"family": variant.family, "id": variant.id, "spec": variant.spec,
                "overrides": variant.overrides, "status": "untrained", "created": timestamp(),
                "source": {"kind": "trained"}, "train_seconds": 0.0}
        store.write_info(ref, info)
        return info
    info = store.info(ref)
    if info.get("created_spec", info.get("spec")) != variant.spec:
        raise ConflictError(f"variant {ref} already exists with a different recipe (the family file changed "
                            f"since it was trained?); delete {store.variant_dir(ref)} or train under another id")
    return info


def extend(ref: VariantRef, store: Store | None = None, *, epochs: int | None = None,
           window: tuple[int, int, int] | None = None, device: str | None = None, progress: bool = True,
           callback: EpochCallback | None = None) -> dict:
    """Extend a variant in place, keeping its id, history and checkpoints.

    `epochs`: train on to this many epochs, resuming from the last checkpoint.
    `window=(start, stop, every)`: add checkpoints every `every` epochs in [start, stop] by
    replaying training from the nearest checkpoint before `start` that has optimizer state (from
    initialization when there is none). Training is deterministic, so the replay passes through
    the same weights; the largest difference between replayed and recorded losses is stored in
    the record's `extensions` as evidence.
    """
    store = store or Store()
    device = resolve_device(device)
    with store.lock(ref, "extending"):
        info = store.info(ref)
        if (info.get("source") or {}).get("kind") != "trained":
            raise ConflictError(f"variant {ref} was imported, not trained here; it has no recipe to continue")
        spec = copy.deepcopy(info["spec"])
        tr = spec["training"]
        if epochs is not None:
            if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs <= tr["epochs"]:
                raise BadInputError(f"variant {ref} already has {tr['epochs']} epochs; extend it to more than that")
            if epochs > MAX_EPOCHS or schedule_size(spec["checkpoints"], epochs) > MAX_CHECKPOINTS:
                raise BadInputError(f"--to-epoch {epochs:,}: at most {MAX_EPOCHS:,} epochs and {MAX_CHECKPOINTS:,} "
                                    "checkpoints (this variant's checkpoints.every continued to that epoch)")
            check_memory({**spec, "training": {**tr, "epochs": epochs}}, device, f"extending {ref} to {epochs:,} "
                         "epochs")
            if tr.get("lr_schedule") == "cosine":
                raise ConflictError(f"variant {ref} uses a cosine schedule, which depends on the number of epochs, so "
                                    f"a longer run is a different run; train a new variant with --set epochs={epochs}")
            record = {"kind": "epochs", "from": tr["epochs"], "to": epochs, "at": timestamp()}
            tr["epochs"] = epochs
            info = store.update_info(ref, spec=spec, created_spec=info.get("created_spec", info["spec"]),
                                     status="training", extensions=[*info.get("extensions", []), record])
            return _run(store, ref, spec, device, progress, callback)
        if window is None:
            raise ValueError("extend needs epochs or window")
        check_memory(spec, device, f"replaying {ref}")
        return _densify(store, ref, info, spec, window, device, progress, callback)


def _densify(store, ref, info, spec, window, device, progress, callback) -> dict:
    start, stop, every = window
    last = store.checkpoint_epochs(ref)[-1] if store.checkpoint_epochs(ref) else -1
    if not (0 <= start <= stop and every > 0):
        raise BadInputError(f"checkpoint window {start}-{stop} every {every} is invalid; "
                            "use 0 <= start <= stop, every > 0")
    # The recorded history reaches the last checkpoint written (or the last epoch of a finished run),
    # also when that checkpoint was deleted (damaged): a window up to there replays and recreates it.
    history = store.load_history(ref)
    recorded = int(history.x("train_loss")[-1]) if len(history.get("train_loss", ())) else -1
    if stop > max(last, recorded):
        raise BadInputError(f"variant {ref} has checkpoints up to epoch {last}; a denser window must end by then "
                            f"(extend its epochs first)")
    if (stop - start) // every + 1 + len(spec["checkpoints"]["extra"]) > MAX_CHECKPOINTS:
        raise BadInputError(f"checkpoint window {start}-{stop} every {every} asks for {(stop - start) // every + 1:,} "
                            f"checkpoints; a run may have at most {MAX_CHECKPOINTS:,} - use a larger --every")
    wanted = sorted({*range(start, stop + 1, every), stop} - set(store.checkpoint_epochs(ref)))
    replayed = {"kind": "window", "start": start, "stop": stop, "every": every, "at": timestamp(),
                "added": len(wanted)}
    if wanted:
        resume = _resume_point(store, ref, wanted[0]) or 0
        deviation = _replay(store, ref, spec, device, resume, set(wanted), history, progress, callback)
        if deviation is None:  # stopped early: what was written is kept, the record is not changed
            return store.info(ref)
        replayed.update(replayed_from=resume, max_loss_deviation=deviation)
    spec["checkpoints"]["extra"] = sorted({*spec["checkpoints"]["extra"], *range(start, stop + 1, every), stop})
    status = "trained" if info.get("status") == "analyzed" and wanted else info.get("status")
    return store.update_info(ref, spec=spec, created_spec=info.get("created_spec", info["spec"]), status=status,
                             extensions=[*info.get("extensions", []), replayed])


def _replay(store, ref, spec, device, start, wanted, history, progress, callback) -> float | None:
    """Train from `start` to the last epoch in `wanted`, writing checkpoints at `wanted` only."""
    run = _Run(spec, device, store.load_weights(ref, start) if start else None,
               store.load_optimizer(ref, start) if start else None, ref)
    stop, deviation = max(wanted), 0.0
    bar = _progress_bar(progress, stop - start, 0, ref)
    governor = threads.Governor(dtype=run.cfg.dtype)  # (the count may change only where results do not)
    for epoch in range(start, stop + 1):
        governor.tick()
        metrics = run.evaluate(epoch)
        recorded = history.get("train_loss", [])
        if epoch < len(recorded):
            deviation = max(deviation, abs(metrics["train_loss"] - recorded[epoch]) / max(abs(recorded[epoch]), 1e-12))
        if epoch in wanted:
            keep = spec["checkpoints"]["keep_optimizer"] == "all"
            store.save_checkpoint(ref, epoch, run.weights(), run.optimizer_arrays() if keep else None)
        if bar:
            bar.update(1)
        if callback and callback(epoch, metrics) and epoch < stop:
            return None
        run.step()
    if bar:
        bar.close()
    return float(deviation)


class _Run:
    """A model, its optimizer and its data: one epoch = `evaluate` (losses, norms, gradients), then `step`."""

    def __init__(self, spec, device, weights, optimizer_state, ref):
        self.cfg = ModelConfig.from_spec(spec)
        self.split = Split.for_variant(spec, device)
        self.tr = spec["training"]
        weights = check_weights(self.cfg, weights, f"{ref}") if weights is not None else init_weights(
            self.cfg, spec["domain"]["seed"])
        self.model = Transformer(self.cfg, weights).to(device)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=self.tr["lr"],
                                     weight_decay=self.tr["weight_decay"], betas=tuple(self.tr["betas"]))
        if optimizer_state is not None:
            _restore_optimizer(self.model, self.opt, optimizer_state)
        self.names = [name for name, _ in self.model.named_parameters()]
        self.params = list(self.model.parameters())

    def evaluate(self, epoch: int, test: bool = True) -> dict:
        """The epoch's metrics; the test forward (test_loss, test_acc) only when `test`."""
        lr = learning_rate(self.tr, epoch)
        for group in self.opt.param_groups:
            group["lr"] = lr
        split, model, params = self.split, self.model, self.params
        logits = model.last_logits(split.train_a, split.train_b)
        loss = cross_entropy_f64(logits, split.train_y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        with torch.no_grad():
            scalars = [loss.detach(), (logits.argmax(-1) == split.train_y).double().mean()]
            if test:
                test_logits = model.last_logits(split.test_a, split.test_b)
                scalars += [cross_entropy_f64(test_logits, split.test_y),
                            (test_logits.argmax(-1) == split.test_y).double().mean()]
            row = torch.stack([
                *scalars,
                *[n.double() for n in torch._foreach_norm(params)],
                *[n.double() for n in torch._foreach_norm([q.grad for q in params])],
            ]).cpu().numpy()
        n, m = len(self.names), len(scalars)
        metrics = dict(zip(["train_loss", "train_acc", "test_loss", "test_acc"][:m], row[:m].tolist()))
        metrics.update({f"weight_norm.{name}": v for name, v in zip(self.names, row[m : m + n].tolist())})
        metrics.update({f"grad_norm.{name}": v for name, v in zip(self.names, row[m + n :].tolist())})
        metrics["lr"] = lr
        return metrics

    def step(self) -> None:
        self.opt.step()

    def weights(self) -> dict[str, np.ndarray]:
        return {k: v.detach().cpu().numpy() for k, v in self.model.state_dict().items()}

    def optimizer_arrays(self) -> dict[str, np.ndarray]:
        return _optimizer_arrays(self.model, self.opt) if self.opt.state else _initial_optimizer_arrays(self.model)


def _run(store, ref, spec, device, progress, callback) -> dict:
    epochs = spec["training"]["epochs"]
    schedule = set(checkpoint_schedule(spec["checkpoints"], epochs))
    keep_all = spec["checkpoints"]["keep_optimizer"] == "all"
    cfg = ModelConfig.from_spec(spec)
    history = _empty_history(cfg, epochs)
    tested = _test_epochs(epochs, setting(spec, "training", "eval_every"), schedule)
    start = 0
    if store.checkpoint_epochs(ref):
        previous = store.load_history(ref)
        start = _resume_point(store, ref, len(previous.get("train_loss", ()))) or 0
        for key in history:
            if key in previous:
                x, y = previous.xy(key)
                history[key][x[x < start]] = y[x < start]
    store.drop_checkpoints_after(ref, start if start else -1)
    run = _Run(spec, device, store.load_weights(ref, start) if start else None,
               store.load_optimizer(ref, start) if start else None, ref)
    info = store.update_info(ref, status="training")

    bar = _progress_bar(progress, epochs, start, ref)
    began, stopped, last_test = time.perf_counter(), False, {}
    governor = threads.Governor(dtype=run.cfg.dtype)  # (the count may change only where results do not)
    live = LiveLog(store, ref, history, start, epochs, sparse=TEST_KEYS)  # the app's curves grow from it
    try:
        for epoch in range(start, epochs + 1):
            governor.tick()
            metrics = run.evaluate(epoch, test=bool(tested[epoch]))
            for key, value in metrics.items():
                history[key][epoch] = value
            live.add(epoch, metrics, bool(tested[epoch]))
            last_test = {k: metrics.get(k, last_test.get(k, math.nan)) for k in TEST_KEYS}
            metrics = {**last_test, **metrics}  # shown and passed on: the last evaluation's test metrics
            if epoch in schedule:
                # History first, then optimizer state, then weights: whatever a crash interrupts, the
                # newest complete checkpoint has its optimizer state and every history row before it.
                live.flush()
                store.save_history(ref, _recorded(history, tested, epoch))
                store.save_checkpoint(ref, epoch, run.weights(), run.optimizer_arrays())
                if not keep_all:
                    store.prune_optimizer(ref, keep=epoch)
            if bar:
                bar.update(1)
                bar.set_postfix(train=f"{metrics['train_loss']:.3g}", test=f"{metrics['test_loss']:.3g}",
                                test_acc=f"{metrics['test_acc']:.3f}", refresh=False)
            if callback and callback(epoch, metrics) and epoch < epochs:
                stopped = True
                break
            if epoch < epochs:
                run.step()
    finally:
        live.close()  # stopped, finished or failed: the saved history is what counts now
    if bar:
        bar.close()
    seconds = info.get("train_seconds", 0.0) + time.perf_counter() - began
    if stopped:
        return store.update_info(ref, status="training", train_seconds=seconds)
    final = {k: float(history[k][epochs]) for k in ("train_loss", "test_loss", "train_acc", "test_acc")}
    return store.update_info(ref, status="trained", final=final, train_seconds=seconds, device=device)


TEST_KEYS = ("test_loss", "test_acc")


def _test_epochs(epochs: int, every: int, schedule: set[int]) -> np.ndarray:
    """[epochs + 1] bool: where the test forward runs - every `every` epochs, at every
    checkpoint and at the last epoch."""
    tested = np.zeros(epochs + 1, bool)
    tested[::every] = True
    tested[[e for e in schedule if e <= epochs] + [epochs]] = True
    return tested


def _recorded(history: dict[str, np.ndarray], tested: np.ndarray, upto: int) -> History:
    """The history up to epoch `upto`: test series at the epochs they were evaluated, the rest at
    every epoch (with eval_every = 1 the file is the one written before eval_every existed)."""
    every_epoch, test_epochs = np.arange(upto + 1), np.flatnonzero(tested[: upto + 1])
    return History({k: (test_epochs, v[test_epochs]) if k in TEST_KEYS else (every_epoch, v[: upto + 1])
                    for k, v in history.items()})


def _empty_history(cfg: ModelConfig, epochs: int) -> dict[str, np.ndarray]:
    keys = ["train_loss", "test_loss", "train_acc", "test_acc", "lr"]
    keys += [f"weight_norm.{n}" for n in cfg.param_shapes()] + [f"grad_norm.{n}" for n in cfg.param_shapes()]
    return {k: np.full(epochs + 1, np.nan) for k in keys}


def _initial_optimizer_arrays(model: Transformer) -> dict[str, np.ndarray]:
    """AdamW state before its first step (zeros), so epoch 0 is resumable like any other."""
    arrays = {}
    for name, param in model.named_parameters():
        arrays[f"exp_avg.{name}"] = np.zeros(param.shape, param.detach().cpu().numpy().dtype)
        arrays[f"exp_avg_sq.{name}"] = np.zeros(param.shape, param.detach().cpu().numpy().dtype)
        arrays[f"step.{name}"] = np.zeros((), np.float32)
    return arrays


def _progress_bar(enabled: bool, epochs: int, start: int, ref: VariantRef):
    if not enabled:
        return None
    from tqdm.auto import tqdm  # only when a bar is shown
    return tqdm(total=epochs + 1, initial=start, desc=str(ref), unit="epoch", dynamic_ncols=True)
