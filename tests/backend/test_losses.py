"""Losses: hand-computed values, brute-force references for every fast search, float64 gradchecks."""

import math

import pytest
import torch

from backend.losses import (
    chamfer_scan_to_mesh,
    chamfer_two_sided,
    depth_l1,
    free_space_penalty,
    robust_penalty,
    silhouette_iou_loss,
)
from backend.ops import nearest_neighbors, point_mesh_sqdist, point_mesh_sqdist_reference, point_triangle_sqdist, sample_surface

D = torch.float64


# ------------------------------------------------------------------ robust penalties


def test_robust_penalty_values():
    r = torch.tensor([0.0, 0.05, 0.1, 0.3], dtype=D)
    torch.testing.assert_close(robust_penalty(r), r)
    torch.testing.assert_close(robust_penalty(r, "clamp", 0.1), torch.tensor([0.0, 0.05, 0.1, 0.1], dtype=D))
    torch.testing.assert_close(robust_penalty(r, "huber", 0.1), torch.tensor([0.0, 0.0125, 0.05, 0.25], dtype=D))
    r2 = r * r
    torch.testing.assert_close(robust_penalty(r2, squared=True), r2)
    torch.testing.assert_close(robust_penalty(r2, "clamp", 0.1, squared=True), torch.tensor([0.0, 0.0025, 0.01, 0.01], dtype=D))
    torch.testing.assert_close(robust_penalty(r2, "huber", 0.1, squared=True), torch.tensor([0.0, 0.0025, 0.01, 0.05], dtype=D))


@pytest.mark.parametrize("squared", [False, True])
def test_huber_is_continuous_with_continuous_slope(squared):
    delta = 0.2
    r = torch.tensor([delta - 1e-7, delta + 1e-7], dtype=D, requires_grad=True)
    x = r * r if squared else r
    y = robust_penalty(x, "huber", delta, squared=squared)
    assert abs(float((y[1] - y[0]).detach())) < 1e-6
    g0, = torch.autograd.grad(y[0], r, retain_graph=True)
    g1, = torch.autograd.grad(y[1], r)
    assert abs(float(g0[0] - g1[1])) < 1e-5


def test_robust_penalty_errors():
    with pytest.raises(ValueError, match="robust must be one of none, clamp, huber, got 'l3'"):
        robust_penalty(torch.zeros(2), "l3")
    with pytest.raises(ValueError, match="robust scale must be positive"):
        robust_penalty(torch.zeros(2), "huber", 0.0)


# ------------------------------------------------------------------ image losses


def _images():
    obs = torch.tensor([[[1.0, 2.0, 0.0], [float("nan"), 3.0, 4.0]]], dtype=D)  # (C=1, H=2, W=3)
    mask = torch.tensor([[[True, True, True], [True, False, True]]])
    rendered = torch.tensor([[[[1.5, 0.0, 9.0], [1.0, 3.0, 3.0]]], [[[1.0, 2.0, 5.0], [2.0, 1.0, 4.5]]]], dtype=D)
    return rendered, obs, mask


def test_depth_l1_by_hand():
    rendered, obs, mask = _images()
    # valid: (0,0), (0,1), (1,2) [(0,2) depth 0, (1,0) NaN, (1,1) outside the mask]
    loss = depth_l1(rendered, obs, mask)
    torch.testing.assert_close(loss, torch.tensor([(0.5 + 2.0 + 1.0) / 3, (0.0 + 0.0 + 0.5) / 3], dtype=D))
    torch.testing.assert_close(depth_l1(rendered, obs, mask, robust="clamp", scale=0.8),
                               torch.tensor([(0.5 + 0.8 + 0.8) / 3, 0.5 / 3], dtype=D))
    # no mask: (1,1) counts too
    torch.testing.assert_close(depth_l1(rendered, obs), torch.tensor([3.5 / 4, 2.5 / 4], dtype=D))
    assert torch.isfinite(depth_l1(rendered, torch.zeros_like(obs))).all()


def test_silhouette_iou_by_hand():
    sil = torch.tensor([[[[1.0, 0.5], [0.0, 0.0]]], [[[1.0, 1.0], [0.0, 0.0]]]], dtype=D)
    mask = torch.tensor([[[True, True], [False, False]]])
    # candidate 0: inter 1.5, union 2  -> 0.25 ; candidate 1: perfect -> 0
    torch.testing.assert_close(silhouette_iou_loss(sil, mask), torch.tensor([0.25, 0.0], dtype=D), atol=1e-6, rtol=0)
    empty = silhouette_iou_loss(torch.zeros(1, 1, 2, 2, dtype=D), torch.zeros(1, 2, 2, dtype=torch.bool))
    torch.testing.assert_close(empty, torch.zeros(1, dtype=D))


def test_free_space_by_hand():
    rendered, obs, mask = _images()
    # valid obs pixels: (0,0)=1, (0,1)=2, (1,1)=3, (1,2)=4; margin 0.1
    # candidate 0: depth 1.5 (behind), 0 (not visible), 3.0 (at 3: not in front by > margin), 3.0 vs 4 -> 0.9
    # candidate 1: 1.0 vs 1 -> 0; 2 vs 2 -> 0; 1.0 vs 3 -> 1.9; 4.5 vs 4 -> 0
    torch.testing.assert_close(free_space_penalty(rendered, obs, margin=0.1), torch.tensor([0.9 / 4, 1.9 / 4], dtype=D))
    torch.testing.assert_close(free_space_penalty(rendered, obs, margin=0.1, mask=mask), torch.tensor([0.9 / 3, 0.0], dtype=D))


@pytest.mark.parametrize("robust", ["none", "clamp", "huber"])
def test_image_losses_gradcheck(robust):
    g = torch.Generator().manual_seed(0)
    obs = 1 + torch.rand((2, 4, 5), generator=g, dtype=D)
    obs[0, 1, 1] = 0
    mask = torch.rand((2, 4, 5), generator=g) > 0.3
    rendered = (obs + 0.3 * torch.randn((3, 2, 4, 5), generator=g, dtype=D)).requires_grad_(True)
    sil = torch.rand((3, 2, 4, 5), generator=g, dtype=D).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda r: depth_l1(r, obs, mask, robust, 0.2), (rendered,))
    assert torch.autograd.gradcheck(lambda r: free_space_penalty(r, obs, 0.05, None, robust, 0.2), (rendered,))
    assert torch.autograd.gradcheck(lambda s: silhouette_iou_loss(s, mask), (sil,))


def test_image_loss_shape_errors():
    with pytest.raises(ValueError, match=r"observation must be \(C, H, W\) = \(2, 4, 5\), got shape \(4, 5\)"):
        depth_l1(torch.zeros(1, 2, 4, 5), torch.zeros(4, 5))
    with pytest.raises(ValueError, match=r"rendered depth must be \(N, C, H, W\)"):
        free_space_penalty(torch.zeros(2, 4, 5), torch.zeros(2, 4, 5))
    with pytest.raises(ValueError, match=r"mask must be \(C, H, W\)"):
        depth_l1(torch.zeros(1, 2, 4, 5), torch.zeros(2, 4, 5), torch.zeros(2, 4, 4, dtype=torch.bool))


# ------------------------------------------------------------------ point to triangle


def _closest_point_ericson(p, a, b, c):
    """Closest point on triangle abc to p, region by region (Ericson, Real-Time Collision Detection 5.1.5);
    plain Python floats."""
    def sub(u, v):
        return [u[i] - v[i] for i in range(3)]

    def dot(u, v):
        return sum(u[i] * v[i] for i in range(3))

    def lin(o, u, s, w=None, t=0.0):
        return [o[i] + s * u[i] + (t * w[i] if w is not None else 0.0) for i in range(3)]

    ab, ac, ap = sub(b, a), sub(c, a), sub(p, a)
    d1, d2 = dot(ab, ap), dot(ac, ap)
    if d1 <= 0 and d2 <= 0:
        return a
    bp = sub(p, b)
    d3, d4 = dot(ab, bp), dot(ac, bp)
    if d3 >= 0 and d4 <= d3:
        return b
    vc = d1 * d4 - d3 * d2
    if vc <= 0 and d1 >= 0 and d3 <= 0:
        return lin(a, ab, d1 / (d1 - d3))
    cp = sub(p, c)
    d5, d6 = dot(ab, cp), dot(ac, cp)
    if d6 >= 0 and d5 <= d6:
        return c
    vb = d5 * d2 - d1 * d6
    if vb <= 0 and d2 >= 0 and d6 <= 0:
        return lin(a, ac, d2 / (d2 - d6))
    va = d3 * d6 - d5 * d4
    if va <= 0 and (d4 - d3) >= 0 and (d5 - d6) >= 0:
        return lin(b, sub(c, b), (d4 - d3) / ((d4 - d3) + (d5 - d6)))
    denom = 1.0 / (va + vb + vc)
    return lin(a, ab, vb * denom, ac, vc * denom)


def test_point_triangle_matches_ericson():
    g = torch.Generator().manual_seed(0)
    tri = torch.randn((400, 3, 3), generator=g, dtype=D)
    pts = 1.5 * torch.randn((400, 3), generator=g, dtype=D)
    ours = point_triangle_sqdist(pts, tri)
    ref = []
    for p, t in zip(pts.tolist(), tri.tolist()):
        q = _closest_point_ericson(p, *t)
        ref.append(sum((p[i] - q[i]) ** 2 for i in range(3)))
    torch.testing.assert_close(ours, torch.tensor(ref, dtype=D), rtol=1e-10, atol=1e-12)


def test_point_triangle_by_hand_and_degenerate():
    tri = torch.tensor([[0.0, 0, 0], [2, 0, 0], [0, 2, 0]], dtype=D)
    pts = torch.tensor([[0.5, 0.5, 3.0], [-1.0, -1.0, 0.0], [1.0, -2.0, 1.0], [2.0, 2.0, 0.0]], dtype=D)
    expect = torch.tensor([9.0, 2.0, 5.0, 2.0], dtype=D)  # above the face; past a corner; past an edge; past the hypotenuse
    torch.testing.assert_close(point_triangle_sqdist(pts, tri), expect)
    segment = torch.tensor([[0.0, 0, 0], [1, 0, 0], [2, 0, 0]], dtype=D)  # collinear: its distance is to the segment
    torch.testing.assert_close(point_triangle_sqdist(torch.tensor([[1.0, 1.0, 0.0], [3.0, 0.0, 0.0]], dtype=D), segment),
                               torch.tensor([1.0, 1.0], dtype=D))
    point = torch.zeros((3, 3), dtype=D, requires_grad=True)
    d = point_triangle_sqdist(torch.tensor([1.0, 2.0, 2.0], dtype=D), point)
    d.backward()
    assert float(d.detach()) == 9.0 and torch.isfinite(point.grad).all()


def test_point_triangle_gradcheck():
    g = torch.Generator().manual_seed(1)
    tri = torch.randn((30, 3, 3), generator=g, dtype=D).requires_grad_(True)
    pts = torch.randn((30, 3), generator=g, dtype=D).requires_grad_(True)
    assert torch.autograd.gradcheck(point_triangle_sqdist, (pts, tri))


def _mesh(seed: int, n: int = 3, v: int = 40, f: int = 60):
    g = torch.Generator().manual_seed(seed)
    verts = torch.randn((n, v, 3), generator=g, dtype=D)
    faces = torch.stack([torch.randperm(v, generator=g)[:3] for _ in range(f)])
    return verts, faces


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_point_mesh_matches_the_reference(seed):
    verts, faces = _mesh(seed)
    pts = 1.3 * torch.randn((300, 3), generator=torch.Generator().manual_seed(seed + 10), dtype=D)
    v1 = verts.clone().requires_grad_(True)
    res = point_mesh_sqdist(pts, v1, faces)
    v2 = verts.clone().requires_grad_(True)
    ref = point_mesh_sqdist_reference(pts, v2, faces)
    torch.testing.assert_close(res.sqdist, ref, rtol=0, atol=1e-7)
    tri_d = point_triangle_sqdist(pts[None], verts[:, faces].gather(1, res.face[..., None, None].expand(-1, -1, 3, 3)))
    torch.testing.assert_close(tri_d, ref, rtol=0, atol=1e-7)  # the chosen face is a nearest one
    w = torch.rand(res.sqdist.shape, generator=torch.Generator().manual_seed(3), dtype=D)
    (res.sqdist * w).sum().backward()
    (ref * w).sum().backward()
    torch.testing.assert_close(v1.grad, v2.grad, rtol=1e-6, atol=1e-7)


def test_point_mesh_gradcheck():
    verts, faces = _mesh(4, n=2, v=9, f=6)
    pts = torch.randn((12, 3), generator=torch.Generator().manual_seed(5), dtype=D)
    v = verts.clone().requires_grad_(True)
    p = pts.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, b: point_mesh_sqdist(b, a, faces).sqdist, (v, p))
    assert torch.autograd.gradcheck(lambda a, b: point_mesh_sqdist_reference(b, a, faces), (v, p))


def test_point_mesh_errors():
    verts, faces = _mesh(0)
    with pytest.raises(ValueError, match=r"points must be a float tensor \(P, 3\), got shape \(5, 2\)"):
        point_mesh_sqdist(torch.zeros(5, 2, dtype=D), verts, faces)
    with pytest.raises(ValueError, match="points contain NaN or inf"):
        point_mesh_sqdist(torch.full((5, 3), float("nan"), dtype=D), verts, faces)
    with pytest.raises(ValueError, match="the mesh has no triangles"):
        point_mesh_sqdist(torch.zeros(5, 3, dtype=D), verts, faces[:0])
    with pytest.raises(ValueError, match=r"verts must be a float tensor \(N, V, 3\)"):
        point_mesh_sqdist(torch.zeros(5, 3, dtype=D), verts[0], faces)


# ------------------------------------------------------------------ sampling and nearest neighbours


def test_sample_surface_is_deterministic_on_the_surface_and_area_weighted():
    # two triangles: one of area 2, one of area 0.5
    verts = torch.tensor([[[0.0, 0, 0], [2, 0, 0], [0, 2, 0], [0, 0, 5], [1, 0, 5], [0, 1, 5]]], dtype=D)
    faces = torch.tensor([[0, 1, 2], [3, 4, 5]])
    a = sample_surface(verts, faces, 4000, seed=3)
    b = sample_surface(verts, faces, 4000, seed=3)
    assert torch.equal(a.points, b.points) and torch.equal(a.face, b.face)
    assert not torch.equal(a.points, sample_surface(verts, faces, 4000, seed=4).points)
    d = point_triangle_sqdist(a.points[0], verts[0][faces[a.face[0]]])
    assert float(d.max()) < 1e-24
    share = float((a.face == 0).double().mean())
    assert abs(share - 0.8) < 0.03  # 2 / 2.5
    assert (a.bary >= 0).all() and torch.allclose(a.bary.sum(-1), torch.ones(1, dtype=D))
    # uniform inside the big triangle: mean near its centroid
    big = a.points[0][a.face[0] == 0]
    torch.testing.assert_close(big.mean(0), torch.tensor([2 / 3, 2 / 3, 0.0], dtype=D), atol=0.05, rtol=0)


def test_sample_surface_gradient_is_the_barycentric_weight():
    verts = torch.tensor([[[0.0, 0, 0], [1, 0, 0], [0, 1, 0]]], dtype=D, requires_grad=True)
    s = sample_surface(verts, torch.tensor([[0, 1, 2]]), 5, seed=0)
    s.points[0, 2, 1].backward()
    torch.testing.assert_close(verts.grad[0, :, 1], s.bary[0, 2])


def test_sample_surface_errors():
    with pytest.raises(ValueError, match="candidate 0 has zero surface area"):
        sample_surface(torch.zeros(1, 3, 3, dtype=D), torch.tensor([[0, 1, 2]]), 4)
    with pytest.raises(ValueError, match="num_samples must be at least 1"):
        sample_surface(torch.rand(1, 3, 3, dtype=D), torch.tensor([[0, 1, 2]]), 0)


def _brute_nn(q, t):
    d = ((q[:, :, None, :] - t[:, None, :, :]) ** 2).sum(-1)
    return d.min(2)


_NN_CASES = ["per_candidate", "shared_targets", "shared_queries", "far", "flat", "duplicates", "single"]


@pytest.mark.parametrize("backend", ["kdtree", "grid"])
@pytest.mark.parametrize("case", _NN_CASES)
def test_nearest_neighbors_matches_brute_force(case, backend):
    g = torch.Generator().manual_seed(_NN_CASES.index(case))
    q = torch.randn((3, 400, 3), generator=g, dtype=D)
    t = 0.6 * torch.randn((3, 250, 3), generator=g, dtype=D)
    if case == "shared_targets":
        d, i = nearest_neighbors(q, t[0], backend=backend)
        ref = _brute_nn(q, t[:1].expand(3, -1, -1))
    elif case == "shared_queries":
        d, i = nearest_neighbors(q[0], t, backend=backend)
        ref = _brute_nn(q[:1].expand(3, -1, -1), t)
    else:
        if case == "far":
            q = q * 20  # most queries outside the grid
        elif case == "flat":
            t[..., 2] = 0.5  # all targets in one plane
        elif case == "duplicates":
            t = t[:, :10].repeat(1, 25, 1)
        elif case == "single":
            t = t[:, :1]
        d, i = nearest_neighbors(q, t, backend=backend)
        ref = _brute_nn(q, t)
    torch.testing.assert_close(d, ref.values, rtol=0, atol=1e-12)
    tt = t if case != "shared_targets" else t[:1].expand(3, -1, -1)
    qq = q if case != "shared_queries" else q[:1].expand(3, -1, -1)
    torch.testing.assert_close(((qq - tt.gather(1, i[..., None].expand(-1, -1, 3))) ** 2).sum(-1), ref.values, rtol=0, atol=1e-12)


def test_nearest_neighbors_errors():
    with pytest.raises(ValueError, match=r"queries must be a float tensor \(N, M, 3\) or \(M, 3\), got shape \(4, 2\)"):
        nearest_neighbors(torch.zeros(4, 2), torch.zeros(3, 3))
    with pytest.raises(ValueError, match="batch sizes differ: 2 and 3"):
        nearest_neighbors(torch.zeros(2, 4, 3), torch.zeros(3, 5, 3))
    with pytest.raises(ValueError, match="no targets"):
        nearest_neighbors(torch.zeros(2, 4, 3), torch.zeros(2, 0, 3))
    with pytest.raises(ValueError, match="unknown nearest-neighbour backend 'ball'"):
        nearest_neighbors(torch.zeros(2, 4, 3), torch.zeros(2, 5, 3), backend="ball")


def test_nearest_neighbors_memory_chunks_agree():
    g = torch.Generator().manual_seed(0)
    q = torch.randn((2, 300, 3), generator=g, dtype=D)
    t = torch.randn((2, 200, 3), generator=g, dtype=D)
    a = nearest_neighbors(q, t, backend="grid")
    b = nearest_neighbors(q, t, max_pairs=7, backend="grid")
    assert torch.equal(a[0], b[0])


# ------------------------------------------------------------------ Chamfer


def _brute_chamfer(points, verts, faces, samples, robust, scale, two_sided):
    s = sample_surface(verts, faces, samples, seed=0).points
    d_ps = ((points[None, :, None, :] - s[:, None, :, :]) ** 2).sum(-1)  # (N, P, S)
    out = robust_penalty(d_ps.min(2).values, robust, scale, squared=True).mean(1)
    if two_sided:
        out = out + robust_penalty(d_ps.min(1).values, robust, scale, squared=True).mean(1)
    return out


@pytest.mark.parametrize("robust", ["none", "clamp", "huber"])
@pytest.mark.parametrize("two_sided", [False, True])
def test_chamfer_matches_brute_force(robust, two_sided):
    verts, faces = _mesh(7, n=3, v=30, f=40)
    pts = torch.randn((500, 3), generator=torch.Generator().manual_seed(8), dtype=D)
    fn = chamfer_two_sided if two_sided else chamfer_scan_to_mesh
    v1 = verts.clone().requires_grad_(True)
    ours = fn(pts, v1, faces, 300, robust, 0.3)
    v2 = verts.clone().requires_grad_(True)
    ref = _brute_chamfer(pts, v2, faces, 300, robust, 0.3, two_sided)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)
    ours.sum().backward()
    ref.sum().backward()
    torch.testing.assert_close(v1.grad, v2.grad, rtol=1e-9, atol=1e-12)
    assert v1.grad.abs().max() > 0


def test_chamfer_gradcheck():
    verts, faces = _mesh(9, n=2, v=8, f=6)
    pts = torch.randn((40, 3), generator=torch.Generator().manual_seed(10), dtype=D)
    v = verts.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a: chamfer_scan_to_mesh(pts, a, faces, 50), (v,))
    assert torch.autograd.gradcheck(lambda a: chamfer_two_sided(pts, a, faces, 50, "huber", 0.5), (v,))


def test_chamfer_is_zero_on_its_own_samples():
    verts, faces = _mesh(11, n=1)
    pts = sample_surface(verts, faces, 200, seed=0).points[0]
    assert float(chamfer_two_sided(pts, verts, faces, 200)) < 1e-24
    assert math.isfinite(float(chamfer_scan_to_mesh(pts + 10, verts, faces, 200)))


def test_nearest_neighbors_kdtree_threads_agree_with_grid():
    """The KD-tree search spread over threads (one batch slice each) == the single-thread grid search."""
    g = torch.Generator().manual_seed(3)
    q = torch.randn((5, 300, 3), generator=g, dtype=D)
    t = torch.randn((5, 200, 3), generator=g, dtype=D)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        d, i = nearest_neighbors(q, t, backend="kdtree")
    finally:
        torch.set_num_threads(threads)
    ref = nearest_neighbors(q, t, backend="grid")
    assert torch.equal(d, ref[0]) and torch.equal(i, ref[1])
