"""Mesh to Curve (edges and faces): Blender's ``mesh_to_curve_convert``.

The selected edges become POLY curves. Chains are followed from every vertex, in index order, that does
not have exactly two selected edges: for each of its edges (in edge order) not yet used, a curve starts at
the vertex and walks through vertices with two edges until it reaches one with another count. The edges
left over form closed loops: from each vertex, in index order, that still has both its edges, a cyclic
curve walks until it returns. Curve points are mesh vertices: positions (differentiable) and the mesh's
attributes (interpolated to the POINT domain) follow them; the mesh's built-in attributes other than the
positions are not copied. FACES: each selected face becomes a cyclic curve through its corners' vertices (face
attributes on the CURVE domain, corner attributes on the points). The selection decides topology and is
shared by the batch. Checked against Blender in ``tests/translator/nodes/test_mesh_to_curve.py``.
"""

from __future__ import annotations

from typing import Any

import torch

from .. import runtime as rt
from ..geometry import Attribute, CurvesBatch, GeometrySet, MeshBatch, offsets_from_sizes
from . import node
from .attributes import modify_geometry_sets
from .fields import mesh_context, selection_mask

__all__ = ["edge_chains", "mesh_to_curve"]

_MESH_BUILTINS = ("material_index", "sharp_face", "sharp_edge", "id")


def edge_chains(num_verts: int, edges: list[tuple[int, int]]) -> tuple[list[int], list[int], int]:
    """``(vertex of each curve point, first point of each curve, index of the first cyclic curve)``."""
    neighbors: list[list[int]] = [[] for _ in range(num_verts)]
    for a, b in edges:
        neighbors[a].append(b)
        neighbors[b].append(a)
    unused = [len(n) for n in neighbors]
    points: list[int] = []
    starts: list[int] = []
    for start in range(num_verts):
        if len(neighbors[start]) == 2 or unused[start] == 0:
            continue
        for nxt in neighbors[start]:
            if unused[nxt] == 0:
                continue
            starts.append(len(points))
            points.append(start)
            current = start
            while True:
                last, current = current, nxt
                points.append(current)
                unused[current] -= 1
                unused[last] -= 1
                if len(neighbors[current]) != 2:
                    break
                a, b = neighbors[current]
                nxt = b if last == a else a
    first_cyclic = len(starts)
    for start in range(num_verts):
        if unused[start] != 2:
            continue
        current, nxt = start, neighbors[start][0]
        starts.append(len(points))
        points.append(current)
        while nxt != start:
            last, current = current, nxt
            points.append(current)
            unused[current] -= 1
            unused[last] -= 1
            a, b = neighbors[current]
            nxt = b if last == a else a
    return points, starts, first_cyclic


def _to_curves(mesh: MeshBatch, selection: Any) -> CurvesBatch | None:
    if mesh.edges is None:
        raise TypeError("Mesh to Curve needs a mesh that tracks its edges")
    if mesh.domain_size("EDGE") == 0:
        return None
    mask = selection_mask(selection, mesh_context(mesh, "EDGE"), "a Mesh to Curve selection")
    edges = [tuple(e) for e in mesh.edges[mask].tolist()]
    if not edges:
        return None
    points, starts, first_cyclic = edge_chains(mesh.num_verts, edges)
    dev = mesh.corner_verts.device
    idx = torch.tensor(points, dtype=torch.long, device=dev)
    offsets = torch.tensor([*starts, len(points)], dtype=torch.long, device=dev)
    n = len(starts)
    attrs = {}
    for name, a in mesh.attributes.items():
        if name in _MESH_BUILTINS:
            continue
        data = a.data if a.domain == "POINT" else rt.adapt_domain(mesh, a.data, a.domain, "POINT")
        attrs[name] = Attribute("POINT", data[:, idx], a.type)
    return CurvesBatch(positions=mesh.verts[:, idx], curve_offsets=offsets, types=["POLY"] * n,
                       cyclic=[i >= first_cyclic for i in range(n)], resolution=[12] * n, attributes=attrs)


def _faces_to_curves(mesh: MeshBatch, selection: Any) -> CurvesBatch | None:
    if mesh.num_faces == 0:
        return None
    mask = selection_mask(selection, mesh_context(mesh, "FACE"), "a Mesh to Curve selection")
    faces = mask.nonzero().reshape(-1)
    if faces.numel() == 0:
        return None
    dev = faces.device
    sizes = mesh.face_sizes()[faces]
    face_of = torch.repeat_interleave(torch.arange(faces.numel(), device=dev), sizes)
    offsets = offsets_from_sizes(sizes)
    corners = mesh.face_offsets[:-1][faces][face_of] + torch.arange(int(sizes.sum()), device=dev) - offsets[:-1][face_of]
    verts = mesh.corner_verts[corners]
    attrs = {}
    for name, a in mesh.attributes.items():
        if name in _MESH_BUILTINS:
            continue
        if a.domain == "FACE":
            attrs[name] = Attribute("CURVE", a.data[:, faces], a.type)
        elif a.domain == "CORNER":
            attrs[name] = Attribute("POINT", a.data[:, corners], a.type)
        else:
            data = a.data if a.domain == "POINT" else rt.adapt_domain(mesh, a.data, a.domain, "POINT")
            attrs[name] = Attribute("POINT", data[:, verts], a.type)
    n = int(faces.numel())
    return CurvesBatch(positions=mesh.verts[:, verts], curve_offsets=offsets, types=["POLY"] * n, cyclic=[True] * n,
                       resolution=[12] * n, attributes=attrs)


@node("GeometryNodeMeshToCurve", outputs=("Curve",), props=("mode",), pure=False, label="Mesh to Curve",
      modes={"mode": ("EDGES", "FACES")}, grad="yes",
      notes="edges (chains, then closed loops) and faces (a cyclic curve each); the selection is shared by the batch")
def mesh_to_curve(mesh=None, selection=True, mode: str = "EDGES"):
    """Mesh to Curve: every mesh (nested ones too) replaced by its edges as POLY curves (see the module)."""
    if mesh is None:
        return GeometrySet()

    def on_set(g: GeometrySet) -> GeometrySet:
        convert = _to_curves if mode == "EDGES" else _faces_to_curves
        curves = convert(g.mesh, selection) if g.mesh is not None else g.curves
        return GeometrySet(curves=curves, instances=g.instances)

    return modify_geometry_sets(mesh, on_set)
