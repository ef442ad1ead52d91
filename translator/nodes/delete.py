"""Separate Geometry and Delete Geometry on meshes and instances.

Blender's ``mesh_copy_selection`` (and its ``keep_verts`` / ``keep_edges`` variants) keeps a
selection of a mesh:

* POINT: the selected vertices, the edges with both vertices selected, the faces with all
  vertices selected;
* EDGE: the selected edges, their vertices, the faces with all edges selected;
* FACE: the selected faces, the vertices and edges they use (loose ones go).

Every kept element keeps its order and its attributes. Separate Geometry outputs the selection
and its inverse; Delete Geometry keeps the inverse (mode ALL), or keeps every vertex
(EDGE_FACE) or every vertex and edge (ONLY_FACE) and drops edges and faces as above. A
selection of everything (or nothing) returns the mesh unchanged (or removes it). INSTANCE
selections keep a subset of the top-level instances; mesh domains apply to meshes inside
instances too. On the POINT domain point clouds keep their selected points (every mode); other domains leave
them alone.

The selection decides topology, so it is one mask shared by the batch (``TopologyVaries``
otherwise). Meshes must track their edges (every mesh the translator builds does). Checked
against Blender in ``tests/translator/nodes/test_delete.py``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch

from .. import runtime as rt
from ..geometry import Attribute, GeometrySet, Instances, MeshBatch, offsets_from_sizes
from . import node
from .attributes import modify_geometry_sets
from .fields import instance_context, mesh_context, selection_mask

__all__ = ["delete_geometry", "keep_mesh_selection", "separate_geometry"]

_MESH_DOMAINS = ("POINT", "EDGE", "FACE")


def _mask_of_faces(mesh: MeshBatch, per_corner: torch.Tensor) -> torch.Tensor:
    """``(F,)``: faces all of whose corners are true in ``per_corner (C,)``."""
    sizes = mesh.face_sizes()
    face = torch.repeat_interleave(torch.arange(sizes.numel(), device=sizes.device), sizes)
    bad = torch.zeros(mesh.num_faces, dtype=torch.long, device=sizes.device).index_add(0, face, (~per_corner).long())
    return bad == 0


def _used(index: torch.Tensor, n: int) -> torch.Tensor:
    out = torch.zeros(n, dtype=torch.bool, device=index.device)
    out[index] = True
    return out


def keep_mesh_selection(mesh: MeshBatch, sel: torch.Tensor, domain: str, mode: str = "ALL") -> MeshBatch | None:
    """The part of ``mesh`` that a selection ``sel`` (``(N,)`` bool on ``domain``) keeps: Blender's
    ``mesh_copy_selection`` (``mode`` ALL), ``..._keep_verts`` (EDGE_FACE), ``..._keep_edges`` (ONLY_FACE).
    None when nothing remains."""
    if sel.numel() == 0 or bool(sel.all()):
        return mesh
    if not bool(sel.any()) and mode == "ALL":
        return None
    dev = mesh.corner_verts.device
    sizes = mesh.face_sizes()
    face_of_corner = torch.repeat_interleave(torch.arange(sizes.numel(), device=dev), sizes)
    edges = mesh.edges
    nv, nf = mesh.num_verts, mesh.num_faces
    ne = 0 if edges is None else int(edges.shape[0])
    if domain == "POINT":
        vmask = sel
        emask = vmask[edges[:, 0]] & vmask[edges[:, 1]] if ne else torch.zeros(0, dtype=torch.bool, device=dev)
        fmask = _mask_of_faces(mesh, vmask[mesh.corner_verts])
    elif domain == "EDGE":
        emask = sel
        vmask = _used(edges[emask].reshape(-1), nv)
        fmask = _mask_of_faces(mesh, emask[rt.corner_edges(mesh)]) if nf else torch.zeros(0, dtype=torch.bool, device=dev)
    else:
        fmask = sel
        keep_corner = fmask[face_of_corner]
        vmask = _used(mesh.corner_verts[keep_corner], nv)
        emask = _used(rt.corner_edges(mesh)[keep_corner], ne) if ne else torch.zeros(0, dtype=torch.bool, device=dev)
    if mode in ("EDGE_FACE", "ONLY_FACE"):
        vmask = torch.ones(nv, dtype=torch.bool, device=dev)
    if mode == "ONLY_FACE":
        emask = torch.ones(ne, dtype=torch.bool, device=dev)
    if not bool(vmask.any()):
        return None
    if bool(vmask.all()) and bool(emask.all()) and bool(fmask.all()):
        return mesh
    vmap = torch.cumsum(vmask.long(), 0) - 1
    keep_corner = fmask[face_of_corner]
    new_sizes = sizes[fmask]
    offsets = offsets_from_sizes(new_sizes)
    keep = {"POINT": vmask, "EDGE": emask, "FACE": fmask, "CORNER": keep_corner}
    attrs = {k: replace(a, data=a.data[:, keep[a.domain]]) for k, a in mesh.attributes.items()}
    new_edges = None if edges is None else vmap[edges[emask]]
    return MeshBatch(verts=mesh.verts[:, vmask], corner_verts=vmap[mesh.corner_verts[keep_corner]], face_offsets=offsets,
                     edges=new_edges, attributes=attrs, materials=list(mesh.materials))


def _keep_instances(inst: Instances, keep: torch.Tensor) -> Instances | None:
    idx = keep.nonzero().reshape(-1)
    if idx.numel() == 0:
        return None
    if idx.numel() == inst.count:
        return inst
    attrs = {k: Attribute(a.domain, a.data[:, idx], a.type) for k, a in inst.attributes.items()}
    return replace(inst, reference_index=[inst.reference_index[i] for i in idx.tolist()], transforms=inst.transforms[:, idx],
                   attributes=attrs)


def _keep_points(points: MeshBatch, keep: torch.Tensor) -> MeshBatch | None:
    """The points of a point cloud where ``keep (N,)`` holds, with their attributes; None when none."""
    idx = keep.nonzero().reshape(-1)
    if idx.numel() == 0:
        return None
    if idx.numel() == points.num_verts:
        return points
    attrs = {k: Attribute(a.domain, a.data[:, idx], a.type) for k, a in points.attributes.items()}
    return replace(points, verts=points.verts[:, idx], attributes=attrs)


def _split(geometry: GeometrySet, selection: Any, domain: str, invert: bool, mode: str) -> GeometrySet:
    if domain == "INSTANCE":
        inst = geometry.instances
        if inst is None or inst.count == 0:
            return geometry
        mask = selection_mask(selection, instance_context(inst), "a Separate / Delete Geometry selection")
        return replace(geometry, instances=_keep_instances(inst, ~mask if invert else mask))

    def on_set(g: GeometrySet) -> GeometrySet:
        mesh = g.mesh
        if mesh is not None and domain != "POINT" and mesh.edges is None:
            raise TypeError(f"cannot select the {domain} domain of a mesh that does not track its edges")
        if mesh is not None and mesh.domain_size(domain):
            mask = selection_mask(selection, mesh_context(mesh, domain), "a Separate / Delete Geometry selection")
            mesh = keep_mesh_selection(mesh, ~mask if invert else mask, domain, mode)
        points = g.points
        if points is not None and domain == "POINT" and points.num_verts:
            mask = selection_mask(selection, mesh_context(points, "POINT"), "a Separate / Delete Geometry selection")
            points = _keep_points(points, ~mask if invert else mask)
        return replace(g, mesh=mesh, points=points)

    return modify_geometry_sets(geometry, on_set)


def _check_separate(n) -> str | None:
    d = n.properties.get("domain")
    return None if d in (*_MESH_DOMAINS, "INSTANCE") else f"Separate Geometry domain {d!r} is not supported"


@node("GeometryNodeSeparateGeometry", outputs=("Selection", "Inverted"), props=("domain",), pure=False,
      check=_check_separate, label="Separate Geometry", modes={"domain": (*_MESH_DOMAINS, "INSTANCE")}, grad="yes",
      notes="meshes, point clouds (POINT) and instances; the selection is shared by the batch", outputs_arg=True)
def separate_geometry(geometry=None, selection=True, domain: str = "POINT", outputs_used=None):
    """Separate Geometry: ``(selected, inverted)``: the geometry kept by the selection on ``domain``
    and by its inverse (see the module)."""
    if geometry is None:
        return GeometrySet(), GeometrySet()
    want = outputs_used if outputs_used is not None else ("Selection", "Inverted")
    sel = _split(geometry, selection, domain, False, "ALL") if "Selection" in want else GeometrySet()
    inv = _split(geometry, selection, domain, True, "ALL") if "Inverted" in want else GeometrySet()
    return sel, inv


_DELETE_MODES = ("ALL", "EDGE_FACE", "ONLY_FACE")


def _check_delete(n) -> str | None:
    d, m = n.properties.get("domain"), n.properties.get("mode")
    if d not in (*_MESH_DOMAINS, "INSTANCE"):
        return f"Delete Geometry domain {d!r} is not supported"
    return None if m in _DELETE_MODES else f"Delete Geometry mode {m!r} is not supported"


@node("GeometryNodeDeleteGeometry", outputs=("Geometry",), props=("domain", "mode"), pure=False, check=_check_delete,
      label="Delete Geometry", modes={"domain": (*_MESH_DOMAINS, "INSTANCE"), "mode": _DELETE_MODES}, grad="yes",
      notes="meshes, point clouds (POINT) and instances; the selection is shared by the batch")
def delete_geometry(geometry=None, selection=True, domain: str = "POINT", mode: str = "ALL"):
    """Delete Geometry: the geometry without the selection on ``domain`` (``mode`` ALL, or keeping the
    vertices (EDGE_FACE) or the vertices and edges (ONLY_FACE))."""
    if geometry is None:
        return GeometrySet()
    return _split(geometry, selection, domain, True, mode)
