"""Bounding Box (a mesh; meshes inside instances get their own boxes; empty geometry) and Attribute
Statistic (float and vector; point, edge, face, corner and instance domains; selections; one, two and
many values): Blender parity, batched like single evaluations, float64 gradchecks."""

from __future__ import annotations

import pytest
import torch

from tests.fixtures.parity import Tree, check_parity, requires_bpy, split_values, translate_object
from translator import runtime as rt
from translator.nodes import statistics as S
from translator.nodes.primitives import mesh_grid


def _wavy_grid(t: Tree):
    grid = t.node("GeometryNodeMeshGrid", **{"Vertices X": 5, "Vertices Y": 4})
    t.link(t.input("Size", "NodeSocketFloat", 1.0), grid, "Size X")
    wave, _ = t.wave_fields(t.input("K", "NodeSocketFloat", 0.5), t.input("J", "NodeSocketFloat", 0.1))
    sp = t.node("GeometryNodeSetPosition")
    t.link((grid, "Mesh"), sp, "Geometry")
    t.link(wave, sp, "Offset")
    return (sp, "Geometry")


_SETS = [{"Size": 1.0, "K": 0.5, "J": 0.1}, {"Size": 2.5, "K": -0.3, "J": 0.25}, {"Size": 0.5, "K": 0.0, "J": 0.0}]


@requires_bpy
@pytest.mark.parametrize("instanced", (False, True))
def test_bounding_box_parity(instanced):
    t = Tree()
    src = _wavy_grid(t)
    if instanced:  # instances of the grid next to a real cube: one box per geometry
        iop = t.instances_on_line(src, 3, t.input("Offset", "NodeSocketVector", (3.0, 0.0, 0.0)))
        join = t.node("GeometryNodeJoinGeometry")
        t.link((iop, "Instances"), join, "Geometry")
        t.link((t.node("GeometryNodeMeshCube", Size=(0.5, 0.25, 2.0)), "Mesh"), join, "Geometry")
        src = (join, "Geometry")
    bb = t.node("GeometryNodeBoundBox")
    t.link(src, bb, "Geometry")
    realize = t.node("GeometryNodeRealizeInstances")
    t.link((bb, "Bounding Box"), realize, "Geometry")
    out = t.node("GeometryNodeJoinGeometry")  # the box, then points at Min and Max
    t.link((realize, "Geometry"), out, "Geometry")
    for socket in ("Min", "Max"):
        pt = t.node("GeometryNodeMeshLine", Count=1)
        t.link((bb, socket), pt, "Start Location")
        t.link((pt, "Mesh"), out, "Geometry")
    t.output((out, "Geometry"))
    sets = [s | ({"Offset": (3.0, 0.0, 0.0)} if instanced else {}) for s in _SETS]
    assert check_parity(t.object(), sets) == 3


def _statistic_program(data_type: str, domain: str, selected: bool):
    t = Tree()
    src = _wavy_grid(t)
    if domain == "INSTANCE":
        iop = t.instances_on_line(src, 4, t.input("Offset", "NodeSocketVector", (3.0, 0.0, 0.0)))
        src = (iop, "Instances")
    stat = t.node("GeometryNodeAttributeStatistic", data_type=data_type, domain=domain)
    t.link(src, stat, "Geometry")
    pos = t.node("GeometryNodeInputPosition")
    if data_type == "FLOAT":
        sep = t.node("ShaderNodeSeparateXYZ")
        t.link(pos, sep, "Vector")
        add = t.node("ShaderNodeMath", operation="ADD")
        t.link((sep, "X"), add, "Value")
        t.link((sep, "Z"), add, "Value_001")
        t.link((add, "Value"), stat, "Attribute")
    else:
        t.link(pos, stat, "Attribute")
    if selected:
        t.link((t.index_compare(t.input("Threshold", "NodeSocketFloat", 2.0)), "Value"), stat, "Selection")
    outs = ["Mean", "Median", "Sum", "Min", "Max", "Range", "Standard Deviation", "Variance"]
    join = t.node("GeometryNodeJoinGeometry")
    if data_type == "FLOAT":
        for i in range(0, 8, 3):
            xyz = t.node("ShaderNodeCombineXYZ")
            for axis, o in zip("XYZ", outs[i:i + 3]):
                t.link((stat, o), xyz, axis)
            pt = t.node("GeometryNodeMeshLine", Count=1)
            t.link((xyz, "Vector"), pt, "Start Location")
            t.link((pt, "Mesh"), join, "Geometry")
    else:
        for o in outs:
            pt = t.node("GeometryNodeMeshLine", Count=1)
            t.link((stat, o), pt, "Start Location")
            t.link((pt, "Mesh"), join, "Geometry")
    t.output((join, "Geometry"))
    return t.object()


@requires_bpy
@pytest.mark.parametrize("selected", (False, True))
@pytest.mark.parametrize("domain", ["POINT", "EDGE", "FACE", "CORNER", "INSTANCE"])
@pytest.mark.parametrize("data_type", ["FLOAT", "FLOAT_VECTOR"])
def test_attribute_statistic_parity(data_type, domain, selected):
    obj = _statistic_program(data_type, domain, selected)
    sets = [dict(s) for s in _SETS]
    for s in sets:
        if domain == "INSTANCE":
            s["Offset"] = (3.0, 0.0, 0.0)
    if selected:  # many, two, one and no selected elements
        sets = [s | {"Threshold": th} for s in sets[:2] for th in (2.0, 9.5)] + \
               [sets[0] | {"Threshold": th} for th in (-1.0, 100.0)] + \
               [sets[0] | {"Threshold": float(n - 2)} for n in ((4, 12, 20, 31, 48) if domain != "INSTANCE" else (4,))] + \
               [sets[0] | {"Threshold": float(n - 3)} for n in ((4, 12, 20, 31, 48) if domain != "INSTANCE" else (4,))]
    assert check_parity(obj, sets) == len(sets)


@requires_bpy
def test_statistic_batch_equals_singles():
    module = translate_object(_statistic_program("FLOAT_VECTOR", "FACE", False))
    ks = torch.tensor([0.5, -0.3, 0.0], dtype=torch.float64)
    batch = module.program({}, {"Size": torch.ones(3, dtype=torch.float64), "K": ks, "J": torch.full((3,), 0.1, dtype=torch.float64)})
    for i, k in enumerate(ks.tolist()):
        single = module.program(*split_values(module, {"Size": 1.0, "K": k, "J": 0.1}))
        torch.testing.assert_close(batch.verts[i], single.verts[0])


def test_statistics_gradcheck():
    g = torch.Generator().manual_seed(3)
    for n in (1, 2, 5, 6):
        data = torch.randn((2, n), generator=g, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda d: torch.stack(S._statistics(d), -1), (data,))
    with rt.eval_context(torch.float64):
        size = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
        geo, _ = mesh_grid(size_x=size, vertices_x=3, vertices_y=2)
        box, lo, hi = S.bounding_box(geo)
        assert bool((hi >= lo).all())
        assert box.mesh.num_verts == 8 and lo.shape == (2, 3)
        assert torch.autograd.gradcheck(lambda s: S.bounding_box(mesh_grid(size_x=s, vertices_x=3, vertices_y=2)[0])[0].mesh.verts,
                                        (size,))
        assert S.bounding_box(None)[1] == (0.0, 0.0, 0.0)
