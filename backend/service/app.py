"""The HTTP API (FastAPI; docs/api.md is the contract): :func:`create_app`.

The web process never runs a fit: jobs go to the executor's workers. Cheap requests (health, a job's
state, listings) are answered on the event loop from memory and SQLite; uploads are read and checked
in the thread pool. A pure ASGI middleware (:class:`Gate`) checks the bearer token, refuses bodies
over the size limit (413) and logs one line per request.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from translator.ir import ProgramError

from ..jobs import STATES, Executor, make_executor
from .config import ServiceConfig, default_data_dir
from .manager import JobManager, ManagerError
from .programs import ProgramCatalog
from .schemas import Health, Job, JobList, JobRequest, Program, ProgramList, field_error, one_line_error
from .store import JobStore
from .uploads import UploadError

__all__ = ["Gate", "create_app"]

log = logging.getLogger("shapeprog.service")

_JOB_REQUEST_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/JobRequest"}},
            "multipart/form-data": {"schema": {"type": "object", "properties": {
                "request": {"type": "string", "description": "the JobRequest as JSON (its scan may be left out)"},
                "scan": {"type": "string", "format": "binary", "description": "a .ply, or a .zip of a frame folder"},
                "instance_id": {"type": "integer"}, "every": {"type": "integer"}, "max_frames": {"type": "integer"}},
                "required": ["request", "scan"]}},
        },
    }
}


class Gate:
    """ASGI middleware: bearer token (401), body size limit (413), one log line per request."""

    def __init__(self, app: Any, token: str | None, limit: int):
        self.app, self.token, self.limit = app, token, limit
        self._expected = f"Bearer {token}".encode() if token else None

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = [0]

        async def sending(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            refusal = self._refuse(scope)
            if refusal is not None:
                await refusal(scope, receive, sending)
                return
            seen = [0]

            async def receiving() -> dict:
                message = await receive()
                if message["type"] == "http.request":
                    seen[0] += len(message.get("body", b""))
                    if seen[0] > self.limit:
                        raise HTTPException(413, f"request body: larger than the upload limit ({self.limit / 2**20:.0f} MiB)")
                return message

            await self.app(scope, receiving, sending)
        finally:
            client = scope.get("client") or ("-", 0)
            log.info("request method=%s path=%s status=%d ms=%.1f client=%s", scope["method"], scope["path"], status[0],
                     1000 * (time.perf_counter() - t0), client[0])

    def _refuse(self, scope: dict) -> JSONResponse | None:
        headers = dict(scope.get("headers") or [])
        if self._expected is not None:
            given = headers.get(b"authorization")
            if given is None:
                return JSONResponse({"detail": "missing bearer token (send Authorization: Bearer TOKEN)"}, 401,
                                    headers={"WWW-Authenticate": "Bearer"})
            if not hmac.compare_digest(given, self._expected):
                return JSONResponse({"detail": "wrong bearer token"}, 401, headers={"WWW-Authenticate": "Bearer"})
        length = headers.get(b"content-length")
        if length is not None:
            try:
                n = int(length)
            except ValueError:
                return JSONResponse({"detail": "content-length: not a number"}, 400)
            if n > self.limit:
                return JSONResponse({"detail": f"request body: {n / 2**20:.1f} MiB, larger than the upload limit "
                                               f"({self.limit / 2**20:.0f} MiB)"}, 413)
        return None


def _error(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": " ".join(detail.split())}, status)


def create_app(cfg: ServiceConfig | None = None, *, token: str | None = None, executor: Executor | None = None) -> FastAPI:
    """The service's app for ``cfg``; it opens the store and starts the executor (``executor``, or one made
    from ``cfg``: worker processes, or Ray with ``cfg.ray``) when it starts, and stops them when it stops."""
    cfg = cfg or ServiceConfig()
    data = Path(cfg.data_dir or default_data_dir()).expanduser()
    limit = int(cfg.max_upload_mb * 2**20)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        import torch

        torch.set_num_threads(1)  # the web process only reads files; fits run in the workers
        import translator.codegen  # noqa: F401  (uploads are checked with it: import before the first request)

        from ..io import load_ply  # noqa: F401

        data.mkdir(parents=True, exist_ok=True)
        store = JobStore(data / "jobs.sqlite")
        catalog = ProgramCatalog(data / "programs")
        ex = executor or make_executor(cfg.ray, cfg.workers, threads=cfg.threads, device=cfg.device, nice=cfg.nice)
        manager = JobManager(store, ex, catalog, data / "jobs", device=cfg.device, threads=cfg.threads, upload_limit=limit)
        manager.start()
        app.state.manager, app.state.catalog = manager, catalog
        import threading

        threading.Thread(target=catalog.warm, name="shapeprog-programs", daemon=True).start()
        log.info("service started data_dir=%s executor=%s workers=%d device=%s auth=%s", data, ex.kind, ex.capacity,
                 cfg.device, "token" if token else "none")
        try:
            yield
        finally:
            await run_in_threadpool(manager.shutdown, cfg.stop_wait)
            store.close()
            log.info("service stopped")

    app = FastAPI(title="ShapeProg job service", version="1", lifespan=lifespan,
                  description="Fit shape programs to scans: submit jobs, follow their progress, fetch results. "
                              "See docs/api.md.")
    app.add_middleware(Gate, token=token, limit=limit)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, one_line_error(list(exc.errors())))

    @app.exception_handler(ManagerError)
    async def _manager_error(_: Request, exc: ManagerError) -> JSONResponse:
        return _error(exc.status, exc.detail)

    @app.exception_handler(UploadError)
    async def _upload_error(_: Request, exc: UploadError) -> JSONResponse:
        return _error(exc.status, exc.detail)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("request %s %s failed", request.method, request.url.path)
        return _error(500, f"internal error: {type(exc).__name__}: {exc}")

    def manager(request: Request) -> JobManager:
        return request.app.state.manager

    @app.get("/v1/health", response_model=Health, tags=["service"])
    async def health(request: Request) -> dict:
        """Version, devices, executor, workers and queue length."""
        return manager(request).health()

    @app.get("/v1/programs", response_model=ProgramList, tags=["programs"])
    async def programs(request: Request) -> dict:
        """The library's programs and the uploaded ones."""
        return {"programs": await run_in_threadpool(request.app.state.catalog.list)}

    @app.get("/v1/programs/{program_id}", response_model=Program, tags=["programs"])
    async def program(program_id: str, request: Request) -> dict:
        """One program and its parameters (what `shapeprog params` shows)."""
        try:
            entry = await run_in_threadpool(request.app.state.catalog.get, program_id)
        except ProgramError as exc:
            raise ManagerError(422, field_error("program", str(exc))) from None
        if entry is None:
            raise ManagerError(404, f"no program {program_id!r}")
        return entry.info

    @app.get("/v1/programs/{program_id}/blend", tags=["programs"], response_class=FileResponse,
             responses={200: {"content": {"application/octet-stream": {}}, "description": "the program's .blend"},
                        404: {"description": "no such program, an upload, or a library program without a .blend"}})
    async def program_blend(program_id: str, request: Request) -> FileResponse:
        """A library program's .blend (its object is the Program's `object`); 404 for uploads."""
        catalog = request.app.state.catalog
        try:
            entry = await run_in_threadpool(catalog.get, program_id)
        except ProgramError as exc:
            raise ManagerError(422, field_error("program", str(exc))) from None
        if entry is None:
            raise ManagerError(404, f"no program {program_id!r}")
        path = await run_in_threadpool(catalog.blend, program_id)
        if path is None:
            why = "an uploaded program has no .blend" if entry.info["source"] == "upload" else "its .blend is missing"
            raise ManagerError(404, f"program {program_id!r} has no .blend ({why})")
        return FileResponse(path, media_type="application/octet-stream", filename=f"{program_id}.blend")

    @app.post("/v1/programs", response_model=Program, status_code=201, tags=["programs"],
              openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {
                  "type": "object", "description": "an IR document (the .json that `shapeprog translate` writes)"}}}}})
    async def upload_program(request: Request, response: Response) -> dict:
        """Upload an IR document (validated, never executed); ids are content hashes (200 when known)."""
        body = await request.body()
        try:
            entry, new = await run_in_threadpool(request.app.state.catalog.add, body)
        except ProgramError as exc:
            raise ManagerError(422, field_error("program", str(exc))) from None
        response.status_code = 201 if new else 200
        log.info("program id=%s uploaded new=%s", entry.info["id"], new)
        return entry.info

    @app.post("/v1/jobs", response_model=Job, status_code=202, tags=["jobs"], openapi_extra=_JOB_REQUEST_DOC)
    async def submit(request: Request, response: Response) -> dict:
        """Queue a fit: JSON `JobRequest`, or multipart with a `request` field and a `scan` file."""
        ctype = request.headers.get("content-type", "")
        scan_file = None
        if ctype.startswith("multipart/form-data"):
            form = await request.form(max_files=1, max_fields=8, max_part_size=limit)
            text, upload = form.get("request"), form.get("scan")
            if upload is None or isinstance(upload, str):
                raise ManagerError(422, "scan: missing the multipart file field 'scan' (a .ply or a .zip of a frame folder)")
            options = {}
            for key in ("instance_id", "every", "max_frames"):
                if form.get(key) not in (None, ""):
                    try:
                        options[key] = int(form.get(key))
                    except ValueError:
                        raise ManagerError(422, f"{key}: not an integer") from None
            scan_file = (upload.filename or "", await upload.read(), options)
            raw = text if isinstance(text, str) else "{}"
        else:
            raw = await request.body()
        try:
            payload = await run_in_threadpool(json.loads, raw or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ManagerError(422, f"request: not valid JSON ({exc})") from None
        try:
            req = await run_in_threadpool(JobRequest.model_validate, payload)
        except ValidationError as exc:
            raise ManagerError(422, one_line_error(list(exc.errors()))) from None
        job = await run_in_threadpool(manager(request).create, req, scan_file)
        response.headers["Location"] = f"/v1/jobs/{job['id']}"
        return job

    @app.get("/v1/jobs", response_model=JobList, tags=["jobs"])
    async def jobs(request: Request, state: str | None = None) -> dict:
        """Jobs newest first (`?state=running` filters)."""
        if state is not None and state not in STATES:
            raise ManagerError(422, f"state: must be one of {', '.join(STATES)}, got {state!r}")
        return {"jobs": manager(request).jobs(state)}

    @app.get("/v1/jobs/{job_id}", response_model=Job, tags=["jobs"])
    async def job(job_id: str, request: Request) -> dict:
        """A job's state and progress."""
        return manager(request).job(job_id)

    @app.get("/v1/jobs/{job_id}/events", tags=["jobs"], response_class=StreamingResponse,
             responses={200: {"content": {"text/event-stream": {}}, "description": "progress events, then one end event"}})
    async def events(job_id: str, request: Request) -> StreamingResponse:
        """Server-sent events: `progress` per update (data: Job), then one `end` (data: the final Job)."""
        m = manager(request)
        m.job(job_id)  # 404 before the stream starts

        async def stream():
            async for kind, data in m.events(job_id):
                if kind == "ping":
                    yield ": keep-alive\n\n"
                else:
                    yield f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.get("/v1/jobs/{job_id}/result", tags=["jobs"])
    async def result(job_id: str, request: Request) -> FileResponse:
        """The job's result.json (404 until it has one)."""
        return FileResponse(manager(request).output_file(job_id, "result.json"), media_type="application/json")

    @app.get("/v1/jobs/{job_id}/files/{name}", tags=["jobs"])
    async def file(job_id: str, name: str, request: Request) -> FileResponse:
        """fitted.ply, fitted.obj, fitted.blend, report.png (404 for other names)."""
        path = manager(request).output_file(job_id, name)
        return FileResponse(path, filename=name)

    @app.post("/v1/jobs/{job_id}/cancel", response_model=Job, status_code=202, tags=["jobs"])
    async def cancel(job_id: str, request: Request) -> dict:
        """Cancel: a queued job at once; a running fit stops within 2 s and keeps its best result."""
        return await run_in_threadpool(manager(request).cancel, job_id)

    @app.post("/v1/jobs/{job_id}/retry", response_model=Job, status_code=202, tags=["jobs"])
    async def retry(job_id: str, request: Request, response: Response) -> dict:
        """A new job with the same inputs (for failed, cancelled and interrupted jobs)."""
        job = await run_in_threadpool(manager(request).retry, job_id)
        response.headers["Location"] = f"/v1/jobs/{job['id']}"
        return job

    @app.delete("/v1/jobs/{job_id}", status_code=204, tags=["jobs"])
    async def delete(job_id: str, request: Request) -> Response:
        """Remove a finished job and its files (409 while queued or running)."""
        await run_in_threadpool(manager(request).delete, job_id)
        return Response(status_code=204)

    return app
