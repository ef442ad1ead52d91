"""The geometry containers' small helpers (translator/geometry.py)."""

from __future__ import annotations

import torch

from translator.geometry import offsets_from_sizes


def test_offsets_from_sizes_are_the_running_totals_from_zero():
    sizes = torch.tensor([3, 4, 0, 2])
    assert offsets_from_sizes(sizes).tolist() == [0, 3, 7, 7, 9]
    assert offsets_from_sizes(sizes).dtype == torch.long
    assert offsets_from_sizes(torch.zeros(0, dtype=torch.long)).tolist() == [0]  # no faces: one offset
    offsets = offsets_from_sizes(sizes)
    assert (offsets[1:] - offsets[:-1]).tolist() == sizes.tolist()  # MeshBatch.face_sizes' inverse
