"""backend.ops.inside: closed convex parts of a mesh and how deep points lie inside them (the fast op
against its one-at-a-time reference, values and float64 gradients)."""

from __future__ import annotations

import pytest
import torch

from backend.ops.inside import convex_parts, penetration_depth, penetration_depth_reference

CUBE_TRIS = torch.tensor([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                          [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]])


def cube(lo, hi, dtype=torch.float64) -> torch.Tensor:
    """``(8, 3)`` corners of the box ``lo..hi`` (vertex i has bits x, y, z = i & 4, i & 2, i & 1)."""
    lo, hi = torch.as_tensor(lo, dtype=dtype), torch.as_tensor(hi, dtype=dtype)
    return torch.stack([torch.stack([hi[0] if i & 4 else lo[0], hi[1] if i & 2 else lo[1], hi[2] if i & 1 else lo[2]])
                        for i in range(8)])


def two_boxes_and_a_sheet(dtype=torch.float64):
    """Two closed boxes and one open quad (two triangles), as one mesh."""
    v = torch.cat([cube([0, 0, 0], [1, 1, 1], dtype), cube([2, 0, 0], [3, 0.5, 0.5], dtype),
                   torch.tensor([[0, 0, 2], [1, 0, 2], [0, 1, 2], [1, 1, 2]], dtype=dtype)])
    tris = torch.cat([CUBE_TRIS, CUBE_TRIS + 8, torch.tensor([[16, 17, 19], [16, 19, 18]])])
    return v, tris


def test_convex_parts_keeps_the_closed_parts_only():
    v, tris = two_boxes_and_a_sheet()
    parts = convex_parts(tris, len(v))
    assert parts.count == 2
    assert parts.part[:12].unique().tolist() == [0] and parts.part[12:24].unique().tolist() == [1]
    assert (parts.part[24:] == -1).all()
    assert parts.centre_vertices.shape == (2, 20) and parts.centre_vertices[0, :8].all() and not parts.centre_vertices[0, 8:].any()


def test_depth_is_the_distance_to_the_nearest_face_inside_and_zero_outside():
    v, tris = two_boxes_and_a_sheet()
    parts = convex_parts(tris, len(v))
    pts = torch.tensor([[0.5, 0.5, 0.5], [0.9, 0.5, 0.5], [2.5, 0.25, 0.1], [1.5, 0.5, 0.5], [0.5, 0.5, 2.0],
                        [-0.1, 0.5, 0.5]])
    d = penetration_depth(pts, v[None], tris, parts)[0]
    torch.testing.assert_close(d, torch.tensor([0.5, 0.1, 0.1, 0.0, 0.0, 0.0], dtype=torch.float64))


def test_face_winding_does_not_matter():
    v, tris = two_boxes_and_a_sheet()
    flipped = tris.flip(1)
    parts = convex_parts(flipped, len(v))
    d = penetration_depth(torch.tensor([[0.5, 0.5, 0.3]]), v[None], flipped, parts)
    torch.testing.assert_close(d, torch.tensor([[0.3]], dtype=torch.float64))


@pytest.mark.parametrize("seed", [0, 1])
def test_matches_the_reference_on_random_boxes(seed):
    g = torch.Generator().manual_seed(seed)
    verts = []
    for _ in range(3):  # 3 candidates, each two random boxes (the same topology)
        lo = torch.rand(2, 3, generator=g, dtype=torch.float64)
        hi = lo + 0.2 + torch.rand(2, 3, generator=g, dtype=torch.float64)
        verts.append(torch.cat([cube(lo[0], hi[0]), cube(lo[1], hi[1])]))
    verts = torch.stack(verts)
    # a random rotation keeps the parts convex
    q = torch.linalg.qr(torch.randn(3, 3, generator=g, dtype=torch.float64))[0]
    verts = verts @ q.T
    tris = torch.cat([CUBE_TRIS, CUBE_TRIS + 8])
    parts = convex_parts(tris, 16)
    pts = (torch.rand(60, 3, generator=g, dtype=torch.float64) * 2.0 - 0.3) @ q.T
    fast = penetration_depth(pts, verts, tris, parts)
    torch.testing.assert_close(fast, penetration_depth_reference(pts, verts, tris, parts))
    assert (fast > 0).any() and (fast == 0).any()


def test_gradcheck_float64():
    v, tris = two_boxes_and_a_sheet()
    parts = convex_parts(tris, len(v))
    pts = torch.tensor([[0.6, 0.45, 0.3], [0.2, 0.7, 0.55], [2.4, 0.2, 0.15]], dtype=torch.float64)
    # points off the medial planes, so that the nearest face is unique and the depth is smooth there
    x = v.clone()[None].requires_grad_(True)
    assert torch.autograd.gradcheck(lambda verts: penetration_depth(pts, verts, tris, parts), (x,))


def test_no_closed_part_or_no_point_gives_zeros_with_a_graph():
    v = torch.tensor([[0, 0, 0], [1, 0, 0], [0, 1, 0]], dtype=torch.float64, requires_grad=True)
    tris = torch.tensor([[0, 1, 2]])
    parts = convex_parts(tris, 3)
    d = penetration_depth(torch.zeros(4, 3, dtype=torch.float64), v[None], tris, parts)
    assert d.shape == (1, 4) and (d == 0).all()
    d.sum().backward()
