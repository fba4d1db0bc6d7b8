"""Import a training log from any project as a log-only run: its curves, phases, oscillations
and alerts then show on the Loss dynamics page and compare with other runs.

Formats (by extension, `logrules.FORMATS`): CSV/TSV and JSONL, read as a stream
(`workbench.logstream`); JSON and PyTorch `.pt`/`.pth`, read whole (`workbench.logdocuments`).
Which column is x and which are metrics: `workbench.logrules`. Each metric keeps its own x, and
`nan`/`inf` values are kept: they are alerts. Malformed input is refused with the line (or key)
and what is wrong; so are files over `MAX_FILE_BYTES` and logs over `MAX_POINTS` points.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

from workbench.analyzers.dynamics import NAME, run_dynamics, stored_alerts, stored_phases
from workbench.errors import ConflictError
from workbench.gates import evaluate_all
from workbench.logdocuments import from_columns, load_document
from workbench.logrules import FORMATS, MAX_FILE_BYTES, X_NAMES, LogImportError, flat_record
from workbench.logstream import Columns, csv_records, jsonl_records
from workbench.phases import describe_roles
from workbench.store import VariantRef, check_name, timestamp


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
    columns = Columns(path, wanted)
    try:
        if kind == "csv":
            csv_records(path, columns)
        elif kind == "jsonl":
            jsonl_records(path, columns)
        else:
            data = load_document(path, kind)
            if isinstance(data, dict):
                return from_columns(data, step, metrics, notes, path)
            if not isinstance(data, list):
                raise LogImportError(f"{path} holds a {type(data).__name__}; expected a list of records or a dict "
                                     "of lists")
            for i, record in enumerate(data):
                columns.add(i, flat_record(record, f"record {i}", path), "record")
    except UnicodeDecodeError as err:
        raise LogImportError(f"{path} is not UTF-8 text ({err.reason} at byte {err.start})") from None
    except RecursionError:
        raise LogImportError(f"{path} is nested deeper than it can be read (objects inside objects, "
                             f"{sys.getrecursionlimit():,}+ levels); flatten it") from None
    return columns.series(step, metrics, notes)


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
