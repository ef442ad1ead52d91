"""An object's gravity-aligned frame, and observations built around it.

The frame (:func:`object_frame`) is gravity-aligned (+Z up), with its origin on
the floor under the object (the lowest points, or a given floor height) and yaw
hypotheses from the minimum-area rectangle around the points in the XY plane
(:func:`min_area_rectangle`, rotating calipers over the convex hull). The
frame records where its floor and yaw came from, so that later steps
(:func:`clean_observations`) know which ones they may re-estimate.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from .structures import Frames, ObjectFrame, Observations, ScanError, check_finite, frame_matrix

__all__ = ["clean_observations", "clean_points", "convex_hull", "convex_hull_reference", "floor_height", "lowest_z", "min_area_rectangle", "object_frame", "observations_from_frames", "observations_from_points"]


def convex_hull_reference(xy: np.ndarray) -> np.ndarray:
    """Convex hull (Andrew's monotone chain), counter-clockwise from the lowest-x (then lowest-y) point,
    ``(H, 2)``, collinear points left out. Plain Python per point: the reference :func:`convex_hull` is
    tested against."""
    pts = np.unique(xy, axis=0)
    if len(pts) <= 2:
        return pts

    def half(seq: np.ndarray) -> list:
        out: list = []
        for p in seq:
            while len(out) >= 2:
                (ax, ay), (bx, by) = out[-2], out[-1]
                if (bx - ax) * (p[1] - ay) - (by - ay) * (p[0] - ax) <= 0:
                    out.pop()
                else:
                    break
            out.append((p[0], p[1]))
        return out

    lower = half(pts)
    upper = half(pts[::-1])
    return np.asarray(lower[:-1] + upper[:-1], dtype=np.float64)


_DIRECTIONS = np.array([[1, 0], [1, 1], [0, 1], [-1, 1], [-1, 0], [-1, -1], [0, -1], [1, -1]], dtype=np.float64)


def _hull_candidates(xy: np.ndarray, chunk: int = 1 << 20) -> np.ndarray:
    """The points that may be hull vertices: all but those well inside the polygon through the extreme points
    in 8 directions (Akl-Toussaint; the polygon lies inside the hull, so its inner points are not vertices).
    Two passes over ``chunk`` rows at a time (memory stays small for millions of points)."""
    xy = np.ascontiguousarray(xy, dtype=np.float64)
    best = np.full(len(_DIRECTIONS), -np.inf)
    ext = np.zeros((len(_DIRECTIONS), 2))
    for i in range(0, len(xy), chunk):
        part = xy[i:i + chunk]
        proj = part @ _DIRECTIONS.T
        arg = proj.argmax(0)
        better = proj[arg, np.arange(len(_DIRECTIONS))] > best
        best[better] = proj[arg, np.arange(len(_DIRECTIONS))][better]
        ext[better] = part[arg[better]]
    poly = ext[np.r_[True, np.any(ext[1:] != ext[:-1], axis=1)]]  # counter-clockwise, repeats dropped
    if len(poly) > 1 and np.all(poly[0] == poly[-1]):
        poly = poly[:-1]
    if len(poly) < 3:
        return xy
    edges = np.roll(poly, -1, axis=0) - poly
    normals = np.stack([-edges[:, 1], edges[:, 0]], 1)  # inward: e x (p - a) > 0 inside a counter-clockwise polygon
    offsets = (normals * poly).sum(1) + 1e-9 * (float(np.abs(xy).max()) + 1.0) ** 2
    keep = np.ones(len(xy), dtype=bool)
    for i in range(0, len(xy), chunk):
        keep[i:i + chunk] = ~(xy[i:i + chunk] @ normals.T > offsets).all(1)
    return xy[keep]


def convex_hull(xy: np.ndarray) -> np.ndarray:
    """The same hull as :func:`convex_hull_reference` (vertices, start and order), fast for millions of
    points: qhull on the points that can be vertices."""
    cand = np.unique(_hull_candidates(np.asarray(xy, dtype=np.float64)), axis=0)
    if len(cand) <= 2:
        return cand
    from scipy.spatial import ConvexHull, QhullError

    try:
        verts = cand[ConvexHull(cand).vertices]  # counter-clockwise for 2-D input
    except QhullError:  # all points on a line: degenerate
        return convex_hull_reference(cand)
    first = np.lexsort((verts[:, 1], verts[:, 0]))[0]
    return np.roll(verts, -first, axis=0)


def min_area_rectangle(xy: Any) -> tuple[float, np.ndarray, np.ndarray]:
    """Minimum-area rectangle around 2-D points ``xy (P, 2)``.

    Returns ``(yaw, center (2,), size (2,))``: the rectangle's first axis points along
    ``(cos yaw, sin yaw)`` and is its longer side (``size[0] >= size[1]``), with
    ``yaw`` in ``[-pi/2, pi/2)``. One side of a minimum-area rectangle lies on a
    convex-hull edge, so only hull edge directions are tried (rotating calipers).
    """
    xy = np.asarray(xy, dtype=np.float64)
    hull = convex_hull(xy)
    if len(hull) == 1:
        return 0.0, hull[0].copy(), np.zeros(2)
    if len(hull) == 2:
        edges = hull[1:] - hull[:1]
    else:
        edges = np.roll(hull, -1, axis=0) - hull
    angles = np.arctan2(edges[:, 1], edges[:, 0])
    c, s = np.cos(angles), np.sin(angles)
    u = hull[None, :, 0] * c[:, None] + hull[None, :, 1] * s[:, None]
    v = -hull[None, :, 0] * s[:, None] + hull[None, :, 1] * c[:, None]
    area = (u.max(1) - u.min(1)) * (v.max(1) - v.min(1))
    best = int(np.argmin(area + 1e-12 * np.arange(len(area))))  # first of equal areas: deterministic
    a = float(angles[best])
    umin, umax, vmin, vmax = u[best].min(), u[best].max(), v[best].min(), v[best].max()
    size = np.array([umax - umin, vmax - vmin])
    cu, cv = (umin + umax) / 2, (vmin + vmax) / 2
    center = np.array([cu * math.cos(a) - cv * math.sin(a), cu * math.sin(a) + cv * math.cos(a)])
    if size[1] > size[0]:
        a += math.pi / 2
        size = size[::-1].copy()
    a = (a + math.pi / 2) % math.pi - math.pi / 2
    return float(a), center, size


def lowest_z(z: Any) -> float:
    """The height of the lowest points of ``z (P,)``: the 0.1 % quantile, so that a few stray points
    below the floor (flying pixels) do not count."""
    return float(np.quantile(np.asarray(torch.as_tensor(z).detach().cpu().double()), 0.001))


def object_frame(points: torch.Tensor, floor_z: float | None = None, yaw: float | None = None,
                 where: str = "object") -> ObjectFrame:
    """The gravity-aligned frame of an object's points ``(P, 3)`` (z up).

    Origin: the centre of the minimum-area XY rectangle, at ``floor_z`` (default: the
    lowest points' z, :func:`lowest_z`). ``yaw`` fixes the orientation (e.g. from an annotated
    box); otherwise it comes from the rectangle.
    """
    p = torch.as_tensor(points).detach().cpu().double().numpy().reshape(-1, 3)
    if len(p) == 0:
        raise ScanError(f"{where}: no points")
    check_finite(p, "points", where)
    fz = lowest_z(p[:, 2]) if floor_z is None else float(floor_z)
    if yaw is None:
        a, center, size = min_area_rectangle(p[:, :2])
    else:
        a = float(yaw)
        c, s = math.cos(a), math.sin(a)
        u = p[:, 0] * c + p[:, 1] * s
        v = -p[:, 0] * s + p[:, 1] * c
        cu, cv = (u.max() + u.min()) / 2, (v.max() + v.min()) / 2
        center = np.array([cu * c - cv * s, cu * s + cv * c])
        size = np.array([u.max() - u.min(), v.max() - v.min()])
    height = float(p[:, 2].max()) - fz
    hyps = torch.tensor([a + k * math.pi / 2 for k in range(4)], dtype=torch.float64)
    return ObjectFrame(frame_matrix(a, center, fz), a, hyps, torch.tensor([size[0], size[1], height], dtype=torch.float64), fz,
                       floor_source="points" if floor_z is None else "given", yaw_source="points" if yaw is None else "given")


def observations_from_points(points: torch.Tensor, colors: torch.Tensor | None = None, normals: torch.Tensor | None = None,
                             *, label: str = "", floor_z: float | None = None, yaw: float | None = None,
                             source: str = "points") -> Observations:
    """Observations of an object given as world points ``(P, 3)``; checks they are finite and not empty."""
    points = torch.as_tensor(points, dtype=torch.float32)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ScanError(f"{source}: points must have shape (P, 3), got {tuple(points.shape)}")
    if len(points) == 0:
        raise ScanError(f"{source}: no points")
    check_finite(points.numpy(), "points", source)
    frame = object_frame(points, floor_z=floor_z, yaw=yaw, where=source)
    return Observations(points, frame, colors, normals, None, label, source)


def observations_from_frames(frames: Frames, *, label: str = "", floor_z: float | None = None) -> Observations:
    """Observations from RGB-D frames: the back-projected (masked) valid depth pixels."""
    pts, cols = frames.to_points(masked=True)
    where = f"{frames.folder}" + (f" instance {frames.instance_id}" if frames.instance_id is not None else "")
    if len(pts) == 0:
        raise ScanError(f"{where}: no valid depth pixels" + (" inside the masks" if frames.masks is not None else ""))
    obs = observations_from_points(pts, cols, label=label, floor_z=floor_z, source=where)
    obs.frames = frames
    return obs


def clean_points(points: torch.Tensor, radius: float | None = None, min_fraction: float = 0.05) -> torch.Tensor:
    """``(P,)`` bool: the points that are not isolated strays (mask bleeding, flying pixels).

    A point is kept when the cells of a ``radius`` grid around it (its own and the 26 around
    it) hold at least ``max(4, min_fraction * median)`` points, the median taken over all points.
    ``radius`` defaults to 3 cm, raised for sparse clouds to 4x the typical point spacing.
    """
    p = torch.as_tensor(points).double().reshape(-1, 3)
    n = len(p)
    if n < 8:
        return torch.ones(n, dtype=torch.bool)
    if radius is None:
        ext = (p.max(0).values - p.min(0).values).clamp_min(1e-3)
        area = float(2 * (ext[0] * ext[1] + ext[1] * ext[2] + ext[0] * ext[2]))
        radius = max(0.03, 4.0 * math.sqrt(area / n))
    cell = torch.floor((p - p.min(0).values) / radius).long() + 1
    dims = cell.max(0).values + 2
    key = (cell[:, 0] * dims[1] + cell[:, 1]) * dims[2] + cell[:, 2]
    uniq, counts = torch.unique(key, return_counts=True)
    total = torch.zeros(n, dtype=torch.long)
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            for dz in (-1, 0, 1):
                k = key + (dx * dims[1] + dy) * dims[2] + dz
                j = torch.searchsorted(uniq, k).clamp_max(len(uniq) - 1)
                total += torch.where(uniq[j] == k, counts[j], 0)
    threshold = max(4.0, min_fraction * float(total.double().median()))
    return total >= threshold


def clean_observations(observations: Observations) -> Observations:
    """The observations without stray points (:func:`clean_points`), with the object
    frame recomputed from the rest (a given floor height and yaw are kept)."""
    pts = observations.points
    keep = clean_points(pts)
    if int(keep.sum()) < 8:
        keep = torch.ones(len(pts), dtype=torch.bool)
    frame = observations.frame
    floor = frame.floor_z
    if frame.floor_source == "points":  # the floor came from the points: look for it
        floor = floor_height(observations.frames, pts[keep])
    if bool(keep.all()) and floor == frame.floor_z:
        return observations
    new_frame = object_frame(pts[keep], floor_z=floor, yaw=None if frame.yaw_source == "points" else frame.yaw,
                             where=observations.source)
    sub = {k: getattr(observations, k)[keep] for k in ("colors", "normals") if getattr(observations, k) is not None}
    return replace(observations, points=pts[keep], frame=new_frame, **sub)


def floor_height(frames: Frames | None, points: torch.Tensor, around: float = 0.5, below: float = 0.5, bin_size: float = 0.01) -> float | None:
    """The floor under an object: the most common height (``bin_size`` bins) of the depth pixels
    outside the object's mask, within ``around`` metres of its footprint and between ``below`` metres
    under and 5 cm over its lowest point. None (the lowest point) without frames or such pixels."""
    lowest = float(points[:, 2].min())
    if frames is None or frames.masks is None:
        return None
    world, valid = frames.cameras.backproject(frames.depth)
    q = world[valid & ~frames.masks].double()
    lo, hi = points[:, :2].double().min(0).values - around, points[:, :2].double().max(0).values + around
    z = q[:, 2]
    near = ((q[:, :2] >= lo) & (q[:, :2] <= hi)).all(1) & (z >= lowest - below) & (z <= lowest + 0.05)
    z = z[near]
    if len(z) < 50:
        return None
    bins = torch.floor((z - z.min()) / bin_size).long()
    mode = int(torch.bincount(bins).argmax())
    sel = z[bins == mode]
    return float(sel.median())
