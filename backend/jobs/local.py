"""Fit jobs in worker processes on this machine (:class:`LocalExecutor`).

Workers come from a :class:`concurrent.futures.ProcessPoolExecutor` started with ``spawn`` (never
threads of the caller, so a fit never blocks a web server's event loop, and never ``fork`` of a
process that has threads). Each worker runs one fit at a time with one torch thread (``threads``), at
a lower CPU priority (``nice``), and exits when its parent dies. The executor keeps its own queue and
hands a job to the pool only when a worker is free, so queued jobs can be dropped at once and the
queue's length is known.

Progress goes from the workers to the caller over a :class:`multiprocessing.managers.SyncManager`
queue read by one listener thread; each job's stop flag is a manager ``Event`` passed as
``fit(..., stop=event)``.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import queue as queue_mod
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.managers import SyncManager

from .base import Executor, JobHandle, default_workers
from .spec import JobOutcome, JobSpec
from .worker import init_worker, run_job, watch_parent

__all__ = ["LocalExecutor"]

log = logging.getLogger("shapeprog.jobs")

_QUEUE = None  # the progress queue of this worker process (set by _init)


SHUTDOWN_GRACE_S = 3.0
"""Seconds :meth:`LocalExecutor.shutdown` lets the workers end on their own before terminating them."""


def _init(progress_queue, threads: int, nice: int, warm: bool) -> None:
    global _QUEUE
    _QUEUE = progress_queue
    watch_parent()
    init_worker(threads, nice, warm)


def _work(spec_data: dict, stop) -> dict:
    """Runs in a worker process: one job, its progress sent to the parent's queue."""
    spec = JobSpec.from_dict(spec_data)
    q = _QUEUE

    def send(kind: str, payload=None) -> None:
        with contextlib.suppress(Exception):  # a lost progress report must not end the fit
            q.put((kind, spec.id, payload))

    send("start")
    return run_job(spec, report=lambda p: send("progress", p), stop=stop).to_dict()


def _ready() -> bool:
    return True


class LocalExecutor(Executor):
    """Runs jobs in ``workers`` local processes (default: one per two cores).

    ``threads``: torch threads per fit; ``device``: what :meth:`devices` reports (the job's config
    decides its device); ``nice``: how much lower the workers' CPU priority is; ``warm``: start the
    workers and import what a fit needs at once, rather than with the first job."""

    kind = "local"

    def __init__(self, workers: int | None = None, *, threads: int = 1, device: str = "cpu", nice: int = 10,
                 warm: bool = True):
        self.workers = int(workers or default_workers())
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.threads, self.device, self.nice, self.warm = threads, device, nice, warm
        self._ctx = mp.get_context("spawn")
        self._manager = SyncManager(ctx=self._ctx)
        self._manager.start(watch_parent)
        self._queue = self._manager.Queue()
        super().__init__()
        self._running: dict[str, JobHandle] = {}
        self._pool = self._new_pool()
        self._listener = threading.Thread(target=self._listen, name="shapeprog-progress", daemon=True)
        self._listener.start()

    def _new_pool(self) -> ProcessPoolExecutor:
        pool = ProcessPoolExecutor(self.workers, mp_context=self._ctx, initializer=_init,
                                   initargs=(self._queue, self.threads, self.nice, self.warm))
        if self.warm:
            for _ in range(self.workers):  # no worker is idle yet, so each submit starts one
                pool.submit(_ready)
        return pool

    # -- the interface

    @property
    def capacity(self) -> int:
        return self.workers

    @property
    def busy(self) -> int:
        return len(self._running)

    @property
    def queued(self) -> int:
        return len(self._pending)

    def devices(self) -> list[str]:
        return [self.device]

    def _stop_running(self, handle: JobHandle) -> None:
        if handle.stop is not None:
            try:
                handle.stop.set()
            except Exception:  # noqa: BLE001 - the manager is gone: the pool is going down too
                log.warning("could not signal job %s to stop", handle.id)

    def shutdown(self, wait: float = 5.0) -> None:
        if not self._close():
            return
        for h in list(self._running.values()):
            self.cancel(h)
        deadline = time.monotonic() + wait
        while self._running and time.monotonic() < deadline:
            time.sleep(0.05)
        pool = self._pool
        procs = list(getattr(pool, "_processes", {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        # idle workers end on their own within moments, running their clean-up at exit (bpy removes its
        # /tmp/blender_XXXXXX session folder then); only those still busy after a short grace are terminated
        grace = time.monotonic() + SHUTDOWN_GRACE_S
        for p in procs:
            p.join(max(0.0, grace - time.monotonic()))
            if p.is_alive():
                p.terminate()
        for h in list(self._running.values()):
            h.finish(JobOutcome("cancelled", "the executor shut down before the job reported"))
        with contextlib.suppress(Exception):  # already gone
            self._manager.shutdown()

    # -- inside

    def _pump(self) -> None:
        """Hand queued jobs to free workers."""
        with self._lock:
            while self._pending and len(self._running) < self.workers and not self._closed:
                h = self._pending.popleft()
                h.state = "running"
                h.stop = self._manager.Event()
                self._running[h.id] = h
                try:
                    fut = self._pool.submit(_work, h.spec.to_dict(), h.stop)
                except (BrokenProcessPool, RuntimeError) as exc:
                    self._running.pop(h.id, None)
                    threading.Thread(target=h.finish, args=(JobOutcome("failed", f"could not start a worker: {exc}"),),
                                     daemon=True).start()
                    self._pool = self._new_pool()
                    continue
                h.extra["future"] = fut
                fut.add_done_callback(lambda f, h=h: self._finished(h, f))

    def _finished(self, h: JobHandle, fut: Future) -> None:
        try:
            outcome = JobOutcome.from_dict(fut.result())
        except BrokenProcessPool:
            outcome = JobOutcome("failed", "the worker process died (killed, or out of memory)")
            with self._lock:
                if not self._closed and getattr(self._pool, "_broken", False):
                    log.warning("a worker process died; starting a new pool")
                    self._pool = self._new_pool()
        except Exception as exc:  # noqa: BLE001 - cancelled future, unpicklable result, ...
            outcome = JobOutcome("cancelled" if fut.cancelled() else "failed", None if fut.cancelled() else
                                 f"{type(exc).__name__}: {' '.join(str(exc).split())}")
        with self._lock:
            self._running.pop(h.id, None)
        h.finish(outcome)
        self._pump()

    def _listen(self) -> None:
        while not self._closed:
            try:
                kind, job_id, payload = self._queue.get(timeout=0.5)
            except queue_mod.Empty:
                continue
            except (EOFError, OSError):
                return
            h = self._running.get(job_id)
            if h is not None:
                h.event(kind, payload)
