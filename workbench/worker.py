"""Many machines: a Celery queue on Redis, and workers that share the data root.

    workbench worker --broker redis://queue-host:6379/0 --data /shared/workbench-data
    workbench serve  --broker redis://queue-host:6379/0 --data /shared/workbench-data
    workbench train modular_addition --p 59 97 --seed 1 2 --queue --broker redis://...

The app's jobs then run as Dash background callbacks through `CeleryManager` on these workers,
and `--queue` sends jobs from the command line to the same queue (task `workbench.run_job`).
Every worker runs jobs in-process against its own `--data`, which must be the same shared
filesystem as the app's (job records, locks and checkpoints are all files there).

A job's message is acknowledged only when the job has finished (`acks_late`), and a worker
process that dies mid-job hands the message back (`task_reject_on_worker_lost`): another worker
picks it up, finds the job's previous attempt lost, records it, and resumes from the last
checkpoint. Celery itself is imported when a queue is used (`celery_app`), not by the CLI at start;
`workbench.serving.run_worker` starts a worker process.
"""
from __future__ import annotations

import os

from workbench.jobs import execute
from workbench.store import Store

BROKER_VARIABLE = "WORKBENCH_BROKER"


def broker_url(given: str | None = None) -> str | None:
    return given or os.environ.get(BROKER_VARIABLE) or None


def celery_app(broker: str, data_root: str | None = None):
    """The Celery app: Redis as broker and result backend (Dash keeps callback results there)."""
    from celery import Celery  # heavy: only when a queue is used
    app = Celery("workbench", broker=broker, backend=broker)
    app.conf.update(task_acks_late=True, task_reject_on_worker_lost=True, worker_prefetch_multiplier=1,
                    broker_connection_retry_on_startup=True, task_track_started=True)

    @app.task(name="workbench.run_job")
    def run_job(job_id: str, root: str | None = None) -> str:
        return execute(Store(root or data_root), job_id)["state"]

    return app


def enqueue_jobs(broker: str, root: str, job_ids: list[str]) -> None:
    """Send recorded jobs to the queue (the CLI's --queue)."""
    app = celery_app(broker)
    for job_id in job_ids:
        app.send_task("workbench.run_job", args=[job_id, str(root)])

