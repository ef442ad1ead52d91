"""A scripted stand-in for the job service (docs/api.md), standard library only, for the add-on's fast tests.

It answers the endpoints the add-on uses with canned data: the library's programs (parameters read from
``sample_scenes/programs/NAME.json``), uploads (422 naming the node types listed in ``unsupported``), and
jobs that run through ``progress_steps`` polls of progress and then end as ``outcome`` says
(``succeeded`` with ``result``, ``failed``, or ``hang`` until cancelled). Every request is recorded in
``requests``. The real service is tested in tests/test_addon_backend.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

ROOT = Path(__file__).resolve().parents[1]
PROGRAMS_DIR = ROOT / "sample_scenes" / "programs"


def parameter_rows(name: str) -> list[dict]:
    data = json.loads((PROGRAMS_DIR / f"{name}.json").read_text())
    rows = []
    for s in data["groups"][data["entry"]]["inputs"]:
        if s["type"] == "GEOMETRY":
            continue
        rows.append({"name": s["name"], "kind": "continuous" if s["type"] in ("VALUE", "VECTOR") else "discrete",
                     "type": s["type"], "subtype": s.get("subtype"), "default": s["default"],
                     "range": [s.get("min"), s.get("max")], "choices": s.get("items"), "active_when": "always"})
    return rows


class FakeBackend:
    def __init__(self, token: str | None = None, serve_blend: bool = True):
        self.token = token
        self.serve_blend = serve_blend
        self.unsupported: set[str] = set()
        self.outcome = "succeeded"
        self.progress_steps = 2
        self.result: dict = {}
        self.progress_values: dict = {}
        self.progress_pose: list | None = None
        self.requests: list[tuple[str, str, Any]] = []
        self.jobs: dict[str, dict] = {}
        self.uploads: dict[str, dict] = {}
        self.lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def program(self, pid: str) -> dict | None:
        if pid in self.uploads:
            return self.uploads[pid]
        if (PROGRAMS_DIR / f"{pid}.json").is_file():
            return {"id": pid, "name": pid, "source": "library", "sha256": "0" * 64, "parameters": parameter_rows(pid)}
        return None

    def _job_view(self, job: dict) -> dict:
        view = {k: v for k, v in job.items() if not k.startswith("_")}
        return view

    def _advance(self, job: dict) -> None:
        if job["state"] in ("succeeded", "failed", "cancelled"):
            return
        job["_polls"] += 1
        if job["_cancel"]:
            job.update(state="cancelled", error=None)
            return
        if job["_polls"] <= self.progress_steps or self.outcome == "hang":
            n = min(job["_polls"], self.progress_steps)
            job["state"] = "running"
            job["progress"] = {"fraction": n / (self.progress_steps + 1), "step": n, "evaluations": 10 * n,
                               "best_objective": 0.1 / n, "best_values": self.progress_values,
                               "best_pose": self.progress_pose, "elapsed": 1.5 * n, "phase": "search"}
            return
        if self.outcome == "failed":
            job.update(state="failed", error="the scan has 3 points; at least 50 are needed")
        else:
            job.update(state="succeeded", files=["result.json", "report.png"])

    def _handler(self) -> type:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: Any = None, raw: bytes | None = None) -> None:
                data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
                self.send_response(status)
                self.send_header("Content-Type", "application/octet-stream" if raw is not None else "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> Any:
                n = int(self.headers.get("Content-Length") or 0)
                return json.loads(self.rfile.read(n)) if n else None

            def _route(self, method: str) -> None:
                body = self._body() if method == "POST" else None
                with fake.lock:
                    fake.requests.append((method, self.path, body))
                if fake.token and self.headers.get("Authorization") != f"Bearer {fake.token}":
                    return self._send(401, {"detail": "missing or wrong bearer token"})
                parts = self.path.split("?")[0].strip("/").split("/")[1:]  # after "v1"
                with fake.lock:
                    return self._dispatch(method, parts, body)

            def _dispatch(self, method: str, parts: list[str], body: Any) -> None:
                if parts == ["health"]:
                    return self._send(200, {"version": "0.1.0", "devices": ["cpu"], "executor": "local",
                                            "workers": {"total": 1, "busy": 0, "free": 1},
                                            "queue": sum(j["state"] == "queued" for j in fake.jobs.values())})
                if parts == ["programs"] and method == "GET":
                    progs = [fake.program(p.stem) for p in sorted(PROGRAMS_DIR.glob("*.json"))]
                    return self._send(200, {"programs": progs + list(fake.uploads.values())})
                if parts == ["programs"] and method == "POST":
                    types = sorted({n["bl_idname"] for g in body["groups"].values() for n in g["nodes"]} & fake.unsupported)
                    if types:
                        return self._send(422, {"detail": f"unsupported nodes: {', '.join(types)}"})
                    pid = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
                    fake.uploads[pid] = {"id": pid, "name": body["entry"], "source": "upload", "sha256": pid,
                                         "parameters": []}
                    return self._send(201, fake.uploads[pid])
                if len(parts) == 3 and parts[0] == "programs" and parts[2] == "blend":
                    path = PROGRAMS_DIR / f"{parts[1]}.blend"
                    if not fake.serve_blend or not path.is_file():
                        return self._send(404, {"detail": f"program {parts[1]!r} has no .blend"})
                    return self._send(200, raw=path.read_bytes())
                if parts == ["jobs"] and method == "POST":
                    if fake.program(body["program"]) is None:
                        return self._send(404, {"detail": f"unknown program {body['program']!r}"})
                    scan = body["scan"]
                    base64.b64decode(scan["ply"] if "ply" in scan else scan["frames_zip"])
                    jid = uuid.uuid4().hex
                    fake.jobs[jid] = {"id": jid, "state": "queued", "label": body.get("label", ""),
                                      "program": body["program"], "progress": None, "error": None, "files": [],
                                      "options": body.get("options", {}), "_polls": 0, "_cancel": False}
                    return self._send(202, fake._job_view(fake.jobs[jid]))
                if len(parts) >= 2 and parts[0] == "jobs":
                    job = fake.jobs.get(parts[1])
                    if job is None:
                        return self._send(404, {"detail": f"no job {parts[1]}"})
                    if len(parts) == 2:
                        fake._advance(job)
                        return self._send(200, fake._job_view(job))
                    if parts[2] == "cancel" and method == "POST":
                        job["_cancel"] = True
                        return self._send(202, fake._job_view(job))
                    if parts[2] == "result" and job["state"] == "succeeded":
                        return self._send(200, fake.result)
                    if parts[2] == "files" and parts[3] == "report.png" and job["state"] == "succeeded":
                        return self._send(200, raw=(PROGRAMS_DIR / "gallery" / "chair.png").read_bytes())
                return self._send(404, {"detail": f"not found: {self.path}"})

            def do_GET(self) -> None:
                self._route("GET")

            def do_POST(self) -> None:
                self._route("POST")

        return Handler
