"""``shapeprog serve`` in a child process (:class:`ServerProcess`), for tests, benchmarks and scripts that
need a live server on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Self

from ..library import ROOT

__all__ = ["ServerProcess", "free_port"]


def free_port() -> int:
    """A TCP port free on loopback now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """``python -m backend.cli serve --port PORT --data-dir DATA ARGS...`` run from the project's folder (so
    the child runs this checkout's code), its log in ``DATA/server.log``."""

    def __init__(self, data_dir: str | Path, *args: str, port: int | None = None, host: str = "127.0.0.1",
                 env: dict[str, str] | None = None, token: str | None = None):
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.host, self.args, self.token = host, [str(a) for a in args], token
        self.env = {**os.environ, **(env or {})}
        self.env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [self.env.get("PYTHONPATH")])])
        self.proc: subprocess.Popen | None = None
        self.log_path = self.data_dir / "server.log"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "backend.cli", "serve", "--host", self.host, "--port", str(self.port), "--data-dir",
                str(self.data_dir), *self.args]

    def start(self, timeout: float = 90.0) -> ServerProcess:
        """Start it and wait until ``/v1/health`` answers; raises RuntimeError with the log's tail if it exits."""
        import httpx

        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.command(), cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with status {self.proc.returncode}: {self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/v1/health", headers=headers, timeout=2).status_code in (200, 401):
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the server did not answer within {timeout:g} s: {self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 60.0) -> int | None:
        """SIGTERM (graceful: running fits end with their best result, given ``serve --stop-wait``, 30 s by
        default, to write it), SIGKILL after ``timeout``."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return self.kill()

    def kill(self) -> int | None:
        """SIGKILL, as a crash would (its workers notice and exit within a second or two)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.kill()
        return self.proc.wait(10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
