"""Logs of records read as a stream: CSV/TSV (a header row) and JSONL (one JSON object per line),
and the records of a JSON list. Each record goes straight into `Columns`, compact arrays of the
points kept, so memory is O(points kept), not O(file).

Each metric keeps its own x: a record without it (an empty cell, a missing key, `null`) just has
no point there, so a test loss logged every 10 steps keeps its 10-step spacing. A column is a
metric when at least half of its first `SAMPLE` values are numbers.
"""
from __future__ import annotations

import csv
import json
from array import array
from pathlib import Path

import numpy as np

from workbench import resources
from workbench.logrules import (MAX_POINTS, LogImportError, as_float, flat_record, in_x_order, metric_names,
                                nonempty, pick_x)

SAMPLE = 1000  # a column is a metric when at least half of its first SAMPLE values are numbers


def csv_records(path: Path, columns: Columns) -> None:
    with open(path, newline="", encoding="utf-8-sig") as f:
        sample = f.read(65536)
        f.seek(0)
        delimiter = csv_delimiter(path, sample)
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


def jsonl_records(path: Path, columns: Columns) -> None:
    with open(path, encoding="utf-8") as f:
        for line, text in enumerate(f, start=1):
            record = jsonl_record(text, line, path)
            if record is not None:
                columns.add(line, record)


def csv_delimiter(path, sample: str) -> str:
    return "\t" if Path(path).suffix.lower() == ".tsv" or sample.count("\t") > sample.count(",") else ","


def jsonl_record(text: str, line: int, path) -> dict | None:
    """One JSONL line as a flat record (None for a blank line); LogImportError names the line."""
    if not text.strip():
        return None
    try:
        record = json.loads(text)
    except json.JSONDecodeError as err:
        raise LogImportError(f"{path}: line {line} is not valid JSON ({err.msg} at column {err.colno})") from None
    if not isinstance(record, dict):
        raise LogImportError(f"{path}: line {line} is a {type(record).__name__}, not a JSON object")
    return flat_record(record, f"line {line}", path)


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


class Columns:
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
            number = as_float(value)
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
        x_name = pick_x(columns, step, path, "column")
        numeric = [n for n, c in columns.items() if c.numeric() or (metrics and n in metrics)]
        names = metric_names(numeric, x_name, metrics, path, "numeric column")
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
                series[name] = in_x_order(x, np.frombuffer(column.values, np.float64).copy(), name, notes)
        return nonempty(series, path), x_name or "record", notes
