"""``shapeprog bench fit``: how well the search methods recover programs from synthetic scans.

For every program of the library (or ``--programs``), ``--targets`` seeded
synthetic RGB-D scans are drawn with :func:`backend.synth.synthesize`
(random parameters and pose, ScanNet-like depth noise, hand-held views that
cover part of the object) and each is fitted with each method under the same
time budget. Per program and method it prints:

* discrete accuracy (%): discrete parameters active in the true configuration
  that were recovered exactly (``exact``: objects with all of them right);
* continuous error (cm): mean absolute error of the length parameters
  (subtype DISTANCE) active in the true configuration;
* yaw error (deg): the angle difference wrapped to [0, 180].

Continuous values and yaw are compared with the description of the true
object nearest the fit (:func:`equivalent_description`): a program can draw
one shape with several values (a parameter capped by another one; an oval
table turned by 90 degrees with width and depth swapped is the same table).
The line of an object says when the truth's own values were used instead (no
nearby description reproduces the true mesh) or when it was turned; the
discrete values are always compared with the truth's.

* Chamfer distance (cm) between the fitted and the true mesh: the mean of
  both directions of the exact point-to-surface distance from 4000
  area-weighted surface samples;
* the median wall time per object.

The last line summarises the best method (by mean discrete accuracy).
:func:`recovery_metrics` is shared with ``shapeprog demo``.
"""

from __future__ import annotations

import json
import math
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..cli import Command, UserError

__all__ = ["FitBenchConfig", "chamfer_cm", "equivalent_description", "library_programs", "recovery_metrics", "run"]

LIBRARY = ("chair", "table", "sofa", "cabinet", "bed", "bookshelf")


def library_programs() -> Path:
    """The folder of the project's own programs (``sample_scenes/programs``)."""
    return Path(__file__).resolve().parents[2] / "sample_scenes" / "programs"


@dataclass
class FitBenchConfig:
    programs: str = ",".join(LIBRARY)
    """Comma-separated program names of the library (sample_scenes/programs/NAME.json) or .json paths."""
    targets: int = 3
    """Synthetic scans per program."""
    methods: str = "mcts,ga,cd"
    """Comma-separated search methods to compare."""
    budget: float = 60.0
    """Time budget per object and method, in seconds."""
    seed: int = 0
    """Seed of the targets (and of the searches)."""
    views: int = 6
    """RGB-D frames per synthetic scan."""
    occluders: int = 0
    """Box occluders per synthetic scan."""
    facing: float = 45.0
    """The synthetic scans' arcs of views are centred within this many degrees of the object's front
    (180: anywhere around it, so some scans never see the front and its parts cannot be recovered)."""
    noise: str = "scannet"
    """Depth noise of the synthetic scans: scannet or none."""
    threads: int = 1
    """torch CPU threads per fit (one is fastest for these small tensors on a shared machine)."""
    jobs: int = 1
    """Fits run at the same time, each in its own process (at most the number of free CPU cores, or
    the fits' time budgets buy less)."""
    output: str | None = None
    """Also write every per-object record as JSON to this file."""
    keep: str | None = None
    """Keep the synthetic scans in this folder (default: a temporary folder)."""
    diagnose: bool = True
    """For every object with a wrong discrete value or a continuous error above --tolerance-cm, also
    refine the truth and compare objectives: a "search" miss (the truth scores better) or "not
    identifiable" (the fit scores as well as the truth at this noise)."""
    tolerance_cm: float = 1.5
    """Continuous error (cm) above which an object counts as missed (for --diagnose and the summary)."""


# ---------------------------------------------------------------------------
# metrics


def _area_samples(verts: Any, tris: Any, n: int, seed: int):
    import torch

    v = torch.as_tensor(verts, dtype=torch.float64)
    t = torch.as_tensor(tris, dtype=torch.long)
    tv = v[t]
    area = torch.linalg.cross(tv[:, 1] - tv[:, 0], tv[:, 2] - tv[:, 0], dim=-1).norm(dim=-1)
    gen = torch.Generator().manual_seed(seed)
    idx = torch.multinomial(area / area.sum(), n, replacement=True, generator=gen)
    r = torch.rand(n, 2, generator=gen, dtype=torch.float64)
    s = r[:, 0].sqrt()
    w = torch.stack([1 - s, s * (1 - r[:, 1]), s * r[:, 1]], -1)
    return (w[:, :, None] * tv[idx]).sum(1), tv


def chamfer_cm(verts_a: Any, tris_a: Any, verts_b: Any, tris_b: Any, samples: int = 4000, seed: int = 0) -> float:
    """Symmetric Chamfer distance in cm between two triangle meshes (metres): the mean of the two
    directions' mean exact distance from area-weighted surface samples to the other surface."""
    from ..objective import ScanToMesh

    out = []
    for (va, ta), (vb, tb) in (((verts_a, tris_a), (verts_b, tris_b)), ((verts_b, tris_b), (verts_a, tris_a))):
        pts, _ = _area_samples(va, ta, samples, seed)
        _, tv = _area_samples(vb, tb, 1, seed)
        d2 = ScanToMesh(pts)(tv[None])
        out.append(float(d2.clamp_min(0).sqrt().mean()))
    return 100.0 * 0.5 * (out[0] + out[1])


def equivalent_description(module: Any, space: Any, truth: dict, quarter_turns: int, start: dict[str, Any],
                           true_mesh: tuple[Any, Any], tolerance_cm: float = 0.3, steps: int = 300) -> dict | None:
    """Another description of the true object, turned by ``quarter_turns`` x 90 degrees, if there is one.

    A program can draw one shape in several ways: an oval table turned by 90 degrees about its
    origin with width and depth swapped is the same table. This searches for such a description:
    the true discrete values, the true pose turned by ``quarter_turns * 90`` degrees about the
    program's origin, and the continuous values (Adam in the ranges' logit space, from ``start``)
    that reproduce the true mesh (exact distances both ways, ``steps`` steps). It counts when its Chamfer distance
    to the true mesh is below ``tolerance_cm``.

    Returns:
        ``{"continuous": {name: value}, "yaw": radians, "chamfer_cm": float}``, or None.
    """
    import torch

    from ..losses import sample_surface
    from ..objective import ScanToMesh
    from ..problem import apply_pose, pose_matrix

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
    to_true = ScanToMesh(local)
    true_local = ((tv - world[:3, 3]) @ world[:3, :3])[tt][None]  # (1, T, 3, 3)
    opt = torch.optim.Adam([u], lr=0.05)

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
        back = ScanToMesh(s)(true_local).clamp_min(0).add(1e-12).sqrt().mean()
        opt.zero_grad()
        (near + back).backward()
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


def truth_objective(module: Any, space: Any, observations: Any, truth: dict, steps: int = 60) -> float:
    """The fitting objective at the truth: the true configuration and pose, refined for ``steps`` Adam
    steps from the true values (the noise moves the optimum a little), under the finer objective that
    makes a search's final decision (the one its result's objective is measured in). A fit that ends above it
    missed a better answer the objective knew about (a search miss); one that ends at or below it
    found something the objective cannot tell from the truth at this noise (not identifiable)."""

    from ..fit import clean_observations
    from ..problem import FitProblem, ProblemConfig
    from ..search.base import RefineRequest

    problem = FitProblem(module, space, clean_observations(observations), ProblemConfig())
    values = {**truth["parameters"]["discrete"], **truth["parameters"]["continuous"]}
    config, state = problem.candidate_at(values, truth["pose"]["world_from_object"])
    return problem.refine([RefineRequest(config, state, steps)], fine=True)[0].objective


def recovery_metrics(space: Any, truth: dict, result: Any, true_mesh: tuple[Any, Any] | None = None,
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


# ---------------------------------------------------------------------------
# the benchmark


def _program_path(name: str) -> Path:
    p = Path(name)
    if p.suffix.lower() in (".json", ".blend"):
        if not p.is_file():
            raise UserError(f"{p}: no such program")
        return p
    p = library_programs() / f"{name}.json"
    if not p.is_file():
        have = ", ".join(sorted(q.stem for q in library_programs().glob("*.json")))
        raise UserError(f"unknown program '{name}' (the library has: {have})")
    return p


def _split(text: str, what: str) -> list[str]:
    items = [s.strip() for s in text.split(",") if s.strip()]
    if not items:
        raise UserError(f"--{what}: give at least one")
    return items


def _summary(records: list[dict]) -> dict:
    correct = sum(r["discrete_correct"] for r in records)
    total = sum(r["discrete_total"] for r in records)
    errs = [e for r in records for e in r["continuous_errors_cm"].values()]
    cham = [r["chamfer_cm"] for r in records if r["chamfer_cm"] is not None]
    return {
        "accuracy": 100.0 * correct / total if total else float("nan"),
        "exact": 100.0 * sum(r["discrete_correct"] == r["discrete_total"] for r in records) / len(records),
        "mae_cm": statistics.fmean(errs) if errs else float("nan"),
        "yaw_deg": statistics.fmean(r["yaw_error_deg"] for r in records),
        "chamfer_cm": statistics.fmean(cham) if cham else float("nan"),
        "time_s": statistics.median(r["seconds"] for r in records),
    }


def _fit_one(path: str, folder: str, method: str, cfg: FitBenchConfig) -> dict:
    """Fit one synthetic target with one method and measure it (runs in a worker with ``--jobs``)."""
    import torch

    from translator.codegen import compile_program
    from translator.loading import load_any
    from translator.params import parameter_space

    from ..fit import FitConfig, fit
    from ..scans import load_ply, load_scan

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    program = load_any(path)
    space = parameter_space(program)
    module = compile_program(program)
    truth = json.loads((Path(folder) / "ground_truth.json").read_text())
    obs = load_scan(folder, instance_id=truth["object_instance_id"])
    true_mesh = load_ply(Path(folder) / "object_mesh.ply")
    t0 = time.perf_counter()
    result = fit(program, obs, FitConfig(method=method, budget=cfg.budget, seed=cfg.seed), space=space, module=module)
    seconds = time.perf_counter() - t0
    m = recovery_metrics(space, truth, result, (true_mesh.points, true_mesh.faces), module)
    rec = {"method": method, "seconds": seconds, "objective": result.objective, **m}
    if cfg.diagnose and (m["discrete_wrong"] or (m["continuous_mae_cm"] or 0.0) > cfg.tolerance_cm):
        rec["truth_objective"] = truth_objective(module, space, obs, truth)
        rec["miss"] = "search" if result.objective > rec["truth_objective"] * (1 + 1e-3) else "not identifiable"
    return rec


def _line(rec: dict) -> str:
    mae = rec["continuous_mae_cm"]
    notes = f" (vs the truth turned {90 * rec['equivalent']} deg: symmetric)" if rec["equivalent"] else ""
    notes += "" if rec["equivalent"] is not None else " (vs the truth's own values)"
    if "miss" in rec:
        notes += f" [{rec['miss']}: objective {rec['objective']:.4g}, at the truth {rec['truth_objective']:.4g}]"
    wrong = " wrong " + ", ".join(rec["discrete_wrong"]) if rec["discrete_wrong"] else ""
    return (f"  {rec['program']} #{rec['target']} {rec['method']:>4}: discrete {rec['discrete_correct']}/{rec['discrete_total']}"
            f"{wrong}, continuous {'n/a' if mae is None else f'{mae:.2f} cm'}, yaw {rec['yaw_error_deg']:.1f} deg{notes}, "
            f"chamfer {rec['chamfer_cm']:.2f} cm, {rec['seconds']:.1f} s")


def run(cfg: FitBenchConfig) -> int:
    from concurrent.futures import ProcessPoolExecutor

    import torch
    from rich.console import Console
    from rich.table import Table

    from ..fit import METHODS
    from ..synth import CaptureSettings, NoiseSettings, load_shape_program, synthesize

    programs = _split(cfg.programs, "programs")
    methods = _split(cfg.methods, "methods")
    for m in methods:
        if m not in METHODS:
            raise UserError(f"--methods: unknown method '{m}' (choose from {', '.join(METHODS)})")
    if cfg.targets < 1:
        raise UserError("--targets must be at least 1")
    if cfg.jobs < 1:
        raise UserError("--jobs must be at least 1")
    if not (cfg.budget > 0 and math.isfinite(cfg.budget)):
        raise UserError(f"--budget must be a positive number of seconds, got {cfg.budget}")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    console = Console()
    paths = {name: _program_path(name) for name in programs}
    records: list[dict] = []
    tmp = tempfile.TemporaryDirectory() if cfg.keep is None else None
    root = Path(cfg.keep or tmp.name)
    console.print(f"bench fit: {len(programs)} programs x {cfg.targets} targets x {len(methods)} methods, "
                  f"budget {cfg.budget:g} s, seed {cfg.seed}, noise {cfg.noise}, {cfg.views} views, "
                  f"torch threads {torch.get_num_threads()}, {cfg.jobs} fit(s) at a time")
    try:
        tasks = []
        for name, path in paths.items():
            shape = load_shape_program(path)
            for i in range(cfg.targets):
                seed = cfg.seed * 10007 + i
                folder = root / f"{Path(name).stem}_{i}"
                synthesize(shape, folder, seed, noise=NoiseSettings(kind=cfg.noise),
                           capture=CaptureSettings(views=cfg.views, occluders=cfg.occluders, facing_deg=cfg.facing))
                info = {"program": Path(name).stem, "target": i, "seed": seed}
                tasks += [(info, str(path), str(folder), method) for method in methods]
        if cfg.jobs == 1:
            for info, path, folder, method in tasks:
                records.append({**info, **_fit_one(path, folder, method, cfg)})
                console.print(_line(records[-1]), soft_wrap=True, markup=False)
        else:
            with ProcessPoolExecutor(cfg.jobs) as pool:
                futures = [(info, pool.submit(_fit_one, path, folder, method, cfg)) for info, path, folder, method in tasks]
                for info, future in futures:
                    records.append({**info, **future.result()})
                    console.print(_line(records[-1]), soft_wrap=True, markup=False)
    finally:
        if tmp is not None:
            tmp.cleanup()
    if cfg.output:
        Path(cfg.output).write_text(json.dumps(records, indent=1) + "\n")

    table = Table(title=f"recovery from synthetic scans ({cfg.targets} targets per program, {cfg.budget:g} s per object)")
    for col in ("program", "method", "discrete acc %", "exact %", "cont. MAE cm", "yaw err deg", "chamfer cm", "median s"):
        table.add_column(col, justify="left" if col in ("program", "method") else "right")
    per: dict[str, dict[str, dict]] = {}
    for name in (Path(p).stem for p in programs):
        for method in methods:
            rs = [r for r in records if r["program"] == name and r["method"] == method]
            s = per.setdefault(method, {})[name] = _summary(rs)
            table.add_row(name, method, f"{s['accuracy']:.1f}", f"{s['exact']:.0f}", f"{s['mae_cm']:.2f}",
                          f"{s['yaw_deg']:.1f}", f"{s['chamfer_cm']:.2f}", f"{s['time_s']:.1f}")
    console.print(table)
    for method in methods:
        rs = [r for r in records if r["method"] == method]
        kinds = [r.get("miss") for r in rs if "miss" in r]
        if kinds:
            console.print(f"{method}: {len(kinds)} of {len(rs)} objects missed (a wrong discrete value or > "
                          f"{cfg.tolerance_cm:g} cm): {kinds.count('search')} search misses (the truth scores better), "
                          f"{kinds.count('not identifiable')} not identifiable (the fit scores as well as the truth)", soft_wrap=True)
    overall = {m: _summary([r for r in records if r["method"] == m]) for m in methods}
    best = max(methods, key=lambda m: (overall[m]["accuracy"], -overall[m]["mae_cm"]))
    worst_acc = min(per[best][p]["accuracy"] for p in per[best])
    worst_mae = max(per[best][p]["mae_cm"] for p in per[best])
    line = (f"best={best} discrete_accuracy={overall[best]['accuracy']:.1f}% (lowest program {worst_acc:.1f}%) "
            f"continuous_mae={overall[best]['mae_cm']:.2f}cm (highest program {worst_mae:.2f}cm)")
    if "cd" in methods and best != "cd":
        beats = sum(per[best][p]["accuracy"] > per["cd"][p]["accuracy"] or (
            per[best][p]["accuracy"] == per["cd"][p]["accuracy"] and per[best][p]["mae_cm"] < per["cd"][p]["mae_cm"])
            for p in per[best])
        line += f" beats_cd_on={beats}/{len(per[best])}"
    print(line)
    return 0


BENCHMARK = Command(name="fit", help="recovery accuracy of the search methods on seeded synthetic scans",
                    config=FitBenchConfig, run=run)
