"""Instance Transform, Instance Rotation, Instance Scale and Set Instance Transform: Blender parity on
instances with rotations, non-uniform and mirroring scales (batched), read back through translations and
realized meshes; float64 gradients; fields off the INSTANCE domain."""

from __future__ import annotations

import pytest
import torch

from tests.fixtures.parity import Tree, check_parity, requires_bpy
from tests.fixtures.probes import draw_sets
from translator import runtime as rt
from translator.nodes import instance_transforms as IT
from translator.nodes.primitives import make_mesh


def _instances(t: Tree, scale_field: bool):
    """Three small cubes on a line, rotated by an Euler input plus a per-point twist, scaled by an input
    (times the point index along x when ``scale_field``: a zero and a mirrored scale among them)."""
    angle = t.input("Angle", "NodeSocketVector")
    scale = t.input("Scale", "NodeSocketVector")
    line = t.node("GeometryNodeMeshLine", Count=3, Offset=(1.0, 0.5, 0.0))
    cube = t.node("GeometryNodeMeshCube", Size=(0.4, 0.3, 0.2))
    pos = t.node("GeometryNodeInputPosition")
    twist = t.node("ShaderNodeVectorMath", operation="ADD")
    t.link(angle, twist, "Vector")
    t.link(pos, twist, "Vector_001")
    iop = t.node("GeometryNodeInstanceOnPoints")
    t.link(line, iop, "Points")
    t.link(cube, iop, "Instance")
    t.link(twist, iop, "Rotation")
    if scale_field:
        index = t.node("GeometryNodeInputIndex")
        shift = t.node("ShaderNodeMath", operation="SUBTRACT", Value_001=1.0)
        t.link(index, shift, "Value")
        comb = t.node("ShaderNodeCombineXYZ", Y=1.0, Z=1.0)
        t.link(shift, comb, "X")
        mul = t.node("ShaderNodeVectorMath", operation="MULTIPLY")
        t.link(scale, mul, "Vector")
        t.link(comb, mul, "Vector_001")
        t.link(mul, iop, "Scale")
    else:
        t.link(scale, iop, "Scale")
    return iop


def _sets(seed: int) -> list[dict]:
    return draw_sets(seed, {"Angle": ("vector", -3, 3), "Scale": ("vector", 0.3, 2.0)}, 6,
                     [{"Scale": (-1.0, 1.5, 0.7)}, {"Angle": (0.0, 1.5707963705062866, 0.0)}])


@requires_bpy
@pytest.mark.parametrize("output", ("rotation", "scale"))
def test_instance_rotation_and_scale_parity(output):
    """Each instance translated by its rotation's quaternion (x, y, z) and w, or by its scale: Blender's
    values, signs included, for rotated, scaled and mirrored instances."""
    t = Tree("InstanceFields")
    iop = _instances(t, scale_field=output == "scale")
    if output == "rotation":
        src = t.node("GeometryNodeInputInstanceRotation")
        q = t.node("FunctionNodeRotationToQuaternion")
        t.link(src, q, "Rotation")
        xyz = t.node("ShaderNodeCombineXYZ")
        for ax in "XYZ":
            t.link((q, ax), xyz, ax)
        scaled = t.node("ShaderNodeVectorMath", operation="SCALE")
        t.link(xyz, scaled, "Vector")
        t.link((q, "W"), scaled, "Scale")
        offset = t.node("ShaderNodeVectorMath", operation="ADD")
        t.link(xyz, offset, "Vector")
        t.link(scaled, offset, "Vector_001")
    else:
        offset = t.node("GeometryNodeInputInstanceScale")
    move = t.node("GeometryNodeTranslateInstances", **{"Local Space": False})
    t.link(iop, move, "Instances")
    t.link(offset, move, "Translation")
    real = t.node("GeometryNodeRealizeInstances")
    t.link(move, real, "Geometry")
    t.output(real)
    sets = _sets(1)
    assert check_parity(t.object(), sets) == len(sets)


@requires_bpy
def test_instance_transform_and_set_instance_transform_parity():
    """Set Instance Transform of every other instance to ``Combine Transform @ Instance Transform``."""
    t = Tree("SetTransform")
    iop = _instances(t, scale_field=False)
    move = t.input("Move", "NodeSocketVector")
    comb = t.node("FunctionNodeCombineTransform", Rotation=(0.3, -0.2, 0.5), Scale=(1.0, 2.0, 0.5))
    t.link(move, comb, "Translation")
    inst = t.node("GeometryNodeInstanceTransform")
    mul = t.node("FunctionNodeMatrixMultiply")
    t.link(comb, mul, "Matrix")
    t.link(inst, mul, "Matrix_001")
    index = t.node("GeometryNodeInputIndex")
    odd = t.node("FunctionNodeIntegerMath", operation="MODULO", Value_001=2)
    t.link(index, odd, "Value")
    st = t.node("GeometryNodeSetInstanceTransform")
    t.link(iop, st, "Instances")
    t.link(odd, st, "Selection")
    t.link(mul, st, "Transform")
    real = t.node("GeometryNodeRealizeInstances")
    t.link(st, real, "Geometry")
    t.output(real)
    sets = [dict(s, Move=(0.5, -1.0, 2.0)) for s in _sets(2)]
    assert check_parity(t.object(), sets) == len(sets)


def test_instance_fields_gradients_and_other_domains():
    from translator.geometry import GeometrySet, Instances

    g = torch.Generator().manual_seed(0)
    m = (torch.eye(4, dtype=torch.float64) + 0.3 * torch.randn(2, 3, 4, 4, generator=g, dtype=torch.float64))
    m[..., 3, :] = torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=torch.float64)
    m.requires_grad_()

    def fields(m):
        inst = Instances(references=[GeometrySet()], reference_index=[0, 0, 0], transforms=m, attributes={})
        ctx = rt.FieldContext("INSTANCE", 3, instances=inst)
        return (rt.eval_field(IT.instance_rotation(), ctx, "ROTATION"), rt.eval_field(IT.instance_scale(), ctx, "VECTOR"),
                rt.eval_field(IT.instance_transform(), ctx, "MATRIX"))

    with rt.eval_context(torch.float64):
        assert torch.autograd.gradcheck(fields, (m,))
        mesh = make_mesh(torch.zeros(1, 2, 3, dtype=torch.float64), [])
        ctx = rt.FieldContext("POINT", 2, mesh=mesh)
        assert torch.equal(rt.eval_field(IT.instance_rotation(), ctx, "ROTATION")[0, 0],
                           torch.tensor([1.0, 0.0, 0.0, 0.0], dtype=torch.float64))
        assert float(rt.eval_field(IT.instance_scale(), ctx, "VECTOR").abs().sum()) == 0.0
