"""PLY point clouds and meshes: reading, writing, bad files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from backend.io import load_ply, write_point_cloud
from tests.fixtures.scannet import write_ply
from tests.fixtures.scans import raises_one_line


@pytest.mark.parametrize("text", [False, True])
def test_ply_point_cloud_with_colors_and_normals(tmp_path, text):
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(50, 3))
    nrm = rng.normal(size=(50, 3))
    col = rng.integers(0, 256, size=(50, 3)) / 255.0
    path = tmp_path / "cloud.ply"
    write_ply(path, pts, col, nrm, text=text)
    pc = load_ply(path)
    assert pc.points.shape == (50, 3) and pc.points.dtype == torch.float32
    np.testing.assert_allclose(pc.points.numpy(), pts, atol=1e-5 if text else 1e-6)
    np.testing.assert_allclose(pc.normals.numpy(), nrm, atol=1e-5 if text else 1e-6)
    np.testing.assert_allclose(pc.colors.numpy(), col, atol=1e-6)
    assert pc.faces is None


def test_ply_float_colors_and_no_extras(tmp_path):
    pts = np.arange(12, dtype=float).reshape(4, 3)
    write_ply(tmp_path / "f.ply", pts, np.full((4, 3), 0.25), float_colors=True)
    pc = load_ply(tmp_path / "f.ply")
    np.testing.assert_allclose(pc.colors.numpy(), 0.25)
    write_ply(tmp_path / "bare.ply", pts)
    pc = load_ply(tmp_path / "bare.ply")
    assert pc.colors is None and pc.normals is None


@pytest.mark.parametrize("text", [False, True])
def test_ply_mesh_polygons_are_fan_triangulated_in_order(tmp_path, text):
    pts = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [2, 0, 0], [2, 1, 0], [3, 0.5, 0]], float)
    faces = [[0, 1, 2, 3], [1, 4, 5], [4, 6, 5, 2, 1]]
    write_ply(tmp_path / "m.ply", pts, faces=faces, text=text)
    pc = load_ply(tmp_path / "m.ply")
    expected = [[0, 1, 2], [0, 2, 3], [1, 4, 5], [4, 6, 5], [4, 5, 2], [4, 2, 1]]
    assert pc.faces.tolist() == expected


def test_write_point_cloud_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    pts = torch.from_numpy(rng.normal(size=(20, 3)).astype(np.float32))
    col = torch.from_numpy(rng.integers(0, 256, size=(20, 3)).astype(np.float32) / 255)
    write_point_cloud(tmp_path / "o.ply", pts, col, normals=pts)
    pc = load_ply(tmp_path / "o.ply")
    torch.testing.assert_close(pc.points, pts)
    torch.testing.assert_close(pc.normals, pts)
    torch.testing.assert_close(pc.colors, col, atol=1e-6, rtol=0)


def test_ply_bad_inputs(tmp_path):
    (tmp_path / "garbage.ply").write_bytes(b"not a ply at all\n\x00\x01")
    raises_one_line(lambda: load_ply(tmp_path / "garbage.ply"), "garbage.ply", "cannot read PLY")

    write_ply(tmp_path / "trunc.ply", np.zeros((100, 3)))
    data = (tmp_path / "trunc.ply").read_bytes()
    (tmp_path / "trunc.ply").write_bytes(data[: len(data) - 500])
    raises_one_line(lambda: load_ply(tmp_path / "trunc.ply"), "trunc.ply", "cannot read PLY")

    pts = np.zeros((5, 3))
    pts[2, 1] = np.nan
    pts[4, 0] = np.inf
    write_ply(tmp_path / "nan.ply", pts)
    raises_one_line(lambda: load_ply(tmp_path / "nan.ply"), "nan.ply", "2 points are NaN or infinite")

    write_ply(tmp_path / "empty.ply", np.zeros((0, 3)))
    raises_one_line(lambda: load_ply(tmp_path / "empty.ply"), "empty.ply", "no points")

    write_ply(tmp_path / "badface.ply", np.zeros((3, 3)), faces=[[0, 1, 5]])
    raises_one_line(lambda: load_ply(tmp_path / "badface.ply"), "badface.ply", "outside 0..2")

    raises_one_line(lambda: load_ply(tmp_path / "missing.ply"), "missing.ply", "no such file")
