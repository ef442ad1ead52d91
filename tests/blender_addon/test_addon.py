"""The Blender add-on's package (blender_addon/): the extension's manifest and zip, its imports, and what
it does in this process's bpy without a job service: scan points, register/unregister symmetry, the
local backend's command line and exit, lock values, a backend that is down or remote while Blender's
online access is off. Jobs against the real service: test_addon_jobs.py (this process's bpy) and
test_addon_backend.py (the installed extension in fresh Blender processes)."""

from __future__ import annotations

import ast
import atexit
import json
import math
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.fixtures.parity import HAS_BPY, requires_bpy

ROOT = Path(__file__).resolve().parents[2]
BLENDER_EXT = None
if HAS_BPY:
    import importlib.util

    _spec = importlib.util.find_spec("bpy")
    _cand = Path(_spec.origin).parent / "5.0" / "scripts" / "addons_core" / "bl_pkg" / "cli" / "blender_ext.py"
    BLENDER_EXT = _cand if _cand.is_file() else None

from .scene_helpers import close, import_scan, scene_state

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


# -- in Blender, no service needed ------------------------------------------------------------------

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
    assert close(list(co[3:6]), [1.0, 3.0, 3.0], 1e-5)  # (1, 0, 0) turned 90 degrees about z, moved
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
    assert len(co) == 9 and close(list(co[6:9]), [-1.0, 2.0, 3.0], 1e-5)
    ply = points_to_ply(co)
    body = ply.partition(b"end_header\n")[2]
    assert array("f", body).tolist() == co.tolist()


@requires_bpy
def test_backend_down_is_an_error_and_the_scene_is_untouched(addon):
    import socket

    import bpy

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    bpy.context.preferences.addons["blender_addon"].preferences.backend_url = f"http://127.0.0.1:{port}"
    import_scan()
    before = scene_state()
    with pytest.raises(RuntimeError, match="not reachable"):
        bpy.ops.shapeprog.reconstruct(scan="chair_scan", program="chair", wait=True)
    assert scene_state() == before


@requires_bpy
def test_a_remote_backend_needs_online_access(addon, monkeypatch):
    import bpy

    from blender_addon import preferences

    monkeypatch.setattr(preferences, "_online_access", lambda: False)
    bpy.context.preferences.addons["blender_addon"].preferences.backend_url = "http://192.0.2.7:8765"
    import_scan()
    with pytest.raises(RuntimeError, match="online access is off"):
        bpy.ops.shapeprog.reconstruct(scan="chair_scan", program="chair", wait=True)
    monkeypatch.setattr(preferences, "_online_access", lambda: True)
    assert preferences.online_access_error("http://192.0.2.7:8765") == ""
    monkeypatch.setattr(preferences, "_online_access", lambda: False)
    assert preferences.online_access_error("http://localhost:9") == ""


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
