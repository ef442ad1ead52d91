"""Separate Geometry and Delete Geometry on meshes (points, edges, faces; every delete mode; attributes on
every domain come along) and instances: Blender parity, batched like single evaluations; a selection that
varies across the batch splits it."""

from __future__ import annotations

import pytest
import torch

from tests.fixtures.parity import Tree, check_parity, requires_bpy, split_values, translate_object
from translator import runtime as rt
from translator.nodes import delete as D
from translator.nodes.primitives import mesh_grid

_ATTRS = [("pos_p", "POINT"), ("idx_e", "EDGE"), ("idx_f", "FACE"), ("idx_c", "CORNER")]


def _mesh_with_attributes(t: Tree):
    """A 4 x 3 grid (Size from an input) joined with a 3 x 2 x 2 cube, with attributes on every domain."""
    grid = t.node("GeometryNodeMeshGrid", **{"Vertices X": 4, "Vertices Y": 3})
    t.link(t.input("Size", "NodeSocketFloat", 1.0), grid, "Size X")
    cube = t.node("GeometryNodeMeshCube", **{"Vertices X": 3, "Vertices Y": 2, "Vertices Z": 2})
    join = t.node("GeometryNodeJoinGeometry")
    t.link((grid, "Mesh"), join, "Geometry")
    t.link((cube, "Mesh"), join, "Geometry")
    src = (join, "Geometry")
    for name, domain in _ATTRS:
        st = t.node("GeometryNodeStoreNamedAttribute", data_type="FLOAT_VECTOR" if domain == "POINT" else "INT",
                    domain=domain, Name=name)
        t.link(src, st, "Geometry")
        t.link(t.node("GeometryNodeInputPosition") if domain == "POINT" else t.node("GeometryNodeInputIndex"), st, "Value")
        src = (st, "Geometry")
    return src


def _program(kind: str, domain: str, output: str = "Selection", mode: str = "ALL"):
    t = Tree()
    src = _mesh_with_attributes(t)
    # Index % 3 != 1 or Index > Threshold: a selection with holes
    mod = t.node("ShaderNodeMath", operation="FLOORED_MODULO", Value_001=3.0)
    t.link(t.node("GeometryNodeInputIndex"), mod, "Value")
    ne = t.node("FunctionNodeCompare", data_type="FLOAT", operation="NOT_EQUAL", B=1.0)
    t.link((mod, "Value"), ne, "A")
    gt = t.index_compare(t.input("Threshold", "NodeSocketFloat", 100.0))
    orr = t.node("FunctionNodeBooleanMath", operation="OR")
    t.link((ne, "Result"), orr, "Boolean")
    t.link((gt, "Value"), orr, "Boolean_001")
    if kind == "separate":
        n = t.node("GeometryNodeSeparateGeometry", domain=domain)
        out = (n, output)
    else:
        n = t.node("GeometryNodeDeleteGeometry", domain=domain, mode=mode)
        out = (n, "Geometry")
    t.link(src, n, "Geometry")
    t.link((orr, "Boolean"), n, "Selection")
    t.output(out)
    return t.object()


_SETS = [{"Size": s, "Threshold": th} for s, th in ((1.0, 100.0), (2.5, 100.0), (1.5, 3.0), (1.0, -1.0))]
_NAMES = [a[0] for a in _ATTRS]


@requires_bpy
@pytest.mark.parametrize("output", ["Selection", "Inverted"])
@pytest.mark.parametrize("domain", ["POINT", "EDGE", "FACE"])
def test_separate_geometry_parity(domain, output):
    assert check_parity(_program("separate", domain, output), _SETS, attributes=_NAMES) == len(_SETS)


@requires_bpy
@pytest.mark.parametrize("mode", ["ALL", "EDGE_FACE", "ONLY_FACE"])
@pytest.mark.parametrize("domain", ["POINT", "EDGE", "FACE"])
def test_delete_geometry_parity(domain, mode):
    assert check_parity(_program("delete", domain, mode=mode), _SETS, attributes=_NAMES) == len(_SETS)


@requires_bpy
@pytest.mark.parametrize("kind", ["separate", "delete"])
def test_instance_selection_parity(kind):
    t = Tree()
    iop = t.instances_on_line((t.node("GeometryNodeMeshCube"), "Mesh"), 6, t.input("Offset", "NodeSocketVector", (2, 0, 0)))
    sel = t.index_compare(t.input("Threshold", "NodeSocketFloat", 2.0))
    n = t.node("GeometryNodeSeparateGeometry" if kind == "separate" else "GeometryNodeDeleteGeometry", domain="INSTANCE")
    t.link((iop, "Instances"), n, "Geometry")
    t.link((sel, "Value"), n, "Selection")
    realize = t.node("GeometryNodeRealizeInstances")
    t.link((n, "Selection" if kind == "separate" else "Geometry"), realize, "Geometry")
    t.output((realize, "Geometry"))
    sets = [{"Offset": (2.0, 0.0, 0.0), "Threshold": th} for th in (-1.0, 1.5, 3.0, 10.0)]
    assert check_parity(t.object(), sets) == 4


@requires_bpy
def test_separate_batch_equals_singles():
    module = translate_object(_program("separate", "FACE"))
    sizes = torch.tensor([1.0, 1.5, 3.0], dtype=torch.float64)
    batch = module.program({}, {"Size": sizes, "Threshold": torch.full((3,), 100.0, dtype=torch.float64)})
    for i, s in enumerate(sizes.tolist()):
        single = module.program(*split_values(module, {"Size": s, "Threshold": 100.0}))
        torch.testing.assert_close(batch.verts[i], single.verts[0])
        assert batch.polygons() == single.polygons()


def test_selection_varying_across_the_batch_splits_it():
    with rt.eval_context(torch.float64):
        geo, _ = mesh_grid(vertices_x=3, vertices_y=3)
        varying = rt.Field(lambda f: torch.stack([torch.arange(9) < 4, torch.arange(9) < 6]), "BOOLEAN")
        with pytest.raises(rt.TopologyVaries):
            D.delete_geometry(geo, varying)
        kept = D.delete_geometry(geo, rt.Field(lambda f: (torch.arange(9) == 4).unsqueeze(0), "BOOLEAN")).mesh
        assert kept.num_verts == 8 and kept.num_faces == 0 and kept.edges.shape[0] == 8
