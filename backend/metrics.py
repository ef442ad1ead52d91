"""How good a fit is: recovery metrics against a known truth (synthetic scans) and distances between
meshes, computed the same way by ``shapeprog bench fit``, ``shapeprog demo`` and the tests.

* :func:`chamfer_cm`: symmetric Chamfer distance between two triangle meshes;
* :func:`equivalent_description`: another description of the true object (a symmetric object
  turned, a parameter that changes nothing where the truth has it);
* :func:`recovery_metrics`: discrete accuracy, continuous error, yaw error, Chamfer of a fit;
* :func:`truth_objective`: the fitting objective at the truth, refined (search miss or not
  identifiable).
"""

from __future__ import annotations

import math
import statistics
from types import ModuleType
from typing import TYPE_CHECKING, Any

import torch
from numpy.typing import ArrayLike

from translator.params import ParameterSpace

from .object_frame import clean_observations
from .ops.point_mesh import PointsToMesh
from .ops.pose import apply_pose, pose_matrix
from .ops.sampling import sample_surface
from .problem import FitProblem, ProblemConfig
from .search.base import RefineRequest
from .structures import Observations

if TYPE_CHECKING:
    from .fit import FitResult

__all__ = ["chamfer_cm", "equivalent_description", "recovery_metrics", "truth_objective"]


def chamfer_cm(verts_a: ArrayLike | torch.Tensor, tris_a: ArrayLike | torch.Tensor, verts_b: ArrayLike | torch.Tensor,
               tris_b: ArrayLike | torch.Tensor, samples: int = 4000, seed: int = 0) -> float:
    """Symmetric Chamfer distance in cm between two triangle meshes (metres): the mean of the two
    directions' mean exact distance from area-weighted surface samples to the other surface."""
    out = []
    for (va, ta), (vb, tb) in (((verts_a, tris_a), (verts_b, tris_b)), ((verts_b, tris_b), (verts_a, tris_a))):
        va, vb = torch.as_tensor(va, dtype=torch.float64), torch.as_tensor(vb, dtype=torch.float64)
        ta, tb = torch.as_tensor(ta, dtype=torch.long), torch.as_tensor(tb, dtype=torch.long)
        pts = sample_surface(va[None], ta, samples, seed).points[0]
        d2 = PointsToMesh(pts)(vb[tb][None])
        out.append(float(d2.clamp_min(0).sqrt().mean()))
    return 100.0 * 0.5 * (out[0] + out[1])


def equivalent_description(module: ModuleType, space: ParameterSpace, truth: dict, quarter_turns: int, start: dict[str, Any],
                           true_mesh: tuple[Any, Any], tolerance_cm: float = 0.3, steps: int = 300) -> dict | None:
    """Another description of the true object, turned by ``quarter_turns`` x 90 degrees, if there is one.

    A program can draw one shape in several ways: an oval table turned by 90 degrees about its
    origin with width and depth swapped is the same table. This searches for such a description:
    the true discrete values, the true pose turned by ``quarter_turns * 90`` degrees about the
    program's origin, and the continuous values (Adam in the ranges' logit space, from ``start``)
    that reproduce the true mesh (exact distances both ways, up to ``steps`` steps; it stops early once the sum of
    the mean distances both ways is below ``tolerance_cm / 60``, the mesh reproduced). It counts when its Chamfer distance
    to the true mesh is below ``tolerance_cm``.

    Returns:
        ``{"continuous": {name: value}, "yaw": radians, "chamfer_cm": float}``, or None.
    """
    disc = truth["parameters"]["discrete"]
    cont = dict(truth["parameters"]["continuous"])
    names = [p.name for p in space.continuous if p.type == "VALUE" and p.low is not None and p.high is not None
             and p.high > p.low and p.active_when.holds(disc)]
    if not names:
        return None
    lo = torch.tensor([float(space[n].low) for n in names], dtype=torch.float64)
    hi = torch.tensor([float(space[n].high) for n in names], dtype=torch.float64)
    z0 = ((torch.tensor([float(start.get(n, cont[n])) for n in names], dtype=torch.float64) - lo) / (hi - lo))
    u = torch.logit(z0.clamp(1e-3, 1 - 1e-3)).requires_grad_(True)
    turn = quarter_turns * math.pi / 2
    rz = pose_matrix(torch.tensor([turn], dtype=torch.float64), torch.zeros((1, 3), dtype=torch.float64))[0]
    world = torch.tensor(truth["pose"]["world_from_object"], dtype=torch.float64) @ rz
    tv, tt = torch.as_tensor(true_mesh[0], dtype=torch.float64), torch.as_tensor(true_mesh[1], dtype=torch.long)
    pts = sample_surface(tv[None], tt, 2000, 0).points[0]
    local = (pts - world[:3, 3]) @ world[:3, :3]  # the true surface in the turned program frame
    to_true = PointsToMesh(local)
    true_local = ((tv - world[:3, 3]) @ world[:3, :3])[tt][None]  # (1, T, 3, 3)
    opt = torch.optim.Adam([u], lr=0.05)
    converged_m = tolerance_cm / 100 / 60

    def as_batch(v: Any) -> torch.Tensor:
        return v.reshape(1) if torch.is_tensor(v) else torch.tensor([v if isinstance(v, (list, tuple)) else float(v)],
                                                                  dtype=torch.float64)

    def mesh(values_z):
        values = {**cont, **{n: lo[i] + (hi[i] - lo[i]) * values_z[i] for i, n in enumerate(names)}}
        batch = module.program(disc, {k: as_batch(v) for k, v in values.items()})
        return batch.verts.double(), batch.triangles()

    for step in range(steps):
        opt.param_groups[0]["lr"] = 0.002 + 0.048 * 0.5 * (1 + math.cos(math.pi * step / steps))
        v, tri = mesh(torch.sigmoid(u))
        near = to_true(v[:, tri]).clamp_min(0).add(1e-12).sqrt().mean()
        s = sample_surface(v, tri, 1000, 0).points[0]
        back = PointsToMesh(s)(true_local).clamp_min(0).add(1e-12).sqrt().mean()
        loss = near + back
        if step % 10 == 0 and float(loss.detach()) < converged_m:
            break  # reproduces the true mesh already: more steps only polish below the tolerance
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        z = torch.sigmoid(u)
        v, tri = mesh(z)
        posed = apply_pose(v, world[None])[0]
        cham = chamfer_cm(posed, tri, tv, tt)
    if cham > tolerance_cm:
        return None
    values = {**cont, **{n: float(lo[i] + (hi[i] - lo[i]) * z[i]) for i, n in enumerate(names)}}
    return {"continuous": values, "yaw": float(truth["pose"]["yaw"]) + turn, "chamfer_cm": cham}


def truth_objective(module: ModuleType, space: ParameterSpace, observations: Observations, truth: dict, steps: int = 60) -> float:
    """The fitting objective at the truth: the true configuration and pose, refined for ``steps`` Adam
    steps from the true values (the noise moves the optimum a little), under the finer objective that
    makes a search's final decision (the one its result's objective is measured in). A fit that ends above it
    missed a better answer the objective knew about (a search miss); one that ends at or below it
    found something the objective cannot tell from the truth at this noise (not identifiable)."""
    problem = FitProblem(module, space, clean_observations(observations), ProblemConfig())
    values = {**truth["parameters"]["discrete"], **truth["parameters"]["continuous"]}
    config, state = problem.candidate_at(values, truth["pose"]["world_from_object"])
    return problem.refine([RefineRequest(config, state, steps)], fine=True)[0].objective


def recovery_metrics(space: ParameterSpace, truth: dict, result: FitResult, true_mesh: tuple[Any, Any] | None = None,
                     module: Any = None) -> dict:
    """Compare a fit with the ground truth of a synthetic scan.

    With ``module`` (the compiled program) and ``true_mesh``, the continuous values and the yaw are
    compared with the description of the true object nearest the fit
    (:func:`equivalent_description`, at the quarter turn nearest the fit's yaw) when it reproduces
    the true mesh: a parameter that does not change the shape where the truth has it (a pedestal
    foot radius capped by the table top's size) cannot be recovered by anyone and counts as
    recovered, and a symmetric object found turned is compared at that turn. Otherwise, and
    always for the discrete values, the truth's own values count.

    Args:
        space: the program's :class:`translator.params.ParameterSpace`.
        truth: the scan's ``ground_truth.json`` contents.
        result: a :class:`backend.fit.FitResult` (``mesh`` in world coordinates).
        true_mesh: ``(verts (V, 3), triangles (T, 3))`` of the true object in world coordinates.
        module: the compiled program (for equivalent descriptions).

    Returns:
        ``discrete_correct``, ``discrete_total``, ``discrete_wrong`` (names), ``continuous_errors_cm``
        ({name: |fit - true| in cm} over active DISTANCE parameters), ``continuous_mae_cm`` (None
        without any), ``yaw_error_deg``, ``chamfer_cm`` (None without ``true_mesh``),
        ``equivalent`` (the quarter turns of the nearest description used, None when the truth's
        own values were) and ``compared_with`` (the continuous values the fit was compared with).
    """
    disc = truth["parameters"]["discrete"]
    cont = truth["parameters"]["continuous"]
    true_yaw = float(truth["pose"]["yaw"])
    turns = round(math.remainder(float(result.yaw) - true_yaw, 2 * math.pi) / (math.pi / 2)) % 4
    equivalent = None
    if module is not None and true_mesh is not None:
        alt = equivalent_description(module, space, truth, turns, result.continuous, true_mesh)
        if alt is not None:
            cont, true_yaw, equivalent = alt["continuous"], alt["yaw"], turns
    active = [p for p in space if p.active_when.holds(disc)]
    wrong, total = [], 0
    for p in active:
        if p.kind != "discrete":
            continue
        total += 1
        if result.discrete.get(p.name) != disc[p.name]:
            wrong.append(p.name)
    errors = {}
    for p in active:
        if p.kind == "continuous" and p.type == "VALUE" and p.subtype == "DISTANCE" and p.name in cont:
            errors[p.name] = 100.0 * abs(float(result.continuous[p.name]) - float(cont[p.name]))
    yaw = abs(math.degrees(math.remainder(float(result.yaw) - true_yaw, 2 * math.pi)))
    chamfer = None
    if true_mesh is not None and result.mesh is not None:
        chamfer = chamfer_cm(result.mesh.verts[0].detach(), result.mesh.triangles(), *true_mesh)
    return {
        "discrete_correct": total - len(wrong),
        "discrete_total": total,
        "discrete_wrong": wrong,
        "continuous_errors_cm": errors,
        "continuous_mae_cm": statistics.fmean(errors.values()) if errors else None,
        "yaw_error_deg": yaw,
        "chamfer_cm": chamfer,
        "equivalent": equivalent,
        "compared_with": dict(cont),
    }
