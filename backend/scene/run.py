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
   is first *screened*: a short fit per candidate (``screen`` of the object's budget each, the search alone:
   no evidence step, no refit), each as its own job in ``OUT/objects/<key>/candidates/<program>/`` (the executor
   runs them side by side); the candidate whose fit explains the segment best is kept, by the F-score at 5 cm
   of the scan-fit metrics (:mod:`backend.scan_metrics`, the numbers the summary and ``bench real`` report; ties
   broken by the lower accuracy distance), with the map's order as the preference: the first candidate that
   succeeded stays unless the best one's F@5cm is more than ``CHOICE_MARGIN`` higher. The margin is there
   because a specialised program can copy a general one where the scan cannot see the difference (a corner
   cabinet with its diagonal cut turned to the wall is a box cabinet to the scan: on the synthetic room of the
   tests its fit of a box cabinet scored 0.996 against the box program's 0.974). The kept candidate then
   *continues* in the object's own folder with the rest of the budget: a whole object fit (search, evidence,
   refit) started from its screening result, so the object costs the same CPU time as with one program and
   the kept program gets most of it (with equal shares instead, a box cabinet fitted with half the budget lost
   to a corner cabinet it beat with the whole: scene0000_01 #65, F@5cm 0.477 against 0.735). When the budget
   is too small to leave a continuation its shortest fit, every candidate gets an equal share of a whole object
   fit and the kept one's files are copied into the object's folder. ``choice.json`` records every
   candidate's state and metrics and whether the kept one continued, and the summary names the program kept;
7. write the scene's outputs (:mod:`backend.scene.outputs`).
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..fit.config import FitConfig
from ..options import config_to_dict
from .segments import SegmentSettings

__all__ = ["CHOICE_MARGIN", "CHOICE_METRIC", "PlannedObject", "SceneFitSettings", "SceneRun", "choose_candidates",
           "decide_candidates", "fit_scene", "plan_continuation", "plan_scene"]

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
    """A JSON category -> program map laid over the defaults ({"armchair": "chair", "desk": "my_desk.json", "bed": null}); a list of programs ({"cabinet": ["cabinet", "corner_cabinet"]}) screens each object of the category with a short fit of every one and continues the first unless another scores more than 0.03 higher F@5cm."""
    screen: float = 0.25
    """With several candidate programs for an object: the share of its budget each candidate's screening fit gets; the one kept continues from its screening result with the rest."""
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
    continue_s: float = 0.0
    """With several candidate programs: the budget of the kept one's continuation (0: none, equal shares)."""
    continued: bool = False
    """Whether the kept candidate's continuation was planned (its job is this object's ``spec``)."""


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

            screen_s = max(MIN_BUDGET_S, s.screen * s.fit.budget)
            rest = s.fit.budget - len(progs) * screen_s
            plan.continue_s = rest if 0 < s.screen and rest >= MIN_BUDGET_S else 0.0
            share = config_to_dict(s.fit.share(screen_s if plan.continue_s else max(MIN_BUDGET_S, s.fit.budget / len(progs))))
            for prog in progs:
                name = _candidate_name(prog)
                sub = PlannedObject(f"{obj.key}~{name}", obj.instance, obj.category, obj.label, prog,
                                    folder / "candidates" / name, plan.points, list(plan.flags))
                _plan_job(sub, prep, prog, scan_from_fit, share, s.threads, screening=bool(plan.continue_s))
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


def _plan_job(plan: PlannedObject, prep: Any, program: str, scan_from_fit: Any, cfg: dict, threads: int,
              screening: bool = False) -> None:
    """Write ``plan``'s job inputs into its folder and give it its :class:`~backend.jobs.JobSpec` (``screening``:
    a candidate's screening fit, the search alone)."""
    from .job import write_object_inputs

    meta = write_object_inputs(prep, program, plan.folder, scan_from_fit, screening=screening)
    _set_spec(plan, program, meta, cfg, threads)


def _set_spec(plan: PlannedObject, program: str, meta: Path, cfg: dict, threads: int) -> None:
    """Give ``plan`` the job fitting ``program`` to the object whose inputs ``meta`` names, into its folder."""
    from ..jobs import JobSpec
    from ..jobs.manifest import is_complete

    plan.spec = JobSpec(id=plan.key, program=program, output=str(plan.folder), scene_object=meta.name,
                        inputs_dir=str(meta.parent), config=cfg, threads=threads, label=f"{plan.key} ({program})")
    plan.done_before = is_complete(plan.folder) and _same_fit(plan.folder, program, cfg)


def plan_continuation(p: PlannedObject, settings: SceneFitSettings, outcomes: dict[str, Any]) -> bool:
    """Decide an object's screened candidates (:func:`decide_candidates` with the ``outcomes`` of the jobs run
    now) and, when one is kept and the object has a continuation budget, make the kept program's continuation
    this object's job (``p.spec``): a whole object fit in ``p.folder`` with ``p.continue_s`` seconds, started
    from the screening result's values and pose. Returns whether it did."""
    import numpy as np

    from .job import read_object_meta

    keep = decide_candidates(p, outcomes)
    if keep is None or not p.continue_s:
        return False
    try:
        data = json.loads((keep.folder / "result.json").read_text())
        meta = read_object_meta(keep.folder / "input" / "object.json")
    except (OSError, ValueError):
        return False
    inputs = p.folder / "input"
    if inputs.exists():
        shutil.rmtree(inputs)
    shutil.copytree(keep.folder / "input", inputs)
    meta = {**meta, "program": keep.program, "screening": False}
    (inputs / "object.json").write_text(json.dumps(meta, indent=1) + "\n")
    # the result's pose is in the scan's frame, a fit's in the levelled frame of the object's inputs
    pose = np.linalg.inv(np.asarray(meta["scan_from_fit"], dtype=np.float64)) @ np.asarray(data["world_from_program"])
    cfg = settings.fit.share(p.continue_s, init={**data["discrete"], **data["continuous"]}, init_pose=pose.tolist())
    _set_spec(p, keep.program, inputs / "object.json", config_to_dict(cfg), settings.threads)
    p.program, p.continued = keep.program, True
    return True


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


def decide_candidates(p: PlannedObject, outcomes: dict[str, Any] | None = None) -> PlannedObject | None:
    """The candidate of ``p`` to keep (step 6 of the module docstring): the first that succeeded unless the
    best-scoring one beats it by more than ``CHOICE_MARGIN``; None when none succeeded. Fills ``p.choice``.
    ``outcomes``: job id -> outcome of the jobs run now (a candidate without one was done before,
    or cancelled)."""
    scored: list[tuple[PlannedObject, tuple[float, float]]] = []
    p.choice = {}
    for c in p.candidates:
        outcome = (outcomes or {}).get(c.key)
        state = outcome.state if outcome is not None else ("succeeded" if c.done_before else "cancelled")
        score = _candidate_score(c.folder) if state == "succeeded" else None
        p.choice[c.program] = {"state": state, CHOICE_METRIC: score[0] if score else None,
                               "accuracy_cm": -score[1] if score and score[1] != float("-inf") else None}
        if score is not None:
            scored.append((c, score))
    if not scored:
        return None
    top, top_score = max(scored, key=lambda cs: cs[1])
    return top if top_score[0] > scored[0][1][0] + CHOICE_MARGIN else scored[0][0]


def choose_candidates(run: SceneRun) -> None:
    """Step 6 of the module docstring, once every job has ended, for every object of ``run`` with several
    candidate programs: the kept candidate's continuation, when it ran and succeeded (or was done before), is the
    object's outcome; otherwise the kept candidate's program, outcome and files become the object's (an object
    none of whose candidates succeeded keeps its first candidate's outcome, failed or cancelled)."""
    for p in run.objects:
        if not p.candidates:
            continue
        if p.continued:
            outcome = run.outcomes.get(p.key)
            if (outcome is not None and outcome.state == "succeeded") or (outcome is None and p.done_before):
                _write_choice(p, continued=True)  # p.choice: the record plan_continuation's decision left
                continue
            if outcome is not None:  # the continuation failed or was stopped: the screening fit stands
                p.flags.append(f"the continuation of {p.program} {outcome.state}"
                               + (f" ({outcome.error})" if outcome.error else "") + ": its screening fit is kept")
        best = decide_candidates(p, run.outcomes)
        keep = best or p.candidates[0]
        p.program, p.spec, p.continued = keep.program, keep.spec, False
        if keep.key in run.outcomes:
            run.outcomes[p.key] = run.outcomes[keep.key]
        else:
            run.outcomes.pop(p.key, None)
        p.done_before = keep.key not in run.outcomes and keep.done_before
        if best is None:
            continue
        for item in p.folder.iterdir():  # the object's folder: the kept candidate's files, nothing older
            if item.name != "candidates":
                shutil.rmtree(item) if item.is_dir() else item.unlink()
        shutil.copytree(best.folder, p.folder, dirs_exist_ok=True)
        _write_choice(p, continued=False)


def _write_choice(p: PlannedObject, continued: bool) -> None:
    (p.folder / "choice.json").write_text(json.dumps(
        {"metric": CHOICE_METRIC, "margin": CHOICE_MARGIN, "chosen": p.program, "continued": continued,
         "candidates": p.choice}, indent=1) + "\n")


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
    ``("start", plan)``, ``("progress", plan, record)``, ``("done", plan, outcome)`` per fit job (an object's
    screening fits and its continuation are jobs of their own), ``("finished", plan)`` once per object with work to
    do, when its last job has ended (or no continuation follows its screening), and ``("outputs", files)``.
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
    # objects with candidates: their candidates' jobs still to end; screened ones whose screening ended are ready
    owner = {c.key: p for p in plans for c in p.candidates}
    todo_keys = {p.key for p in todo}
    waiting = {p.key: {c.key for c in p.candidates if c.key in todo_keys} for p in plans if p.candidates}
    ready = [p for p in plans if p.continue_s and not waiting[p.key]]
    t1 = time.perf_counter()
    if todo or ready:
        own = executor is None
        ex = executor or make_executor(s.ray, s.jobs or (None if s.ray else default_jobs()), threads=s.threads)
        lock = threading.Lock()
        remaining = {p.key: p for p in todo}
        done = threading.Event()
        handles = []

        def on_start(job_id: str) -> None:
            emit("start", remaining.get(job_id))

        def on_progress(job_id: str, record: dict) -> None:
            emit("progress", remaining.get(job_id), record)

        def on_done(job_id: str, outcome) -> None:
            finished = None
            with lock:
                plan = remaining.pop(job_id, None)
                run.outcomes[job_id] = outcome
                parent = owner.get(job_id)
                if parent is None:
                    finished = plan
                else:
                    waiting[parent.key].discard(job_id)
                    if not waiting[parent.key]:
                        if parent.continue_s:
                            ready.append(parent)
                        else:
                            finished = parent
                if not remaining and not ready:
                    done.set()
            emit("done", plan, outcome)
            if finished is not None:
                emit("finished", finished)

        def continue_ready() -> None:
            """Submit the continuation of every object whose screening has ended (none once stopped)."""
            while True:
                with lock:
                    if not ready:
                        if not remaining:
                            done.set()
                        return
                    p = ready.pop(0)
                if (stop is None or not stop.is_set()) and plan_continuation(p, s, run.outcomes) and not p.done_before:
                    with lock:
                        remaining[p.key] = p
                    handles.append(ex.submit(p.spec, on_progress, on_done, on_start))
                else:
                    emit("finished", p)

        try:
            for p in todo:
                handles.append(ex.submit(p.spec, on_progress, on_done, on_start))
            continue_ready()
            while not done.wait(0.2):
                if stop is not None and stop.is_set():
                    run.interrupted = True
                    for h in handles:
                        ex.cancel(h)
                    done.wait(15.0)
                    break
                continue_ready()
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
