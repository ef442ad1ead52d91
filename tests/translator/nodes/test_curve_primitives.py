"""Curve primitives (Curve Line, Curve Circle, Quadrilateral, Quadratic Bezier, Bezier Segment) in every
mode: Blender parity of the evaluated points (through Curve to Mesh without a profile), batched like single
evaluations; float64 gradchecks."""

from __future__ import annotations

import pytest
import torch

from tests.fixtures.parity import Tree, batch_and_singles, check_parity, requires_bpy, split_values, translate_object
from tests.fixtures.probes import draw_sets
from translator import runtime as rt
from translator.nodes import curve_primitives as CP
from translator.nodes import curves as C

_PRIMS = {
    # bl_idname, mode, {socket: interface type}, value spec
    "line_points": ("GeometryNodeCurvePrimitiveLine", "POINTS", {"Start": "V", "End": "V"}),
    "line_direction": ("GeometryNodeCurvePrimitiveLine", "DIRECTION", {"Start": "V", "Direction": "V", "Length": "F"}),
    "circle": ("GeometryNodeCurvePrimitiveCircle", "RADIUS", {"Resolution": "I", "Radius": "F"}),
    "circle_points": ("GeometryNodeCurvePrimitiveCircle", "POINTS", {"Resolution": "I", "Point 1": "V", "Point 2": "V",
                                                                      "Point 3": "V"}),
    "rectangle": ("GeometryNodeCurvePrimitiveQuadrilateral", "RECTANGLE", {"Width": "F", "Height": "F"}),
    "parallelogram": ("GeometryNodeCurvePrimitiveQuadrilateral", "PARALLELOGRAM", {"Width": "F", "Height": "F", "Offset": "F"}),
    "trapezoid": ("GeometryNodeCurvePrimitiveQuadrilateral", "TRAPEZOID",
                  {"Bottom Width": "F", "Top Width": "F", "Height": "F", "Offset": "F"}),
    "kite": ("GeometryNodeCurvePrimitiveQuadrilateral", "KITE", {"Width": "F", "Bottom Height": "F", "Top Height": "F"}),
    "quad_points": ("GeometryNodeCurvePrimitiveQuadrilateral", "POINTS",
                    {"Point 1": "V", "Point 2": "V", "Point 3": "V", "Point 4": "V"}),
    "quadratic": ("GeometryNodeCurveQuadraticBezier", None, {"Resolution": "I", "Start": "V", "Middle": "V", "End": "V"}),
    "bezier_position": ("GeometryNodeCurvePrimitiveBezierSegment", "POSITION",
                        {"Resolution": "I", "Start": "V", "Start Handle": "V", "End Handle": "V", "End": "V"}),
    "bezier_offset": ("GeometryNodeCurvePrimitiveBezierSegment", "OFFSET",
                      {"Resolution": "I", "Start": "V", "Start Handle": "V", "End Handle": "V", "End": "V"}),
    "arc_radius": ("GeometryNodeCurveArc", "RADIUS", {"Resolution": "I", "Radius": "F", "Start Angle": "F", "Sweep Angle": "F",
                                                       "Connect Center": "B", "Invert Arc": "B"}),
    "arc_points": ("GeometryNodeCurveArc", "POINTS", {"Resolution": "I", "Start": "V", "Middle": "V", "End": "V",
                                                       "Offset Angle": "F", "Connect Center": "B", "Invert Arc": "B"}),
    "spiral": ("GeometryNodeCurveSpiral", None, {"Resolution": "I", "Rotations": "F", "Start Radius": "F", "End Radius": "F",
                                                 "Height": "F", "Reverse": "B"}),
    "star": ("GeometryNodeCurveStar", None, {"Points": "I", "Inner Radius": "F", "Outer Radius": "F", "Twist": "F"}),
}
_SOCKET = {"V": "NodeSocketVector", "F": "NodeSocketFloat", "I": "NodeSocketInt", "B": "NodeSocketBool"}
_SPEC = {"V": ("vector", -2, 2), "F": ("float", -2, 3), "I": ("choice", [1, 2, 3, 5, 8, 16]), "B": ("bool",)}


def _program(name: str):
    bl, mode, inputs = _PRIMS[name]
    t = Tree()
    n = t.node(bl, **({"mode": mode} if mode else {}))
    for ident, kind in inputs.items():
        t.link(t.input(ident, _SOCKET[kind]), n, ident)
    c2m = t.node("GeometryNodeCurveToMesh")
    t.link((n, "Curve"), c2m, "Curve")
    t.output((c2m, "Mesh"))
    return t.object()


def _sets(name: str, seed: int) -> list[dict]:
    _, _, inputs = _PRIMS[name]
    spec = {k: _SPEC[v] for k, v in inputs.items()}
    if name == "circle":
        spec["Resolution"] = ("choice", [1, 2, 3, 4, 7, 32, 100])
    extra = [{"Direction": (0.0, 0.0, 0.0)}] if name == "line_direction" else []
    if name == "spiral":
        spec["Rotations"] = ("float", -0.5, 3.0)
        extra = [{"Rotations": 0.0}, {"Rotations": 0.01}]
    if name == "circle_points":  # colinear points: no curve
        extra = [{"Point 1": (0.0, 0.0, 0.0), "Point 2": (1.0, 1.0, 0.0), "Point 3": (2.0, 2.0, 0.0)}]
    if name == "arc_points":  # colinear and coincident points: a line between the farthest two
        extra = [{"Start": (0.0, 0.0, 0.0), "Middle": (1.0, 1.0, 0.0), "End": (2.0, 2.0, 0.0)},
                 {"Start": (0.0, 0.0, 0.0), "Middle": (1.0, 1.0, 0.0), "End": (0.0, 0.0, 0.0)},
                 {"Start": (0.0, 0.0, 0.0), "Middle": (3.0, 0.0, 0.0), "End": (1.0, 0.0, 0.0), "Resolution": 5},
                 {"Start": (1.0, 0.0, 0.0), "Middle": (0.0, 1.0, 0.0), "End": (-1.0, 0.0, 0.0), "Resolution": 9}]
    return draw_sets(seed, spec, 10, extra)


@requires_bpy
@pytest.mark.parametrize("name", list(_PRIMS))
def test_curve_primitive_parity(name):
    obj = _program(name)
    module = translate_object(obj)
    sets = _sets(name, 5)
    assert check_parity(obj, sets, module) == len(sets)


@requires_bpy
def test_arc_outputs_parity():
    """The three-point Arc's Center, Normal and Radius outputs (points of the probe mesh beside the arc)."""
    t = Tree()
    n = t.node("GeometryNodeCurveArc", mode="POINTS", Resolution=6)
    for ident in ("Start", "Middle", "End"):
        t.link(t.input(ident, "NodeSocketVector"), n, ident)
    join = t.node("GeometryNodeJoinGeometry")
    c2m = t.node("GeometryNodeCurveToMesh")
    t.link((n, "Curve"), c2m, "Curve")
    t.link((c2m, "Mesh"), join, "Geometry")
    xyz = t.node("ShaderNodeCombineXYZ")
    t.link((n, "Radius"), xyz, "X")
    for src in ((n, "Center"), (n, "Normal"), (xyz, "Vector")):
        pt = t.node("GeometryNodeMeshLine", Count=1)
        t.link(src, pt, "Start Location")
        t.link((pt, "Mesh"), join, "Geometry")
    t.output((join, "Geometry"))
    sets = draw_sets(3, {k: ("vector", -2, 2) for k in ("Start", "Middle", "End")}, 8,
                     [{"Start": (0.0, 0.0, 0.0), "Middle": (1.0, 1.0, 1.0), "End": (2.0, 2.0, 2.0)},
                      {"Start": (1.0, 0.0, 0.0), "Middle": (0.0, -1.0, 0.0), "End": (-1.0, 0.0, 0.0)}])
    assert check_parity(t.object(), sets) == len(sets)


@requires_bpy
def test_circle_center_parity():
    """The three-point Curve Circle's Center output (a point of the probe mesh beside the circle)."""
    t = Tree()
    n = t.node("GeometryNodeCurvePrimitiveCircle", mode="POINTS", Resolution=7)
    for ident in ("Point 1", "Point 2", "Point 3"):
        t.link(t.input(ident, "NodeSocketVector"), n, ident)
    join = t.node("GeometryNodeJoinGeometry")
    c2m = t.node("GeometryNodeCurveToMesh")
    t.link((n, "Curve"), c2m, "Curve")
    t.link((c2m, "Mesh"), join, "Geometry")
    pt = t.node("GeometryNodeMeshLine", Count=1)
    t.link((n, "Center"), pt, "Start Location")
    t.link((pt, "Mesh"), join, "Geometry")
    t.output((join, "Geometry"))
    sets = draw_sets(4, {k: ("vector", -2, 2) for k in ("Point 1", "Point 2", "Point 3")}, 8,
                     [{"Point 1": (0.0, 0.0, 0.0), "Point 2": (1.0, 1.0, 1.0), "Point 3": (2.0, 2.0, 2.0)}])
    assert check_parity(t.object(), sets) == len(sets)


@requires_bpy
def test_star_outer_points_parity():
    """Star's Outer Points selection moves the outer points up (Set Position), then the star is swept."""
    t = Tree()
    n = t.node("GeometryNodeCurveStar")
    t.link(t.input("Points", "NodeSocketInt", 5), n, "Points")
    t.link(t.input("Twist", "NodeSocketFloat", 0.0), n, "Twist")
    sp = t.node("GeometryNodeSetPosition", Offset=(0.0, 0.0, 0.5))
    t.link((n, "Curve"), sp, "Geometry")
    t.link((n, "Outer Points"), sp, "Selection")
    c2m = t.node("GeometryNodeCurveToMesh")
    t.link((sp, "Geometry"), c2m, "Curve")
    t.output((c2m, "Mesh"))
    sets = [{"Points": p, "Twist": tw} for p in (3, 5, 11) for tw in (0.0, 0.4)]
    assert check_parity(t.object(), sets) == len(sets)


@requires_bpy
@pytest.mark.parametrize("name", ["circle", "trapezoid", "bezier_offset", "arc_points", "star"])
def test_curve_primitive_batch_equals_singles(name):
    module = translate_object(_program(name))
    sets = [s for s in _sets(name, 9)]
    discrete = split_values(module, sets[0])[0]
    sets = [{**s, **{k: sets[0][k] for k in discrete}} for s in sets]
    batch, singles = batch_and_singles(module, sets)
    torch.testing.assert_close(batch, singles)


def test_curve_primitive_gradcheck():
    def wire(geo):
        return C.curves_to_wire_mesh(geo.curves).verts

    g = torch.Generator().manual_seed(2)
    v = lambda: torch.randn((2, 3), generator=g, dtype=torch.float64).requires_grad_()
    f = lambda: (torch.rand(2, generator=g, dtype=torch.float64) + 0.5).requires_grad_()
    with rt.eval_context(torch.float64):
        assert torch.autograd.gradcheck(lambda a, b: wire(CP.curve_line("POINTS", a, b)), (v(), v()))
        assert torch.autograd.gradcheck(lambda a, d, n: wire(CP.curve_line("DIRECTION", a, direction=d, length=n)), (v(), v(), f()))
        assert torch.autograd.gradcheck(lambda r: wire(CP.curve_circle(resolution=5, radius=r)[0]), (f(),))

        def circle3(a, b, c):
            geo, center = CP.curve_circle("POINTS", 6, a, b, c)
            return wire(geo), center

        assert torch.autograd.gradcheck(circle3, (v(), v(), v()))
        for mode in ("RECTANGLE", "PARALLELOGRAM", "TRAPEZOID", "KITE"):
            assert torch.autograd.gradcheck(lambda w, h, mode=mode: wire(CP.quadrilateral(mode, width=w, height=h, top_width=w,
                                                                               bottom_height=h)), (f(), f()))
        assert torch.autograd.gradcheck(lambda a, b, c: wire(CP.quadratic_bezier(4, a, b, c)), (v(), v(), v()))
        assert torch.autograd.gradcheck(lambda a, b, c, d: wire(CP.bezier_segment("OFFSET", 5, a, b, c, d)), (v(), v(), v(), v()))
        for inv in (False, True):
            assert torch.autograd.gradcheck(lambda r, s, w, inv=inv: wire(CP.arc("RADIUS", 7, radius=r, start_angle=s, sweep_angle=w,
                                                                                connect_center=True, invert_arc=inv)[0]),
                                            (f(), f(), f()))

            def arc_pts(a, b, c, o, inv=inv):
                geo, center, normal, radius = CP.arc("POINTS", 6, a, b, c, offset_angle=o, connect_center=True, invert_arc=inv)
                return wire(geo), center, normal, radius

            assert torch.autograd.gradcheck(arc_pts, (v(), v(), v(), f()))
        assert torch.autograd.gradcheck(lambda r, a, b, h: wire(CP.spiral(5, r, a, b, h)),
                                        (torch.tensor([1.3, 1.35], dtype=torch.float64, requires_grad=True), f(), f(), f()))
        assert torch.autograd.gradcheck(lambda a, b, t: wire(CP.star(5, a, b, t)[0]), (f(), f(), f()))


def test_rectangle_corners_equal_their_formula():
    """RECTANGLE's corners as one product of the half sizes with the corner signs: ``(+-w/2, +-h/2, 0)`` in Blender's
    order bit for bit, negative sizes as 0, a constant width with a batched height broadcast."""
    with rt.eval_context(torch.float64):
        w = torch.tensor([0.5, 0.0, 1.3], dtype=torch.float64)
        h = torch.tensor([0.2, 0.7, -0.1], dtype=torch.float64)
        ww, hh = w.clamp(min=0).reshape(-1, 1), h.clamp(min=0).reshape(-1, 1)
        ref = torch.stack([torch.cat([x, y, torch.zeros_like(x)], 1)
                           for x, y in [(ww / 2, hh / 2), (-ww / 2, hh / 2), (-ww / 2, -hh / 2), (ww / 2, -hh / 2)]], 1)
        assert torch.equal(CP.quadrilateral(width=w, height=h).curves.positions, ref)
        assert torch.equal(CP.quadrilateral(width=0.5, height=h).curves.positions, CP.quadrilateral(width=torch.full((3,), 0.5, dtype=torch.float64), height=h).curves.positions)
