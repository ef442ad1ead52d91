"""A scene's floor, gravity and walls, estimated once from the whole scene (:func:`estimate`), never per
object: a segment of a chair says little about where the floor is, the room says a lot.

* **Floor and gravity**: a plane fitted (RANSAC, then least squares on its inliers) to the points labelled
  floor, or without such labels to the largest near-horizontal plane among the scene's lowest points. Its
  normal is gravity; when it is more than 0.5 degrees off the scan's z axis, :attr:`Structure.level` rotates
  the scene upright (fits happen there; outputs go back to the scan's frame).
* **Walls**: vertical planes found one after another (sequential RANSAC) among the points labelled wall, or
  without such labels among the points of no object, each with the span and heights its points cover, its
  normal pointing into the room (towards the scene's centre). A plane's points are split into contiguous runs
  (a gap of over a metre separates them), each a wall of its own: sparse pieces of different walls that happen
  to line up across the room (a partition's stub, a window's jamb) are not a wall through the middle of it.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..structures import ScanError
from .model import Scene, Structure, Wall

__all__ = ["estimate", "fit_plane", "level_points", "wall_planes"]


def fit_plane(points: np.ndarray, threshold: float = 0.02, iterations: int = 200, seed: int = 0,
              max_tilt_deg: float | None = None) -> tuple[np.ndarray, float, np.ndarray]:
    """RANSAC plane ``n . x + d = 0`` through ``points (P, 3)`` (``n`` unit, ``n_z >= 0``), refined by least
    squares on its inliers (within ``threshold``). With ``max_tilt_deg`` only planes whose normal is within that
    angle of +z count. Returns ``(n (3,), d, inliers (P,) bool)``."""
    p = np.asarray(points, dtype=np.float64)
    if len(p) < 3:
        raise ScanError(f"a plane needs at least 3 points, got {len(p)}")
    rng = np.random.default_rng(seed)
    best, best_n, best_d = -1, np.array([0.0, 0.0, 1.0]), -float(np.median(p[:, 2]))
    cos_max = math.cos(math.radians(max_tilt_deg)) if max_tilt_deg is not None else -1.0
    for _ in range(iterations):
        a, b, c = p[rng.choice(len(p), 3, replace=False)]
        n = np.cross(b - a, c - a)
        norm = np.linalg.norm(n)
        if norm < 1e-9:
            continue
        n = n / norm
        if n[2] < 0:
            n = -n
        if n[2] < cos_max:
            continue
        d = -float(n @ a)
        count = int((np.abs(p @ n + d) < threshold).sum())
        if count > best:
            best, best_n, best_d = count, n, d
    inliers = np.abs(p @ best_n + best_d) < threshold
    if inliers.sum() >= 3:
        q = p[inliers]
        c = q.mean(0)
        _, _, vt = np.linalg.svd(q - c, full_matrices=False)
        n = vt[-1] if vt[-1][2] >= 0 else -vt[-1]
        best_n, best_d = n, -float(n @ c)
        inliers = np.abs(p @ best_n + best_d) < threshold
    return best_n, best_d, inliers


def _rotation_to_z(n: np.ndarray) -> np.ndarray:
    """The smallest rotation taking unit ``n`` to +z (Rodrigues)."""
    z = np.array([0.0, 0.0, 1.0])
    v = np.cross(n, z)
    s, c = np.linalg.norm(v), float(n @ z)
    if s < 1e-12:
        return np.eye(3)
    k = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]]) / s
    return np.eye(3) + s * k + (1 - c) * (k @ k)


def level_points(points: torch.Tensor, level: np.ndarray) -> torch.Tensor:
    """``points (P, 3)`` moved by ``level (4, 4)`` (float32)."""
    m = torch.as_tensor(level, dtype=torch.float64)
    return (points.double() @ m[:3, :3].T + m[:3, 3]).float()


def wall_planes(points: np.ndarray, centre: np.ndarray, *, threshold: float = 0.03, min_points: int = 150,
                min_height: float = 0.6, max_walls: int = 16, iterations: int = 300, seed: int = 0,
                max_gap: float = 1.0) -> list[Wall]:
    """Vertical planes among ``points (P, 3)`` (levelled), one after another: each the vertical plane through
    two sampled points with the most points within ``threshold``; its points are split where more than
    ``max_gap`` metres along it hold none, and when the plane's points span ``min_height`` metres of height each
    run with ``min_points`` is a wall (the plane's, with the run's span); normals point towards ``centre (2,)``. The points
    within ``3 threshold`` of a found plane leave the search (a wall's points spread wider than one
    threshold)."""
    rng = np.random.default_rng(seed)
    rest = np.asarray(points, dtype=np.float64)
    walls: list[Wall] = []
    while len(rest) >= min_points and len(walls) < max_walls:
        xy = rest[:, :2]
        best, best_n, best_d = 0, None, 0.0
        for _ in range(iterations):
            i, j = rng.choice(len(rest), 2, replace=False)
            t = xy[j] - xy[i]
            norm = np.linalg.norm(t)
            if norm < 0.2:
                continue
            n = np.array([-t[1], t[0]]) / norm
            d = -float(n @ xy[i])
            count = int((np.abs(xy @ n + d) < threshold).sum())
            if count > best:
                best, best_n, best_d = count, n, d
        if best_n is None or best < min_points:
            break
        inl = np.abs(xy @ best_n + best_d) < threshold
        q = rest[inl]
        c = q[:, :2].mean(0)  # refine: the principal direction of the inliers
        _, _, vt = np.linalg.svd(q[:, :2] - c, full_matrices=False)
        n = vt[-1]
        d = -float(n @ c)
        inl = np.abs(xy @ n + d) < threshold
        q = rest[inl]
        if float(n @ centre + d) < 0:
            n, d = -n, -d
        rest = rest[np.abs(xy @ n + d) >= 3 * threshold]  # a wall is thicker than its noise: do not find it twice
        if float(np.quantile(q[:, 2], 0.99) - np.quantile(q[:, 2], 0.01)) < min_height:
            continue
        for run in _runs(q, n, max_gap):
            # a plane through pieces of walls metres apart (a partition's stub and a window's jamb across the room)
            # is not one wall through the middle of the room: each contiguous run of its points is a wall of its own
            if len(run) < min_points:
                continue
            heights = (float(np.quantile(run[:, 2], 0.01)), float(np.quantile(run[:, 2], 0.99)))
            along = run[:, :2] @ np.array([-n[1], n[0]])
            walls.append(Wall(n, d, (float(np.quantile(along, 0.005)), float(np.quantile(along, 0.995))), heights,
                              len(run)))
    return walls


def _runs(points: np.ndarray, normal: np.ndarray, max_gap: float) -> list[np.ndarray]:
    """The points ``(P, 3)`` of a vertical plane (unit horizontal ``normal (2,)``) split into contiguous runs
    along it: a gap of more than ``max_gap`` metres without a point separates two runs."""
    along = points[:, :2] @ np.array([-normal[1], normal[0]])
    order = np.argsort(along)
    cuts = np.nonzero(np.diff(along[order]) > max_gap)[0] + 1
    return [points[idx] for idx in np.split(order, cuts)]


def estimate(scene: Scene, object_mask: torch.Tensor | None = None, seed: int = 0) -> Structure:
    """The scene's :class:`~backend.scene.model.Structure` (see the module docstring). ``object_mask`` ``(N,)``
    marks the points of objects (left out of the wall search when there are no wall labels)."""
    pts = scene.points.double().numpy()
    if len(pts) < 100:
        raise ScanError(f"{scene.source}: only {len(pts)} points; a scene needs at least 100")
    rng = np.random.default_rng(seed)
    floor_mask = scene.mask_of("floor").numpy()
    if floor_mask.sum() >= 100:
        cand, floor_source = pts[floor_mask], "labels"
    else:
        low = np.quantile(pts[:, 2], 0.3)
        cand, floor_source = pts[pts[:, 2] <= low], "plane"
    if len(cand) > 20000:
        cand = cand[rng.choice(len(cand), 20000, replace=False)]
    n, _d, inl = fit_plane(cand, 0.02, 200, seed, max_tilt_deg=20.0)
    if inl.sum() < 50:
        raise ScanError(f"{scene.source}: found no floor (no horizontal plane among the lowest points)")
    tilt = math.degrees(math.acos(min(1.0, abs(float(n[2])))))
    level = np.eye(4)
    if tilt > 0.5:
        level[:3, :3] = _rotation_to_z(n)
    floor_z = float(np.median((cand[inl] @ level[:3, :3].T)[:, 2]))
    lev = pts @ level[:3, :3].T
    wall_mask = scene.mask_of("wall").numpy()
    if wall_mask.sum() >= 150:
        wall_pts, wall_source = lev[wall_mask], "labels"
    else:
        free = np.ones(len(pts), dtype=bool) if object_mask is None else ~object_mask.numpy()
        free &= ~floor_mask & ~scene.mask_of("ceiling").numpy() & (lev[:, 2] > floor_z + 0.1)
        wall_pts, wall_source = lev[free], "planes"
    if len(wall_pts) > 30000:
        wall_pts = wall_pts[rng.choice(len(wall_pts), 30000, replace=False)]
    centre = np.median(lev[:, :2], axis=0)
    walls = wall_planes(wall_pts, centre, seed=seed) if len(wall_pts) >= 150 else []
    return Structure(level, floor_z, tilt, walls, floor_source, wall_source)
