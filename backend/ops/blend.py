"""Points at barycentric weights of chosen triangles, differentiable w.r.t. the triangles' corners: the last step
of the scan-to-mesh distance (the closest point on each point's nearest triangle) and of surface sampling.

* :func:`blend_corners`: the fast path (a compiled kernel and its backward on CPU, see
  :func:`backend.ops.native.blend_corners`), else the reference;
* :func:`blend_corners_reference`: gather the corners, weight them, sum (plain autograd), which the compiled
  kernel equals bit for bit (values and gradients).
"""

from __future__ import annotations

import torch

from . import native

__all__ = ["blend_corners", "blend_corners_reference"]


def blend_corners_reference(tv: torch.Tensor, face: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``(K, P, 3)``: ``sum_j w[k, p, j] tv[k, face[k, p], j]`` for ``tv (K, T, 3, 3)``, ``face (K, P)`` int64 and
    weights ``w (K, P, 3)`` (plain autograd)."""
    corners = tv.gather(1, face[..., None, None].expand(-1, -1, 3, 3))  # (K, P, 3, 3)
    return (w[..., None] * corners).sum(-2)


class _BlendCorners(torch.autograd.Function):
    """:func:`blend_corners_reference` by the compiled kernel; gradients w.r.t. ``tv`` only (the weights are constants)."""

    @staticmethod
    def forward(ctx, tv, face, w):
        ctx.save_for_backward(face, w)
        ctx.num = tv.shape[1]
        return native.blend_corners(tv, face, w)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        face, w = ctx.saved_tensors
        return native.blend_corners_backward(grad, face, w, ctx.num), None, None


def blend_corners(tv: torch.Tensor, face: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``(K, P, 3)``: the points at barycentric weights ``w (K, P, 3)`` of the triangles ``face (K, P)`` (int64) of
    ``tv (K, T, 3, 3)``, differentiable w.r.t. ``tv`` (``w`` must not need gradients on the compiled path, which
    runs on CPU for float32 and float64 when the kernels are available; elsewhere the reference)."""
    if (tv.device.type == "cpu" and tv.dtype in (torch.float32, torch.float64) and w.dtype == tv.dtype and not w.requires_grad
            and face.device.type == "cpu" and native.available()):
        if face.numel() and (int(face.min()) < 0 or int(face.max()) >= tv.shape[1]):
            raise IndexError(f"face indices {int(face.min())}..{int(face.max())} out of range for {tv.shape[1]} triangles")
        return _BlendCorners.apply(tv, face, w)
    return blend_corners_reference(tv, face, w)
