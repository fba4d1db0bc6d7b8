"""The progress-measures paper's run files (Nanda et al. 2023, its repository's `.pth` files):
what their `config`, optimizer state and loss lists say, read for an import, and a variant
written back out in that layout (`export_run`, `workbench export VARIANT --format progress-measures`).

A full-run file holds `config = {lr, p, d_model, fn_name, frac_train, num_epochs, save_models,
save_every, stopping_thresh, seed, weight_decay}` beside `model` (the final state dict),
`optimizer`, `scheduler`, `train_loss`, `test_loss` (final values), `train_losses` (one per
epoch), `test_losses` (one per few epochs) and `epoch`; its `full_run_data` files hold
`checkpoints` and `checkpoint_epochs` too. The paper code splits the data with
`gen_train_test`: the p² pairs (a, b) in row-major order, `random.seed(seed);
random.shuffle(pairs)`, the first int(frac_train · p²) for training - exactly
`workbench.tasks.train_test_split(p, frac_train, data_seed=seed)`. So the file's `seed` is the
variant's data seed; the model's initialisation seed is not in the file (it does not matter for
an imported model).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from workbench import history as histories
from workbench.errors import BadInputError, MissingError
from workbench.store import atomic_write
from workbench.phases import ROLE_NAMES, roles

OPERATIONS = {"add": "add", "subtract": "subtract", "multiply": "multiply", "mult": "multiply"}
# config key -> (spec key, how its value converts)
CONFIG_KEYS = {
    "p": ("domain.p", int),
    "fn_name": ("domain.operation", None),
    "seed": ("domain.data_seed", int),
    "frac_train": ("training.train_fraction", float),
    "lr": ("training.lr", float),
    "weight_decay": ("training.weight_decay", float),
    "num_epochs": ("training.epochs", int),
    "act_type": ("model.act_fn", lambda v: str(v).lower()),
}
ARCHITECTURE_KEYS = {"d_model": "d_model", "d_mlp": "d_mlp", "num_heads": "n_heads", "d_head": "d_head"}
IGNORED_KEYS = ("save_models", "save_every", "stopping_thresh", "batch_style", "device", "d_vocab", "n_ctx",
                "num_layers", "use_ln", "take_metrics_every_n_epochs")


class PaperRunError(ValueError):
    """A run file whose settings the workbench cannot reproduce; the message says which."""


def read_settings(raw: dict, shapes: dict) -> tuple[dict, dict, dict]:
    """(overrides for the family's variant, {spec key: "where it was read"}, {file key: value
    read but not used}) from the file's `config` and its optimizer's param_groups. `shapes` is
    the architecture read off the weights (p, d_model, n_heads, d_head, d_mlp); a config that
    contradicts it is refused."""
    overrides, read, ignored = {}, {}, {}
    config = raw.get("config")
    if isinstance(config, dict):
        for key, value in config.items():
            if key in CONFIG_KEYS:
                spec_key, convert = CONFIG_KEYS[key]
                overrides[spec_key] = _operation(value) if key == "fn_name" else _convert(key, value, convert)
                read[spec_key] = f"config[{key!r}] = {value!r}"
            elif key in ARCHITECTURE_KEYS:
                name = ARCHITECTURE_KEYS[key]
                if value != shapes.get(name):
                    raise PaperRunError(f"config[{key!r}] = {value!r} but the weights have {name} = {shapes.get(name)}")
            else:
                ignored[key] = value
        if config.get("use_ln"):
            raise PaperRunError("config['use_ln'] is true: the model has LayerNorm, which the workbench model has not")
        if "p" in config and overrides.get("domain.p") != shapes.get("p"):
            raise PaperRunError(f"config['p'] = {config['p']!r} but the embedding has {shapes.get('p')} number tokens")
    group = _param_group(raw.get("optimizer"))
    for key, spec_key in (("initial_lr", "training.lr"), ("lr", "training.lr"),
                          ("weight_decay", "training.weight_decay"), ("betas", "training.betas")):
        if key in group and spec_key not in overrides:
            value = group[key]
            try:
                overrides[spec_key] = [float(b) for b in value] if key == "betas" else float(value)
            except (TypeError, ValueError):
                raise PaperRunError(f"optimizer param_groups[0][{key!r}] = {value!r} is not a number") from None
            read[spec_key] = f"optimizer param_groups[0][{key!r}] = {value!r}"
    return overrides, read, ignored


def _param_group(optimizer) -> dict:
    if isinstance(optimizer, dict) and isinstance(optimizer.get("param_groups"), list) and optimizer["param_groups"]:
        group = optimizer["param_groups"][0]
        return group if isinstance(group, dict) else {}
    return {}


def _operation(value) -> str:
    if not isinstance(value, str) or value not in OPERATIONS:
        raise PaperRunError(f"config['fn_name'] = {value!r}: the workbench's tasks are "
                            f"{', '.join(sorted(set(OPERATIONS.values())))}, so it cannot reproduce this run's task")
    return OPERATIONS[value]


def _convert(key, value, convert):
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise PaperRunError(f"config[{key!r}] = {value!r} is not a number or a name")
    try:
        return convert(value)
    except (TypeError, ValueError):
        raise PaperRunError(f"config[{key!r}] = {value!r} is not a valid value") from None


def read_history(raw: dict, epoch_count: int | None = None) -> tuple[histories.History, dict, list[str]]:
    """(the history, {series: where it came from}, notes) from the file's top-level lists of
    numbers (`train_losses`, `test_losses`, ... recognised by `workbench.phases.roles` and
    renamed train_loss, test_loss, train_acc, test_acc). A series with fewer values than the
    longest was logged every k epochs: value i is placed at epoch k·i (the paper code's
    cadence, `history.cadence`); trailing NaN padding is dropped."""
    lists = {k: v for k, v in raw.items() if isinstance(k, str) and k not in ("checkpoints", "checkpoint_epochs")
             and isinstance(v, (list, tuple)) and v}
    found = {role: name for role, name in roles(lists).items() if role != "weight_norm"}
    for role, name in found.items():
        if not all(_is_number(e) for e in lists[name]):
            raise PaperRunError(f"'{name}' must be a list of numbers (it is read as the run's {ROLE_NAMES[role]})")
    notes = [f"not read as history: {', '.join(sorted(set(lists) - set(found.values())))}"] \
        if set(lists) - set(found.values()) else []
    if not found:
        return histories.History(), {}, notes
    longest = max(len(lists[name]) for name in found.values())
    epochs = max(longest, epoch_count or 0)
    series, sources = {}, {}
    for role, name in found.items():
        values, dropped = histories.strip_padding(np.asarray(lists[name], dtype=np.float64), longest)
        where = histories.cadence(len(values), epochs)
        if where is None:
            raise PaperRunError(f"'{name}' has {len(values):,} values for {epochs:,} epochs: no whole cadence fits "
                                "(values every k epochs); import the losses with `workbench import-log` and "
                                f"a '{name}_epoch' list instead")
        every, _ = where
        series[role] = (histories.place(len(values), every, "start"), values)
        sources[role] = (f"{name}: {len(values):,} values, " + ("every epoch" if every == 1 else
                         f"every {every} epochs (x = {every}·i, inferred from {len(values):,} values over "
                         f"{epochs:,} epochs)") + (f"; {dropped:,} trailing NaN (padding) dropped" if dropped else ""))
    return histories.History(series), sources, notes


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def recorded_final(raw: dict, key: str, history: histories.History, role: str) -> float | None:
    """The run's own final value of `key` ("train_loss"): the scalar the file stores, else the
    last of its history."""
    value = raw.get(key)
    if _is_number(value):
        return float(value)
    if role in history and len(history[role]):
        return float(history[role][-1])
    return None


def check_split(recorded: float | None, recomputed: float, what: str) -> tuple[str, bool]:
    """A sentence comparing the file's final `what` with the one recomputed on the imported
    split, and whether they agree (within 10%: the file's value may be one step older)."""
    if recorded is None:
        return f"{what}: the file records none; recomputed on the imported split {recomputed:.4g}", True
    ratio = max(recorded, recomputed) / max(min(recorded, recomputed), 1e-300)
    agrees = ratio <= 1.1
    text = f"{what}: the file records {recorded:.4g}, recomputed on the imported split {recomputed:.4g}"
    return (text + (" (agrees)" if agrees else f" ({ratio:.3g}x apart: the split, task or weights are not the "
                    "file's - is the data seed right? give it with --set data_seed=N)")), agrees


# -- writing a variant in the paper's layout -----------------------------------------------------

def paper_state(weights: dict[str, np.ndarray]) -> dict:
    """The workbench's (TransformerLens) weights in the paper code's state-dict layout - the
    inverse of `workbench.importers.convert`; W_U gets a zero column for `=` (never an answer)."""
    import torch
    t = {k: torch.as_tensor(np.asarray(v)) for k, v in weights.items()}
    n_heads, d_head, d_model = t["blocks.0.attn.W_O"].shape
    w_u = t["unembed.W_U"]
    return {
        "embed.W_E": t["embed.W_E"].T.contiguous(),
        "pos_embed.W_pos": t["pos_embed.W_pos"].contiguous(),
        **{f"blocks.0.attn.{n}": t[f"blocks.0.attn.{n}"].transpose(1, 2).contiguous() for n in ("W_K", "W_Q", "W_V")},
        "blocks.0.attn.W_O": t["blocks.0.attn.W_O"].reshape(n_heads * d_head, d_model).T.contiguous(),
        "blocks.0.attn.mask": torch.tril(torch.ones(3, 3)),
        "blocks.0.mlp.W_in": t["blocks.0.mlp.W_in"].T.contiguous(),
        "blocks.0.mlp.b_in": t["blocks.0.mlp.b_in"].contiguous(),
        "blocks.0.mlp.W_out": t["blocks.0.mlp.W_out"].T.contiguous(),
        "blocks.0.mlp.b_out": t["blocks.0.mlp.b_out"].contiguous(),
        "unembed.W_U": torch.cat([w_u, torch.zeros(w_u.shape[0], 1, dtype=w_u.dtype)], dim=1),
    }


def run_file(store, ref, test_every: int = 10) -> dict:
    """A variant as the paper's full-run file: `config`, `model` (the last checkpoint),
    `checkpoints` and `checkpoint_epochs` (every checkpoint), `train_losses` (every epoch),
    `test_losses` (every `test_every` epochs, at 0, k, 2k, ...), `train_loss`, `test_loss` and
    `epoch`. `config['seed']` is the data seed (the paper code's split seed)."""
    if not isinstance(test_every, int) or test_every < 1:
        raise BadInputError(f"the test interval must be a positive whole number of epochs, got {test_every!r}")
    info, history = store.info(ref), store.load_history(ref)
    spec = info.get("spec") or {}
    if "train_loss" not in history or "test_loss" not in history:
        raise MissingError(f"{ref} has no train and test loss history to write (it holds: "
                         f"{', '.join(history) or 'nothing'})")
    train_x, train = history.xy("train_loss")
    if not histories.is_every_epoch(train_x):
        raise MissingError(f"{ref}'s train loss is not recorded at every epoch, as the paper's files are")
    wanted = np.arange(0, int(train_x[-1]) + 1, test_every)
    test = np.array([history.value_at("test_loss", e) for e in wanted])
    if np.isnan(test).any():
        missing = wanted[np.isnan(test)][:5].tolist()
        raise MissingError(f"{ref} has no test loss at epochs {missing}...: its eval_every does not divide "
                         f"{test_every}; export with a test interval that is a multiple of it")
    epochs = store.checkpoint_epochs(ref)
    if not epochs:
        raise MissingError(f"{ref} has no checkpoints to write")
    states = [paper_state(store.load_weights(ref, e)) for e in epochs]
    domain, training = spec["domain"], spec["training"]
    every = spec.get("checkpoints", {}).get("every") or [[epochs[-1], epochs[-1]]]
    return {
        "config": {"lr": training["lr"], "p": domain["p"], "d_model": spec["model"]["d_model"],
                   "fn_name": domain["operation"], "frac_train": training["train_fraction"],
                   "num_epochs": int(train_x[-1]), "save_models": True, "save_every": int(every[0][0]),
                   "stopping_thresh": -1, "seed": domain["data_seed"], "weight_decay": training["weight_decay"]},
        "model": states[-1], "checkpoints": states, "checkpoint_epochs": epochs,
        "train_losses": [float(v) for v in train], "test_losses": [float(v) for v in test],
        "train_loss": float(train[-1]), "test_loss": float(test[-1]), "epoch": int(epochs[-1]),
    }


def export_run(store, ref, path, test_every: int = 10):
    """Write `run_file(store, ref, test_every)` to `path` with torch.save (tensors, numbers,
    lists and dicts only: it loads with `torch.load(weights_only=True)`). Returns the path."""
    import torch  # heavy: only writing the file needs it
    data = run_file(store, ref, test_every)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: torch.save(data, f))
    return path
