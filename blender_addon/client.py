"""A standard-library client for the ShapeProg job service (``docs/api.md``, v1).

Runs on worker threads and never touches bpy. Every failure is a :class:`BackendError`
whose message is one line a user can act on: the backend is down, the token was refused,
the program has unsupported nodes (the service's ``detail``), and so on.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

__all__ = ["DEFAULT_URL", "BackendClient", "BackendError", "is_loopback", "normalize_url"]

DEFAULT_URL = "http://127.0.0.1:8765"


class BackendError(Exception):
    """A request to the backend failed; ``str()`` is one line, ``status`` the HTTP status (None when no
    answer came back)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(" ".join(str(message).split()))
        self.status = status


def normalize_url(url: str) -> str:
    """``url`` without surrounding blanks and trailing slashes; ``http://`` added when no scheme is given."""
    url = (url or "").strip().rstrip("/")
    if url and "://" not in url:
        url = "http://" + url
    return url


def is_loopback(url: str) -> bool:
    """Whether ``url`` points at this machine (localhost, 127.0.0.0/8, ::1)."""
    host = urllib.parse.urlsplit(normalize_url(url)).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _one_line(text: Any, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class BackendClient:
    """The job service at ``url`` (``http://host:port``), with an optional bearer ``token``.

    ``timeout`` bounds each request's connect and read in seconds (uploads of large scans take longer;
    the worker passes ``timeout`` generously).
    """

    def __init__(self, url: str = DEFAULT_URL, token: str = "", timeout: float = 30.0):
        self.url = normalize_url(url) or DEFAULT_URL
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise BackendError(f"backend URL {self.url!r} is not an http(s) URL")
        self.token = token.strip()
        self.timeout = timeout

    # -- plumbing ---------------------------------------------------------------------------------

    def _request(self, method: str, path: str, body: Any = None, *, raw: bool = False,
                 timeout: float | None = None) -> Any:
        headers = {"Accept": "application/octet-stream" if raw else "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body, separators=(",", ":")).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout or self.timeout) as resp:
                payload = resp.read()
                status = resp.status
        except urllib.error.HTTPError as exc:
            raise self._http_error(method, path, exc) from None
        except urllib.error.URLError as exc:
            raise BackendError(self._unreachable(exc.reason)) from None
        except TimeoutError:
            raise BackendError(f"the ShapeProg backend at {self.url} did not answer {method} {path} "
                               f"within {timeout or self.timeout:g} s") from None
        except (ConnectionError, OSError) as exc:
            raise BackendError(self._unreachable(exc)) from None
        if raw:
            return payload
        if status == 204 or not payload:
            return None
        try:
            return json.loads(payload)
        except ValueError:
            raise BackendError(f"{method} {path}: the backend at {self.url} answered with something that is "
                               "not JSON (is the URL a ShapeProg backend?)") from None

    def _unreachable(self, reason: Any) -> str:
        if isinstance(reason, (socket.timeout, TimeoutError)):
            why = "timed out"
        elif isinstance(reason, ConnectionRefusedError):
            why = "connection refused"
        else:
            why = _one_line(getattr(reason, "strerror", None) or reason)
        return (f"the ShapeProg backend at {self.url} is not reachable ({why}); start it in the ShapeProg "
                "panel or run 'shapeprog serve'")

    def _http_error(self, method: str, path: str, exc: urllib.error.HTTPError) -> BackendError:
        detail = ""
        try:
            body = exc.read()
            data = json.loads(body) if body else None
            detail = data.get("detail", "") if isinstance(data, dict) else ""
            if isinstance(detail, list):  # FastAPI's validation errors: [{"loc": [...], "msg": ...}]
                detail = "; ".join(f"{'.'.join(str(p) for p in d.get('loc', []))}: {d.get('msg', '')}"
                                   if isinstance(d, dict) else str(d) for d in detail)
        except (ValueError, OSError):
            pass
        detail = _one_line(detail or exc.reason or "")
        if exc.code == 401:
            msg = (f"the backend at {self.url} refused the token" if self.token
                   else f"the backend at {self.url} needs a token (set it in the ShapeProg preferences)")
            return BackendError(f"{msg}: {detail}" if detail else msg, exc.code)
        return BackendError(f"{detail} ({method} {path}: {exc.code})" if detail else f"{method} {path}: {exc.code}",
                            exc.code)

    # -- the API ----------------------------------------------------------------------------------

    def health(self) -> dict:
        """``GET /v1/health``: version, devices, executor, workers, queue."""
        return self._request("GET", "/v1/health", timeout=min(self.timeout, 5.0))

    def programs(self) -> list[dict]:
        """``GET /v1/programs``: the library's programs and the uploaded ones."""
        return (self._request("GET", "/v1/programs") or {}).get("programs", [])

    def program(self, program_id: str) -> dict:
        """``GET /v1/programs/{id}``: the Program (``object``: the object of its .blend that carries it)."""
        return self._request("GET", f"/v1/programs/{urllib.parse.quote(program_id, safe='')}")

    def upload_program(self, ir: dict) -> dict:
        """``POST /v1/programs`` with an IR document; returns the Program (its ``id`` is a content hash)."""
        return self._request("POST", "/v1/programs", ir, timeout=max(self.timeout, 60.0))

    def program_blend(self, program_id: str) -> bytes:
        """``GET /v1/programs/{id}/blend``: a library program's .blend (its object is the Program's
        ``object``); BackendError with status 404 for uploads and programs without one (405 from a service
        older than the endpoint)."""
        return self._request("GET", f"/v1/programs/{urllib.parse.quote(program_id, safe='')}/blend", raw=True,
                             timeout=max(self.timeout, 60.0))

    def submit(self, request: dict) -> dict:
        """``POST /v1/jobs`` with a JobRequest; returns the Job (state ``queued``)."""
        return self._request("POST", "/v1/jobs", request, timeout=max(self.timeout, 120.0))

    def job(self, job_id: str) -> dict:
        return self._request("GET", f"/v1/jobs/{urllib.parse.quote(job_id, safe='')}")

    def cancel(self, job_id: str) -> dict:
        return self._request("POST", f"/v1/jobs/{urllib.parse.quote(job_id, safe='')}/cancel")

    def result(self, job_id: str) -> dict:
        """``GET /v1/jobs/{id}/result``: the job's ``result.json``."""
        return self._request("GET", f"/v1/jobs/{urllib.parse.quote(job_id, safe='')}/result")

    def file(self, job_id: str, name: str) -> bytes:
        """``GET /v1/jobs/{id}/files/{name}`` (``report.png``, ``fitted.blend``, ...) as bytes."""
        return self._request("GET", f"/v1/jobs/{urllib.parse.quote(job_id, safe='')}/files/"
                                    f"{urllib.parse.quote(name, safe='')}", raw=True, timeout=max(self.timeout, 60.0))
