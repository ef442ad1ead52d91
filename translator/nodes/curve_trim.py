"""Trim Curve (Factor and Length modes, POLY and BEZIER curves, open and cyclic), as Blender 5.0's
``geometry::trim_curves`` (``geometry/intern/trim_curves.cc``) computes it.

For each selected curve the start and end lengths (``factor * length`` or the lengths themselves, clamped to
the curve; an open curve whose end is not after its start keeps one point) are looked up on the evaluated
polyline and mapped to a control segment and a parameter in it (Bezier curves: the evaluated point's
offset within its segment). The new curve holds the control points between them, with the two cut points
added where they are not control points: linear mixes for POLY curves and point attributes, De Casteljau
insertions for Bezier positions and handles. Trimmed curves are open. Which control points remain (and
whether a cut lands exactly on a control point, decided in float32 as in Blender, Bezier segments evaluated
by its forward differences) is topology, shared by the batch; positions and handles are differentiable in
the curve and in Start / End. The decision reads the curve's values through Python, so a traced replay is
guarded on them (it falls back to the plain path when they change).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from .. import runtime as rt
from ..geometry import Attribute, CurvesBatch, GeometrySet
from . import node
from .curve_eval import Evaluation, evaluated_positions, evaluation, map_curves
from .fields import curves_context, evaluate, selection_mask

__all__ = ["trim_curve"]


@dataclass(frozen=True)
class _Point:
    """Blender's ``CurvePoint``: on the segment from control point ``index`` to ``next`` at a parameter that is
    exactly 0 (``zero``), exactly 1 (``one``) or in between."""

    index: int
    next: int
    zero: bool
    one: bool

    @property
    def is_cp(self) -> bool:
        return self.zero or self.one

    def before(self, other: _Point) -> bool:  # CurvePoint::operator< (its parameters are compared in _plan)
        return self.next < other.next and not (self.next == other.index and self.one and other.zero)


def _range(start: int, end: int, n: int, cycles: int) -> list[int]:
    """The indices of ``IndexRangeCyclic(start, end, n, cycles)``."""
    size = (n - start) + end + (cycles - 1) * n if cycles > 0 else end - start
    return [(start + k) % n for k in range(size)]


def _between(s: _Point, e: _Point, n: int, e_before_s: bool) -> tuple[int, int, int]:
    """``IndexRangeCyclic::get_range_between_endpoints``: ``(start, end, cycles)``."""
    start = s.index if s.zero else s.next
    end = e.index if e.zero else e.next
    if e.is_cp:
        end += 1
        if end == n:
            end = 0
        cycles = int(end <= start)
    else:
        cycles = int(e_before_s or end < start)
    return start, end, cycles


def _lookup(acc: list[float], sample: float, cyclic: bool, n: int, seg_of: list[int], seg_first: list[int],
            seg_size: list[int], bezier: bool) -> tuple[int, int, float, int]:
    """``lookup_curve_point`` in float32: ``(index, next, parameter, evaluated segment or -1)``."""
    last = n - 1
    if sample <= 0.0:
        return 0, 1, 0.0, -1
    if sample >= acc[-1]:
        return (last, 0, 1.0, -1) if cyclic else (last - 1, last, 1.0, -1)
    import bisect

    k = min(bisect.bisect_right(acc, sample), len(acc) - 1)
    s0 = acc[k - 1] if k else 0.0
    seg = _f32(acc[k] - s0)
    inv = _f32(1.0 / seg) if seg != 0.0 else 0.0
    fac = _f32(_f32(sample - s0) * inv)
    if not bezier:
        return k, (0 if k == last else k + 1), fac, k
    i = seg_of[k]
    res = seg_size[0] if all(x == seg_size[0] for x in seg_size[:n if cyclic else n - 1]) else 0
    if res:  # lookup_point_uniform_spacing
        par = _f32(_f32(_f32(fac + k) / res) - i)
    else:  # lookup_point_bezier through the Bezier offsets
        par = min(max(_f32(_f32(fac + (k - seg_first[i])) / seg_size[i]), 0.0), 1.0)
    return i, (0 if i == last else i + 1), par, k


def _lengths32(curves: CurvesBatch, c: int, bezier: bool, cyclic: bool) -> np.ndarray:
    """Blender's float32 accumulated evaluated lengths of curve ``c`` ``(b, m)``: Bezier segments evaluated by
    its forward differences, distances and sums in float32 (they decide where cuts land exactly on points)."""
    o0, o1 = int(curves.curve_offsets[c]), int(curves.curve_offsets[c + 1])
    f32 = lambda t: np.asarray(t.detach().tolist(), dtype=np.float64).astype(np.float32)  # tolist: a guard when traced
    p = f32(curves.positions[:, o0:o1])
    if bezier and o1 - o0 > 1:
        hl, hr = f32(curves.handle_left[:, o0:o1]), f32(curves.handle_right[:, o0:o1])
        tl, tr = curves.handle_type_left[o0:o1].tolist(), curves.handle_type_right[o0:o1].tolist()
        n, res = o1 - o0, max(int(curves.resolution[c]), 1)
        b = max(p.shape[0], hl.shape[0], hr.shape[0])
        p, hl, hr = (np.broadcast_to(x, (b, *x.shape[1:])) for x in (p, hl, hr))
        pts = []
        for i in range(n if cyclic else n - 1):
            j = (i + 1) % n
            if tr[i] == 2 and tl[j] == 2:
                pts.append(p[:, i:i + 1])
                continue
            p0, p1, p2, p3 = p[:, i], hr[:, i], hl[:, j], p[:, j]
            inv = np.float32(1.0) / np.float32(res)
            inv2 = inv * inv
            inv3 = inv2 * inv
            three = np.float32(3.0)
            rt1 = three * (p1 - p0) * inv
            rt2 = three * (p0 - np.float32(2.0) * p1 + p2) * inv2
            rt3 = (p3 - p0 + three * (p1 - p2)) * inv3
            q0, q1, q2, q3 = p0.copy(), rt1 + rt2 + rt3, np.float32(2.0) * rt2 + np.float32(6.0) * rt3, np.float32(6.0) * rt3
            seg = []
            for _ in range(res):
                seg.append(q0.copy())
                q0 = q0 + q1
                q1 = q1 + q2
                q2 = q2 + q3
            pts.append(np.stack(seg, 1))
        if not cyclic:
            pts.append(p[:, n - 1:n])
        p = np.concatenate(pts, 1)
    q = np.concatenate([p[:, 1:], p[:, :1]], 1) if cyclic else p[:, 1:]
    d = (q - p[:, :q.shape[1]]).astype(np.float32)
    dist = np.sqrt(d[..., 0] * d[..., 0] + d[..., 1] * d[..., 1] + d[..., 2] * d[..., 2]).astype(np.float32)
    return np.cumsum(dist, axis=1, dtype=np.float32) if dist.shape[1] else np.zeros((p.shape[0], 1), np.float32)


def _f32(x: float) -> float:
    import struct

    return struct.unpack("f", struct.pack("f", x))[0]


def _segments(ev: Evaluation, c: int, off: int, n: int, cyclic: bool, bezier: bool) -> tuple[list[int], list[int], list[int]]:
    """Per evaluated segment of curve ``c`` its control segment; per control segment its first evaluated segment
    and its number of evaluated points."""
    e0, e1 = ev.offsets[c], ev.offsets[c + 1]
    m = e1 - e0 - (0 if cyclic else 1)  # evaluated segments
    if not bezier:
        return list(range(m)), list(range(n)), [1] * n
    seg_of = [int(a) - off for a in ev.a[e0:e0 + m].tolist()]
    first = [int(x) - e0 for x in ev.control_at[off:off + n].tolist()]
    sizes = [(first[i + 1] if i + 1 < n else m) - first[i] for i in range(n)]
    return seg_of, first, sizes


def _plan(acc: list[float], start: float, end: float, raw: tuple[float, float], cyclic: bool, n: int, segs, bezier: bool):
    """The trim of one curve for one batch element: ``(start point, end point, source range, size, flags)``
    from float32 values; everything in it decides topology."""
    total = acc[-1]
    if n == 1:
        p = _Point(0, 0, True, False)
        return (p, p, [0], 1, ()), (0.0, 0.0, -1, -1)
    s_len = min(max(start, 0.0), total)
    if cyclic:
        e_len = min(max(end, 0.0), total)
        equal = (0.0 if s_len == total else s_len) == (0.0 if e_len == total else e_len)
    else:
        e_len = s_len if raw[1] <= raw[0] else min(max(end, 0.0), total)
        equal = s_len == e_len
    si, sn, sp, sk = _lookup(acc, s_len, cyclic, n, *segs, bezier)
    s = _Point(si, sn, sp == 0.0, sp == 1.0)
    if equal:
        if e_len <= s_len:
            src = [s.next if s.one else s.index] if s.is_cp else []
            return (s, s, src, 1, ("single",)), (sp, sp, sk, sk)
        a, b, cycles = _between(s, s, n, False)
        src = _range(a, b, n, cycles + 1)  # the whole loop
        return (s, s, src, 1 + (not s.is_cp) + n, ("split",)), (sp, sp, sk, sk)
    ei, en, ep, ek = _lookup(acc, e_len, cyclic, n, *segs, bezier)
    e = _Point(ei, en, ep == 0.0, ep == 1.0)
    e_before_s = (ep < sp) if ei == si else e.before(s)
    src = _range(*_between(s, e, n, e_before_s)[:2], n, _between(s, e, n, e_before_s)[2])
    flags = (sp > ep, sp < 1.0, sp >= ep)  # branches of the Bezier end point
    return (s, e, src, len(src) + (not s.is_cp) + (not e.is_cp), flags), (sp, ep, sk, ek)


def _mix(t: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``mix2(t, a, b)`` for values ``(b, ...)`` and factors ``(b,)`` (ints round, booleans at 0.5)."""
    f = t.reshape(-1, *([1] * (a.dim() - 1)))
    if a.dtype == torch.bool:
        return (a.to(f.dtype) * (1.0 - f) + b.to(f.dtype) * f) >= 0.5
    if not a.dtype.is_floating_point:
        return torch.round(a.to(f.dtype) * (1.0 - f) + b.to(f.dtype) * f).to(a.dtype)
    return a * (1.0 - f) + b * f


def _cat(parts: list[torch.Tensor]) -> torch.Tensor:
    b = max(int(p.shape[0]) for p in parts)
    return torch.cat([p.expand(b, *p.shape[1:]) for p in parts], 1)


def _linear(src: torch.Tensor, s: _Point, e: _Point, sp: torch.Tensor, ep: torch.Tensor, idx: list[int], size: int) -> torch.Tensor:
    """``sample_interval_linear``: values ``(b, n, ...)`` of one curve -> ``(b, size, ...)``."""
    parts = []
    if not s.is_cp:
        parts.append(_mix(sp, src[:, s.index], src[:, s.next]).unsqueeze(1))
    parts.append(src[:, idx])
    if size > 1 and not e.is_cp:
        parts.append(_mix(ep, src[:, e.index], src[:, e.next]).unsqueeze(1))
    return _cat(parts)


def _insert(p0, h0, h1, p1, t):
    """``bezier::insert`` (De Casteljau at ``t (b,)``): ``(handle_prev, left, position, right, handle_next)``."""
    f = t.reshape(-1, 1)
    lerp = lambda a, b: a + (b - a) * f
    center = lerp(h0, h1)
    prev, nxt = lerp(p0, h0), lerp(h1, p1)
    left, right = lerp(prev, center), lerp(center, nxt)
    return prev, left, lerp(left, right), right, nxt


def _put(t: torch.Tensor, i: int, v: torch.Tensor) -> torch.Tensor:
    b = max(int(t.shape[0]), int(v.shape[0]))
    t = t.expand(b, *t.shape[1:]).clone()
    t[:, i] = v.expand(b, *v.shape[1:])
    return t


def _bezier(P, HL, HR, TL, TR, s: _Point, e: _Point, sp, ep, idx: list[int], size: int, flags: tuple):
    """``sample_interval_bezier`` for one curve: positions and handles ``(b, size, 3)``, handle types ``(size,)``."""
    pp, hl, hr, tl, tr = [], [], [], [], []
    start = None
    if not s.is_cp:
        start = _insert(P[:, s.index], HR[:, s.index], HL[:, s.next], P[:, s.next], sp)
        pp.append(start[2].unsqueeze(1))
        hl.append(start[1].unsqueeze(1))
        hr.append(start[3].unsqueeze(1))
        tl.append(TL[s.index:s.index + 1])
        tr.append(TR[s.index:s.index + 1])
    pp.append(P[:, idx])
    hl.append(HL[:, idx])
    hr.append(HR[:, idx])
    tl.append(TL[idx])
    tr.append(TR[idx])
    P2, L2, R2, tl2, tr2 = _cat(pp), _cat(hl), _cat(hr), torch.cat(tl), torch.cat(tr)
    if size == 1:
        return P2, L2, R2, tl2, tr2
    last = int(P2.shape[1]) - 1
    if start is not None and last >= 1:
        L2 = _put(L2, 1, start[4])
    if s.zero and e.is_cp and (e.index if e.zero else e.next) == s.index:  # the same point: a closed loop
        L2 = _put(L2, 0, P2[:, 0])
        R2 = _put(R2, last, P2[:, 0])
    elif e.is_cp and not s.is_cp and (e.index if e.zero else e.next) == s.index:
        R2 = _put(R2, last, start[0])
    elif not e.is_cp:
        sp_gt_ep, sp_lt_1, sp_ge_ep = flags
        if s.index == e.index and sp_lt_1:
            if sp_gt_ep:
                end = _insert(P2[:, last], start[0], start[1], start[2], ep / sp)
                L2 = _put(L2, 0, end[4])
            else:
                nxt = HL[:, e.next] if s.zero else start[4]
                end = _insert(P2[:, last], R2[:, last], nxt, P[:, e.next], (ep - sp) / (1.0 - sp))
        else:
            end = _insert(P[:, e.index], HR[:, e.index], HL[:, e.next], P[:, e.next], ep)
            if (sp_ge_ep and e.index == s.index) or (s.zero and e.next == s.index):
                L2 = _put(L2, 0, end[4])
        R2 = _put(R2, last, end[0])
        tr2 = tr2.clone()
        tr2[last] = TL[e.index]
        P2 = _cat([P2, end[2].unsqueeze(1)])
        L2 = _cat([L2, end[1].unsqueeze(1)])
        R2 = _cat([R2, end[3].unsqueeze(1)])
        tl2 = torch.cat([tl2, TL[e.next:e.next + 1]])
        tr2 = torch.cat([tr2, TR[e.next:e.next + 1]])
    return P2, L2, R2, tl2, tr2


def _trim(curves: CurvesBatch, selection: Any, mode: str, start: Any, end: Any) -> CurvesBatch:
    fctx = curves_context(curves, "CURVE")
    mask = selection_mask(selection, fctx, "a Trim Curve selection").tolist()
    if not any(mask) or curves.num_points == 0:
        return curves
    for c, typ in enumerate(curves.types):
        if mask[c] and typ not in ("POLY", "BEZIER"):
            raise TypeError(f"Trim Curve: {typ} curves are not supported (POLY and BEZIER are)")
    starts, ends = evaluate(start, fctx, "VALUE"), evaluate(end, fctx, "VALUE")
    ev = evaluation(curves)
    pos = evaluated_positions(curves, ev)
    bsz = max(int(pos.shape[0]), int(starts.shape[0]), int(ends.shape[0]))
    pos, starts, ends = pos.expand(bsz, -1, -1), starts.expand(bsz, -1), ends.expand(bsz, -1)
    off = curves.curve_offsets.tolist()
    bez_any = curves.has_bezier()
    point_attrs = {k: a for k, a in curves.attributes.items() if a.domain == "POINT"}
    out_p, out_l, out_r, out_tl, out_tr, sizes = [], [], [], [], [], []
    out_attrs: dict[str, list[torch.Tensor]] = {k: [] for k in point_attrs}
    z8 = lambda k: torch.zeros(k, dtype=torch.int8, device=pos.device)
    for c in range(curves.num_curves):
        o0, o1 = off[c], off[c + 1]
        n = o1 - o0
        P = curves.positions[:, o0:o1].expand(bsz, -1, -1)
        if not mask[c]:
            out_p.append(P)
            if bez_any:
                out_l.append(curves.handle_left[:, o0:o1].expand(bsz, -1, -1))
                out_r.append(curves.handle_right[:, o0:o1].expand(bsz, -1, -1))
                out_tl.append(curves.handle_type_left[o0:o1])
                out_tr.append(curves.handle_type_right[o0:o1])
            for k, a in point_attrs.items():
                out_attrs[k].append(a.data[:, o0:o1])
            sizes.append(n)
            continue
        cyclic, bezier = bool(curves.cyclic[c]), curves.types[c] == "BEZIER"
        e0, e1 = ev.offsets[c], ev.offsets[c + 1]
        ep_ = pos[:, e0:e1]
        nxt = torch.arange(1, e1 - e0 + (1 if cyclic else 0), device=pos.device) % max(e1 - e0, 1)
        seg = torch.linalg.vector_norm(ep_[:, nxt] - ep_[:, :nxt.numel()], dim=-1)
        acc = torch.cumsum(seg, 1)  # Blender's accumulated evaluated lengths (b, m)
        acc32 = torch.from_numpy(np.broadcast_to(_lengths32(curves, c, bezier, cyclic), (bsz, max(acc.shape[1], 1))).copy())
        total = acc[:, -1] if acc.shape[1] else torch.zeros(bsz, dtype=pos.dtype)
        s_in, e_in = starts[:, c], ends[:, c]
        s_val = s_in * total if mode == "FACTOR" else s_in
        e_val = e_in * total if mode == "FACTOR" else e_in
        s32 = (s_in.detach().float() * acc32[:, -1]) if mode == "FACTOR" else s_in.detach().float()
        e32 = (e_in.detach().float() * acc32[:, -1]) if mode == "FACTOR" else e_in.detach().float()
        segs = _segments(ev, c, o0, n, cyclic, bezier) if n > 1 else None
        plans, numbers = [], []
        for bi, (a32, sv, evv, sr, er) in enumerate(zip(acc32.tolist(), s32.tolist(), e32.tolist(), s_in.detach().tolist(),
                                                         e_in.detach().tolist())):
            plan, nums = _plan(a32, sv, evv, (sr, er), cyclic, n, segs, bezier)
            plans.append(plan)
            numbers.append(nums)
        if any(p != plans[0] for p in plans):
            codes = {}
            key = torch.tensor([[codes.setdefault(repr(p), len(codes))] for p in plans])
            raise rt.TopologyVaries(key, "a Trim Curve cut")
        s_pt, e_pt, idx, size, flags = plans[0]
        sp = _parameters(acc, s_val, total, [x[0] for x in numbers], [x[2] for x in numbers], s_pt, segs, bezier)
        epar = _parameters(acc, e_val, total, [x[1] for x in numbers], [x[3] for x in numbers], e_pt, segs, bezier)
        if bezier:
            p2, l2, r2, tl2, tr2 = _bezier(P, curves.handle_left[:, o0:o1].expand(bsz, -1, -1),
                                           curves.handle_right[:, o0:o1].expand(bsz, -1, -1), curves.handle_type_left[o0:o1],
                                           curves.handle_type_right[o0:o1], s_pt, e_pt, sp, epar, idx, size, flags)
            out_p.append(p2)
            out_l.append(l2)
            out_r.append(r2)
            out_tl.append(tl2)
            out_tr.append(tr2)
        else:
            out_p.append(_linear(P, s_pt, e_pt, sp, epar, idx, size))
            if bez_any:  # POLY curves among Bezier ones: zero FREE handles
                out_l.append(torch.zeros((1, size, 3), dtype=pos.dtype, device=pos.device))
                out_r.append(out_l[-1])
                out_tl.append(z8(size))
                out_tr.append(z8(size))
        for k, a in point_attrs.items():
            out_attrs[k].append(_linear(a.data[:, o0:o1], s_pt, e_pt, sp, epar, idx, size))
        sizes.append(size)
    dev = pos.device
    offsets = torch.tensor([0, *torch.cumsum(torch.tensor(sizes), 0).tolist()], dtype=torch.long, device=dev)
    attrs = {k: a for k, a in curves.attributes.items() if a.domain != "POINT"}
    for k, chunks in out_attrs.items():
        attrs[k] = Attribute("POINT", _cat(chunks), point_attrs[k].type)
    extra = {}
    if bez_any:
        extra = {"handle_left": _cat(out_l), "handle_right": _cat(out_r), "handle_type_left": torch.cat(out_tl),
                 "handle_type_right": torch.cat(out_tr)}
    cyclic = [False if m else cyc for m, cyc in zip(mask, curves.cyclic)]
    return replace(curves, positions=_cat(out_p), curve_offsets=offsets, cyclic=cyclic, attributes=attrs, **extra)


def _parameters(acc: torch.Tensor, sample: torch.Tensor, total: torch.Tensor, par32: list[float], k32: list[int], pt: _Point,
                segs, bezier: bool) -> torch.Tensor:
    """The differentiable parameter ``(b,)`` of a cut at length ``sample`` on its control segment: exactly 0 or 1
    where Blender's float32 lookup lands on a control point, else the factor along the evaluated segment
    ``k32`` (mapped into the control segment for Bezier curves)."""
    bsz = int(sample.shape[0])
    if pt.is_cp:
        return torch.full((bsz,), 1.0 if pt.one else 0.0, dtype=acc.dtype, device=acc.device)
    k = torch.tensor(k32, dtype=torch.long, device=acc.device).clamp(min=0).reshape(-1, 1)
    s = sample.clamp(min=0.0)
    s = torch.minimum(s, total)
    end = torch.gather(acc, 1, k).squeeze(1)
    begin = torch.where(k.squeeze(1) > 0, torch.gather(acc, 1, (k - 1).clamp(min=0)).squeeze(1), torch.zeros_like(end))
    length = end - begin
    ok = length != 0
    fac = torch.where(ok, (s - begin) / torch.where(ok, length, torch.ones_like(length)), torch.zeros_like(s))
    if not bezier:
        return fac
    seg_of, first, sizes = segs
    kk = k.squeeze(1).tolist()
    f0 = torch.tensor([first[seg_of[x]] for x in kk], dtype=acc.dtype, device=acc.device)
    sz = torch.tensor([sizes[seg_of[x]] for x in kk], dtype=acc.dtype, device=acc.device)
    return ((fac + k.squeeze(1).to(acc.dtype) - f0) / sz).clamp(0.0, 1.0)


@node("GeometryNodeTrimCurve", outputs=("Curve",), props=("mode",), pure=False, label="Trim Curve",
      modes={"mode": ("FACTOR", "LENGTH")}, grad="yes",
      notes="POLY and BEZIER curves, open and cyclic; which points remain is shared by the batch")
def trim_curve(mode: str = "FACTOR", curve=None, selection=True, start=0.0, end=1.0, start_001=0.0, end_001=1.0):
    """Trim Curve: each selected curve cut to the part between ``start`` and ``end`` (factors of its length, or
    lengths, on fields of the CURVE domain); see the module docstring."""
    if curve is None:
        return GeometrySet()
    s, e = (start, end) if mode == "FACTOR" else (start_001, end_001)
    return map_curves(curve, lambda c: _trim(c, selection, mode, s, e))
