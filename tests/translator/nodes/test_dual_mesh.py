"""Dual Mesh (with and without Keep Boundaries): Blender parity of vertices, faces, corner order and attributes
moved across domains, on closed meshes (cube, ico sphere, cylinder) and open ones (grid); batched like single
evaluations; float64 gradcheck."""

from __future__ import annotations

import pytest
import torch

from tests.fixtures.parity import Tree, check_parity, requires_bpy, split_values, translate_object
from translator import runtime as rt
from translator.nodes import dual_mesh as DM
from translator.nodes.primitives import mesh_cube

_ATTRS = [("pos_p", "POINT", "FLOAT_VECTOR"), ("idx_e", "EDGE", "FLOAT"), ("idx_f", "FACE", "FLOAT"), ("idx_c", "CORNER", "FLOAT")]


def _program(kind: str, keep: bool):
    t = Tree()
    if kind == "cube":
        src = (t.node("GeometryNodeMeshCube", **{"Vertices X": 3, "Vertices Y": 2, "Vertices Z": 2}), "Mesh")
    elif kind == "ico":
        src = (t.node("GeometryNodeMeshIcoSphere", Subdivisions=1), "Mesh")
    elif kind == "cylinder":
        src = (t.node("GeometryNodeMeshCylinder", Vertices=6, fill_type="TRIANGLE_FAN"), "Mesh")
    else:
        src = (t.node("GeometryNodeMeshGrid", **{"Vertices X": 4, "Vertices Y": 3}), "Mesh")
    sp = t.node("GeometryNodeSetPosition")
    t.link(src, sp, "Geometry")
    t.link(t.position_times(t.input("K", "NodeSocketFloat", 1.0)), sp, "Position")
    src = (sp, "Geometry")
    for name, domain, dt in _ATTRS:
        st = t.node("GeometryNodeStoreNamedAttribute", data_type=dt, domain=domain, Name=name)
        t.link(src, st, "Geometry")
        t.link(t.node("GeometryNodeInputPosition") if domain == "POINT" else t.node("GeometryNodeInputIndex"), st, "Value")
        src = (st, "Geometry")
    dm = t.node("GeometryNodeDualMesh", **{"Keep Boundaries": keep})
    t.link(src, dm, "Mesh")
    t.output((dm, "Dual Mesh"))
    return t.object()


@requires_bpy
@pytest.mark.parametrize("keep", [False, True])
@pytest.mark.parametrize("kind", ["cube", "ico", "cylinder", "grid"])
def test_dual_mesh_parity(kind, keep):
    obj = _program(kind, keep)
    assert check_parity(obj, [{"K": 1.0}, {"K": 0.7}], attributes=[a[0] for a in _ATTRS]) == 2


@requires_bpy
def test_dual_mesh_batch_equals_singles():
    module = translate_object(_program("grid", True))
    ks = torch.tensor([1.0, 0.5, 2.0], dtype=torch.float64)
    batch = module.program({}, {"K": ks})
    for i in range(3):
        single = module.program(*split_values(module, {"K": float(ks[i])}))
        torch.testing.assert_close(batch.verts[i], single.verts[0])


def test_dual_mesh_gradcheck():
    with rt.eval_context(torch.float64):
        size = torch.tensor([[1.0, 2.0, 0.5]], dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda s: DM.dual_mesh(mesh_cube(size=s)[0]).mesh.verts, (size,))
        cube = DM.dual_mesh(mesh_cube()[0]).mesh
        assert (cube.num_verts, cube.num_faces) == (6, 8)
