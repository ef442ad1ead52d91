"""The ``"reference"`` backend: a slow per-pixel, per-triangle loop (plain autograd) that the tests
compare the fast rasterizer's values and gradients with."""

from __future__ import annotations

import math

import torch

from ..cameras import Cameras
from .base import AREA_EPS, DIST_EPS, LEN_EPS, RasterSettings, RenderOutput, check_inputs, register_renderer

__all__ = ["render_reference"]


def _ray_triangle(d: torch.Tensor, p0: torch.Tensor, p1: torch.Tensor, p2: torch.Tensor):
    """Moller-Trumbore: the ray ``t * d`` from the camera centre against triangle ``p0 p1 p2``;
    returns ``(t, u, v)`` (hit point ``(1 - u - v) p0 + u p1 + v p2``) or ``None`` when parallel."""
    e1 = p1 - p0
    e2 = p2 - p0
    h = torch.linalg.cross(d, e2)
    a = torch.dot(e1, h)
    if abs(float(a.detach())) < 1e-15:
        return None
    s = -p0
    u = torch.dot(s, h) / a
    q = torch.linalg.cross(s, e1)
    v = torch.dot(d, q) / a
    t = torch.dot(e2, q) / a
    return t, u, v


def _segment_distance(p: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    ab = b - a
    s = torch.clamp(torch.dot(p - a, ab) / torch.dot(ab, ab), 0.0, 1.0)
    r = p - (a + s * ab)
    return torch.sqrt(torch.dot(r, r) + DIST_EPS)


@register_renderer("reference")
def render_reference(verts: torch.Tensor, faces: torch.Tensor, cameras: Cameras,
                     settings: RasterSettings | None = None) -> RenderOutput:
    """Slow, obviously-correct renderer: every pixel against every triangle in Python loops.

    Depth and barycentrics from a 3D ray-triangle intersection (Moller-Trumbore) of the pixel
    ray; the silhouette from the exact 2D point-to-triangle distance with no band cut-off (at a pixel that no
    triangle covers, the coverage of the nearest front-facing or visible triangle).
    Only for tiny scenes (tests)."""
    settings = settings or RasterSettings()
    verts, faces = check_inputs(verts, faces, cameras)
    cameras = cameras.to(device=verts.device, dtype=verts.dtype)
    n = verts.shape[0]
    c = len(cameras)
    h, w = cameras.height, cameras.width
    cam = cameras.world_to_cam(verts)  # (C, N, V, 3)
    uv, _ = cameras.project(verts)  # (C, N, V, 2)
    depth = [[[[verts.new_zeros(()) for _ in range(w)] for _ in range(h)] for _ in range(c)] for _ in range(n)]
    bary = [[[[verts.new_zeros(3) for _ in range(w)] for _ in range(h)] for _ in range(c)] for _ in range(n)]
    sil = [[[[verts.new_zeros(()) for _ in range(w)] for _ in range(h)] for _ in range(c)] for _ in range(n)]
    face_index = torch.full((n, c, h, w), -1, dtype=torch.long)
    for i in range(n):
        fl = (faces[i] if faces.ndim == 3 else faces).tolist()
        for j in range(c):
            fx, fy, cx, cy = cameras.intrinsics[j].tolist()
            tris = []
            for f, (a, bb, cc) in enumerate(fl):
                p = (cam[j, i, a], cam[j, i, bb], cam[j, i, cc])
                q = (uv[j, i, a], uv[j, i, bb], uv[j, i, cc])
                if min(float(pp[2].detach()) for pp in p) <= settings.znear:
                    continue
                # the normal (p1 - p0) x (p2 - p0) points towards the camera
                front = float(torch.dot(p[0], torch.linalg.cross(p[1], p[2])).detach()) < 0
                if settings.cull_backfaces and not front:
                    continue
                e = [q[(k + 2) % 3] - q[(k + 1) % 3] for k in range(3)]
                area2 = float(((q[1][0] - q[0][0]) * (q[2][1] - q[0][1]) - (q[1][1] - q[0][1]) * (q[2][0] - q[0][0])).detach())
                if abs(area2) <= AREA_EPS or min(float(torch.linalg.norm(ek.detach())) for ek in e) <= LEN_EPS:
                    continue
                tris.append((f, p, q, front))
            for y in range(h):
                for x in range(w):
                    d = verts.new_tensor([(x - cx) / fx, (y - cy) / fy, 1.0])
                    best = None
                    for f, p, _, _ in tris:
                        hit = _ray_triangle(d, *p)
                        if hit is not None:
                            t, u, v = hit
                            u0, v0 = float(u.detach()), float(v.detach())
                            inside = u0 >= 0 and v0 >= 0 and u0 + v0 <= 1
                            if inside and (best is None or float(t.detach()) < float(best[1].detach())):
                                best = (f, t, torch.stack([1 - u - v, u, v]))
                    if best is not None:
                        face_index[i, j, y, x] = best[0]
                        depth[i][j][y][x] = best[1]
                        bary[i][j][y][x] = best[2]
            if not settings.silhouette:
                continue
            visible = set(face_index[i, j].reshape(-1).tolist()) - {-1}
            r = math.ceil(settings.band)
            for y in range(h):
                for x in range(w):
                    window = face_index[i, j, max(y - r, 0):y + r + 1, max(x - r, 0):x + r + 1]
                    if bool((window >= 0).all()):
                        sil[i][j][y][x] = verts.new_ones(())
                        continue
                    pt = verts.new_tensor([float(x), float(y)])
                    logq = verts.new_zeros(())
                    full = False
                    outside = int(face_index[i, j, y, x]) < 0  # then the nearest triangle alone (the union's)
                    nearest = None
                    for f, _, q, front in tris:
                        if f not in visible and not (outside and front):
                            continue
                        dist = torch.stack([_segment_distance(pt, q[k], q[(k + 1) % 3]) for k in range(3)]).min()
                        crosses = [float(((q[(k + 1) % 3][0] - q[k][0]) * (pt[1] - q[k][1])
                                         - (q[(k + 1) % 3][1] - q[k][1]) * (pt[0] - q[k][0])).detach()) for k in range(3)]
                        inside = all(cr >= 0 for cr in crosses) or all(cr <= 0 for cr in crosses)
                        signed = -dist if inside else dist
                        cover = settings.coverage(signed)
                        if outside:
                            if nearest is None or float(cover.detach()) > float(nearest.detach()):
                                nearest = cover
                            continue
                        if float(cover.detach()) >= 1:
                            full = True
                            break
                        logq = logq + torch.log(1 - cover)
                    if outside:
                        sil[i][j][y][x] = verts.new_zeros(()) if nearest is None else nearest
                    else:
                        sil[i][j][y][x] = verts.new_ones(()) if full else 1 - torch.exp(logq)

    def stack(grid):
        return torch.stack([torch.stack([torch.stack([torch.stack(row) for row in view]) for view in cand]) for cand in grid])

    return RenderOutput(stack(depth), stack(sil) if settings.silhouette else None, face_index.to(verts.device),
                        stack(bary) if settings.bary else None)
