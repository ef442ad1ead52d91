"""Dual Mesh (``node_geo_dual_mesh.cc``).

Vertices: the input's face centers (in face order), then, with Keep Boundaries, the midpoints of its boundary
edges (edge order), then its boundary vertices (in the order their faces are made). Faces: one per input vertex
that is manifold (two faces at each of its edges; with Keep Boundaries also boundary vertices), in vertex
order, through the faces around the vertex sorted by adjacency in the first face's orientation (Blender's
``sort_vertex_faces``); a vertex with only two faces is dissolved into an edge. Boundary vertices (Keep
Boundaries) close their face through the two boundary edge midpoints and the vertex itself. Edges are made as
faces first use them. Attributes move across domains (POINT <-> FACE; EDGE and CORNER follow their sources);
the faces are flat (``sharp_face``) and the new mesh has no material slots. Positions stay differentiable. Checked against Blender in
``tests/translator/nodes/test_dual_mesh.py``.
"""

from __future__ import annotations

import torch

from .. import runtime as rt
from ..geometry import Attribute, GeometrySet, MeshBatch
from . import node
from .attributes import map_real_meshes

__all__ = ["dual_mesh"]

_LOOSE, _NORMAL, _BOUNDARY, _NONMANIFOLD = 0, 1, 2, 3


def _sort_faces(v: int, faces: list[int], boundary: bool, edges, offs, cv, ce, edge_type):
    """``sort_vertex_faces``: ``(faces, shared edges, corners)`` or None when they do not form a fan."""
    n = len(faces)
    if n <= 2 and (not boundary or n == 0):
        return faces, [], [None] * n
    fvc = []
    for f in faces:
        first = second = None
        for c in range(offs[f], offs[f + 1]):
            e = ce[c]
            if v in edges[e]:
                if first is None:
                    first = c
                else:
                    second = c
                    break
        fvc.append([first, second])
    faces = list(faces)
    sorted_corners: list[int | None] = [None] * n
    shared = None
    if boundary:
        for want_vert in (True, False):
            for i in range(n):
                c1, c2 = fvc[i]
                if edge_type[ce[c1]] == 1 and (not want_vert or cv[c1] == v):
                    shared, sorted_corners[0] = ce[c2], c1
                elif edge_type[ce[c2]] == 1 and (not want_vert or cv[c2] == v):
                    shared, sorted_corners[0] = ce[c1], c2
                else:
                    continue
                faces[i], faces[0] = faces[0], faces[i]
                fvc[i], fvc[0] = fvc[0], fvc[i]
                break
            if shared is not None:
                break
    else:
        c1, c2 = fvc[0]
        if cv[c1] == v:
            shared, sorted_corners[0] = ce[c2], c1
        else:
            shared, sorted_corners[0] = ce[c1], c2
    shared_edges = []
    for i in range(n - 1):
        shared_edges.append(shared)
        for j in range(i + 1, n):
            c1, c2 = fvc[j]
            if ce[c1] == shared:
                sorted_corners[i + 1], shared = c1, ce[c2]
                break
            if ce[c2] == shared:
                sorted_corners[i + 1], shared = c2, ce[c1]
                break
        else:
            return None
        faces[i + 1], faces[j] = faces[j], faces[i + 1]
        fvc[i + 1], fvc[j] = fvc[j], fvc[i + 1]
    if not boundary:
        shared_edges.append(shared)
    return faces, shared_edges, sorted_corners


def _dual(mesh: MeshBatch, keep_boundaries: bool) -> MeshBatch:
    if mesh.edges is None:
        raise TypeError("Dual Mesh needs a mesh that tracks its edges")
    nv, nf = mesh.num_verts, mesh.num_faces
    edges = [tuple(e) for e in mesh.edges.tolist()]
    ne = len(edges)
    cv = mesh.corner_verts.tolist()
    ce = rt.corner_edges(mesh).tolist() if mesh.num_corners else []
    offs = mesh.face_offsets.tolist()
    edge_type = [0] * ne
    for e in ce:
        edge_type[e] = min(edge_type[e] + 1, 3)
    vtype = [_LOOSE] * nv
    for e, t in enumerate(edge_type):
        if t == 1:
            for x in edges[e]:
                vtype[x] = min(vtype[x] + 1, _NONMANIFOLD)
        elif t >= 3:
            for x in edges[e]:
                vtype[x] = _NONMANIFOLD
    for e, t in enumerate(edge_type):
        if t == 2:
            for x in edges[e]:
                if vtype[x] == _LOOSE:
                    vtype[x] = _NORMAL
    vert_faces: list[list[int]] = [[] for _ in range(nv)]
    for f in range(nf):
        for c in range(offs[f], offs[f + 1]):
            vert_faces[cv[c]].append(f)

    def bad(i: int) -> bool:
        return vtype[i] in (_LOOSE, _NONMANIFOLD) or (not keep_boundaries and vtype[i] == _BOUNDARY)

    sorted_info: dict[int, tuple] = {}
    for i in range(nv):
        if bad(i):
            continue
        res = _sort_faces(i, vert_faces[i], vtype[i] == _BOUNDARY, edges, offs, cv, ce, edge_type)
        if res is None:
            vtype[i] = _NONMANIFOLD
            continue
        sorted_info[i] = res
    # positions: face centers, boundary edge midpoints, then boundary vertices as their faces are made
    pos_src: list[tuple[str, int]] = [("face", f) for f in range(nf)]
    midpoint = {}
    if keep_boundaries:
        for e in range(ne):
            if edge_type[e] == 1:
                midpoint[e] = len(pos_src)
                pos_src.append(("edge", e))
    new_edges: list[tuple[int, int]] = []
    edge_src: list[int] = []
    old_to_new = [-1] * ne
    # dissolve vertices with exactly two faces
    for vi in range(nv):
        if len(vert_faces[vi]) != 2 or vtype[vi] != _NORMAL:
            continue
        f1, f2 = vert_faces[vi]
        created = False
        new_index = len(new_edges)
        for c in range(offs[f1], offs[f1 + 1]):
            e = ce[c]
            mark = False
            for x in edges[e]:
                if vtype[x] != _BOUNDARY and vert_faces[x] == [f1, f2]:
                    vtype[x] = _LOOSE
                    mark = True
            if mark:
                if not created:
                    edge_src.append(e)
                    new_edges.append((f1, f2))
                    created = True
                old_to_new[e] = new_index
    face_sizes, corner_verts, corner_src, face_src_vert = [], [], [], []
    relevant: list[tuple[int, int]] = []  # (dual point, input face whose FACE values it takes)
    for i in range(nv):
        if bad(i) or i not in sorted_info:
            continue
        faces, shared, corners = sorted_info[i]
        if vtype[i] == _NORMAL:
            if len(faces) <= 2:
                continue
            for k, e in enumerate(shared):
                if old_to_new[e] == -1:
                    edge_src.append(e)
                    old_to_new[e] = len(new_edges)
                    new_edges.append((faces[k], faces[(k + 1) % len(faces)]))
            ring = list(faces)
            corner_src.extend(corners)
        else:
            for k, e in enumerate(shared):
                if old_to_new[e] == -1:
                    edge_src.append(e)
                    old_to_new[e] = len(new_edges)
                    new_edges.append((faces[k], faces[k + 1]))
            corner_src.extend(corners)
            if len(faces) >= 2:
                e1 = next(e for e in ce[offs[faces[-1]]:offs[faces[-1] + 1]] if edge_type[e] == 1 and i in edges[e])
                e2 = next(e for e in ce[offs[faces[0]]:offs[faces[0] + 1]] if edge_type[e] == 1 and i in edges[e])
            else:
                found, swap = [], False
                for c in range(offs[faces[0]], offs[faces[0] + 1]):
                    e = ce[c]
                    if edge_type[e] == 1 and i in edges[e]:
                        if not found and cv[c] == i:
                            swap = True
                        found.append(e)
                        if len(found) == 2:
                            break
                e1, e2 = (found[1], found[0]) if swap else (found[0], found[1])
            ring = list(faces)
            last_center, first_center = faces[-1], faces[0]
            ring.append(midpoint[e1])
            corner_src.append(corners[-1])
            if old_to_new[e1] == -1:
                edge_src.append(e1)
                new_edges.append((last_center, midpoint[e1]))
                old_to_new[e1] = len(new_edges) - 1
                relevant.append((midpoint[e1], last_center))
            relevant.append((len(pos_src), last_center))
            ring.append(len(pos_src))
            pos_src.append(("vert", i))
            corner_src.append(corners[0])
            edge_src.append(e1)
            new_edges.append((midpoint[e1], ring[-1]))
            ring.append(midpoint[e2])
            corner_src.append(corners[0])
            edge_src.append(e2)
            new_edges.append((ring[-2], midpoint[e2]))
            if old_to_new[e2] == -1:
                edge_src.append(e2)
                new_edges.append((midpoint[e2], first_center))
                old_to_new[e2] = len(new_edges) - 1
                relevant.append((midpoint[e2], first_center))
        face_sizes.append(len(ring))
        corner_verts.extend(ring)
        face_src_vert.append(i)
    dev = mesh.corner_verts.device
    v = mesh.verts
    centers = rt.adapt_domain(mesh, v, "POINT", "FACE") if nf else v[:, :0]
    kinds = {"face": centers, "vert": v}
    if midpoint:
        kinds["edge"] = (v[:, mesh.edges[:, 0]] + v[:, mesh.edges[:, 1]]) * 0.5
    # pos_src lists the face centers, then the midpoints, then the boundary vertices: one gather per block
    gathered = [kinds[k][:, [i for kk, i in pos_src if kk == k]] for k in ("face", "edge", "vert")
                if any(kk == k for kk, _ in pos_src)]
    verts = torch.cat(gathered, 1) if gathered else v[:, :0]
    t = lambda x: torch.tensor(x, dtype=torch.long, device=dev)
    offsets = torch.cat([t([0]), torch.cumsum(t(face_sizes), 0)]) if face_sizes else t([0])
    attrs = {}
    for name, a in mesh.attributes.items():
        if name in ("sharp_face",):
            continue
        d = a.data
        if a.domain == "POINT":
            attrs[name] = Attribute("FACE", d[:, t(face_src_vert)] if face_src_vert else d[:, :0], a.type)
        elif a.domain == "FACE":
            out = torch.zeros((d.shape[0], len(pos_src), *d.shape[2:]), dtype=d.dtype, device=dev)
            out[:, :nf] = d
            for dst, f in relevant:
                out[:, dst] = d[:, f]
            attrs[name] = Attribute("POINT", out, a.type)
        elif a.domain == "EDGE":
            attrs[name] = Attribute("EDGE", d[:, t(edge_src)] if edge_src else d[:, :0], a.type)
        elif a.domain == "CORNER":
            attrs[name] = Attribute("CORNER", d[:, t(corner_src)] if corner_src else d[:, :0], a.type)
    attrs["sharp_face"] = Attribute("FACE", torch.ones((1, len(face_sizes)), dtype=torch.bool, device=dev), "BOOLEAN")
    return MeshBatch(verts=verts, corner_verts=t(corner_verts), face_offsets=offsets,
                     edges=t(new_edges).reshape(-1, 2), attributes=attrs)  # a new mesh: no material slots


@node("GeometryNodeDualMesh", outputs=("Dual Mesh",), pure=False, label="Dual Mesh", grad="yes",
      notes="manifold vertices (non-manifold ones are skipped as in Blender); Keep Boundaries")
def dual_mesh(mesh=None, keep_boundaries=False):
    """Dual Mesh: every mesh replaced by its dual (see the module)."""
    if mesh is None:
        return GeometrySet()
    if isinstance(keep_boundaries, (rt.Field, torch.Tensor)):
        raise TypeError("Dual Mesh's Keep Boundaries must be a single value")
    return map_real_meshes(mesh, lambda m: _dual(m, bool(keep_boundaries)))
