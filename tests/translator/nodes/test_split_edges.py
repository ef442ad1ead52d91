"""Split Edges: Blender parity of the new vertices (fans around each vertex), the edges (their order and
``(low, high)`` rewrite, through Edge Vertices stored on them), loose edges, attributes; selections;
batched like single evaluations; float64 gradcheck."""

from __future__ import annotations

import pytest
import torch

from tests.fixtures.parity import Tree, check_parity, requires_bpy, split_values, translate_object
from translator import runtime as rt
from translator.nodes import split_edges as SE
from translator.nodes.primitives import mesh_cube


def _program(kind: str, selected: bool):
    t = Tree()
    join = t.node("GeometryNodeJoinGeometry")
    if kind == "cube":
        t.link((t.node("GeometryNodeMeshCube", **{"Vertices X": 3, "Vertices Y": 2, "Vertices Z": 2}), "Mesh"), join, "Geometry")
    elif kind == "grid":
        t.link((t.node("GeometryNodeMeshGrid", **{"Vertices X": 4, "Vertices Y": 3}), "Mesh"), join, "Geometry")
        t.link((t.node("GeometryNodeMeshLine", Count=4, Offset=(0.1, 0.2, 0.3)), "Mesh"), join, "Geometry")
    else:
        t.link((t.node("GeometryNodeMeshCylinder", Vertices=5, fill_type="TRIANGLE_FAN"), "Mesh"), join, "Geometry")
    src = (join, "Geometry")
    for name, domain, dt in (("pos_p", "POINT", "FLOAT_VECTOR"), ("idx_e", "EDGE", "FLOAT"), ("idx_c", "CORNER", "FLOAT")):
        st = t.node("GeometryNodeStoreNamedAttribute", data_type=dt, domain=domain, Name=name)
        t.link(src, st, "Geometry")
        t.link(t.node("GeometryNodeInputPosition") if domain == "POINT" else t.node("GeometryNodeInputIndex"), st, "Value")
        src = (st, "Geometry")
    se = t.node("GeometryNodeSplitEdges")
    t.link(src, se, "Mesh")
    if selected:
        mod = t.node("ShaderNodeMath", operation="FLOORED_MODULO")
        t.link(t.node("GeometryNodeInputIndex"), mod, "Value")
        t.link(t.input("Every", "NodeSocketFloat", 3.0), mod, "Value_001")
        cmp = t.node("FunctionNodeCompare", data_type="FLOAT", operation="EQUAL", B=0.0)
        t.link((mod, "Value"), cmp, "A")
        t.link((cmp, "Result"), se, "Selection")
    out = (se, "Mesh")
    ev = t.node("GeometryNodeInputMeshEdgeVertices")
    for sock, name in (("Vertex Index 1", "ev1"), ("Vertex Index 2", "ev2")):
        st = t.node("GeometryNodeStoreNamedAttribute", data_type="INT", domain="EDGE", Name=name)
        t.link(out, st, "Geometry")
        t.link((ev, sock), st, "Value")
        out = (st, "Geometry")
    sp = t.node("GeometryNodeSetPosition")
    t.link(out, sp, "Geometry")
    t.link(t.position_times(t.input("K", "NodeSocketFloat", 1.0)), sp, "Position")
    t.output((sp, "Geometry"))
    return t.object()


@requires_bpy
@pytest.mark.parametrize("selected", [False, True])
@pytest.mark.parametrize("kind", ["cube", "grid", "cone"])
def test_split_edges_parity(kind, selected):
    obj = _program(kind, selected)
    sets = [{"K": 1.0}, {"K": 0.5}]
    if selected:
        sets = [s | {"Every": e} for s in sets for e in (2.0, 3.0, 4.0, 7.0)]
    assert check_parity(obj, sets, attributes=["pos_p", "idx_e", "idx_c", "ev1", "ev2"]) == len(sets)


@requires_bpy
def test_split_edges_batch_equals_singles():
    module = translate_object(_program("cube", True))
    ks = torch.tensor([1.0, 0.5, 2.0], dtype=torch.float64)
    batch = module.program({}, {"K": ks, "Every": torch.full((3,), 3.0, dtype=torch.float64)})
    for i in range(3):
        single = module.program(*split_values(module, {"K": float(ks[i]), "Every": 3.0}))
        torch.testing.assert_close(batch.verts[i], single.verts[0])


def test_split_edges_gradcheck():
    with rt.eval_context(torch.float64):
        size = torch.tensor([[1.0, 2.0, 0.5]], dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda s: SE.split_edges(mesh_cube(size=s)[0]).mesh.verts, (size,))
        assert SE.split_edges(mesh_cube()[0]).mesh.num_verts == 24
