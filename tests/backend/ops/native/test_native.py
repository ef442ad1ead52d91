"""The compiled CPU kernels against their pure-torch references (skipped where no C++ compiler is found;
the references keep the rest of the suite meaningful there)."""

import pytest
import torch

from backend.ops import native
from backend.ops.point_mesh import PackedTriangles, PointsToMesh, closest_on_triangles, point_mesh_sqdist_reference, spatial_order
from tests.fixtures.meshes import random_mesh, table_meshes, table_scan_points

pytestmark = pytest.mark.skipif(not native.available(), reason="the compiled kernels are not available (no C++ compiler, or SHAPEPROG_NATIVE=0)")

D = torch.float64


def _degenerate(tv: torch.Tensor) -> torch.Tensor:
    tv = tv.clone()
    tv[:, 0, 2] = tv[:, 0, 0]  # a zero-length edge
    tv[:, 1, 1] = 0.5 * (tv[:, 1, 0] + tv[:, 1, 2])  # collinear corners
    tv[:, 2, 1] = tv[:, 2, 0]
    tv[:, 2, 2] = tv[:, 2, 0]  # a point
    return tv


@pytest.mark.parametrize("seed", [0, 1])
def test_nearest_triangles_match_every_pair_measured(seed):
    verts, faces = random_mesh(seed, n=3, v=30, f=45)
    tv = _degenerate(verts[:, faces])
    pts = 1.3 * torch.randn((200, 3), generator=torch.Generator().manual_seed(seed + 5), dtype=D)
    idx, w = native.nearest_triangles(tv, pts)
    assert idx.shape == (3, 200) and idx.dtype == torch.int64 and w.shape == (3, 200, 3)
    packed = PackedTriangles.pack(tv, D)[:, None, :]  # (35, K, 1, T)
    every = closest_on_triangles(pts.t()[:, None, :, None], packed)  # (K, P, T)
    best = every.min(-1).values
    chosen = every.gather(-1, idx[..., None]).squeeze(-1)
    torch.testing.assert_close(chosen, best, rtol=0, atol=1e-12)  # a nearest triangle
    q = (w[..., None] * tv.gather(1, idx[..., None, None].expand(-1, -1, 3, 3))).sum(-2)
    torch.testing.assert_close(((pts[None] - q) ** 2).sum(-1), best, rtol=0, atol=1e-12)  # the closest point on it
    torch.testing.assert_close(w.sum(-1), torch.ones_like(best))
    assert bool((w >= -1e-12).all())


def test_nearest_triangles_take_the_first_of_equally_near_ones():
    tri = torch.tensor([[0.0, 0, 0], [1, 0, 0], [0, 1, 0]], dtype=D)
    tv = torch.stack([tri, tri + torch.tensor([0.0, 0, 2]), tri, tri])[None]  # triangles 0, 2, 3 coincide
    idx, _ = native.nearest_triangles(tv, torch.tensor([[0.2, 0.2, 0.5], [0.2, 0.2, 1.6]], dtype=D))
    assert idx.tolist() == [[0, 1]]


def test_nearest_triangles_search_of_a_large_mesh_equals_measuring_every_pair():
    # hundreds of triangles (a hierarchy many levels deep), coincident copies far apart in the triangle order
    # (the first of equally near ones must win wherever the hierarchy puts them), points in and around it
    verts, faces = random_mesh(3, n=2, v=200, f=600)
    tv = verts[:, faces].clone()
    tv[:, 517] = tv[:, 12]
    tv[:, 433] = tv[:, 250]
    tv = _degenerate(tv)
    g = torch.Generator().manual_seed(11)
    pts = torch.cat([tv[0, :300].mean(1) + 0.01 * torch.randn((300, 3), generator=g, dtype=D),
                     2.0 * torch.randn((200, 3), generator=g, dtype=D)])
    idx, w = native.nearest_triangles(tv, pts)
    every = closest_on_triangles(pts.t()[:, None, :, None], PackedTriangles.pack(tv, D)[:, None, :])  # (K, P, T)
    best = every.min(-1).values
    torch.testing.assert_close(every.gather(-1, idx[..., None]).squeeze(-1), best, rtol=0, atol=1e-12)  # a nearest one
    q = (w[..., None] * tv.gather(1, idx[..., None, None].expand(-1, -1, 3, 3))).sum(-2)
    torch.testing.assert_close(((pts[None] - q) ** 2).sum(-1), best, rtol=0, atol=1e-12)
    assert bool((idx != 517).all()) and bool((idx != 433).all())  # their first copies win
    assert bool((idx == 12).any()) and bool((idx == 250).any())


def test_spatial_order_is_a_permutation_along_a_z_curve():
    g = torch.Generator().manual_seed(2)
    pts = torch.rand((2000, 3), generator=g, dtype=D)
    order = spatial_order(pts)
    assert torch.equal(torch.sort(order).values, torch.arange(2000))
    steps = (pts[order][1:] - pts[order][:-1]).norm(dim=-1).mean()
    assert float(steps) < 0.25 * float((pts[1:] - pts[:-1]).norm(dim=-1).mean())  # neighbours in it are near
    assert spatial_order(torch.ones((5, 3))).tolist() == [0, 1, 2, 3, 4]  # one point repeated: input order
    assert spatial_order(torch.zeros((0, 3))).numel() == 0


def _distances_and_gradient(pts, v, t, backend):
    x = v.clone().requires_grad_(True)
    d = PointsToMesh(pts.to(v.dtype), backend=backend)(x[:, t])
    (d.sqrt() * torch.linspace(0.5, 1.5, d.shape[1], dtype=v.dtype)).sum().backward()
    return d.detach(), x.grad


def test_points_to_mesh_native_equals_the_sweep_values_and_gradients():
    pts = table_scan_points(400, 4)
    v, t = table_meshes(4, 5, D)
    d, g = _distances_and_gradient(pts, v, t, "native")
    d_ref, g_ref = _distances_and_gradient(pts, v, t, "torch")
    torch.testing.assert_close(d, d_ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(g, g_ref, rtol=1e-9, atol=1e-9)
    # float32: the same distances; the gradient is float64's (the kernel chooses in float64, where the
    # float32 sweep may take another triangle within rounding of the nearest, with another gradient)
    d32, g32 = _distances_and_gradient(pts, v.float(), t, "native")
    torch.testing.assert_close(d32, PointsToMesh(pts.float(), backend="torch")(v.float()[:, t]), rtol=0, atol=1e-6)
    torch.testing.assert_close(g32.double(), g, rtol=1e-3, atol=2e-3)  # float32 rounding of p - q


def test_points_to_mesh_native_gradcheck_against_the_reference():
    verts, faces = random_mesh(7, n=2, v=9, f=6)
    pts = torch.randn((12, 3), generator=torch.Generator().manual_seed(8), dtype=D)
    s2m = PointsToMesh(pts, backend="native")
    v = verts.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a: s2m(a[:, faces]), (v,))
    torch.testing.assert_close(s2m(verts[:, faces]), point_mesh_sqdist_reference(pts, verts, faces), rtol=0, atol=1e-12)


def test_native_kernel_errors():
    with pytest.raises(ValueError, match=r"tris must be \(K, T, 3, 3\) with T >= 1, got shape \(2, 0, 3, 3\)"):
        native.nearest_triangles(torch.zeros(2, 0, 3, 3), torch.zeros(4, 3))
    with pytest.raises(ValueError, match=r"points must be \(P, 3\), got shape \(4, 2\)"):
        native.nearest_triangles(torch.zeros(2, 5, 3, 3), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="unknown backend 'fast'"):
        PointsToMesh(torch.zeros(4, 3), backend="fast")


def test_switched_off_by_the_environment(monkeypatch):
    monkeypatch.setenv("SHAPEPROG_NATIVE", "0")
    assert not native.available()
    pts = table_scan_points(50, 1)
    v, t = table_meshes(2, 2)
    s2m = PointsToMesh(pts)
    assert not s2m._native(v[:, t])  # the sweep runs
    torch.testing.assert_close(s2m(v[:, t]), PointsToMesh(pts, backend="torch")(v[:, t]))
    with pytest.raises(RuntimeError, match="not available"):
        native.nearest_triangles(v[:, t], pts)


def _render_both(monkeypatch, verts, faces, cams, settings):
    """The ``"torch"`` renderer with the compiled discrete half and silhouette forward, and without (its
    pure-torch reference): outputs and the gradient of one random weighting of every image."""
    from backend.render import render

    out = {}
    for flag in ("1", "0"):
        monkeypatch.setenv("SHAPEPROG_NATIVE", flag)
        v = verts.clone().requires_grad_(True)
        r = render(v, faces, cams, settings)
        g = torch.Generator().manual_seed(4)
        loss = (r.depth * torch.rand(r.depth.shape, generator=g, dtype=v.dtype)).sum() + \
            (r.bary * torch.rand(r.bary.shape, generator=g, dtype=v.dtype)).sum()
        if r.silhouette is not None:
            loss = loss + (r.silhouette * torch.rand(r.silhouette.shape, generator=g, dtype=v.dtype)).sum()
        loss.backward()
        out[flag] = (r, v.grad)
    return out["1"], out["0"]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("cull", [False, True])
def test_render_native_equals_pure_torch(monkeypatch, dtype, cull):
    from backend.cameras import Cameras
    from backend.render import RasterSettings

    v, t = table_meshes(3, 6, dtype)
    eye = torch.tensor([[2.0, -2.2, 1.6], [-1.5, -2.0, 1.2], [0.3, 2.5, 2.0]], dtype=torch.float64)
    cams = Cameras.look_at(eye, [0.0, 0.0, 0.4], intrinsics=[40.0, 40.0, 31.3, 23.6], width=64, height=48)
    for settings in (RasterSettings(cull_backfaces=cull), RasterSettings(silhouette=False, cull_backfaces=cull)):
        (fast, gf), (ref, gr) = _render_both(monkeypatch, v, t, cams, settings)
        assert int((ref.face_index >= 0).sum()) > 1000
        assert torch.equal(fast.face_index, ref.face_index)  # the same arithmetic: the same z-buffer
        torch.testing.assert_close(fast.depth, ref.depth, rtol=0, atol=0)
        torch.testing.assert_close(fast.bary, ref.bary, rtol=0, atol=0)
        tol = 1e-6 if dtype == torch.float32 else 1e-13
        if settings.silhouette:
            assert int(((ref.silhouette > 0) & (ref.silhouette < 1)).sum()) > 200
            torch.testing.assert_close(fast.silhouette, ref.silhouette, rtol=0, atol=tol)
        torch.testing.assert_close(gf, gr, rtol=1e-4 if dtype == torch.float32 else 1e-10, atol=tol * gr.abs().max())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("cull", [False, True])
def test_raster_setup_equals_the_torch_setup(dtype, cull):
    """The compiled triangle setup against the rasterizer's torch setup, bit for bit, on random triangles and
    degenerate ones (repeated corners, lines, flat and vertical edges, integer corners with tied edge normals,
    NaN and inf corners)."""
    import math

    from backend.render import RasterSettings
    from backend.render.raster import _triangle_setup

    g = torch.Generator().manual_seed(5)
    uv = (torch.rand((3, 200, 3, 2), generator=g) * 100).to(dtype)
    z = (torch.rand((3, 200, 3), generator=g) * 3).to(dtype)
    uv[0, :20, 1] = uv[0, :20, 0]
    uv[0, 20:40, :, 1] = 5.0
    uv[0, 40:60, :, 0] = 7.0
    uv[0, 60, 0, 0], uv[0, 61, 1, 1] = math.nan, math.inf
    uv[0, 62:80] = uv[0, 62:80].round()
    uv[0, 80:90, 1, 1] = uv[0, 80:90, 0, 1]
    uv[0, 90:100, 2, 0] = uv[0, 90:100, 1, 0]
    settings = RasterSettings(cull_backfaces=cull, znear=0.05)
    ref, fast = _triangle_setup(uv, z, settings), _triangle_setup(uv, z, settings, fast=True)
    assert 200 < int(ref.valid.sum()) < 600
    assert torch.equal(fast.valid, ref.valid)
    for name in ("lines", "inv_z", "box"):
        a, b = getattr(fast, name), getattr(ref, name)
        assert a.dtype == b.dtype == dtype
        assert torch.equal(a.isnan(), b.isnan()) and torch.equal(a.nan_to_num(0.0), b.nan_to_num(0.0)), name


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_silhouette_logq_backward_equals_the_torch_backward(dtype):
    """The compiled backward of the soft silhouette's log-coverage sums against the torch backward of the same
    saved pairs, bit for bit (the same sums in the same order)."""
    from types import SimpleNamespace

    from backend.cameras import Cameras
    from backend.render import RasterSettings
    from backend.render.raster import _project, _SilhouetteLogQ, _triangle_setup

    v, t = table_meshes(3, 6, dtype)
    cams = Cameras.look_at(torch.tensor([[2.0, -2.2, 1.6], [-1.5, -2.0, 1.2]], dtype=torch.float64), [0.0, 0.0, 0.4],
                           intrinsics=[40.0, 40.0, 31.3, 23.6], width=64, height=48).to(dtype=dtype)
    settings = RasterSettings()
    tri_uv, tri_z = _project(v, t, cams, settings.znear)
    s = _triangle_setup(tri_uv, tri_z, settings)
    b, h, w = tri_uv.shape[0], cams.height, cams.width
    face = native.raster_zbuffer(s.valid, s.lines, s.inv_z, s.box, b, h, w)
    sat = native.raster_saturated(face, b, h, w, 3)
    _, tri, x, y, slot, upix = native.raster_band_pairs(s.valid, s.front, s.lines, s.box, face, sat, b, h, w, settings.band)
    flat = tri_uv.reshape(-1, 3, 2)
    _, ia, ib, gx, gy, gs = native.silhouette_logq(flat, slot, tri, x, y, upix.numel(), settings.sigma, settings.silhouette_eps)
    assert slot.numel() > 2000 and int((gx != 0).sum()) > 1000
    grad = torch.rand(upix.numel(), generator=torch.Generator().manual_seed(2), dtype=dtype)
    out = []
    for fast in (True, False):
        ctx = SimpleNamespace(saved_tensors=(slot, ia, ib, gx, gy, gs), num=flat.shape[0], fast=fast)
        out.append(_SilhouetteLogQ.backward(ctx, grad)[0])
    assert out[0].shape == flat.shape and out[0].abs().sum() > 0
    assert torch.equal(out[0], out[1])


def test_render_native_gradcheck(monkeypatch):
    from backend.cameras import Cameras
    from backend.render import RasterSettings, render

    monkeypatch.setenv("SHAPEPROG_NATIVE", "1")
    g = torch.Generator().manual_seed(3)
    verts = (torch.rand((1, 9, 3), generator=g, dtype=D) - 0.5) * 1.2
    faces = torch.randperm(9, generator=g).reshape(3, 3)
    cams = Cameras.look_at(torch.tensor([[0.3, -2.6, 0.4]], dtype=D), [0.0, 0.0, 0.0], intrinsics=[13.0, 12.0, 4.3, 2.8],
                           width=9, height=7)
    settings = RasterSettings(sigma=0.7, silhouette_eps=0.02)
    assert int((render(verts, faces, cams, settings).face_index >= 0).sum()) >= 10
    v = verts.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: render(x, faces, cams, settings).depth, (v,), eps=1e-7, atol=1e-6, rtol=1e-4)
    assert torch.autograd.gradcheck(lambda x: render(x, faces, cams, settings).silhouette, (v,), eps=1e-7, atol=1e-6, rtol=1e-4)


def test_point_grid_matches_the_kdtree():
    from backend.ops.knn import ScanNeighbours

    pts = table_scan_points(3000, 6).float()
    g = torch.Generator().manual_seed(9)
    queries = torch.cat([pts[:500] + 0.03 * torch.randn(500, 3, generator=g),  # near the scan
                         torch.rand(1500, 3, generator=g) * 3.0 - 1.5,  # around it and far outside its grid
                         pts[:20]])  # on scan points
    for reach in (0.1, 0.02, 0.5):
        idx = native.PointGrid(pts, reach / 2).nearest(queries, reach)
        d_ref = ScanNeighbours(pts, reach, backend="kdtree")(queries)
        found = idx >= 0
        assert bool((found == (d_ref < reach)).all())
        d = ((queries[found].double() - pts[idx[found]].double()) ** 2).sum(-1).sqrt()
        torch.testing.assert_close(d.float(), d_ref[found], rtol=0, atol=1e-6)
    # the objective's scan neighbours (auto: the grid) equal the KD-tree's, gradients included
    x = queries.clone().requires_grad_(True)
    y = queries.clone().requires_grad_(True)
    a, b = ScanNeighbours(pts, 0.1)(x), ScanNeighbours(pts, 0.1, backend="kdtree")(y)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    a.sum().backward()
    b.sum().backward()
    torch.testing.assert_close(x.grad, y.grad, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match=r"points must be \(P, 3\) with P >= 1"):
        native.PointGrid(torch.zeros(0, 3), 0.1)
    with pytest.raises(ValueError, match="cell must be positive"):
        native.PointGrid(pts, 0.0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_silhouette_logq_outside_keeps_the_nearest_triangle_as_the_torch_forward_does(dtype):
    """At the pixels that no triangle covers, the compiled forward keeps only the lowest ``log(1 - D)`` (its first
    pair) and zeroes the other pairs' backward coefficients, as the torch forward does: the same images and the
    same gradients; elsewhere the sums are untouched."""
    from backend.cameras import Cameras
    from backend.render import RasterSettings
    from backend.render.raster import _project, _SilhouetteLogQ, _triangle_setup

    v, t = table_meshes(3, 6, dtype)
    cams = Cameras.look_at(torch.tensor([[2.0, -2.2, 1.6], [-1.5, -2.0, 1.2]], dtype=torch.float64), [0.0, 0.0, 0.4],
                           intrinsics=[40.0, 40.0, 31.3, 23.6], width=64, height=48).to(dtype=dtype)
    settings = RasterSettings()
    v = v.clone().requires_grad_(True)
    tri_uv, tri_z = _project(v, t, cams, settings.znear)
    s = _triangle_setup(tri_uv.detach(), tri_z.detach(), settings)
    b, h, w = tri_uv.shape[0], cams.height, cams.width
    face = native.raster_zbuffer(s.valid, s.lines, s.inv_z, s.box, b, h, w)
    sat = native.raster_saturated(face, b, h, w, 3)
    _, tri, x, y, slot, upix = native.raster_band_pairs(s.valid, s.front, s.lines, s.box, face, sat, b, h, w, settings.band)
    outside = face.index_select(0, upix) < 0
    assert outside.sum() > 200 and (~outside).sum() > 200
    flat = tri_uv.reshape(-1, 3, 2)
    totals, grads = [], []
    for fast in (True, False):
        total = _SilhouetteLogQ.apply(flat, slot, tri, x, y, upix.numel(), settings.sigma, settings.silhouette_eps, fast,
                                      outside)
        (g,) = torch.autograd.grad((total * torch.linspace(0.5, 1.5, total.numel(), dtype=dtype)).sum(), v, retain_graph=True)
        totals.append(total.detach())
        grads.append(g)
    tol = {"rtol": 1e-3, "atol": 1e-5} if dtype == torch.float32 else {"rtol": 1e-12, "atol": 1e-12}
    torch.testing.assert_close(totals[0], totals[1], **tol)
    torch.testing.assert_close(grads[0], grads[1], **tol)
    assert grads[0].abs().sum() > 0
    # covered pixels: the sum over their pairs; outside: the lowest of their pairs' log(1 - D)
    m = slot.numel()
    pairs = _SilhouetteLogQ.apply(flat, torch.arange(m), tri, x, y, m, settings.sigma, settings.silhouette_eps).detach()
    summed = torch.zeros(upix.numel(), dtype=dtype).index_add_(0, slot, pairs)
    lowest = torch.zeros(upix.numel(), dtype=dtype).scatter_reduce(0, slot, pairs, "amin")
    torch.testing.assert_close(totals[1][~outside], summed[~outside], **tol)
    torch.testing.assert_close(totals[1][outside], lowest[outside], **tol)
    assert (lowest[outside] > summed[outside] + 1e-3).any()  # several triangles near some outside pixels
