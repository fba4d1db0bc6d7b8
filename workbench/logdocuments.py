"""Logs read whole: JSON (a list of records or a dict of lists) and PyTorch `.pt`/`.pth` (a dict of
lists or 1-D tensors, read with `torch.load(weights_only=True)`, so no pickled code runs), each
refused first when its parsed size would not fit in memory; and a dict of lists placed on its x.

In a dict of lists, a metric `m` is placed at `m_step`/`m_steps`/`m_epoch`/`m_epochs`/`m_x` if
given, else at the x list when it is as long, else (when the x list is a whole multiple k as
long) at every k-th x, the end of each block; without an x list, by the epoch count the file
states (value i of a series logged every k epochs at epoch k·i). Weights, optimizer state and
settings (`NOT_SERIES`) are not read as series.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from workbench import history, resources
from workbench.logrules import (MAX_FILE_BYTES, MAX_POINTS, LogImportError, as_float, flat_record, in_x_order,
                                metric_names, nonempty, pick_x)

NOT_SERIES = {"model", "state_dict", "optimizer", "scheduler", "checkpoints", "checkpoint_epochs", "config"}
EPOCH_COUNTS = ("num_epochs", "config/num_epochs", "n_epochs", "epochs", "epoch")
OWN_X = ("_step", "_steps", "_epoch", "_epochs", "_x")  # `m_step`, ...: where metric m's values are


def load_document(path: Path, kind: str):
    """The parsed document of a "json" or "torch" log: plain lists, dicts, numbers and float64
    arrays (a 1-D tensor)."""
    return _load_json(path) if kind == "json" else _load_torch(path)


def _whole(path: Path, unpacked: int) -> None:
    """Refuse a document read whole (JSON, .pt) whose parsed size would not fit in memory."""
    resources.check(resources.whole_document(path, unpacked, f"reading {path.name}"),
                    "Save the log as CSV or JSONL (one record per line), which are read as a stream")


def _load_json(path: Path):
    _whole(path, path.stat().st_size)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise LogImportError(f"{path}: not valid JSON at line {err.lineno}, column {err.colno} ({err.msg})") from None
    except UnicodeDecodeError as err:
        raise LogImportError(f"{path} is not UTF-8 text ({err.reason})") from None


def _load_torch(path: Path):
    from workbench.importers import CheckpointImportError, check_zip_directory, load_torch  # torch: only for .pt
    try:
        unpacked = check_zip_directory(path, MAX_FILE_BYTES)
    except CheckpointImportError as err:
        raise LogImportError(str(err).replace("checkpoints", "logs")) from None
    _whole(path, unpacked)
    data = load_torch(path, "torch.save({k: list(v) for k, v in m.items()}, 'OUT.pt')", LogImportError)
    if isinstance(data, dict):  # weights stay tensors, never millions of Python floats
        data = {k: "(not read)" if k in NOT_SERIES and k != "config" else v for k, v in data.items()}
    return _plain(data)


def _plain(value):
    """Tensors to NumPy arrays, recursively: a 1-D numeric one stays an array (a series, 8 bytes a
    value rather than a Python float's 32), others become lists (a 0-d one a number)."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        if value.ndim == 1 and value.dtype.kind in "iuf":
            return value.astype(np.float64)
        return value.tolist()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


# -- a dict of lists ---------------------------------------------------------------------------

def from_columns(data: dict, step, metrics, notes, path) -> tuple[dict, str, list[str]]:
    """({metric: (x, y)}, the x name, notes) of a dict of lists; `notes` gains what was assumed."""
    flat = flat_record(data, "the top level", path)
    total = _epoch_count(flat)
    trees = sorted({k.split("/", 1)[0] for k in flat if k.split("/", 1)[0] in NOT_SERIES})
    if trees:
        flat = {k: v for k, v in flat.items() if k.split("/", 1)[0] not in NOT_SERIES}
        notes.append(f"not read as series: {', '.join(trees)} (weights, optimizer state, settings)"
                     + ("; `workbench import FILE` imports the model with this history" if "model" in trees else ""))
    lists = {k: v for k, v in flat.items() if (isinstance(v, np.ndarray) and len(v)) or (isinstance(v, list) and v and
                                                                                        all(_listed_number(e) for e in v))}
    skipped = sorted(set(flat) - set(lists))
    if skipped:
        notes.append(f"not imported (not lists of numbers): {', '.join(skipped[:20])}"
                     + (" ..." if len(skipped) > 20 else ""))
    x_name = pick_x(lists, step, path, "list of numbers")
    own_x = {f"{m}{suffix}" for m in lists for suffix in OWN_X}
    names = metric_names([k for k in lists if k not in own_x], x_name, metrics, path, "list of numbers")
    _check_size(sum(len(lists[n]) for n in names), path)
    x_main = _floats(lists[x_name]) if x_name else None
    if x_main is None and not names:
        return nonempty({}, path), "index", notes
    longest = len(x_main) if x_main is not None else max(len(lists[n]) for n in names)
    stated = total is not None
    if x_main is None and total and total >= longest:
        notes.append(f"no step/epoch list: x is the epoch, {total:,} epochs (the file's "
                     f"{'epoch count' if total != longest else 'longest series'}); value i of a series "
                     "logged every k epochs is at epoch k·i")
    elif x_main is None:
        stated, total = False, longest
        notes.append("no step/epoch list found: x is the index of the longest series (name one with --step)")
    series = {}
    for name in names:
        y = _floats(lists[name])
        y, dropped = history.strip_padding(y, longest)
        if dropped:
            notes.append(f"{name}: its last {dropped:,} values are NaN padding up to the longest series' length, "
                         "not data: dropped")
        x = _place(name, y, lists, x_main, x_name, total, notes, path)
        series[name] = in_x_order(x, y, name, notes)
    return nonempty(series, path), x_name or ("epoch" if stated else "index"), notes


def _listed_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) or value is None


def _floats(values) -> np.ndarray:
    """A list of numbers (None: not logged) or a 1-D array as float64."""
    if isinstance(values, np.ndarray):
        return values.astype(np.float64)
    return np.asarray([np.nan if v is None else as_float(v) for v in values], dtype=np.float64)


def _epoch_count(flat: dict) -> int | None:
    """The run's epoch count when the file states it as a number (the progress-measures files:
    `epoch`, `config/num_epochs`)."""
    for key in EPOCH_COUNTS:
        value = flat.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def _place(name, y, lists, x_main, x_name, total, notes, path) -> np.ndarray:
    for suffix in OWN_X:
        own = lists.get(name + suffix)
        if own is not None:
            if len(own) != len(y):
                raise LogImportError(f"{path}: key {name + suffix!r} has {len(own)} values but {name!r} has {len(y)}")
            return _floats(own)
    n = len(x_main) if x_main is not None else total
    if len(y) == n:
        return x_main if x_main is not None else np.arange(n, dtype=np.float64)
    # Fewer values: logged every k-th x. With an x list a value closes its block of k (trainers
    # log an evaluation after its k steps); by epoch count, value i is at k·i (the paper's code).
    found = history.cadence(len(y), n, prefer="end" if x_main is not None else "start")
    if found is None:
        raise LogImportError(f"{path}: key {name!r} has {len(y)} values but "
                             + (f"{x_name!r} has {n}" if x_main is not None else f"the run has {n} epochs")
                             + f"; no whole cadence fits - add a '{name}_{x_name or 'epoch'}' list with the "
                             f"{x_name or 'epoch'} of each value")
    every, where = found
    at = history.place(len(y), every, where)
    unit = x_name or "epoch"
    notes.append(f"{name}: {len(y):,} values for {n:,} {unit}s: logged every {every} {unit}s, placed at "
                 + ("the end of each block" if where == "end" else f"{unit} {every}·i") + " (inferred from "
                 f"the counts; give '{name}_{unit}' to place them exactly)")
    return x_main[at] if x_main is not None else at.astype(np.float64)


def _check_size(points: int, path: Path) -> None:
    limit = min(MAX_POINTS, resources.max_log_points())
    if points > limit:
        raise LogImportError(f"{path} has {points:,} points; logs over {limit:,} are refused "
                             f"({'the memory limit holds that many' if limit < MAX_POINTS else 'a fixed limit'}) "
                             "- pick the metrics you need with --metrics")
