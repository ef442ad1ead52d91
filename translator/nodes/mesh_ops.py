"""Mesh operations: Set Shade Smooth and Flip Faces.

* Set Shade Smooth writes Blender's built-in boolean attributes ``sharp_face`` (FACE) or
  ``sharp_edge`` (EDGE) as ``not shade_smooth`` on the selected elements; the others keep their
  value (false where the attribute did not exist). Primitives start flat (``sharp_face`` true).
* Flip Faces reverses the winding of the selected faces as ``mesh_flip_faces`` does: a face's
  first corner stays, the others are reversed (``[a, b, c, d] -> [a, d, c, b]``), and face-corner
  attributes move with their corners. The selection decides topology: it is one mask shared by the
  batch.

Meshes inside instances are processed too (``modify_geometry_sets``). Checked against Blender in
``tests/translator/nodes/test_mesh_ops.py``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch

from ..geometry import Attribute, GeometrySet, MeshBatch
from . import node
from .attributes import map_real_meshes
from .fields import evaluate, mesh_context, selection_mask

__all__ = ["flip_faces", "flip_mesh_faces", "set_shade_smooth"]


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
