"""Aligning two scans of one room (:func:`register_scenes`), so that the same physical object can be found
in both by its position (``shapeprog bench real``'s consistency across captures).

Scans of a room taken on different days come in different frames: ScanNet's axis-aligned frames agree on
"up" and on the floor, not on the heading or the origin. The rooms' structure (the points labelled wall and
floor, or all points without labels; furniture may move between captures, walls do not) is thinned to a
5 cm grid, and a 2-D rigid transform (yaw, x, y; the floors' heights give z) is found by trimmed ICP from
24 starting headings (every 15 degrees) with the centres aligned; the start that ends with the smallest
trimmed mean distance wins.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .model import Scene
from .segments import voxel_thin

__all__ = ["Registration", "register_points", "register_scenes"]


@dataclass
class Registration:
    """``dst_from_src`` ``(4, 4)`` float64; ``residual``: the trimmed mean distance (metres) at the end;
    ``yaw_deg``: the heading change."""

    dst_from_src: np.ndarray
    residual: float
    yaw_deg: float

    def apply(self, points: np.ndarray) -> np.ndarray:
        """``points (P, 3)`` of the source scan in the destination's frame."""
        m = self.dst_from_src
        return np.asarray(points, dtype=np.float64) @ m[:3, :3].T + m[:3, 3]


def _structure_points(scene: Scene, max_points: int = 6000, seed: int = 0) -> np.ndarray:
    mask = scene.mask_of("wall", "floor")
    pts = scene.points[mask] if int(mask.sum()) >= 500 else scene.points
    pts = pts[voxel_thin(pts, 0.05)]
    if len(pts) > max_points:
        pts = pts[torch.randperm(len(pts), generator=torch.Generator().manual_seed(seed))[:max_points]]
    return pts.double().numpy()


def _rigid_2d(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares rotation ``R (2, 2)`` and translation ``t (2,)`` with ``R a + t ~ b``."""
    ca, cb = a.mean(0), b.mean(0)
    h = (a - ca).T @ (b - cb)
    u, _, vt = np.linalg.svd(h)
    r = vt.T @ u.T
    if np.linalg.det(r) < 0:
        vt[-1] *= -1
        r = vt.T @ u.T
    return r, cb - r @ ca


def register_points(src: np.ndarray, dst: np.ndarray, *, starts: int = 24, iterations: int = 40,
                    keep: float = 0.8) -> Registration:
    """Align ``src (P, 3)`` to ``dst (Q, 3)`` (both z-up) by a yaw and an x-y shift (see the module docstring);
    z is shifted by the difference of the lowest points' heights."""
    from scipy.spatial import cKDTree

    tree = cKDTree(dst[:, :2])
    c_src, c_dst = np.median(src[:, :2], 0), np.median(dst[:, :2], 0)
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    for k in range(starts):
        a = 2 * math.pi * k / starts
        r = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
        t = c_dst - r @ c_src
        err = math.inf
        for _ in range(iterations):
            moved = src[:, :2] @ r.T + t
            d, j = tree.query(moved, k=1)
            cut = np.quantile(d, keep)
            sel = d <= cut
            err = float(d[sel].mean())
            r, t = _rigid_2d(src[sel, :2], dst[j[sel], :2])
        moved = src[:, :2] @ r.T + t
        d, _ = tree.query(moved, k=1)
        err = float(np.sort(d)[: int(keep * len(d))].mean())
        if best is None or err < best[0]:
            best = (err, r, t)
    err, r, t = best
    m = np.eye(4)
    m[:2, :2] = r
    m[:2, 3] = t
    m[2, 3] = float(np.quantile(dst[:, 2], 0.02) - np.quantile(src[:, 2], 0.02))
    return Registration(m, err, math.degrees(math.atan2(r[1, 0], r[0, 0])))


def register_scenes(src: Scene, dst: Scene, seed: int = 0) -> Registration:
    """The transform taking ``src``'s frame to ``dst``'s (see the module docstring)."""
    return register_points(_structure_points(src, seed=seed), _structure_points(dst, seed=seed))
