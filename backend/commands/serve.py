"""``shapeprog serve``: the reconstruction job service (HTTP API under /v1, docs at /docs).

Fits run in worker processes (``--workers``, one per two cores by default) or on Ray (``--ray``);
jobs and their files live in ``--data-dir``. Binding anything but loopback needs a bearer token.
"""

from __future__ import annotations

from ..command import Command, UserError
from ..service.config import ServiceConfig, ServiceError


def run(cfg: ServiceConfig) -> int:
    try:
        from ..service import serve
    except ImportError as exc:
        raise UserError(f"the service needs the 'server' extra (pip install 'shapeprog[server]'): {exc}") from None
    try:
        serve(cfg)
    except ServiceError as exc:
        raise UserError(str(exc)) from None
    except RuntimeError as exc:  # Ray missing or unreachable
        raise UserError(" ".join(str(exc).split())) from None
    return 0


COMMAND = Command(name="serve", help="run the reconstruction job service (HTTP API, docs at /docs)", config=ServiceConfig,
                  run=run, description="The reconstruction job service: an HTTP API under /v1 (OpenAPI docs at /docs). Fits run in "
                  "worker processes (--workers) or on Ray (--ray); jobs and their files live in --data-dir.")
