"""RGB-D frame folders (the ScanNet export layout): reading, back-projection, subsampling, observations,
colour and masks on the depth grid, bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from backend.io import load_frames, load_scan
from tests.fixtures.scannet import make_frame_folder, write_depth_png, write_matrix
from tests.fixtures.scans import raises_one_line


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
