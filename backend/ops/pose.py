"""Object poses as batched 4x4 transforms: a yaw about +Z, a translation and a uniform scale."""

from __future__ import annotations

import torch

__all__ = ["apply_pose", "pose_matrix"]


def pose_matrix(yaw: torch.Tensor, t: torch.Tensor, log_scale: torch.Tensor | None = None) -> torch.Tensor:
    """``(K, 4, 4)`` object-frame transforms ``T @ Rz(yaw) @ S`` from ``yaw (K,)``, ``t (K, 3)``."""
    c, s = torch.cos(yaw), torch.sin(yaw)
    z, o = torch.zeros_like(c), torch.ones_like(c)
    sc = torch.exp(log_scale) if log_scale is not None else o
    rows = [
        torch.stack([c * sc, -s * sc, z, t[:, 0]], -1),
        torch.stack([s * sc, c * sc, z, t[:, 1]], -1),
        torch.stack([z, z, sc, t[:, 2]], -1),
        torch.stack([z, z, z, o], -1),
    ]
    return torch.stack(rows, -2)


def apply_pose(verts: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """``verts (K, V, 3)`` transformed by ``m (K, 4, 4)``."""
    return verts @ m[:, :3, :3].transpose(1, 2) + m[:, None, :3, 3]
