"""Subdivide Mesh: Blender parity of vertex, edge (through Edge Vertices stored on them) and face order and of
positions, on displaced quads at levels 0 to 3 and on triangles and n-gons at level 1; face attributes;
batched like single evaluations; float64 gradcheck; refusals."""

from __future__ import annotations

import pytest
import torch

from tests.fixtures.parity import Tree, check_parity, requires_bpy, split_values, translate_object
from translator import runtime as rt
from translator.nodes import subdivide as SD
from translator.nodes.primitives import mesh_cube, mesh_cylinder


def _program(kind: str):
    t = Tree()
    if kind == "grid":
        src = (t.node("GeometryNodeMeshGrid", **{"Vertices X": 3, "Vertices Y": 2}), "Mesh")
    elif kind == "cube":
        src = (t.node("GeometryNodeMeshCube", **{"Vertices X": 3, "Vertices Y": 2, "Vertices Z": 2}), "Mesh")
    elif kind == "fan":
        src = (t.node("GeometryNodeMeshCylinder", Vertices=5, fill_type="TRIANGLE_FAN"), "Mesh")
    else:
        src = (t.node("GeometryNodeMeshCylinder", Vertices=6, fill_type="NGON"), "Mesh")
    rv = t.node("FunctionNodeRandomValue", data_type="FLOAT_VECTOR", Min=(-0.2, -0.2, -0.2), Max=(0.2, 0.2, 0.2))
    sp = t.node("GeometryNodeSetPosition")
    t.link(src, sp, "Geometry")
    t.link((rv, "Value"), sp, "Offset")
    st = t.node("GeometryNodeStoreNamedAttribute", data_type="FLOAT", domain="FACE", Name="idx_f")
    t.link((sp, "Geometry"), st, "Geometry")
    t.link(t.node("GeometryNodeInputIndex"), st, "Value")
    stp = t.node("GeometryNodeStoreNamedAttribute", data_type="FLOAT_VECTOR", domain="POINT", Name="pos_p")
    t.link((st, "Geometry"), stp, "Geometry")
    t.link(t.node("GeometryNodeInputPosition"), stp, "Value")
    sub = t.node("GeometryNodeSubdivideMesh")
    t.link((stp, "Geometry"), sub, "Mesh")
    t.link(t.input("Level", "NodeSocketInt", 1), sub, "Level")
    out = (sub, "Mesh")
    ev = t.node("GeometryNodeInputMeshEdgeVertices")
    for sock, name in (("Vertex Index 1", "ev1"), ("Vertex Index 2", "ev2")):
        st2 = t.node("GeometryNodeStoreNamedAttribute", data_type="INT", domain="EDGE", Name=name)
        t.link(out, st2, "Geometry")
        t.link((ev, sock), st2, "Value")
        out = (st2, "Geometry")
    sp2 = t.node("GeometryNodeSetPosition")
    t.link(out, sp2, "Geometry")
    t.link(t.position_times(t.input("K", "NodeSocketFloat", 1.0)), sp2, "Position")
    t.output((sp2, "Geometry"))
    return t.object()


@requires_bpy
@pytest.mark.parametrize("kind,levels", [("grid", (0, 1, 2, 3)), ("cube", (1, 2)), ("fan", (1,)), ("ngon", (1,))])
def test_subdivide_parity(kind, levels):
    obj = _program(kind)
    sets = [{"Level": lv, "K": k} for lv in levels for k in (1.0, 0.6)]
    assert check_parity(obj, sets, attributes=["idx_f", "pos_p", "ev1", "ev2"]) == len(sets)


@requires_bpy
def test_subdivide_batch_equals_singles():
    module = translate_object(_program("cube"))
    ks = torch.tensor([1.0, 0.5, 2.0], dtype=torch.float64)
    batch = module.program({"Level": 2}, {"K": ks})
    for i in range(3):
        single = module.program(*split_values(module, {"Level": 2, "K": float(ks[i])}))
        torch.testing.assert_close(batch.verts[i], single.verts[0])


def test_subdivide_gradcheck_and_refusals():
    with rt.eval_context(torch.float64):
        size = torch.tensor([[1.0, 2.0, 0.5]], dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda s: SD.subdivide_mesh(mesh_cube(size=s)[0], level=2).mesh.verts, (size,))
        with pytest.raises(ValueError, match="level 1"):
            SD.subdivide_mesh(mesh_cylinder(vertices=6, fill_type="NGON")[0], level=2)
