"""Curve edits: Reverse Curve, Subdivide Curve, Set Handle Type, Set Handle Positions, Set Spline Type (POLY,
BEZIER), Set Curve Normal (Minimum Twist, Z Up), and Blender's automatic Bezier handles.

As Blender 5.0 computes them (``CurvesGeometry::reverse_curves``, ``geometry/intern/trim_curves.cc``,
``geometry/intern/subdivide_curves.cc``, ``node_geo_curve_set_handle_type.cc``,
``node_geo_set_curve_handles.cc``, ``curve_bezier.cc``'s auto handles). Positions and handles stay
differentiable; which points exist (trim ends, cuts, selections) is topology, shared by the batch. Checked
against Blender in ``tests/translator/nodes/test_curve_ops.py``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch

from .. import runtime as rt
from ..geometry import Attribute, CurvesBatch, GeometrySet
from . import node
from .curve_eval import map_curves, normalize
from .fields import curves_context, evaluate, selection_mask

__all__ = ["auto_handles", "reverse_curve", "set_curve_normal", "set_handle_positions", "set_handle_type", "set_spline_type",
           "subdivide_curve"]


def _reverse(curves: CurvesBatch, selection: Any) -> CurvesBatch:
    mask = selection_mask(selection, curves_context(curves, "CURVE"), "a Reverse Curve selection").tolist()
    if not any(mask):
        return curves
    off = curves.curve_offsets.tolist()
    perm, swap = [], []
    for c in range(curves.num_curves):
        pts = list(range(off[c], off[c + 1]))
        perm += pts[::-1] if mask[c] else pts
        swap += [mask[c]] * len(pts)
    dev = curves.positions.device
    perm_t = torch.tensor(perm, dtype=torch.long, device=dev)
    attrs = {k: (Attribute(a.domain, a.data[:, perm_t], a.type) if a.domain == "POINT" else a) for k, a in curves.attributes.items()}
    extra = {}
    if curves.handle_left is not None:
        sw = torch.tensor(swap, dtype=torch.bool, device=dev)
        hl, hr = curves.handle_left[:, perm_t], curves.handle_right[:, perm_t]
        tl, tr = curves.handle_type_left[perm_t], curves.handle_type_right[perm_t]
        s3 = sw.reshape(1, -1, 1)
        extra = {"handle_left": torch.where(s3, hr, hl), "handle_right": torch.where(s3, hl, hr),
                 "handle_type_left": torch.where(sw, tr, tl), "handle_type_right": torch.where(sw, tl, tr)}
    return replace(curves, positions=curves.positions[:, perm_t], attributes=attrs, **extra)


@node("GeometryNodeReverseCurve", outputs=("Curve",), pure=False, label="Reverse Curve", grad="yes",
      notes="the selection is shared by the batch")
def reverse_curve(curve=None, selection=True):
    """Reverse Curve: the selected curves' points (and point attributes) in reverse order, left and right
    handles (and their types) swapped."""
    if curve is None:
        return GeometrySet()
    return map_curves(curve, lambda c: _reverse(c, selection))


# ---------------------------------------------------------------------------
# Bezier handles: Blender's automatic handle positions, Set Handle Type, Set Handle Positions

_FREE, _AUTO, _VECTOR, _ALIGN = 0, 1, 2, 3


def _neighbours(curves: CurvesBatch) -> tuple[list[int], list[int], list[bool], list[bool], list[bool]]:
    """Per point: previous and next point, whether they are mirrored (open ends: ``2 p - other``) and whether the
    point's handles are computed (points of Bezier curves with more than one point)."""
    off = curves.curve_offsets.tolist()
    prev, nxt, mp, mn, use = [], [], [], [], []
    for c, typ in enumerate(curves.types):
        s, e = off[c], off[c + 1]
        n = e - s
        for k in range(n):
            p, q = s + (k - 1) % n, s + (k + 1) % n
            m_p = m_n = False
            if not curves.cyclic[c] and k == 0:
                p, m_p = q, True
            if not curves.cyclic[c] and k == n - 1:
                q, m_n = p, True
            prev.append(p)
            nxt.append(q)
            mp.append(m_p)
            mn.append(m_n)
            use.append(typ == "BEZIER" and n > 1)
    return prev, nxt, mp, mn, use


def _aligned(position: torch.Tensor, other: torch.Tensor, handle: torch.Tensor) -> torch.Tensor:
    """``calculate_aligned_handle``: ``handle``'s length, opposite ``other``."""
    length = torch.linalg.vector_norm(handle - position, dim=-1, keepdim=True)
    d, _ = normalize(other - position)
    return position - d * length


def auto_handles(curves: CurvesBatch) -> CurvesBatch:
    """``CurvesGeometry::calculate_bezier_auto_handles``: AUTO and VECTOR handles recomputed from the points,
    an ALIGN handle opposite a non-ALIGN one re-aligned (handles ``(b, P, 3)``, differentiable)."""
    if curves.handle_left is None or not curves.has_bezier() or curves.num_points == 0:
        return curves
    prev, nxt, mp, mn, use = _neighbours(curves)
    dev = curves.positions.device
    t = lambda v, dt=torch.long: torch.tensor(v, dtype=dt, device=dev)
    use_t = t(use, torch.bool)
    tl = torch.where(use_t, curves.handle_type_left.long(), torch.full_like(use_t, -1, dtype=torch.long))
    tr = torch.where(use_t, curves.handle_type_right.long(), torch.full_like(use_t, -1, dtype=torch.long))
    if not bool(((tl == _AUTO) | (tr == _AUTO) | (tl == _VECTOR) | (tr == _VECTOR) | ((tl == _ALIGN) != (tr == _ALIGN))).any()):
        return curves
    p = curves.positions
    b = max(int(p.shape[0]), int(curves.handle_left.shape[0]), int(curves.handle_right.shape[0]))
    p = p.expand(b, -1, -1)
    left, right = curves.handle_left.expand(b, -1, -1), curves.handle_right.expand(b, -1, -1)
    prev_p = torch.where(t(mp, torch.bool).reshape(1, -1, 1), 2.0 * p - p[:, t(nxt)], p[:, t(prev)])
    next_p = torch.where(t(mn, torch.bool).reshape(1, -1, 1), 2.0 * p - p[:, t(prev)], p[:, t(nxt)])
    col = lambda m: m.reshape(1, -1, 1)
    # AUTO
    prev_d, next_d = p - prev_p, next_p - p
    prev_len = torch.linalg.vector_norm(prev_d, dim=-1, keepdim=True)
    next_len = torch.linalg.vector_norm(next_d, dim=-1, keepdim=True)
    prev_len = torch.where(prev_len == 0, torch.ones_like(prev_len), prev_len)
    next_len = torch.where(next_len == 0, torch.ones_like(next_len), next_len)
    direction = next_d / next_len + prev_d / prev_len
    ln = torch.linalg.vector_norm(direction, dim=-1, keepdim=True) * 2.5614
    ok = ln != 0
    safe = torch.where(ok, ln, torch.ones_like(ln))
    auto_l = p + direction * -(torch.minimum(prev_len, next_len * 5.0) / safe)
    auto_r = p + direction * (torch.minimum(next_len, prev_len * 5.0) / safe)
    left = torch.where(col(tl == _AUTO) & ok, auto_l, left)
    right = torch.where(col(tr == _AUTO) & ok, auto_r, right)
    # VECTOR
    left = torch.where(col(tl == _VECTOR), p + (prev_p - p) / 3.0, left)
    right = torch.where(col(tr == _VECTOR), p + (next_p - p) / 3.0, right)
    # one-sided ALIGN
    left_a = (tl == _ALIGN) & (tr != _ALIGN)
    right_a = (tl != _ALIGN) & (tr == _ALIGN)
    left = torch.where(col(left_a), _aligned(p, right, left), left)
    right = torch.where(col(right_a), _aligned(p, left, right), right)
    return replace(curves, handle_left=left, handle_right=right)


def _check_handle_sides(n) -> str | None:
    mode = n.properties.get("mode")
    sides = list(mode) if isinstance(mode, (list, tuple)) else [mode]
    if not sides or any(s not in ("LEFT", "RIGHT") for s in sides):
        return f"Set Handle Type mode {mode!r} is not supported"
    if n.properties.get("handle_type") not in ("FREE", "AUTO", "VECTOR", "ALIGN"):
        return f"Set Handle Type handle type {n.properties.get('handle_type')!r} is not supported"
    return None


def _set_handle_type(curves: CurvesBatch, sides: list[str], handle_type: str, selection: Any) -> CurvesBatch:
    if curves.handle_type_left is None or curves.num_points == 0:
        return curves
    mask = selection_mask(selection, curves_context(curves, "POINT"), "a Set Handle Type selection")
    value = torch.tensor(("FREE", "AUTO", "VECTOR", "ALIGN").index(handle_type), dtype=torch.int8)
    tl, tr = curves.handle_type_left, curves.handle_type_right
    if "LEFT" in sides:
        tl = torch.where(mask, value, tl)
    if "RIGHT" in sides:
        tr = torch.where(mask, value, tr)
    out = replace(curves, handle_type_left=tl, handle_type_right=tr)
    return auto_handles(out) if handle_type != "FREE" else out


@node("GeometryNodeCurveSetHandles", outputs=("Curve",), props=("handle_type", "mode"), pure=False, check=_check_handle_sides,
      label="Set Handle Type", modes={"handle_type": ("FREE", "AUTO", "VECTOR", "ALIGN"), "mode": ("LEFT", "RIGHT")}, grad="yes",
      notes="left, right or both sides; AUTO and VECTOR handles computed as Blender does; the selection is shared by the batch")
def set_handle_type(handle_type: str = "AUTO", mode=("LEFT", "RIGHT"), curve=None, selection=True):
    """Set Handle Type: the selected points' left and/or right handle type, then Blender's automatic handles
    (AUTO, VECTOR and one-sided ALIGN handles recomputed from the points)."""
    if curve is None:
        return GeometrySet()
    sides = list(mode) if isinstance(mode, (list, tuple)) else [mode]
    return map_curves(curve, lambda c: _set_handle_type(c, sides, handle_type, selection))


def _set_handle_positions(curves: CurvesBatch, left: bool, selection: Any, position: Any, offset: Any) -> CurvesBatch:
    if curves.handle_left is None or curves.num_points == 0:
        return curves
    fctx = curves_context(curves, "POINT")
    mask = selection_mask(selection, fctx, "a Set Handle Positions selection")
    types, other_types = (curves.handle_type_left, curves.handle_type_right) if left else (curves.handle_type_right,
                                                                                          curves.handle_type_left)
    # update_handle_types_for_movement
    both_auto = (types == _AUTO) & (other_types == _AUTO)
    new_types = torch.where((types == _AUTO) & ~both_auto, _FREE, types)
    new_types = torch.where(both_auto, _ALIGN, new_types)
    new_types = torch.where(types == _VECTOR, _FREE, new_types)
    new_types = torch.where((types == _ALIGN) & (other_types != _ALIGN), _FREE, new_types)
    new_other = torch.where(both_auto, _ALIGN, other_types)
    types = torch.where(mask, new_types, types).to(torch.int8)
    other_types = torch.where(mask, new_other, other_types).to(torch.int8)
    handle, other = (curves.handle_left, curves.handle_right) if left else (curves.handle_right, curves.handle_left)
    target = handle if position is None else evaluate(position, fctx, "VECTOR")
    target = target + evaluate(offset, fctx, "VECTOR")
    p = curves.positions
    b = max(int(p.shape[0]), int(handle.shape[0]), int(other.shape[0]), int(target.shape[0]))
    p, handle, other, target = (x.expand(b, -1, -1) for x in (p, handle, other, target))
    settable = (mask & (types != _AUTO) & (types != _VECTOR)).reshape(1, -1, 1)
    new_handle = torch.where(settable, target, handle)
    realign = settable & (other_types == _ALIGN).reshape(1, -1, 1)
    new_other = torch.where(realign, _aligned(p, new_handle, other), other)
    out = replace(curves, handle_left=new_handle if left else new_other, handle_right=new_other if left else new_handle,
                  handle_type_left=types if left else other_types, handle_type_right=other_types if left else types)
    return auto_handles(out)


@node("GeometryNodeSetCurveHandlePositions", outputs=("Curve",), props=("mode",), pure=False, implicit=("position",),
      label="Set Handle Positions", modes={"mode": ("LEFT", "RIGHT")}, grad="yes",
      notes="Position defaults to the handle's own position; handle types change as Blender's do")
def set_handle_positions(mode: str = "LEFT", curve=None, selection=True, position=None, offset=(0.0, 0.0, 0.0)):
    """Set Handle Positions: the selected points' left (or right) handle moved to ``position + offset``
    (AUTO handles become ALIGN in pairs or FREE, VECTOR handles FREE, a lone ALIGN handle FREE; an ALIGN
    handle opposite turns with it), then Blender's automatic handles."""
    if curve is None:
        return GeometrySet()
    return map_curves(curve, lambda c: _set_handle_positions(c, mode == "LEFT", selection, position, offset))


# ---------------------------------------------------------------------------
# Subdivide Curve


def _f32(x: float) -> float:
    return float(torch.tensor(x, dtype=torch.float32))


def _lerp_values(src: torch.Tensor, a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """``mix2(t, src[a], src[b])`` for point values ``(b, n, ...)`` (ints round, booleans at 0.5)."""
    x, y = src[:, a], src[:, b]
    f = t.reshape(1, -1, *([1] * (src.dim() - 2)))
    if src.dtype == torch.bool:
        return (x.to(f.dtype) * (1.0 - f) + y.to(f.dtype) * f) >= 0.5
    if not src.dtype.is_floating_point:
        return torch.round(x.to(f.dtype) * (1.0 - f) + y.to(f.dtype) * f).to(src.dtype)
    return x * (1.0 - f.to(src.dtype)) + y * f.to(src.dtype)


def _bezier_segment(p0, h0, h1, p1, size: int):
    """``subdivide_bezier_segment`` (not vector): the segment's ``size`` points with their left and right handles
    (the first left and the last right are None) and the next point's new left handle."""
    pts, lefts, rights = [p0], [None], []
    start, hp, hn = p0, h0, h1
    for k in range(size - 1):
        t = torch.full((1,), _f32(1.0 / (size - k)), dtype=p0.dtype, device=p0.device)
        f = t.reshape(-1, 1)
        lerp = lambda a, b, f=f: a + (b - a) * f
        center = lerp(hp, hn)
        prev, nxt = lerp(start, hp), lerp(hn, p1)
        left, right = lerp(prev, center), lerp(center, nxt)
        pos = lerp(left, right)
        rights.append(prev)
        lefts.append(left)
        pts.append(pos)
        start, hp, hn = pos, right, nxt
    rights.append(hp)
    return pts, lefts, rights, hn


def _subdivide(curves: CurvesBatch, cuts: Any) -> CurvesBatch:
    if curves.num_points == 0:
        return curves
    c_all = evaluate(cuts, curves_context(curves, "POINT"), "INT")
    if c_all.shape[0] > 1 and not bool((c_all == c_all[:1]).all()):
        raise rt.TopologyVaries(c_all, "a Subdivide Curve cut count")
    cut_list = c_all[0].tolist()
    off = curves.curve_offsets.tolist()
    a_idx, b_idx, fac, sizes, per_point = [], [], [], [], []
    for c in range(curves.num_curves):
        s, e = off[c], off[c + 1]
        n = e - s
        counts = [1] if n == 1 else [max(int(x), 0) + 1 for x in cut_list[s:e]]
        if n > 1 and not curves.cyclic[c]:
            counts[-1] = 1
        per_point.append(counts)
        for i, k in enumerate(counts):
            step = _f32(1.0 / k)
            for j in range(k):
                a_idx.append(s + i)
                b_idx.append(s + (i + 1) % n)
                fac.append(_f32(j * step))
        sizes.append(sum(counts))
    dev = curves.positions.device
    rt.check_size(len(a_idx), f"Subdivide Curve ({len(a_idx):,} points)")
    a_t, b_t = torch.tensor(a_idx, device=dev), torch.tensor(b_idx, device=dev)
    f_t = torch.tensor(fac, dtype=curves.positions.dtype, device=dev)
    pos = _lerp_values(curves.positions, a_t, b_t, f_t)
    attrs = {k: (Attribute(a.domain, _lerp_values(a.data, a_t, b_t, f_t), a.type) if a.domain == "POINT" else a)
             for k, a in curves.attributes.items()}
    extra = {}
    if curves.has_bezier():
        extra = _subdivide_handles(curves, per_point, pos)
        pos = extra.pop("positions")
    offsets = torch.tensor([0, *torch.cumsum(torch.tensor(sizes), 0).tolist()], dtype=torch.long, device=dev)
    out = replace(curves, positions=pos, curve_offsets=offsets, attributes=attrs, **extra)
    return auto_handles(out) if curves.has_bezier() else out


def _subdivide_handles(curves: CurvesBatch, per_point: list[list[int]], linear: torch.Tensor) -> dict:
    """Bezier curves' new positions, handles and handle types (POLY curves keep the linear positions and get
    zero FREE handles, as the handles of new points are zero in Blender)."""
    off = curves.curve_offsets.tolist()
    P, HL, HR = curves.positions, curves.handle_left, curves.handle_right
    b = max(int(P.shape[0]), int(HL.shape[0]), int(HR.shape[0]), int(linear.shape[0]))
    P, HL, HR, linear = (x.expand(b, -1, -1) for x in (P, HL, HR, linear))
    TL, TR = curves.handle_type_left.tolist(), curves.handle_type_right.tolist()
    align_or_free = {_FREE: _FREE, _AUTO: _ALIGN, _VECTOR: _FREE, _ALIGN: _ALIGN}
    pos_parts, hl_parts, hr_parts, tl_all, tr_all = [], [], [], [], []
    o = 0
    for c, typ in enumerate(curves.types):
        s, e = off[c], off[c + 1]
        n, counts = e - s, per_point[c]
        m = sum(counts)
        if typ != "BEZIER" or n == 1:
            pos_parts.append(linear[:, o:o + m])
            if typ == "BEZIER":
                hl_parts.append(HL[:, s:e])
                hr_parts.append(HR[:, s:e])
                tl_all += TL[s:e]
                tr_all += TR[s:e]
            else:
                z = torch.zeros((b, m, 3), dtype=P.dtype, device=P.device)
                hl_parts.append(z)
                hr_parts.append(z)
                tl_all += [_FREE] * m
                tr_all += [_FREE] * m
            o += m
            continue
        pts: list = [None] * m
        lefts: list = [None] * m
        rights: list = [None] * m
        tls, trs = [_ALIGN] * m, [_ALIGN] * m
        first = [sum(counts[:i]) for i in range(n)]
        cyclic = bool(curves.cyclic[c])
        for i in range(n if cyclic else n - 1):
            j = (i + 1) % n
            f, size = first[i], counts[i]
            nxt = first[j]
            if TR[s + i] == _VECTOR and TL[s + j] == _VECTOR:  # a vector segment: linear positions, vector handles
                for k in range(size):
                    pts[f + k] = linear[:, o + f + k]
                trs[f] = _VECTOR
                tls[nxt] = _VECTOR
                for k in range(1, size):
                    tls[f + k] = trs[f + k] = _VECTOR
                    lefts[f + k] = rights[f + k] = linear[:, o + f + k]  # recomputed by the automatic handles
                rights[f] = linear[:, o + f] if rights[f] is None else rights[f]
                lefts[nxt] = linear[:, o + nxt] if lefts[nxt] is None else lefts[nxt]
                continue
            seg_p, seg_l, seg_r, next_left = _bezier_segment(P[:, s + i], HR[:, s + i], HL[:, s + j], P[:, s + j], size)
            for k in range(size):
                pts[f + k] = seg_p[k]
                if k:
                    lefts[f + k] = seg_l[k]
                rights[f + k] = seg_r[k]
            lefts[nxt] = next_left
            trs[f] = align_or_free[TR[s + i]]
            tls[nxt] = align_or_free[TL[s + j]]
        if not cyclic:
            pts[m - 1] = P[:, e - 1]
            tls[0], trs[m - 1] = TL[s], TR[e - 1]
            lefts[0], rights[m - 1] = HL[:, s], HR[:, e - 1]
        pos_parts.append(torch.stack(pts, 1))
        hl_parts.append(torch.stack(lefts, 1))
        hr_parts.append(torch.stack(rights, 1))
        tl_all += tls
        tr_all += trs
        o += m
    i8 = lambda v: torch.tensor(v, dtype=torch.int8, device=P.device)
    return {"positions": torch.cat(pos_parts, 1), "handle_left": torch.cat(hl_parts, 1), "handle_right": torch.cat(hr_parts, 1),
            "handle_type_left": i8(tl_all), "handle_type_right": i8(tr_all)}


@node("GeometryNodeSubdivideCurve", outputs=("Curve",), pure=False, label="Subdivide Curve", grad="yes",
      notes="Cuts per point (a field); POLY segments linear, BEZIER segments by De Casteljau; cuts shared by the batch")
def subdivide_curve(curve=None, cuts=1):
    """Subdivide Curve: ``cuts`` (a point field, at least 0) new points on the segment after each point (not after
    an open curve's last point): evenly spaced in the parameter on POLY curves (point attributes mixed the
    same way), on the Bezier curve itself with its shape kept (De Casteljau; new handles ALIGN, AUTO ends
    become ALIGN and VECTOR ends FREE) on BEZIER curves; then Blender's automatic handles."""
    if curve is None:
        return GeometrySet()
    return map_curves(curve, lambda c: _subdivide(c, cuts))


# ---------------------------------------------------------------------------
# Set Spline Type


def _set_type(curves: CurvesBatch, spline_type: str, selection: Any) -> CurvesBatch:
    if curves.num_curves == 0 or all(t == spline_type for t in curves.types):
        return curves
    mask = selection_mask(selection, curves_context(curves, "CURVE"), "a Set Spline Type selection").tolist()
    types = [spline_type if m else t for t, m in zip(curves.types, mask)]
    if spline_type == "POLY":  # the control points stay; handles go when no Bezier curve is left
        out = replace(curves, types=types)
        if "BEZIER" not in types:
            out = replace(out, handle_left=None, handle_right=None, handle_type_left=None, handle_type_right=None)
        return out
    # POLY -> BEZIER: vector handles, then Blender's automatic handles on every Bezier curve
    p = curves.positions
    hl = curves.handle_left if curves.handle_left is not None else torch.zeros_like(p)
    hr = curves.handle_right if curves.handle_right is not None else torch.zeros_like(p)
    zero8 = torch.zeros(curves.num_points, dtype=torch.int8, device=p.device)
    tl = curves.handle_type_left if curves.handle_type_left is not None else zero8
    tr = curves.handle_type_right if curves.handle_type_right is not None else zero8
    sizes = curves.points_per_curve()
    converted = torch.tensor([m and t == "POLY" for t, m, n in zip(curves.types, mask, sizes) for _ in range(n)],
                             dtype=torch.bool, device=p.device)
    vec = torch.tensor(_VECTOR, dtype=torch.int8)
    out = replace(curves, types=types, handle_left=hl, handle_right=hr, handle_type_left=torch.where(converted, vec, tl),
                  handle_type_right=torch.where(converted, vec, tr))
    return auto_handles(out)


@node("GeometryNodeCurveSplineType", outputs=("Curve",), props=("spline_type",), pure=False, label="Set Spline Type",
      modes={"spline_type": ("POLY", "BEZIER")}, grad="yes",
      notes="POLY and BEZIER (Bezier to Poly keeps the control points; Poly to Bezier gets vector handles)")
def set_spline_type(spline_type: str = "POLY", curve=None, selection=True):
    """Set Spline Type: the selected curves become POLY (their control points, handles dropped) or BEZIER (POLY
    curves get VECTOR handles), then Blender's automatic handles; nothing changes when every curve already
    has the type."""
    if curve is None:
        return GeometrySet()
    return map_curves(curve, lambda c: _set_type(c, spline_type, selection))


# ---------------------------------------------------------------------------
# Set Curve Normal

_NORMAL_MODES = {"Minimum Twist": "MINIMUM_TWIST", "Z Up": "Z_UP"}


def _check_normal(n) -> str | None:
    for s in n.inputs:
        if s.identifier == "Mode" and s.enabled and s.default not in (None, *_NORMAL_MODES):
            return f"Set Curve Normal mode {s.default!r} is not supported"
    return None


@node("GeometryNodeSetCurveNormal", outputs=("Curve",), pure=False, check=_check_normal, label="Set Curve Normal",
      notes="Minimum Twist and Z Up modes (a Mode menu; Free is refused); the selection is shared by the batch")
def set_curve_normal(curve=None, selection=True, mode="Minimum Twist", normal=(0.0, 0.0, 1.0)):
    """Set Curve Normal: the selected curves' normals follow minimum twist or point up (Z Up), as evaluated by
    Curve to Mesh, Curve to Points, Sample Curve and the Normal input."""
    if curve is None:
        return GeometrySet()
    if not isinstance(mode, str) or mode not in _NORMAL_MODES:
        raise TypeError(f"Set Curve Normal mode {mode!r} is not supported (Minimum Twist and Z Up are)")

    def apply(c: CurvesBatch) -> CurvesBatch:
        if c.num_curves == 0:
            return c
        mask = selection_mask(selection, curves_context(c, "CURVE"), "a Set Curve Normal selection").tolist()
        return replace(c, normal_mode=[_NORMAL_MODES[mode] if m else old for old, m in zip(c.normal_mode, mask)])

    return map_curves(curve, apply)
