"""Which continuous parameters a partial scan cannot decide (:func:`parameter_evidence`).

A segment cut by the scan's edge, hidden behind a neighbour or missing its back says nothing about some
parameters: a cabinet seen only from the front does not show its depth. Such a parameter should stay at its
prior and the result should say so, rather than report whatever value the search happened to leave.

For each active continuous parameter the fitted program is evaluated with the parameter nudged (10 % of its
range, at least 2 cm); the displacement of the fitted surface (area-weighted samples) is what the parameter
moves. A nudge that mostly shifts the object (a change of width moves both sides by half) is the pose's
business, not the parameter's, so the shift that best explains the displacement over the *supported* surface
(seen by the sensor and within 10 cm of a scan point) is taken off first. The parameter's *evidence* is the
fraction of the surface it still moves (by more than 5 mm) *in sight of a sensor* (not inside the object, not
behind a wall: :meth:`~backend.occlusion.Surroundings.visible_samples`) or held by the room's structure (against
a wall, on the floor: a wall cabinet scanned from the front has its depth from its front and the wall) that is
supported, the held surface counting as supported. Under ``threshold``
(default 0.25) it is undecided. A parameter that moves almost no surface in sight (a size capped by another
one, the inside of a cabinet) is one no scan decides, and is not reported.

A discrete parameter is undecided when the scan cannot tell its values apart (:func:`discrete_evidence`):
every value is refined for the same number of steps from the fitted values and pose, under the finer objective
that makes a search's final decision, and more than one scores within ``tolerance`` (10 %) of the best. Then
the prior is kept (when it is one of them). Drawer seams, handles and slats are centimetres across; a real
scan's mesh often smooths them away, and then the number of drawers is the prior's, not the noise's. The
parameters are decided one after another, so one that a decision makes active (the drawer count of a front
the scan cannot tell from doors) is decided too. Every value gets the same refinement: comparing a refined
fitted value with a barely refined alternative favours the fitted value (a cabinet without handles needs
its body moved forward by the handles' depth before it scores as well).

The tolerance is the capture-to-capture noise of these ratios measured on two ScanNet captures of one wall
cabinet (scene0000_00 #42 and scene0000_01 #63, cd, 20 s): the same alternative's objective ratio differed by
0.01 to 0.13 between the captures (median 0.06), so a difference under 10 % is not one the next capture would
reproduce.
"""

from __future__ import annotations

from typing import Any

import torch

from translator.params import ParameterSpace
from translator.runtime import TopologySplitError, eval_context

from ..object_frame import clean_observations
from ..occlusion import Surroundings
from ..ops.sampling import face_normals, sample_surface
from ..structures import Observations

__all__ = ["discrete_evidence", "parameter_evidence"]


def parameter_evidence(module: Any, space: ParameterSpace, discrete: dict[str, Any], continuous: dict[str, Any],
                       world_from_program: Any, observations: Observations, *, samples: int = 6000,
                       moved: float = 0.005, supported_within: float = 0.10, threshold: float = 0.25,
                       skip: tuple[str, ...] = ()) -> dict[str, dict[str, float]]:
    """Evidence of each active continuous VALUE parameter of a fit (see the module docstring).

    Args:
        module: the compiled program.
        space: its parameter space.
        discrete, continuous: the fitted values.
        world_from_program: ``(4, 4)`` the fitted pose (the observations' frame).
        observations: the object's observations (their ``context`` gives what hides the surface).
        skip: parameters to leave out (locked ones).

    Returns:
        ``{name: {"evidence": fraction, "moved": fraction of the surface it moves, "undecided": 0 or 1}}``.
    """
    names = [p.name for p in space.continuous if p.type == "VALUE" and p.low is not None and p.high is not None
             and p.high > p.low and p.name not in skip and p.active_when.holds(discrete)]
    if not names:
        return {}
    base = {k: float(v) if not isinstance(v, (list, tuple)) else v for k, v in continuous.items()}
    rows = [dict(base)]
    for n in names:
        p = space[n]
        step = max(0.02, 0.1 * (float(p.high) - float(p.low)))
        v = base[n] + step if base[n] + step <= float(p.high) else base[n] - step
        rows.append({**base, n: v})
    batch = {}
    for k in base:
        col = [r[k] for r in rows]
        batch[k] = torch.tensor(col, dtype=torch.float64)
    try:
        with eval_context(trace=False):
            mesh = module.program(discrete, batch)
    except TopologySplitError:
        return {}
    pose = torch.as_tensor(world_from_program, dtype=torch.float64)
    verts = mesh.verts.double() @ pose[:3, :3].T + pose[:3, 3]  # (1 + n, V, 3)
    tris = mesh.triangles()
    s = sample_surface(verts[:1], tris, samples, 0)
    corners = tris[s.face[0]]  # (S, 3)
    moved_at = (verts[1:, corners] * s.bary[0][None, :, :, None]).sum(2) - s.points  # (n, S, 3)
    context = observations.context
    if context is not None:
        sur = Surroundings.from_context(context, torch.eye(4, dtype=torch.float64),
                                        keep_within=torch.stack([s.points[0].min(0).values, s.points[0].max(0).values]),
                                        sensor_pixels=128)
    else:
        sur = Surroundings(torch.zeros((0, 3)), torch.zeros((0, 4), dtype=torch.float64), None,
                           room_floor_z=float(observations.frame.floor_z), sensor_pixels=128)
    hidden = sur.hidden(s.points, face_normals(verts[:1], tris, s.face))[0]
    sight = sur.visible_samples(verts[0], tris, s.points[0], s.face[0])
    from scipy.spatial import cKDTree

    dist = torch.from_numpy(cKDTree(observations.points.double().numpy()).query(s.points[0].numpy(), k=1)[0])
    held = sur.structure_contact(s.points)[0]  # against a wall or on the floor: the structure decides it
    supported = (sight & ~hidden & (dist <= supported_within)) | held
    out = {}
    for i, n in enumerate(names):
        d = moved_at[i]
        shift = d[supported].mean(0) if supported.any() else torch.zeros(3, dtype=d.dtype)
        moving = ((d - shift).norm(dim=1) > moved) & (sight | held)
        frac = float(moving.double().mean())
        if frac < 0.01:  # it moves (almost) nothing a sensor could see: no scan could decide it
            continue
        ev = float((moving & supported).double().sum() / moving.double().sum())
        out[n] = {"evidence": round(ev, 4), "moved": round(frac, 4), "undecided": float(ev < threshold)}
    return out


def discrete_evidence(module: Any, space: ParameterSpace, observations: Observations, result: Any, objective: Any,
                      locks: dict[str, Any], *, steps: int = 10, tolerance: float = 0.10,
                      max_choices: int = 8, deadline: float | None = None) -> dict[str, dict[str, Any]]:
    """What the scan says about each active discrete parameter of ``result`` (a :class:`~backend.fit.FitResult`);
    see the module docstring. ``objective``: the fit's :class:`~backend.objective.ObjectiveConfig`.

    The parameters are decided one after another (the program's order; a parameter that becomes active
    through an earlier decision is decided too, before the end). For each, every value (at most
    ``max_choices``; a wider integer range tries the fitted value's neighbours and the prior) is refined for
    the same ``steps`` from the current values and pose under the fine objective; the values scoring within
    ``tolerance`` of the best are the ones the scan cannot tell apart. One value: decided. Several: undecided,
    and the prior is kept when it is among them (else the best of them). The chosen value's refined
    continuous values and pose carry over to the next parameter.

    Returns ``{name: {"fitted", "chosen", "undecided": bool, "objective_ratio": the prior's objective / the
    best's, "within": [values within tolerance]}}`` for every active discrete parameter not in ``locks`` with
    more than one value; ``chosen`` is what the final refit should lock. ``deadline`` (a
    :func:`time.perf_counter` time): no parameter is started after it (those left are not reported).
    """
    import time

    from ..problem import FitProblem, ProblemConfig
    from ..search.base import RefineRequest

    problem = FitProblem(module, space, clean_observations(observations), ProblemConfig(objective=objective, locks=dict(locks)))
    values = {**result.discrete, **result.continuous}
    pose = torch.as_tensor(result.world_from_program, dtype=torch.float64)
    discrete_names = [p.name for p in space.discrete]
    report: dict[str, dict[str, Any]] = {}
    done: set[str] = set(locks)
    while True:
        current = {k: values[k] for k in discrete_names if k in values}
        todo = [p for p in space.discrete if p.name not in done and p.active_when.holds(current)]
        if not todo or (deadline is not None and time.perf_counter() >= deadline):
            break
        p = todo[0]
        done.add(p.name)
        fitted = values.get(p.name, p.default)
        choices = _choices(p, fitted, max_choices)
        if len(choices) < 2:
            continue
        requests = []
        for c in choices:
            config, state = problem.candidate_at({**values, p.name: c}, pose)
            requests.append(RefineRequest(config, state, steps))
        out = problem.refine(requests, fine=True)
        scores = [cand.objective for cand in out]
        best = min(scores)
        within = [c for c, sc in zip(choices, scores, strict=True) if sc <= best * (1 + tolerance)]
        undecided = len(within) > 1
        pick = p.default if undecided and p.default in within else choices[scores.index(best)]
        prior_score = scores[choices.index(p.default)] if p.default in choices else float("inf")
        report[p.name] = {"fitted": fitted, "chosen": pick, "undecided": undecided,
                          "objective_ratio": round(prior_score / best, 4) if best > 0 else float("inf"),
                          "within": within}
        cand = out[choices.index(pick)]
        values = {**values, **problem.state_values(cand.state), p.name: pick}
        pose = problem.world_pose(cand.state)
    return report


def _choices(p: Any, fitted: Any, max_choices: int) -> list[Any]:
    """The values of a discrete parameter to compare: all its choices, or for a wide range the fitted value,
    its neighbours and the prior."""
    if p.choices is not None and len(p.choices) <= max_choices:
        return list(p.choices)
    if p.type == "BOOLEAN":
        return [False, True]
    if p.choices is not None:
        near = [c for c in p.choices if c in (fitted - 1, fitted, fitted + 1, p.default)]
        return near
    return [fitted] if fitted == p.default else [fitted, p.default]
