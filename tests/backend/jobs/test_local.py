"""The local executor: it cancels queued and running jobs and survives a worker that dies."""

from __future__ import annotations

import json
import os
import signal
import threading

from backend.jobs import JobOutcome, LocalExecutor
from tests.fixtures.jobs import QUICK, job_spec


def test_local_executor_cancels_queued_and_running_jobs_and_survives_a_dead_worker(tmp_path):
    ex = LocalExecutor(1, warm=False)
    done: dict[str, JobOutcome] = {}
    started = threading.Event()
    finished = threading.Condition()

    def on_done(job_id, outcome):
        with finished:
            done[job_id] = outcome
            finished.notify_all()

    def wait_for(job_id, timeout=180):
        with finished:
            assert finished.wait_for(lambda: job_id in done, timeout), job_id
        return done[job_id]

    try:
        long = job_spec(tmp_path, "long", config={"budget": 200, **QUICK})
        progressed = threading.Event()  # a search step reported: the fit has a candidate to keep
        h_long = ex.submit(long, on_done=on_done, on_start=lambda _: started.set(),
                           on_progress=lambda *_: progressed.set())
        h_queued = ex.submit(job_spec(tmp_path, "queued"), on_done=on_done)
        assert ex.busy == 1 and ex.queued == 1
        assert ex.cancel(h_queued) is True and done["queued"].state == "cancelled"
        assert started.wait(120) and progressed.wait(120)
        assert ex.cancel(h_long) is False
        outcome = wait_for("long")
        assert outcome.state == "cancelled" and "result.json" in outcome.files
        assert json.loads((tmp_path / "long" / "result.json").read_text())["status"] == "interrupted"

        # a worker killed mid-fit: its job fails with one line, the next job gets a new worker
        started.clear()
        ex.submit(job_spec(tmp_path, "victim", config={"budget": 200, **QUICK}), on_done=on_done,
                  on_start=lambda _: started.set())
        assert started.wait(120)
        for p in list(ex._pool._processes.values()):
            os.kill(p.pid, signal.SIGKILL)
        outcome = wait_for("victim")
        assert outcome.state == "failed" and "worker process died" in outcome.error
        ex.submit(job_spec(tmp_path, "after"), on_done=on_done)
        assert wait_for("after").state == "succeeded"
    finally:
        ex.shutdown()


def test_shutdown_lets_idle_workers_end_on_their_own(tmp_path):
    """Idle workers end normally at shutdown (exit status 0), so their clean-up at exit runs (bpy removes its
    /tmp/blender_XXXXXX session folder then); before, they were terminated at once and left one folder each."""
    ex = LocalExecutor(1, warm=True)
    done = threading.Event()
    try:
        ex.submit(job_spec(tmp_path, "quick"), on_done=lambda *_: done.set())
        assert done.wait(180)
        procs = list(ex._pool._processes.values())
        assert procs
    finally:
        ex.shutdown()
    assert [p.exitcode for p in procs] == [0] * len(procs)
