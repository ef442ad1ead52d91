"""Pinhole cameras: ScanNet/OpenCV projection, poses, back-projection, look_at, input checks."""

import math

import pytest
import torch

from backend.cameras import Cameras, intrinsics_from_fov


def _rot_z(deg: float) -> torch.Tensor:
    a = math.radians(deg)
    return torch.tensor([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)


def _pose(r: torch.Tensor, t) -> torch.Tensor:
    m = torch.eye(4, dtype=torch.float64)
    m[:3, :3] = r
    m[:3, 3] = torch.as_tensor(t, dtype=torch.float64)
    return m


def test_project_by_hand_identity_pose():
    cams = Cameras(torch.tensor([[100.0, 120.0, 50.0, 40.0]], dtype=torch.float64), torch.eye(4, dtype=torch.float64)[None], 100, 80)
    uv, z = cams.project(torch.tensor([[0.2, -0.1, 2.0], [0.0, 0.0, 1.0]], dtype=torch.float64))
    # u = fx x / z + cx, v = fy y / z + cy; the optical axis hits pixel (cx, cy)
    assert uv.shape == (1, 2, 2) and z.shape == (1, 2)
    torch.testing.assert_close(uv[0], torch.tensor([[60.0, 34.0], [50.0, 40.0]], dtype=torch.float64))
    torch.testing.assert_close(z[0], torch.tensor([2.0, 1.0], dtype=torch.float64))


def test_world_to_cam_with_pose_by_hand():
    # camera at (1, 2, 3), its axes rotated 90 degrees about world z: camera x = world y, camera y = -world x
    pose = _pose(_rot_z(90), [1.0, 2.0, 3.0])
    cams = Cameras(torch.tensor([10.0, 10.0, 5.0, 5.0]), pose[None], 10, 10)
    p = torch.tensor([[1.0, 3.0, 5.0], [0.0, 2.0, 3.0]], dtype=torch.float64)
    cam = cams.world_to_cam(p)[0]
    # X_cam = R^T (X - t): (0, 1, 2) -> (1, 0, 2); (-1, 0, 0) -> (0, 1, 0)
    torch.testing.assert_close(cam, torch.tensor([[1.0, 0.0, 2.0], [0.0, 1.0, 0.0]], dtype=torch.float64))
    torch.testing.assert_close(cams.cam_to_world_points(cam[None])[0], p)
    torch.testing.assert_close(cams.world_to_cam_matrix()[0], torch.linalg.inv(pose))
    torch.testing.assert_close(cams.centers[0], torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))


def test_batched_shapes():
    poses = torch.stack([_pose(_rot_z(a), [0, 0, -3]) for a in (0, 30, 60)])
    cams = Cameras(torch.tensor([50.0, 50.0, 20.0, 15.0]), poses, 40, 30)
    pts = torch.randn(2, 7, 3, dtype=torch.float64)
    assert cams.world_to_cam(pts).shape == (3, 2, 7, 3)
    uv, z = cams.project(pts)
    assert uv.shape == (3, 2, 7, 2) and z.shape == (3, 2, 7)
    for c in range(3):  # each view on its own equals the batch
        uv1, z1 = cams[c].project(pts)
        torch.testing.assert_close(uv1[0], uv[c])
        torch.testing.assert_close(z1[0], z[c])
    assert len(cams) == 3 and len(cams[1:]) == 2 and len(cams[-1]) == 1


def test_look_at_axes_and_image_directions():
    cams = Cameras.look_at([0.0, -3.0, 1.0], [0.0, 0.0, 1.0], intrinsics=[50.0, 50.0, 20.0, 15.0], width=40, height=30)
    r = cams.rotation[0]
    torch.testing.assert_close(r[:, 2], torch.tensor([0.0, 1.0, 0.0]))  # looks along +y
    torch.testing.assert_close(r[:, 0], torch.tensor([1.0, 0.0, 0.0]))  # image right = world +x
    torch.testing.assert_close(r[:, 1], torch.tensor([0.0, 0.0, -1.0]))  # image down = world -z
    uv, z = cams.project(torch.tensor([[0.0, 0.0, 1.0], [0.5, 0.0, 1.5]]))
    torch.testing.assert_close(uv[0, 0], torch.tensor([20.0, 15.0]))
    torch.testing.assert_close(z[0], torch.tensor([3.0, 3.0]))
    assert uv[0, 1, 0] > 20 and uv[0, 1, 1] < 15  # right and up of the centre
    assert abs(float(torch.det(r)) - 1) < 1e-6


def test_look_at_errors():
    with pytest.raises(ValueError, match="parallel to up"):
        Cameras.look_at([0.0, 0.0, 3.0], [0.0, 0.0, 0.0], intrinsics=[1, 1, 0, 0], width=2, height=2)
    with pytest.raises(ValueError, match="coincide"):
        Cameras.look_at([1.0, 0.0, 0.0], [1.0, 0.0, 0.0], intrinsics=[1, 1, 0, 0], width=2, height=2)
    with pytest.raises(ValueError, match=r"eye must be \(3,\) or \(C, 3\)"):
        Cameras.look_at([1.0, 0.0], [0.0, 0.0, 0.0], intrinsics=[1, 1, 0, 0], width=2, height=2)


def test_backproject_inverts_project():
    cams = Cameras.look_at(torch.tensor([[2.0, -2.0, 1.5], [-1.0, -3.0, 0.5]], dtype=torch.float64), [0.0, 0.0, 0.5],
                           intrinsics=[30.0, 32.0, 11.5, 8.0], width=24, height=17)
    depth = 1.0 + torch.rand(2, 17, 24, dtype=torch.float64) * 3
    depth[0, 3, 4] = 0.0
    depth[1, 5, 6] = float("nan")
    depth[1, 0, 0] = float("inf")
    world, valid = cams.backproject(depth)
    assert world.shape == (2, 17, 24, 3) and valid.shape == (2, 17, 24)
    assert not valid[0, 3, 4] and not valid[1, 5, 6] and not valid[1, 0, 0] and int(valid.sum()) == 2 * 17 * 24 - 3
    assert (world[~valid] == 0).all()
    for c in range(2):
        uv, z = cams[c].project(world[c][valid[c]])
        rows, cols = torch.nonzero(valid[c], as_tuple=True)
        torch.testing.assert_close(uv[0], torch.stack([cols, rows], 1).to(torch.float64))  # pixel centres at integers
        torch.testing.assert_close(z[0], depth[c][valid[c]])


def test_intrinsics_from_fov():
    k = intrinsics_from_fov(160, 120, 90.0)
    torch.testing.assert_close(k, torch.tensor([60.0, 60.0, 79.5, 59.5]))
    with pytest.raises(ValueError, match="fov_y_degrees"):
        intrinsics_from_fov(10, 10, 180.0)


def test_to_and_dtype():
    cams = Cameras(torch.tensor([10.0, 10.0, 5.0, 5.0]), torch.eye(4)[None], 10, 10)
    assert cams.dtype == torch.float32
    c64 = cams.to(dtype=torch.float64)
    assert c64.intrinsics.dtype == torch.float64 and c64.cam_to_world.dtype == torch.float64 and c64.width == 10


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"intrinsics": torch.ones(2, 3), "cam_to_world": torch.eye(4)[None].repeat(2, 1, 1)}, r"intrinsics must be \(C, 4\).*got shape \(2, 3\)"),
        ({"intrinsics": torch.ones(3, 4), "cam_to_world": torch.eye(4)[None].repeat(2, 1, 1)}, r"C = 2 views, got shape \(3, 4\)"),
        ({"intrinsics": torch.ones(4), "cam_to_world": torch.eye(3)[None]}, r"cam_to_world must be \(C, 4, 4\), got shape \(1, 3, 3\)"),
        ({"intrinsics": torch.tensor([0.0, 1, 0, 0]), "cam_to_world": torch.eye(4)[None]}, "focal lengths must be positive"),
        ({"intrinsics": torch.ones(4), "cam_to_world": torch.diag(torch.tensor([2.0, 2, 2, 1]))[None]}, "view 0 is not a rotation"),
        ({"intrinsics": torch.ones(4), "cam_to_world": 2 * torch.eye(4)[None]}, r"must end with the row \[0, 0, 0, 1\]"),
        ({"intrinsics": torch.ones(4), "cam_to_world": torch.full((1, 4, 4), float("nan"))}, "view 0 contains NaN"),
        ({"intrinsics": torch.ones(4), "cam_to_world": torch.eye(4)[None], "width": 0}, "width must be a positive integer"),
    ],
)
def test_constructor_errors(kwargs, message):
    args = {"width": 4, "height": 3} | kwargs
    with pytest.raises(ValueError, match=message):
        Cameras(**args)


def test_mirror_pose_rejected():
    pose = torch.eye(4)
    pose[0, 0] = -1
    with pytest.raises(ValueError, match="det R = -1"):
        Cameras(torch.ones(4), pose[None], 4, 4)


def test_method_input_errors():
    cams = Cameras(torch.tensor([10.0, 10.0, 5.0, 5.0]), torch.eye(4)[None], 10, 8)
    with pytest.raises(ValueError, match=r"points must be \(\.\.\., 3\), got shape \(5, 2\)"):
        cams.project(torch.zeros(5, 2))
    with pytest.raises(ValueError, match=r"depth must be \(C, H, W\) = \(1, 8, 10\), got shape \(8, 10\)"):
        cams.backproject(torch.zeros(8, 10))
