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
