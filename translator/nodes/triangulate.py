"""Triangulate (``geometry::mesh_triangulate``, Blender 4.3+).

Each selected quad becomes two triangles cut on one diagonal, chosen by the Quad Method:

* Fixed: 0-2; Fixed Alternate: 1-3; Shortest / Longest Diagonal: the shorter / longer one (1-3 on ties);
* Beauty: 0-2 or 1-3 where the other diagonal would fold the quad over (``is_quad_flip_v3``), else the
  diagonal that maximises the triangles' area over perimeter in the quad's plane
  (``BLI_polyfill_edge_calc_rotate_beauty__area``).

The triangles are ``(2, 0, 1), (0, 2, 3)`` (0-2) or ``(1, 3, 0), (3, 1, 2)`` (1-3) in the quad's corners. The
result lists the new triangles first (in the order of their quads; a triangle repeating an earlier one, as
a vertex set, is dropped), then the other faces in order (an original triangle repeated by a new one is
dropped). Face and corner attributes follow their faces and corners; existing edges keep their order and
values, new edges are appended in the order the new faces first use them (``mesh_calc_edges``), with zero
values. The diagonals decide topology, so they must agree across the batch. Selected n-gons (5 corners or
more) raise: Blender's polyfill ear clipping and its beauty pass are not reproduced. Checked against Blender
in ``tests/translator/nodes/test_triangulate.py``.
"""

from __future__ import annotations

from typing import Any

import torch

from .. import runtime as rt
from ..geometry import Attribute, GeometrySet, MeshBatch, offsets_from_sizes
from . import node
from .attributes import map_real_meshes
from .fields import decided, mesh_context, selection_mask

__all__ = ["QUAD_METHODS", "calc_edges", "quad_beauty_prefers_13", "triangulate", "triangulate_mesh"]

QUAD_METHODS = ("Beauty", "Fixed", "Fixed Alternate", "Shortest Diagonal", "Longest Diagonal")
_FLT_MAX = 3.4028234663852886e38


def calc_edges(existing: torch.Tensor | None, corner_verts: torch.Tensor, face_offsets: torch.Tensor) -> torch.Tensor:
    """``(E, 2)`` Blender's ``mesh_calc_edges`` keeping ``existing`` edges: those first, in order, then each new
    edge ``(low, high)`` in the order faces first use it (a face's edges from its last corner to its first, then
    round)."""
    dev = corner_verts.device
    sizes = face_offsets[1:] - face_offsets[:-1]
    face = torch.repeat_interleave(torch.arange(sizes.numel(), device=dev), sizes)
    c = torch.arange(corner_verts.numel(), device=dev)
    prev = torch.where(c == face_offsets[:-1][face], face_offsets[1:][face] - 1, c - 1)
    a, b = corner_verts[prev], corner_verts[c]
    new = torch.stack([torch.minimum(a, b), torch.maximum(a, b)], 1)
    new = new[a != b]
    old = existing if existing is not None else torch.zeros((0, 2), dtype=torch.long, device=dev)
    allp = torch.cat([torch.stack([old.min(1).values, old.max(1).values], 1) if old.numel() else old, new])
    if allp.numel() == 0:
        return old
    n = int(allp.max()) + 1
    keys = allp[:, 0] * n + allp[:, 1]
    uniq, inv = torch.unique(keys, return_inverse=True)
    first = torch.full((uniq.numel(),), keys.numel(), dtype=torch.long, device=dev)
    first = first.scatter_reduce(0, inv, torch.arange(keys.numel(), device=dev), "amin")
    order = torch.argsort(first)
    first_pos = first[order]
    added = first_pos[first_pos >= old.shape[0]]
    return torch.cat([old, allp[added]])


def _cross_tri(v1, v2, v3):
    return torch.linalg.cross(v1 - v2, v2 - v3)


def _cross_tri_2d(v1, v2, v3):
    return (v1[..., 0] - v2[..., 0]) * (v2[..., 1] - v3[..., 1]) + (v1[..., 1] - v2[..., 1]) * (v3[..., 0] - v2[..., 0])


def _rotate_calc(v1, v2, v3, v4) -> torch.Tensor:
    """``BLI_polyfill_beautify_quad_rotate_calc_ex`` (2D, lock_degenerate off): negative when 1-3 beats 2-4."""
    eps = 1e-12
    a234, a241 = _cross_tri_2d(v2, v3, v4), _cross_tri_2d(v2, v4, v1)
    a123, a134 = _cross_tri_2d(v1, v2, v3), _cross_tri_2d(v1, v3, v4)

    def ln(p, q):
        return torch.linalg.vector_norm(p - q, dim=-1)

    l12, l23, l34, l41, l13, l24 = ln(v1, v2), ln(v2, v3), ln(v3, v4), ln(v4, v1), ln(v1, v3), ln(v2, v4)
    fac_24 = a234.abs() / (l23 + l34 + l24) + a241.abs() / (l41 + l12 + l24)
    fac_13 = a123.abs() / (l12 + l23 + l13) + a134.abs() / (l34 + l41 + l13)
    out = fac_24 - fac_13
    out = torch.where((a234.abs() <= eps) | (a241.abs() <= eps), torch.full_like(out, -_FLT_MAX), out)
    out = torch.where((a234 >= 0) != (a241 >= 0), torch.full_like(out, -_FLT_MAX), out)
    unusable = ((a123 >= 0) != (a134 >= 0)) | (a123.abs() <= eps) | (a134.abs() <= eps)
    return torch.where(unusable, torch.full_like(out, _FLT_MAX), out)


def _beauty_area(v1, v2, v3, v4) -> torch.Tensor:
    """``BLI_polyfill_edge_calc_rotate_beauty__area`` (lock_degenerate off) of 3D points ``(..., 3)``."""
    no = _cross_tri(v2, v3, v4) + _cross_tri(v2, v4, v1)
    scale = torch.linalg.vector_norm(no, dim=-1, keepdim=True)
    ok = scale[..., 0] > 0
    n = no / torch.where(scale > 0, scale, torch.ones_like(scale))
    f = n[..., 0] ** 2 + n[..., 1] ** 2
    big = f > 1.1920929e-07
    d = 1.0 / torch.sqrt(torch.where(big, f, torch.ones_like(f)))
    b1 = torch.where(big.unsqueeze(-1), torch.stack([n[..., 1] * d, -n[..., 0] * d, torch.zeros_like(d)], -1),
                     torch.stack([torch.where(n[..., 2] < 0, -1.0, 1.0).to(n.dtype), torch.zeros_like(d),
                                  torch.zeros_like(d)], -1))
    b2 = torch.where(big.unsqueeze(-1), torch.stack([-n[..., 2] * b1[..., 1], n[..., 2] * b1[..., 0],
                                                     n[..., 0] * b1[..., 1] - n[..., 1] * b1[..., 0]], -1),
                     torch.stack([torch.zeros_like(d), torch.ones_like(d), torch.zeros_like(d)], -1))

    def proj(v):
        return torch.stack([(b1 * v).sum(-1), (b2 * v).sum(-1)], -1)

    p1, p2, p3, p4 = proj(v1), proj(v2), proj(v3), proj(v4)
    s = scale[..., 0]

    def signum(x):
        return (x > 1e-5).long() - (x < -1e-5).long()

    same = (signum(_cross_tri_2d(p2, p3, p4) / torch.where(ok, s, torch.ones_like(s)))
            + signum(_cross_tri_2d(p2, p4, p1) / torch.where(ok, s, torch.ones_like(s)))) != 0
    out = _rotate_calc(p1, p2, p3, p4)
    return torch.where(ok & same, out, torch.full_like(out, _FLT_MAX))


def _quad_flip_bits(v1, v2, v3, v4) -> tuple[torch.Tensor, torch.Tensor]:
    """``is_quad_flip_v3``: whether the 1-3 diagonal, and the 2-4 diagonal, fold the quad over."""
    d12, d23, d34, d41 = v1 - v2, v2 - v3, v3 - v4, v4 - v1
    f13 = (torch.linalg.cross(d12, d23) * torch.linalg.cross(d34, d41)).sum(-1) < 0
    f24 = (torch.linalg.cross(d23, d34) * torch.linalg.cross(d41, d12)).sum(-1) < 0
    return f13, f24


def quad_beauty_prefers_13(p0, p1, p2, p3) -> torch.Tensor:
    """Blender's Beauty choice for quads ``p0..p3 (..., 3)``: True where the 1-3 diagonal is used."""
    f13, f24 = _quad_flip_bits(p1, p2, p3, p0)  # bits of the rotated quad: (1-3) -> 0-2 flipped? see module
    choose_02 = _beauty_area(p1, p2, p3, p0) > 0
    return torch.where(f13, torch.zeros_like(f13), torch.where(f24, torch.ones_like(f24), ~choose_02))


def _quad_uses_13(mesh: MeshBatch, quads: torch.Tensor, method: str) -> torch.Tensor:
    """``(Q,)`` whether each quad is cut on 1-3 (shared by the batch)."""
    if method == "Fixed":
        return torch.zeros(quads.numel(), dtype=torch.bool, device=quads.device)
    if method == "Fixed Alternate":
        return torch.ones(quads.numel(), dtype=torch.bool, device=quads.device)
    v = mesh.verts
    s = mesh.face_offsets[:-1][quads]
    p = [v[:, mesh.corner_verts[s + k]] for k in range(4)]
    if method == "Beauty":
        use13 = quad_beauty_prefers_13(*p)
    else:
        d02 = ((p[0] - p[2]) ** 2).sum(-1)
        d13 = ((p[1] - p[3]) ** 2).sum(-1)
        use13 = ~(d02 < d13) if method == "Shortest Diagonal" else ~(d02 > d13)
    return decided(rt.static_mask(use13, "the diagonals Triangulate cuts quads on"))


def triangulate_mesh(mesh: MeshBatch, selection: Any, quad_method: str) -> MeshBatch:
    """``mesh`` with its selected quads triangulated (see the module)."""
    if mesh.num_faces == 0:
        return mesh
    sizes = mesh.face_sizes()
    mask = selection_mask(selection, mesh_context(mesh, "FACE"), "a Triangulate selection")
    if bool((mask & (sizes > 4)).any()):
        f = int((mask & (sizes > 4)).nonzero()[0])
        raise ValueError(f"Triangulate: face {f} has {int(sizes[f])} corners; n-gons need Blender's polyfill ear clipping "
                         "(Beauty / Clip), which is not reproduced")
    quads = (mask & (sizes == 4)).nonzero().reshape(-1)
    if quads.numel() == 0:
        return mesh
    if mesh.edges is None:
        raise TypeError("Triangulate needs a mesh that tracks its edges")
    dev = quads.device
    use13 = _quad_uses_13(mesh, quads, quad_method)
    local = torch.where(use13.unsqueeze(-1), torch.tensor([1, 3, 0, 3, 1, 2], device=dev),
                        torch.tensor([2, 0, 1, 0, 2, 3], device=dev))
    new_corners = (mesh.face_offsets[:-1][quads].unsqueeze(-1) + local).reshape(-1, 3)  # (2Q, 3) source corners
    new_face_src = quads.repeat_interleave(2)
    cv = mesh.corner_verts
    tri_keys = torch.sort(cv[new_corners], 1).values.tolist()
    seen: set[tuple[int, ...]] = set()
    keep_new = []
    for i, k in enumerate(tri_keys):
        t = tuple(k)
        if t not in seen:
            seen.add(t)
            keep_new.append(i)
    keep_new_t = torch.tensor(keep_new, dtype=torch.long, device=dev)
    new_corners, new_face_src = new_corners[keep_new_t], new_face_src[keep_new_t]
    others = ~(mask & (sizes == 4))
    tris = (sizes == 3).nonzero().reshape(-1)
    if tris.numel():
        src_keys = torch.sort(cv[mesh.face_offsets[:-1][tris].unsqueeze(-1) + torch.arange(3, device=dev)], 1).values
        dup = torch.tensor([tuple(k) in seen for k in src_keys.tolist()], dtype=torch.bool, device=dev)
        others[tris[dup]] = False
    kept = others.nonzero().reshape(-1)
    face = torch.repeat_interleave(torch.arange(mesh.num_faces, device=dev), sizes)
    kept_corners = others[face].nonzero().reshape(-1)
    corner_src = torch.cat([new_corners.reshape(-1), kept_corners])
    face_src = torch.cat([new_face_src, kept])
    new_sizes = torch.cat([torch.full((new_face_src.numel(),), 3, dtype=torch.long, device=dev), sizes[kept]])
    offsets = offsets_from_sizes(new_sizes)
    corner_verts = cv[corner_src]
    edges = calc_edges(mesh.edges, corner_verts, offsets)
    n_old = int(mesh.edges.shape[0])
    attrs = {}
    for name, a in mesh.attributes.items():
        d = a.data
        if a.domain == "FACE":
            d = d[:, face_src]
        elif a.domain == "CORNER":
            d = d[:, corner_src]
        elif a.domain == "EDGE" and edges.shape[0] > n_old:
            d = torch.cat([d, torch.zeros((d.shape[0], int(edges.shape[0]) - n_old, *d.shape[2:]), dtype=d.dtype,
                                          device=d.device)], 1)
        attrs[name] = Attribute(a.domain, d, a.type)
    return MeshBatch(verts=mesh.verts, corner_verts=corner_verts, face_offsets=offsets, edges=edges, attributes=attrs,
                     materials=list(mesh.materials))


def _check(n) -> str | None:
    for s in n.inputs:
        if s.identifier == "Quad Method" and s.enabled and s.default not in (None, *QUAD_METHODS):
            return f"Triangulate quad method {s.default!r} is not supported"
        if s.identifier == "N-gon Method" and s.enabled and s.default not in (None, "Beauty", "Clip"):
            return f"Triangulate n-gon method {s.default!r} is not supported"
    return None


@node("GeometryNodeTriangulate", outputs=("Mesh",), pure=False, check=_check, label="Triangulate", grad="yes",
      notes="quads, every Quad Method (a menu); selected n-gons raise (Blender's polyfill is not reproduced); the "
            "diagonals are shared by the batch")
def triangulate(mesh=None, selection=True, quad_method="Shortest Diagonal", n_gon_method="Beauty"):
    """Triangulate: the selected quads of every mesh cut into two triangles (see the module)."""
    if mesh is None:
        return GeometrySet()
    if isinstance(quad_method, (rt.Field, torch.Tensor)):
        raise TypeError("Triangulate's quad method must be a single menu value")
    return map_real_meshes(mesh, lambda m: triangulate_mesh(m, selection, quad_method))
