"""The service's jobs (:class:`JobManager`): requests become job folders, rows in the :class:`JobStore`
and jobs of an :class:`~backend.jobs.Executor`; the executor's reports become state changes (committed
at once), progress (kept in memory, written to the store at most every ``progress_interval`` seconds)
and events for the SSE subscribers.

A job's folder, ``DATA/jobs/<id>/``, holds ``inputs/`` (the program when it is an upload, the scan:
``scan.ply`` or ``frames/``) and ``output/`` (what :func:`backend.fit.write_outputs` writes).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import threading
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from translator.ir import ProgramError

from ..jobs import ACTIVE_STATES, FINAL_STATES, Executor, JobHandle, JobOutcome, JobSpec
from .programs import ProgramCatalog
from .schemas import field_error
from .store import JobStore, now
from .uploads import save_scan, save_scan_file

__all__ = ["OUTPUT_FILES", "JobManager", "ManagerError"]

log = logging.getLogger("shapeprog.service")

OUTPUT_FILES = ("result.json", "fitted.ply", "fitted.obj", "fitted.blend", "report.png")
"""The files of a job's output folder the API serves."""


class ManagerError(Exception):
    """A request the jobs' states or ids do not allow: ``status`` (404, 409, 422) and a one-line ``detail``."""

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status, self.detail = status, detail


class JobManager:
    """Jobs: create, look up, cancel, retry, delete; progress and events."""

    def __init__(self, store: JobStore, executor: Executor, catalog: ProgramCatalog, jobs_dir: str | Path, *,
                 device: str = "cpu", threads: int = 1, upload_limit: int = 512 * 2**20, progress_interval: float = 0.5):
        self.store, self.executor, self.catalog = store, executor, catalog
        self.jobs_dir = Path(jobs_dir)
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self.device, self.threads, self.upload_limit = device, threads, upload_limit
        self.progress_interval = progress_interval
        self._lock = threading.Lock()
        self._handles: dict[str, JobHandle] = {}
        self._live: dict[str, dict] = {}
        self._written: dict[str, float] = {}
        self._cancelled: set[str] = set()
        self._subscribers: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Queue]]] = {}
        self._stopping = False

    # -- life cycle

    def start(self) -> None:
        """Mark the jobs a previous server left running ``interrupted`` and queue its queued jobs again."""
        interrupted, queued = self.store.recover()
        for job_id in interrupted:
            log.info("job id=%s state=interrupted reason=restart", job_id)
        for row in queued:
            log.info("job id=%s state=queued reason=restart", row["id"])
            self._dispatch(JobSpec.from_dict(row["spec"]))

    def shutdown(self, wait: float = 5.0) -> None:
        """Stop the executor: running fits end with their best result and are marked ``interrupted``."""
        self._stopping = True
        self.executor.shutdown(wait)

    # -- jobs

    def folder(self, job_id: str) -> Path:
        return self.jobs_dir / job_id

    def _dispatch(self, spec: JobSpec) -> None:
        handle = self.executor.submit(spec, self._on_progress, self._on_done, self._on_start)
        with self._lock:
            if handle.state != "done":
                self._handles[spec.id] = handle

    def create(self, request: Any, scan_file: tuple[str, bytes, dict] | None = None) -> dict[str, Any]:
        """A job from a :class:`~backend.service.schemas.JobRequest` (and a multipart scan file: its name, its
        bytes and the frame reader's options ``instance_id``, ``every``, ``max_frames``): checks the
        program, the options and the scan, writes the job's folder, stores and queues it."""
        from translator.params import check_values

        from ..fit import FitConfig
        from ..fit.pipeline import MIN_BUDGET_S
        from ..options import config_from_dict, config_to_dict

        entry = self._program(request.program)
        opts = request.options
        try:
            cfg = config_from_dict(FitConfig, opts.config, "options.config")
        except (TypeError, ValueError) as exc:
            raise ManagerError(422, " ".join(str(exc).split())) from None
        given = {k: getattr(opts, k) for k in opts.model_fields_set if k != "config"}
        device = given.pop("device", None) or (opts.config.get("device") if "device" in opts.config else self.device)
        cfg = replace(cfg, **given, device=device)
        if device != self.device and device == "cuda":
            raise ManagerError(422, f"options.device: this server fits on {self.device} (start it with --device cuda)")
        if not (isinstance(cfg.budget, (int, float)) and cfg.budget >= MIN_BUDGET_S):
            raise ManagerError(422, f"options.budget: must be a number of seconds >= {MIN_BUDGET_S:g}, got {cfg.budget!r}")
        try:
            _ = cfg.search
            check_values(entry.space, cfg.locks, where="options.locks")
            if cfg.init:
                names = {p.name for p in entry.space}
                check_values(entry.space, {k: v for k, v in cfg.init.items() if k in names}, where="options.init")
        except (ProgramError, ValueError) as exc:
            raise ManagerError(422, " ".join(str(exc).split())) from None
        if request.scan is None and scan_file is None:
            raise ManagerError(422, "scan: missing (give points, ply or frames_zip, or a multipart 'scan' file)")
        job_id = uuid.uuid4().hex
        folder = self.folder(job_id)
        inputs = folder / "inputs"
        try:
            if scan_file is not None:
                name, data, frame_options = scan_file
                scan_fields = save_scan_file(name, data, inputs, self.upload_limit, **frame_options)
            else:
                scan_fields = save_scan(request.scan, inputs, self.upload_limit)
            program = entry.info["id"]
            if entry.info["source"] == "upload":
                shutil.copyfile(entry.path, inputs / "program.json")
                program = "program.json"
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        spec = JobSpec(id=job_id, program=program, output=str(folder / "output"), inputs_dir=str(inputs),
                       config=config_to_dict(cfg), threads=self.threads, label=request.label, **scan_fields)
        options = {**opts.model_dump(), "device": device}
        row = self.store.add({"id": job_id, "state": "queued", "label": request.label, "program": entry.info["id"],
                              "created": now(), "options": options, "spec": spec.to_dict()})
        log.info("job id=%s state=queued program=%s label=%r", job_id, entry.info["id"], request.label)
        self._dispatch(spec)
        return self._public(row)

    def _program(self, ref: Any):
        if isinstance(ref, dict):
            try:
                entry, _ = self.catalog.add(ref)
            except ProgramError as exc:
                raise ManagerError(422, field_error("program", str(exc))) from None
            return entry
        try:
            entry = self.catalog.get(ref)
        except ProgramError as exc:
            raise ManagerError(422, field_error("program", str(exc))) from None
        if entry is None:
            raise ManagerError(422, f"program: unknown program {ref!r} (library programs: "
                                    f"{', '.join(self.catalog.library_names())}; or the id of an uploaded one)")
        return entry

    def _row(self, job_id: str) -> dict[str, Any]:
        row = self.store.get(job_id) if len(job_id) == 32 and job_id.isalnum() else None
        if row is None:
            raise ManagerError(404, f"no job {job_id!r}")
        return row

    def _public(self, row: dict[str, Any]) -> dict[str, Any]:
        progress = self._live.get(row["id"]) or row.get("progress")
        return {"id": row["id"], "state": row["state"], "label": row["label"], "program": row["program"],
                "created": row["created"], "started": row["started"], "finished": row["finished"], "progress": progress,
                "error": row["error"], "files": row["files"] or [], "options": row["options"] or {},
                "retry_of": row.get("retry_of")}

    def job(self, job_id: str) -> dict[str, Any]:
        return self._public(self._row(job_id))

    def jobs(self, state: str | None = None) -> list[dict[str, Any]]:
        return [self._public(r) for r in self.store.list(state)]

    def output_file(self, job_id: str, name: str) -> Path:
        """The path of an output file (404 for a name outside :data:`OUTPUT_FILES` or one not written)."""
        row = self._row(job_id)
        if name not in OUTPUT_FILES:
            raise ManagerError(404, f"no file {name!r} (files: {', '.join(OUTPUT_FILES)})")
        path = self.folder(row["id"]) / "output" / name
        if name not in (row["files"] or []) or not path.is_file():
            raise ManagerError(404, f"job {job_id} has no {name} ({'state ' + row['state']})")
        return path

    def cancel(self, job_id: str) -> dict[str, Any]:
        row = self._row(job_id)
        if row["state"] not in ACTIVE_STATES:
            raise ManagerError(409, f"job {job_id} is {row['state']}: only queued or running jobs can be cancelled")
        with self._lock:
            self._cancelled.add(job_id)
            handle = self._handles.get(job_id)
        if handle is not None:
            self.executor.cancel(handle)
        elif self.store.update(job_id, state="cancelled", finished=now(), only_if=("queued",)):
            log.info("job id=%s state=cancelled", job_id)
        log.info("job id=%s cancel requested (was %s)", job_id, row["state"])
        return self.job(job_id)

    def retry(self, job_id: str) -> dict[str, Any]:
        row = self._row(job_id)
        if row["state"] not in ("failed", "cancelled", "interrupted"):
            raise ManagerError(409, f"job {job_id} is {row['state']}: only failed, cancelled or interrupted jobs can be retried")
        new_id = uuid.uuid4().hex
        old, new = self.folder(job_id), self.folder(new_id)
        if not (old / "inputs").is_dir():
            raise ManagerError(409, f"job {job_id} has lost its inputs folder; submit it again")
        shutil.copytree(old / "inputs", new / "inputs")
        spec = replace(JobSpec.from_dict(row["spec"]), id=new_id, output=str(new / "output"), inputs_dir=str(new / "inputs"))
        added = self.store.add({"id": new_id, "state": "queued", "label": row["label"], "program": row["program"],
                                "created": now(), "options": row["options"], "spec": spec.to_dict(), "retry_of": job_id})
        log.info("job id=%s state=queued program=%s retry_of=%s", new_id, row["program"], job_id)
        self._dispatch(spec)
        return self._public(added)

    def delete(self, job_id: str) -> None:
        row = self._row(job_id)
        if row["state"] in ACTIVE_STATES:
            raise ManagerError(409, f"job {job_id} is {row['state']}: cancel it first")
        self.store.delete(job_id)
        shutil.rmtree(self.folder(job_id), ignore_errors=True)
        log.info("job id=%s deleted", job_id)

    # -- the executor's reports (its threads)

    def _on_start(self, job_id: str) -> None:
        if self.store.update(job_id, state="running", started=now(), only_if=("queued",)):
            log.info("job id=%s state=running", job_id)
            self._notify(job_id)

    def _on_progress(self, job_id: str, progress: dict) -> None:
        self._live[job_id] = progress
        t = time.monotonic()
        if t - self._written.get(job_id, -float("inf")) >= self.progress_interval:
            self._written[job_id] = t
            self.store.update(job_id, progress=progress)
        self._notify(job_id)

    def _on_done(self, job_id: str, outcome: JobOutcome) -> None:
        with self._lock:
            self._handles.pop(job_id, None)
            asked = job_id in self._cancelled
            self._cancelled.discard(job_id)
        state = outcome.state
        row = self.store.get(job_id)
        if state == "cancelled" and self._stopping and not asked:
            if row is not None and row["state"] == "queued":
                log.info("job id=%s stays queued (the server is stopping; it runs after a restart)", job_id)
                return
            state = "interrupted"  # the server is going down, not the user's cancel
        progress = self._live.pop(job_id, None) or (row or {}).get("progress")
        self._written.pop(job_id, None)
        if state == "succeeded" and progress:
            progress = {**progress, "fraction": 1.0}
        out = self.folder(job_id) / "output"
        files = [n for n in OUTPUT_FILES if (out / n).is_file()]
        error = outcome.error if state != "interrupted" else "the server stopped while the job ran (retry runs it again)"
        fields: dict[str, Any] = {"state": state, "finished": now(), "error": error, "files": files, "progress": progress}
        if row is not None and row["started"] is None and outcome.seconds > 0:
            fields["started"] = now()
        self.store.update(job_id, **fields)
        log.info("job id=%s state=%s seconds=%.1f objective=%s error=%r", job_id, state, outcome.seconds,
                 None if outcome.objective is None else f"{outcome.objective:.5g}", error)
        self._notify(job_id)

    # -- events

    def _notify(self, job_id: str) -> None:
        subs = self._subscribers.get(job_id)
        if not subs:
            return
        try:
            job = self.job(job_id)
        except ManagerError:
            return
        for loop, q in list(subs):
            try:
                loop.call_soon_threadsafe(q.put_nowait, job)
            except RuntimeError:  # the loop has closed
                subs.discard((loop, q))

    async def events(self, job_id: str, keepalive: float = 15.0) -> AsyncIterator[tuple[str, dict | None]]:
        """``("progress", job)`` now and after each update, then ``("end", job)``; ``("ping", None)`` every
        ``keepalive`` seconds without one."""
        self._row(job_id)
        loop, q = asyncio.get_running_loop(), asyncio.Queue()
        key = (loop, q)
        self._subscribers.setdefault(job_id, set()).add(key)
        try:
            job = self.job(job_id)
            if job["state"] in FINAL_STATES:
                yield "end", job
                return
            yield "progress", job
            while True:
                try:
                    job = await asyncio.wait_for(q.get(), timeout=keepalive)
                except TimeoutError:
                    yield "ping", None
                    continue
                while not q.empty() and job["state"] not in FINAL_STATES:  # a slow reader gets the latest
                    job = q.get_nowait()
                if job["state"] in FINAL_STATES:
                    yield "end", job
                    return
                yield "progress", job
        finally:
            subs = self._subscribers.get(job_id)
            if subs is not None:
                subs.discard(key)
                if not subs:
                    self._subscribers.pop(job_id, None)

    def health(self) -> dict[str, Any]:
        ex = self.executor
        total, busy = ex.capacity, ex.busy
        return {"version": _version(), "devices": ex.devices(), "executor": ex.kind,
                "workers": {"total": total, "busy": busy, "free": max(0, total - busy)}, "queue": ex.queued}


def _version() -> str:
    from translator import __version__

    return __version__
