"""Many machines: a real Redis on loopback, two Celery workers sharing the data root, one killed mid-job."""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from workbench import cli, jobs
from workbench.store import Store, VariantRef

pytestmark = pytest.mark.skipif(not shutil.which("redis-server"),
                                reason="redis-server is not installed (./setup.sh --test installs it)")
DEADLINE = 180  # seconds at most for a condition; polled


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def until(condition, message):
    """Poll `condition` until it returns something truthy (a bounded wait for a state, not a sleep)."""
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out: {message}")


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    port = free_port()
    directory = tmp_path_factory.mktemp("redis")
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no", "--dir", str(directory)], stdout=subprocess.DEVNULL)

    def answers():
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    until(answers, "redis answers PING")
    yield f"redis://127.0.0.1:{port}/0"
    server.terminate()
    server.wait()


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("shared") / "data"


def start_worker(broker: str, root, name: str, log_dir) -> subprocess.Popen:
    env = {**os.environ, "WORKBENCH_FAMILIES": str(os.path.join(os.path.dirname(__file__), "families")),
           "OMP_NUM_THREADS": "1"}
    log = open(log_dir / f"{name}.log", "w")
    return subprocess.Popen([sys.executable, "-m", "workbench.cli", "worker", "--broker", broker, "--data", str(root),
                             "--concurrency", "1"], env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)  # its own process group: killed with its pool


@pytest.fixture(scope="module")
def workers(broker, root, tmp_path_factory):
    logs = tmp_path_factory.mktemp("worker-logs")
    started = [start_worker(broker, root, f"worker{i}", logs) for i in range(2)]
    yield started
    for worker in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()


def test_a_sweep_survives_a_worker_killed_mid_job(broker, root, workers):
    store = Store(root)
    sweep = ["train", "tiny_addition", "--p", "23", "29", "--seed", "1", "2", "--set", "epochs=500",
             "--set", "checkpoints.every=50:500", "--queue", "--broker", broker, "--data", str(root)]
    assert cli.main(sweep) == 0
    assert len(store.job_ids()) == 4

    def running_job():
        return next((j for j in jobs.listing(store) if j["state"] == "running"
                     and (j.get("progress") or {}).get("done", 0) >= 100), None)
    victim = until(running_job, "a job runs on a worker")
    owner = next(w for w in workers if os.getpgid(victim["pid"]) == w.pid)
    os.killpg(owner.pid, signal.SIGKILL)  # the whole worker, as when its machine dies
    owner.wait()

    lost = until(lambda: next((j for j in jobs.listing(store) if j["id"] == victim["id"] and j["state"] == "failed"),
                              None), "the killed worker's job is marked failed")
    assert "stopped without finishing" in lost["error"]
    assert cli.main(["jobs", "resume", victim["id"], "--queue", "--broker", broker, "--data", str(root)]) == 0

    def all_done():
        listed = jobs.listing(store)
        return len(listed) == 5 and sum(j["state"] == "done" for j in listed) == 4 and listed
    until(all_done, "the other worker finishes the sweep and the resumed job")
    for ref in store.variants("tiny_addition"):
        assert store.status(ref) == "trained"
        history = store.load_history(ref)
        assert len(history["train_loss"]) == 501 and np.isfinite(history["train_loss"]).all()
        for epoch in store.checkpoint_epochs(ref):
            store.load_weights(ref, epoch)  # every checkpoint passes its checksum
        assert not list(store.variant_dir(ref).rglob("*.tmp"))
    assert len(store.variants("tiny_addition")) == 4


def test_the_apps_background_callback_runs_on_a_worker(broker, root, workers):
    """With a broker the app's job runner is a Celery task, and the workers (which build the same
    app) know it by the same name: the app's sweep jobs fan out over them."""
    import json
    from workbench.app import create_app
    store = Store(root)
    app = create_app(root, broker=broker)
    manager = app._background_manager
    [key] = [k for k in manager.func_registry]  # the app's only background callback: the job runner
    variant = VariantRef("tiny_addition", "p23-s1-d598-every=50x500")
    job = jobs.submit_extend(store, variant, window=(0, 50, 25))
    manager.func_registry[key].delay("result-key", "progress-key", [job["id"]], {})  # what Dash does on Start
    until(lambda: store.load_job(job["id"])["state"] == "done", "a worker runs the app's job")
    assert 25 in store.checkpoint_epochs(variant)
    until(lambda: manager.handle.backend.get("result-key"), "the callback's result is stored for the browser")
    assert json.loads(manager.handle.backend.get("result-key")) == "done"
