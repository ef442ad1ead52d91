"""The add-on's operators: Reconstruct and Refine (the scripting contract), Cancel, Show Report, the local
backend's Start/Stop, Check Backend, and two small helpers for the panel.

Scripting contract (kept stable, documented in the README)::

    bpy.ops.shapeprog.reconstruct(scan="Scan", program="chair", method="mcts", budget=30.0, seed=0, wait=True)
    bpy.ops.shapeprog.refine(target="Scan_fit", wait=True)

With ``wait=True`` the operator blocks, pumping the add-on's own event queue, until its jobs end, then
applies the results and returns ``{'FINISHED'}``, or ``{'CANCELLED'}`` with the error reported.
Options a script leaves out come from the panel's settings (``scene.shapeprog``).
"""

import json
import os
import time
from typing import Any

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, StringProperty

from . import backend_process, jobs, programs, state
from .client import BackendError, is_loopback
from .preferences import cache_dir, get_preferences, make_client
from .properties import METHODS, fill_locks, lock_value
from .results import PREVIEW_SUFFIX
from .scan import SCAN_TYPES, ScanError, file_scan, scan_from_objects

__all__ = ["classes", "refresh_scene_locks"]

_ERRORS = (BackendError, programs.ProgramError, ScanError, backend_process.LaunchError, ValueError)


class Failure(Exception):
    """A one-line reason an operator cannot go on."""


def _fail(op: Any, message: str) -> set[str]:
    state.LAST_ERROR = message
    op.report({"ERROR"}, message)
    return {"CANCELLED"}


def refresh_scene_locks(scene: Any) -> None:
    """Make the panel's lock list show the chosen program's parameters."""
    sp = getattr(scene, "shapeprog", None)
    if sp is None:
        return
    params: list[dict] = []
    if sp.program_source == "LIBRARY":
        prog = state.PROGRAMS.get(sp.library_program)
        params = list(prog.get("parameters") or []) if prog else []
    else:
        obj = sp.program_object or getattr(bpy.context, "active_object", None)
        if obj is not None and programs.find_modifier(obj) is not None:
            try:
                params = programs.parameter_table(obj)
            except programs.ProgramError:
                params = []
    if params or sp.program_source == "OBJECT":
        fill_locks(sp.locks, params)


def _options(op: Any, defaults: Any) -> dict:
    """The JobRequest's options: what the operator was given, else ``defaults`` (scene or object settings)."""

    def pick(name: str) -> Any:
        return getattr(op, name) if op.properties.is_property_set(name) else getattr(defaults, name)

    opts = {"method": pick("method"), "budget": float(pick("budget")), "seed": int(pick("seed"))}
    device = (pick("device") or "").strip()
    if device:  # else the backend's own --device
        opts["device"] = device
    max_eval = int(pick("max_evaluations"))
    if max_eval > 0:
        opts["max_evaluations"] = max_eval
    if op.config.strip():
        try:
            config = json.loads(op.config)
        except ValueError as exc:
            raise Failure(f"config is not valid JSON: {exc}") from None
        if not isinstance(config, dict):
            raise Failure("config must be a JSON object of FitConfig fields")
        opts["config"] = config
    return opts


def _script_locks(text: str) -> dict:
    if not text.strip():
        return {}
    try:
        locks = json.loads(text)
    except ValueError as exc:
        raise Failure(f"locks is not valid JSON: {exc}") from None
    if not isinstance(locks, dict):
        raise Failure('locks must be a JSON object: {"Parameter Name": value}')
    return locks


def library_dir(prefs: Any) -> str:
    """Where the library's NAME.blend files are on this machine: the preference, else the local backend's
    checkout (its sample_scenes/programs), else ''."""
    if prefs.library_dir:
        return bpy.path.abspath(prefs.library_dir)
    if prefs.backend_dir:
        cand = os.path.join(bpy.path.abspath(prefs.backend_dir), "sample_scenes", "programs")
        if os.path.isdir(cand):
            return cand
    return ""


def _spec(scan: Any, options: dict, prefs: Any, **kw: Any) -> jobs.JobSpec:
    return jobs.JobSpec(scan=scan, options=options, library_dir=library_dir(prefs), cache_dir=cache_dir("cache"), **kw)


def _finish(op: Any, started: list[state.Job], wait: bool, verb: str) -> set[str]:
    if not wait:
        op.report({"INFO"}, f"ShapeProg: submitted {len(started)} job{'s' if len(started) != 1 else ''}")
        return {"FINISHED"}
    for j in started:
        j.quiet = True
    jobs.wait(started)
    failed = [j for j in started if not j.ok]
    for j in failed:
        state.LAST_ERROR = f"{j.label}: {j.error}"
        op.report({"ERROR"}, state.LAST_ERROR)
    if failed:
        return {"CANCELLED"}
    op.report({"INFO"}, f"ShapeProg: {verb} {', '.join(j.result_object for j in started)}")
    return {"FINISHED"}


_SKIP = {"SKIP_SAVE"}  # a left-out option comes from the panel, never from the last call
_OPTION_PROPS = {
    "method": EnumProperty(name="Method", items=METHODS, default="mcts", options=_SKIP),
    "budget": FloatProperty(name="Budget", default=60.0, min=1.0, options=_SKIP,
                            description="Time budget of one fit in seconds"),
    "seed": IntProperty(name="Seed", default=0, min=0, options=_SKIP),
    "device": StringProperty(name="Device", default="", options=_SKIP,
                             description="Torch device (cpu, cuda; empty: the backend's default)"),
    "max_evaluations": IntProperty(name="Max Evaluations", default=0, min=0,
                                   description="Also stop after this many evaluations, the pilot always completed (0: no limit)",
                                   options=_SKIP),
    "config": StringProperty(name="Config", default="",
                             description="JSON object of further FitConfig fields (options.config)", options=_SKIP),
    "wait": BoolProperty(name="Wait", default=False, options=_SKIP,
                         description="Block until the jobs end and their results are applied (scripts)"),
}


class SHAPEPROG_OT_reconstruct(bpy.types.Operator):
    """Fit the program to each selected scan on the ShapeProg backend; the result is an editable object"""

    bl_idname = "shapeprog.reconstruct"
    bl_label = "Reconstruct"
    bl_options = {"REGISTER"}

    scan: StringProperty(name="Scan", default="",
                         description="Scan object name (empty: the panel's choice, e.g. the selected objects)", options=_SKIP)
    scan_path: StringProperty(name="Scan File", default="", subtype="FILE_PATH",
                              description="A .ply or ScanNet frame folder instead of an object", options=_SKIP)
    instance_id: IntProperty(name="Instance", default=1, min=0, options=_SKIP)
    program: StringProperty(name="Program", default="",
                            description="Library program name, or the name of an object with a geometry-nodes "
                                        "modifier (empty: the panel's choice)", options=_SKIP)
    locks: StringProperty(name="Locks", default="",
                          description='JSON object of parameter values to hold: {"Leg Style": "Sled"}', options=_SKIP)
    __annotations__.update(_OPTION_PROPS)

    def _program(self, context: Any) -> tuple[str, str, Any]:
        """(name, kind, object): a library name (kind LIBRARY) or an object whose modifier is uploaded."""
        sp = context.scene.shapeprog
        if self.program:
            obj = bpy.data.objects.get(self.program)
            if obj is not None and programs.find_modifier(obj) is not None:
                return obj.name, "UPLOAD", obj
            return self.program, "LIBRARY", None
        if sp.program_source == "OBJECT":
            obj = sp.program_object or context.active_object
            if obj is None or programs.find_modifier(obj) is None:
                raise Failure("choose an object with a geometry-nodes modifier as the program")
            return obj.name, "UPLOAD", obj
        if not sp.library_program:
            raise Failure("choose a library program (refresh the list from the backend)")
        return sp.library_program, "LIBRARY", None

    def _scans(self, context: Any, program_obj: Any) -> list[tuple[str, str, Any]]:
        """[(label, scan object name or '', ScanPayload)] — one job each."""
        sp = context.scene.shapeprog
        path = self.scan_path or (sp.scan_path if not self.scan and sp.scan_source == "FILE" else "")
        if path:
            inst = self.instance_id if self.properties.is_property_set("instance_id") else sp.instance_id
            payload = file_scan(bpy.path.abspath(path), inst)
            return [(payload.description.rsplit(".", 1)[0] or "scan", "", payload)]
        if self.scan:
            objs = []
            for name in (n.strip() for n in self.scan.split(",")):
                obj = bpy.data.objects.get(name)
                if obj is None:
                    raise Failure(f"no object named '{name}' to use as the scan")
                objs.append(obj)
        else:
            objs = [o for o in context.selected_objects if o.type in SCAN_TYPES and o is not program_obj
                    and not o.shapeprog.is_result and not o.name.endswith(PREVIEW_SUFFIX)]
            if not objs:
                raise Failure("select the scan: one or more mesh or point-cloud objects (or choose a scan file)")
        depsgraph = context.evaluated_depsgraph_get()
        return [(o.name, o.name, scan_from_objects([o], depsgraph)) for o in objs]

    def execute(self, context: Any) -> set[str]:
        sp = context.scene.shapeprog
        prefs = get_preferences(context)
        try:
            client = make_client(context)
            name, kind, obj = self._program(context)
            options = _options(self, sp)
            if self.locks:
                locks = _script_locks(self.locks)
            elif not self.program:
                ticked = [lk for lk in sp.locks if lk.locked]
                current = programs.modifier_values(obj) if obj is not None and ticked else {}
                locks = {lk.name: current[lk.name] if lk.name in current else lock_value(lk) for lk in ticked}
            else:
                locks = {}
            if locks:
                options["locks"] = locks
            ir = programs.export_program(obj) if kind == "UPLOAD" else None
            scans = self._scans(context, obj)
        except (Failure, *_ERRORS) as exc:
            return _fail(self, str(exc))
        started = []
        for label, scan_name, payload in scans:
            job = state.Job(kind="reconstruct", label=label, scene=context.scene.name, program=name, program_kind=kind,
                            scan=scan_name, scan_path=payload.path, instance_id=payload.instance_id, source=obj.name if obj is not None else "", options=options)
            spec = _spec(payload, options, prefs, program_id="" if ir else name, program_ir=ir,
                         fetch_blend=kind == "LIBRARY")
            started.append(jobs.start(job, client, spec))
        state.LAST_ERROR = ""
        return _finish(self, started, self.wait, "reconstructed")


class SHAPEPROG_OT_refine(bpy.types.Operator):
    """Refit a reconstructed object from its current values, holding the ticked parameters"""

    bl_idname = "shapeprog.refine"
    bl_label = "Refine"
    bl_options = {"REGISTER"}

    target: StringProperty(name="Target", default="", description="The result object (empty: the active object)", options=_SKIP)
    __annotations__.update(_OPTION_PROPS)

    def execute(self, context: Any) -> set[str]:
        obj = bpy.data.objects.get(self.target) if self.target else context.active_object
        if obj is None:
            return _fail(self, f"no object named '{self.target}' to refine" if self.target else "no active object to refine")
        sp = obj.shapeprog
        if not sp.is_result or programs.find_modifier(obj) is None:
            return _fail(self, f"'{obj.name}' is not a ShapeProg result (reconstruct it first)")
        if any(j.target == obj.name and not j.done for j in state.JOBS.values()):
            return _fail(self, f"'{obj.name}' is already being refined")
        prefs = get_preferences(context)
        try:
            client = make_client(context)
            options = _options(self, sp)
            values = programs.modifier_values(obj)
            options["init"] = values
            options["init_pose"] = [list(row) for row in obj.matrix_world]
            locks = {lk.name: values[lk.name] for lk in sp.locks if lk.locked and lk.name in values}
            if locks:
                options["locks"] = locks
            if sp.scan and bpy.data.objects.get(sp.scan) is not None:
                payload = scan_from_objects([bpy.data.objects[sp.scan]], context.evaluated_depsgraph_get())
            elif sp.scan_path:
                payload = file_scan(bpy.path.abspath(sp.scan_path), sp.instance_id)
            else:
                raise Failure(f"the scan of '{obj.name}' ('{sp.scan}') no longer exists")
            ir = programs.export_program(obj) if sp.program_kind == "UPLOAD" else None
        except (Failure, *_ERRORS) as exc:
            return _fail(self, str(exc))
        job = state.Job(kind="refine", label=obj.name, scene=context.scene.name, program=sp.program_label or sp.program,
                        program_kind=sp.program_kind, scan=sp.scan, scan_path=sp.scan_path, instance_id=sp.instance_id,
                        target=obj.name, options=options)
        spec = _spec(payload, options, prefs, program_id="" if ir else sp.program, program_ir=ir)
        jobs.start(job, client, spec)
        state.LAST_ERROR = ""
        return _finish(self, [job], self.wait, "refined")


class SHAPEPROG_OT_cancel(bpy.types.Operator):
    """Cancel this job (the scene is left as it was)"""

    bl_idname = "shapeprog.cancel"
    bl_label = "Cancel Job"
    bl_options = {"INTERNAL"}

    job: StringProperty(name="Job", default="", description="The add-on's job key (empty: every running job)")

    def execute(self, context: Any) -> set[str]:
        targets = [j for k, j in state.JOBS.items() if not j.done and (not self.job or k == self.job)]
        if not targets:
            self.report({"WARNING"}, "no such running job")
            return {"CANCELLED"}
        for j in targets:
            j.cancel.set()
            j.message = "cancelling..."
        return {"FINISHED"}


class SHAPEPROG_OT_clear_jobs(bpy.types.Operator):
    """Remove the finished jobs from the list"""

    bl_idname = "shapeprog.clear_jobs"
    bl_label = "Clear Finished"
    bl_options = {"INTERNAL"}

    def execute(self, context: Any) -> set[str]:
        jobs.clear_jobs(finished_only=True)
        state.LAST_ERROR = ""
        return {"FINISHED"}


def show_image(context: Any, path: str) -> Any:
    """Load ``path`` and show it in an Image Editor (a new window when the screen has none); returns the image."""
    image = bpy.data.images.load(path, check_existing=True)
    image.reload()
    window = getattr(context, "window", None)
    if bpy.app.background or window is None or window.screen is None:
        return image  # headless: loaded, nothing to show it in
    area = next((a for a in window.screen.areas if a.type == "IMAGE_EDITOR"), None)
    if area is None:
        count = len(context.window_manager.windows)
        with context.temp_override(window=window):
            bpy.ops.wm.window_new()
        if len(context.window_manager.windows) == count:
            return image
        area = context.window_manager.windows[-1].screen.areas[0]
        area.type = "IMAGE_EDITOR"
    area.spaces.active.image = image
    return image


class SHAPEPROG_OT_show_report(bpy.types.Operator):
    """Open the fit's report (report.png) in an Image Editor"""

    bl_idname = "shapeprog.show_report"
    bl_label = "Show Report"

    target: StringProperty(name="Target", default="", description="The result object (empty: the active object)")

    def execute(self, context: Any) -> set[str]:
        obj = bpy.data.objects.get(self.target) if self.target else context.active_object
        if obj is None or not obj.shapeprog.is_result:
            return _fail(self, "choose a ShapeProg result object")
        path = obj.shapeprog.report_path
        if not path or not os.path.isfile(path):
            return _fail(self, f"'{obj.name}' has no report on this machine (job {obj.shapeprog.job_id or '?'})")
        try:
            show_image(context, path)
        except RuntimeError as exc:
            return _fail(self, f"cannot open {path}: {str(exc).strip().splitlines()[-1]}")
        return {"FINISHED"}


class SHAPEPROG_OT_check_backend(bpy.types.Operator):
    """Ask the backend for its status and its programs"""

    bl_idname = "shapeprog.check_backend"
    bl_label = "Check Backend"
    bl_options = {"INTERNAL"}

    def execute(self, context: Any) -> set[str]:
        try:
            client = make_client(context)
        except BackendError as exc:
            state.HEALTH.state, state.HEALTH.text = "error", str(exc)
            return _fail(self, str(exc))
        jobs.request_health(client)
        jobs.request_programs(client)
        return {"FINISHED"}


class SHAPEPROG_OT_start_backend(bpy.types.Operator):
    """Start 'shapeprog serve' on this machine with the Python set in the preferences (stopped when Blender quits)"""

    bl_idname = "shapeprog.start_backend"
    bl_label = "Start Local Backend"
    bl_options = {"INTERNAL"}

    def execute(self, context: Any) -> set[str]:
        prefs = get_preferences(context)
        try:
            client = make_client(context)
            if not is_loopback(client.url):
                raise Failure(f"the backend URL {client.url} is another machine; a local backend needs a URL such "
                              "as http://127.0.0.1:8765")
            proc = backend_process.start(bpy.path.abspath(prefs.python_path), client.url,
                                         cwd=bpy.path.abspath(prefs.backend_dir) if prefs.backend_dir else "",
                                         data_dir=bpy.path.abspath(prefs.data_dir) if prefs.data_dir else cache_dir("jobs"),
                                         token=prefs.token, log_dir=cache_dir())
        except (Failure, *_ERRORS) as exc:
            return _fail(self, str(exc))
        state.HEALTH.state, state.HEALTH.text, state.HEALTH.url = "checking", "Starting the local backend...", client.url
        jobs.background("health", lambda: _wait_healthy(client, proc))
        self.report({"INFO"}, f"ShapeProg: starting {' '.join(proc.command)}")
        return {"FINISHED"}


def _wait_healthy(client: Any, proc: backend_process.BackendProcess, timeout: float = 120.0) -> dict:
    """Poll /v1/health until the new backend answers (worker thread)."""
    deadline = time.monotonic() + timeout
    while True:
        if not proc.running:
            raise BackendError(f"the local backend {proc.exit_text()}")
        try:
            return client.health()
        except BackendError:
            if time.monotonic() > deadline:
                raise BackendError(f"the local backend did not answer within {timeout:g} s (log: {proc.log_path})") from None
            time.sleep(0.5)


class SHAPEPROG_OT_stop_backend(bpy.types.Operator):
    """Stop the local backend this Blender session started"""

    bl_idname = "shapeprog.stop_backend"
    bl_label = "Stop Local Backend"
    bl_options = {"INTERNAL"}

    def execute(self, context: Any) -> set[str]:
        if not backend_process.stop():
            self.report({"WARNING"}, "no local backend is running")
            return {"CANCELLED"}
        state.HEALTH.state, state.HEALTH.text = "unknown", "Local backend stopped"
        return {"FINISHED"}


class SHAPEPROG_OT_refresh_locks(bpy.types.Operator):
    """List the chosen program's parameters"""

    bl_idname = "shapeprog.refresh_locks"
    bl_label = "Refresh Parameters"
    bl_options = {"INTERNAL"}

    def execute(self, context: Any) -> set[str]:
        refresh_scene_locks(context.scene)
        return {"FINISHED"}


class SHAPEPROG_OT_report_message(bpy.types.Operator):
    """Report a message from a background job in the status bar and the Info log"""

    bl_idname = "shapeprog.report_message"
    bl_label = "ShapeProg Message"
    bl_options = {"INTERNAL"}

    level: EnumProperty(items=[(k, k.title(), "") for k in ("INFO", "WARNING", "ERROR")], default="INFO")
    message: StringProperty(default="")

    def execute(self, context: Any) -> set[str]:
        self.report({self.level}, self.message)
        return {"FINISHED"}


classes = (SHAPEPROG_OT_reconstruct, SHAPEPROG_OT_refine, SHAPEPROG_OT_cancel, SHAPEPROG_OT_clear_jobs,
           SHAPEPROG_OT_show_report, SHAPEPROG_OT_check_backend, SHAPEPROG_OT_start_backend, SHAPEPROG_OT_stop_backend,
           SHAPEPROG_OT_refresh_locks, SHAPEPROG_OT_report_message)


register, unregister = bpy.utils.register_classes_factory(classes)
