"""Curve field inputs (Curve Tangent, Curve Tilt, Radius, Curve Handle Positions, Spline Length, Endpoint
Selection, Points of Curve, Curve of Point) and Curve Length on joined POLY, BEZIER and cyclic curves: the
values become the points' positions (POINT domain) or are stored on the CURVE domain and read back; Blender
parity, batched like single evaluations, float64 gradchecks."""

from __future__ import annotations

import pytest
import torch

from tests.fixtures.parity import Tree, batch_and_singles, check_parity, requires_bpy, translate_object
from tests.fixtures.probes import draw_sets
from translator import runtime as rt
from translator.nodes import curve_fields as CF
from translator.nodes import curve_primitives as CP
from translator.nodes import curves as C
from translator.nodes.fields import curves_context, evaluate
from translator.nodes.transform import join_geometry


def joined(t: Tree):
    """A Bezier segment (resolution 5), an open quadratic (POLY) and a cyclic circle, joined; radius and tilt
    set on the points from the index (so the fields have values to read)."""
    bez = t.node("GeometryNodeCurvePrimitiveBezierSegment", Resolution=5)
    t.link(t.input("Start Handle", "NodeSocketVector", (-0.5, 0.5, 0.0)), bez, "Start Handle")
    t.link(t.input("End", "NodeSocketVector", (1.0, 0.0, 0.0)), bez, "End")
    quad = t.node("GeometryNodeCurveQuadraticBezier", Resolution=4)
    t.link(t.input("Middle", "NodeSocketVector", (0.0, 2.0, 0.0)), quad, "Middle")
    circle = t.node("GeometryNodeCurvePrimitiveCircle", Resolution=5)
    t.link(t.input("Radius", "NodeSocketFloat", 1.0), circle, "Radius")
    join = t.node("GeometryNodeJoinGeometry")
    for n in (circle, quad, bez):
        t.link((n, "Curve"), join, "Geometry")
    src = (join, "Geometry")
    k = t.input("K", "NodeSocketFloat", 0.3)
    for node_type, sock in (("GeometryNodeSetCurveRadius", "Radius"), ("GeometryNodeSetCurveTilt", "Tilt")):
        mul = t.node("ShaderNodeMath", operation="MULTIPLY")
        t.link(t.node("GeometryNodeInputIndex"), mul, "Value")
        t.link(k, mul, "Value_001")
        s = t.node(node_type)
        t.link(src, s, "Curve")
        t.link((mul, "Value"), s, sock)
        src = (s, "Curve")
    return src


_VALUES = {"Start Handle": ("vector", -1.5, 1.5), "End": ("vector", -1.0, 2.0), "Middle": ("vector", -1.0, 2.0),
           "Radius": ("float", 0.5, 2.0), "K": ("float", -0.5, 0.5)}


def _field(t: Tree, name: str):
    """The vector field under test (scalars as X, Y)."""
    xyz = t.node("ShaderNodeCombineXYZ")
    if name == "tangent":
        return (t.node("GeometryNodeInputTangent"), "Tangent")
    if name == "normal":
        return (t.node("GeometryNodeInputNormal"), "Normal")
    if name in ("left", "right", "left_rel", "right_rel"):
        h = t.node("GeometryNodeInputCurveHandlePositions", Relative=name.endswith("_rel"))
        return (h, "Left" if name.startswith("left") else "Right")
    if name == "tilt_radius":
        t.link((t.node("GeometryNodeInputCurveTilt"), "Tilt"), xyz, "X")
        t.link((t.node("GeometryNodeInputRadius"), "Radius"), xyz, "Y")
    elif name == "spline_length":
        sl = t.node("GeometryNodeSplineLength")
        t.link((sl, "Length"), xyz, "X")
        t.link((sl, "Point Count"), xyz, "Y")
    elif name == "points_of_curve":
        poc = t.node("GeometryNodePointsOfCurve")
        t.link(t.input("Sort", "NodeSocketInt", 1), poc, "Sort Index")
        t.link((t.node("GeometryNodeInputPosition"), "Position"), (sep := t.node("ShaderNodeSeparateXYZ")), "Vector")
        t.link((sep, "Y"), poc, "Weights")
        t.link((poc, "Point Index"), xyz, "X")
        t.link((poc, "Total"), xyz, "Y")
        poc2 = t.node("GeometryNodePointsOfCurve")  # a curve index out of range and one from the input
        t.link(t.input("Curve", "NodeSocketInt", 1), poc2, "Curve Index")
        t.link((poc2, "Point Index"), xyz, "Z")
    elif name == "cyclic_resolution":
        t.link((t.node("GeometryNodeInputSplineCyclic"), "Cyclic"), xyz, "X")
        t.link((t.node("GeometryNodeInputSplineResolution"), "Resolution"), xyz, "Y")
    elif name == "offset_point":
        op = t.node("GeometryNodeOffsetPointInCurve")
        t.link(t.input("Shift", "NodeSocketInt", 0), op, "Offset")
        t.link((op, "Is Valid Offset"), xyz, "X")
        t.link((op, "Point Index"), xyz, "Y")
    elif name == "curve_of_point":
        cop = t.node("GeometryNodeCurveOfPoint")
        add = t.node("ShaderNodeMath", operation="ADD")
        t.link(t.node("GeometryNodeInputIndex"), add, "Value")
        t.link(t.input("Shift", "NodeSocketInt", 0), add, "Value_001")
        t.link((add, "Value"), cop, "Point Index")
        t.link((cop, "Curve Index"), xyz, "X")
        t.link((cop, "Index in Curve"), xyz, "Y")
    return (xyz, "Vector")


def _program(name: str, domain: str):
    t = Tree()
    src = joined(t)
    if domain == "CURVE":  # stored per curve, read back on the points
        store = t.node("GeometryNodeStoreNamedAttribute", data_type="FLOAT_VECTOR", domain="CURVE", Name="v")
        t.link(src, store, "Geometry")
        t.link(_field(t, name), store, "Value")
        src = (store, "Geometry")
        value = (t.node("GeometryNodeInputNamedAttribute", data_type="FLOAT_VECTOR", Name="v"), "Attribute")
    else:
        value = _field(t, name)
    sp = t.node("GeometryNodeSetPosition")
    t.link(src, sp, "Geometry")
    t.link(value, sp, "Offset")
    c2m = t.node("GeometryNodeCurveToMesh")
    t.link((sp, "Geometry"), c2m, "Curve")
    t.output((c2m, "Mesh"))
    return t.object()


def _sets(obj, seed: int, count: int = 4) -> list[dict]:
    names = {i.name for i in obj.modifiers[0].node_group.interface.items_tree if i.item_type == "SOCKET" and i.in_out == "INPUT"}
    sets = draw_sets(seed, {k: v for k, v in _VALUES.items() if k in names}, count)
    if "Sort" in names:
        sets = [s | {"Sort": k, "Curve": c} for s in sets for k, c in ((0, 1), (1, 2), (-1, 5), (7, 0))]
    if "Shift" in names:
        sets = [s | {"Shift": k} for s in sets for k in (0, 3, -1, 40)]
    return sets


_FIELDS = ["tangent", "normal", "left", "right", "left_rel", "right_rel", "tilt_radius", "spline_length", "points_of_curve",
           "curve_of_point", "cyclic_resolution", "offset_point"]


@requires_bpy
@pytest.mark.parametrize("domain", ["POINT", "CURVE"])
@pytest.mark.parametrize("name", _FIELDS)
def test_curve_field_parity(name, domain):
    obj = _program(name, domain)
    sets = _sets(obj, 11)
    assert check_parity(obj, sets) == len(sets)


@requires_bpy
@pytest.mark.parametrize("domain", ["POINT", "CURVE"])
def test_endpoint_selection_parity(domain):
    """Endpoint sizes from the inputs (negative, zero, overlapping) select the points that move up; on the CURVE
    domain a curve is selected when all its points are."""
    t = Tree()
    src = joined(t)
    ep = t.node("GeometryNodeCurveEndpointSelection")
    t.link(t.input("Start Size", "NodeSocketInt", 1), ep, "Start Size")
    t.link(t.input("End Size", "NodeSocketInt", 1), ep, "End Size")
    if domain == "CURVE":
        store = t.node("GeometryNodeStoreNamedAttribute", data_type="BOOLEAN", domain="CURVE", Name="s")
        t.link(src, store, "Geometry")
        t.link((ep, "Selection"), store, "Value")
        src = (store, "Geometry")
        sel = (t.node("GeometryNodeInputNamedAttribute", data_type="BOOLEAN", Name="s"), "Attribute")
    else:
        sel = (ep, "Selection")
    sp = t.node("GeometryNodeSetPosition", Offset=(0.0, 0.0, 1.0))
    t.link(src, sp, "Geometry")
    t.link(sel, sp, "Selection")
    c2m = t.node("GeometryNodeCurveToMesh")
    t.link((sp, "Geometry"), c2m, "Curve")
    t.output((c2m, "Mesh"))
    sets = [{"Start Size": a, "End Size": b} for a in (-1, 0, 1, 3) for b in (0, 2, 9)]
    assert check_parity(t.object(), sets) == len(sets)


@requires_bpy
@pytest.mark.parametrize("domain", ["POINT", "CURVE"])
@pytest.mark.parametrize("sides", ["left", "right", "both"])
def test_handle_type_selection_parity(sides, domain):
    """Handle types set on part of the points (one side), then Handle Type Selection for each type selects the
    points that move up (stored on the CURVE domain and read back in the second case)."""
    t = Tree()
    st = t.node("GeometryNodeCurveSetHandles", handle_type="AUTO", mode={"LEFT"})
    t.link(joined(t), st, "Curve")
    t.link((t.index_compare(t.input("Threshold", "NodeSocketFloat", 1.5)), "Value"), st, "Selection")
    src = (st, "Curve")
    modes = {"left": {"LEFT"}, "right": {"RIGHT"}, "both": {"LEFT", "RIGHT"}}[sides]
    for k, ht in enumerate(("FREE", "AUTO", "VECTOR", "ALIGN")):
        sel = (t.node("GeometryNodeCurveHandleTypeSelection", handle_type=ht, mode=modes), "Selection")
        if domain == "CURVE":
            store = t.node("GeometryNodeStoreNamedAttribute", data_type="BOOLEAN", domain="CURVE", Name=f"s{k}")
            t.link(src, store, "Geometry")
            t.link(sel, store, "Value")
            src = (store, "Geometry")
            sel = (t.node("GeometryNodeInputNamedAttribute", data_type="BOOLEAN", Name=f"s{k}"), "Attribute")
        sp = t.node("GeometryNodeSetPosition", Offset=(0.0, 0.0, 0.5 * (k + 1)))
        t.link(src, sp, "Geometry")
        t.link(sel, sp, "Selection")
        src = (sp, "Geometry")
    c2m = t.node("GeometryNodeCurveToMesh")
    t.link(src, c2m, "Curve")
    t.output((c2m, "Mesh"))
    obj = t.object()
    sets = _sets(obj, 12, 2)
    sets = [s | {"Threshold": th} for s in sets for th in (-1.0, 1.5, 50.0)]
    assert check_parity(obj, sets) == len(sets)


@requires_bpy
def test_curve_length_parity():
    """Curve Length of the joined curves (after a Transform, so the Bezier handles move) scales a Mesh Line."""
    t = Tree()
    tr = t.node("GeometryNodeTransform", Scale=(1.0, 2.0, 0.5))
    t.link(joined(t), tr, "Geometry")
    cl = t.node("GeometryNodeCurveLength")
    t.link((tr, "Geometry"), cl, "Curve")
    xyz = t.node("ShaderNodeCombineXYZ")
    t.link((cl, "Length"), xyz, "X")
    line = t.node("GeometryNodeMeshLine", Count=3)
    t.link((xyz, "Vector"), line, "Offset")
    t.output((line, "Mesh"))
    obj = t.object()
    sets = _sets(obj, 5, 6)
    assert check_parity(obj, sets) == len(sets)


@requires_bpy
def test_curve_fields_batch_equals_singles():
    obj = _program("tangent", "CURVE")
    module = translate_object(obj)
    sets = _sets(obj, 8, 4)
    batch, singles = batch_and_singles(module, sets)
    torch.testing.assert_close(batch, singles)


def test_curve_fields_gradcheck():
    with rt.eval_context(torch.float64):
        def curves(h, m):
            geo = join_geometry([CP.bezier_segment(resolution=4, start_handle=h), CP.quadratic_bezier(4, middle=m)])
            return C.set_curve_tilt(C.set_curve_radius(geo, radius=m[:, 0:1].reshape(-1)), tilt=h[:, 1])

        def read(h, m):
            geo = curves(h, m)
            out = []
            for dom in ("POINT", "CURVE"):
                fctx = curves_context(geo.curves, dom)
                out += [evaluate(CF.curve_tangent(), fctx, "VECTOR"), evaluate(CF.curve_tilt(), fctx, "VALUE"),
                        evaluate(CF.radius(), fctx, "VALUE"), *(evaluate(f, fctx, "VECTOR") for f in CF.handle_positions(True)),
                        evaluate(CF.spline_length()[0], fctx, "VALUE")]
            return (*out, CF.curve_length(geo))

        h = torch.tensor([[-0.5, 0.5, 0.2], [0.3, 0.8, -0.1]], dtype=torch.float64, requires_grad=True)
        m = torch.tensor([[0.1, 1.5, 0.3], [0.2, 2.0, -0.2]], dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(read, (h, m), fast_mode=True, atol=1e-7)
