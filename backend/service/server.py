"""Run the service under uvicorn (:func:`serve`), after refusing settings it must not start with."""

from __future__ import annotations

import logging
import sys

from .config import ServiceConfig, check_config

__all__ = ["serve", "setup_logging"]

log = logging.getLogger("shapeprog.service")


def setup_logging(level: str = "info") -> None:
    """Structured log lines on stderr: ``time level logger event key=value ...``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger("shapeprog")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


def serve(cfg: ServiceConfig) -> None:
    """Start the service and block until it stops (Ctrl-C / SIGTERM: running fits end with their best result
    and are marked interrupted). Raises :class:`~backend.service.config.ServiceError` (one line) for settings
    it refuses: a non-loopback address without a token, bad numbers, CUDA missing."""
    import uvicorn

    from .app import create_app

    token = check_config(cfg)
    setup_logging(cfg.log_level)
    app = create_app(cfg, token=token)
    config = uvicorn.Config(app, host=cfg.host, port=cfg.port, log_config=None, access_log=False, lifespan="on",
                            timeout_graceful_shutdown=5, log_level=cfg.log_level)
    log.info("serving on http://%s:%d (docs at /docs)", cfg.host if ":" not in cfg.host else f"[{cfg.host}]", cfg.port)
    uvicorn.Server(config).run()
