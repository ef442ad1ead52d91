"""Fit a program to one object's observations: program + scan -> :class:`~backend.fit.result.FitResult`.

``fit(...)`` checks the inputs once, builds the :class:`~backend.problem.FitProblem`, runs the
chosen search (mcts, ga, cd or exhaustive) within the budget, reports progress through one
callback, and returns the recovered discrete and continuous values, the pose (program frame ->
world), per-term losses, timings, the config it ran with and where its inputs came from.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from types import ModuleType
from typing import Any

import torch

from translator.codegen import compile_program
from translator.ir import Program, ProgramError, program_hash
from translator.params import ParameterSpace, check_values, parameter_space

from ..object_frame import clean_observations
from ..ops.pose import apply_pose
from ..problem import FitProblem, ProblemConfig
from ..search import METHODS
from ..search.base import POSE, Budget, Candidate, RefineRequest, SearchContext, StopFlag
from ..structures import Observations
from .config import FitConfig
from .result import FitError, FitInterrupted, FitResult, software_versions

__all__ = ["MIN_BUDGET_S", "CheckedInputs", "check_inputs", "fit", "scan_hash", "subsample"]

MIN_BUDGET_S = 2.0
"""The shortest budget a fit accepts (seconds)."""


@dataclass
class CheckedInputs:
    """The fit's inputs after :func:`check_inputs`: validated values and what to warn about."""

    locks: dict[str, Any]
    """Locked parameter values, checked against the parameter space."""
    init: dict[str, Any] | None
    """Warm-start values (the program's parameters only), checked; None without a warm start."""
    warnings: list[str]


def check_inputs(space: ParameterSpace, observations: Observations, cfg: FitConfig) -> CheckedInputs:
    """Refuse inputs the fit cannot handle (:class:`FitError`, one line); returns the checked values and
    warnings for inputs it can handle but should mention."""
    if cfg.method not in METHODS:
        raise FitError(f"unknown method {cfg.method!r} (choose from {', '.join(METHODS)})")
    if cfg.device.startswith("cuda") and not torch.cuda.is_available():
        raise FitError("--device cuda asked for, but no CUDA device is available")
    n = int(observations.points.shape[0])
    if n < cfg.min_points:
        raise FitError(f"{observations.source}: only {n} points; at least {cfg.min_points} are needed to fit")
    try:
        locks = check_values(space, cfg.locks, where="--lock")
        names = {p.name for p in space}
        init = None if not cfg.init else check_values(space, {k: v for k, v in cfg.init.items() if k in names},
                                                       where="--init")
    except ProgramError as exc:
        raise FitError(str(exc)) from None
    free = [p for p in space if p.name not in locks]
    if not free:
        raise FitError("every parameter is locked: nothing to fit (unlock one, or use `shapeprog edit`)")
    warnings = [f"parameter '{p.name}' has no finite range; searching around its default"
                for p in space.continuous if p.low is None]
    # size sanity: the scan's extent against the largest object the ranges allow
    ext = observations.frame.extents
    scan_size = float(max(ext[0], ext[1], ext[2]))
    biggest = _max_extent(space)
    if biggest is not None and scan_size > 3.0 * biggest:
        raise FitError(f"{observations.source}: the scan is {scan_size:.2f} m across, far larger than this program "
                       f"can be within its parameter ranges (at most about {biggest:.2f} m); wrong object or crop?")
    if biggest is not None and scan_size < biggest / 50.0:
        raise FitError(f"{observations.source}: the scan is only {scan_size * 100:.1f} cm across, far smaller than "
                       f"this program (about {biggest:.2f} m at its largest); wrong units or crop?")
    return CheckedInputs(locks, init, warnings)


def _max_extent(space: ParameterSpace) -> float | None:
    highs = [float(p.high) for p in space.continuous if p.type == "VALUE" and p.high is not None and p.subtype in
             ("DISTANCE", "NONE") and p.high > 0]
    return max(highs) if highs else None


def scan_hash(observations: Observations) -> str:
    """SHA-256 (hex) of what the fit sees of a scan: its points and, with frames, their depth, masks and
    camera poses."""
    h = hashlib.sha256()
    tensors = [observations.points]
    if observations.frames is not None:
        f = observations.frames
        tensors += [f.depth, f.cameras.intrinsics, f.cameras.cam_to_world] + ([f.masks] if f.masks is not None else [])
    for t in tensors:
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def subsample(observations: Observations, max_points: int, seed: int = 0) -> Observations:
    """The observations with at most ``max_points`` of their points (a seeded random subset, colors and
    normals alike; frames and the object frame unchanged)."""
    n = int(observations.points.shape[0])
    if n <= max_points:
        return observations
    keep = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:max_points].sort().values
    sub = {k: getattr(observations, k)[keep] for k in ("points", "colors", "normals") if getattr(observations, k) is not None}
    return replace(observations, **sub)


def fit(program: Program, observations: Observations, cfg: FitConfig | None = None, *,
        space: ParameterSpace | None = None, progress: Callable[[dict], None] | None = None,
        module: ModuleType | None = None, stop: StopFlag | None = None) -> FitResult:
    """Fit ``program`` to ``observations`` under ``cfg`` (default :class:`FitConfig`).

    ``space`` and ``module`` (the compiled program) are built from ``program`` unless given;
    ``progress`` receives a dict after every search step (method, step, elapsed, fraction, best
    objective, evaluations). The budget counts from this call on, setting up included, and every
    phase ends at its deadline. ``stop`` (anything with ``is_set()``: a :class:`threading.Event` set
    by a signal handler, a job's cancel) ends the search at its next step: the result is the best
    candidate so far, with ``status`` ``"interrupted"``; :class:`FitInterrupted` when none exists yet.
    """
    cfg = cfg or FitConfig()
    t0, cpu0 = time.perf_counter(), time.process_time()
    if not (isinstance(cfg.budget, (int, float)) and math.isfinite(cfg.budget) and cfg.budget >= MIN_BUDGET_S):
        raise FitError(f"the budget must be a number of seconds >= {MIN_BUDGET_S:g} (a shorter one cannot refine "
                       f"even the first candidates), got {cfg.budget}")
    budget = Budget(cfg.budget, cfg.max_evaluations, stop)
    space = space or parameter_space(program)
    provenance = {"program_sha256": program_hash(program), "scan_sha256": scan_hash(observations),
                  "software": software_versions()}
    observations = clean_observations(subsample(observations, cfg.max_scan_points, cfg.seed))
    checked = check_inputs(space, observations, cfg)
    module = module or compile_program(program)
    pcfg = ProblemConfig(objective=cfg.objective, refine=replace(cfg.refine, optimize_scale=cfg.scale_slack > 0),
                         locks=checked.locks, device=cfg.device, scale_slack=cfg.scale_slack)
    problem = FitProblem(module, space, observations, pcfg, generator_seed=cfg.seed)
    ctx = SearchContext(problem, cfg.search, budget, cfg.seed, progress, cfg.method)
    setup_s = time.perf_counter() - t0
    if budget.stopped:
        raise FitInterrupted("interrupted while setting up, before any candidate was evaluated")
    if checked.init is not None:
        config, state = problem.candidate_at(checked.init, cfg.init_pose)
        ctx.evaluate([RefineRequest(config, state, ctx.config.refine_steps)], phase="warm start")
    best = METHODS[cfg.method].run(ctx)
    timings = {"search_s": time.perf_counter() - t0, "search_cpu_s": time.process_time() - cpu0, "setup_s": setup_s,
               **{f"phase_{phase.replace(' ', '_')}_s": s for phase, s in ctx.phase_seconds.items()}}
    return _result(problem, best, cfg, ctx, program, timings, checked.warnings, provenance)


def _result(problem: FitProblem, best: Candidate, cfg: FitConfig, ctx: SearchContext, program: Program,
            timings: dict[str, float], warnings: list[str], provenance: dict[str, Any]) -> FitResult:
    pose = problem.world_pose(best.state)
    mesh = problem.mesh(best.config, best.state.z.unsqueeze(0))
    world_mesh = replace(mesh, verts=apply_pose(mesh.verts.double(), pose.unsqueeze(0)).float())
    return FitResult(
        program=program.path or program.source,
        method=cfg.method,
        seed=cfg.seed,
        discrete={k: v for k, v in best.config.items() if k != POSE},
        continuous=problem.state_values(best.state),
        world_from_program=pose.tolist(),
        yaw=math.atan2(float(pose[1, 0]), float(pose[0, 0])),
        translation=[float(x) for x in pose[:3, 3]],
        scale=float(math.exp(best.state.log_scale)),
        objective=best.objective,
        terms=dict(best.terms),
        timings=timings,
        evaluations=ctx.budget.evaluations,
        history=[[round(a, 4), b, phase] for a, b, phase in ctx.history],
        config=cfg,
        status="interrupted" if ctx.budget.stopped else "succeeded",
        provenance=provenance,
        warnings=warnings,
        mesh=world_mesh,
    )
