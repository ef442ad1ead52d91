"""One object of a scene, ready to fit (:func:`prepare_object`): its cleaned points, its surroundings and
what to say about it.

Real segmentations are not clean. An instance of a labelled scan often holds a strip of the floor around
its foot, a patch of the wall behind it, or a few points of a neighbour; thin parts are under-sampled; the
scan may end in the middle of it. So, per object:

* **Stray points**: points within ``floor_band`` of the floor, points on a nearby wall plane (within
  ``wall_band``), and small pieces not connected to the object's body (``link`` apart) are left out; the
  counts are recorded. On a table, desk, cabinet or night stand, things standing on its top (a lamp, a box, a
  monitor) are left out too when they cover a small part of the top (``thing_cover``), and join its surroundings.
* **Frame**: the floor height is the scene's (not the segment's lowest point); an object of a category that
  can hang (``hangs``) whose lowest points are more than ``raised`` above the floor (a wall cabinet) is
  *raised*: its frame starts at its own bottom and nothing under it is hidden. The yaw is the segment's minimum-area rectangle, snapped to the room's
  walls when within ``snap_deg`` of their direction (or the annotated box's yaw).
* **Surroundings**: the scene's points that are not the object within ``margin`` of its box (floor, walls,
  neighbours; thinned to a ``voxel`` grid) and the walls within ``wall_reach`` of it
  (:class:`~backend.structures.SceneContext`).
* **Flags**: ``raised``; ``cut by the scan's edge`` when beyond one side of its box the scan holds almost
  nothing (no floor, no wall, no neighbour: the scan ended there); ``few points``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from ..object_frame import lowest_z, min_area_rectangle, object_frame
from ..structures import Observations, SceneContext
from .model import Scene, SceneObject, Structure, Wall
from .structure import level_points

__all__ = ["PreparedObject", "SegmentSettings", "prepare_object", "voxel_thin"]


@dataclass
class SegmentSettings:
    """How a scene's segments are cleaned and given their surroundings."""

    floor_band: float = 0.02
    """Points less than this (metres) above the floor are floor, not object."""
    wall_band: float = 0.03
    """Points less than this (metres) from a wall plane (within its span) are wall, not object."""
    link: float = 0.12
    """Points closer than this (metres) are connected; pieces of under a tenth of the body's points that are not
    connected to it are strays."""
    raised: float = 0.6
    """An object of a category that can hang on a wall whose lowest points are this far (metres) above the floor
    is raised (a wall cabinet). Lower gaps, and any gap under other categories, are thin parts the scan missed
    (a chair's legs, a table's)."""
    hangs: tuple[str, ...] = ("cabinet", "shelves", "bookshelf")
    """Categories that can hang on a wall."""
    snap_deg: float = 10.0
    """A segment's yaw within this many degrees of the walls' direction (mod 90) is snapped to it."""
    margin: float = 0.5
    """Surroundings: the scene's points within this distance (metres) of the object's box."""
    wall_reach: float = 1.0
    """Surroundings: the walls within this distance (metres) of the object's points. Farther than ``margin``: a
    base cabinet under a counter, scanned only from its front, stands 0.54 m before the wall that hides its back
    (and keeps the sensor from ever standing behind it)."""
    voxel: float = 0.03
    """Surroundings are thinned to one point per cell of this size (metres)."""
    min_points: int = 50
    """Fewer points than this after cleaning: the object is skipped."""
    flat_tops: tuple[str, ...] = ("table", "desk", "cabinet", "night stand", "dresser")
    """Categories with a flat top that things stand on (a lamp on a night stand, a box on a desk)."""
    top_cover: float = 0.5
    """The top is the highest ``top_band`` thick layer of points that covers this share of the footprint."""
    top_band: float = 0.03
    """Thickness (metres) of the top's layer."""
    thing_cover: float = 0.3
    """Points more than ``top_band`` above the top that cover at most this share of the footprint (and are at
    least ``thing_share`` of the points: not a stray point of noise) are things standing on it: left out of the
    object and kept as its surroundings."""
    thing_share: float = 0.02
    cell: float = 0.05
    """Cell size (metres) of the footprint's occupancy grid."""


@dataclass
class PreparedObject:
    """An object ready to fit: levelled points, frame and surroundings, and what was found on the way."""

    obj: SceneObject
    observations: Observations
    flags: list[str] = field(default_factory=list)
    removed: dict[str, int] = field(default_factory=dict)
    """Points left out, by reason (``floor``, ``wall``, ``stray``, ``on top``)."""


def voxel_thin(points: torch.Tensor, size: float) -> torch.Tensor:
    """``(M,)`` int64 rows of ``points (P, 3)`` keeping the first point of every ``size`` cell."""
    if len(points) == 0:
        return torch.zeros(0, dtype=torch.long)
    cell = torch.floor(points.double() / size).long()
    cell -= cell.min(0).values
    dims = cell.max(0).values + 1
    key = (cell[:, 0] * dims[1] + cell[:, 1]) * dims[2] + cell[:, 2]
    _, inverse = torch.unique(key, return_inverse=True)
    first = torch.full((int(inverse.max()) + 1,), len(points), dtype=torch.long)
    first = first.scatter_reduce(0, inverse, torch.arange(len(points)), reduce="amin")
    return first.sort().values


def _components(p: np.ndarray, link: float) -> np.ndarray:
    """Connected components of points ``(P, 3)`` joined within ``link``: ``(P,)`` labels."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    pairs = cKDTree(p).query_pairs(link, output_type="ndarray")
    n = len(p)
    g = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n)) if len(pairs) else coo_matrix((n, n))
    return connected_components(g, directed=False)[1]


def _near_walls(walls: list[Wall], xy: np.ndarray, reach: float, behind: float = 0.05,
                behind_share: float = 0.02) -> list[Wall]:
    """The walls within ``reach`` of the footprint ``xy (P, 2)`` whose span overlaps it, with the object on their
    room side: fewer than ``behind_share`` of its points more than ``behind`` metres beyond the plane. (A wall
    ends: the plane of a short partition whose span passes a bed's foot may cut through the bed's far corner,
    and then it is no wall of the bed's; the fit would treat it as one without end and cut the corner off.)"""
    out = []
    for w in walls:
        dist = xy @ w.normal + w.d
        along = w.along(xy)
        if (dist.min() < reach and np.median(dist) > 0 and along.max() > w.span[0] - 0.3 and along.min() < w.span[1] + 0.3
                and (dist < -behind).mean() < behind_share):
            out.append(w)
    return out


def _snap(yaw: float, walls: list[Wall], limit_deg: float) -> tuple[float, bool]:
    """``yaw`` moved to the nearest direction (mod 90 degrees) of the four largest wall planes when within
    ``limit_deg``."""
    best, best_diff = yaw, math.radians(limit_deg)
    planes: dict[tuple[float, ...], list] = {}  # the runs of one plane (one normal and offset) count together
    for w in walls:
        key = (float(w.normal[0]), float(w.normal[1]), float(w.d))
        planes.setdefault(key, [w.normal, 0])[1] += w.points
    for normal, _ in sorted(planes.values(), key=lambda e: -e[1])[:4]:
        a = math.atan2(normal[1], normal[0])
        diff = math.remainder(yaw - a, math.pi / 2)
        if abs(diff) < best_diff:
            best, best_diff = yaw - diff, abs(diff)
    return best, best != yaw


def _things_on_top(p: np.ndarray, s: SegmentSettings) -> tuple[np.ndarray, float]:
    """Points of ``p (P, 3)`` (levelled) that stand on the object's flat top (see :class:`SegmentSettings`):
    ``(P,)`` bool and the top's height (nan when there is no such top).

    Things stand on the top, inside its outline: points above the top that run along most of the footprint's
    outline are the object's own walls above a shelf (an open cabinet whose top the sensor did not see), and
    stay."""
    cells = np.floor(p[:, :2] / s.cell).astype(np.int64)
    key = cells[:, 0] * 1_000_003 + cells[:, 1]
    occupied = set(np.unique(key).tolist())
    footprint = len(occupied)
    none = np.zeros(len(p), dtype=bool)
    if footprint < 4:
        return none, float("nan")
    outline = {k for k in occupied if any(k + d not in occupied for d in (1, -1, 1_000_003, -1_000_003))}
    z = p[:, 2]
    for hi in np.arange(z.max(), z.min() - s.top_band, -s.top_band / 2):  # overlapping layers, from the top down
        layer = (z <= hi) & (z > hi - s.top_band)
        if len(np.unique(key[layer])) < s.top_cover * footprint:
            continue
        above = z > hi + s.top_band
        covered = set(np.unique(key[above]).tolist())
        small = len(covered) <= s.thing_cover * footprint and above.sum() >= max(10, s.thing_share * len(p))
        inside = len(covered & outline) <= 0.5 * len(outline)
        return (above if small and inside else none), float(hi)
    return none, float("nan")


def _cut_sides(frame, pts_all: np.ndarray, own: np.ndarray, strip: float = 0.3, min_density: float = 20.0) -> list[str]:
    """The sides of the object's box beyond which the scan holds fewer than ``min_density`` points per square
    metre of the ``strip`` wide band (any height): there the scan ended."""
    m = frame.world_from_object.numpy()
    local = (pts_all[:, :2] - m[:2, 3]) @ m[:2, :2]
    hx, hy = float(frame.extents[0]) / 2, float(frame.extents[1]) / 2
    others = local[~own]
    sides = []
    for name, axis, sign, half, other_half in (("+x", 0, 1, hx, hy), ("-x", 0, -1, hx, hy), ("+y", 1, 1, hy, hx),
                                                ("-y", 1, -1, hy, hx)):
        u = sign * others[:, axis]
        v = others[:, 1 - axis]
        band = (u > half) & (u < half + strip) & (np.abs(v) < other_half)
        area = strip * 2 * max(other_half, 0.05)
        if band.sum() / area < min_density:
            sides.append(name)
    return sides


def prepare_object(scene: Scene, structure: Structure, obj: SceneObject, settings: SegmentSettings | None = None,
                   levelled: torch.Tensor | None = None) -> PreparedObject | None:
    """Clean one object's points and give them a frame and surroundings (see the module docstring). Returns
    None when fewer than ``settings.min_points`` remain (the caller records why). ``levelled``: the scene's
    points already levelled (``(N, 3)``), to share the work between objects."""
    s = settings or SegmentSettings()
    pts_all = levelled if levelled is not None else level_points(scene.points, structure.level)
    idx = obj.indices
    p = pts_all[idx].double().numpy()
    keep = np.ones(len(p), dtype=bool)
    removed = {}
    floor = structure.floor_z
    on_floor = p[:, 2] < floor + s.floor_band
    # a raised object has no floor strays; one that stands keeps its feet above the band
    can_hang = obj.category in s.hangs
    if not can_hang or lowest_z(torch.from_numpy(p[:, 2])) - floor < s.raised:
        keep &= ~on_floor
        removed["floor"] = int(on_floor.sum())
    walls = _near_walls(structure.walls, p[:, :2], s.wall_reach) if len(p) else []
    wall_pts = np.zeros(len(p), dtype=bool)
    for w in walls:
        wall_pts |= np.abs(p[:, :2] @ w.normal + w.d) < s.wall_band
    if wall_pts.sum() < 0.5 * len(p):  # a segment that is mostly wall is a flat thing on a wall: keep it
        removed["wall"] = int((wall_pts & keep).sum())
        keep &= ~wall_pts
    if keep.sum() >= 8:
        sub = np.nonzero(keep)[0]
        lab = _components(p[sub], s.link)
        counts = np.bincount(lab)
        body = counts.max()
        stray = counts[lab] < 0.1 * body
        keep[sub[stray]] = False
        removed["stray"] = int(stray.sum())
    things = np.zeros(len(p), dtype=bool)
    top = float("nan")
    if obj.category in s.flat_tops and keep.sum() >= s.min_points:
        sub = np.nonzero(keep)[0]
        on_top, top = _things_on_top(p[sub], s)
        things[sub[on_top]] = True
        if on_top.any():
            keep &= ~things
            removed["on top"] = int(on_top.sum())
    if keep.sum() < s.min_points:
        return None
    rows = idx[torch.from_numpy(keep)]
    pts = pts_all[rows]
    cols = scene.colors[rows] if scene.colors is not None else None
    flags = []
    bottom = lowest_z(pts[:, 2])
    raised = can_hang and bottom - floor >= s.raised
    if raised:
        flags.append(f"raised: its lowest points are {bottom - floor:.2f} m above the floor")
    frame_floor = bottom if raised else floor
    if obj.yaw is not None:
        yaw, yaw_note = obj.yaw, None
    else:
        yaw, _, _ = min_area_rectangle(pts[:, :2].double().numpy())
        yaw, snapped = _snap(yaw, structure.walls, s.snap_deg)
        yaw_note = "snapped to the walls" if snapped else None
    frame = object_frame(pts, floor_z=frame_floor, yaw=yaw, where=f"instance {obj.instance}")
    if yaw_note is not None:
        flags.append(f"yaw {yaw_note}")
    # surroundings: what is near and not the object
    lo = pts.min(0).values.double() - s.margin
    hi = pts.max(0).values.double() + s.margin
    own = torch.zeros(len(pts_all), dtype=torch.bool)
    own[obj.indices] = True
    near = ((pts_all.double() >= lo) & (pts_all.double() <= hi)).all(1) & ~own
    ctx = pts_all[near]
    if things.any():  # things on its top are its neighbours: they hide the top under them
        ctx = torch.cat([ctx, pts_all[idx[torch.from_numpy(things)]]])
    ctx = ctx[voxel_thin(ctx, s.voxel)]
    planes = torch.tensor(np.stack([w.plane() for w in walls]) if walls else np.zeros((0, 4)), dtype=torch.float64)
    context = SceneContext(ctx.float(), planes, None if raised else floor)
    cut = _cut_sides(frame, pts_all.double().numpy(), own.numpy())
    if cut:
        flags.append(f"cut by the scan's edge: almost nothing scanned beyond its {', '.join(cut)} side"
                     f"{'s' if len(cut) > 1 else ''}")
    if things.any():
        flags.append(f"things on its top left out: {int(things.sum())} points above its top at "
                     f"{top - floor:.2f} m")
    if len(pts) < 300:
        flags.append(f"few points: {len(pts)}")
    source = f"{scene.source} instance {obj.instance} ({obj.label})"
    obs = Observations(pts.float(), frame, cols, None, None, obj.category, source, context)
    return PreparedObject(obj, obs, flags, removed)
