"""Rotation values: Blender's quaternion rotations and the conversions between them, Euler angles
and matrices, as batched tensor kernels.

The runtime's ROTATION value is what Blender stores in a rotation socket (``math::Quaternion``): a
quaternion ``(w, x, y, z)``, a 4-tuple or a tensor ``(4,)`` / ``(B, 4)`` (fields ``(b, N, 4)``).
Blender keeps a rotation socket's own value (its default, a group input's default, the Rotation
node) as XYZ Euler angles and converts it with ``to_quaternion(EulerXYZ)``; :func:`as_rotation`
does the same for a 3-component value. Blender's conventions are kept exactly:

* :func:`euler_to_quaternion` is ``to_quaternion(EulerXYZ)`` / ``eul_to_quat``,
* :func:`quaternion_to_matrix` is ``from_rotation<float3x3>(Quaternion)`` (not normalized first),
* :func:`matrix_to_euler` is ``to_euler(float3x3)`` (of the two Euler triples of a rotation, the
  one with the smaller sum of absolute angles; near gimbal lock, ``cos(y) <= 16 eps``, z is 0),
* :func:`quaternion_to_euler` is ``to_euler(Quaternion)`` (through the matrix),
* :func:`matrix_to_rotation` is ``normalized_to_quaternion_safe(normalize(float3x3(m)))``: the
  axes normalized, then Euler, then quaternion (a MATRIX -> ROTATION link, Separate Transform),
* :func:`matrix_to_quaternion` is ``normalized_to_quat_fast`` (``w >= 0``),
* :func:`quaternion_multiply`, :func:`quaternion_invert` (``conjugate / |q|^2``, identity for
  zero), :func:`quaternion_normalize` (identity for zero) and :func:`quaternion_rotate`
  (``transform_point(q, v)``) are Blender's quaternion operations.
"""

from __future__ import annotations

from typing import Any

import torch

from .values import current

__all__ = [
    "IDENTITY",
    "as_rotation",
    "euler_to_quaternion",
    "matrix_to_euler",
    "matrix_to_quaternion",
    "matrix_to_quaternion_checked",
    "matrix_to_rotation",
    "normalize_axes",
    "quaternion_invert",
    "quaternion_multiply",
    "quaternion_normalize",
    "quaternion_rotate",
    "quaternion_to_euler",
    "quaternion_to_matrix",
    "quaternion_to_matrix4",
    "rotation_constant",
]

IDENTITY = (1.0, 0.0, 0.0, 0.0)
_EULER_EPS = 16.0 * 1.1920928955078125e-07


def euler_to_quaternion(euler: torch.Tensor) -> torch.Tensor:
    """XYZ Euler angles ``(…, 3)`` -> unit quaternions ``(…, 4)`` as ``(w, x, y, z)`` (``eul_to_quat``)."""
    half = euler * 0.5
    ci, cj, ch = torch.cos(half[..., 0]), torch.cos(half[..., 1]), torch.cos(half[..., 2])
    si, sj, sh = torch.sin(half[..., 0]), torch.sin(half[..., 1]), torch.sin(half[..., 2])
    cc, cs, sc, ss = ci * ch, ci * sh, si * ch, si * sh
    return torch.stack([cj * cc + sj * ss, cj * sc - sj * cs, cj * ss + sj * cc, cj * cs - sj * sc], -1)


def quaternion_to_matrix(q: torch.Tensor) -> torch.Tensor:
    """Quaternions ``(…, 4)`` ``(w, x, y, z)`` -> matrices ``(…, 3, 3)`` (``from_rotation``; a rotation
    for unit quaternions, used as is for others, as Blender does)."""
    w, x, y, z = q.unbind(-1)
    rows = [
        torch.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        torch.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        torch.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
    ]
    return torch.stack(rows, -2)


def quaternion_to_matrix4(q: torch.Tensor) -> torch.Tensor:
    """Quaternions ``(…, 4)`` -> 4x4 transforms ``(…, 4, 4)`` (``from_rotation<float4x4>``)."""
    m3 = quaternion_to_matrix(q)
    zero = torch.zeros_like(m3[..., :1, :])
    top = torch.cat([m3, zero.transpose(-1, -2)], -1)
    bottom = torch.cat([zero, torch.ones_like(zero[..., :1])], -1)
    return torch.cat([top, bottom], -2)


def _atan2(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``atan2`` with a zero (not NaN) gradient at ``(0, 0)``."""
    zero = (x == 0) & (y == 0)
    return torch.where(zero, torch.zeros_like(x), torch.atan2(y, torch.where(zero, torch.ones_like(x), x)))


def matrix_to_euler(m: torch.Tensor) -> torch.Tensor:
    """Rotation matrices ``(…, 3, 3)`` (orthonormal) -> XYZ Euler ``(…, 3)`` (``to_euler``).

    Of the two Euler triples that give the rotation, Blender returns the one whose absolute angles
    sum to less (the first on a tie); near gimbal lock (``cos(y) <= 16 eps``) z is 0."""
    sq = m[..., 0, 0] ** 2 + m[..., 1, 0] ** 2
    pos = sq > 0
    cy = torch.where(pos, torch.sqrt(torch.where(pos, sq, torch.ones_like(sq))), torch.zeros_like(sq))
    safe = cy > _EULER_EPS
    e1 = torch.stack([_atan2(m[..., 2, 1], m[..., 2, 2]), _atan2(-m[..., 2, 0], cy),
                      _atan2(m[..., 1, 0], m[..., 0, 0])], -1)
    e2 = torch.stack([_atan2(-m[..., 2, 1], -m[..., 2, 2]), _atan2(-m[..., 2, 0], -cy),
                      _atan2(-m[..., 1, 0], -m[..., 0, 0])], -1)
    locked = torch.stack([_atan2(-m[..., 1, 2], m[..., 1, 1]), _atan2(-m[..., 2, 0], cy),
                          torch.zeros_like(cy)], -1)
    pick2 = e1.abs().sum(-1) > e2.abs().sum(-1)
    out = torch.where(pick2.unsqueeze(-1), e2, e1)
    return torch.where(safe.unsqueeze(-1), out, locked)


def quaternion_to_euler(q: torch.Tensor) -> torch.Tensor:
    """Quaternions ``(…, 4)`` -> XYZ Euler ``(…, 3)`` (``to_euler(Quaternion)``, through the matrix)."""
    return matrix_to_euler(quaternion_to_matrix(q))


def normalize_axes(m: torch.Tensor) -> torch.Tensor:
    """``(…, 3, 3)`` with each column (axis) normalized; a column with ``|c|^2 <= 1e-35`` becomes zero
    (``math::normalize(float3x3)``)."""
    sq = (m * m).sum(-2, keepdim=True)
    ok = sq > 1.0e-35
    return torch.where(ok, m * torch.rsqrt(torch.where(ok, sq, torch.ones_like(sq))), torch.zeros_like(m))


def matrix_to_rotation(m: torch.Tensor) -> torch.Tensor:
    """Transforms ``(…, 4, 4)`` (or ``(…, 3, 3)``) -> quaternions ``(…, 4)`` as Blender converts a
    matrix to a rotation: the 3x3 part's axes normalized, read as Euler angles, made a quaternion
    (so shear and mirroring are dropped the way ``to_euler`` drops them)."""
    return euler_to_quaternion(matrix_to_euler(normalize_axes(m[..., :3, :3])))


def _quaternion_branch(trace: torch.Tensor, lead: int, sign: torch.Tensor, others: list[torch.Tensor]) -> torch.Tensor:
    s = 2.0 * torch.sqrt(trace.clamp(min=1e-30))
    s = torch.where(sign < 0, -s, s)
    comps = [o / s for o in others]
    comps.insert(lead, 0.25 * s)
    return torch.stack(comps, -1)


def matrix_to_quaternion(m: torch.Tensor) -> torch.Tensor:
    """Rotation matrices ``(…, 3, 3)`` -> quaternions ``(…, 4)`` ``(w, x, y, z)`` with ``w >= 0``
    (``normalized_to_quat_fast``: the branch of the largest diagonal combination, renormalized as Blender
    does only when its squared length is off by 6e-4 or more)."""
    m00, m01, m02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    m10, m11, m12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    m20, m21, m22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    one = torch.ones_like(m00)
    qx = _quaternion_branch(one + m00 - m11 - m22, 1, m21 - m12, [m21 - m12, m10 + m01, m02 + m20])
    qy = _quaternion_branch(one - m00 + m11 - m22, 2, m02 - m20, [m02 - m20, m10 + m01, m21 + m12])
    qz = _quaternion_branch(one - m00 - m11 + m22, 3, m10 - m01, [m10 - m01, m02 + m20, m21 + m12])
    qw = _quaternion_branch(one + m00 + m11 + m22, 0, one, [m21 - m12, m02 - m20, m10 - m01])
    q = torch.where((m22 < 0).unsqueeze(-1),
                    torch.where((m00 > m11).unsqueeze(-1), qx, qy),
                    torch.where((m00 < -m11).unsqueeze(-1), qz, qw))
    # Blender renormalizes only when the length is off by 2e-4 * 3 in its square (a sheared matrix)
    sq = (q * q).sum(-1, keepdim=True)
    return torch.where((sq - 1.0).abs() >= 0.0006, q * torch.rsqrt(sq), q)


def matrix_to_quaternion_checked(m: torch.Tensor) -> torch.Tensor:
    """``to_quaternion(float3x3)`` (``normalized_to_quat_with_checks``): the identity where the determinant is
    not finite, the quaternion of ``-m`` where it is negative (a mirroring), else of ``m``."""
    det = torch.linalg.det(m)
    neg = (det < 0)[..., None, None]
    q = matrix_to_quaternion(torch.where(neg, -m, m))
    bad = ~torch.isfinite(det).unsqueeze(-1)
    return torch.where(bad, torch.tensor(IDENTITY, dtype=q.dtype, device=q.device).expand_as(q), q)


def quaternion_multiply(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Hamilton products ``a * b`` of quaternions ``(…, 4)`` (rotation ``b`` first, then ``a``)."""
    aw, ax, ay, az = a.unbind(-1)
    bw, bx, by, bz = b.unbind(-1)
    return torch.stack([aw * bw - ax * bx - ay * by - az * bz,
                        aw * bx + ax * bw + ay * bz - az * by,
                        aw * by + ay * bw + az * bx - ax * bz,
                        aw * bz + az * bw + ax * by - ay * bx], -1)


def _identity_like(q: torch.Tensor) -> torch.Tensor:
    return torch.tensor(IDENTITY, dtype=q.dtype, device=q.device).expand_as(q)


def quaternion_invert(q: torch.Tensor) -> torch.Tensor:
    """``math::invert``: ``conjugate(q) / |q|^2``, the identity where ``q`` is zero."""
    sq = (q * q).sum(-1, keepdim=True)
    ok = sq != 0
    conj = q * torch.tensor([1.0, -1.0, -1.0, -1.0], dtype=q.dtype, device=q.device)
    return torch.where(ok, conj / torch.where(ok, sq, torch.ones_like(sq)), _identity_like(q))


def quaternion_normalize(q: torch.Tensor) -> torch.Tensor:
    """``math::normalize``: ``q / |q|``, the identity where ``q`` is zero."""
    sq = (q * q).sum(-1, keepdim=True)
    ok = sq != 0
    return torch.where(ok, q * torch.rsqrt(torch.where(ok, sq, torch.ones_like(sq))), _identity_like(q))


def quaternion_rotate(q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``transform_point(q, v)``: ``q v q*`` for quaternions ``(…, 4)`` and vectors ``(…, 3)`` (not
    divided by ``|q|^2``: a non-unit quaternion also scales, as in Blender)."""
    w, x, y, z = q.unbind(-1)
    vx, vy, vz = v.unbind(-1)
    sw = -x * vx - y * vy - z * vz
    sx = w * vx + y * vz - z * vy
    sy = w * vy + z * vx - x * vz
    sz = w * vz + x * vy - y * vx
    return torch.stack([-sw * x + sx * w - sy * z + sz * y,
                        -sw * y + sy * w - sz * x + sx * z,
                        -sw * z + sz * w - sx * y + sy * x], -1)


def as_rotation(x: Any) -> torch.Tensor:
    """A ROTATION value as a quaternion tensor ``(…, 4)``. Quaternions (4 components) are taken as
    they are; 3 components are XYZ Euler angles, converted as Blender converts a rotation socket's
    own value (``to_quaternion(EulerXYZ)``)."""
    if not isinstance(x, torch.Tensor):
        c = current()
        x = torch.tensor([float(v) for v in x], dtype=c.dtype, device=c.device)
    elif not x.dtype.is_floating_point:
        x = x.to(current().dtype)
    if x.shape[-1] == 3:
        return euler_to_quaternion(x)
    if x.shape[-1] != 4:
        raise TypeError(f"a rotation has 3 (Euler) or 4 (quaternion) components, not {x.shape[-1]}")
    return x


def rotation_constant(euler: Any) -> tuple[float, float, float, float] | None:
    """A rotation socket's stored Euler value (3 floats) as the quaternion 4-tuple Blender uses,
    computed in float32 as Blender does; a 4-tuple is kept; anything else gives None."""
    if isinstance(euler, (list, tuple)) and len(euler) == 4 and all(isinstance(v, (int, float)) for v in euler):
        return tuple(float(v) for v in euler)
    if not (isinstance(euler, (list, tuple)) and len(euler) == 3 and all(isinstance(v, (int, float)) for v in euler)):
        return None
    q = euler_to_quaternion(torch.tensor([float(v) for v in euler], dtype=torch.float32))
    return tuple(float(v) for v in q.tolist())
