"""Merge by Distance (mode All) on meshes: Blender's ``mesh_merge_by_distance_all`` for welds that only
stitch (no edge or face collapses).

Clusters are found as ``BLI_kdtree_3d_calc_duplicates_fast`` does with index order: each selected vertex, in
index order, that is not yet merged takes every selected, not yet merged vertex within Distance (squared
distance ``<=`` Distance squared) as a duplicate, and keeps its place. Welding (``create_merged_mesh`` with
mixed data) removes the duplicates (the other vertices keep their order), moves each kept vertex to the
mean of its cluster (POINT float attributes are averaged the same way), re-points faces and edges, and merges
edges that become equal into the first one (their float attributes averaged). Faces keep their order and
corners.

Which vertices merge depends on positions, so the clusters pass through the traced path's guards
(``decided``) and must agree across the batch (``TopologyVaries`` otherwise); positions stay differentiable.
A weld that would collapse an edge or a face (two corners of a face merging) or make two faces equal
raises: Blender's weld then removes corners and faces in an order this module does not reproduce; the
Connected mode is refused. Checked against Blender in ``tests/translator/nodes/test_merge.py``.
"""

from __future__ import annotations

from typing import Any

import torch

from .. import runtime as rt
from ..geometry import Attribute, GeometrySet, MeshBatch
from . import node
from .attributes import map_real_meshes
from .fields import decided, mesh_context, selection_mask

__all__ = ["merge_by_distance", "merge_clusters"]


def merge_clusters(positions: torch.Tensor, selected: torch.Tensor, distance: torch.Tensor) -> torch.Tensor:
    """``(V,)`` the vertex each vertex merges into (itself when kept), shared by the batch: ``positions (b, V, 3)``,
    ``selected (V,)``, ``distance`` ``()`` / ``(b,)``."""
    with torch.no_grad():
        p = positions.detach()
        d2 = ((p.unsqueeze(2) - p.unsqueeze(1)) ** 2).sum(-1)  # (b, V, V)
        r = distance.detach().reshape(-1, 1, 1)
        within = (d2 <= r * r) & selected.unsqueeze(0).unsqueeze(-1) & selected.unsqueeze(0).unsqueeze(1)
        if within.shape[0] > 1 and not bool((within == within[:1]).all()):
            raise rt.TopologyVaries(within.reshape(within.shape[0], -1).long(), "the vertices Merge by Distance merges")
        near = decided(within[0])  # a guard of the traced path: which vertices are within the distance
    n = int(p.shape[1])
    dest = torch.full((n,), -1, dtype=torch.long, device=p.device)
    for i in selected.nonzero().reshape(-1).tolist():
        if int(dest[i]) not in (-1, i):
            continue
        found = near[i] & (dest == -1)
        found[i] = False
        if bool(found.any()):
            dest[found] = i
            dest[i] = i
    return torch.where(dest < 0, torch.arange(n, device=p.device), dest)


def _weld(mesh: MeshBatch, selection: Any, distance: Any) -> MeshBatch:
    nv = mesh.num_verts
    if nv == 0:
        return mesh
    sel = selection_mask(selection, mesh_context(mesh, "POINT"), "a Merge by Distance selection")
    dest = merge_clusters(mesh.verts, sel, rt.as_float(distance))
    keep = dest == torch.arange(nv, device=dest.device)
    if bool(keep.all()):
        return mesh
    dev = dest.device
    new_index = torch.cumsum(keep.long(), 0) - 1
    vmap = new_index[dest]
    nk = int(keep.sum())
    cv = vmap[mesh.corner_verts]
    # refuse collapses: two corners of a face on one vertex, or faces made equal
    sizes = mesh.face_sizes()
    face = torch.repeat_interleave(torch.arange(mesh.num_faces, device=dev), sizes)
    if mesh.num_corners:
        pairs = torch.unique(face * max(nk, 1) + cv)
        if pairs.numel() != cv.numel():
            raise ValueError("Merge by Distance would collapse a face (two of its corners merge); Blender's weld order "
                             "for collapsed faces is not reproduced")
        keys = [tuple(sorted(f)) for f in MeshBatch(mesh.verts, cv, mesh.face_offsets).polygons()]
        if len(set(keys)) != len(keys):
            raise ValueError("Merge by Distance would make two faces equal; Blender's weld order for them is not reproduced")
    edges = mesh.edges
    edge_keep = None
    edge_group = None
    if edges is not None and edges.numel():
        me = vmap[edges]
        if bool((me[:, 0] == me[:, 1]).any()):
            raise ValueError("Merge by Distance would collapse an edge; Blender's weld order for collapsed edges is "
                             "not reproduced")
        key = torch.minimum(me[:, 0], me[:, 1]) * nk + torch.maximum(me[:, 0], me[:, 1])
        uniq, inv = torch.unique(key, return_inverse=True)
        first = torch.full((uniq.numel(),), key.numel(), dtype=torch.long, device=dev)
        first = first.scatter_reduce(0, inv, torch.arange(key.numel(), device=dev), "amin")
        edge_keep = torch.zeros(key.numel(), dtype=torch.bool, device=dev)
        edge_keep[first] = True
        rank = torch.cumsum(edge_keep.long(), 0) - 1
        edge_group = rank[first[inv]]  # (E,) the kept edge each edge merges into
        edges = me[edge_keep]
    v = mesh.verts
    cnt = torch.zeros(nk, dtype=v.dtype, device=dev).index_add(0, vmap, torch.ones(nv, dtype=v.dtype, device=dev))
    verts = torch.zeros((v.shape[0], nk, 3), dtype=v.dtype, device=dev).index_add(1, vmap, v) / cnt.reshape(1, -1, 1)

    def mean(d: torch.Tensor, group: torch.Tensor, n: int, kept: torch.Tensor) -> torch.Tensor:
        if not d.dtype.is_floating_point:
            return d[:, kept]
        extra = d.shape[2:]
        c = torch.zeros(n, dtype=d.dtype, device=dev).index_add(0, group, torch.ones_like(group, dtype=d.dtype))
        out = torch.zeros((d.shape[0], n, *extra), dtype=d.dtype, device=dev).index_add(1, group, d)
        return out / c.reshape(1, n, *([1] * len(extra)))

    attrs = {}
    for name, a in mesh.attributes.items():
        d = a.data
        if a.domain == "POINT":
            d = mean(d, vmap, nk, keep)
        elif a.domain == "EDGE" and edge_keep is not None:
            d = mean(d, edge_group, int(edge_keep.sum()), edge_keep)
        attrs[name] = Attribute(a.domain, d, a.type)
    return MeshBatch(verts=verts, corner_verts=cv, face_offsets=mesh.face_offsets, edges=edges, attributes=attrs,
                     materials=list(mesh.materials))


def _check(n) -> str | None:
    for s in n.inputs:
        if s.identifier == "Mode" and s.enabled and s.default not in (None, "All"):
            return f"Merge by Distance mode {s.default!r} is not supported (All is)"
    return None


@node("GeometryNodeMergeByDistance", outputs=("Geometry",), pure=False, check=_check, label="Merge by Distance",
      grad="yes", notes="mode All on meshes, welds that only stitch (collapsing edges or faces raise); which vertices "
                        "merge is guarded and shared by the batch")
def merge_by_distance(geometry=None, selection=True, mode="All", distance=0.001):
    """Merge by Distance: every mesh with its selected vertices within ``distance`` welded (see the module)."""
    if geometry is None:
        return GeometrySet()
    if mode != "All":
        raise TypeError(f"Merge by Distance mode {mode!r} is not supported")
    return map_real_meshes(geometry, lambda m: _weld(m, selection, distance))
