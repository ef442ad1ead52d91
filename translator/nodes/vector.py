"""Vector composition nodes: Combine XYZ and Separate XYZ.

Shapes: floats ``()`` / ``(B,)`` combine into vectors ``(3,)`` / ``(B, 3)``;
fields give fields.
"""

from __future__ import annotations

import torch

from .. import runtime as rt
from . import node

__all__ = ["combine_xyz", "separate_xyz"]


def _stack(x, y, z):
    x, y, z = torch.broadcast_tensors(rt.as_float(x), rt.as_float(y), rt.as_float(z))
    return torch.stack([x, y, z], dim=-1)


@node("ShaderNodeCombineXYZ", outputs=("Vector",),
      label="Combine XYZ", grad="yes")
def combine_xyz(x=0.0, y=0.0, z=0.0):
    """Combine XYZ: three floats -> vector ``(…, 3)``."""
    if not any(isinstance(v, (torch.Tensor, rt.Field)) for v in (x, y, z)):
        return (float(x), float(y), float(z))
    return rt.field_map(_stack, [x, y, z], ["VALUE"] * 3, "VECTOR")


@node("ShaderNodeSeparateXYZ", outputs=("X", "Y", "Z"),
      label="Separate XYZ", grad="yes")
def separate_xyz(vector=(0.0, 0.0, 0.0)):
    """Separate XYZ: vector ``(…, 3)`` -> three floats ``(…)``."""
    if isinstance(vector, tuple):
        return tuple(float(c) for c in vector)
    return tuple(rt.field_map(lambda v, i=i: rt.as_vector(v)[..., i], [vector], ["VECTOR"], "VALUE") for i in range(3))
