"""A run while it trains: every epoch's metrics as they are measured, the run's state (training,
epoch, ETA, analysis following it), and cheap stamps that say whether anything changed.

The training loop saves its history only with its checkpoints (`workbench.training`), so a
reader would see the curves grow a checkpoint at a time. While it runs it also appends every
epoch's row to `live.bin` (`LiveLog`, flushed every `LIVE_EVERY_SECONDS` and at checkpoints):

    8 bytes   header length n (little-endian)
    n bytes   JSON: {"columns": ["epoch", "seconds", "tested", <metrics>...], "sparse": [...],
              "session": <random id>, "start": <first epoch>, "epochs": <last epoch>}
    rows      float64 × len(columns) each, appended; a partly written row is not read yet

A new training session (a resume) writes a new file with a new session id. `sparse` metrics
(the test loss and accuracy) hold values only in rows whose `tested` is 1. When training ends,
stops or fails the file is deleted: the saved history then has every row up to the last
checkpoint (rows after it will be trained again, identically, on resume).

Readers (`history`, `state`) read only the bytes appended since their last read (`_Tail`), and
`stamp` is a handful of `stat` calls: what the app polls once a second per open variant, so a
page asks for nothing while nothing changed. `new_points` gives the points a figure lacks, for
the app to append to a curve instead of sending it again. Imports neither torch nor plotly.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import secrets
import threading
import time
from typing import Iterable

import numpy as np

from workbench.caching import StampedMemo
from workbench.errors import MissingError, UserError
from workbench.files import atomic_write
from workbench.history import History
from workbench.store import Store, VariantRef, timestamp

LIVE_EVERY_SECONDS = 0.5   # how often training appends its new rows (and at every checkpoint)
HEAD = ("epoch", "seconds", "tested")
RATE_WINDOW_SECONDS = 20.0  # the ETA's speed: epochs per second over the last 20 s of rows


class LiveLog:
    """The training side: `add` each epoch's metrics; rows reach the file every `every` seconds,
    at `flush` (checkpoints) and at `close` (which deletes the file: the history is saved)."""

    def __init__(self, store: Store, ref: VariantRef, columns: Iterable[str], start: int, epochs: int,
                 sparse: Iterable[str] = (), every: float = LIVE_EVERY_SECONDS):
        self.path, self.columns, self.every = store.live_path(ref), list(columns), every
        header = json.dumps({"columns": [*HEAD, *self.columns], "sparse": list(sparse), "start": int(start),
                             "epochs": int(epochs), "session": secrets.token_hex(6), "started": timestamp(),
                             "pid": os.getpid()}).encode()
        atomic_write(self.path, lambda f: f.write(len(header).to_bytes(8, "little") + header))
        self.rows: list[list[float]] = []
        self.began = self.last = time.monotonic()

    def add(self, epoch: int, metrics: dict, tested: bool = True) -> None:
        now = time.monotonic()
        self.rows.append([epoch, now - self.began, float(tested), *(metrics.get(c, math.nan) for c in self.columns)])
        if now - self.last >= self.every:
            self.flush()

    def flush(self) -> None:
        """Append the buffered rows in one write (a reader never sees half a row as a row)."""
        self.last = time.monotonic()
        if self.rows:
            data = np.asarray(self.rows, dtype="<f8").tobytes()
            self.rows = []
            with open(self.path, "ab") as f:
                f.write(data)

    def close(self) -> None:
        self.rows = []
        self.path.unlink(missing_ok=True)


class _Tail:
    """The rows of one variant's live file read so far; `read` adds what was appended since. The
    header is read again each time (a few hundred bytes): a new session starts over."""

    def __init__(self):
        self.head, self.header, self.offset, self.width = b"", {}, 0, 8 * len(HEAD)
        self.rows = np.zeros((0, len(HEAD)))
        self.lock = threading.Lock()

    def read(self, path) -> tuple[dict, np.ndarray]:
        with self.lock:
            try:
                with open(path, "rb") as f:
                    length = int.from_bytes(f.read(8), "little")
                    head = f.read(length)
                    size = os.fstat(f.fileno()).st_size
                    if head != self.head or size < self.offset:
                        self.header = json.loads(head)
                        self.head, self.offset, self.width = head, 8 + length, 8 * len(self.header["columns"])
                        self.rows = np.zeros((0, len(self.header["columns"])))
                    complete = self.offset + (size - self.offset) // self.width * self.width
                    if complete > self.offset:
                        f.seek(self.offset)
                        new = np.frombuffer(f.read(complete - self.offset), dtype="<f8")
                        self.rows = np.concatenate([self.rows, new.reshape(-1, self.width // 8)])
                        self.offset = complete
            except (OSError, ValueError, KeyError):  # gone (the run ended) or being replaced
                self.head, self.header, self.offset = b"", {}, 0
                self.rows = np.zeros((0, len(HEAD)))
            return self.header, self.rows


_TAILS: dict[tuple[str, VariantRef], _Tail] = {}
_TAILS_LOCK = threading.Lock()


def rows(store: Store, ref: VariantRef) -> tuple[dict, np.ndarray]:
    """(header, rows [n, columns]) of the variant's live file; ({}, empty) when it has none."""
    with _TAILS_LOCK:
        tail = _TAILS.setdefault((str(store.root), ref), _Tail())
    return tail.read(store.live_path(ref))


def is_live(store: Store, ref: VariantRef) -> bool:
    """Whether the variant is being trained (or watched) right now."""
    return store.is_locked(ref)


def history(store: Store, ref: VariantRef) -> History:
    """The run's history as far as it has been measured: the saved history, continued by the
    live rows while the run trains. Outside training it is `Store.cached_history`."""
    header, table = rows(store, ref) if store.live_path(ref).is_file() and is_live(store, ref) else ({}, None)
    try:
        saved = store.cached_history(ref)
    except MissingError:
        if table is None or not len(table):
            raise
        saved = History({})
    if table is None or not len(table):
        return saved
    key = (str(store.root), ref)
    return _MERGED.get(key, (store.history_stamp(ref), header.get("session"), len(table)),
                       lambda: _merge(saved, header, table))


_MERGED = StampedMemo(16)


def _merge(saved: History, header: dict, table: np.ndarray) -> History:
    columns, sparse = header["columns"], set(header.get("sparse", ()))
    epoch, tested = table[:, 0], table[:, 2] == 1
    first = epoch[0]
    series = {}
    for name in dict.fromkeys([*columns[len(HEAD):], *saved]):
        x, y = saved.xy(name) if name in saved else (np.zeros(0, np.int64), np.zeros(0))
        keep = x < first
        if name in columns:
            mine = tested if name in sparse else slice(None)
            lx, ly = epoch[mine].astype(np.int64), table[mine, columns.index(name)]
        else:
            lx, ly = np.zeros(0, np.int64), np.zeros(0)
        series[name] = (np.concatenate([x[keep], lx]), np.concatenate([y[keep], ly]))
    return History(series, saved.unit)


def new_points(history: History, name: str, after) -> tuple[list, list]:
    """(x, y) of series `name` past position `after` (everything when None), as plain lists
    with None for non-finite values (how a figure draws gaps)."""
    if name not in history:
        return [], []
    x, y = history.xy(name)
    start = 0 if after is None else int(np.searchsorted(x, after, side="right"))
    return ([v.item() for v in x[start:]],
            [float(v) if np.isfinite(v) else None for v in np.asarray(y[start:], np.float64)])


# -- state -------------------------------------------------------------------------------------

def stamp(store: Store, ref: VariantRef) -> str:
    """A token that changes whenever anything a page shows of the variant may have changed: its
    files (`Store.variant_stamp`), the live file's length, and who trains or analyzes it. A few
    `stat` calls: cheap enough to ask every second for every open page. (A short digest: file
    times in nanoseconds do not survive a trip through the browser's numbers.)"""
    return _token(_files(store, ref))


def _files(store: Store, ref: VariantRef) -> list:
    try:
        live = os.stat(store.live_path(ref))
        growing = [live.st_ino, live.st_size]
    except FileNotFoundError:
        growing = None
    try:
        return [*store.variant_stamp(ref), growing, store.is_locked(ref), store.is_locked(ref, "analysis")]
    except UserError:
        return []


def _token(value) -> str:
    return hashlib.blake2b(repr(value).encode(), digest_size=8).hexdigest()


def analysis_stamp(store: Store, ref: VariantRef) -> str:
    """A token that changes when a figure at one epoch may change: the checkpoints, the analysis,
    the probes or the variant's record - not the live rows, which only summaries show."""
    try:
        files = store.variant_stamp(ref)
        return _token([files[0], files[3], files[4], files[5], store.is_locked(ref)])
    except UserError:
        return ""


def data_stamp(store: Store, ref: VariantRef, reads: str | None) -> list[str]:
    """What a summary figure reading `reads` (the history, an analyzer's series; None: anything)
    depends on, as two tokens [what only makes the history longer, everything else]: a figure
    whose only change is in the first can be extended instead of drawn again. Phases (the
    `loss_dynamics` series) are shaded behind every summary."""
    try:
        phases = store.artifact_time(ref, "loss_dynamics")
        if reads == "history":
            files = _files(store, ref) or [None] * 9
            return [_token([store.history_stamp(ref), files[6:8], files[4]]), _token(phases)]
        if reads and not reads.startswith("derived."):
            return ["", _token([phases, store.artifact_time(ref, reads)])]
    except UserError:
        return ["", ""]
    return ["", stamp(store, ref)]


def state(store: Store, ref: VariantRef) -> dict:
    """The run as the sidebar tells it: {"status", "epoch" (the last measured), "epochs" (planned),
    "eta_seconds", "epochs_per_second", "checkpoints", "last_checkpoint", "analyzed" (checkpoints
    analyzed by the furthest per-epoch analyzer), "analyzing" (an analysis holds the variant), "watched" (a log
    being written)}."""
    info = store.info(ref)
    status, log = store.status(ref), store.is_log(ref)
    planned = (info.get("spec") or {}).get("training", {}).get("epochs")
    checkpoints = store.checkpoint_epochs(ref)
    out = {"status": status, "epochs": planned, "checkpoints": len(checkpoints),
           "last_checkpoint": checkpoints[-1] if checkpoints else None, "eta_seconds": None,
           "epochs_per_second": None, "epoch": checkpoints[-1] if checkpoints else None,
           "analyzing": store.is_locked(ref, "analysis"), "watched": log and is_live(store, ref)}
    if log:
        span = store.cached_history(ref).span()
        out.update(status="log", epoch=span[1] if span else None, epochs=None, x=info.get("log", {}).get("x"))
        return out
    header, table = rows(store, ref) if status == "training" else ({}, np.zeros((0, len(HEAD))))
    if len(table):
        out["epoch"] = int(table[-1, 0])
        recent = table[table[:, 1] >= table[-1, 1] - RATE_WINDOW_SECONDS]
        if len(recent) > 1 and recent[-1, 1] > recent[0, 1]:
            rate = (recent[-1, 0] - recent[0, 0]) / (recent[-1, 1] - recent[0, 1])
            out["epochs_per_second"] = float(rate)
            total = header.get("epochs") or planned
            if rate > 0 and total:
                out["eta_seconds"] = float((total - out["epoch"]) / rate)
    have = {str(e) for e in checkpoints}
    out["analyzed"] = max((len(set(stamps) & have) for stamps in store.read_manifest(ref).get("epoch", {}).values()),
                          default=0)
    return out


def describe(state: dict) -> str:
    """One line for the sidebar: 'training · epoch 1,234 / 2,500 · ETA 1 min 05 s · ...'."""
    status = state.get("status")
    if status == "log":
        where = f" · {state.get('x') or 'x'} {state['epoch']:,.0f}" if state.get("epoch") is not None else ""
        return ("● live log: being written" if state.get("watched") else "imported log") + where
    parts = [("● " if status == "training" else "") + (status or "")]
    if state.get("epoch") is not None:
        parts.append(f"epoch {state['epoch']:,}" + (f" / {state['epochs']:,}" if state.get("epochs") else ""))
    if status == "training" and state.get("eta_seconds") is not None:
        parts.append(f"ETA {eta_text(state['eta_seconds'])}")
    if status == "interrupted":
        parts.append("resumable: train it again")
    if state.get("checkpoints"):
        analyzed = f", {state['analyzed']:,} analyzed" if state.get("analyzed") is not None else ""
        parts.append(f"{state['checkpoints']:,} checkpoints{analyzed}")
    if state.get("analyzing"):
        parts.append("analysis running")
    return " · ".join(parts)


def eta_text(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"
