"""Mesh topology field inputs (ID, Edge Vertices, Edge / Face / Vertex Neighbors, Mesh Island, Edge Angle,
Is Face Planar) and the topology "of" nodes: Blender parity on a joined mesh with several islands, loose
edges, boundaries, n-gons and displaced (non-planar) faces, every output stored on several domains;
batched like single evaluations; float64 gradchecks of the float outputs."""

from __future__ import annotations

import pytest
import torch

from tests.fixtures.parity import Tree, check_parity, requires_bpy, split_values, translate_object
from tests.fixtures.probes import draw_sets
from translator import runtime as rt
from translator.nodes import topology as T
from translator.nodes.fields import mesh_context
from translator.nodes.primitives import mesh_cube

_TYPES = {"INT": "INT", "VALUE": "FLOAT", "VECTOR": "FLOAT_VECTOR", "BOOLEAN": "BOOLEAN"}


def _base(t: Tree, displaced: bool = True):
    """Cube (3x2x2) + 7-gon cylinder + 3x4 grid + a loose Mesh Line, joined, displaced by Amount * random."""
    join = t.node("GeometryNodeJoinGeometry")
    cube = t.node("GeometryNodeMeshCube", **{"Vertices X": 3, "Vertices Y": 2, "Vertices Z": 2})
    cyl = t.node("GeometryNodeMeshCylinder", fill_type="NGON", Vertices=7, **{"Side Segments": 2})
    grid = t.node("GeometryNodeMeshGrid", **{"Vertices X": 3, "Vertices Y": 4})
    line = t.node("GeometryNodeMeshLine", Count=3)
    for n in (cube, grid, line, cyl):
        t.link((n, "Mesh"), join, "Geometry")
    src = (join, "Geometry")
    if displaced:
        src = t.jittered(src)
    return src


def _store(t: Tree, src, value, socket_type: str, domain: str, name: str):
    st = t.node("GeometryNodeStoreNamedAttribute", data_type=_TYPES[socket_type], domain=domain, Name=name)
    t.link(src, st, "Geometry")
    t.link(value, st, "Value")
    return (st, "Geometry")


def _program(outputs: list[tuple[str, str, str, dict]], domains=("POINT", "EDGE", "FACE", "CORNER"), displaced=True):
    """Every ``(bl_idname, output, socket type, settings)`` stored on every domain as ``o<k>_<domain>``."""
    t = Tree()
    src = _base(t, displaced)
    names = []
    nodes: dict = {}
    inputs: dict = {}
    for k, (idname, out, typ, settings) in enumerate(outputs):
        key = (idname, tuple(sorted(settings.items())))
        if key not in nodes:
            n = t.node(idname)
            for sock, value in settings.items():
                if isinstance(value, tuple) and value and value[0] == "input":
                    if value[1] not in inputs:
                        inputs[value[1]] = t.input(value[1], value[2], value[3])
                    t.link(inputs[value[1]], n, sock)
                elif isinstance(value, tuple) and value and value[0] == "index_times":
                    m = t.node("ShaderNodeMath", operation="MULTIPLY_ADD", Value_001=value[1], Value_002=value[2])
                    t.link(t.node("GeometryNodeInputIndex"), m, "Value")
                    t.link((m, "Value"), n, sock)
                elif isinstance(value, tuple) and value and value[0] == "position_x":
                    sep = t.node("ShaderNodeSeparateXYZ")
                    t.link(t.node("GeometryNodeInputPosition"), sep, "Vector")
                    t.link((sep, "X"), n, sock)
                else:
                    n.inputs[sock].default_value = value
            nodes[key] = n
        for d in domains:
            name = f"o{k}_{d.lower()}"
            src = _store(t, src, (nodes[key], out), typ, d, name)
            names.append(name)
    t.output(src)
    return t.object(), names


_FIELDS = [
    ("GeometryNodeInputMeshEdgeVertices", "Vertex Index 1", "INT", {}),
    ("GeometryNodeInputMeshEdgeVertices", "Vertex Index 2", "INT", {}),
    ("GeometryNodeInputMeshEdgeVertices", "Position 1", "VECTOR", {}),
    ("GeometryNodeInputMeshEdgeVertices", "Position 2", "VECTOR", {}),
    ("GeometryNodeInputMeshEdgeNeighbors", "Face Count", "INT", {}),
    ("GeometryNodeInputMeshFaceNeighbors", "Vertex Count", "INT", {}),
    ("GeometryNodeInputMeshFaceNeighbors", "Face Count", "INT", {}),
    ("GeometryNodeInputMeshVertexNeighbors", "Vertex Count", "INT", {}),
    ("GeometryNodeInputMeshVertexNeighbors", "Face Count", "INT", {}),
    ("GeometryNodeInputMeshIsland", "Island Index", "INT", {}),
    ("GeometryNodeInputMeshIsland", "Island Count", "INT", {}),
    ("GeometryNodeInputMeshEdgeAngle", "Unsigned Angle", "VALUE", {}),
    ("GeometryNodeInputMeshEdgeAngle", "Signed Angle", "VALUE", {}),
    ("GeometryNodeInputMeshFaceIsPlanar", "Planar", "BOOLEAN", {"Threshold": ("input", "Threshold", "NodeSocketFloat", 0.01)}),
    ("GeometryNodeInputID", "ID", "INT", {}),
]


@requires_bpy
@pytest.mark.parametrize("part", [slice(0, 5), slice(5, 11), slice(11, 15)])
def test_topology_fields_parity(part):
    obj, names = _program(_FIELDS[part])
    sets = draw_sets(5, {"Seed": ("int", 0, 1000), "Amount": ("float", 0.0, 0.2)}, 4, [{"Amount": 0.0}])
    if part.start == 11:
        sets = [s | {"Threshold": th} for s in sets for th in (0.01, 0.1)]
    module = translate_object(obj)
    assert check_parity(obj, sets, module, attributes=names) == len(sets)


_OF = [
    ("GeometryNodeFaceOfCorner", "Face Index", "INT", {}),
    ("GeometryNodeFaceOfCorner", "Index in Face", "INT", {}),
    ("GeometryNodeFaceOfCorner", "Face Index", "INT", {"Corner Index": ("index_times", 3.0, -2.0)}),
    ("GeometryNodeVertexOfCorner", "Vertex Index", "INT", {"Corner Index": ("index_times", 2.0, 1.0)}),
    ("GeometryNodeEdgesOfCorner", "Next Edge Index", "INT", {}),
    ("GeometryNodeEdgesOfCorner", "Previous Edge Index", "INT", {"Corner Index": ("index_times", 1.0, 3.0)}),
    ("GeometryNodeOffsetCornerInFace", "Corner Index", "INT", {"Offset": ("input", "Offset", "NodeSocketInt", 1)}),
    ("GeometryNodeCornersOfFace", "Corner Index", "INT", {"Sort Index": ("input", "Sort", "NodeSocketInt", 1)}),
    ("GeometryNodeCornersOfFace", "Total", "INT", {"Face Index": ("index_times", 1.0, -1.0)}),
    ("GeometryNodeCornersOfVertex", "Corner Index", "INT", {"Sort Index": ("input", "Sort", "NodeSocketInt", 1)}),
    ("GeometryNodeCornersOfVertex", "Corner Index", "INT", {"Weights": ("position_x",), "Sort Index": 1}),
    ("GeometryNodeCornersOfVertex", "Total", "INT", {}),
    ("GeometryNodeEdgesOfVertex", "Edge Index", "INT", {"Sort Index": ("input", "Sort", "NodeSocketInt", 1)}),
    ("GeometryNodeEdgesOfVertex", "Edge Index", "INT", {"Weights": ("position_x",), "Sort Index": -1}),
    ("GeometryNodeEdgesOfVertex", "Total", "INT", {}),
    ("GeometryNodeCornersOfEdge", "Corner Index", "INT", {"Sort Index": ("input", "Sort", "NodeSocketInt", 1)}),
    ("GeometryNodeCornersOfEdge", "Corner Index", "INT", {"Weights": ("position_x",)}),
    ("GeometryNodeCornersOfEdge", "Total", "INT", {}),
]


@requires_bpy
@pytest.mark.parametrize("part", [slice(0, 7), slice(7, 12), slice(12, 18)])
def test_topology_of_nodes_parity(part):
    obj, names = _program(_OF[part])
    sets = draw_sets(6, {"Seed": ("int", 0, 1000), "Amount": ("float", 0.05, 0.2)}, 2)
    extra = {k: v for k, v in (("Offset", (-3, 1, 9)), ("Sort", (-1, 0, 2, 5))) if any(f"'{k}'" in repr(o) for o in _OF[part])}
    for key, values in extra.items():
        sets = [s | {key: v} for s in sets for v in values]
    module = translate_object(obj)
    assert check_parity(obj, sets, module, attributes=names) == len(sets)


@requires_bpy
def test_id_reads_the_id_attribute_on_points_only():
    t = Tree()
    src = _base(t, displaced=False)
    idx = t.node("ShaderNodeMath", operation="MULTIPLY_ADD", Value_001=3.0, Value_002=7.0)
    t.link(t.node("GeometryNodeInputIndex"), idx, "Value")
    src = _store(t, src, (idx, "Value"), "INT", "POINT", "id")
    ident = t.node("GeometryNodeInputID")
    names = ["id"]
    for d in ("POINT", "FACE", "EDGE"):
        src = _store(t, src, (ident, "ID"), "INT", d, f"ident_{d.lower()}")
        names.append(f"ident_{d.lower()}")
    t.output(src)
    obj = t.object()
    assert check_parity(obj, [{}], attributes=names) == 1


@requires_bpy
def test_topology_batch_equals_singles():
    obj, names = _program([_FIELDS[12], _FIELDS[13], _OF[10]])
    module = translate_object(obj)
    amounts = torch.tensor([0.0, 0.1, 0.2], dtype=torch.float64)
    batch = module.program({"Seed": 3}, {"Amount": amounts, "Threshold": torch.full((3,), 0.05, dtype=torch.float64)})
    for i, a in enumerate(amounts.tolist()):
        single = module.program(*split_values(module, {"Seed": 3, "Amount": a, "Threshold": 0.05}))
        for name in names:
            b = batch.attributes[name].data
            torch.testing.assert_close(b[i if b.shape[0] > 1 else 0], single.attributes[name].data[0])


def test_edge_angle_and_positions_gradcheck():
    with rt.eval_context(torch.float64):
        base = mesh_cube(size=(1.0, 2.0, 1.5), vertices_x=3)[0].mesh
        g = torch.Generator().manual_seed(2)
        delta = (0.1 * torch.randn((1, base.num_verts, 3), generator=g, dtype=torch.float64)).requires_grad_()
        unsigned, signed = T.edge_angle()
        _, _, p1, p2 = T.edge_vertices()

        def fields(d):
            m = type(base)(base.verts + d, base.corner_verts, base.face_offsets, base.edges)
            outs = [f.fn(mesh_context(m, dom)) for f in (unsigned, signed) for dom in ("EDGE", "POINT")]
            outs += [p.fn(mesh_context(m, "FACE")) for p in (p1, p2)]
            return torch.cat([o.reshape(-1) for o in outs])

        assert torch.autograd.gradcheck(fields, (delta,))


def test_islands_and_quad_split():
    with rt.eval_context(torch.float64):
        from translator.nodes.transform import join_geometry

        a, b = mesh_cube()[0], mesh_cube(size=(2.0, 2.0, 2.0))[0]
        m = join_geometry([b, a]).mesh
        ids, n = T.island_ids(m)
        assert n == 2 and ids.tolist() == [0] * 8 + [1] * 8
        tris, face = T.corner_tris(m)
        assert tris.shape == (1, 24, 3) and face.tolist() == [f for f in range(12) for _ in range(2)]
        assert tris[0, 0].tolist() == [0, 1, 2] and tris[0, 1].tolist() == [0, 2, 3]


@requires_bpy
def test_face_groups_parity():
    """Face Group Boundaries of ``index mod Groups`` and Edges to Face Groups of edges selected by index (and of
    those boundaries), stored on several domains."""
    t = Tree()
    src = _base(t)
    mod = t.node("ShaderNodeMath", operation="FLOORED_MODULO")
    t.link(t.node("GeometryNodeInputIndex"), mod, "Value")
    t.link(t.input("Groups", "NodeSocketFloat", 3.0), mod, "Value_001")
    fgb = t.node("GeometryNodeMeshFaceSetBoundaries")
    t.link((mod, "Value"), fgb, "Face Set")
    names = []
    for d in ("EDGE", "POINT", "FACE"):
        src = _store(t, src, (fgb, "Boundary Edges"), "BOOLEAN", d, f"fgb_{d.lower()}")
        names.append(f"fgb_{d.lower()}")
    for k, boundary in enumerate(((fgb, "Boundary Edges"), (t.index_compare(t.input("Cut", "NodeSocketFloat", 20.0)), "Value"))):
        e2g = t.node("GeometryNodeEdgesToFaceGroups")
        t.link(boundary, e2g, "Boundary Edges")
        for d in ("FACE", "POINT", "CORNER"):
            src = _store(t, src, (e2g, "Face Group ID"), "INT", d, f"e2g{k}_{d.lower()}")
            names.append(f"e2g{k}_{d.lower()}")
    t.output(src)
    obj = t.object()
    sets = [{"Seed": 1, "Amount": 0.05, "Groups": g, "Cut": c} for g, c in ((3.0, 20.0), (2.0, 55.0), (7.0, -1.0), (1.0, 90.0))]
    assert check_parity(obj, sets, attributes=names) == len(sets)
