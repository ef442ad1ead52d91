"""Fit jobs without the web server: run_job's outcomes (user errors, a ScanNet object, a stop), the progress
throttle and records."""

from __future__ import annotations

import json
import threading

from backend.jobs import run_job
from backend.jobs.spec import progress_record
from backend.jobs.worker import Throttle
from tests.fixtures.jobs import job_spec


def test_run_job_reports_user_errors_as_one_line_failures(tmp_path):
    cases = {
        "unknown program": (job_spec(tmp_path, program="nope"), "unknown program 'nope'"),
        "missing scan": (job_spec(tmp_path, scan=str(tmp_path / "none.ply")), "none.ply: no such file or folder"),
        "bad setting": (job_spec(tmp_path, config={"objective": {"nonsense": 1}}), "unknown setting(s) 'nonsense'"),
        "short budget": (job_spec(tmp_path, config={"budget": 0.5}), "budget must be a number of seconds >= 2"),
        "no scan": (job_spec(tmp_path, scan=None), "names no scan"),
        "bad lock": (job_spec(tmp_path, config={"budget": 30, "locks": {"Nope": 1}}), "Nope"),
    }
    for what, (spec, expected) in cases.items():
        outcome = run_job(spec)
        assert outcome.state == "failed", what
        assert expected in outcome.error and "\n" not in outcome.error, (what, outcome.error)
        assert outcome.files == []


def test_run_job_fits_a_scannet_object_and_honours_stop(tmp_path):
    from tests.fixtures.scannet import make_scannet_scene

    make_scannet_scene(tmp_path / "scene")
    reports: list[dict] = []
    outcome = run_job(job_spec(tmp_path, scan=str(tmp_path / "scene"), object_id=1), report=reports.append, interval=0.0)
    assert outcome.state == "succeeded" and "result.json" in outcome.files and outcome.evaluations >= 1
    assert reports and all(set(r) >= {"fraction", "step", "best_objective", "best_values", "best_pose"} for r in reports)
    result = json.loads((tmp_path / "j" / "result.json").read_text())
    assert result["provenance"]["inputs"]["object_id"] == 1

    stop = threading.Event()
    stop.set()
    assert run_job(job_spec(tmp_path, "k"), stop=stop).state == "cancelled"
    assert not (tmp_path / "k").exists()


def test_throttle_and_progress_record():
    sent = []
    t = Throttle(sent.append, interval=60)
    t({"step": 1})
    t({"step": 2})
    t({"step": 3})
    assert sent == [{"step": 1}]
    t.flush()
    assert sent == [{"step": 1}, {"step": 3}]
    rec = progress_record({"fraction": 0.5, "step": 2, "evaluations": 10, "best_objective": float("inf"),
                           "best_config": {"__pose__": 1, "Legs": 4}, "elapsed": 1.0, "phase": "search"})
    assert rec["best_values"] == {"Legs": 4} and rec["best_objective"] is None and json.dumps(rec)
