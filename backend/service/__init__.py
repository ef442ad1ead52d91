"""The reconstruction job service (``shapeprog serve``): an HTTP API over the job executors.

* :mod:`.config`: :class:`ServiceConfig` (``--help`` of ``shapeprog serve``), token and binding checks;
* :mod:`.app`: :func:`create_app`, the FastAPI app (docs/api.md is its contract);
* :mod:`.manager`: :class:`JobManager`, requests -> job folders, store rows and executor jobs;
* :mod:`.store`: :class:`JobStore`, the jobs in SQLite;
* :mod:`.programs`: :class:`ProgramCatalog`, library and uploaded programs;
* :mod:`.uploads`: uploaded scans, checked with the project's readers;
* :mod:`.schemas`: the request and response bodies;
* :mod:`.server`: :func:`serve`, uvicorn.
"""

from .config import ServiceConfig, ServiceError, check_config
from .server import serve

__all__ = ["ServiceConfig", "ServiceError", "check_config", "create_app", "serve"]


def create_app(*args, **kwargs):
    """:func:`backend.service.app.create_app` (imported on first use: it needs the ``server`` extra)."""
    from .app import create_app as _create_app

    return _create_app(*args, **kwargs)
