"""Input checks shared by the geometry kernels: each raises ``ValueError`` naming the argument and its
actual shape."""

from __future__ import annotations

import torch

__all__ = ["check_faces", "check_mesh", "check_points", "triangle_corners"]


def check_faces(faces: torch.Tensor, num_meshes: int) -> None:
    """Raise ``ValueError`` unless ``faces`` is an integer ``(F, 3)`` tensor (shared by the batch) or ``(N, F, 3)`` (one
    row of triangles per mesh, ``N = num_meshes``)."""
    ok = isinstance(faces, torch.Tensor) and not faces.is_floating_point() and faces.dtype != torch.bool and (
        (faces.ndim == 2 and faces.shape[1] == 3) or (faces.ndim == 3 and faces.shape[2] == 3 and faces.shape[0] == num_meshes))
    if not ok:
        shape = tuple(faces.shape) if isinstance(faces, torch.Tensor) else type(faces).__name__
        dtype = f" of {faces.dtype}" if isinstance(faces, torch.Tensor) else ""
        raise ValueError(f"faces must be an integer tensor (F, 3) or (N, F, 3) with N = {num_meshes}, got shape {shape}{dtype}")


def triangle_corners(x: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """``(N, F, 3, d)``: the corners of every triangle of every mesh, for per-vertex values ``x (N, V, d)`` and
    ``faces (F, 3)`` (shared by the batch) or ``(N, F, 3)`` (each mesh its own; differentiable w.r.t. ``x``)."""
    if faces.ndim == 2:
        return x[:, faces]
    n, f = faces.shape[:2]
    d = x.shape[-1]
    return x.gather(1, faces.reshape(n, f * 3, 1).expand(-1, -1, d)).reshape(n, f, 3, d)


def check_mesh(verts: torch.Tensor, faces: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``verts (N, V, 3)`` float and ``faces (F, 3)`` or ``(N, F, 3)`` integer indices into them (at least one
    triangle); returns them with ``faces`` as int64 on ``verts``' device."""
    if not isinstance(verts, torch.Tensor) or verts.ndim != 3 or verts.shape[-1] != 3 or not verts.is_floating_point():
        shape = tuple(verts.shape) if isinstance(verts, torch.Tensor) else type(verts).__name__
        raise ValueError(f"verts must be a float tensor (N, V, 3), got shape {shape}")
    check_faces(faces, verts.shape[0])
    if faces.shape[-2] == 0:
        raise ValueError("the mesh has no triangles")
    faces = faces.to(device=verts.device, dtype=torch.long)
    if int(faces.min()) < 0 or int(faces.max()) >= verts.shape[1]:
        raise ValueError(f"faces index vertices {int(faces.min())}..{int(faces.max())} but there are {verts.shape[1]} vertices")
    return verts, faces


def check_points(points: torch.Tensor, what: str = "points") -> None:
    if not isinstance(points, torch.Tensor) or points.ndim != 2 or points.shape[1] != 3 or not points.is_floating_point():
        shape = tuple(points.shape) if isinstance(points, torch.Tensor) else type(points).__name__
        raise ValueError(f"{what} must be a float tensor (P, 3), got shape {shape}")
    if points.shape[0] == 0:
        raise ValueError(f"{what} is empty")
    if not torch.isfinite(points).all():
        raise ValueError(f"{what} contain NaN or inf")
