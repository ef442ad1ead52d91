"""Losses: robust penalties and image losses by hand, Chamfer against brute force, float64 gradchecks."""

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
from backend.ops import sample_surface
from tests.fixtures.meshes import random_mesh

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


def test_silhouette_iou_of_a_soft_target_is_least_at_the_target():
    """With a soft target the loss is the fuzzy Jaccard index: 0 where the silhouette equals the target and more
    wherever it moves off it; the product form S M / (S + M - S M) was least for a silhouette that spilled
    over the target's partly covered pixels."""
    target = torch.tensor([[[0.0, 0.24, 0.76, 1.0, 0.76, 0.24, 0.0]]], dtype=D)
    assert float(silhouette_iou_loss(target[None], target)) == pytest.approx(0.0, abs=1e-9)
    for k in range(7):
        for step in (-0.2, 0.2):
            moved = target.clone()
            moved[0, 0, k] = (moved[0, 0, k] + step).clamp(0, 1)
            if not torch.equal(moved, target):
                assert float(silhouette_iou_loss(moved[None], target)) > 0.01
    # a binary mask: the product form's values
    sil = torch.rand((2, 1, 3, 4), generator=torch.Generator().manual_seed(0), dtype=D)
    mask = torch.rand((1, 3, 4), generator=torch.Generator().manual_seed(1)) > 0.5
    m = mask.to(D)
    product = 1 - (sil * m).sum((2, 3)).add(1e-6) / (sil + m - sil * m).sum((2, 3)).add(1e-6)
    torch.testing.assert_close(silhouette_iou_loss(sil, mask), product[:, 0])


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
    verts, faces = random_mesh(7, n=3, v=30, f=40)
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
    verts, faces = random_mesh(9, n=2, v=8, f=6)
    pts = torch.randn((40, 3), generator=torch.Generator().manual_seed(10), dtype=D)
    v = verts.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a: chamfer_scan_to_mesh(pts, a, faces, 50), (v,))
    assert torch.autograd.gradcheck(lambda a: chamfer_two_sided(pts, a, faces, 50, "huber", 0.5), (v,))


def test_chamfer_is_zero_on_its_own_samples():
    verts, faces = random_mesh(11, n=1)
    pts = sample_surface(verts, faces, 200, seed=0).points[0]
    assert float(chamfer_two_sided(pts, verts, faces, 200)) < 1e-24
    assert math.isfinite(float(chamfer_scan_to_mesh(pts + 10, verts, faces, 200)))
