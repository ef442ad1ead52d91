"""ScanNet scenes: segments, labels, an object's observations and frame, bad objects and files."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from backend.io import load_scan, load_scannet_scene
from tests.fixtures.scannet import make_scannet_scene
from tests.fixtures.scans import raises_one_line


def test_scannet_scene_segments_and_labels(tmp_path):
    gt = make_scannet_scene(tmp_path / "scene0007_00")
    scene = load_scannet_scene(tmp_path / "scene0007_00")
    assert scene.scene_id == "scene0007_00"
    assert len(scene.mesh.points) == len(gt["points"])
    np.testing.assert_allclose(scene.mesh.colors.numpy(), np.round(gt["colors"] * 255) / 255, atol=1e-6)
    assert scene.mesh.faces.shape == (2 * len(gt["floor_faces"]), 3)
    for oid in (0, 1, 2):
        obj = scene.object(oid)
        assert obj.label == gt["objects"][oid]["label"]
        assert obj.vertex_indices.tolist() == gt["objects"][oid]["vertices"].tolist()
    assert scene.floor_z() == pytest.approx(gt["floor_z"], abs=1e-6)
    # the same scene through its mesh path
    again = load_scannet_scene(gt["mesh"])
    assert again.object(1).vertex_indices.tolist() == scene.object(1).vertex_indices.tolist()


def test_scannet_object_observations_and_frame(tmp_path):
    gt = make_scannet_scene(tmp_path / "s")
    obs = load_scan(tmp_path / "s", object_id=1)
    chair = gt["objects"][1]
    assert obs.label == "chair"
    np.testing.assert_allclose(obs.points.numpy(), gt["points"][chair["vertices"]], atol=1e-6)
    f = obs.frame
    # origin on the floor under the chair, yaw from its footprint
    assert f.floor_z == pytest.approx(gt["floor_z"], abs=1e-6)
    np.testing.assert_allclose(f.world_from_object[:2, 3].numpy(), chair["center"][:2], atol=1e-5)
    assert f.world_from_object[2, 3].item() == pytest.approx(gt["floor_z"], abs=1e-6)
    assert abs(math.remainder(f.yaw - chair["yaw"], math.pi)) < 1e-5  # longer side along yaw (mod 180)
    np.testing.assert_allclose(f.extents.numpy(), [0.5, 0.45, 0.9], atol=1e-5)
    # the object's points in the object frame are centred and stand on z = 0
    local = (torch.linalg.inv(f.world_from_object) @ torch.cat([obs.points.double(), torch.ones(len(obs.points), 1, dtype=torch.float64)], 1).T).T
    assert local[:, 2].min().item() == pytest.approx(0.0, abs=1e-6)
    np.testing.assert_allclose(local[:, 0].max() + local[:, 0].min(), 0, atol=1e-5)
    np.testing.assert_allclose(local[:, 1].max() + local[:, 1].min(), 0, atol=1e-5)


def test_scannet_bad_objects(tmp_path):
    make_scannet_scene(tmp_path / "s")
    raises_one_line(lambda: load_scan(tmp_path / "s", object_id=5), ".aggregation.json", "no object with id 5", "1 (chair)")
    raises_one_line(lambda: load_scan(tmp_path / "s", object_id=9), ".aggregation.json", "object 9 (ghost) is empty")
    raises_one_line(lambda: load_scan(tmp_path / "s"), "say which one")


def test_scannet_mismatched_segments(tmp_path):
    gt = make_scannet_scene(tmp_path / "s")
    d = json.loads(gt["segs"].read_text())
    d["segIndices"] = d["segIndices"][:-3]
    gt["segs"].write_text(json.dumps(d))
    raises_one_line(lambda: load_scannet_scene(tmp_path / "s"), "segs.json", "segment indices for")
    gt["segs"].write_text("{ not json")
    raises_one_line(lambda: load_scannet_scene(tmp_path / "s"), "segs.json", "not valid JSON")
    gt["segs"].unlink()
    raises_one_line(lambda: load_scannet_scene(tmp_path / "s"), "segs.json", "missing")
