"""Fit a program to one object's observations: program + scan -> :class:`FitResult`.

``fit(...)`` builds the :class:`~backend.problem.FitProblem`, runs the chosen
search (mcts, ga, cd or exhaustive) within the budget, reports progress
through one callback, and returns the recovered discrete and continuous
values, the pose (program frame -> world), per-term losses and timings.
:func:`write_outputs` writes ``result.json``, the fitted mesh (.ply, .obj),
a ``.blend`` with the modifier and transform set (when bpy is installed and
the program's .blend is known) and ``report.png``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from translator import __version__
from translator.codegen import compile_program
from translator.ir import Program, ProgramError
from translator.params import ParameterSpace, check_values, parameter_space

from .problem import FitProblem, ProblemConfig, apply_pose
from .search.base import POSE, Candidate, SearchContext
from .search.refine import RefineSettings

__all__ = ["METHODS", "FitConfig", "FitError", "FitResult", "clean_observations", "fit", "load_result", "write_outputs"]

METHODS = ("mcts", "ga", "cd", "exhaustive")


class FitError(ValueError):
    """The fit cannot run on these inputs (one line saying why)."""


@dataclass
class FitConfig:
    method: str = "mcts"
    """Search method: mcts (the paper's), ga (genetic), cd (coordinate-descent baseline) or exhaustive."""
    budget: float = 60.0
    """Time budget in seconds, the final refinement included."""
    seed: int = 0
    """Random seed (results are reproducible for a seed on one machine)."""
    device: str = "cpu"
    """Torch device: cpu or cuda."""
    locks: dict[str, Any] = field(default_factory=dict)
    """Parameter values to keep fixed (name -> value)."""
    init: dict[str, Any] | None = None
    """Warm start: parameter values (and optionally a world pose) from an earlier result."""
    init_pose: list | None = None
    """Warm start world_from_program 4x4 (from an earlier result)."""
    scale_slack: float = 0.0
    """Allowed uniform scale deviation (e.g. 0.05); 0 keeps the program's metric size."""
    min_points: int = 50
    """Refuse scans with fewer points than this."""
    max_evaluations: int | None = None
    """Also stop after this many objective evaluations (candidates x Adam steps). When this, not the
    time budget, ends the search, a seed gives the same result on any machine."""
    search_options: dict[str, Any] = field(default_factory=dict)
    """Settings of the search method's config (e.g. ``{"refine_steps": 8, "pilot_steps": 10}``; see
    :mod:`backend.search`)."""


@dataclass
class FitResult:
    program: str
    method: str
    seed: int
    discrete: dict[str, Any]
    continuous: dict[str, Any]
    world_from_program: list[list[float]]
    yaw: float
    translation: list[float]
    scale: float
    objective: float
    terms: dict[str, float]
    timings: dict[str, float]
    evaluations: int
    history: list[list]
    """``[seconds, best objective, phase]`` over the search: phase "search", or "final" for the final
    refinement under the finer objective (another scale)."""
    version: str = __version__
    warnings: list[str] = field(default_factory=list)
    mesh: Any = field(default=None, repr=False)  # MeshBatch in world coordinates (not serialised)

    @property
    def values(self) -> dict[str, Any]:
        return {**self.discrete, **self.continuous}

    def to_json(self) -> dict:
        d = asdict(self)
        d.pop("mesh")
        d["software"] = {"shapeprog": self.version, "torch": torch.__version__}
        return d


def load_result(path: str | Path) -> dict:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise FitError(f"{path}: no such file") from None
    except json.JSONDecodeError as exc:
        raise FitError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(data, dict) or "discrete" not in data or "continuous" not in data:
        raise FitError(f"{path}: not a ShapeProg result.json (no 'discrete'/'continuous')")
    return data


def _search_config(cfg: FitConfig):
    from .search.coordinate_descent import CDConfig
    from .search.exhaustive import ExhaustiveConfig
    from .search.genetic import GAConfig
    from .search.mcts import MCTSConfig

    cls = {"mcts": MCTSConfig, "ga": GAConfig, "cd": CDConfig, "exhaustive": ExhaustiveConfig}[cfg.method]
    known = {f.name for f in fields(cls)} - {"budget_seconds", "seed", "max_evaluations"}
    unknown = sorted(set(cfg.search_options) - known)
    if unknown:
        raise FitError(f"{cfg.method} has no setting {', '.join(map(repr, unknown))} (it has {', '.join(sorted(known))})")
    return cls(budget_seconds=cfg.budget, seed=cfg.seed, max_evaluations=cfg.max_evaluations, **cfg.search_options)


def _runner(method: str) -> Callable[[SearchContext], Candidate]:
    from .search.coordinate_descent import run_cd
    from .search.exhaustive import run_exhaustive
    from .search.genetic import run_ga
    from .search.mcts import run_mcts

    return {"mcts": run_mcts, "ga": run_ga, "cd": run_cd, "exhaustive": run_exhaustive}[method]


def check_inputs(space: ParameterSpace, observations: Any, cfg: FitConfig) -> list[str]:
    """Refuse inputs the fit cannot handle; returns warnings for ones it can but should mention."""
    if cfg.method not in METHODS:
        raise FitError(f"unknown method {cfg.method!r} (choose from {', '.join(METHODS)})")
    if not (isinstance(cfg.budget, (int, float)) and math.isfinite(cfg.budget) and cfg.budget > 0):
        raise FitError(f"the budget must be a positive number of seconds, got {cfg.budget}")
    if cfg.device.startswith("cuda") and not torch.cuda.is_available():
        raise FitError("--device cuda asked for, but no CUDA device is available")
    n = int(observations.points.shape[0])
    if n < cfg.min_points:
        raise FitError(f"{observations.source}: only {n} points; at least {cfg.min_points} are needed to fit")
    try:
        locks = check_values(space, cfg.locks, where="--lock")
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
    return warnings


def _max_extent(space: ParameterSpace) -> float | None:
    highs = [float(p.high) for p in space.continuous if p.type == "VALUE" and p.high is not None and p.subtype in
             ("DISTANCE", "NONE") and p.high > 0]
    return max(highs) if highs else None


def clean_observations(observations: Any) -> Any:
    """The observations without stray points (:func:`backend.objective.clean_points`), with the object
    frame recomputed from the rest (a given floor height and yaw are kept)."""
    from dataclasses import replace

    from .objective import clean_points
    from .scans import lowest_z, object_frame

    pts = observations.points
    keep = clean_points(pts)
    if int(keep.sum()) < 8:
        keep = torch.ones(len(pts), dtype=torch.bool)
    frame = observations.frame
    floor = frame.floor_z
    if abs(frame.floor_z - lowest_z(pts[:, 2])) < 1e-6:  # the floor came from the points: look for it
        floor = _floor_height(observations.frames, pts[keep])
    if bool(keep.all()) and floor == frame.floor_z:
        return observations
    derived = abs(math.remainder(object_frame(pts, floor_z=frame.floor_z).yaw - frame.yaw, math.pi / 2)) < 1e-6
    new_frame = object_frame(pts[keep], floor_z=floor, yaw=None if derived else frame.yaw, where=observations.source)
    sub = {k: getattr(observations, k)[keep] for k in ("colors", "normals") if getattr(observations, k) is not None}
    return replace(observations, points=pts[keep], frame=new_frame, **sub)


def _floor_height(frames: Any, points: torch.Tensor, around: float = 0.5, below: float = 0.5, bin_size: float = 0.01) -> float | None:
    """The floor under an object: the most common height (``bin_size`` bins) of the depth pixels
    outside the object's mask, within ``around`` metres of its footprint and between ``below`` metres
    under and 5 cm over its lowest point. None (the lowest point) without frames or such pixels."""
    lowest = float(points[:, 2].min())
    if frames is None or frames.masks is None:
        return None
    world, valid = frames.cameras.backproject(frames.depth)
    q = world[valid & ~frames.masks].double()
    lo, hi = points[:, :2].double().min(0).values - around, points[:, :2].double().max(0).values + around
    z = q[:, 2]
    near = ((q[:, :2] >= lo) & (q[:, :2] <= hi)).all(1) & (z >= lowest - below) & (z <= lowest + 0.05)
    z = z[near]
    if len(z) < 50:
        return None
    bins = torch.floor((z - z.min()) / bin_size).long()
    mode = int(torch.bincount(bins).argmax())
    sel = z[bins == mode]
    return float(sel.median())


def fit(program: Program, observations: Any, cfg: FitConfig | None = None, *,
        space: ParameterSpace | None = None, progress: Callable[[dict], None] | None = None,
        module: Any = None) -> FitResult:
    """Fit ``program`` to ``observations`` (a :class:`backend.scans.Observations`)."""
    cfg = cfg or FitConfig()
    import torch._dynamo  # noqa: F401  (torch.optim imports it with the first optimiser: ~1 s, kept out of the budget)

    t0 = time.perf_counter()
    space = space or parameter_space(program)
    observations = clean_observations(observations)
    warnings = check_inputs(space, observations, cfg)
    scfg = _search_config(cfg)
    locks = check_values(space, cfg.locks, where="--lock")
    module = module or compile_program(program)
    pcfg = ProblemConfig(locks=locks, device=cfg.device, scale_slack=cfg.scale_slack,
                         refine=RefineSettings(optimize_scale=cfg.scale_slack > 0))
    problem = FitProblem(module, space, observations, pcfg, generator_seed=cfg.seed)
    ctx = SearchContext(problem, scfg, progress, cfg.method)
    if cfg.init:
        _warm_start(ctx, problem, space, cfg)
    best = _runner(cfg.method)(ctx)
    t_search = time.perf_counter() - t0
    return make_result(problem, best, cfg, ctx, program, t_search, warnings)


def _warm_start(ctx: SearchContext, problem: FitProblem, space: ParameterSpace, cfg: FitConfig) -> None:
    from .search.base import RefineRequest

    values = check_values(space, {k: v for k, v in cfg.init.items() if k in {p.name for p in space}}, where="--init")
    config, state = problem.candidate_at(values, cfg.init_pose)
    ctx.evaluate([RefineRequest(config, state, ctx.config.refine_steps)])


def make_result(problem: FitProblem, best: Candidate, cfg: FitConfig, ctx: SearchContext, program: Program,
                t_search: float, warnings: list[str]) -> FitResult:
    pose = problem.world_pose(best.state)
    mesh = problem.mesh(best.config, best.state.z.unsqueeze(0))
    verts = apply_pose(mesh.verts.double(), pose.unsqueeze(0)).float()
    from dataclasses import replace

    world_mesh = replace(mesh, verts=verts)
    yaw = math.atan2(float(pose[1, 0]), float(pose[0, 0]))
    return FitResult(
        program=program.path or program.source,
        method=cfg.method,
        seed=cfg.seed,
        discrete={k: v for k, v in best.config.items() if k != POSE},
        continuous=problem.state_values(best.state),
        world_from_program=pose.tolist(),
        yaw=yaw,
        translation=[float(x) for x in pose[:3, 3]],
        scale=float(math.exp(best.state.log_scale)),
        objective=best.objective,
        terms=dict(best.terms),
        timings={"search_s": t_search},
        evaluations=ctx.budget.evaluations,
        history=[[round(a, 4), b, phase] for a, b, phase in ctx.history],
        warnings=warnings,
        mesh=world_mesh,
    )


def write_outputs(result: FitResult, out_dir: str | Path, program: Program, observations: Any = None) -> dict[str, str]:
    """Write result.json, fitted.ply, fitted.obj, fitted.blend (bpy) and report.png into ``out_dir``."""
    from translator.geometry import write_obj, write_ply

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    t0 = time.perf_counter()
    write_ply(result.mesh, out / "fitted.ply")
    write_obj(result.mesh, out / "fitted.obj")
    files["ply"], files["obj"] = str(out / "fitted.ply"), str(out / "fitted.obj")
    from .blend_output import write_fitted_blend

    blend, why = write_fitted_blend(result, program, out / "fitted.blend")
    if blend:
        files["blend"] = blend
    else:
        result.warnings.append(f"no fitted.blend: {why}")
    if observations is not None:
        from .report import write_report

        write_report(result, observations, out / "report.png")
        files["report"] = str(out / "report.png")
    result.timings["outputs_s"] = time.perf_counter() - t0
    (out / "result.json").write_text(json.dumps(result.to_json(), indent=1) + "\n")
    files["result"] = str(out / "result.json")
    return files
