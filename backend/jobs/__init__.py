"""Fit jobs and the executors that run them.

* :mod:`.spec`: :class:`JobSpec` (one fit to run), :class:`JobOutcome` (how it ended), the job states;
* :mod:`.worker`: :func:`run_job`, what a worker does with a job (load, fit, write the output folder);
* :mod:`.base`: the :class:`Executor` interface (``submit`` / ``cancel`` / ``shutdown``);
* :mod:`.local`: :class:`LocalExecutor`, worker processes on this machine;
* :mod:`.ray_executor`: :class:`RayExecutor`, Ray tasks on a cluster (needs the ``distributed`` extra);
* :mod:`.manifest`: batch manifests (JSON or CSV rows -> job specs).

The HTTP service (:mod:`backend.service`), ``shapeprog batch`` and ``shapeprog fit-scene`` share them.
"""

from .base import Executor, JobHandle, default_workers
from .local import LocalExecutor
from .spec import ACTIVE_STATES, FINAL_STATES, STATES, JobOutcome, JobSpec, progress_record
from .worker import run_job

__all__ = ["ACTIVE_STATES", "FINAL_STATES", "STATES", "Executor", "JobHandle", "JobOutcome", "JobSpec", "LocalExecutor",
           "default_workers", "make_executor", "progress_record", "run_job"]


def make_executor(ray: str | None = None, workers: int | None = None, *, threads: int = 1, device: str = "cpu",
                  nice: int = 10) -> Executor:
    """A :class:`RayExecutor` on ``ray`` (an address, or ``local`` for a Ray started here) or else a
    :class:`LocalExecutor` with ``workers`` processes."""
    if ray:
        from .ray_executor import RayExecutor

        return RayExecutor(ray, max_in_flight=workers, threads=threads, device=device)
    return LocalExecutor(workers, threads=threads, device=device, nice=nice)
