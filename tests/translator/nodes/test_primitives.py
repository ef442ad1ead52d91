"""Mesh primitives (Cube, Grid, Cylinder, Cone, UV Sphere, Ico Sphere, Mesh Line).

Blender parity of vertex order, corner order, positions, edges, UV maps and the Top / Side /
Bottom selections over seeded parameter sets (every fill type and mode, degenerate and empty
counts, zero and negative sizes), through the exporter and the generated program; the
vectorised topology builders against slow references (the Ico Sphere against an emulation of
the BMesh operators Blender runs); float64 gradchecks of the positions w.r.t. every float
input; batching; counts (and cone radii) that differ across a batch.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

from tests.fixtures.parity import (
    Tree,
    check_parity,
    compare_attributes,
    empty_scene,
    requires_bpy,
    split_values,
    translate_object,
)
from tests.fixtures.probes import draw_sets
from translator import runtime as rt
from translator.nodes import get_spec
from translator.nodes import primitives as P

UV = ("UV Map", "uv", "CORNER", "FLOAT_VECTOR")


# ---------------------------------------------------------------------------
# Blender parity through the translated program


def _build(bl_idname: str, inputs: dict[str, str], props: dict | None = None, stores=()):
    """A program: the primitive with every socket in ``inputs`` (identifier -> interface socket
    type) driven by a group input of that name, then one Store Named Attribute per
    ``(output, name, domain, data_type)`` in ``stores``."""
    t = Tree()
    node = t.node(bl_idname, **(props or {}))
    for ident, socket_type in inputs.items():
        t.link(t.input(ident, socket_type), node, ident)
    src = (node, "Mesh")
    for output, name, domain, data_type in stores:
        store = t.node("GeometryNodeStoreNamedAttribute", data_type=data_type, domain=domain, Name=name)
        t.link(src, store, "Geometry")
        t.link((node, output), store, "Value")
        src = (store, "Geometry")
    t.output(src)
    return t.object()


def _blender_edges(obj) -> list[list[int]]:
    import bpy

    dg = bpy.context.evaluated_depsgraph_get()
    ev = obj.evaluated_get(dg)
    me = ev.to_mesh()
    try:
        buf = np.empty(len(me.edges) * 2, dtype=np.int64)
        me.edges.foreach_get("vertices", buf)
        return buf.reshape(-1, 2).tolist()
    finally:
        ev.to_mesh_clear()


def _parity(obj, value_sets, attributes=lambda values: ["uv"], edges=True) -> int:
    """Blender vs the translated program for every value set: topology, positions, the
    attributes ``attributes(values)`` names, and (``edges``) the edge list."""
    module = translate_object(obj)
    for values in value_sets:
        check_parity(obj, [values], module)  # sets the inputs; topology and positions
        mesh = module.program(*split_values(module, values))
        compare_attributes(obj, mesh, attributes(values))
        if edges:
            ours = mesh.edges.tolist() if mesh.edges is not None else None
            assert ours == _blender_edges(obj), f"values {values}: edges differ"
    return len(value_sets)


@requires_bpy
def test_cube_parity():
    empty_scene()
    obj = _build("GeometryNodeMeshCube", {"Size": "NodeSocketVector", "Vertices X": "NodeSocketInt",
                                          "Vertices Y": "NodeSocketInt", "Vertices Z": "NodeSocketInt"}, stores=[UV])
    counts = ("choice", [1, 2, 3, 4, 6])
    spec = {"Size": ("vector", -2.0, 3.0), "Vertices X": counts, "Vertices Y": counts, "Vertices Z": counts}
    degenerate = [{"Vertices X": x, "Vertices Y": y, "Vertices Z": z}
                  for x, y, z in [(1, 1, 1), (1, 1, 5), (1, 4, 1), (6, 1, 1), (1, 3, 4), (3, 1, 4), (3, 4, 1), (2, 2, 2),
                                  (0, 2, 2), (2, -1, 2), (2, 2, 0), (9, 7, 8)]]
    zero_size = [{"Size": (0.0, 1.5, -2.0), "Vertices X": 3, "Vertices Y": 2, "Vertices Z": 4},
                 {"Size": (0.0, 0.0, 0.0), "Vertices X": 2, "Vertices Y": 3, "Vertices Z": 2},
                 {"Size": (1.0, 0.0, 2.0), "Vertices X": 3, "Vertices Y": 1, "Vertices Z": 3},
                 {"Size": (1.0, 2.0, 0.0), "Vertices X": 1, "Vertices Y": 4, "Vertices Z": 3}]
    assert _parity(obj, draw_sets(1, spec, 30, degenerate + zero_size)) == 46


@requires_bpy
def test_grid_parity():
    empty_scene()
    obj = _build("GeometryNodeMeshGrid", {"Size X": "NodeSocketFloat", "Size Y": "NodeSocketFloat",
                                          "Vertices X": "NodeSocketInt", "Vertices Y": "NodeSocketInt"}, stores=[UV])
    counts = ("choice", [1, 2, 3, 5, 8])
    spec = {"Size X": ("float", -2.0, 3.0), "Size Y": ("float", -2.0, 3.0), "Vertices X": counts, "Vertices Y": counts}
    extra = [{"Vertices X": 1, "Vertices Y": 1}, {"Vertices X": 1, "Vertices Y": 4}, {"Vertices X": 5, "Vertices Y": 1},
             {"Vertices X": 0, "Vertices Y": 3}, {"Vertices X": 3, "Vertices Y": -2},
             {"Size X": 0.0, "Vertices X": 3, "Vertices Y": 4}, {"Size Y": 0.0, "Vertices X": 2, "Vertices Y": 2},
             {"Size X": 0.0, "Size Y": 0.0, "Vertices X": 4, "Vertices Y": 3}]
    assert _parity(obj, draw_sets(2, spec, 30, extra)) == 38


def _selection_names(values: dict, fill_type: str, cone: bool) -> list[str]:
    """The selection attributes to compare: each stored on the domain Blender keeps it on (points
    for a tip or an unfilled end, faces otherwise); none on faces of a line."""
    top_r, bottom_r = (values["Radius Top"], values["Radius Bottom"]) if cone else (values["Radius"],) * 2
    if top_r == 0 and bottom_r == 0:
        return ["uv", "top_p", "bottom_p"]
    if values["Vertices"] < 3 or values["Side Segments"] < 1 or (fill_type != "NONE" and values.get("Fill Segments", 1) < 1):
        return ["uv", "top_p", "side", "bottom_p"]
    top = "top_f" if top_r != 0 and fill_type != "NONE" else "top_p"
    bottom = "bottom_f" if bottom_r != 0 and fill_type != "NONE" else "bottom_p"
    return ["uv", top, "side", bottom]


_SELECTIONS = [UV, ("Top", "top_p", "POINT", "BOOLEAN"), ("Top", "top_f", "FACE", "BOOLEAN"), ("Side", "side", "FACE", "BOOLEAN"),
               ("Bottom", "bottom_p", "POINT", "BOOLEAN"), ("Bottom", "bottom_f", "FACE", "BOOLEAN")]


def _round_sets(fill_type: str, radii: dict, seed: int, extra: list[dict]) -> list[dict]:
    spec = {"Vertices": ("choice", [3, 4, 5, 8, 13, 32]), "Side Segments": ("choice", [1, 2, 3, 5]),
            "Fill Segments": ("choice", [1, 2, 3, 4]), "Depth": ("float", -1.0, 3.0), **radii}
    sets = draw_sets(seed, spec, 25, extra)
    if fill_type == "NONE":  # the socket is unavailable (Blender ignores it)
        for s in sets:
            s.pop("Fill Segments")
    return sets


_ROUND_EDGE_CASES = [
    {"Vertices": 3, "Side Segments": 1, "Fill Segments": 1},
    {"Vertices": 2, "Side Segments": 1, "Fill Segments": 1},  # fewer than 3 vertices: empty
    {"Vertices": 6, "Side Segments": 0, "Fill Segments": 1},  # no side segments: empty
    {"Vertices": 6, "Side Segments": 2, "Fill Segments": 0},  # no fill segments: empty unless NONE
    {"Vertices": 1000, "Side Segments": 1, "Fill Segments": 1},  # ring angles need Blender's float32 steps
    {"Vertices": 1500, "Side Segments": 2, "Fill Segments": 2, "Depth": 0.0},
]


@requires_bpy
@pytest.mark.parametrize("fill_type", ["NONE", "NGON", "TRIANGLE_FAN"])
def test_cylinder_parity(fill_type):
    empty_scene()
    inputs = {"Vertices": "NodeSocketInt", "Side Segments": "NodeSocketInt", "Radius": "NodeSocketFloat",
              "Depth": "NodeSocketFloat"} | ({} if fill_type == "NONE" else {"Fill Segments": "NodeSocketInt"})
    obj = _build("GeometryNodeMeshCylinder", inputs, {"fill_type": fill_type}, stores=_SELECTIONS)
    extra = _ROUND_EDGE_CASES + [
        {"Radius": 0.0, "Side Segments": 3},  # a line along z
        {"Radius": 0.0, "Depth": 0.0},  # a single vertex
        {"Radius": -1.25, "Vertices": 7, "Side Segments": 2, "Fill Segments": 3},
    ]
    sets = _round_sets(fill_type, {"Radius": ("float", -2.0, 3.0)}, 3, extra)
    assert _parity(obj, sets, lambda v: _selection_names(v, fill_type, cone=False)) == len(sets)


@requires_bpy
@pytest.mark.parametrize("fill_type", ["NONE", "NGON", "TRIANGLE_FAN"])
def test_cone_parity(fill_type):
    empty_scene()
    inputs = {"Vertices": "NodeSocketInt", "Side Segments": "NodeSocketInt", "Radius Top": "NodeSocketFloat",
              "Radius Bottom": "NodeSocketFloat", "Depth": "NodeSocketFloat"}
    if fill_type != "NONE":
        inputs["Fill Segments"] = "NodeSocketInt"
    obj = _build("GeometryNodeMeshCone", inputs, {"fill_type": fill_type}, stores=_SELECTIONS)
    zeros = [{"Radius Top": 0.0}, {"Radius Bottom": 0.0}, {"Radius Top": 0.0, "Side Segments": 1},
             {"Radius Bottom": 0.0, "Side Segments": 3, "Fill Segments": 2}, {"Radius Top": 0.0, "Vertices": 3, "Side Segments": 4},
             {"Radius Top": 0.0, "Radius Bottom": 0.0, "Side Segments": 4}, {"Radius Top": 0.0, "Radius Bottom": 0.0, "Depth": 0.0},
             {"Radius Top": -0.5, "Radius Bottom": 0.0}, {"Radius Top": 1.0, "Radius Bottom": 1.0}]
    radii = {"Radius Top": ("float", -1.0, 2.0), "Radius Bottom": ("float", -1.0, 2.0)}
    sets = _round_sets(fill_type, radii, 4, _ROUND_EDGE_CASES + zeros)
    sets += _round_sets(fill_type, {**radii, "Radius Top": ("choice", [0.0])}, 5, [])[:10]  # random tips
    assert _parity(obj, sets, lambda v: _selection_names(v, fill_type, cone=True)) == len(sets)


@requires_bpy
def test_uv_sphere_parity():
    empty_scene()
    obj = _build("GeometryNodeMeshUVSphere", {"Segments": "NodeSocketInt", "Rings": "NodeSocketInt",
                                              "Radius": "NodeSocketFloat"}, stores=[UV])
    spec = {"Segments": ("choice", [3, 4, 5, 7, 16, 32]), "Rings": ("choice", [2, 3, 4, 9]), "Radius": ("float", -2.0, 3.0)}
    extra = [{"Segments": 2}, {"Rings": 1}, {"Segments": 3, "Rings": 2}, {"Radius": 0.0},
             {"Segments": 400, "Rings": 300, "Radius": 2.5}]
    assert _parity(obj, draw_sets(6, spec, 25, extra)) == 30


@requires_bpy
def test_ico_sphere_parity():
    empty_scene()
    obj = _build("GeometryNodeMeshIcoSphere", {"Radius": "NodeSocketFloat", "Subdivisions": "NodeSocketInt"}, stores=[UV])
    spec = {"Radius": ("float", -2.0, 3.0), "Subdivisions": ("choice", [1, 2, 3, 4])}
    extra = [{"Subdivisions": 0}, {"Subdivisions": -3}, {"Subdivisions": 5}, {"Subdivisions": 2, "Radius": 0.0}]
    assert _parity(obj, draw_sets(7, spec, 16, extra)) == 20


@requires_bpy
@pytest.mark.parametrize("mode,count_mode", [("OFFSET", "TOTAL"), ("END_POINTS", "TOTAL"), ("END_POINTS", "RESOLUTION")])
def test_mesh_line_parity(mode, count_mode):
    empty_scene()
    counted = count_mode == "TOTAL"
    inputs = {"Start Location": "NodeSocketVector", "Offset": "NodeSocketVector"}
    inputs |= {"Count": "NodeSocketInt"} if counted else {"Resolution": "NodeSocketFloat"}
    obj = _build("GeometryNodeMeshLine", inputs, {"mode": mode, "count_mode": count_mode})
    spec = {"Start Location": ("vector", -2.0, 2.0), "Offset": ("vector", -2.0, 2.0)}
    spec |= {"Count": ("choice", [0, 1, 2, 3, 7])} if counted else {"Resolution": ("float", 0.1, 1.5)}
    if counted:
        extra = [{"Count": 1}, {"Count": 0}, {"Count": -2}, {"Count": 2, "Offset": (0.0, 0.0, 0.0)}]
    else:
        extra = [{"Resolution": 0.0}, {"Resolution": -1.0}, {"Start Location": (1.0, 1.0, 1.0), "Offset": (1.0, 1.0, 1.0)},
                 {"Start Location": (0.0, 0.0, 0.0), "Offset": (0.0, 0.0, 3.5), "Resolution": 0.5}]
    sets = draw_sets(8, spec, 20, extra)
    assert _parity(obj, sets, lambda values: []) == len(sets)


# ---------------------------------------------------------------------------
# Fast topology builders against slow references


def _ico_reference(subdivisions: int, radius: float):
    """An emulation of what Blender runs for the Ico Sphere: BMesh's create_icosphere (faces
    created with their loops' UVs) and subdivide_edges with grid fill and sphere projection,
    split by split: each face a loop list of [vertex, uv] starting at its first loop, faces and
    edges in creation order, a vertex's flat and projected positions kept apart as Blender's
    temporary shape key does. Returns (faces, edges, positions, corner uvs)."""
    n = (1 << (subdivisions - 1)) - 1
    ico = [tuple(c * radius / 200.0 for c in v) for v in P._ICO_VERTS]
    co = [list(v) for v in ico]  # current coordinates
    proj: dict[int, list[float]] = {}  # projected coordinates of the split's temporary shape key

    def project(v: int) -> None:
        length = math.sqrt(sum(x * x for x in co[v]))
        proj[v] = [x / length * radius for x in co[v]]

    uvs = [(P._ICO_U[int(h, 16)], P._ICO_V[int(k)]) for h, k in zip(P._ICO_UV_U, P._ICO_UV_V)]
    faces: list[list[list]] = []
    edges: list[list[int]] = []
    for f, (a, b, c) in enumerate(P._ICO_FACES):
        faces.append([[a, uvs[3 * f]], [b, uvs[3 * f + 1]], [c, uvs[3 * f + 2]]])
        for p, q in ((c, a), (a, b), (b, c)):
            if [p, q] not in edges and [q, p] not in edges:
                edges.append([p, q])
    if n == 0:
        return [[v for v, _ in f] for f in faces], edges, co, [uv for f in faces for _, uv in f]

    def faces_with(*vs):
        return [i for i, f in enumerate(faces) if all(any(v == w for w, _ in f) for v in vs)]

    def split_edge(e: int, fac: float) -> int:
        """BM_edge_split from the edge's first vertex: the new vertex is appended, the new edge
        (first, new) is appended, the edge becomes (new, second); every face around it gets a
        loop between the two with an interpolated uv."""
        tv, other = edges[e]
        v = len(co)
        co.append([x + (y - x) * fac for x, y in zip(co[tv], co[other])])
        for fi in faces_with(tv, other):
            loops = faces[fi]
            ids = [w for w, _ in loops]
            i, j = ids.index(tv), ids.index(other)
            uv = tuple(x + (y - x) * fac for x, y in zip(loops[i][1], loops[j][1]))
            at = max(i, j) if abs(i - j) == 1 else len(loops)  # between them (after the last when they wrap)
            loops.insert(at, [v, uv])
        edges.append([tv, v])
        edges[e] = [v, other]
        return v

    def split_face(va: int, vb: int) -> int:
        """connect_smallest_face + BM_face_split: the face keeps the loops from va up to vb and a
        new loop of vb, the new face (appended) those from vb up to va and a new loop of va; first
        loops as bmesh_kernel_split_face_make_edge picks them. Returns the new edge."""
        cands = faces_with(va, vb)
        smallest = min(len(faces[i]) for i in cands)
        cands = [i for i in cands if len(faces[i]) == smallest]
        assert len(cands) == 1
        loops = faces[cands[0]]
        ids = [w for w, _ in loops]
        ia, ib, m = ids.index(va), ids.index(vb), len(loops)
        arc1 = [loops[(ia + k) % m] for k in range((ib - ia) % m)]
        arc2 = [loops[(ib + k) % m] for k in range((ia - ib) % m)]
        f1 = arc1 + [[vb, loops[ib][1]]]
        f2 = arc2 + [[va, loops[ia][1]]]
        first = loops[0]
        if any(x is first for x in arc1):
            p = next(k for k, x in enumerate(arc1) if x is first)
            s2 = len(f2) - 2 if p == 0 else 0 if p == len(arc1) - 1 else len(f2) - 1
            f1, f2 = f1[p:] + f1[:p], f2[s2:] + f2[:s2]
        else:
            p = next(k for k, x in enumerate(arc2) if x is first)
            s1 = len(f1) - 2 if p == 0 else 0 if p == len(arc2) - 1 else len(f1) - 1
            f1, f2 = f1[s1:] + f1[:s1], f2[p:] + f2[:p]
        faces[cands[0]] = f1
        faces.append(f2)
        edges.append([va, vb])
        return len(edges) - 1

    # subdivide_edges: split every edge n times from its first vertex, projecting as we go
    starts = [f[0][0] for f in faces]
    for e in range(len(edges)):
        a, b = edges[e]
        for k in range(n):
            project(split_edge(e, 1.0 / (n + 1 - k)))
        project(a)
        project(b)
    for v in range(len(co)):
        co[v] = list(proj[v])
    # then fill the faces from the last to the first (tri_3edge_subdivide with grid fill)
    for fi in range(19, -1, -1):
        ids = [w for w, _ in faces[fi]]
        k = ids.index(starts[fi])
        verts = ids[k + 1:] + ids[: k + 1]
        lines = [[verts[2 * n + 1]]]
        for i in range(n):
            a, b = verts[2 * n + 2 + i], verts[2 * n - i]
            e = split_face(a, b)
            row = [a]
            for j in range(i):
                v = split_edge(e, 1.0 / (i + 1 - j))
                project(v)
                row.append(v)
            lines.append(row + [b])
        lines.append([verts[3 * n + 2]] + verts[:n] + [verts[n]])
        for i in range(1, n + 1):
            for j in range(i):
                split_face(lines[i][j], lines[i + 1][j + 1])
                split_face(lines[i][j + 1], lines[i + 1][j + 1])
    for v in range(12, len(co)):
        co[v] = list(proj[v])
    for v in range(12):
        co[v] = list(proj[v])
    return [[v for v, _ in f] for f in faces], edges, co, [uv for f in faces for _, uv in f]


@pytest.mark.parametrize("subdivisions", [1, 2, 3, 4])
def test_ico_sphere_topology_matches_bmesh_emulation(subdivisions):
    faces, edges, positions, uvs = _ico_reference(subdivisions, 1.5)
    topo = P.ico_sphere_topology(subdivisions)
    cv = topo["corner_verts"].tolist()
    assert [cv[i:i + 3] for i in range(0, len(cv), 3)] == faces
    assert topo["edges"].tolist() == edges
    unit = topo["basis"].reshape(-1, 3)
    torch.testing.assert_close(unit * 1.5, torch.tensor(positions, dtype=torch.float64), rtol=0, atol=1e-12)
    torch.testing.assert_close(topo["uv"][:, :2], torch.tensor(uvs, dtype=torch.float64), rtol=0, atol=1e-12)
    assert len(positions) == 10 * 4 ** (subdivisions - 1) + 2


def _cube_reference(vx: int, vy: int, vz: int):
    """Blender's cuboid written out with loops: surface points numbered layer by layer (z, then
    y, then x), the six sides' quads and UVs listed point by point."""
    ex, ey, ez = vx - 1, vy - 1, vz - 1
    index, coef = {}, []
    for z in range(vz):
        for y in range(vy):
            for x in range(vx):
                if x in (0, ex) or y in (0, ey) or z in (0, ez):
                    index[(x, y, z)] = len(coef)
                    coef.append((x / ex - 0.5, y / ey - 0.5, z / ez - 0.5))
    xd, yd, zd = 0.25 / ex, 0.25 / ey, 0.25 / ez
    quads, uvs = [], []

    def quad(points, uv):
        quads.append([index[p] for p in points])
        uvs.extend(uv)

    for y in range(ey):  # bottom
        for x in range(ex):
            quad([(x, y, 0), (x, y + 1, 0), (x + 1, y + 1, 0), (x + 1, y, 0)],
                 [(0.25 + x * xd, 0.375 - y * yd), (0.25 + x * xd, 0.375 - (y + 1) * yd),
                  (0.25 + (x + 1) * xd, 0.375 - (y + 1) * yd), (0.25 + (x + 1) * xd, 0.375 - y * yd)])
    for z in range(ez):  # front
        for x in range(ex):
            quad([(x, 0, z), (x + 1, 0, z), (x + 1, 0, z + 1), (x, 0, z + 1)],
                 [(0.25 + x * xd, 0.375 + z * zd), (0.25 + (x + 1) * xd, 0.375 + z * zd),
                  (0.25 + (x + 1) * xd, 0.375 + (z + 1) * zd), (0.25 + x * xd, 0.375 + (z + 1) * zd)])
    for y in range(ey):  # top
        for x in range(ex):
            quad([(x, y, ez), (x + 1, y, ez), (x + 1, y + 1, ez), (x, y + 1, ez)],
                 [(0.25 + x * xd, 0.625 + y * yd), (0.25 + (x + 1) * xd, 0.625 + y * yd),
                  (0.25 + (x + 1) * xd, 0.625 + (y + 1) * yd), (0.25 + x * xd, 0.625 + (y + 1) * yd)])
    for z in range(ez):  # back
        for x in range(ex):
            quad([(x, ey, z), (x, ey, z + 1), (x + 1, ey, z + 1), (x + 1, ey, z)],
                 [(1 - x * xd, 0.375 + z * zd), (1 - x * xd, 0.375 + (z + 1) * zd),
                  (1 - (x + 1) * xd, 0.375 + (z + 1) * zd), (1 - (x + 1) * xd, 0.375 + z * zd)])
    for z in range(ez):  # left
        for y in range(ey):
            quad([(0, y, z), (0, y, z + 1), (0, y + 1, z + 1), (0, y + 1, z)],
                 [(0.25 - y * yd, 0.375 + z * zd), (0.25 - y * yd, 0.375 + (z + 1) * zd),
                  (0.25 - (y + 1) * yd, 0.375 + (z + 1) * zd), (0.25 - (y + 1) * yd, 0.375 + z * zd)])
    for z in range(ez):  # right
        for y in range(ey):
            quad([(ex, y, z), (ex, y + 1, z), (ex, y + 1, z + 1), (ex, y, z + 1)],
                 [(0.5 + y * yd, 0.375 + z * zd), (0.5 + (y + 1) * yd, 0.375 + z * zd),
                  (0.5 + (y + 1) * yd, 0.375 + (z + 1) * zd), (0.5 + y * yd, 0.375 + (z + 1) * zd)])
    return coef, quads, uvs


@pytest.mark.parametrize("counts", [(2, 2, 2), (3, 2, 2), (2, 3, 2), (2, 2, 3), (4, 3, 5), (5, 6, 2), (3, 7, 4)])
def test_cube_topology_matches_reference(counts):
    coef, quads, uvs = _cube_reference(*counts)
    topo = P.cube_topology(*counts)
    ours = topo["corner_verts"].reshape(-1, 4).tolist()
    assert ours == quads
    torch.testing.assert_close(topo["basis"].sum(0).reshape(-1, 3), torch.tensor(coef, dtype=torch.float64))
    torch.testing.assert_close(topo["uv"][:, :2], torch.tensor(uvs, dtype=torch.float64))
    assert topo["edges"].tolist() == _edges_reference(quads, 1)


def _edges_reference(faces: list[list[int]], tables: int) -> list[list[int]]:
    """mesh_calc_edges written out: each table (by the low vertex) in order of first appearance."""
    order: dict[tuple[int, int], None] = {}
    for f in faces:
        for k in range(len(f)):
            a, b = f[k - 1], f[k]
            order.setdefault((min(a, b), max(a, b)), None)
    return [list(e) for t in range(tables) for e in order if e[0] % tables == t]


@pytest.mark.parametrize("cpus,tables", [(1, 1), (2, 2), (3, 2), (6, 4), (16, 8)])
def test_edges_from_faces_hash_tables(monkeypatch, cpus, tables):
    monkeypatch.setattr(P.os, "cpu_count", lambda: cpus)
    small = P.cube_topology(3, 4, 5)  # fewer than 1000 faces: always one table
    quads = small["corner_verts"].reshape(-1, 4).tolist()
    assert P.edges_from_faces(small["corner_verts"], small["face_offsets"]).tolist() == _edges_reference(quads, 1)
    big = P.grid_topology(40, 30)  # 1131 faces
    quads = big["corner_verts"].reshape(-1, 4).tolist()
    assert P.edges_from_faces(big["corner_verts"], big["face_offsets"]).tolist() == _edges_reference(quads, tables)


def test_circle_angles_accumulate_in_float32():
    """Ring vertex j sits at the float32 sum of j float32 steps (not at j * 2 pi / n)."""
    n = 1000
    step = np.float32(2.0 * (math.pi / n))
    angle, expected = np.float32(0.0), []
    for _ in range(n):
        expected.append(angle)
        angle = np.float32(angle + step)
    angles = np.array(expected, dtype=np.float64)
    torch.testing.assert_close(P._circle(n), torch.tensor(np.stack([np.cos(angles), np.sin(angles)], 1)))
    exact = torch.arange(n, dtype=torch.float64) * (2 * math.pi / n)
    assert float((P._circle(n)[:, 0] - exact.cos()).abs().max()) > 1e-5  # the difference matters at 1e-5


# ---------------------------------------------------------------------------
# Gradients, batching, topology across a batch


def _verts(result) -> torch.Tensor:
    geo = result[0] if isinstance(result, tuple) else result
    return geo.mesh.verts


def _b(*values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64, requires_grad=True)


_GRADCHECKS = {
    "cube": (lambda s: P.mesh_cube(size=s, vertices_x=3, vertices_y=2, vertices_z=4), [_b([1.5, -0.7, 2.0], [0.3, 1.0, 0.8])]),
    "cube_grid": (lambda s: P.mesh_cube(size=s, vertices_x=3, vertices_y=1, vertices_z=4), [_b([1.5, -0.7, 2.0])]),
    "cube_line": (lambda s: P.mesh_cube(size=s, vertices_x=1, vertices_y=5, vertices_z=1), [_b([1.5, -0.7, 2.0])]),
    "grid": (lambda x, y: P.mesh_grid(size_x=x, size_y=y, vertices_x=4, vertices_y=3), [_b(1.5, -0.5), _b(0.7, 2.0)]),
    "uv_sphere": (lambda r: P.mesh_uv_sphere(segments=7, rings=5, radius=r), [_b(1.3, -0.4)]),
    "ico_sphere": (lambda r: P.mesh_ico_sphere(subdivisions=2, radius=r), [_b(1.3, -0.4)]),
    "line_offset": (lambda a, o: P.mesh_line(count=4, start_location=a, offset=o), [_b([0.1, 0.2, 0.3]), _b([1.0, -2.0, 0.5])]),
    "line_end_points": (lambda a, o: P.mesh_line(mode="END_POINTS", count=5, start_location=a, offset=o),
                        [_b([0.1, 0.2, 0.3]), _b([1.0, -2.0, 0.5])]),
    "line_resolution": (lambda a, o, r: P.mesh_line(mode="END_POINTS", count_mode="RESOLUTION", resolution=r, start_location=a,
                                                    offset=o), [_b([0.1, 0.2, 0.3]), _b([1.0, -2.0, 0.5]), _b(0.35)]),
}
for _fill in ("NONE", "NGON", "TRIANGLE_FAN"):
    _GRADCHECKS[f"cylinder_{_fill}"] = (
        lambda r, d, f=_fill: P.mesh_cylinder(fill_type=f, vertices=4, side_segments=2, fill_segments=2, radius=r, depth=d),
        [_b(1.2, -0.6), _b(2.0, 0.5)])
    _GRADCHECKS[f"cone_{_fill}"] = (
        lambda t, b, d, f=_fill: P.mesh_cone(fill_type=f, vertices=4, side_segments=3, fill_segments=2, radius_top=t,
                                             radius_bottom=b, depth=d), [_b(0.4, 1.1), _b(1.2, -0.6), _b(2.0, 0.5)])
    _GRADCHECKS[f"cone_tip_{_fill}"] = (
        lambda b, d, f=_fill: P.mesh_cone(fill_type=f, vertices=4, side_segments=3, fill_segments=2, radius_top=0.0,
                                          radius_bottom=b, depth=d), [_b(1.2, -0.6), _b(2.0, 0.5)])


@pytest.mark.parametrize("name", sorted(_GRADCHECKS))
def test_gradcheck_positions(name):
    fn, inputs = _GRADCHECKS[name]
    with rt.eval_context(torch.float64):
        assert torch.autograd.gradcheck(lambda *xs: _verts(fn(*xs)), inputs)


def test_gradcheck_cone_line_depth():
    """Both radii 0: a line along z, still differentiable in the depth."""
    with rt.eval_context(torch.float64):
        assert torch.autograd.gradcheck(lambda d: _verts(P.mesh_cone(radius_top=0.0, radius_bottom=0.0, side_segments=3, depth=d)),
                                        [_b(2.0, -0.5)])


_BATCHED = {
    "cube": (lambda s: P.mesh_cube(size=s, vertices_x=2, vertices_y=3, vertices_z=4),
             torch.tensor([[1.0, 2.0, 3.0], [0.5, -1.0, 0.0], [2.0, 2.0, 2.0]], dtype=torch.float64)),
    "grid": (lambda x: P.mesh_grid(size_x=x, size_y=1.5, vertices_x=3, vertices_y=5), torch.tensor([1.0, -2.0, 0.0])),
    "cylinder": (lambda r: P.mesh_cylinder(radius=r, depth=2.0, vertices=9, fill_type="TRIANGLE_FAN"), torch.tensor([1.0, -2.0, 0.5])),
    "cone": (lambda d: P.mesh_cone(radius_top=0.5, radius_bottom=1.0, depth=d, vertices=6, side_segments=2), torch.tensor([1.0, -2.0, 0.0])),
    "uv_sphere": (lambda r: P.mesh_uv_sphere(radius=r, segments=5, rings=4), torch.tensor([1.0, -2.0, 0.5])),
    "ico_sphere": (lambda r: P.mesh_ico_sphere(radius=r, subdivisions=2), torch.tensor([1.0, -2.0, 0.5])),
    "line": (lambda o: P.mesh_line(count=4, offset=o), torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, -1.0]])),
}


@pytest.mark.parametrize("name", sorted(_BATCHED))
def test_batch_equals_separate_evaluations(name):
    fn, values = _BATCHED[name]
    batched = _verts(fn(values))
    assert batched.shape[0] == values.shape[0]
    for i in range(values.shape[0]):
        torch.testing.assert_close(batched[i:i + 1], _verts(fn(values[i])))


def test_constant_inputs_give_batch_one():
    assert _verts(P.mesh_cube()).shape == (1, 8, 3)
    assert _verts(P.mesh_cylinder(vertices=5)).shape == (1, 10, 3)
    assert _verts(P.mesh_uv_sphere(segments=4, rings=3)).shape == (1, 10, 3)
    assert _verts(P.mesh_line(count=3)).shape == (1, 3, 3)


def test_batched_count_that_differs_raises():
    with pytest.raises(rt.TopologyVaries):
        P.mesh_cube(vertices_x=torch.tensor([2, 3]))
    with pytest.raises(rt.TopologyVaries):
        P.mesh_uv_sphere(segments=torch.tensor([8, 8, 9]))
    with pytest.raises(rt.TopologyVaries):
        P.mesh_cone(radius_top=torch.tensor([0.0, 1.0]))  # a tip for one element, a ring for the other
    with pytest.raises(rt.TopologyVaries):
        P.mesh_line(mode="END_POINTS", count_mode="RESOLUTION", offset=torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 3.0]]))
    # a count shared by the batch is fine
    assert _verts(P.mesh_cube(vertices_x=torch.tensor([3, 3]), size=torch.ones(2, 3))).shape == (2, 12, 3)


def test_evaluate_grouped_splits_by_count():
    def program(discrete, continuous):
        n = rt.convert(continuous["n"], "VALUE", "INT")
        return P.mesh_grid(vertices_x=n, vertices_y=2, size_x=continuous["n"])[0].mesh

    groups = rt.evaluate_grouped(program, {}, {"n": torch.tensor([2.0, 3.0, 2.0])})
    assert [g[0].tolist() for g in groups] == [[0, 2], [1]]
    assert [g[1].num_verts for g in groups] == [4, 6]


def _anonymous(mesh) -> dict:
    """The mesh's attributes but the built-in ``sharp_face`` every primitive has (flat shading)."""
    return {k: a for k, a in mesh.attributes.items() if k != "sharp_face"}


def test_uv_map_and_selections_are_anonymous_attributes():
    geo, uv = P.mesh_cube(vertices_x=2, vertices_y=2, vertices_z=2)
    mesh = geo.mesh
    assert isinstance(uv, rt.Field) and len(_anonymous(mesh)) == 1
    assert mesh.attributes["sharp_face"].data.all() and mesh.attributes["sharp_face"].domain == "FACE"
    (attr,) = _anonymous(mesh).values()
    assert attr.domain == "CORNER" and attr.data.shape == (1, 24, 3)
    value = rt.eval_field(uv, rt.FieldContext("CORNER", 24, mesh=mesh), "VECTOR")
    torch.testing.assert_close(value, attr.data)
    assert P.mesh_cube()[0].mesh.attributes.keys() != mesh.attributes.keys()  # a fresh name per evaluation
    geo, top, side, bottom, uv = P.mesh_cylinder(vertices=4, fill_type="NGON")
    assert [a.domain for a in _anonymous(geo.mesh).values()] == ["FACE", "FACE", "FACE", "CORNER"]
    faces = rt.FieldContext("FACE", geo.mesh.num_faces, mesh=geo.mesh)
    assert rt.eval_field(top, faces, "BOOLEAN")[0].tolist() == [True, False, False, False, False, False]
    assert rt.eval_field(side, faces, "BOOLEAN")[0].tolist() == [False, True, True, True, True, False]
    assert rt.eval_field(bottom, faces, "BOOLEAN")[0].tolist() == [False] * 5 + [True]


def test_outputs_nobody_reads_are_not_stored():
    geo, uv = P.mesh_ico_sphere(subdivisions=2, outputs_used=("Mesh",))
    assert _anonymous(geo.mesh) == {} and uv == (0.0, 0.0, 0.0)
    geo, top, side, bottom, uv = P.mesh_cylinder(outputs_used=("Mesh", "Side"))
    assert [a.domain for a in _anonymous(geo.mesh).values()] == ["FACE"]
    assert top is False and bottom is False and isinstance(side, rt.Field)
    assert get_spec("GeometryNodeMeshCone").outputs == ("Mesh", "Top", "Bottom", "Side", "UV Map")


def test_empty_and_degenerate_counts():
    assert P.mesh_cube(vertices_x=0)[0].mesh is None
    assert P.mesh_grid(vertices_y=-1)[0].mesh is None
    assert P.mesh_cylinder(vertices=2)[0].mesh is None
    assert P.mesh_cone(side_segments=0)[0].mesh is None
    assert P.mesh_cylinder(fill_segments=0, fill_type="NGON")[0].mesh is None
    assert P.mesh_cylinder(fill_segments=0, fill_type="NONE")[0].mesh is not None  # ignored without fill
    assert P.mesh_uv_sphere(rings=1)[0].mesh is None
    assert P.mesh_line(count=0).mesh is None
    point = P.mesh_cube(vertices_x=1, vertices_y=1, vertices_z=1)[0].mesh
    assert point.num_verts == 1 and point.num_faces == 0 and point.edges.shape == (0, 2)
    line = P.mesh_cube(vertices_x=1, vertices_y=4, vertices_z=1, size=(1.0, 3.0, 1.0))[0].mesh
    torch.testing.assert_close(line.verts[0, :, 1], torch.tensor([-1.5, -0.5, 0.5, 1.5]))
    assert line.edges.tolist() == [[0, 1], [1, 2], [2, 3]]
    tip = P.mesh_cone(radius_top=0.0, radius_bottom=0.0, side_segments=2, depth=2.0)[0].mesh
    torch.testing.assert_close(tip.verts[0, :, 2], torch.tensor([2.0, 1.0, 0.0]))
    assert P.mesh_cone(radius_top=0.0, radius_bottom=0.0, depth=0.0)[0].mesh.num_verts == 1
    assert P.mesh_ico_sphere(subdivisions=-4)[0].mesh.num_verts == 12


def test_ico_subdivisions_clamp_at_ten(monkeypatch):
    asked, real = [], P.ico_sphere_topology

    def topology(s):
        asked.append(s)
        return real(1)

    monkeypatch.setattr(P, "ico_sphere_topology", topology)
    assert P.mesh_ico_sphere(subdivisions=99)[0].mesh.num_verts == 12
    assert asked == [10]


def test_topology_is_cached_per_counts():
    a = P.mesh_uv_sphere(segments=6, rings=4)[0].mesh
    b = P.mesh_uv_sphere(segments=6, rings=4, radius=2.0)[0].mesh
    assert a.corner_verts is b.corner_verts and a.face_offsets is b.face_offsets


@requires_bpy
def test_generated_code_builds_only_the_outputs_read():
    empty_scene()
    obj = _build("GeometryNodeMeshCylinder", {"Radius": "NodeSocketFloat"}, {"fill_type": "NGON"},
                 stores=[("Side", "side", "FACE", "BOOLEAN")])
    module = translate_object(obj)
    assert "outputs_used=('Mesh', 'Side')" in module.SOURCE
    mesh = module.program({}, {"Radius": torch.tensor([0.5])})
    assert sorted(_anonymous(mesh)) == ["side"]  # anonymous attributes do not leave the program, as in Blender
    geo, *_ = P.mesh_cylinder(radius=0.5, fill_type="NGON", outputs_used=("Mesh", "Side"))
    names = sorted(_anonymous(geo.mesh))  # only the Side output's anonymous attribute: no Top / Bottom / UV Map
    assert len(names) == 1 and names[0].startswith(".side_")
    empty_scene()
    module = translate_object(_build("GeometryNodeMeshIcoSphere", {"Radius": "NodeSocketFloat"}))
    assert "outputs_used=('Mesh',)" in module.SOURCE
    assert _anonymous(module.program({}, {"Radius": torch.tensor([0.5, 2.0])})) == {}


def test_bad_input_errors_name_the_problem():
    field = rt.attribute_field("x", "VALUE")
    with pytest.raises(TypeError, match="Cylinder radius must be a single value"):
        P.mesh_cylinder(radius=field)
    with pytest.raises(TypeError, match="Cube size must be a single value"):
        P.mesh_cube(size=rt.attribute_field("x", "VECTOR"))
    with pytest.raises(TypeError, match="Cube Vertices X must be a single value"):
        P.mesh_cube(vertices_x=rt.attribute_field("x", "INT"))
    with pytest.raises(ValueError, match="Cone fill type must be one of NONE, NGON, TRIANGLE_FAN, got 'FAN'"):
        P.mesh_cone(fill_type="FAN")
    with pytest.raises(ValueError, match="Mesh Line mode"):
        P.mesh_line(mode="CIRCLE")


# ---------------------------------------------------------------------------
# size limits: a count from a user's value must not allocate until the machine dies


def test_a_node_that_would_exceed_the_size_limit_raises_before_allocating():
    from translator import runtime as rt
    from translator.nodes import instances as I
    from translator.nodes import primitives as P

    for make, words in ((lambda: P.mesh_line(count=10**9), "a line of 1,000,000,000 points"),
                        (lambda: P.mesh_grid(vertices_x=100_000, vertices_y=100_000), "Grid (100,000 x 100,000 vertices)"),
                        (lambda: P.mesh_uv_sphere(segments=10**5, rings=10**5), "UV Sphere (100,000 segments, 100,000 rings)")):
        with pytest.raises(rt.SizeLimitError, match=rf"{re.escape(words)} would make [\d,]+ vertices and face corners, "
                                                    r"more than the limit of 100,000,000"):
            make()
    # realizing multiplies: 2,000 points x a 2,500-vertex grid instance is within no single node's limit
    points = P.mesh_line(count=2000)
    tile = P.mesh_grid(vertices_x=50, vertices_y=50)[0]
    inst = I.instance_on_points(points=points, instance=tile)
    with rt.eval_context(max_elements=1_000_000), pytest.raises(
            rt.SizeLimitError, match=r"Realize Instances \(2,000 instances\) would make 24,?\d{3},\d{3} "):
        I.realize_instances(geometry=inst)
    with rt.eval_context(max_elements=30_000_000):
        assert I.realize_instances(geometry=inst).mesh.num_verts == 2000 * 2500


def test_the_command_line_refuses_a_huge_count_in_one_line(tmp_path, capsys):
    import json

    from backend.cli import main
    from tests.fixtures import irdocs as D

    count = D.iface("Socket_1", "INT", 10, name="Count")
    doc = D.program({"Program": D.group([D.group_input([count]), D.mesh_line("Line"), D.group_output()],
                                        [D.link("Group Input", "Socket_1", "Line", "Count"),
                                         D.link("Line", "Mesh", "Group Output", "Socket_0")], inputs=[count])})
    path = tmp_path / "line.json"
    path.write_text(json.dumps(doc))
    assert main(["eval", str(path), "--set", "Count=1000000000", "-o", str(tmp_path / "m.ply")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "a line of 1,000,000,000 points would make" in err[0]
    assert main(["eval", str(path), "--set", "Count=1000", "--max-elements", "500", "-o", str(tmp_path / "m.ply")]) == 2
    assert "more than the limit of 500" in capsys.readouterr().err
    assert main(["eval", str(path), "--set", "Count=1000", "-o", str(tmp_path / "m.ply")]) == 0
