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
6. an object whose category names several candidate programs (a list in the map, :mod:`backend.scene.programs`)
   is fitted once per candidate, each as its own job in ``OUT/objects/<key>/candidates/<program>/`` with an
   equal share of the object's budget (so the object costs the same CPU time as with one program, and the
   executor runs the candidates side by side); the candidate whose fit explains the segment best is kept, by
   the F-score at 5 cm of the scan-fit metrics (:mod:`backend.scan_metrics`, the numbers the summary and
   ``bench real`` report; ties broken by the lower accuracy distance), with the map's order as the preference:
   the first candidate that succeeded stays unless the best one's F@5cm is more than ``CHOICE_MARGIN`` higher.
   The margin is there because a specialised program can copy a general one where the scan cannot see the
   difference (a corner cabinet with its diagonal cut turned to the wall is a box cabinet to the scan: on the
   synthetic room of the tests its fit of a box cabinet scored 0.996 against the box program's 0.974, both
   from equal shares). Its files are copied into the object's
   folder, ``choice.json`` beside them records every candidate's state and metrics, and the summary names the
   program kept;
7. write the scene's outputs (:mod:`backend.scene.outputs`).
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..fit.config import FitConfig
from ..options import config_to_dict
from .segments import SegmentSettings

__all__ = ["CHOICE_MARGIN", "CHOICE_METRIC", "PlannedObject", "SceneFitSettings", "SceneRun", "choose_candidates", "fit_scene",
           "plan_scene"]

CHOICE_METRIC = "f_5cm"
"""The scan-fit metric that picks an object's program among its candidates (higher is better)."""
CHOICE_MARGIN = 0.03
"""How much higher (in ``CHOICE_METRIC``) a later candidate must score than the first one that succeeded to be kept
instead (a judgement value, see the module docstring; not tuned on the real scans)."""


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
    """A JSON category -> program map laid over the defaults ({"armchair": "chair", "desk": "my_desk.json", "bed": null}); a list of programs ({"cabinet": ["cabinet", "corner_cabinet"]}) fits each object of the category with every one (equal shares of its budget) and keeps the first unless another scores more than 0.03 higher F@5cm."""
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
    candidates: list[PlannedObject] = field(default_factory=list)
    """With several candidate programs: one planned fit per candidate (its own job and folder); empty otherwise."""
    choice: dict[str, Any] = field(default_factory=dict)
    """With several candidate programs, after the fits: program -> {"state", CHOICE_METRIC, "accuracy_cm"}."""


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
    for obj, progs in chosen:
        folder = out / "objects" / obj.key
        plan = PlannedObject(obj.key, obj.instance, obj.category, obj.label, progs[0], folder)
        prep = prepare_object(scene, structure, obj, s.segments, levelled)
        if prep is None:
            plan.error = f"too few points after cleaning (fewer than {s.segments.min_points} of {len(obj.indices)})"
            plans.append(plan)
            continue
        plan.points, plan.flags = len(prep.observations.points), prep.flags
        if len(progs) > 1:
            from ..fit import MIN_BUDGET_S

            share = config_to_dict(replace(s.fit, budget=max(MIN_BUDGET_S, s.fit.budget / len(progs))))
            for prog in progs:
                name = _candidate_name(prog)
                sub = PlannedObject(f"{obj.key}~{name}", obj.instance, obj.category, obj.label, prog,
                                    folder / "candidates" / name, plan.points, list(plan.flags))
                _plan_job(sub, prep, prog, scan_from_fit, share, s.threads)
                plan.candidates.append(sub)
            plan.spec = plan.candidates[0].spec
            plan.done_before = all(c.done_before for c in plan.candidates)
        else:
            _plan_job(plan, prep, progs[0], scan_from_fit, cfg, s.threads)
        plans.append(plan)
        if on_event is not None:
            on_event("prepared", plan)
    return scene, structure, plans


def _candidate_name(program: str) -> str:
    """A candidate program's folder name: the library name, or the program file's stem."""
    return Path(program).stem if Path(program).suffix else program


def _plan_job(plan: PlannedObject, prep: Any, program: str, scan_from_fit: Any, cfg: dict, threads: int) -> None:
    """Write ``plan``'s job inputs into its folder and give it its :class:`~backend.jobs.JobSpec`."""
    from ..jobs import JobSpec
    from ..jobs.manifest import is_complete
    from .job import write_object_inputs

    meta = write_object_inputs(prep, program, plan.folder, scan_from_fit)
    plan.spec = JobSpec(id=plan.key, program=program, output=str(plan.folder), scene_object=meta.name,
                        inputs_dir=str(meta.parent), config=cfg, threads=threads, label=f"{plan.key} ({program})")
    plan.done_before = is_complete(plan.folder) and _same_fit(plan.folder, program, cfg)


def _candidate_score(folder: Path) -> tuple[float, float] | None:
    """(CHOICE_METRIC, -accuracy_cm) of a finished candidate's result (None without one)."""
    try:
        data = json.loads((folder / "result.json").read_text())
    except (OSError, ValueError):
        return None
    m = data.get("scan_fit") or {}
    if m.get(CHOICE_METRIC) is None:
        return None
    acc = m.get("accuracy_cm")
    return float(m[CHOICE_METRIC]), -float(acc) if acc is not None else float("-inf")


def choose_candidates(run: SceneRun) -> None:
    """Step 6 of the module docstring, for every object of ``run`` with several candidate programs: keep the
    first succeeded candidate unless the best-scoring one beats it by more than ``CHOICE_MARGIN`` (the kept
    candidate's program, outcome and files become the object's); an object none of whose candidates succeeded
    keeps its first candidate's outcome (failed or cancelled)."""
    for p in run.objects:
        if not p.candidates:
            continue
        scored: list[tuple[PlannedObject, tuple[float, float]]] = []
        p.choice = {}
        for c in p.candidates:
            outcome = run.outcomes.get(c.key)
            state = outcome.state if outcome is not None else ("succeeded" if c.done_before else "cancelled")
            score = _candidate_score(c.folder) if state == "succeeded" else None
            p.choice[c.program] = {"state": state, CHOICE_METRIC: score[0] if score else None,
                                   "accuracy_cm": -score[1] if score and score[1] != float("-inf") else None}
            if score is not None:
                scored.append((c, score))
        best = None
        if scored:
            best, first = scored[0]
            top, top_score = max(scored, key=lambda cs: cs[1])
            if top_score[0] > first[0] + CHOICE_MARGIN:
                best = top
        keep = best or p.candidates[0]
        p.program, p.spec = keep.program, keep.spec
        if keep.key in run.outcomes:
            run.outcomes[p.key] = run.outcomes[keep.key]
        p.done_before = keep.key not in run.outcomes and keep.done_before
        if best is None:
            continue
        for item in p.folder.iterdir():  # the object's folder: the kept candidate's files, nothing older
            if item.name != "candidates":
                shutil.rmtree(item) if item.is_dir() else item.unlink()
        shutil.copytree(best.folder, p.folder, dirs_exist_ok=True)
        (p.folder / "choice.json").write_text(json.dumps(
            {"metric": CHOICE_METRIC, "margin": CHOICE_MARGIN, "chosen": best.program, "candidates": p.choice}, indent=1) + "\n")


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
    jobs = [c for p in plans for c in (p.candidates or [p])]
    todo = [p for p in jobs if p.spec is not None and not p.done_before]
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
    choose_candidates(run)
    if write:
        from .outputs import write_scene_outputs

        t2 = time.perf_counter()
        run.files = write_scene_outputs(run, Path(out), s)
        run.seconds["outputs_s"] = time.perf_counter() - t2
        emit("outputs", run.files)
    run.seconds["total_s"] = time.perf_counter() - t0
    return run
