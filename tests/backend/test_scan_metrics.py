"""backend.scan_metrics: the scan-fit metrics every result reports (accuracy, completeness over the seen
region, F-scores at 2.5 and 5 cm)."""

from __future__ import annotations

import math

import pytest
import torch

from backend.object_frame import observations_from_points
from backend.occlusion import Surroundings
from backend.ops.sampling import sample_surface
from backend.scan_metrics import metric_names, observation_metrics, scan_fit_metrics
from backend.structures import SceneContext
from tests.backend.ops.test_inside import CUBE_TRIS, cube

V = cube([0, 0, 0], [1, 1, 1])


def surface(n=6000, seed=1):
    return sample_surface(V[None], CUBE_TRIS, n, seed).points[0]


def test_a_perfect_fit_scores_one():
    m = scan_fit_metrics(V, CUBE_TRIS, surface(40000))  # dense enough for every surface sample to have a point within 2.5 cm
    assert list(m) == metric_names()
    assert m["accuracy_cm"] < 1e-4
    assert m["f_2_5cm"] == pytest.approx(1.0, abs=2e-3) and m["f_5cm"] == pytest.approx(1.0, abs=2e-3)
    assert m["completeness"] == pytest.approx(1.0, abs=2e-3) and m["seen_fraction"] == 1.0


def test_a_shifted_fit_loses_precision_at_the_tighter_threshold():
    pts = surface() + torch.tensor([0.0, 0.0, 0.035], dtype=torch.float64)
    m = scan_fit_metrics(V, CUBE_TRIS, pts)
    assert 0.5 < m["accuracy_cm"] < 3.5
    assert m["f_5cm"] > m["f_2_5cm"] and m["precision_2_5cm"] < 0.8


def test_hidden_surface_is_not_missing():
    pts = surface()
    back_missing = pts[pts[:, 1] < 0.99]  # the back (y = 1) stands against a wall and was never scanned
    plain = scan_fit_metrics(V, CUBE_TRIS, back_missing)
    wall = Surroundings(torch.zeros((0, 3)), torch.tensor([[0.0, -1.0, 0.0, 1.0]], dtype=torch.float64), floor_z=None)
    scene = scan_fit_metrics(V, CUBE_TRIS, back_missing, wall)
    assert plain["recall_5cm"] < 0.9 and plain["completeness"] < 0.9
    assert scene["recall_5cm"] > 0.99 and scene["completeness"] > 0.99
    # the back, a 5 cm contact strip along it on the three faces that meet it, and the bottom (no sensor is
    # held under a box) are not seen
    assert scene["seen_fraction"] == pytest.approx(4 / 6 - 3 * 0.05 / 6, abs=0.01)


def test_observation_metrics_use_the_floor_and_the_context():
    pts = surface()
    seen = pts[pts[:, 2] > 0.005].float()  # nobody scans the underside of a box on the floor
    obs = observations_from_points(seen, floor_z=0.0)
    m = observation_metrics(V, CUBE_TRIS, obs)
    assert m["completeness"] > 0.99 and math.isclose(m["seen_fraction"], 5 / 6 - 4 * 0.03 / 6, abs_tol=0.01)
    obs.context = SceneContext(torch.zeros((0, 3)), torch.tensor([[0.0, -1.0, 0.0, 1.0]], dtype=torch.float64), 0.0)
    both = observation_metrics(V, CUBE_TRIS, obs)["seen_fraction"]
    assert both == pytest.approx(4 / 6 - 3 * 0.03 / 6 - 3 * 0.05 / 6 + 2 * 0.03 * 0.05 / 6, abs=0.01)


def test_bad_input():
    with pytest.raises(ValueError, match="scan points"):
        scan_fit_metrics(V, CUBE_TRIS, torch.zeros((0, 3)))
