"""Subdivide Mesh (simple subdivision, ``bke::subdiv`` with the bilinear scheme).

Each level splits every edge in two, so a quad becomes an ``r x r`` grid of quads, ``r = 2^level``, laid out
as Blender's ``subdiv_foreach`` does: vertices are the original ones, then ``r - 1`` per edge (edge order, from
its first vertex), then each quad's inner ``(r - 1)^2`` grid (``u`` along its first edge, fastest); edges are
the original edges' pieces, then per quad its inner grid edges (row by row: the row's edges, then those to the
next row) and the edges joining the inner grid to the boundary (bottom, right, top, left, going round); faces
are per quad its inner faces (row-major) then its ring of boundary faces from the first corner round, each
``(u, v), (u+1, v), (u+1, v+1), (u, v+1)``. Positions are bilinear in each quad (exactly what repeated midpoint
subdivision gives). At level 1 triangles and n-gons get a center vertex and one quad per corner
``(corner, next edge's midpoint, center, previous edge's midpoint)``. Face attributes are copied to the new
faces, float point attributes interpolated like the positions. Refused with one line: n-gons or triangles
above level 1, loose edges or vertices, and integer / boolean point, edge or corner attributes (their
interpolation is not reproduced). The level is shared by the batch. Checked against
Blender in ``tests/translator/nodes/test_subdivide.py``.
"""

from __future__ import annotations

import itertools
from typing import Any

import torch

from .. import runtime as rt
from ..geometry import Attribute, GeometrySet, MeshBatch
from . import node
from .attributes import map_real_meshes

__all__ = ["subdivide_mesh"]


def _subdivide(mesh: MeshBatch, level: int) -> MeshBatch:
    if level <= 0 or mesh.num_faces == 0:
        return mesh
    if mesh.edges is None:
        raise TypeError("Subdivide Mesh needs a mesh that tracks its edges")
    for name, a in mesh.attributes.items():
        if a.domain == "POINT" and a.data.dtype.is_floating_point:
            continue  # interpolated like the positions
        if a.domain != "FACE" and not name.startswith("."):
            raise ValueError(f"Subdivide Mesh of a mesh with the {a.domain} attribute {name!r} is not supported (its "
                             "interpolation is not reproduced)")
    sizes = mesh.face_sizes().tolist()
    if level > 1 and any(s != 4 for s in sizes):
        raise ValueError("Subdivide Mesh above level 1 of triangles or n-gons is not supported")
    nv, ne = mesh.num_verts, int(mesh.edges.shape[0])
    edges = mesh.edges.tolist()
    used_v = torch.zeros(nv, dtype=torch.bool)
    used_v[mesh.corner_verts.cpu()] = True
    ce = rt.corner_edges(mesh).tolist()
    if not bool(used_v.all()) or len(set(ce)) != ne:
        raise ValueError("Subdivide Mesh of meshes with loose vertices or edges is not supported")
    r = 2 ** level
    cv = mesh.corner_verts.tolist()
    offs = mesh.face_offsets.tolist()
    v = mesh.verts
    dev = mesh.corner_verts.device
    # vertex recipes: (kind, data) -> built as weighted sums of original vertices
    weights: list[list[tuple[int, float]]] = [[(i, 1.0)] for i in range(nv)]
    edge_vert: dict[tuple[int, int], int] = {}  # (edge, k) -> vertex, k = 1 .. r - 1 from edges[e][0]
    for e, (a, b) in enumerate(edges):
        for k in range(1, r):
            edge_vert[(e, k)] = len(weights)
            t = k / r
            weights.append([(a, 1.0 - t), (b, t)])
    new_edges = []
    for e, (a, b) in enumerate(edges):
        chain = [a] + [edge_vert[(e, k)] for k in range(1, r)] + [b]
        new_edges.extend(itertools.pairwise(chain))
    faces: list[list[int]] = []
    face_src: list[int] = []
    for f, n in enumerate(sizes):
        corners = cv[offs[f]:offs[f + 1]]
        fedges = ce[offs[f]:offs[f + 1]]

        def on_edge(k: int, t: int, corners=corners, fedges=fedges, n=n) -> int:
            """The vertex ``t`` steps (of r) from corner k along the face's edge k."""
            if t == 0:
                return corners[k]
            if t == r:
                return corners[(k + 1) % n]
            e = fedges[k]
            return edge_vert[(e, t)] if edges[e][0] == corners[k] else edge_vert[(e, r - t)]

        if n == 4:
            grid: dict[tuple[int, int], int] = {}
            for j in range(1, r):
                for i in range(1, r):
                    grid[(i, j)] = len(weights)
                    u, w = i / r, j / r
                    weights.append([(corners[0], (1 - u) * (1 - w)), (corners[1], u * (1 - w)), (corners[2], u * w),
                                    (corners[3], (1 - u) * w)])

            def at(i: int, j: int, grid=grid, on_edge=on_edge) -> int:
                if j == 0:
                    return on_edge(0, i)
                if i == r:
                    return on_edge(1, j)
                if j == r:
                    return on_edge(2, r - i)
                if i == 0:
                    return on_edge(3, r - j)
                return grid[(i, j)]

            for j in range(1, r):  # inner grid edges, row by row
                new_edges.extend((grid[(i, j)], grid[(i + 1, j)]) for i in range(1, r - 1))
                if j < r - 1:
                    new_edges.extend((grid[(i, j)], grid[(i, j + 1)]) for i in range(1, r))
            ring = ([(i, 0, i, 1) for i in range(1, r)] + [(r, j, r - 1, j) for j in range(1, r)]
                    + [(i, r, i, r - 1) for i in range(r - 1, 0, -1)] + [(0, j, 1, j) for j in range(r - 1, 0, -1)])
            new_edges.extend((at(a, b), at(c, d)) for a, b, c, d in ring)
            cells = [(i, j) for j in range(1, r - 1) for i in range(1, r - 1)]
            cells += [(i, 0) for i in range(r)] + [(r - 1, j) for j in range(1, r)] + \
                [(i, r - 1) for i in range(r - 2, -1, -1)] + [(0, j) for j in range(r - 2, 0, -1)]
            for i, j in cells:
                faces.append([at(i, j), at(i + 1, j), at(i + 1, j + 1), at(i, j + 1)])
                face_src.append(f)
        else:  # level 1: a center and a quad per corner
            center = len(weights)
            weights.append([(c, 1.0 / n) for c in corners])
            mids = [on_edge(k, 1) for k in range(n)]
            new_edges.extend((mids[k], center) for k in range(n))
            for k in range(n):
                faces.append([corners[k], mids[k], center, mids[k - 1]])
                face_src.append(f)
    rows, cols, vals = [], [], []
    for i, w in enumerate(weights):
        for j, x in w:
            rows.append(i)
            cols.append(j)
            vals.append(x)
    mat = torch.zeros((len(weights), nv), dtype=v.dtype, device=dev)
    mat.index_put_((torch.tensor(rows, device=dev), torch.tensor(cols, device=dev)),
                   torch.tensor(vals, dtype=v.dtype, device=dev), accumulate=True)
    verts = torch.einsum("nv,bvk->bnk", mat, v)
    t = torch.tensor
    offsets = torch.arange(0, 4 * len(faces) + 1, 4, device=dev)
    src = t(face_src, dtype=torch.long, device=dev)
    attrs = {k: Attribute("FACE", a.data[:, src], a.type) for k, a in mesh.attributes.items() if a.domain == "FACE"}
    for k, a in mesh.attributes.items():
        if a.domain == "POINT":
            d = a.data.reshape(a.data.shape[0], nv, -1)
            attrs[k] = Attribute("POINT", torch.einsum("nv,bvk->bnk", mat, d).reshape(d.shape[0], -1, *a.data.shape[2:]),
                                 a.type)
    return MeshBatch(verts=verts, corner_verts=t([c for fc in faces for c in fc], dtype=torch.long, device=dev),
                     face_offsets=offsets, edges=t(new_edges, dtype=torch.long, device=dev).reshape(-1, 2),
                     attributes=attrs, materials=list(mesh.materials))


@node("GeometryNodeSubdivideMesh", outputs=("Mesh",), pure=False, label="Subdivide Mesh", grad="yes",
      notes="quads at every level, triangles and n-gons at level 1; face and float point attributes (edge and "
            "corner attributes and loose elements are refused); the level is shared by the batch")
def subdivide_mesh(mesh=None, level: Any = 1):
    """Subdivide Mesh: every mesh subdivided ``level`` times (see the module)."""
    if mesh is None:
        return GeometrySet()
    lv = int(rt.static(level, "the Level of Subdivide Mesh"))
    lv = max(0, min(lv, 11))
    return map_real_meshes(mesh, lambda m: _subdivide(m, lv))
