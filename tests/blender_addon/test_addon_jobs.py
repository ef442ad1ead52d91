"""The add-on's jobs in this process's bpy against the real job service (``live``: the session's
``shapeprog serve``, see conftest.py): the scripting contract, previews, results, Refine, cancel and every
failure leaving the scene untouched, one job per scan, program objects, scan files and frame folders, the
report, opening another file, the timer's status line and program list.

Fits are real and short: an evaluation budget with quick search settings under a time budget no fit comes
near (:func:`fast`), so each result is the seed's, whatever the machine's load. What the add-on sent is
read from the record of its client's requests (``live.requests``) and from what the service received."""

from __future__ import annotations

import base64
import io
import json
import time
import zipfile
from pathlib import Path

import pytest

from tests.fixtures.parity import requires_bpy

from .scene_helpers import ROOT, SCENE, close, import_scan, pump_until, scene_state, values

pytestmark = requires_bpy

QUICK = {"mcts": {"pilot_steps": 4, "refine_steps": 4, "final_steps": 6}}
"""Short mcts phases, sent as the operators' ``config``."""
BUDGET = 300.0
"""A time budget no test fit comes near: its evaluation count ends it (a budget is a hard time limit)."""
TOKEN = "s3cret-token-0123456789"


def fast(max_evaluations: int = 30, **extra) -> dict:
    """Operator arguments of a short fit whose end is decided by its evaluation count."""
    return {"budget": BUDGET, "max_evaluations": max_evaluations, "config": json.dumps(QUICK), **extra}


LONG = {"budget": 600.0, "max_evaluations": 1_000_000, "config": json.dumps(QUICK)}
"""A fit that runs until it is cancelled."""


def _running_job():
    from blender_addon import state

    return next(iter(state.JOBS.values()))


def _served(live, job_id: str) -> dict:
    """The job's result.json as the service serves it."""
    return live.client.result(job_id)


def _tiny_scan(name: str = "tiny"):
    """A three-vertex mesh: the service accepts the upload, the fit refuses it (too few points)."""
    import bpy

    obj = bpy.data.objects.new(name, bpy.data.meshes.new(name))
    obj.data.from_pydata([(0, 0, 0), (1, 0, 0), (0, 1, 0)], [], [])
    bpy.context.scene.collection.objects.link(obj)
    return obj


def test_reconstruct_with_a_library_program_applies_the_result(live):
    import bpy

    scan = import_scan()
    assert bpy.ops.shapeprog.reconstruct(scan="chair_scan", program="chair", method="mcts", seed=3, wait=True,
                                         **fast()) == {"FINISHED"}
    obj = bpy.data.objects["chair_scan_fit"]
    sp = obj.shapeprog
    served = _served(live, sp.job_id)
    want = {**served["discrete"], **served["continuous"]}
    got = values(obj)
    assert served["status"] == "succeeded" and all(close(got[k], v, 1e-6) for k, v in want.items()), (got, want)
    assert close([list(r) for r in obj.matrix_world], served["world_from_program"], 1e-6)
    assert sp.is_result and sp.program == "chair" and sp.scan == "chair_scan" and json.loads(sp.result_json) == served
    job = live.client.job(sp.job_id)
    assert job["state"] == "succeeded" and job["label"] == "chair_scan" and job["program"] == "chair"
    assert Path(sp.report_path).is_file() and Path(sp.report_path).read_bytes() == live.client.file(sp.job_id, "report.png")
    assert [lk.name for lk in sp.locks] == list(want) and not any(lk.locked for lk in sp.locks)
    assert [lk.name for lk in sp.locks] == [p["name"] for p in live.client.program("chair")["parameters"]]
    assert sorted(o.name for o in bpy.data.objects) == ["chair_scan", "chair_scan_fit"]  # no preview left behind
    # the program's object came from the service's .blend (GET /v1/programs/chair/blend, Program.object)
    assert live.requests.any("GET", "/v1/programs/chair/blend") and obj.modifiers[0].node_group.name == "Chair"
    (submit,) = live.submitted()
    assert submit["program"] == "chair" and submit["label"] == "chair_scan"
    assert submit["options"] == {"method": "mcts", "budget": BUDGET, "seed": 3, "max_evaluations": 30,
                                 "config": QUICK}  # no device: the server's own
    assert job["options"]["device"] == "cpu" and job["options"]["seed"] == 3 and job["options"]["max_evaluations"] == 30
    ply = base64.b64decode(submit["scan"]["ply"])
    header, _, body = ply.partition(b"end_header\n")
    assert b"element vertex %d" % len(scan.data.vertices) in header and len(body) == 12 * len(scan.data.vertices)
    assert (live.job_folder(sp.job_id) / "inputs" / "scan.ply").read_bytes() == ply  # what the service fitted


def test_progress_shows_the_best_candidate_on_a_preview_object(live):
    import bpy

    import_scan()
    assert bpy.ops.shapeprog.reconstruct(scan="chair_scan", program="chair", **fast(200)) == {"FINISHED"}
    job = _running_job()
    pump_until(lambda: job.preview or job.done)
    preview = bpy.data.objects[job.preview]
    assert preview.display_type == "WIRE" and preview.hide_select
    shown, matrix = values(preview), [list(r) for r in preview.matrix_world]
    assert 0 < job.fraction < 1 and job.state == "running" and job.best_objective is not None
    # the preview shows a candidate the service reported as the best so far: its values and pose
    reported = [a["progress"] for a in live.requests.answers("GET", f"/v1/jobs/{job.remote_id}")
                if isinstance(a, dict) and a.get("progress")]
    assert any(all(close(shown[k], p["best_values"][k], 1e-5) for k in shown) and close(matrix, p["best_pose"], 1e-5)
               for p in reported), (shown, reported)
    assert shown["Leg Style"] in ("Four Legs", "Sled", "Star Base")
    pump_until(lambda: job.done)
    assert job.ok and sorted(o.name for o in bpy.data.objects) == ["chair_scan", "chair_scan_fit"]


def test_cancel_leaves_the_scene_untouched(live):
    import bpy

    import_scan()
    before = scene_state()
    bpy.ops.shapeprog.reconstruct(scan="chair_scan", program="chair", **LONG)
    job = _running_job()
    pump_until(lambda: job.preview or job.done)
    assert job.preview and scene_state() != before  # the preview shows
    assert bpy.ops.shapeprog.cancel(job=job.key) == {"FINISHED"}
    pump_until(lambda: job.done)
    assert job.state == "cancelled" and not job.ok
    assert live.requests.any("POST", f"/v1/jobs/{job.remote_id}/cancel")
    assert live.client.job(job.remote_id)["state"] == "cancelled"
    assert scene_state() == before


def test_a_failed_job_reports_one_line_and_leaves_the_scene_untouched(live):
    import bpy

    from blender_addon import state

    _tiny_scan()
    before = scene_state()
    with pytest.raises(RuntimeError, match="at least 50 are needed") as err:
        bpy.ops.shapeprog.reconstruct(scan="tiny", program="chair", wait=True, **fast())
    msg = str(err.value).strip()
    assert len(msg.splitlines()) == 1 and "tiny: scan: only 3 points; at least 50 are needed to fit" in msg
    assert str(live.server.data_dir) not in msg and "/inputs/" not in msg  # the service names the field, not its files
    assert scene_state() == before
    assert "at least 50" in state.LAST_ERROR
    (accepted,) = live.requests.answers("POST", "/v1/jobs")  # the upload passed; the fit refused the scan
    remote = live.client.job(accepted["id"])
    assert remote["state"] == "failed" and remote["label"] == "tiny" and remote["error"] in msg


def test_a_refused_token_is_an_error(addon, tmp_path):
    import bpy

    from backend.service.process import ServerProcess
    from blender_addon.client import BackendClient

    with ServerProcess(tmp_path / "data", "--workers", "1", env={"SHAPEPROG_TOKEN": TOKEN}, token=TOKEN) as server:
        prefs = bpy.context.preferences.addons["blender_addon"].preferences
        prefs.backend_url, prefs.token = server.url, "wrong-token"
        import_scan()
        before = scene_state()
        with pytest.raises(RuntimeError, match="refused the token"):
            bpy.ops.shapeprog.reconstruct(scan="chair_scan", program="chair", wait=True, **fast())
        assert scene_state() == before
        assert BackendClient(server.url, TOKEN).health()["workers"]["total"] == 1  # the right one is let in


def test_unsupported_nodes_are_named(live):
    import bpy

    from tests.fixtures.parity import new_tree

    ng = new_tree("Blobby")
    sub = ng.nodes.new("GeometryNodeSubdivisionSurface")
    cube = ng.nodes.new("GeometryNodeMeshCube")
    ng.links.new(cube.outputs[0], sub.inputs[0])
    ng.links.new(sub.outputs[0], next(n for n in ng.nodes if n.bl_idname == "NodeGroupOutput").inputs[0])
    me = bpy.data.meshes.new("blob")
    prog = bpy.data.objects.new("Blob", me)
    bpy.context.scene.collection.objects.link(prog)
    prog.modifiers.new("GeometryNodes", "NODES").node_group = ng
    import_scan()
    before = scene_state()
    with pytest.raises(RuntimeError, match="GeometryNodeSubdivisionSurface") as err:
        bpy.ops.shapeprog.reconstruct(scan="chair_scan", program="Blob", wait=True, **fast())
    assert len(str(err.value).strip().splitlines()) == 1 and "program: program:" not in str(err.value)
    assert scene_state() == before
    (refused,) = live.requests.answers("POST", "/v1/programs")  # the service checked the upload and named the node
    assert refused.status == 422 and "GeometryNodeSubdivisionSurface" in str(refused)
    assert not live.submitted()


def test_refine_sends_current_values_and_locks_and_updates_the_object(live):
    import bpy

    from blender_addon import programs

    import_scan()
    bpy.ops.shapeprog.reconstruct(scan="chair_scan", program="chair", wait=True, **fast())
    obj = bpy.data.objects["chair_scan_fit"]
    first = _served(live, obj.shapeprog.job_id)
    programs.set_values(obj, {"Leg Style": "Four Legs", "Seat Width": 0.5})
    obj.location.x += 0.1
    obj.shapeprog.locks["Leg Style"].locked = True
    assert bpy.ops.shapeprog.refine(target="chair_scan_fit", budget=250.0, config=json.dumps(QUICK), wait=True) == {"FINISHED"}
    submit = live.submitted()[-1]
    opts = submit["options"]
    assert submit["program"] == "chair" and opts["budget"] == 250.0 and opts["method"] == "mcts"
    assert opts["max_evaluations"] == 30 and opts["seed"] == 0  # what the call leaves out: as the result was made
    assert opts["locks"] == {"Leg Style": "Four Legs"}
    assert opts["init"]["Leg Style"] == "Four Legs" and close(opts["init"]["Seat Width"], 0.5)
    assert close(opts["init_pose"][0][3], first["world_from_program"][0][3] + 0.1, 1e-5)
    job = live.client.job(obj.shapeprog.job_id)
    assert job["options"]["locks"] == {"Leg Style": "Four Legs"} and job["state"] == "succeeded"
    refined = _served(live, obj.shapeprog.job_id)
    assert refined["discrete"]["Leg Style"] == "Four Legs"  # held
    assert sorted(o.name for o in bpy.data.objects) == ["chair_scan", "chair_scan_fit"]  # updated in place
    vals = values(obj)
    assert all(close(vals[k], v, 1e-6) for k, v in {**refined["discrete"], **refined["continuous"]}.items())
    assert obj.shapeprog.locks["Leg Style"].locked and json.loads(obj.shapeprog.result_json) == refined
    assert close([list(r) for r in obj.matrix_world], refined["world_from_program"], 1e-6)


def test_one_job_per_selected_scan(live):
    import bpy

    a, b = import_scan("scan_a"), import_scan("scan_b")
    a.select_set(True)
    b.select_set(True)
    sp = bpy.context.scene.shapeprog
    sp.program_source, sp.library_program, sp.budget, sp.max_evaluations = "LIBRARY", "chair", BUDGET, 20
    assert bpy.ops.shapeprog.reconstruct(scan="scan_a", program="chair", wait=True, **fast(budget=250.0)) == {"FINISHED"}
    assert bpy.context.selected_objects == [bpy.data.objects["scan_a_fit"]]  # the result is selected and active
    assert bpy.context.view_layer.objects.active.name == "scan_a_fit"
    live.requests.clear()
    a.select_set(True)
    b.select_set(True)
    assert bpy.ops.shapeprog.reconstruct(wait=True) == {"FINISHED"}  # the panel's settings, not the last call's
    assert {"scan_a_fit", "scan_b_fit"} <= set(bpy.data.objects.keys())
    assert sorted(s["label"] for s in live.submitted()) == ["scan_a", "scan_b"]
    assert all(s["options"]["budget"] == BUDGET and s["options"]["max_evaluations"] == 20 for s in live.submitted())
    assert all("config" not in s["options"] and "device" not in s["options"] for s in live.submitted())
    sp.device = "cpu"
    a.select_set(True)
    assert bpy.ops.shapeprog.reconstruct(wait=True) == {"FINISHED"}
    assert live.submitted()[-1]["options"]["device"] == "cpu"
    assert bpy.context.view_layer.objects.active.shapeprog.device == "cpu"
    sp.device = "cuda"  # this service fits on cpu: one line saying so, nothing changes
    a.select_set(True)
    before = scene_state()
    with pytest.raises(RuntimeError, match="options.device: this server fits on cpu"):
        bpy.ops.shapeprog.reconstruct(wait=True)
    assert live.submitted()[-1]["options"]["device"] == "cuda" and scene_state() == before


def test_the_program_can_be_an_object_in_the_file(live):
    import bpy

    from blender_addon.programs import append_program_object

    prog, _ = append_program_object(str(ROOT / "sample_scenes" / "programs" / "chair.blend"), "chair")
    bpy.context.scene.collection.objects.link(prog)
    prog.name = "MyChair"
    import_scan()
    assert bpy.ops.shapeprog.reconstruct(scan="chair_scan", program="MyChair", wait=True, **fast()) == {"FINISHED"}
    (upload,) = live.requests.bodies("POST", "/v1/programs")
    assert upload["entry"] == "Chair" and upload["object"] == "MyChair"
    (submit,) = live.submitted()
    assert len(submit["program"]) == 64  # the uploaded program's id
    uploaded = live.client.program(submit["program"])
    assert uploaded["source"] == "upload" and uploaded["object"] == "MyChair" and uploaded["name"] == "MyChair"
    res = bpy.data.objects["chair_scan_fit"]
    assert res.modifiers[0].node_group == prog.modifiers[0].node_group and res.shapeprog.program_kind == "UPLOAD"
    served = _served(live, res.shapeprog.job_id)
    assert values(res)["Leg Style"] == served["discrete"]["Leg Style"]
    assert "fitted.blend" not in live.client.job(res.shapeprog.job_id)["files"]  # uploads have no .blend
    assert not live.requests.any("GET", "/blend")


def test_show_report_loads_the_report_image(live):
    import bpy

    import_scan()
    bpy.ops.shapeprog.reconstruct(scan="chair_scan", program="chair", wait=True, **fast())
    assert bpy.ops.shapeprog.show_report(target="chair_scan_fit") == {"FINISHED"}
    assert any(Path(bpy.path.abspath(i.filepath)).name == "report.png" for i in bpy.data.images)


def test_missing_inputs_are_one_line_errors(live):
    import bpy

    jobs_before = live.client.jobs()

    with pytest.raises(RuntimeError, match="no object named 'nope'"):
        bpy.ops.shapeprog.reconstruct(scan="nope", program="chair", wait=True)
    import_scan()
    with pytest.raises(RuntimeError, match="unknown program 'sofa2'"):
        bpy.ops.shapeprog.reconstruct(scan="chair_scan", program="sofa2", wait=True)
    with pytest.raises(RuntimeError, match="not a ShapeProg result"):
        bpy.ops.shapeprog.refine(target="chair_scan", wait=True)
    bpy.ops.object.select_all(action="DESELECT")
    bpy.context.scene.shapeprog.library_program = "chair"
    with pytest.raises(RuntimeError, match="select the scan"):
        bpy.ops.shapeprog.reconstruct(wait=True)
    (refused,) = live.requests.answers("POST", "/v1/jobs")  # the service's own word on the unknown program
    assert refused.status == 422 and "program: unknown program 'sofa2'" in str(refused)
    assert live.client.jobs() == jobs_before  # no job was made


def test_opening_another_file_cancels_the_running_jobs(live):
    import bpy

    import_scan()
    bpy.ops.shapeprog.reconstruct(scan="chair_scan", program="chair", **LONG)
    job = _running_job()
    pump_until(lambda: job.remote_id)
    bpy.ops.wm.read_homefile(use_empty=True)
    assert job.done and job.state == "cancelled"
    deadline = time.monotonic() + 60
    while live.client.job(job.remote_id)["state"] in ("queued", "running"):
        assert time.monotonic() < deadline, "the service still runs the job"
        time.sleep(0.1)
    assert live.client.job(job.remote_id)["state"] == "cancelled"
    assert live.requests.any("POST", f"/v1/jobs/{job.remote_id}/cancel")


def test_a_scan_file_or_frame_folder(live):
    import bpy

    sp = bpy.context.scene.shapeprog
    sp.scan_source, sp.scan_path, sp.instance_id, sp.budget, sp.max_evaluations = "FILE", str(SCENE), 1, BUDGET, 20
    quick = json.dumps(QUICK)
    assert bpy.ops.shapeprog.reconstruct(program="chair", config=quick, wait=True) == {"FINISHED"}
    assert bpy.ops.shapeprog.reconstruct(scan_path=str(SCENE / "object_points.ply"), program="chair", config=quick,
                                         wait=True) == {"FINISHED"}
    frames, ply = [s["scan"] for s in live.submitted()]
    assert frames["instance_id"] == 1 and ply["ply"] == base64.b64encode((SCENE / "object_points.ply").read_bytes()).decode()
    with zipfile.ZipFile(io.BytesIO(base64.b64decode(frames["frames_zip"]))) as zf:
        names = set(zf.namelist())
    assert {"intrinsic/intrinsic_depth.txt", "pose/0.txt", "depth/0.png"} <= names
    res = bpy.data.objects["chair_s1_fit"]
    assert res.shapeprog.scan == "" and res.shapeprog.scan_path == str(SCENE) and "object_points_fit" in bpy.data.objects
    first = live.client.job(res.shapeprog.job_id)
    assert first["state"] == "succeeded" and (live.job_folder(first["id"]) / "inputs" / "frames" / "depth").is_dir()
    # Refine reads the same file again
    assert bpy.ops.shapeprog.refine(target="chair_s1_fit", config=quick, wait=True) == {"FINISHED"}
    assert "frames_zip" in live.submitted()[-1]["scan"] and res.shapeprog.job_id != first["id"]
    sp.scan_path = str(SCENE / "nope.ply")
    with pytest.raises(RuntimeError, match="no such file or folder"):
        bpy.ops.shapeprog.reconstruct(program="chair", wait=True)


def test_the_timer_keeps_the_status_line_and_program_list_fresh(live):
    import bpy

    from blender_addon import jobs, state
    from translator import __version__

    assert bpy.app.timers.is_registered(jobs._timer)
    assert jobs._timer() == 1.0 or state.HEALTH.state == "checking"  # asks /v1/health
    pump_until(lambda: state.HEALTH.state == "ok")
    assert state.HEALTH.text.startswith(f"ShapeProg {__version__} | cpu | queue 0")
    jobs._timer()  # healthy: asks for the programs
    pump_until(lambda: not state.PROGRAMS.loading and state.PROGRAMS.programs)
    assert state.PROGRAMS.get("chair")["parameters"][0]["name"] == "Leg Style"
    assert state.PROGRAMS.get("chair") == live.client.program("chair")
    bpy.context.scene.shapeprog.library_program = "chair"
    assert [lk.name for lk in bpy.context.scene.shapeprog.locks][:1] == ["Leg Style"]
    bpy.context.preferences.addons["blender_addon"].preferences.backend_url = "http://127.0.0.1:9"
    jobs._timer()  # the URL changed: asks again, and says why it failed
    pump_until(lambda: state.HEALTH.state == "error")
    assert "not reachable" in state.HEALTH.text
