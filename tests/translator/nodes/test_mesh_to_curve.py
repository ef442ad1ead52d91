"""Mesh to Curve (edges): Blender parity of the chains and loops (point order, cyclic curves: swept with a
profile so that both show in the mesh), selections, point attributes; batched like single evaluations;
float64 gradcheck."""

from __future__ import annotations

import pytest
import torch

from tests.fixtures.parity import Tree, check_parity, requires_bpy, split_values, translate_object
from translator import runtime as rt
from translator.nodes import mesh_to_curve as MC
from translator.nodes.primitives import mesh_grid


def _program(kind: str, selected: bool, mode: str = "EDGES"):
    t = Tree()
    join = t.node("GeometryNodeJoinGeometry")
    if kind == "grid":
        t.link((t.node("GeometryNodeMeshGrid", **{"Vertices X": 4, "Vertices Y": 3}), "Mesh"), join, "Geometry")
    else:
        t.link((t.node("GeometryNodeMeshCylinder", Vertices=6, fill_type="NONE"), "Mesh"), join, "Geometry")
        t.link((t.node("GeometryNodeMeshLine", Count=4, Offset=(0.2, 0.3, 0.1)), "Mesh"), join, "Geometry")
    sp = t.node("GeometryNodeSetPosition")
    t.link((join, "Geometry"), sp, "Geometry")
    t.link(t.position_times(t.input("K", "NodeSocketFloat", 1.0)), sp, "Position")
    st = t.node("GeometryNodeStoreNamedAttribute", data_type="FLOAT", domain="POINT", Name="w")
    t.link((sp, "Geometry"), st, "Geometry")
    t.link(t.node("GeometryNodeInputIndex"), st, "Value")
    m2c = t.node("GeometryNodeMeshToCurve", mode=mode)
    t.link((st, "Geometry"), m2c, "Mesh")
    if selected:
        mod = t.node("ShaderNodeMath", operation="FLOORED_MODULO")
        t.link(t.node("GeometryNodeInputIndex"), mod, "Value")
        t.link(t.input("Every", "NodeSocketFloat", 3.0), mod, "Value_001")
        cmp = t.node("FunctionNodeCompare", data_type="FLOAT", operation="NOT_EQUAL", B=0.0)
        t.link((mod, "Value"), cmp, "A")
        t.link((cmp, "Result"), m2c, "Selection")
    # the curve's points move by their attribute, then a small profile sweeps them
    lift = t.node("ShaderNodeCombineXYZ")
    t.link((t.node("GeometryNodeInputNamedAttribute", data_type="FLOAT", Name="w"), "Attribute"), lift, "Z")
    sp2 = t.node("GeometryNodeSetPosition")
    t.link((m2c, "Curve"), sp2, "Geometry")
    t.link((lift, "Vector"), sp2, "Offset")
    c2m = t.node("GeometryNodeCurveToMesh")
    t.link((sp2, "Geometry"), c2m, "Curve")
    t.link((t.node("GeometryNodeCurvePrimitiveCircle", Resolution=3, Radius=0.05), "Curve"), c2m, "Profile Curve")
    t.output((c2m, "Mesh"))
    return t.object()


@requires_bpy
@pytest.mark.parametrize("mode", ["EDGES", "FACES"])
@pytest.mark.parametrize("selected", [False, True])
@pytest.mark.parametrize("kind", ["grid", "tube"])
def test_mesh_to_curve_parity(kind, selected, mode):
    obj = _program(kind, selected, mode)
    sets = [{"K": k} for k in (1.0, 0.5)]
    if selected:
        sets = [s | {"Every": e} for s in sets for e in (2.0, 3.0, 5.0)]
    assert check_parity(obj, sets) == len(sets)


@requires_bpy
def test_mesh_to_curve_batch_equals_singles():
    module = translate_object(_program("tube", True))
    ks = torch.tensor([1.0, 0.5, 2.0], dtype=torch.float64)
    batch = module.program({}, {"K": ks, "Every": torch.full((3,), 3.0, dtype=torch.float64)})
    for i in range(3):
        single = module.program(*split_values(module, {"K": float(ks[i]), "Every": 3.0}))
        torch.testing.assert_close(batch.verts[i], single.verts[0])


def test_chains_and_gradcheck():
    points, starts, first_cyclic = MC.edge_chains(6, [(0, 1), (1, 2), (3, 4), (4, 5), (5, 3)])
    assert (points, starts, first_cyclic) == ([0, 1, 2, 3, 4, 5], [0, 3], 1)
    with rt.eval_context(torch.float64):
        size = torch.tensor([1.5], dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(
            lambda s: MC.mesh_to_curve(mesh_grid(size_x=s, vertices_x=3, vertices_y=2)[0]).curves.positions, (size,))
