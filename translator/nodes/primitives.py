"""Mesh primitives: Mesh Line (more primitives are added in this module).

Vertex, edge and face order follow Blender's ``GEO_mesh_primitive_*`` code so
results compare 1:1 with Blender's evaluated mesh. Counts decide topology and
must be shared by the batch (:func:`translator.runtime.static`).
"""

from __future__ import annotations

import torch

from .. import runtime as rt
from ..geometry import GeometrySet, MeshBatch
from . import node

__all__ = ["mesh_line", "make_mesh"]


def make_mesh(verts: torch.Tensor, faces: list[list[int]] | None = None, edges: torch.Tensor | None = None,
              corner_verts: torch.Tensor | None = None, face_offsets: torch.Tensor | None = None) -> MeshBatch:
    """Build a :class:`MeshBatch` from ``verts (b, V, 3)`` and faces (lists) or corner arrays."""
    dev = verts.device
    if corner_verts is None:
        faces = faces or []
        corner_verts = torch.tensor([v for f in faces for v in f], dtype=torch.long, device=dev)
        sizes = torch.tensor([len(f) for f in faces], dtype=torch.long, device=dev)
        face_offsets = torch.cat([torch.zeros(1, dtype=torch.long, device=dev), torch.cumsum(sizes, 0)])
    return MeshBatch(verts=verts, corner_verts=corner_verts, face_offsets=face_offsets, edges=edges)


def _check_line(n) -> str | None:
    mode = n.properties.get("mode")
    if mode not in ("OFFSET", "END_POINTS"):
        return f"Mesh Line mode {mode!r} is not supported"
    if mode == "END_POINTS" and n.properties.get("count_mode") not in ("TOTAL", "RESOLUTION"):
        return f"Mesh Line count mode {n.properties.get('count_mode')!r} is not supported"
    return None


@node("GeometryNodeMeshLine", outputs=("Mesh",), props=("mode", "count_mode"), pure=False, check=_check_line)
def mesh_line(mode="OFFSET", count_mode="TOTAL", count=10, resolution=1.0, start_location=(0.0, 0.0, 0.0),
              offset=(0.0, 0.0, 1.0)):
    """Mesh Line: ``count`` points ``start + i * offset`` (OFFSET) or spread from start to the
    end point (END_POINTS; ``count_mode`` RESOLUTION derives the count from the length).
    Edges ``(i, i + 1)``. Positions ``(b, count, 3)``."""
    start = rt.as_vector(start_location)
    off = rt.as_vector(offset)
    if mode == "END_POINTS" and count_mode == "RESOLUTION":
        res = rt.as_float(resolution)
        length = torch.linalg.vector_norm(off - start, dim=-1)
        res_safe = torch.clamp(res, min=0.0001)
        count = rt.static(torch.floor(length / res_safe).long() + 1, "Mesh Line count")
    n = int(rt.static(count, "Mesh Line count"))
    dt, dev = rt.current().dtype, rt.current().device
    if n < 1:
        return GeometrySet()
    if mode == "END_POINTS":
        step = (off - start) / (n - 1) if n > 1 else torch.zeros_like(off - start)
    else:
        step = off
    i = torch.arange(n, dtype=dt, device=dev)
    start_b = start.reshape(-1, 1, 3)
    step_b = step.reshape(-1, 1, 3)
    verts = start_b + i.reshape(1, n, 1) * step_b
    edges = torch.stack([torch.arange(n - 1, device=dev), torch.arange(1, n, device=dev)], 1)
    return GeometrySet(mesh=make_mesh(verts, [], edges=edges))
