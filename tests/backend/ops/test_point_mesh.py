"""Point-to-triangle and point-to-mesh distances: hand-computed values, a region-by-region reference, the packed
closest-point kernel and the fast exact scan-to-mesh sweep against brute force, float64 gradchecks."""

import math

import pytest
import torch

from backend.ops import PackedTriangles, PointsToMesh, point_mesh_sqdist, point_mesh_sqdist_reference, point_triangle_sqdist
from backend.ops.point_mesh import closest_on_triangles
from tests.fixtures.meshes import random_mesh, table_meshes, table_scan_points

D = torch.float64


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


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_point_mesh_matches_the_reference(seed):
    verts, faces = random_mesh(seed)
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


def test_per_candidate_faces_padded_at_a_vertex_leave_the_distances_unchanged():
    """Each candidate its own triangles (``(N, F, 3)``), padded with degenerate triangles at its first triangle's
    first corner (a point of its own surface, as the objective packs configurations): the same distances and
    gradients as each candidate alone, on the fast path and the reference."""
    verts, faces = random_mesh(6, n=2)
    own = [faces, faces[len(faces) // 2:]]
    packed = torch.stack([torch.cat([f, f.new_full((len(faces) - len(f), 3), int(f[0, 0]))]) for f in own])
    pts = 1.3 * torch.randn((200, 3), generator=torch.Generator().manual_seed(8), dtype=D)
    v = verts.clone().requires_grad_(True)
    res = point_mesh_sqdist(pts, v, packed)
    res.sqdist.sum().backward()
    torch.testing.assert_close(res.sqdist, point_mesh_sqdist_reference(pts, verts, packed), rtol=0, atol=1e-7)
    for i, f in enumerate(own):
        vi = verts[i:i + 1].clone().requires_grad_(True)
        one = point_mesh_sqdist(pts, vi, f)
        one.sqdist.sum().backward()
        torch.testing.assert_close(res.sqdist[i], one.sqdist[0], rtol=0, atol=1e-12)
        torch.testing.assert_close(v.grad[i], vi.grad[0], rtol=1e-9, atol=1e-12)


def test_point_mesh_gradcheck():
    verts, faces = random_mesh(4, n=2, v=9, f=6)
    pts = torch.randn((12, 3), generator=torch.Generator().manual_seed(5), dtype=D)
    v = verts.clone().requires_grad_(True)
    p = pts.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, b: point_mesh_sqdist(b, a, faces).sqdist, (v, p))
    assert torch.autograd.gradcheck(lambda a, b: point_mesh_sqdist_reference(b, a, faces), (v, p))


def test_point_mesh_errors():
    verts, faces = random_mesh(0)
    with pytest.raises(ValueError, match=r"points must be a float tensor \(P, 3\), got shape \(5, 2\)"):
        point_mesh_sqdist(torch.zeros(5, 2, dtype=D), verts, faces)
    with pytest.raises(ValueError, match="points contain NaN or inf"):
        point_mesh_sqdist(torch.full((5, 3), float("nan"), dtype=D), verts, faces)
    with pytest.raises(ValueError, match="the mesh has no triangles"):
        point_mesh_sqdist(torch.zeros(5, 3, dtype=D), verts, faces[:0])
    with pytest.raises(ValueError, match=r"verts must be a float tensor \(N, V, 3\)"):
        point_mesh_sqdist(torch.zeros(5, 3, dtype=D), verts[0], faces)


def _closest_reference(p: list[float], a: list[float], b: list[float], c: list[float]) -> float:
    """Squared distance from p to triangle abc: to the closest point that the region classification finds (plain floats)."""
    q = _closest_point_ericson(p, a, b, c)
    d = [p[0] - q[0], p[1] - q[1], p[2] - q[2]]
    return d[0] * d[0] + d[1] * d[1] + d[2] * d[2]


def _random_triangles(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    tv = torch.randn(n, 3, 3, generator=g, dtype=torch.float64)
    tv[:3, 2] = tv[:3, 0]  # zero-length edge
    tv[3:6, 1] = 0.5 * (tv[3:6, 0] + tv[3:6, 2])  # collinear
    tv[6:9, 1] = tv[6:9, 0]
    tv[6:9, 2] = tv[6:9, 0]  # a point
    return tv


def test_packed_closest_point_matches_a_region_classification_reference():
    tv = _random_triangles(40, 0)
    p = torch.randn(60, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 1.5
    packed = PackedTriangles.pack(tv, torch.float64)
    d2, w = closest_on_triangles(p.t()[:, :, None], packed[None, :], bary=True)  # (P, T)
    ref = torch.tensor([[_closest_reference(pi.tolist(), *t.tolist()) for t in tv] for pi in p], dtype=torch.float64)
    assert torch.allclose(d2, ref, atol=1e-10)
    # the barycentric weights give the closest point itself
    q = (w.movedim(0, -1)[..., None] * tv[None]).sum(-2)
    assert torch.allclose(((p[:, None] - q) ** 2).sum(-1), ref, atol=1e-10)
    assert torch.allclose(w.sum(0), torch.ones_like(ref))
    # and the differentiable version in backend.losses agrees
    assert torch.allclose(point_triangle_sqdist(p[:, None], tv[None]), ref, atol=1e-10)


def test_scan_to_mesh_equals_the_float64_reference():
    pts = table_scan_points(600, 0)
    v, t = table_meshes(5, 1)
    tv = v[:, t]
    ref = point_triangle_sqdist(pts.double()[None, :, None], tv.double()[:, None]).amin(-1)
    got = PointsToMesh(pts)(tv)
    assert got.shape == (5, 600)
    assert torch.allclose(got.double(), ref, atol=1e-6)
    # chunking the sweep (a few points at a time) changes nothing
    assert torch.equal(PointsToMesh(pts, max_pairs=5 * tv.shape[1] * 7)(tv), got)
    assert torch.equal(PointsToMesh(pts, max_pairs=1)(tv), got)


def test_scan_to_mesh_gradient_is_the_gradient_of_the_exact_distance():
    pts = table_scan_points(300, 2)
    v, t = table_meshes(2, 3, torch.float64)
    s2m = PointsToMesh(pts.double())
    x = v.clone().requires_grad_(True)
    s2m(x[:, t]).sqrt().sum().backward()
    y = v.clone().requires_grad_(True)
    point_triangle_sqdist(s2m.points[None, :, None], y[:, t][:, None]).amin(-1).sqrt().sum().backward()
    assert torch.allclose(x.grad, y.grad, atol=1e-8)

    # and a finite-difference check of a few vertex coordinates
    def f(u):
        return float(s2m(u[:, t]).sqrt().sum())

    for idx in [(0, 3, 2), (1, 10, 0), (1, 25, 1)]:
        e = torch.zeros_like(v)
        e[idx] = 1e-6
        fd = (f(v + e) - f(v - e)) / 2e-6
        assert math.isclose(fd, float(x.grad[idx]), rel_tol=1e-4, abs_tol=1e-7), idx
