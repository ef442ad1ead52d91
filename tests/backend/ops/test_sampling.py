"""Surface sampling: deterministic, on the surface, area-weighted; gradients are the barycentric weights."""

import pytest
import torch

from backend.ops import point_triangle_sqdist, sample_surface

D = torch.float64


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


def _two_meshes():
    """A mesh of two triangles (areas 2 and 0.5) and one of a single triangle, as one batch with per-candidate
    faces (the second padded with a degenerate triangle)."""
    a = torch.tensor([[0.0, 0, 0], [2, 0, 0], [0, 2, 0], [0, 0, 5], [1, 0, 5], [0, 1, 5]], dtype=D)
    b = torch.tensor([[1.0, 1, 1], [1, 3, 1], [1, 1, 4], [1, 1, 1], [1, 1, 1], [1, 1, 1]], dtype=D)
    fa = torch.tensor([[0, 1, 2], [3, 4, 5]])
    fb = torch.tensor([[0, 1, 2], [0, 0, 0]])
    return torch.stack([a, b]), torch.stack([fa, fb]), fa, fb


def test_common_samples_depend_on_the_candidates_own_mesh_only():
    verts, faces, fa, fb = _two_meshes()
    both = sample_surface(verts, faces, 3000, seed=5, common=True)
    alone_a = sample_surface(verts[:1], fa, 3000, seed=5, common=True)
    alone_b = sample_surface(verts[1:], fb[:1], 3000, seed=5, common=True)  # without the padding triangle
    torch.testing.assert_close(both.points[0], alone_a.points[0], rtol=0, atol=0)
    torch.testing.assert_close(both.points[1], alone_b.points[0], rtol=0, atol=0)
    assert torch.equal(both.face[1], alone_b.face[0]) and not (both.face[1] == 1).any()  # the pad is never drawn
    # the same place in a bigger batch, or the first place of another: the same samples
    swapped = sample_surface(verts.flip(0), faces.flip(0), 3000, seed=5, common=True)
    torch.testing.assert_close(swapped.points[1], both.points[0], rtol=0, atol=0)
    # still area-weighted and on the surface
    assert abs(float((both.face[0] == 0).double().mean()) - 0.8) < 0.03
    d = point_triangle_sqdist(both.points[0], verts[0][fa[both.face[0]]])
    assert float(d.max()) < 1e-24


def test_per_candidate_faces_match_shared_faces():
    verts, _, fa, _ = _two_meshes()
    shared = sample_surface(verts[:1].expand(2, -1, -1), fa, 500, seed=2)
    per = sample_surface(verts[:1].expand(2, -1, -1), fa.expand(2, -1, -1), 500, seed=2)
    assert torch.equal(shared.points, per.points) and torch.equal(shared.face, per.face)


def test_triangle_corners_gathers_each_candidates_triangles():
    from backend.ops.checks import triangle_corners

    verts, faces, fa, fb = _two_meshes()
    out = triangle_corners(verts, faces)
    assert torch.equal(out[0], verts[0][fa]) and torch.equal(out[1], verts[1][fb])
    assert torch.equal(triangle_corners(verts, fa), verts[:, fa])
    x = verts.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda v: triangle_corners(v, faces), (x,))


def test_sample_surface_gradient_is_the_barycentric_weight():
    verts = torch.tensor([[[0.0, 0, 0], [1, 0, 0], [0, 1, 0]]], dtype=D, requires_grad=True)
    s = sample_surface(verts, torch.tensor([[0, 1, 2]]), 5, seed=0)
    s.points[0, 2, 1].backward()
    torch.testing.assert_close(verts.grad[0, :, 1], s.bary[0, 2])


def test_sample_surface_errors():
    with pytest.raises(ValueError, match="candidate 0 has zero surface area"):
        sample_surface(torch.zeros(1, 3, 3, dtype=D), torch.tensor([[0, 1, 2]]), 4)
    with pytest.raises(ValueError, match=r"faces must be an integer tensor \(F, 3\) or \(N, F, 3\) with N = 1"):
        sample_surface(torch.rand(1, 3, 3, dtype=D), torch.tensor([[[0, 1, 2]], [[0, 1, 2]]]), 4)
    with pytest.raises(ValueError, match="num_samples must be at least 1"):
        sample_surface(torch.rand(1, 3, 3, dtype=D), torch.tensor([[0, 1, 2]]), 0)
