"""The rasterizer: fast path against the per-pixel reference (values and gradients), finite
differences, analytic depth images, batching/chunking consistency, culling and input checks."""


import pytest
import torch

from backend.cameras import Cameras
from backend.render import RasterSettings, RenderOutput, register_renderer, render, render_mesh, render_reference, renderers


def _scene(seed: int, n: int = 2, tris: int = 4, width: int = 11, height: int = 8):
    g = torch.Generator().manual_seed(seed)
    verts = (torch.rand((n, 3 * tris, 3), generator=g, dtype=torch.float64) - 0.5) * 1.2
    faces = torch.randperm(3 * tris, generator=g).reshape(tris, 3)
    eye = torch.tensor([[0.3, -2.6, 0.4], [2.0, -1.4, 0.9]], dtype=torch.float64)
    cams = Cameras.look_at(eye, [0.0, 0.0, 0.0], intrinsics=[13.0, 12.0, (width - 1) / 2 + 0.3, (height - 1) / 2 - 0.2],
                           width=width, height=height)
    return verts, faces, cams


def _both(verts, faces, cams, settings):
    """Render with both backends; return outputs and the gradients of one random weighting of
    depth + silhouette + barycentrics."""
    g = torch.Generator().manual_seed(99)
    outs, grads = [], []
    for backend in ("torch", "reference"):
        v = verts.clone().requires_grad_(True)
        out = render(v, faces, cams, settings, backend=backend)
        wd = torch.rand(out.depth.shape, generator=torch.Generator().manual_seed(1), dtype=v.dtype)
        ws = torch.rand(out.depth.shape, generator=torch.Generator().manual_seed(2), dtype=v.dtype)
        wb = torch.rand(out.bary.shape, generator=torch.Generator().manual_seed(3), dtype=v.dtype)
        loss = (out.depth * wd).sum() + (out.bary * wb).sum()
        if out.silhouette is not None:
            loss = loss + (out.silhouette * ws).sum()
        loss.backward()
        outs.append(out)
        grads.append(v.grad)
    del g
    return outs, grads


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("cull", [False, True])
def test_fast_matches_reference(seed, cull):
    verts, faces, cams = _scene(seed)
    settings = RasterSettings(sigma=0.6, silhouette_eps=0.02, cull_backfaces=cull)
    (fast, ref), (gf, gr) = _both(verts, faces, cams, settings)
    assert (ref.face_index >= 0).sum() > (5 if cull else 20), "scene should cover pixels"
    assert torch.equal(fast.face_index, ref.face_index)
    torch.testing.assert_close(fast.depth, ref.depth, rtol=0, atol=1e-12)
    torch.testing.assert_close(fast.bary, ref.bary, rtol=0, atol=1e-12)
    torch.testing.assert_close(fast.silhouette, ref.silhouette, rtol=0, atol=1e-12)
    assert ((ref.silhouette > 0) & (ref.silhouette < 1)).sum() > 20, "soft edges should be present"
    torch.testing.assert_close(gf, gr, rtol=1e-9, atol=1e-9)
    assert gr.abs().max() > 0


def test_saturation_and_band_match_reference():
    # a large quad seen up close: interior pixels saturate (whole window covered), the border is soft
    verts = torch.tensor([[[-1.0, -1.0, 0.0], [1.0, -1.0, 0.0], [1.0, 1.0, 0.0], [-1.0, 1.0, 0.0]]], dtype=torch.float64)
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]])
    cams = Cameras.look_at([0.1, -0.2, 3.0], [0.0, 0.0, 0.0], up=(0.0, 1.0, 0.0), intrinsics=[15.0, 15.0, 7.6, 7.3],
                           width=16, height=15)
    settings = RasterSettings(sigma=0.4, silhouette_eps=0.05)
    (fast, ref), (gf, gr) = _both(verts, faces, cams, settings)
    assert int((ref.silhouette == 1).sum()) > 20
    torch.testing.assert_close(fast.silhouette, ref.silhouette, rtol=0, atol=1e-12)
    torch.testing.assert_close(gf, gr, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("backend", ["torch", "reference"])
def test_silhouette_outside_a_tiled_part_is_its_nearest_triangles(backend):
    """Outside the silhouette a pixel's coverage is the nearest triangle's: a thin strip tiled by eight slivers
    along its length (a chair leg's visible side) spreads no further than the same strip as one quad, and both
    equal the rescaled sigmoid of the exact distance to the projected strip. (The product over triangles
    spread the tiled strip about a pixel further on each side.)"""
    width, columns = 0.04, 8
    xs = torch.linspace(-width / 2, width / 2, columns + 1, dtype=torch.float64)
    tiled = torch.tensor([[float(x), 0.0, z] for x in xs for z in (0.0, 0.5)], dtype=torch.float64)[None]
    tiled_faces = torch.tensor([[2 * k, 2 * k + 2, 2 * k + 3] for k in range(columns)]
                               + [[2 * k, 2 * k + 3, 2 * k + 1] for k in range(columns)])
    quad = tiled[:, [0, 1, 2 * columns, 2 * columns + 1]]
    quad_faces = torch.tensor([[0, 2, 3], [0, 3, 1]])
    cams = Cameras.look_at([0.05, -2.0, 0.25], [0.0, 0.0, 0.25], intrinsics=[60.0, 60.0, 8.3, 19.6], width=17, height=40)
    settings = RasterSettings()
    a = render(tiled, tiled_faces, cams, settings, backend=backend)
    b = render(quad, quad_faces, cams, settings, backend=backend)
    assert torch.equal(a.face_index >= 0, b.face_index >= 0)
    out = b.face_index[0, 0] < 0
    # the exact distance from every pixel centre to the projected strip (a convex quadrilateral)
    uv, _ = cams.to(dtype=torch.float64).project(quad)
    corners = uv[0, 0, [0, 2, 3, 1]]  # around the quadrilateral
    yy, xx = torch.meshgrid(torch.arange(40.0, dtype=torch.float64), torch.arange(17.0, dtype=torch.float64), indexing="ij")
    p = torch.stack([xx, yy], -1)
    dist = torch.full(xx.shape, float("inf"), dtype=torch.float64)
    for k in range(4):
        e0, e1 = corners[k], corners[(k + 1) % 4]
        t = (((p - e0) * (e1 - e0)).sum(-1) / ((e1 - e0) ** 2).sum()).clamp(0, 1)
        dist = torch.minimum(dist, (p - (e0 + t[..., None] * (e1 - e0))).norm(dim=-1))
    eps = settings.silhouette_eps
    expect = ((torch.sigmoid(-dist / settings.sigma) - eps) / (1 - 2 * eps)).clamp(0, 1)
    soft = out & (expect > 0)
    assert int(soft.sum()) >= 40, "pixels in the band outside the strip"
    torch.testing.assert_close(a.silhouette[0, 0][out], expect[out], rtol=0, atol=1e-9)
    torch.testing.assert_close(b.silhouette[0, 0][out], expect[out], rtol=0, atol=1e-9)


def test_gradcheck_depth_and_silhouette():
    verts, faces, cams = _scene(3, n=1, tris=3, width=9, height=7)
    settings = RasterSettings(sigma=0.7, silhouette_eps=0.02)
    assert (render(verts, faces, cams, settings).face_index >= 0).sum() > 10

    def depth(v):
        return render(v, faces, cams, settings).depth

    def silhouette(v):
        return render(v, faces, cams, settings).silhouette

    v = verts.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(depth, (v,), eps=1e-7, atol=1e-6, rtol=1e-4)
    assert torch.autograd.gradcheck(silhouette, (v,), eps=1e-7, atol=1e-6, rtol=1e-4)


def test_fronto_parallel_cube_depth_is_exact():
    # unit cube [-0.5, 0.5]^3 seen along +z from 3 m: the front face is the plane z_cam = 2.5
    corners = torch.tensor([[x, y, z] for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (-0.5, 0.5)], dtype=torch.float64)
    faces = torch.tensor([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                          [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]])
    pose = torch.eye(4, dtype=torch.float64)
    pose[2, 3] = -3.0
    f, c = 51.5, 20.0  # the face edges project to 20 +- 10.3 px: pixels 10..30 are inside, none on an edge
    cams = Cameras(torch.tensor([f, f, c, c], dtype=torch.float64), pose[None], 41, 41)
    out = render(corners[None], faces, cams, RasterSettings(sigma=0.5, silhouette_eps=0.05))
    expect = torch.zeros(41, 41, dtype=torch.float64)
    expect[10:31, 10:31] = 2.5
    assert torch.equal(out.mask[0, 0], expect > 0)
    torch.testing.assert_close(out.depth[0, 0], expect, rtol=0, atol=1e-12)
    front = out.face_index[0, 0][10:31, 10:31]
    assert set(front.unique().tolist()) == {8, 9}  # only the two triangles of the z = -0.5 face are visible
    sil = out.silhouette[0, 0]
    assert (sil[13:28, 13:28] == 1).all() and (sil[:7] == 0).all() and (sil[:, 34:] == 0).all()
    assert ((sil[10:31, 9] > 0) & (sil[10:31, 9] < 0.5)).all()  # just outside the left edge (0.7 px away)


def test_oblique_plane_depth_matches_ray_plane_intersection():
    # a rectangle in the plane z = 0 (all in front of the camera) seen obliquely: depth = (n . (p0 - c)) / (n . R ray)
    verts = torch.tensor([[[-1.5, -1.0, 0.0], [1.5, -1.0, 0.0], [1.5, 2.0, 0.0], [-1.5, 2.0, 0.0]]], dtype=torch.float64)
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]])
    cams = Cameras.look_at(torch.tensor([0.7, -2.0, 1.6], dtype=torch.float64), [0.2, 0.3, 0.0], intrinsics=[20.0, 21.0, 12.3, 9.1],
                           width=25, height=19)
    out = render(verts, faces, cams, RasterSettings(silhouette=False))
    assert out.silhouette is None
    rays = cams.pixel_rays(torch.float64)[0] @ cams.rotation[0].T  # world directions with z_cam = 1
    n = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    t = (n @ (verts[0, 0] - cams.centers[0])) / (rays @ n)
    hit = t > 0
    point = cams.centers[0] + t[..., None] * rays
    inside = hit & (point[..., 0].abs() < 1.5) & (point[..., 1] > -1) & (point[..., 1] < 2)
    assert int(inside.sum()) > 100
    torch.testing.assert_close(out.depth[0, 0][inside], t[inside], rtol=1e-12, atol=1e-12)
    assert (out.depth[0, 0][~inside] == 0).all()
    # barycentrics reproduce the hit point
    tri = verts[0][faces[out.face_index[0, 0][inside]]]  # (M, 3, 3)
    torch.testing.assert_close((out.bary[0, 0][inside][..., None] * tri).sum(1), point[inside], rtol=1e-10, atol=1e-10)


def test_batch_equals_single_renders_and_chunking():
    verts, faces, cams = _scene(5, n=3, tris=6, width=14, height=10)
    verts = verts.float()
    settings = RasterSettings(sigma=0.5, silhouette_eps=0.05)
    full = render(verts, faces, cams, settings)
    tiny = render(verts, faces, cams, RasterSettings(sigma=0.5, silhouette_eps=0.05, max_pairs=1))
    assert torch.equal(full.face_index, tiny.face_index)
    for name in ("depth", "silhouette", "bary"):
        torch.testing.assert_close(getattr(full, name), getattr(tiny, name), rtol=0, atol=1e-6)
    for i in range(3):
        for c in range(2):
            one = render(verts[i:i + 1], faces, cams[c], settings)
            assert torch.equal(one.face_index[0, 0], full.face_index[i, c])
            torch.testing.assert_close(one.depth[0, 0], full.depth[i, c])
            torch.testing.assert_close(one.silhouette[0, 0], full.silhouette[i, c])


def _per_candidate_faces():
    """Three candidates of one vertex count with their own triangles (4, 2 and 3 of them), padded to 4 with
    degenerate ``(0, 0, 0)`` triangles as the fitting objective packs configurations."""
    verts, faces, cams = _scene(7, n=3, tris=4)
    own = [faces, faces[1:3], faces[[3, 0, 2]]]
    packed = torch.stack([torch.cat([f, f.new_zeros(4 - len(f), 3)]) for f in own])
    return verts, own, packed, cams


@pytest.mark.parametrize("silhouette", [False, True])
def test_per_candidate_faces_equal_each_candidate_alone(silhouette):
    verts, own, packed, cams = _per_candidate_faces()
    settings = RasterSettings(sigma=0.6, silhouette_eps=0.02, silhouette=silhouette)
    v = verts.clone().requires_grad_(True)
    out = render(v, packed, cams, settings)
    w = torch.rand(out.depth.shape, generator=torch.Generator().manual_seed(4), dtype=v.dtype)
    ((out.depth * w).sum() + ((out.silhouette * w).sum() if silhouette else 0)).backward()
    for i, f in enumerate(own):
        vi = verts[i:i + 1].clone().requires_grad_(True)
        one = render(vi, f, cams, settings)
        ((one.depth * w[i:i + 1]).sum() + ((one.silhouette * w[i:i + 1]).sum() if silhouette else 0)).backward()
        assert torch.equal(one.face_index[0], out.face_index[i])
        torch.testing.assert_close(one.depth[0], out.depth[i], rtol=0, atol=1e-12)
        torch.testing.assert_close(one.bary[0], out.bary[i], rtol=0, atol=1e-12)
        if silhouette:
            torch.testing.assert_close(one.silhouette[0], out.silhouette[i], rtol=0, atol=1e-12)
        torch.testing.assert_close(vi.grad[0], v.grad[i], rtol=1e-10, atol=1e-12)
    assert (out.face_index[1] >= 0).any() and not (out.face_index[1] >= 2).any()  # the padding draws nothing


def test_per_candidate_faces_fast_matches_reference():
    verts, _, packed, cams = _per_candidate_faces()
    (fast, ref), (gf, gr) = _both(verts, packed, cams, RasterSettings(sigma=0.6, silhouette_eps=0.02))
    assert torch.equal(fast.face_index, ref.face_index) and (ref.face_index >= 0).sum() > 20
    torch.testing.assert_close(fast.depth, ref.depth, rtol=0, atol=1e-12)
    torch.testing.assert_close(fast.silhouette, ref.silhouette, rtol=0, atol=1e-12)
    torch.testing.assert_close(gf, gr, rtol=1e-9, atol=1e-9)


def test_float32_matches_float64():
    verts, faces, cams = _scene(6, tris=6)
    settings = RasterSettings(sigma=0.5, silhouette_eps=0.05)
    a = render(verts, faces, cams, settings)
    b = render(verts.float(), faces, cams, settings)
    agree = a.face_index == b.face_index
    assert agree.float().mean() > 0.99
    torch.testing.assert_close(b.depth[agree].double(), a.depth[agree], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(b.silhouette.double(), a.silhouette, rtol=0, atol=1e-3)


def test_near_plane_and_behind_camera_triangles_are_culled():
    cams = Cameras(torch.tensor([10.0, 10.0, 5.0, 5.0], dtype=torch.float64), torch.eye(4, dtype=torch.float64)[None], 11, 11)
    crossing = torch.tensor([[[-1.0, -1.0, 2.0], [1.0, -1.0, 2.0], [0.0, 1.0, -1.0]]], dtype=torch.float64)
    out = render(crossing, torch.tensor([[0, 1, 2]]), cams, RasterSettings(znear=0.1))
    assert (out.face_index == -1).all() and (out.depth == 0).all() and (out.silhouette == 0).all()
    in_front = crossing.clone()
    in_front[0, 2, 2] = 2.0
    assert (render(in_front, torch.tensor([[0, 1, 2]]), cams).face_index >= 0).sum() > 10


def test_backfaces_culled_only_when_asked():
    cams = Cameras(torch.tensor([10.0, 10.0, 5.0, 5.0], dtype=torch.float64), torch.eye(4, dtype=torch.float64)[None], 11, 11)
    tri = torch.tensor([[[-1.0, -1.0, 2.0], [1.0, -1.0, 2.0], [0.0, 1.0, 2.0]]], dtype=torch.float64)
    # normal (b - a) x (c - a) = +z points away from the camera: a back face
    assert (render(tri, torch.tensor([[0, 1, 2]]), cams).face_index >= 0).any()
    assert (render(tri, torch.tensor([[0, 1, 2]]), cams, RasterSettings(cull_backfaces=True)).face_index == -1).all()
    assert (render(tri, torch.tensor([[0, 2, 1]]), cams, RasterSettings(cull_backfaces=True)).face_index >= 0).any()


def test_empty_mesh_and_gradients_are_zero():
    cams = Cameras(torch.tensor([10.0, 10.0, 5.0, 5.0]), torch.eye(4)[None], 6, 5)
    v = torch.zeros(2, 3, 3, requires_grad=True)
    out = render(v, torch.zeros((0, 3), dtype=torch.long), cams)
    assert out.depth.shape == (2, 1, 5, 6) and out.bary.shape == (2, 1, 5, 6, 3)
    assert (out.face_index == -1).all() and (out.depth == 0).all() and (out.silhouette == 0).all()
    (out.depth.sum() + out.silhouette.sum()).backward()
    assert torch.equal(v.grad, torch.zeros_like(v))


@pytest.mark.parametrize("backend", ["torch", "reference"])
def test_without_barycentrics_the_same_depth_silhouette_and_gradients(backend):
    verts, faces, cams = _scene(3)
    res = []
    for bary in (True, False):
        v = verts.clone().requires_grad_(True)
        out = render(v, faces, cams, RasterSettings(bary=bary), backend=backend)
        wd = torch.rand(out.depth.shape, generator=torch.Generator().manual_seed(1), dtype=v.dtype)
        ws = torch.rand(out.depth.shape, generator=torch.Generator().manual_seed(2), dtype=v.dtype)
        ((out.depth * wd).sum() + (out.silhouette * ws).sum()).backward()
        res.append((out, v.grad))
    (full, g_full), (lean, g_lean) = res
    assert full.bary is not None and lean.bary is None
    assert int((full.face_index >= 0).sum()) > 10 and g_full.abs().sum() > 0
    assert torch.equal(lean.face_index, full.face_index)
    assert torch.equal(lean.depth, full.depth) and torch.equal(lean.silhouette, full.silhouette)
    assert torch.equal(g_lean, g_full)


def test_no_candidates():
    cams = Cameras(torch.tensor([4.0, 4.0, 1.0, 1.0]), torch.eye(4)[None], 3, 2)
    out = render(torch.zeros(0, 3, 3), torch.tensor([[0, 1, 2]]), cams)
    assert out.depth.shape == (0, 1, 2, 3) and out.bary.shape == (0, 1, 2, 3, 3)


def test_render_mesh_triangulates_polygons():
    from translator.geometry import MeshBatch

    verts = torch.tensor([[[-1.0, -1.0, 2.0], [1.0, -1.0, 2.0], [1.0, 1.0, 2.0], [-1.0, 1.0, 2.0]]])
    mesh = MeshBatch(verts=verts, corner_verts=torch.tensor([0, 1, 2, 3]), face_offsets=torch.tensor([0, 4]))
    cams = Cameras(torch.tensor([4.0, 4.0, 5.0, 5.0]), torch.eye(4)[None], 11, 11)
    out = render_mesh(mesh, cams)
    same = render(verts, torch.tensor([[0, 1, 2], [0, 2, 3]]), cams)
    assert torch.equal(out.depth, same.depth) and int((out.depth == 2).sum()) == 25


def test_registry():
    assert {"torch", "reference"} <= set(renderers())

    @register_renderer("constant-test")
    def _constant(verts, faces, cameras, settings):
        shape = (verts.shape[0], len(cameras), cameras.height, cameras.width)
        return RenderOutput(torch.ones(shape), None, torch.zeros(shape, dtype=torch.long), torch.zeros(*shape, 3))

    cams = Cameras(torch.tensor([4.0, 4.0, 1.0, 1.0]), torch.eye(4)[None], 3, 2)
    assert render(torch.zeros(1, 3, 3), torch.tensor([[0, 1, 2]]), cams, backend="constant-test").depth.sum() == 6
    with pytest.raises(ValueError, match="unknown renderer backend 'nope'"):
        render(torch.zeros(1, 3, 3), torch.tensor([[0, 1, 2]]), cams, backend="nope")


@pytest.mark.parametrize(
    "verts, faces, message",
    [
        (torch.zeros(1, 3, 2), torch.tensor([[0, 1, 2]]), r"verts must be \(N, V, 3\), got shape \(1, 3, 2\)"),
        (torch.zeros(1, 3, 3), torch.tensor([0, 1, 2]),
         r"faces must be an integer tensor \(F, 3\) or \(N, F, 3\) with N = 1, got shape \(3,\)"),
        (torch.zeros(2, 3, 3), torch.tensor([[[0, 1, 2]]]), r"with N = 2, got shape \(1, 1, 3\)"),
        (torch.zeros(1, 3, 3), torch.tensor([[0, 1, 3]]), "faces index vertices 0..3 but there are 3 vertices"),
        (torch.zeros(1, 3, 3), torch.tensor([[0.0, 1.0, 2.0]]), r"faces must be an integer tensor .* of torch.float32"),
        (torch.tensor([[[0.0, 0, 0], [1, 0, 0], [0, float("nan"), 0]]]), torch.tensor([[0, 1, 2]]), "candidate 0 contain NaN"),
    ],
)
def test_input_errors(verts, faces, message):
    cams = Cameras(torch.tensor([4.0, 4.0, 1.0, 1.0]), torch.eye(4)[None], 3, 2)
    with pytest.raises(ValueError, match=message):
        render(verts, faces, cams)


@pytest.mark.parametrize("kwargs, message", [({"sigma": 0.0}, "sigma"), ({"silhouette_eps": 0.5}, "silhouette_eps"),
                                             ({"znear": -1.0}, "znear"), ({"max_pairs": 0}, "max_pairs")])
def test_settings_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RasterSettings(**kwargs)


def test_reference_is_callable_directly():
    verts, faces, cams = _scene(0, n=1, tris=2, width=5, height=4)
    a = render_reference(verts, faces, cams, RasterSettings(silhouette=False))
    assert a.silhouette is None and a.depth.shape == (1, 2, 4, 5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    verts, faces, cams = _scene(7, n=3, tris=8, width=40, height=30)
    settings = RasterSettings(sigma=0.5, silhouette_eps=0.05)
    cpu = render(verts, faces, cams, settings)
    gpu = render(verts.cuda(), faces.cuda(), cams.to("cuda"), settings)
    assert torch.equal(gpu.face_index.cpu(), cpu.face_index)
    torch.testing.assert_close(gpu.depth.cpu(), cpu.depth)
    torch.testing.assert_close(gpu.silhouette.cpu(), cpu.silhouette)


def _splat_point_by_point(points, colors, cams, radius):
    """The plain form of :func:`backend.render.overlay.splat`: point after point, each pixel of its square keeps
    the nearest point's depth and colour."""
    uv, z = cams.to(dtype=torch.float32).project(points.float())
    rgb = torch.ones(len(cams), cams.height, cams.width, 3)
    depth = torch.zeros(len(cams), cams.height, cams.width)
    for k in range(len(cams)):
        for p in range(len(points)):
            if z[k, p] <= 0.05:
                continue
            for dx in range(-radius, radius + 1):
                for dy in range(-radius, radius + 1):
                    u, r = int(torch.round(uv[k, p, 0])) + dx, int(torch.round(uv[k, p, 1])) + dy
                    if 0 <= u < cams.width and 0 <= r < cams.height and (depth[k, r, u] == 0 or z[k, p] < depth[k, r, u]):
                        depth[k, r, u], rgb[k, r, u] = z[k, p], colors[p]
    return rgb, depth


@pytest.mark.parametrize("radius", [0, 1, 2])
def test_splat_equals_the_point_by_point_z_buffer(radius):
    from backend.render.overlay import splat

    _, _, cams = _scene(0, width=23, height=17)
    g = torch.Generator().manual_seed(4)
    points = (torch.rand((150, 3), generator=g) - 0.5) * 1.5  # some off the images' edges, many overlapping squares
    colors = torch.rand((150, 3), generator=g)
    rgb, depth = splat(points, colors, cams, radius=radius)
    ref_rgb, ref_depth = _splat_point_by_point(points, colors, cams, radius)
    assert torch.equal(depth, ref_depth) and torch.equal(rgb, ref_rgb)
    assert 0.1 < float((depth > 0).double().mean()) < 0.95  # points and background in every image
    grey, _ = splat(points, None, cams, radius=radius)
    assert torch.equal(grey[depth > 0], torch.full_like(grey[depth > 0], 0.55)) and bool((grey[depth == 0] == 1).all())
