"""Ray: ``shapeprog batch`` on a local Ray (``num_cpus=2``) and ``shapeprog serve --ray`` running a job on
it. Skipped when ray is not installed (the ``distributed`` extra; CI installs it)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.fixtures import ROOT
from tests.fixtures.jobs import QUICK

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'shapeprog[distributed]')")

from backend.cli import main

pytestmark = pytest.mark.serial  # run alone, after the parallel part of the suite: they use a local Ray cluster (conftest)

SCENES = ROOT / "sample_scenes" / "scenes"


def _summary(out: Path) -> dict[str, dict]:
    with open(out / "summary.csv", newline="") as f:
        return {r["name"]: r for r in csv.DictReader(f)}


def test_batch_on_ray_records_the_bad_row_and_resumes(local_ray, tmp_path, capsys):
    rows = [
        {"name": "chair_a", "program": "chair", "scan": str(SCENES / "chair_s1" / "object_points.ply"),
         "options": {"budget": 300, "max_evaluations": 30, "seed": 0, **QUICK}},
        {"name": "chair_b", "program": "chair", "scan": str(SCENES / "chair_s1" / "object_points.ply"),
         "options": {"budget": 300, "max_evaluations": 30, "seed": 1, **QUICK}},
        {"name": "chair_frames", "program": "chair", "frames": str(SCENES / "chair_s1"), "instance_id": 1,
         "options": {"budget": 300, "max_evaluations": 30, **QUICK}},
        {"name": "broken", "program": "chair", "scan": "no/such/scan.ply", "options": {"max_evaluations": 30}},
        {"name": "table", "program": "table", "frames": str(SCENES / "table_s2"), "instance_id": 1, "max_frames": 4,
         "options": {"budget": 300, "max_evaluations": 30, **QUICK}},
        {"name": "cabinet", "program": "cabinet", "scan": str(SCENES / "cabinet_s3" / "object_points.ply"),
         "options": {"budget": 300, "max_evaluations": 30, **QUICK}},
    ]
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps(rows))
    out = tmp_path / "out"
    rc = main(["batch", str(manifest), "-o", str(out), "--ray", "local", "--quiet"])
    printed = capsys.readouterr().out
    assert rc == 1  # a row failed
    summary = _summary(out)
    assert [summary[r["name"]]["state"] for r in rows] == ["succeeded"] * 3 + ["failed"] + ["succeeded"] * 2
    assert summary["broken"]["error"].endswith("no/such/scan.ply: no such file or folder")
    for name in ("chair_a", "chair_b", "chair_frames", "table", "cabinet"):
        assert json.loads((out / name / "result.json").read_text())["status"] == "succeeded"
        assert (out / name / "fitted.ply").is_file()
    assert "batch: 5 succeeded (0 skipped as done), 1 failed" in printed.splitlines()[-1]

    stamps = {n: (out / n / "result.json").stat().st_mtime_ns for n in ("chair_a", "table")}
    rc = main(["batch", str(manifest), "-o", str(out), "--ray", "local", "--quiet"])
    printed = capsys.readouterr().out
    assert rc == 1 and "batch: 5 succeeded (5 skipped as done), 1 failed" in printed.splitlines()[-1]
    assert {n: (out / n / "result.json").stat().st_mtime_ns for n in stamps} == stamps
    summary = _summary(out)
    assert summary["chair_a"]["skipped"] == "yes" and summary["chair_a"]["objective"]
    assert summary["broken"]["state"] == "failed"


def test_serve_on_ray_runs_a_job_there(local_ray, tmp_path):
    pytest.importorskip("fastapi")
    from backend.client import Client, scan_payload
    from backend.service.process import ServerProcess

    address = ray.get_runtime_context().gcs_address
    with ServerProcess(tmp_path / "data", "--ray", address, "--workers", "2") as s, Client(s.url) as c:
        h = c.health()
        assert h["executor"] == "ray" and h["workers"]["total"] == 2
        job = c.submit("chair", scan_payload(SCENES / "chair_s1" / "object_points.ply"),
                       {"budget": 300, "max_evaluations": 30, "config": QUICK})
        kinds = [e for e, _ in c.events(job["id"], timeout=300)]
        final = c.job(job["id"])
        assert final["state"] == "succeeded", (final, s.log_tail())
        assert kinds[-1] == "end" and set(final["files"]) >= {"result.json", "fitted.ply", "report.png"}
        assert c.result(job["id"])["status"] == "succeeded"
        # the files came back from the task to the server's data dir
        assert (tmp_path / "data" / "jobs" / job["id"] / "output" / "fitted.ply").is_file()

        long = c.submit("chair", scan_payload(SCENES / "chair_s1" / "object_points.ply"), {"budget": 200, "config": QUICK})
        import time

        deadline = time.monotonic() + 120
        while (c.job(long["id"]).get("progress") or {}).get("step", 0) < 1:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        c.cancel(long["id"])
        final = c.wait(long["id"], timeout=60)
        assert final["state"] == "cancelled" and c.result(long["id"])["status"] == "interrupted"
