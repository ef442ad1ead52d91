"""Scan inputs: PLY, ScanNet frame folders, ScanNet scenes, Scan2CAD boxes, object frames, bad input."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from backend.io import crop_box, load_frames, load_ply, load_scan, load_scan2cad, load_scannet_scene, write_point_cloud
from backend.object_frame import min_area_rectangle, object_frame
from backend.structures import ScanError
from tests.fixtures.scannet import (
    box_surface_points,
    make_frame_folder,
    make_scan2cad,
    make_scannet_scene,
    rot_z,
    write_depth_png,
    write_matrix,
    write_ply,
)


def raises_one_line(fn, *needles: str) -> str:
    """``fn()`` raises :class:`ScanError` with a one-line message containing every needle."""
    with pytest.raises(ScanError) as excinfo:
        fn()
    msg = str(excinfo.value)
    assert "\n" not in msg, msg
    for n in needles:
        assert n in msg, (n, msg)
    return msg


# ---------------------------------------------------------------------------
# PLY


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


# ---------------------------------------------------------------------------
# ScanNet scenes


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


# ---------------------------------------------------------------------------
# Scan2CAD


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


# ---------------------------------------------------------------------------
# Object frame


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


# ---------------------------------------------------------------------------
# RGB-D frame folders


def _expected_world_points(gt, frame_id):
    fx, fy, cx, cy = gt["K"]
    h, w = gt["h"], gt["w"]
    v, u = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    z = gt["depth"]
    cam = np.stack([(u - cx) / fx * z, (v - cy) / fy * z, z, np.ones_like(z)], -1)
    return (cam @ gt["poses"][frame_id].T)[..., :3]


def test_frames_read_and_backproject(tmp_path):
    gt = make_frame_folder(tmp_path / "f", n=5, invalid_pose=(2,))
    with pytest.warns(UserWarning, match="skipped 1 frame"):
        fr = load_frames(tmp_path / "f", instance_id=3)
    assert fr.frame_ids == [0, 1, 3, 4] and fr.skipped_poses == 1
    assert fr.depth.shape == (4, gt["h"], gt["w"])
    np.testing.assert_allclose(fr.depth[0].numpy(), gt["depth"], atol=1e-6)
    assert fr.masks.shape == (4, gt["h"], gt["w"]) and fr.masks.dtype == torch.bool
    assert (fr.masks[1].numpy() == gt["mask"]).all()
    np.testing.assert_allclose(fr.color[2].numpy(), gt["colors"][3] / 255.0, atol=1e-6)  # the 3rd kept frame is frame 3
    np.testing.assert_allclose(fr.cameras.cam_to_world[2].numpy(), gt["poses"][3], atol=1e-6)
    pts, cols = fr.to_points(masked=True)
    expected = np.concatenate([_expected_world_points(gt, i)[gt["mask"] & (gt["depth"] > 0)] for i in fr.frame_ids])
    np.testing.assert_allclose(pts.numpy(), expected, atol=1e-4)
    assert cols.shape == pts.shape
    all_pts, _ = fr.to_points(masked=False)
    assert len(all_pts) == 4 * (gt["h"] * gt["w"] - 1)  # every pixel but the missing one


def test_frames_subsampling(tmp_path):
    make_frame_folder(tmp_path / "f", n=9, invalid_pose=())
    assert load_frames(tmp_path / "f", every=3).frame_ids == [0, 3, 6]
    assert load_frames(tmp_path / "f", max_frames=3).frame_ids == [0, 4, 8]
    assert load_frames(tmp_path / "f", every=2, max_frames=2).frame_ids == [0, 8]


def test_frames_observations(tmp_path):
    make_frame_folder(tmp_path / "f", n=3, invalid_pose=())
    obs = load_scan(tmp_path / "f", instance_id=3)
    assert obs.frames is not None and obs.frames.instance_id == 3
    assert len(obs.points) == 3 * int(obs.frames.masks[0].sum())
    assert obs.frame.floor_z == pytest.approx(obs.points[:, 2].min().item())


@pytest.mark.parametrize("scale_color, scale_mask", [(2, 1), (2, 2)])
def test_frames_color_and_masks_aligned_with_color_intrinsics(tmp_path, scale_color, scale_mask):
    gt = make_frame_folder(tmp_path / "f", n=2, invalid_pose=(), color_scale=scale_color, mask_scale=scale_mask)
    fr = load_frames(tmp_path / "f", instance_id=3)
    assert fr.color.shape == (2, gt["h"], gt["w"], 3)
    assert (fr.masks[0].numpy() == gt["mask"]).all()
    np.testing.assert_allclose(fr.color[1].numpy(), gt["colors"][1] / 255.0, atol=0.03)  # jpeg


def test_frames_bad_inputs(tmp_path):
    def fresh(name, **kw):
        make_frame_folder(tmp_path / name, n=3, invalid_pose=(), **kw)
        return tmp_path / name

    # NaN / inf depth (float depth in metres)
    f = fresh("nan")
    d = np.full((24, 32), 1.0, dtype=np.float32)
    d[3, 4] = np.nan
    d[5, 6] = np.inf
    (f / "depth" / "1.png").unlink()
    np.save(f / "depth" / "1.npy", d)
    raises_one_line(lambda: load_frames(f), "1.npy", "2 depth pixels are NaN or infinite")

    # missing intrinsics
    f = fresh("noK")
    (f / "intrinsic" / "intrinsic_depth.txt").unlink()
    raises_one_line(lambda: load_frames(f), "intrinsic_depth.txt", "missing intrinsics")

    # mismatched sizes
    f = fresh("size_color")
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(f / "color" / "1.png")
    raises_one_line(lambda: load_frames(f), "1.png", "differs from")
    f = fresh("size_all_color")
    for i in range(3):
        Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(f / "color" / f"{i}.png")
    raises_one_line(lambda: load_frames(f), "color", "does not match depth size 32x24", "intrinsic_color.txt")
    f = fresh("size_mask")
    for i in range(3):
        Image.fromarray(np.zeros((12, 16), np.uint8)).save(f / "instance-filt" / f"{i}.png")
    raises_one_line(lambda: load_frames(f, instance_id=3), "instance-filt", "mask size 16x12 does not match depth size 32x24")
    f = fresh("size_depth")
    write_depth_png(f / "depth" / "2.png", np.ones((20, 32)))
    raises_one_line(lambda: load_frames(f), "2.png", "depth size 32x20 differs")

    # empty masks: an instance id absent from every mask
    f = fresh("empty_mask")
    raises_one_line(lambda: load_frames(f, instance_id=5), "instance-filt", "instance id 5 does not appear", "ids present: 3, 7")

    # unreadable files
    f = fresh("bad_png")
    (f / "depth" / "1.png").write_bytes(b"\x89PNG garbage")
    raises_one_line(lambda: load_frames(f), "1.png", "cannot read image")
    f = fresh("rgb_depth")
    Image.fromarray(np.zeros((24, 32, 3), np.uint8)).save(f / "depth" / "0.png")
    raises_one_line(lambda: load_frames(f), "0.png", "16-bit")
    f = fresh("bad_pose")
    (f / "pose" / "1.txt").write_text("1 0 0\n0 1 0\n")
    raises_one_line(lambda: load_frames(f), "1.txt", "pose")
    f = fresh("skew_pose")
    write_matrix(f / "pose" / "1.txt", np.diag([2.0, 1, 1, 1]))
    raises_one_line(lambda: load_frames(f), "1.txt", "not a rigid")
    f = fresh("no_pose")
    (f / "pose" / "2.txt").unlink()
    raises_one_line(lambda: load_frames(f), "2.txt", "missing pose")

    # every pose invalid
    make_frame_folder(tmp_path / "allbad", n=2, invalid_pose=(0, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raises_one_line(lambda: load_frames(tmp_path / "allbad"), "allbad", "no frame has a valid pose (2 invalid)")

    # not a frame folder / no mask folder
    raises_one_line(lambda: load_frames(tmp_path / "nope"), "nope", "no such frame folder")
    f = fresh("nomasks")
    for p in (f / "instance-filt").iterdir():
        p.unlink()
    (f / "instance-filt").rmdir()
    raises_one_line(lambda: load_frames(f, instance_id=3), "nomasks", "no instance-filt/ folder")


def test_load_scan_bad_paths(tmp_path):
    raises_one_line(lambda: load_scan(tmp_path / "nothing.ply"), "nothing.ply", "no such file")
    (tmp_path / "x.txt").write_text("hi")
    raises_one_line(lambda: load_scan(tmp_path / "x.txt"), "x.txt", "not a scan")
