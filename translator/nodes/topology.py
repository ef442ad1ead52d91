"""Mesh topology field inputs: ID, Edge Vertices, Edge / Face / Vertex Neighbors, Mesh Island, Edge Angle,
Is Face Planar, Face Group Boundaries, Edges to Face Groups, and the mesh topology "of" nodes (Face of Corner, Vertex of Corner, Edges of Corner,
Offset Corner in Face, Corners of Face, Corners of Vertex, Edges of Vertex, Corners of Edge).

Each is a field computed on the domain Blender computes it on and interpolated from there to the
domain that reads it (``adapt_domain``), as ``node_geo_input_mesh_*.cc`` and
``node_geo_mesh_topology_*.cc`` do:

* ID: the ``id`` attribute on the POINT and INSTANCE domains when the geometry has one, else the index.
* Edge Vertices (EDGE): the edge's two vertex indices (0 on the other domains) and positions.
* Edge Neighbors (EDGE): how many face corners use the edge.
* Face Neighbors (FACE): the face's corner count; the sum over its edges of (faces using the edge - 1).
* Vertex Neighbors (POINT only; 0 elsewhere): edges using the vertex; corners at the vertex.
* Mesh Island (POINT): islands of vertices joined by edges, numbered in the order of their lowest vertex
  index (Blender's ``AtomicDisjointSet::calc_reduced_ids``), and their count.
* Edge Angle (EDGE): for an edge used by exactly two faces, the angle between their normals
  (``angle_normalized_v3v3``), else 0; the signed angle is negative where the second face bends away
  from the first face's normal side (convex), positive where it is concave.
* Is Face Planar (FACE): faces of three corners are planar; others when the spread of
  ``dot(normal, position)`` over their corners is below half the Threshold (a FACE field).
* Face Group Boundaries (EDGE): edges used by faces of different Face Set values (false on edges with one face).
* Edges to Face Groups (FACE): faces joined across edges that are not Boundary Edges, numbered by their
  lowest face (``calc_reduced_ids``).
* The "of" nodes look an element up by an index field evaluated where they are read (an index out of
  range gives 0); the "Corners/Edges of X" nodes sort X's elements (in index order) by a Weights field
  (stable), then pick the Sort Index-th, wrapped around (``mod``), and give X's count as Total.

Integer results are ``(1, N)`` int64 (topology is shared by the batch); angles ``(b, N)``. Checked against
Blender in ``tests/translator/nodes/test_topology.py``.
"""

from __future__ import annotations

from typing import Any

import torch

from .. import runtime as rt
from ..geometry import MeshBatch, offsets_from_sizes
from . import node
from .fields import evaluate, mesh_context
from .mesh_fields import face_normals

__all__ = [
    "corner_tris",
    "corners_of_edge",
    "corners_of_face",
    "corners_of_vertex",
    "edge_angle",
    "edge_neighbors",
    "edge_vertices",
    "edges_of_corner",
    "edges_of_vertex",
    "edges_to_face_groups",
    "face_group_boundaries",
    "face_is_planar",
    "face_neighbors",
    "face_of_corner",
    "input_id",
    "island_ids",
    "mesh_island",
    "offset_corner_in_face",
    "quad_flip_mask",
    "vertex_neighbors",
    "vertex_of_corner",
]


def _dev():
    return rt.current().device


def _zeros(fctx: rt.FieldContext, type: str) -> torch.Tensor:
    if type == "VECTOR":
        return torch.zeros((1, fctx.size, 3), dtype=rt.current().dtype, device=_dev())
    if type == "VALUE":
        return torch.zeros((1, fctx.size), dtype=rt.current().dtype, device=_dev())
    if type == "BOOLEAN":
        return torch.zeros((1, fctx.size), dtype=torch.bool, device=_dev())
    return torch.zeros((1, fctx.size), dtype=torch.long, device=_dev())


def _mesh_field(compute, src_domain: str, type: str, label: str, only: bool = False) -> rt.Field:
    """A field computed by ``compute(mesh)`` on ``src_domain`` and interpolated to the domain it is read on
    (zeros off meshes, and off ``src_domain`` when ``only``)."""

    def fn(fctx: rt.FieldContext) -> torch.Tensor:
        mesh = fctx.mesh
        if mesh is None or (only and fctx.domain != src_domain):
            return _zeros(fctx, type)
        if src_domain == "EDGE" or fctx.domain == "EDGE":
            _need_edges(mesh, label)
        data = compute(mesh)
        return data if fctx.domain == src_domain else rt.adapt_domain(mesh, data, src_domain, fctx.domain)

    return rt.Field(fn, type, label=label)


def _need_edges(mesh: MeshBatch, what: str) -> None:
    if mesh.edges is None:
        raise TypeError(f"{what} needs a mesh that tracks its edges")


def _face_of_corner(mesh: MeshBatch) -> torch.Tensor:
    sizes = mesh.face_sizes()
    return torch.repeat_interleave(torch.arange(sizes.numel(), device=sizes.device), sizes)


def _count(index: torch.Tensor, n: int) -> torch.Tensor:
    return torch.bincount(index.reshape(-1), minlength=n)[:n] if index.numel() else torch.zeros(n, dtype=torch.long,
                                                                                                 device=index.device)


# ---------------------------------------------------------------------------
# ID


def _id_on(fctx: rt.FieldContext) -> torch.Tensor:
    store = None
    if fctx.domain in ("POINT", "INSTANCE"):
        for comp in (fctx.mesh, fctx.instances, fctx.curves):
            if comp is not None:
                store = comp.attributes
                break
    if store is not None and "id" in store:
        return rt.attribute_field("id", "INT").fn(fctx)
    return torch.arange(fctx.size, device=_dev()).unsqueeze(0)


@node("GeometryNodeInputID", outputs=("ID",), pure=False, label="ID",
      notes="the id attribute on points and instances, else the index")
def input_id():
    """ID: an INT field ``(1, N)`` / ``(b, N)``: the ``id`` attribute (POINT, INSTANCE) or the index."""
    return rt.Field(_id_on, "INT", label="id")


# ---------------------------------------------------------------------------
# Neighbours, edge vertices


@node("GeometryNodeInputMeshEdgeVertices", outputs=("Vertex Index 1", "Vertex Index 2", "Position 1", "Position 2"),
      pure=False, label="Edge Vertices", grad="yes",
      notes="indices on edges (0 elsewhere); positions interpolated to the other domains")
def edge_vertices():
    """Edge Vertices: INT fields ``(1, N)`` (the edge's vertices) and VECTOR fields ``(b, N, 3)`` (their positions)."""
    def vertex(k: int) -> rt.Field:  # the indices exist on the EDGE domain only (0 elsewhere, as in Blender)
        def fn(fctx: rt.FieldContext) -> torch.Tensor:
            if fctx.mesh is None or fctx.domain != "EDGE":
                return _zeros(fctx, "INT")
            _need_edges(fctx.mesh, "Edge Vertices")
            return fctx.mesh.edges[:, k].unsqueeze(0)

        return rt.Field(fn, "INT", label="Edge Vertices")

    return (vertex(0), vertex(1),
            _mesh_field(lambda m: m.verts[:, m.edges[:, 0]], "EDGE", "VECTOR", "Edge Vertices"),
            _mesh_field(lambda m: m.verts[:, m.edges[:, 1]], "EDGE", "VECTOR", "Edge Vertices"))


def _edge_face_count(mesh: MeshBatch) -> torch.Tensor:
    n = mesh.domain_size("EDGE")
    return _count(rt.corner_edges(mesh), n) if mesh.num_corners else torch.zeros(n, dtype=torch.long, device=_dev())


@node("GeometryNodeInputMeshEdgeNeighbors", outputs=("Face Count",), pure=False, label="Edge Neighbors",
      notes="on edges; interpolated to the other domains")
def edge_neighbors():
    """Edge Neighbors: an INT field, the number of faces using each edge."""
    return _mesh_field(lambda m: _edge_face_count(m).unsqueeze(0), "EDGE", "INT", "Edge Neighbors")


def _face_neighbor_count(mesh: MeshBatch) -> torch.Tensor:
    _need_edges(mesh, "Face Neighbors")
    per_corner = _edge_face_count(mesh)[rt.corner_edges(mesh)] - 1
    out = torch.zeros(mesh.num_faces, dtype=torch.long, device=per_corner.device)
    return out.index_add(0, _face_of_corner(mesh), per_corner).unsqueeze(0)


@node("GeometryNodeInputMeshFaceNeighbors", outputs=("Vertex Count", "Face Count"), pure=False, label="Face Neighbors",
      notes="on faces; interpolated to the other domains")
def face_neighbors():
    """Face Neighbors: INT fields, each face's corner count and the faces sharing its edges (with repeats)."""
    return (_mesh_field(lambda m: m.face_sizes().unsqueeze(0), "FACE", "INT", "Face Neighbors"),
            _mesh_field(_face_neighbor_count, "FACE", "INT", "Face Neighbors"))


def _vertex_edge_count(mesh: MeshBatch) -> torch.Tensor:
    _need_edges(mesh, "Vertex Neighbors")
    return _count(mesh.edges, mesh.num_verts).unsqueeze(0)


@node("GeometryNodeInputMeshVertexNeighbors", outputs=("Vertex Count", "Face Count"), pure=False,
      label="Vertex Neighbors", notes="on points (0 on the other domains)")
def vertex_neighbors():
    """Vertex Neighbors: INT fields, the edges and the face corners at each vertex."""
    return (_mesh_field(_vertex_edge_count, "POINT", "INT", "Vertex Neighbors", only=True),
            _mesh_field(lambda m: _count(m.corner_verts, m.num_verts).unsqueeze(0), "POINT", "INT", "Vertex Neighbors",
                        only=True))


# ---------------------------------------------------------------------------
# Mesh Island


def island_ids(mesh: MeshBatch) -> tuple[torch.Tensor, int]:
    """``(V,)`` the island of each vertex (islands numbered by their lowest vertex index) and the island count."""
    _need_edges(mesh, "Mesh Island")
    nv = mesh.num_verts
    label = torch.arange(nv, device=mesh.edges.device)
    a, b = mesh.edges[:, 0], mesh.edges[:, 1]
    while True:  # min-label propagation with pointer jumping: converges to each island's lowest vertex
        m = torch.minimum(label[a], label[b])
        new = label.scatter_reduce(0, a, m, "amin").scatter_reduce(0, b, m, "amin")
        new = new[new]
        if torch.equal(new, label):
            break
        label = new
    roots, ids = torch.unique(label, return_inverse=True)
    return ids, int(roots.numel())


@node("GeometryNodeInputMeshIsland", outputs=("Island Index", "Island Count"), pure=False, label="Mesh Island",
      notes="on points (islands in the order of their lowest vertex); interpolated to the other domains")
def mesh_island():
    """Mesh Island: INT fields, each vertex's island and the number of islands."""
    return (_mesh_field(lambda m: island_ids(m)[0].unsqueeze(0), "POINT", "INT", "Mesh Island"),
            _mesh_field(lambda m: torch.full((1, m.num_verts), island_ids(m)[1], dtype=torch.long, device=_dev()),
                        "POINT", "INT", "Mesh Island"))


# ---------------------------------------------------------------------------
# Edge Angle, Is Face Planar


def _angle_normalized(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Blender's ``angle_normalized_v3v3`` of unit vectors (accurate near 0 and pi)."""
    d = (a * b).sum(-1)

    def half_chord(v: torch.Tensor) -> torch.Tensor:
        sq = (v * v).sum(-1)
        ok = sq > 0
        return torch.where(ok, torch.sqrt(torch.where(ok, sq, torch.ones_like(sq))), torch.zeros_like(sq)) * 0.5

    return torch.where(d >= 0, 2.0 * torch.asin(half_chord(a - b).clamp(max=1.0)),
                       torch.pi - 2.0 * torch.asin(half_chord(a + b).clamp(max=1.0)))


def _two_faces(mesh: MeshBatch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per edge: whether exactly two faces use it, the first two faces using it (in corner order) and the
    second one's corner at the edge."""
    ne = mesh.domain_size("EDGE")
    ce = rt.corner_edges(mesh)
    face = _face_of_corner(mesh)
    order = torch.argsort(ce, stable=True)
    counts = _count(ce, ne)
    start = torch.cumsum(counts, 0) - counts
    last = max(ce.numel() - 1, 0)
    first = face[order[start.clamp(max=last)]]
    corner2 = order[(start + 1).clamp(max=last)]
    return counts == 2, first, face[corner2], corner2


def _other_vertex(mesh: MeshBatch, face: torch.Tensor, corner: torch.Tensor) -> torch.Tensor:
    """``(b, E)``: the third vertex of the corner triangle of ``face`` holding the edge that starts at ``corner``
    (Blender's ``find_other_vert_of_edge_triangle`` on its triangulation, :func:`corner_tris`)."""
    start, n = mesh.face_offsets[:-1][face], mesh.face_sizes()[face]
    i = corner - start
    tri = torch.remainder(i + 2, n.clamp(min=1))
    fan = torch.where(i == 0, torch.full_like(i, 2), torch.where(i == n - 1, n - 2, torch.zeros_like(i)))
    quad = torch.tensor([2, 0, 0, 2], device=i.device)[i.clamp(0, 3)]
    quad_flip = torch.tensor([3, 3, 1, 1], device=i.device)[i.clamp(0, 3)]
    local = torch.where(n == 3, tri, fan).unsqueeze(0)
    if bool((n == 4).any()):
        flip = quad_flip_mask(mesh)[:, face]  # (b, E)
        local = torch.where((n == 4).unsqueeze(0), torch.where(flip, quad_flip, quad), local)
    return mesh.corner_verts[(start + local).clamp(max=max(mesh.num_corners - 1, 0))]


def _edge_angles(mesh: MeshBatch, signed: bool) -> torch.Tensor:
    _need_edges(mesh, "Edge Angle")
    v = mesh.verts
    if mesh.num_faces == 0:
        return torch.zeros((v.shape[0], mesh.domain_size("EDGE")), dtype=v.dtype, device=v.device)
    two, f1, f2, corner2 = _two_faces(mesh)
    fn = face_normals(mesh)
    n1, n2 = fn[:, f1], fn[:, f2]
    angle = _angle_normalized(n1, n2)
    if signed:
        other = _other_vertex(mesh, f2, corner2)  # (b', E)
        mid = (v[:, mesh.edges[:, 0]] + v[:, mesh.edges[:, 1]]) * 0.5
        t = torch.gather(v, 1, other.expand(v.shape[0], -1).unsqueeze(-1).expand(-1, -1, 3)) - mid
        sq = (t * t).sum(-1, keepdim=True)
        ok = sq > 0
        tangent = torch.where(ok, t / torch.sqrt(torch.where(ok, sq, torch.ones_like(sq))), torch.zeros_like(t))
        concavity = (n1 * tangent).sum(-1)
        angle = torch.where((angle == 0) | (concavity < 0), angle, -angle)
    return torch.where(two, angle, torch.zeros_like(angle))


@node("GeometryNodeInputMeshEdgeAngle", outputs=("Unsigned Angle", "Signed Angle"), pure=False, label="Edge Angle",
      grad="yes", notes="on edges (0 unless exactly two faces); interpolated to the other domains")
def edge_angle():
    """Edge Angle: VALUE fields ``(b, N)``: the angle between the normals of an edge's two faces, unsigned and
    signed (concave positive)."""
    return (_mesh_field(lambda m: _edge_angles(m, False), "EDGE", "VALUE", "Edge Angle"),
            _mesh_field(lambda m: _edge_angles(m, True), "EDGE", "VALUE", "Edge Angle"))


def _planar(mesh: MeshBatch, threshold: Any) -> torch.Tensor:
    v = mesh.verts
    fn = face_normals(mesh)
    face = _face_of_corner(mesh)
    d = (fn[:, face] * v[:, mesh.corner_verts]).sum(-1)  # (b, C)
    b, nf = d.shape[0], mesh.num_faces
    idx = face.unsqueeze(0).expand(b, -1)
    hi = torch.full((b, nf), -torch.inf, dtype=d.dtype, device=d.device).scatter_reduce(1, idx, d, "amax")
    lo = torch.full((b, nf), torch.inf, dtype=d.dtype, device=d.device).scatter_reduce(1, idx, d, "amin")
    th = evaluate(threshold, mesh_context(mesh, "FACE"), "VALUE")
    return ((hi - lo) < th * 0.5) | (mesh.face_sizes() <= 3).unsqueeze(0)


@node("GeometryNodeInputMeshFaceIsPlanar", outputs=("Planar",), pure=False, label="Is Face Planar", grad="no",
      notes="Threshold a FACE field; on faces, interpolated to the other domains")
def face_is_planar(threshold=0.01):
    """Is Face Planar: a BOOLEAN field ``(b, N)`` (see the module)."""
    return _mesh_field(lambda m: _planar(m, threshold), "FACE", "BOOLEAN", "Is Face Planar")


def _group_boundaries(mesh: MeshBatch, face_set: Any) -> torch.Tensor:
    _need_edges(mesh, "Face Group Boundaries")
    ne = mesh.domain_size("EDGE")
    sets = evaluate(face_set, mesh_context(mesh, "FACE"), "INT") if mesh.num_faces else None
    if sets is None or mesh.num_corners == 0:
        return torch.zeros((1, ne), dtype=torch.bool, device=_dev())
    ce = rt.corner_edges(mesh)
    per_corner = sets[:, _face_of_corner(mesh)]  # (b, C) the group of each corner's face
    b = per_corner.shape[0]
    idx = ce.unsqueeze(0).expand(b, -1)
    hi = torch.full((b, ne), -2**62, dtype=torch.long, device=ce.device).scatter_reduce(1, idx, per_corner, "amax")
    lo = torch.full((b, ne), 2**62, dtype=torch.long, device=ce.device).scatter_reduce(1, idx, per_corner, "amin")
    return (hi != lo) & (_edge_face_count(mesh) > 1).unsqueeze(0)


@node("GeometryNodeMeshFaceSetBoundaries", outputs=("Boundary Edges",), pure=False, label="Face Group Boundaries",
      notes="Face Set a FACE field; on edges (interpolated to the other domains)")
def face_group_boundaries(face_set=0):
    """Face Group Boundaries: a BOOLEAN field, the edges between faces of different groups."""
    return _mesh_field(lambda m: _group_boundaries(m, face_set), "EDGE", "BOOLEAN", "Face Group Boundaries")


def _face_groups(mesh: MeshBatch, boundary: Any) -> torch.Tensor:
    _need_edges(mesh, "Edges to Face Groups")
    nf = mesh.num_faces
    cut = rt.static_mask(evaluate(boundary, mesh_context(mesh, "EDGE"), "BOOLEAN"), "the Boundary Edges of Edges to "
                         "Face Groups") if mesh.domain_size("EDGE") else torch.zeros(0, dtype=torch.bool, device=_dev())
    face = _face_of_corner(mesh)
    ce = rt.corner_edges(mesh) if mesh.num_corners else face
    label = torch.arange(nf, device=face.device)
    keep = ~cut[ce] if cut.numel() else torch.zeros_like(face, dtype=torch.bool)
    f, e = face[keep], ce[keep]
    ne = mesh.domain_size("EDGE")
    while f.numel():  # min-label propagation over faces sharing a non-boundary edge
        m = torch.full((ne,), nf, dtype=torch.long, device=f.device).scatter_reduce(0, e, label[f], "amin")
        new = label.scatter_reduce(0, f, m[e], "amin")
        new = new[new]
        if torch.equal(new, label):
            break
        label = new
    return torch.unique(label, return_inverse=True)[1].unsqueeze(0)


@node("GeometryNodeEdgesToFaceGroups", outputs=("Face Group ID",), pure=False, label="Edges to Face Groups",
      notes="groups numbered by their lowest face; the Boundary Edges are shared by the batch")
def edges_to_face_groups(boundary_edges=True):
    """Edges to Face Groups: an INT field, the group of faces connected across non-boundary edges."""
    return _mesh_field(lambda m: _face_groups(m, boundary_edges), "FACE", "INT", "Edges to Face Groups")


# ---------------------------------------------------------------------------
# Topology "of" nodes


def _at(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``table[index]`` ``(b, N)`` where ``index`` is in range, else 0."""
    n = int(table.shape[-1])
    ok = (index >= 0) & (index < n)
    if n == 0:
        return torch.zeros_like(index)
    t = table.reshape(-1)
    return torch.where(ok, t[index.clamp(0, n - 1)], torch.zeros_like(index))


def _index_field(index: Any, fn, label: str, domain_needed: str | None = None) -> rt.Field:
    """A field that evaluates ``index`` (INT) where it is read and maps it with ``fn(mesh, index (b, N))``."""

    def evaluate_on(fctx: rt.FieldContext) -> torch.Tensor:
        mesh = fctx.mesh
        if mesh is None:
            return _zeros(fctx, "INT")
        if domain_needed == "EDGE":
            _need_edges(mesh, label)
        return fn(mesh, evaluate(index, fctx, "INT"))

    return rt.Field(evaluate_on, "INT", label=label)


@node("GeometryNodeFaceOfCorner", outputs=("Face Index", "Index in Face"), pure=False, implicit=("corner_index",), label="Face of Corner")
def face_of_corner(corner_index=None):
    """Face of Corner: INT fields, the face of the corner ``corner_index`` (default: the index) and the corner's
    position in it."""
    ci = _default_index(corner_index)
    return (_index_field(ci, lambda m, i: _at(_face_of_corner(m), i), "Face of Corner"),
            _index_field(ci, lambda m, i: _at(torch.arange(m.num_corners, device=_dev())
                                              - m.face_offsets[:-1][_face_of_corner(m)], i), "Face of Corner"))


@node("GeometryNodeVertexOfCorner", outputs=("Vertex Index",), pure=False, implicit=("corner_index",), label="Vertex of Corner")
def vertex_of_corner(corner_index=None):
    """Vertex of Corner: an INT field, the vertex of the corner ``corner_index``."""
    return _index_field(_default_index(corner_index), lambda m, i: _at(m.corner_verts, i), "Vertex of Corner")


@node("GeometryNodeEdgesOfCorner", outputs=("Next Edge Index", "Previous Edge Index"), pure=False, implicit=("corner_index",),
      label="Edges of Corner")
def edges_of_corner(corner_index=None):
    """Edges of Corner: INT fields, the edge from the corner to the next one of its face, and the edge from the
    previous corner to it."""
    ci = _default_index(corner_index)

    def prev_edges(m: MeshBatch) -> torch.Tensor:
        off = m.face_offsets
        face = _face_of_corner(m)
        c = torch.arange(m.num_corners, device=off.device)
        return rt.corner_edges(m)[torch.where(c == off[:-1][face], off[1:][face] - 1, c - 1)]

    return (_index_field(ci, lambda m, i: _at(rt.corner_edges(m), i), "Edges of Corner", "EDGE"),
            _index_field(ci, lambda m, i: _at(prev_edges(m), i), "Edges of Corner", "EDGE"))


@node("GeometryNodeOffsetCornerInFace", outputs=("Corner Index",), pure=False, implicit=("corner_index",), label="Offset Corner in Face")
def offset_corner_in_face(corner_index=None, offset=0):
    """Offset Corner in Face: an INT field, the corner ``offset`` steps further round the face of
    ``corner_index`` (wrapped; 0 for an index out of range)."""
    ci = _default_index(corner_index)

    def fn(fctx: rt.FieldContext) -> torch.Tensor:
        m = fctx.mesh
        if m is None:
            return _zeros(fctx, "INT")
        i = evaluate(ci, fctx, "INT")
        off = evaluate(offset, fctx, "INT")
        i, off = torch.broadcast_tensors(i, off)
        nc = m.num_corners
        ok = (i >= 0) & (i < nc)
        if nc == 0:
            return torch.zeros_like(i)
        c = i.clamp(0, nc - 1)
        face = _face_of_corner(m)[c]
        start, size = m.face_offsets[:-1][face], m.face_sizes()[face]
        return torch.where(ok, start + torch.remainder(c - start + off, size), torch.zeros_like(i))

    return rt.Field(fn, "INT", label="Offset Corner in Face")


def _default_index(index: Any) -> Any:
    return rt.Field(lambda fctx: torch.arange(fctx.size, device=_dev()).unsqueeze(0), "INT", label="index") \
        if index is None else index


def _sorted_groups(group_of: torch.Tensor, n_groups: int, weights: torch.Tensor | None):
    """Items grouped by ``group_of (n,)`` in index order (stable-sorted by ``weights (b, n)`` within a group when
    given): ``(items (b', n), offsets (G + 1,), counts (G,))``."""
    counts = _count(group_of, n_groups)
    offsets = offsets_from_sizes(counts)
    if weights is None:
        return torch.argsort(group_of, stable=True).unsqueeze(0), offsets, counts
    by_weight = torch.argsort(weights, dim=1, stable=True)  # (b, n)
    by_group = torch.argsort(group_of[by_weight], dim=1, stable=True)
    return torch.gather(by_weight, 1, by_group), offsets, counts


def _of_node(label: str, group_of, n_groups, item_domain: str, index: Any, weights: Any, sort_index: Any,
             spread: int = 1) -> tuple[rt.Field, rt.Field]:
    """``(element index, total)`` fields of a "Corners / Edges of X" node (see the module). Items are
    ``group_of(mesh)`` (the group of each); with ``spread`` 2 an item is an edge end (``2 * edge + side``) and
    its weight is its edge's."""
    sorting = isinstance(weights, (rt.Field, torch.Tensor))

    def context(fctx: rt.FieldContext):
        m = fctx.mesh
        if item_domain == "EDGE" or group_of is rt.corner_edges:
            _need_edges(m, label)
        g = evaluate(index, fctx, "INT")
        n = n_groups(m)
        return m, g, (g >= 0) & (g < n), n

    def pick(fctx: rt.FieldContext) -> torch.Tensor:
        if fctx.mesh is None:
            return _zeros(fctx, "INT")
        m, g, ok, n = context(fctx)
        w = None
        if sorting:
            w = evaluate(weights, mesh_context(m, item_domain), "VALUE")
            if spread > 1:
                w = w.repeat_interleave(spread, dim=1)
        items, offsets, counts = _sorted_groups(group_of(m), n, w)
        if n == 0 or items.shape[1] == 0:
            return torch.zeros_like(g)
        k = evaluate(sort_index, fctx, "INT")
        g, k, ok = torch.broadcast_tensors(g, k, ok)
        gc = g.clamp(0, n - 1)
        cnt = counts[gc]
        pos = (offsets[gc] + torch.remainder(k, cnt.clamp(min=1))).clamp(max=items.shape[1] - 1)
        b = max(int(items.shape[0]), int(pos.shape[0]))
        found = torch.gather(items.expand(b, -1), 1, pos.expand(b, -1)) // spread
        return torch.where(ok & (cnt > 0), found, torch.zeros_like(found))

    def total(fctx: rt.FieldContext) -> torch.Tensor:
        if fctx.mesh is None:
            return _zeros(fctx, "INT")
        m, g, ok, n = context(fctx)
        if n == 0:
            return torch.zeros_like(g)
        counts = _count(group_of(m), n)
        return torch.where(ok, counts[g.clamp(0, n - 1)], torch.zeros_like(g))

    return rt.Field(pick, "INT", label=label), rt.Field(total, "INT", label=label)


@node("GeometryNodeCornersOfFace", outputs=("Corner Index", "Total"), pure=False, implicit=("face_index",), label="Corners of Face",
      notes="Weights (a CORNER field) sort the corners; Sort Index wraps")
def corners_of_face(face_index=None, weights=0.0, sort_index=0):
    """Corners of Face: INT fields, the ``sort_index``-th corner of face ``face_index`` and its corner count."""
    return _of_node("Corners of Face", _face_of_corner, lambda m: m.num_faces, "CORNER", _default_index(face_index),
                    weights, sort_index)


@node("GeometryNodeCornersOfVertex", outputs=("Corner Index", "Total"), pure=False, implicit=("vertex_index",), label="Corners of Vertex",
      notes="Weights (a CORNER field) sort the corners; Sort Index wraps")
def corners_of_vertex(vertex_index=None, weights=0.0, sort_index=0):
    """Corners of Vertex: INT fields, the ``sort_index``-th corner at vertex ``vertex_index`` and their count."""
    return _of_node("Corners of Vertex", lambda m: m.corner_verts, lambda m: m.num_verts, "CORNER",
                    _default_index(vertex_index), weights, sort_index)


@node("GeometryNodeEdgesOfVertex", outputs=("Edge Index", "Total"), pure=False, implicit=("vertex_index",), label="Edges of Vertex",
      notes="Weights (an EDGE field) sort the edges; Sort Index wraps")
def edges_of_vertex(vertex_index=None, weights=0.0, sort_index=0):
    """Edges of Vertex: INT fields, the ``sort_index``-th edge at vertex ``vertex_index`` (edges in index order;
    an edge from a vertex to itself counts twice) and their count."""
    return _of_node("Edges of Vertex", lambda m: m.edges.reshape(-1), lambda m: m.num_verts, "EDGE",
                    _default_index(vertex_index), weights, sort_index, spread=2)


@node("GeometryNodeCornersOfEdge", outputs=("Corner Index", "Total"), pure=False, implicit=("edge_index",), label="Corners of Edge",
      notes="Weights (a CORNER field) sort the corners; Sort Index wraps")
def corners_of_edge(edge_index=None, weights=0.0, sort_index=0):
    """Corners of Edge: INT fields, the ``sort_index``-th corner whose edge (to the next corner) is
    ``edge_index``, and their count."""
    return _of_node("Corners of Edge", rt.corner_edges, lambda m: m.domain_size("EDGE"), "CORNER",
                    _default_index(edge_index), weights, sort_index)


def corner_tris(mesh: MeshBatch) -> tuple[torch.Tensor, torch.Tensor]:
    """Blender's corner triangles of faces with 3 or 4 corners (``mesh_tessellate``: a quad is cut on its 0-2
    diagonal unless ``is_quad_flip_v3_first_third_fast``, then on 1-3): ``(tris (b, T, 3) corner indices,
    face of each triangle (T,))``. Faces of more corners are cut as a fan from their first corner (the
    callers say where that is exact)."""
    sizes = mesh.face_sizes()
    dev = sizes.device
    ntri = (sizes - 2).clamp(min=0)
    face = torch.repeat_interleave(torch.arange(sizes.numel(), device=dev), ntri)
    k = torch.arange(int(ntri.sum()), device=dev) - (torch.cumsum(ntri, 0) - ntri)[face]
    s = mesh.face_offsets[:-1][face]
    tris = torch.stack([s, s + k + 1, s + k + 2], 1).unsqueeze(0)
    quad = sizes[face] == 4
    if bool(quad.any()):
        flip = quad_flip_mask(mesh)[:, face]  # (b, T)
        first = (k == 0).unsqueeze(0)
        alt = torch.where(first.unsqueeze(-1), torch.stack([s, s + 1, s + 3], 1).unsqueeze(0),
                          torch.stack([s + 1, s + 2, s + 3], 1).unsqueeze(0))
        tris = torch.where((flip & quad.unsqueeze(0)).unsqueeze(-1), alt, tris)
    return tris, face


def quad_flip_mask(mesh: MeshBatch) -> torch.Tensor:
    """``(b, F)``: quads that Blender cuts on their 1-3 diagonal (``is_quad_flip_v3_first_third_fast``); false
    for other faces."""
    sizes = mesh.face_sizes()
    s = mesh.face_offsets[:-1]
    cv = mesh.corner_verts
    v = mesh.verts
    quad = sizes == 4
    s4 = torch.where(quad, s, torch.zeros_like(s))
    p = [v[:, cv[(s4 + j).clamp(max=max(cv.numel() - 1, 0))]] for j in range(4)]
    d12, d13, d14 = p[1] - p[0], p[2] - p[0], p[3] - p[0]
    flip = (torch.linalg.cross(d12, d13) * torch.linalg.cross(d14, d13)).sum(-1) > 0
    return flip & quad.unsqueeze(0)
