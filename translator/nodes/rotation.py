"""Rotation nodes: Vector Rotate.

Semantics follow Blender 5.0 (``node_shader_vector_rotate.cc``), checked against Blender in
``tests/translator/nodes/test_rotation.py``. Vectors are ``(…, 3)`` tensors (``()``-batched
single values, ``(B, 3)`` batched, fields ``(b, N, 3)``); angles ``(…)``.
"""

from __future__ import annotations

import torch

from . import node
from .math import elementwise
from .transform import euler_to_matrix

__all__ = ["VECTOR_ROTATE_TYPES", "axis_angle_matrix", "vector_rotate"]

VECTOR_ROTATE_TYPES = ("AXIS_ANGLE", "X_AXIS", "Y_AXIS", "Z_AXIS", "EULER_XYZ")
_AXES = {"X_AXIS": (1.0, 0.0, 0.0), "Y_AXIS": (0.0, 1.0, 0.0), "Z_AXIS": (0.0, 0.0, 1.0)}


def axis_angle_matrix(axis: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Blender's ``axis_angle_to_mat3``: rotation matrices ``(…, 3, 3)`` about ``axis (…, 3)``
    (normalized here) by ``angle (…)``, right-handed; the identity where the axis is zero."""
    sq = (axis * axis).sum(-1, keepdim=True)
    ok = sq > 1.0e-35
    n = axis / torch.sqrt(torch.where(ok, sq, torch.ones_like(sq)))
    n = torch.where(ok, n, torch.zeros_like(n))
    c, s = torch.cos(angle)[..., None, None], torch.sin(angle)[..., None, None]
    x, y, z = n.unbind(-1)
    zero = torch.zeros_like(x)
    k = torch.stack([torch.stack([zero, -z, y], -1), torch.stack([z, zero, -x], -1), torch.stack([-y, x, zero], -1)], -2)
    outer = n.unsqueeze(-1) * n.unsqueeze(-2)
    eye = torch.eye(3, dtype=n.dtype, device=n.device)
    m = c * eye + s * k + (1.0 - c) * outer
    return torch.where(ok.unsqueeze(-1), m, eye.expand_as(m))


def _apply(m: torch.Tensor, v: torch.Tensor, center: torch.Tensor) -> torch.Tensor:
    d = v - center
    dt = torch.promote_types(m.dtype, d.dtype)
    return torch.matmul(m.to(dt), d.to(dt).unsqueeze(-1)).squeeze(-1) + center


@node("ShaderNodeVectorRotate", outputs=("Vector",), props=("rotation_type", "invert"), label="Vector Rotate",
      modes={"rotation_type": VECTOR_ROTATE_TYPES, "invert": (False, True)}, grad="yes")
def vector_rotate(rotation_type: str = "AXIS_ANGLE", invert: bool = False, vector=(0.0, 0.0, 0.0),
                  center=(0.0, 0.0, 0.0), axis=(0.0, 0.0, 1.0), angle=0.0, rotation=(0.0, 0.0, 0.0)):
    """Vector Rotate: ``vector`` rotated about ``center`` by ``angle`` around ``axis`` (AXIS_ANGLE,
    the axis normalized, a zero axis does nothing), around X / Y / Z, or by the XYZ Euler
    ``rotation`` (EULER_XYZ). ``invert`` negates the angle (EULER_XYZ: the inverse rotation).
    Vectors ``(…, 3)``, angle ``(…)``; fields give a field."""
    sign = -1.0 if invert else 1.0
    if rotation_type == "EULER_XYZ":
        def euler(v, c, r):
            m = euler_to_matrix(r)
            return _apply(m.transpose(-1, -2) if invert else m, v, c)

        return elementwise(euler, [vector, center, rotation], ["VECTOR"] * 3, "VECTOR")
    if rotation_type == "AXIS_ANGLE":
        return elementwise(lambda v, c, ax, a: _apply(axis_angle_matrix(ax, sign * a), v, c),
                           [vector, center, axis, angle], ["VECTOR", "VECTOR", "VECTOR", "VALUE"], "VECTOR")
    fixed = _AXES[rotation_type]
    return elementwise(lambda v, c, a: _apply(axis_angle_matrix(torch.tensor(fixed, dtype=v.dtype, device=v.device)
                                                                .expand(*a.shape, 3), sign * a), v, c),
                       [vector, center, angle], ["VECTOR", "VECTOR", "VALUE"], "VECTOR")
