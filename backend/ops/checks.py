"""Input checks shared by the geometry kernels: each raises ``ValueError`` naming the argument and its
actual shape."""

from __future__ import annotations

import torch

__all__ = ["check_mesh", "check_points"]


def check_mesh(verts: torch.Tensor, faces: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(verts, torch.Tensor) or verts.ndim != 3 or verts.shape[-1] != 3 or not verts.is_floating_point():
        shape = tuple(verts.shape) if isinstance(verts, torch.Tensor) else type(verts).__name__
        raise ValueError(f"verts must be a float tensor (N, V, 3), got shape {shape}")
    if not isinstance(faces, torch.Tensor) or faces.ndim != 2 or faces.shape[1] != 3 or faces.is_floating_point():
        shape = tuple(faces.shape) if isinstance(faces, torch.Tensor) else type(faces).__name__
        raise ValueError(f"faces must be an integer tensor (F, 3), got shape {shape}")
    if faces.shape[0] == 0:
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
