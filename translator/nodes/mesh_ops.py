"""Mesh operations: Set Shade Smooth, Flip Faces and Scale Elements (Extrude Mesh: :mod:`.extrude`).

* Set Shade Smooth writes Blender's built-in boolean attributes ``sharp_face`` (FACE) or
  ``sharp_edge`` (EDGE) as ``not shade_smooth`` on the selected elements; the others keep their
  value (false where the attribute did not exist). Primitives start flat (``sharp_face`` true).
* Flip Faces reverses the winding of the selected faces as ``mesh_flip_faces`` does: a face's
  first corner stays, the others are reversed (``[a, b, c, d] -> [a, d, c, b]``), and face-corner
  attributes move with their corners. The selection decides topology: it is one mask shared by the
  batch.
* Scale Elements (``node_geo_scale_elements.cc``): the selected faces (joined where they share a vertex) or
  edges form islands, numbered by their lowest vertex; each island's vertices are scaled about the mean of its
  elements' centers (default: face centers / edge midpoints) by their mean scale, uniformly or along their
  mean axis (normalized; +X when zero). A single value is used as it is.

Mesh Boolean is refused (one line): its topology comes from Blender's intersection solvers.

Meshes inside instances are processed too (``modify_geometry_sets``). Checked against Blender in
``tests/translator/nodes/test_mesh_ops.py``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch

from .. import runtime as rt
from ..geometry import Attribute, GeometrySet, MeshBatch
from . import node, refuse
from .attributes import map_real_meshes
from .fields import evaluate, mesh_context, selection_mask

__all__ = ["flip_faces", "flip_mesh_faces", "scale_elements", "set_shade_smooth"]


def _set_sharp(mesh: MeshBatch, domain: str, selection: Any, shade_smooth: Any) -> MeshBatch:
    name = "sharp_face" if domain == "FACE" else "sharp_edge"
    n = mesh.domain_size(domain)
    if n == 0:
        return mesh
    fctx = mesh_context(mesh, domain)
    sharp = ~evaluate(shade_smooth, fctx, "BOOLEAN")
    if selection is not True:
        old = mesh.attributes.get(name)
        prev = old.data.bool() if old is not None and old.domain == domain else torch.zeros((1, n), dtype=torch.bool,
                                                                                              device=sharp.device)
        sharp = torch.where(evaluate(selection, fctx, "BOOLEAN"), sharp, prev)
    attrs = dict(mesh.attributes)
    attrs[name] = Attribute(domain, sharp, "BOOLEAN")
    return replace(mesh, attributes=attrs)


def _check_domain(n) -> str | None:
    d = n.properties.get("domain", "FACE")
    return None if d in ("FACE", "EDGE") else f"Set Shade Smooth domain {d!r} is not supported"


@node("GeometryNodeSetShadeSmooth", outputs=("Geometry",), props=("domain",), pure=False, check=_check_domain,
      label="Set Shade Smooth", modes={"domain": ("FACE", "EDGE")}, notes="writes sharp_face / sharp_edge")
def set_shade_smooth(geometry=None, selection=True, shade_smooth=True, domain: str = "FACE"):
    """Set Shade Smooth: ``sharp_face`` (FACE) or ``sharp_edge`` (EDGE) ``(b, N)`` becomes
    ``not shade_smooth`` where selected, on every mesh."""
    if geometry is None:
        return GeometrySet()
    return map_real_meshes(geometry, lambda m: _set_sharp(m, domain, selection, shade_smooth))


def flip_mesh_faces(mesh: MeshBatch, mask: torch.Tensor) -> MeshBatch:
    """``mesh`` with the faces in ``mask (F,)`` flipped (corner order and corner attributes)."""
    if not bool(mask.any()):
        return mesh
    off = mesh.face_offsets
    sizes = mesh.face_sizes()
    face = torch.repeat_interleave(torch.arange(sizes.numel(), device=off.device), sizes)
    c = torch.arange(mesh.num_corners, device=off.device)
    local = c - off[:-1][face]
    flipped = torch.where(local == 0, c, off[1:][face] - local)
    perm = torch.where(mask[face], flipped, c)
    attrs = {k: (replace(a, data=a.data[:, perm]) if a.domain == "CORNER" else a) for k, a in mesh.attributes.items()}
    return replace(mesh, corner_verts=mesh.corner_verts[perm], attributes=attrs)


def _flip(mesh: MeshBatch, selection: Any) -> MeshBatch:
    if mesh.num_faces == 0:
        return mesh
    return flip_mesh_faces(mesh, selection_mask(selection, mesh_context(mesh, "FACE"), "a Flip Faces selection"))


@node("GeometryNodeFlipFaces", outputs=("Mesh",), pure=False, label="Flip Faces",
      notes="the selection is shared by the batch (it decides corner order)")
def flip_faces(mesh=None, selection=True):
    """Flip Faces: the selected faces (a FACE field, one mask for the batch) of every mesh reversed."""
    if mesh is None:
        return GeometrySet()
    return map_real_meshes(mesh, lambda m: _flip(m, selection))


# ---------------------------------------------------------------------------
# Scale Elements


def _element_islands(mesh: MeshBatch, domain: str, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Islands of the selected faces (vertices shared) or edges: ``(island of each selected element (S,), island of
    each vertex (V,), -1 for vertices outside, island count)``; islands are numbered by their lowest vertex."""
    dev = mesh.corner_verts.device
    nv = mesh.num_verts
    sel = mask.nonzero().reshape(-1)
    if domain == "FACE":
        face = torch.repeat_interleave(torch.arange(mesh.num_faces, device=dev), mesh.face_sizes())
        keep = mask[face]
        first = mesh.corner_verts[mesh.face_offsets[:-1]][face]
        pairs = torch.stack([first[keep], mesh.corner_verts[keep]], 1)
        elem_vert = mesh.corner_verts[mesh.face_offsets[:-1][sel]]
    else:
        pairs = mesh.edges[sel]
        elem_vert = mesh.edges[sel, 0]
    used = torch.zeros(nv, dtype=torch.bool, device=dev)
    used[pairs.reshape(-1)] = True
    label = torch.arange(nv, device=dev)
    a, b = pairs[:, 0], pairs[:, 1]
    while True:
        m = torch.minimum(label[a], label[b])
        new = label.scatter_reduce(0, a, m, "amin").scatter_reduce(0, b, m, "amin")
        new = new[new]
        if torch.equal(new, label):
            break
        label = new
    roots, ids = torch.unique(label[used], return_inverse=True)
    vert_island = torch.full((nv,), -1, dtype=torch.long, device=dev)
    vert_island[used] = ids
    return vert_island[elem_vert], vert_island, int(roots.numel())


def _island_mean(values: torch.Tensor, island: torch.Tensor, n: int) -> torch.Tensor:
    """``values (b, S, ...)`` averaged per island ``(S,)`` -> ``(b, n, ...)``."""
    extra = values.shape[2:]
    out = torch.zeros((values.shape[0], n, *extra), dtype=values.dtype, device=values.device)
    out = out.index_add(1, island, values)
    cnt = torch.zeros(n, dtype=values.dtype, device=values.device).index_add(0, island, torch.ones_like(island, dtype=values.dtype))
    return out / cnt.reshape(1, n, *([1] * len(extra)))


def _scale_mesh_elements(mesh: MeshBatch, domain: str, selection: Any, scale: Any, center: Any, mode: str,
                         axis: Any) -> MeshBatch:
    from .fields import positions_on

    if mesh.domain_size(domain) == 0:
        return mesh
    if domain == "EDGE" and mesh.edges is None:
        raise TypeError("Scale Elements on edges needs a mesh that tracks its edges")
    fctx = mesh_context(mesh, domain)
    mask = selection_mask(selection, fctx, "a Scale Elements selection")
    if not bool(mask.any()):
        return mesh
    elem_island, vert_island, n = _element_islands(mesh, domain, mask)

    def mean(value: Any, type: str) -> torch.Tensor:
        if not isinstance(value, rt.Field):
            t = rt.eval_field(value, fctx, type)  # a single value: itself (Blender's get_if_single)
            return t.reshape(t.shape[0], 1, *t.shape[2:]).expand(t.shape[0], n, *t.shape[2:])
        return _island_mean(evaluate(value, fctx, type)[:, mask], elem_island, n)

    s = mean(scale, "VALUE")  # (b, n)
    c = mean(rt.Field(positions_on, "VECTOR") if center is None else center, "VECTOR")  # (b, n, 3)
    v = mesh.verts
    inside = vert_island >= 0
    isl = vert_island.clamp(min=0)
    vs, cs = s[:, isl].unsqueeze(-1), c[:, isl]
    diff = v - cs
    if mode == "Single Axis":
        ax = mean(axis, "VECTOR")
        zero = (ax == 0).all(-1, keepdim=True)
        ax = torch.where(zero, torch.tensor([1.0, 0.0, 0.0], dtype=ax.dtype, device=ax.device), ax)
        ax = ax / torch.linalg.vector_norm(ax, dim=-1, keepdim=True)
        xa = ax[:, isl]
        moved = v + (vs - 1.0) * (diff * xa).sum(-1, keepdim=True) * xa
    else:
        moved = cs + vs * diff
    return replace(mesh, verts=torch.where(inside.reshape(1, -1, 1), moved, v))


def _check_scale(n) -> str | None:
    d = n.properties.get("domain")
    if d not in ("FACE", "EDGE"):
        return f"Scale Elements domain {d!r} is not supported"
    for s in n.inputs:
        if s.identifier == "Scale Mode" and s.enabled and s.default not in (None, "Uniform", "Single Axis"):
            return f"Scale Elements scale mode {s.default!r} is not supported"
    return None


@node("GeometryNodeScaleElements", outputs=("Geometry",), props=("domain",), pure=False, check=_check_scale,
      implicit=("center",), label="Scale Elements", modes={"domain": ("FACE", "EDGE")}, grad="yes",
      notes="Uniform and Single Axis (a Scale Mode menu); connected groups share their mean scale, center and axis; "
            "the selection is shared by the batch")
def scale_elements(geometry=None, selection=True, scale=1.0, center=None, scale_mode="Uniform", axis=(1.0, 0.0, 0.0),
                   domain: str = "FACE"):
    """Scale Elements: the vertices of each island of selected faces (sharing a vertex) or edges move
    ``center + scale * (p - center)`` (Uniform) or along the normalized ``axis`` only (Single Axis), with the
    island's mean scale, center (default: the elements' centres) and axis."""
    if geometry is None:
        return GeometrySet()
    if isinstance(scale_mode, (rt.Field, torch.Tensor)):
        raise TypeError("Scale Elements' scale mode must be a single menu value")
    return map_real_meshes(geometry, lambda m: _scale_mesh_elements(m, domain, selection, scale, center, scale_mode,
                                                                    axis))


refuse("GeometryNodeMeshBoolean", "Mesh Boolean is not supported: Blender's Exact, Float and Manifold solvers decide the "
       "output's topology from mesh intersections (mesh_boolean / BMesh intersect), which is not reproduced")
refuse("GeometryNodeConvexHull", "Convex Hull is not supported: Blender takes the hull's vertex and face order from "
       "Bullet's integer divide-and-conquer hull (plConvexHullCompute), which is not reproduced")
