"""Reverse Curve, Subdivide Curve, Set Handle Type and Set Handle Positions on joined POLY and BEZIER curves
(open and cyclic, aligned and vector handles), with selections; point attributes carried; Blender parity,
batched like single evaluations, float64 gradchecks."""

from __future__ import annotations

import pytest
import torch

from tests.fixtures.parity import Tree, batch_and_singles, check_parity, requires_bpy, translate_object
from tests.fixtures.probes import draw_sets
from tests.translator.nodes.test_curve_trim import _main
from translator import runtime as rt
from translator.nodes import curve_ops as CO
from translator.nodes import curve_primitives as CP
from translator.nodes import curves as C
from translator.nodes.transform import join_geometry

_VALUES = {"Middle": ("vector", -1.0, 2.0), "Start Handle": ("vector", -1.5, 1.5), "Threshold": ("float", -1.0, 3.0),
           "WK": ("float", -0.3, 0.3), "WJ": ("float", -0.2, 0.2),
           "K": ("float", -0.5, 0.5)}


def _finish(t: Tree, src, attribute: bool = True):
    """Move the points by a stored index attribute (so point order and attribute transfer show), then a wire mesh
    of the evaluated curve beside a fixed anchor (the tolerance's size)."""
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
    anchor = t.node("GeometryNodeMeshLine", Count=2, Offset=(2.0, 2.0, 2.0))
    join = t.node("GeometryNodeJoinGeometry")
    t.link((c2m, "Mesh"), join, "Geometry")
    t.link((anchor, "Mesh"), join, "Geometry")
    t.output((join, "Geometry"))


def _start(t: Tree, kind: str):
    src = _main(t, kind)
    store = t.node("GeometryNodeStoreNamedAttribute", data_type="FLOAT", domain="POINT", Name="w")
    t.link(src, store, "Geometry")
    mul = t.node("ShaderNodeMath", operation="MULTIPLY")
    t.link(t.node("GeometryNodeInputIndex"), mul, "Value")
    t.link(t.input("K", "NodeSocketFloat", 0.1), mul, "Value_001")
    t.link((mul, "Value"), store, "Value")
    return (store, "Geometry")


def _sets(obj, seed: int, count: int = 5) -> list[dict]:
    names = {i.name for i in obj.modifiers[0].node_group.interface.items_tree if i.item_type == "SOCKET" and i.in_out == "INPUT"}
    return draw_sets(seed, {k: v for k, v in _VALUES.items() if k in names}, count)


@requires_bpy
@pytest.mark.parametrize("kind", ["joined", "bezier_cyclic", "fillet_open"])
def test_reverse_curve_parity(kind):
    t = Tree()
    rev = t.node("GeometryNodeReverseCurve")
    t.link(_start(t, kind), rev, "Curve")
    t.link((t.index_compare(t.input("Threshold", "NodeSocketFloat", 0.5)), "Value"), rev, "Selection")
    _finish(t, (rev, "Curve"))
    obj = t.object()
    sets = _sets(obj, 2)
    assert check_parity(obj, sets) == len(sets)


def test_reverse_curve_gradcheck():
    with rt.eval_context(torch.float64):
        def rev(h, m):
            geo = join_geometry([CP.bezier_segment(resolution=4, start_handle=h), CP.quadratic_bezier(4, middle=m)])
            return C.curves_to_wire_mesh(CO.reverse_curve(geo).curves).verts

        h = torch.tensor([[-0.5, 0.5, 0.2]], dtype=torch.float64, requires_grad=True)
        m = torch.tensor([[0.1, 1.5, 0.3]], dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(rev, (h, m))


def _wave(t: Tree, src):
    """Set Position by an index ramp: automatic handles follow the moved points."""
    wave, _ = t.wave_fields(t.input("WK", "NodeSocketFloat", 0.1), t.input("WJ", "NodeSocketFloat", 0.05))
    sp = t.node("GeometryNodeSetPosition")
    t.link(src, sp, "Geometry")
    t.link(wave, sp, "Offset")
    return (sp, "Geometry")


_SIDES = {"both": {"LEFT", "RIGHT"}, "left": {"LEFT"}, "right": {"RIGHT"}}


@requires_bpy
@pytest.mark.parametrize("sides", list(_SIDES))
@pytest.mark.parametrize("handle_type", ["FREE", "AUTO", "VECTOR", "ALIGN"])
def test_set_handle_type_parity(handle_type, sides):
    """Joined Bezier curves (aligned, vector handles) and POLY curves: the selected points' handle types set, the
    points then moved (Set Position recomputes automatic handles)."""
    t = Tree()
    st = t.node("GeometryNodeCurveSetHandles", handle_type=handle_type, mode=_SIDES[sides])
    t.link(_start(t, "joined"), st, "Curve")
    t.link((t.index_compare(t.input("Threshold", "NodeSocketFloat", 2.5)), "Value"), st, "Selection")
    _finish(t, _wave(t, (st, "Curve")), attribute=False)
    obj = t.object()
    sets = _sets(obj, 3, 3)
    sets += [sets[0] | {"Threshold": -1.0}, sets[0] | {"Threshold": 100.0}]
    assert check_parity(obj, sets) == len(sets)


@requires_bpy
@pytest.mark.parametrize("first", ["AUTO", "VECTOR", "FREE", "ALIGN"])
@pytest.mark.parametrize("side", ["LEFT", "RIGHT"])
@pytest.mark.parametrize("position", [False, True])
def test_set_handle_positions_parity(side, position, first):
    """Handles of one side moved (to a position field, or by an offset from where they are) on curves whose
    handle types were set first: AUTO pairs become ALIGN, VECTOR and lone ALIGN handles FREE."""
    t = Tree()
    st = t.node("GeometryNodeCurveSetHandles", handle_type=first, mode={"LEFT", "RIGHT"})
    t.link(_start(t, "joined"), st, "Curve")
    t.link((t.index_compare(t.input("Types", "NodeSocketFloat", 4.5), "LESS_THAN"), "Value"), st, "Selection")
    sh = t.node("GeometryNodeSetCurveHandlePositions", mode=side)
    t.link((st, "Curve"), sh, "Curve")
    t.link((t.index_compare(t.input("Threshold", "NodeSocketFloat", 1.5)), "Value"), sh, "Selection")
    if position:
        t.link(t.position_times(t.input("Scale", "NodeSocketFloat", 1.2)), sh, "Position")
    t.link(t.input("Offset", "NodeSocketVector", (0.1, 0.2, 0.3)), sh, "Offset")
    _finish(t, _wave(t, (sh, "Curve")), attribute=False)
    obj = t.object()
    sets = [s | {"Types": ty} for s in _sets(obj, 4, 2) for ty in (-1.0, 4.5, 30.0)]
    assert check_parity(obj, sets) == len(sets)


@requires_bpy
def test_handle_positions_input_after_auto_parity():
    """Curve Handle Positions read after Set Handle Type (AUTO) and a move: the handles Blender recomputed."""
    t = Tree()
    st = t.node("GeometryNodeCurveSetHandles", handle_type="AUTO", mode={"LEFT", "RIGHT"})
    t.link(_start(t, "fillet_open"), st, "Curve")
    moved = _wave(t, (st, "Curve"))
    h = t.node("GeometryNodeInputCurveHandlePositions")
    sp = t.node("GeometryNodeSetPosition")
    t.link(moved, sp, "Geometry")
    t.link((h, "Left"), sp, "Position")
    _finish(t, (sp, "Geometry"), attribute=False)
    obj = t.object()
    sets = _sets(obj, 5, 4)
    assert check_parity(obj, sets) == len(sets)


def test_handles_gradcheck():
    with rt.eval_context(torch.float64):
        def handles(h, m, o):
            geo = join_geometry([CP.bezier_segment(resolution=4, start_handle=h),
                                 C.fillet_curve(CP.quadrilateral(width=m[:, 0] + 2.0), radius=0.3, mode="Bézier")])
            geo = CO.set_handle_type("AUTO", ("LEFT",), geo, selection=True)
            geo = CO.set_handle_positions("RIGHT", geo, offset=o)
            return C.curves_to_wire_mesh(geo.curves).verts

        h = torch.tensor([[-0.5, 0.5, 0.2], [-0.4, 0.6, -0.1]], dtype=torch.float64, requires_grad=True)
        m = torch.tensor([[0.1, 1.5, 0.3], [0.2, 2.0, -0.2]], dtype=torch.float64, requires_grad=True)
        o = torch.tensor([[0.1, 0.2, 0.3]], dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(handles, (h, m, o), fast_mode=True, atol=1e-7)


@requires_bpy
@pytest.mark.parametrize("first", [None, "AUTO", "VECTOR", "FREE"])
@pytest.mark.parametrize("kind", ["joined", "bezier_cyclic", "fillet_open", "circle"])
def test_subdivide_curve_parity(kind, first):
    """Cuts from a point field (an index ramp from the inputs, negative counts included) on curves whose handle
    types may have been set first; a point attribute carried; the result moved (automatic handles follow)."""
    t = Tree()
    src = _start(t, kind)
    if first is not None:
        st = t.node("GeometryNodeCurveSetHandles", handle_type=first, mode={"LEFT", "RIGHT"})
        t.link(src, st, "Curve")
        src = (st, "Curve")
    sub = t.node("GeometryNodeSubdivideCurve")
    t.link(src, sub, "Curve")
    cuts = t.node("ShaderNodeMath", operation="MULTIPLY_ADD")
    t.link(t.node("GeometryNodeInputIndex"), cuts, "Value")
    t.link(t.input("Cut Step", "NodeSocketFloat", 1.0), cuts, "Value_001")
    t.link(t.input("Cut From", "NodeSocketFloat", 0.0), cuts, "Value_002")
    t.link((cuts, "Value"), sub, "Cuts")
    _finish(t, _wave(t, (sub, "Curve")))
    obj = t.object()
    sets = [s | {"Cut Step": a, "Cut From": b} for s in _sets(obj, 6, 2) for a, b in ((0.0, 0.0), (0.0, 3.0), (1.0, -1.0), (-1.0, 4.0))]
    assert check_parity(obj, sets) == len(sets)


@requires_bpy
def test_subdivide_curve_batch_equals_singles():
    t = Tree()
    sub = t.node("GeometryNodeSubdivideCurve", Cuts=2)
    t.link(_start(t, "joined"), sub, "Curve")
    _finish(t, _wave(t, (sub, "Curve")))
    module = translate_object(t.object())
    sets = [{"Middle": (0.1 * i, 1.5, 0.3), "Start Handle": (-0.5, 0.5 + 0.1 * i, 0.0), "K": 0.1 * i, "WK": 0.05 * i}
            for i in range(3)]
    batch, singles = batch_and_singles(module, sets)
    torch.testing.assert_close(batch, singles)


def test_subdivide_curve_gradcheck():
    with rt.eval_context(torch.float64):
        def sub(h, m):
            geo = join_geometry([CP.bezier_segment(resolution=4, start_handle=h),
                                 C.fillet_curve(CP.quadrilateral(width=m[:, 0] + 2.0), radius=0.3, mode="Bézier"),
                                 CP.quadratic_bezier(4, middle=m)])
            return C.curves_to_wire_mesh(CO.subdivide_curve(geo, cuts=2).curves).verts

        h = torch.tensor([[-0.5, 0.5, 0.2], [-0.4, 0.6, -0.1]], dtype=torch.float64, requires_grad=True)
        m = torch.tensor([[0.1, 1.5, 0.3], [0.2, 2.0, -0.2]], dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(sub, (h, m), fast_mode=True, atol=1e-7)


@requires_bpy
def test_handles_batch_equals_singles():
    t = Tree()
    st = t.node("GeometryNodeCurveSetHandles", handle_type="AUTO", mode={"LEFT"})
    t.link(_start(t, "joined"), st, "Curve")
    sh = t.node("GeometryNodeSetCurveHandlePositions", mode="RIGHT")
    t.link((st, "Curve"), sh, "Curve")
    t.link(t.input("Offset", "NodeSocketVector", (0.1, 0.2, 0.3)), sh, "Offset")
    _finish(t, _wave(t, (sh, "Curve")))
    module = translate_object(t.object())
    sets = [{"Middle": (0.1 * i, 1.5, 0.3), "Start Handle": (-0.5, 0.5 + 0.1 * i, 0.0), "K": 0.1 * i, "WK": 0.05 * i,
             "Offset": (0.1, 0.2 * i, 0.3)} for i in range(3)]
    batch, singles = batch_and_singles(module, sets)
    torch.testing.assert_close(batch, singles)


@requires_bpy
@pytest.mark.parametrize("spline_type", ["POLY", "BEZIER"])
@pytest.mark.parametrize("kind", ["joined", "circle", "fillet_open"])
def test_set_spline_type_parity(kind, spline_type):
    """The selected curves converted (POLY curves get vector handles, Bezier curves lose theirs), then moved."""
    t = Tree()
    st = t.node("GeometryNodeCurveSplineType", spline_type=spline_type)
    t.link(_start(t, kind), st, "Curve")
    t.link((t.index_compare(t.input("Threshold", "NodeSocketFloat", 0.5)), "Value"), st, "Selection")
    _finish(t, _wave(t, (st, "Curve")))
    obj = t.object()
    sets = _sets(obj, 7, 2)
    sets += [sets[0] | {"Threshold": -1.0}, sets[0] | {"Threshold": 100.0}]
    assert check_parity(obj, sets) == len(sets)


def test_set_spline_type_gradcheck():
    with rt.eval_context(torch.float64):
        def conv(h, m):
            geo = join_geometry([CP.bezier_segment(resolution=4, start_handle=h), CP.quadratic_bezier(4, middle=m)])
            return (C.curves_to_wire_mesh(CO.set_spline_type("BEZIER", geo).curves).verts,
                    C.curves_to_wire_mesh(CO.set_spline_type("POLY", geo).curves).verts)

        h = torch.tensor([[-0.5, 0.5, 0.2]], dtype=torch.float64, requires_grad=True)
        m = torch.tensor([[0.1, 1.5, 0.3]], dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(conv, (h, m))


@requires_bpy
@pytest.mark.parametrize("mode", ["Minimum Twist", "Z Up"])
def test_set_curve_normal_parity(mode):
    """Z Up (or minimum twist) normals on the selected curves, swept by a rectangle profile."""
    t = Tree()
    sn = t.node("GeometryNodeSetCurveNormal")
    sn.inputs["Mode"].default_value = mode
    t.link(_start(t, "joined"), sn, "Curve")
    t.link((t.index_compare(t.input("Threshold", "NodeSocketFloat", 0.5)), "Value"), sn, "Selection")
    c2m = t.node("GeometryNodeCurveToMesh")
    t.link(_wave(t, (sn, "Curve")), c2m, "Curve")
    t.link((t.node("GeometryNodeCurvePrimitiveQuadrilateral", Width=0.3, Height=0.1), "Curve"), c2m, "Profile Curve")
    t.output((c2m, "Mesh"))
    obj = t.object()
    sets = _sets(obj, 8, 2)
    sets += [sets[0] | {"Threshold": -1.0}, sets[0] | {"Threshold": 100.0}]
    assert check_parity(obj, sets) == len(sets)
