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
object nearest the fit (:func:`backend.metrics.equivalent_description`): a program can draw
one shape with several values (a parameter capped by another one; an oval
table turned by 90 degrees with width and depth swapped is the same table).
The line of an object says when the truth's own values were used instead (no
nearby description reproduces the true mesh) or when it was turned; the
discrete values are always compared with the truth's.

* Chamfer distance (cm) between the fitted and the true mesh: the mean of
  both directions of the exact point-to-surface distance from 4000
  area-weighted surface samples;
* the median wall time per object;
* evaluations/s: the fit's objective evaluations (candidates x Adam steps, each with its backward) per
  second of the whole fit (``FitResult.evaluations_per_s``, also in ``result.json``), averaged; and per
  CPU second of the fit's process (``evaluations_per_cpu_s``: what an unshared core would do, on a machine
  busy with other work).

The last line summarises the best method (by mean discrete accuracy).
The metrics (:mod:`backend.metrics`) are shared with ``shapeprog demo``.
"""

from __future__ import annotations

import json
import math
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..command import Command, UserError

__all__ = ["FitBenchConfig", "run"]

LIBRARY = ("chair", "table", "sofa", "cabinet", "bed", "bookshelf")


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
    max_evaluations: int | None = None
    """Also stop each fit after this many objective evaluations (candidates x Adam steps; the fit's
    --max-evaluations). With a time budget that does not bind, runs compare the search methods and their
    settings independently of how busy the machine is."""
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
# the benchmark


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
        "evaluations_per_s": statistics.fmean(r["evaluations_per_s"] for r in records),
        "evaluations_per_cpu_s": statistics.fmean(r["evaluations_per_cpu_s"] for r in records),
    }


def _fit_one(path: str, folder: str, method: str, cfg: FitBenchConfig) -> dict:
    """Fit one synthetic target with one method and measure it (runs in a worker with ``--jobs``)."""
    import torch

    from translator.codegen import compile_program
    from translator.loading import load_any
    from translator.params import parameter_space

    from ..fit import FitConfig, fit
    from ..io import load_ply, load_scan
    from ..metrics import recovery_metrics, truth_objective

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    program = load_any(path)
    space = parameter_space(program)
    module = compile_program(program)
    truth = json.loads((Path(folder) / "ground_truth.json").read_text())
    obs = load_scan(folder, instance_id=truth["object_instance_id"])
    true_mesh = load_ply(Path(folder) / "object_mesh.ply")
    t0 = time.perf_counter()
    result = fit(program, obs, FitConfig(method=method, budget=cfg.budget, seed=cfg.seed,
                                          max_evaluations=cfg.max_evaluations), space=space, module=module)
    seconds = time.perf_counter() - t0
    m = recovery_metrics(space, truth, result, (true_mesh.points, true_mesh.faces), module)
    rec = {"method": method, "seconds": seconds, "objective": result.objective, "evaluations": result.evaluations,
           "evaluations_per_s": result.evaluations_per_s, "evaluations_per_cpu_s": result.evaluations_per_cpu_s, **m}
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
            f"chamfer {rec['chamfer_cm']:.2f} cm, {rec['seconds']:.1f} s, {rec['evaluations_per_s']:.0f} evaluations/s "
            f"({rec['evaluations_per_cpu_s']:.0f} per CPU s)")


def run(cfg: FitBenchConfig) -> int:
    from concurrent.futures import ProcessPoolExecutor

    import torch
    from rich.console import Console
    from rich.table import Table

    from translator.ir import ProgramError

    from ..fit import METHODS
    from ..library import resolve_program
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
    if cfg.max_evaluations is not None and cfg.max_evaluations < 1:
        raise UserError(f"--max-evaluations must be at least 1, got {cfg.max_evaluations}")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    console = Console()
    try:
        paths = {name: resolve_program(name) for name in programs}
    except ProgramError as exc:
        raise UserError(str(exc)) from None
    records: list[dict] = []
    tmp = tempfile.TemporaryDirectory() if cfg.keep is None else None
    root = Path(cfg.keep or tmp.name)
    limit = "" if cfg.max_evaluations is None else f" or {cfg.max_evaluations} evaluations"
    console.print(f"bench fit: {len(programs)} programs x {cfg.targets} targets x {len(methods)} methods, "
                  f"budget {cfg.budget:g} s{limit}, seed {cfg.seed}, noise {cfg.noise}, {cfg.views} views, "
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
    for col in ("program", "method", "discrete acc %", "exact %", "cont. MAE cm", "yaw err deg", "chamfer cm", "median s",
                "evaluations/s", "per CPU s"):
        table.add_column(col, justify="left" if col in ("program", "method") else "right")
    per: dict[str, dict[str, dict]] = {}
    for name in (Path(p).stem for p in programs):
        for method in methods:
            rs = [r for r in records if r["program"] == name and r["method"] == method]
            s = per.setdefault(method, {})[name] = _summary(rs)
            table.add_row(name, method, f"{s['accuracy']:.1f}", f"{s['exact']:.0f}", f"{s['mae_cm']:.2f}",
                          f"{s['yaw_deg']:.1f}", f"{s['chamfer_cm']:.2f}", f"{s['time_s']:.1f}", f"{s['evaluations_per_s']:.0f}",
                          f"{s['evaluations_per_cpu_s']:.0f}")
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
            f"continuous_mae={overall[best]['mae_cm']:.2f}cm (highest program {worst_mae:.2f}cm) "
            f"evaluations_per_s={overall[best]['evaluations_per_s']:.0f} "
            f"evaluations_per_cpu_s={overall[best]['evaluations_per_cpu_s']:.0f}")
    if "cd" in methods and best != "cd":
        beats = sum(per[best][p]["accuracy"] > per["cd"][p]["accuracy"] or (
            per[best][p]["accuracy"] == per["cd"][p]["accuracy"] and per[best][p]["mae_cm"] < per["cd"][p]["mae_cm"])
            for p in per[best])
        line += f" beats_cd_on={beats}/{len(per[best])}"
    print(line)
    return 0


BENCHMARK = Command(name="fit", help="recovery accuracy of the search methods on seeded synthetic scans",
                    config=FitBenchConfig, run=run)
