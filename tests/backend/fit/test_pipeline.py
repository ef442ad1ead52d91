"""fit(): fitting programs to synthetic scans, end to end, on tiny budgets.

The program is the library's bed (the smallest: 36 triangles); targets come from
:func:`backend.synth.synthesize` with known parameters and pose (tests/backend/conftest.py). Budgets are
evaluation counts where the outcome must not depend on the machine's speed.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from backend.fit import FitConfig, FitError, fit
from backend.object_frame import observations_from_points
from backend.problem import FitProblem, ProblemConfig
from tests.fixtures.fitting import QUICK, default_objective, flat


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


def _yaw_error_deg(result, truth) -> float:
    return abs(math.degrees(math.remainder(result.yaw - truth["pose"]["yaw"], 2 * math.pi)))


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
    assert result.objective < 0.8 * default_objective(problem, fine=True)  # the result's is the finer objective
    assert reports and reports[-1]["best_objective"] == pytest.approx(result.objective)
    for phase in ("search", "final"):  # the best so far never gets worse (the final phase has its own scale)
        objs = [h[1] for h in result.history if h[2] == phase]
        assert objs and all(b <= a + 1e-12 for a, b in itertools.pairwise(objs))
    assert [h[2] for h in result.history] == sorted((h[2] for h in result.history), key=("search", "final").index)
    assert set(result.terms) == {"scan_to_mesh", "mesh_to_scan", "floor", "bottom", "top", "depth", "silhouette", "free_space"}
    # searched until the budget (the last batch may pass it: at most 6 simulations x 4 poses x 2 starts x 6
    # steps), then the final refinement (at most 4 x 15)
    assert 0.8 * 400 <= result.evaluations <= 400 + 6 * 4 * 2 * 6 + 4 * 15
    # its speed, in result.json beside the evaluations
    assert result.evaluations_per_s == pytest.approx(result.evaluations / result.timings["search_s"])
    data = result.to_json()
    keys = list(data)
    assert keys[keys.index("evaluations") + 1:keys.index("evaluations") + 3] == ["evaluations_per_s", "evaluations_per_cpu_s"]
    assert data["evaluations_per_s"] == pytest.approx(result.evaluations_per_s, abs=0.01)
    assert 0 < result.timings["search_cpu_s"] and result.evaluations_per_cpu_s > 0


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
    runs = [fit(program, obs, FitConfig(method=m, budget=300, max_evaluations=160 if m == "ga" else 520,
                                        seed=3).with_search(**(small_ga if m == "ga" else QUICK)), space=space, module=module)
            for m in ("ga", "ga", "mcts", "mcts")]
    for a, b in (runs[:2], runs[2:]):
        assert len(a.history) >= 4  # the pilot, search steps, the final refinement
        assert a.discrete == b.discrete
        assert a.continuous == pytest.approx(b.continuous, abs=1e-6)
        assert a.objective == pytest.approx(b.objective, rel=1e-6)
        assert flat(a.world_from_program) == pytest.approx(flat(b.world_from_program), abs=1e-6)
        assert [h[1] for h in a.history] == pytest.approx([h[1] for h in b.history], rel=1e-6)


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


def test_a_fit_and_its_outputs_leave_torch_dynamo_unimported(tmp_path):
    """torch._dynamo costs about 2 s of start-up in every fitting process (a CLI fit, each job worker); nothing a
    fit runs (the batched Adam is ours) or writes (meshes, fitted.blend, report.png) needs it."""
    import json
    import subprocess
    import sys

    from tests.fixtures import ROOT

    code = ("import sys, json\n"
            "from backend.cli import main\n"
            f"rc = main(['fit', '--program', 'bed', '--scan', {str(ROOT / 'sample_scenes/scenes/chair_s1/object_points.ply')!r},"
            f" '--max-evaluations', '8', '-o', {str(tmp_path)!r}, '--quiet'])\n"
            "print(json.dumps([rc, 'torch._dynamo' in sys.modules]))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [0, False]
    assert (tmp_path / "report.png").is_file()
