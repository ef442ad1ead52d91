"""Fit jobs without the web server: run_job's outcomes, the local executor (cancel, a worker that dies),
batch manifests, and the service's pieces that need no HTTP (store, uploads, settings, error lines)."""

from __future__ import annotations

import io
import json
import os
import signal
import stat
import threading
import time
import zipfile
from pathlib import Path

import pytest

from backend.jobs import JobOutcome, JobSpec, LocalExecutor, run_job
from backend.jobs.manifest import ManifestError, is_complete, read_manifest
from backend.jobs.spec import progress_record
from backend.jobs.worker import Throttle
from tests.fixtures import ROOT

CHAIR_PLY = ROOT / "sample_scenes" / "scenes" / "chair_s1" / "object_points.ply"
QUICK = {"mcts": {"pilot_steps": 4, "refine_steps": 4, "final_steps": 6}}


def _spec(tmp: Path, name: str = "j", **kw) -> JobSpec:
    base = {"id": name, "program": "chair", "output": str(tmp / name), "scan": str(CHAIR_PLY),
            "config": {"budget": 300, "max_evaluations": 20, **QUICK}}
    return JobSpec(**{**base, **kw})


# -- run_job


def test_run_job_reports_user_errors_as_one_line_failures(tmp_path):
    cases = {
        "unknown program": (_spec(tmp_path, program="nope"), "unknown program 'nope'"),
        "missing scan": (_spec(tmp_path, scan=str(tmp_path / "none.ply")), "none.ply: no such file or folder"),
        "bad setting": (_spec(tmp_path, config={"objective": {"nonsense": 1}}), "unknown setting(s) 'nonsense'"),
        "short budget": (_spec(tmp_path, config={"budget": 0.5}), "budget must be a number of seconds >= 2"),
        "no scan": (_spec(tmp_path, scan=None), "names no scan"),
        "bad lock": (_spec(tmp_path, config={"budget": 30, "locks": {"Nope": 1}}), "Nope"),
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
    outcome = run_job(_spec(tmp_path, scan=str(tmp_path / "scene"), object_id=1), report=reports.append, interval=0.0)
    assert outcome.state == "succeeded" and "result.json" in outcome.files and outcome.evaluations >= 1
    assert reports and all(set(r) >= {"fraction", "step", "best_objective", "best_values", "best_pose"} for r in reports)
    result = json.loads((tmp_path / "j" / "result.json").read_text())
    assert result["provenance"]["inputs"]["object_id"] == 1

    stop = threading.Event()
    stop.set()
    assert run_job(_spec(tmp_path, "k"), stop=stop).state == "cancelled"
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


# -- the local executor


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
        long = _spec(tmp_path, "long", config={"budget": 200, **QUICK})
        h_long = ex.submit(long, on_done=on_done, on_start=lambda _: started.set())
        h_queued = ex.submit(_spec(tmp_path, "queued"), on_done=on_done)
        assert ex.busy == 1 and ex.queued == 1
        assert ex.cancel(h_queued) is True and done["queued"].state == "cancelled"
        assert started.wait(120)
        time.sleep(2.0)
        assert ex.cancel(h_long) is False
        outcome = wait_for("long")
        assert outcome.state == "cancelled" and "result.json" in outcome.files
        assert json.loads((tmp_path / "long" / "result.json").read_text())["status"] == "interrupted"

        # a worker killed mid-fit: its job fails with one line, the next job gets a new worker
        started.clear()
        ex.submit(_spec(tmp_path, "victim", config={"budget": 200, **QUICK}), on_done=on_done,
                  on_start=lambda _: started.set())
        assert started.wait(120)
        for p in list(ex._pool._processes.values()):
            os.kill(p.pid, signal.SIGKILL)
        outcome = wait_for("victim")
        assert outcome.state == "failed" and "worker process died" in outcome.error
        ex.submit(_spec(tmp_path, "after"), on_done=on_done)
        assert wait_for("after").state == "succeeded"
    finally:
        ex.shutdown()


# -- manifests


def test_manifests_in_csv_and_json(tmp_path):
    (tmp_path / "scans").mkdir()
    csv_text = ("name,program,scan,frames,instance_id,object_id,budget,max_evaluations,options\n"
                "a,chair,scans/a.ply,,,,30,,\n"
                ",table,,frames/t,1,,,50,\"{\"\"seed\"\": 3}\"\n"
                "c,bed,scene0007_00,,,1,,,\n"
                "d,chair,scans/a.ply,,,,,abc,\n"
                "e,chair,,,,,,,\n"
                "a,chair,scans/b.ply,,,,,,\"{\"\"objective\"\": {\"\"nonsense\"\": 1}}\"\n")
    (tmp_path / "m.csv").write_text(csv_text)
    rows = read_manifest(tmp_path / "m.csv", tmp_path / "out", budget=20)
    assert [r.name for r in rows] == ["a", "002_table_t", "c", "d", "e", "a_6"]
    a, t, c, d, e, a6 = rows
    assert a.spec.scan == str(tmp_path / "scans" / "a.ply") and a.spec.config["budget"] == 30.0
    assert a.spec.output == str(tmp_path / "out" / "a")
    assert t.spec.frames == str(tmp_path / "frames" / "t") and t.spec.instance_id == 1
    assert t.spec.config["seed"] == 3 and t.spec.config["max_evaluations"] == 50 and t.spec.config["budget"] == 20
    assert c.spec.object_id == 1 and c.spec.scan == str(tmp_path / "scene0007_00")
    assert d.spec is None and "max_evaluations: not an integer" in d.error
    assert e.spec is None and "give a scan or a frames folder" in e.error
    assert a6.spec is None and "nonsense" in a6.error

    (tmp_path / "m.json").write_text(json.dumps({"rows": [{"program": "chair", "scan": "x.ply", "colour": 1}, 7]}))
    j1, j2 = read_manifest(tmp_path / "m.json", tmp_path / "out")
    assert "unknown column(s) 'colour'" in j1.error and "expected an object" in j2.error
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ManifestError, match="not valid JSON"):
        read_manifest(tmp_path / "bad.json", tmp_path / "out")
    (tmp_path / "nohead.csv").write_text("x,y\n1,2\n")
    with pytest.raises(ManifestError, match="'program' column"):
        read_manifest(tmp_path / "nohead.csv", tmp_path / "out")

    (tmp_path / "done").mkdir()
    assert not is_complete(tmp_path / "done")
    (tmp_path / "done" / "result.json").write_text(json.dumps({"status": "interrupted"}))
    assert not is_complete(tmp_path / "done")
    (tmp_path / "done" / "result.json").write_text(json.dumps({"status": "succeeded"}))
    assert is_complete(tmp_path / "done")


# -- the service's parts


def test_zip_extraction_refuses_escapes_links_and_bombs(tmp_path):
    from backend.service.uploads import UploadError, extract_zip

    def zipped(*members, link: str | None = None) -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in members:
                zf.writestr(name, data)
            if link:
                info = zipfile.ZipInfo(link)
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                zf.writestr(info, "/etc/passwd")
        return buf.getvalue()

    extract_zip(zipped(("depth/0.png", b"x"), ("pose/0.txt", b"1")), tmp_path / "ok", "f", 10**6)
    assert (tmp_path / "ok" / "depth" / "0.png").read_bytes() == b"x"
    for members, link, what in [((("../evil", b"x"),), None, "'..'"), ((("/abs", b"x"),), None, "absolute"),
                                ((("a/../../evil", b"x"),), None, "'..'"), ((("c:/evil", b"x"),), None, "drive"),
                                ((), "link", "symbolic link")]:
        with pytest.raises(UploadError) as e:
            extract_zip(zipped(*members, link=link), tmp_path / "bad", "scan.frames_zip", 10**6)
        assert e.value.status == 422 and what in e.value.detail and e.value.detail.startswith("scan.frames_zip: ")
    with pytest.raises(UploadError) as e:
        extract_zip(zipped(("big", b"\0" * 2_000_000)), tmp_path / "bomb", "f", 1_000_000)
    assert e.value.status == 413
    with pytest.raises(UploadError) as e:
        extract_zip(b"not a zip", tmp_path / "nz", "f", 100)
    assert e.value.status == 422 and "not a zip file" in e.value.detail
    assert not (tmp_path / "evil").exists() and not (tmp_path.parent / "evil").exists()


def test_store_recovers_after_a_crash(tmp_path):
    from backend.service.store import JobStore

    store = JobStore(tmp_path / "jobs.sqlite")
    for i, state in enumerate(["succeeded", "running", "queued", "queued"]):
        store.add({"id": f"{i:032x}", "state": state, "program": "chair", "created": "t", "spec": {"id": f"{i:032x}"}})
    assert store.update(f"{0:032x}", files=["result.json"], progress={"fraction": 1.0})
    assert not store.update(f"{0:032x}", state="cancelled", only_if=("queued", "running"))
    store.close()
    store = JobStore(tmp_path / "jobs.sqlite")  # as a restarted server
    interrupted, queued = store.recover()
    assert interrupted == [f"{1:032x}"] and [r["id"] for r in queued] == [f"{2:032x}", f"{3:032x}"]
    assert store.get(f"{1:032x}")["state"] == "interrupted"
    assert store.get(f"{0:032x}")["files"] == ["result.json"] and store.get(f"{0:032x}")["state"] == "succeeded"
    assert [r["id"] for r in store.list()][:2] == [f"{3:032x}", f"{2:032x}"]
    with pytest.raises(ValueError):
        store.update(f"{0:032x}", state="exploded")


def test_settings_refuse_exposure_without_a_token(tmp_path, monkeypatch):
    from backend.service.config import ServiceConfig, ServiceError, check_config, is_loopback

    monkeypatch.delenv("SHAPEPROG_TOKEN", raising=False)
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost") and is_loopback("127.0.0.2")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4") and not is_loopback("example.org")
    assert check_config(ServiceConfig()) is None
    with pytest.raises(ServiceError, match="binding to 0.0.0.0 exposes the service"):
        check_config(ServiceConfig(host="0.0.0.0"))
    monkeypatch.setenv("SHAPEPROG_TOKEN", "x" * 20)
    assert check_config(ServiceConfig(host="0.0.0.0")) == "x" * 20
    (tmp_path / "t").write_text("short\n")
    with pytest.raises(ServiceError, match="too short"):
        check_config(ServiceConfig(token_file=str(tmp_path / "t")))
    with pytest.raises(ServiceError, match="cannot read it"):
        check_config(ServiceConfig(token_file=str(tmp_path / "missing")))
    with pytest.raises(ServiceError, match="--workers"):
        check_config(ServiceConfig(workers=0))


def test_validation_errors_are_one_line_naming_the_field():
    from pydantic import ValidationError

    from backend.service.schemas import JobRequest, one_line_error

    def err(payload):
        with pytest.raises(ValidationError) as e:
            JobRequest.model_validate(payload)
        return one_line_error(e.value.errors())

    assert err({"program": "chair", "options": {"budget": 0}}).startswith("options.budget: Input should be greater")
    assert err({"program": "chair", "scan": {"ply": ""}}).startswith("scan.ply: ")
    assert err({"program": "chair", "scan": {"nope": 1}}).startswith("scan: give the scan as an object")
    assert err({"program": "chair", "options": {"init_pose": [[1, 0], [0, 1]]}}).startswith("options.init_pose: expected a 4x4")
    assert err({"program": "chair", "options": {"budget": float("nan")}}).startswith("options.budget:")
    assert err({"scan": {"ply": "x"}}).startswith("program: Field required")
    assert JobRequest.model_validate({"program": "chair", "scan": {"points": [[0, 0, 0]]}}).scan.points == [(0, 0, 0)]
