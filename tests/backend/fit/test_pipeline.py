"""Fitting programs to synthetic scans, end to end, on tiny budgets.

The program is the library's bed (the smallest: 36 triangles); targets come from
:func:`backend.synth.synthesize` with known parameters and pose. Budgets are
evaluation counts where the outcome must not depend on the machine's speed.
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import pytest
import torch

from backend.cli import main
from backend.fit import FitConfig, FitError, fit
from backend.io import load_ply, load_scan, write_point_cloud
from backend.object_frame import observations_from_points
from backend.objective import ObjectiveConfig
from backend.ops import PointsToMesh
from backend.problem import FitProblem, ProblemConfig
from backend.search.base import POSE, Budget, SearchContext
from backend.search.exhaustive import ExhaustiveConfig, run_exhaustive
from backend.synth import CaptureSettings, NoiseSettings, load_shape_program, synthesize
from tests.fixtures import ROOT
from tests.fixtures.parity import reset_blender
from translator.codegen import compile_program
from translator.loading import load_any
from translator.params import parameter_space

BED = ROOT / "sample_scenes" / "programs" / "bed.json"
LOCKED = {"Base Style": "Legs", "Pillow Count": 2, "Has Blanket": False}
QUICK = {"pilot_steps": 8, "refine_steps": 6, "final_steps": 15}  # short refinements: tests check logic, not accuracy


@pytest.fixture(scope="module")
def bed():
    program = load_any(BED)
    return program, parameter_space(program), compile_program(program)


def _target(tmp: Path, name: str, seed: int, noise: str, fixed: dict, yaw: float | None = None, arc=(90.0, 200.0)):
    shape = load_shape_program(BED)
    syn = synthesize(shape, tmp / name, seed, noise=NoiseSettings(kind=noise), capture=CaptureSettings(views=5, arc_deg=arc),
                     fixed=fixed, yaw=yaw)
    return syn.ground_truth, load_scan(tmp / name, instance_id=1)


@pytest.fixture(scope="module")
def targets(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bed_targets")
    # noise-free, seen from all around, with a low mattress (so that a footboard cannot hide behind it)
    low = {**LOCKED, "Frame Height": 0.22, "Mattress Thickness": 0.15}
    around = (330.0, 360.0)
    return {
        "panel": _target(tmp, "panel", 1, "none", {**low, "Headboard Style": "Panel", "Has Footboard": False}, 0.7, around),
        "slatted": _target(tmp, "slatted", 2, "none", {**low, "Headboard Style": "Slatted", "Has Footboard": True}, -2.0,
                           around),
        "noisy": _target(tmp, "noisy", 3, "scannet", {}),
        "folder": tmp,
    }


def _check_valid(result, space):
    """Every value is one the program accepts; the pose is rigid."""
    for p in space:
        if p.kind == "discrete":
            assert result.discrete[p.name] in p.choices, p.name
        else:
            v = result.continuous[p.name]
            assert float(p.low) - 1e-6 <= v <= float(p.high) + 1e-6, (p.name, v)
    m = torch.tensor(result.world_from_program, dtype=torch.float64)
    assert torch.allclose(m[:3, :3] @ m[:3, :3].T, torch.eye(3, dtype=torch.float64), atol=1e-6)
    assert torch.allclose(m[3], torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=torch.float64))
    assert math.isfinite(result.objective)


def _flat(rows) -> list[float]:
    return [float(x) for row in rows for x in row]


def _yaw_error_deg(result, truth) -> float:
    return abs(math.degrees(math.remainder(result.yaw - truth["pose"]["yaw"], 2 * math.pi)))


@pytest.mark.parametrize("name", ["panel", "slatted"])
def test_exhaustive_finds_the_true_configuration_of_noise_free_targets(bed, targets, name):
    _, space, module = bed
    truth, obs = targets[name]
    from backend.object_frame import clean_observations

    problem = FitProblem(module, space, clean_observations(obs), ProblemConfig(locks=dict(LOCKED)))
    ctx = SearchContext(problem, ExhaustiveConfig(refine_steps=8, final_steps=30, starts=1, final_candidates=3),
                        Budget(600), method="exhaustive")
    best = run_exhaustive(ctx)
    assert len(ctx.by_config) == 4 * 3 * 2  # every pose x headboard x footboard was refined
    disc = truth["parameters"]["discrete"]
    assert {k: best.config[k] for k in ("Headboard Style", "Has Footboard")} == {
        k: disc[k] for k in ("Headboard Style", "Has Footboard")}
    values = problem.state_values(best.state)
    cont = truth["parameters"]["continuous"]
    for k in ("Width", "Length"):
        assert abs(values[k] - cont[k]) < 0.03, k
    # the frame / mattress split shows only as a 3 cm step; the mattress top (in the world) is what
    # the scan pins down (the true bed stands on the floor, z = 0, with its origin there)
    top = values["Frame Height"] + values["Mattress Thickness"] + float(problem.world_pose(best.state)[2, 3])
    assert abs(top - (cont["Frame Height"] + cont["Mattress Thickness"])) < 0.02
    yaw = math.atan2(float(problem.world_pose(best.state)[1, 0]), float(problem.world_pose(best.state)[0, 0]))
    assert abs(math.degrees(math.remainder(yaw - truth["pose"]["yaw"], 2 * math.pi))) < 3


def _default_objective(problem, fine: bool = False) -> float:
    from backend.search.base import RefineRequest

    cfg = problem.canonical({POSE: 0})
    return problem.refine([RefineRequest(cfg, None, 0, 1)], fine=fine)[0].objective


def test_the_finer_objective_sees_more_of_the_scan_and_prefers_the_truth(bed, targets):
    _, space, module = bed
    truth, obs = targets["noisy"]
    from backend.object_frame import clean_observations
    from backend.search.base import RefineRequest

    obs = clean_observations(obs)
    fine = ObjectiveConfig(fine_scan_points=4000, fine_render_width=120, fine_max_views=5)
    problem = FitProblem(module, space, obs, ProblemConfig(objective=fine))
    coarse, fine = problem.objective, problem.fine_objective
    assert problem.fine_objective is fine  # built once
    assert coarse.points.shape[0] == 1500 and fine.points.shape[0] == min(4000, len(obs.points))
    assert coarse.views.depth.shape[0] == 4 and fine.views.depth.shape[0] == 5  # views (the target has 5)
    assert fine.views.depth.shape[-1] > coarse.views.depth.shape[-1]  # pixels across
    values = {**truth["parameters"]["discrete"], **truth["parameters"]["continuous"]}
    config, state = problem.candidate_at(values, truth["pose"]["world_from_object"])
    at_truth = problem.refine([RefineRequest(config, state, 0)], fine=True)[0].objective
    assert at_truth < 0.5 * _default_objective(problem, fine=True)


@pytest.mark.parametrize("method", ["mcts", "ga", "cd"])
def test_search_methods_return_valid_results_that_improve_the_objective(bed, targets, method):
    program, space, module = bed
    _, obs = targets["noisy"]
    reports = []
    result = fit(program, obs, FitConfig(method=method, budget=120, max_evaluations=400, seed=0).with_search(**QUICK),
                 space=space, module=module, progress=reports.append)
    _check_valid(result, space)
    from backend.object_frame import clean_observations

    problem = FitProblem(module, space, clean_observations(obs), ProblemConfig())
    assert result.objective < 0.8 * _default_objective(problem, fine=True)  # the result's is the finer objective
    assert reports and reports[-1]["best_objective"] == pytest.approx(result.objective)
    for phase in ("search", "final"):  # the best so far never gets worse (the final phase has its own scale)
        objs = [h[1] for h in result.history if h[2] == phase]
        assert objs and all(b <= a + 1e-12 for a, b in itertools.pairwise(objs))
    assert [h[2] for h in result.history] == sorted((h[2] for h in result.history), key=("search", "final").index)
    assert set(result.terms) == {"scan_to_mesh", "mesh_to_scan", "floor", "bottom", "top", "depth", "silhouette", "free_space"}
    # searched until the budget (the last batch may pass it: at most 6 simulations x 4 poses x 2 starts x 6
    # steps), then the final refinement (at most 4 x 15)
    assert 0.8 * 400 <= result.evaluations <= 400 + 6 * 4 * 2 * 6 + 4 * 15


def test_locks_are_respected(bed, targets):
    program, space, module = bed
    _, obs = targets["noisy"]
    locks = {"Headboard Style": "Slatted", "Width": 1.55, "Has Footboard": True}
    result = fit(program, obs, FitConfig(method="mcts", budget=120, max_evaluations=200, locks=locks).with_search(**QUICK),
                 space=space, module=module)
    assert result.discrete["Headboard Style"] == "Slatted" and result.discrete["Has Footboard"] is True
    assert result.continuous["Width"] == pytest.approx(1.55, abs=1e-6)
    _check_valid(result, space)


def test_warm_start_from_the_truth_stays_at_the_truth(bed, targets):
    program, space, module = bed
    truth, obs = targets["slatted"]
    init = {**truth["parameters"]["discrete"], **truth["parameters"]["continuous"]}
    result = fit(program, obs, FitConfig(method="mcts", budget=120, max_evaluations=250, init=init,
                                         init_pose=truth["pose"]["world_from_object"]).with_search(**QUICK), space=space, module=module)
    disc = truth["parameters"]["discrete"]
    active = [p for p in space if p.active_when.holds(disc)]
    for p in active:
        if p.kind == "discrete":
            assert result.discrete[p.name] == disc[p.name], p.name
        else:
            assert abs(result.continuous[p.name] - truth["parameters"]["continuous"][p.name]) < 0.015, p.name
    assert _yaw_error_deg(result, truth) < 1.5
    assert torch.allclose(torch.tensor(result.translation[:2]), torch.tensor(truth["pose"]["translation"][:2]), atol=0.02)


def test_a_seed_reproduces_the_result(bed, targets):
    program, space, module = bed
    _, obs = targets["noisy"]
    small_ga = {**QUICK, "population": 6, "elite": 2}
    runs = [fit(program, obs, FitConfig(method=m, budget=300, max_evaluations=260 if m == "ga" else 450,
                                        seed=3).with_search(**(small_ga if m == "ga" else QUICK)), space=space, module=module)
            for m in ("ga", "ga", "mcts", "mcts")]
    for a, b in (runs[:2], runs[2:]):
        assert len(a.history) >= 4  # the pilot, search steps, the final refinement
        assert a.discrete == b.discrete
        assert a.continuous == pytest.approx(b.continuous, abs=1e-6)
        assert a.objective == pytest.approx(b.objective, rel=1e-6)
        assert _flat(a.world_from_program) == pytest.approx(_flat(b.world_from_program), abs=1e-6)
        assert [h[1] for h in a.history] == pytest.approx([h[1] for h in b.history], rel=1e-6)


# ---------------------------------------------------------------------------
# the command line, end to end


def _run(capsys, *argv) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_synth_fit_edit_refit_end_to_end(tmp_path, capsys):
    scan = tmp_path / "scan"
    rc, _, err = _run(capsys, "synth", BED, "--seed", 5, "--views", 5, "-o", scan)
    assert rc == 0, err
    truth = json.loads((scan / "ground_truth.json").read_text())
    out_dir = tmp_path / "fit"
    rc, _, err = _run(capsys, "fit", "-p", BED, "--frames", scan, "--instance-id", 1, "--budget", 300,
                      "--max-evaluations", 600, "--quiet", "-o", out_dir)
    assert rc == 0, err
    for f in ("result.json", "fitted.ply", "fitted.obj", "report.png"):
        assert (out_dir / f).is_file() and (out_dir / f).stat().st_size > 0, f
    res = json.loads((out_dir / "result.json").read_text())
    program = load_any(BED)
    space = parameter_space(program)
    assert set(res["discrete"]) == {p.name for p in space.discrete}
    assert set(res["continuous"]) == {p.name for p in space.continuous}
    assert res["method"] == "mcts" and res["seed"] == 0 and res["provenance"]["software"]["shapeprog"]
    assert {"search_s", "outputs_s"} <= set(res["timings"])
    # the fitted mesh in world coordinates sits where the scan is, on the floor
    mesh = load_ply(out_dir / "fitted.ply")
    obs = load_scan(scan, instance_id=1)
    d = PointsToMesh(obs.points)(mesh.points[mesh.faces][None]).sqrt()
    assert float(d.median()) < 0.03
    assert abs(float(mesh.points[:, 2].min()) - truth["floor_z"]) < 0.05
    _check_blend(out_dir, res, program)

    # edit a value, then refit from the edited result
    edited = tmp_path / "edited"
    rc, _, err = _run(capsys, "edit", out_dir / "result.json", "--set", "Width=1.3", "-o", edited)
    assert rc == 0, err
    res2 = json.loads((edited / "result.json").read_text())
    assert res2["continuous"]["Width"] == pytest.approx(1.3)
    assert res2["world_from_program"] == res["world_from_program"]
    refit = tmp_path / "refit"
    rc, _, err = _run(capsys, "fit", "-p", BED, "--frames", scan, "--instance-id", 1, "--budget", 300,
                      "--max-evaluations", 300, "--quiet", "--init", edited / "result.json", "-o", refit)
    assert rc == 0, err
    res3 = json.loads((refit / "result.json").read_text())
    assert res3["objective"] <= res["objective"] * 1.5


def _check_blend(out_dir: Path, res: dict, program) -> None:
    from translator.loading import has_bpy

    if not has_bpy():
        assert not (out_dir / "fitted.blend").exists()
        return
    assert (out_dir / "fitted.blend").is_file()
    reset_blender()
    reloaded = load_any(out_dir / "fitted.blend", program.object)
    values = {p.name: p.default for p in parameter_space(reloaded, analyze=False)}
    for k, v in res["discrete"].items():
        assert values[k] == v, k
    for k, v in res["continuous"].items():
        assert values[k] == pytest.approx(v, abs=1e-5), k
    import bpy

    obj = bpy.data.objects[program.object]
    assert [x for r in obj.matrix_world for x in r] == pytest.approx(_flat(res["world_from_program"]), abs=1e-5)


def _error_line(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("shapeprog fit: error: ")
    return lines[0]


def test_bad_inputs_get_a_one_line_error(tmp_path, capsys, targets):
    scan = targets["folder"] / "noisy"
    pts = load_scan(scan, instance_id=1).points
    few = tmp_path / "few.ply"
    write_point_cloud(few, pts[:20])
    rc, _, err = _run(capsys, "fit", "-p", BED, "--scan", few, "-o", tmp_path / "o1", "--quiet")
    assert rc == 2 and "only 20 points" in _error_line(err)

    program = load_any(BED)
    locks = [f"{p.name}={p.default if p.kind == 'continuous' else p.choices[0]}" for p in parameter_space(program)]
    rc, _, err = _run(capsys, "fit", "-p", BED, "--frames", scan, "--instance-id", 1, "-o", tmp_path / "o2",
                      "--quiet", "--lock", *locks)
    assert rc == 2 and "every parameter is locked" in _error_line(err)

    for bad in ("0", "-5"):
        rc, _, err = _run(capsys, "fit", "-p", BED, "--frames", scan, "--instance-id", 1, "-o", tmp_path / "o3",
                          "--quiet", "--budget", bad)
        assert rc == 2 and "budget must be a number of seconds >= 2" in _error_line(err)

    c = pts.mean(0)
    for factor, words in ((25.0, "far larger"), (0.01, "far smaller")):
        path = tmp_path / f"scaled_{factor}.ply"
        write_point_cloud(path, (pts - c) * factor + c)
        rc, _, err = _run(capsys, "fit", "-p", BED, "--scan", path, "-o", tmp_path / "o4", "--quiet")
        assert rc == 2 and words in _error_line(err)
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o4").exists()


def test_fit_api_errors_name_the_problem(bed, targets):
    program, space, module = bed
    _, obs = targets["noisy"]
    with pytest.raises(FitError, match="unknown method 'annealing'"):
        fit(program, obs, FitConfig(method="annealing"), space=space, module=module)
    with pytest.raises(FitError, match="budget must be a number of seconds >= 2"):
        fit(program, obs, FitConfig(budget=float("nan")), space=space, module=module)
    pc = observations_from_points(obs.points[:30])
    with pytest.raises(FitError, match="only 30 points"):
        fit(program, pc, FitConfig(), space=space, module=module)
    from backend.options import config_from_dict

    with pytest.raises(ValueError, match=r"config.mcts: unknown setting\(s\) 'steps' for MCTSConfig"):
        config_from_dict(FitConfig, {"method": "mcts", "mcts": {"steps": 3}})


# ---------------------------------------------------------------------------
# recovery metrics (shapeprog bench fit, shapeprog demo)


def test_recovery_metrics_count_active_parameters_and_wrap_the_yaw(bed, targets):
    from types import SimpleNamespace

    from backend.metrics import chamfer_cm, recovery_metrics

    _, space, _ = bed
    truth, _ = targets["panel"]
    disc = dict(truth["parameters"]["discrete"])
    cont = dict(truth["parameters"]["continuous"])
    wrong = {**disc, "Headboard Style": "Slatted", "Has Blanket": not disc["Has Blanket"]}
    off = {**cont, "Width": cont["Width"] + 0.03, "Footboard Height": cont["Footboard Height"] + 0.5}
    yaw = truth["pose"]["yaw"] + math.radians(350)
    result = SimpleNamespace(discrete=wrong, continuous=off, yaw=yaw, mesh=None)
    m = recovery_metrics(space, truth, result)
    active_discrete = [p.name for p in space.discrete if p.active_when.holds(disc)]
    assert m["discrete_total"] == len(active_discrete) and m["discrete_correct"] == len(active_discrete) - 2
    assert sorted(m["discrete_wrong"]) == ["Has Blanket", "Headboard Style"]
    assert "Footboard Height" not in m["continuous_errors_cm"]  # the truth has no footboard
    assert m["continuous_errors_cm"]["Width"] == pytest.approx(3.0, abs=1e-6)
    assert m["continuous_mae_cm"] == pytest.approx(3.0 / len(m["continuous_errors_cm"]), abs=1e-6)
    assert m["yaw_error_deg"] == pytest.approx(10.0, abs=1e-6)
    assert m["chamfer_cm"] is None
    # Chamfer: zero against itself, the offset for a slab moved along its normal
    from backend.synth import box_mesh

    v, t = box_mesh([0, 0, 0], [1.0, 1.0, 0.002])
    assert chamfer_cm(v, t, v, t) < 1e-3
    assert chamfer_cm(v, t, v + torch.tensor([0.0, 0.0, 0.02], dtype=torch.float64), t) == pytest.approx(2.0, abs=0.15)


def test_recovery_metrics_compare_a_turned_symmetric_object_with_its_equivalent_description():
    """An oval pedestal table turned by 90 degrees with width and depth swapped is the same table:
    the metrics compare such a fit with that description; a turned fit that is not the same shape
    is compared with the truth as it is."""
    from types import SimpleNamespace

    from backend.metrics import recovery_metrics
    from backend.ops import apply_pose, pose_matrix

    program = load_any(ROOT / "sample_scenes" / "programs" / "table.json")
    space, module = parameter_space(program), compile_program(program)
    disc = {p.name: p.default for p in space.discrete}
    disc.update({"Top Shape": "Oval", "Leg Style": "Pedestal"})
    cont = {p.name: p.default for p in space.continuous}
    cont.update({"Width": 1.1, "Depth": 0.7})
    yaw = 0.4
    world = pose_matrix(torch.tensor([yaw], dtype=torch.float64), torch.tensor([[0.3, -0.2, 0.0]], dtype=torch.float64))
    mesh = module.program(disc, {k: torch.tensor([float(v)], dtype=torch.float64) for k, v in cont.items()})
    true_mesh = (apply_pose(mesh.verts.double(), world)[0], mesh.triangles())
    truth = {"parameters": {"discrete": disc, "continuous": cont}, "pose": {"yaw": yaw, "world_from_object": world[0].tolist()}}

    swapped = {**cont, "Width": 0.7 + 0.01, "Depth": 1.1}  # 1 cm off in the turned description
    fit_turned = SimpleNamespace(discrete=disc, continuous=swapped, yaw=yaw + math.pi / 2 + 0.01, mesh=None)
    m = recovery_metrics(space, truth, fit_turned, true_mesh, module)
    assert m["equivalent"] == 1
    assert m["yaw_error_deg"] == pytest.approx(math.degrees(0.01), abs=0.05)
    assert m["continuous_errors_cm"]["Width"] == pytest.approx(1.0, abs=0.1)
    assert m["continuous_errors_cm"]["Depth"] < 0.1
    assert m["compared_with"]["Width"] == pytest.approx(0.7, abs=1e-3)

    # the truth's own values at a quarter turn: compared with the turned description, they are 40 cm off
    same_values_turned = SimpleNamespace(discrete=disc, continuous=cont, yaw=yaw + math.pi / 2, mesh=None)
    m = recovery_metrics(space, truth, same_values_turned, true_mesh, module)
    assert m["equivalent"] == 1 and m["continuous_errors_cm"]["Width"] == pytest.approx(40.0, abs=0.1)

    # a trestle table is not the same turned by a quarter (its feet run along the width): compared as it is
    disc = {**disc, "Leg Style": "Trestle"}
    mesh = module.program(disc, {k: torch.tensor([float(v)], dtype=torch.float64) for k, v in cont.items()})
    true_mesh = (apply_pose(mesh.verts.double(), world)[0], mesh.triangles())
    truth = {"parameters": {"discrete": disc, "continuous": cont}, "pose": {"yaw": yaw, "world_from_object": world[0].tolist()}}
    fit_turned = SimpleNamespace(discrete=disc, continuous=swapped, yaw=yaw + math.pi / 2, mesh=None)
    m = recovery_metrics(space, truth, fit_turned, true_mesh, module)
    assert m["equivalent"] is None and m["yaw_error_deg"] == pytest.approx(90.0, abs=1e-6)
    assert m["continuous_errors_cm"]["Width"] == pytest.approx(39.0, abs=1e-6)


def test_recovery_metrics_do_not_count_a_parameter_that_does_not_change_the_shape():
    """The pedestal's foot radius is capped at 0.45 x the top's smaller side: above the cap any value
    draws the same table, so a fit anywhere above it is right (and one below it is not)."""
    from types import SimpleNamespace

    from backend.metrics import recovery_metrics
    from backend.ops import apply_pose, pose_matrix

    program = load_any(ROOT / "sample_scenes" / "programs" / "table.json")
    space, module = parameter_space(program), compile_program(program)
    disc = {**{p.name: p.default for p in space.discrete}, "Top Shape": "Round", "Leg Style": "Pedestal"}
    cont = {**{p.name: p.default for p in space.continuous}, "Width": 0.6, "Base Radius": 0.38}  # cap: 0.27
    world = pose_matrix(torch.tensor([1.0], dtype=torch.float64), torch.tensor([[0.0, 0.5, 0.0]], dtype=torch.float64))
    mesh = module.program(disc, {k: torch.tensor([float(v)], dtype=torch.float64) for k, v in cont.items()})
    true_mesh = (apply_pose(mesh.verts.double(), world)[0], mesh.triangles())
    truth = {"parameters": {"discrete": disc, "continuous": cont}, "pose": {"yaw": 1.0, "world_from_object": world[0].tolist()}}
    for fitted, low, high in ((0.30, 0.0, 0.1), (0.2, 6.9, 12.0)):  # from below, Adam may overshoot the cap a little
        result = SimpleNamespace(discrete=disc, continuous={**cont, "Base Radius": fitted}, yaw=1.0, mesh=None)
        assert recovery_metrics(space, truth, result)["continuous_errors_cm"]["Base Radius"] == pytest.approx(
            100 * abs(fitted - 0.38), abs=1e-6)  # against the truth's own value
        m = recovery_metrics(space, truth, result, true_mesh, module)
        assert m["equivalent"] == 0
        assert low <= m["continuous_errors_cm"]["Base Radius"] <= high, fitted


def test_bench_fit_prints_a_line_per_object_the_table_and_the_headline(tmp_path, capsys):
    """``shapeprog bench fit`` on one tiny target per method: a line per fitted object, the records
    file, and the headline summarising the best method as the last line."""
    out = tmp_path / "records.json"
    rc, text, err = _run(capsys, "bench", "fit", "--programs", "table", "--targets", 1, "--methods", "cd,mcts",
                         "--budget", 4, "--views", 3, "--output", out)
    assert rc == 0, err
    records = json.loads(out.read_text())
    assert [r["method"] for r in records] == ["cd", "mcts"]
    for r in records:
        assert r["program"] == "table" and r["discrete_total"] >= 2
        assert 0 <= r["discrete_correct"] <= r["discrete_total"] and r["chamfer_cm"] >= 0
        assert r["seconds"] > 0 and math.isfinite(r["objective"])
        if "miss" in r:  # diagnosed: the truth's objective is there and the kind follows from it
            assert r["miss"] == ("search" if r["objective"] > r["truth_objective"] * (1 + 1e-3) else "not identifiable")
            assert f"[{r['miss']}: objective" in text  # printed as text, not taken for console markup
    lines = text.strip().splitlines()
    assert sum(line.startswith("  table #0") for line in lines) == 2
    assert lines[-1].startswith("best=") and "discrete_accuracy=" in lines[-1] and "continuous_mae=" in lines[-1]
    assert ("beats_cd_on=" in lines[-1]) == (not lines[-1].startswith("best=cd"))
    rc, _, err = _run(capsys, "bench", "fit", "--programs", "nosuch", "--targets", 1)
    assert rc == 2 and "unknown program 'nosuch'" in err


def test_fit_config_reruns_the_recorded_fit_exactly(tmp_path, capsys):
    """result.json records the inputs and the whole config tree (nested options included); ``fit --config``
    runs the same fit again: with an evaluation budget it reproduces the result exactly."""
    scene = ROOT / "sample_scenes" / "scenes" / "chair_s1"
    chair = ROOT / "sample_scenes" / "programs" / "chair.json"
    first = tmp_path / "first"
    rc, _, err = _run(capsys, "fit", "-p", chair, "--frames", scene, "--instance-id", 1, "--budget", 600,
                      "--max-evaluations", 250, "--seed", 4, "--mcts.pilot-steps", 8, "--mcts.refine-steps", 6,
                      "--mcts.final-steps", 15, "--objective.silhouette-weight", 0.1, "--quiet", "-o", first)
    assert rc == 0, err
    a = json.loads((first / "result.json").read_text())
    assert a["config"]["mcts"]["pilot_steps"] == 8 and a["config"]["objective"]["silhouette_weight"] == 0.1
    assert a["config"]["seed"] == 4 and a["config"]["max_evaluations"] == 250
    assert a["provenance"]["inputs"]["frames"] == str(scene.resolve()) and len(a["provenance"]["scan_sha256"]) == 64
    from translator.ir import program_hash

    assert a["provenance"]["program_sha256"] == program_hash(load_any(chair))
    again = tmp_path / "again"
    rc, _, err = _run(capsys, "fit", "--config", first / "result.json", "--quiet", "-o", again)
    assert rc == 0, err
    b = json.loads((again / "result.json").read_text())
    assert b["config"] == a["config"] and b["provenance"]["scan_sha256"] == a["provenance"]["scan_sha256"]
    for key in ("discrete", "continuous", "objective", "terms", "world_from_program", "evaluations"):
        assert b[key] == a[key], key
    # an option given beside --config replaces the recorded one
    rc, _, err = _run(capsys, "fit", "--config", first / "result.json", "--seed", 5, "--max-evaluations", 60,
                      "--quiet", "-o", tmp_path / "other")
    assert rc == 0, err
    c = json.loads((tmp_path / "other" / "result.json").read_text())
    assert c["config"]["seed"] == 5 and c["config"]["mcts"]["pilot_steps"] == 8
    rc, _, err = _run(capsys, "fit", "--config", tmp_path / "nope.json", "-o", tmp_path / "x")
    assert rc == 2 and "nope.json: no such file" in _error_line(err)
