"""Curve primitives: Curve Line, Curve Circle, Quadrilateral, Quadratic Bezier, Bezier Segment.

Each makes one curve (:class:`translator.geometry.CurvesBatch`) as Blender 5.0 does
(``node_geo_curve_primitive_*.cc``): POLY curves for all but the Bezier Segment, whose two
points carry handles and whose resolution is the node's. Positions are ``(b, P, 3)`` (``b`` 1 for
constant inputs, else the batch); counts (resolutions) are shared by the batch. Checked against
Blender in ``tests/translator/nodes/test_curve_primitives.py``.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from .. import runtime as rt
from ..geometry import CurvesBatch, GeometrySet
from . import node

__all__ = ["bezier_segment", "curve_circle", "curve_line", "make_curve", "quadratic_bezier", "quadrilateral"]


def _vec(x: Any) -> torch.Tensor:
    """A vector input as ``(b, 3)``."""
    if isinstance(x, rt.Field):
        raise TypeError("curve primitive inputs must be single values, not fields")
    t = rt.as_vector(x)
    return t.unsqueeze(0) if t.dim() == 1 else t


def _flt(x: Any) -> torch.Tensor:
    """A float input as ``(b, 1)``."""
    if isinstance(x, rt.Field):
        raise TypeError("curve primitive inputs must be single values, not fields")
    t = rt.as_float(x)
    return t.reshape(1, 1) if t.dim() == 0 else t.reshape(-1, 1)


def make_curve(positions: torch.Tensor, curve_type: str = "POLY", cyclic: bool = False, resolution: int = 12,
               handle_left: torch.Tensor | None = None, handle_right: torch.Tensor | None = None,
               handle_type: int = 0) -> CurvesBatch:
    """One curve through ``positions (b, P, 3)``."""
    n = int(positions.shape[1])
    dev = positions.device
    ht = None if handle_left is None else torch.full((n,), handle_type, dtype=torch.int8, device=dev)
    return CurvesBatch(positions=positions, curve_offsets=torch.tensor([0, n], dtype=torch.long, device=dev),
                       types=[curve_type], cyclic=[cyclic], resolution=[resolution], handle_left=handle_left,
                       handle_right=handle_right, handle_type_left=ht, handle_type_right=ht)


def _stack(points: list[torch.Tensor]) -> torch.Tensor:
    b = max(int(p.shape[0]) for p in points)
    return torch.stack([p.expand(b, 3) for p in points], 1)


@node("GeometryNodeCurvePrimitiveLine", outputs=("Curve",), props=("mode",), pure=False, label="Curve Line",
      modes={"mode": ("POINTS", "DIRECTION")}, grad="yes")
def curve_line(mode: str = "POINTS", start=(0.0, 0.0, 0.0), end=(0.0, 0.0, 1.0), direction=(0.0, 0.0, 1.0), length=1.0):
    """Curve Line: a two-point POLY curve from ``start`` to ``end`` (POINTS), or ``length`` along the
    normalized ``direction`` (DIRECTION)."""
    s = _vec(start)
    if mode == "POINTS":
        e = _vec(end)
    else:
        d = _vec(direction)
        sq = (d * d).sum(-1, keepdim=True)
        ok = sq > 1.0e-35
        e = s + torch.where(ok, d / torch.sqrt(torch.where(ok, sq, torch.ones_like(sq))), torch.zeros_like(d)) * _flt(length)
    return GeometrySet(curves=make_curve(_stack([s, e])))


@node("GeometryNodeCurvePrimitiveCircle", outputs=("Curve", "Center"), props=("mode",), pure=False, label="Curve Circle",
      modes={"mode": ("RADIUS",)}, grad="yes", notes="the three-points mode is refused")
def curve_circle(mode: str = "RADIUS", resolution=32, point_1=(-1.0, 0.0, 0.0), point_2=(0.0, 1.0, 0.0), point_3=(1.0, 0.0, 0.0),
                 radius=1.0):
    """Curve Circle (RADIUS): a cyclic POLY curve of ``resolution`` points at angles ``i * 2 pi / n``
    (float32 steps) from +X, counter-clockwise; at least 3 points."""
    n = max(int(rt.static(resolution, "Curve Circle Resolution")), 3)
    rt.check_size(n, f"Curve Circle ({n:,} points)")
    c = rt.current()
    step = torch.tensor(2.0 * math.pi / n, dtype=torch.float32)
    theta = (step * torch.arange(n, dtype=torch.float32)).to(dtype=c.dtype, device=c.device)
    r = _flt(radius)
    pos = torch.stack([r * torch.cos(theta), r * torch.sin(theta), torch.zeros_like(r * theta)], -1)
    return GeometrySet(curves=make_curve(pos, cyclic=True)), (0.0, 0.0, 0.0)


_QUAD_MODES = ("RECTANGLE", "PARALLELOGRAM", "TRAPEZOID", "KITE", "POINTS")


@node("GeometryNodeCurvePrimitiveQuadrilateral", outputs=("Curve",), props=("mode",), pure=False, label="Quadrilateral",
      modes={"mode": _QUAD_MODES}, grad="yes")
def quadrilateral(mode: str = "RECTANGLE", width=2.0, height=2.0, bottom_width=4.0, top_width=2.0, offset=1.0,
                  bottom_height=3.0, top_height=1.0, point_1=(-1.0, -1.0, 0.0), point_2=(1.0, -1.0, 0.0),
                  point_3=(1.0, 1.0, 0.0), point_4=(-1.0, 1.0, 0.0)):
    """Quadrilateral: a cyclic POLY curve of 4 points in the XY plane (see Blender's modes); widths
    and heights below 0 count as 0 (offsets and the kite's top height do not)."""
    if mode == "POINTS":
        return GeometrySet(curves=make_curve(_stack([_vec(point_1), _vec(point_2), _vec(point_3), _vec(point_4)]), cyclic=True))
    z = torch.zeros_like(_flt(0.0))

    def p(x, y):
        b = max(int(x.shape[0]), int(y.shape[0]))
        return torch.cat([x.expand(b, 1), y.expand(b, 1), z.expand(b, 1)], 1)

    pos = lambda x: _flt(x).clamp(min=0.0)
    w, h = pos(width), pos(height)
    if mode == "RECTANGLE":
        pts = [p(w / 2, h / 2), p(-w / 2, h / 2), p(-w / 2, -h / 2), p(w / 2, -h / 2)]
    elif mode == "PARALLELOGRAM":
        o = _flt(offset)
        pts = [p(w / 2 + o / 2, h / 2), p(-w / 2 + o / 2, h / 2), p(-w / 2 - o / 2, -h / 2), p(w / 2 - o / 2, -h / 2)]
    elif mode == "TRAPEZOID":
        o, bw, tw = _flt(offset), pos(bottom_width), pos(top_width)
        pts = [p(tw / 2 + o, h / 2), p(-tw / 2 + o, h / 2), p(-bw / 2, -h / 2), p(bw / 2, -h / 2)]
    else:  # KITE
        bh, th = pos(bottom_height), _flt(top_height)
        pts = [p(z, -bh), p(w / 2, z), p(z, th), p(-w / 2, z)]
    return GeometrySet(curves=make_curve(_stack(pts), cyclic=True))


@node("GeometryNodeCurveQuadraticBezier", outputs=("Curve",), pure=False, label="Quadratic Bézier", grad="yes")
def quadratic_bezier(resolution=16, start=(-1.0, 0.0, 0.0), middle=(0.0, 2.0, 0.0), end=(1.0, 0.0, 0.0)):
    """Quadratic Bezier: a POLY curve of ``resolution + 1`` points (at least 4) on the quadratic through the three
    points (``mix(mix(a, b, t), mix(b, c, t), t)``, ``t = i / resolution``)."""
    n = max(int(rt.static(resolution, "Quadratic Bezier Resolution")), 3)
    rt.check_size(n + 1, f"Quadratic Bezier ({n:,} segments)")
    a, b, c = _vec(start), _vec(middle), _vec(end)
    t = (torch.arange(n + 1, dtype=torch.float32) / float(n)).to(dtype=a.dtype, device=a.device).reshape(1, -1, 1)
    ab = a.unsqueeze(1) * (1 - t) + b.unsqueeze(1) * t
    bc = b.unsqueeze(1) * (1 - t) + c.unsqueeze(1) * t
    return GeometrySet(curves=make_curve(ab * (1 - t) + bc * t))


@node("GeometryNodeCurvePrimitiveBezierSegment", outputs=("Curve",), props=("mode",), pure=False, label="Bézier Segment",
      modes={"mode": ("POSITION", "OFFSET")}, grad="yes")
def bezier_segment(mode: str = "POSITION", resolution=16, start=(-1.0, 0.0, 0.0), start_handle=(-0.5, 0.5, 0.0),
                   end_handle=(0.0, 0.0, 0.0), end=(1.0, 0.0, 0.0)):
    """Bezier Segment: a BEZIER curve of two points with ``resolution`` evaluated points per segment;
    the handles are positions (POSITION) or offsets from their points (OFFSET); the outer handles
    mirror the inner ones."""
    n = max(int(rt.static(resolution, "Bezier Segment Resolution")), 1)
    s, e = _vec(start), _vec(end)
    hs, he = _vec(start_handle), _vec(end_handle)
    if mode == "OFFSET":
        hs, he = s + hs, e + he
    pos = _stack([s, e])
    right = _stack([hs, 2.0 * e - he])
    left = _stack([2.0 * s - hs, he])
    return GeometrySet(curves=make_curve(pos, "BEZIER", resolution=n, handle_left=left, handle_right=right, handle_type=3))
