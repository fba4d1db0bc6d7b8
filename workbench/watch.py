"""Watch a training log while another program writes it: `workbench watch FILE`.

The file is a CSV/TSV (a header row) or JSONL log, the formats `workbench import-log` reads, with
the same rules for x and metrics (`workbench.logrules`). `LogTail` reads only the complete lines
appended since its last read (a line still being written waits for its newline; a file that
shrinks was rewritten, and is read again from the start). `Watcher` keeps every metric's points,
and after each batch of new lines runs the alert detectors and gates of the Loss dynamics page
(`workbench.analyzers.dynamics.series_dynamics`, `workbench.gates`) over them; each alert or
failed gate it has not reported yet is new, and is handed to the caller once, with the line and
x it was read at. A scan costs time in the length of the log, so scans of a long log are spaced
by a multiple of what the last one took.

The run is also kept in the store as a log-only variant (`logs/<file name>`, as `import-log`
makes it), rewritten at most every `SAVE_EVERY_SECONDS` (more rarely when a save takes long), so
the app's pages follow it; the variant's lock is held while watching, which the app shows as a
live log.
"""
from __future__ import annotations

import contextlib
import csv
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workbench.analyzers.dynamics import NAME, series_dynamics, stored_alerts, stored_phases
from workbench.errors import ConflictError
from workbench.gates import GateError, evaluate, parse_gates
from workbench.logimport import run_id
from workbench.logrules import FORMATS, LogImportError, is_metric, is_number, number, x_column
from workbench.logstream import csv_delimiter, jsonl_record
from workbench.store import Store, VariantRef, check_name, timestamp

POLL_SECONDS = 0.1        # how often the file is looked at
SAVE_EVERY_SECONDS = 1.0  # how often the store's copy (the app's view) is rewritten, at most
GATE_FAILED = 3  # `watch --exit-on-gate`'s exit status when a gate fails (1 is a user error, 2 a usage error)
SCAN_SHARE = 3            # scans of a long log are spaced by at least this many times their cost
LINE_BY_LINE, LINE_BY_LINE_SCAN_SECONDS = 16, 0.02  # up to 16 new lines, each scanned when a scan is that fast


class LogTail:
    """The records of a CSV/JSONL log appended since the last `read`: [(line number, record)]."""

    def __init__(self, path, step: str | None = None):
        self.path = Path(path)
        self.kind = FORMATS.get(self.path.suffix.lower())
        if self.kind not in ("csv", "jsonl"):
            raise LogImportError(f"{self.path}: `watch` reads a log being written as CSV/TSV or JSONL (one record "
                                 f"per line); {self.path.suffix or 'no extension'} is not one of them")
        self.step = step
        self.restart()

    def restart(self) -> None:
        self.offset, self.line, self.header, self.delimiter, self.inode = 0, 0, None, ",", None
        self.generation = getattr(self, "generation", -1) + 1  # how often the file started over

    def read(self) -> list[tuple[int, dict]]:
        try:
            with open(self.path, "rb") as f:
                info = os.fstat(f.fileno())
                if self.inode is None or info.st_ino != self.inode or info.st_size < self.offset:
                    if self.inode is not None:  # replaced or truncated: read the new file from its start
                        self.restart()
                    self.inode = info.st_ino
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n") + 1  # a last line without its newline is still being written
        if not end:
            return []
        self.offset += end
        text = data[:end].decode("utf-8-sig" if self.line == 0 else "utf-8", errors="replace")
        records = []
        for raw in text.splitlines():
            self.line += 1
            record = self._record(raw)
            if record is not None:
                records.append((self.line, record))
        return records

    def _record(self, raw: str) -> dict | None:
        if self.kind == "jsonl":
            return jsonl_record(raw, self.line, self.path)
        if not raw.strip():
            return None
        if self.header is None:
            self.delimiter = csv_delimiter(self.path, raw)
            self.header = [h.strip() for h in next(csv.reader([raw], delimiter=self.delimiter))]
            return None
        row = next(csv.reader([raw], delimiter=self.delimiter))
        if len(row) != len(self.header):
            raise LogImportError(f"{self.path}: line {self.line} has {len(row)} fields, the header has "
                                 f"{len(self.header)}")
        return {h: cell.strip() for h, cell in zip(self.header, row) if cell.strip() != ""}


class _Points:
    """One metric's (x, y), growing by appending (capacity doubles: amortized O(1) per point)."""

    def __init__(self):
        self.x, self.y, self.n = np.zeros(64), np.zeros(64), 0

    def add(self, x: float, y: float) -> None:
        if self.n == len(self.x):
            self.x, self.y = (np.concatenate([a, np.zeros(len(a))]) for a in (self.x, self.y))
        self.x[self.n], self.y[self.n] = x, y
        self.n += 1

    def xy(self) -> tuple[np.ndarray, np.ndarray]:
        x, y = self.x[: self.n], self.y[: self.n]
        if self.n > 1 and np.any(np.diff(x) <= 0):  # out of order or repeated (a resumed run): sort, keep the last
            order = np.argsort(x, kind="stable")
            x, y = x[order], y[order]
            last = np.r_[x[1:] != x[:-1], True]
            x, y = x[last], y[last]
        return x, y


@dataclass(frozen=True)
class Event:
    """Something new in the log: an alert or a failed gate, with where it was noticed."""
    kind: str        # "alert" or "gate"
    text: str        # one line for the terminal
    at: float        # the x of the alert (its epoch or step) or of the gate's first failure
    line: int        # the log's line read last when it was found
    seen_x: float    # the x of that line
    failed_gate: bool = False


class Watcher:
    """Follows one log: `poll()` reads what was appended and returns the new `Event`s."""

    def __init__(self, path, *, step: str | None = None, metrics: list[str] | None = None, gates: list[str] | None = None,
                 store: Store | None = None, family: str = "logs", id: str | None = None):
        self.tail = LogTail(path, step)
        self.path, self.metrics = Path(path), set(metrics or ())
        self.gate_text = "\n".join(gates or [])
        self.gates = parse_gates(self.gate_text)  # unreadable gates are refused before anything is watched
        self.points: dict[str, _Points] = {}
        self.x_name: str | None = None
        self.records = self.last_line = 0
        self.last_x = float("nan")
        self.reported: set = set()
        self.failed: list[str] = []
        self.alerts, self.artifact = [], None
        self.store = store
        self.ref = VariantRef(check_name("family", family), check_name("variant", id or run_id(path)))
        self.dirty = self.dirty_store = False
        self.next_scan, self.next_save, self.save_cost, self.scan_cost, self.generation = 0.0, 0.0, 0.0, 0.0, 0

    # -- reading --------------------------------------------------------------------------------
    def _add(self, line: int, record: dict) -> None:
        if self.records == 0:
            self.x_name = x_column(record, self.tail.step, self.path)
        where = f"line {line}"
        if self.x_name is None:
            x = float(self.records)
        elif self.x_name in record:
            x = number(record[self.x_name], where, self.x_name, self.path)
        else:
            raise LogImportError(f"{self.path}: {where} has no {self.x_name!r} (the x column); every record needs one")
        for name, value in record.items():
            wanted = name in self.metrics if self.metrics else is_metric(name, self.x_name)
            if wanted and is_number(value):
                self.points.setdefault(name, _Points()).add(x, number(value, where, name, self.path))
        self.records, self.last_line, self.last_x = self.records + 1, line, x

    def series(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        return {name: points.xy() for name, points in self.points.items() if points.n}

    # -- one step -------------------------------------------------------------------------------
    def poll(self, now: float | None = None) -> list[Event]:
        """Read the new lines; when it is time, scan for alerts and gates and save to the store."""
        now = time.monotonic() if now is None else now
        records = self.tail.read()
        if self.tail.generation != self.generation:  # the file was rewritten: its points start over
            self.generation, self.points, self.records = self.tail.generation, {}, 0
        # A few new lines of a log that scans fast are scanned one by one, so an event names the
        # very line that raised it; otherwise once per batch, spaced by the scans' cost.
        one_by_one = len(records) <= LINE_BY_LINE and self.scan_cost <= LINE_BY_LINE_SCAN_SECONDS
        events = []
        for line, record in records:
            self._add(line, record)
            self.dirty = True
            if one_by_one:
                events += self._timed_scan(now)
        if self.dirty and now >= self.next_scan and self.points:
            events += self._timed_scan(now)
        if self.store is not None and self.artifact is not None and now >= self.next_save and self.dirty_store:
            self.save(now)
        return events

    def _timed_scan(self, now: float) -> list[Event]:
        began = time.monotonic()
        events = self.scan()
        self.scan_cost = time.monotonic() - began
        self.next_scan = now + SCAN_SHARE * self.scan_cost
        return events

    def scan(self) -> list[Event]:
        """Alerts and gates over everything read so far; those not reported before are returned."""
        series = self.series()
        self.artifact = series_dynamics(series, nan_is_value=True)
        self.alerts = stored_alerts(self.artifact)
        self.dirty, self.dirty_store = False, True
        events = []
        for alert in self.alerts:
            key = ("alert", alert.kind, alert.series, alert.epoch)
            if key not in self.reported:
                self.reported.add(key)
                events.append(Event("alert", alert.summary(), alert.epoch, self.last_line, self.last_x))
        for gate in self.gates:
            try:
                result = evaluate(gate, series)
            except GateError:
                continue  # its metric is not logged yet
            failure = result.first_failure
            if failure is not None and ("gate", gate.text) not in self.reported:
                self.reported.add(("gate", gate.text))
                self.failed.append(gate.text)
                events.append(Event("gate", f"gate {gate.text!r} on {result.series} failed at {failure:,.0f}", failure,
                                    self.last_line, self.last_x, failed_gate=True))
        return events

    # -- the store's copy -----------------------------------------------------------------------
    def open_store(self) -> None:
        """Claim `logs/<id>` for this log (a trained variant of that id is refused)."""
        if self.store.exists(self.ref) and not self.store.is_log(self.ref):
            raise ConflictError(f"{self.ref} is a trained variant, not a training log; pick another --id")

    def save(self, now: float | None = None) -> None:
        """Write the log variant and its `loss_dynamics` artifact (the app's view of the run)."""
        if self.store is None or self.artifact is None:
            return
        began = time.monotonic()
        self.store.save_log(self.ref, self.series())
        self.store.write_info(self.ref, {
            "family": self.ref.family, "id": self.ref.id, "status": "log", "spec": {},
            "gates": [g.text for g in self.gates], "created": timestamp(), "updated": timestamp(),
            "log": {"source": str(self.path.resolve()), "x": self.x_name or "record", "notes": ["watched as written"],
                    "points": {name: int(p.n) for name, p in self.points.items()}}})
        self.store.save_artifact(self.ref, NAME, None, self.artifact)
        self.save_cost = time.monotonic() - began
        self.next_save = (time.monotonic() if now is None else now) + max(SAVE_EVERY_SECONDS, 10 * self.save_cost)
        self.dirty_store = False

    def phases(self):
        return stored_phases(self.artifact) if self.artifact is not None else None


def run(watcher: Watcher, emit, *, idle: float | None = None, stop_on_gate: bool = False,
        poll: float = POLL_SECONDS) -> str:
    """Poll until stopped: Ctrl-C, no new line for `idle` seconds once lines came, or (`stop_on_gate`) a failed
    gate. `emit(event)` gets each new event as it is found. Holds the log variant's lock (the app
    shows it as being written) and leaves the store's copy complete. Returns why it stopped:
    "interrupted", "idle" or "gate"."""
    store = watcher.store
    if store is not None:
        watcher.open_store()
    with store.lock(watcher.ref, f"watching {watcher.path}") if store is not None else contextlib.nullcontext():
        quiet_since, reason = time.monotonic(), "interrupted"
        try:
            while True:
                before = watcher.records
                for event in watcher.poll():
                    emit(event)
                if stop_on_gate and watcher.failed:
                    reason = "gate"
                    break
                now = time.monotonic()
                if watcher.records != before:
                    quiet_since = now
                elif idle is not None and watcher.records and now - quiet_since >= idle:
                    reason = "idle"
                    break
                time.sleep(poll)
        except KeyboardInterrupt:
            pass
        if watcher.dirty:
            for event in watcher.scan():
                emit(event)
        watcher.save()
    return reason

