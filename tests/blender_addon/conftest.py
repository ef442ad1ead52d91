"""Fixtures of the add-on's tests.

* ``service``: one real job service for the whole session, ``shapeprog serve`` from this checkout on a
  free loopback port (:class:`backend.service.process.ServerProcess`), one worker, its own data folder;
  test_addon_jobs.py drives it from this process's bpy, test_addon_backend.py from fresh Blender processes
  with the built extension installed.
* ``addon``: the source checkout's add-on enabled in a fresh, empty Blender session (disabled after).
* ``live``: ``addon`` pointed at ``service``, with a record of every request the add-on's client made and
  the answer it got (:class:`Requests`: the real client's calls, passed through unchanged), and a
  :class:`backend.client.Client` to ask the service what it received and did.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def service(tmp_path_factory):
    """The live job service (a :class:`~backend.service.process.ServerProcess`: ``url``, ``data_dir``,
    ``log_tail()``); stopped at the end of the session."""
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    from backend.service.process import ServerProcess

    # SHAPEPROG_TOKEN="": no token, whatever the environment holds (the token test starts its own server)
    server = ServerProcess(tmp_path_factory.mktemp("service") / "data", "--workers", "1", env={"SHAPEPROG_TOKEN": ""})
    try:
        server.start(timeout=180)
    except RuntimeError as exc:
        pytest.fail(f"shapeprog serve did not start: {exc}")
    yield server
    server.stop()


@pytest.fixture
def addon():
    """The source checkout's add-on enabled in a fresh, empty Blender session (disabled after)."""
    import bpy  # noqa: I001 - bpy puts addon_utils on the path
    import addon_utils
    from tests.fixtures.parity import reset_blender

    reset_blender()
    mod = addon_utils.enable("blender_addon", default_set=True, handle_error=None)
    assert mod is not None and Path(mod.__file__).parent == ROOT / "blender_addon"
    yield mod
    addon_utils.disable("blender_addon", default_set=True)
    assert not hasattr(bpy.types, "SHAPEPROG_OT_reconstruct")


@dataclass
class Requests:
    """The add-on client's requests in order: ``(method, path, body, answer)``, the answer being the decoded
    reply or the :class:`BackendError` raised (the client runs on worker threads)."""

    calls: list[tuple[str, str, Any, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, *call: Any) -> None:
        with self.lock:
            self.calls.append(call)

    def bodies(self, method: str, path: str) -> list[Any]:
        """The bodies sent with ``method path`` (``path`` without a query), oldest first."""
        with self.lock:
            return [b for m, p, b, _ in self.calls if m == method and p == path]

    def answers(self, method: str, path: str) -> list[Any]:
        with self.lock:
            return [a for m, p, _, a in self.calls if m == method and p == path]

    def any(self, method: str, suffix: str) -> bool:
        with self.lock:
            return any(m == method and p.endswith(suffix) for m, p, _, _ in self.calls)

    def clear(self) -> None:
        with self.lock:
            self.calls.clear()


@dataclass
class Live:
    """What a test of the add-on against the live service works with."""

    server: Any
    """The :class:`ServerProcess` (``url``, ``data_dir``)."""
    client: Any
    """A :class:`backend.client.Client` of the service (what it received, its jobs' files)."""
    requests: Requests

    @property
    def url(self) -> str:
        return self.server.url

    def submitted(self) -> list[dict]:
        """The JobRequests the add-on sent (``POST /v1/jobs`` bodies), oldest first."""
        return self.requests.bodies("POST", "/v1/jobs")

    def job_folder(self, job_id: str) -> Path:
        return Path(self.server.data_dir) / "jobs" / job_id


@pytest.fixture
def live(addon, service, monkeypatch):
    """``addon`` using ``service``; at the end, jobs a test left running on the service are cancelled (and
    waited for), so each test finds the one worker free."""
    import bpy

    from backend.client import Client, ClientError
    from blender_addon import client as addon_client

    requests = Requests()
    real = addon_client.BackendClient._request

    def recorded(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        try:
            answer = real(self, method, path, body, **kw)
        except addon_client.BackendError as exc:
            requests.add(method, path, body, exc)
            raise
        requests.add(method, path, body, answer)
        return answer

    monkeypatch.setattr(addon_client.BackendClient, "_request", recorded)
    bpy.context.preferences.addons["blender_addon"].preferences.backend_url = service.url
    with Client(service.url) as client:
        yield Live(service, client, requests)
        left = [j["id"] for j in client.jobs() if j["state"] in ("queued", "running")]
        for job_id in left:
            try:
                client.cancel(job_id)
            except ClientError:  # it ended meanwhile
                pass
        for job_id in left:
            client.wait(job_id, timeout=60)
