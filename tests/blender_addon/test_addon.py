"""The Blender add-on (blender_addon/) in this process's bpy, against a scripted stand-in for the job
service (tests/addon_fake_backend.py): the scripting contract, previews, results, Refine, cancel and
every failure leaving the scene untouched, register/unregister symmetry, the extension's manifest and
zip. The real service is exercised in tests/test_addon_backend.py."""

from __future__ import annotations

import ast
import atexit
import json
import math
import sys
import time
import tomllib
import zipfile
from pathlib import Path

import pytest
from parity import HAS_BPY, requires_bpy

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
SCENE = ROOT / "sample_scenes" / "scenes" / "chair_s1"
BLENDER_EXT = None
if HAS_BPY:
    import importlib.util

    _spec = importlib.util.find_spec("bpy")
    _cand = Path(_spec.origin).parent / "5.0" / "scripts" / "addons_core" / "bl_pkg" / "cli" / "blender_ext.py"
    BLENDER_EXT = _cand if _cand.is_file() else None

from addon_fake_backend import FakeBackend

# -- the package, its manifest and the zip (no Blender needed) ----------------------------------------

def _manifest() -> dict:
    with open(ROOT / "blender_addon" / "blender_manifest.toml", "rb") as fh:
        return tomllib.load(fh)


def _terse_ok(text: str) -> bool:
    """Blender's rule for taglines and permission reasons: 1-64 characters, no surrounding blanks or
    control characters, ending in a letter, digit or closing bracket (not punctuation)."""
    return (0 < len(text) <= 64 and text == text.strip() and not any(ord(c) < 32 or 127 <= ord(c) < 160 for c in text)
            and (text[-1].isalnum() or text[-1] in ")]}"))


def test_manifest_follows_blenders_extension_rules():
    m = _manifest()
    for key in ("schema_version", "id", "version", "name", "tagline", "maintainer", "type", "license",
                "blender_version_min"):
        assert key in m, key
    assert m["schema_version"] == "1.0.0" and m["id"] == "shapeprog" and m["type"] == "add-on"
    assert m["id"].isidentifier() and "__" not in m["id"] and not m["id"].startswith("_")
    with open(ROOT / "pyproject.toml", "rb") as fh:
        assert m["version"] == tomllib.load(fh)["project"]["version"]
    assert _terse_ok(m["tagline"]), m["tagline"]
    assert m["blender_version_min"] == "4.2.0"
    assert all(lic.startswith("SPDX:") for lic in m["license"]) and m["license"]
    assert set(m["permissions"]) == {"network", "files"}
    for key, reason in m["permissions"].items():
        assert _terse_ok(reason), (key, reason)
    assert not [t for t in m.get("tags", []) if t not in {"3D View", "Geometry Nodes", "Import-Export", "Mesh", "Node",
                                                          "Object", "Pipeline", "User Interface"}]


def test_the_terse_rule_refuses_what_blender_refuses():
    assert not _terse_ok("Fit shape programs to scans.")
    assert not _terse_ok("x" * 65) and not _terse_ok(" padded") and not _terse_ok("")
    assert _terse_ok("Reads scans (PLY)")


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level:
            found.add(node.module or "")
    return found


def test_the_addon_imports_only_bpy_the_standard_library_and_itself():
    allowed = set(sys.stdlib_module_names) | {"bpy", "mathutils", "addon_utils"}
    for path in sorted((ROOT / "blender_addon").rglob("*.py")):
        bad = {m for m in _imports(path) if m.split(".")[0] not in allowed}
        # the source checkout's fallback imports the translator's torch-free modules by name (importlib)
        assert not bad, f"{path.name} imports {sorted(bad)}"


@requires_bpy
def test_enabling_the_addon_imports_neither_torch_nor_backend():
    import subprocess

    code = ("import sys, json, bpy, addon_utils; sys.path.insert(0, sys.argv[1]); "
            "assert addon_utils.enable('blender_addon', default_set=True, handle_error=None); "
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'backend', 'numpy'))))")
    out = subprocess.run([sys.executable, "-c", code, str(ROOT)], check=False, capture_output=True, text=True, timeout=120, cwd="/")
    assert out.returncode == 0, out.stderr
    # bpy itself imports numpy; nothing of torch or the backend comes in
    assert not [m for m in json.loads(out.stdout.strip().splitlines()[-1]) if not m.startswith("numpy")]


def test_build_writes_an_extension_zip_with_the_translator_vendored(tmp_path):
    from backend.cli import main

    assert main(["addon", "build", "-o", str(tmp_path)]) == 0
    version = _manifest()["version"]
    path = tmp_path / f"shapeprog-{version}.zip"
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        assert {"__init__.py", "blender_manifest.toml", "operators.py", "panels.py", "client.py", "jobs.py",
                "vendor/translator/ir.py", "vendor/translator/blender_export.py",
                "vendor/translator/blender_apply.py"} <= names
        assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
        for name in ("ir.py", "blender_export.py", "blender_apply.py"):
            assert zf.read(f"vendor/translator/{name}") == (ROOT / "translator" / name).read_bytes()
        assert f'version = "{version}"' in zf.read("blender_manifest.toml").decode()
        for name in names:
            if name.endswith(".py"):
                tree = ast.parse(zf.read(name))
                mods = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
                mods |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and not n.level}
                assert not {m for m in mods if m.split(".")[0] in ("torch", "backend", "translator", "numpy")}, name


def test_build_needs_an_output_folder(capsys):
    from backend.cli import main

    assert main(["addon", "build"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "-o/--out-dir" in err


@pytest.mark.skipif(BLENDER_EXT is None, reason="Blender's extension tool (bl_pkg) is not installed")
def test_blenders_own_validator_accepts_the_zip(tmp_path):
    import subprocess

    from backend.commands.addon import build_zip

    path = build_zip(tmp_path)
    out = subprocess.run([sys.executable, str(BLENDER_EXT), "validate", str(path)], check=False, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and "Success" in out.stdout, out.stdout + out.stderr


# -- in Blender ---------------------------------------------------------------------------------------

@pytest.fixture
def addon():
    """The source checkout's add-on enabled in a fresh, empty Blender session (disabled after)."""
    import bpy  # noqa: I001 - bpy puts addon_utils on the path
    import addon_utils
    from parity import reset_blender

    reset_blender()
    mod = addon_utils.enable("blender_addon", default_set=True, handle_error=None)
    assert mod is not None and Path(mod.__file__).parent == ROOT / "blender_addon"
    yield mod
    addon_utils.disable("blender_addon", default_set=True)
    assert not hasattr(bpy.types, "SHAPEPROG_OT_reconstruct")


@pytest.fixture
def fake(addon):
    import bpy

    with FakeBackend() as backend:
        bpy.context.preferences.addons["blender_addon"].preferences.backend_url = backend.url
        truth = json.loads((SCENE / "ground_truth.json").read_text())
        backend.result = {"discrete": truth["parameters"]["discrete"], "continuous": truth["parameters"]["continuous"],
                          "world_from_program": truth["pose"]["world_from_object"], "objective": 0.0123,
                          "status": "succeeded"}
        backend.progress_values = {"Seat Height": 0.5, "Leg Style": "Star Base"}
        backend.progress_pose = truth["pose"]["world_from_object"]
        yield backend


def _import_scan(name: str = "chair_scan"):
    import bpy

    bpy.ops.wm.ply_import(filepath=str(SCENE / "object_points.ply"))
    obj = bpy.context.active_object
    obj.name = name
    return obj


def _scene_state() -> dict:
    """Every data-block by kind (names), plus the objects' transforms: what 'untouched' compares."""
    import bpy

    kinds = ("objects", "meshes", "node_groups", "materials", "images", "collections")
    out = {k: sorted(i.name for i in getattr(bpy.data, k)) for k in kinds}
    out["matrices"] = {o.name: [list(r) for r in o.matrix_world] for o in bpy.data.objects}
    return out


def _pump_until(cond, timeout: float = 20.0) -> None:
    from blender_addon import jobs

    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        jobs.pump()
        time.sleep(0.02)


def _values(obj) -> dict:
    from blender_addon import programs

    return programs.modifier_values(obj)


def _close(a, b, tol=1e-6) -> bool:
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_close(x, y, tol) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(a, b, rel_tol=tol, abs_tol=tol)
    return a == b


@requires_bpy
def test_reconstruct_with_a_library_program_applies_the_result(fake):
    import bpy

    scan = _import_scan()
    assert bpy.ops.shapeprog.reconstruct(scan="chair_scan", program="chair", method="mcts", budget=5.0, seed=3,
                                         wait=True) == {"FINISHED"}
    obj = bpy.data.objects["chair_scan_fit"]
    want = {**fake.result["discrete"], **fake.result["continuous"]}
    got = _values(obj)
    assert all(_close(got[k], v) for k, v in want.items()), (got, want)
    assert _close([list(r) for r in obj.matrix_world], fake.result["world_from_program"])
    sp = obj.shapeprog
    assert sp.is_result and sp.program == "chair" and sp.scan == "chair_scan" and json.loads(sp.result_json) == fake.result
    assert sp.job_id in fake.jobs and Path(sp.report_path).is_file()
    assert [lk.name for lk in sp.locks] == list(want) and not any(lk.locked for lk in sp.locks)
    assert sorted(o.name for o in bpy.data.objects) == ["chair_scan", "chair_scan_fit"]  # no preview left behind
    submit = next(b for m, p, b in fake.requests if m == "POST" and p == "/v1/jobs")
    assert submit["program"] == "chair" and submit["label"] == "chair_scan"
    assert submit["options"] == {"method": "mcts", "budget": 5.0, "seed": 3}  # the server's own device
    import base64

    ply = base64.b64decode(submit["scan"]["ply"])
    header, _, body = ply.partition(b"end_header\n")
    assert b"element vertex %d" % len(scan.data.vertices) in header and len(body) == 12 * len(scan.data.vertices)


@requires_bpy
def test_scan_points_are_evaluated_and_in_world_space(addon):
    from array import array

    import bpy

    from blender_addon.scan import object_points, points_to_ply

    me = bpy.data.meshes.new("m")
    me.from_pydata([(0, 0, 0), (1, 0, 0), (0, 2, 0)], [], [])
    obj = bpy.data.objects.new("scan", me)
    bpy.context.scene.collection.objects.link(obj)
    obj.location = (1, 2, 3)
    obj.rotation_euler = (0, 0, math.pi / 2)
    obj.modifiers.new("arr", "ARRAY").count = 2  # evaluated: twice the vertices
    dg = bpy.context.evaluated_depsgraph_get()
    co = object_points(obj, dg)
    assert len(co) == 3 * 6
    assert _close(list(co[3:6]), [1.0, 3.0, 3.0], 1e-5)  # (1, 0, 0) turned 90 degrees about z, moved
    # a point cloud made by geometry nodes counts too
    ng = bpy.data.node_groups.new("to points", "GeometryNodeTree")
    ng.interface.new_socket(name="Geometry", in_out="INPUT", socket_type="NodeSocketGeometry")
    ng.interface.new_socket(name="Geometry", in_out="OUTPUT", socket_type="NodeSocketGeometry")
    gi, go, mp = ng.nodes.new("NodeGroupInput"), ng.nodes.new("NodeGroupOutput"), ng.nodes.new("GeometryNodeMeshToPoints")
    ng.links.new(gi.outputs[0], mp.inputs[0])
    ng.links.new(mp.outputs[0], go.inputs[0])
    obj.modifiers.clear()
    obj.modifiers.new("pts", "NODES").node_group = ng
    dg = bpy.context.evaluated_depsgraph_get()
    dg.update()
    co = object_points(obj, dg)
    assert len(co) == 9 and _close(list(co[6:9]), [-1.0, 2.0, 3.0], 1e-5)
    ply = points_to_ply(co)
    body = ply.partition(b"end_header\n")[2]
    assert array("f", body).tolist() == co.tolist()


@requires_bpy
def test_progress_shows_the_best_candidate_on_a_preview_object(fake):
    import bpy

    from blender_addon import state

    _import_scan()
    fake.progress_steps = 4
    assert bpy.ops.shapeprog.reconstruct(scan="chair_scan", program="chair", budget=5.0) == {"FINISHED"}
    job = next(iter(state.JOBS.values()))
    _pump_until(lambda: job.preview or job.done)
    preview = bpy.data.objects[job.preview]
    assert preview.display_type == "WIRE" and preview.hide_select
    values = _values(preview)
    assert values["Leg Style"] == "Star Base" and _close(values["Seat Height"], 0.5)
    assert 0 < job.fraction < 1 and job.state == "running" and job.best_objective is not None
    _pump_until(lambda: job.done)
    assert job.ok and sorted(o.name for o in bpy.data.objects) == ["chair_scan", "chair_scan_fit"]


@requires_bpy
def test_cancel_leaves_the_scene_untouched(fake):
    import bpy

    from blender_addon import state

    _import_scan()
    before = _scene_state()
    fake.outcome = "hang"
    bpy.ops.shapeprog.reconstruct(scan="chair_scan", program="chair", budget=5.0)
    job = next(iter(state.JOBS.values()))
    _pump_until(lambda: job.preview)
    assert _scene_state() != before  # the preview shows
    assert bpy.ops.shapeprog.cancel(job=job.key) == {"FINISHED"}
    _pump_until(lambda: job.done)
    assert job.state == "cancelled" and not job.ok
    assert any(m == "POST" and p.endswith("/cancel") for m, p, _ in fake.requests)
    assert _scene_state() == before


@requires_bpy
def test_a_failed_job_reports_one_line_and_leaves_the_scene_untouched(fake):
    import bpy

    from blender_addon import state

    _import_scan()
    fake.outcome = "failed"
    before = _scene_state()
    with pytest.raises(RuntimeError, match="at least 50 are needed") as err:
        bpy.ops.shapeprog.reconstruct(scan="chair_scan", program="chair", budget=5.0, wait=True)
    assert len(str(err.value).strip().splitlines()) == 1
    assert _scene_state() == before
    assert "at least 50" in state.LAST_ERROR


@requires_bpy
def test_backend_down_is_an_error_and_the_scene_is_untouched(addon):
    import socket

    import bpy

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    bpy.context.preferences.addons["blender_addon"].preferences.backend_url = f"http://127.0.0.1:{port}"
    _import_scan()
    before = _scene_state()
    with pytest.raises(RuntimeError, match="not reachable"):
        bpy.ops.shapeprog.reconstruct(scan="chair_scan", program="chair", wait=True)
    assert _scene_state() == before


@requires_bpy
def test_a_refused_token_is_an_error(addon):
    import bpy

    with FakeBackend(token="s3cret-token-0123456789") as backend:
        prefs = bpy.context.preferences.addons["blender_addon"].preferences
        prefs.backend_url, prefs.token = backend.url, "wrong-token"
        _import_scan()
        with pytest.raises(RuntimeError, match="refused the token"):
            bpy.ops.shapeprog.reconstruct(scan="chair_scan", program="chair", wait=True)


@requires_bpy
def test_unsupported_nodes_are_named(fake):
    import bpy
    from parity import new_tree

    ng = new_tree("Blobby")
    sub = ng.nodes.new("GeometryNodeSubdivisionSurface")
    cube = ng.nodes.new("GeometryNodeMeshCube")
    ng.links.new(cube.outputs[0], sub.inputs[0])
    ng.links.new(sub.outputs[0], next(n for n in ng.nodes if n.bl_idname == "NodeGroupOutput").inputs[0])
    me = bpy.data.meshes.new("blob")
    prog = bpy.data.objects.new("Blob", me)
    bpy.context.scene.collection.objects.link(prog)
    prog.modifiers.new("GeometryNodes", "NODES").node_group = ng
    fake.unsupported = {"GeometryNodeSubdivisionSurface"}
    _import_scan()
    before = _scene_state()
    with pytest.raises(RuntimeError, match="GeometryNodeSubdivisionSurface"):
        bpy.ops.shapeprog.reconstruct(scan="chair_scan", program="Blob", wait=True)
    assert _scene_state() == before


@requires_bpy
def test_a_remote_backend_needs_online_access(addon, monkeypatch):
    import bpy

    from blender_addon import preferences

    monkeypatch.setattr(preferences, "_online_access", lambda: False)
    bpy.context.preferences.addons["blender_addon"].preferences.backend_url = "http://192.0.2.7:8765"
    _import_scan()
    with pytest.raises(RuntimeError, match="online access is off"):
        bpy.ops.shapeprog.reconstruct(scan="chair_scan", program="chair", wait=True)
    monkeypatch.setattr(preferences, "_online_access", lambda: True)
    assert preferences.online_access_error("http://192.0.2.7:8765") == ""
    monkeypatch.setattr(preferences, "_online_access", lambda: False)
    assert preferences.online_access_error("http://localhost:9") == ""


@requires_bpy
def test_refine_sends_current_values_and_locks_and_updates_the_object(fake):
    import bpy

    from blender_addon import programs

    _import_scan()
    bpy.ops.shapeprog.reconstruct(scan="chair_scan", program="chair", budget=5.0, wait=True)
    obj = bpy.data.objects["chair_scan_fit"]
    programs.set_values(obj, {"Leg Style": "Four Legs", "Seat Width": 0.5})
    obj.location.x += 0.1
    obj.shapeprog.locks["Leg Style"].locked = True
    refined = json.loads(json.dumps(fake.result))
    refined["discrete"]["Leg Style"] = "Four Legs"
    refined["continuous"]["Seat Width"] = 0.55
    refined["objective"] = 0.02
    fake.result = refined
    assert bpy.ops.shapeprog.refine(target="chair_scan_fit", budget=4.0, wait=True) == {"FINISHED"}
    submit = [b for m, p, b in fake.requests if m == "POST" and p == "/v1/jobs"][-1]
    opts = submit["options"]
    assert submit["program"] == "chair" and opts["budget"] == 4.0 and opts["method"] == "mcts"
    assert opts["locks"] == {"Leg Style": "Four Legs"}
    assert opts["init"]["Leg Style"] == "Four Legs" and _close(opts["init"]["Seat Width"], 0.5)
    assert _close(opts["init_pose"][0][3], fake.result["world_from_program"][0][3] + 0.1, 1e-5)
    assert sorted(o.name for o in bpy.data.objects) == ["chair_scan", "chair_scan_fit"]  # updated in place
    vals = _values(obj)
    assert vals["Leg Style"] == "Four Legs" and _close(vals["Seat Width"], 0.55)
    assert obj.shapeprog.locks["Leg Style"].locked and json.loads(obj.shapeprog.result_json)["objective"] == 0.02


@requires_bpy
def test_one_job_per_selected_scan(fake):
    import bpy

    a, b = _import_scan("scan_a"), _import_scan("scan_b")
    a.select_set(True)
    b.select_set(True)
    sp = bpy.context.scene.shapeprog
    sp.program_source, sp.library_program, sp.budget = "LIBRARY", "chair", 7.0
    assert bpy.ops.shapeprog.reconstruct(scan="scan_a", program="chair", budget=3.0, wait=True) == {"FINISHED"}
    assert bpy.context.selected_objects == [bpy.data.objects["scan_a_fit"]]  # the result is selected and active
    assert bpy.context.view_layer.objects.active.name == "scan_a_fit"
    fake.requests.clear()
    a.select_set(True)
    b.select_set(True)
    assert bpy.ops.shapeprog.reconstruct(wait=True) == {"FINISHED"}  # the panel's settings, not the last call's
    assert {"scan_a_fit", "scan_b_fit"} <= set(bpy.data.objects.keys())
    labels = sorted(b["label"] for m, p, b in fake.requests if m == "POST" and p == "/v1/jobs")
    assert labels == ["scan_a", "scan_b"]
    assert all(b["options"]["budget"] == 7.0 for m, p, b in fake.requests if m == "POST" and p == "/v1/jobs")
    sp.device = "cuda"
    a.select_set(True)
    assert bpy.ops.shapeprog.reconstruct(wait=True) == {"FINISHED"}
    assert [b for m, p, b in fake.requests if m == "POST" and p == "/v1/jobs"][-1]["options"]["device"] == "cuda"
    assert bpy.context.view_layer.objects.active.shapeprog.device == "cuda"


@requires_bpy
def test_the_program_can_be_an_object_in_the_file(fake):
    import bpy

    from blender_addon.programs import append_program_object

    prog, _ = append_program_object(str(ROOT / "sample_scenes" / "programs" / "chair.blend"), "chair")
    bpy.context.scene.collection.objects.link(prog)
    prog.name = "MyChair"
    _import_scan()
    assert bpy.ops.shapeprog.reconstruct(scan="chair_scan", program="MyChair", wait=True) == {"FINISHED"}
    upload = next(b for m, p, b in fake.requests if m == "POST" and p == "/v1/programs")
    assert upload["entry"] == "Chair" and upload["object"] == "MyChair"
    submit = next(b for m, p, b in fake.requests if m == "POST" and p == "/v1/jobs")
    assert len(submit["program"]) == 64  # the uploaded program's id
    res = bpy.data.objects["chair_scan_fit"]
    assert res.modifiers[0].node_group == prog.modifiers[0].node_group and res.shapeprog.program_kind == "UPLOAD"
    assert _values(res)["Leg Style"] == fake.result["discrete"]["Leg Style"]


@requires_bpy
def test_show_report_loads_the_report_image(fake):
    import bpy

    _import_scan()
    bpy.ops.shapeprog.reconstruct(scan="chair_scan", program="chair", wait=True)
    assert bpy.ops.shapeprog.show_report(target="chair_scan_fit") == {"FINISHED"}
    assert any(Path(bpy.path.abspath(i.filepath)).name == "report.png" for i in bpy.data.images)


@requires_bpy
def test_missing_inputs_are_one_line_errors(fake):
    import bpy

    with pytest.raises(RuntimeError, match="no object named 'nope'"):
        bpy.ops.shapeprog.reconstruct(scan="nope", program="chair", wait=True)
    _import_scan()
    with pytest.raises(RuntimeError, match="unknown program 'sofa2'"):
        bpy.ops.shapeprog.reconstruct(scan="chair_scan", program="sofa2", wait=True)
    with pytest.raises(RuntimeError, match="not a ShapeProg result"):
        bpy.ops.shapeprog.refine(target="chair_scan", wait=True)
    bpy.ops.object.select_all(action="DESELECT")
    bpy.context.scene.shapeprog.library_program = "chair"
    with pytest.raises(RuntimeError, match="select the scan"):
        bpy.ops.shapeprog.reconstruct(wait=True)


def _snapshot() -> dict:
    import bpy

    from blender_addon import jobs

    return {
        "classes": sorted(n for n in dir(bpy.types) if n.startswith(("SHAPEPROG_", "VIEW3D_PT_shapeprog", "ShapeProg"))),
        "props": [hasattr(bpy.types.Scene, "shapeprog"), hasattr(bpy.types.Object, "shapeprog")],
        "timer": bpy.app.timers.is_registered(jobs._timer),
        "handlers": [h.__name__ for h in bpy.app.handlers.load_pre if "shapeprog" in h.__module__ or
                     h.__module__.startswith("blender_addon")],
    }


@requires_bpy
def test_register_twice_and_unregister_leave_nothing_behind(addon):
    base = {"classes": [], "props": [False, False], "timer": False, "handlers": []}
    on = _snapshot()
    assert on["classes"] and on["props"] == [True, True] and on["timer"] and on["handlers"] == ["_on_load_pre"]
    addon.register()
    addon.register()
    assert _snapshot() == on
    addon.unregister()
    off = _snapshot()
    assert off == base
    addon.register()
    assert _snapshot() == on


@requires_bpy
def test_the_local_backend_is_stopped_at_exit_while_registered(addon, monkeypatch):
    from blender_addon import backend_process

    live: list = []
    monkeypatch.setattr(atexit, "register", lambda fn: live.append(fn))
    monkeypatch.setattr(atexit, "unregister", lambda fn: live.remove(fn) if fn in live else None)
    addon.register()
    addon.register()
    assert live == [backend_process.stop]
    addon.unregister()
    assert live == []


@requires_bpy
def test_opening_another_file_cancels_the_running_jobs(fake):
    import bpy

    from blender_addon import state

    _import_scan()
    fake.outcome = "hang"
    bpy.ops.shapeprog.reconstruct(scan="chair_scan", program="chair")
    job = next(iter(state.JOBS.values()))
    _pump_until(lambda: job.remote_id)
    bpy.ops.wm.read_homefile(use_empty=True)
    assert job.done and job.state == "cancelled"
    deadline = time.monotonic() + 10
    while not any(p.endswith("/cancel") for m, p, _ in fake.requests):
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_the_local_backend_command_line(tmp_path):
    from blender_addon import backend_process as bp

    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("")
    exe = tmp_path / "shapeprog"
    exe.write_text("")
    url = "http://127.0.0.1:9876"
    assert bp.command_line(str(venv), url, "/data") == [str(venv / "bin" / "python"), "-m", "backend.cli", "serve",
                                                         "--host", "127.0.0.1", "--port", "9876", "--data-dir", "/data"]
    assert bp.command_line(str(exe), "http://localhost:8765")[:2] == [str(exe), "serve"]
    assert bp.command_line(sys.executable, url)[:3] == [sys.executable, "-m", "backend.cli"]
    for bad, why in (("", "set the Python"), (str(tmp_path / "nope"), "no such file"), (str(tmp_path), "no bin/python")):
        with pytest.raises(bp.LaunchError, match=why):
            bp.command_line(bad, url)


@requires_bpy
def test_lock_values_are_parsed_by_type_and_preferences_have_defaults(addon):
    import bpy

    from blender_addon.client import DEFAULT_URL
    from blender_addon.preferences import _Defaults
    from blender_addon.properties import lock_value

    locks = bpy.context.scene.shapeprog.locks
    cases = [("VALUE", "0.45", 0.45), ("INT", "3", 3), ("INT", "3.0", 3), ("BOOLEAN", "True", True),
             ("BOOLEAN", "off", False), ("VECTOR", "(1, 2, 3)", [1.0, 2.0, 3.0]), ("MENU", "Sled", "Sled")]
    for kind, text, want in cases:
        lk = locks.add()
        lk.name, lk.kind, lk.value, lk.choices = "P", kind, text, "Four Legs\nSled"
        assert lock_value(lk) == want
    for kind, text in (("VALUE", "x"), ("INT", "2.5"), ("BOOLEAN", "maybe"), ("VECTOR", "1 2"), ("MENU", "Wheels")):
        lk = locks.add()
        lk.name, lk.kind, lk.value, lk.choices = "P", kind, text, "Four Legs\nSled"
        with pytest.raises(ValueError, match=f"lock 'P': {text!r} is not a value of type {kind.lower()}"):
            lock_value(lk)
    assert _Defaults().backend_url == DEFAULT_URL and _Defaults().timeout == 30.0


@requires_bpy
def test_a_scan_file_or_frame_folder(fake):
    import base64
    import io

    import bpy

    sp = bpy.context.scene.shapeprog
    sp.scan_source, sp.scan_path, sp.instance_id = "FILE", str(SCENE), 1
    assert bpy.ops.shapeprog.reconstruct(program="chair", wait=True) == {"FINISHED"}
    assert bpy.ops.shapeprog.reconstruct(scan_path=str(SCENE / "object_points.ply"), program="chair", wait=True) == {"FINISHED"}
    frames, ply = [b["scan"] for m, p, b in fake.requests if m == "POST" and p == "/v1/jobs"]
    assert frames["instance_id"] == 1 and ply["ply"] == base64.b64encode((SCENE / "object_points.ply").read_bytes()).decode()
    with zipfile.ZipFile(io.BytesIO(base64.b64decode(frames["frames_zip"]))) as zf:
        names = set(zf.namelist())
    assert {"intrinsic/intrinsic_depth.txt", "pose/0.txt", "depth/0.png"} <= names
    res = bpy.data.objects["chair_s1_fit"]
    assert res.shapeprog.scan == "" and res.shapeprog.scan_path == str(SCENE) and "object_points_fit" in bpy.data.objects
    # Refine reads the same file again
    assert bpy.ops.shapeprog.refine(target="chair_s1_fit", wait=True) == {"FINISHED"}
    assert "frames_zip" in [b for m, p, b in fake.requests if m == "POST" and p == "/v1/jobs"][-1]["scan"]
    sp.scan_path = str(SCENE / "nope.ply")
    with pytest.raises(RuntimeError, match="no such file or folder"):
        bpy.ops.shapeprog.reconstruct(program="chair", wait=True)


@requires_bpy
def test_the_timer_keeps_the_status_line_and_program_list_fresh(fake):
    import bpy

    from blender_addon import jobs, state

    assert bpy.app.timers.is_registered(jobs._timer)
    assert jobs._timer() == 1.0 or state.HEALTH.state == "checking"  # asks /v1/health
    _pump_until(lambda: state.HEALTH.state == "ok")
    assert state.HEALTH.text.startswith("ShapeProg 0.1.0 | cpu | queue 0")
    jobs._timer()  # healthy: asks for the programs
    _pump_until(lambda: not state.PROGRAMS.loading and state.PROGRAMS.programs)
    assert state.PROGRAMS.get("chair")["parameters"][0]["name"] == "Leg Style"
    bpy.context.scene.shapeprog.library_program = "chair"
    assert [lk.name for lk in bpy.context.scene.shapeprog.locks][:1] == ["Leg Style"]
    bpy.context.preferences.addons["blender_addon"].preferences.backend_url = "http://127.0.0.1:9"
    jobs._timer()  # the URL changed: asks again, and says why it failed
    _pump_until(lambda: state.HEALTH.state == "error")
    assert "not reachable" in state.HEALTH.text
