"""The job queue: worker threads talk to the backend, the timer pump applies what they report.

Each job runs on its own worker thread (:func:`start`): upload the program when it is the user's own,
fetch the library program's .blend and the name of its object that carries the program, submit, poll the job every half second, download the result and the
report. Workers never touch bpy; they put events on :data:`state.EVENTS`. :func:`pump` drains that queue
on the main thread and does everything that touches Blender (preview object, result object, panel
redraw). It is registered with ``bpy.app.timers`` and is a plain function: headless scripts and tests call
it (``wait=True`` operators call it in a loop, since timers never fire without Blender's event loop).
"""

from __future__ import annotations

import json
import os
import queue
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any

import bpy

from . import results, state
from .client import BackendClient, BackendError
from .scan import ScanPayload

__all__ = [
    "PUMP_INTERVAL",
    "JobSpec",
    "background",
    "clear_jobs",
    "detach_all",
    "ensure_timer",
    "pump",
    "request_health",
    "request_programs",
    "start",
    "wait",
]

PUMP_INTERVAL = 0.25
POLL_INTERVAL = 0.5
HEALTH_INTERVAL = 10.0
_MAX_POLL_FAILURES = 20  # ~10 s of consecutive failed polls before a job is given up


@dataclass
class JobSpec:
    """What a worker needs besides the client (built on the main thread)."""

    scan: ScanPayload
    options: dict
    program_id: str = ""
    """A library name (or an uploaded program's id)."""
    program_ir: dict | None = None
    """The user's own program, uploaded before the job (POST /v1/programs)."""
    fetch_blend: bool = False
    """Fetch the program's .blend (library programs: the preview and the result are appended from it)."""
    library_dir: str = ""
    cache_dir: str = ""


def _post(job: state.Job, kind: str, payload: Any = None) -> None:
    if not job.stop.is_set():
        state.EVENTS.put((job.key, kind, payload))


def _fetch_blend(client: BackendClient, program_id: str, spec: JobSpec) -> str:
    """The library program's .blend: served by the backend, or NAME.blend in the library folder ('' if neither)."""
    path = os.path.join(spec.cache_dir, f"{program_id}.blend")
    try:
        data = client.program_blend(program_id)
    except BackendError as exc:
        if exc.status not in (404, 405):
            raise
        data = None
    if data:
        tmp = f"{path}.{threading.get_ident()}.part"  # jobs of the same program may download it at once
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
        return path
    local = os.path.join(spec.library_dir, f"{program_id}.blend") if spec.library_dir else ""
    return local if local and os.path.isfile(local) else ""


def _program_object(client: BackendClient, program_id: str) -> str:
    """The object of the program's .blend that carries it (``Program.object``; '' when the service does not
    say: the add-on then takes the object named like the program, else the first with a geometry-nodes
    modifier)."""
    try:
        return str(client.program(program_id).get("object") or "")
    except BackendError as exc:
        if exc.status != 404:
            raise
        return ""


def _download(client: BackendClient, job_id: str, name: str, folder: str) -> str:
    """Save the job's file ``name`` in ``folder``; '' when the job has no such file."""
    try:
        data = client.file(job_id, name)
    except BackendError as exc:
        if exc.status == 404:
            return ""
        raise
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name)
    with open(path, "wb") as fh:
        fh.write(data)
    return path


def _work(job: state.Job, client: BackendClient, spec: JobSpec) -> None:
    try:
        program_id = spec.program_id
        if spec.program_ir is not None:
            program_id = client.upload_program(spec.program_ir)["id"]
        _post(job, "program", program_id)
        blend = _fetch_blend(client, program_id, spec) if spec.fetch_blend else ""
        if spec.fetch_blend:  # which object to append from it (or from the job's fitted.blend)
            _post(job, "object", _program_object(client, program_id))
        if blend:
            _post(job, "blend", blend)
        if job.cancel.is_set() or job.stop.is_set():
            _post(job, "ended", {"state": "cancelled", "error": None})
            return
        request = {"program": program_id, "scan": spec.scan.request(), "options": spec.options, "label": job.label}
        remote = client.submit(request)
        job_id = remote["id"]
        _post(job, "submitted", remote)
        last, failures, cancel_sent = None, 0, False
        while not job.stop.is_set():
            if job.cancel.is_set() and not cancel_sent:
                cancel_sent = True
                try:
                    client.cancel(job_id)
                except BackendError as exc:
                    if exc.status != 409:  # 409: it ended meanwhile; its final state comes next
                        raise
            try:
                remote = client.job(job_id)
                failures = 0
            except BackendError as exc:
                failures += 1
                if exc.status is not None or failures >= _MAX_POLL_FAILURES:
                    raise
                job.stop.wait(POLL_INTERVAL)
                continue
            if remote.get("state") in state.TERMINAL:
                break
            snapshot = (remote.get("state"), json.dumps(remote.get("progress"), sort_keys=True, default=str))
            if snapshot != last:
                last = snapshot
                _post(job, "progress", remote)
            job.stop.wait(POLL_INTERVAL)
        if job.stop.is_set():
            return
        if remote.get("state") != "succeeded":
            _post(job, "ended", remote)
            return
        result = client.result(job_id)
        folder = os.path.join(spec.cache_dir, "jobs", job_id)
        has_report = "report.png" in (remote.get("files") or ["report.png"])
        report = _download(client, job_id, "report.png", folder) if has_report else ""
        fitted = ""
        if spec.fetch_blend and not blend:
            # the program's .blend was not available: the fit's own fitted.blend holds the same object
            fitted = _download(client, job_id, "fitted.blend", folder)
        _post(job, "finished", {"job": remote, "result": result, "report": report, "fitted_blend": fitted})
    except BackendError as exc:
        _post(job, "error", str(exc))
    except Exception as exc:  # noqa: BLE001 - a worker must always report back
        _post(job, "error", f"internal error: {type(exc).__name__}: {exc}")


def start(job: state.Job, client: BackendClient, spec: JobSpec) -> state.Job:
    """Follow ``job`` on a worker thread; the pump applies its events."""
    os.makedirs(spec.cache_dir, exist_ok=True)
    state.JOBS[job.key] = job
    job.program_id = spec.program_id
    job.thread = threading.Thread(target=_work, args=(job, client, spec), name=f"shapeprog-{job.key}", daemon=True)
    job.thread.start()
    ensure_timer()
    return job


def wait(jobs: list[state.Job], poll: float = 0.05) -> None:
    """Block until every job in ``jobs`` is done, pumping the event queue (headless scripts, ``wait=True``).
    Ctrl+C cancels the jobs and keeps waiting for them to end."""
    while True:
        try:
            while not all(j.done for j in jobs):
                pump()
                time.sleep(poll)
            return
        except KeyboardInterrupt:
            for j in jobs:
                j.cancel.set()


# -- session-wide requests (health, program list) -------------------------------------------------


def background(kind: str, fn: Any) -> None:
    def run() -> None:
        try:
            state.EVENTS.put(("", kind, ("ok", fn())))
        except BackendError as exc:
            state.EVENTS.put(("", kind, ("error", str(exc))))
        except Exception as exc:  # noqa: BLE001
            state.EVENTS.put(("", kind, ("error", f"internal error: {type(exc).__name__}: {exc}")))

    threading.Thread(target=run, name=f"shapeprog-{kind}", daemon=True).start()
    ensure_timer()


def request_health(client: BackendClient) -> None:
    """Ask ``/v1/health`` on a worker thread (the pump updates :data:`state.HEALTH`)."""
    if state.HEALTH.state == "checking" and state.HEALTH.url == client.url:
        return
    state.HEALTH.state, state.HEALTH.url = "checking", client.url
    background("health", client.health)


def request_programs(client: BackendClient) -> None:
    """Ask ``/v1/programs`` on a worker thread (the pump updates :data:`state.PROGRAMS`)."""
    state.PROGRAMS.loading, state.PROGRAMS.url = True, client.url
    background("programs", client.programs)


def _on_health(payload: Any) -> None:
    h = state.HEALTH
    status, data = payload
    h.checked = time.monotonic()
    if status == "ok" and isinstance(data, dict):
        h.state, h.version = "ok", str(data.get("version", ""))
        h.devices = [str(d) for d in data.get("devices") or []]
        h.queue = int(data.get("queue") or 0)
        workers = data.get("workers") or {}
        h.text = (f"ShapeProg {h.version} | {', '.join(h.devices) or 'cpu'} | queue {h.queue}"
                  + (f" | {workers.get('busy', 0)}/{workers.get('total', 0)} workers busy" if workers else ""))
    else:
        h.state, h.text = "error", str(data)


def _on_programs(payload: Any) -> None:
    status, data = payload
    state.PROGRAMS.loading = False
    if status == "ok":
        state.PROGRAMS.programs, state.PROGRAMS.error = list(data), ""
        from .operators import refresh_scene_locks

        for scene in bpy.data.scenes:
            refresh_scene_locks(scene)
    else:
        state.PROGRAMS.error = str(data)


# -- the pump ---------------------------------------------------------------------------------------


def _handle(job: state.Job, kind: str, payload: Any) -> None:
    if kind == "program":
        job.program_id = payload
    elif kind == "object":
        job.program_object = payload
    elif kind == "blend":
        job.program_blend = payload
    elif kind == "submitted":
        job.remote_id, job.state = payload["id"], payload.get("state", "queued")
    elif kind == "progress":
        job.state = payload.get("state", job.state)
        prog = payload.get("progress") or {}
        job.fraction = float(prog.get("fraction") or 0.0)
        job.best_objective = prog.get("best_objective")
        job.elapsed = float(prog.get("elapsed") or 0.0)
        job.phase = str(prog.get("phase") or "")
        if prog.get("best_values") or prog.get("best_pose"):
            results.show_preview(job, prog.get("best_values") or {}, prog.get("best_pose"))
    elif kind == "finished":
        if not job.program_blend and payload.get("fitted_blend"):
            job.program_blend = payload["fitted_blend"]
        job.report_path = payload.get("report") or ""
        job.remote_id = payload["job"].get("id", job.remote_id)
        results.apply_result(job, payload["result"])
        job.fraction, job.state, job.done = 1.0, "applied", True
    elif kind == "ended":
        remote_state = payload.get("state") or "failed"
        job.state = remote_state if remote_state in ("failed", "cancelled", "interrupted") else "failed"
        job.error = payload.get("error") or {"cancelled": "cancelled", "interrupted":
                                             "the backend stopped while the job ran (retry it)"}.get(job.state, "the job failed")
        results.discard_preview(job)
        job.done = True
    elif kind == "error":
        job.state, job.error = "failed", str(payload)
        results.discard_preview(job)
        job.done = True


def pump() -> float | None:
    """Apply every event the workers reported (main thread). Returns the timer's next interval."""
    changed = False
    while True:
        try:
            key, kind, payload = state.EVENTS.get_nowait()
        except queue.Empty:
            break
        changed = True
        if key == "":
            (_on_health if kind == "health" else _on_programs)(payload)
            continue
        job = state.JOBS.get(key)
        if job is None or job.done:
            continue
        try:
            _handle(job, kind, payload)
        except Exception as exc:  # noqa: BLE001 - one bad event must not stop the pump or leave the scene half-done
            job.state, job.error = "failed", f"{type(exc).__name__}: {exc}"
            results.discard_preview(job)
            job.done = True
        if job.done and job.error:
            results.report_failure(job)
    if changed:
        _redraw()
    return PUMP_INTERVAL


def _redraw() -> None:
    wm = getattr(bpy.context, "window_manager", None)
    for window in getattr(wm, "windows", []):
        for area in window.screen.areas:
            if area.type in ("VIEW_3D", "PREFERENCES"):
                area.tag_redraw()


def _auto_refresh() -> None:
    """Keep the panel's status line and program list fresh (every HEALTH_INTERVAL seconds, UI sessions)."""
    from .preferences import make_client

    h = state.HEALTH
    if h.state == "checking" or state.PROGRAMS.loading:
        return
    stale = time.monotonic() - h.checked > HEALTH_INTERVAL
    try:
        client = make_client()
    except BackendError as exc:
        h.state, h.text = "error", str(exc)
        return
    if stale or h.url != client.url:
        request_health(client)
    elif h.state == "ok" and (state.PROGRAMS.url != client.url or not (state.PROGRAMS.programs or state.PROGRAMS.error)):
        request_programs(client)


def _timer() -> float | None:
    try:
        pump()
        _auto_refresh()
    except Exception:  # noqa: BLE001 - an exception would unregister the timer and freeze every job
        traceback.print_exc()
    if any(not j.done for j in state.JOBS.values()):
        return PUMP_INTERVAL
    if state.HEALTH.state == "checking" or state.PROGRAMS.loading:
        return PUMP_INTERVAL
    return 1.0


def ensure_timer() -> None:
    if not bpy.app.timers.is_registered(_timer):
        bpy.app.timers.register(_timer, first_interval=PUMP_INTERVAL, persistent=True)


def detach_all(reason: str) -> None:
    """Stop following the running jobs (another file was opened): cancel them on the backend and forget
    their previews, which went away with the old file."""
    for job in state.JOBS.values():
        if not job.done:
            job.cancel.set()  # the worker still sends the cancel; its later events are ignored
            job.state, job.error, job.done = "cancelled", reason, True
            job.preview, job.preview_ids = "", set()


def clear_jobs(finished_only: bool = True) -> None:
    for key in [k for k, j in state.JOBS.items() if j.done or not finished_only]:
        state.JOBS[key].stop.set()
        del state.JOBS[key]


def register() -> None:
    ensure_timer()


def unregister() -> None:
    if bpy.app.timers.is_registered(_timer):
        bpy.app.timers.unregister(_timer)
    state.reset()
