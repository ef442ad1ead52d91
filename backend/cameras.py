"""Pinhole cameras in ScanNet's (OpenCV's) convention.

Camera frame: the camera looks down ``+Z``, ``+X`` points right and ``+Y``
down in the image. A camera-frame point ``(x, y, z)`` with ``z > 0`` lands on
pixel coordinates::

    u = fx * x / z + cx        v = fy * y / z + cy

Pixel centres sit at integer coordinates: the pixel in column ``j`` and row
``i`` (``image[i, j]``) is centred at ``(u, v) = (j, i)`` and covers
``[j - 0.5, j + 0.5] x [i - 0.5, i + 0.5]``. This is how ScanNet's
``intrinsic_depth.txt`` and OpenCV's calibration read, so depth images
back-project with no half-pixel shift.

Poses are 4x4 camera-to-world matrices (ScanNet's ``pose/N.txt``)::

    X_world = R @ X_cam + t        cam_to_world = [[R, t], [0, 0, 0, 1]]

Shapes: ``C`` views, ``H x W`` images; ``intrinsics`` rows are
``[fx, fy, cx, cy]`` in pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch

__all__ = ["Cameras", "intrinsics_from_fov"]

_RIGID_TOL = 1e-3


def intrinsics_from_fov(width: int, height: int, fov_y_degrees: float) -> torch.Tensor:
    """``(4,)`` ``[fx, fy, cx, cy]`` of a camera with square pixels, the principal
    point at the image centre and vertical field of view ``fov_y_degrees``."""
    if not 0.0 < fov_y_degrees < 180.0:
        raise ValueError(f"fov_y_degrees must be in (0, 180), got {fov_y_degrees}")
    f = 0.5 * height / math.tan(math.radians(fov_y_degrees) / 2)
    return torch.tensor([f, f, (width - 1) / 2, (height - 1) / 2], dtype=torch.float32)


@dataclass
class Cameras:
    """``C`` pinhole cameras sharing one image size.

    Attributes:
        intrinsics: ``(C, 4)`` ``[fx, fy, cx, cy]`` in pixels (``(4,)`` or ``(1, 4)``
            is broadcast to every view).
        cam_to_world: ``(C, 4, 4)`` rigid camera-to-world poses (ScanNet convention).
        width: image width ``W`` in pixels.
        height: image height ``H`` in pixels.
    """

    intrinsics: torch.Tensor
    cam_to_world: torch.Tensor
    width: int
    height: int

    def __post_init__(self) -> None:
        pose = torch.as_tensor(self.cam_to_world)
        if not pose.is_floating_point():
            pose = pose.float()
        if pose.ndim == 2:
            pose = pose[None]
        if pose.ndim != 3 or pose.shape[1:] != (4, 4):
            raise ValueError(f"cam_to_world must be (C, 4, 4), got shape {tuple(pose.shape)}")
        intr = torch.as_tensor(self.intrinsics, device=pose.device).to(pose.dtype)
        if intr.ndim == 1:
            intr = intr[None]
        if intr.ndim != 2 or intr.shape[1] != 4 or intr.shape[0] not in (1, pose.shape[0]):
            raise ValueError(f"intrinsics must be (C, 4) [fx, fy, cx, cy] with C = {pose.shape[0]} views, "
                             f"got shape {tuple(torch.as_tensor(self.intrinsics).shape)}")
        intr = intr.expand(pose.shape[0], 4)
        for name, val in (("width", self.width), ("height", self.height)):
            if isinstance(val, bool) or int(val) != val or int(val) <= 0:
                raise ValueError(f"{name} must be a positive integer, got {val!r}")
        if not torch.isfinite(intr).all():
            raise ValueError("intrinsics contain NaN or inf")
        if (intr[:, :2] <= 0).any():
            bad = int(torch.nonzero((intr[:, :2] <= 0).any(1))[0])
            raise ValueError(f"focal lengths must be positive, view {bad} has fx, fy = {intr[bad, :2].tolist()}")
        _check_rigid(pose)
        self.intrinsics = intr
        self.cam_to_world = pose
        self.width = int(self.width)
        self.height = int(self.height)

    # ------------------------------------------------------------------ basics
    def __len__(self) -> int:
        return int(self.cam_to_world.shape[0])

    @property
    def num_views(self) -> int:
        return len(self)

    @property
    def device(self) -> torch.device:
        return self.cam_to_world.device

    @property
    def dtype(self) -> torch.dtype:
        return self.cam_to_world.dtype

    def __getitem__(self, index) -> Cameras:
        """Select views (an int keeps the view dimension)."""
        if isinstance(index, int):
            index = slice(index, index + 1) if index != -1 else slice(-1, None)
        return replace(self, intrinsics=self.intrinsics[index], cam_to_world=self.cam_to_world[index])

    def to(self, device=None, dtype=None) -> Cameras:
        """These cameras on ``device`` / in ``dtype`` (themselves when nothing changes, as ``Tensor.to``)."""
        if (device is None or torch.device(device) == self.device) and (dtype is None or dtype == self.dtype) \
                and self.intrinsics.device == self.device and self.intrinsics.dtype == self.dtype:
            return self
        return replace(self, intrinsics=self.intrinsics.to(device=device, dtype=dtype),
                       cam_to_world=self.cam_to_world.to(device=device, dtype=dtype))

    @property
    def rotation(self) -> torch.Tensor:
        """``(C, 3, 3)`` camera-to-world rotation (columns: camera axes in world)."""
        return self.cam_to_world[:, :3, :3]

    @property
    def centers(self) -> torch.Tensor:
        """``(C, 3)`` camera centres in world coordinates."""
        return self.cam_to_world[:, :3, 3]

    def world_to_cam_matrix(self) -> torch.Tensor:
        """``(C, 4, 4)`` world-to-camera matrices (the rigid inverse of ``cam_to_world``)."""
        r = self.rotation.transpose(1, 2)
        t = -(r @ self.centers[:, :, None])
        out = torch.zeros_like(self.cam_to_world)
        out[:, :3, :3] = r
        out[:, :3, 3:] = t
        out[:, 3, 3] = 1
        return out

    # ------------------------------------------------------------- transforms
    def world_to_cam(self, points: torch.Tensor) -> torch.Tensor:
        """World points ``(..., P, 3)`` -> camera-frame points ``(C, ..., P, 3)``."""
        _check_points(points, "points")
        r = self.rotation.to(points.dtype)
        t = self.centers.to(points.dtype)
        c = len(self)
        lead = points.shape[:-1]
        flat = points.reshape(1, -1, 3) - t[:, None, :]  # (C, M, 3)
        cam = torch.bmm(flat, r)  # (X - t) @ R == R^T (X - t)
        return cam.reshape(c, *lead, 3)

    def cam_to_world_points(self, points: torch.Tensor) -> torch.Tensor:
        """Camera-frame points ``(C, ..., P, 3)`` -> world points ``(C, ..., P, 3)``."""
        _check_points(points, "points")
        if points.shape[0] != len(self):
            raise ValueError(f"points must start with the {len(self)} views, got shape {tuple(points.shape)}")
        r = self.rotation.to(points.dtype)
        t = self.centers.to(points.dtype)
        flat = points.reshape(len(self), -1, 3)
        return (torch.bmm(flat, r.transpose(1, 2)) + t[:, None, :]).reshape(points.shape)

    def project(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """World points ``(..., P, 3)`` -> pixel coordinates ``(C, ..., P, 2)`` ``(u, v)``
        and camera-frame depth ``z`` ``(C, ..., P)``. Points with ``z <= 0`` get
        meaningless ``(u, v)``; check ``z``."""
        cam = self.world_to_cam(points)
        return self.cam_points_to_pixels(cam), cam[..., 2]

    def cam_points_to_pixels(self, cam: torch.Tensor) -> torch.Tensor:
        """Camera-frame points ``(C, ..., P, 3)`` -> pixel coordinates ``(C, ..., P, 2)``."""
        intr = self.intrinsics.to(cam.dtype).reshape(len(self), *([1] * (cam.ndim - 2)), 4)
        z = cam[..., 2]
        u = intr[..., 0] * cam[..., 0] / z + intr[..., 2]
        v = intr[..., 1] * cam[..., 1] / z + intr[..., 3]
        return torch.stack([u, v], dim=-1)

    def pixel_rays(self, dtype=None) -> torch.Tensor:
        """``(C, H, W, 3)`` camera-frame ray directions ``((u - cx) / fx, (v - cy) / fy, 1)``
        through every pixel centre (``z = 1``, so ``depth * ray`` is the camera-frame point)."""
        dtype = dtype or self.dtype
        intr = self.intrinsics.to(dtype)
        u = torch.arange(self.width, device=self.device, dtype=dtype)
        v = torch.arange(self.height, device=self.device, dtype=dtype)
        x = (u[None, None, :] - intr[:, 2, None, None]) / intr[:, 0, None, None]
        y = (v[None, :, None] - intr[:, 3, None, None]) / intr[:, 1, None, None]
        c = len(self)
        x = x.expand(c, self.height, self.width)
        y = y.expand(c, self.height, self.width)
        return torch.stack([x, y, torch.ones_like(x)], dim=-1)

    def backproject(self, depth: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Depth images ``(C, H, W)`` (camera-frame ``z``; ``0``/non-finite = invalid)
        -> world points ``(C, H, W, 3)`` and a valid mask ``(C, H, W)`` bool.
        Invalid pixels get point ``(0, 0, 0)``."""
        if depth.ndim != 3 or tuple(depth.shape) != (len(self), self.height, self.width):
            raise ValueError(f"depth must be (C, H, W) = ({len(self)}, {self.height}, {self.width}), "
                             f"got shape {tuple(depth.shape)}")
        dtype = depth.dtype if depth.is_floating_point() else self.dtype
        d = depth.to(dtype)
        valid = torch.isfinite(d) & (d > 0)
        d = torch.where(valid, d, torch.zeros_like(d))
        cam = self.pixel_rays(dtype) * d[..., None]
        world = self.cam_to_world_points(cam)
        return torch.where(valid[..., None], world, torch.zeros_like(world)), valid

    # ----------------------------------------------------------- constructors
    @classmethod
    def look_at(cls, eye, target, up: Sequence[float] = (0.0, 0.0, 1.0), *, intrinsics, width: int,
                height: int) -> Cameras:
        """Cameras at ``eye`` ``(C, 3)`` looking at ``target`` ``(C, 3)`` (or ``(3,)``), with
        world ``up`` pointing up in the image. ``intrinsics``: ``(4,)`` or ``(C, 4)``."""
        eye_t = torch.as_tensor(eye)
        dtype = eye_t.dtype if eye_t.is_floating_point() else torch.get_default_dtype()
        eye_t = torch.atleast_2d(eye_t.to(dtype))
        target_t = torch.atleast_2d(torch.as_tensor(target, dtype=dtype, device=eye_t.device))
        up_t = torch.atleast_2d(torch.as_tensor(up, dtype=dtype, device=eye_t.device))
        for name, t in (("eye", eye_t), ("target", target_t), ("up", up_t)):
            if t.ndim != 2 or t.shape[1] != 3:
                raise ValueError(f"{name} must be (3,) or (C, 3), got shape {tuple(t.shape)}")
        eye_t, target_t, up_t = torch.broadcast_tensors(eye_t, target_t, up_t)
        fwd = target_t - eye_t
        norm = fwd.norm(dim=1, keepdim=True)
        if (norm < 1e-12).any():
            raise ValueError("look_at: eye and target coincide")
        z = fwd / norm
        x = torch.linalg.cross(z, up_t, dim=1)
        xn = x.norm(dim=1, keepdim=True)
        if (xn < 1e-9 * up_t.norm(dim=1, keepdim=True)).any():
            raise ValueError("look_at: the viewing direction is parallel to up")
        x = x / xn
        y = torch.linalg.cross(z, x, dim=1)
        pose = torch.zeros((eye_t.shape[0], 4, 4), dtype=dtype, device=eye_t.device)
        pose[:, :3, 0] = x
        pose[:, :3, 1] = y
        pose[:, :3, 2] = z
        pose[:, :3, 3] = eye_t
        pose[:, 3, 3] = 1
        return cls(intrinsics=torch.as_tensor(intrinsics, dtype=dtype, device=eye_t.device), cam_to_world=pose,
                   width=width, height=height)


def _check_points(points: torch.Tensor, name: str) -> None:
    if not isinstance(points, torch.Tensor) or points.ndim < 1 or points.shape[-1] != 3:
        shape = tuple(points.shape) if isinstance(points, torch.Tensor) else type(points).__name__
        raise ValueError(f"{name} must be (..., 3), got shape {shape}")


def _check_rigid(pose: torch.Tensor) -> None:
    if not torch.isfinite(pose).all():
        bad = int(torch.nonzero(~torch.isfinite(pose).reshape(pose.shape[0], -1).all(1))[0])
        raise ValueError(f"cam_to_world of view {bad} contains NaN or inf")
    bottom = pose[:, 3, :]
    expect = torch.tensor([0, 0, 0, 1], dtype=pose.dtype, device=pose.device)
    bad = (bottom - expect).abs().amax(1) > _RIGID_TOL
    if bad.any():
        i = int(torch.nonzero(bad)[0])
        raise ValueError(f"cam_to_world of view {i} must end with the row [0, 0, 0, 1], got {bottom[i].tolist()}")
    r = pose[:, :3, :3].double()
    eye = torch.eye(3, dtype=r.dtype, device=r.device)
    err = (r.transpose(1, 2) @ r - eye).abs().amax((1, 2))
    det = torch.linalg.det(r)
    bad = (err > _RIGID_TOL) | (det < 0)
    if bad.any():
        i = int(torch.nonzero(bad)[0])
        raise ValueError(f"cam_to_world of view {i} is not a rotation plus translation "
                         f"(|R^T R - I| = {float(err[i]):.3g}, det R = {float(det[i]):.3g})")
