"""Recovery metrics (shapeprog bench fit, shapeprog demo): only active parameters count, the yaw wraps, a turned
symmetric object is compared with its equivalent description, a parameter that does not change the shape is right."""

from __future__ import annotations

import math

import pytest
import torch

from tests.fixtures import ROOT
from translator.codegen import compile_program
from translator.loading import load_any
from translator.params import parameter_space


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
