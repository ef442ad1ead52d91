"""Combine XYZ and Separate XYZ: Blender parity on single values (group inputs) and on fields (per-vertex
positions), float64 gradchecks of both directions."""

from __future__ import annotations

import torch

from tests.fixtures import parity as P
from tests.fixtures.parity import requires_bpy
from translator import runtime as rt
from translator.nodes import vector as V


@requires_bpy
def test_combine_and_separate_xyz_parity_on_values_and_fields():
    t = P.Tree()
    a, b, c = (t.input(n, "NodeSocketFloat", d) for n, d in (("A", 0.5), ("B", -1.0), ("C", 2.0)))
    k = t.input("K", "NodeSocketFloat", 0.3)
    grid = t.node("GeometryNodeMeshGrid", Vertices_X=4, Vertices_Y=3)
    # single values: Combine XYZ (A, B, C) offsets every vertex
    offset = t.node("ShaderNodeCombineXYZ")
    for src, ident in ((a, "X"), (b, "Y"), (c, "Z")):
        t.link(src, offset, ident)
    # fields: Separate XYZ of the position, recombined as (Y * K, X, X + Z) with Combine XYZ
    sep = t.node("ShaderNodeSeparateXYZ")
    t.link(t.node("GeometryNodeInputPosition"), sep, "Vector")
    yk = t.node("ShaderNodeMath", operation="MULTIPLY")
    t.ng.links.new(sep.outputs["Y"], yk.inputs[0])
    t.link(k, yk, "Value_001")
    xz = t.node("ShaderNodeMath", operation="ADD")
    t.ng.links.new(sep.outputs["X"], xz.inputs[0])
    t.ng.links.new(sep.outputs["Z"], xz.inputs[1])
    field = t.node("ShaderNodeCombineXYZ")
    t.link(yk, field, "X")
    t.ng.links.new(sep.outputs["X"], field.inputs["Y"])
    t.link(xz, field, "Z")
    moved = t.node("GeometryNodeSetPosition")
    t.link((grid, "Mesh"), moved, "Geometry")
    t.link(field, moved, "Position")
    t.link(offset, moved, "Offset")
    t.output(moved)
    spec = {"A": ("float", -2.0, 2.0), "B": ("float", -2.0, 2.0), "C": ("float", -2.0, 2.0), "K": ("float", -3.0, 3.0)}
    assert P.seeded_parity(t.object(), spec, n=4, fixed=[{"A": 0.0, "B": 0.0, "C": 0.0, "K": 0.0}]) == 5


def test_combine_and_separate_xyz_gradcheck_and_constants():
    def f(x, y, z):
        with rt.eval_context(torch.float64):
            v = V.combine_xyz(x, y, z)
            sx, sy, sz = V.separate_xyz(v * torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))
        return v, sx + sy * sz

    args = [torch.rand(5, dtype=torch.float64, requires_grad=True) for _ in range(3)]
    assert torch.autograd.gradcheck(f, args)
    # constant inputs fold to plain tuples (what the partial evaluator relies on)
    assert V.combine_xyz(1, 2.5, -3) == (1.0, 2.5, -3.0)
    assert V.separate_xyz((0.5, -1.0, 4.0)) == (0.5, -1.0, 4.0)
