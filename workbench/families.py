"""Families (kinds of experiment) and variants (one trained instance), declared as data.

A family is a TOML file in `families/` (or a directory on $WORKBENCH_FAMILIES):

    name = "modular_addition"            # optional, defaults to the file name
    extends = "other_family"             # optional: start from another family's values
    task = "modular_arithmetic"
    [domain]      operation, p, seed, data_seed
    [model]       n_layers, d_model, n_heads, d_head, d_mlp, act_fn
                  optional: dtype (float32 | float64, default float32: the weights' precision)
    [training]    lr, weight_decay, betas, warmup_epochs, train_fraction, epochs
                  optional: lr_schedule (constant | cosine | step) and its lr_final_fraction,
                  lr_step_epochs, lr_step_factor; eval_every (test metrics every N epochs, default 1)
    [checkpoints] every = [[interval, until_epoch], ...], extra = [epochs], keep_optimizer
    [llc]         optional: settings of the `llc` analyzer (LLC_DEFAULTS fills what is missing)

A variant is the family with some values overridden (`p=59`, `training.lr=3e-3`); its id
spells out p, seed and data_seed and every other value that differs from the family, so it is
readable and stable: `p113-s999-d598`, `p113-s1-d598-train_fraction=0.5`. `Family.variant` resolves
one (a `VariantSpec`: what to train, before anything is on disk; `wb.Variant` is one in the store),
`Family.sweep` every combination of listed primes, seeds and data seeds.
"""
from __future__ import annotations

import contextlib
import itertools
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench import config
from workbench.errors import BadInputError
from workbench.files import MAX_NAME, NAME_RE, check_name
from workbench.store import VariantRef

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
ID_KEYS = {"p": "p", "seed": "s", "data_seed": "d"}  # always in the variant id, in this order


def _valid_segments(segments) -> bool:
    untils = []
    for seg in segments:
        if not (isinstance(seg, list) and len(seg) == 2 and all(isinstance(x, int) for x in seg)):
            return False
        if seg[0] <= 0 or seg[1] <= 0:
            return False
        untils.append(seg[1])
    return untils == sorted(untils) and len(set(untils)) == len(untils)


def _shown(value: Any) -> str:
    """A value for a message: its repr, cut short."""
    try:
        text = repr(value)
    except ValueError:  # an integer of more than 4,300 digits
        return "(a number too large to show)"
    return text if len(text) <= 80 else text[:77] + "..."


def _check_value(where: str, section: str, key: str, value: Any) -> Any:
    kind, check, expected = {**SCHEMA, **ANALYSIS_SCHEMA}[section][key]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**63:
        raise FamilyError(f"{where}: {section}.{key} is an integer beyond ±2^63; it must be {expected}")
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, kind):
        raise FamilyError(f"{where}: {section}.{key} must be {expected}, got {type(value).__name__} {_shown(value)}")
    if kind is float and not math.isfinite(value):
        raise FamilyError(f"{where}: {section}.{key} = {_shown(value)} is invalid; it must be a finite number: "
                          f"{expected}")
    if not check(value):
        raise FamilyError(f"{where}: {section}.{key} = {_shown(value)} is invalid; it must be {expected}")
    return value


def _check_spec(where: str, raw: dict) -> dict:
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
                value[sub] = _check_value(where, key, sub, subvalue)
        elif key in TOP_LEVEL:
            if not isinstance(value, TOP_LEVEL[key]):
                raise FamilyError(f"{where}: '{key}' must be a {TOP_LEVEL[key].__name__}, got {_shown(value)}")
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
    _check_combination(where, raw)
    return raw


def _check_combination(where: str, spec: dict) -> None:
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


def _merge(base: dict, over: dict) -> dict:
    merged = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


@dataclass(frozen=True)
class VariantSpec:
    """What to train: a family's values with overrides applied, and the id they give."""
    family: str
    id: str
    spec: dict  # resolved, validated: {"domain": {...}, "model": {...}, ...}
    overrides: dict = field(default_factory=dict)  # {"section.key": value} that differ from the family

    @property
    def ref(self) -> VariantRef:
        """Where this variant lives (or will live) in a store."""
        return VariantRef(self.family, self.id)

    @property
    def p(self) -> int:
        return self.spec["domain"]["p"]

    @property
    def epochs(self) -> int:
        return self.spec["training"]["epochs"]

    def checkpoint_schedule(self) -> list[int]:
        return checkpoint_schedule(self.spec["checkpoints"], self.epochs)


def setting(spec: dict, section: str, key: str) -> Any:
    """A spec value, with the default of an optional key the spec does not set."""
    return spec[section].get(key, OPTIONAL.get(section, {}).get(key))


@dataclass(frozen=True)
class Family:
    name: str
    spec: dict
    source: Path

    @property
    def description(self) -> str:
        return self.spec.get("description", "")

    @property
    def analyzers(self) -> list[str]:
        return list(self.spec.get("analyzers", []))

    def variant(self, overrides: dict | None = None, **short) -> VariantSpec:
        """Resolve a variant. `overrides` maps 'section.key' or a unique bare key to a value;
        keyword arguments are bare keys, e.g. `family.variant(p=59, seed=1)`."""
        resolved = _merge(self.spec, {})
        changed, given = {}, {}
        where = f"variant of {self.name}"
        for key, value in [*(overrides or {}).items(), *short.items()]:
            section, sub = self._locate(key)
            if (section, sub) in given and given[section, sub][1] != value:
                raise FamilyError(f"{where}: {section}.{sub} is given twice, as {given[section, sub][0]}="
                                  f"{_shown(given[section, sub][1])} and {key}={_shown(value)}; give it once")
            given[section, sub] = (key, value)
            value = _check_value(where, section, sub, value)
            current = self.spec[section].get(sub, OPTIONAL.get(section, {}).get(sub))
            if sub in self.spec[section] or value != current:
                resolved[section][sub] = value
            if current != value:
                changed[f"{section}.{sub}"] = value
        for section in (*SCHEMA, *ANALYSIS_SCHEMA):
            resolved[section] = dict(resolved[section])
        _check_combination(where, resolved)
        vid = _variant_id(resolved, changed)
        if len(vid) > MAX_NAME or not NAME_RE.fullmatch(vid):
            raise FamilyError(f"{where}: the id these values make, {vid[:60]!r}... ({len(vid)} characters), is "
                              f"too long for a folder name (at most {MAX_NAME}): it lists every value that differs from the "
                              f"family. Override fewer values, or put them in a family file of your own "
                              f"(extends = \"{self.name}\"), whose variants' ids list only what differs from it")
        return VariantSpec(self.name, vid, resolved, changed)

    def sweep(self, overrides: dict | None = None, **lists) -> list[VariantSpec]:
        """Every combination of the values listed per key (e.g. `p=[59, 97], seed=[1, 2]`; an empty
        or missing list keeps the family's value), each with `overrides` applied: one variant each.
        A key both listed and in `overrides` is refused: which one was meant is not known."""
        listed = {self._locate(key): key for key, values in lists.items() if values}
        for key in overrides or {}:
            if self._locate(key) in listed:
                name = listed[self._locate(key)]
                raise FamilyError(f"{'.'.join(self._locate(key))} is given twice, as {name}={list(lists[name])} and "
                                  f"as an override {key}={overrides[key]!r}; give it once")
        axes = [[(key, value) for value in values] for key, values in lists.items() if values]
        return [self.variant({**(overrides or {}), **dict(combo)}) for combo in itertools.product(*axes)]

    def _locate(self, key: str) -> tuple[str, str]:
        if "." in key:
            section, sub = key.split(".", 1)
            if section in SCHEMA and sub in SCHEMA[section]:
                return section, sub
        else:
            for section, keys in SCHEMA.items():
                if key in keys:
                    return section, key
        known = ", ".join(f"{s}.{k}" for s, keys in SCHEMA.items() for k in keys)
        raise FamilyError(f"unknown parameter '{key}' for family {self.name}; known: {known}")


def _variant_id(spec: dict, changed: dict) -> str:
    parts = [f"{short}{spec['domain'][key]}" for key, short in ID_KEYS.items()]
    for dotted, value in sorted(changed.items()):
        key = dotted.split(".", 1)[1]
        if key not in ID_KEYS:
            text = ",".join(f"{a}x{b}" for a, b in value) if key == "every" else (
                ",".join(map(str, value)) if isinstance(value, list) else str(value))
            parts.append(f"{key}={text}")
    return "-".join(parts)


def parse_value(text: str) -> Any:
    """A command-line value: TOML syntax when it parses (numbers, lists), else the plain string.
    `100:1500,500:25000` is accepted for checkpoints.every. A value is one line: anything that
    would make the TOML more than `v = value` (a newline, a table) is refused."""
    if any(ord(c) < 32 and c != "\t" for c in text):
        raise FamilyError(f"value {text!r} has a line break or control character; a value is one line, e.g. 0.5, "
                          "[0.9, 0.98] or relu")
    if ":" in text and all(part.count(":") == 1 for part in text.split(",")):
        try:
            return [[int(a), int(b)] for a, b in (part.split(":") for part in text.split(","))]
        except ValueError:
            pass
    try:
        parsed = tomllib.loads(f"v = {text}")
    except (tomllib.TOMLDecodeError, RecursionError):
        return text
    except ValueError:  # an integer of more than 4,300 digits: Python refuses to read it
        raise FamilyError(f"value {text[:20]}... is a number of {len(text):,} characters; no setting takes one "
                          "that large") from None
    return parsed["v"] if set(parsed) == {"v"} else text


def parse_sets(items: list[str] | None) -> dict:
    """`--set key=value` options (or the app's settings field) as {key: value} (values in TOML syntax, see `parse_value`)."""
    overrides = {}
    for item in items or []:
        if "=" not in item:
            raise BadInputError(f"--set expects key=value, got {item!r} (e.g. --set train_fraction=0.5)")
        key, value = item.split("=", 1)
        try:
            overrides[key.strip()] = parse_value(value.strip())
        except BadInputError as err:
            raise BadInputError(f"--set {key.strip()}: {err}") from None
    return overrides


def family_path(name: str) -> Path:
    try:
        check_name("family", name)
    except BadInputError as err:
        raise FamilyError(f"{err}; e.g. modular_addition") from None
    for directory in config.family_dirs():
        path = directory / f"{name}.toml"
        with contextlib.suppress(OSError):  # a directory on $WORKBENCH_FAMILIES that cannot be read
            if path.is_file():
                return path
    raise FamilyError(f"no family named {name!r}; known families: {', '.join(family_names()) or 'none'} "
                      f"(add families/{name}.toml to define it)")


def family_names() -> list[str]:
    names = {p.stem for d in config.family_dirs() if d.is_dir() for p in d.glob("*.toml")}
    return sorted(n for n in names if len(n) <= MAX_NAME and NAME_RE.fullmatch(n))  # others cannot be loaded


def _load_raw(name: str, seen: tuple[str, ...] = ()) -> tuple[dict, Path]:
    if name in seen:
        raise FamilyError(f"family {name!r} extends itself through {' -> '.join(seen)}")
    path = family_path(name)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise FamilyError(f"{path}: not valid TOML ({err}); fix the syntax") from err
    except UnicodeDecodeError as err:
        raise FamilyError(f"{path}: not UTF-8 text (byte {err.start}: {err.reason}); save it as UTF-8") from None
    except RecursionError:
        raise FamilyError(f"{path}: nested too deeply to read; a family file is a few flat tables") from None
    except OSError as err:
        raise FamilyError(f"{path}: cannot be read ({err.strerror})") from None
    except ValueError as err:  # an integer of more than 4,300 digits
        raise FamilyError(f"{path}: a value cannot be read ({str(err).split(':')[0]})") from None
    if "extends" in raw:
        if not isinstance(raw["extends"], str):
            raise FamilyError(f"{path}: 'extends' must be the name of another family")
        base, _ = _load_raw(raw["extends"], (*seen, name))
        base.pop("name", None)
        base.pop("description", None)
        raw = _merge(base, raw)
    return raw, path


def load_family(name: str) -> Family:
    """Load and validate `families/<name>.toml`; raises FamilyError with the problem and fix."""
    raw, path = _load_raw(name)
    raw.pop("extends", None)
    spec = _check_spec(str(path), raw)
    if spec.get("name", name) != name:
        raise FamilyError(f"{path}: name = {spec['name']!r} differs from the file name; rename one")
    return Family(name, spec, path)


def analysis_settings(family: str) -> dict[str, dict]:
    """The analysis sections ([llc], ...) of the family file as it is now, defaults filled in;
    the defaults alone when the family has no file (an imported variant, a deleted family)."""
    try:
        spec = load_family(family).spec
    except FamilyError:
        spec = {}
    return {section: dict(spec.get(section, defaults)) for section, defaults in ANALYSIS_DEFAULTS.items()}
