"""The job service's settings (:class:`ServiceConfig`: its field docs are ``shapeprog serve --help``)
and the checks made before it starts (:func:`check_config`, :func:`read_token`)."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = ["LOOPBACK_NAMES", "ServiceConfig", "ServiceError", "check_config", "default_data_dir", "is_loopback",
           "read_token"]

LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost")


class ServiceError(ValueError):
    """The service cannot start with these settings (one line saying why)."""


def default_data_dir() -> str:
    """``$SHAPEPROG_DATA`` or ``$XDG_DATA_HOME/shapeprog`` (``~/.local/share/shapeprog``)."""
    if os.environ.get("SHAPEPROG_DATA"):
        return os.environ["SHAPEPROG_DATA"]
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(base) / "shapeprog")


@dataclass
class ServiceConfig:
    """Settings of ``shapeprog serve``."""

    host: str = "127.0.0.1"
    """Address to bind. Anything but loopback needs a token (--token-file or SHAPEPROG_TOKEN)."""
    port: int = 8765
    """TCP port."""
    workers: int | None = None
    """Fits that run at once (worker processes, or Ray tasks in flight); default one per two cores."""
    data_dir: str | None = None
    """Where the job database (jobs.sqlite) and the jobs' files live (default $SHAPEPROG_DATA or ~/.local/share/shapeprog)."""
    device: Literal["cpu", "cuda"] = "cpu"
    """Device the workers fit on (a job may ask for cpu on a cuda server)."""
    ray: str | None = None
    """Run fits on Ray: a cluster address (auto, HOST:6379, ray://HOST:10001) or 'local' for a Ray started here."""
    token_file: str | None = None
    """File holding the bearer token every request must carry (Authorization: Bearer TOKEN); default $SHAPEPROG_TOKEN."""
    max_upload_mb: float = 512.0
    """Largest request body in MiB (a ScanNet scene's mesh or a zip of its frames fits the default); larger gets 413."""
    threads: int = 1
    """Torch threads per fit."""
    nice: int = 10
    """How much lower the workers' CPU priority is than the server's (keeps the API responsive while every core fits)."""
    stop_wait: float = 30.0
    """Seconds a stopping service (SIGTERM, Ctrl-C) gives its running fits to end with their best result and write
    their files before it terminates them."""
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    """Log level (one structured line per request and per job transition at info)."""


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` exposes the service to this machine only."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def read_token(cfg: ServiceConfig) -> str | None:
    """The bearer token: the first line of ``token_file``, else ``$SHAPEPROG_TOKEN``, else None."""
    if cfg.token_file:
        path = Path(cfg.token_file)
        try:
            text = path.read_text().strip()
        except OSError as exc:
            raise ServiceError(f"--token-file {path}: cannot read it ({exc.strerror or exc})") from None
        token = text.splitlines()[0].strip() if text else ""
        if not token:
            raise ServiceError(f"--token-file {path}: the file is empty")
        return token
    token = os.environ.get("SHAPEPROG_TOKEN", "").strip()
    return token or None


def check_config(cfg: ServiceConfig) -> str | None:
    """Refuse settings the service must not start with (:class:`ServiceError`); returns the token."""
    token = read_token(cfg)
    if not is_loopback(cfg.host) and not token:
        raise ServiceError(f"binding to {cfg.host} exposes the service beyond this machine: give a bearer token with "
                           "--token-file FILE or SHAPEPROG_TOKEN")
    if token is not None and len(token) < 16:
        raise ServiceError("the token is too short: use at least 16 characters (e.g. `openssl rand -hex 32`)")
    if not 0 <= cfg.port <= 65535:
        raise ServiceError(f"--port must be in 0..65535, got {cfg.port}")
    if cfg.workers is not None and cfg.workers < 1:
        raise ServiceError(f"--workers must be at least 1, got {cfg.workers}")
    if not cfg.max_upload_mb > 0:
        raise ServiceError(f"--max-upload-mb must be positive, got {cfg.max_upload_mb}")
    if cfg.threads < 1:
        raise ServiceError(f"--threads must be at least 1, got {cfg.threads}")
    if not cfg.stop_wait >= 0:
        raise ServiceError(f"--stop-wait must be a number of seconds >= 0, got {cfg.stop_wait}")
    if cfg.device == "cuda" and not cfg.ray:
        import torch

        if not torch.cuda.is_available():
            raise ServiceError("--device cuda asked for, but no CUDA device is available")
    return token
