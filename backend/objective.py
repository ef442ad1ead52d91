"""The fitting objective: how well candidate meshes explain one object's observations.

:class:`Objective` is called for every Adam step of every candidate, so it is
built for speed: everything about the observations is prepared once (moved
into the object frame, subsampled, clustered, downscaled), and each call only
touches the ``K`` candidate meshes. The terms are those of
:mod:`backend.losses`; each is ``(K,)`` (distances in metres):

``scan_to_mesh``
    ``mean_p huber(min(d(p, M), outlier))``: exact point-to-triangle distance
    from every scan point ``p`` to the candidate's surface ``M``, clamped so
    that stray points (mask bleeding, flying pixels) stop pulling. Computed by
    :class:`ScanToMesh` (exact).
``mesh_to_scan``
    ``sum_s huber(min(d(s, scan), truncate)) / S`` over ``S`` area-weighted
    surface samples ``s`` (:func:`backend.losses.sample_surface`), truncated
    because scans are partial. With RGB-D frames only the samples the sensor
    could have seen count (inside a view, not hidden by the candidate itself or
    by something the sensor measured in front of them).
``depth`` (RGB-D frames with instance masks)
    :func:`backend.losses.depth_l1` on the pixels inside the mask (the whole
    block of the downscaled pixel), each pixel's error clamped at ``depth_cap``
    (pixels the candidate misses count ``depth_cap``).
``silhouette`` (RGB-D frames with instance masks)
    :func:`backend.losses.silhouette_iou_loss` of the soft silhouette against the
    mask's coverage of each downscaled pixel, ignoring pixels where another
    object hides this one.
``floor``
    ``relu(-min_v z_v - tolerance)``: how far the candidate sinks below the floor (the
    object frame's ``z = 0``: the scan's floor, or its lowest point), beyond a small
    tolerance for the floor estimate's error.
``bottom``
    ``relu(min_v z_v - bottom_scan - tolerance)``: how far the candidate's lowest vertex is above
    the scan's lowest points (their 0.1 % quantile): an object reaches at least as low as its
    scanned points, so a candidate may not float, trading its legs or base for a raised body
    (a bed 2 cm in the air with a frame 6 cm too low and a mattress 4 cm too thick fit the
    rest of a scan nearly as well as the truth). Only this side: where the scan misses the
    object's bottom, its lowest points are higher than the object's and the term lets the
    candidate reach lower (the ``floor`` term stops it at the floor).
``top``
    ``relu(|max_v z_v - top_scan| - tolerance)``: how far the candidate's top is from the scan's
    top (the 99.9 % quantile of its heights), beyond a small tolerance for the noise there. The
    distance terms clamp far points and the depth term counts a pixel the candidate misses at a
    fixed cost, so neither pulls a candidate that is far too short (a bookshelf whose shelves
    aligned with the wrong ones) back up; and surface where the sensor measured nothing (above
    the object, in front of no wall) is seen by no term but the silhouette, so a cabinet 90 cm too
    tall cost only that. This term assumes the scan shows the object's top, as hand-held scans
    that look down on furniture do; set its weight to 0 for scans that cut the top off. (A
    pull on the four sides, tried too, made refinements worse: the noisy outline of a partial scan
    is a poor guide there.)
``free_space`` (RGB-D frames)
    :func:`backend.losses.free_space_penalty`: rendered surface in front of the
    observed depth (the sensor saw through it), clamped at ``depth_cap``, per
    object pixel.

The loss is ``sum_term weight_term * term`` with the weights of
:class:`backend.problem.ObjectiveConfig`; terms with weight 0 (or without the
data they need) are not computed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .losses import (
    NN_BACKENDS,
    depth_l1,
    free_space_penalty,
    nearest_neighbors,
    robust_penalty,
    sample_surface,
    silhouette_iou_loss,
)
from .scans import lowest_z

__all__ = ["Objective", "ScanNeighbours", "ScanToMesh", "clean_points"]

_TINY = 1e-20

# ---------------------------------------------------------------------------
# scan -> mesh distances


def _pack_triangles(tv: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Per-triangle data of the nearest-triangle search, columns first: ``tv (..., 3, 3)`` -> ``(35, ...)``
    in ``dtype``, set up in float64 (so the per-pair work in float32 stays well conditioned).

    Rows: unit normal ``nh`` (0:3) and ``a . nh`` (3); unit in-plane outward normals ``o_i`` of the
    edges ``ab, bc, ca`` (4:13) and their offsets ``a . o0, b . o1, c . o2`` (13:16); 1 for a proper
    triangle, 0 for a degenerate one (16; its normals and offsets are 0); ``a, b - a, c - a, c - b``
    (17:29); ``|ab|^2, |ac|^2, |bc|^2, ab . bc, ab . ac, |ab|^2 |ac|^2 - (ab . ac)^2`` (29:35).
    """
    t = tv.double()
    a, b, c = t.unbind(-2)
    ab, ac, bc = b - a, c - a, c - b
    d00, d01, d11, bb = (ab * ab).sum(-1), (ab * ac).sum(-1), (ac * ac).sum(-1), (bc * bc).sum(-1)
    n = torch.linalg.cross(ab, ac, dim=-1)
    nl = n.norm(dim=-1, keepdim=True)
    ok = nl > 1e-9 * torch.sqrt(d00 * d11).unsqueeze(-1)
    nh = torch.where(ok, n / nl.clamp_min(1e-300), torch.zeros_like(n))
    outs, offs = [], []
    for v, e in ((a, ab), (b, bc), (c, a - c)):
        o = torch.linalg.cross(e, nh, dim=-1)
        o = torch.where(ok, o / o.norm(dim=-1, keepdim=True).clamp_min(1e-300), torch.zeros_like(o))
        outs.append(o)
        offs.append((v * o).sum(-1))
    scalars = [(a * nh).sum(-1)]
    rows = [nh, scalars[0][..., None], *outs, torch.stack(offs, -1), ok.to(t.dtype), a, ab, ac, bc,
            torch.stack([d00, d11, bb, (ab * bc).sum(-1), d01, d00 * d11 - d01 * d01], -1)]
    return torch.cat(rows, -1).movedim(-1, 0).to(dtype).contiguous()


def _dot(x: torch.Tensor, cols: torch.Tensor, i: int) -> torch.Tensor:
    """``x . cols[i:i+3]`` for columns-first ``x (3, ...)`` and ``cols (C, ...)`` (broadcasting)."""
    return torch.addcmul(torch.addcmul(x[0] * cols[i], x[1], cols[i + 1]), x[2], cols[i + 2])


def _edge_sides(x: torch.Tensor, cols: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Signed distance of ``x`` to the triangle's plane and the largest signed in-plane distance
    beyond an edge line (``<= 0`` inside the triangle's prism)."""
    sd = _dot(x, cols, 0) - cols[3]
    side = torch.maximum(torch.maximum(_dot(x, cols, 4) - cols[13], _dot(x, cols, 7) - cols[14]), _dot(x, cols, 10) - cols[15])
    return sd, side


def _closest_on_triangle(x: torch.Tensor, cols: torch.Tensor, bary: bool = False):
    """Squared distance (and, with ``bary``, the barycentric weights ``(3, ...)`` of the closest point)
    from points ``x (3, ...)`` to packed triangles ``cols (35, ...)`` (columns first, broadcasting);
    no autograd. Equals :func:`_point_triangle_sqdist` up to rounding.

    Inside the triangle's prism the distance is the plane distance; otherwise the nearest of the
    edge distances ``|ap|^2 - 2 t (ap . e) + t^2 |e|^2`` (``t`` clamped to [0, 1])."""
    sd, side = _edge_sides(x, cols)
    inside = (side <= 0) & (cols[16] > 0)
    ap = x - cols[17:20]
    pp = (ap * ap).sum(0)
    d20 = _dot(ap, cols, 20)
    d21 = _dot(ap, cols, 23)
    q = _dot(ap, cols, 26) - cols[32]  # (p - b) . bc
    d00, d11, bb = cols[29], cols[30], cols[31]
    one = torch.ones_like(d00)
    t0 = (d20 / torch.where(d00 > _TINY, d00, one)).clamp(0, 1)
    t2 = (d21 / torch.where(d11 > _TINY, d11, one)).clamp(0, 1)
    t1 = (q / torch.where(bb > _TINY, bb, one)).clamp(0, 1)
    e0 = pp - t0 * (2 * d20 - t0 * d00)
    e2 = pp - t2 * (2 * d21 - t2 * d11)
    e1 = (pp - 2 * d20 + d00) - t1 * (2 * q - t1 * bb)
    edge = torch.minimum(torch.minimum(e0, e1), e2)
    d2 = torch.where(inside, sd * sd, edge).clamp_min(0.0)
    if not bary:
        return d2
    d01, denom = cols[33], cols[34]
    den = torch.where(denom > 0, denom, one)
    v = (d11 * d20 - d01 * d21) / den
    w = (d00 * d21 - d01 * d20) / den
    z = torch.zeros_like(v)
    first = (e0 <= e1) & (e0 <= e2)
    wb = torch.where(inside, v, torch.where(first, t0, torch.where(e1 <= e2, 1 - t1, z)))
    wc = torch.where(inside, w, torch.where(first, z, torch.where(e1 <= e2, t1, t2)))
    return d2, torch.stack([1 - wb - wc, wb, wc], 0)


class ScanToMesh:
    """Squared distances from fixed scan points to batches of candidate meshes (exact).

    The nearest triangle of every point is found without autograd by measuring every (point,
    triangle) pair with :func:`_closest_on_triangle` (float32, about 40 elementwise operations per
    pair, in chunks of at most ``max_pairs`` pairs: small chunks stay in cache). For the meshes a fit sees (a few hundred
    triangles, about a thousand points) this plain sweep is faster than any pruning: it is a
    handful of large vectorised operations instead of many small gathers.

    Only the distance to the nearest triangle is differentiated, as ``|p - q|^2`` with ``q`` the
    closest point at fixed barycentric weights (recomputed in float64): by the envelope theorem this
    has the exact gradient of the point-to-triangle distance. In float32 the chosen triangle is the
    nearest one or one within rounding of it; the distance to it is exact.

    Args:
        points: ``(P, 3)`` scan points.
        max_pairs: (candidate, point, triangle) triples measured at once (bounds memory).
    """

    def __init__(self, points: torch.Tensor, max_pairs: int = 100_000):
        self.points = points
        """``(P, 3)`` the points (distances come in this order)."""
        self.max_pairs = int(max_pairs)
        self._xt = points.float().t().contiguous()  # (3, P)

    def to(self, device: torch.device) -> ScanToMesh:
        self.points, self._xt = self.points.to(device), self._xt.to(device)
        return self

    @property
    def num_points(self) -> int:
        return int(self.points.shape[0])

    @torch.no_grad()
    def nearest(self, tv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The nearest triangle ``(K, P)`` int64 of every point in ``tv (K, T, 3, 3)`` and the
        barycentric weights ``(K, P, 3)`` of the closest point on it."""
        x = tv.detach()
        k_, t_ = x.shape[:2]
        p_ = self.num_points
        cols = _pack_triangles(x)[:, :, None, :]  # (35, K, 1, T)
        t_idx = torch.empty((k_, p_), dtype=torch.long, device=x.device)
        step = max(1, self.max_pairs // max(1, k_ * t_))
        for p0 in range(0, p_, step):
            xp = self._xt[:, None, p0:p0 + step, None]  # (3, 1, p, 1)
            t_idx[:, p0:p0 + step] = _closest_on_triangle(xp, cols).argmin(-1)
        chosen = _pack_triangles(x.gather(1, t_idx[..., None, None].expand(-1, -1, 3, 3)), torch.float64)
        _, w = _closest_on_triangle(self.points.double().t()[:, None], chosen, bary=True)
        return t_idx, w.movedim(0, -1)

    def __call__(self, tv: torch.Tensor) -> torch.Tensor:
        """``(K, P)`` squared distances from the points to ``tv (K, T, 3, 3)``, differentiable w.r.t. ``tv``."""
        t_idx, w = self.nearest(tv)
        near = tv.gather(1, t_idx[..., None, None].expand(-1, -1, 3, 3))  # (K, P, 3, 3)
        q = (w.to(tv.dtype)[..., None] * near).sum(-2)
        return ((self.points.to(tv.dtype)[None] - q) ** 2).sum(-1)


class ScanNeighbours:
    """Distances from query points (surface samples) to the nearest of fixed scan points, up to ``reach``.

    On CPU a scipy KD-tree of the scan is built once (on the first call) and queried with ``reach``
    as the upper bound (far queries end early). Elsewhere (``backend="grid"``) a coarse occupancy
    grid of the scan (cells of ``reach / 2``, dilated by ``reach``) is built once (on the first
    call); queries outside its marked cells are farther than ``reach`` from every scan point and get ``reach`` without a search, the others
    are searched exactly with :func:`backend.losses.nearest_neighbors`.

    Args:
        points: ``(P, 3)`` scan points.
        reach: distances are clamped to this.
        backend: ``"auto"`` (KD-tree on CPU, grid elsewhere), ``"kdtree"`` or ``"grid"``.
    """

    def __init__(self, points: torch.Tensor, reach: float, backend: str = "auto"):
        if backend not in NN_BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; expected one of {', '.join(NN_BACKENDS)}")
        self.points = points
        self.reach = float(reach)
        self.backend = backend
        self._tree = None  # built on the first KD-tree query
        self._grid: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None  # on the first grid query

    def to(self, device: torch.device) -> ScanNeighbours:
        self.points = self.points.to(device)
        self._grid = None
        return self

    def _kdtree(self):
        if self._tree is None:
            from scipy.spatial import cKDTree

            self._tree = cKDTree(self.points.detach().double().cpu().numpy())
        return self._tree

    def _occupancy(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Origin ``(3,)``, dims ``(3,)`` and the ``near`` cells (bool grid) of the grid search."""
        if self._grid is None:
            import torch.nn.functional as F

            cell = self.reach / 2
            p = self.points.double()
            r = math.ceil(self.reach / cell) + 1
            origin = p.min(0).values - (r + 1) * cell
            dims = torch.ceil((p.max(0).values - origin) / cell).long() + r + 2
            cells = torch.floor((p - origin) / cell).long()
            occ = torch.zeros(tuple(dims.tolist()), dtype=torch.float32, device=p.device)
            occ[cells[:, 0], cells[:, 1], cells[:, 2]] = 1.0
            near = F.max_pool3d(occ[None, None], 2 * r + 1, stride=1, padding=r)[0, 0] > 0
            self._grid = (origin.to(self.points.dtype), dims, near)
        return self._grid

    def _candidates(self, flat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Rows of the queries ``flat (M, 3)`` within ``reach`` of the scan (a few more with the grid)
        and the row of each one's nearest scan point."""
        if self.backend == "kdtree" or (self.backend == "auto" and flat.device.type == "cpu"):
            dist, idx = self._kdtree().query(flat.detach().double().cpu().numpy(), k=1, distance_upper_bound=self.reach,
                                             workers=max(1, torch.get_num_threads()))
            near = np.isfinite(dist)
            return (torch.from_numpy(np.nonzero(near)[0]).to(flat.device),
                    torch.from_numpy(idx[near].astype(np.int64)).to(flat.device))
        origin, dims, near = self._occupancy()
        c = torch.floor((flat.detach() - origin.to(flat.dtype)) / (self.reach / 2)).long()
        inside = ((c >= 0) & (c < dims)).all(-1)
        cc = c.clamp_min(0).minimum(dims - 1)
        cand = torch.nonzero(inside & near[cc[:, 0], cc[:, 1], cc[:, 2]]).squeeze(1)
        if not cand.numel():
            return cand, cand
        return cand, nearest_neighbors(flat.index_select(0, cand).detach(), self.points, backend="grid")[1][0]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """``x (..., 3)`` -> ``(...)`` distance to the nearest scan point, clamped to ``reach``
        (differentiable w.r.t. ``x`` below ``reach``)."""
        flat = x.reshape(-1, 3)
        d = torch.full(flat.shape[:1], self.reach, dtype=x.dtype, device=x.device) + flat[:, 0] * 0
        cand, idx = self._candidates(flat)
        if cand.numel():
            q = flat.index_select(0, cand)
            dist = torch.sqrt(((q - self.points.to(x.dtype)[idx]) ** 2).sum(-1) + 1e-12).clamp_max(self.reach)
            d = d.index_put((cand,), dist)
        return d.view(x.shape[:-1])


# ---------------------------------------------------------------------------
# scan preparation


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


@dataclass
class _Views:
    """RGB-D views prepared for the objective (object frame, downscaled).

    Attributes:
        cameras: :class:`backend.cameras.Cameras` in the object frame at the render scale.
        mask: ``(C, h, w)`` float, the fraction of each pixel's block in the instance mask (None without
            masks): the soft target of the silhouette.
        core: ``(C, h, w)`` bool, blocks entirely in the mask: the pixels of the depth term (a block
            on the object's outline has no single depth to compare with).
        depth: ``(C, h, w)`` observed depth of the core blocks (mean of their valid pixels, 0 = none).
        nearest: ``(C, h, w)`` nearest observed depth of each block (any pixel; 0 = none), for free space.
        counted: ``(C, h, w)`` bool pixels the silhouette IoU counts (not hidden by another object).
        pixels_per_object_pixel: valid observed pixels per mask pixel (rescales the free-space
            penalty from "per observed pixel" to "per object pixel"; 1 without masks).
    """

    cameras: Any
    mask: torch.Tensor | None
    core: torch.Tensor | None
    depth: torch.Tensor | None
    nearest: torch.Tensor
    counted: torch.Tensor | None
    pixels_per_object_pixel: float = 1.0

    def to(self, device: torch.device) -> _Views:
        def move(t):
            return None if t is None else t.to(device)

        return _Views(self.cameras.to(device), move(self.mask), move(self.core), move(self.depth), move(self.nearest),
                      move(self.counted), self.pixels_per_object_pixel)


def _prepare_views(frames: Any, object_from_world: torch.Tensor, max_views: int, render_width: int) -> _Views | None:
    from .cameras import Cameras

    depth = frames.depth.float()
    c_all = depth.shape[0]
    masks = frames.masks
    if masks is not None:
        area = masks.reshape(c_all, -1).sum(1)
        usable = torch.nonzero(area > 0).squeeze(1)
    else:
        usable = torch.arange(c_all)
    if len(usable) == 0 or max_views <= 0:
        return None
    pick = usable[torch.unique(torch.linspace(0, len(usable) - 1, min(max_views, len(usable))).round().long())]
    f = max(1, round(frames.cameras.width / max(1, render_width)))
    h, w = frames.cameras.height // f, frames.cameras.width // f
    if h < 2 or w < 2:
        f, h, w = 1, frames.cameras.height, frames.cameras.width

    def blocks(x: torch.Tensor) -> torch.Tensor:  # (C, H, W) -> (C, h, w, f * f)
        x = x[pick][:, : h * f, : w * f]
        return x.reshape(len(pick), h, f, w, f).permute(0, 1, 3, 2, 4).reshape(len(pick), h, w, f * f)

    d = blocks(depth)
    valid = (d > 0) & torch.isfinite(d)
    nearest = torch.where(valid, d, torch.full_like(d, math.inf)).amin(-1)
    nearest = torch.where(torch.isfinite(nearest), nearest, torch.zeros_like(nearest))
    mask = core = obs_depth = counted = None
    if masks is not None:
        m = blocks(masks.float()) > 0.5
        mask = m.float().mean(-1)
        core = m.all(-1)
        inside = m & valid
        n_in = inside.sum(-1)
        obs_depth = torch.where(core & (n_in > 0), (d * inside).sum(-1) / n_in.clamp_min(1), torch.zeros_like(nearest))
        if frames.instances is not None and frames.instance_id is not None:
            inst = blocks(frames.instances.float())
            other = (inst != 0) & (inst != float(frames.instance_id))
            counted = (other.float().mean(-1) < 0.5) | (mask > 0)
        else:
            counted = torch.ones_like(core)
    intr = frames.cameras.intrinsics[pick].double().clone()
    intr[:, :2] /= f
    intr[:, 2:] = (intr[:, 2:] + 0.5) / f - 0.5
    pose = object_from_world.double() @ frames.cameras.cam_to_world[pick].double()
    cams = Cameras(intrinsics=intr.float(), cam_to_world=pose.float(), width=w, height=h)
    ratio = float((nearest > 0).sum()) / max(1.0, float(mask.sum())) if mask is not None else 1.0
    return _Views(cams, mask, core, obs_depth, nearest, counted, ratio)


# ---------------------------------------------------------------------------
# the objective


class Objective:
    """The fitting objective for one object's observations (see the module docstring for the terms).

    Args:
        observations: :class:`backend.scans.Observations` (world frame).
        world_from_object: ``(4, 4)`` float64, the frame candidates are posed in.
        cfg: :class:`backend.problem.ObjectiveConfig` (weights and settings).
        device: where the work runs.
        seed: seeds the scan subsample and the surface samples.

    ``objective(verts, mesh)``: ``verts (K, V, 3)`` candidate vertices in the object frame, ``mesh`` a
    :class:`translator.geometry.MeshBatch` giving the faces -> ``(loss (K,), {term: (K,)})``.
    """

    def __init__(self, observations: Any, world_from_object: torch.Tensor, cfg: Any, device: Any = "cpu", seed: int = 0):
        self.cfg = cfg
        self.device = torch.device(device)
        self.seed = int(seed)
        gen = torch.Generator().manual_seed(self.seed)
        object_from_world = torch.linalg.inv(torch.as_tensor(world_from_object, dtype=torch.float64))
        pts = observations.points.double() @ object_from_world[:3, :3].T + object_from_world[:3, 3]
        self.scan_top = float(np.quantile(pts[:, 2].numpy(), 0.999))
        """Height of the scan's top in the object frame (metres), for the ``top`` term."""
        self.scan_bottom = lowest_z(pts[:, 2])
        """Height of the scan's lowest points in the object frame (metres), for the ``bottom`` term."""
        order = torch.randperm(len(pts), generator=gen)
        dense = pts[order[: 4 * cfg.scan_points]] if cfg.scan_points else pts
        self.neighbours = ScanNeighbours(dense.float(), cfg.truncate).to(self.device)
        """Distances to the scan (``4 scan_points`` of its points: the targets of ``mesh_to_scan``)."""
        if cfg.scan_points and len(pts) > cfg.scan_points:
            pts = pts[order[: cfg.scan_points]]
        self.points = pts.float().to(self.device)
        """``(P, 3)`` the subset of ``scan_points`` scan points of ``scan_to_mesh``."""
        self.s2m = ScanToMesh(self.points)
        frames = getattr(observations, "frames", None)
        self.views = None
        if frames is not None and (cfg.depth > 0 or cfg.silhouette > 0 or cfg.free_space > 0):
            views = _prepare_views(frames, object_from_world, cfg.max_views, cfg.render_width)
            self.views = None if views is None else views.to(self.device)
        names = [n for n in ("scan_to_mesh", "mesh_to_scan", "floor", "bottom", "top") if getattr(cfg, n) > 0]
        if self.views is not None:
            if self.views.mask is not None:
                names += [n for n in ("depth", "silhouette") if getattr(cfg, n) > 0]
            if cfg.free_space > 0:
                names.append("free_space")
        self.terms = names
        """Names of the terms this objective computes (weight > 0 and the data they need)."""

    def _rho(self, d: torch.Tensor, clamp: float) -> torch.Tensor:
        return robust_penalty(d.clamp_max(clamp), "huber", self.cfg.huber)

    def __call__(self, verts: torch.Tensor, mesh: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        c = self.cfg
        tris = mesh.triangles().to(verts.device)
        k_ = verts.shape[0]
        names = self.terms
        if tris.shape[0] == 0 or not torch.isfinite(verts).all():
            big = verts.reshape(k_, -1).nan_to_num(0.0).sum(-1) * 0 + 1e3  # keeps the graph for backward
            return big, {n: big.detach() for n in names}
        terms: dict[str, torch.Tensor] = {}
        if "scan_to_mesh" in names:
            d = torch.sqrt(self.s2m(verts[:, tris]) + 1e-12)
            terms["scan_to_mesh"] = self._rho(d, c.outlier).mean(-1)
        out = None
        if self.views is not None and any(n in names for n in ("mesh_to_scan", "depth", "silhouette", "free_space")):
            from .render import RasterSettings, render

            out = render(verts, tris, self.views.cameras.to(dtype=verts.dtype),
                         RasterSettings(silhouette="silhouette" in names, znear=0.05))
            terms.update(self._frame_terms(out, names))
        if "mesh_to_scan" in names:
            terms["mesh_to_scan"] = self._mesh_to_scan(verts, tris, None if out is None else out.depth.detach())
        if "floor" in names:
            terms["floor"] = torch.relu(-verts[..., 2].amin(1) - c.floor_tolerance)
        if "bottom" in names:
            terms["bottom"] = torch.relu(verts[..., 2].amin(1) - self.scan_bottom - c.bottom_tolerance)
        if "top" in names:
            terms["top"] = torch.relu((verts[..., 2].amax(1) - self.scan_top).abs() - c.top_tolerance)
        loss = sum(getattr(c, n) * terms[n] for n in names)
        return loss, terms

    def _mesh_to_scan(self, verts: torch.Tensor, tris: torch.Tensor, rendered: torch.Tensor | None) -> torch.Tensor:
        """``sum_s rho(d(s, scan)) / S`` over the surface samples the sensor could have seen (all of them
        without frames): inside a view, in front of nothing else of the candidate (its ``rendered``
        depth), where the sensor measured something not in front of it."""
        try:
            s = sample_surface(verts, tris, self.cfg.surface_samples, self.seed).points  # (K, S, 3)
        except ValueError:  # a candidate without surface area: nothing to sample
            return verts.reshape(verts.shape[0], -1).sum(-1) * 0 + self._rho(verts.new_tensor(math.inf), self.cfg.truncate)
        pen = self._rho(self.neighbours(s), self.cfg.truncate)
        if rendered is not None:
            pen = pen * self._observable(s.detach(), rendered)
        return pen.mean(-1)

    def _observable(self, s: torch.Tensor, rendered: torch.Tensor) -> torch.Tensor:
        """``(K, S)`` bool: samples ``s (K, S, 3)`` visible in some view given the candidates' depth
        ``rendered (K, C, h, w)`` and observed by the sensor there (not hidden by something nearer)."""
        v = self.views
        uv, z = v.cameras.to(dtype=s.dtype).project(s)  # (C, K, S, 2), (C, K, S)
        h, w = v.nearest.shape[1:]
        u = torch.round(uv[..., 0]).long()
        r = torch.round(uv[..., 1]).long()
        inside = (z > 0.05) & (u >= 0) & (u < w) & (r >= 0) & (r < h)
        u, r = u.clamp(0, w - 1), r.clamp(0, h - 1)
        ci = torch.arange(z.shape[0], device=s.device)[:, None, None]
        ki = torch.arange(z.shape[1], device=s.device)[None, :, None]
        rend = rendered[ki, ci, r, u]
        obs = v.nearest[ci, r, u].to(s.dtype)
        tol = self.cfg.free_space_margin
        return (inside & (rend > 0) & (z <= rend + tol) & (obs > 0) & (obs >= z - tol)).any(0)

    def _frame_terms(self, out: Any, names: list[str]) -> dict[str, torch.Tensor]:
        v, c = self.views, self.cfg
        terms = {}
        if "depth" in names:
            terms["depth"] = depth_l1(out.depth, v.depth, v.core, robust="clamp", scale=c.depth_cap)
        if "silhouette" in names:
            counted = v.counted.to(out.silhouette.dtype)
            terms["silhouette"] = silhouette_iou_loss(out.silhouette * counted, v.mask)
        if "free_space" in names:
            fs = free_space_penalty(out.depth, v.nearest, c.free_space_margin, robust="clamp", scale=c.depth_cap)
            terms["free_space"] = fs * v.pixels_per_object_pixel
        return terms
