"""Points at barycentric weights of chosen triangles: the compiled kernel against the torch gather (bit for bit,
values and gradients), a float64 gradcheck and the index check."""

import pytest
import torch

from backend.ops import native
from backend.ops.blend import blend_corners, blend_corners_reference

needs_native = pytest.mark.skipif(not native.available(), reason="the compiled kernels are not available")


def _data(dtype, k=4, t=50, p=2000, seed=0):
    g = torch.Generator().manual_seed(seed)
    tv = torch.randn((k, t, 3, 3), generator=g, dtype=dtype)
    face = torch.randint(0, t, (k, p), generator=g)
    w = torch.rand((k, p, 3), generator=g, dtype=dtype)
    return tv, face, w / w.sum(-1, keepdim=True), torch.randn((k, p, 3), generator=g, dtype=dtype)


@needs_native
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_compiled_equals_the_gather_values_and_gradients(dtype):
    tv, face, w, grad = _data(dtype)
    out = []
    for fn in (blend_corners, blend_corners_reference):
        x = tv.clone().requires_grad_(True)
        q = fn(x, face, w)
        out.append((q, torch.autograd.grad(q, x, grad)[0], q.grad_fn.name()))
    (q, g, name), (q_ref, g_ref, name_ref) = out
    assert name != name_ref  # the compiled path ran
    assert q.shape == (4, 2000, 3) and g.abs().sum() > 0
    assert torch.equal(q, q_ref) and torch.equal(g, g_ref)


def test_gradcheck():
    tv, face, w, _ = _data(torch.float64, k=2, t=5, p=30, seed=1)
    assert torch.autograd.gradcheck(lambda x: blend_corners(x, face, w), (tv.requires_grad_(True),))


@needs_native
def test_out_of_range_face_raises():
    tv, face, w, _ = _data(torch.float32, k=1, t=5, p=10)
    face[0, 3] = 5
    with pytest.raises(IndexError, match="out of range"):
        blend_corners(tv, face, w)
