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
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench import config
from workbench.errors import BadInputError
from workbench.familyschema import (ANALYSIS_DEFAULTS, ANALYSIS_SCHEMA, OPTIONAL, SCHEMA, FamilyError,
                                    check_combination, check_spec, check_value, checkpoint_schedule, shown)
from workbench.files import MAX_NAME, NAME_RE, check_name
from workbench.store import VariantRef

ID_KEYS = {"p": "p", "seed": "s", "data_seed": "d"}  # always in the variant id, in this order


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
                                  f"{shown(given[section, sub][1])} and {key}={shown(value)}; give it once")
            given[section, sub] = (key, value)
            value = check_value(where, section, sub, value)
            current = self.spec[section].get(sub, OPTIONAL.get(section, {}).get(sub))
            if sub in self.spec[section] or value != current:
                resolved[section][sub] = value
            if current != value:
                changed[f"{section}.{sub}"] = value
        for section in (*SCHEMA, *ANALYSIS_SCHEMA):
            resolved[section] = dict(resolved[section])
        check_combination(where, resolved)
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
    spec = check_spec(str(path), raw)
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
