"""What a family file may say: its sections, keys, value types and ranges, the optional keys'
defaults, the analysis settings' defaults, and the checkpoint schedule a [checkpoints] table
gives. `workbench.families` reads family files and resolves variants against this."""
from __future__ import annotations

import math
from typing import Any

from workbench.errors import BadInputError

OPERATIONS = ("add", "subtract", "multiply")
TASKS = ("modular_arithmetic",)
ACT_FNS = ("relu", "gelu")
DTYPES = ("float32", "float64")
LR_SCHEDULES = ("constant", "cosine", "step")


class FamilyError(BadInputError):
    """A family spec or an override is invalid; the message names the key and the fix."""


def is_prime(n: int) -> bool:
    return n >= 2 and all(n % d for d in range(2, math.isqrt(n) + 1))


# section -> key -> (type, check, what a valid value looks like). A check returns True when valid.
def _positive(v): return v > 0
def _non_negative(v): return v >= 0
def _fraction(v): return 0 < v < 1
def _dimension(v): return 0 < v <= MAX_DIM
def _epoch_count(v): return 0 < v <= MAX_EPOCHS


# Bounds that keep a typo or a hostile file from asking for absurd sizes: a p x p probe grid at
# MAX_P is 10^8 inputs, a 65,536-wide matrix is 16 GiB already. They are caps on each value;
# whether a combination fits in memory is `workbench.resources`' estimate, checked before training.
MAX_P, MAX_DIM, MAX_EPOCHS = 10_007, 65_536, 1_000_000_000
MAX_CHECKPOINTS = 100_000  # checkpoints one run's schedule may ask for (files on disk, entries in memory)


SCHEMA: dict[str, dict[str, tuple[type, Any, str]]] = {
    "domain": {
        "operation": (str, lambda v: v in OPERATIONS, f"one of {', '.join(OPERATIONS)}"),
        "p": (int, lambda v: 3 <= v <= MAX_P and is_prime(v),
              f"prime and at most {MAX_P:,}, and not 2 (e.g. 59, 97 or 113; the Fourier analysis needs p odd)"),
        "seed": (int, _non_negative, "a non-negative integer"),
        "data_seed": (int, _non_negative, "a non-negative integer"),
    },
    "model": {
        "n_layers": (int, lambda v: v == 1, "1 (only one-layer models are supported)"),
        "d_model": (int, _dimension, f"a positive integer, at most {MAX_DIM:,}"),
        "n_heads": (int, _dimension, f"a positive integer, at most {MAX_DIM:,}"),
        "d_head": (int, _dimension, f"a positive integer, at most {MAX_DIM:,}"),
        "d_mlp": (int, _dimension, f"a positive integer, at most {MAX_DIM:,}"),
        "act_fn": (str, lambda v: v in ACT_FNS, f"one of {', '.join(ACT_FNS)}"),
        "dtype": (str, lambda v: v in DTYPES, f"one of {', '.join(DTYPES)} (the weights' and forward pass's precision)"),
    },
    "training": {
        "lr": (float, _positive, "a positive number"),
        "weight_decay": (float, _non_negative, "a non-negative number"),
        "betas": (list, lambda v: len(v) == 2 and all(isinstance(b, (int, float)) and 0 <= b < 1 for b in v),
                  "two numbers in [0, 1), e.g. [0.9, 0.98]"),
        "warmup_epochs": (int, lambda v: 0 <= v <= MAX_EPOCHS, "a non-negative integer (0 = constant learning rate)"),
        "train_fraction": (float, _fraction, "a number strictly between 0 and 1"),
        "epochs": (int, _epoch_count, f"a positive integer, at most {MAX_EPOCHS:,}"),
        "lr_schedule": (str, lambda v: v in LR_SCHEDULES, f"one of {', '.join(LR_SCHEDULES)} (after the warm-up)"),
        "lr_final_fraction": (float, lambda v: 0 <= v <= 1, "a number in [0, 1]: the cosine schedule's last lr / lr"),
        "lr_step_epochs": (int, _positive, "a positive integer: the step schedule multiplies lr every this many epochs"),
        "lr_step_factor": (float, lambda v: 0 < v <= 1, "a number in (0, 1]: the step schedule's factor"),
        "eval_every": (int, _epoch_count, "a positive integer: the test loss and accuracy are computed every this "
                       "many epochs (and at every checkpoint and the last epoch)"),
    },
    "checkpoints": {
        "every": (list, lambda v: _valid_segments(v), "a list of [interval, until_epoch] pairs with "
                  "positive intervals and increasing until_epoch, e.g. [[100, 1500], [500, 25000]]"),
        "extra": (list, lambda v: all(isinstance(e, int) and e >= 0 for e in v), "a list of epochs"),
        "keep_optimizer": (str, lambda v: v in ("all", "last"), "'all' or 'last'"),
    },
}
# Optional keys and their values when absent. They are not written into a spec that does not set
# them, so variants trained before they existed keep their recipe (and their id).
OPTIONAL = {"model": {"dtype": "float32"},
            "training": {"lr_schedule": "constant", "lr_final_fraction": 0.0, "lr_step_epochs": 1000,
                         "lr_step_factor": 0.5, "eval_every": 1}}

# Analysis settings are not part of a variant: they do not change training, so they are not in
# its id and cannot be overridden per variant; the pipeline reads them from the family file when
# it analyzes (`analysis_settings`), and an artifact records them, so changing them recomputes.
LLC_DEFAULTS = {
    # SGLD step size ε. devinterp's grokking example (an MLP) uses 3e-3; on this transformer every
    # chain diverges there. 1e-4 with γ = 1000 gives plateaued loss traces from initialization
    # through grokking at p = 31 and p = 113 (measured; see docs/analyzers.md, "LLC").
    "lr": 1e-4,
    # nβ: inverse temperature × n. m / ln m for the batch size m = 128, devinterp's
    # `default_nbeta` and the choice of Lau et al. (2023) (β* = 1 / ln n for the batch).
    "nbeta": 26.4,
    # γ: pull towards w* (Lau et al. 2023). devinterp's grokking example uses 5; with 230k
    # parameters that lets flat directions wander (chains never settle), so it is stronger here.
    "localization": 1000.0,
    "chains": 4,          # devinterp's defaults (num_chains = 4, num_draws = 200)
    "draws": 200,
    "batch_size": 128,    # devinterp's grokking example
    "seed": 100,          # devinterp's init_seed; chain c uses seed + c
}
ANALYSIS_SCHEMA: dict[str, dict[str, tuple[type, Any, str]]] = {
    "llc": {
        "lr": (float, _positive, "a positive SGLD step size, e.g. 1e-4"),
        "nbeta": (float, _positive, "a positive inverse temperature × n, e.g. 26.4"),
        "localization": (float, _non_negative, "a non-negative localization strength γ, e.g. 1000"),
        "chains": (int, _positive, "a positive number of chains, e.g. 4"),
        "draws": (int, lambda v: v >= 4, "a number of draws per chain ≥ 4, e.g. 200"),
        "batch_size": (int, _positive, "a positive batch size, e.g. 128"),
        "seed": (int, _non_negative, "a non-negative integer"),
    },
}
ANALYSIS_DEFAULTS = {"llc": LLC_DEFAULTS}
TOP_LEVEL = {"name": str, "description": str, "extends": str, "task": str, "analyzers": list}


def _valid_segments(segments) -> bool:
    untils = []
    for seg in segments:
        if not (isinstance(seg, list) and len(seg) == 2 and all(isinstance(x, int) for x in seg)):
            return False
        if seg[0] <= 0 or seg[1] <= 0:
            return False
        untils.append(seg[1])
    return untils == sorted(untils) and len(set(untils)) == len(untils)


def shown(value: Any) -> str:
    """A value for a message: its repr, cut short."""
    try:
        text = repr(value)
    except ValueError:  # an integer of more than 4,300 digits
        return "(a number too large to show)"
    return text if len(text) <= 80 else text[:77] + "..."


def check_value(where: str, section: str, key: str, value: Any) -> Any:
    kind, check, expected = {**SCHEMA, **ANALYSIS_SCHEMA}[section][key]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**63:
        raise FamilyError(f"{where}: {section}.{key} is an integer beyond ±2^63; it must be {expected}")
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, kind):
        raise FamilyError(f"{where}: {section}.{key} must be {expected}, got {type(value).__name__} {shown(value)}")
    if kind is float and not math.isfinite(value):
        raise FamilyError(f"{where}: {section}.{key} = {shown(value)} is invalid; it must be a finite number: "
                          f"{expected}")
    if not check(value):
        raise FamilyError(f"{where}: {section}.{key} = {shown(value)} is invalid; it must be {expected}")
    return value


def check_spec(where: str, raw: dict) -> dict:
    """Validate a (merged) spec; raise FamilyError naming the first problem."""
    tables = {**SCHEMA, **ANALYSIS_SCHEMA}
    for key, value in raw.items():
        if key in tables:
            if not isinstance(value, dict):
                raise FamilyError(f"{where}: [{key}] must be a table")
            for sub, subvalue in value.items():
                if sub not in tables[key]:
                    raise FamilyError(f"{where}: unknown key '{key}.{sub}'; known keys in [{key}]: "
                                      f"{', '.join(tables[key])}")
                value[sub] = check_value(where, key, sub, subvalue)
        elif key in TOP_LEVEL:
            if not isinstance(value, TOP_LEVEL[key]):
                raise FamilyError(f"{where}: '{key}' must be a {TOP_LEVEL[key].__name__}, got {shown(value)}")
        else:
            raise FamilyError(f"{where}: unknown key '{key}'; known keys: "
                              f"{', '.join([*TOP_LEVEL, *tables])}")
    for section, defaults in ANALYSIS_DEFAULTS.items():
        raw[section] = {**defaults, **raw.get(section, {})}
    for section, keys in SCHEMA.items():
        missing = [k for k in keys if k not in raw.get(section, {}) and k not in OPTIONAL.get(section, {})]
        if missing:
            raise FamilyError(f"{where}: missing {', '.join(f'{section}.{k}' for k in missing)}; "
                              f"add it to the family file (see families/modular_addition.toml)")
    if raw.get("task", "modular_arithmetic") not in TASKS:
        raise FamilyError(f"{where}: unknown task {raw['task']!r}; known tasks: {', '.join(TASKS)}")
    check_combination(where, raw)
    return raw


def check_combination(where: str, spec: dict) -> None:
    """What no single value shows: the split has pairs on both sides, the schedule a sane size."""
    p, fraction = spec["domain"]["p"], spec["training"]["train_fraction"]
    n_train = int(fraction * p * p)
    if not 1 <= n_train < p * p:
        side, margin = "training" if n_train < 1 else "test", math.ceil(2e4 / (p * p)) / 1e4
        raise FamilyError(f"{where}: training.train_fraction = {fraction!r} leaves no {side} pairs of the {p * p:,} "
                          f"at p = {p}; use a value between {margin:g} and {1 - margin:g}")
    epochs = spec["training"]["epochs"]
    count = schedule_size(spec["checkpoints"], epochs)
    if count > MAX_CHECKPOINTS:
        raise FamilyError(f"{where}: checkpoints.every gives about {count:,} checkpoints over {epochs:,} epochs; at "
                          f"most {MAX_CHECKPOINTS:,} are allowed - use longer intervals")


def schedule_size(checkpoints: dict, epochs: int) -> int:
    """An upper bound on `len(checkpoint_schedule(checkpoints, epochs))`, counted without building it."""
    count, start, interval = 2 + len(checkpoints.get("extra", [])), 0, None
    for interval, until in checkpoints["every"]:
        stop = min(until, epochs)
        if stop >= start:
            count += (stop - start) // interval + 1
        start = until
    if interval and start < epochs:
        count += (epochs - start) // interval + 1
    return count


def checkpoint_schedule(checkpoints: dict, epochs: int) -> list[int]:
    """Epochs at which checkpoints are written: 0, every `interval` up to each `until`, the last
    interval continued to the end, any `extra` epochs, and the final epoch."""
    marks = {0, epochs, *(e for e in checkpoints["extra"] if e <= epochs)}
    start, interval = 0, None
    for interval, until in checkpoints["every"]:
        marks.update(range(start, min(until, epochs) + 1, interval))
        start = until
    if interval and start < epochs:
        marks.update(range(start, epochs + 1, interval))
    return sorted(marks)


def setting(spec: dict, section: str, key: str) -> Any:
    """A spec value, with the default of an optional key the spec does not set."""
    return spec[section].get(key, OPTIONAL.get(section, {}).get(key))
