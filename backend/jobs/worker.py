"""What a worker does with one job (:func:`run_job`): load the program and the scan, run
:func:`backend.fit.fit` with the job's progress callback and stop flag, and write the output folder.

Every executor runs jobs through this one function (in a worker process, a Ray task or, for tests, in
the caller), so a job ends the same way wherever it runs:

* the fit finished: ``succeeded``;
* a stop request ended it: its best candidate so far is written (result.json ``status``
  ``interrupted``) and the job is ``cancelled``; without any candidate yet (:class:`FitInterrupted`)
  it is ``cancelled`` without a result;
* a user error (a bad scan, program, parameter or setting): ``failed`` with its one-line message;
* anything else: ``failed`` with the exception's one-line text, logged with its traceback.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .spec import JobOutcome, JobSpec, progress_record

__all__ = ["Throttle", "clean_inherited_path", "init_worker", "inputs_as_fields", "load_job", "one_line", "run_job",
           "user_error_types", "watch_parent"]

log = logging.getLogger("shapeprog.jobs")


def one_line(exc: BaseException) -> str:
    """An exception's message as one line (its type's name when it has none)."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def inputs_as_fields(text: str, spec: JobSpec) -> str:
    """A job's one-line error without the paths of the folder its inputs were uploaded to (``inputs_dir``, a
    service's job folder or a Ray task's copy of it): the scan (``scan.ply`` or the frame folder) reads
    ``scan``, an uploaded program ``program``, any other file under it its path inside that folder.
    ``/data/jobs/<id>/inputs/scan.ply: only 3 points ...`` becomes ``scan: only 3 points ...``; a file of a
    frame folder, ``scan/depth/0.png: ...``. Jobs without ``inputs_dir`` (a batch's own files) are unchanged."""
    if not spec.inputs_dir:
        return text
    inputs = Path(spec.inputs_dir)
    named = [(spec.scan, "scan"), (spec.frames, "scan"), (spec.program if Path(spec.program).suffix else None, "program")]
    pairs = []
    for rel, field in named:
        if rel and not Path(rel).is_absolute():
            pairs.append((inputs / rel, field))
    pairs.append((inputs, ""))
    for path, field in pairs:
        for form in dict.fromkeys((str(path), str(path.resolve()))):
            text = text.replace(form + os.sep, f"{field}/" if field else "").replace(form, field or "inputs")
    return text


def user_error_types() -> tuple[type, ...]:
    """The exceptions that mean bad input (reported as their message, without a traceback)."""
    from translator.ir import ProgramError
    from translator.runtime import ParameterError, TopologySplitError

    from ..fit import FitError
    from ..structures import ScanError

    return (ProgramError, ParameterError, TopologySplitError, ScanError, FitError, FileNotFoundError,
            IsADirectoryError, PermissionError)


class Throttle:
    """Passes progress reports on at most every ``interval`` seconds (the first one at once); :meth:`flush`
    sends the last one held back."""

    def __init__(self, send: Callable[[dict], None], interval: float = 0.25):
        self.send, self.interval = send, interval
        self.last = -float("inf")
        self.held: dict | None = None

    def __call__(self, p: dict) -> None:
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last, self.held = now, None
            self.send(p)
        else:
            self.held = p

    def flush(self) -> None:
        if self.held is not None:
            self.send(self.held)
            self.held = None


def load_job(spec: JobSpec):
    """The job's program, parameter space, observations and :class:`~backend.fit.FitConfig`."""
    from translator.loading import load_any
    from translator.params import parameter_space

    from ..fit import FitConfig, FitError
    from ..io import load_frames, load_scan
    from ..library import resolve_program
    from ..object_frame import observations_from_frames
    from ..options import config_from_dict

    try:
        cfg = config_from_dict(FitConfig, spec.config, "options.config")
    except (TypeError, ValueError) as exc:
        raise FitError(one_line(exc)) from None
    program_ref = spec.program
    if Path(program_ref).suffix.lower() in (".json", ".blend"):
        program_ref = spec.path(program_ref)
    program = load_any(resolve_program(program_ref))
    space = parameter_space(program, spec.path(spec.ranges))
    scan, frames = spec.path(spec.scan), spec.path(spec.frames)
    if spec.scene_object is not None:
        from ..scene.job import load_scene_object

        return program, space, load_scene_object(spec.path(spec.scene_object)), cfg
    if scan is None and frames is None:
        raise FitError("the job names no scan: give a scan or a frame folder")
    if scan is not None:
        obs = load_scan(scan, object_id=spec.object_id)
        if frames is not None:
            obs.frames = load_frames(frames, every=spec.every, max_frames=spec.max_frames, instance_id=spec.instance_id)
    else:
        obs = observations_from_frames(load_frames(frames, every=spec.every, max_frames=spec.max_frames,
                                                   instance_id=spec.instance_id))
    return program, space, obs, cfg


def _recorded_inputs(spec: JobSpec) -> dict[str, Any]:
    return {"program": spec.path(spec.program) if Path(spec.program).suffix else spec.program,
            "scan": spec.path(spec.scan), "frames": spec.path(spec.frames), "instance_id": spec.instance_id,
            "object_id": spec.object_id, "every": spec.every, "max_frames": spec.max_frames,
            "ranges": spec.path(spec.ranges), "job": spec.id, "scene_object": spec.path(spec.scene_object)}


def run_job(spec: JobSpec, report: Callable[[dict], None] | None = None, stop: Any = None,
            interval: float = 0.25) -> JobOutcome:
    """Run one job: load its inputs, fit, write the output folder. ``report`` receives
    :func:`~backend.jobs.spec.progress_record` dicts (at most one per ``interval`` seconds, and the
    last one); ``stop`` (anything with ``is_set()``) ends the fit at its next step. Never raises for a
    failing job: the outcome says how it ended."""
    from ..fit import FitInterrupted, fit, write_outputs

    t0 = time.perf_counter()
    throttle = Throttle(lambda p: report(progress_record(p)), interval) if report is not None else None
    try:
        if stop is not None and stop.is_set():
            return JobOutcome("cancelled", seconds=0.0)
        if spec.threads:
            import torch

            torch.set_num_threads(max(1, int(spec.threads)))
        program, space, obs, cfg = load_job(spec)
        if spec.scene_object is not None:
            from ..scene.job import fit_scene_object, read_object_meta

            meta = read_object_meta(spec.path(spec.scene_object))
            result = fit_scene_object(program, space, obs, cfg, meta, progress=throttle, stop=stop)
        else:
            result = fit(program, obs, cfg, space=space, progress=throttle, stop=stop)
        if throttle is not None:
            throttle.flush()
        result.provenance["inputs"] = _recorded_inputs(spec)
        files = write_outputs(result, spec.output, program, obs)
        state = "cancelled" if result.status == "interrupted" else "succeeded"
        return JobOutcome(state, None, sorted(Path(f).name for f in files.values()), float(result.objective),
                          int(result.evaluations), time.perf_counter() - t0)
    except FitInterrupted:
        return JobOutcome("cancelled", seconds=time.perf_counter() - t0)
    except user_error_types() as exc:
        return JobOutcome("failed", inputs_as_fields(one_line(exc), spec), seconds=time.perf_counter() - t0)
    except Exception as exc:  # a job's failure is reported, never raised into the executor
        log.exception("job %s failed", spec.id)
        return JobOutcome("failed", inputs_as_fields(f"{type(exc).__name__}: {one_line(exc)}", spec),
                          seconds=time.perf_counter() - t0)


def watch_parent(interval: float = 1.0) -> None:
    """Exit this process when its parent dies (a worker of a server killed with SIGKILL must not go on
    fitting): a daemon thread compares the parent's pid every ``interval`` seconds."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(interval)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="shapeprog-watch-parent", daemon=True).start()


def clean_inherited_path() -> None:
    """Drop bpy's own script folders from ``sys.path`` in a fresh worker. A parent that imported bpy has
    them on its path, a spawned child inherits that path, and there ``import bpy`` would find the
    ``bpy/<version>/scripts/modules/bpy`` package instead of the module (``No module named '_bpy'``);
    bpy adds them again when the worker imports it."""
    import sys

    if "bpy" not in sys.modules:
        marker = f"{os.sep}bpy{os.sep}"
        sys.path[:] = [p for p in sys.path if not (marker in p and f"{os.sep}scripts" in p)]


def init_worker(threads: int = 1, nice: int = 0, warm: bool = True) -> None:
    """Set up a worker process: torch threads, a lower CPU priority (``nice``: the web process and its
    clients stay responsive while every core fits), logging, and the imports a fit needs (torch, the
    fit pipeline, bpy for fitted.blend) so that the first job does not pay for them."""
    clean_inherited_path()
    if nice:
        try:
            os.nice(nice)
        except OSError:
            pass
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    import torch

    torch.set_num_threads(max(1, int(threads)))
    if warm:
        from translator.loading import has_bpy

        from .. import fit  # noqa: F401
        from ..fit import outputs  # noqa: F401

        if has_bpy():
            import bpy  # noqa: F401
