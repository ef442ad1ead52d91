"""Pictures of fits for people: a fitted mesh shaded with the pure-torch renderer, drawn over a scan's
points (the reports' building blocks: :mod:`backend.fit.report`, :mod:`backend.scene.report`).

* :func:`shade`: the mesh's depth, visible triangle and Lambert shading (a head light plus a light from above)
  in each view;
* :func:`splat`: scan points z-buffered into the views (a square of ``radius`` pixels each);
* :func:`overlay`: the shaded mesh blended over the points (points in front of the mesh stay on top);
* :func:`view_cameras`: cameras around a box: ``top``, ``front``, ``side``, ``three_quarter`` (a corner from
  above), ``plan`` (far above, nearly orthographic).
"""

from __future__ import annotations

import math

import torch

from ..cameras import Cameras, intrinsics_from_fov
from .base import RasterSettings, render

__all__ = ["overlay", "shade", "splat", "view_cameras"]


def view_cameras(lo, hi, views: tuple[str, ...], width: int = 320, height: int = 240, fov: float = 40.0,
                 front: float = -math.pi / 2) -> Cameras:
    """Cameras looking at the box ``lo..hi`` ``(3,)`` from ``views`` (see the module docstring), far enough to
    frame it. ``front``: the direction (radians in the XY plane) the ``front`` view looks from."""
    lo, hi = torch.as_tensor(lo, dtype=torch.float64), torch.as_tensor(hi, dtype=torch.float64)
    c = (lo + hi) / 2
    r = float((hi - lo).norm()) / 2 + 1e-3
    eyes, ups, fovs = [], [], []
    for v in views:
        f = fov
        if v == "plan":
            f = 8.0
            half = float((hi - lo)[:2].max()) / 2 + 1e-3
            eye = c + torch.tensor([0.0, 0.0, half / math.tan(math.radians(f / 2)) * 1.04 + float(hi[2] - c[2])])
            up = (0.0, 1.0, 0.0)
        elif v == "top":
            eye = c + torch.tensor([0.3 * math.cos(front), 0.3 * math.sin(front), 1.0]) * (0.8 * r / math.sin(math.radians(f / 2)))
            up = (0.0, 0.0, 1.0)
        else:
            a = {"front": front, "side": front + math.pi / 2, "three_quarter": front + math.pi / 4,
                 "back_quarter": front + 3 * math.pi / 4}[v]
            el = {"front": 0.15, "side": 0.15, "three_quarter": 0.6, "back_quarter": 0.6}[v]
            d = r / math.sin(math.radians(f / 2)) * 0.8
            eye = c + d * torch.tensor([math.cos(a) * math.cos(el), math.sin(a) * math.cos(el), math.sin(el)])
            up = (0.0, 0.0, 1.0)
        eyes.append(eye)
        ups.append(up)
        fovs.append(f)
    cams = [Cameras.look_at(e[None], c[None], u, intrinsics=intrinsics_from_fov(width, height, f), width=width, height=height)
            for e, u, f in zip(eyes, ups, fovs, strict=True)]
    return Cameras(torch.cat([k.intrinsics.reshape(-1, 4) for k in cams]).float(),
                   torch.cat([k.cam_to_world for k in cams]).float(), width, height)


@torch.no_grad()
def shade(verts: torch.Tensor, tris: torch.Tensor, cameras: Cameras) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Render ``verts (V, 3)`` / ``tris (T, 3)`` into ``C`` views.

    Returns ``intensity (C, H, W)`` in [0, 1] (Lambert: 0.35 ambient + a head light + a light from above; 0 on
    background), ``depth (C, H, W)`` (0 on background) and ``face (C, H, W)`` (the visible triangle, -1 on
    background)."""
    v = verts.float().reshape(1, -1, 3)
    out = render(v, tris, cameras.to(dtype=torch.float32), RasterSettings(silhouette=False))
    depth, face = out.depth[0], out.face_index[0]
    tri = v[0][tris]
    n = torch.linalg.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0], dim=-1)
    n = n / n.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    normal = n[face.clamp_min(0)]  # (C, H, W, 3)
    view_dir = cameras.cam_to_world[:, :3, 2].float()  # camera z: into the scene
    head = (normal * -view_dir[:, None, None, :]).sum(-1).abs()
    above = (normal[..., 2]).clamp_min(0)
    intensity = (0.35 + 0.45 * head + 0.2 * above).clamp(0, 1)
    return torch.where(face >= 0, intensity, torch.zeros_like(intensity)), depth, face


@torch.no_grad()
def splat(points: torch.Tensor, colors: torch.Tensor | None, cameras: Cameras, radius: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Z-buffer ``points (P, 3)`` (``colors (P, 3)`` in [0, 1], grey without) into the views: each point covers a
    ``(2 radius + 1)`` pixel square. Returns ``rgb (C, H, W, 3)`` and ``depth (C, H, W)`` (0 where no point)."""
    c, h, w = len(cameras), cameras.height, cameras.width
    uv, z = cameras.to(dtype=torch.float32).project(points.float())  # (C, P, 2), (C, P)
    dev = z.device
    col = colors.float().to(dev) if colors is not None else torch.full((len(points), 3), 0.55, device=dev)
    u0, r0 = torch.round(uv[..., 0]).long(), torch.round(uv[..., 1]).long()
    first = torch.arange(c, device=dev).view(c, 1) * (h * w)  # each view's first pixel in the flat (C H W) images
    near = z > 0.05
    pixel, depths, which = [], [], []  # per footprint entry: its flat pixel, its point's depth and index
    for dx in range(-radius, radius + 1):
        for dy in range(-radius, radius + 1):
            u, r = u0 + dx, r0 + dy
            ok = near & (u >= 0) & (u < w) & (r >= 0) & (r < h)
            pixel.append((first + r * w + u)[ok])
            depths.append(z[ok])
            which.append(ok.nonzero(as_tuple=True)[1])
    pixel, depths, which = torch.cat(pixel), torch.cat(depths), torch.cat(which)
    depth = torch.full((c * h * w,), math.inf, device=dev).scatter_reduce_(0, pixel, depths, reduce="amin")  # the nearest
    win = depths <= depth[pixel] + 1e-6  # then the colour of that point
    rgb = torch.ones(c * h * w, 3, device=dev)
    rgb[pixel[win]] = col[which[win]]
    depth = torch.where(torch.isfinite(depth), depth, torch.zeros_like(depth))
    return rgb.view(c, h, w, 3), depth.view(c, h, w)


def overlay(intensity: torch.Tensor, mesh_depth: torch.Tensor, tint: torch.Tensor, point_rgb: torch.Tensor,
            point_depth: torch.Tensor, alpha: float = 0.7, margin: float = 0.03) -> torch.Tensor:
    """``(C, H, W, 3)``: the shaded mesh (``intensity`` times ``tint``, ``(3,)`` or ``(C, H, W, 3)``) blended with
    ``alpha`` over the points; points more than ``margin`` in front of the mesh are drawn on top."""
    if tint.dim() == 1:
        tint = tint.view(1, 1, 1, 3).expand_as(point_rgb)
    mesh_rgb = intensity[..., None] * tint
    has_mesh = (mesh_depth > 0)[..., None]
    pts_front = ((point_depth > 0) & ((mesh_depth <= 0) | (point_depth < mesh_depth - margin)))[..., None]
    blended = alpha * mesh_rgb + (1 - alpha) * point_rgb
    return torch.where(pts_front, point_rgb, torch.where(has_mesh, blended, point_rgb)).clamp(0, 1)
