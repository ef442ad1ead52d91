"""The add-on's panels and preferences drawn headless: every ``draw`` runs against a recording layout that
checks each call the way Blender would (the UILayout function exists, its keyword arguments exist, enum
values such as icons are valid, the property drawn exists on its data, the operator is registered and the
properties set on it are its own), in every state the panel can be in. A typo in the UI code fails here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.fixtures.parity import requires_bpy

from .ui_recording import RecordingLayout, draw, make_context, texts_of

ROOT = Path(__file__).resolve().parents[2]
SCENE = ROOT / "sample_scenes" / "scenes" / "chair_s1"

pytestmark = requires_bpy


def _panels():
    from blender_addon import panels

    return panels.classes


def _library_program(name: str, tmp_path: Path) -> dict:
    """A library program as ``GET /v1/programs/{name}`` describes it (the service's own catalog)."""
    from backend.service.programs import ProgramCatalog

    return ProgramCatalog(tmp_path / "programs").get(name).info


def _draw_all(context) -> list[str]:
    texts = []
    for cls in _panels():
        if "poll" in cls.__dict__ and not cls.poll(context):
            continue
        texts += texts_of(draw(cls, context))
    return texts


def _scan(name="chair_scan"):
    import bpy

    bpy.ops.wm.ply_import(filepath=str(SCENE / "object_points.ply"))
    obj = bpy.context.active_object
    obj.name = name
    return obj


def test_the_panels_are_in_the_sidebar_under_one_parent(addon):
    import bpy

    classes = _panels()
    parent = classes[0]
    assert parent.bl_space_type == "VIEW_3D" and parent.bl_region_type == "UI" and parent.bl_category == "ShapeProg"
    for cls in classes[1:]:
        assert cls.bl_parent_id == parent.__name__ and hasattr(bpy.types, cls.__name__)


def test_a_fresh_session_draws(addon):
    texts = _draw_all(make_context())
    assert "Not checked yet" in texts and "Select mesh or point-cloud objects" in texts
    assert "Reconstruct" in texts and "Start Local Backend" in texts


def test_every_state_of_backend_program_scan_and_options_draws(addon, monkeypatch, tmp_path):
    import bpy

    from blender_addon import backend_process, panels, preferences, state

    state.HEALTH.state, state.HEALTH.text = "ok", "ShapeProg 0.1.0 | cpu | queue 0"
    state.PROGRAMS.programs = [_library_program("chair", tmp_path)]
    sp = bpy.context.scene.shapeprog
    sp.program_source, sp.library_program, sp.show_locks = "LIBRARY", "chair", True
    assert [lk.name for lk in sp.locks][:2] == ["Leg Style", "Back Style"]  # the program's parameter table
    sp.locks["Leg Style"].locked = True
    a, b = _scan("a"), _scan("b")
    texts = _draw_all(make_context(selected_objects=[a]))
    assert "ShapeProg 0.1.0 | cpu | queue 0" in texts and "a" in texts and "Leg Style" in texts
    assert "2 scans: one job each" in _draw_all(make_context(selected_objects=[a, b]))
    sp.library_program = "nope"
    assert "'nope' is not in the backend's library" in _draw_all(make_context())
    state.PROGRAMS.error = "the ShapeProg backend at http://127.0.0.1:8765 is not reachable (connection refused)"
    assert state.PROGRAMS.error in _draw_all(make_context())
    sp.scan_source = "FILE"
    sp.scan_path = str(SCENE)
    _draw_all(make_context())
    # a program object: its own parameters, read from the modifier
    from blender_addon.programs import append_program_object

    prog, _ = append_program_object(str(ROOT / "sample_scenes" / "programs" / "chair.blend"), "chair")
    bpy.context.scene.collection.objects.link(prog)
    sp.program_source = "OBJECT"
    sp.program_object = prog
    assert "Leg Style" in [lk.name for lk in sp.locks]
    _draw_all(make_context(active_object=prog, selected_objects=[a, prog]))
    sp.program_object = None
    assert "Pick an object with a geometry-nodes modifier" in _draw_all(make_context())
    assert "Active object: chair" in _draw_all(make_context(active_object=prog))
    # backend errors, a remote URL without online access, a local backend running and one that died
    state.HEALTH.state, state.HEALTH.text = "error", "the ShapeProg backend is not reachable"
    state.LAST_ERROR = "chair_scan: the scan has 3 points"
    texts = _draw_all(make_context())
    assert "the ShapeProg backend is not reachable" in texts and state.LAST_ERROR in texts
    assert "Set the Python in Preferences" in texts and "Start Local Backend" in texts
    prefs = bpy.context.preferences.addons["blender_addon"].preferences
    prefs.backend_url = "http://192.0.2.7:8765"
    monkeypatch.setattr(preferences, "_online_access", lambda: False)
    assert "Online access is off: remote backends are blocked" in _draw_all(make_context())
    prefs.backend_url = "http://127.0.0.1:8765"
    for code in (None, 1):
        popen = SimpleNamespace(poll=lambda code=code: code, returncode=code)
        monkeypatch.setattr(backend_process, "_CURRENT", backend_process.BackendProcess(popen, prefs.backend_url,
                                                                                        "/nonexistent.log", ["shapeprog"]))
        texts = _draw_all(make_context())
        assert ("Stop Local Backend" in texts) == (code is None)
        assert any(t.startswith("Local backend exited with status 1") for t in texts) == (code == 1)
    monkeypatch.setattr(backend_process, "_CURRENT", None)
    assert panels.VIEW3D_PT_shapeprog_result.poll(make_context()) is False


def test_jobs_in_every_state_draw_with_progress_and_cancel(addon):
    import bpy

    from blender_addon import panels, state

    for st in ("submitting", "queued", "running", "applied", "failed", "cancelled", "interrupted"):
        job = state.Job(kind="reconstruct", label=f"scan_{st}", scene=bpy.context.scene.name, program="chair",
                        program_kind="LIBRARY", state=st)
        if st == "running":
            job.fraction, job.best_objective, job.elapsed = 0.42, 0.0312, 12.6
        if st in ("applied", "failed", "cancelled", "interrupted"):
            job.done, job.result_object = True, "scan_applied_fit"
            job.error = "" if st == "applied" else f"the job {st}"
        state.JOBS[job.key] = job
    calls = draw(panels.VIEW3D_PT_shapeprog_jobs, make_context())
    texts = texts_of(calls)
    assert "42% | best 0.0312 | 13 s" in texts and "Queued" in texts and "Submitting" in texts
    assert "Done: scan_applied_fit" in texts and "Failed: the job failed" in texts and "Cancelled: the job cancelled" in texts
    cancels = [c for c in calls if c[1] == "operator" and c[2][0] == "shapeprog.cancel"]
    assert len(cancels) == 3  # one per job still running
    assert any(c[1] == "progress" and c[3]["factor"] == 0.42 for c in calls)
    assert any(c[1] == "operator" and c[2][0] == "shapeprog.clear_jobs" for c in calls)
    assert bpy.ops.shapeprog.clear_jobs() == {"FINISHED"}
    assert sorted(j.state for j in state.JOBS.values()) == ["queued", "running", "submitting"]


def test_the_result_panel_draws_locks_and_the_modifiers_inputs(addon):
    import bpy

    from blender_addon import panels, programs
    from blender_addon.properties import fill_locks

    prog, _ = append_program_object_linked()
    sp = prog.shapeprog
    sp.is_result, sp.program, sp.program_label, sp.scan, sp.job_id = True, "chair", "chair", "chair_scan", "ab" * 16
    sp.result_json, sp.message = json.dumps({"objective": 0.01}), "Reconstructed: objective 0.01"
    fill_locks(sp.locks, programs.parameter_table(prog))
    sp.locks["Seat Width"].locked = True
    ctx = make_context(active_object=prog)
    assert panels.VIEW3D_PT_shapeprog_result.poll(ctx)
    calls = draw(panels.VIEW3D_PT_shapeprog_result, ctx)
    texts = texts_of(calls)
    assert "Program: chair" in texts and "Reconstructed: objective 0.01" in texts and "Seat Width" in texts
    drawn = [c[2][1] for c in calls if c[1] == "prop" and c[2][1].startswith('["')]
    assert len(drawn) == len([lk for lk in sp.locks if lk.kind != "MENU"])  # the modifier's own inputs, editable
    ops = {c[2][0] for c in calls if c[1] == "operator"}
    assert {"shapeprog.refine", "shapeprog.show_report"} <= ops
    assert bpy.context.scene.objects.get(prog.name) is not None


def append_program_object_linked():
    import bpy

    from blender_addon.programs import append_program_object

    obj, ids = append_program_object(str(ROOT / "sample_scenes" / "programs" / "chair.blend"), "chair")
    bpy.context.scene.collection.objects.link(obj)
    return obj, ids


class _With:
    """``real`` with a ``layout`` attribute (what Blender gives a draw method as ``self``)."""

    def __init__(self, real, layout):
        self.__dict__.update(_real=real, layout=layout)

    def __getattr__(self, name):
        return getattr(self._real, name)


def test_the_preferencesdraw(addon, monkeypatch):
    import bpy

    from blender_addon import preferences

    prefs = bpy.context.preferences.addons["blender_addon"].preferences
    for url, online in (("http://127.0.0.1:8765", False), ("https://fits.example.org", False),
                        ("https://fits.example.org", True)):
        prefs.backend_url = url
        monkeypatch.setattr(preferences, "_online_access", lambda online=online: online)
        calls: list = []
        preferences.ShapeProgPreferences.draw(_With(prefs, RecordingLayout(calls)), bpy.context)
        texts = texts_of(calls)
        blocked = "Online access is off: only a backend on this machine can be used" in texts
        assert blocked == (url.startswith("https") and not online)


def test_the_recording_layout_catches_typos(addon):
    import bpy

    calls: list = []
    lay = RecordingLayout(calls)
    with pytest.raises(AssertionError, match="no property 'budgett'"):
        lay.prop(bpy.context.scene.shapeprog, "budgett")
    with pytest.raises(AssertionError, match="not a valid value"):
        lay.label(text="x", icon="NOT_AN_ICON")
    with pytest.raises(KeyError):
        lay.operator("shapeprog.reconstrct")
    with pytest.raises(AssertionError, match="no property 'jobb'"):
        lay.operator("shapeprog.cancel").jobb = "x"
    with pytest.raises(AssertionError, match="no function 'lable'"):
        lay.lable(text="x")
    with pytest.raises(AssertionError, match="no argument 'txt'"):
        lay.row().label(txt="x")


def test_the_installed_extension_draws_too(tmp_path):
    """The panels of the built zip, installed with Blender's own installer into a scratch user folder."""
    from backend.commands.addon import build_zip

    zip_path = build_zip(tmp_path / "dist")
    code = f"""
import sys, bpy
sys.path.insert(0, {str(ROOT)!r})
assert bpy.ops.extensions.package_install_files(filepath={str(zip_path)!r}, repo="user_default",
                                                 enable_on_install=True) == {{'FINISHED'}}
mod = sys.modules["bl_ext.user_default.shapeprog"]
import tests.blender_addon.ui_recording as t
for cls in mod.panels.classes:
    if "poll" not in cls.__dict__ or cls.poll(bpy.context):
        t.draw(cls, t.make_context())
assert sys.modules["bl_ext.user_default.shapeprog.programs"].translator() == "bl_ext.user_default.shapeprog.vendor.translator"
print("DRAWN", len(mod.panels.classes))
"""
    env = {**__import__("os").environ, "BLENDER_USER_RESOURCES": str(tmp_path / "user")}
    out = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=180, env=env, cwd=str(tmp_path))
    assert out.returncode == 0 and "DRAWN 6" in out.stdout, out.stdout[-2000:] + out.stderr[-2000:]
