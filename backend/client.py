"""A Python client of the job service (httpx; docs/api.md): :class:`Client`.

    from backend.client import Client, scan_payload

    with Client("http://127.0.0.1:8765") as c:                   # token: SHAPEPROG_TOKEN or token=
        job = c.submit("chair", scan_payload("scan.ply"), {"budget": 30})
        job = c.wait(job["id"], on_progress=lambda j: print(j["progress"]))
        c.download(job["id"], "out/")                              # result.json, fitted.ply, ...

``shapeprog fit --server URL`` uses it to run a fit remotely and write the same output folder.
"""

from __future__ import annotations

import base64
import io
import json
import os
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Self

__all__ = ["Client", "ClientError", "scan_payload", "zip_folder"]

FINAL_STATES = ("succeeded", "failed", "cancelled", "interrupted")


class ClientError(Exception):
    """The service answered with an error (``status``, its one-line ``detail``) or could not be reached
    (``status`` 0)."""

    def __init__(self, status: int, detail: str):
        super().__init__(f"{detail} (HTTP {status})" if status else detail)
        self.status, self.detail = status, detail


def zip_folder(folder: str | Path) -> bytes:
    """A frame folder as zip bytes (its files under their relative paths)."""
    folder = Path(folder)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(folder).as_posix())
    return buf.getvalue()


def scan_payload(path: str | Path, instance_id: int | None = None, every: int = 1, max_frames: int | None = 8) -> dict:
    """The ``scan`` of a JobRequest for a ``.ply`` file or an RGB-D frame folder (zipped)."""
    path = Path(path)
    if path.is_dir():
        if not (path / "depth").is_dir():
            raise ValueError(f"{path}: not a frame folder (no depth/ folder)")
        return {"frames_zip": base64.b64encode(zip_folder(path)).decode("ascii"), "instance_id": instance_id,
                "every": every, "max_frames": max_frames}
    if path.suffix.lower() != ".ply":
        raise ValueError(f"{path}: send a .ply scan or a frame folder")
    return {"ply": base64.b64encode(path.read_bytes()).decode("ascii")}


class Client:
    """The job service at ``url``; ``token`` defaults to ``$SHAPEPROG_TOKEN``."""

    def __init__(self, url: str = "http://127.0.0.1:8765", token: str | None = None, timeout: float = 60.0):
        import httpx

        token = token if token is not None else (os.environ.get("SHAPEPROG_TOKEN") or None)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _request(self, method: str, path: str, **kw: Any):
        import httpx

        try:
            r = self._http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise ClientError(0, f"{self.url}: {type(exc).__name__}: {exc}") from None
        if r.status_code >= 400:
            try:
                detail = r.json().get("detail", r.text)
            except ValueError:
                detail = r.text
            raise ClientError(r.status_code, " ".join(str(detail).split()))
        return r

    # -- resources

    def health(self) -> dict:
        return self._request("GET", "/v1/health").json()

    def programs(self) -> list[dict]:
        return self._request("GET", "/v1/programs").json()["programs"]

    def program(self, program_id: str) -> dict:
        return self._request("GET", f"/v1/programs/{program_id}").json()

    def upload_program(self, document: dict | str | Path) -> dict:
        """Upload an IR document (a dict or a ``.json`` path); returns the Program (its ``id``)."""
        if not isinstance(document, dict):
            document = json.loads(Path(document).read_text())
        return self._request("POST", "/v1/programs", json=document).json()

    def submit(self, program: str | dict, scan: dict | None = None, options: dict | None = None, label: str = "",
               scan_file: str | Path | None = None) -> dict:
        """Queue a fit; ``scan`` as :func:`scan_payload` makes it, or ``scan_file`` (a .ply or a .zip) sent as
        multipart. Returns the Job."""
        request = {"program": program, "options": options or {}, "label": label}
        if scan_file is None:
            return self._request("POST", "/v1/jobs", json={**request, "scan": scan}).json()
        path = Path(scan_file)
        data = {"request": json.dumps(request)}
        for key in ("instance_id", "every", "max_frames"):
            if scan and scan.get(key) is not None:
                data[key] = str(scan[key])
        with open(path, "rb") as f:
            return self._request("POST", "/v1/jobs", data=data, files={"scan": (path.name, f)}).json()

    def jobs(self, state: str | None = None) -> list[dict]:
        return self._request("GET", "/v1/jobs", params={"state": state} if state else None).json()["jobs"]

    def job(self, job_id: str) -> dict:
        return self._request("GET", f"/v1/jobs/{job_id}").json()

    def cancel(self, job_id: str) -> dict:
        return self._request("POST", f"/v1/jobs/{job_id}/cancel").json()

    def retry(self, job_id: str) -> dict:
        return self._request("POST", f"/v1/jobs/{job_id}/retry").json()

    def delete(self, job_id: str) -> None:
        self._request("DELETE", f"/v1/jobs/{job_id}")

    def result(self, job_id: str) -> dict:
        return self._request("GET", f"/v1/jobs/{job_id}/result").json()

    def file(self, job_id: str, name: str) -> bytes:
        return self._request("GET", f"/v1/jobs/{job_id}/files/{name}").content

    def download(self, job_id: str, out_dir: str | Path) -> list[Path]:
        """Write the job's result.json and output files into ``out_dir``; returns the paths written."""
        job = self.job(job_id)
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for name in job["files"]:
            data = self._request("GET", f"/v1/jobs/{job_id}/result").content if name == "result.json" \
                else self.file(job_id, name)
            (out / name).write_bytes(data)
            written.append(out / name)
        return written

    # -- following a job

    def events(self, job_id: str, timeout: float | None = None) -> Iterator[tuple[str, dict]]:
        """The job's server-sent events as ``(event, Job)``: ``progress`` ..., then ``end``."""
        import httpx

        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            with self._http.stream("GET", f"/v1/jobs/{job_id}/events", timeout=httpx.Timeout(60.0, read=None)) as r:
                if r.status_code >= 400:
                    r.read()
                    raise ClientError(r.status_code, " ".join(str(r.json().get("detail", r.text)).split()))
                event, data = "message", []
                for line in r.iter_lines():
                    if line == "":
                        if data:
                            yield event, json.loads("\n".join(data))
                            if event == "end":
                                return
                        event, data = "message", []
                    elif line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].strip())
                    if deadline is not None and time.monotonic() > deadline:
                        return
        except httpx.HTTPError as exc:
            raise ClientError(0, f"{self.url}: {type(exc).__name__}: {exc}") from None

    def wait(self, job_id: str, timeout: float | None = None, on_progress: Callable[[dict], None] | None = None,
             poll: float = 1.0) -> dict:
        """Follow a job until it ends (SSE; polling when the stream breaks); returns the final Job.
        Raises :class:`TimeoutError` after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            for event, job in self.events(job_id, timeout):
                if on_progress is not None:
                    on_progress(job)
                if event == "end":
                    return job
        except ClientError as exc:
            if exc.status:
                raise
        while True:
            job = self.job(job_id)
            if job["state"] in FINAL_STATES:
                return job
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job['state']} after {timeout:g} s")
            if on_progress is not None:
                on_progress(job)
            time.sleep(poll)
