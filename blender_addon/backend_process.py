"""A local backend: ``shapeprog serve`` started from the Python set in the preferences, stopped when
Blender quits (``atexit``), when the add-on is disabled, or from the panel.

Plain Python (no bpy): the operators pass the preferences in.
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import sys
import urllib.parse
from dataclasses import dataclass

__all__ = ["BackendProcess", "LaunchError", "command_line", "current", "start", "stop"]


class LaunchError(Exception):
    """The local backend cannot be started (one line saying why)."""


@dataclass
class BackendProcess:
    popen: subprocess.Popen
    url: str
    log_path: str
    command: list[str]

    @property
    def running(self) -> bool:
        return self.popen.poll() is None

    def exit_text(self) -> str:
        """The exit status and the log's last line, for a backend that stopped."""
        last = ""
        try:
            with open(self.log_path, "rb") as fh:
                lines = [ln for ln in fh.read().decode("utf-8", "replace").splitlines() if ln.strip()]
            last = lines[-1].strip() if lines else ""
        except OSError:
            pass
        return f"exited with status {self.popen.returncode}" + (f": {last}" if last else "") + f" (log: {self.log_path})"


_CURRENT: BackendProcess | None = None


def current() -> BackendProcess | None:
    """The local backend this session started (None when there is none)."""
    return _CURRENT


def _python(path: str) -> list[str]:
    """The command that runs the ShapeProg command line: ``[python, -m, backend.cli]`` or ``[shapeprog]``."""
    path = os.path.abspath(os.path.expanduser(path.strip())) if path.strip() else ""
    if not path:
        raise LaunchError("set the Python of a ShapeProg installation in the add-on's preferences "
                          "(a python executable, a virtual environment folder or the 'shapeprog' executable)")
    if os.path.isdir(path):
        for cand in (("bin", "python"), ("bin", "python3"), ("Scripts", "python.exe")):
            exe = os.path.join(path, *cand)
            if os.path.isfile(exe):
                return [exe, "-m", "backend.cli"]
        raise LaunchError(f"{path}: no bin/python or Scripts/python.exe in this folder")
    if not os.path.isfile(path):
        raise LaunchError(f"{path}: no such file")
    if os.path.basename(path).lower().startswith("shapeprog"):
        return [path]
    return [path, "-m", "backend.cli"]


def command_line(python: str, url: str, data_dir: str = "") -> list[str]:
    """``shapeprog serve`` for ``url`` (host and port) run by ``python``."""
    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 8765
    cmd = _python(python) + ["serve", "--host", host, "--port", str(port)]
    if data_dir:
        cmd += ["--data-dir", data_dir]
    return cmd


def start(python: str, url: str, *, cwd: str = "", data_dir: str = "", token: str = "", log_dir: str = "") -> BackendProcess:
    """Start ``shapeprog serve`` (unless this session's backend already runs). Returns at once; the caller
    waits for ``/v1/health`` off the main thread."""
    global _CURRENT
    if _CURRENT is not None and _CURRENT.running:
        return _CURRENT
    cmd = command_line(python, url, data_dir)
    cwd = os.path.abspath(os.path.expanduser(cwd)) if cwd else (log_dir or None)
    if cwd and not os.path.isdir(cwd):
        raise LaunchError(f"{cwd}: the backend's working folder does not exist")
    log_path = os.path.join(log_dir or cwd or os.getcwd(), "backend.log")
    env = dict(os.environ)
    for var in ("PYTHONHOME", "PYTHONPATH"):  # Blender's own Python settings must not leak into the backend's
        env.pop(var, None)
    if token:
        env["SHAPEPROG_TOKEN"] = token  # the service reads its bearer token from here (or --token-file)
    kwargs: dict = {}
    if sys.platform == "win32":
        kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP
    else:
        kwargs["start_new_session"] = True  # its own process group: stop() ends its worker processes too
    log = open(log_path, "ab")  # noqa: SIM115 - the child keeps writing after we return
    try:
        popen = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                 stderr=subprocess.STDOUT, **kwargs)
    except OSError as exc:
        raise LaunchError(f"cannot run {cmd[0]}: {exc.strerror or exc}") from None
    finally:
        log.close()
    _CURRENT = BackendProcess(popen, url, log_path, cmd)
    return _CURRENT


def stop(timeout: float = 5.0) -> bool:
    """Stop the local backend this session started (its whole process group). Returns whether one ran."""
    global _CURRENT
    proc, _CURRENT = _CURRENT, None
    if proc is None or not proc.running:
        return False
    p = proc.popen
    try:
        if sys.platform == "win32":
            p.send_signal(signal.CTRL_BREAK_EVENT)
        else:
            os.killpg(p.pid, signal.SIGTERM)
        p.wait(timeout)
    except subprocess.TimeoutExpired:
        if sys.platform == "win32":
            p.kill()
        else:
            os.killpg(p.pid, signal.SIGKILL)
        p.wait(timeout)
    except ProcessLookupError:
        pass
    return True


def register() -> None:
    atexit.register(stop)


def unregister() -> None:
    atexit.unregister(stop)
    stop()
