"""Curve edits that keep the curve's shape or cut it: Reverse Curve, Trim Curve (factor, length; POLY and
BEZIER), Subdivide Curve, Set Handle Type, Set Handle Positions.

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

from ..geometry import Attribute, CurvesBatch, GeometrySet
from . import node
from .curve_eval import map_curves, normalize
from .fields import curves_context, evaluate, selection_mask

__all__ = ["auto_handles", "reverse_curve", "set_handle_positions", "set_handle_type"]


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
