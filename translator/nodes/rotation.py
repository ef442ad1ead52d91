"""Rotation nodes: the rotation socket's nodes (Euler / Axis Angle / Quaternion to and from
Rotation, Rotate Rotation, Rotate Vector, Invert Rotation, Align Rotation to Vector, the Rotation
input), the Euler-vector nodes (Align Euler to Vector, Rotate Euler) and Vector Rotate.

Semantics follow Blender 5.0 (``node_fn_*rotation*.cc``, ``node_fn_align_euler_to_vector.cc``,
``node_fn_rotate_euler.cc``, ``node_shader_vector_rotate.cc``, ``BLI_math_quaternion.hh``), checked
against Blender in ``tests/translator/nodes/test_rotation.py``. Rotations are quaternions
``(w, x, y, z)`` ``(…, 4)`` (:mod:`translator.runtime.rotations`), vectors ``(…, 3)``, angles and
factors ``(…)``: single values ``()``-batched, batched ``(B, …)``, fields ``(b, N, …)`` (any field
input gives a field). Blender's quaternion sign is kept (Rotation to Quaternion shows it).
"""

from __future__ import annotations

import math as _m

import torch

from .. import runtime as rt
from ..runtime.rotations import (
    IDENTITY,
    euler_to_quaternion,
    matrix_to_euler,
    matrix_to_quaternion,
    normalize_axes,
    quaternion_invert,
    quaternion_multiply,
    quaternion_normalize,
    quaternion_rotate,
    quaternion_to_euler,
)
from . import node
from .math import elementwise, normalize
from .transform import euler_to_matrix

__all__ = [
    "ALIGN_AXES",
    "PIVOT_AXES",
    "ROTATE_EULER_SPACES",
    "ROTATE_EULER_TYPES",
    "ROTATION_SPACES",
    "VECTOR_ROTATE_TYPES",
    "align_euler_to_vector",
    "align_rotation_to_vector",
    "axes_to_rotation",
    "axis_angle_matrix",
    "axis_angle_to_rotation",
    "euler_to_rotation",
    "invert_rotation",
    "quaternion_to_rotation",
    "rotate_euler",
    "rotate_rotation",
    "rotate_vector",
    "rotation_input",
    "rotation_to_axis_angle",
    "rotation_to_euler",
    "rotation_to_quaternion",
    "vector_rotate",
]

ALIGN_AXES = ("X", "Y", "Z")
PIVOT_AXES = ("AUTO", "X", "Y", "Z")
ROTATION_SPACES = ("GLOBAL", "LOCAL")
ROTATE_EULER_TYPES = ("EULER", "AXIS_ANGLE")
ROTATE_EULER_SPACES = ("OBJECT", "LOCAL")

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


# ---------------------------------------------------------------------------
# The rotation socket's nodes


@node("FunctionNodeEulerToRotation", outputs=("Rotation",), label="Euler to Rotation", grad="yes")
def euler_to_rotation(euler=(0.0, 0.0, 0.0)):
    """Euler to Rotation: XYZ Euler angles ``(…, 3)`` -> quaternion ``(…, 4)`` (``eul_to_quat``)."""
    return elementwise(euler_to_quaternion, [euler], ["VECTOR"], "ROTATION")


@node("FunctionNodeRotationToEuler", outputs=("Euler",), label="Rotation to Euler", grad="yes",
      notes="Blender's Euler triple (smaller absolute sum; z = 0 at gimbal lock, where the gradient is that "
            "of the locked formula and jumps)")
def rotation_to_euler(rotation=IDENTITY):
    """Rotation to Euler: quaternion -> XYZ Euler ``(…, 3)`` through the rotation matrix (``to_euler``)."""
    return elementwise(quaternion_to_euler, [rotation], ["ROTATION"], "VECTOR")


def _axis_angle_quaternion(axis: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """``to_quaternion(AxisAngle(axis, angle))`` for an axis taken as it is: ``(cos a/2, axis sin a/2)``."""
    half = angle * 0.5
    return torch.cat([torch.cos(half).unsqueeze(-1), axis * torch.sin(half).unsqueeze(-1)], -1)


def _axis_angle_rotation(axis: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    zero = (axis == 0).all(-1, keepdim=True)
    axis, angle = torch.broadcast_tensors(axis, angle.unsqueeze(-1))
    q = _axis_angle_quaternion(normalize(axis), angle[..., 0])
    return torch.where(zero, torch.tensor(IDENTITY, dtype=q.dtype, device=q.device).expand_as(q), q)


@node("FunctionNodeAxisAngleToRotation", outputs=("Rotation",), label="Axis Angle to Rotation", grad="yes",
      notes="a zero axis gives the identity")
def axis_angle_to_rotation(axis=(0.0, 0.0, 1.0), angle=0.0):
    """Axis Angle to Rotation: ``(cos(a/2), n sin(a/2))`` with ``n`` the normalized axis; the identity for
    an axis that is exactly zero (a tiny axis normalizes to zero, as in Blender)."""
    return elementwise(_axis_angle_rotation, [axis, angle], ["VECTOR", "VALUE"], "ROTATION")


def _to_axis_angle(q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    axis = q[..., 1:]
    sq = (axis * axis).sum(-1)
    pos = sq > 0
    sin_half = torch.where(pos, torch.sqrt(torch.where(pos, sq, torch.ones_like(sq))), torch.zeros_like(sq))
    small = sin_half < 0.0005
    angle = 2.0 * torch.atan2(torch.where(small, torch.zeros_like(sin_half), sin_half), q[..., 0].abs().where(small, q[..., 0]))
    axis = axis / torch.where(small, torch.ones_like(sin_half), sin_half).unsqueeze(-1)
    zero = torch.zeros_like(sin_half)
    stand_in = torch.stack([zero, torch.where(q[..., 0] < 0, -torch.ones_like(zero), torch.ones_like(zero)), zero], -1)
    return torch.where(small.unsqueeze(-1), stand_in, axis), angle


@node("FunctionNodeRotationToAxisAngle", outputs=("Axis", "Angle"), label="Rotation to Axis Angle", grad="yes",
      notes="as Blender, below sin(angle/2) = 0.0005 the axis is (0, ±1, 0) (the sign of w) and the angle 0: "
            "no gradient there")
def rotation_to_axis_angle(rotation=IDENTITY):
    """Rotation to Axis Angle: axis ``(x, y, z) / sin(a/2)``, angle ``2 atan2(sin(a/2), w)`` in ``[0, 2 pi]``
    (Blender's sign: a negative ``w`` gives the angle beyond pi); below ``sin(a/2) = 0.0005`` Blender's
    stand-in, measured in Blender 5.0.1: axis ``(0, 1, 0)`` (``(0, -1, 0)`` for a negative ``w``), angle 0."""
    if rt.is_field(rotation):
        return tuple(rt.field_map(lambda q, i=i: _to_axis_angle(rt.as_rotation(q))[i], [rotation], ["ROTATION"], t)
                     for i, t in enumerate(("VECTOR", "VALUE")))
    return _to_axis_angle(rt.as_rotation(rotation))


@node("FunctionNodeQuaternionToRotation", outputs=("Rotation",), label="Quaternion to Rotation", grad="yes",
      notes="normalized; a zero quaternion gives the identity")
def quaternion_to_rotation(w=1.0, x=0.0, y=0.0, z=0.0):
    """Quaternion to Rotation: ``(w, x, y, z)`` normalized (the identity where all are zero)."""
    def kernel(w, x, y, z):
        return quaternion_normalize(torch.stack(torch.broadcast_tensors(w, x, y, z), -1))

    return elementwise(kernel, [w, x, y, z], ["VALUE"] * 4, "ROTATION")


@node("FunctionNodeRotationToQuaternion", outputs=("W", "X", "Y", "Z"), label="Rotation to Quaternion", grad="yes")
def rotation_to_quaternion(rotation=IDENTITY):
    """Rotation to Quaternion: the stored quaternion's ``w, x, y, z`` ``(…)`` (Blender's sign)."""
    if rt.is_field(rotation):
        return tuple(rt.field_map(lambda q, i=i: rt.as_rotation(q)[..., i], [rotation], ["ROTATION"], "VALUE")
                     for i in range(4))
    q = rt.as_rotation(rotation)
    return tuple(q[..., i] for i in range(4))


@node("FunctionNodeRotateRotation", outputs=("Rotation",), props=("rotation_space",), label="Rotate Rotation",
      modes={"rotation_space": ROTATION_SPACES}, grad="yes")
def rotate_rotation(rotation_space: str = "GLOBAL", rotation=IDENTITY, rotate_by=IDENTITY):
    """Rotate Rotation: GLOBAL ``rotate_by * rotation``, LOCAL ``rotation * rotate_by`` (quaternion products)."""
    if rotation_space == "LOCAL":
        return elementwise(quaternion_multiply, [rotation, rotate_by], ["ROTATION"] * 2, "ROTATION")
    return elementwise(lambda a, b: quaternion_multiply(b, a), [rotation, rotate_by], ["ROTATION"] * 2, "ROTATION")


@node("FunctionNodeRotateVector", outputs=("Vector",), label="Rotate Vector", grad="yes", notes="q v q*")
def rotate_vector(vector=(0.0, 0.0, 0.0), rotation=IDENTITY):
    """Rotate Vector: ``q v q*`` (``transform_point(rotation, vector)``)."""
    return elementwise(lambda v, q: quaternion_rotate(q, v), [vector, rotation], ["VECTOR", "ROTATION"], "VECTOR")


@node("FunctionNodeInvertRotation", outputs=("Rotation",), label="Invert Rotation", grad="yes",
      notes="conjugate / |q|^2; a zero quaternion gives the identity")
def invert_rotation(rotation=IDENTITY):
    """Invert Rotation: ``conjugate(q) / |q|^2`` (``math::invert``)."""
    return elementwise(quaternion_invert, [rotation], ["ROTATION"], "ROTATION")


def _check_rotation_input(n) -> str | None:
    e = n.properties.get("rotation_euler")
    if not (isinstance(e, (list, tuple)) and len(e) == 3
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and _m.isfinite(v) for v in e)):
        return "Rotation node's value must be three finite Euler angles"
    return None


@node("FunctionNodeInputRotation", outputs=("Rotation",), props=("rotation_euler",), label="Rotation",
      check=_check_rotation_input)
def rotation_input(rotation_euler=(0.0, 0.0, 0.0)):
    """Rotation input node: its stored XYZ Euler angles as the quaternion Blender uses (float32, as Blender)."""
    q = rt.rotation_constant(tuple(rotation_euler))
    if q is None:
        raise ValueError("Rotation node's value must be three Euler angles")
    return q


# ---------------------------------------------------------------------------
# Aligning to a vector (shared by the rotation and the Euler node)


def _safe_norm(v: torch.Tensor) -> torch.Tensor:
    sq = (v * v).sum(-1)
    pos = sq > 0
    return torch.where(pos, torch.sqrt(torch.where(pos, sq, torch.ones_like(sq))), torch.zeros_like(sq))


def _asin_clamped(a: torch.Tensor) -> torch.Tensor:
    inside = a < 1
    return torch.where(inside, torch.asin(torch.where(inside, a, torch.zeros_like(a))), torch.full_like(a, _m.pi / 2))


def _angle_normalized(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``angle_normalized_v3v3``: ``2 asin(|a - b| / 2)``, or ``pi - 2 asin(|a + b| / 2)`` when ``a . b < 0``."""
    same = (a * b).sum(-1) >= 0
    d = torch.where(same.unsqueeze(-1), a - b, a + b)
    ang = 2.0 * _asin_clamped(_safe_norm(d) / 2.0)
    return torch.where(same, ang, _m.pi - ang)


def _cross(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    a, b = torch.broadcast_tensors(a, b)
    return torch.linalg.cross(a, b, dim=-1)


def _auto_pivot(old_axis: torch.Tensor, vector: torch.Tensor, factor: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The rotation axis (not normalized) and angle that turn ``old_axis`` (unit) toward ``vector``:
    their cross product (when it is zero, ``old_axis x X``, then ``old_axis x Y``) and ``factor`` times
    the angle between them."""
    new_axis = normalize(vector)
    axis = _cross(old_axis, new_axis)
    ex = torch.tensor([1.0, 0.0, 0.0], dtype=axis.dtype, device=axis.device)
    ey = torch.tensor([0.0, 1.0, 0.0], dtype=axis.dtype, device=axis.device)
    fallback = _cross(old_axis, ex)
    fallback = torch.where((fallback == 0).all(-1, keepdim=True), _cross(old_axis, ey), fallback)
    axis = torch.where((axis == 0).all(-1, keepdim=True), fallback, axis)
    return axis, factor * _angle_normalized(old_axis, new_axis)


def _angle_between(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``angle_v3v3``: both normalized (zero when tiny), then :func:`_angle_normalized`."""
    return _angle_normalized(normalize(a), normalize(b))


def _fixed_pivot(old_axis: torch.Tensor, pivot: torch.Tensor, vector: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """``factor`` times ``angle_signed_on_axis_v3v3_v3(vector, old_axis, pivot)`` (above pi: minus 2 pi)."""
    v1 = vector - pivot * (vector * pivot).sum(-1, keepdim=True)
    v2 = old_axis - pivot * (old_axis * pivot).sum(-1, keepdim=True)
    angle = _angle_between(v1, v2)
    angle = torch.where((_cross(v2, v1) * pivot).sum(-1) < 0, 2.0 * _m.pi - angle, angle)
    # Blender compares its float32 angle with the double pi: an angle that rounds to float32(pi) is above it
    angle = torch.where(angle.to(torch.float32).to(torch.float64) > _m.pi, angle - 2.0 * _m.pi, angle)
    return factor * angle


def _unit(i: int, like: torch.Tensor) -> torch.Tensor:
    e = torch.zeros(3, dtype=like.dtype, device=like.device)
    e[i] = 1.0
    return e


def _align_rotation(axis: str, pivot_axis: str, q: torch.Tensor, factor: torch.Tensor, vector: torch.Tensor) -> torch.Tensor:
    main = _unit(ALIGN_AXES.index(axis), q)
    keep = (vector == 0).all(-1, keepdim=True)
    old_axis = quaternion_rotate(q, main.expand(*q.shape[:-1], 3))
    if pivot_axis == "AUTO":
        rot_axis, angle = _auto_pivot(old_axis, vector, factor)
    else:
        if pivot_axis == axis:
            return q
        piv = quaternion_rotate(q, _unit(ALIGN_AXES.index(pivot_axis), q).expand(*q.shape[:-1], 3))
        rot_axis, angle = piv, _fixed_pivot(old_axis, piv, vector, factor)
    rot_axis, angle = torch.broadcast_tensors(rot_axis, angle.unsqueeze(-1))
    out = quaternion_multiply(_axis_angle_quaternion(normalize(rot_axis), angle[..., 0]), q)
    return torch.where(keep, q, out)


@node("FunctionNodeAlignRotationToVector", outputs=("Rotation",), props=("axis", "pivot_axis"),
      label="Align Rotation to Vector", modes={"axis": ALIGN_AXES, "pivot_axis": PIVOT_AXES}, grad="yes",
      notes="a zero vector or a pivot equal to the axis keeps the rotation; no gradient through the angle "
            "where the axis already points along the vector (the angle's kink)")
def align_rotation_to_vector(axis: str = "Z", pivot_axis: str = "AUTO", rotation=IDENTITY, factor=1.0,
                             vector=(0.0, 0.0, 1.0)):
    """Align Rotation to Vector: turn ``rotation`` so its local ``axis`` points along ``vector`` (by
    ``factor`` of the angle): AUTO about the axis perpendicular to both (falling back to ``axis x X``,
    then ``axis x Y`` when they are parallel), X / Y / Z about that local axis, by the signed angle
    within ``(-pi, pi]``. The new rotation is ``axis_angle * rotation``."""
    return elementwise(lambda q, f, v: _align_rotation(axis, pivot_axis, q, f, v), [rotation, factor, vector],
                       ["ROTATION", "VALUE", "VECTOR"], "ROTATION")


def _align_euler(axis: str, pivot_axis: str, e: torch.Tensor, factor: torch.Tensor, vector: torch.Tensor) -> torch.Tensor:
    m = euler_to_matrix(e)
    i = ALIGN_AXES.index(axis)
    keep = (vector == 0).all(-1, keepdim=True)
    old_axis = m[..., :, i]
    if pivot_axis == "AUTO":
        rot_axis, angle = _auto_pivot(old_axis, vector, factor)
    else:
        if pivot_axis == axis:
            return e
        piv = m[..., :, ALIGN_AXES.index(pivot_axis)]
        rot_axis, angle = piv, _fixed_pivot(old_axis, piv, vector, factor)
    new = torch.matmul(axis_angle_matrix(rot_axis, angle), m)
    e, out = torch.broadcast_tensors(e, matrix_to_euler(normalize_axes(new)))
    return torch.where(keep, e, out)


@node("FunctionNodeAlignEulerToVector", outputs=("Rotation",), props=("axis", "pivot_axis"),
      label="Align Euler to Vector", modes={"axis": ALIGN_AXES, "pivot_axis": PIVOT_AXES}, grad="yes",
      notes="Euler in and out (rotation matrices); as Align Rotation to Vector otherwise")
def align_euler_to_vector(axis: str = "X", pivot_axis: str = "AUTO", rotation=(0.0, 0.0, 0.0), factor=1.0,
                          vector=(0.0, 0.0, 1.0)):
    """Align Euler to Vector: as :func:`align_rotation_to_vector` on XYZ Euler angles ``(…, 3)`` through
    rotation matrices (``axis_angle_to_mat3 @ eul_to_mat3``, read back with ``mat3_to_eul``); a zero
    vector or a pivot equal to the axis returns the input angles unchanged."""
    return elementwise(lambda e, f, v: _align_euler(axis, pivot_axis, e, f, v), [rotation, factor, vector],
                       ["VECTOR", "VALUE", "VECTOR"], "VECTOR")


@node("FunctionNodeRotateEuler", outputs=("Rotation",), props=("rotation_type", "space"), label="Rotate Euler",
      modes={"rotation_type": ROTATE_EULER_TYPES, "space": ROTATE_EULER_SPACES}, grad="yes",
      notes="Euler in and out through rotation matrices; a zero axis does not rotate")
def rotate_euler(rotation_type: str = "EULER", space: str = "OBJECT", rotation=(0.0, 0.0, 0.0),
                 rotate_by=(0.0, 0.0, 0.0), axis=(0.0, 0.0, 1.0), angle=0.0):
    """Rotate Euler (deprecated in Blender): ``R(rotate_by) @ R(rotation)`` (OBJECT) or
    ``R(rotation) @ R(rotate_by)`` (LOCAL), ``R`` of EULER ``rotate_by`` or of AXIS_ANGLE ``axis`` /
    ``angle``, read back as XYZ Euler (``mat3_to_eul``)."""
    def kernel(e, by):
        a, b = euler_to_matrix(e), by
        m = torch.matmul(b, a) if space == "OBJECT" else torch.matmul(a, b)
        return matrix_to_euler(normalize_axes(m))

    if rotation_type == "AXIS_ANGLE":
        return elementwise(lambda e, ax, an: kernel(e, axis_angle_matrix(ax, an)), [rotation, axis, angle],
                           ["VECTOR", "VECTOR", "VALUE"], "VECTOR")
    return elementwise(lambda e, by: kernel(e, euler_to_matrix(by)), [rotation, rotate_by], ["VECTOR"] * 2, "VECTOR")


def _orthogonal(v: torch.Tensor) -> torch.Tensor:
    """``get_orthogonal_of_non_zero_vector``: ``(-y, x, 0)``, else ``(-z, 0, x)``, else ``(0, -z, y)``."""
    x, y, z = v.unbind(-1)
    zero = torch.zeros_like(x)
    a = torch.stack([-y, x, zero], -1)
    b = torch.stack([-z, zero, x], -1)
    c = torch.stack([zero, -z, y], -1)
    return torch.where((x != -y).unsqueeze(-1), a, torch.where((x != -z).unsqueeze(-1), b, c))


def _axes_to_rotation(primary_axis: str, secondary_axis: str, p: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    p, s = torch.broadcast_tensors(p, s)
    p = normalize(p)
    p_nz = (p != 0).any(-1, keepdim=True)
    s_nz = (s != 0).any(-1, keepdim=True)
    # both axes given
    t_both = _cross(p, s)
    t_both = normalize(torch.where((t_both == 0).all(-1, keepdim=True), _orthogonal(p), t_both))
    s_both = _cross(t_both, p)
    # only the primary
    s_prim = normalize(_orthogonal(p))
    t_prim = _cross(p, s_prim)
    # only the secondary
    s_sec = normalize(s)
    p_sec = normalize(_orthogonal(s_sec))
    t_sec = _cross(p_sec, s_sec)
    both = p_nz & s_nz
    p = torch.where(both | p_nz, p, p_sec)
    sec = torch.where(both, s_both, torch.where(p_nz, s_prim, s_sec))
    ter = torch.where(both, t_both, torch.where(p_nz, t_prim, t_sec))
    i, j = ALIGN_AXES.index(primary_axis), ALIGN_AXES.index(secondary_axis)
    k = 3 - i - j
    cols = [None, None, None]
    cols[i], cols[j], cols[k] = p, sec, (-ter if (j + 1) % 3 == i else ter)
    q = matrix_to_quaternion(torch.stack(cols, -1))
    none = ~(p_nz | s_nz)
    return torch.where(none, torch.tensor(IDENTITY, dtype=q.dtype, device=q.device).expand_as(q), q)


def _check_axes(n) -> str | None:
    p, s = n.properties.get("primary_axis"), n.properties.get("secondary_axis")
    for prop, v in (("primary axis", p), ("secondary axis", s)):
        if v not in ALIGN_AXES:
            return f"Axes to Rotation {prop} {v!r} is not supported"
    if p == s:
        return f"Axes to Rotation with equal primary and secondary axes ({p!r}) has no result in Blender"
    return None


@node("FunctionNodeAxesToRotation", outputs=("Rotation",), props=("primary_axis", "secondary_axis"),
      label="Axes to Rotation", check=_check_axes, modes={"primary_axis": ALIGN_AXES, "secondary_axis": ALIGN_AXES},
      renames={"Primary Axis": "primary", "Secondary Axis": "secondary"},
      grad="yes", notes="equal axes refused (Blender shows an error); zero axes fall back as Blender's")
def axes_to_rotation(primary_axis: str = "Z", secondary_axis: str = "X", primary=(0.0, 0.0, 1.0),
                     secondary=(1.0, 0.0, 0.0)):
    """Axes to Rotation: the rotation whose ``primary_axis`` points along the primary vector and whose
    ``secondary_axis`` lies as close as possible to the secondary one (Gram-Schmidt through cross
    products, Blender's orthogonal fallbacks for zero or parallel vectors; the identity when both are
    zero), as a quaternion (``to_quaternion`` of the matrix)."""
    return elementwise(lambda p, s: _axes_to_rotation(primary_axis, secondary_axis, p, s),
                       [primary, secondary], ["VECTOR", "VECTOR"], "ROTATION")
