"""One object of a scene as a fit job: the files ``fit-scene`` writes for it (:func:`write_object_inputs`),
how a worker reads them back (:func:`load_scene_object`) and fits them (:func:`fit_scene_object`).

A scene object's job folder holds ``input/object.ply`` (its cleaned points, in the scene's levelled frame),
``input/context.ply`` (its surroundings' points) and ``input/object.json`` (instance, label, category,
program, the frame's floor and yaw, the nearby walls, the floor it stands on, flags, ``scan_from_fit``,
the 4x4 map from the levelled frame back to the scan's, and ``screening``, whether the job is a candidate
program's screening fit: the search alone, then the metrics). A job spec names the JSON (``JobSpec.scene_object``),
so the same executors that run the job service's fits run these.

:func:`fit_scene_object` spends ``1 - reserve`` of the budget on the fit, finds the parameters the segment
cannot decide (:func:`~backend.scene.evidence.parameter_evidence` for lengths,
:func:`~backend.scene.evidence.discrete_evidence` for styles and counts, which also settles every discrete
value), and refits briefly with every discrete value locked (the undecided ones at their priors, the
program's defaults) and the undecided lengths locked at their priors; then it computes the scan-fit metrics (in the
levelled frame, with the surroundings) and moves the result into the scan's frame.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..io.ply import load_ply, write_point_cloud
from ..object_frame import object_frame
from ..structures import Observations, ScanError, SceneContext
from .segments import PreparedObject

__all__ = ["RESERVE", "fit_scene_object", "load_scene_object", "read_object_meta", "write_object_inputs"]

RESERVE = 0.4
"""The fraction of an object's budget kept for deciding the discrete parameters and refitting with them locked.
With a quarter (the first value), a 20 s fit of a cabinet decided only its first one or two discrete parameters
before the deadline, and the search's picks of the others (drawer count, base) made captures disagree."""


def write_object_inputs(prep: PreparedObject, program: str, folder: str | Path, scan_from_fit: np.ndarray,
                        screening: bool = False) -> Path:
    """Write a prepared object's job inputs into ``folder/input/``; returns the path of its ``object.json``
    (``screening``: a candidate program's screening fit, :func:`fit_scene_object` runs the search alone)."""
    inp = Path(folder) / "input"
    inp.mkdir(parents=True, exist_ok=True)
    obs = prep.observations
    write_point_cloud(inp / "object.ply", obs.points, obs.colors)
    ctx = obs.context
    write_point_cloud(inp / "context.ply", ctx.points if len(ctx.points) else torch.zeros((1, 3)))
    frame = obs.frame
    meta = {
        "instance": prep.obj.instance, "label": prep.obj.label, "category": prep.obj.category, "program": program,
        "source": obs.source, "points": len(obs.points), "removed": prep.removed, "flags": prep.flags,
        "frame": {"floor_z": frame.floor_z, "yaw": frame.yaw},
        "context": {"walls": ctx.walls.tolist(), "floor_z": ctx.floor_z, "points": len(ctx.points)},
        "scan_from_fit": np.asarray(scan_from_fit, dtype=np.float64).tolist(), "screening": bool(screening),
    }
    (inp / "object.json").write_text(json.dumps(meta, indent=1) + "\n")
    return inp / "object.json"


def read_object_meta(path: str | Path) -> dict[str, Any]:
    """A scene object's ``object.json`` (one-line :class:`ScanError` when unreadable)."""
    path = Path(path)
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
        meta["frame"]["floor_z"], meta["frame"]["yaw"], meta["context"]["walls"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ScanError(f"{path}: not a fit-scene object description ({type(exc).__name__}: {exc})") from None
    return meta


def load_scene_object(path: str | Path) -> Observations:
    """The observations of a scene object job (``object.json`` beside ``object.ply`` and ``context.ply``)."""
    path = Path(path)
    meta = read_object_meta(path)
    pc = load_ply(path.parent / "object.ply")
    ctx_pc = load_ply(path.parent / "context.ply")
    ctx = meta["context"]
    walls = torch.tensor(ctx["walls"], dtype=torch.float64).reshape(-1, 4)
    ctx_pts = ctx_pc.points if int(ctx.get("points", len(ctx_pc.points))) else torch.zeros((0, 3))
    context = SceneContext(ctx_pts, walls, ctx["floor_z"])
    frame = object_frame(pc.points, floor_z=float(meta["frame"]["floor_z"]), yaw=float(meta["frame"]["yaw"]),
                         where=str(path))
    return Observations(pc.points, frame, pc.colors, None, None, str(meta.get("category", "")),
                        str(meta.get("source", path)), context)


def _to_scan_frame(result, scan_from_fit: np.ndarray):
    m = torch.as_tensor(scan_from_fit, dtype=torch.float64)
    if torch.allclose(m, torch.eye(4, dtype=torch.float64)):
        return result
    pose = m @ torch.as_tensor(result.world_from_program, dtype=torch.float64)
    mesh = result.mesh
    if mesh is not None:
        mesh = replace(mesh, verts=(mesh.verts.double() @ m[:3, :3].T + m[:3, 3]).float())
    return replace(result, world_from_program=pose.tolist(), translation=[float(x) for x in pose[:3, 3]],
                   mesh=mesh)


def fit_scene_object(program, space, observations: Observations, cfg, meta: dict[str, Any], *, progress=None,
                     stop=None, module=None):
    """Fit one scene object (see the module docstring): returns the :class:`~backend.fit.FitResult` in the
    scan's frame, with ``scan_fit``, ``flags`` and ``undecided`` filled in."""
    import time

    from translator.codegen import compile_program

    from ..fit import MIN_BUDGET_S, fit
    from ..scan_metrics import observation_metrics
    from .evidence import discrete_evidence, parameter_evidence

    t0 = time.perf_counter()
    module = module or compile_program(program)
    screening = bool(meta.get("screening", False))
    reserve = max(MIN_BUDGET_S, RESERVE * cfg.budget) if cfg.budget >= 2 * MIN_BUDGET_S / RESERVE and not screening else 0.0
    first = cfg.share(cfg.budget - reserve) if reserve else cfg
    result = fit(program, observations, first, space=space, progress=progress, stop=stop, module=module)
    flags = list(meta.get("flags", []))
    undecided: dict[str, dict[str, float]] = {}
    if result.status == "succeeded" and not screening:
        ev = parameter_evidence(module, space, result.discrete, result.continuous, result.world_from_program,
                                observations, skip=tuple(cfg.locks))
        undecided = {n: {"evidence": e["evidence"], "prior": float(space[n].default)}
                     for n, e in ev.items() if e["undecided"]}
        chosen: dict[str, Any] = {}
        if cfg.budget - (time.perf_counter() - t0) >= 2 * MIN_BUDGET_S:
            dev = discrete_evidence(module, space, observations, result, cfg.objective, cfg.locks,
                                    deadline=t0 + cfg.budget - 2 * MIN_BUDGET_S)
            chosen = {n: e["chosen"] for n, e in dev.items()}
            undecided.update({n: {"objective_ratio": e["objective_ratio"], "prior": e["chosen"], "fitted": e["fitted"],
                                  "within": e["within"]}
                              for n, e in dev.items() if e["undecided"]})
        left = cfg.budget - (time.perf_counter() - t0)
        changed = any(result.discrete.get(n) != v for n, v in chosen.items())
        # the refit is what puts the undecided values at their priors: it gets at least the shortest budget a fit
        # takes (the evidence stops early enough for it; a slow machine may overrun the object's budget by that)
        if (undecided or changed) and (chosen or left >= MIN_BUDGET_S) and not (stop is not None and stop.is_set()):
            left = max(left, MIN_BUDGET_S)
            # every discrete value is now decided (by the scan or, where it cannot tell, the prior): lock them all
            locks = {**cfg.locks, **chosen, **{n: u["prior"] for n, u in undecided.items()}}
            # under max_evaluations the refit gets the evaluations of the reserve, not of the time left
            second = replace(cfg.share(reserve or left), budget=left, locks=locks,
                             init={**result.discrete, **result.continuous, **chosen}, init_pose=result.world_from_program)
            again = fit(program, observations, second, space=space, progress=progress, stop=stop, module=module)
            again.timings = {**again.timings, "first_fit_s": result.timings["search_s"],
                             "search_s": time.perf_counter() - t0}
            again.history = result.history + [[round(h[0] + result.timings["search_s"], 4), h[1], "priors"]
                                              for h in again.history]
            again.config = cfg
            result = again
            if undecided:
                flags.append(f"too partial to decide: {', '.join(undecided)} (kept at the prior, or a style or count at the best "
                             f"of the values the scan cannot tell apart when the prior is not one of them)")
        elif undecided:
            flags.append(f"too partial to decide: {', '.join(undecided)} (no time left to refit them at the prior: "
                         f"the values are the search's)")
            undecided = {n: {**u, "prior": None} for n, u in undecided.items()}
    result.undecided = undecided
    result.flags = flags
    if result.mesh is not None:
        result.scan_fit = observation_metrics(result.mesh.verts[0].detach(), result.mesh.triangles(), observations)
    return _to_scan_frame(result, np.asarray(meta.get("scan_from_fit", np.eye(4).tolist())))
