"""Losses between candidate meshes and what a depth sensor saw, batched over candidates.

Shapes: ``N`` candidates, ``C`` views of ``H x W`` pixels, ``P`` scan points,
``V`` vertices, ``F`` triangles (``faces`` shared by the batch), ``S`` surface
samples. Every loss returns ``(N,)``, one value per candidate, and is
differentiable w.r.t. the rendered images / the vertices.

Robust variants: every loss takes ``robust`` (``"none"``, ``"clamp"`` or
``"huber"``) and ``scale`` (``delta``, in the residual's unit), applied by
:func:`robust_penalty` to each residual ``r >= 0``:

============  =======================  ==========================================
``robust``    L1-type residuals         squared residuals (Chamfer, distances)
============  =======================  ==========================================
``none``      ``r``                    ``r^2``
``clamp``     ``min(r, delta)``        ``min(r, delta)^2``
``huber``     ``r^2 / (2 delta)`` if   ``r^2`` if ``r <= delta``, else
              ``r <= delta``, else     ``delta (2 r - delta)`` (continuous, C1)
              ``r - delta / 2``
============  =======================  ==========================================

Nearest-neighbour searches (which triangle / sample / scan point is nearest) run
without autograd and are exact; only the distance to the chosen one is
differentiated (the gradient of a minimum).
"""

from __future__ import annotations

import torch

from .ops.checks import check_points
from .ops.knn import nearest_neighbors
from .ops.sampling import sample_surface

__all__ = [
    "ROBUST_KINDS",
    "chamfer_scan_to_mesh",
    "chamfer_two_sided",
    "depth_l1",
    "free_space_penalty",
    "robust_penalty",
    "silhouette_iou_loss",
]

ROBUST_KINDS = ("none", "clamp", "huber")


# ----------------------------------------------------------------------------------------------
# robust penalties


def robust_penalty(x: torch.Tensor, robust: str = "none", scale: float = 0.05, squared: bool = False) -> torch.Tensor:
    """Penalty of non-negative residuals (see the module table).

    Args:
        x: residuals ``r >= 0`` (any shape), or their squares ``r^2`` when ``squared``.
        robust: ``"none"``, ``"clamp"`` or ``"huber"``.
        scale: ``delta > 0``, where the robust kinds start to flatten.
        squared: ``x`` holds ``r^2`` and the base penalty is ``r^2`` (no square root is taken
            below ``delta``, so the gradient stays finite at ``r = 0``).
    """
    if robust not in ROBUST_KINDS:
        raise ValueError(f"robust must be one of {', '.join(ROBUST_KINDS)}, got {robust!r}")
    if robust != "none" and not scale > 0:
        raise ValueError(f"robust scale must be positive, got {scale}")
    d = float(scale)
    if robust == "none":
        return x
    if squared:
        if robust == "clamp":
            return x.clamp(max=d * d)
        r = torch.sqrt(x.clamp(min=d * d))
        return torch.where(x <= d * d, x, d * (2 * r - d))
    if robust == "clamp":
        return x.clamp(max=d)
    return torch.where(x <= d, x * x / (2 * d), x - d / 2)


# ----------------------------------------------------------------------------------------------
# image losses


def _check_images(rendered: torch.Tensor, observed: torch.Tensor, what: str, mask: torch.Tensor | None = None) -> None:
    if rendered.ndim != 4:
        raise ValueError(f"{what} must be (N, C, H, W), got shape {tuple(rendered.shape)}")
    if observed.ndim != 3 or tuple(observed.shape) != tuple(rendered.shape[1:]):
        raise ValueError(f"observation must be (C, H, W) = {tuple(rendered.shape[1:])}, got shape {tuple(observed.shape)}")
    if mask is not None and tuple(mask.shape) != tuple(observed.shape):
        raise ValueError(f"mask must be (C, H, W) = {tuple(observed.shape)}, got shape {tuple(mask.shape)}")


def _valid_depth(observed: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    valid = torch.isfinite(observed) & (observed > 0)
    return valid if mask is None else valid & mask.to(torch.bool)


def depth_l1(rendered: torch.Tensor, observed: torch.Tensor, mask: torch.Tensor | None = None, robust: str = "none",
             scale: float = 0.1) -> torch.Tensor:
    """Masked depth L1: ``sum_valid rho(|D_n - D_obs|) / #valid`` per candidate.

    Args:
        rendered: ``(N, C, H, W)`` rendered depth (0 where the candidate misses the pixel: such
            mask pixels count the full ``|0 - D_obs|``, so shrinking out of the mask does not pay).
        observed: ``(C, H, W)`` sensor depth; ``0`` and non-finite values are invalid and ignored.
        mask: ``(C, H, W)`` bool, the object's pixels (``None``: every valid pixel).
        robust, scale: see :func:`robust_penalty` (residuals in metres).

    Returns:
        ``(N,)``; 0 when no pixel is valid.
    """
    _check_images(rendered, observed, "rendered depth", mask)
    valid = _valid_depth(observed, mask)
    obs = torch.where(valid, observed, torch.zeros_like(observed)).to(rendered.dtype)
    r = (rendered - obs).abs()
    pen = robust_penalty(r, robust, scale) * valid
    return pen.sum((1, 2, 3)) / valid.sum().clamp(min=1)


def silhouette_iou_loss(silhouette: torch.Tensor, mask: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Soft IoU loss ``1 - mean_c (sum min(S, M) + eps) / (sum max(S, M) + eps)`` (the Jaccard index of
    fuzzy sets; for a binary mask ``min(S, M) = S M`` and ``max(S, M) = S + M - S M``).

    Unlike the product form ``S M / (S + M - S M)``, it is 0 exactly where ``S = M`` also for a soft
    target: the product form's best silhouette spills over every pixel the target covers in part.

    Args:
        silhouette: ``(N, C, H, W)`` soft silhouettes in [0, 1].
        mask: ``(C, H, W)`` observed object mask (bool or [0, 1] float).
        eps: keeps empty views finite (an empty silhouette of an empty mask has IoU 1).

    Returns:
        ``(N,)`` in [0, 1].
    """
    _check_images(silhouette, mask, "silhouette")
    m = mask.to(silhouette.dtype)
    inter = torch.minimum(silhouette, m).sum((2, 3))
    union = torch.maximum(silhouette, m).sum((2, 3))
    return 1 - ((inter + eps) / (union + eps)).mean(1)


def free_space_penalty(rendered: torch.Tensor, observed: torch.Tensor, margin: float = 0.02, mask: torch.Tensor | None = None,
                       robust: str = "none", scale: float = 0.1) -> torch.Tensor:
    """Free-space (see-through) penalty: the sensor measured ``D_obs`` at a pixel, so nothing can be
    in front of it; ``sum rho(relu(D_obs - margin - D_n)) / #valid`` over pixels with a valid
    observation where the candidate is visible (``D_n > 0``).

    Args:
        rendered: ``(N, C, H, W)`` rendered depth (0: candidate not visible).
        observed: ``(C, H, W)`` sensor depth (0 / non-finite: invalid).
        margin: depth noise allowance in metres.
        mask: ``(C, H, W)`` bool, pixels to consider (``None``: all valid pixels; pass the pixels
            not occluded by other objects).
        robust, scale: see :func:`robust_penalty`.

    Returns:
        ``(N,)``, normalised by the number of valid observed pixels.
    """
    _check_images(rendered, observed, "rendered depth", mask)
    valid = _valid_depth(observed, mask)
    obs = torch.where(valid, observed, torch.zeros_like(observed)).to(rendered.dtype)
    ahead = torch.relu(obs - margin - rendered) * (valid & (rendered > 0))
    return robust_penalty(ahead, robust, scale).sum((1, 2, 3)) / valid.sum().clamp(min=1)


# ----------------------------------------------------------------------------------------------
# Chamfer


def _scan_to_samples(points: torch.Tensor, samples: torch.Tensor, robust: str, scale: float) -> torch.Tensor:
    """``mean_p rho(min_s |p - s|^2)``: points ``(P, 3)``, samples ``(N, S, 3)`` -> ``(N,)``."""
    pts = points.to(samples.dtype)
    _, idx = nearest_neighbors(pts, samples.detach())
    near = samples.gather(1, idx[..., None].expand(-1, -1, 3))
    return robust_penalty(((pts[None] - near) ** 2).sum(-1), robust, scale, squared=True).mean(1)


def chamfer_scan_to_mesh(points: torch.Tensor, verts: torch.Tensor, faces: torch.Tensor, num_samples: int = 2000,
                         robust: str = "none", scale: float = 0.05, seed: int = 0) -> torch.Tensor:
    """One-sided Chamfer, scan -> mesh: ``mean_p rho(min_s |p - s|^2)`` over ``num_samples``
    area-weighted surface samples ``s`` of each candidate (:func:`sample_surface`, seeded by ``seed``).

    Args:
        points: ``(P, 3)`` scan points; verts: ``(N, V, 3)``; faces: ``(F, 3)``.
        robust, scale: :func:`robust_penalty` on the distance (metres), squared base.

    Returns:
        ``(N,)``.
    """
    check_points(points)
    return _scan_to_samples(points, sample_surface(verts, faces, num_samples, seed).points, robust, scale)


def chamfer_two_sided(points: torch.Tensor, verts: torch.Tensor, faces: torch.Tensor, num_samples: int = 2000,
                      robust: str = "none", scale: float = 0.05, seed: int = 0) -> torch.Tensor:
    """Two-sided Chamfer: :func:`chamfer_scan_to_mesh` plus mesh -> scan,
    ``mean_s rho(min_p |s - p|^2)`` over the same surface samples.

    Returns:
        ``(N,)``.
    """
    check_points(points)
    samples = sample_surface(verts, faces, num_samples, seed).points  # (N, S, 3)
    pts = points.to(samples.dtype)
    _, idx = nearest_neighbors(samples.detach(), pts)
    back = robust_penalty(((samples - pts[idx]) ** 2).sum(-1), robust, scale, squared=True).mean(1)
    return _scan_to_samples(points, samples, robust, scale) + back
