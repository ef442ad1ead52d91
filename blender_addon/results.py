"""What a job does to the scene (main thread, called by the pump): the preview object that shows the best
candidate while the job runs, the result object when it succeeds, and nothing at all when it fails or is
cancelled (the preview and whatever it brought in are removed)."""

from __future__ import annotations

import json
from typing import Any

import bpy

from . import programs, state
from .properties import fill_locks

__all__ = ["apply_result", "discard_preview", "report_failure", "result_name", "show_preview"]

PREVIEW_SUFFIX = " (ShapeProg preview)"


def result_name(label: str) -> str:
    """The result object's name for a scan called ``label``."""
    return f"{label}_fit"


def _scene(job: state.Job) -> Any:
    return bpy.data.scenes.get(job.scene) or bpy.context.scene


def _preview(job: state.Job) -> Any:
    if job.preview:
        obj = bpy.data.objects.get(job.preview)
        if obj is not None:
            return obj
        job.preview = ""  # the user deleted it; make a new one
    if job.kind == "refine" or job.program_kind == "UPLOAD":
        name = job.target if job.kind == "refine" else job.source
        src = bpy.data.objects.get(name)
        if src is None:
            raise programs.ProgramError(f"object '{name}' no longer exists")
        obj = src.copy()  # shares the mesh and the node group, copies the modifier's values
        job.preview_ids = {obj.session_uid}
    elif job.program_blend:
        obj, job.preview_ids = programs.append_program_object(job.program_blend, job.program_object or job.program_id)
    else:
        return None  # the library program's .blend is not here yet (the result brings it)
    obj.shapeprog.is_result = False
    obj.shapeprog.locks.clear()
    obj.name = job.label + PREVIEW_SUFFIX
    obj.display_type = "WIRE"
    obj.hide_select = True
    _scene(job).collection.objects.link(obj)
    job.preview = obj.name
    return obj


def show_preview(job: state.Job, values: dict, pose: Any) -> None:
    """Show the best candidate so far on the job's preview object (made on first use)."""
    obj = _preview(job)
    if obj is None:
        return
    known = {p["name"] for p in programs.parameter_table(obj)}
    programs.set_values(obj, {k: v for k, v in values.items() if k in known})
    if pose:
        programs.set_pose(obj, pose)


def discard_preview(job: state.Job) -> None:
    """Remove the preview object and what it brought in: a failed or cancelled job leaves the scene as it was."""
    if job.preview_ids:
        programs.remove_ids(job.preview_ids)
    job.preview, job.preview_ids = "", set()


def _store(obj: Any, job: state.Job, result: dict) -> None:
    sp = obj.shapeprog
    sp.is_result = True
    sp.job_id = job.remote_id
    sp.program = job.program_id
    sp.program_kind = job.program_kind
    sp.program_label = job.program
    sp.scan, sp.scan_path, sp.instance_id = job.scan, job.scan_path, job.instance_id
    sp.result_json = json.dumps(result)
    sp.report_path = job.report_path
    opts = job.options
    sp.method = opts.get("method", sp.method)
    sp.budget = float(opts.get("budget", sp.budget))
    sp.seed = int(opts.get("seed", sp.seed))
    sp.device = str(opts.get("device", ""))
    sp.max_evaluations = int(opts.get("max_evaluations") or 0)
    objective = result.get("objective")
    sp.message = (f"{'Refined' if job.kind == 'refine' else 'Reconstructed'}: objective "
                  f"{objective:.4g}" if isinstance(objective, (int, float)) else "Reconstructed")


def apply_result(job: state.Job, result: dict) -> Any:
    """Write a succeeded job's result.json into the scene; returns the result object."""
    values = {**(result.get("discrete") or {}), **(result.get("continuous") or {})}
    pose = result.get("world_from_program")
    if job.kind == "refine":
        obj = bpy.data.objects.get(job.target)
        if obj is None:
            raise programs.ProgramError(f"object '{job.target}' no longer exists")
        programs.set_values(obj, values)
        if pose:
            programs.set_pose(obj, pose)
        discard_preview(job)
    else:
        obj = _preview(job)
        if obj is None:
            raise programs.ProgramError(f"the .blend of program '{job.program_id}' is not available (the backend "
                                        "neither serves it nor wrote fitted.blend; set the Program Library folder)")
        programs.set_values(obj, values)
        if pose:
            programs.set_pose(obj, pose)
        obj.display_type = "TEXTURED"
        obj.hide_select = False
        obj.name = result_name(job.label)
        fill_locks(obj.shapeprog.locks, programs.parameter_table(obj))
        job.preview, job.preview_ids = "", set()  # the preview became the result
    _store(obj, job, result)
    job.result_object = obj.name
    obj.update_tag()
    _select(obj)
    if not bpy.app.background:  # one undo step per applied result
        try:
            bpy.ops.ed.undo_push(message=f"ShapeProg: {obj.name}")
        except RuntimeError:
            pass
    return obj


def _select(obj: Any) -> None:
    view_layer = bpy.context.view_layer
    if view_layer is None:
        return
    view_layer.update()  # the new object's base
    if view_layer.objects.get(obj.name) is None:
        return
    for o in view_layer.objects.selected:
        o.select_set(False)
    obj.select_set(True)
    view_layer.objects.active = obj


def report_failure(job: state.Job) -> None:
    """Report a job that ended badly in Blender's status bar and Info log (when no operator waits for it)."""
    if job.quiet:
        return
    try:
        bpy.ops.shapeprog.report_message(level="ERROR", message=f"{job.label}: {job.error}")
    except (RuntimeError, AttributeError):
        print(f"ShapeProg: {job.label}: {job.error}")
