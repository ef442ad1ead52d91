"""Merge by Distance (All): Blender parity when pieces are stitched along seams (vertex order, merged positions,
edges merged, attributes on every domain), selections, distances below and above the gap; batched like single
evaluations when the batch agrees on what merges (TopologyVaries otherwise); float64 gradcheck; collapses raise."""

from __future__ import annotations

import pytest
import torch

from tests.fixtures.parity import Tree, check_parity, requires_bpy, split_values, translate_object
from translator import runtime as rt
from translator.geometry import GeometrySet
from translator.nodes import merge as M
from translator.nodes.primitives import mesh_grid

_ATTRS = [("pos_p", "POINT", "FLOAT_VECTOR"), ("idx_e", "EDGE", "FLOAT"), ("idx_f", "FACE", "INT"), ("idx_c", "CORNER", "FLOAT")]


def _program(selected: bool):
    """Two 3x3 grids side by side (Gap apart along X) and a third one above, joined, then merged."""
    t = Tree()
    join = t.node("GeometryNodeJoinGeometry")
    for k, off in enumerate(((0.0, 0.0, 0.0), None, (0.3, 0.2, 1.0))):
        g = t.node("GeometryNodeMeshGrid", **{"Vertices X": 3, "Vertices Y": 3, "Size X": 1.0, "Size Y": 1.0})
        tr = t.node("GeometryNodeTransform")
        t.link((g, "Mesh"), tr, "Geometry")
        if off is None:
            add = t.node("ShaderNodeCombineXYZ")
            m = t.node("ShaderNodeMath", operation="ADD", Value_001=1.0)
            t.link(t.input("Gap", "NodeSocketFloat", 0.0), m, "Value")
            t.link((m, "Value"), add, "X")
            t.link(t.input("Tilt", "NodeSocketFloat", 0.0), add, "Z")
            t.link((add, "Vector"), tr, "Translation")
        else:
            tr.inputs["Translation"].default_value = off
        t.link((tr, "Geometry"), join, "Geometry")
    src = (join, "Geometry")
    rv = t.node("FunctionNodeRandomValue", data_type="FLOAT_VECTOR", Min=(-0.01, -0.01, -0.01), Max=(0.01, 0.01, 0.01))
    sp = t.node("GeometryNodeSetPosition")
    t.link(src, sp, "Geometry")
    t.link((rv, "Value"), sp, "Offset")
    src = (sp, "Geometry")
    for name, domain, dt in _ATTRS:
        st = t.node("GeometryNodeStoreNamedAttribute", data_type=dt, domain=domain, Name=name)
        t.link(src, st, "Geometry")
        t.link(t.node("GeometryNodeInputPosition") if domain == "POINT" else t.node("GeometryNodeInputIndex"), st, "Value")
        src = (st, "Geometry")
    mbd = t.node("GeometryNodeMergeByDistance")
    t.link(src, mbd, "Geometry")
    t.link(t.input("Distance", "NodeSocketFloat", 0.1), mbd, "Distance")
    if selected:
        t.link((t.index_compare(t.input("Threshold", "NodeSocketFloat", 3.0)), "Value"), mbd, "Selection")
    t.output((mbd, "Geometry"))
    return t.object()


@requires_bpy
@pytest.mark.parametrize("selected", [False, True])
def test_merge_by_distance_parity(selected):
    obj = _program(selected)
    sets = [{"Gap": g, "Tilt": z, "Distance": d} for g, z, d in
            ((0.0, 0.0, 0.05), (0.02, 0.01, 0.1), (0.02, 0.0, 0.001), (-0.01, 0.03, 0.08))]
    if selected:
        sets = [s | {"Threshold": th} for s in sets for th in (-1.0, 4.0, 12.0)]
    assert check_parity(obj, sets, attributes=[a[0] for a in _ATTRS]) == len(sets)


@requires_bpy
def test_merge_batch_equals_singles_and_splits():
    module = translate_object(_program(False))
    gaps = torch.tensor([0.0, 0.01, 0.02], dtype=torch.float64)
    d = torch.full((3,), 0.08, dtype=torch.float64)
    batch = module.program({}, {"Gap": gaps, "Tilt": torch.zeros(3, dtype=torch.float64), "Distance": d})
    for i in range(3):
        single = module.program(*split_values(module, {"Gap": float(gaps[i]), "Tilt": 0.0, "Distance": 0.08}))
        torch.testing.assert_close(batch.verts[i], single.verts[0])
    with pytest.raises(rt.TopologySplitError):
        module.program({}, {"Gap": gaps, "Tilt": torch.zeros(3, dtype=torch.float64),
                            "Distance": torch.tensor([0.08, 0.001, 0.08], dtype=torch.float64)})


def test_merge_gradcheck_and_collapse():
    with rt.eval_context(torch.float64):
        grid = mesh_grid(size_x=1.0, size_y=1.0, vertices_x=3, vertices_y=3)[0].mesh
        shift = torch.tensor([[1.0, 0.0, 0.0]], dtype=torch.float64, requires_grad=True)

        def run(s):
            from translator.nodes.transform import join_geometry

            other = type(grid)(grid.verts + s.unsqueeze(1), grid.corner_verts, grid.face_offsets, grid.edges)
            joined = join_geometry([GeometrySet(mesh=grid), GeometrySet(mesh=other)])
            return M.merge_by_distance(joined, distance=0.05).mesh.verts

        out = run(shift)
        assert out.shape == (1, 15, 3)
        assert torch.autograd.gradcheck(run, (shift,))
        with pytest.raises(ValueError, match="collapse"):
            M.merge_by_distance(GeometrySet(mesh=grid), distance=0.6)


@requires_bpy
def test_merge_on_the_traced_path_is_guarded():
    """Replays of a traced merge equal the plain program; a distance that merges differently misses the guards
    and runs the plain program."""
    module = translate_object(_program(False))

    def values(gap: float, distance: float):
        return {}, {"Gap": torch.full((2,), gap, dtype=torch.float64), "Tilt": torch.zeros(2, dtype=torch.float64),
                    "Distance": torch.full((2,), distance, dtype=torch.float64)}

    with rt.eval_context(trace=False):
        plain = {d: module.program(*values(0.01, d)) for d in (0.05, 0.001)}
    for _ in range(3):  # plain, traced, replayed
        m = module.program(*values(0.01, 0.05))
        torch.testing.assert_close(m.verts, plain[0.05].verts)
        assert m.polygons() == plain[0.05].polygons()
    m = module.program(*values(0.01, 0.001))  # merges nothing: the guards differ
    torch.testing.assert_close(m.verts, plain[0.001].verts)
    assert m.polygons() == plain[0.001].polygons() and m.num_verts == 27
    stats = next(getattr(module, k)._shapeprog_traces.stats for k in dir(module)
                 if hasattr(getattr(module, k), "_shapeprog_traces"))
    assert stats["traced"] >= 1 and stats["replayed"] >= 1 and stats["guard_misses"] >= 1
