"""Duplicate Elements (points, edges, faces, instances): Blender parity of the copies (order, positions,
attributes on every domain, the hashed ``id``), moved by their Duplicate Index; batched like single
evaluations; float64 gradcheck."""

from __future__ import annotations

import pytest
import torch

from tests.fixtures.parity import Tree, check_parity, requires_bpy, split_values, translate_object
from translator import runtime as rt
from translator.nodes import duplicate as D
from translator.nodes.primitives import mesh_cube

_ATTRS = [("pos_p", "POINT", "FLOAT_VECTOR"), ("idx_e", "EDGE", "FLOAT"), ("idx_f", "FACE", "INT"),
          ("idx_c", "CORNER", "FLOAT"), ("id", "POINT", "INT")]


def _amount(t: Tree):
    """``Index mod 3`` (0, 1 or 2 copies) scaled by Many (an integer input)."""
    mod = t.node("ShaderNodeMath", operation="FLOORED_MODULO", Value_001=3.0)
    t.link(t.node("GeometryNodeInputIndex"), mod, "Value")
    mul = t.node("ShaderNodeMath", operation="MULTIPLY")
    t.link((mod, "Value"), mul, "Value")
    t.link(t.input("Many", "NodeSocketInt", 1), mul, "Value_001")
    return (mul, "Value")


def _program(domain: str):
    t = Tree()
    if domain == "INSTANCE":
        line = t.node("GeometryNodeMeshLine", Count=5, Offset=(0.5, 0.2, 0.0))
        iop = t.node("GeometryNodeInstanceOnPoints")
        t.link((line, "Mesh"), iop, "Points")
        t.link((t.node("GeometryNodeMeshCube", **{"Vertices X": 3}), "Mesh"), iop, "Instance")
        src = (iop, "Instances")
        names = []
    else:
        src = (t.node("GeometryNodeMeshCube", **{"Vertices X": 3, "Vertices Y": 2, "Vertices Z": 2}), "Mesh")
        rv = t.node("FunctionNodeRandomValue", data_type="FLOAT_VECTOR", Min=(-0.2, -0.2, -0.2), Max=(0.2, 0.2, 0.2))
        sp = t.node("GeometryNodeSetPosition")
        t.link(src, sp, "Geometry")
        t.link((rv, "Value"), sp, "Offset")
        src = (sp, "Geometry")
        for name, dom, dt in _ATTRS:
            st = t.node("GeometryNodeStoreNamedAttribute", data_type=dt, domain=dom, Name=name)
            t.link(src, st, "Geometry")
            if name == "id":
                m = t.node("ShaderNodeMath", operation="MULTIPLY_ADD", Value_001=7.0, Value_002=3.0)
                t.link(t.node("GeometryNodeInputIndex"), m, "Value")
                t.link((m, "Value"), st, "Value")
            else:
                t.link(t.node("GeometryNodeInputPosition") if dom == "POINT" else t.node("GeometryNodeInputIndex"), st, "Value")
            src = (st, "Geometry")
        names = [a[0] for a in _ATTRS if a[1] in {"POINT": ("POINT",), "EDGE": ("POINT", "EDGE"),
                                                   "FACE": ("POINT", "EDGE", "FACE", "CORNER")}[domain]]
    dup = t.node("GeometryNodeDuplicateElements", domain=domain)
    t.link(src, dup, "Geometry")
    t.link((t.index_compare(t.input("Threshold", "NodeSocketFloat", 1.0)), "Value"), dup, "Selection")
    t.link(_amount(t), dup, "Amount")
    move = t.node("ShaderNodeVectorMath", operation="SCALE")
    t.link((dup, "Duplicate Index"), move, "Scale")
    t.link(t.input("Step", "NodeSocketVector", (0.0, 0.0, 1.0)), move, "Vector")
    out = (dup, "Geometry")
    if domain == "INSTANCE":
        tr = t.node("GeometryNodeTranslateInstances")
        t.link(out, tr, "Instances")
        t.link((move, "Vector"), tr, "Translation")
        rz = t.node("GeometryNodeRealizeInstances")
        t.link((tr, "Instances"), rz, "Geometry")
        out = (rz, "Geometry")
    else:
        st = t.node("GeometryNodeStoreNamedAttribute", data_type="INT", domain=domain, Name="dup")
        t.link(out, st, "Geometry")
        t.link((dup, "Duplicate Index"), st, "Value")
        sp = t.node("GeometryNodeSetPosition")
        t.link((st, "Geometry"), sp, "Geometry")
        t.link((move, "Vector"), sp, "Offset")
        out = (sp, "Geometry")
        names.append("dup")
    t.output(out)
    return t.object(), names


@requires_bpy
@pytest.mark.parametrize("domain", ["POINT", "EDGE", "FACE", "INSTANCE"])
def test_duplicate_elements_parity(domain):
    obj, names = _program(domain)
    sets = [{"Threshold": th, "Many": m, "Step": (0.1, 0.2, 0.3)} for th in (-1.0, 2.5, 100.0) for m in (1, 2)]
    assert check_parity(obj, sets, attributes=names) == len(sets)


@requires_bpy
def test_duplicate_batch_equals_singles():
    obj, _ = _program("FACE")
    module = translate_object(obj)
    steps = torch.tensor([[0.1, 0.2, 0.3], [0.0, -1.0, 0.5]], dtype=torch.float64)
    batch = module.program({"Many": 2}, {"Step": steps, "Threshold": torch.full((2,), 2.5, dtype=torch.float64)})
    for i in range(2):
        single = module.program(*split_values(module, {"Many": 2, "Step": tuple(steps[i].tolist()), "Threshold": 2.5}))
        torch.testing.assert_close(batch.verts[i], single.verts[0])


def test_duplicate_gradcheck():
    with rt.eval_context(torch.float64):
        size = torch.tensor([[1.0, 2.0, 0.5]], dtype=torch.float64, requires_grad=True)
        for domain in ("POINT", "EDGE", "FACE"):
            assert torch.autograd.gradcheck(
                lambda s, d=domain: D.duplicate_elements(mesh_cube(size=s)[0], amount=2, domain=d)[0].mesh.verts, (size,))
