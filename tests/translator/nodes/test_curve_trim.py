"""Trim Curve in Factor and Length modes on open and cyclic POLY and BEZIER curves (Bezier segments, filleted
quadrilaterals with vector and aligned handles, cyclic and open), with cuts inside segments, on control points,
reversed (start after end) and wrapping around cyclic curves; a selection and point attributes carried along;
Blender parity, batched like single evaluations, float64 gradchecks."""

from __future__ import annotations

import pytest
import torch

from tests.fixtures.parity import Tree, batch_and_singles, check_parity, requires_bpy, translate_object
from tests.fixtures.probes import draw_sets
from translator import runtime as rt
from translator.nodes import curve_primitives as CP
from translator.nodes import curve_trim as CT
from translator.nodes import curves as C


def _main(t: Tree, kind: str):
    if kind == "circle":
        n = t.node("GeometryNodeCurvePrimitiveCircle", Resolution=8)
    elif kind == "quadratic":
        n = t.node("GeometryNodeCurveQuadraticBezier", Resolution=6)
        t.link(t.input("Middle", "NodeSocketVector", (0.0, 2.0, 0.0)), n, "Middle")
    elif kind in ("bezier", "bezier_cyclic"):
        n = t.node("GeometryNodeCurvePrimitiveBezierSegment", Resolution=7)
        t.link(t.input("Start Handle", "NodeSocketVector", (-0.5, 0.5, 0.0)), n, "Start Handle")
        if kind == "bezier_cyclic":
            cyc = t.node("GeometryNodeSetSplineCyclic", Cyclic=True)
            t.link((n, "Curve"), cyc, "Geometry")
            return (cyc, "Geometry")
    elif kind in ("fillet", "fillet_open"):  # a Bezier curve of 8 points, vector and aligned handles
        q = t.node("GeometryNodeCurvePrimitiveQuadrilateral", mode="TRAPEZOID")
        src = (q, "Curve")
        if kind == "fillet_open":
            cyc = t.node("GeometryNodeSetSplineCyclic", Cyclic=False)
            t.link(src, cyc, "Geometry")
            src = (cyc, "Geometry")
        n = t.node("GeometryNodeFilletCurve", Radius=0.3)
        n.inputs["Mode"].default_value = "Bézier"
        t.link(src, n, "Curve")
    else:  # joined: all of them
        join = t.node("GeometryNodeJoinGeometry")
        for k in ("fillet", "quadratic", "bezier", "circle"):
            t.link(_main(t, k), join, "Geometry")
        return (join, "Geometry")
    return (n, "Curve")


def _program(kind: str, mode: str, selection: bool = False, attribute: bool = False):
    t = Tree()
    src = _main(t, kind)
    if attribute:  # a float point attribute from the index, carried by the trim, then moving the points
        store = t.node("GeometryNodeStoreNamedAttribute", data_type="FLOAT", domain="POINT", Name="w")
        t.link(src, store, "Geometry")
        t.link(t.node("GeometryNodeInputIndex"), store, "Value")
        src = (store, "Geometry")
    trim = t.node("GeometryNodeTrimCurve", mode=mode)
    t.link(src, trim, "Curve")
    ids = ("Start", "End") if mode == "FACTOR" else ("Start_001", "End_001")
    t.link(t.input("Start", "NodeSocketFloat", 0.0), trim, ids[0])
    t.link(t.input("End", "NodeSocketFloat", 1.0), trim, ids[1])
    if selection:
        t.link((t.index_compare(t.input("Threshold", "NodeSocketFloat", 0.5)), "Value"), trim, "Selection")
    src = (trim, "Curve")
    if attribute:
        read = t.node("GeometryNodeInputNamedAttribute", data_type="FLOAT", Name="w")
        xyz = t.node("ShaderNodeCombineXYZ")
        t.link((read, "Attribute"), xyz, "Z")
        sp = t.node("GeometryNodeSetPosition")
        t.link(src, sp, "Geometry")
        t.link((xyz, "Vector"), sp, "Offset")
        src = (sp, "Geometry")
    c2m = t.node("GeometryNodeCurveToMesh")
    t.link(src, c2m, "Curve")
    anchor = t.node("GeometryNodeMeshLine", Count=2, Offset=(2.0, 2.0, 2.0))  # the size of the tolerance
    join = t.node("GeometryNodeJoinGeometry")
    t.link((c2m, "Mesh"), join, "Geometry")
    t.link((anchor, "Mesh"), join, "Geometry")
    t.output((join, "Geometry"))
    return t.object()


_CUTS = [(0.0, 1.0), (0.5, 0.5), (0.25, 0.75), (0.75, 0.25), (1.0, 0.0), (0.0, 0.0), (1.0, 1.0), (0.125, 0.875),
         (0.5, 1.0), (0.3, 0.31), (0.31, 0.3), (-0.5, 2.0), (0.9, 0.1)]


def _sets(obj, mode: str, seed: int, count: int = 10) -> list[dict]:
    names = {i.name for i in obj.modifiers[0].node_group.interface.items_tree if i.item_type == "SOCKET" and i.in_out == "INPUT"}
    hi = 1.2 if mode == "FACTOR" else 6.0
    spec = {"Start": ("float", -0.2, hi), "End": ("float", -0.2, hi), "Middle": ("vector", -1.0, 2.0),
            "Start Handle": ("vector", -1.5, 1.5), "Threshold": ("float", -1.0, 3.0)}
    scale = 1.0 if mode == "FACTOR" else 3.0
    extra = [{"Start": a * scale, "End": b * scale} for a, b in _CUTS]
    return draw_sets(seed, {k: v for k, v in spec.items() if k in names}, count, extra)


_KINDS = ["circle", "quadratic", "bezier", "bezier_cyclic", "fillet", "fillet_open", "joined"]


@requires_bpy
@pytest.mark.parametrize("mode", ["FACTOR", "LENGTH"])
@pytest.mark.parametrize("kind", _KINDS)
def test_trim_curve_parity(kind, mode):
    obj = _program(kind, mode)
    sets = _sets(obj, mode, 3)
    assert check_parity(obj, sets) == len(sets)


@requires_bpy
@pytest.mark.parametrize("mode", ["FACTOR", "LENGTH"])
def test_trim_curve_selection_and_attributes_parity(mode):
    obj = _program("joined", mode, selection=True, attribute=True)
    sets = _sets(obj, mode, 4)
    assert check_parity(obj, sets) == len(sets)


@requires_bpy
def test_trim_curve_batch_equals_singles():
    obj = _program("joined", "FACTOR")
    module = translate_object(obj)
    sets = [{"Start": s, "End": e, "Middle": (0.1, 1.5, 0.3), "Start Handle": (-0.5, 0.5, 0.0)}
            for s, e in ((0.1, 0.8), (0.1001, 0.8002), (0.0999, 0.7999))]
    batch, singles = batch_and_singles(module, sets)
    torch.testing.assert_close(batch, singles)


@pytest.mark.parametrize("mode", ["FACTOR", "LENGTH"])
def test_trim_curve_gradcheck(mode):
    with rt.eval_context(torch.float64):
        def trim(h, s, e):
            geo = C.fillet_curve(CP.quadrilateral("TRAPEZOID"), radius=0.3, mode="Bézier")
            geo = CT.trim_curve(mode, geo, start=s, end=e, start_001=s, end_001=e)
            bez = CT.trim_curve(mode, CP.bezier_segment(resolution=5, start_handle=h), start=s, end=e, start_001=s, end_001=e)
            return C.curves_to_wire_mesh(geo.curves).verts, C.curves_to_wire_mesh(bez.curves).verts

        k = 1.0 if mode == "FACTOR" else 2.0
        h = torch.tensor([[-0.5, 0.5, 0.2], [-0.45, 0.55, 0.1]], dtype=torch.float64, requires_grad=True)
        s = torch.tensor([0.13, 0.131], dtype=torch.float64, requires_grad=True) * k
        e = torch.tensor([0.71, 0.712], dtype=torch.float64, requires_grad=True) * k
        assert torch.autograd.gradcheck(trim, (h, s.detach().requires_grad_(), e.detach().requires_grad_()))
