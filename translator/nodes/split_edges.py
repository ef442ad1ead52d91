"""Split Edges (``geometry::split_edges``, Blender 4.1+).

For every vertex of a selected edge, the face corners around it are grouped into fans connected across
unselected edges (a depth-first walk from each corner in index order); every group but the last gets a new
vertex (appended, vertex by vertex), the last keeps the original. Selected loose edges at the vertex take
further new vertices in edge order; unselected loose edges share one. Each selected edge keeps its index for
the first of its face corners' (re-pointed) edges and appends the others, deduplicated; every edge used by
faces is rewritten ``(low, high)`` from its first corner. New vertices copy their vertex's POINT attributes,
new edges their edge's. The selection decides topology and is shared by the batch. Checked against Blender
in ``tests/translator/nodes/test_split_edges.py``.
"""

from __future__ import annotations

from typing import Any

import torch

from .. import runtime as rt
from ..geometry import Attribute, GeometrySet, MeshBatch
from . import node
from .attributes import map_real_meshes
from .fields import mesh_context, selection_mask

__all__ = ["split_edges", "split_mesh_edges"]


def split_mesh_edges(mesh: MeshBatch, selection: Any) -> MeshBatch:
    """``mesh`` with the selected edges split (see the module)."""
    if mesh.edges is None:
        raise TypeError("Split Edges needs a mesh that tracks its edges")
    ne = int(mesh.edges.shape[0])
    if ne == 0:
        return mesh
    split = selection_mask(selection, mesh_context(mesh, "EDGE"), "a Split Edges selection").tolist()
    if not any(split):
        return mesh
    nv, nc = mesh.num_verts, mesh.num_corners
    edges = [list(e) for e in mesh.edges.tolist()]
    cv = mesh.corner_verts.tolist()
    ce = rt.corner_edges(mesh).tolist() if nc else []
    offs = mesh.face_offsets.tolist()
    face_of = [f for f in range(len(offs) - 1) for _ in range(offs[f + 1] - offs[f])]

    def nxt(c: int) -> int:
        f = face_of[c]
        return offs[f] if c + 1 == offs[f + 1] else c + 1

    def prv(c: int) -> int:
        f = face_of[c]
        return offs[f + 1] - 1 if c == offs[f] else c - 1

    vert_corners: list[list[int]] = [[] for _ in range(nv)]
    for c, v in enumerate(cv):
        vert_corners[v].append(c)
    edge_corners: list[list[int]] = [[] for _ in range(ne)]
    for c, e in enumerate(ce):
        edge_corners[e].append(c)
    loose = [not edge_corners[e] for e in range(ne)]
    vert_edges: list[list[int]] = [[] for _ in range(nv)]
    for e, (a, b) in enumerate(edges):
        vert_edges[a].append(e)
        vert_edges[b].append(e)
    affected = sorted({v for e in range(ne) if split[e] for v in edges[e]})

    groups_of: dict[int, list[list[int]]] = {}
    counts = []
    for v in affected:
        connected = vert_corners[v]
        used: set[int] = set()
        groups = []
        for start in connected:
            group, stack = [], [start]
            while stack:
                c = stack.pop()
                if c in used:
                    continue
                used.add(c)
                group.append(c)
                f = face_of[c]
                for e in (ce[c], ce[prv(c)]):
                    if split[e]:
                        continue
                    for oc in edge_corners[e]:
                        if face_of[oc] == f:
                            continue
                        stack.append(oc if cv[oc] == v else nxt(oc))
            if group:
                groups.append(group)
        groups_of[v] = groups
        count = len(groups) - 1
        if any(loose):
            sel_loose = sum(1 for e in vert_edges[v] if loose[e] and split[e])
            unsel_loose = sum(1 for e in vert_edges[v] if loose[e] and not split[e])
            count += sel_loose + (1 if not groups and unsel_loose else 0)
        counts.append(count)
    starts, total = [], 0
    for n in counts:
        starts.append(total)
        total += n
    vert_src = [v for v, n in zip(affected, counts) for _ in range(n)]
    # re-point the corners of every group but the last to the vertex's new vertices
    new_cv = list(cv)
    for v, s in zip(affected, starts):
        for gi, group in enumerate(groups_of[v][:-1]):
            for c in group:
                new_cv[c] = nv + s + gi
    # edges: a selected edge keeps the first distinct corner edge, the others are appended
    appended: list[list[int]] = []
    edge_src: list[int] = []
    for e in range(ne):
        if not split[e] or not edge_corners[e]:
            continue
        dedup: list[tuple[int, int]] = []
        for c in edge_corners[e]:
            a, b = new_cv[c], new_cv[nxt(c)]
            key = (min(a, b), max(a, b))
            if key not in dedup:  # (the corners' edges follow from their vertices: corner_edges)
                dedup.append(key)
        edges[e] = list(dedup[0])
        appended.extend(list(d) for d in dedup[1:])
        edge_src.extend([e] * (len(dedup) - 1))
    for e in range(ne):
        if not split[e] and edge_corners[e]:
            c = edge_corners[e][0]
            a, b = new_cv[c], new_cv[nxt(c)]
            edges[e] = [min(a, b), max(a, b)]
    if any(loose):
        for v, s, n in zip(affected, starts, counts):
            i = max(len(groups_of[v]) - 1, 0)
            if i == n:
                continue
            done = False
            for e in vert_edges[v]:
                if loose[e] and split[e]:
                    edges[e] = _swap(edges[e], v, nv + s + i)
                    i += 1
                    if i == n:
                        done = True
                        break
            if done:
                continue
            for e in vert_edges[v]:
                if loose[e] and not split[e]:
                    edges[e] = _swap(edges[e], v, nv + s + i)
    dev = mesh.corner_verts.device
    vsrc = torch.tensor(vert_src, dtype=torch.long, device=dev)
    esrc = torch.tensor(edge_src, dtype=torch.long, device=dev)
    attrs = {}
    for name, a in mesh.attributes.items():
        d = a.data
        if a.domain == "POINT":
            d = torch.cat([d, d[:, vsrc]], 1)
        elif a.domain == "EDGE":
            d = torch.cat([d, d[:, esrc]], 1)
        attrs[name] = Attribute(a.domain, d, a.type)
    return MeshBatch(verts=torch.cat([mesh.verts, mesh.verts[:, vsrc]], 1),
                     corner_verts=torch.tensor(new_cv, dtype=torch.long, device=dev), face_offsets=mesh.face_offsets,
                     edges=torch.tensor(edges + appended, dtype=torch.long, device=dev).reshape(-1, 2),
                     attributes=attrs, materials=list(mesh.materials))


def _swap(edge: list[int], old: int, new: int) -> list[int]:
    if edge[0] == old:
        return [new, edge[1]]
    if edge[1] == old:
        return [edge[0], new]
    return edge


@node("GeometryNodeSplitEdges", outputs=("Mesh",), pure=False, label="Split Edges", grad="yes",
      notes="face fans and loose edges as Blender 5.0 splits them; the selection is shared by the batch")
def split_edges(mesh=None, selection=True):
    """Split Edges: every mesh with its selected edges split (see the module)."""
    if mesh is None:
        return GeometrySet()
    return map_real_meshes(mesh, lambda m: split_mesh_edges(m, selection))
