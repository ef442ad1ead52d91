"""The job service against a live server: ``shapeprog serve`` started in a subprocess on a free loopback
port (:class:`backend.service.process.ServerProcess`), driven over HTTP by :class:`backend.client.Client`.

Fits use tiny refinements and an evaluation budget (``max_evaluations`` with a long time budget), so a
job's result does not depend on the machine's speed and equals a local fit with the same seed."""

from __future__ import annotations

import base64
import io
import json
import time
import zipfile

import httpx
import pytest

from tests.fixtures import ROOT
from tests.fixtures.jobs import CHAIR_PLY, QUICK, quick, wait_running

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from backend.client import Client, ClientError, scan_payload
from backend.service.process import ServerProcess

TABLE_FRAMES = ROOT / "sample_scenes" / "scenes" / "table_s2"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with ServerProcess(tmp_path_factory.mktemp("service"), "--workers", "2") as s:
        yield s
    print(s.log_tail(40))


@pytest.fixture()
def client(server):
    with Client(server.url) as c:
        yield c


def test_health_and_programs(client):
    h = client.health()
    assert h["executor"] == "local" and h["workers"]["total"] == 2 and "cpu" in h["devices"] and h["version"]
    progs = {p["id"]: p for p in client.programs()}
    assert {"chair", "table", "bed"} <= set(progs) and progs["chair"]["source"] == "library"

    from translator.loading import load_any
    from translator.params import parameter_space

    space = parameter_space(load_any(ROOT / "sample_scenes" / "programs" / "chair.json"))
    chair = client.program("chair")
    assert [p["name"] for p in chair["parameters"]] == [p.name for p in space]
    by_name = {p["name"]: p for p in chair["parameters"]}
    for p in space:
        assert by_name[p.name]["kind"] == p.kind and by_name[p.name]["active_when"] == str(p.active_when)


def test_a_job_equals_the_local_fit_and_streams_its_progress(client, tmp_path):
    import torch

    from backend.fit import FitConfig, fit
    from backend.io import load_scan
    from backend.options import config_from_dict
    from translator.loading import load_any

    job = client.submit("chair", scan_payload(CHAIR_PLY), quick(60, seed=3), label="chair_s1")
    assert job["state"] in ("queued", "running") and job["program"] == "chair" and job["label"] == "chair_s1"
    events = list(client.events(job["id"], timeout=300))
    kinds = [e for e, _ in events]
    assert kinds[-1] == "end" and kinds.count("end") == 1
    final = events[-1][1]
    assert final["state"] == "succeeded", final
    progress = [j["progress"] for e, j in events if e == "progress" and j["progress"]]
    assert progress, kinds  # the stream carried the fit's progress, not just the end
    assert all(0.0 <= p["fraction"] <= 1.0 and p["step"] >= 1 and p["best_objective"] > 0 for p in progress)
    assert set(progress[-1]["best_values"]) >= {"Seat Height", "Leg Style"} and len(progress[-1]["best_pose"]) == 4
    assert set(final["files"]) >= {"result.json", "fitted.ply", "fitted.obj", "report.png"}

    remote = client.result(job["id"])
    files = client.download(job["id"], tmp_path / "out")
    assert {f.name for f in files} == set(final["files"])
    assert (tmp_path / "out" / "fitted.ply").read_bytes() == client.file(job["id"], "fitted.ply")

    torch.set_num_threads(1)  # as a worker fits
    cfg = config_from_dict(FitConfig, {"budget": 300, "max_evaluations": 60, "seed": 3, **QUICK})
    local = fit(load_any(ROOT / "sample_scenes" / "programs" / "chair.json"), load_scan(CHAIR_PLY), cfg)
    assert remote["status"] == "succeeded" and remote["evaluations"] == local.evaluations
    assert remote["discrete"] == local.discrete
    for name, value in local.continuous.items():
        assert remote["continuous"][name] == pytest.approx(value, abs=1e-6), name
    assert remote["objective"] == pytest.approx(local.objective, rel=1e-9, abs=1e-12)
    flat = [x for row in remote["world_from_program"] for x in row]
    assert flat == pytest.approx([x for row in local.world_from_program for x in row], abs=1e-6)


def test_multipart_frames_upload(client, tmp_path):
    """A frame folder sent as a zip file (multipart), with the frame reader's options as form fields."""
    from backend.client import zip_folder

    zf = tmp_path / "table_s2.zip"
    zf.write_bytes(zip_folder(TABLE_FRAMES))
    job = client.submit("table", {"instance_id": 1, "max_frames": 4}, quick(40), label="table_s2", scan_file=zf)
    final = client.wait(job["id"], timeout=300)
    assert final["state"] == "succeeded", final
    inputs = client.result(job["id"])["provenance"]["inputs"]
    assert inputs["frames"].endswith("frames") and inputs["instance_id"] == 1 and inputs["max_frames"] == 4


@pytest.mark.serial  # run alone (scripts/test.sh): it measures how fast a job stops
def test_cancel_mid_run_keeps_the_best_result(client):
    job = client.submit("chair", scan_payload(CHAIR_PLY), {"budget": 200, "config": QUICK})
    wait_running(client, job["id"], steps=2)
    t0 = time.perf_counter()
    answer = client.cancel(job["id"])
    assert answer["state"] in ("running", "cancelled")
    final = client.wait(job["id"], timeout=30)
    seconds = time.perf_counter() - t0
    assert final["state"] == "cancelled", final
    result = client.result(job["id"])
    assert result["status"] == "interrupted" and result["discrete"] and result["objective"] > 0
    # the fit stopped within 2 s of the request; writing the output folder comes on top
    assert seconds - result["timings"]["outputs_s"] <= 2.0, (seconds, result["timings"])
    assert result["timings"]["search_s"] < 60
    with pytest.raises(ClientError) as e:
        client.cancel(job["id"])
    assert e.value.status == 409 and "cancelled" in e.value.detail


def test_more_jobs_than_workers_all_finish(client):
    ids = [client.submit("chair", scan_payload(CHAIR_PLY), quick(10, seed=i), label=f"many {i}")["id"] for i in range(5)]
    busiest, queued = 0, 0
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        h = client.health()
        busiest, queued = max(busiest, h["workers"]["busy"]), max(queued, h["queue"])
        states = [client.job(i)["state"] for i in ids]
        if all(s not in ("queued", "running") for s in states):
            break
        time.sleep(0.5)
    assert busiest <= 2 and queued >= 1
    jobs = [client.job(i) for i in ids]
    assert all(j["state"] == "succeeded" for j in jobs), [(j["state"], j["error"]) for j in jobs]
    listed = [j["id"] for j in client.jobs() if j["id"] in ids]
    assert listed == ids[::-1]  # newest first
    assert {j["id"] for j in client.jobs(state="succeeded")} >= set(ids)


def _status(server, method: str, path: str, **kw) -> tuple[int, str]:
    r = httpx.request(method, server.url + path, timeout=30, **kw)
    return r.status_code, (r.json().get("detail", "") if r.headers.get("content-type", "").startswith("application/json")
                           else r.text)


def test_bad_inputs_get_their_status_and_one_line(server, client):
    good_scan = scan_payload(CHAIR_PLY)

    def submit(body):
        return _status(server, "POST", "/v1/jobs", json=body)

    code, msg = submit({"program": "chair", "scan": {"ply": base64.b64encode(b"ply\nformat nonsense\n").decode()}})
    assert code == 422 and msg.startswith("scan.ply: ") and "PLY" in msg and "\n" not in msg
    code, msg = submit({"program": "nope", "scan": good_scan})
    assert code == 422 and msg.startswith("program: unknown program 'nope'")
    code, msg = submit({"program": "chair", "scan": good_scan, "options": {"budget": 0}})
    assert code == 422 and msg.startswith("options.budget:")
    code, msg = submit({"program": "chair", "scan": good_scan, "options": {"method": "magic"}})
    assert code == 422 and msg.startswith("options.method:")
    code, msg = submit({"program": "chair", "scan": good_scan, "options": {"locks": {"No Such Thing": 1}}})
    assert code == 422 and "No Such Thing" in msg
    code, msg = submit({"program": "chair", "scan": good_scan, "options": {"config": {"objective": {"nonsense": 1}}}})
    assert code == 422 and "nonsense" in msg
    code, msg = submit({"program": "chair", "scan": {"points": [[0, 0, "x"]]}})
    assert code == 422 and msg.startswith("scan.points")
    code, msg = submit({"program": "chair", "scan": {"zip": "abc"}})
    assert code == 422 and msg.startswith("scan:")
    code, msg = submit({"program": "chair"})
    assert code == 422 and msg.startswith("scan: missing")
    code, msg = _status(server, "POST", "/v1/jobs", content=b"{not json", headers={"content-type": "application/json"})
    assert code == 422 and msg.startswith("request: not valid JSON")

    # an uploaded IR with a node the translator does not support: refused as an upload and inline
    doc = json.loads((ROOT / "sample_scenes" / "programs" / "bed.json").read_text())
    group = doc["groups"][doc["entry"]]
    victim = next(n for n in group["nodes"] if n["bl_idname"] not in ("NodeGroupInput", "NodeGroupOutput"))
    victim["bl_idname"] = "GeometryNodeMeshBoolean"
    code, msg = _status(server, "POST", "/v1/programs", json=doc)
    assert code == 422 and msg.startswith("program: ") and "unsupported" in msg and "GeometryNodeMeshBoolean" in msg
    code, msg = submit({"program": doc, "scan": good_scan})
    assert code == 422 and "GeometryNodeMeshBoolean" in msg
    code, msg = _status(server, "POST", "/v1/programs", json={"schema_version": 99})
    assert code == 422 and "schema_version" in msg

    # a zip that tries to leave its folder
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("../../evil.txt", "x")
    code, msg = submit({"program": "chair", "scan": {"frames_zip": base64.b64encode(buf.getvalue()).decode()}})
    assert code == 422 and "refusing the member '../../evil.txt'" in msg
    assert not (server.data_dir / "evil.txt").exists() and not (server.data_dir.parent / "evil.txt").exists()

    # unknown ids, file names outside the output folder, states that forbid the action
    code, msg = _status(server, "GET", "/v1/jobs/0123456789abcdef0123456789abcdef")
    assert code == 404 and "no job" in msg
    code, _ = _status(server, "GET", "/v1/jobs/..%2F..%2Fjobs.sqlite")
    assert code == 404
    code, _ = _status(server, "GET", "/v1/programs/nope")
    assert code == 404
    job = client.submit("chair", good_scan, {"budget": 200, "config": QUICK})
    code, msg = _status(server, "DELETE", f"/v1/jobs/{job['id']}")
    assert code == 409 and "cancel it first" in msg
    for name in ("..%2F..%2Fjobs.sqlite", "result.json.bak", "server.log"):
        code, _ = _status(server, "GET", f"/v1/jobs/{job['id']}/files/{name}")
        assert code == 404, name
    code, msg = _status(server, "GET", f"/v1/jobs/{job['id']}/result")
    assert code == 404
    code, msg = _status(server, "POST", f"/v1/jobs/{job['id']}/retry")
    assert code == 409 and "retried" in msg
    client.cancel(job["id"])
    client.wait(job["id"], timeout=60)
    assert _status(server, "DELETE", f"/v1/jobs/{job['id']}")[0] == 204
    assert _status(server, "GET", f"/v1/jobs/{job['id']}")[0] == 404
    assert client.health()["version"]  # still serving


def test_program_upload_is_content_addressed_and_usable(client):
    doc = json.loads((ROOT / "sample_scenes" / "programs" / "chair.json").read_text())
    doc["source"] = "/etc/passwd.blend"  # names no file the server will ever open
    first = client.upload_program(doc)
    assert first["source"] == "upload" and len(first["id"]) == 64
    again = httpx.post(client.url + "/v1/programs", json=doc, timeout=30)
    assert again.status_code == 200 and again.json()["id"] == first["id"]
    assert first["id"] in {p["id"] for p in client.programs()}
    job = client.submit(first["id"], scan_payload(CHAIR_PLY), quick(30))
    final = client.wait(job["id"], timeout=300)
    assert final["state"] == "succeeded" and final["program"] == first["id"]
    assert "fitted.blend" not in final["files"]


def test_fit_server_writes_the_same_output_folder_as_a_local_fit(server, tmp_path, capsys):
    from backend.cli import main

    args = ["-p", "chair", "--scan", str(CHAIR_PLY), "--budget", "300", "--max-evaluations", "60", "--seed", "2",
            "--mcts.pilot-steps", "4", "--mcts.refine-steps", "4", "--mcts.final-steps", "6", "--quiet"]
    assert main(["fit", *args, "--server", server.url, "-o", str(tmp_path / "remote")]) == 0
    remote_out = capsys.readouterr().out
    assert main(["fit", *args, "-o", str(tmp_path / "local")]) == 0  # one torch thread here too (conftest)
    local_out = capsys.readouterr().out
    remote_files = {p.name for p in (tmp_path / "remote").iterdir()}
    assert remote_files == {p.name for p in (tmp_path / "local").iterdir()}
    a = json.loads((tmp_path / "remote" / "result.json").read_text())
    b = json.loads((tmp_path / "local" / "result.json").read_text())
    assert a["discrete"] == b["discrete"] and a["objective"] == pytest.approx(b["objective"], rel=1e-9)
    assert a["config"] == b["config"]
    assert a["provenance"]["inputs"] == b["provenance"]["inputs"] and a["provenance"]["server"]["url"] == server.url
    first = [next(line for line in out.splitlines() if line.startswith("objective")) for out in (remote_out, local_out)]
    assert first[0] == first[1]  # the same "objective ..." line

    rc = main(["fit", "-p", "chair", "--scan", str(CHAIR_PLY), "--budget", "0", "--server", server.url,
               "-o", str(tmp_path / "bad")])
    err = capsys.readouterr().err
    assert rc == 2 and "options.budget" in err and len(err.strip().splitlines()) == 1


def test_a_library_programs_blend_and_object(server, client, tmp_path):
    """``GET /v1/programs/{id}/blend`` serves a library program's .blend, ``Program.object`` names its object,
    and a library job lists (and serves) its ``fitted.blend``; uploads have neither."""
    from translator.loading import has_bpy

    chair = client.program("chair")
    assert chair["object"] == "chair" and all(p["object"] for p in client.programs() if p["source"] == "library")
    r = httpx.get(f"{server.url}/v1/programs/chair/blend", timeout=30)
    assert r.status_code == 200 and r.headers["content-type"] == "application/octet-stream"
    assert r.content == (ROOT / "sample_scenes" / "programs" / "chair.blend").read_bytes()
    code, msg = _status(server, "GET", "/v1/programs/nope/blend")
    assert code == 404 and msg == "no program 'nope'"

    doc = json.loads((ROOT / "sample_scenes" / "programs" / "chair.json").read_text())
    doc["object"] = "MyChair"
    upload = client.upload_program(doc)
    assert upload["object"] == "MyChair" and upload["name"] == "MyChair" and client.program(upload["id"])["object"] == "MyChair"
    code, msg = _status(server, "GET", f"/v1/programs/{upload['id']}/blend")
    assert code == 404 and msg == f"program '{upload['id']}' has no .blend (an uploaded program has no .blend)"

    if not has_bpy():
        pytest.skip("fitted.blend needs bpy on the server")
    job = client.wait(client.submit("chair", scan_payload(CHAIR_PLY), quick(30))["id"], timeout=300)
    assert job["state"] == "succeeded" and "fitted.blend" in job["files"], job
    path = tmp_path / "fitted.blend"
    path.write_bytes(client.file(job["id"], "fitted.blend"))
    import bpy

    with bpy.data.libraries.load(str(path)) as (src, _):
        assert chair["object"] in list(src.objects)  # the object the add-on appends
    assert "fitted.blend" not in client.wait(client.submit(upload["id"], scan_payload(CHAIR_PLY), quick(30))["id"],
                                             timeout=300)["files"]


def test_errors_name_the_field_once_and_never_a_server_path(server, client):
    code, msg = _status(server, "POST", "/v1/programs", json={"schema_version": 1})
    assert code == 422 and msg == "program: missing field 'entry'"
    code, msg = _status(server, "POST", "/v1/programs", json=[1, 2])
    assert code == 422 and msg == "program: must be a JSON object, got a list"
    code, msg = _status(server, "POST", "/v1/jobs", json={"program": {"schema_version": 1}, "scan": scan_payload(CHAIR_PLY)})
    assert code == 422 and msg == "program: missing field 'entry'"

    # a scan the upload check accepts but the fit refuses: the job's error names the request's field
    three = [[0, 0, 0], [1, 0, 0], [0, 1, 0]]
    ply = b"ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\nend_header\n" + \
        b"".join(b"%g %g %g\n" % tuple(p) for p in three)
    jobs = [client.submit("chair", {"points": three}, quick(10)),
            client.submit("chair", {"ply": base64.b64encode(ply).decode()}, quick(10))]
    r = httpx.post(f"{server.url}/v1/jobs", data={"request": json.dumps({"program": "chair", "options": quick(10)})},
                   files={"scan": ("mine.ply", ply)}, timeout=30)
    assert r.status_code == 202, r.text
    jobs.append(r.json())
    for job in jobs:
        final = client.wait(job["id"], timeout=300)
        assert final["state"] == "failed" and final["error"] == "scan: only 3 points; at least 50 are needed to fit", final
        assert str(server.data_dir) not in final["error"] and job["id"] not in final["error"]


def test_job_errors_map_the_inputs_folder_to_the_request_fields(tmp_path):
    from backend.jobs import JobSpec
    from backend.jobs.worker import inputs_as_fields

    inputs = tmp_path / "jobs" / "abc" / "inputs"
    spec = JobSpec(id="abc", program="program.json", output=str(tmp_path / "out"), frames="frames/table_s2",
                   inputs_dir=str(inputs))
    assert inputs_as_fields(f"{inputs}/frames/table_s2/depth/0.png: cannot read PNG", spec) == \
        "scan/depth/0.png: cannot read PNG"
    assert inputs_as_fields(f"{inputs}/frames/table_s2: no depth/ folder", spec) == "scan: no depth/ folder"
    assert inputs_as_fields(f"{inputs}/program.json: unsupported nodes: X", spec) == "program: unsupported nodes: X"
    assert inputs_as_fields(f"{inputs}/other.txt and {inputs}", spec) == "other.txt and inputs"
    batch = JobSpec(id="b", program="chair", output="/o", scan="/home/me/scan.ply")  # a batch's own files stay named
    assert inputs_as_fields("/home/me/scan.ply: only 3 points", batch) == "/home/me/scan.ply: only 3 points"
