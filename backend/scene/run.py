"""Every object of a scene, fitted in parallel through an executor (:func:`fit_scene`): the library behind
``shapeprog fit-scene`` and ``shapeprog bench real``.

1. read the scene (:func:`~backend.scene.readers.load_scene`) and the category -> program map, and pick the
   objects (``only`` / ``skip``);
2. estimate the floor, gravity and walls once for the whole scene (:func:`~backend.scene.structure.estimate`);
3. per object: clean its segment, give it a frame and surroundings (:func:`~backend.scene.segments.prepare_object`)
   and write its job inputs (``OUT/objects/<instance>_<category>/input/``);
4. submit one :class:`~backend.jobs.JobSpec` per object to the executor (local worker processes by default,
   Ray with ``ray``): the same executors that run the job service's fits and ``shapeprog batch``;
5. collect each object's outcome as it ends (a failed object is recorded with its one-line error and never
   stops the others; objects whose folder already holds a finished result are not fitted again);
6. write the scene's outputs (:mod:`backend.scene.outputs`).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..fit.config import FitConfig
from ..options import config_to_dict
from .segments import SegmentSettings

__all__ = ["PlannedObject", "SceneFitSettings", "SceneRun", "fit_scene", "plan_scene"]


@dataclass
class SceneFitSettings:
    """What to read from a scene and how to fit it (``shapeprog fit-scene``'s options besides the input and the
    output folder)."""

    label_field: str | None = None
    """Labelled PLY: the vertex field holding each point's label (default: the first of nyu40, label, semantic, class, ...)."""
    instance_field: str | None = None
    """Labelled PLY: the vertex field holding each point's instance id (default: instance, instance_id, object_id, ...)."""
    labels: str = "nyu40"
    """What the label numbers mean: nyu40, scannet20 (ScanNet's 20 benchmark classes, 0..19), or a label file (ScanNet's scannetv2-labels.combined.tsv for raw ScanNet ids, or JSON {"id": "name"})."""
    label_column: str = "category"
    """With a .tsv/.csv label file: the column of names (category, nyu40class, ...)."""
    scan2cad: str | None = None
    """With a ScanNet scene folder: a Scan2CAD annotation (full_annotations.json or one scene's entry); its boxes are the objects."""
    map: str | None = None
    """A JSON category -> program map laid over the defaults ({"armchair": "chair", "desk": "my_desk.json", "bed": null})."""
    only: tuple[str, ...] = ()
    """Fit only these categories or instance ids."""
    skip: tuple[str, ...] = ()
    """Do not fit these categories or instance ids."""
    jobs: int | None = None
    """Objects fitted at once (default: one per core; on Ray: the cluster's CPUs)."""
    ray: str | None = None
    """Fit on Ray: a cluster address (auto, HOST:6379, ray://HOST:10001) or 'local' for a Ray started here."""
    threads: int = 1
    """Torch threads per object's fit."""
    segments: SegmentSettings = field(default_factory=SegmentSettings)
    """How segments are cleaned and given their surroundings."""
    fit: FitConfig = field(default_factory=lambda: FitConfig(budget=45.0), metadata={"flatten": True})
    """Each object's fit (method, budget per object, seed, objective, ...)."""


@dataclass
class PlannedObject:
    """One object of the scene, prepared (or why not)."""

    key: str
    instance: int
    category: str
    label: str
    program: str
    folder: Path
    points: int = 0
    spec: Any = None
    """Its :class:`~backend.jobs.JobSpec`, None when it could not be prepared."""
    error: str | None = None
    flags: list[str] = field(default_factory=list)
    done_before: bool = False


@dataclass
class SceneRun:
    """What :func:`fit_scene` did: the plan, each object's outcome, timings and the scene's outputs."""

    scene: Any
    structure: Any
    objects: list[PlannedObject]
    outcomes: dict[str, Any] = field(default_factory=dict)
    """key -> :class:`~backend.jobs.JobOutcome` of the objects fitted now."""
    seconds: dict[str, float] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    interrupted: bool = False


def default_jobs() -> int:
    """One fit per core (each fit runs one torch thread)."""
    return max(1, os.cpu_count() or 1)


def plan_scene(scene_path: str, out: str | Path, settings: SceneFitSettings, *,
               on_event: Callable[..., None] | None = None) -> tuple[Any, Any, list[PlannedObject]]:
    """Steps 1-3 of the module docstring: read, estimate, prepare and write every chosen object's job inputs.
    Raises one-line :class:`~backend.structures.ScanError` for bad input (nothing is written then)."""
    import numpy as np

    from ..jobs import JobSpec
    from ..jobs.manifest import is_complete
    from .job import write_object_inputs
    from .programs import load_map, select_objects
    from .readers import load_scene
    from .segments import prepare_object
    from .structure import estimate, level_points

    s = settings
    programs = load_map(s.map)
    scene = load_scene(scene_path, label_field=s.label_field, instance_field=s.instance_field, labels=s.labels,
                       label_column=s.label_column, scan2cad=s.scan2cad)
    chosen = select_objects(scene, programs, list(s.only), list(s.skip))
    import torch

    mask = torch.zeros(len(scene.points), dtype=torch.bool)
    for obj, _ in chosen:
        mask[obj.indices] = True
    structure = estimate(scene, mask, seed=s.fit.seed)
    levelled = level_points(scene.points, structure.level)
    scan_from_fit = np.linalg.inv(structure.level)
    out = Path(out)
    cfg = config_to_dict(s.fit)
    plans = []
    for obj, prog in chosen:
        folder = out / "objects" / obj.key
        plan = PlannedObject(obj.key, obj.instance, obj.category, obj.label, prog, folder)
        prep = prepare_object(scene, structure, obj, s.segments, levelled)
        if prep is None:
            plan.error = f"too few points after cleaning (fewer than {s.segments.min_points} of {len(obj.indices)})"
            plans.append(plan)
            continue
        plan.points, plan.flags = len(prep.observations.points), prep.flags
        meta = write_object_inputs(prep, prog, folder, scan_from_fit)
        plan.spec = JobSpec(id=f"{obj.key}", program=prog, output=str(folder), scene_object=meta.name,
                            inputs_dir=str(meta.parent), config=cfg, threads=s.threads, label=f"{obj.key} ({prog})")
        plan.done_before = is_complete(folder) and _same_fit(folder, prog, cfg)
        plans.append(plan)
        if on_event is not None:
            on_event("prepared", plan)
    return scene, structure, plans


def _same_fit(folder: Path, program: str, cfg: dict) -> bool:
    """Whether the finished result in ``folder`` was made by this program with these settings."""
    try:
        data = json.loads((folder / "result.json").read_text())
    except (OSError, ValueError):
        return False
    prog = data.get("provenance", {}).get("inputs", {}).get("program")
    return prog in (program, str(Path(program).resolve())) and data.get("config") == cfg


def fit_scene(scene_path: str, out: str | Path, settings: SceneFitSettings | None = None, *, executor: Any = None,
              on_event: Callable[..., None] | None = None, stop: Any = None, write: bool = True) -> SceneRun:
    """Fit every chosen object of the scene at ``scene_path`` into ``out`` (see the module docstring).

    ``executor``: an :class:`~backend.jobs.Executor` to use (default: one made here from ``settings.ray`` /
    ``settings.jobs`` and shut down at the end). ``on_event(kind, ...)``: ``("prepared", plan)``,
    ``("start", plan)``, ``("progress", plan, record)``, ``("done", plan, outcome)``, ``("outputs", files)``.
    ``stop`` (anything with ``is_set()``) stops the running fits (each keeps its best result) and drops the
    queued ones. ``write``: write the scene's outputs (summary, meshes, scene.blend, report).
    """
    from ..jobs import make_executor

    s = settings or SceneFitSettings()
    emit = on_event or (lambda *a: None)
    t0 = time.perf_counter()
    scene, structure, plans = plan_scene(scene_path, out, s, on_event=on_event)
    run = SceneRun(scene, structure, plans, seconds={"prepare_s": time.perf_counter() - t0})
    todo = [p for p in plans if p.spec is not None and not p.done_before]
    t1 = time.perf_counter()
    if todo:
        own = executor is None
        ex = executor or make_executor(s.ray, s.jobs or (None if s.ray else default_jobs()), threads=s.threads)
        lock = threading.Lock()
        remaining = {p.key: p for p in todo}
        done = threading.Event()

        def on_start(job_id: str) -> None:
            emit("start", remaining.get(job_id))

        def on_progress(job_id: str, record: dict) -> None:
            emit("progress", remaining.get(job_id), record)

        def on_done(job_id: str, outcome) -> None:
            with lock:
                plan = remaining.pop(job_id, None)
                run.outcomes[job_id] = outcome
                if not remaining:
                    done.set()
            emit("done", plan, outcome)

        handles = []
        try:
            for p in todo:
                handles.append(ex.submit(p.spec, on_progress, on_done, on_start))
            while not done.wait(0.2):
                if stop is not None and stop.is_set():
                    run.interrupted = True
                    for h in handles:
                        ex.cancel(h)
                    done.wait(15.0)
                    break
        except KeyboardInterrupt:
            run.interrupted = True
            for h in handles:
                ex.cancel(h)
            done.wait(15.0)
        finally:
            if own:
                ex.shutdown(wait=10.0)
    run.seconds["fit_s"] = time.perf_counter() - t1
    if write:
        from .outputs import write_scene_outputs

        t2 = time.perf_counter()
        run.files = write_scene_outputs(run, Path(out), s)
        run.seconds["outputs_s"] = time.perf_counter() - t2
        emit("outputs", run.files)
    run.seconds["total_s"] = time.perf_counter() - t0
    return run
