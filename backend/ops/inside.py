"""How deep points lie inside a mesh made of closed convex parts (the library's programs are boxes and
cylinders), for the fitting objective's ``context`` term: the neighbouring structure of a scanned object
(walls, floor, other objects) must stay outside the candidate.

* :func:`convex_parts`: the connected parts of a triangle mesh, and which of them are closed (every edge
  shared by two triangles): only those enclose a volume;
* :func:`penetration_depth`: ``(K, Q)`` depth of ``Q`` points inside ``K`` candidate meshes (0 outside),
  differentiable w.r.t. the vertices: for a convex part, the depth of a point inside is its distance to
  the nearest face plane;
* :func:`penetration_depth_reference`: the same, one point, part and face at a time (the slow, obviously
  correct version the fast one is tested against).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

__all__ = ["ConvexParts", "convex_parts", "penetration_depth", "penetration_depth_reference"]


class ConvexParts(NamedTuple):
    """``part (T,)`` int64 part of each triangle (-1: a triangle of an open part, or degenerate), ``count``
    the number of closed parts (numbered ``0..count-1``) and ``centre_vertices`` ``(count, V)`` bool, the
    vertices of each closed part (their mean is inside a convex part: it orients the face normals)."""

    part: torch.Tensor
    count: int
    centre_vertices: torch.Tensor


def convex_parts(tris: torch.Tensor, num_verts: int) -> ConvexParts:
    """The connected parts of the triangles ``tris (T, 3)`` over ``num_verts`` vertices (triangles sharing a
    vertex belong to one part), keeping the closed ones: every edge of a closed part is shared by exactly two
    of its triangles. Plain numpy; call it once per topology."""
    t = np.asarray(tris.detach().cpu(), dtype=np.int64).reshape(-1, 3)
    parent = np.arange(num_verts)

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for a, b, c in t:
        ra, rb, rc = find(a), find(b), find(c)
        parent[rb] = ra
        parent[find(rc)] = ra
    roots = np.array([find(v) for v in range(num_verts)])
    tri_root = roots[t[:, 0]] if len(t) else np.zeros(0, dtype=np.int64)
    part = np.full(len(t), -1, dtype=np.int64)
    count = 0
    members = []
    for r in np.unique(tri_root):
        sel = np.nonzero(tri_root == r)[0]
        if len(sel) < 4:
            continue
        e = np.concatenate([t[sel][:, [0, 1]], t[sel][:, [1, 2]], t[sel][:, [2, 0]]])
        e.sort(axis=1)
        _, counts = np.unique(e, axis=0, return_counts=True)
        if not (counts == 2).all():
            continue
        part[sel] = count
        members.append(roots == r)
        count += 1
    verts = torch.from_numpy(np.stack(members)) if members else torch.zeros((0, num_verts), dtype=torch.bool)
    return ConvexParts(torch.from_numpy(part), count, verts)


def _face_planes(verts: torch.Tensor, tris: torch.Tensor, parts: ConvexParts) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Outward unit normals ``(K, T, 3)``, a point on each face ``(K, T, 3)`` and which faces count ``(T,)``
    (closed parts, non-degenerate) of candidates ``verts (K, V, 3)``."""
    tri = verts[:, tris]  # (K, T, 3, 3)
    n = torch.linalg.cross(tri[:, :, 1] - tri[:, :, 0], tri[:, :, 2] - tri[:, :, 0], dim=-1)
    length = n.norm(dim=-1)
    ok = (parts.part >= 0).to(verts.device) & (length > 1e-12).all(0)
    n = n / length.clamp_min(1e-12)[..., None]
    w = parts.centre_vertices.to(verts.dtype).to(verts.device)  # (P, V)
    centres = (w @ verts) / w.sum(1).clamp_min(1)[:, None]  # (K, P, 3)
    c = centres[:, parts.part.clamp_min(0).to(verts.device)]  # (K, T, 3)
    flip = ((c - tri[:, :, 0]) * n).sum(-1) > 0  # the normal points at the part's centre: turn it out
    n = torch.where(flip[..., None], -n, n)
    return n, tri[:, :, 0], ok


def penetration_depth(points: torch.Tensor, verts: torch.Tensor, tris: torch.Tensor, parts: ConvexParts) -> torch.Tensor:
    """How deep each point lies inside each candidate.

    Args:
        points: ``(Q, 3)`` points (fixed).
        verts: ``(K, V, 3)`` candidate vertices (differentiable).
        tris: ``(T, 3)`` int64 triangles shared by the candidates.
        parts: :func:`convex_parts` of ``tris``.

    Returns:
        ``(K, Q)``: for each point the largest, over the closed convex parts that contain it, of its
        distance to the part's nearest face plane; 0 for a point outside every part.
    """
    k, q = verts.shape[0], points.shape[0]
    if parts.count == 0 or q == 0:
        return verts.new_zeros((k, q)) + verts.sum() * 0
    n, a, ok = _face_planes(verts, tris, parts)
    n, a = n[:, ok], a[:, ok]
    part = parts.part.to(verts.device)[ok]
    # signed distance of every point to every face plane, positive outside: (K, Q, T')
    s = torch.einsum("kqd,ktd->kqt", points.to(verts.dtype).expand(k, -1, -1), n) - (n * a).sum(-1)[:, None, :]
    worst = s.new_full((k, q, parts.count), -float("inf"))
    worst = worst.scatter_reduce(2, part.view(1, 1, -1).expand(k, q, -1), s, reduce="amax", include_self=True)
    return torch.relu(-worst).amax(-1)


def penetration_depth_reference(points: torch.Tensor, verts: torch.Tensor, tris: torch.Tensor,
                                parts: ConvexParts) -> torch.Tensor:
    """:func:`penetration_depth`, computed one candidate, point, part and face at a time."""
    out = torch.zeros(verts.shape[0], points.shape[0], dtype=verts.dtype)
    for kk in range(verts.shape[0]):
        v = verts[kk]
        for p in range(parts.count):
            faces = [t for i, t in enumerate(tris.tolist()) if int(parts.part[i]) == p]
            idx = sorted({i for f in faces for i in f})
            centre = v[idx].mean(0)
            planes = []
            for f in faces:
                a, b, c = v[f[0]], v[f[1]], v[f[2]]
                nrm = torch.linalg.cross(b - a, c - a)
                if float(nrm.norm()) <= 1e-12:
                    continue
                nrm = nrm / nrm.norm()
                if float((centre - a) @ nrm) > 0:
                    nrm = -nrm
                planes.append((nrm, a))
            for qi, x in enumerate(points.to(verts.dtype)):
                s = max(float((x - a) @ nrm) for nrm, a in planes)
                if s < 0:
                    out[kk, qi] = max(float(out[kk, qi]), -s)
    return out
