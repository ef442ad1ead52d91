"""Curve primitives: Curve Line, Curve Circle, Quadrilateral, Quadratic Bezier, Bezier Segment, Arc,
Spiral, Star.

Each makes one curve (:class:`translator.geometry.CurvesBatch`) as Blender 5.0 does
(``node_geo_curve_primitive_*.cc``): POLY curves for all but the Bezier Segment, whose two
points carry handles and whose resolution is the node's. Positions are ``(b, P, 3)`` (``b`` 1 for
constant inputs, else the batch); counts (resolutions) are shared by the batch. Checked against
Blender in ``tests/translator/nodes/test_curve_primitives.py``.
"""

from __future__ import annotations

import functools
import itertools
import math
from typing import Any

import torch

from .. import runtime as rt
from ..geometry import Attribute, CurvesBatch, GeometrySet
from . import node
from .curve_eval import mark_scaled, normalize, rotate_about

__all__ = ["arc", "bezier_segment", "curve_circle", "curve_line", "make_curve", "quadratic_bezier", "quadrilateral", "spiral",
           "star"]


_ANONYMOUS = itertools.count()


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
      modes={"mode": ("RADIUS", "POINTS")}, grad="yes",
      notes="POINTS: no curve for colinear points (shared by the batch)")
def curve_circle(mode: str = "RADIUS", resolution=32, point_1=(-1.0, 0.0, 0.0), point_2=(0.0, 1.0, 0.0), point_3=(1.0, 0.0, 0.0),
                 radius=1.0):
    """Curve Circle: a cyclic POLY curve of ``resolution`` points (at least 3). RADIUS: at angles ``i * 2 pi / n``
    (float32 steps) from +X, counter-clockwise. POINTS: the circle through the three points, from its center
    ``c`` at ``c + r sin(t) v1 + r cos(t) v4`` (``v1`` along point 1 -> 2, ``v4`` in the plane, perpendicular);
    no curve (and center 0) when the points are colinear. Center: the POINTS circle's center."""
    n = max(int(rt.static(resolution, "Curve Circle Resolution")), 3)
    rt.check_size(n, f"Curve Circle ({n:,} points)")
    c = rt.current()
    step = torch.tensor(2.0 * math.pi / n, dtype=torch.float32)
    theta = (step * torch.arange(n, dtype=torch.float32)).to(dtype=c.dtype, device=c.device)
    if mode == "POINTS":
        return _circle_points(theta, point_1, point_2, point_3)
    r = _flt(radius)
    unit = torch.stack([torch.cos(theta), torch.sin(theta), torch.zeros_like(theta)], -1)
    pos = torch.stack([r * torch.cos(theta), r * torch.sin(theta), torch.zeros_like(r * theta)], -1)
    if isinstance(radius, torch.Tensor):  # pos == r * unit, bit for bit
        mark_scaled(pos, unit.unsqueeze(0), r.unsqueeze(-1))
    return GeometrySet(curves=make_curve(pos, cyclic=True)), (0.0, 0.0, 0.0)


def _circle_points(theta: torch.Tensor, p1, p2, p3):
    a, b, c = torch.broadcast_tensors(_vec(p1), _vec(p2), _vec(p3))
    v1, _ = normalize(b - a)
    v2, _ = normalize(c - b)
    d2, _ = normalize(c - a)
    colinear = (v1 == d2).all(-1) | (v1 == -d2).all(-1)
    flat = rt.static(colinear.reshape(-1, 1).long(), "Curve Circle's colinear points")
    if flat if isinstance(flat, int) else all(flat):
        return GeometrySet(), (0.0, 0.0, 0.0)
    v3, _ = normalize(torch.cross(v1, v2, dim=-1))
    v4, _ = normalize(torch.cross(v3, v1, dim=-1))
    u, v = b - a, c - a
    w = torch.cross(u, v, dim=-1)
    center = a + (torch.cross(w, u, dim=-1) * (v * v).sum(-1, keepdim=True)
                  + torch.cross(v, w, dim=-1) * (u * u).sum(-1, keepdim=True)) / (2.0 * (w * w).sum(-1, keepdim=True))
    r = torch.linalg.vector_norm(a - center, dim=-1).reshape(-1, 1, 1)
    t = theta.reshape(1, -1, 1)
    pos = center.unsqueeze(1) + r * torch.sin(t) * v1.unsqueeze(1) + r * torch.cos(t) * v4.unsqueeze(1)
    return GeometrySet(curves=make_curve(pos, cyclic=True)), center


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
    if mode == "RECTANGLE":  # (+-w/2, +-h/2, 0) as one product of the half sizes with the corners' signs
        half = torch.cat(torch.broadcast_tensors(w, h), 1) / 2  # (b, 2)
        xy = half.unsqueeze(1) * _rectangle_signs(half.dtype, half.device)
        return GeometrySet(curves=make_curve(torch.nn.functional.pad(xy, (0, 1)), cyclic=True))
    if mode == "PARALLELOGRAM":
        o = _flt(offset)
        pts = [p(w / 2 + o / 2, h / 2), p(-w / 2 + o / 2, h / 2), p(-w / 2 - o / 2, -h / 2), p(w / 2 - o / 2, -h / 2)]
    elif mode == "TRAPEZOID":
        o, bw, tw = _flt(offset), pos(bottom_width), pos(top_width)
        pts = [p(tw / 2 + o, h / 2), p(-tw / 2 + o, h / 2), p(-bw / 2, -h / 2), p(bw / 2, -h / 2)]
    else:  # KITE
        bh, th = pos(bottom_height), _flt(top_height)
        pts = [p(z, -bh), p(w / 2, z), p(z, th), p(-w / 2, z)]
    return GeometrySet(curves=make_curve(_stack(pts), cyclic=True))


@functools.lru_cache(maxsize=16)
def _rectangle_signs(dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``(4, 2)`` the signs of the Quadrilateral RECTANGLE's corners (``x``, ``y``), in Blender's order."""
    return torch.tensor([[1.0, 1.0], [-1.0, 1.0], [-1.0, -1.0], [1.0, -1.0]], dtype=dtype, device=device)


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


def _f32(x: float) -> float:
    return float(torch.tensor(x, dtype=torch.float32))


def _arc_angle(v1: torch.Tensor, v2: torch.Tensor, axis: torch.Tensor) -> torch.Tensor:
    """``angle_signed_on_axis_v3v3_v3`` in ``[0, 2 pi)``: from ``v1`` to ``v2`` about ``axis`` ``(b, 3) -> (b,)``."""
    p1 = v1 - axis * (v1 * axis).sum(-1, keepdim=True)
    p2 = v2 - axis * (v2 * axis).sum(-1, keepdim=True)
    c = torch.cross(p1, p2, dim=-1)
    ang = torch.atan2(torch.linalg.vector_norm(c, dim=-1), (p1 * p2).sum(-1))
    return torch.where((c * axis).sum(-1) > 0, 2.0 * math.pi - ang, ang)  # Blender signs by cross(v2, v1)


def _arc_points(n: int, a, b, c, offset, invert: bool):
    """The three-point arc: ``n`` positions ``(b, n, 3)``, center ``(b, 3)``, Z-up normal ``(b, 3)``, radius ``(b,)``."""
    a, b, c = torch.broadcast_tensors(_vec(a), _vec(b), _vec(c))
    off = _flt(offset).squeeze(-1)
    t = torch.arange(n, dtype=a.dtype, device=a.device).reshape(1, -1, 1)
    normal, _ = normalize(torch.cross(a - c, c - b, dim=-1))
    # colinear (normalized directions from a equal or opposite), coincident points or two points: a line
    d1, _ = normalize(b - a)
    d2, _ = normalize(c - a)
    same = lambda u, v: (u == v).all(-1)
    line = same(d1, d2) | same(d1, -d2) | same(a, c) | same(a, b) | same(b, c) | torch.full_like(same(a, b), n == 2)
    ab, ac, bc = ((a - b) ** 2).sum(-1), ((a - c) ** 2).sum(-1), ((b - c) ** 2).sum(-1)
    first_ab = (ab > ac) & (ab > bc)
    first_bc = ~first_ab & (bc > ab) & (bc > ac)
    p1 = torch.where(first_bc.unsqueeze(-1), b, a)
    p2 = torch.where(first_ab.unsqueeze(-1), b, c)
    step = 1.0 / (n - 1)
    line_pos = p1.unsqueeze(1) + (p2 - p1).unsqueeze(1) * (t * step)
    # the circle through the three points (its center: the circumcenter in their plane)
    u, v = b - a, c - a
    w = torch.cross(u, v, dim=-1)
    ww = (w * w).sum(-1, keepdim=True)
    ww = torch.where(line.unsqueeze(-1), torch.ones_like(ww), ww)
    center = a + (torch.cross(w, u, dim=-1) * (v * v).sum(-1, keepdim=True)
                  + torch.cross(v, w, dim=-1) * (u * u).sum(-1, keepdim=True)) / (2.0 * ww)
    rad_a, _ = normalize(a - center)
    rad_b, _ = normalize(b - center)
    rad_c, _ = normalize(c - center)
    radius = torch.linalg.vector_norm(center - b, dim=-1)
    ang_ab, ang_ac = _arc_angle(rad_a, rad_b, normal), _arc_angle(rad_a, rad_c, normal)
    angle = torch.where(ang_ac > ang_ab, ang_ac, ang_ab)
    if invert:
        angle = -(2.0 * math.pi - angle)
    theta = (angle / (n - 1)).reshape(-1, 1) * t.reshape(1, -1) + off.reshape(-1, 1)
    bsz = int(theta.shape[0])
    arc_pos = center.unsqueeze(1) + rotate_about(rad_a.unsqueeze(1).expand(bsz, n, 3), (-normal).unsqueeze(1).expand(bsz, n, 3),
                                                theta) * radius.reshape(-1, 1, 1)
    lin = line.reshape(-1, 1, 1)
    pos = torch.where(lin, line_pos, arc_pos)
    center = torch.where(line.unsqueeze(-1), (a + c) * 0.5, center)
    radius = torch.where(line, torch.zeros_like(radius), radius)
    normal = torch.where((normal[..., 2:] < 0), -normal, normal)
    return pos, center, normal, radius


@node("GeometryNodeCurveArc", outputs=("Curve", "Center", "Normal", "Radius"), props=("mode",), pure=False, label="Arc",
      modes={"mode": ("RADIUS", "POINTS")}, grad="yes", notes="Connect Center and Invert Arc shared by the batch")
def arc(mode: str = "RADIUS", resolution=16, start=(-1.0, 0.0, 0.0), middle=(0.0, 2.0, 0.0), end=(1.0, 0.0, 0.0), radius=1.0,
        start_angle=0.0, sweep_angle=1.75 * math.pi, offset_angle=0.0, connect_center=False, invert_arc=False):
    """Arc: a POLY curve of ``resolution`` points (at least 2) on a circle; RADIUS: ``radius`` about the origin in
    the XY plane from ``start_angle`` sweeping ``sweep_angle`` (``-(2 pi - sweep)`` inverted); POINTS: the
    circle through ``start``, ``middle`` and ``end`` from the start (rotated by ``offset_angle``), Blender's way
    (a straight line between the two farthest points when they are colinear or coincide). Connect Center
    adds the center as a last point and closes the curve. Outputs (POINTS): the center, the plane's
    normal turned to +Z and the radius."""
    n = max(int(rt.static(resolution, "Arc Resolution")), 2)
    rt.check_size(n + 1, f"Arc ({n:,} points)")
    center_pt = bool(rt.static(connect_center, "Arc Connect Center"))
    invert = bool(rt.static(invert_arc, "Arc Invert Arc"))
    if mode == "POINTS":
        pos, center, normal, r = _arc_points(n, start, middle, end, offset_angle, invert)
    else:
        c = rt.current()
        sweep = _flt(sweep_angle)
        if invert:
            sweep = -(2.0 * math.pi - sweep)
        theta = (sweep / float(n - 1)) * torch.arange(n, dtype=c.dtype, device=c.device).reshape(1, -1) + _flt(start_angle)
        rr = _flt(radius)
        pos = torch.stack([rr * torch.cos(theta), rr * torch.sin(theta), torch.zeros_like(rr * theta)], -1)
        center = torch.zeros((1, 3), dtype=pos.dtype, device=pos.device)
        normal, r = center, 0.0
    if center_pt:
        pos = torch.cat([pos, center.unsqueeze(1).expand(pos.shape[0], 1, 3)], 1)
    if mode != "POINTS":
        return GeometrySet(curves=make_curve(pos, cyclic=center_pt)), (0.0, 0.0, 0.0), (0.0, 0.0, 0.0), 0.0
    return GeometrySet(curves=make_curve(pos, cyclic=center_pt)), center, normal, r


@node("GeometryNodeCurveSpiral", outputs=("Curve",), pure=False, label="Spiral", grad="yes",
      notes="the point count (from Rotations) is shared by the batch")
def spiral(resolution=32, rotations=2.0, start_radius=1.0, end_radius=2.0, height=2.0, reverse=False):
    """Spiral: a POLY curve of ``n + 1`` points, ``n = max(int(resolution * rotations), 1)`` (float32), turning
    ``rotations`` times about +Z (clockwise; counter-clockwise with Reverse) from ``start_radius`` to
    ``end_radius`` while rising ``height``; no curve when ``rotations <= 0``."""
    res = max(int(rt.static(resolution, "Spiral Resolution")), 1)
    rot = _flt(rotations).clamp(min=0.0)
    r32 = rot.detach().to(torch.float32)
    if bool((r32 == 0).all()):
        return GeometrySet()
    n = int(rt.static((r32 * res).trunc().long().clamp(min=1).reshape(-1) * (r32.reshape(-1) != 0), "the Spiral's point count"))
    rt.check_size(n + 1, f"Spiral ({n:,} points)")
    rev = bool(rt.static(reverse, "Spiral Reverse"))
    i = torch.arange(n + 1, dtype=rot.dtype, device=rot.device).reshape(1, -1)
    theta = i * ((2.0 * math.pi) * rot / n * (1.0 if rev else -1.0))
    r = _flt(start_radius) + i * ((_flt(end_radius) - _flt(start_radius)) / n)
    z = i * (_flt(height) / n)
    b = max(int(theta.shape[0]), int(r.shape[0]), int(z.shape[0]))
    pos = torch.stack([(r * torch.cos(theta)).expand(b, -1), (r * torch.sin(theta)).expand(b, -1), z.expand(b, -1)], -1)
    return GeometrySet(curves=make_curve(pos))


@node("GeometryNodeCurveStar", outputs=("Curve", "Outer Points"), pure=False, label="Star", grad="yes",
      notes="Outer Points: a boolean field (anonymous point attribute)")
def star(points=8, inner_radius=1.0, outer_radius=2.0, twist=0.0):
    """Star: a cyclic POLY curve of ``2 * points`` points (``points`` at least 3) alternating between the outer
    circle (angle ``i * 2 pi / points``) and the inner one (half a step further, plus ``twist``); radii below
    zero count as zero. Outer Points: a field that is true on the outer points."""
    n = max(int(rt.static(points, "Star Points")), 3)
    rt.check_size(2 * n, f"Star ({n:,} points)")
    c = rt.current()
    step = _f32(2.0 * math.pi / n)
    i = torch.arange(n, dtype=c.dtype, device=c.device).reshape(1, -1)
    ro, ri = _flt(outer_radius).clamp(min=0.0), _flt(inner_radius).clamp(min=0.0)
    t_in = i * step + step * 0.5 + _flt(twist)
    b = max(int(ro.shape[0]), int(ri.shape[0]), int(t_in.shape[0]))
    outer = torch.stack([ro * torch.cos(i * step), ro * torch.sin(i * step), torch.zeros_like(ro * i)], -1).expand(b, -1, -1)
    inner = torch.stack([ri * torch.cos(t_in), ri * torch.sin(t_in), torch.zeros_like(ri * t_in)], -1).expand(b, -1, -1)
    pos = torch.stack([outer, inner], 2).reshape(b, 2 * n, 3)
    curves = make_curve(pos, cyclic=True)
    name = f".star_outer_{next(_ANONYMOUS)}"
    sel = (torch.arange(2 * n, device=c.device) % 2 == 0).unsqueeze(0)
    curves.attributes[name] = Attribute("POINT", sel, "BOOLEAN")
    return GeometrySet(curves=curves), rt.attribute_field(name, "BOOLEAN")
