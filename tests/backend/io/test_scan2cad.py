"""Scan2CAD annotations: the quaternion convention, boxes and crops, bad files."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from backend.io import crop_box, load_scan, load_scan2cad
from tests.fixtures.scannet import make_scan2cad, make_scannet_scene, rot_z
from tests.fixtures.scans import raises_one_line


def test_scan2cad_quaternions_follow_the_w_x_y_z_convention():
    from translator.nodes.transform import quaternion_to_matrix

    # 90 degrees about z
    r = quaternion_to_matrix(torch.tensor([math.cos(math.pi / 4), 0, 0, math.sin(math.pi / 4)], dtype=torch.float64)).numpy()
    np.testing.assert_allclose(r @ [1, 0, 0], [0, 1, 0], atol=1e-12)
    # the Scan2CAD scan rotation of the published example maps ScanNet's z up to y up
    r = quaternion_to_matrix(torch.tensor([-0.7071067811865476, 0.7071067811865475, -0.0, -0.0], dtype=torch.float64)).numpy()
    np.testing.assert_allclose(r @ [0, 0, 1], [0, 1, 0], atol=1e-12)


def test_scan2cad_boxes_and_crop(tmp_path):
    gt = make_scannet_scene(tmp_path / "scene0007_00")
    chair, table = gt["objects"][1], gt["objects"][2]
    boxes = [{"center": chair["center"], "yaw": chair["yaw"], "half": np.array(chair["size"]) / 2 * 1.02},
             {"center": table["center"], "yaw": table["yaw"], "half": np.array(table["size"]) / 2 * 1.02}]
    ann_path = tmp_path / "full_annotations.json"
    exp = make_scan2cad(ann_path, "scene0007_00", boxes)
    ann = load_scan2cad(ann_path, "scene0007_00")
    assert len(ann.objects) == 2
    for o, m in zip(ann.objects, exp["box_to_scan"]):
        np.testing.assert_allclose(o.box_to_scan, m, atol=1e-9)
    pts = torch.from_numpy(gt["points"]).float()

    def in_box(b):  # independent check in the box's own axes (the floor under the object is inside too)
        local = (gt["points"] - b["center"]) @ rot_z(b["yaw"])
        return np.nonzero((np.abs(local) <= b["half"] + 1e-6).all(1))[0]

    inside = crop_box(pts, ann.objects[0].box_to_scan)
    expected = in_box(boxes[0])
    assert set(chair["vertices"].tolist()) < set(expected.tolist())
    assert np.nonzero(inside.numpy())[0].tolist() == expected.tolist()
    obs = load_scan(tmp_path / "scene0007_00", scan2cad=ann_path, scan2cad_index=1, crop_margin=0.0)
    np.testing.assert_allclose(obs.points.numpy(), gt["points"][in_box(boxes[1])], atol=1e-6)
    # oriented by the annotated box: the CAD x axis (the table's long side)
    assert abs(math.remainder(obs.frame.yaw - table["yaw"], 2 * math.pi)) < 1e-6
    # the scene has floor segments, but a Scan2CAD crop has no label; its floor is the lowest cropped point
    assert obs.frame.floor_z == pytest.approx(gt["floor_z"], abs=1e-6)


def test_scan2cad_bad_inputs(tmp_path):
    gt = make_scannet_scene(tmp_path / "scene0007_00")
    ann_path = tmp_path / "full_annotations.json"
    make_scan2cad(ann_path, "scene0007_00", [{"center": (5.0, 5.0, 1.0), "yaw": 0.0, "half": (0.2, 0.2, 0.2)}])
    raises_one_line(lambda: load_scan(tmp_path / "scene0007_00", scan2cad=ann_path, scan2cad_index=0), "full_annotations.json", "contains none of the")
    raises_one_line(lambda: load_scan(tmp_path / "scene0007_00", scan2cad=ann_path, scan2cad_index=3), "full_annotations.json", "no aligned model #3")
    raises_one_line(lambda: load_scan2cad(ann_path, "scene0001_00"), "full_annotations.json", "no annotation for scene 'scene0001_00'")
    raises_one_line(lambda: load_scan2cad(ann_path), "holds 2 scenes")
    data = json.loads(ann_path.read_text())
    data[1]["aligned_models"][0]["bbox"] = [0.1, -0.2, 0.1]
    ann_path.write_text(json.dumps(data))
    raises_one_line(lambda: load_scan2cad(ann_path, "scene0007_00"), "aligned_models[0]", "positive")
    del gt
