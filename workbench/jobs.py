"""Jobs: training, extending and analyzing variants in the background, with progress and cancel.

A job is a small JSON record in the store (`Store.save_job`), so its state and history survive
the app restarting and every browser tab, the CLI and every worker machine see the same thing:

    queued -> running -> done | failed | cancelled

Whoever runs a job (its own process started by the app on this machine, a Celery worker on another, or
`python -m workbench.jobs run ID`) calls `execute`, which holds the job's lock while it runs.
So a job marked running whose lock is free has lost its process (killed, machine rebooted):
`listing` reports it failed, with that reason. Cancel is a request file the running job checks
at every epoch or checkpoint; it stops cleanly between two atomic writes, so the variant stays
resumable, and Resume submits the same work again (training continues from its last checkpoint,
analysis from what is done).

`workbench.training` (torch) is imported by the functions that train, so the app and the CLI can
list and submit jobs without loading torch.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from typing import Iterator

from workbench import threads
from workbench.analyzers import registry
from workbench.errors import BadInputError, BusyError, ConflictError, UserError
from workbench.families import VariantSpec, load_family
from workbench.following import follow
from workbench.pipeline import analyze
from workbench.store import Store, VariantRef, timestamp

KINDS = ("train", "extend", "analyze")
FINAL = ("done", "failed", "cancelled")
SLOT_POLL_SECONDS = 0.5
PROGRESS_EVERY_SECONDS = 0.5  # how often a running job writes its progress (and heartbeat)
FOLLOW_WAIT_SECONDS = 0.5     # how often a following analysis looks whether its run has started


def _new_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


def submit(store: Store, kind: str, target: str, args: dict, resumed_from: str | None = None) -> dict:
    """Record a queued job. `target` is the variant ("family/id"); `args` what the runner needs."""
    if kind not in KINDS:
        raise BadInputError(f"unknown job kind {kind!r}; one of {', '.join(KINDS)}")
    active = [j for j in listing(store) if j["target"] == target and j["state"] in ("queued", "running")
              and _clash(j, kind, args)]
    if active:
        raise BusyError(f"job {active[0]['id']} ({active[0]['kind']}) is already {active[0]['state']} for "
                        f"{target}; wait for it or cancel it")
    job = {"id": _new_id(), "kind": kind, "target": target, "args": args, "state": "queued",
           "created": timestamp(), "progress": {}, "attempts": [], "resumed_from": resumed_from}
    store.save_job(job)
    return job


def _clash(job: dict, kind: str, args: dict) -> bool:
    """Whether an active job of a variant stands in the way of a new one: one job per part at a
    time (training - train, extend - and analysis), except that an analysis following a run as
    it trains goes beside that run's training."""
    same_part = (job["kind"] == "analyze") == (kind == "analyze")
    return same_part or not (_follows(job) or args.get("follow"))


def train_outcome(store: Store, variant: VariantSpec) -> str:
    """What training `variant` would do now: "new", "resume" (interrupted earlier), "busy" (being
    trained or analyzed) or "trained" (finished: refused, extend it instead)."""
    ref = variant.ref
    if not store.exists(ref):
        return "new"
    if store.is_locked(ref):
        return "busy"
    return "trained" if store.is_trained(ref) else "resume"


def submit_train(store: Store, variant: VariantSpec) -> dict:
    """A job training `variant`; a variant that finished training is refused (ConflictError)."""
    if train_outcome(store, variant) == "trained":
        raise ConflictError(f"variant {variant.ref} is already trained; extend it (more epochs or denser "
                            f"checkpoints) instead of training it again")
    return submit(store, "train", str(variant.ref), {"family": variant.family, "overrides": variant.overrides})


def submit_extend(store: Store, ref: VariantRef, epochs: int | None = None,
                  window: tuple[int, int, int] | None = None) -> dict:
    if (epochs is None) == (window is None):
        raise BadInputError("extend a variant either to more epochs or with a checkpoint window, not both")
    store.info(ref)  # a missing variant is refused now, not when the job runs
    return submit(store, "extend", str(ref), {"epochs": epochs, "window": list(window) if window else None})


def submit_analyze(store: Store, ref: VariantRef, analyzers: list[str] | None = None, force: bool = False,
                   follow: bool = False) -> dict:
    """An analysis job; with `follow` it analyzes the run as it trains (`following.follow`), and
    may be submitted beside the job that trains it, before the variant exists."""
    for name in analyzers or []:
        registry.get(name)  # an unknown analyzer is refused now, with the known names
    if not (follow and _training_job(store, str(ref))):
        store.info(ref)
    return submit(store, "analyze", str(ref), {"analyzers": analyzers, "force": force, "follow": follow})


def _follows(job: dict) -> bool:
    return job["kind"] == "analyze" and bool(job["args"].get("follow"))


def _training_job(store: Store, target: str) -> dict | None:
    """The queued or running train/extend job of `target`, if any."""
    return next((j for j in listing(store) if j["target"] == target and j["kind"] != "analyze"
                 and j["state"] in ("queued", "running")), None)


def cancel(store: Store, job_id: str) -> dict:
    """Ask a job to stop; a queued job is cancelled at once."""
    job = store.load_job(job_id)
    if job["state"] in FINAL:
        return job
    store.request_cancel(job_id)
    with contextlib.suppress(BusyError), store.job_lock(job_id):
        job = store.load_job(job_id)
        if job["state"] == "queued":
            job.update(state="cancelled", finished=timestamp(), message="cancelled before it started")
            store.save_job(job)
    return job


def resume(store: Store, job_id: str) -> dict:
    """Submit a failed or cancelled job's work again (it continues where the last one stopped)."""
    job = store.load_job(job_id)
    if job["state"] not in ("failed", "cancelled"):
        raise ConflictError(f"job {job_id} is {job['state']}; only a failed or cancelled job can be resumed")
    return submit(store, job["kind"], job["target"], job["args"], resumed_from=job_id)


def listing(store: Store, limit: int = 200) -> list[dict]:
    """Jobs, newest first; running jobs whose process is gone are marked failed."""
    jobs = []
    for job_id in reversed(store.job_ids()[-limit:]):
        try:
            job = store.load_job(job_id)
        except UserError:
            continue  # being replaced this instant, or damaged: not worth failing the list
        if job["state"] == "running" and not store.job_is_held(job_id):
            job = _mark_lost(store, job_id) or job
        jobs.append(job)
    return jobs


def _mark_lost(store: Store, job_id: str) -> dict | None:
    with contextlib.suppress(BusyError), store.job_lock(job_id):
        job = store.load_job(job_id)  # read again under the lock: it may have finished meanwhile
        if job["state"] == "running":
            job.update(state="failed", finished=timestamp(), error=_lost_reason(job))
            store.save_job(job)
        return job
    return None


def _lost_reason(job: dict) -> str:
    return (f"the process running it ({job.get('pid')} on {job.get('host')}) stopped without finishing - killed, "
            f"or the app or worker was restarted. The variant is resumable: Resume continues from its last "
            f"checkpoint")


class Reporter:
    """The progress callback given to training and analysis: writes the job's progress at most
    every `every` seconds (and at the end), and answers True once a cancel was requested."""

    def __init__(self, store: Store, job: dict, every: float):
        self.store, self.job, self.every = store, job, every
        self.began, self.last_write, self.first_done = time.monotonic(), 0.0, None
        self.cancelled = False

    def __call__(self, done: int, total: int, text: str = "", metrics: dict | None = None) -> bool:
        now = time.monotonic()
        if self.first_done is None:
            self.first_done, self.began = done, now
        rate = (done - self.first_done) / (now - self.began) if now > self.began else 0.0
        self.job["progress"] = {"done": int(done), "total": int(total), "text": text,
                                "eta_seconds": (total - done) / rate if rate > 0 else None,
                                "metrics": {k: float(v) for k, v in (metrics or {}).items()
                                            if k in ("train_loss", "test_loss", "train_acc", "test_acc")}}
        if now - self.last_write >= self.every or done >= total:
            self.last_write = now
            self.job["updated"] = timestamp()
            self.store.save_job(self.job)
        self.cancelled = self.store.cancel_requested(self.job["id"])
        return self.cancelled


def execute(store: Store, job_id: str, *, every: float = PROGRESS_EVERY_SECONDS, slots: int | None = None) -> dict:
    """Run a job in this process and return its final record. `slots` limits how many jobs this
    machine runs at once (the rest wait as queued); None means no limit (a Celery worker's own
    concurrency is the limit)."""
    with store.job_lock(job_id, wait=True):  # a duplicate delivery waits, then finds the job finished
        job = store.load_job(job_id)
        if job["state"] in FINAL:
            return job
        if job["state"] == "running":  # the previous attempt's process died mid-job
            job["attempts"].append({"host": job.get("host"), "pid": job.get("pid"), "started": job.get("started"),
                                    "error": _lost_reason(job)})
        with _slot(store, None if _follows(job) else slots, job_id):  # a follower mostly waits: no slot
            if store.cancel_requested(job_id):
                job.update(state="cancelled", finished=timestamp(), message="cancelled before it started")
                store.save_job(job)
                return job
            job.update(state="running", started=timestamp(), host=socket.gethostname(), pid=os.getpid(), error=None)
            store.save_job(job)
            reporter = Reporter(store, job, every)
            try:
                message = RUNNERS[job["kind"]](store, job, reporter)
                state = "cancelled" if reporter.cancelled else "done"
                job.update(state=state, message=message if state == "done" else
                           "cancelled; the variant is resumable (Resume continues where it stopped)")
            except Exception as err:  # noqa: BLE001 - the record says why; the runner must not crash
                known = isinstance(err, UserError)
                job.update(state="failed", error=str(err) if known else f"{type(err).__name__}: {err}")
            job["finished"] = timestamp()
            store.save_job(job)
            return job


@contextlib.contextmanager
def _slot(store: Store, slots: int | None, job_id: str) -> Iterator[None]:
    """One of `slots` machine-wide places to run (a lock file per slot and host). Waits for one,
    looking every SLOT_POLL_SECONDS, and gives up (entering without a slot) once the job's cancel
    is requested: a queued job must turn cancelled at once, not when a slot frees."""
    if not slots:
        yield
        return
    host = socket.gethostname()
    with contextlib.ExitStack() as held:
        while not store.cancel_requested(job_id):
            for index in range(slots):
                with contextlib.suppress(BusyError):
                    held.enter_context(store.job_lock(f"slot-{host}-{index}"))
                    break
            else:
                time.sleep(SLOT_POLL_SECONDS)
                continue
            break
        yield


def _run_train(store: Store, job: dict, report: Reporter) -> str:
    from workbench.training import train  # torch
    args = job["args"]
    variant = load_family(args["family"]).variant(args["overrides"])
    total = variant.epochs
    info = train(variant, store, progress=False,
                 callback=lambda epoch, m: report(epoch, total, _loss_text(m), m))
    return _trained_message(info)


def _run_extend(store: Store, job: dict, report: Reporter) -> str:
    from workbench.training import extend  # torch
    args, ref = job["args"], _ref(job)
    window = tuple(args["window"]) if args.get("window") else None
    total = args["epochs"] or window[1]
    info = extend(ref, store, epochs=args.get("epochs"), window=window, progress=False,
                  callback=lambda epoch, m: report(epoch, total, _loss_text(m), m))
    if window and not report.cancelled:
        added = info["extensions"][-1]
        return (f"added {added['added']} checkpoints in epochs {window[0]}-{window[1]} (replayed from epoch "
                f"{added.get('replayed_from', '-')}, largest loss difference {added.get('max_loss_deviation', 0):.1e})")
    return _trained_message(info)


def _run_analyze(store: Store, job: dict, report: Reporter) -> str:
    args, ref = job["args"], _ref(job)
    if args.get("follow"):
        # The job that trains the run may still be queued or starting: wait for it to take the variant.
        while _training_job(store, job["target"]) and not store.is_locked(ref):
            if report(0, 0, "waiting for the training run to start"):
                return "cancelled before the run started"
            time.sleep(FOLLOW_WAIT_SECONDS)
        counts = follow(ref, store, analyzers=args.get("analyzers"), progress=False,
                        callback=lambda done, total, what: report(done, total, what))
        return (f"followed the run: {counts['followed']} checkpoints analyzed as they landed, then "
                f"{counts['epochs_analyzed']} checkpoints and {counts['series_analyzed']} series")
    counts = analyze(ref, store, analyzers=args.get("analyzers"), force=bool(args.get("force")),
                     progress=False, callback=lambda done, total, what: report(done, total, what))
    return (f"analyzed {counts['epochs_analyzed']} checkpoints and {counts['series_analyzed']} series "
            f"({', '.join(counts['analyzers'])})")


RUNNERS = {"train": _run_train, "extend": _run_extend, "analyze": _run_analyze}


def _ref(job: dict) -> VariantRef:
    return VariantRef(*job["target"].split("/", 1))


def _loss_text(metrics: dict) -> str:
    return (f"train loss {metrics['train_loss']:.3g} · test loss {metrics['test_loss']:.3g} · "
            f"test acc {metrics['test_acc']:.3f}")


def _trained_message(info: dict) -> str:
    final = info.get("final") or {}
    return (f"{info['status']}: train loss {final.get('train_loss', float('nan')):.3g}, test accuracy "
            f"{final.get('test_acc', float('nan')):.4f} ({info.get('train_seconds', 0):.0f} s)")


def local_slots() -> int:
    """Jobs this machine runs at once: $WORKBENCH_JOB_SLOTS, else one per two cores."""
    value = os.environ.get("WORKBENCH_JOB_SLOTS", "")
    return int(value) if value.isdigit() and int(value) > 0 else max(1, (os.cpu_count() or 1) // 2)


def job_command(root: str, job_id: str) -> list[str]:
    return [sys.executable, "-m", "workbench.jobs", "run", job_id, "--data", str(root), "--slots", str(local_slots())]


def start_process(root: str, job_id: str) -> subprocess.Popen:
    """Start a job in a fresh Python process and return it without waiting (what the app does
    on this machine: the app's own process may hold torch's thread pools, which a forked child
    must not inherit). A thread reaps it when it ends; the job's record says how it went."""
    process = subprocess.Popen(job_command(root, job_id), stdin=subprocess.DEVNULL)
    threading.Thread(target=process.wait, name=f"job-{job_id}", daemon=True).start()
    return process


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workbench.jobs", description="run one recorded job")
    parser.add_argument("command", choices=["run"])
    parser.add_argument("job")
    parser.add_argument("--data", required=True)
    parser.add_argument("--slots", type=int, default=0)
    args = parser.parse_args(argv)
    if args.slots:
        threads.set_limit(threads.cores() // args.slots)
    job = execute(Store(args.data), args.job, slots=args.slots or None)
    return 0 if job["state"] in ("done", "cancelled") else 1


if __name__ == "__main__":
    sys.exit(main())
