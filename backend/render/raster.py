"""The ``"torch"`` backend: the fast pure-PyTorch rasterizer (the same code on CPU and CUDA).

The discrete part (which pixels each triangle touches, the z-buffer, which pixels are saturated)
runs without autograd on exact per-row spans of each triangle; then only the visible triangle of
each hit pixel and the (pixel, triangle) pairs in the silhouette band are evaluated with autograd
(the silhouette pairs with a hand-written backward). See :mod:`backend.render`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..cameras import Cameras
from ..ops import native
from ..ops.checks import triangle_corners
from .base import AREA_EPS, DIST_EPS, LEN_EPS, RasterSettings, RenderOutput, register_renderer

__all__: list[str] = []  # registers the "torch" backend

_SLACK = 1e-7  # px; pixel centres this close outside an edge count as inside (rounding guard)
_NO_HIT = torch.iinfo(torch.int64).max


def _project(verts: torch.Tensor, faces: torch.Tensor, cameras: Cameras, znear: float):
    """Project every triangle into every view (differentiable).

    Returns ``tri_uv (B, F, 3, 2)`` pixel coordinates and ``tri_z (B, F, 3)`` camera depths,
    ``B = N * C`` ordered candidate-major (``b = n * C + c``), for ``faces (F, 3)`` or ``(N, F, 3)``."""
    n, v = verts.shape[:2]
    c = len(cameras)
    cam = cameras.world_to_cam(verts).transpose(0, 1).reshape(n * c, v, 3)  # (B, V, 3)
    intr = cameras.intrinsics.repeat(n, 1)  # (B, 4) matching b = n * C + c
    z = cam[..., 2]
    zs = z.clamp(min=znear)  # culled triangles keep finite (unused) coordinates and zero gradients
    u = intr[:, None, 0] * cam[..., 0] / zs + intr[:, None, 2]
    w = intr[:, None, 1] * cam[..., 1] / zs + intr[:, None, 3]
    uv = torch.stack([u, w], dim=-1)
    if faces.ndim == 3:  # each candidate its own triangles, in each of its views
        faces = faces.repeat_interleave(c, 0)
    return triangle_corners(uv, faces), triangle_corners(z[..., None], faces)[..., 0]


def _cross2(ax, ay, bx, by):
    return ax * by - ay * bx


# ----------------------------------------------------------------------------------------------
# the fast backend


@dataclass
class _Triangles:
    """Screen-space data of every (image, triangle), flattened to ``T = B * F`` entries; no autograd.

    Edge ``i`` runs from vertex ``i + 1`` to ``i + 2`` (opposite vertex ``i``); its outward signed
    distance (px, ``<= 0`` on the inner side) is ``a (x - jx) + b (y - jy)`` with ``(jx, jy)`` a point of
    the edge and ``(a, b)`` the unit outward normal. Solved for ``x`` at ``distance <= level`` it bounds
    a pixel row from the left (``a < 0``) or from the right (``a > 0``)::

        x >=< jx + level / a - (b / a) (y - jy)

    Every triangle has one or two left and one or two right edges (a horizontal edge bounds rows,
    not columns): ``lines`` ``(T, 4, 4)`` holds ``(jx, b / a, jy, 1 / a)`` for slots 0-1 (left) and
    2-3 (right); an unused slot has ``jx = -inf`` (left) / ``+inf`` (right) and zeros.
    ``inv_z`` ``(T, 3)``: ``1 / z = ip x + iq y + ir`` across the triangle. ``box`` ``(T, 4)``: xmin,
    xmax, ymin, ymax. Values are in the render's dtype (set up in float64). ``front`` ``(T,)`` bool: the
    triangle faces the camera (its projected winding)."""

    num_faces: int
    valid: torch.Tensor
    lines: torch.Tensor
    inv_z: torch.Tensor
    box: torch.Tensor
    front: torch.Tensor


def _triangle_setup(tri_uv: torch.Tensor, tri_z: torch.Tensor, settings: RasterSettings, fast: bool = False) -> _Triangles:
    """The :class:`_Triangles` of ``tri_uv (B, F, 3, 2)``, ``tri_z (B, F, 3)``; ``fast``: the compiled setup
    (:func:`backend.ops.native.raster_setup`, equal results), with this torch code as its reference."""
    nf = tri_uv.shape[1]
    dtype = tri_uv.dtype
    a = tri_uv.detach().double().reshape(-1, 3, 2)
    z = tri_z.detach().double().reshape(-1, 3)
    ax, ay = a[..., 0], a[..., 1]
    jx, jy = ax.roll(-1, -1), ay.roll(-1, -1)
    dx, dy = ax.roll(-2, -1) - jx, ay.roll(-2, -1) - jy  # edge vectors
    length = torch.sqrt(dx * dx + dy * dy)  # torch's sqrt for both paths (not always correctly rounded)
    area2 = _cross2(ax[:, 1] - ax[:, 0], ay[:, 1] - ay[:, 0], ax[:, 2] - ax[:, 0], ay[:, 2] - ay[:, 0])
    front = area2 < 0  # with z > 0 and fx, fy > 0 the projected winding is the 3D facing
    if fast:
        return _Triangles(nf, *native.raster_setup(a, z, length, settings.znear, AREA_EPS, LEN_EPS, settings.cull_backfaces,
                                                   dtype), front)
    valid = (z > settings.znear).all(-1) & (area2.abs() > AREA_EPS) & (length > LEN_EPS).all(-1)
    valid &= torch.isfinite(a).all(-1).all(-1)
    if settings.cull_backfaces:
        valid &= front
    sgn = torch.where(area2 < 0, -1.0, 1.0).to(a.dtype)[:, None]
    length = torch.where(valid[:, None], length, torch.ones_like(length))
    ea = dy * sgn / length  # unit outward normal (ea, eb)
    eb = -dx * sgn / length
    flat = ea.abs() <= 1e-12
    safe = torch.where(flat, torch.ones_like(ea), ea)
    per_edge = torch.stack([jx, eb / safe, jy, 1.0 / safe], dim=-1)  # (T, 3, 4)
    order = torch.argsort(torch.where(flat, torch.zeros_like(ea), ea), dim=1)  # left edges first
    per_edge = per_edge.gather(1, order[..., None].expand(-1, -1, 4))
    ea_sorted = torch.where(flat, torch.zeros_like(ea), ea).gather(1, order)
    inf = math.inf
    dummy_left = torch.tensor([-inf, 0.0, 0.0, 0.0], dtype=a.dtype, device=a.device)
    dummy_right = torch.tensor([inf, 0.0, 0.0, 0.0], dtype=a.dtype, device=a.device)
    lines = torch.stack([
        torch.where((ea_sorted[:, 0] < 0)[:, None], per_edge[:, 0], dummy_left),
        torch.where((ea_sorted[:, 1] < 0)[:, None], per_edge[:, 1], dummy_left),
        torch.where((ea_sorted[:, 2] > 0)[:, None], per_edge[:, 2], dummy_right),
        torch.where((ea_sorted[:, 1] > 0)[:, None], per_edge[:, 1], dummy_right),
    ], dim=1)
    # 1 / z = sum_i lambda_i / z_i with lambda_i = E_i(p) / area2, E_i(p) = dx (py - jy) - dy (px - jx)
    k = 1.0 / (torch.where(valid, area2, torch.ones_like(area2))[:, None] * torch.where(valid[:, None], z, torch.ones_like(z)))
    inv_z = torch.stack([(-dy * k).sum(-1), (dx * k).sum(-1), ((dy * jx - dx * jy) * k).sum(-1)], dim=-1)
    box = torch.stack([ax.amin(-1), ax.amax(-1), ay.amin(-1), ay.amax(-1)], dim=-1)
    return _Triangles(nf, valid, lines.to(dtype), inv_z.to(dtype), box.to(dtype), front)


def _expand(count: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Run lengths ``(K,)`` -> the owner of every element ``(sum,)`` and its offset within its run."""
    owner = torch.repeat_interleave(torch.arange(count.numel(), device=count.device), count)
    start = torch.cumsum(count, 0) - count
    return owner, torch.arange(owner.numel(), device=count.device) - start.index_select(0, owner)


def _rows(t: _Triangles, b0: int, b1: int, height: int, width: int, level: float, grow: float):
    """Non-empty row spans of the valid triangles of images ``b0:b1``.

    For every pixel row of the triangle's y-range grown by ``grow``: the pixels ``[x0, x1]`` where all
    three edge distances are ``<= level`` (and ``x`` is within the x-range grown by ``grow``).

    Returns the local triangle index (``image * F + face``), ``y``, ``x0`` and ``x1`` of each
    non-empty row, all ``(R,)`` int64."""
    nf = t.num_faces
    sl = slice(b0 * nf, b1 * nf)
    box = t.box[sl]
    use = t.valid[sl]
    y0 = torch.ceil(box[:, 2] - grow - _SLACK).clamp(min=0, max=height)
    y1 = torch.floor(box[:, 3] + grow + _SLACK).clamp(min=-1, max=height - 1)
    count = torch.where(use, y1 - y0 + 1, torch.zeros_like(y0)).clamp(min=0).long()
    lines = t.lines[sl]
    first = lines[..., 0] + level * lines[..., 3] - lines[..., 1] * (y0[:, None] - lines[..., 2])  # bound at row y0
    cols = [first[:, 0], first[:, 1], first[:, 2], first[:, 3], lines[:, 0, 1], lines[:, 1, 1], lines[:, 2, 1], lines[:, 3, 1]]
    f0, f1, f2, f3, s0, s1, s2, s3 = [torch.repeat_interleave(col, count) for col in cols]
    tri, k = _expand(count)
    kf = k.to(f0.dtype)
    lo = torch.maximum(f0 - s0 * kf, f1 - s1 * kf)
    hi = torch.minimum(f2 - s2 * kf, f3 - s3 * kf)
    if grow > 0:
        lo = torch.maximum(lo, (box[:, 0] - grow).index_select(0, tri))
        hi = torch.minimum(hi, (box[:, 1] + grow).index_select(0, tri))
    x0 = torch.ceil(lo - _SLACK).clamp_(min=0, max=width).long()
    x1 = torch.floor(hi + _SLACK).clamp_(min=-1, max=width - 1).long()
    keep = torch.nonzero(x1 >= x0).squeeze(1)
    tri = tri.index_select(0, keep)
    y = y0.long().index_select(0, tri) + k.index_select(0, keep)
    return tri, y, x0.index_select(0, keep), x1.index_select(0, keep)


def _chunks(t: _Triangles, num_images: int, height: int, width: int, max_pairs: int, grow: float) -> list[tuple[int, int]]:
    """Split images into contiguous ranges whose estimated (pixel, triangle) pairs fit ``max_pairs``."""
    box = t.box
    w = ((box[:, 1] + grow).clamp(max=width - 1) - (box[:, 0] - grow).clamp(min=0) + 1).clamp(min=0)
    h = ((box[:, 3] + grow).clamp(max=height - 1) - (box[:, 2] - grow).clamp(min=0) + 1).clamp(min=0)
    cost = torch.where(t.valid, torch.minimum(w * h, h * (w.clamp(max=4.0) + 2 * grow + 2)), torch.zeros_like(w))
    cost = cost.view(num_images, -1).sum(1).tolist()
    out, start, acc = [], 0, 0.0
    for i, c in enumerate(cost):
        if i > start and acc + c > max_pairs:
            out.append((start, i))
            start, acc = i, 0.0
        acc += c
    out.append((start, len(cost)))
    return out


def _zbuffer(t: _Triangles, b0: int, b1: int, height: int, width: int) -> torch.Tensor:
    """``((b1 - b0) * H * W,)`` int64 visible face per pixel (-1: none) of images ``b0:b1``."""
    nf = t.num_faces
    tri, y, x0, x1 = _rows(t, b0, b1, height, width, 0.0, 0.0)
    coef = t.inv_z[b0 * nf: b1 * nf].index_select(0, tri)
    count = x1 - x0 + 1
    p = torch.repeat_interleave(coef[:, 0], count)
    q = torch.repeat_interleave(coef[:, 1] * y.to(coef.dtype) + coef[:, 2], count)
    row, k = _expand(count)
    x = x0.index_select(0, row) + k
    z = 1.0 / (p * x.to(p.dtype) + q)
    face = torch.repeat_interleave(tri % nf, count)
    key = (z.float().view(torch.int32).long() << 32) | face
    base = (torch.div(tri, nf, rounding_mode="floor") * height + y) * width
    pix = base.index_select(0, row) + x
    buf = torch.full(((b1 - b0) * height * width,), _NO_HIT, dtype=torch.long, device=key.device)
    buf.scatter_reduce_(0, pix, key, "amin")
    return torch.where(buf == _NO_HIT, -1, buf & 0xFFFFFFFF)


def _saturated(hit: torch.Tensor, r: int) -> torch.Tensor:
    """``(I, H, W)`` bool: the ``(2r + 1)^2`` window around the pixel (clipped to the image) is all hit."""
    n, h, w = hit.shape
    s = torch.zeros((n, h + 1, w + 1), dtype=torch.int32, device=hit.device)
    s[:, 1:, 1:] = (~hit).to(torch.int32).cumsum(1).cumsum(2)
    ys, xs = torch.arange(h, device=hit.device), torch.arange(w, device=hit.device)
    y0, y1 = (ys - r).clamp(min=0), (ys + r + 1).clamp(max=h)
    x0, x1 = (xs - r).clamp(min=0), (xs + r + 1).clamp(max=w)
    top, bottom = s.index_select(1, y0), s.index_select(1, y1)
    count = bottom.index_select(2, x1) - bottom.index_select(2, x0) - top.index_select(2, x1) + top.index_select(2, x0)
    return count == 0


def _silhouette_pairs(t: _Triangles, face_buf: torch.Tensor, b0: int, b1: int, height: int, width: int, band: float):
    """Silhouette work of images ``b0:b1`` (no autograd).

    Returns the saturated pixels ``((b1 - b0) * H * W,)`` bool (the whole ``(2r + 1)^2`` window
    around the pixel is covered, ``r = ceil(band)``) and the pairs of an unsaturated pixel and a
    triangle visible somewhere in the image (any front-facing triangle when no triangle covers the pixel: a
    sliver that no pixel centre hits still reaches the pixels beyond it, while a closed mesh's back never
    reaches beyond its front) with the pixel within the triangle grown by ``band``
    px: local pixel, global triangle, pixel x and y, all ``(M,)`` int64."""
    nb = b1 - b0
    nf = t.num_faces
    npix = nb * height * width
    hit = face_buf >= 0
    img = torch.div(torch.arange(npix, device=face_buf.device), height * width, rounding_mode="floor")
    visible = torch.zeros(nb * nf, dtype=torch.bool, device=face_buf.device)
    visible[(img * nf + face_buf)[hit]] = True
    saturated = _saturated(hit.view(nb, height, width), math.ceil(band)).reshape(npix)
    tri, y, x0, x1 = _rows(t, b0, b1, height, width, band, band)
    count = x1 - x0 + 1
    base = (torch.div(tri, nf, rounding_mode="floor") * height + y) * width + x0
    row, k = _expand(count)
    pix = base.index_select(0, row) + k
    front = t.front[b0 * nf: b1 * nf].index_select(0, tri).index_select(0, row)
    seen = visible.index_select(0, tri).index_select(0, row) | (front & ~hit.index_select(0, pix))
    keep = torch.nonzero(~saturated.index_select(0, pix) & seen).squeeze(1)
    row, k = row.index_select(0, keep), k.index_select(0, keep)
    x = x0.index_select(0, row) + k
    return saturated, pix.index_select(0, keep), tri.index_select(0, row) + b0 * nf, x, y.index_select(0, row)


def _pixel_xy(pix: torch.Tensor, height: int, width: int, dtype) -> tuple[torch.Tensor, torch.Tensor]:
    rem = pix % (height * width)
    return (rem % width).to(dtype), torch.div(rem, width, rounding_mode="floor").to(dtype)


def _depth_values(tri_uv, tri_z, face_buf, b0, height, width, bary: bool = True):
    """Differentiable depth ``(M,)`` and barycentrics ``(M, 3)`` (None without ``bary``) at the hit pixels
    ``(M,)`` (local ids)."""
    nf = tri_uv.shape[1]
    pix = torch.nonzero(face_buf >= 0).squeeze(1)
    g = (torch.div(pix, height * width, rounding_mode="floor") + b0) * nf + face_buf.index_select(0, pix)
    px, py = _pixel_xy(pix, height, width, tri_uv.dtype)
    v = tri_uv.reshape(-1, 6).index_select(0, g).view(-1, 3, 2)
    zz = tri_z.reshape(-1, 3).index_select(0, g)
    ax, ay = v[..., 0], v[..., 1]
    jx, jy = ax.roll(-1, -1), ay.roll(-1, -1)
    e = _cross2(ax.roll(-2, -1) - jx, ay.roll(-2, -1) - jy, px[:, None] - jx, py[:, None] - jy)  # area2 * lambda
    w = e / (e.sum(1, keepdim=True) * zz)  # lambda_i / z_i
    s = w.sum(1, keepdim=True)
    return pix, 1.0 / s.squeeze(1), w / s if bary else None


class _SilhouetteLogQ(torch.autograd.Function):
    """Per-pixel ``sum_j log(1 - D_j)`` over (pixel, triangle) pairs, with a hand-written backward; at a pixel
    ``outside`` the silhouette (no triangle covers its centre) only the nearest triangle's ``log(1 - D_j)``
    (the lowest; its first pair).

    Outside, the nearest triangle's coverage is that of the triangles' union (the distance to a union is
    the least distance to its parts), while the product over triangles counts every triangle near the
    pixel: along a finely tessellated thin part (a 12-sided chair leg two pixels wide, whose visible side
    is a dozen slivers) it spread the soft silhouette about a pixel beyond the outline on each side.

    Forward: ``tri_uv (T, 3, 2)``; for the ``M`` pairs: local pixel ``pix``, global triangle ``tri``,
    pixel centre ``px``, ``py`` (int64); ``outside``: ``(npix,)`` bool or None; -> ``(npix,)``; ``fast``: the
    compiled forward and backward
    (:func:`backend.ops.native.silhouette_logq`, :func:`~backend.ops.native.silhouette_logq_backward`), with this
    torch code as their reference. ``d`` is the distance to the nearest edge ``(a, b)``
    (closest point ``a + s (b - a)``), so ``dd/da = -(1 - s) n`` and ``dd/db = -s n`` with ``n`` the
    unit vector from the closest point to the pixel; the backward scatters these, times
    ``d log(1 - D) / dd``, to the two vertices (nothing else depends on the vertices)."""

    @staticmethod
    def forward(ctx, tri_uv, pix, tri, px, py, npix: int, sigma: float, eps: float, fast: bool = False,
                outside: torch.Tensor | None = None):
        ctx.fast = fast
        if fast:  # the compiled forward (same formulas; this torch code is its reference)
            total, ia, ib, gx, gy, s = native.silhouette_logq(tri_uv, pix, tri, px, py, npix, sigma, eps, outside)
            ctx.save_for_backward(pix, ia, ib, gx, gy, s)
            ctx.num = tri_uv.shape[0]
            return total
        px, py = px.to(tri_uv.dtype), py.to(tri_uv.dtype)
        cols = tri_uv.reshape(-1, 6).t().contiguous()
        ax = [cols[2 * i].index_select(0, tri) for i in range(3)]
        ay = [cols[2 * i + 1].index_select(0, tri) for i in range(3)]
        for i in range(3):
            j = (i + 1) % 3
            dx, dy = ax[j] - ax[i], ay[j] - ay[i]
            wx, wy = px - ax[i], py - ay[i]
            s = ((wx * dx + wy * dy) / (dx * dx + dy * dy)).clamp_(0, 1)
            rx, ry = wx - s * dx, wy - s * dy
            d2 = rx * rx + ry * ry
            c = dx * wy - dy * wx
            if i == 0:
                best, bs, brx, bry, cmin, cmax = d2, s, rx, ry, c, c
                bk = torch.zeros_like(tri)
            else:
                better = d2 < best
                best = torch.where(better, d2, best)
                bs = torch.where(better, s, bs)
                brx = torch.where(better, rx, brx)
                bry = torch.where(better, ry, bry)
                bk = torch.where(better, i, bk)
                cmin, cmax = torch.minimum(cmin, c), torch.maximum(cmax, c)
        dist = torch.sqrt(best + DIST_EPS)
        inside = (cmin >= 0) | (cmax <= 0)
        signed = torch.where(inside, -dist, dist)
        cover = torch.sigmoid(signed / -sigma)  # D before the eps rescaling
        dt = ((cover - eps) / (1 - 2 * eps)).clamp_(0, 1)
        logq = torch.log1p(-dt)
        # d logq / d signed = D (1 - D) / (sigma (1 - 2 eps) (1 - D~)) where D~ is not clamped, else 0;
        # d signed / d a = -+ (1 - s) r / dist (inside / outside)
        live = (dt > 0) & (dt < 1)
        coef = cover * (1 - cover) / (sigma * (1 - 2 * eps) * torch.where(live, 1 - dt, torch.ones_like(dt)) * dist)
        coef = torch.where(live, torch.where(inside, coef, -coef), torch.zeros_like(coef))
        if outside is not None:  # outside pixels: only the first pair of the lowest log(1 - D) counts
            m = torch.arange(pix.numel(), device=pix.device)
            low = torch.zeros(npix, dtype=logq.dtype, device=logq.device).scatter_reduce(0, pix, logq, "amin")
            at_low = torch.where(logq <= low.index_select(0, pix), m, torch.full_like(m, pix.numel()))
            first = torch.full((npix,), pix.numel(), dtype=torch.long, device=pix.device).scatter_reduce(0, pix, at_low, "amin")
            drop = outside.index_select(0, pix) & (first.index_select(0, pix) != m)
            logq = torch.where(drop, torch.zeros_like(logq), logq)
            coef = torch.where(drop, torch.zeros_like(coef), coef)
        ctx.save_for_backward(pix, tri * 3 + bk, tri * 3 + (bk + 1) % 3, coef * brx, coef * bry, bs)
        ctx.num = tri_uv.shape[0]
        return torch.zeros(npix, dtype=tri_uv.dtype, device=tri_uv.device).index_add_(0, pix, logq)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        pix, ia, ib, gx, gy, s = ctx.saved_tensors
        if ctx.fast:  # the compiled backward (the same sums in the same order)
            out = native.silhouette_logq_backward(grad.contiguous(), pix, ia, ib, gx, gy, s, ctx.num * 3)
            return out.t().reshape(ctx.num, 3, 2), None, None, None, None, None, None, None, None, None
        g = grad.index_select(0, pix)
        ga, gb = g * (1 - s), g * s
        out = torch.zeros(2, ctx.num * 3, dtype=grad.dtype, device=grad.device)
        for axis, comp in enumerate((gx, gy)):
            out[axis].index_add_(0, ia, ga * comp)
            out[axis].index_add_(0, ib, gb * comp)
        return out.t().reshape(ctx.num, 3, 2), None, None, None, None, None, None, None, None, None


@register_renderer("torch")
def _render_torch(verts: torch.Tensor, faces: torch.Tensor, cameras: Cameras, settings: RasterSettings) -> RenderOutput:
    n = verts.shape[0]
    c = len(cameras)
    h, w = cameras.height, cameras.width
    dtype, device = verts.dtype, verts.device
    npix_all = n * c * h * w
    fast = device.type == "cpu" and native.available()  # the compiled discrete half (same results)
    # the images start as plain zeros; the hit pixels' differentiable values are written into them (in place)
    depth = torch.zeros(npix_all, dtype=dtype, device=device)
    bary = torch.zeros((npix_all, 3), dtype=dtype, device=device) if settings.bary else None
    face_index = torch.full((npix_all,), -1, dtype=torch.long, device=device)
    sil = torch.zeros(npix_all, dtype=dtype, device=device) if settings.silhouette else None
    if faces.shape[-2] and npix_all:
        tri_uv, tri_z = _project(verts, faces, cameras, settings.znear)
        with torch.no_grad():
            t = _triangle_setup(tri_uv, tri_z, settings, fast)
        band = settings.band if settings.silhouette else 0.0
        flat_uv = tri_uv.reshape(-1, 3, 2)
        chunks = [(0, n * c)] if fast else _chunks(t, n * c, h, w, int(settings.max_pairs), band)
        for b0, b1 in chunks:
            npix = (b1 - b0) * h * w
            offset = b0 * h * w
            with torch.no_grad():
                face_buf = native.raster_zbuffer(t.valid, t.lines, t.inv_z, t.box, n * c, h, w) if fast else \
                    _zbuffer(t, b0, b1, h, w)
            face_index[offset:offset + npix] = face_buf
            pix, d, bc = _depth_values(tri_uv, tri_z, face_buf, b0, h, w, settings.bary)
            depth.index_put_((pix + offset,), d)
            if bary is not None:
                bary.index_put_((pix + offset,), bc)
            if settings.silhouette and fast:
                # only the pixels of the band pairs are differentiable: log-coverage sums per distinct pixel
                with torch.no_grad():
                    saturated = native.raster_saturated(face_buf, n * c, h, w, math.ceil(band))
                    _, stri, sx, sy, slot, upix = native.raster_band_pairs(t.valid, t.front, t.lines, t.box, face_buf, saturated, n * c,
                                                                           h, w, band)
                total = _SilhouetteLogQ.apply(flat_uv, slot, stri, sx, sy, upix.numel(), settings.sigma,
                                              settings.silhouette_eps, True, face_buf.index_select(0, upix) < 0)
                sil = saturated.to(dtype).index_put((upix,), 0.0 - torch.expm1(total))
            elif settings.silhouette:
                with torch.no_grad():
                    saturated, spix, stri, sx, sy = _silhouette_pairs(t, face_buf, b0, b1, h, w, band)
                total = _SilhouetteLogQ.apply(flat_uv, spix, stri, sx, sy, npix, settings.sigma, settings.silhouette_eps,
                                              False, face_buf < 0)
                sil[offset:offset + npix] = torch.where(saturated, torch.ones_like(total), 0.0 - torch.expm1(total))
    else:  # nothing to draw: zero images, connected to verts so that gradients are zeros rather than None
        zero = verts.reshape(-1)[:1].sum() * 0
        depth = depth + zero
        bary = None if bary is None else bary + zero
        sil = None if sil is None else sil + zero
    shape = (n, c, h, w)
    return RenderOutput(
        depth=depth.view(shape),
        silhouette=sil.view(shape) if settings.silhouette else None,
        face_index=face_index.view(shape),
        bary=bary.view(*shape, 3) if bary is not None else None,
    )


# ----------------------------------------------------------------------------------------------
# the reference backend
