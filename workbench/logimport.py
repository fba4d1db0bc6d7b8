"""Import a training log from any project as a log-only run: its curves, phases, oscillations
and alerts then show on the Loss dynamics page and compare with other runs.

Formats (by extension): CSV/TSV (a header row), JSONL (one JSON object per line), JSON (a list
of records or a dict of lists) and PyTorch `.pt`/`.pth` (a dict of lists or 1-D tensors, read
with `torch.load(weights_only=True)`, so no pickled code runs). Nested objects are flattened
with "/" (`{"val": {"loss": 1}}` → `val/loss`).

- x: the first column named step, global_step, iteration, iter, epoch, ... (`X_NAMES`; steps
  are preferred to epochs), or `--step NAME`; without one, the record number.
- metrics: every other numeric column (time stamps skipped), or those named with `--metrics`.
- Each metric keeps its own x: a record without it (an empty cell, a missing key, `null`)
  just has no point there, so a test loss logged every 10 steps keeps its 10-step spacing. In a
  dict of lists, a metric `m` is placed at `m_step`/`m_steps`/`m_epoch`/`m_epochs`/`m_x` if
  given, else at the x list when it is as long, else (when the x list is a whole multiple k as
  long) at every k-th x, the end of each block. `nan`/`inf` values are kept: they are alerts.
- Malformed input is refused with the line (or key) and what is wrong; so are files over
  `MAX_FILE_BYTES` and logs over `MAX_POINTS` points.
"""
from __future__ import annotations

import csv
import json
import math
import re
import sys
from array import array
from pathlib import Path

import numpy as np

from workbench import history, resources
from workbench.analyzers.dynamics import NAME, run_dynamics, stored_alerts, stored_phases
from workbench.errors import BadInputError, ConflictError
from workbench.gates import evaluate_all
from workbench.phases import describe_roles, tokens
from workbench.store import VariantRef, check_name, timestamp

X_NAMES = ("step", "global_step", "trainer/global_step", "_step", "steps", "iteration", "iter", "it", "epoch",
           "epochs")
SKIPPED_WORDS = {"time", "timestamp", "runtime", "wall", "date"}
MAX_FILE_BYTES = 1 << 30
MAX_POINTS = 50_000_000
FORMATS = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".pt": "torch",
           ".pth": "torch"}


class LogImportError(BadInputError):
    """The log cannot be read; the message names the line or key and what would work."""


def read_log(path, step: str | None = None, metrics: list[str] | None = None) -> tuple[dict, str, list[str]]:
    """({metric: (x float64 [n], y float64 [n])}, the x name, notes on what was assumed)."""
    path = Path(path)
    if not path.is_file():
        raise LogImportError(f"{path} does not exist")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise LogImportError(f"{path} is {size / 2**30:.1f} GiB; logs over {MAX_FILE_BYTES / 2**30:.0f} GiB are "
                             "refused - keep the columns you need (e.g. --metrics) in a smaller file")
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise LogImportError(f"{path}: unknown log format {path.suffix!r}; use {', '.join(sorted(FORMATS))}")
    notes: list[str] = []
    wanted = {*metrics, *(X_NAMES if step is None else (step,))} if metrics else None
    columns = _Columns(path, wanted)
    try:
        if kind == "csv":
            _csv_records(path, columns)
        elif kind == "jsonl":
            _jsonl_records(path, columns)
        else:
            data = _load_json(path) if kind == "json" else _load_torch(path)
            if isinstance(data, dict):
                return _from_columns(data, step, metrics, notes, path)
            if not isinstance(data, list):
                raise LogImportError(f"{path} holds a {type(data).__name__}; expected a list of records or a dict "
                                     "of lists")
            for i, record in enumerate(data):
                columns.add(i, _flat(record, f"record {i}", path), "record")
    except UnicodeDecodeError as err:
        raise LogImportError(f"{path} is not UTF-8 text ({err.reason} at byte {err.start})") from None
    except RecursionError:
        raise LogImportError(f"{path} is nested deeper than it can be read (objects inside objects, "
                             f"{sys.getrecursionlimit():,}+ levels); flatten it") from None
    return columns.series(step, metrics, notes)


# -- readers: each record goes straight into `_Columns`, so memory is O(points kept), not O(file) --

def _csv_records(path: Path, columns: "_Columns") -> None:
    with open(path, newline="", encoding="utf-8-sig") as f:
        sample = f.read(65536)
        f.seek(0)
        delimiter = "\t" if path.suffix.lower() == ".tsv" or sample.count("\t") > sample.count(",") else ","
        reader = csv.reader(f, delimiter=delimiter)
        try:
            header = next(reader, None)
            if not header or not any(h.strip() for h in header):
                raise LogImportError(f"{path}: line 1 should be a header naming the columns (e.g. step,loss,val_loss)")
            header = [h.strip() for h in header]
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue
                if len(row) != len(header):
                    raise LogImportError(f"{path}: line {reader.line_num} has {len(row)} fields, the header has "
                                         f"{len(header)}")
                columns.add(reader.line_num, {h: cell.strip() for h, cell in zip(header, row) if cell.strip() != ""})
        except csv.Error as err:
            raise LogImportError(f"{path}: line {reader.line_num} is not valid CSV ({err})") from None


def _jsonl_records(path: Path, columns: "_Columns") -> None:
    with open(path, encoding="utf-8") as f:
        for number, text in enumerate(f, start=1):
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as err:
                raise LogImportError(f"{path}: line {number} is not valid JSON ({err.msg} at column {err.colno})") from None
            if not isinstance(record, dict):
                raise LogImportError(f"{path}: line {number} is a {type(record).__name__}, not a JSON object")
            columns.add(number, _flat(record, f"line {number}", path))


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


def _flat(record, where: str, path: Path, prefix: str = "") -> dict:
    if not isinstance(record, dict):
        raise LogImportError(f"{path}: {where} is a {type(record).__name__}, not an object of named values")
    out = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flat(value, where, path, name + "/"))
        elif value is not None:
            out[name] = value
    return out


# -- records (CSV, JSONL, JSON list) -------------------------------------------------------------

SAMPLE = 1000  # a column is a metric when at least half of its first SAMPLE values are numbers


def _float(value) -> float | None:
    """The value as a number, or None when it is not one (a word, a list)."""
    if isinstance(value, (bool, int, float)):
        try:
            return float(value)
        except OverflowError:  # an integer beyond float range: as far as a float goes
            return math.inf if value > 0 else -math.inf
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


class _Column:
    """One column's points as they stream by: the record each value is in, and the value (as
    compact arrays, 16 bytes a point), with the first value that is not a number."""
    __slots__ = ("records", "values", "seen", "numbers", "bad", "text")

    def __init__(self):
        self.records, self.values = array("q"), array("d")
        self.seen = self.numbers = 0
        self.bad = None    # (record, value) of the first value that is not a number
        self.text = False  # decided: not a metric (its points are dropped)

    def numeric(self) -> bool:
        return not self.text and 2 * self.numbers >= min(self.seen, SAMPLE)


class _Columns:
    """Every column of a log of records, read one record at a time: memory grows with the points
    kept (`resources.LOG_POINT` bytes each, counted against the budget as they come), not with the
    file. `wanted` (from --metrics) keeps only those columns (and the x candidates)."""

    def __init__(self, path: Path, wanted: set | None = None):
        self.path, self.wanted = path, wanted
        self.columns: dict[str, _Column] = {}
        self.where, self.unit = array("q"), "line"
        self.points = 0
        self.limit = min(MAX_POINTS, resources.max_log_points())

    def add(self, where: int, record: dict, unit: str = "line") -> None:
        i, self.unit = len(self.where), unit
        self.where.append(where)
        for name, value in record.items():
            if self.wanted is not None and name not in self.wanted:
                continue
            column = self.columns.get(name)
            if column is None:
                column = self.columns[name] = _Column()
            column.seen += 1
            number = _float(value)
            if number is None:
                if column.bad is None:
                    column.bad = (i, value)
            elif column.seen <= SAMPLE and not isinstance(value, bool):
                column.numbers += 1
            if column.text:
                continue
            if column.seen - column.numbers > SAMPLE // 2 and column.seen <= SAMPLE and column.bad is not None:
                self.points -= len(column.values)  # mostly words: not a metric, its points go
                column.records, column.values, column.text = array("q"), array("d"), True
                continue
            if number is not None:
                column.records.append(i)
                column.values.append(number)
                self.points += 1
        if self.points > self.limit:
            self._too_many()

    def _too_many(self) -> None:
        if self.limit == MAX_POINTS:
            reason = f"logs over {MAX_POINTS:,} points are refused"
        else:
            reason = (f"{self.limit:,} points of {resources.LOG_POINT} bytes each are what the memory limit of "
                      f"{resources.limit_text()} holds")
        raise LogImportError(f"{self.path} has more than {self.limit:,} points by {self._label(len(self.where) - 1)}; "
                             f"{reason} - pick the metrics you need with --metrics (only those are kept)")

    def _label(self, record: int) -> str:
        return f"{self.unit} {self.where[record]}"

    def _refuse(self, name: str) -> None:
        record, value = self.columns[name].bad
        raise LogImportError(f"{self.path}: {self._label(record)}, column {name!r}: {value!r} is not a number")

    def series(self, step, metrics, notes) -> tuple[dict, str, list[str]]:
        path, columns = self.path, self.columns
        if not len(self.where):
            raise LogImportError(f"{path} has no records")
        x_name = _pick_x(columns, step, path, "column")
        numeric = [n for n, c in columns.items() if c.numeric() or (metrics and n in metrics)]
        names = _metric_names(numeric, x_name, metrics, path, "numeric column")
        skipped = sorted(set(columns) - set(names) - {x_name})
        if skipped:
            notes.append(f"not imported (not numeric, time or x columns): {', '.join(skipped)}")
        if x_name is None:
            notes.append("no step/epoch column found: x is the record number (name one with --step)")
            x_of = np.arange(len(self.where), dtype=np.float64)
        else:
            column = columns[x_name]
            if column.bad is not None:
                self._refuse(x_name)
            if len(column.records) < len(self.where):
                has = np.zeros(len(self.where), bool)
                has[np.frombuffer(column.records, np.int64)] = True
                raise LogImportError(f"{path}: {self._label(int(np.argmin(has)))} has no {x_name!r} (the x column); "
                                     "every record needs one")
            x_of = np.frombuffer(column.values, np.float64)
        series = {}
        for name in names:
            column = columns[name]
            if column.bad is not None:
                self._refuse(name)
            if len(column.values):
                x = x_of[np.frombuffer(column.records, np.int64)]
                series[name] = _sorted(x, np.frombuffer(column.values, np.float64).copy(), name, notes)
        return _nonempty(series, path), x_name or "record", notes


# -- which column is x, which are metrics -------------------------------------------------------

def _pick_x(names, step: str | None, path: Path, where: str) -> str | None:
    if step is not None:
        if step not in names:
            raise LogImportError(f"{path}: --step {step!r} is not a {where}; there are: {', '.join(sorted(names))}")
        return step
    lower = {n.lower(): n for n in names}
    return next((lower[c] for c in X_NAMES if c in lower), None)


def _metric_names(candidates, x_name, metrics, path, where) -> list[str]:
    if metrics:
        unknown = [m for m in metrics if m not in candidates]
        if unknown:
            raise LogImportError(f"{path}: --metrics {unknown[0]!r} is not a {where}; there are: "
                                 f"{', '.join(sorted(candidates))}")
        return list(metrics)
    lower_x = {c.lower() for c in X_NAMES}
    return [n for n in candidates if n != x_name and n.lower() not in lower_x and not tokens(n) & SKIPPED_WORDS]


# -- columns (JSON / torch dict of lists) ------------------------------------------------------

def _from_columns(data: dict, step, metrics, notes, path) -> tuple[dict, str, list[str]]:
    flat = _flat(data, "the top level", path)
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
    x_name = _pick_x(lists, step, path, "list of numbers")
    own_x = {f"{m}{suffix}" for m in lists for suffix in ("_step", "_steps", "_epoch", "_epochs", "_x")}
    names = _metric_names([k for k in lists if k not in own_x], x_name, metrics, path, "list of numbers")
    _check_size(sum(len(lists[n]) for n in names), path)
    x_main = _floats(lists[x_name]) if x_name else None
    if x_main is None and not names:
        return _nonempty({}, path), "index", notes
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
        series[name] = _sorted(x, y, name, notes)
    return _nonempty(series, path), x_name or ("epoch" if stated else "index"), notes


def _listed_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) or value is None


def _floats(values) -> np.ndarray:
    """A list of numbers (None: not logged) or a 1-D array as float64."""
    if isinstance(values, np.ndarray):
        return values.astype(np.float64)
    return np.asarray([np.nan if v is None else _float(v) for v in values], dtype=np.float64)


NOT_SERIES = {"model", "state_dict", "optimizer", "scheduler", "checkpoints", "checkpoint_epochs", "config"}
EPOCH_COUNTS = ("num_epochs", "config/num_epochs", "n_epochs", "epochs", "epoch")


def _epoch_count(flat: dict) -> int | None:
    """The run's epoch count when the file states it as a number (the progress-measures files:
    `epoch`, `config/num_epochs`)."""
    for key in EPOCH_COUNTS:
        value = flat.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def _place(name, y, lists, x_main, x_name, total, notes, path) -> np.ndarray:
    for suffix in ("_step", "_steps", "_epoch", "_epochs", "_x"):
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


# -- checks ----------------------------------------------------------------------------------

def _sorted(x: np.ndarray, y: np.ndarray, name: str, notes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Points in increasing x; a repeated x (a resumed run logging again) keeps its last value."""
    if not np.all(np.isfinite(x)):
        raise LogImportError(f"{name}: its x values include {x[~np.isfinite(x)][0]} (x must be finite)")
    if len(x) > 1 and np.any(np.diff(x) <= 0):
        order = np.argsort(x, kind="stable")
        x, y = x[order], y[order]
        last = np.r_[x[1:] != x[:-1], True]
        if not last.all():
            notes.append(f"{name}: {int((~last).sum())} repeated x values, the last logged value kept")
        x, y = x[last], y[last]
    return x, y


def _check_size(points: int, path: Path) -> None:
    limit = min(MAX_POINTS, resources.max_log_points())
    if points > limit:
        raise LogImportError(f"{path} has {points:,} points; logs over {limit:,} are refused "
                             f"({'the memory limit holds that many' if limit < MAX_POINTS else 'a fixed limit'}) "
                             "- pick the metrics you need with --metrics")


def _nonempty(series: dict, path: Path) -> dict:
    if not series:
        raise LogImportError(f"{path} has no numeric metric to import (name them with --metrics)")
    return series


def run_id(path) -> str:
    """A variant id from the file name: letters, digits and _ . = , + - only."""
    stem = re.sub(r"[^A-Za-z0-9_.=,+-]+", "-", Path(path).stem)[:120].strip("-.") or "log"
    return stem if stem[0].isalnum() else f"log-{stem}"



def import_log(path, store, *, family: str = "logs", id: str | None = None, step: str | None = None,
               metrics: list[str] | None = None, gates: list[str] | None = None, replace: bool = False) -> dict:
    """Read a log, store it as the log-only variant `family/id` (default id: the file name) with its
    phases and alerts (the `loss_dynamics` artifact); returns a summary for the user."""
    ref = VariantRef(check_name("family", family), check_name("variant", id or run_id(path)))
    series, x_name, notes = read_log(path, step, metrics)
    roles = describe_roles(series)
    if roles:
        notes.append("phases read: " + "; ".join(roles))
    results = evaluate_all("\n".join(gates or []), series)  # refuses unreadable gates before anything is written
    if store.exists(ref) and not replace:
        raise ConflictError(f"{ref} already exists; pass --replace to overwrite it or --id to name this run")
    if store.exists(ref) and not store.is_log(ref):
        raise ConflictError(f"{ref} is a trained variant, not an imported log; pick another --id")
    with store.creating(ref, "importing a training log", keep_checkpointed=False):  # fails: nothing left
        store.save_log(ref, series)
        store.write_info(ref, {
            "family": ref.family, "id": ref.id, "status": "log", "spec": {}, "gates": list(gates or []),
            "log": {"source": str(Path(path).resolve()), "x": x_name, "notes": notes,
                    "points": {name: int(len(x)) for name, (x, _) in series.items()}},
            "created": timestamp(), "updated": timestamp()})
        artifact = run_dynamics(store, ref)
        store.save_artifact(ref, NAME, None, artifact)
    return {"variant": ref, "x": x_name, "series": {n: len(x) for n, (x, _) in series.items()}, "notes": notes,
            "phases": stored_phases(artifact), "alerts": stored_alerts(artifact), "gates": results}
