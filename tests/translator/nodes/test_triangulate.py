"""Triangulate (every Quad Method, selections): Blender parity of faces, corner order, the edges (their order,
through Edge Vertices stored on them) and attributes on every domain, on displaced quads; batched like single
evaluations; float64 gradcheck; selected n-gons raise."""

from __future__ import annotations

import pytest
import torch

from tests.fixtures.parity import Tree, check_parity, requires_bpy, split_values, translate_object
from tests.fixtures.probes import draw_sets
from translator import runtime as rt
from translator.nodes import triangulate as TR
from translator.nodes.primitives import mesh_cube, mesh_cylinder

_ATTRS = [("pos_p", "POINT", "FLOAT_VECTOR"), ("idx_e", "EDGE", "FLOAT"), ("idx_f", "FACE", "INT"), ("idx_c", "CORNER", "FLOAT")]


def _program(method: str, selected: bool):
    t = Tree()
    join = t.node("GeometryNodeJoinGeometry")
    t.link((t.node("GeometryNodeMeshGrid", **{"Vertices X": 4, "Vertices Y": 3}), "Mesh"), join, "Geometry")
    t.link((t.node("GeometryNodeMeshCube", **{"Vertices X": 3, "Vertices Y": 2, "Vertices Z": 2}), "Mesh"), join, "Geometry")
    t.link((t.node("GeometryNodeMeshCone", fill_type="TRIANGLE_FAN", Vertices=5), "Mesh"), join, "Geometry")
    src = t.jittered((join, "Geometry"))
    for name, domain, dt in _ATTRS:
        st = t.node("GeometryNodeStoreNamedAttribute", data_type=dt, domain=domain, Name=name)
        t.link(src, st, "Geometry")
        t.link(t.node("GeometryNodeInputPosition") if domain == "POINT" else t.node("GeometryNodeInputIndex"), st, "Value")
        src = (st, "Geometry")
    tri = t.node("GeometryNodeTriangulate", **{"Quad Method": method})
    t.link(src, tri, "Mesh")
    if selected:
        t.link((t.index_compare(t.input("Threshold", "NodeSocketFloat", 3.0)), "Value"), tri, "Selection")
    out = (tri, "Mesh")
    ev = t.node("GeometryNodeInputMeshEdgeVertices")
    for sock, name in (("Vertex Index 1", "ev1"), ("Vertex Index 2", "ev2")):
        st = t.node("GeometryNodeStoreNamedAttribute", data_type="INT", domain="EDGE", Name=name)
        t.link(out, st, "Geometry")
        t.link((ev, sock), st, "Value")
        out = (st, "Geometry")
    t.output(out)
    return t.object()


@requires_bpy
@pytest.mark.parametrize("selected", [False, True])
@pytest.mark.parametrize("method", TR.QUAD_METHODS)
def test_triangulate_parity(method, selected):
    obj = _program(method, selected)
    spec = {"Seed": ("int", 0, 1000), "Amount": ("float", 0.0, 0.4)}
    if selected:
        spec["Threshold"] = ("float", -1.0, 20.0)
    sets = draw_sets(12, spec, 6, [{"Amount": 0.0}])
    names = [a[0] for a in _ATTRS] + ["ev1", "ev2"]
    assert check_parity(obj, sets, attributes=names) == len(sets)


@requires_bpy
def test_triangulate_batch_equals_singles():
    module = translate_object(_program("Fixed Alternate", True))
    amounts = torch.tensor([0.0, 0.2, 0.3], dtype=torch.float64)
    batch = module.program({"Seed": 2}, {"Amount": amounts, "Threshold": torch.full((3,), 4.0, dtype=torch.float64)})
    for i, a in enumerate(amounts.tolist()):
        single = module.program(*split_values(module, {"Seed": 2, "Amount": a, "Threshold": 4.0}))
        torch.testing.assert_close(batch.verts[i], single.verts[0])
        assert batch.polygons() == single.polygons()


def test_triangulate_gradcheck_and_ngons():
    with rt.eval_context(torch.float64):
        size = torch.tensor([[1.0, 2.0, 0.5]], dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda s: TR.triangulate(mesh_cube(size=s)[0], quad_method="Beauty").mesh.verts,
                                        (size,))
        cube = TR.triangulate(mesh_cube()[0]).mesh
        assert cube.num_faces == 12 and cube.edges.shape[0] == 18
        with pytest.raises(ValueError, match="n-gons"):
            TR.triangulate(mesh_cylinder(vertices=6, fill_type="NGON")[0])
    edges = TR.calc_edges(torch.tensor([[1, 0]]), torch.tensor([0, 1, 2, 2, 1, 3]), torch.tensor([0, 3, 6]))
    assert edges.tolist() == [[1, 0], [0, 2], [1, 2], [2, 3], [1, 3]]  # face 2 starts at its last corner
