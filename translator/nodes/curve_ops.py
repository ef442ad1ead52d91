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
from .curve_eval import map_curves
from .fields import curves_context, selection_mask

__all__ = ["reverse_curve"]


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
