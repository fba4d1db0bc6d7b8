"""The analysis pipeline: checkpoints -> per-epoch artifacts -> stacked series -> series analyzers.

Resumable and incremental: every artifact is stamped in the manifest with its analyzer's version
and the checksum of the checkpoint it came from (and of the final checkpoint, for analyzers that
use it), so a rerun computes only what is missing or stale, and an interrupted run continues
where it stopped. Checkpoints are analyzed in worker processes (one per core,
`workbench.workerpool`) when there are enough of them to pay for the workers' start-up. A
stacked series grows by appending the rows of new checkpoints to it; it is rebuilt from every
per-epoch file only when an earlier row changed.
`workbench.following` makes the same passes over a run while it trains.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
from functools import lru_cache
from typing import Callable

import numpy as np

from workbench import analyzers as registry
from workbench import resources, threads
from workbench.analyzers.context import EpochContext, SeriesContext
from workbench.caching import StampedMemo, file_time
from workbench.families import FamilyError, analysis_settings, family_path, load_family
from workbench.errors import BadInputError, BusyError, DataError, MissingError, NotTrainedError
from workbench.store import Store, VariantRef
from workbench.workerpool import pooled, start_pool

# (analyzed so far, total, what was just done) -> True to stop (everything done so far is kept).
# Inside a long checkpoint (SGLD chains) it is also called with a fractional count and what is
# running, e.g. (3.45, 24, "epoch 300: LLC chain 2/4, draw 90/200"); a stop then takes effect
# when that checkpoint is done.
ProgressCallback = Callable[[float, int, str], "bool | None"]
# A worker process costs seconds to start (a fresh Python importing torch and the analyzers; measured
# 1.2 s of CPU alone, more on a busy machine); one p=113 checkpoint ~1 s to analyze.
WORKER_STARTUP_SECONDS, SECONDS_PER_P113_CHECKPOINT = 4.0, 1.0


def default_analyzers(ref: VariantRef) -> list[str]:
    try:
        listed = load_family(ref.family).analyzers
    except FamilyError:
        listed = []
    return listed or list(registry.BUILTINS)


def _stamp(analyzer, checkpoint_fp: str, final_fp: str, spec: dict) -> str:
    stamp = f"v{analyzer.version}:{checkpoint_fp}" + (f":{final_fp}" if analyzer.uses_final else "")
    if analyzer.settings:
        stamp += ":" + _digest([json.dumps(spec.get(analyzer.settings), sort_keys=True)])
    return stamp


def analysis_spec(ref: VariantRef, stored_spec: dict) -> dict:
    """The variant's spec with the analysis settings ([llc], ...) of its family file as it is now."""
    return {**stored_spec, **analysis_settings(ref.family)}


def analyze(ref: VariantRef, store: Store | None = None, *, analyzers: list[str] | None = None,
            epochs: list[int] | None = None, force: bool = False, progress: bool = True,
            workers: int | None = None, callback: ProgressCallback | None = None) -> dict:
    """Bring the variant's artifacts up to date; returns counts of what was computed. A variant
    being trained is refused (BusyError): `following.follow` analyzes it as it trains."""
    check_workers(workers)
    store = store or Store()
    info = store.info(ref)
    spec = analysis_spec(ref, info["spec"])
    selected = selected_analyzers(ref, analyzers)
    checkpoint_epochs = analyzable_epochs(store, ref)
    wanted = checkpoint_epochs if epochs is None else [e for e in checkpoint_epochs if e in set(epochs)]
    if epochs is not None and len(wanted) < len(set(epochs)):
        missing = sorted(set(epochs) - set(checkpoint_epochs))
        raise MissingError(f"variant {ref} has no checkpoints at epochs {missing[:10]}; "
                           f"it has {len(checkpoint_epochs)} from {checkpoint_epochs[0]} to {checkpoint_epochs[-1]}")
    with contextlib.ExitStack() as held:
        try:
            held.enter_context(store.lock(ref, "analyzing"))
        except BusyError as err:
            raise BusyError(f"{err}; `workbench analyze {ref} --follow` analyzes a run while it trains") from None
        held.enter_context(store.lock(ref, "analyzing", "analysis"))
        return update_pass(store, ref, spec, selected, checkpoint_epochs, wanted, force=force, progress=progress,
                           workers=workers, callback=callback)


def selected_analyzers(ref: VariantRef, analyzers: list[str] | None) -> list:
    """The analyzers to run (the family's or every built-in by default), with those they read."""
    return _with_inputs([registry.get(name) for name in (analyzers or default_analyzers(ref))])


def analyzable_epochs(store: Store, ref: VariantRef) -> list[int]:
    """The variant's checkpoint epochs; NotTrainedError when it has none."""
    epochs = store.checkpoint_epochs(ref)
    if not epochs:
        raise NotTrainedError(f"variant {ref} has no checkpoints to analyze; train it first "
                              f"(`workbench train {ref.family} ...`)", ref=ref)
    return epochs


def update_pass(store, ref, spec, selected, checkpoint_epochs, wanted, *, force=False, progress=False,
                workers=None, callback=None, live=False, memo=None, series=True) -> dict:
    """One pass over the checkpoints, with the locks held: per-epoch artifacts of `wanted`, their
    stacked series, then (when `series`) the series analyzers. `live`: the run is still
    training, so analyzers that read the final checkpoint wait, series are marked provisional
    and the variant's status is left alone. `memo` keeps fingerprints and stacked series between
    passes (`following.follow`)."""
    memo = memo if memo is not None else {}
    manifest = store.read_manifest(ref)
    manifest.setdefault("epoch", {})
    manifest.setdefault("series", {})
    fingerprints = _fingerprints(store, ref, checkpoint_epochs, memo)
    final_fp = fingerprints[checkpoint_epochs[-1]]
    per_epoch = [a for a in selected if a.kind == "epoch" and not (live and a.uses_final)]
    todo = {}
    for epoch in wanted:
        stale = [a.name for a in per_epoch
                 if force or manifest["epoch"].get(a.name, {}).get(str(epoch)) != _stamp(a, fingerprints[epoch], final_fp, spec)]
        if stale:
            todo[epoch] = stale
    done = _run_epochs(store, ref, spec, todo, manifest, fingerprints, final_fp,
                       checkpoint_epochs[-1], progress, 1 if live else workers, callback)
    stopped = done < len(todo)
    for analyzer in per_epoch:
        _stack_series(store, ref, analyzer, manifest, checkpoint_epochs, memo.setdefault("series", {}))
    series_done = 0
    if series and not stopped:
        for analyzer in (a for a in selected if a.kind == "series"):
            series_done += _run_series(store, ref, spec, analyzer, manifest, fingerprints, force, live)
    store.write_manifest(ref, manifest)
    complete = not stopped and not live and all(
        len(manifest["epoch"].get(a.name, {})) >= len(checkpoint_epochs) for a in per_epoch)
    if complete and store.info(ref).get("status") == "trained":
        store.update_info(ref, status="analyzed")
    return {"variant": ref, "epochs_analyzed": done, "epochs_pending": len(todo) - done,
            "series_analyzed": series_done, "analyzers": [a.name for a in selected]}


def _fingerprints(store: Store, ref: VariantRef, epochs: list[int], memo: dict) -> dict[int, str]:
    """Each checkpoint's checksum; kept in `memo` while its file is unchanged (a `stat` each)."""
    kept = memo.setdefault("fingerprints", {})
    out = {}
    for epoch in epochs:
        when = store.checkpoint_time(ref, epoch)
        if kept.get(epoch, (None,))[0] != when:
            kept[epoch] = (when, store.checkpoint_fingerprint(ref, epoch))
        out[epoch] = kept[epoch][1]
    return out


def _run_epochs(store, ref, spec, todo, manifest, fingerprints, final_fp, final_epoch,
                progress, workers, callback) -> int:
    if not todo:
        return 0
    names = sorted({n for stale in todo.values() for n in stale})
    chosen = _worker_count(workers, len(todo) * SECONDS_PER_P113_CHECKPOINT * (spec["domain"]["p"] / 113) ** 2, names)
    workers = _affordable_workers(spec, chosen, workers is None, ref)
    jobs = [(str(store.root), ref.family, ref.id, spec, epoch, todo[epoch], final_epoch) for epoch in sorted(todo)]
    bar = _bar(progress, len(jobs), f"analyze {ref}")
    done, stop = 0, False

    def report(epoch: int, fraction: float, note: str) -> None:
        nonlocal stop
        if bar:
            bar.set_postfix_str(f"epoch {epoch}: {note}", refresh=False)
        if callback and callback(done + fraction, len(jobs), f"epoch {epoch}: {note}"):
            stop = True

    pool = start_pool(workers, _modules(names)) if workers > 1 else None
    try:
        keyed = [(job[4], job) for job in jobs]  # progress notes name the epoch
        results = pooled(pool, _analyze_epoch, keyed, report) if pool else _in_process(jobs, report)
        for epoch, artifacts in results:
            for name, arrays in artifacts.items():
                stamp = _stamp(registry.get(name), fingerprints[epoch], final_fp, spec)
                store.save_artifact(ref, name, epoch, arrays, {"stamp": stamp})
                manifest["epoch"].setdefault(name, {})[str(epoch)] = stamp
            store.write_manifest(ref, manifest)
            done += 1
            if bar:
                bar.update(1)
            if (callback and callback(done, len(jobs), f"epoch {epoch}")) or stop:
                break
    finally:
        if pool:
            pool[0].shutdown(wait=True, cancel_futures=True)
        if bar:
            bar.close()
    return done


def _in_process(jobs, report):
    from workbench.model import ANALYSIS_DTYPE  # (torch: only where analysis runs)
    governor = threads.Governor(dtype=ANALYSIS_DTYPE)  # torch's threads: the free cores, re-measured as it goes
    for job in jobs:
        governor.tick()
        yield _analyze_epoch(job, lambda f, n, e=job[4]: report(e, f, n))


def _analyze_epoch(job, progress) -> tuple[int, dict[str, dict[str, np.ndarray]]]:
    """(epoch, {analyzer: arrays}) of one checkpoint: in this process or a worker's."""
    root, family, vid, spec, epoch, names, final_epoch = job
    store, ref = Store(root), VariantRef(family, vid)
    final = _final_weights(root, family, vid, final_epoch) if epoch != final_epoch else None  # None: these
    ctx = EpochContext(spec, epoch, store.load_weights(ref, epoch), final, progress=progress)
    out = {}
    for name in names:
        arrays = registry.get(name).compute(ctx)
        if not isinstance(arrays, dict) or not all(isinstance(v, (np.ndarray, np.generic)) for v in arrays.values()):
            raise BadInputError(f"analyzer {name!r} must return a dict of NumPy arrays")
        out[name] = {k: np.asarray(v) for k, v in arrays.items()}
    return epoch, out


@lru_cache(maxsize=2)
def _final_weights(root: str, family: str, vid: str, epoch: int) -> dict[str, np.ndarray]:
    return Store(root).load_weights(VariantRef(family, vid), epoch)


def _stack_series(store, ref, analyzer, manifest, checkpoint_epochs, kept: dict) -> None:
    """Stack an analyzer's per-epoch artifacts into its series file, if anything changed. When the
    stored series holds the first of these epochs, unchanged, only the new epochs' rows are read
    and appended to it (`kept` holds series between passes, so a followed run reads none again)."""
    stamps = manifest["epoch"].get(analyzer.name, {})
    epochs = [e for e in checkpoint_epochs if str(e) in stamps]
    if not epochs:
        return
    parts = [f"{e}={stamps[str(e)]}" for e in epochs]
    digest = _digest(parts)
    stored = manifest["series"].get(analyzer.name)
    if stored == digest:
        return
    previous = kept.get(analyzer.name)
    if previous is None or previous[0] != stored:
        try:
            previous = (stored, store.load_artifact(ref, analyzer.name)) if stored else None
        except (MissingError, DataError):
            previous = None
    start = 0
    if previous is not None:
        old = previous[1]["epochs"].tolist()
        if old == epochs[: len(old)] and _digest(parts[: len(old)]) == stored:
            start = len(old)
    per_epoch = [store.load_artifact(ref, analyzer.name, e) for e in epochs[start:]]
    first = {k: v for k, v in previous[1].items() if k != "epochs"} if start else per_epoch[0]
    shapes = {k: v.shape[1:] if start else v.shape for k, v in first.items()}
    for e, arrays in zip(epochs[start:], per_epoch):
        if {k: v.shape for k, v in arrays.items()} != shapes:
            raise BadInputError(f"analyzer {analyzer.name!r} returned different keys or shapes at epoch {e} "
                                f"than at epoch {epochs[0]}; per-epoch artifacts must have fixed shapes")
    new = {k: np.stack([a[k] for a in per_epoch]) for k in shapes}
    stacked = {k: np.concatenate([previous[1][k], new[k]]) if start else new[k] for k in shapes}
    stacked["epochs"] = np.asarray(epochs, np.int64)
    store.save_artifact(ref, analyzer.name, None, stacked, {"stamp": digest})
    manifest["series"][analyzer.name] = digest
    kept[analyzer.name] = (digest, stacked)


def _with_inputs(selected: list) -> list:
    """The selection plus the per-epoch analyzers that selected series analyzers read."""
    names = [a.name for a in selected]
    extra = [n for a in selected for n in a.inputs if n not in names]
    return [registry.get(n) for n in dict.fromkeys(extra)] + selected


def _series_digest(analyzer, fingerprints: dict, manifest: dict) -> str:
    """What a series analyzer's result depends on: its version, every checkpoint, and the
    stacked series it reads."""
    inputs = [f"{name}={manifest.get('series', {}).get(name)}" for name in analyzer.inputs]
    return _digest([f"v{analyzer.version}"] + [f"{e}={fp}" for e, fp in sorted(fingerprints.items())] + inputs)


def _run_series(store, ref, spec, analyzer, manifest, fingerprints, force, live=False) -> int:
    # A series computed while the run trains is provisional: the pass after the run ends redoes it.
    digest = _series_digest(analyzer, fingerprints, manifest) + ("+live" if live else "")
    if not force and manifest["series"].get(analyzer.name) == digest:
        return 0
    ctx = SeriesContext(store, ref, spec, sorted(fingerprints))
    store.save_artifact(ref, analyzer.name, None, analyzer.compute(ctx), {"stamp": digest})
    manifest["series"][analyzer.name] = digest
    return 1


def status(ref: VariantRef, store: Store | None = None, analyzers: list[str] | None = None) -> dict[str, dict]:
    """Per analyzer: how many checkpoints are analyzed, missing or stale (for the CLI and app).
    Kept in memory until the variant's files, its family file or the registered analyzers change:
    the answer reads every checkpoint's header, and the Analyze page asks every few seconds."""
    store = store or Store()
    try:
        family_time = file_time(family_path(ref.family))
    except FamilyError:
        family_time = None
    stamp = (store.variant_stamp(ref), family_time, tuple((a.name, a.version) for a in registry.all_analyzers()))
    return _STATUS.get((str(store.root), ref, tuple(analyzers or ())), stamp,
                       lambda: _status(ref, store, analyzers))


_STATUS = StampedMemo(256)


def _status(ref: VariantRef, store: Store, analyzers: list[str] | None) -> dict[str, dict]:
    manifest = store.read_manifest(ref)
    epochs = store.checkpoint_epochs(ref)
    fingerprints = {e: store.checkpoint_fingerprint(ref, e) for e in epochs}
    final_fp = fingerprints[epochs[-1]] if epochs else ""
    spec = analysis_spec(ref, store.info(ref).get("spec", {}))
    report = {}
    for analyzer in (registry.get(n) for n in (analyzers or default_analyzers(ref))):
        if analyzer.kind == "series":
            fresh = manifest.get("series", {}).get(analyzer.name) == _series_digest(analyzer, fingerprints, manifest)
            report[analyzer.name] = {"kind": "series", "done": int(fresh), "missing": int(not fresh), "stale": 0}
            continue
        stamps = manifest.get("epoch", {}).get(analyzer.name, {})
        ok = sum(stamps.get(str(e)) == _stamp(analyzer, fingerprints[e], final_fp, spec) for e in epochs)
        present = sum(str(e) in stamps for e in epochs)
        report[analyzer.name] = {"kind": "epoch", "done": ok, "missing": len(epochs) - present, "stale": present - ok}
    return report


def _digest(parts: list[str]) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _affordable_workers(spec: dict, workers: int, automatic: bool, ref: VariantRef) -> int:
    """`workers`, or fewer when they were chosen automatically and that many do not fit in memory;
    ResourceError when the asked number (or one) does not fit (`workbench.resources.analysis`)."""
    limit = resources.budget()[0]
    while automatic and workers > 1 and resources.analysis(spec, workers).total > limit:
        workers -= 1
    fix = (f"Analyze with fewer worker processes (--workers {max(1, workers // 2)})" if workers > 1 else
           "The p x p grid of this variant is too large to analyze on this machine: analyze it on a larger one")
    resources.check(resources.analysis(spec, workers, f"analyzing {ref}"), fix)
    return workers


def check_workers(requested: int | None) -> None:
    if requested is not None and (isinstance(requested, bool) or not isinstance(requested, int) or requested < 1):
        raise BadInputError(f"--workers {requested}: give a positive number of worker processes, or leave it out "
                            f"(one per core when that pays off; this machine has {os.cpu_count() or 1})")


def _worker_count(requested: int | None, serial_seconds: float, names: list[str]) -> int:
    check_workers(requested)
    if requested is not None:
        return requested
    if any(registry.get(n).compute.__module__ == "__main__" for n in names):
        return 1  # analyzers defined in a script or notebook cannot be imported by a worker
    cores = threads.available()  # the cores nobody else is using (workbench.threads)
    return cores if serial_seconds / cores + WORKER_STARTUP_SECONDS < serial_seconds else 1


def _modules(names: list[str]) -> tuple[str, ...]:
    return tuple(sorted({registry.get(n).compute.__module__ for n in names}))


def _bar(enabled: bool, total: int, desc: str):
    if not enabled:
        return None
    from tqdm.auto import tqdm  # heavy for what it does: only when a bar is shown
    return tqdm(total=total, desc=desc, unit="checkpoint", dynamic_ncols=True)
