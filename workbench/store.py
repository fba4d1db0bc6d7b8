"""The variant store: the one module that knows the on-disk layout.

    <data root>/                            # WORKBENCH_DATA, default ./workbench-data
      <family>/<variant>/
        variant.json                        # family, id, resolved spec, status, provenance
        probes.json                         # named probes: {name: {"rule": ...} | {"inputs": [[a, b], ...]}}
        history.safetensors                 # telemetry: values per metric, x/<metric> where not every epoch
        live.bin                            # while training: every epoch's row since the run (re)started
        log.safetensors                     # an imported training log: x and y of each metric
        checkpoints/epoch_00012500.safetensors   # weights (TransformerLens names and shapes)
        optimizer/epoch_00012500.safetensors     # AdamW state at the same epoch, for resuming
        artifacts/...                       # written by the analysis pipeline
        .lock                               # held by the process training or importing this variant
        .analysis.lock                      # held by the process analyzing it (may follow a training run)
      .jobs/<job id>.json                   # train/extend/analyze jobs started from the app or queued
      .jobs/<job id>.lock | .cancel         # held while the job runs | asks it to stop
      .reports/<name>.json                  # a report page built in the app (see workbench.reports)
      .cache/<name>/                        # disk caches (`Store.disk_cache`); always safe to delete

Every write goes to a temporary file that is renamed into place, so a crash never leaves a
file that looks complete but is not. Every safetensors file carries a CRC-32 of its arrays,
so a damaged file is reported with its path instead of being used. The store reads and
writes NumPy arrays and never imports torch, so the UI can use it without loading torch.

The store also owns the caches: `disk_cache` (size-capped, under `.cache/`, for what is expensive
to recompute) and `StampedMemo` (in memory, valid while the files a value came from are unchanged;
`cached_series` and `cached_history` are the store's own, `variant_stamp` dates a whole variant;
see `workbench.caching`).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shlex
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from workbench import config
from workbench.caching import StampedMemo, file_time, open_disk_cache
from workbench.errors import (BadInputError, DataError, MissingError, NoHistoryError, NoModelError, NotAnalyzedError,
                              NotTrainedError)
from workbench.files import (  # noqa: F401 (check_name: imported from here elsewhere)
    atomic_write, check_name, checksum_of, hold, inside, is_held, read_arrays, read_json, write_arrays, write_json)
from workbench.history import History

STATUSES = ("untrained", "training", "interrupted", "trained", "analyzed", "log")
TRAINED = ("trained", "analyzed")  # finished training: more training means extending it


@dataclass(frozen=True)
class VariantRef:
    """Where a variant lives: (family, id). Cheap to make, safe to pass around."""
    family: str
    id: str

    def __str__(self) -> str:
        return f"{self.family}/{self.id}"

    @classmethod
    def parse(cls, text: str) -> "VariantRef":
        """`"family/id"` -> VariantRef; anything else is a BadInputError."""
        if not isinstance(text, str) or "/" not in text:
            raise BadInputError(f"a variant is written family/id, got {text!r}")
        return cls(*text.split("/", 1))


@dataclass(frozen=True)
class VariantListing:
    ref: VariantRef
    status: str
    checkpoints: int
    last_epoch: int | None
    epochs: int | None


class Store:
    def __init__(self, root: str | os.PathLike | None = None):
        self.root = config.data_root(root)

    # -- layout -----------------------------------------------------------------------------
    def variant_dir(self, ref: VariantRef) -> Path:
        return inside(self.root, self.root / check_name("family", ref.family) / check_name("variant", ref.id))

    def _checkpoint_path(self, ref: VariantRef, epoch: int, kind: str = "checkpoints") -> Path:
        return self.variant_dir(ref) / kind / f"epoch_{epoch:08d}.safetensors"

    @property
    def cache_dir(self) -> Path:
        return self.root / ".cache"

    # -- caches -------------------------------------------------------------------------------
    def disk_cache(self, name: str, size_limit: int = 1024**3):
        """The disk cache `.cache/<name>` (least recently used entries go past `size_limit`), one
        object per directory and process. Keys must name everything the value depends on."""
        return open_disk_cache(self.cache_dir / name, size_limit)

    def variant_stamp(self, ref: VariantRef) -> tuple:
        """Changes whenever anything of the variant is written: its record, history or log,
        checkpoints (the directory's time), probes or analysis (the manifest is rewritten last)."""
        directory = self.variant_dir(ref)
        return tuple(file_time(directory / name) for name in ("variant.json", "history.safetensors", "log.safetensors",
                                                             "probes.json", "checkpoints", "artifacts/manifest.json"))

    def cached_series(self, ref: VariantRef, analyzer: str) -> dict[str, np.ndarray]:
        """`load_artifact(ref, analyzer)` kept in memory until the series file changes (read-only)."""
        return _SERIES.get((str(self.root), ref, analyzer), file_time(self._artifact_path(ref, analyzer, None)),
                           lambda: self.load_artifact(ref, analyzer))

    def cached_history(self, ref: VariantRef) -> History:
        """`load_history(ref)` kept in memory until the history changes (read-only)."""
        return _HISTORY.get((str(self.root), ref), self.history_stamp(ref),
                            lambda: self.load_history(ref))

    # -- variant records --------------------------------------------------------------------
    def exists(self, ref: VariantRef) -> bool:
        return (self.variant_dir(ref) / "variant.json").is_file()

    def info(self, ref: VariantRef) -> dict:
        path = self.variant_dir(ref) / "variant.json"
        if not path.is_file():
            raise MissingError(f"no variant {ref} in {self.root}; `workbench list` shows what there is, "
                               f"`workbench train {ref.family} ...` creates it")
        return read_json(path)

    def write_info(self, ref: VariantRef, info: dict) -> None:
        write_json(self.variant_dir(ref) / "variant.json", info)

    def update_info(self, ref: VariantRef, **changes) -> dict:
        info = {**self.info(ref), **changes, "updated": timestamp()}
        self.write_info(ref, info)
        return info

    # -- locking ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, ref: VariantRef, purpose: str, part: str = "variant") -> Iterator[None]:
        """Hold a write lock of the variant; a second writer gets BusyError naming the holder.
        `part` "variant" (training, importing: everything but the artifacts) or "analysis" (the
        artifacts: analysis that follows a training run holds only this one)."""
        directory = self.variant_dir(ref)
        name = ".lock" if part == "variant" else ".analysis.lock"
        with hold(directory / name, f"{purpose} by process {os.getpid()} since {timestamp()}",
                  f"variant {ref} is busy: {{holder}}. Wait for that job to finish or stop it, then run this again"):
            # Temporary files of this part can only be left by a writer that was killed mid-write.
            for leftover in directory.rglob(".*.tmp"):
                if (leftover.relative_to(directory).parts[0] == "artifacts") == (part == "analysis"):
                    leftover.unlink(missing_ok=True)
            if part == "variant":  # the live rows of a run that was killed (a run that ends removes its own)
                self.live_path(ref).unlink(missing_ok=True)
            yield

    @contextlib.contextmanager
    def creating(self, ref: VariantRef, purpose: str, keep_checkpointed: bool = True) -> Iterator[bool]:
        """`lock(ref, purpose)` for a command that may create the variant; yields whether it
        existed. When the command fails and it did not exist, what it wrote is removed (with
        `keep_checkpointed`, only while it has no checkpoint: a started run stays resumable), so a
        refused or failed command leaves no `untrained` or `interrupted` husk behind."""
        existed = self.exists(ref)
        with self.lock(ref, purpose):
            try:
                yield existed
            except BaseException:
                if not existed and not (keep_checkpointed and self.checkpoint_epochs(ref)):
                    shutil.rmtree(self.variant_dir(ref), ignore_errors=True)
                raise

    def is_locked(self, ref: VariantRef, part: str = "variant") -> bool:
        return is_held(self.variant_dir(ref) / (".lock" if part == "variant" else ".analysis.lock"))

    # -- checkpoints and history ------------------------------------------------------------
    def save_checkpoint(self, ref: VariantRef, epoch: int, weights: dict[str, np.ndarray],
                        optimizer: dict[str, np.ndarray] | None = None) -> None:
        """Optimizer state is written first: a checkpoint whose weights exist is resumable."""
        if optimizer is not None:
            write_arrays(self._checkpoint_path(ref, epoch, "optimizer"), optimizer, {"epoch": str(epoch)})
        write_arrays(self._checkpoint_path(ref, epoch), weights, {"epoch": str(epoch)})

    def checkpoint_epochs(self, ref: VariantRef) -> list[int]:
        directory = self.variant_dir(ref) / "checkpoints"
        if not directory.is_dir():
            return []
        return sorted(int(p.stem.split("_")[1]) for p in directory.glob("epoch_*.safetensors"))

    def load_weights(self, ref: VariantRef, epoch: int) -> dict[str, np.ndarray]:
        path = self._checkpoint_path(ref, epoch)
        if not path.is_file():
            epochs = self.checkpoint_epochs(ref)
            error = MissingError(f"variant {ref} has no checkpoint at epoch {epoch}; it has {_describe_epochs(epochs)}")
            raise error if epochs else NotTrainedError(str(error), ref=ref)
        return read_arrays(path, lambda: self._recreate_checkpoint(ref, epoch))[0]

    def _recreate_checkpoint(self, ref: VariantRef, epoch: int) -> str:
        """How to recreate a damaged checkpoint: replay training to it, or import the file again."""
        if self._source(ref) == "trained":
            return (f"delete it, then `workbench extend {ref} --window {epoch}-{epoch} --every 1` replays training "
                    "to recreate it")
        return f"delete the variant's folder {self.variant_dir(ref)} and import its file again (`workbench import`)"

    def _source(self, ref: VariantRef) -> str | None:
        with contextlib.suppress(DataError, MissingError):
            return (self.info(ref).get("source") or {}).get("kind")
        return None

    def load_optimizer(self, ref: VariantRef, epoch: int) -> dict[str, np.ndarray] | None:
        path = self._checkpoint_path(ref, epoch, "optimizer")
        return read_arrays(path, "delete it: training then resumes (or replays) from an earlier checkpoint's "
                                 "state")[0] if path.is_file() else None

    def prune_optimizer(self, ref: VariantRef, keep: int) -> None:
        """Delete optimizer states other than the one at epoch `keep` (keep_optimizer = 'last')."""
        for path in (self.variant_dir(ref) / "optimizer").glob("epoch_*.safetensors"):
            if int(path.stem.split("_")[1]) != keep:
                path.unlink(missing_ok=True)

    def drop_checkpoints_after(self, ref: VariantRef, epoch: int) -> None:
        """Delete checkpoints later than `epoch` (a resumed run writes them again)."""
        for kind in ("checkpoints", "optimizer"):
            for path in (self.variant_dir(ref) / kind).glob("epoch_*.safetensors"):
                if int(path.stem.split("_")[1]) > epoch:
                    path.unlink()

    def save_history(self, ref: VariantRef, history: History | dict[str, np.ndarray]) -> None:
        """A History (each series with its own x), or {name: values at epochs 0, 1, 2, ...}."""
        arrays = history.to_arrays() if isinstance(history, History) else history
        write_arrays(self.variant_dir(ref) / "history.safetensors", arrays)

    def load_history(self, ref: VariantRef) -> History:
        """The run's recorded series (`workbench.history`): a trained or imported variant's
        history, or an imported log's curves (x in the log's own unit)."""
        if self.is_log(ref):
            unit = self.info(ref).get("log", {}).get("x") or "step"
            return History(self.load_log(ref), unit=unit)
        path = self.variant_dir(ref) / "history.safetensors"
        if not path.is_file():
            if (self.info(ref).get("source") or {}).get("kind") == "imported":
                raise NoHistoryError(f"variant {ref} has no training history: its file held none (an imported "
                                     "checkpoint), so there are no loss curves, phases or alerts")
            raise NotTrainedError(f"variant {ref} has no training history yet; "
                                  f"run `workbench train {ref.family} ...` first", ref=ref)
        return History.from_arrays(read_arrays(path, lambda: self._recreate_history(ref))[0])

    def _recreate_history(self, ref: VariantRef) -> str:
        """How to recreate a damaged history: train the variant again (deterministic), or import it again."""
        if self._source(ref) != "trained":
            return f"delete the variant's folder {self.variant_dir(ref)} and import its file again (`workbench import`)"
        overrides = sorted((self.info(ref).get("overrides") or {}).items())
        sets = " ".join(shlex.quote(f"{key}={json.dumps(value)}") for key, value in overrides)
        return (f"training is deterministic, so deleting the variant's folder {self.variant_dir(ref)} and running "
                f"`workbench train {ref.family}{' --set ' + sets if sets else ''}` recreates it exactly")

    def live_path(self, ref: VariantRef) -> Path:
        """Where a training run appends every epoch's metrics while it runs (`workbench.live`)."""
        return self.variant_dir(ref) / "live.bin"

    def history_stamp(self, ref: VariantRef) -> int | None:
        """When the run's history last changed (file mtime in ns; None without one): a cache key."""
        for name in ("history.safetensors", "log.safetensors"):
            stamp = file_time(self.variant_dir(ref) / name)
            if stamp is not None:
                return stamp
        return None

    # -- imported training logs ---------------------------------------------------------------
    def save_log(self, ref: VariantRef, series: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
        """A log-only run's curves: each metric with its own x (step or epoch) positions."""
        arrays = {}
        for name, (x, y) in series.items():
            arrays[f"x/{name}"], arrays[f"y/{name}"] = np.asarray(x, np.float64), np.asarray(y, np.float64)
        write_arrays(self.variant_dir(ref) / "log.safetensors", arrays)

    def is_log(self, ref: VariantRef) -> bool:
        return (self.variant_dir(ref) / "log.safetensors").is_file()

    def load_log(self, ref: VariantRef) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """{metric: (x, y)} of an imported log."""
        path = self.variant_dir(ref) / "log.safetensors"
        if not path.is_file():
            raise MissingError(f"{ref} is not an imported training log; `workbench import-log FILE` makes one")
        arrays = read_arrays(path, lambda: "import the log again: `workbench import-log "
                             f"{shlex.quote(str(self.info(ref).get('log', {}).get('source', 'FILE')))} --family "
                             f"{ref.family} --id {ref.id} --replace`")[0]
        return {key[2:]: (arrays[key], arrays["y/" + key[2:]]) for key in sorted(arrays) if key.startswith("x/")}

    def checkpoint_time(self, ref: VariantRef, epoch: int) -> int | None:
        """When a checkpoint was written (ns; None when it was not): a cache stamp."""
        return file_time(self._checkpoint_path(ref, epoch))

    def checkpoint_fingerprint(self, ref: VariantRef, epoch: int) -> str:
        """The checksum recorded in a checkpoint's header (read without loading the weights)."""
        return checksum_of(self._checkpoint_path(ref, epoch), lambda: self._recreate_checkpoint(ref, epoch))

    # -- artifacts --------------------------------------------------------------------------
    def _artifact_path(self, ref: VariantRef, analyzer: str, epoch: int | None) -> Path:
        name = "series" if epoch is None else f"epoch_{epoch:08d}"
        return self.variant_dir(ref) / "artifacts" / check_name("analyzer", analyzer) / f"{name}.safetensors"

    def save_artifact(self, ref: VariantRef, analyzer: str, epoch: int | None, arrays: dict[str, np.ndarray],
                      metadata: dict[str, str] | None = None) -> None:
        """Arrays an analyzer computed for one epoch, or for the whole run (epoch=None: the series)."""
        write_arrays(self._artifact_path(ref, analyzer, epoch), arrays, metadata)

    def load_artifact(self, ref: VariantRef, analyzer: str, epoch: int | None = None) -> dict[str, np.ndarray]:
        path = self._artifact_path(ref, analyzer, epoch)
        if not path.is_file() and self.is_log(ref) and analyzer != "loss_dynamics":
            raise NoModelError(f"{ref} is an imported training log: it has no model, so no {analyzer} analysis "
                              "(its curves are on the Overview and Loss dynamics pages)")
        if not path.is_file():
            at = "for the run" if epoch is None else f"at epoch {epoch}"
            raise NotAnalyzedError(f"variant {ref} has no {analyzer} artifact {at}; run `workbench analyze "
                                   f"{ref.family}/{ref.id} --analyzers {analyzer}`", ref=ref, analyzer=analyzer)
        return read_arrays(path, f"delete it and run `workbench analyze {ref.family}/{ref.id} --force`")[0]

    def artifact_time(self, ref: VariantRef, analyzer: str, epoch: int | None = None) -> int | None:
        """When an artifact was last written (ns; None when it was not): a cache stamp."""
        return file_time(self._artifact_path(ref, analyzer, epoch))

    def artifact_epochs(self, ref: VariantRef, analyzer: str) -> list[int]:
        directory = self.variant_dir(ref) / "artifacts" / check_name("analyzer", analyzer)
        return sorted(int(p.stem.split("_")[1]) for p in directory.glob("epoch_*.safetensors"))

    def read_manifest(self, ref: VariantRef) -> dict:
        path = self.variant_dir(ref) / "artifacts" / "manifest.json"
        return read_json(path) if path.is_file() else {}

    def write_manifest(self, ref: VariantRef, manifest: dict) -> None:
        write_json(self.variant_dir(ref) / "artifacts" / "manifest.json", manifest)

    def delete_artifact(self, ref: VariantRef, analyzer: str, epoch: int | None) -> None:
        self._artifact_path(ref, analyzer, epoch).unlink(missing_ok=True)

    # -- jobs (see workbench.jobs) -----------------------------------------------------------
    @property
    def jobs_dir(self) -> Path:
        return self.root / ".jobs"

    def _job_path(self, job_id: str, suffix: str = ".json") -> Path:
        return self.jobs_dir / f"{check_name('job', job_id)}{suffix}"

    def save_job(self, job: dict) -> None:
        write_json(self._job_path(job["id"]), job)

    def load_job(self, job_id: str) -> dict:
        path = self._job_path(job_id)
        if not path.is_file():
            raise MissingError(f"no job {job_id!r} in {self.jobs_dir}; `workbench jobs` lists them")
        return read_json(path)

    def job_ids(self) -> list[str]:
        """Every job, oldest first (ids start with their creation time)."""
        return sorted(p.stem for p in self.jobs_dir.glob("*.json")) if self.jobs_dir.is_dir() else []

    @contextlib.contextmanager
    def job_lock(self, job_id: str, wait: bool = False) -> Iterator[None]:
        """Held by the process running a job: a running job whose lock is free has lost its process."""
        with hold(self._job_path(job_id, ".lock"), f"process {os.getpid()} on {socket.gethostname()}",
                   f"job {job_id} is being run by {{holder}}", wait=wait):
            yield

    def job_is_held(self, job_id: str) -> bool:
        return is_held(self._job_path(job_id, ".lock"))

    def request_cancel(self, job_id: str) -> None:
        """Ask a job to stop: its process sees the request at its next epoch or checkpoint."""
        atomic_write(self._job_path(job_id, ".cancel"), lambda f: f.write(timestamp().encode()))

    def cancel_requested(self, job_id: str) -> bool:
        return self._job_path(job_id, ".cancel").exists()

    # -- probes -----------------------------------------------------------------------------
    def probes(self, ref: VariantRef) -> dict[str, dict]:
        """The variant's named probes (definitions as `workbench.probes.definition` makes them)."""
        path = self.variant_dir(ref) / "probes.json"
        return read_json(path) if path.is_file() else {}

    def save_probe(self, ref: VariantRef, name: str, definition: dict) -> None:
        """Add or replace probe `name` (validate the definition with `workbench.probes` first)."""
        self.info(ref)  # the variant must exist
        probes = {**self.probes(ref), check_name("probe", name): definition}
        write_json(self.variant_dir(ref) / "probes.json", probes)

    def delete_probe(self, ref: VariantRef, name: str) -> None:
        probes = self.probes(ref)
        if name not in probes:
            raise MissingError(f"variant {ref} has no probe {name!r}; it has: {', '.join(sorted(probes)) or 'none'}")
        del probes[name]
        write_json(self.variant_dir(ref) / "probes.json", probes)

    # -- reports (pages the user builds, see workbench.reports) -------------------------------
    def _report_path(self, name: str) -> Path:
        return self.root / ".reports" / f"{check_name('report', name)}.json"

    def save_report(self, name: str, report: dict) -> None:
        write_json(self._report_path(name), report)

    def load_report(self, name: str) -> dict:
        path = self._report_path(name)
        if not path.is_file():
            raise MissingError(f"no report {name!r} in {self.root}; saved reports: "
                               f"{', '.join(self.report_names()) or 'none'}")
        return read_json(path)

    def report_names(self) -> list[str]:
        directory = self.root / ".reports"
        return sorted(p.stem for p in directory.glob("*.json")) if directory.is_dir() else []

    # -- listing ----------------------------------------------------------------------------
    def families(self) -> list[str]:
        return _safe_children(self.root, self.root)

    def variants(self, family: str | None = None) -> list[VariantRef]:
        refs = []
        for fam in [check_name("family", family)] if family else self.families():
            refs += [VariantRef(fam, name) for name in _safe_children(self.root, self.root / fam)
                     if (self.root / fam / name / "variant.json").is_file()]
        return refs

    def resolve(self, names: list[str]) -> list[VariantRef]:
        """`family/variant`, a bare variant id (if one family has it), or a family (all its variants)."""
        refs = []
        for name in names:
            if "/" in name:
                refs.append(VariantRef(*name.split("/", 1)))
                self.info(refs[-1])
                continue
            family_refs = self.variants(name) if name in self.families() else []
            matches = family_refs or [r for r in self.variants() if r.id == name]
            if not matches:
                raise MissingError(f"no variant or family {name!r} in {self.root}; `workbench list` shows what there is")
            if not family_refs and len(matches) > 1:
                raise BadInputError(f"{name!r} is a variant of several families; write it as "
                                   + " or ".join(str(m) for m in matches))
            refs += matches
        return refs

    def status(self, ref: VariantRef) -> str:
        if self.is_locked(ref):
            return "training"
        recorded = self.info(ref).get("status", "untrained")
        if recorded == "training":  # the process that wrote this is gone
            return "interrupted" if self.checkpoint_epochs(ref) else "untrained"
        return recorded

    def is_trained(self, ref: VariantRef) -> bool:
        """Whether the variant exists and finished training (it can only be extended now)."""
        return self.exists(ref) and self.status(ref) in TRAINED

    def listing(self, family: str | None = None) -> list[VariantListing]:
        rows = []
        for ref in self.variants(family):
            epochs = self.checkpoint_epochs(ref)
            try:
                planned = self.info(ref).get("spec", {}).get("training", {}).get("epochs")
                status = self.status(ref)
            except DataError:
                planned, status = None, "corrupt"
            rows.append(VariantListing(ref, status, len(epochs), epochs[-1] if epochs else None, planned))
        return rows


_SERIES, _HISTORY = StampedMemo(64), StampedMemo(16)


def _safe_children(root: Path, directory: Path) -> list[str]:
    """Sub-directories whose names are valid and which stay inside the root (others are not listed)."""
    if not inside(root, directory).is_dir():
        return []
    names = []
    for child in sorted(directory.iterdir()):
        with contextlib.suppress(BadInputError):
            if child.is_dir() and check_name("folder", child.name) and inside(root, child):
                names.append(child.name)
    return names


def _describe_epochs(epochs: list[int]) -> str:
    if not epochs:
        return "no checkpoints (train it first)"
    return f"{len(epochs)} checkpoints from epoch {epochs[0]} to {epochs[-1]}"


def timestamp() -> str:
    """Local time with offset, to the second: how records and locks say when."""
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")
