"""Area-weighted surface sampling of batched triangle meshes (reparameterised: samples move with the
vertices)."""

from __future__ import annotations

from typing import NamedTuple

import torch

from .blend import blend_corners
from .checks import check_mesh, triangle_corners

__all__ = ["SurfaceSamples", "face_normals", "sample_surface"]


class SurfaceSamples(NamedTuple):
    """``points (N, S, 3)`` (differentiable w.r.t. the vertices), ``face (N, S)`` and barycentric
    weights ``bary (N, S, 3)`` of each sample."""

    points: torch.Tensor
    face: torch.Tensor
    bary: torch.Tensor


def sample_surface(verts: torch.Tensor, faces: torch.Tensor, num_samples: int, seed: int = 0,
                   common: bool = False) -> SurfaceSamples:
    """Area-weighted uniform samples of every candidate's surface, reparameterised.

    Each sample picks a triangle with probability proportional to its area (per candidate, no
    gradient through the choice) and a point ``(1 - sqrt(r1)) a + sqrt(r1) (1 - r2) b + sqrt(r1) r2 c``
    from uniform ``r1, r2``; the point moves with the vertices. The random numbers come from a
    generator seeded with ``seed``, so equal meshes give equal samples.

    Args:
        verts: ``(N, V, 3)``.
        faces: ``(F, 3)`` shared by the batch, or ``(N, F, 3)`` per candidate (padded with zero-area triangles,
            which are never drawn).
        common: every candidate draws with the same random numbers (common random numbers): a candidate's
            samples depend on its own mesh and ``seed`` only, not on its place in the batch or the other
            candidates, and zero-area triangles appended to its faces change nothing. The triangle of each
            sample is the inverse of the candidate's cumulative area at one shared uniform number. Otherwise
            each candidate draws its own numbers (:func:`torch.multinomial` per row).

    Returns:
        :class:`SurfaceSamples` with ``(N, S, ...)`` tensors.
    """
    verts, faces = check_mesh(verts, faces)
    if int(num_samples) < 1:
        raise ValueError(f"num_samples must be at least 1, got {num_samples}")
    n, s = verts.shape[0], int(num_samples)
    tri = triangle_corners(verts, faces)  # (N, F, 3, 3)
    with torch.no_grad():
        area = torch.linalg.cross(tri[:, :, 1] - tri[:, :, 0], tri[:, :, 2] - tri[:, :, 0], dim=-1).norm(dim=-1)
        if not torch.isfinite(area).all():
            raise ValueError("verts contain NaN or inf")
        empty = area.sum(1) <= 0
        if empty.any():
            raise ValueError(f"candidate {int(torch.nonzero(empty)[0])} has zero surface area")
        gen = torch.Generator(device=verts.device).manual_seed(int(seed))
        if common:
            u = torch.rand(s, generator=gen, device=verts.device, dtype=torch.float64)
            cdf = area.double().cumsum(1)  # (N, F)
            face = torch.searchsorted(cdf, (u[None] * cdf[:, -1:]).contiguous(), right=True)
            # u < 1, so only rounding can step past the last triangle with area: clamp to it
            last = area.shape[1] - 1 - (area > 0).flip(1).to(torch.uint8).argmax(1, keepdim=True)
            face = torch.minimum(face, last)
            r = torch.rand((2, 1, s), generator=gen, device=verts.device, dtype=verts.dtype).expand(-1, n, -1)
        else:
            face = torch.multinomial(area.float(), s, replacement=True, generator=gen)
            r = torch.rand((2, n, s), generator=gen, device=verts.device, dtype=verts.dtype)
        s1 = r[0].sqrt()
        bary = torch.stack([1 - s1, s1 * (1 - r[1]), s1 * r[1]], dim=-1)
    return SurfaceSamples(blend_corners(tri, face, bary), face, bary)


def face_normals(verts: torch.Tensor, faces: torch.Tensor, face: torch.Tensor | None = None) -> torch.Tensor:
    """Unit normals (right-hand rule on the corner order, zero for degenerate triangles) of the triangles
    ``faces (F, 3)`` or ``(N, F, 3)`` of ``verts (N, V, 3)``: ``(N, F, 3)``, or with ``face (N, S)`` (a sample's
    triangle, :attr:`SurfaceSamples.face`) the normal at each sample ``(N, S, 3)``."""
    tri = triangle_corners(verts, faces)
    n = torch.linalg.cross(tri[:, :, 1] - tri[:, :, 0], tri[:, :, 2] - tri[:, :, 0], dim=-1)
    n = n / n.norm(dim=-1, keepdim=True).clamp_min(1e-20)
    if face is None:
        return n
    return n.gather(1, face[..., None].expand(-1, -1, 3))
