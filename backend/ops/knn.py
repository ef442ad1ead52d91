"""Exact nearest-neighbour search between point sets, batched.

On CPU scipy KD-trees answer (one per target batch, spread over the torch
threads); elsewhere a pure-torch uniform grid does (``backend="grid"``). The
search runs without autograd; only the distance to the chosen neighbour is
differentiated. :class:`ScanNeighbours` answers distances from many query
batches to one fixed scan, clamped at a reach.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from . import native

__all__ = ["NN_BACKENDS", "ScanNeighbours", "nearest_neighbors"]

_NO_KEY = torch.iinfo(torch.int64).max


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


class ScanNeighbours:
    """Distances from query points (surface samples) to the nearest of fixed scan points, up to ``reach``.

    On CPU the compiled :class:`backend.ops.native.PointGrid` answers when it is available (exact; cells
    of ``reach / 2``; ``backend="auto"``), else a scipy KD-tree of the scan, built once (on the first call) and
    queried with ``reach`` as the upper bound (far queries end early): the grid's tested reference. Elsewhere (``backend="grid"``) a coarse occupancy
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
        self._native: native.PointGrid | None = None  # the compiled search's grid, on its first query

    def to(self, device: torch.device) -> ScanNeighbours:
        self.points = self.points.to(device)
        self._grid = self._native = None
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
        if self.backend == "auto" and flat.device.type == "cpu" and native.available():
            if self._native is None:
                self._native = native.PointGrid(self.points, self.reach / 2)
            idx = self._native.nearest(flat, self.reach)
            near = torch.nonzero(idx >= 0).squeeze(1)
            return near.to(flat.device), idx.index_select(0, near).to(flat.device)
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
