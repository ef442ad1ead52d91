"""Extrude Mesh (faces, individual): Blender parity of topology, positions and attributes on every domain
(the default offset is the face normal; Offset and Offset Scale fields; selections; the Top and Side
outputs), batched like single evaluations; float64 gradchecks; vertices, edges and face regions too."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from tests.fixtures.parity import Tree, check_parity, requires_bpy, split_values, translate_object
from translator import runtime as rt
from translator.nodes import extrude as O
from translator.nodes import get_spec
from translator.nodes.primitives import mesh_cube

_ATTRS = [("pos_p", "POINT", "FLOAT_VECTOR"), ("idx_e", "EDGE", "FLOAT"), ("idx_f", "FACE", "INT"), ("idx_c", "CORNER", "FLOAT")]


def _program(prim: str, offset: bool, selected: bool, outputs: bool, individual: bool = True):
    t = Tree()
    if prim == "cube":
        src = (t.node("GeometryNodeMeshCube", **{"Vertices X": 3, "Vertices Y": 2, "Vertices Z": 2}), "Mesh")
    elif prim == "cylinder":
        src = (t.node("GeometryNodeMeshCylinder", Vertices=6, fill_type="NGON"), "Mesh")
    else:
        src = (t.node("GeometryNodeMeshGrid", **{"Vertices X": 3, "Vertices Y": 4}), "Mesh")
    for name, domain, dt in _ATTRS:
        st = t.node("GeometryNodeStoreNamedAttribute", data_type=dt, domain=domain, Name=name)
        t.link(src, st, "Geometry")
        t.link(t.node("GeometryNodeInputPosition") if domain == "POINT" else t.node("GeometryNodeInputIndex"), st, "Value")
        src = (st, "Geometry")
    ex = t.node("GeometryNodeExtrudeMesh", mode="FACES", Individual=individual)
    t.link(src, ex, "Mesh")
    t.link(t.input("Scale", "NodeSocketFloat", 0.5), ex, "Offset Scale")
    if offset:
        t.link(t.input("Offset", "NodeSocketVector", (0.0, 0.0, 1.0)), ex, "Offset")
    if selected:
        t.link((t.index_compare(t.input("Threshold", "NodeSocketFloat", 1.0)), "Value"), ex, "Selection")
    out = (ex, "Mesh")
    if outputs:
        for sock, name in (("Top", "top"), ("Side", "side")):
            st = t.node("GeometryNodeStoreNamedAttribute", data_type="BOOLEAN", domain="FACE", Name=name)
            t.link(out, st, "Geometry")
            t.link((ex, sock), st, "Value")
            out = (st, "Geometry")
    t.output(out)
    return t.object()


@requires_bpy
@pytest.mark.parametrize("outputs", (False, True))
@pytest.mark.parametrize("selected", (False, True))
@pytest.mark.parametrize("offset", (False, True))
@pytest.mark.parametrize("prim", ["cube", "cylinder", "grid"])
def test_extrude_individual_faces_parity(prim, offset, selected, outputs):
    obj = _program(prim, offset, selected, outputs)
    sets = [{"Scale": s} for s in (0.5, -0.25, 0.0)]
    if offset:
        sets = [v | {"Offset": (0.2, -0.1, 1.0)} for v in sets]
    if selected:
        sets = [v | {"Threshold": th} for v in sets for th in (-1.0, 1.0, 3.5, 100.0)]
    names = [a[0] for a in _ATTRS] + (["top", "side"] if outputs else [])
    assert check_parity(obj, sets, attributes=names) == len(sets)


@requires_bpy
def test_extrude_batch_equals_singles():
    module = translate_object(_program("cylinder", False, True, False))
    scales = torch.tensor([0.5, -0.25, 1.0], dtype=torch.float64)
    batch = module.program({}, {"Scale": scales, "Threshold": torch.full((3,), 1.0, dtype=torch.float64)})
    for i, s in enumerate(scales.tolist()):
        single = module.program(*split_values(module, {"Scale": s, "Threshold": 1.0}))
        torch.testing.assert_close(batch.verts[i], single.verts[0])


def test_extrude_gradcheck_and_refusals():
    with rt.eval_context(torch.float64):
        size = torch.tensor([[1.0, 2.0, 0.5]], dtype=torch.float64, requires_grad=True)
        scale = torch.tensor([0.3], dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda sz, sc: O.extrude_mesh(mesh_cube(size=sz)[0], offset_scale=sc)[0].mesh.verts,
                                        (size, scale))
    check = get_spec("GeometryNodeExtrudeMesh").check
    faces = SimpleNamespace(properties={"mode": "FACES"}, inputs=[SimpleNamespace(identifier="Individual", enabled=True,
                                                                                  default=False)])
    assert check(faces) is None  # face regions are supported
    with rt.eval_context(torch.float64):
        assert torch.autograd.gradcheck(
            lambda sz, sc: O.extrude_mesh(mesh_cube(size=sz)[0], offset_scale=sc, individual=False)[0].mesh.verts,
            (size, scale))
        regions = O.extrude_mesh(mesh_cube()[0], individual=False)[0].mesh
        assert (regions.num_verts, regions.num_faces) == (8, 6)  # a closed surface: every edge is inside the region
    assert check(SimpleNamespace(properties={"mode": "EDGES"}, inputs=[])) is None
    assert "'POINTS'" in check(SimpleNamespace(properties={"mode": "POINTS"}, inputs=[]))


def _program_ve(mode: str, prim: str, offset: bool, selected: bool, outputs: bool):
    """Extrude Mesh (VERTICES / EDGES) on a displaced primitive with attributes on every domain."""
    t = Tree()
    if prim == "grid":
        src = (t.node("GeometryNodeMeshGrid", **{"Vertices X": 3, "Vertices Y": 4}), "Mesh")
    elif prim == "line":
        src = (t.node("GeometryNodeMeshLine", Count=4, Offset=(0.3, 0.2, 0.1)), "Mesh")
    else:
        src = (t.node("GeometryNodeMeshCube", **{"Vertices X": 3, "Vertices Y": 2, "Vertices Z": 2}), "Mesh")
    rv = t.node("FunctionNodeRandomValue", data_type="FLOAT_VECTOR", Min=(-0.2, -0.2, -0.2), Max=(0.2, 0.2, 0.2))
    sp = t.node("GeometryNodeSetPosition")
    t.link(src, sp, "Geometry")
    t.link((rv, "Value"), sp, "Offset")
    src = (sp, "Geometry")
    for name, domain, dt in _ATTRS + [("flag_e", "EDGE", "BOOLEAN"), ("int_e", "EDGE", "INT")]:
        st = t.node("GeometryNodeStoreNamedAttribute", data_type=dt, domain=domain, Name=name)
        t.link(src, st, "Geometry")
        if dt == "BOOLEAN":
            t.link((t.index_compare(t.input("Flag", "NodeSocketFloat", 4.0)), "Value"), st, "Value")
        else:
            t.link(t.node("GeometryNodeInputPosition") if domain == "POINT" else t.node("GeometryNodeInputIndex"), st, "Value")
        src = (st, "Geometry")
    ex = t.node("GeometryNodeExtrudeMesh", mode=mode)
    t.link(src, ex, "Mesh")
    t.link(t.input("Scale", "NodeSocketFloat", 0.5), ex, "Offset Scale")
    if offset:
        t.link(t.position_times(t.input("K", "NodeSocketFloat", 0.3)), ex, "Offset")
    if selected:
        t.link((t.index_compare(t.input("Threshold", "NodeSocketFloat", 1.0)), "Value"), ex, "Selection")
    out = (ex, "Mesh")
    names = [a[0] for a in _ATTRS] + ["flag_e", "int_e"]
    if outputs:
        for sock, name, domain in (("Top", "top", "POINT" if mode == "VERTICES" else "EDGE"),
                                   ("Side", "side", "EDGE" if mode == "VERTICES" else "FACE")):
            st = t.node("GeometryNodeStoreNamedAttribute", data_type="BOOLEAN", domain=domain, Name=name)
            t.link(out, st, "Geometry")
            t.link((ex, sock), st, "Value")
            out = (st, "Geometry")
            names.append(name)
    t.output(out)
    return t.object(), names


@requires_bpy
@pytest.mark.parametrize("outputs", (False, True))
@pytest.mark.parametrize("selected", (False, True))
@pytest.mark.parametrize("offset", (False, True))
@pytest.mark.parametrize("prim", ["grid", "cube", "line"])
@pytest.mark.parametrize("mode", ["VERTICES", "EDGES"])
def test_extrude_vertices_and_edges_parity(mode, prim, offset, selected, outputs):
    obj, names = _program_ve(mode, prim, offset, selected, outputs)
    sets = [{"Scale": s, "Flag": f} for s, f in ((0.5, 4.0), (-0.25, 2.5))]
    if offset:
        sets = [v | {"K": 0.7} for v in sets]
    if selected:
        sets = [v | {"Threshold": th} for v in sets for th in (-1.0, 2.0, 7.5)]
    assert check_parity(obj, sets, attributes=names) == len(sets)


def test_extrude_vertices_edges_gradcheck():
    with rt.eval_context(torch.float64):
        size = torch.tensor([[1.0, 2.0, 0.5]], dtype=torch.float64, requires_grad=True)
        scale = torch.tensor([0.3], dtype=torch.float64, requires_grad=True)
        for mode in ("VERTICES", "EDGES"):
            assert torch.autograd.gradcheck(
                lambda sz, sc, m=mode: O.extrude_mesh(mesh_cube(size=sz)[0], offset_scale=sc, mode=m)[0].mesh.verts,
                (size, scale), fast_mode=True, atol=1e-7)


@requires_bpy
@pytest.mark.parametrize("outputs", (False, True))
@pytest.mark.parametrize("selected", (False, True))
@pytest.mark.parametrize("offset", (False, True))
@pytest.mark.parametrize("prim", ["cube", "cylinder", "grid"])
def test_extrude_face_regions_parity(prim, offset, selected, outputs):
    obj = _program(prim, offset, selected, outputs, individual=False)
    sets = [{"Scale": s} for s in (0.5, -0.25)]
    if offset:
        sets = [v | {"Offset": (0.2, -0.1, 1.0)} for v in sets]
    if selected:
        sets = [v | {"Threshold": th} for v in sets for th in (-1.0, 1.0, 3.5, 6.5)]
    names = [a[0] for a in _ATTRS] + (["top", "side"] if outputs else [])
    assert check_parity(obj, sets, attributes=names) == len(sets)
