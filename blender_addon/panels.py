"""The ShapeProg sidebar panel (3D Viewport > Sidebar > ShapeProg): backend status, program, scan,
options and locks, the jobs with their progress, and the active result object's Refine and Report.

Draw functions only read state: no network, no writes (the pump and the operators do those)."""

from typing import Any

import bpy

from . import backend_process, programs, state
from .client import is_loopback
from .preferences import ADDON, get_preferences, online_access_error
from .results import PREVIEW_SUFFIX
from .scan import SCAN_TYPES

__all__ = ["classes"]

_HEALTH_ICONS = {"ok": "CHECKMARK", "error": "ERROR", "checking": "SORTTIME", "unknown": "QUESTION"}
_STATE_TEXT = {"submitting": "Submitting", "queued": "Queued", "running": "Running", "applied": "Done",
               "failed": "Failed", "cancelled": "Cancelled", "interrupted": "Interrupted"}


class _ShapeProgPanel:
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "ShapeProg"


class VIEW3D_PT_shapeprog(_ShapeProgPanel, bpy.types.Panel):
    bl_label = "ShapeProg"

    def draw(self, context: Any) -> None:
        layout = self.layout
        prefs = get_preferences(context)
        health = state.HEALTH
        col = layout.column(align=True)
        row = col.row(align=True)
        row.label(text=prefs.backend_url, icon="URL")
        row.operator("shapeprog.check_backend", text="", icon="FILE_REFRESH")
        offline = online_access_error(prefs.backend_url)
        if offline:
            col.label(text="Online access is off: remote backends are blocked", icon="ERROR")
        else:
            col.label(text=health.text, icon=_HEALTH_ICONS.get(health.state, "QUESTION"))
        local = backend_process.current()
        if local is not None and local.running:
            col.operator("shapeprog.stop_backend", icon="CANCEL")
        elif is_loopback(prefs.backend_url):
            col.operator("shapeprog.start_backend", icon="PLAY")
        if local is not None and not local.running:
            col.label(text=f"Local backend {local.exit_text()}", icon="ERROR")
        if not prefs.python_path and is_loopback(prefs.backend_url) and health.state != "ok":
            op = col.operator("preferences.addon_show", text="Set the Python in Preferences", icon="PREFERENCES")
            op.module = ADDON
        if state.LAST_ERROR:
            layout.label(text=state.LAST_ERROR, icon="ERROR")


class VIEW3D_PT_shapeprog_program(_ShapeProgPanel, bpy.types.Panel):
    bl_label = "Program"
    bl_parent_id = "VIEW3D_PT_shapeprog"

    def draw(self, context: Any) -> None:
        layout = self.layout
        sp = context.scene.shapeprog
        layout.row().prop(sp, "program_source", expand=True)
        if sp.program_source == "LIBRARY":
            row = layout.row(align=True)
            row.prop(sp, "library_program", text="", icon="NODETREE")
            row.operator("shapeprog.check_backend", text="", icon="FILE_REFRESH")
            progs = state.PROGRAMS
            if progs.error:
                layout.label(text=progs.error, icon="ERROR")
            elif progs.loading:
                layout.label(text="Loading programs...", icon="SORTTIME")
            elif sp.library_program and progs.programs and progs.get(sp.library_program) is None:
                layout.label(text=f"'{sp.library_program}' is not in the backend's library", icon="ERROR")
        else:
            layout.prop(sp, "program_object", text="")
            obj = sp.program_object or context.active_object
            if obj is None or programs.find_modifier(obj) is None:
                layout.label(text="Pick an object with a geometry-nodes modifier", icon="INFO")
            elif sp.program_object is None:
                layout.label(text=f"Active object: {obj.name}", icon="OBJECT_DATA")


class VIEW3D_PT_shapeprog_scan(_ShapeProgPanel, bpy.types.Panel):
    bl_label = "Scan"
    bl_parent_id = "VIEW3D_PT_shapeprog"

    def draw(self, context: Any) -> None:
        layout = self.layout
        sp = context.scene.shapeprog
        layout.row().prop(sp, "scan_source", expand=True)
        if sp.scan_source == "FILE":
            layout.prop(sp, "scan_path", text="")
            layout.prop(sp, "instance_id")
            return
        program_obj = sp.program_object or (context.active_object if sp.program_source == "OBJECT" else None)
        scans = [o for o in context.selected_objects if o.type in SCAN_TYPES and o is not program_obj
                 and not o.shapeprog.is_result and not o.name.endswith(PREVIEW_SUFFIX)]
        if not scans:
            layout.label(text="Select mesh or point-cloud objects", icon="INFO")
        elif len(scans) == 1:
            layout.label(text=scans[0].name, icon="OUTLINER_OB_POINTCLOUD" if scans[0].type == "POINTCLOUD" else "MESH_DATA")
        else:
            layout.label(text=f"{len(scans)} scans: one job each", icon="PRESET")


def draw_locks(layout: Any, locks: Any, editable_values: bool, obj: Any = None) -> None:
    """A lock checkbox per parameter; with ``editable_values`` the value to hold, else the modifier's input."""
    if not len(locks):
        layout.label(text="No parameters listed", icon="INFO")
        return
    mod = programs.find_modifier(obj) if obj is not None else None
    idents = {}
    if mod is not None:
        idents = {it.name: it.identifier for it in mod.node_group.interface.items_tree
                  if it.item_type == "SOCKET" and it.in_out == "INPUT"}
    col = layout.column(align=True)
    for lk in locks:
        row = col.row(align=True)
        row.prop(lk, "locked", text=lk.name, icon="LOCKED" if lk.locked else "UNLOCKED")
        if editable_values:
            row.prop(lk, "value", text="")
        elif mod is not None and lk.kind != "MENU" and idents.get(lk.name) in mod:
            row.prop(mod, f'["{idents[lk.name]}"]', text="")


class VIEW3D_PT_shapeprog_options(_ShapeProgPanel, bpy.types.Panel):
    bl_label = "Options"
    bl_parent_id = "VIEW3D_PT_shapeprog"

    def draw(self, context: Any) -> None:
        layout = self.layout
        layout.use_property_split = True
        layout.use_property_decorate = False
        sp = context.scene.shapeprog
        col = layout.column()
        col.prop(sp, "method")
        col.prop(sp, "budget")
        col.prop(sp, "device")
        col.prop(sp, "seed")
        col.prop(sp, "max_evaluations")
        box = layout.box()
        row = box.row()
        row.prop(sp, "show_locks", text="Locks", icon="TRIA_DOWN" if sp.show_locks else "TRIA_RIGHT", emboss=False)
        row.operator("shapeprog.refresh_locks", text="", icon="FILE_REFRESH", emboss=False)
        if sp.show_locks:
            box.use_property_split = False
            library = sp.program_source == "LIBRARY"
            program_obj = None if library else (sp.program_object or context.active_object)
            draw_locks(box, sp.locks, editable_values=library, obj=program_obj)


def draw_job(layout: Any, job: state.Job) -> None:
    box = layout.box()
    row = box.row(align=True)
    row.label(text=f"{job.label} ({job.kind})", icon="MESH_MONKEY" if job.kind == "refine" else "MOD_PHYSICS")
    if not job.done:
        op = row.operator("shapeprog.cancel", text="", icon="X")
        op.job = job.key
    if job.done and job.error:
        box.label(text=f"{_STATE_TEXT.get(job.state, job.state)}: {job.error}", icon="ERROR")
        return
    if job.done:
        box.label(text=f"Done: {job.result_object}", icon="CHECKMARK")
        return
    text = _STATE_TEXT.get(job.state, job.state)
    if job.state == "running":
        best = f" | best {job.best_objective:.4g}" if isinstance(job.best_objective, (int, float)) else ""
        text = f"{100 * job.fraction:.0f}%{best} | {job.elapsed:.0f} s"
    if job.message:
        text += f" ({job.message})"
    box.progress(factor=max(0.0, min(1.0, job.fraction)), type="BAR", text=text)


class VIEW3D_PT_shapeprog_jobs(_ShapeProgPanel, bpy.types.Panel):
    bl_label = "Jobs"
    bl_parent_id = "VIEW3D_PT_shapeprog"

    def draw(self, context: Any) -> None:
        layout = self.layout
        layout.operator("shapeprog.reconstruct", icon="PLAY")
        shown = list(state.JOBS.values())
        for job in reversed(shown):
            draw_job(layout, job)
        if any(j.done for j in shown):
            layout.operator("shapeprog.clear_jobs", icon="TRASH")


class VIEW3D_PT_shapeprog_result(_ShapeProgPanel, bpy.types.Panel):
    bl_label = "Result"
    bl_parent_id = "VIEW3D_PT_shapeprog"

    @classmethod
    def poll(cls, context: Any) -> bool:
        obj = context.active_object
        return obj is not None and obj.shapeprog.is_result

    def draw(self, context: Any) -> None:
        layout = self.layout
        obj = context.active_object
        sp = obj.shapeprog
        col = layout.column(align=True)
        col.label(text=f"Program: {sp.program_label or sp.program}", icon="NODETREE")
        col.label(text=f"Scan: {sp.scan or bpy.path.basename(sp.scan_path)}", icon="OUTLINER_OB_POINTCLOUD")
        col.label(text=f"Job: {sp.job_id[:12]}", icon="INFO")
        if sp.message:
            col.label(text=sp.message)
        layout.label(text="Locks (edit values in the modifier)")
        draw_locks(layout, sp.locks, editable_values=False, obj=obj)
        row = layout.row(align=True)
        op = row.operator("shapeprog.refine", icon="FILE_REFRESH")
        op.target = obj.name
        op = row.operator("shapeprog.show_report", icon="IMAGE_DATA")
        op.target = obj.name


classes = (VIEW3D_PT_shapeprog, VIEW3D_PT_shapeprog_program, VIEW3D_PT_shapeprog_scan, VIEW3D_PT_shapeprog_options,
           VIEW3D_PT_shapeprog_jobs, VIEW3D_PT_shapeprog_result)


register, unregister = bpy.utils.register_classes_factory(classes)
