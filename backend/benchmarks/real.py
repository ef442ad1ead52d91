"""``shapeprog bench real``: reconstruction of real scans, measured without ground truth.

For every scene of ``--data`` (default ``../shared/real_scans``: three ScanNet captures of one room, each a
labelled point cloud ``<scene>/<scene>_points.ply``) and every method, ``fit-scene`` fits the furniture
(:func:`backend.scene.run.fit_scene`, the same code as the command, objects in parallel) into
``--out/<scene>/<method>/`` (kept: a rerun with the same settings reuses finished objects). It prints

* per object and method the scan-fit metrics (:mod:`backend.scan_metrics`: F-score at 5 and 2.5 cm,
  accuracy, completeness over the seen region) and the fit's time;
* per method the mean of each over the fitted furniture, and the wall time per scene;
* **consistency across captures**: the scans are aligned to the first scene's frame
  (:func:`backend.scene.register.register_scenes`, on their walls and floor), the same physical object is
  found in two captures as the fitted object of the same program whose centre lies nearest (within 0.5 m;
  where the map names several candidate programs, of any program the two objects' candidates share, and two
  fits that kept different programs are an inconsistent pair, ``program_differ``), and a pair is consistent when its discrete values are equal and its active length parameters (subtype
  DISTANCE) are within 2 cm, both compared only where active in both fits (a drawer count under a front of
  doors means nothing). A fit turned a quarter turn with Width and Depth exchanged is compared exchanged back
  when the program's mesh says the two are the same shape (:func:`swap_is_same_shape`: a four-legged table,
  not a cabinet with a front). The rate is over all such pairs; beside it, how many parameters the fits left
  undecided (kept at their priors, :mod:`backend.scene.evidence`) and in how many objects, so that agreement
  of priors is not mistaken for agreement of measurements; and the inconsistent pairs by what makes them so
  (:func:`why_counts`: different programs, a discrete value both captures decided differently, discrete values
  that differ only where one capture could not decide, lengths alone). The rate counts every one of them.

The last line: the best method by mean F@5cm, its mean F@5cm and its consistency rate.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..command import Command, UserError

__all__ = ["RealBenchConfig", "consistency", "run", "why_counts"]

DEFAULT_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "real_scans"


@dataclass
class RealBenchConfig:
    scenes: str = "scene0000_00,scene0000_01,scene0000_02"
    """Comma-separated scene names (folders of --data holding <scene>_points.ply)."""
    methods: str = "mcts,ga,cd"
    """Comma-separated search methods to compare."""
    budget: float = 45.0
    """Time budget per object and method, in seconds."""
    data: str = str(DEFAULT_DATA)
    """The folder of the scenes."""
    out: str = "bench_real"
    """Where the fits go (one fit-scene folder per scene and method; finished objects are reused)."""
    jobs: int | None = None
    """Objects fitted at once (default: one per core)."""
    seed: int = 0
    """Seed of the fits."""
    tolerance_cm: float = 2.0
    """Consistency: the largest difference of a length parameter between captures of one object."""
    match_m: float = 0.5
    """Consistency: the farthest apart (metres, after aligning the scans) two fits of one object may be."""


def _centre(row: dict) -> np.ndarray | None:
    from ..io.ply import load_ply
    from ..structures import ScanError

    try:
        p = load_ply(Path(row["folder"]) / "fitted.ply").points.double().numpy()
    except (ScanError, OSError, KeyError):
        return None
    return (p.min(0) + p.max(0)) / 2


def _space(program: str):
    from translator.loading import load_any
    from translator.params import parameter_space

    from ..library import resolve_program

    return parameter_space(load_any(resolve_program(program)))


def _lengths(space) -> set[str]:
    return {p.name for p in space.continuous if p.type == "VALUE" and p.subtype == "DISTANCE"}


def _active(space, discrete: dict) -> set[str]:
    """The parameters ``discrete`` makes active (a drawer count under a front of doors means nothing)."""
    return {p.name for p in space.parameters if p.active_when.holds(discrete)}


def _yaw_deg(row: dict, reg: Any) -> float | None:
    m = row.get("world_from_program")
    if not m:
        return None
    return math.degrees(math.atan2(m[1][0], m[0][0])) + (reg.yaw_deg if reg is not None else 0.0)


_SWAP_CACHE: dict[tuple, bool] = {}


def swap_is_same_shape(program: str, discrete: dict, continuous: dict, a: str = "Width", b: str = "Depth",
                       tolerance: float = 0.005) -> bool:
    """Whether the program's mesh with lengths ``a`` and ``b`` exchanged, turned a quarter turn about z, is
    the same shape (every vertex of each within ``tolerance`` metres of the other's, after centring): then a
    desk fitted with Width and Depth swapped and turned 90 degrees is the same desk described another way."""
    import torch
    from scipy.spatial import cKDTree

    from translator.codegen import compile_program
    from translator.loading import load_any
    from translator.runtime import TopologySplitError, eval_context

    from ..library import resolve_program

    key = (program, tuple(sorted((k, str(v)) for k, v in discrete.items())))
    if key in _SWAP_CACHE:
        return _SWAP_CACHE[key]
    module = compile_program(load_any(resolve_program(program)))
    vals = {k: (float(v) if isinstance(v, (int, float)) else [float(x) for x in v]) for k, v in continuous.items()}
    swapped = {**vals, a: vals[b], b: vals[a]}
    try:
        with eval_context(trace=False):
            m1 = module.program(discrete, {k: torch.tensor([v], dtype=torch.float64) for k, v in vals.items()})
            m2 = module.program(discrete, {k: torch.tensor([v], dtype=torch.float64) for k, v in swapped.items()})
    except (TopologySplitError, ValueError, KeyError):  # a configuration the program cannot build is not comparable
        _SWAP_CACHE[key] = False
        return False
    v1 = m1.verts.double().reshape(-1, 3).numpy()
    v2 = m2.verts.double().reshape(-1, 3).numpy()
    v2 = v2 @ np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]).T
    v1 = v1 - (v1.min(0) + v1.max(0)) / 2
    v2 = v2 - (v2.min(0) + v2.max(0)) / 2
    same = bool(max(cKDTree(v1).query(v2)[0].max(), cKDTree(v2).query(v1)[0].max()) <= tolerance)
    _SWAP_CACHE[key] = same
    return same


def _compare(space, lengths: set[str], ra: dict, rb: dict) -> tuple[list[str], dict[str, float]]:
    """The discrete parameters active in both that differ, and the active lengths' differences (cm)."""
    both = _active(space, ra["discrete"]) & _active(space, rb["discrete"])
    disc = sorted(k for k in set(ra["discrete"]) | set(rb["discrete"])
                  if k in both and ra["discrete"].get(k) != rb["discrete"].get(k))
    diff = {}
    for k in lengths & both:
        va, vb = ra["continuous"].get(k), rb["continuous"].get(k)
        if isinstance(va, (int, float)) and isinstance(vb, (int, float)):
            diff[k] = round(100 * abs(va - vb), 2)
    return disc, diff


def _programs(row: dict) -> set[str]:
    """The programs a fitted object could have kept: its candidates (several in the map), else its program."""
    return set(row.get("candidates") or ()) | {row["program"]}


def consistency(rows_by_scene: dict[str, list[dict]], registrations: dict[str, Any], tolerance_cm: float = 2.0,
                match_m: float = 0.5) -> list[dict]:
    """Pairs of fits of one physical object in two captures (see the module docstring): ``[{"a", "b" (scene,
    instance), "category", "distance_m", "consistent", "discrete_differ", "length_differ_cm"}]``."""
    placed: dict[str, list[tuple[dict, np.ndarray]]] = {}
    for scene, rows in rows_by_scene.items():
        reg = registrations.get(scene)
        out = []
        for r in rows:
            if r["state"] != "succeeded" or "discrete" not in r:
                continue
            c = _centre(r)
            if c is None:
                continue
            out.append((r, reg.apply(c[None])[0] if reg is not None else c))
        placed[scene] = out
    spaces: dict[str, Any] = {}
    pairs = []
    scenes = list(placed)
    for i, sa in enumerate(scenes):
        for sb in scenes[i + 1:]:
            used = set()
            for ra, ca in placed[sa]:
                best, best_d = None, match_m
                for k, (rb, cb) in enumerate(placed[sb]):
                    if k in used or not _programs(ra) & _programs(rb):
                        continue
                    d = float(np.linalg.norm(ca[:2] - cb[:2]))
                    if d <= best_d:
                        best, best_d = k, d
                if best is None:
                    continue
                used.add(best)
                rb = placed[sb][best][0]
                if rb["program"] != ra["program"]:  # a corner cabinet in one capture, a box cabinet in the other
                    pairs.append({"a": [sa, ra["instance"]], "b": [sb, rb["instance"]], "category": ra["category"],
                                  "program": ra["program"], "distance_m": round(best_d, 3), "consistent": False,
                                  "program_differ": [ra["program"], rb["program"]], "discrete_differ": [],
                                  "length_differ_cm": {}, "swapped_width_depth": False,
                                  "undecided": sorted(set(ra.get("undecided", {})) | set(rb.get("undecided", {})))})
                    continue
                if ra["program"] not in spaces:
                    spaces[ra["program"]] = _space(ra["program"])
                space = spaces[ra["program"]]
                lengths = _lengths(space)
                disc, diff = _compare(space, lengths, ra, rb)
                swapped = False
                # a quarter turn with Width and Depth exchanged: the same shape when the program says so
                ya, yb = _yaw_deg(ra, registrations.get(sa)), _yaw_deg(rb, registrations.get(sb))
                if {"Width", "Depth"} <= lengths and ya is not None and yb is not None and not disc \
                        and abs(((ya - yb) % 180.0) - 90.0) < 20.0 \
                        and swap_is_same_shape(rb["program"], rb["discrete"], rb["continuous"]):
                    rb_sw = {**rb, "continuous": {**rb["continuous"], "Width": rb["continuous"].get("Depth"),
                                                  "Depth": rb["continuous"].get("Width")}}
                    disc_sw, diff_sw = _compare(space, lengths, ra, rb_sw)
                    if sum(diff_sw.values()) < sum(diff.values()):
                        disc, diff, swapped = disc_sw, diff_sw, True
                big = {k: v for k, v in diff.items() if v > tolerance_cm}
                # a length only one of the two configurations uses (an inactive one) differs in meaning, not in value
                if disc:
                    big = {}
                undecided = sorted(set(ra.get("undecided", {})) | set(rb.get("undecided", {})))
                pairs.append({"a": [sa, ra["instance"]], "b": [sb, rb["instance"]], "category": ra["category"],
                              "program": ra["program"], "distance_m": round(best_d, 3), "consistent": not disc and not big,
                              "discrete_differ": disc, "length_differ_cm": big, "swapped_width_depth": swapped,
                              "undecided": undecided, "undecided_only": bool(disc) and _undecided_only(disc, ra, rb)})
    return pairs


def _undecided_only(names: list[str], ra: dict, rb: dict) -> bool:
    """Whether every discrete value in ``names`` that two fits of one object give differently is one that a
    capture could not decide: the other capture's value is among those it could not tell apart (its result's
    ``undecided[name]["within"]``)."""
    def within(r: dict, name: str) -> list:
        return list((r.get("undecided") or {}).get(name, {}).get("within") or [])

    return all(rb["discrete"].get(n) in within(ra, n) or ra["discrete"].get(n) in within(rb, n) for n in names)


def why_counts(pairs: list[dict]) -> dict[str, int]:
    """The inconsistent pairs by what makes them so: ``program`` (different programs kept), ``undecided`` (discrete
    values that differ only where a capture could not decide, :func:`_undecided_only`), ``decided`` (a discrete
    value both captures decided, differently), ``lengths`` (the same discrete values, a length more than the
    tolerance apart)."""
    out = {"program": 0, "decided": 0, "undecided": 0, "lengths": 0}
    for p in pairs:
        if p["consistent"]:
            continue
        kind = ("program" if p.get("program_differ") else "lengths" if not p["discrete_differ"] else
                "undecided" if p.get("undecided_only") else "decided")
        out[kind] += 1
    return out


def _fmt(x: Any, spec: str = ".3f") -> str:
    return format(x, spec) if isinstance(x, (int, float)) and math.isfinite(x) else "-"


def _why_inconsistent(pair: dict) -> str:
    """What makes an inconsistent pair so, in a few words: the programs kept, the discrete values or the lengths
    that differ."""
    if pair.get("program_differ"):
        return f"program {' vs '.join(pair['program_differ'])}"
    if pair["discrete_differ"]:
        return f"discrete {', '.join(pair['discrete_differ'])}"
    return ", ".join(f"{k} {v:.1f} cm" for k, v in pair["length_differ_cm"].items())


def run(cfg: RealBenchConfig) -> int:
    from ..fit.config import FitConfig
    from ..scene.outputs import object_rows
    from ..scene.readers import load_scene
    from ..scene.register import register_scenes
    from ..scene.run import SceneFitSettings, fit_scene

    data = Path(cfg.data)
    scenes = [s for s in cfg.scenes.split(",") if s]
    methods = [m for m in cfg.methods.split(",") if m]
    missing = [s for s in scenes if not (data / s / f"{s}_points.ply").is_file()]
    if missing:
        raise UserError(f"{data}: no {missing[0]}/{missing[0]}_points.ply (the real scans live in ../shared/real_scans)")
    from ..fit import METHODS

    bad = [m for m in methods if m not in METHODS]
    if bad:
        raise UserError(f"unknown method {bad[0]!r} (choose from {', '.join(METHODS)})")
    out = Path(cfg.out)
    rows: dict[str, dict[str, list[dict]]] = {m: {} for m in methods}
    walls: dict[str, dict[str, float]] = {m: {} for m in methods}
    print(f"bench real: {len(scenes)} scenes x {len(methods)} methods, {cfg.budget:g} s per object, in {out}", flush=True)
    for method in methods:
        for scene in scenes:
            settings = SceneFitSettings(jobs=cfg.jobs, fit=replace(FitConfig(), method=method, budget=cfg.budget,
                                                                   seed=cfg.seed))
            t0 = time.perf_counter()
            run_ = fit_scene(str(data / scene / f"{scene}_points.ply"), out / scene / method, settings)
            walls[method][scene] = time.perf_counter() - t0
            rows[method][scene] = object_rows(run_)
            n = sum(1 for r in rows[method][scene] if r["state"] == "succeeded")
            print(f"  {scene} {method}: {n}/{len(rows[method][scene])} objects in {walls[method][scene]:.0f} s "
                  f"({sum(1 for r in rows[method][scene] if r['done_before'])} reused)", flush=True)
    print("\nper object (F@5cm / F@2.5cm / accuracy cm / completeness / fit s):")
    head = f"{'scene':13} {'object':18} {'program':9} " + " ".join(f"{m:>33}" for m in methods)
    print(head)
    keys = []
    for scene in scenes:
        for r in rows[methods[0]][scene]:
            keys.append((scene, r["key"], r["program"]))
    for scene, key, prog in keys:
        cells = []
        for m in methods:
            r = next((x for x in rows[m][scene] if x["key"] == key), None)
            f = (r or {}).get("scan_fit", {})
            cells.append(f"{_fmt(f.get('f_5cm'))} / {_fmt(f.get('f_2_5cm'))} / {_fmt(f.get('accuracy_cm'), '.1f')} / "
                         f"{_fmt(f.get('completeness'), '.2f')} / {_fmt((r or {}).get('seconds'), '.0f')}"
                         if r and r["state"] == "succeeded" else (r or {}).get("state", "-"))
        print(f"{scene:13} {key:18} {Path(prog).stem:9} " + " ".join(f"{c:>33}" for c in cells))
    regs = {}
    base = load_scene(data / scenes[0] / f"{scenes[0]}_points.ply")
    for scene in scenes[1:]:
        reg = register_scenes(load_scene(data / scene / f"{scene}_points.ply"), base)
        regs[scene] = reg
        print(f"\nregistration {scene} -> {scenes[0]}: yaw {reg.yaw_deg:.1f} deg, shift {np.round(reg.dst_from_src[:3, 3], 3).tolist()}, "
              f"residual {100 * reg.residual:.1f} cm")
    summary = {}
    print(f"\nper method (mean over fitted furniture; consistency: pairs of captures of one object, discrete equal and "
          f"lengths within {cfg.tolerance_cm:g} cm):")
    print(f"{'method':7} {'objects':>8} {'F@5cm':>7} {'F@2.5cm':>8} {'acc cm':>7} {'compl':>6} {'pairs':>6} {'consistent':>11}  "
          f"{'undecided':>10}  {'wall s per scene':>20}")
    for m in methods:
        allrows = [r for s in scenes for r in rows[m][s] if r["state"] == "succeeded" and r.get("scan_fit")]
        pairs = consistency(rows[m], regs, cfg.tolerance_cm, cfg.match_m)
        ok = sum(p["consistent"] for p in pairs)
        # parameters the scans could not decide (kept at their priors): say how many, so that nobody mistakes a
        # consistency of priors for one of measurements
        undecided = sum(len(r.get("undecided") or {}) for r in allrows)
        flagged = sum(1 for r in allrows if r.get("undecided"))

        def mean(k, rows_=allrows):
            vals = [r["scan_fit"][k] for r in rows_ if isinstance(r["scan_fit"].get(k), (int, float))]
            return statistics.fmean(vals) if vals else math.nan

        summary[m] = {"f5": mean("f_5cm"), "rate": ok / len(pairs) if pairs else math.nan, "pairs": pairs,
                      "undecided_parameters": undecided, "objects_with_undecided": flagged}
        print(f"{m:7} {len(allrows):>8} {_fmt(mean('f_5cm')):>7} {_fmt(mean('f_2_5cm')):>8} {_fmt(mean('accuracy_cm'), '.2f'):>7} "
              f"{_fmt(mean('completeness'), '.3f'):>6} {len(pairs):>6} {ok:>5} ({_fmt(100 * summary[m]['rate'], '.1f')}%)  "
              f"{undecided:>4} in {flagged:>2}  " + ", ".join(f"{walls[m][s]:.0f}" for s in scenes))
    for m in methods:
        bad_pairs = [p for p in summary[m]["pairs"] if not p["consistent"]]
        if bad_pairs:
            why = why_counts(summary[m]["pairs"])
            summary[m]["inconsistent"] = why
            print(f"\n{m}: inconsistent pairs ({why['program']} kept different programs, {why['decided']} a discrete value "
                  f"both captures decided differently, {why['undecided']} discrete values only where one capture could not "
                  f"decide, {why['lengths']} lengths only)")
            for p in bad_pairs:
                why = _why_inconsistent(p)
                if p.get("undecided"):
                    why += f" (undecided in either: {', '.join(p['undecided'])})"
                print(f"  {p['category']:12} {p['a'][0]}#{p['a'][1]} vs {p['b'][0]}#{p['b'][1]} ({p['distance_m']:.2f} m apart): {why}")
    (out / "bench_real.json").write_text(json.dumps({"methods": methods, "scenes": scenes, "budget": cfg.budget,
                                                     "summary": summary, "wall_s": walls}, indent=1, default=str) + "\n")
    best = max(methods, key=lambda m: (summary[m]["f5"] if math.isfinite(summary[m]["f5"]) else -1))
    print(f"best={best} mean_f5cm={_fmt(summary[best]['f5'])} consistency={_fmt(100 * summary[best]['rate'], '.1f')}% "
          f"undecided_parameters={summary[best]['undecided_parameters']}")
    return 0


BENCHMARK = Command(name="real", help="fit-scene on the real ScanNet captures: scan-fit metrics and consistency",
                    config=RealBenchConfig, run=run,
                    description="Fit the furniture of the real scans in ../shared/real_scans with each method; per object "
                                "and method the scan-fit metrics, per method their means and the consistency across the "
                                "captures of one room. Last line: the best method's mean F@5cm and consistency rate.")
