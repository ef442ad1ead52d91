"""Curve evaluation shared by the curve nodes: the evaluated points of POLY and BEZIER curves, their
positions, tangents, normals and lengths, as Blender's ``CurvesGeometry`` computes them
(``curves_geometry.cc``, ``curve_poly.cc``, ``curve_bezier.cc``):

* POLY curves evaluate to their points; a BEZIER segment from point ``i`` to ``i + 1`` gives
  ``resolution`` points of the cubic through ``position[i], handle_right[i], handle_left[i+1],
  position[i+1]`` at ``t = j / resolution`` (one point when both handles are VECTOR), and an open
  curve adds its last point. Point attributes interpolate linearly along a segment.
* Tangents: the normalized bisector of the directions to the neighbouring points (the direction
  to the one other point at open ends; an open Bezier curve's end tangents follow its inner
  handles); ``(0, 0, 1)`` for a single point.
* Normals: minimum twist (the first normal ``normalize(t.y, -t.x, 0)``, or +X for vertical
  tangents, carried along by the rotation between consecutive tangents; a cyclic curve spreads the
  mismatch at its end evenly) or Z up; then rotated about the tangents by the tilt.

Curves are :class:`translator.geometry.CurvesBatch`: positions ``(b, P, 3)`` per batch element,
everything that decides topology (types, cyclic, resolution, point counts) shared by the batch.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

import torch

from ..geometry import CurvesBatch, GeometrySet
from .attributes import modify_geometry_sets

__all__ = [
    "Evaluation",
    "curve_lengths",
    "evaluated_normals",
    "evaluated_positions",
    "evaluated_tangents",
    "evaluation",
    "interpolate_to_evaluated",
    "map_curves",
    "mark_scaled",
    "normalize",
    "rotate_about",
    "scaled_shape",
    "unit_shape",
]

# ---------------------------------------------------------------------------
# Evaluation topology (cached per topology)


@dataclass(frozen=True)
class Evaluation:
    """How control points map to evaluated points: evaluated point ``k`` lies at ``t[k]`` on the
    segment from point ``a[k]`` to ``b[k]``; ``offsets`` ``(S + 1)`` are the curves' evaluated ranges."""

    offsets: tuple[int, ...]
    a: torch.Tensor
    b: torch.Tensor
    t: torch.Tensor
    control_at: torch.Tensor  # (P,) the evaluated index of each control point


@functools.lru_cache(maxsize=256)
def _evaluation(counts: tuple[int, ...], types: tuple[str, ...], cyclic: tuple[bool, ...], resolution: tuple[int, ...],
                vector_segments: tuple[tuple[bool, ...], ...]) -> tuple:
    a, b, t, offsets, control_at = [], [], [], [0], []
    start = 0
    for n, typ, cyc, res, vec in zip(counts, types, cyclic, resolution, vector_segments):
        if typ not in ("POLY", "BEZIER"):
            raise TypeError(f"{typ} curves are not supported (POLY and BEZIER are)")
        if typ == "POLY" or n == 1:
            for i in range(n):
                control_at.append(len(a))
                a.append(start + i)
                b.append(start + i)
                t.append(0.0)
        else:
            segs = n if cyc else n - 1
            for i in range(n):
                control_at.append(len(a))  # the open end's last point is appended right after
                if i >= segs:
                    break
                size = 1 if vec[i] else max(res, 1)
                j_next = start + (i + 1) % n
                for j in range(size):
                    a.append(start + i)
                    b.append(j_next)
                    t.append(j / size)
            if not cyc:
                a.append(start + n - 1)
                b.append(start + n - 1)
                t.append(0.0)
        offsets.append(len(a))
        start += n
    return tuple(offsets), a, b, t, control_at


def evaluation(curves: CurvesBatch) -> Evaluation:
    """The evaluation topology of ``curves`` (shared by the batch)."""
    counts = tuple(curves.points_per_curve())
    vec: list[tuple[bool, ...]] = []
    off = curves.curve_offsets.tolist()
    if curves.handle_type_left is not None:
        hl, hr = curves.handle_type_left.tolist(), curves.handle_type_right.tolist()
    for i, n in enumerate(counts):
        if curves.types[i] != "BEZIER" or curves.handle_type_left is None:
            vec.append(())
            continue
        s = off[i]
        vec.append(tuple(hr[s + j] == 2 and hl[s + (j + 1) % n] == 2 for j in range(n)))
    offsets, a, b, t, control_at = _evaluation(counts, tuple(curves.types), tuple(bool(c) for c in curves.cyclic),
                                               tuple(int(r) for r in curves.resolution), tuple(vec))
    dev = curves.positions.device
    return Evaluation(offsets, torch.tensor(a, dtype=torch.long, device=dev), torch.tensor(b, dtype=torch.long, device=dev),
                      torch.tensor(t, dtype=curves.positions.dtype, device=dev),
                      torch.tensor(control_at, dtype=torch.long, device=dev))


def interpolate_to_evaluated(curves: CurvesBatch, values: torch.Tensor, ev: Evaluation | None = None) -> torch.Tensor:
    """POINT values ``(b, P, ...)`` at the evaluated points ``(b, E, ...)`` (linear along Bezier segments)."""
    ev = ev or evaluation(curves)
    if not values.dtype.is_floating_point:
        values = values.to(curves.positions.dtype)
    t = ev.t.reshape(1, -1, *([1] * (values.dim() - 2))).to(values.dtype)
    return values[:, ev.a] * (1.0 - t) + values[:, ev.b] * t


def evaluated_positions(curves: CurvesBatch, ev: Evaluation | None = None) -> torch.Tensor:
    """Evaluated positions ``(b, E, 3)``."""
    ev = ev or evaluation(curves)
    pos = curves.positions
    if not curves.has_bezier():
        return pos[:, ev.a]
    t = ev.t.reshape(1, -1, 1).to(pos.dtype)
    s = 1.0 - t
    p0, p3 = pos[:, ev.a], pos[:, ev.b]
    p1, p2 = curves.handle_right[:, ev.a], curves.handle_left[:, ev.b]
    b = max(int(p0.shape[0]), int(p1.shape[0]), int(p2.shape[0]))
    return (s * s * s) * p0.expand(b, -1, -1) + (3.0 * s * s * t) * p1 + (3.0 * s * t * t) * p2 + (t * t * t) * p3


def normalize(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(v / |v|, |v| > 0)`` with a zero vector (and zero gradient) where ``v`` vanishes."""
    sq = (v * v).sum(-1, keepdim=True)
    ok = sq > 1.0e-30
    return torch.where(ok, v / torch.sqrt(sq.clamp_min(1.0e-30)), 0.0), ok.squeeze(-1)


def _almost_equal(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """``math::almost_equal_relative`` per vector ``(…, 3) -> (…)``."""
    tol = eps * torch.maximum(a.abs().amax(-1), b.abs().amax(-1))
    return ((a - b).abs() <= tol.unsqueeze(-1)).all(-1)


@functools.lru_cache(maxsize=256)
def _neighbours(offsets: tuple[int, ...], cyclic: tuple[bool, ...]) -> tuple[list[int], list[int], list[int]]:
    """Per evaluated point: previous and next evaluated index (itself at open ends) and its kind
    (0 interior, 1 open start, 2 open end, 3 single point)."""
    prev, nxt, kind = [], [], []
    for c, cyc in enumerate(cyclic):
        s, e = offsets[c], offsets[c + 1]
        m = e - s
        for k in range(m):
            if cyc and m == 2:  # Blender 5.0: each of two cyclic points points at the other
                prev.append(s + k)
                nxt.append(s + 1 - k)
                kind.append(1)
                continue
            if m == 1:
                prev.append(s)
                nxt.append(s)
                kind.append(3)
                continue
            p, q = s + k - 1, s + k + 1
            if k == 0:
                p = e - 1 if cyc else s
            if k == m - 1:
                q = s if cyc else e - 1
            prev.append(p)
            nxt.append(q)
            kind.append(0 if cyc or 0 < k < m - 1 else (1 if k == 0 else 2))
    return prev, nxt, kind


@dataclass(frozen=True)
class _TangentLayout:
    """:func:`_neighbours` as index tensors: ``next_i (E,)``; ``prev_seg (E,)``, the point whose step to its
    next point is this point's step from its previous one (``next_i[prev_seg[k]] == k``; ``E``, a zero step,
    where the previous point is the point itself); the kind masks ``(1, E, 1)`` of the kinds present."""

    next_i: torch.Tensor
    prev_seg: torch.Tensor
    prev_self: bool
    kinds: frozenset[int]
    masks: dict[int, torch.Tensor]
    open_end_masks: tuple[torch.Tensor, torch.Tensor] | None  # kind 1 / kind 2 as (1, E)


@functools.lru_cache(maxsize=256)
def _tangent_layout(offsets: tuple[int, ...], cyclic: tuple[bool, ...], device: torch.device) -> _TangentLayout:
    prev, nxt, kind = _neighbours(offsets, cyclic)
    e = len(nxt)
    prev_seg = []
    for k, p in enumerate(prev):
        if p == k:
            prev_seg.append(e)
        else:
            assert nxt[p] == k, "a previous point's next point is the point itself"
            prev_seg.append(p)
    kind_t = torch.tensor(kind, dtype=torch.long, device=device)
    kinds = frozenset(kind)
    masks = {k: (kind_t == k).reshape(1, -1, 1) for k in kinds}
    open_ends = None
    if 1 in kinds or 2 in kinds:
        open_ends = ((kind_t == 1).reshape(1, -1), (kind_t == 2).reshape(1, -1))
    mk = lambda v: torch.tensor(v, dtype=torch.long, device=device)
    return _TangentLayout(mk(nxt), mk(prev_seg), e in prev_seg, kinds, masks, open_ends)


def evaluated_tangents(curves: CurvesBatch, positions: torch.Tensor, ev: Evaluation | None = None) -> torch.Tensor:
    """Unit tangents ``(b, E, 3)`` at the evaluated points ``positions (b, E, 3)``.

    The step to the next point (its direction and whether the two points are almost equal) is computed
    once per point; a point's step from its previous point is the previous point's step to its next
    (:class:`_TangentLayout`), and the masks of kinds that do not occur are skipped (topology only)."""
    ev = ev or evaluation(curves)
    if SEGMENT_FRAMES and _segments_only(curves, ev):  # open two-point POLY curves: one direction per curve
        return _segment_tangents(positions, ev.offsets)
    lay = _tangent_layout(ev.offsets, tuple(bool(c) for c in curves.cyclic), positions.device)
    m, q = positions, positions[:, lay.next_i]
    d_next, _ = normalize(q - m)
    next_eq = _almost_equal(m, q)
    if lay.prev_self:  # a point that is its own previous point: a zero step between equal points
        b = int(d_next.shape[0])
        d_prev = torch.cat([d_next, d_next.new_zeros((b, 1, 3))], 1)[:, lay.prev_seg]
        prev_eq = torch.cat([next_eq, next_eq.new_ones((b, 1))], 1)[:, lay.prev_seg]
    else:
        d_prev, prev_eq = d_next[:, lay.prev_seg], next_eq[:, lay.prev_seg]
    bisect, _ = normalize(d_prev + d_next)
    tan = torch.where(prev_eq.unsqueeze(-1), d_next, torch.where(next_eq.unsqueeze(-1), d_prev, bisect))
    if 1 in lay.kinds:
        tan = torch.where(lay.masks[1], d_next, tan)
    if 2 in lay.kinds:
        tan = torch.where(lay.masks[2], d_prev, tan)
    if 3 in lay.kinds:
        tan = torch.where(lay.masks[3], torch.tensor([0.0, 0.0, 1.0], dtype=positions.dtype, device=positions.device), tan)
    if lay.open_end_masks is not None:  # open ends on a repeated point have no direction either
        start, end = lay.open_end_masks
        tan = torch.where((start & next_eq | end & prev_eq).unsqueeze(-1), 0.0, tan)
    tan = _fill_missing_tangents(tan, ev.offsets)
    if curves.has_bezier():
        off = curves.curve_offsets.tolist()
        for c, typ in enumerate(curves.types):
            if typ != "BEZIER" or curves.cyclic[c] or off[c + 1] - off[c] < 2:
                continue
            first, last = off[c], off[c + 1] - 1
            ef, el = ev.offsets[c], ev.offsets[c + 1] - 1
            pos = curves.positions
            d0, ok0 = normalize(curves.handle_right[:, first] - pos[:, first])
            d1, ok1 = normalize(pos[:, last] - curves.handle_left[:, last])
            tan = tan.clone() if tan.shape[0] >= d0.shape[0] else tan.expand(d0.shape[0], -1, -1).clone()
            tan[:, ef] = torch.where(ok0.unsqueeze(-1), d0, tan[:, ef])
            tan[:, el] = torch.where(ok1.unsqueeze(-1), d1, tan[:, el])
    return tan


SEGMENT_FRAMES = True
"""Whether curves that are all open two-point POLY segments take :func:`_segment_tangents` and one first normal
per curve (False: the general tangents and minimum twist, the reference the tests compare with)."""


def _segments_only(curves: CurvesBatch, ev: Evaluation) -> bool:
    """Every curve an open POLY curve of two evaluated points (Curve Line, a path of one segment): topology only."""
    return (not curves.has_bezier() and not any(bool(c) for c in curves.cyclic)
            and all(ev.offsets[i + 1] - ev.offsets[i] == 2 for i in range(len(ev.offsets) - 1)))


@functools.lru_cache(maxsize=256)
def _segment_layout(offsets: tuple[int, ...], device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Open two-point curves: their first and second evaluated points ``(S,)`` and each point's curve ``(E,)``."""
    mk = lambda v: torch.tensor(v, dtype=torch.long, device=device)
    n = len(offsets) - 1
    return mk(list(offsets[:-1])), mk([o + 1 for o in offsets[:-1]]), mk([i // 2 for i in range(2 * n)])


def _segment_tangents(positions: torch.Tensor, offsets: tuple[int, ...]) -> torch.Tensor:
    """:func:`evaluated_tangents` of open two-point curves: both points take the direction from the first to the
    second, or +Z where the two (almost) coincide (an open end on a repeated point has no direction and a curve
    without any takes +Z), ``(b, E, 3)``."""
    first, second, curve = _segment_layout(offsets, positions.device)
    p0, p1 = positions[:, first], positions[:, second]
    d, _ = normalize(p1 - p0)
    up = torch.tensor([0.0, 0.0, 1.0], dtype=positions.dtype, device=positions.device)
    return torch.where(_almost_equal(p0, p1).unsqueeze(-1), up, d)[:, curve]


def _fill_missing_tangents(tan: torch.Tensor, offsets: tuple[int, ...]) -> torch.Tensor:
    """``calculate_tangents``' fallback: zero tangents (points that repeat their neighbours) take the
    previous valid tangent; leading ones the first valid one; a curve without any gets +Z."""
    zero = (tan == 0).all(-1)
    if not bool(zero.any()):
        return tan
    tan = tan.clone()
    up = torch.tensor([0.0, 0.0, 1.0], dtype=tan.dtype, device=tan.device)
    for c in range(len(offsets) - 1):
        s, e = offsets[c], offsets[c + 1]
        z = zero[:, s:e]
        if not bool(z.any()):
            continue
        valid = ~z
        has = valid.any(1, keepdim=True)
        first = torch.argmax(valid.long(), 1)
        first_t = tan[torch.arange(tan.shape[0]), s + first]
        cur = torch.where(has, first_t, up)
        for k in range(s, e):
            cur = torch.where(zero[:, k:k + 1], cur, tan[:, k])
            tan[:, k] = cur
    return tan


@functools.lru_cache(maxsize=16)
def _constants(dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``(3, 3)`` taking ``t`` to ``(t.y, -t.x, 0)`` and ``(4, 9)`` taking ``(d, c)`` to ``d I + [c]x``
    (row-major), for :func:`_first_normal` and :func:`_transport_matrices` (one product each)."""
    perp = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]], dtype=dtype, device=device)
    lin = torch.zeros(4, 3, 3, dtype=dtype)
    lin[0] = torch.eye(3, dtype=dtype)
    lin[1, 1, 2], lin[1, 2, 1] = -1.0, 1.0  # [c]x = [[0, -cz, cy], [cz, 0, -cx], [-cy, cx, 0]]
    lin[2, 0, 2], lin[2, 2, 0] = 1.0, -1.0
    lin[3, 0, 1], lin[3, 1, 0] = -1.0, 1.0
    return perp, lin.reshape(4, 9).to(device)


def _first_normal(t: torch.Tensor) -> torch.Tensor:
    """``normalize(t.y, -t.x, 0)``, or +X where ``t`` is (almost) vertical, for tangents ``(…, 3)``."""
    flat = t[..., :2].abs().sum(-1, keepdim=True) < 1e-4
    n, _ = normalize(t @ _constants(t.dtype, t.device)[0])
    x = torch.tensor([1.0, 0.0, 0.0], dtype=t.dtype, device=t.device)
    return torch.where(flat, x, n)


def _transport(n: torch.Tensor, t0: torch.Tensor, t1: torch.Tensor) -> torch.Tensor:
    """``n`` rotated by the rotation that takes unit ``t0`` to unit ``t1`` (unchanged when either is zero)."""
    c = torch.cross(t0, t1, dim=-1)
    d = (t0 * t1).sum(-1, keepdim=True)
    ok = ((t0 * t0).sum(-1, keepdim=True) > 0) & ((t1 * t1).sum(-1, keepdim=True) > 0) & (d > -1.0 + 1e-12)
    denom = torch.where(ok, 1.0 + d, torch.ones_like(d))
    rotated = d * n + torch.cross(c, n, dim=-1) + c * (c * n).sum(-1, keepdim=True) / denom
    return torch.where(ok, rotated, n)


def rotate_about(v: torch.Tensor, axis: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """``rotate_direction_around_axis``: ``v`` rotated by ``angle`` about unit ``axis`` (Rodrigues)."""
    c, s = torch.cos(angle).unsqueeze(-1), torch.sin(angle).unsqueeze(-1)
    return v * c + torch.cross(axis, v, dim=-1) * s + axis * (axis * v).sum(-1, keepdim=True) * (1.0 - c)


def _signed_angle(v1: torch.Tensor, v2: torch.Tensor, axis: torch.Tensor) -> torch.Tensor:
    """``angle_signed_on_axis_v3v3_v3`` in [0, 2 pi): the angle from ``v1`` to ``v2`` about ``axis``."""
    p1 = v1 - axis * (v1 * axis).sum(-1, keepdim=True)
    p2 = v2 - axis * (v2 * axis).sum(-1, keepdim=True)
    ang = torch.atan2(torch.linalg.vector_norm(torch.cross(p1, p2, dim=-1), dim=-1), (p1 * p2).sum(-1))
    neg = (torch.cross(p1, p2, dim=-1) * axis).sum(-1) < 0
    return torch.where(neg, 2.0 * torch.pi - ang, ang)


def _transport_quaternions(t0: torch.Tensor, t1: torch.Tensor) -> torch.Tensor:
    """``(…, 4)`` unit quaternions ``(w, x, y, z)`` of the rotations taking unit ``t0`` to unit ``t1`` (as
    :func:`_transport`; the identity where either is zero or they are opposite)."""
    c = torch.cross(t0, t1, dim=-1)
    d = (t0 * t1).sum(-1, keepdim=True)
    ok = ((t0 * t0).sum(-1, keepdim=True) > 0) & ((t1 * t1).sum(-1, keepdim=True) > 0) & (d > -1.0 + 1e-12)
    q = torch.cat([1.0 + d, c], -1)
    norm = torch.sqrt(torch.where(ok, (q * q).sum(-1, keepdim=True), torch.ones_like(d)))
    ident = torch.zeros_like(q)
    ident[..., 0] = 1.0
    return torch.where(ok, q / norm, ident)


def _qmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Hamilton products ``a * b`` of quaternions ``(…, 4)`` (``b`` applied first)."""
    aw, ax, ay, az = a.unbind(-1)
    bw, bx, by, bz = b.unbind(-1)
    return torch.stack([aw * bw - ax * bx - ay * by - az * bz, aw * bx + ax * bw + ay * bz - az * by,
                        aw * by - ax * bz + ay * bw + az * bx, aw * bz + ax * by - ay * bx + az * bw], -1)


def _qrotate(q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``v (…, 3)`` rotated by unit quaternions ``q (…, 4)``."""
    w, u = q[..., :1], q[..., 1:]
    t = 2.0 * torch.cross(u, v, dim=-1)
    return v + w * t + torch.cross(u, t, dim=-1)


def _transport_matrices(t0: torch.Tensor, t1: torch.Tensor) -> torch.Tensor:
    """``(…, 3, 3)`` matrices of the rotations taking unit ``t0`` to unit ``t1`` (Rodrigues:
    ``d I + [c]x + c c^T / (1 + d)`` with ``c = t0 x t1``, ``d = t0 . t1``; the identity where either is
    zero or they are opposite), the matrix form of :func:`_transport`. The linear part ``d I + [c]x`` is
    one product of ``(d, c)`` with a constant matrix."""
    c = torch.cross(t0, t1, dim=-1)
    d = (t0 * t1).sum(-1, keepdim=True)
    ok = ((t0 * t0).sum(-1, keepdim=True) > 0) & ((t1 * t1).sum(-1, keepdim=True) > 0) & (d > -1.0 + 1e-12)
    lin = (torch.cat([d, c], -1) @ _constants(t0.dtype, t0.device)[1]).reshape(*c.shape, 3)
    rot = lin + c.unsqueeze(-1) * (c / torch.where(ok, 1.0 + d, 1.0)).unsqueeze(-2)
    return torch.where(ok.unsqueeze(-1), rot, torch.eye(3, dtype=t0.dtype, device=t0.device))


@functools.lru_cache(maxsize=256)
def _normal_layout(offsets: tuple[int, ...], device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor,
                                                                          tuple[torch.Tensor, ...]]:
    """Per evaluated point: its curve, its index in the curve, the first point of its curve and the
    previous point (itself at a curve's start); and per doubling step ``s`` of the prefix product the
    gather index ``(E + 1,)`` of the point ``s`` back in the same curve (``E``, the identity appended
    after the last point, where there is none). Topology only: cached per layout and device."""
    curve, local, first = [], [], []
    for c in range(len(offsets) - 1):
        for k in range(offsets[c + 1] - offsets[c]):
            curve.append(c)
            local.append(k)
            first.append(offsets[c])
    e = len(local)
    prev = [i - 1 if local[i] > 0 else i for i in range(e)]
    steps = []
    step, max_len = 1, max((offsets[c + 1] - offsets[c] for c in range(len(offsets) - 1)), default=0)
    while step < max_len:
        steps.append([i - step if local[i] >= step else e for i in range(e)] + [e])
        step *= 2
    mk = lambda v: torch.tensor(v, dtype=torch.long, device=device)
    return mk(curve), mk(local), mk(first), mk(prev), tuple(mk(s) for s in steps)


@functools.lru_cache(maxsize=256)
def _sequential_layout(offsets: tuple[int, ...], device: torch.device) -> tuple[torch.Tensor, tuple, torch.Tensor | None]:
    """For the point-by-point transport of all curves at once: the first points of the non-empty curves
    ``(S,)``; per step ``j >= 1`` the evaluated indices ``(S_j,)`` of the curves' ``j``-th points and which of
    the previous step's curves go on (None: all of them); and the permutation from that step-major order
    to evaluated order (None: the same). Topology only: cached per layout and device."""
    sizes = [offsets[c + 1] - offsets[c] for c in range(len(offsets) - 1)]
    active = [c for c, n in enumerate(sizes) if n > 0]
    order = [offsets[c] for c in active]
    mk = lambda v: torch.tensor(v, dtype=torch.long, device=device)
    starts, steps = mk(order), []
    for j in range(1, max(sizes, default=0)):
        going = [c for c in active if sizes[c] > j]
        steps.append((mk([offsets[c] + j for c in going]), None if going == active else mk([active.index(c) for c in going])))
        order += [offsets[c] + j for c in going]
        active = going
    inverse = [0] * len(order)
    for pos, i in enumerate(order):
        inverse[i] = pos
    return starts, tuple(steps), None if order == list(range(len(order))) else mk(inverse)


# Up to this many evaluated points (times the batch) the rotations are composed as 3x3 matrices by the
# log-depth prefix product (two operations per doubling step: fewest calls); beyond it, from a batch of
# SEQUENTIAL_TWIST_BATCH the normals are carried point by point (per step one 3x3 product per curve and
# element: least work, 2-3x faster than the quaternions at batch 1024), below it as quaternions (long
# curves in small batches: fewer calls than point by point, fewer values per step than matrices).
MATRIX_TWIST_LIMIT = 2048
SEQUENTIAL_TWIST_BATCH = 32
TWIST_METHODS = ("matrices", "quaternions", "sequential")


def minimum_twist(tangents: torch.Tensor, offsets: tuple[int, ...], method: str | None = None) -> torch.Tensor:
    """Minimum-twist normals ``(b, E, 3)`` before the cyclic correction: each curve's first normal
    carried along by the rotations between consecutive tangents ``(b, E, 3)``.

    ``matrices`` and ``quaternions``: the running products of the rotations along every curve for all
    curves at once by a log-depth prefix product (per doubling step one gather of the rotation ``s`` points
    back, the identity appended as the "no earlier point" entry, and one product). ``sequential``: the
    normals carried point by point as Blender does, all curves at once, each step one product of the
    precomputed 3x3 rotations with the previous normals. Default: ``matrices`` up to ``MATRIX_TWIST_LIMIT``
    points in the batch, else ``sequential`` from a batch of ``SEQUENTIAL_TWIST_BATCH``, else ``quaternions``;
    all compute the same rotations."""
    if method is None:
        b, e = len(tangents), int(tangents.shape[1])
        method = "matrices" if b * e <= MATRIX_TWIST_LIMIT else ("sequential" if b >= SEQUENTIAL_TWIST_BATCH else "quaternions")
    if method not in TWIST_METHODS:
        raise ValueError(f"minimum twist: unknown method {method!r} (one of {', '.join(TWIST_METHODS)})")
    _, local, first, prev, steps = _normal_layout(offsets, tangents.device)
    if method == "sequential":
        starts, seq, inverse = _sequential_layout(offsets, tangents.device)
        rot = _transport_matrices(tangents[:, prev], tangents)  # (b, E, 3, 3); unused at curve starts
        n = _first_normal(tangents[:, starts])
        outs = [n]
        for idx, going in seq:
            if going is not None:
                n = n[:, going]
            n = torch.matmul(rot[:, idx], n.unsqueeze(-1)).squeeze(-1)
            outs.append(n)
        out = torch.cat(outs, 1) if len(outs) > 1 else n
        return out if inverse is None else out[:, inverse]
    n0 = _first_normal(tangents[:, first])
    if method == "matrices":
        eye = torch.eye(3, dtype=tangents.dtype, device=tangents.device)
        # (b, E, 3, 3); the identity at each curve's start (a constant: |t|^2 I would pass gradients to |t|)
        rot = torch.where((local == 0).reshape(1, -1, 1, 1), eye, _transport_matrices(tangents[:, prev], tangents))
        rot = torch.cat([rot, eye.expand(rot.shape[0], 1, 3, 3)], 1)
        for gather in steps:
            rot = torch.matmul(rot, rot[:, gather])
        return torch.matmul(rot[:, :-1], n0.unsqueeze(-1)).squeeze(-1)
    q = _transport_quaternions(tangents[:, prev], tangents)  # (b, E, 4)
    ident = torch.tensor([1.0, 0.0, 0.0, 0.0], dtype=q.dtype, device=q.device).expand(q.shape[0], 1, 4)
    q = torch.cat([q, ident], 1)
    for gather in steps:
        q = _qmul(q, q[:, gather])
    return _qrotate(q[:, :-1], n0)


# ---------------------------------------------------------------------------
# Curves that are a positive per-element scale of one shape (their tangents and normals are the shape's)

SCALED_FRAMES = True
"""Whether :func:`unit_shape` may stand for a marked curve (False: every curve's frames from its own positions,
the reference the tests compare with)."""


def mark_scaled(positions: torch.Tensor, base: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Record on ``positions (b, P, 3)`` that they are exactly ``scale (b, 1, 1) * base (1, P, 3)`` (a shape
    shared by the batch, such as Curve Circle's unit circle, times a per-element factor). The note lives
    on this tensor object: a node that computes new positions makes a tensor without it."""
    positions._shapeprog_scaled = (base, scale)
    return positions


def scaled_shape(curves: CurvesBatch) -> tuple[CurvesBatch, torch.Tensor] | None:
    """``curves`` with the unscaled shape (batch 1) as positions and the factor ``(b, 1, 1)`` when its positions
    are marked by :func:`mark_scaled` and no curve is Bezier (whose handles are not scaled with it); else None.
    Evaluated positions are linear in the positions, so they are the factor times the shape's."""
    hint = getattr(curves.positions, "_shapeprog_scaled", None)
    if hint is None or not SCALED_FRAMES or curves.has_bezier() or curves.handle_left is not None:
        return None
    return replace(curves, positions=hint[0]), hint[1]


def unit_shape(curves: CurvesBatch) -> CurvesBatch | None:
    """:func:`scaled_shape`'s shape where every factor is positive, else None. Tangents, normals and tilted
    normals of points that are a positive multiple of a shape are that shape's (a normalized difference, a
    relative equality test, rotations between unit tangents): computed once for the batch from the shape,
    input-independent where the shape is (the replay folds them); ``all(scale > 0)`` guards the replay."""
    found = scaled_shape(curves)
    return None if found is None or not bool((found[1] > 0).all()) else found[0]


def evaluated_normals(curves: CurvesBatch, tangents: torch.Tensor, ev: Evaluation | None = None) -> torch.Tensor:
    """Unit normals ``(b, E, 3)`` from the tangents: minimum twist or Z up per curve, then tilt.

    Minimum twist: the first normal carried along each curve by the product of the rotations between
    consecutive tangents (:func:`minimum_twist`); a cyclic curve spreads the mismatch at its end evenly."""
    ev = ev or evaluation(curves)
    e = int(tangents.shape[1])
    if e == 0:
        return tangents
    curve, local, first, _, _ = _normal_layout(ev.offsets, tangents.device)
    if SEGMENT_FRAMES and _segments_only(curves, ev):  # both tangents of a segment are one direction: no twist
        normals = _first_normal(tangents[:, first])
    else:
        normals = minimum_twist(tangents, ev.offsets)
    cyclic = [bool(c) and ev.offsets[i + 1] - ev.offsets[i] > 1 for i, c in enumerate(curves.cyclic)]
    if any(cyclic):
        starts = torch.tensor(ev.offsets[:-1], device=tangents.device)
        ends = torch.tensor(ev.offsets[1:], device=tangents.device) - 1
        last = _transport(normals[:, ends], tangents[:, ends], tangents[:, starts])
        corr = _signed_angle(normals[:, starts], last, tangents[:, starts])
        corr = torch.where(corr > torch.pi, corr - 2.0 * torch.pi, corr)
        sizes = (ends - starts + 1).to(tangents.dtype)
        use = torch.tensor(cyclic, device=tangents.device)
        per_point = torch.where(use[curve], (corr / sizes)[:, curve] * local.to(tangents.dtype), torch.zeros_like(corr[:, curve]))
        normals = rotate_about(normals, tangents, per_point)
    if "Z_UP" in curves.normal_mode:
        z_up = torch.tensor([mode == "Z_UP" for mode in curves.normal_mode], device=tangents.device)[curve]
        normals = torch.where(z_up.reshape(1, -1, 1), _first_normal(tangents), normals)
    tilt = curves.attributes.get("tilt")
    if tilt is not None and tilt.domain == "POINT":
        normals = rotate_about(normals, tangents, interpolate_to_evaluated(curves, tilt.data, ev))
    return normals


def curve_lengths(positions: torch.Tensor, ev: Evaluation, cyclic: list[bool]) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Each curve's total length ``(b, S)`` and per curve the accumulated length at each evaluated
    point ``(b, m)`` (the closing segment of a cyclic curve counts in its total)."""
    totals, acc = [], []
    for c, cyc in enumerate(cyclic):
        p = positions[:, ev.offsets[c]:ev.offsets[c + 1]]
        seg = torch.linalg.vector_norm(p[:, 1:] - p[:, :-1], dim=-1) if p.shape[1] > 1 else p.new_zeros((p.shape[0], 0))
        a = torch.cat([p.new_zeros((p.shape[0], 1)), torch.cumsum(seg, 1)], 1)
        total = a[:, -1]
        if cyc and p.shape[1] > 1:
            total = total + torch.linalg.vector_norm(p[:, 0] - p[:, -1], dim=-1)
        totals.append(total)
        acc.append(a)
    return (torch.stack(totals, 1) if totals else positions.new_zeros((positions.shape[0], 0))), acc


# ---------------------------------------------------------------------------
# Walking geometry


def map_curves(geo: GeometrySet, fn) -> GeometrySet:
    """Apply ``fn`` to the curves of ``geo`` and of every geometry it instances."""
    return modify_geometry_sets(geo, lambda g: replace(g, curves=fn(g.curves)) if g.curves is not None else g)
