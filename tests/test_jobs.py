"""Jobs: recorded, run with progress, cancelled cleanly, resumed, and failed when their process is lost."""
from __future__ import annotations

import numpy as np
import pytest

from workbench import jobs
from workbench.families import load_family
from workbench.store import Store, VariantRef
from workbench.errors import UserError
from workbench.training import train


def tiny(epochs=60, **overrides):
    return load_family("tiny_addition").variant(epochs=epochs, every=[[20, epochs]], **overrides)


def ref(variant):
    return VariantRef(variant.family, variant.id)


REPORT = jobs.Reporter.__call__


def cancel_at(monkeypatch, store, at_progress: int):
    """Request the job's cancel from inside its progress report at `at_progress` (no timing)."""
    report = jobs.Reporter.__call__

    def reporting(self, done, total, text="", metrics=None):
        if done == at_progress:
            store.request_cancel(self.job["id"])
        return report(self, done, total, text, metrics)
    monkeypatch.setattr(jobs.Reporter, "__call__", reporting)


def test_a_train_job_runs_to_done_with_its_progress_recorded(store):
    variant = tiny()
    job = jobs.submit_train(store, variant)
    assert store.load_job(job["id"])["state"] == "queued"
    done = jobs.execute(store, job["id"], every=0)
    assert done["state"] == "done" and "test accuracy" in done["message"]
    assert done["progress"]["done"] == done["progress"]["total"] == 60
    assert set(done["progress"]["metrics"]) == {"train_loss", "test_loss", "train_acc", "test_acc"}
    assert store.status(ref(variant)) == "trained"
    assert [j["id"] for j in jobs.listing(store)] == [job["id"]]


def test_cancel_stops_cleanly_and_resume_finishes_the_uninterrupted_run(store, tmp_path, monkeypatch):
    variant = tiny()
    job = jobs.submit_train(store, variant)
    cancel_at(monkeypatch, store, 30)
    cancelled = jobs.execute(store, job["id"], every=0)
    assert cancelled["state"] == "cancelled" and cancelled["progress"]["done"] == 30
    assert store.status(ref(variant)) == "interrupted" and store.checkpoint_epochs(ref(variant)) == [0, 20]
    assert not list(store.variant_dir(ref(variant)).rglob("*.tmp"))  # no half-written file
    monkeypatch.setattr(jobs.Reporter, "__call__", REPORT)
    resumed = jobs.resume(store, job["id"])
    assert resumed["resumed_from"] == job["id"]
    assert jobs.execute(store, resumed["id"])["state"] == "done"
    other = Store(tmp_path / "straight")
    train(variant, other, progress=False)
    a, b = store.load_history(ref(variant)), other.load_history(ref(variant))
    assert all(np.array_equal(a[k], b[k], equal_nan=True) for k in a)


def test_a_queued_job_cancels_at_once(store):
    job = jobs.submit_train(store, tiny())
    assert jobs.cancel(store, job["id"])["state"] == "cancelled"
    assert jobs.execute(store, job["id"])["state"] == "cancelled"
    assert not store.exists(ref(tiny()))


def test_a_running_job_whose_process_died_is_failed_then_resumable(store):
    variant = tiny()
    job = jobs.submit_train(store, variant)
    job.update(state="running", pid=999999, host="gone-host")  # as a killed process leaves it: no lock held
    store.save_job(job)
    [listed] = jobs.listing(store)
    assert listed["state"] == "failed" and "stopped without finishing" in listed["error"]
    assert "999999 on gone-host" in listed["error"]
    assert jobs.execute(store, jobs.resume(store, job["id"])["id"])["state"] == "done"


def test_a_redelivered_job_records_the_lost_attempt_and_finishes(store):
    job = jobs.submit_train(store, tiny())
    job.update(state="running", pid=999999, host="gone-host")
    store.save_job(job)
    finished = jobs.execute(store, job["id"])  # e.g. Celery handing the job to another worker
    assert finished["state"] == "done" and len(finished["attempts"]) == 1
    assert "999999" in finished["attempts"][0]["error"]


def test_submitting_what_exists_or_is_already_queued_is_refused(store):
    variant = tiny()
    jobs.submit_train(store, variant)
    with pytest.raises(UserError, match="already queued"):
        jobs.submit_train(store, variant)
    train(variant, store, progress=False)
    store.save_job({**store.load_job(store.job_ids()[0]), "state": "done"})
    with pytest.raises(UserError, match="already trained; extend it"):
        jobs.submit_train(store, variant)
    with pytest.raises(UserError, match="unknown analyzer 'nope'"):
        jobs.submit_analyze(store, ref(variant), ["nope"])


def test_a_failing_job_says_why_in_its_record(store):
    variant = tiny()
    train(variant, store, progress=False)
    job = jobs.submit_extend(store, ref(variant), epochs=30)
    failed = jobs.execute(store, job["id"])
    assert failed["state"] == "failed" and "extend it to more than that" in failed["error"]


def test_extend_and_analyze_jobs_report_what_they_did(store):
    variant = tiny(epochs=40)
    train(variant, store, progress=False)
    extended = jobs.execute(store, jobs.submit_extend(store, ref(variant), window=(0, 10, 5))["id"])
    assert extended["state"] == "done" and "added 2 checkpoints" in extended["message"]
    analyzed = jobs.execute(store, jobs.submit_analyze(store, ref(variant), ["fourier_embedding"])["id"], every=0)
    assert analyzed["state"] == "done" and analyzed["progress"]["total"] == len(store.checkpoint_epochs(ref(variant)))


def test_local_slots_run_one_job_per_slot(store, monkeypatch):
    """A job waits (queued) while the machine's only slot is taken."""
    import socket
    import threading
    monkeypatch.setenv("WORKBENCH_JOB_SLOTS", "1")
    job = jobs.submit_train(store, tiny(epochs=20))
    with store.job_lock(f"slot-{socket.gethostname()}-0"):
        runner = threading.Thread(target=jobs.execute, args=(store, job["id"]), kwargs={"slots": jobs.local_slots()})
        runner.start()
        runner.join(timeout=0.5)
        assert runner.is_alive() and store.load_job(job["id"])["state"] == "queued"
    runner.join()
    assert store.load_job(job["id"])["state"] == "done"


def test_the_job_subprocess_runs_a_job(store):
    job = jobs.submit_train(store, tiny(epochs=20))
    assert jobs.start_process(str(store.root), job["id"]).wait() == 0
    assert store.load_job(job["id"])["state"] == "done"
