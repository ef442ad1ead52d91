"""Losses between candidate meshes and what a depth sensor saw, batched over candidates.

Shapes: ``N`` candidates, ``C`` views of ``H x W`` pixels, ``P`` scan points,
``V`` vertices, ``F`` triangles (``faces`` shared by the batch), ``S`` surface
samples. Every loss returns ``(N,)``, one value per candidate, and is
differentiable w.r.t. the rendered images / the vertices.

Robust variants: every loss takes ``robust`` (``"none"``, ``"clamp"`` or
``"huber"``) and ``scale`` (``delta``, in the residual's unit), applied by
:func:`robust_penalty` to each residual ``r >= 0``:

============  =======================  ==========================================
``robust``    L1-type residuals         squared residuals (Chamfer, distances)
============  =======================  ==========================================
``none``      ``r``                    ``r^2``
``clamp``     ``min(r, delta)``        ``min(r, delta)^2``
``huber``     ``r^2 / (2 delta)`` if   ``r^2`` if ``r <= delta``, else
              ``r <= delta``, else     ``delta (2 r - delta)`` (continuous, C1)
              ``r - delta / 2``
============  =======================  ==========================================

Nearest-neighbour searches (which triangle / sample / scan point is nearest) run
without autograd and are exact; only the distance to the chosen one is
differentiated (the gradient of a minimum).
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

__all__ = [
    "NN_BACKENDS",
    "ROBUST_KINDS",
    "PointMeshDistance",
    "SurfaceSamples",
    "chamfer_scan_to_mesh",
    "chamfer_two_sided",
    "depth_l1",
    "free_space_penalty",
    "nearest_neighbors",
    "point_mesh_sqdist",
    "point_triangle_sqdist",
    "robust_penalty",
    "sample_surface",
    "silhouette_iou_loss",
]

ROBUST_KINDS = ("none", "clamp", "huber")
_TINY = 1e-30
_NO_KEY = torch.iinfo(torch.int64).max


# ----------------------------------------------------------------------------------------------
# robust penalties


def robust_penalty(x: torch.Tensor, robust: str = "none", scale: float = 0.05, squared: bool = False) -> torch.Tensor:
    """Penalty of non-negative residuals (see the module table).

    Args:
        x: residuals ``r >= 0`` (any shape), or their squares ``r^2`` when ``squared``.
        robust: ``"none"``, ``"clamp"`` or ``"huber"``.
        scale: ``delta > 0``, where the robust kinds start to flatten.
        squared: ``x`` holds ``r^2`` and the base penalty is ``r^2`` (no square root is taken
            below ``delta``, so the gradient stays finite at ``r = 0``).
    """
    if robust not in ROBUST_KINDS:
        raise ValueError(f"robust must be one of {', '.join(ROBUST_KINDS)}, got {robust!r}")
    if robust != "none" and not scale > 0:
        raise ValueError(f"robust scale must be positive, got {scale}")
    d = float(scale)
    if robust == "none":
        return x
    if squared:
        if robust == "clamp":
            return x.clamp(max=d * d)
        r = torch.sqrt(x.clamp(min=d * d))
        return torch.where(x <= d * d, x, d * (2 * r - d))
    if robust == "clamp":
        return x.clamp(max=d)
    return torch.where(x <= d, x * x / (2 * d), x - d / 2)


# ----------------------------------------------------------------------------------------------
# image losses


def _check_images(rendered: torch.Tensor, observed: torch.Tensor, what: str, mask: torch.Tensor | None = None) -> None:
    if rendered.ndim != 4:
        raise ValueError(f"{what} must be (N, C, H, W), got shape {tuple(rendered.shape)}")
    if observed.ndim != 3 or tuple(observed.shape) != tuple(rendered.shape[1:]):
        raise ValueError(f"observation must be (C, H, W) = {tuple(rendered.shape[1:])}, got shape {tuple(observed.shape)}")
    if mask is not None and tuple(mask.shape) != tuple(observed.shape):
        raise ValueError(f"mask must be (C, H, W) = {tuple(observed.shape)}, got shape {tuple(mask.shape)}")


def _valid_depth(observed: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    valid = torch.isfinite(observed) & (observed > 0)
    return valid if mask is None else valid & mask.to(torch.bool)


def depth_l1(rendered: torch.Tensor, observed: torch.Tensor, mask: torch.Tensor | None = None, robust: str = "none",
             scale: float = 0.1) -> torch.Tensor:
    """Masked depth L1: ``sum_valid rho(|D_n - D_obs|) / #valid`` per candidate.

    Args:
        rendered: ``(N, C, H, W)`` rendered depth (0 where the candidate misses the pixel: such
            mask pixels count the full ``|0 - D_obs|``, so shrinking out of the mask does not pay).
        observed: ``(C, H, W)`` sensor depth; ``0`` and non-finite values are invalid and ignored.
        mask: ``(C, H, W)`` bool, the object's pixels (``None``: every valid pixel).
        robust, scale: see :func:`robust_penalty` (residuals in metres).

    Returns:
        ``(N,)``; 0 when no pixel is valid.
    """
    _check_images(rendered, observed, "rendered depth", mask)
    valid = _valid_depth(observed, mask)
    obs = torch.where(valid, observed, torch.zeros_like(observed)).to(rendered.dtype)
    r = (rendered - obs).abs()
    pen = robust_penalty(r, robust, scale) * valid
    return pen.sum((1, 2, 3)) / valid.sum().clamp(min=1)


def silhouette_iou_loss(silhouette: torch.Tensor, mask: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Soft IoU loss ``1 - mean_c (sum S M + eps) / (sum (S + M - S M) + eps)``.

    Args:
        silhouette: ``(N, C, H, W)`` soft silhouettes in [0, 1].
        mask: ``(C, H, W)`` observed object mask (bool or [0, 1] float).
        eps: keeps empty views finite (an empty silhouette of an empty mask has IoU 1).

    Returns:
        ``(N,)`` in [0, 1].
    """
    _check_images(silhouette, mask, "silhouette")
    m = mask.to(silhouette.dtype)
    inter = (silhouette * m).sum((2, 3))
    union = (silhouette + m - silhouette * m).sum((2, 3))
    return 1 - ((inter + eps) / (union + eps)).mean(1)


def free_space_penalty(rendered: torch.Tensor, observed: torch.Tensor, margin: float = 0.02, mask: torch.Tensor | None = None,
                       robust: str = "none", scale: float = 0.1) -> torch.Tensor:
    """Free-space (see-through) penalty: the sensor measured ``D_obs`` at a pixel, so nothing can be
    in front of it; ``sum rho(relu(D_obs - margin - D_n)) / #valid`` over pixels with a valid
    observation where the candidate is visible (``D_n > 0``).

    Args:
        rendered: ``(N, C, H, W)`` rendered depth (0: candidate not visible).
        observed: ``(C, H, W)`` sensor depth (0 / non-finite: invalid).
        margin: depth noise allowance in metres.
        mask: ``(C, H, W)`` bool, pixels to consider (``None``: all valid pixels; pass the pixels
            not occluded by other objects).
        robust, scale: see :func:`robust_penalty`.

    Returns:
        ``(N,)``, normalised by the number of valid observed pixels.
    """
    _check_images(rendered, observed, "rendered depth", mask)
    valid = _valid_depth(observed, mask)
    obs = torch.where(valid, observed, torch.zeros_like(observed)).to(rendered.dtype)
    ahead = torch.relu(obs - margin - rendered) * (valid & (rendered > 0))
    return robust_penalty(ahead, robust, scale).sum((1, 2, 3)) / valid.sum().clamp(min=1)


# ----------------------------------------------------------------------------------------------
# point-to-triangle distances


def point_triangle_sqdist(points: torch.Tensor, tri: torch.Tensor) -> torch.Tensor:
    """Exact squared distance from points to closed triangles (differentiable, broadcasting).

    The nearest point is the orthogonal projection onto the plane when it falls inside the
    triangle, else the nearest point of the three edges. Degenerate triangles count as their
    edges; gradients stay finite everywhere.

    Args:
        points: ``(..., 3)``.
        tri: ``(..., 3, 3)`` corners ``a, b, c`` (broadcast against ``points``).

    Returns:
        ``(...)`` squared distances.
    """
    a, b, c = tri.unbind(-2)
    ab, ac, ap = b - a, c - a, points - a
    d00 = (ab * ab).sum(-1)
    d01 = (ab * ac).sum(-1)
    d11 = (ac * ac).sum(-1)
    d20 = (ap * ab).sum(-1)
    d21 = (ap * ac).sum(-1)
    denom = d00 * d11 - d01 * d01
    flat = denom > 1e-12 * d00 * d11 + _TINY
    den = torch.where(flat, denom, torch.ones_like(denom))
    v = (d11 * d20 - d01 * d21) / den
    w = (d00 * d21 - d01 * d20) / den
    inside = flat & (v >= 0) & (w >= 0) & (v + w <= 1)
    proj = ap - v[..., None] * ab - w[..., None] * ac
    plane = (proj * proj).sum(-1)

    def seg(p: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        ee = (e * e).sum(-1)
        t = ((p * e).sum(-1) / torch.where(ee > _TINY, ee, torch.ones_like(ee))).clamp(0.0, 1.0)
        r = p - t[..., None] * e
        return (r * r).sum(-1)

    edges = torch.minimum(torch.minimum(seg(ap, ab), seg(ap, ac)), seg(points - b, c - b))
    return torch.where(inside, plane, edges)


class PointMeshDistance(NamedTuple):
    """``sqdist (N, P)``: squared distance from each point to each candidate's surface;
    ``face (N, P)`` int64: the nearest triangle."""

    sqdist: torch.Tensor
    face: torch.Tensor


def _check_mesh(verts: torch.Tensor, faces: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(verts, torch.Tensor) or verts.ndim != 3 or verts.shape[-1] != 3 or not verts.is_floating_point():
        shape = tuple(verts.shape) if isinstance(verts, torch.Tensor) else type(verts).__name__
        raise ValueError(f"verts must be a float tensor (N, V, 3), got shape {shape}")
    if not isinstance(faces, torch.Tensor) or faces.ndim != 2 or faces.shape[1] != 3 or faces.is_floating_point():
        shape = tuple(faces.shape) if isinstance(faces, torch.Tensor) else type(faces).__name__
        raise ValueError(f"faces must be an integer tensor (F, 3), got shape {shape}")
    if faces.shape[0] == 0:
        raise ValueError("the mesh has no triangles")
    faces = faces.to(device=verts.device, dtype=torch.long)
    if int(faces.min()) < 0 or int(faces.max()) >= verts.shape[1]:
        raise ValueError(f"faces index vertices {int(faces.min())}..{int(faces.max())} but there are {verts.shape[1]} vertices")
    return verts, faces


def _check_points(points: torch.Tensor, what: str = "points") -> None:
    if not isinstance(points, torch.Tensor) or points.ndim != 2 or points.shape[1] != 3 or not points.is_floating_point():
        shape = tuple(points.shape) if isinstance(points, torch.Tensor) else type(points).__name__
        raise ValueError(f"{what} must be a float tensor (P, 3), got shape {shape}")
    if points.shape[0] == 0:
        raise ValueError(f"{what} is empty")
    if not torch.isfinite(points).all():
        raise ValueError(f"{what} contain NaN or inf")


def _argmin_key(value: torch.Tensor, group: torch.Tensor, label: torch.Tensor, groups: int) -> torch.Tensor:
    """For each of ``groups`` groups, the ``label`` (< 2^32) of its smallest non-negative ``value``; -1 if empty."""
    key = (value.float().clamp(min=0).view(torch.int32).long() << 32) | label
    best = torch.full((groups,), _NO_KEY, dtype=torch.long, device=value.device)
    best.scatter_reduce_(0, group, key, "amin")
    return torch.where(best == _NO_KEY, -1, best & 0xFFFFFFFF)


def _clusters(points: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Compact clusters of about ``size`` points: the occupied cells of a uniform grid whose cell is
    chosen (by bisection) so that there are about ``P / size`` of them.

    Returns the cluster of every point ``(P,)`` (ids ``0..K-1``) and the number ``K``."""
    lo = points.amin(0)
    extent = (points.amax(0) - lo).clamp(min=1e-9)
    goal = max(1, points.shape[0] // max(1, size))
    small, big = float(extent.max()) / 4096, float(extent.max()) * 2
    for _ in range(24):
        cell = math.sqrt(small * big)
        c = torch.floor((points - lo) / cell).long()
        key = (c[:, 0] * 65536 + c[:, 1]) * 65536 + c[:, 2]
        ids, owner = torch.unique(key, return_inverse=True)
        if ids.numel() > goal:
            small = cell
        else:
            big = cell
    return owner, int(ids.numel())


def point_mesh_sqdist(points: torch.Tensor, verts: torch.Tensor, faces: torch.Tensor, cluster_size: int = 32,
                      max_pairs: int = 1_000_000) -> PointMeshDistance:
    """Exact squared distance from scan points to every candidate's surface.

    Fast path: the points are grouped into compact clusters of about ``cluster_size`` (cells of a
    uniform grid), with centre ``c_g`` and radius ``r_g``. A triangle can be the nearest to a point of cluster
    ``g`` only if its distance ``e`` to the centre has ``e - r_g <= min_t e_t + r_g`` (distances are
    1-Lipschitz); only those (point, triangle) pairs are measured, without autograd, and the
    distance to the nearest triangle is recomputed with autograd. Work is chunked by candidates
    to keep about ``max_pairs`` pairs at once.

    Args:
        points: ``(P, 3)`` scan points.
        verts: ``(N, V, 3)`` candidate vertices; faces: ``(F, 3)`` triangles.

    Returns:
        :class:`PointMeshDistance` with ``(N, P)`` squared distances (differentiable w.r.t.
        ``verts`` and ``points``) and nearest faces.
    """
    _check_points(points)
    verts, faces = _check_mesh(verts, faces)
    n, f = verts.shape[0], faces.shape[0]
    p = points.shape[0]
    tri = verts[:, faces]  # (N, F, 3, 3)
    with torch.no_grad():
        owner, num = _clusters(points.detach().double(), cluster_size)
        order = torch.argsort(owner)
        owner = owner[order]
        sorted_pts = points.detach()[order].to(verts.dtype)
        size = torch.bincount(owner, minlength=num)
        first = torch.cumsum(size, 0) - size
        centres = torch.zeros((num, 3), dtype=verts.dtype, device=points.device).index_add_(0, owner, sorted_pts)
        centres /= size.to(verts.dtype)[:, None]
        radius = torch.zeros(num, dtype=verts.dtype, device=points.device).scatter_reduce_(
            0, owner, (sorted_pts - centres[owner]).norm(dim=1), "amax")
        best = torch.empty((n, p), dtype=torch.long, device=points.device)
        tri_d = tri.detach()
        per_candidate = max(1, max_pairs // max(1, num * f))
        for i0 in range(0, n, per_candidate):
            i1 = min(n, i0 + per_candidate)
            e = point_triangle_sqdist(centres[None, :, None, :], tri_d[i0:i1, None]).sqrt()  # (n', K, F)
            bound = e.amin(-1, keepdim=True) + 2 * radius[None, :, None]
            cand, grp, face = torch.nonzero(e <= bound * (1 + 1e-6) + 1e-12, as_tuple=True)
            count = size.index_select(0, grp)
            pair = torch.repeat_interleave(torch.arange(grp.numel(), device=grp.device), count)
            slot = first.index_select(0, grp).index_select(0, pair) + torch.arange(pair.numel(), device=grp.device) \
                - (torch.cumsum(count, 0) - count).index_select(0, pair)
            cand, face = cand.index_select(0, pair), face.index_select(0, pair)
            d2 = point_triangle_sqdist(sorted_pts.index_select(0, slot), tri_d[i0:i1].reshape(-1, 3, 3).index_select(0, cand * f + face))
            nearest = _argmin_key(d2, cand * p + slot, face, (i1 - i0) * p).view(i1 - i0, p)
            best[i0:i1, order] = nearest
    near = tri.gather(1, best[..., None, None].expand(-1, -1, 3, 3))  # (N, P, 3, 3)
    return PointMeshDistance(point_triangle_sqdist(points.to(verts.dtype)[None], near), best)


# ----------------------------------------------------------------------------------------------
# surface sampling and nearest neighbours


class SurfaceSamples(NamedTuple):
    """``points (N, S, 3)`` (differentiable w.r.t. the vertices), ``face (N, S)`` and barycentric
    weights ``bary (N, S, 3)`` of each sample."""

    points: torch.Tensor
    face: torch.Tensor
    bary: torch.Tensor


def sample_surface(verts: torch.Tensor, faces: torch.Tensor, num_samples: int, seed: int = 0) -> SurfaceSamples:
    """Area-weighted uniform samples of every candidate's surface, reparameterised.

    Each sample picks a triangle with probability proportional to its area (per candidate, no
    gradient through the choice) and a point ``(1 - sqrt(r1)) a + sqrt(r1) (1 - r2) b + sqrt(r1) r2 c``
    from uniform ``r1, r2``; the point moves with the vertices. The random numbers come from a
    generator seeded with ``seed``, so equal meshes give equal samples.

    Returns:
        :class:`SurfaceSamples` with ``(N, S, ...)`` tensors.
    """
    verts, faces = _check_mesh(verts, faces)
    if int(num_samples) < 1:
        raise ValueError(f"num_samples must be at least 1, got {num_samples}")
    n = verts.shape[0]
    tri = verts[:, faces]  # (N, F, 3, 3)
    with torch.no_grad():
        area = torch.linalg.cross(tri[:, :, 1] - tri[:, :, 0], tri[:, :, 2] - tri[:, :, 0], dim=-1).norm(dim=-1)
        if not torch.isfinite(area).all():
            raise ValueError("verts contain NaN or inf")
        empty = area.sum(1) <= 0
        if empty.any():
            raise ValueError(f"candidate {int(torch.nonzero(empty)[0])} has zero surface area")
        gen = torch.Generator(device=verts.device).manual_seed(int(seed))
        face = torch.multinomial(area.float(), int(num_samples), replacement=True, generator=gen)
        r = torch.rand((2, n, int(num_samples)), generator=gen, device=verts.device, dtype=verts.dtype)
        s1 = r[0].sqrt()
        bary = torch.stack([1 - s1, s1 * (1 - r[1]), s1 * r[1]], dim=-1)
    corners = tri.gather(1, face[..., None, None].expand(-1, -1, 3, 3))  # (N, S, 3, 3)
    return SurfaceSamples((bary[..., None] * corners).sum(-2), face, bary)


@dataclass
class _Grid:
    """Targets bucketed in a uniform grid (per target batch): cell ``(i, j, k)`` of batch ``b`` has key
    ``b * G + (i * dims[1] + j) * dims[2] + k``; ``points`` are the targets sorted by key, ``order``
    their original rows, ``start`` / ``count`` each key's run."""

    lo: torch.Tensor
    cell: float
    dims: torch.Tensor
    points: torch.Tensor
    order: torch.Tensor
    start: torch.Tensor
    count: torch.Tensor

    @property
    def size(self) -> int:
        return int(self.dims.prod())

    def key(self, batch: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
        return batch * self.size + (cells[..., 0] * self.dims[1] + cells[..., 1]) * self.dims[2] + cells[..., 2]


def _make_grid(targets: torch.Tensor, batch: torch.Tensor, num_batches: int, lo: torch.Tensor, extent: torch.Tensor,
               cell: float) -> _Grid:
    dims = (torch.floor(extent / cell).long() + 1).clamp(min=2)
    cells = torch.minimum(torch.floor((targets - lo) / cell).long().clamp(min=0), dims - 1)
    grid = _Grid(lo, cell, dims, targets, batch, batch, batch)
    key = grid.key(batch, cells)
    order = torch.argsort(key)
    count = torch.bincount(key, minlength=num_batches * grid.size)
    grid.points, grid.order, grid.count = targets.index_select(0, order), order, count
    grid.start = torch.cumsum(count, 0) - count
    return grid


def _cell_slots(grid: _Grid, keys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Every target in cells ``keys (K,)``: the cell's position in ``keys`` and the target's slot in
    ``grid.points`` (both ``(Z,)``)."""
    cnt = grid.count.index_select(0, keys)
    local = torch.repeat_interleave(torch.arange(keys.numel(), device=keys.device), cnt)
    slot = grid.start.index_select(0, keys).index_select(0, local) + torch.arange(local.numel(), device=keys.device) \
        - (torch.cumsum(cnt, 0) - cnt).index_select(0, local)
    return local, slot


def _cube_cells(grid: _Grid, centres: torch.Tensor, radius: torch.Tensor, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cells meeting the cubes ``centres (M, 3) +- radius (M,)`` in target batches ``batch (M,)``:
    the owning cube and the cell key of each (both ``(K,)``)."""
    r = radius[:, None]
    c0 = torch.floor((centres - r - grid.lo) / grid.cell).long().clamp(min=0)
    c1 = torch.minimum(torch.floor((centres + r - grid.lo) / grid.cell).long(), grid.dims - 1)
    span = (c1 - c0 + 1).clamp(min=1)
    total = span.prod(1)
    which = torch.repeat_interleave(torch.arange(centres.shape[0], device=centres.device), total)
    k = torch.arange(which.numel(), device=centres.device) - (torch.cumsum(total, 0) - total).index_select(0, which)
    sp = span.index_select(0, which)
    offs = torch.stack([torch.div(k, sp[:, 1] * sp[:, 2], rounding_mode="floor"),
                        torch.div(k, sp[:, 2], rounding_mode="floor") % sp[:, 1], k % sp[:, 2]], 1)
    return which, grid.key(batch.index_select(0, which), c0.index_select(0, which) + offs)


def _visit(grid: _Grid, qp: torch.Tensor, keys: torch.Tensor, owner: torch.Tensor, best: torch.Tensor, max_pairs: int) -> None:
    """Measure queries ``qp (M, 3)`` against the targets in cells ``keys (K,)`` (cell ``j`` visited by
    query ``owner[j]``); fold ``(d^2 bits << 32) | sorted target`` into ``best (M,)`` by minimum."""
    ends = torch.cumsum(grid.count.index_select(0, keys), 0)
    k0 = 0
    while k0 < keys.numel():  # chunks of cells holding about max_pairs targets
        done = int(ends[k0 - 1]) if k0 else 0
        k1 = max(k0 + 1, int(torch.searchsorted(ends, done + max_pairs, right=True)))
        local, slot = _cell_slots(grid, keys[k0:k1])
        query = owner[k0:k1].index_select(0, local)
        diff = qp.index_select(0, query) - grid.points.index_select(0, slot)
        d2 = (diff * diff).sum(1)
        best.scatter_reduce_(0, query, (d2.float().view(torch.int32).long() << 32) | slot, "amin")
        k0 = k1


def _best_sq(best: torch.Tensor, dtype) -> torch.Tensor:
    """The squared distances packed in :func:`_visit` keys (NaN where nothing was found)."""
    return (best >> 32).to(torch.int32).view(torch.float32).to(dtype)


_CORNERS = [[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)]


def _grid_frame(targets: torch.Tensor, per_batch: int) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Origin ``(3,)``, extent ``(3,)`` and the finest cell size (about one cell per target) of grids
    over ``targets (M, 3)`` (``per_batch`` targets per batch element)."""
    lo = targets.amin(0)
    extent = (targets.amax(0) - lo).clamp(min=1e-9)
    return lo, extent, float(max((extent.prod() / per_batch) ** (1 / 3), extent.max() / 64))


NN_BACKENDS = ("auto", "kdtree", "grid")


_KD_POOLS: dict[int, ThreadPoolExecutor] = {}


def _kd_query(tree_points: np.ndarray, queries: np.ndarray, workers: int = 1) -> np.ndarray:
    """Index of the nearest of ``tree_points (S, 3)`` for every one of ``queries (Q, 3)`` (float64)."""
    from scipy.spatial import cKDTree

    tree = cKDTree(tree_points, leafsize=16, balanced_tree=False, compact_nodes=False)
    return tree.query(queries, k=1, workers=workers)[1]


def _kdtree_nearest(qflat: torch.Tensor, tflat: torch.Tensor, n: int, q: int, nb: int, s: int) -> torch.Tensor:
    """Row in ``tflat`` of the nearest target of every query, with one scipy KD-tree per target batch
    (CPU): ``qflat (n * q, 3)``, ``tflat (nb * s, 3)`` with ``nb`` 1 (shared) or ``n`` -> ``(n * q,)``.
    Batches are spread over ``torch.get_num_threads()`` threads (scipy releases the GIL)."""
    qn = qflat.detach().to(torch.float64).numpy().reshape(n, q, 3)
    tn = tflat.detach().to(torch.float64).numpy().reshape(nb, s, 3)
    workers = max(1, torch.get_num_threads())
    if nb == 1:
        return torch.from_numpy(_kd_query(tn[0], qn.reshape(-1, 3), workers).astype(np.int64))
    out = np.empty((n, q), dtype=np.int64)

    def run(batches: range) -> None:
        for b in batches:
            out[b] = _kd_query(tn[b], qn[b]) + b * s

    parts = [range(w, n, workers) for w in range(min(workers, n))]
    if len(parts) == 1:
        run(parts[0])
    else:
        pool = _KD_POOLS.setdefault(workers, ThreadPoolExecutor(workers, thread_name_prefix="shapeprog-kdtree"))
        for done in [pool.submit(run, part) for part in parts]:
            done.result()
    return torch.from_numpy(out).view(-1)


def _grid_nearest(qflat: torch.Tensor, tflat: torch.Tensor, n: int, q: int, nb: int, s: int, max_pairs: int) -> torch.Tensor:
    """Row in ``tflat`` of the nearest target of every query with the uniform-grid search (any
    device; see :func:`nearest_neighbors`)."""
    device = qflat.device
    dtype = qflat.dtype
    lo, extent, cell = _grid_frame(tflat, s)
    qbatch = torch.zeros(n * q, dtype=torch.long, device=device) if nb == 1 else \
        torch.arange(n, device=device).repeat_interleave(q)
    tbatch = torch.arange(nb, device=device).repeat_interleave(s)
    result = torch.empty(n * q, dtype=torch.long, device=device)
    pending = torch.arange(n * q, device=device)
    corners = torch.tensor(_CORNERS, device=device)
    while pending.numel():
        grid = _make_grid(tflat, tbatch, nb, lo, extent, cell)
        dims = grid.dims
        qp = qflat.index_select(0, pending)
        qb = qbatch.index_select(0, pending)
        m = pending.numel()
        best = torch.full((m,), _NO_KEY, dtype=torch.long, device=device)
        # 1. the 2 x 2 x 2 cells around the query
        f = (qp - lo) / cell
        b0 = torch.minimum(torch.floor(f - 0.5).long().clamp(min=0), dims - 2)
        inf = torch.full_like(f, math.inf)
        low = torch.where(b0 > 0, qp - (lo + b0 * cell), inf)
        high = torch.where(b0 + 2 < dims, lo + (b0 + 2) * cell - qp, inf)
        guard = torch.minimum(low, high).amin(1)
        owner = torch.arange(m, device=device).repeat_interleave(8)
        _visit(grid, qp, grid.key(qb.index_select(0, owner), (b0[:, None, :] + corners[None]).reshape(-1, 3)), owner, best, max_pairs)
        found = best != _NO_KEY
        d2 = _best_sq(best, dtype)
        # 2. not settled but found something at distance u: every cell meeting the cube q +- u
        cube = torch.nonzero(found & ~(d2 <= guard * guard * (1 - 1e-6))).squeeze(1)
        if cube.numel():
            u = d2.index_select(0, cube).sqrt() * (1 + 1e-6)
            which, keys = _cube_cells(grid, qp.index_select(0, cube), u, qb.index_select(0, cube))
            _visit(grid, qp, keys, cube.index_select(0, which), best, max_pairs)
        done = torch.nonzero(found).squeeze(1)
        result[pending.index_select(0, done)] = grid.order.index_select(0, best.index_select(0, done) & 0xFFFFFFFF)
        pending = pending[~found]
        cell *= 2
    return result


@torch.no_grad()
def nearest_neighbors(queries: torch.Tensor, targets: torch.Tensor, max_pairs: int = 4_000_000,
                      backend: str = "auto") -> tuple[torch.Tensor, torch.Tensor]:
    """Exact nearest target of every query (no autograd).

    Two exact searches, chosen by ``backend``: ``"kdtree"`` (CPU tensors: one scipy
    ``cKDTree`` per target batch, queried with ``torch.get_num_threads()`` workers) and
    ``"grid"`` (any device, pure torch, below); ``"auto"`` takes the KD-tree on CPU and the grid
    elsewhere. Ties may resolve to different (equally near) targets.

    Grid search: the targets are bucketed in a uniform grid (about one cell per target). A query first
    measures the 2 x 2 x 2 cells around it; it is settled when the nearest target found is no
    farther than the border of those cells (anything outside is farther). Otherwise, when it
    found a target at distance ``u``, it measures every cell meeting the cube ``q +- u``, which
    holds every target closer than ``u``. Queries that found nothing (far from all targets) repeat
    this on grids of doubling cell size; the coarsest has 2 cells per axis and settles everyone.

    Args:
        queries: ``(N, Q, 3)``, or ``(Q, 3)`` shared by the batch.
        targets: ``(N, S, 3)``, or ``(S, 3)`` shared by the batch.
        max_pairs: (query, target) pairs measured at once (bounds memory).

    Returns:
        ``(N, Q)`` squared distances and ``(N, Q)`` int64 target indices (into ``S``); ``N = 1``
        when both are shared.
    """
    for name, t in (("queries", queries), ("targets", targets)):
        if not isinstance(t, torch.Tensor) or t.ndim not in (2, 3) or t.shape[-1] != 3 or not t.is_floating_point():
            shape = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
            raise ValueError(f"{name} must be a float tensor (N, M, 3) or (M, 3), got shape {shape}")
    if queries.ndim == 3 and targets.ndim == 3 and queries.shape[0] != targets.shape[0]:
        raise ValueError(f"queries and targets batch sizes differ: {queries.shape[0]} and {targets.shape[0]}")
    if queries.ndim == 2:
        queries = queries.expand(1 if targets.ndim == 2 else targets.shape[0], -1, -1)
    n, q = queries.shape[:2]
    shared = targets.ndim == 2
    tgt = targets.reshape(1 if shared else n, -1, 3)
    nb, s = tgt.shape[:2]
    if s == 0:
        raise ValueError("no targets to search")
    if backend not in NN_BACKENDS:
        raise ValueError(f"unknown nearest-neighbour backend {backend!r}; expected one of {', '.join(NN_BACKENDS)}")
    dtype = torch.promote_types(queries.dtype, targets.dtype)
    tflat = tgt.reshape(-1, 3).to(dtype)
    qflat = queries.reshape(-1, 3).to(dtype)
    if backend == "kdtree" and qflat.device.type != "cpu":
        raise ValueError("the kdtree nearest-neighbour backend runs on CPU tensors only")
    if backend == "kdtree" or (backend == "auto" and qflat.device.type == "cpu"):
        result = _kdtree_nearest(qflat, tflat, n, q, nb, s)
    else:
        result = _grid_nearest(qflat, tflat, n, q, nb, s, max_pairs)
    qbatch = torch.zeros(n * q, dtype=torch.long, device=qflat.device) if shared else \
        torch.arange(n, device=qflat.device).repeat_interleave(q)
    index = result - qbatch * s
    diff = qflat - tflat.index_select(0, result)
    return (diff * diff).sum(1).view(n, q), index.view(n, q)


# ----------------------------------------------------------------------------------------------
# Chamfer


def _scan_to_samples(points: torch.Tensor, samples: torch.Tensor, robust: str, scale: float) -> torch.Tensor:
    """``mean_p rho(min_s |p - s|^2)``: points ``(P, 3)``, samples ``(N, S, 3)`` -> ``(N,)``."""
    pts = points.to(samples.dtype)
    _, idx = nearest_neighbors(pts, samples.detach())
    near = samples.gather(1, idx[..., None].expand(-1, -1, 3))
    return robust_penalty(((pts[None] - near) ** 2).sum(-1), robust, scale, squared=True).mean(1)


def chamfer_scan_to_mesh(points: torch.Tensor, verts: torch.Tensor, faces: torch.Tensor, num_samples: int = 2000,
                         robust: str = "none", scale: float = 0.05, seed: int = 0) -> torch.Tensor:
    """One-sided Chamfer, scan -> mesh: ``mean_p rho(min_s |p - s|^2)`` over ``num_samples``
    area-weighted surface samples ``s`` of each candidate (:func:`sample_surface`, seeded by ``seed``).

    Args:
        points: ``(P, 3)`` scan points; verts: ``(N, V, 3)``; faces: ``(F, 3)``.
        robust, scale: :func:`robust_penalty` on the distance (metres), squared base.

    Returns:
        ``(N,)``.
    """
    _check_points(points)
    return _scan_to_samples(points, sample_surface(verts, faces, num_samples, seed).points, robust, scale)


def chamfer_two_sided(points: torch.Tensor, verts: torch.Tensor, faces: torch.Tensor, num_samples: int = 2000,
                      robust: str = "none", scale: float = 0.05, seed: int = 0) -> torch.Tensor:
    """Two-sided Chamfer: :func:`chamfer_scan_to_mesh` plus mesh -> scan,
    ``mean_s rho(min_p |s - p|^2)`` over the same surface samples.

    Returns:
        ``(N,)``.
    """
    _check_points(points)
    samples = sample_surface(verts, faces, num_samples, seed).points  # (N, S, 3)
    pts = points.to(samples.dtype)
    _, idx = nearest_neighbors(samples.detach(), pts)
    back = robust_penalty(((samples - pts[idx]) ** 2).sum(-1), robust, scale, squared=True).mean(1)
    return _scan_to_samples(points, samples, robust, scale) + back
