"""Position, Index and Set Position: Blender parity on meshes and instances (selections,
implicit and linked Position, math on fields), fields on every mesh domain, per-element
selections in a batch, and float64 gradchecks."""

from __future__ import annotations

import random

import pytest
import torch

from tests.fixtures import parity as P
from tests.fixtures.parity import requires_bpy
from translator import runtime as rt
from translator.nodes import fields as F
from translator.nodes import instances as I
from translator.nodes import math as M
from translator.nodes import primitives

SEED = 777


def _vec(rng, lo, hi):
    return tuple(rng.uniform(lo, hi) for _ in range(3))


def _set_position_program(primitive: str, linked_position: bool):
    """Set Position with Selection = Index > t, Offset = Position * k + (Index * j, 0, 0), and
    Position either implicit or Position + shift."""
    t = P.Tree()
    counts = {"Vertices X": 3, "Vertices Y": 2, "Vertices Z": 3} if primitive == "cube" else {"Vertices X": 4, "Vertices Y": 3}
    sp = t.node("GeometryNodeSetPosition")
    t.link(t.sized_primitive(primitive, **counts), sp, "Geometry")
    t.link(t.index_compare(t.input("Threshold", "NodeSocketFloat", 3.0)), sp, "Selection")
    offset, _ = t.wave_fields(t.input("K", "NodeSocketFloat", 0.5), t.input("J", "NodeSocketFloat", 0.1))
    t.link(offset, sp, "Offset")
    if linked_position:
        shifted = t.node("ShaderNodeVectorMath", operation="ADD")
        t.link(t.node("GeometryNodeInputPosition"), shifted, "Vector")
        t.link(t.input("Shift", "NodeSocketVector"), shifted, "Vector_001")
        t.link((shifted, "Vector"), sp, "Position")
    t.output(sp)
    return t.object()


@requires_bpy
@pytest.mark.parametrize("primitive", ["cube", "grid"])
@pytest.mark.parametrize("linked_position", [False, True])
def test_set_position_parity(primitive, linked_position):
    obj = _set_position_program(primitive, linked_position)
    mod = P.translate_object(obj)
    if not linked_position:  # the implicit Position input is left to the function
        call = next(line for line in mod.SOURCE.splitlines() if "set_position(" in line)
        assert "position=" not in call.replace("set_position(", "")
    rng = random.Random(SEED)
    sets = []
    for _ in range(20):
        v = {"Size": _vec(rng, 0.3, 2) if primitive == "cube" else rng.uniform(0.3, 2), "Threshold": rng.uniform(-1, 20),
             "K": rng.uniform(-2, 2), "J": rng.uniform(-1, 1)}
        if linked_position:
            v["Shift"] = _vec(rng, -1, 1)
        sets.append(v)
    assert P.check_parity(obj, sets, mod) == 20


@requires_bpy
def test_set_position_on_instances_parity():
    """On instances Set Position moves their translations (Position is the translation there);
    their mesh is untouched, the points' mesh is gone after Instance on Points."""
    t = P.Tree()
    iop = t.instances_on_line((t.node("GeometryNodeMeshCube", Size=(0.2, 0.3, 0.4)), "Mesh"), 6,
                              t.input("Offset", "NodeSocketVector", (1, 0, 0)))
    t.link(t.input("Rot", "NodeSocketVector"), iop, "Rotation")
    join = t.node("GeometryNodeJoinGeometry")  # instances and a mesh in one geometry
    t.link(iop, join, "Geometry")
    t.link((t.node("GeometryNodeMeshGrid", **{"Vertices X": 2, "Vertices Y": 3}), "Mesh"), join, "Geometry")
    sp = t.node("GeometryNodeSetPosition")
    t.link(join, sp, "Geometry")
    t.link(t.index_compare(t.input("Threshold", "NodeSocketFloat", 1.0)), sp, "Selection")
    swap = t.node("ShaderNodeVectorMath", operation="CROSS_PRODUCT")
    t.link(t.node("GeometryNodeInputPosition"), swap, "Vector")
    t.link(t.input("Axis", "NodeSocketVector", (0, 0, 1)), swap, "Vector_001")
    t.link((swap, "Vector"), sp, "Position")
    t.link(t.input("Offset2", "NodeSocketVector"), sp, "Offset")
    realize = t.node("GeometryNodeRealizeInstances")
    t.link(sp, realize, "Geometry")
    t.output(realize)
    rng = random.Random(SEED + 1)
    sets = [{"Offset": _vec(rng, -1, 1), "Rot": _vec(rng, -3, 3), "Threshold": rng.uniform(-1, 7),
             "Axis": _vec(rng, -1, 1), "Offset2": _vec(rng, -2, 2)} for _ in range(20)]
    assert P.check_parity(t.object(), sets) == 20


@requires_bpy
def test_position_and_index_on_every_domain():
    """Position and Index evaluated on POINT, EDGE, FACE and CORNER (stored, then read back)."""
    t = P.Tree()
    geo = t.node("GeometryNodeMeshCube", **{"Vertices X": 3, "Vertices Y": 2, "Vertices Z": 2})
    t.link(t.input("Size", "NodeSocketVector", (1, 1, 1)), geo, "Size")
    geo = (geo, "Mesh")
    names = []
    for domain in ("POINT", "EDGE", "FACE", "CORNER"):
        for what, data_type, src in (("pos", "FLOAT_VECTOR", "GeometryNodeInputPosition"), ("idx", "INT", "GeometryNodeInputIndex")):
            store = t.node("GeometryNodeStoreNamedAttribute", data_type=data_type, domain=domain, Name=f"{what}_{domain}")
            t.link(geo, store, "Geometry")
            t.link(t.node(src), store, "Value")
            geo = store
            names.append(f"{what}_{domain}")
    t.output(geo)
    obj = t.object()
    mod = P.translate_object(obj)
    rng = random.Random(SEED + 2)
    for _ in range(5):
        values = {"Size": _vec(rng, 0.3, 3)}
        P.set_inputs(obj, values)
        mesh = mod.program(*P.split_values(mod, values))
        P.compare(P.evaluate_blender(obj), mesh)
        P.compare_attributes(obj, mesh, names)


def test_set_position_selection_may_differ_per_batch_element():
    """A selection that depends on a batched value selects per element (no topology split)."""
    with rt.eval_context(torch.float64):
        geo = primitives.mesh_line(count=5, offset=(1.0, 0.0, 0.0))
        thresholds = torch.tensor([0.5, 2.5, -1.0], dtype=torch.float64)
        sel = M.math("GREATER_THAN", value=F.index(), value_001=thresholds)
        out = F.set_position(geo, selection=sel, offset=(0.0, 0.0, 1.0)).mesh.verts
        for k, th in enumerate(thresholds.tolist()):
            single = F.set_position(geo, selection=M.math("GREATER_THAN", value=F.index(), value_001=th),
                                    offset=(0.0, 0.0, 1.0)).mesh.verts
            torch.testing.assert_close(out[k], single[0])
        assert out[:, :, 2].sum(1).tolist() == [4.0, 2.0, 5.0]


def test_set_position_on_empty_and_missing_geometry():
    assert F.set_position(None).is_empty()
    geo = primitives.mesh_line(count=0)
    assert F.set_position(geo, offset=(1.0, 0.0, 0.0)).is_empty()


def test_set_position_gradcheck():
    with rt.eval_context(torch.float64):
        geo = primitives.mesh_cube(size=(1.0, 0.5, 2.0), vertices_x=3, vertices_y=2, vertices_z=2)[0]
        g = torch.Generator().manual_seed(5)
        offset = torch.randn(2, 3, generator=g, dtype=torch.float64, requires_grad=True)
        k = torch.randn(2, generator=g, dtype=torch.float64, requires_grad=True)
        sel = M.math("LESS_THAN", value=F.index(), value_001=6.0)

        def f(offset, k):
            pos, _ = M.vector_math("SCALE", vector=F.position(), scale=k)
            return F.set_position(geo, selection=sel, position=pos, offset=offset).mesh.verts

        assert torch.autograd.gradcheck(f, (offset, k))


def test_set_position_on_instances_gradcheck():
    with rt.eval_context(torch.float64):
        points = primitives.mesh_line(count=3, offset=(1.0, 0.5, 0.0))
        cube = primitives.mesh_cube(size=(0.3, 0.2, 0.1))[0]
        base = I.instance_on_points(points=points, instance=cube, rotation=(0.2, 0.4, -0.3))
        offset = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda o: I.realize(F.set_position(base, offset=o)).mesh.verts, (offset,))


def test_position_field_values_on_instances_are_translations():
    with rt.eval_context(torch.float64):
        points = primitives.mesh_line(count=4, offset=(1.0, 2.0, 3.0))
        inst = I.instance_on_points(points=points, instance=points, scale=(2.0, 2.0, 2.0)).instances
        got = F.evaluate(F.position(), F.instance_context(inst), "VECTOR")
        torch.testing.assert_close(got, points.mesh.verts)
        idx = F.evaluate(F.index(), F.instance_context(inst), "INT")
        assert idx.tolist() == [[0, 1, 2, 3]]
