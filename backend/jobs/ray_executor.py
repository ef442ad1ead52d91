"""Fit jobs as Ray tasks (:class:`RayExecutor`; needs the ``distributed`` extra).

Each job is one task of :func:`ray_fit` with ``num_cpus`` / ``num_gpus`` resources, on the cluster at
``address`` (``ray.init(address=...)``: ``auto``, ``HOST:6379`` or ``ray://HOST:10001``) or on a Ray
started in this process (``local``). Nothing of the job's machine is assumed to be shared:

* the files under the job's ``inputs_dir`` (the service's uploads) travel with the task and the output
  folder travels back as bytes, written into ``spec.output`` here; every other input path (a batch
  manifest's scans) must be readable on the workers (a shared filesystem);
* progress and the stop flag go through one small actor (:class:`Board`): the task posts its progress
  records there and asks it, at most every 0.2 s, whether its job was cancelled; the driver drains it
  from one thread, which also collects finished tasks.

Cancel: a job still waiting here is dropped; a task Ray has not started yet is ``ray.cancel``-ed; a
running task sees its stop flag, ends its fit at the next step and returns its best result.

The project (``shapeprog``) must be importable on every node (installed there, or on a shared path).
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from .base import Executor, JobHandle
from .spec import JobOutcome, JobSpec
from .worker import clean_inherited_path, one_line, run_job

__all__ = ["Board", "RayExecutor", "RayStop", "import_ray", "ray_fit"]

log = logging.getLogger("shapeprog.jobs")

MAX_SHIPPED_BYTES = 2 * 1024**3
"""The most input bytes a job ships to its task (the service's upload limit is far below)."""


def import_ray():
    """The ``ray`` module, or a one-line error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise RuntimeError("running on Ray needs the 'ray' package: pip install 'shapeprog[distributed]'") from None
    return ray


class Board:
    """A Ray actor (``num_cpus=0``) between the driver and its tasks: progress posted by tasks, drained by
    the driver; cancel flags set by the driver, polled by tasks."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, Any]] = []
        self.cancelled: set[str] = set()

    def post(self, kind: str, job_id: str, payload: Any = None) -> None:
        self.events.append((kind, job_id, payload))

    def drain(self) -> list[tuple[str, str, Any]]:
        events, self.events = self.events, []
        return events

    def cancel(self, job_id: str) -> None:
        self.cancelled.add(job_id)

    def is_cancelled(self, job_id: str) -> bool:
        return job_id in self.cancelled

    def forget(self, job_id: str) -> None:
        self.cancelled.discard(job_id)


class RayStop:
    """A task's stop flag: asks the :class:`Board` actor at most every ``interval`` seconds."""

    def __init__(self, board: Any, job_id: str, interval: float = 0.2):
        self.board, self.job_id, self.interval = board, job_id, interval
        self._last, self._set = -float("inf"), False

    def is_set(self) -> bool:
        now = time.monotonic()
        if not self._set and now - self._last >= self.interval:
            import ray

            self._last = now
            with contextlib.suppress(Exception):  # the driver went away: keep fitting, the result is still useful
                self._set = bool(ray.get(self.board.is_cancelled.remote(self.job_id), timeout=5))
        return self._set


def _pack(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` as ``{relative posix path: bytes}``."""
    out, total = {}, 0
    for p in sorted(folder.rglob("*")):
        if p.is_file() and not p.is_symlink():
            data = p.read_bytes()
            total += len(data)
            if total > MAX_SHIPPED_BYTES:
                raise ValueError(f"{folder}: more than {MAX_SHIPPED_BYTES >> 20} MiB of inputs to ship")
            out[p.relative_to(folder).as_posix()] = data
    return out


def _unpack(files: dict[str, bytes], folder: Path) -> None:
    """Write :func:`_pack`'s files under ``folder``, refusing names that would leave it."""
    root = folder.resolve()
    for name, data in files.items():
        target = (folder / name).resolve()
        if Path(name).is_absolute() or ".." in Path(name).parts or not target.is_relative_to(root):
            raise ValueError(f"refusing to write {name!r} outside {folder}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def ray_fit(spec_data: dict, inputs: dict[str, bytes] | None, board: Any) -> tuple[dict, dict[str, bytes]]:
    """The Ray task: run one job in a scratch folder; returns its outcome and its output files."""
    clean_inherited_path()
    spec = JobSpec.from_dict(spec_data)
    work = Path(tempfile.mkdtemp(prefix=f"shapeprog-{spec.id[:12]}-"))
    try:
        if inputs is not None:
            _unpack(inputs, work / "inputs")
            spec = replace(spec, inputs_dir=str(work / "inputs"))
        spec = replace(spec, output=str(work / "output"))
        board.post.remote("start", spec.id)
        outcome = run_job(spec, report=lambda p: board.post.remote("progress", spec.id, p), stop=RayStop(board, spec.id))
        out = work / "output"
        files = {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.is_file()} if out.is_dir() else {}
        return outcome.to_dict(), files
    finally:
        shutil.rmtree(work, ignore_errors=True)


class RayExecutor(Executor):
    """Runs jobs as Ray tasks.

    ``address``: ``local`` (or None) starts a Ray in this process (``local_cpus`` CPUs: default all)
    unless one is running already; anything else is passed to ``ray.init(address=...)``.
    ``num_cpus`` / ``num_gpus``: each task's resources (``num_gpus`` defaults to 1 with
    ``device="cuda"``); ``threads``: torch threads per fit; ``max_in_flight``: tasks handed to Ray at
    once (default: the cluster's CPUs / ``num_cpus``); the rest wait here."""

    kind = "ray"

    def __init__(self, address: str | None = "local", *, num_cpus: float = 1, num_gpus: float | None = None,
                 max_in_flight: int | None = None, threads: int = 1, device: str = "cpu", local_cpus: int | None = None):
        ray = import_ray()
        self._owns = False
        if not ray.is_initialized():
            if address in (None, "", "local"):
                ray.init(num_cpus=local_cpus, include_dashboard=False, logging_level=logging.WARNING)
            else:
                ray.init(address=address, logging_level=logging.WARNING)
            self._owns = True
        self.device = device
        if num_gpus is None:
            num_gpus = 1 if device.startswith("cuda") else 0
        resources = ray.cluster_resources()
        cpus = float(resources.get("CPU", 1.0))
        self._devices = ["cpu"] + (["cuda"] if resources.get("GPU", 0) > 0 else [])
        self.max_in_flight = int(max_in_flight or max(1, int(cpus // max(num_cpus, 1e-9))))
        self.threads = threads
        self._board = ray.remote(num_cpus=0)(Board).remote()
        # a task whose worker or node died (out of memory, a lost node) runs again elsewhere: a fit writes only to
        # its scratch folder, so a second attempt is safe; run_job itself never raises
        self._task = ray.remote(ray_fit).options(num_cpus=num_cpus, num_gpus=num_gpus, max_retries=2, retry_exceptions=False)
        super().__init__()
        self._inflight: dict[Any, JobHandle] = {}
        self._by_id: dict[str, JobHandle] = {}
        self._thread = threading.Thread(target=self._loop, name="shapeprog-ray", daemon=True)
        self._thread.start()

    @property
    def capacity(self) -> int:
        return self.max_in_flight

    @property
    def busy(self) -> int:
        return sum(1 for h in self._inflight.values() if h.started)

    @property
    def queued(self) -> int:
        return len(self._pending) + sum(1 for h in self._inflight.values() if not h.started)

    def devices(self) -> list[str]:
        return list(self._devices)

    def _stop_running(self, handle: JobHandle) -> None:
        import ray

        self._board.cancel.remote(handle.id)
        if not handle.started and "ref" in handle.extra:
            ray.cancel(handle.extra["ref"])

    def shutdown(self, wait: float = 5.0) -> None:
        if not self._close():
            return
        for h in list(self._inflight.values()):
            self.cancel(h)
        self._thread.join(wait)
        for h in list(self._inflight.values()):
            h.finish(JobOutcome("cancelled", "the executor shut down before the job reported"))
        if self._owns:
            import ray

            ray.shutdown()

    # -- the driver's thread

    def _pump(self) -> None:
        with self._lock:
            while self._pending and len(self._inflight) < self.max_in_flight and not self._closed:
                h = self._pending.popleft()
                h.state = "running"
                self._by_id[h.id] = h
                try:
                    shipped = _pack(Path(h.spec.inputs_dir)) if h.spec.inputs_dir else None
                    ref = self._task.remote(replace(h.spec, threads=h.spec.threads or self.threads).to_dict(), shipped,
                                            self._board)
                except Exception as exc:  # noqa: BLE001 - unreadable inputs, Ray refused the task
                    self._by_id.pop(h.id, None)
                    h.finish(JobOutcome("failed", f"could not start the Ray task: {one_line(exc)}"))
                    continue
                h.extra["ref"] = ref
                self._inflight[ref] = h

    def _loop(self) -> None:
        import ray

        while True:
            with self._lock:
                if self._closed and not self._inflight:
                    return
            self._pump()
            try:
                events = ray.get(self._board.drain.remote(), timeout=10)
            except Exception:  # a slow or restarted actor: try again
                log.warning("could not read progress from Ray", exc_info=True)
                events = []
            for kind, job_id, payload in events:
                h = self._by_id.get(job_id)
                if h is not None:
                    h.event(kind, payload)
            refs = list(self._inflight)
            if not refs:
                time.sleep(0.2)
                continue
            ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0.2)
            for ref in ready:
                self._complete(ref)

    def _complete(self, ref: Any) -> None:
        import ray
        from ray.exceptions import TaskCancelledError

        with self._lock:
            h = self._inflight.pop(ref)
            self._by_id.pop(h.id, None)
        try:
            data, files = ray.get(ref)
            outcome = JobOutcome.from_dict(data)
            if files:
                out = Path(h.spec.output)
                out.mkdir(parents=True, exist_ok=True)
                for name, blob in files.items():
                    if Path(name).name == name:
                        (out / name).write_bytes(blob)
        except TaskCancelledError:
            outcome = JobOutcome("cancelled")
        except Exception as exc:  # noqa: BLE001 - the task raised or its worker died
            cause = getattr(exc, "cause", None) or exc
            outcome = JobOutcome("failed", f"Ray task failed: {type(cause).__name__}: {one_line(cause)}")
        self._board.forget.remote(h.id)
        h.finish(outcome)
