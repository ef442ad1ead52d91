"""The job service's process life cycle against live servers of their own (each test starts ``shapeprog serve``
in a subprocess, :class:`backend.service.process.ServerProcess`): a token and an upload limit, a refused exposed
binding, SIGKILL and SIGTERM with restarts (one data folder through three servers in turn). The tests sharing
one server are in test_service.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx
import pytest

from tests.fixtures import ROOT
from tests.fixtures.jobs import CHAIR_PLY, QUICK, quick, wait_running

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from backend.client import Client, scan_payload
from backend.service.process import ServerProcess


def test_token_size_limit_and_exposure(tmp_path):
    token = "s3cret-token-0123456789"
    (tmp_path / "token").write_text(token + "\n")
    with ServerProcess(tmp_path / "data", "--workers", "1", "--token-file", tmp_path / "token", "--max-upload-mb", "1",
                       token=token) as s:
        assert httpx.get(s.url + "/v1/health").status_code == 401
        r = httpx.get(s.url + "/v1/health", headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401 and r.json()["detail"] == "wrong bearer token"
        assert httpx.get(s.url + "/docs").status_code == 401
        with Client(s.url, token=token) as c:
            assert c.health()["workers"]["total"] == 1
            big = {"program": "chair", "scan": {"ply": "A" * (2 * 2**20)}}
            r = httpx.post(s.url + "/v1/jobs", json=big, headers={"Authorization": f"Bearer {token}"}, timeout=30)
            assert r.status_code == 413 and "upload limit" in r.json()["detail"]
            assert c.health()["queue"] == 0  # still serving
    # binding beyond loopback without a token: refused before it starts, with one line
    env = {k: v for k, v in os.environ.items() if k != "SHAPEPROG_TOKEN"}
    p = subprocess.run([sys.executable, "-m", "backend.cli", "serve", "--host", "0.0.0.0", "--data-dir", str(tmp_path / "x")],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "binding to 0.0.0.0 exposes the service" in lines[0] and "--token-file" in lines[0]


def test_sigkill_loses_nothing_finished_and_sigterm_stops_with_the_best_result_and_keeps_the_queue(tmp_path):
    """One data folder through three servers in turn: SIGKILL the first mid-fit (the finished job's result and
    files survive, the running job is interrupted and retried, the queued one runs after the restart), then
    SIGTERM the second mid-fit (a graceful stop: the running job keeps its best result, the queued one stays
    queued and runs on the third)."""
    data = tmp_path / "data"
    chair = scan_payload(CHAIR_PLY)
    s = ServerProcess(data, "--workers", "1").start()
    try:
        with Client(s.url) as c:
            done = c.submit("chair", chair, quick(30))
            assert c.wait(done["id"], timeout=300)["state"] == "succeeded"
            before = c.result(done["id"])
            running = c.submit("chair", chair, quick(150))
            queued = c.submit("chair", chair, quick(30, seed=1))
            wait_running(c, running["id"])
            assert c.job(queued["id"])["state"] == "queued"
        s.proc.send_signal(signal.SIGKILL)
        s.proc.wait(10)
    finally:
        s.kill()
    s2 = ServerProcess(data, "--workers", "1", port=s.port).start()
    try:
        with Client(s2.url) as c:
            assert c.result(done["id"]) == before
            assert c.file(done["id"], "fitted.ply") == (data / "jobs" / done["id"] / "output" / "fitted.ply").read_bytes()
            lost = c.job(running["id"])
            assert lost["state"] == "interrupted" and "retry" in lost["error"]
            assert c.wait(queued["id"], timeout=300)["state"] == "succeeded"  # queued jobs run after a restart
            again = c.retry(running["id"])
            assert again["retry_of"] == running["id"] and again["options"] == lost["options"]
            final = c.wait(again["id"], timeout=300)
            assert final["state"] == "succeeded" and c.result(again["id"])["evaluations"] >= 1
            # now a graceful stop of this server while it fits
            running2 = c.submit("chair", chair, {"budget": 200, "config": QUICK})
            queued2 = c.submit("chair", chair, quick(30))
            wait_running(c, running2["id"], steps=2)
        assert s2.stop() in (0, -signal.SIGTERM)  # SIGTERM: a graceful stop (uvicorn re-raises the signal)
    finally:
        s2.kill()
    log = s2.log_path.read_text(errors="replace")  # the three servers append to one log: these are the first two's
    assert f"job id={running['id']} state=interrupted reason=restart" in log
    assert f"job id={running2['id']} state=interrupted" in log and f"job id={queued2['id']} stays queued" in log
    assert "service stopped" in log  # only the second server stopped gracefully so far
    with ServerProcess(data, "--workers", "1") as s3, Client(s3.url) as c:
        stopped = c.job(running2["id"])
        assert stopped["state"] == "interrupted" and "result.json" in stopped["files"]
        assert c.result(running2["id"])["status"] == "interrupted"  # its best result so far was kept
        assert c.wait(queued2["id"], timeout=300)["state"] == "succeeded"
