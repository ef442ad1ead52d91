"""The executor interface: something that runs fit jobs somewhere else than the caller's thread.

An executor takes :class:`~backend.jobs.spec.JobSpec` s with three callbacks and calls them from its
own threads:

* ``on_start(job_id)`` when a worker begins the job;
* ``on_progress(job_id, progress)`` with :func:`~backend.jobs.spec.progress_record` dicts (the same
  reports the command line's progress bar shows), never after ``on_done``;
* ``on_done(job_id, outcome)`` exactly once, with a :class:`~backend.jobs.spec.JobOutcome`.

``cancel(handle)`` drops a job that has not started (``on_done`` with ``cancelled`` at once) and asks a
running one to stop: its fit ends at the next step and keeps its best candidate.
"""

from __future__ import annotations

import logging
import os
import threading
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .spec import JobOutcome, JobSpec

__all__ = ["Executor", "JobHandle", "default_workers", "noop"]

log = logging.getLogger("shapeprog.jobs")


def default_workers() -> int:
    """One worker per two cores (a fit uses one torch thread; the rest of the machine stays usable)."""
    return max(1, (os.cpu_count() or 2) // 2)


def noop(*_: Any) -> None:
    """A callback that does nothing."""


@dataclass(eq=False)
class JobHandle:
    """An executor's record of one submitted job."""

    spec: JobSpec
    on_progress: Callable[[str, dict], None] = noop
    on_done: Callable[[str, JobOutcome], None] = noop
    on_start: Callable[[str], None] = noop
    state: str = "queued"
    """``queued`` (waiting for a worker), ``running`` or ``done``."""
    started: bool = False
    """Whether a worker has begun it."""
    stop: Any = None
    """The stop flag the worker polls (set by :meth:`Executor.cancel`)."""
    cancel_requested: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    """Executor-specific state (a future, a Ray object ref)."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def id(self) -> str:
        return self.spec.id

    def mark_started(self) -> None:
        """Call ``on_start`` once (when the worker says it began)."""
        with self._lock:
            if self.started or self.state == "done":
                return
            self.started = True
        self._call(self.on_start, self.id)

    def progress(self, payload: dict) -> None:
        """Pass a progress record on, unless the job has ended."""
        if self.state != "done":
            self._call(self.on_progress, self.id, payload)

    def event(self, kind: str, payload: Any = None) -> None:
        """A worker's ``("start" | "progress", payload)`` message, as both executors receive them."""
        if kind == "start":
            self.mark_started()
        elif kind == "progress":
            self.progress(payload)

    def finish(self, outcome: JobOutcome) -> bool:
        """Call ``on_done`` exactly once; False when the job had already ended."""
        with self._lock:
            if self.state == "done":
                return False
            self.state = "done"
        self._call(self.on_done, self.id, outcome)
        return True

    @staticmethod
    def _call(fn: Callable, *args: Any) -> None:
        try:
            fn(*args)
        except Exception:  # a failing callback must not kill the executor's thread
            log.exception("job callback %s failed", getattr(fn, "__name__", fn))


class Executor(ABC):
    """Runs fit jobs in workers; see the module's docstring for the callbacks.

    The queue of jobs waiting for a worker is kept here (``_pending``, under ``_lock``); an executor
    implements :meth:`_pump` (hand queued jobs to free workers), :meth:`_stop_running` (ask a running
    fit to stop) and :meth:`shutdown` (starting with :meth:`_close`)."""

    kind: str = "?"
    """``local`` or ``ray`` (what ``GET /v1/health`` reports)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._pending: deque[JobHandle] = deque()
        self._closed = False

    def submit(self, spec: JobSpec, on_progress: Callable[[str, dict], None] = noop,
               on_done: Callable[[str, JobOutcome], None] = noop, on_start: Callable[[str], None] = noop) -> JobHandle:
        """Queue a job; returns its handle at once."""
        handle = JobHandle(spec, on_progress, on_done, on_start)
        with self._lock:
            if self._closed:
                raise RuntimeError("the executor has shut down")
            self._pending.append(handle)
        self._pump()
        return handle

    def cancel(self, handle: JobHandle) -> bool:
        """Cancel a job: True when it was dropped before starting (already reported ``cancelled``), False
        when a running fit was asked to stop (or the job had ended)."""
        with self._lock:
            handle.cancel_requested = True
            dropped = handle in self._pending
            if dropped:
                self._pending.remove(handle)
        if dropped:
            handle.finish(JobOutcome("cancelled"))
            return True
        if handle.state == "running":
            self._stop_running(handle)
        return False

    @abstractmethod
    def shutdown(self, wait: float = 5.0) -> None:
        """Stop running fits (each keeps its best result), drop queued jobs (reported ``cancelled``) and
        release the workers, waiting at most ``wait`` seconds for running jobs to report."""

    def _close(self) -> bool:
        """Refuse new jobs and report the queued ones ``cancelled``; False when already closed."""
        with self._lock:
            if self._closed:
                return False
            self._closed = True
            pending = list(self._pending)
            self._pending.clear()
        for h in pending:
            h.finish(JobOutcome("cancelled"))
        return True

    @abstractmethod
    def _pump(self) -> None:
        """Hand queued jobs to free workers (called after every submit and whenever a worker frees up)."""

    @abstractmethod
    def _stop_running(self, handle: JobHandle) -> None:
        """Ask a running job's fit to stop at its next step."""

    @property
    @abstractmethod
    def capacity(self) -> int:
        """How many jobs run at once."""

    @property
    @abstractmethod
    def busy(self) -> int:
        """How many jobs run now."""

    @property
    @abstractmethod
    def queued(self) -> int:
        """How many jobs wait for a worker."""

    def devices(self) -> list[str]:
        """The devices fits run on."""
        return ["cpu"]
