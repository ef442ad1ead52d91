"""Implicit conversions between socket types (Blender's blenkernel ``type_conversions``)
and each type's default value."""

from __future__ import annotations

import math
from typing import Any

import torch

from ..geometry import GeometrySet
from .rotations import IDENTITY, as_rotation, euler_to_quaternion, matrix_to_rotation, quaternion_to_euler, quaternion_to_matrix4
from .values import Field, as_vector, current

__all__ = ["convert", "convert_tensor", "default_value", "empty_geometry"]


def _vec_mean(t: torch.Tensor) -> torch.Tensor:
    return t.sum(-1) / t.shape[-1]


def _rotation_tensor(t: torch.Tensor, src: str, dst: str) -> torch.Tensor:
    """Blender's conversions to and from ROTATION (quaternions ``(…, 4)``): a vector is XYZ Euler
    angles (a float ``a`` the angles ``(a, a, a)``), a rotation becomes a vector as its Euler angles
    and a matrix as its rotation matrix; a matrix becomes the rotation of its normalized axes."""
    if dst == "ROTATION":
        if src == "VECTOR":
            return euler_to_quaternion(t)
        if src == "VALUE":
            return euler_to_quaternion(t.unsqueeze(-1).expand(*t.shape, 3))
        if src == "MATRIX":
            return matrix_to_rotation(t)
    elif src == "ROTATION":
        if dst == "VECTOR":
            return quaternion_to_euler(t)
        if dst == "MATRIX":
            return quaternion_to_matrix4(t)
    raise TypeError(f"no implicit conversion from {src} to {dst}")


def convert_tensor(t: torch.Tensor, src: str, dst: str) -> torch.Tensor:
    """Convert an evaluated tensor between socket types (field layout: trailing vector dim)."""
    if src == dst:
        return t
    if "ROTATION" in (src, dst):
        return _rotation_tensor(t, src, dst)
    dt = current().dtype
    if src == "VALUE":
        if dst == "INT":
            return torch.trunc(t).long()
        if dst == "BOOLEAN":
            return t > 0
        if dst == "VECTOR":
            return t.unsqueeze(-1).expand(*t.shape, 3)
        if dst == "RGBA":
            return torch.stack([t, t, t, torch.ones_like(t)], -1)
    if src == "INT":
        if dst == "BOOLEAN":
            return t > 0
        if dst == "VALUE":
            return t.to(dt)
        if dst == "VECTOR":
            return t.to(dt).unsqueeze(-1).expand(*t.shape, 3)
        if dst == "RGBA":
            f = t.to(dt)
            return torch.stack([f, f, f, torch.ones_like(f)], -1)
    if src == "BOOLEAN":
        if dst == "INT":
            return t.long()
        if dst == "VALUE":
            return t.to(dt)
        if dst == "VECTOR":
            return t.to(dt).unsqueeze(-1).expand(*t.shape, 3)
        if dst == "RGBA":
            f = t.to(dt)
            return torch.stack([f, f, f, torch.ones_like(f)], -1)
    if src == "VECTOR":
        if dst == "VALUE":
            return _vec_mean(t)
        if dst == "INT":
            return torch.trunc(_vec_mean(t)).long()
        if dst == "BOOLEAN":
            return (t != 0).any(-1)
        if dst == "RGBA":
            return torch.cat([t, torch.ones_like(t[..., :1])], -1)
    if src == "RGBA":
        lum = t[..., 0] * 0.2126 + t[..., 1] * 0.7152 + t[..., 2] * 0.0722
        if dst == "VALUE":
            return lum
        if dst == "INT":
            return torch.trunc(lum).long()
        if dst == "BOOLEAN":
            return lum > 0
        if dst == "VECTOR":
            return t[..., :3]
    raise TypeError(f"no implicit conversion from {src} to {dst}")


def convert(value: Any, src: str, dst: str) -> Any:
    """Convert a runtime value along a link from a ``src`` socket to a ``dst`` socket."""
    if src == dst or value is None:
        return value
    if isinstance(value, Field):
        return Field(lambda fctx, f=value: convert_tensor(f.fn(fctx), src, dst), dst)
    if isinstance(value, torch.Tensor):
        return convert_tensor(value, src, dst)
    if "ROTATION" in (src, dst):
        if src == "ROTATION":
            return _rotation_tensor(as_rotation(value), src, dst)
        if src == "VALUE":
            return _rotation_tensor(as_vector((float(value),) * 3), "VECTOR", dst)
        return _rotation_tensor(as_vector(value, len(value)), src, dst)
    # Python scalars / tuples (constants and discrete values)
    if src == "VALUE":
        v = float(value)
        if dst == "INT":
            return math.trunc(v) if math.isfinite(v) else 0
        if dst == "BOOLEAN":
            return v > 0.0
        if dst == "VECTOR":
            return (v, v, v)
        if dst == "RGBA":
            return (v, v, v, 1.0)
    if src in ("INT", "BOOLEAN"):
        v = int(value)
        if dst == "INT":
            return v
        if dst == "BOOLEAN":
            return v > 0
        if dst == "VALUE":
            return float(v)
        if dst == "VECTOR":
            return (float(v),) * 3
        if dst == "RGBA":
            return (float(v),) * 3 + (1.0,)
    if src in ("VECTOR", "RGBA"):
        return convert_tensor(as_vector(value, len(value)), src, dst)
    raise TypeError(f"no implicit conversion from {src} to {dst}")


def default_value(type: str) -> Any:
    """Blender's default for an output of ``type`` (muted nodes, unmatched switch indices)."""
    return {
        "VALUE": 0.0,
        "INT": 0,
        "BOOLEAN": False,
        "VECTOR": (0.0, 0.0, 0.0),
        "ROTATION": IDENTITY,
        "RGBA": (0.0, 0.0, 0.0, 0.0),
        "STRING": "",
        "MENU": "",
        "GEOMETRY": GeometrySet(),
        "MATRIX": None,
        "MATERIAL": None,
    }.get(type)


def empty_geometry() -> GeometrySet:
    return GeometrySet()
