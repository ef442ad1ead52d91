"""The data the fitting pipeline consumes: typed structures, no I/O.

* :class:`ScanError`: bad scan input (one line naming the file and the problem);
* :class:`PointCloud`: points (and optionally a mesh) read from a file;
* :class:`Frames`: RGB-D frames with their cameras;
* :class:`ObjectFrame`: an object's gravity-aligned frame (where its yaw and floor came from);
* :class:`Observations`: what a sensor saw of one object (points, frames, frame).

Readers that make these live in :mod:`backend.io`; the geometry that finds an
object's frame lives in :mod:`backend.object_frame`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from .cameras import Cameras

__all__ = ["Frames", "ObjectFrame", "Observations", "PointCloud", "ScanError", "SceneContext", "check_finite", "frame_matrix"]


class ScanError(ValueError):
    """Bad scan input. The message is one line naming the file and the problem."""


def check_finite(values: np.ndarray, what: str, where: Path | str) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        n = int(bad.reshape(len(values), -1).any(axis=1).sum()) if values.ndim > 1 else int(bad.sum())
        raise ScanError(f"{where}: {n} {what} are NaN or infinite")


@dataclass
class PointCloud:
    """Points (and optionally a mesh) read from a file.

    Attributes:
        points: ``(P, 3)`` float32 positions.
        colors: ``(P, 3)`` float32 in [0, 1], or None.
        normals: ``(P, 3)`` float32, or None.
        faces: ``(F, 3)`` int64 triangles (polygons fan-triangulated) when the file is a mesh, else None.
        path: where it came from.
    """

    points: torch.Tensor
    colors: torch.Tensor | None = None
    normals: torch.Tensor | None = None
    faces: torch.Tensor | None = None
    path: Path | None = None


@dataclass
class Frames:
    """RGB-D frames with cameras.

    Attributes:
        depth: ``(C, H, W)`` float32 metres, 0 where the sensor measured nothing.
        cameras: :class:`backend.cameras.Cameras` for the C frames (depth intrinsics,
            camera-to-world poses in ScanNet's convention).
        color: ``(C, H, W, 3)`` float32 in [0, 1] on the depth image grid, or None.
        instances: ``(C, H, W)`` int32 instance ids (0 = none) on the depth grid, or None.
        masks: ``(C, H, W)`` bool, ``instances == instance_id`` when an id was asked for, else None.
        instance_id: the id the masks select, or None.
        frame_ids: the file index of each frame (``depth/<id>.png``).
        skipped_poses: frames dropped because their pose was not finite.
        folder: the frame folder.
    """

    depth: torch.Tensor
    cameras: Cameras
    color: torch.Tensor | None = None
    instances: torch.Tensor | None = None
    masks: torch.Tensor | None = None
    instance_id: int | None = None
    frame_ids: list[int] = field(default_factory=list)
    skipped_poses: int = 0
    folder: Path | None = None

    @property
    def num_frames(self) -> int:
        return int(self.depth.shape[0])

    def to_points(self, masked: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Back-project valid depth pixels to world points.

        Returns ``points (P, 3)`` and ``colors (P, 3)`` (or None). With ``masked`` and
        masks present, only pixels inside the masks are used.
        """
        world, keep = self.cameras.backproject(self.depth)  # (C, H, W, 3), (C, H, W)
        if masked and self.masks is not None:
            keep = keep & self.masks
        pts = world[keep]
        cols = self.color[keep] if self.color is not None else None
        return pts, cols


@dataclass
class ObjectFrame:
    """A gravity-aligned object frame.

    Attributes:
        world_from_object: ``(4, 4)`` float64: rotation about +Z by ``yaw`` and
            translation to ``(center_x, center_y, floor_z)``.
        yaw: radians; the object's x axis is ``(cos yaw, sin yaw, 0)`` (the box's longer side).
        yaw_hypotheses: ``(4,)`` float64 ``yaw + k pi/2`` for k = 0..3 (a box does not tell front from back or side).
        extents: ``(3,)`` float64 box size along the object's x, y, z (for ``yaw``; swap x/y for odd hypotheses).
        floor_z: height of the floor under the object (the frame's origin).
        floor_source: where ``floor_z`` came from: ``"points"`` (the object's lowest points, which a
            later step may replace by a better estimate) or ``"given"`` (a scene's floor, a caller's).
        yaw_source: where ``yaw`` came from: ``"points"`` (the minimum-area rectangle) or ``"given"``
            (an annotated box, a caller's).
    """

    world_from_object: torch.Tensor
    yaw: float
    yaw_hypotheses: torch.Tensor
    extents: torch.Tensor
    floor_z: float
    floor_source: Literal["points", "given"] = "points"
    yaw_source: Literal["points", "given"] = "points"

    def pose(self, k: int) -> torch.Tensor:
        """``(4, 4)`` world_from_object for yaw hypothesis ``k``."""
        return frame_matrix(float(self.yaw_hypotheses[k]), self.world_from_object[:2, 3].tolist(), self.floor_z)


def frame_matrix(yaw: float, center_xy: Any, floor_z: float) -> torch.Tensor:
    m = torch.eye(4, dtype=torch.float64)
    c, s = math.cos(yaw), math.sin(yaw)
    m[0, 0], m[0, 1], m[1, 0], m[1, 1] = c, -s, s, c
    m[0, 3], m[1, 3], m[2, 3] = float(center_xy[0]), float(center_xy[1]), float(floor_z)
    return m


@dataclass
class SceneContext:
    """What surrounds one object in a scanned scene (``shapeprog fit-scene``): the structure a fit must not
    push the object into, and that hides parts of it from the sensor.

    Attributes:
        points: ``(Q, 3)`` float32 world points near the object that are not the object (floor, walls,
            neighbouring objects).
        walls: ``(W, 4)`` float64 vertical wall planes ``n . x + d = 0`` near the object, ``n`` a horizontal
            unit normal pointing into the room (towards the object).
        floor_z: world height of the floor the object stands on; None for an object that does not reach
            the floor (a wall cabinet), whose underside is in view.
        room_floor_z: world height of the room's floor (where a sensor can be held above); defaults to
            ``floor_z``.
    """

    points: torch.Tensor
    walls: torch.Tensor = field(default_factory=lambda: torch.zeros((0, 4), dtype=torch.float64))
    floor_z: float | None = None
    room_floor_z: float | None = None


@dataclass
class Observations:
    """What a sensor saw of one object, as the fitting pipeline consumes it.

    Attributes:
        points: ``(P, 3)`` float32 world points of the object.
        colors: ``(P, 3)`` float32 in [0, 1], or None.
        normals: ``(P, 3)`` float32, or None.
        frames: the RGB-D :class:`Frames` (depth ``(C, H, W)`` metres, masks ``(C, H, W)``
            bool, cameras) when the scan came as frames, else None.
        label: a category label when known (ScanNet), else "".
        frame: the object's gravity-aligned :class:`ObjectFrame` (world_from_object, yaw hypotheses).
        source: a description of where it came from.
        context: the object's surroundings in a scanned scene (:class:`SceneContext`), or None.
    """

    points: torch.Tensor
    frame: ObjectFrame
    colors: torch.Tensor | None = None
    normals: torch.Tensor | None = None
    frames: Frames | None = None
    label: str = ""
    source: str = ""
    context: SceneContext | None = None
