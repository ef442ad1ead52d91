"""Nearest neighbours: both backends against brute force, chunking and threads, the clamped scan neighbours."""

import pytest
import torch

from backend.ops import ScanNeighbours, nearest_neighbors
from tests.fixtures.meshes import table_scan_points

D = torch.float64


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


@pytest.mark.parametrize("backend", ["kdtree", "grid"])
def test_scan_neighbours_equal_the_clamped_nearest_distance(backend):
    pts = table_scan_points(2000, 7)
    g = torch.Generator().manual_seed(8)
    q = (pts[torch.randint(0, 2000, (500,), generator=g)] + 0.08 * torch.randn(500, 3, generator=g)).double()
    q = torch.cat([q, torch.tensor([[5.0, 5.0, 5.0], [-3.0, 0.0, 0.5]], dtype=torch.float64)])  # far away
    nb = ScanNeighbours(pts, reach=0.1, backend=backend)
    x = q.clone().requires_grad_(True)
    d = nb(x)
    brute = torch.cdist(q, pts.double()).amin(1).clamp_max(0.1)
    assert torch.allclose(d.detach(), brute, atol=1e-6)
    assert (brute < 0.1).any() and (brute == 0.1).any()
    d.sum().backward()
    near = brute < 0.099
    assert torch.allclose(x.grad[near].norm(dim=1), torch.ones(int(near.sum()), dtype=torch.float64), atol=1e-4)
    assert (x.grad[~(brute < 0.1)] == 0).all()
