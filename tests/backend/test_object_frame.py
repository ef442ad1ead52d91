"""Object frames: the minimum-area rectangle, convex hulls, yaw hypotheses, the floor, stray points."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from backend.object_frame import clean_points, min_area_rectangle, object_frame
from tests.fixtures.meshes import table_scan_points
from tests.fixtures.scannet import box_surface_points
from tests.fixtures.scans import raises_one_line


def _brute_force_rectangle(xy: np.ndarray, steps: int = 20000) -> float:
    """Slow reference: the smallest bounding-rectangle area over a fine sweep of angles."""
    a = np.linspace(0, math.pi / 2, steps, endpoint=False)
    u = xy[:, 0:1] * np.cos(a) + xy[:, 1:2] * np.sin(a)
    v = -xy[:, 0:1] * np.sin(a) + xy[:, 1:2] * np.cos(a)
    return float(((u.max(0) - u.min(0)) * (v.max(0) - v.min(0))).min())


@pytest.mark.parametrize("seed", range(6))
def test_min_area_rectangle_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    xy = rng.normal(size=(200, 2)) * rng.uniform(0.2, 2.0, size=2)
    xy = xy @ np.array([[math.cos(seed), -math.sin(seed)], [math.sin(seed), math.cos(seed)]]).T
    yaw, center, size = min_area_rectangle(xy)
    assert size[0] >= size[1]
    assert -math.pi / 2 <= yaw < math.pi / 2
    assert size[0] * size[1] <= _brute_force_rectangle(xy) * (1 + 1e-6)
    assert size[0] * size[1] >= _brute_force_rectangle(xy) * (1 - 1e-3)
    # every point lies inside the returned rectangle
    c, s = math.cos(yaw), math.sin(yaw)
    d = xy - center
    u, v = d @ [c, s], d @ [-s, c]
    assert np.abs(u).max() <= size[0] / 2 + 1e-9 and np.abs(v).max() <= size[1] / 2 + 1e-9


@pytest.mark.parametrize("seed", range(6))
def test_convex_hull_equals_the_monotone_chain_reference(seed):
    from backend.object_frame import convex_hull, convex_hull_reference

    rng = np.random.default_rng(seed)
    n = [40, 500, 5000, 20000, 3, 200][seed]
    xy = rng.normal(size=(n, 2)) * [2.0, 0.5] if seed % 2 == 0 else rng.uniform(-1, 1, (n, 2))
    if seed == 5:
        xy = np.concatenate([xy, xy[:50]])  # repeated points
    np.testing.assert_array_equal(convex_hull(xy), convex_hull_reference(xy))


def test_convex_hull_of_degenerate_inputs_and_near_collinear_points_gives_the_same_rectangle():
    from backend.object_frame import convex_hull, convex_hull_reference

    line = np.stack([np.linspace(0, 1, 50), np.linspace(0, 2, 50)], 1)
    np.testing.assert_array_equal(convex_hull(line), convex_hull_reference(line))
    np.testing.assert_array_equal(convex_hull(line[:1]), line[:1])
    # a grid of 0.1 steps: collinear hull points that rounding may keep in one hull and drop in the other
    grid = np.random.default_rng(1).uniform(-1, 1, (3000, 2)).round(1)
    fast, ref = convex_hull(grid), convex_hull_reference(grid)
    assert {tuple(p) for p in fast} <= {tuple(p) for p in ref}

    def area(h):
        return 0.5 * abs(np.dot(h[:, 0], np.roll(h[:, 1], -1)) - np.dot(h[:, 1], np.roll(h[:, 0], -1)))

    assert area(fast) == pytest.approx(area(ref), rel=1e-12)


def test_min_area_rectangle_of_a_rotated_box():
    pts = box_surface_points((1.0, 2.0, 0.5), (1.2, 0.4, 1.0), yaw=2.0)
    yaw, center, size = min_area_rectangle(pts[:, :2])
    assert abs(math.remainder(yaw - 2.0, math.pi)) < 1e-6
    np.testing.assert_allclose(center, [1.0, 2.0], atol=1e-9)
    np.testing.assert_allclose(size, [1.2, 0.4], atol=1e-9)


def test_object_frame_hypotheses_and_floor():
    pts = torch.from_numpy(box_surface_points((0.3, -0.2, 0.6), (0.8, 0.5, 1.0), yaw=0.3)).float()
    f = object_frame(pts, floor_z=0.0)
    assert f.floor_z == 0.0
    np.testing.assert_allclose(f.extents.numpy(), [0.8, 0.5, 1.1], atol=1e-5)
    np.testing.assert_allclose(f.yaw_hypotheses.numpy(), f.yaw + np.arange(4) * math.pi / 2)
    for k in range(4):
        pose = f.pose(k)
        x_axis = pose[:3, 0].numpy()
        assert x_axis[2] == 0 and pose[2, 3].item() == 0.0
        assert math.atan2(x_axis[1], x_axis[0]) == pytest.approx(math.remainder(f.yaw + k * math.pi / 2, 2 * math.pi), abs=1e-9)
    raises_one_line(lambda: object_frame(torch.zeros(0, 3), where="thing"), "thing", "no points")


def test_object_frame_floor_ignores_a_stray_point():
    """Without a given floor it lies at the object's lowest points; one noise point below them does not
    sink it (a plain minimum would)."""
    pts = torch.from_numpy(box_surface_points((0.0, 0.0, 0.5), (0.8, 0.5, 1.0), yaw=0.0, n=40)).float()
    lowest = float(pts[:, 2].min())
    stray = torch.tensor([[0.1, 0.1, lowest - 0.05]])
    f = object_frame(torch.cat([pts, stray]))
    assert abs(f.floor_z - lowest) < 0.005


def test_clean_points_drops_isolated_strays_and_keeps_the_object():
    pts = table_scan_points(3000, 4).double()
    g = torch.Generator().manual_seed(6)
    strays = torch.rand(15, 3, generator=g, dtype=torch.float64) * torch.tensor([4.0, 4.0, 2.0]) + torch.tensor([-2.0, -2.0, 2.5])
    keep = clean_points(torch.cat([pts, strays]))
    assert keep[:3000].float().mean() > 0.99
    assert not keep[3000:].any()
