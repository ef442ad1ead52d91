"""Curve field inputs and measurements: Curve Tangent, Curve Tilt, Radius, Curve Handle Positions, Spline
Length, Endpoint Selection, Points of Curve, Curve of Point, Is Spline Cyclic, Spline Resolution, Handle Type
Selection, Offset Point in Curve, and the Curve Length node.

Fields are evaluated on a context (:class:`translator.runtime.FieldContext`); on a curves context they read
the curves' POINT or CURVE domain as Blender does (``node_geo_input_tangent.cc``,
``node_geo_curve_handle_positions.cc``, ``node_geo_input_spline_length.cc``,
``node_geo_curve_endpoint_selection.cc``, ``node_geo_curve_topology_*.cc``): point values read on the CURVE
domain are averaged per curve, curve values read on the POINT domain
are their curve's. On other geometry they give Blender's defaults (zeros; false). Values are ``(b, N)`` or
``(b, N, 3)`` for the ``N`` elements of the context's domain. Checked against Blender in
``tests/translator/nodes/test_curve_fields.py``.
"""

from __future__ import annotations

from typing import Any

import torch

from .. import runtime as rt
from ..geometry import CurvesBatch
from . import node
from .curve_eval import curve_lengths, evaluated_normals, evaluated_positions, evaluated_tangents, evaluation
from .fields import curve_point_mean, evaluate, index

__all__ = [
    "curve_length",
    "curve_of_point",
    "curve_tangent",
    "curve_tilt",
    "endpoint_selection",
    "handle_positions",
    "handle_type_selection",
    "is_spline_cyclic",
    "offset_point_in_curve",
    "point_normals",
    "point_tangents",
    "points_of_curve",
    "radius",
    "spline_length",
    "spline_lengths",
    "spline_resolution",
]


def _curve_of(curves: CurvesBatch) -> torch.Tensor:
    """``(P,)`` the curve of each point."""
    sizes = curves.curve_offsets[1:] - curves.curve_offsets[:-1]
    return torch.repeat_interleave(torch.arange(curves.num_curves, device=sizes.device), sizes)


def _zeros(fctx: rt.FieldContext, *shape: int, dtype=None) -> torch.Tensor:
    c = rt.current()
    return torch.zeros((1, fctx.size, *shape), dtype=dtype or c.dtype, device=c.device)


def _point_field(fn, type: str, label: str, attribute: str | None = None) -> rt.Field:
    """A field of per-point values ``fn(curves) (b, P, ...)``: averaged per curve on the CURVE domain; off curves
    the named ``attribute`` (meshes, point clouds) or zeros."""

    def read(fctx: rt.FieldContext) -> torch.Tensor:
        if fctx.curves is None:
            if attribute is not None:
                return rt.attribute_field(attribute, type).fn(fctx)
            return _zeros(fctx, *((3,) if type == "VECTOR" else ()))
        values = fn(fctx.curves)
        return values if fctx.domain == "POINT" else curve_point_mean(fctx.curves, values)

    return rt.Field(read, type, label=label)


def _curve_field(fn, type: str, label: str) -> rt.Field:
    """A field of per-curve values ``fn(curves) (b, S)``: each point reads its curve's."""

    def read(fctx: rt.FieldContext) -> torch.Tensor:
        if fctx.curves is None:
            return _zeros(fctx, dtype={"INT": torch.long, "BOOLEAN": torch.bool}.get(type))
        values = fn(fctx.curves)
        return values if fctx.domain == "CURVE" else values[:, _curve_of(fctx.curves)]

    return rt.Field(read, type, label=label)


# ---------------------------------------------------------------------------
# Tangent, tilt, radius, handles


def point_tangents(curves: CurvesBatch) -> torch.Tensor:
    """Unit tangents at the control points ``(b, P, 3)``: the evaluated tangents at each point's evaluated
    point (a Bezier curve's first point takes the first evaluated tangent)."""
    ev = evaluation(curves)
    tan = evaluated_tangents(curves, evaluated_positions(curves, ev), ev)
    return tan[:, ev.control_at]


def point_normals(curves: CurvesBatch) -> torch.Tensor:
    """Unit normals at the control points ``(b, P, 3)`` (minimum twist or Z up, tilted), read like the tangents."""
    ev = evaluation(curves)
    tan = evaluated_tangents(curves, evaluated_positions(curves, ev), ev)
    return evaluated_normals(curves, tan, ev)[:, ev.control_at]


@node("GeometryNodeInputTangent", outputs=("Tangent",), pure=False, label="Curve Tangent", grad="yes",
      notes="POLY and BEZIER curves; zeros on other geometry")
def curve_tangent():
    """Curve Tangent: the direction of the curve at each control point (a point field)."""
    return _point_field(point_tangents, "VECTOR", "curve tangent")


def _attribute(name: str, default: float):
    def fn(curves: CurvesBatch) -> torch.Tensor:
        a = curves.attributes.get(name)
        if a is None or a.domain != "POINT":
            c = rt.current()
            return torch.full((1, curves.num_points), default, dtype=c.dtype, device=c.device)
        return a.data if a.data.dtype.is_floating_point else a.data.to(rt.current().dtype)

    return fn


@node("GeometryNodeInputCurveTilt", outputs=("Tilt",), pure=False, label="Curve Tilt", grad="yes")
def curve_tilt():
    """Curve Tilt: the points' ``tilt`` attribute (radians; 0 where never set)."""
    return _point_field(_attribute("tilt", 0.0), "VALUE", "curve tilt", "tilt")


@node("GeometryNodeInputRadius", outputs=("Radius",), pure=False, label="Radius", grad="yes",
      notes="curve and point cloud points, mesh attributes (0 where never set, as in Blender)")
def radius():
    """Radius: the points' ``radius`` attribute (0 where never set, as Blender reads it)."""
    return _point_field(_attribute("radius", 0.0), "VALUE", "radius", "radius")


def _handles(left: bool, relative: bool):
    def fn(curves: CurvesBatch) -> torch.Tensor:
        h = curves.handle_left if left else curves.handle_right
        if h is None:
            h = torch.zeros_like(curves.positions)
        return h - curves.positions if relative else h

    return fn


@node("GeometryNodeInputCurveHandlePositions", outputs=("Left", "Right"), pure=False, label="Curve Handle Positions",
      grad="yes", notes="Relative as a single value; zeros for points without handles")
def handle_positions(relative=False):
    """Curve Handle Positions: the left and right Bezier handle positions of each point (relative to the point
    with Relative); POLY points have handles at the origin."""
    rel = bool(rt.static(relative, "Curve Handle Positions Relative"))
    return (_point_field(_handles(True, rel), "VECTOR", "left handle"),
            _point_field(_handles(False, rel), "VECTOR", "right handle"))


# ---------------------------------------------------------------------------
# Lengths


def spline_lengths(curves: CurvesBatch) -> torch.Tensor:
    """Each curve's evaluated length ``(b, S)`` (a cyclic curve's closing segment included)."""
    ev = evaluation(curves)
    return curve_lengths(evaluated_positions(curves, ev), ev, curves.cyclic)[0]


def _point_counts(curves: CurvesBatch) -> torch.Tensor:
    return (curves.curve_offsets[1:] - curves.curve_offsets[:-1]).unsqueeze(0)


@node("GeometryNodeSplineLength", outputs=("Length", "Point Count"), pure=False, label="Spline Length", grad="yes")
def spline_length():
    """Spline Length: each curve's length and number of points (curve fields)."""
    return _curve_field(spline_lengths, "VALUE", "spline length"), _curve_field(_point_counts, "INT", "point count")


@node("GeometryNodeCurveLength", outputs=("Length",), pure=False, label="Curve Length", grad="yes",
      notes="the curves of the geometry itself (not of its instances)")
def curve_length(curve=None):
    """Curve Length: the summed length of the geometry's curves ``(b,)`` (0 without curves)."""
    curves = curve.curves if curve is not None else None
    if curves is None or curves.num_curves == 0:
        return 0.0
    return spline_lengths(curves).sum(1)


# ---------------------------------------------------------------------------
# Endpoint selection and topology


def _endpoints(start_size: Any, end_size: Any):
    def read(fctx: rt.FieldContext) -> torch.Tensor:
        curves = fctx.curves
        if curves is None or fctx.domain != "POINT":  # Blender's field has no CURVE domain values: false
            return torch.zeros((1, fctx.size), dtype=torch.bool, device=rt.current().device)
        cctx = rt.FieldContext(domain="CURVE", size=curves.num_curves, curves=curves)
        start = evaluate(start_size, cctx, "INT").clamp(min=0)
        end = evaluate(end_size, cctx, "INT").clamp(min=0)
        curve_of = _curve_of(curves)
        local = torch.arange(curves.num_points, device=curve_of.device) - curves.curve_offsets[:-1][curve_of]
        n = _point_counts(curves)[:, curve_of]
        return (local.unsqueeze(0) < start[:, curve_of]) | (local.unsqueeze(0) >= n - end[:, curve_of])

    return read


@node("GeometryNodeCurveEndpointSelection", outputs=("Selection",), pure=False, label="Endpoint Selection")
def endpoint_selection(start_size=1, end_size=1):
    """Endpoint Selection: true for the first ``start_size`` and the last ``end_size`` points of each curve
    (sizes are curve fields; negative sizes count as zero); false on the CURVE domain, as in Blender."""
    return rt.Field(_endpoints(start_size, end_size), "BOOLEAN", label="endpoint selection")


def _points_of(curve_index: Any, weights: Any, sort_index: Any, total: bool):
    def read(fctx: rt.FieldContext) -> torch.Tensor:
        curves = fctx.curves
        if curves is None:
            return torch.zeros((1, fctx.size), dtype=torch.long, device=rt.current().device)
        ci = evaluate(index() if curve_index is None else curve_index, fctx, "INT")
        valid = (ci >= 0) & (ci < curves.num_curves)
        safe = torch.where(valid, ci, torch.zeros_like(ci))
        counts = _point_counts(curves)[0]
        n = counts[safe]
        if total:
            return torch.where(valid, n, torch.zeros_like(n))
        k = evaluate(sort_index, fctx, "INT")
        k = torch.remainder(k, n.clamp(min=1))
        pctx = rt.FieldContext(domain="POINT", size=curves.num_points, curves=curves)
        w = evaluate(weights, pctx, "VALUE").detach()
        # stable order of each curve's points by weight: sort by (curve, weight, index)
        curve_of = _curve_of(curves)
        order = torch.stack([torch.argsort(wb, stable=True) for wb in w])  # by weight
        order = torch.stack([o[torch.argsort(curve_of[o], stable=True)] for o in order])  # then by curve, stably
        b = max(int(order.shape[0]), int(ci.shape[0]), int(k.shape[0]))
        pos = (curves.curve_offsets[:-1][safe] + k).expand(b, -1)
        point = torch.gather(order.expand(b, -1), 1, pos)
        return torch.where(valid, point, torch.zeros_like(point))

    return read


@node("GeometryNodePointsOfCurve", outputs=("Point Index", "Total"), pure=False, implicit=("curve_index",),
      label="Points of Curve", notes="weights sort the points stably; the sort index wraps")
def points_of_curve(curve_index=None, weights=0.0, sort_index=0):
    """Points of Curve: the point of curve ``curve_index`` (default: the context's index) at ``sort_index``
    (wrapped) when its points are sorted stably by ``weights`` (a point field); ``Total``: its number of
    points (0 for a curve index out of range)."""
    return (rt.Field(_points_of(curve_index, weights, sort_index, False), "INT", label="points of curve"),
            rt.Field(_points_of(curve_index, weights, sort_index, True), "INT", label="curve point count"))


def _curve_of_point(point_index: Any, local: bool):
    def read(fctx: rt.FieldContext) -> torch.Tensor:
        curves = fctx.curves
        if curves is None:
            return torch.zeros((1, fctx.size), dtype=torch.long, device=rt.current().device)
        pi = evaluate(index() if point_index is None else point_index, fctx, "INT")
        valid = (pi >= 0) & (pi < curves.num_points)
        safe = torch.where(valid, pi, torch.zeros_like(pi))
        c = _curve_of(curves)[safe]
        out = safe - curves.curve_offsets[:-1][c] if local else c
        return torch.where(valid, out, torch.zeros_like(out))

    return read


@node("GeometryNodeCurveOfPoint", outputs=("Curve Index", "Index in Curve"), pure=False, implicit=("point_index",),
      label="Curve of Point")
def curve_of_point(point_index=None):
    """Curve of Point: the curve of point ``point_index`` (default: the context's index) and the point's index
    in it (0 for an index out of range)."""
    return (rt.Field(_curve_of_point(point_index, False), "INT", label="curve of point"),
            rt.Field(_curve_of_point(point_index, True), "INT", label="index in curve"))


# ---------------------------------------------------------------------------
# Curve properties as fields: Is Spline Cyclic, Spline Resolution, Handle Type Selection, Offset Point in Curve


@node("GeometryNodeInputSplineCyclic", outputs=("Cyclic",), pure=False, label="Is Spline Cyclic")
def is_spline_cyclic():
    """Is Spline Cyclic: whether each curve is closed (a curve field)."""
    return _curve_field(lambda c: torch.tensor([c.cyclic], dtype=torch.bool, device=c.positions.device), "BOOLEAN",
                        "spline cyclic")


@node("GeometryNodeInputSplineResolution", outputs=("Resolution",), pure=False, label="Spline Resolution")
def spline_resolution():
    """Spline Resolution: each curve's resolution (a curve field)."""
    return _curve_field(lambda c: torch.tensor([c.resolution], dtype=torch.long, device=c.positions.device), "INT",
                        "spline resolution")


def _handle_type_selection(handle_type: str, sides: list[str]):
    value = ("FREE", "AUTO", "VECTOR", "ALIGN").index(handle_type)

    def read(fctx: rt.FieldContext) -> torch.Tensor:
        curves = fctx.curves
        dev = rt.current().device
        if curves is None or curves.handle_type_left is None or fctx.domain != "POINT":  # none on CURVE, as in Blender
            return torch.zeros((1, fctx.size), dtype=torch.bool, device=dev)
        bez = torch.tensor([t == "BEZIER" for t in curves.types], dtype=torch.bool, device=dev)[_curve_of(curves)]
        sel = torch.zeros(curves.num_points, dtype=torch.bool, device=dev)
        if "LEFT" in sides:
            sel = sel | (curves.handle_type_left == value)
        if "RIGHT" in sides:
            sel = sel | (curves.handle_type_right == value)
        sel = (sel & bez).unsqueeze(0)
        return sel

    return read


def _check_selection_sides(n) -> str | None:
    mode = n.properties.get("mode")
    sides = list(mode) if isinstance(mode, (list, tuple)) else [mode]
    if not sides or any(s not in ("LEFT", "RIGHT") for s in sides):
        return f"Handle Type Selection mode {mode!r} is not supported"
    if n.properties.get("handle_type") not in ("FREE", "AUTO", "VECTOR", "ALIGN"):
        return f"Handle Type Selection handle type {n.properties.get('handle_type')!r} is not supported"
    return None


@node("GeometryNodeCurveHandleTypeSelection", outputs=("Selection",), props=("handle_type", "mode"), pure=False,
      check=_check_selection_sides, label="Handle Type Selection",
      modes={"handle_type": ("FREE", "AUTO", "VECTOR", "ALIGN"), "mode": ("LEFT", "RIGHT")})
def handle_type_selection(handle_type: str = "AUTO", mode=("LEFT", "RIGHT")):
    """Handle Type Selection: the points of Bezier curves whose left and/or right handle has ``handle_type``."""
    sides = list(mode) if isinstance(mode, (list, tuple)) else [mode]
    return rt.Field(_handle_type_selection(handle_type, sides), "BOOLEAN", label="handle type selection")


def _offset_point(point_index: Any, offset: Any, valid_out: bool):
    def read(fctx: rt.FieldContext) -> torch.Tensor:
        curves = fctx.curves
        dev = rt.current().device
        if curves is None or curves.num_points == 0:
            return torch.zeros((1, fctx.size), dtype=torch.bool if valid_out else torch.long, device=dev)
        pi = evaluate(index() if point_index is None else point_index, fctx, "INT")
        off = evaluate(offset, fctx, "INT")
        pi, off = torch.broadcast_tensors(pi, off)
        last = curves.num_points - 1
        ok = (pi >= 0) & (pi <= last)
        point = pi.clamp(0, last)
        c = _curve_of(curves)[point]
        first = curves.curve_offsets[:-1][c]
        n = _point_counts(curves)[0][c]
        cyc = torch.tensor([bool(x) for x in curves.cyclic], dtype=torch.bool, device=dev)[c]
        shifted = point + off
        if valid_out:
            return ok & (cyc | ((shifted >= first) & (shifted < first + n)))
        return torch.where(cyc, first + torch.remainder(shifted - first, n), shifted.clamp(0, last))

    return read


@node("GeometryNodeOffsetPointInCurve", outputs=("Is Valid Offset", "Point Index"), pure=False, implicit=("point_index",),
      label="Offset Point in Curve", notes="cyclic curves wrap; off an open curve the offset is invalid")
def offset_point_in_curve(point_index=None, offset=0):
    """Offset Point in Curve: the point ``offset`` places after ``point_index`` (default: the context's index,
    clamped to the points), wrapping around cyclic curves, else clamped to all points; valid when the index
    exists and the offset stays in an open curve."""
    return (rt.Field(_offset_point(point_index, offset, True), "BOOLEAN", label="offset point valid"),
            rt.Field(_offset_point(point_index, offset, False), "INT", label="offset point index"))
