"""Whole-geometry operations and transform matrices.

Nodes: Transform Geometry (Components and Matrix modes), Join Geometry,
Combine Transform and Separate Transform.

Also the rotation helpers the other families share. Rotations travel as XYZ
Euler angles ``(…, 3)`` (the runtime's ROTATION value); Blender's own
conventions are kept exactly:

* :func:`euler_to_matrix` is ``eul_to_mat3`` (``R = Rz @ Ry @ Rx``),
* :func:`euler_to_quaternion` is ``eul_to_quat`` (``(w, x, y, z)``),
* :func:`quaternion_to_matrix` is ``quat_to_mat3``,
* :func:`matrix_to_euler` is ``mat3_normalized_to_eul`` (of the two Euler
  triples of a rotation, the one with the smaller sum of absolute angles),
* :func:`matrix_to_quaternion` is ``mat3_normalized_to_quat_fast`` (``w >= 0``),
* :func:`loc_rot_scale` is ``from_loc_rot_scale`` (``T @ R @ S``).

Blender keeps the face winding when a transform has negative scale (it only
moves the vertices), and so does :func:`transform_geometry`.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from .. import runtime as rt
from ..geometry import GeometrySet, Instances, join_curves, transform_points
from . import node

__all__ = [
    "apply_matrix_to_geometry",
    "combine_transform",
    "euler_to_matrix",
    "euler_to_quaternion",
    "join_geometry",
    "join_instances",
    "loc_rot_scale",
    "matrix_to_euler",
    "matrix_to_quaternion",
    "quaternion_to_matrix",
    "separate_transform",
    "transform_geometry",
    "transform_points",
]


def _euler_entries(euler: torch.Tensor) -> list[torch.Tensor]:
    """The 9 entries (row-major) of Blender's ``eul_to_mat3`` for XYZ Euler angles ``(…, 3)``."""
    ci, cj, ch = torch.cos(euler[..., 0]), torch.cos(euler[..., 1]), torch.cos(euler[..., 2])
    si, sj, sh = torch.sin(euler[..., 0]), torch.sin(euler[..., 1]), torch.sin(euler[..., 2])
    cc, cs, sc, ss = ci * ch, ci * sh, si * ch, si * sh
    return [cj * ch, sj * sc - cs, sj * cc + ss,
            cj * sh, sj * ss + cc, sj * cs - sc,
            -sj, cj * si, cj * ci]


def euler_to_matrix(euler: torch.Tensor) -> torch.Tensor:
    """XYZ Euler angles ``(…, 3)`` -> rotation matrices ``(…, 3, 3)`` (Blender's ``eul_to_mat3``)."""
    return torch.stack(_euler_entries(euler), -1).reshape(*euler.shape[:-1], 3, 3)


def euler_to_quaternion(euler: torch.Tensor) -> torch.Tensor:
    """XYZ Euler angles ``(…, 3)`` -> unit quaternions ``(…, 4)`` as ``(w, x, y, z)`` (``eul_to_quat``)."""
    half = euler * 0.5
    ci, cj, ch = torch.cos(half[..., 0]), torch.cos(half[..., 1]), torch.cos(half[..., 2])
    si, sj, sh = torch.sin(half[..., 0]), torch.sin(half[..., 1]), torch.sin(half[..., 2])
    cc, cs, sc, ss = ci * ch, ci * sh, si * ch, si * sh
    return torch.stack([cj * cc + sj * ss, cj * sc - sj * cs, cj * ss + sj * cc, cj * cs - sj * sc], -1)


def quaternion_to_matrix(q: torch.Tensor) -> torch.Tensor:
    """Quaternions ``(…, 4)`` ``(w, x, y, z)`` -> matrices ``(…, 3, 3)`` (``quat_to_mat3``; exact for unit ones)."""
    w, x, y, z = q.unbind(-1)
    rows = [
        torch.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        torch.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        torch.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
    ]
    return torch.stack(rows, -2)


_EULER_EPS = 16.0 * 1.1920928955078125e-07


def matrix_to_euler(m: torch.Tensor) -> torch.Tensor:
    """Rotation matrices ``(…, 3, 3)`` (orthonormal) -> XYZ Euler ``(…, 3)`` (``mat3_normalized_to_eul``).

    Of the two Euler triples that give the rotation, Blender returns the one whose
    absolute angles sum to less; near gimbal lock (``cos(y) <= 16 eps``) z is 0.
    """
    cy = torch.sqrt(m[..., 0, 0] ** 2 + m[..., 1, 0] ** 2)
    safe = cy > _EULER_EPS
    e1 = torch.stack([torch.atan2(m[..., 2, 1], m[..., 2, 2]), torch.atan2(-m[..., 2, 0], cy),
                      torch.atan2(m[..., 1, 0], m[..., 0, 0])], -1)
    e2 = torch.stack([torch.atan2(-m[..., 2, 1], -m[..., 2, 2]), torch.atan2(-m[..., 2, 0], -cy),
                      torch.atan2(-m[..., 1, 0], -m[..., 0, 0])], -1)
    locked = torch.stack([torch.atan2(-m[..., 1, 2], m[..., 1, 1]), torch.atan2(-m[..., 2, 0], cy),
                          torch.zeros_like(cy)], -1)
    pick2 = e1.abs().sum(-1) > e2.abs().sum(-1)
    out = torch.where(pick2.unsqueeze(-1), e2, e1)
    return torch.where(safe.unsqueeze(-1), out, locked)


def _quaternion_branch(trace: torch.Tensor, lead: int, sign: torch.Tensor, others: list[torch.Tensor]) -> torch.Tensor:
    """One branch of ``mat3_normalized_to_quat_fast``: component ``lead`` is ``s / 4`` with
    ``s = ±2 sqrt(trace)`` (its sign makes ``w >= 0``), the others are ``others[k] / s`` in order."""
    s = 2.0 * torch.sqrt(trace.clamp(min=1e-30))
    s = torch.where(sign < 0, -s, s)
    comps = [o / s for o in others]
    comps.insert(lead, 0.25 * s)
    return torch.stack(comps, -1)


def matrix_to_quaternion(m: torch.Tensor) -> torch.Tensor:
    """Rotation matrices ``(…, 3, 3)`` -> unit quaternions ``(…, 4)`` ``(w, x, y, z)`` with ``w >= 0``
    (``mat3_normalized_to_quat_fast``: the branch of the largest diagonal combination)."""
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
    return q / torch.linalg.vector_norm(q, dim=-1, keepdim=True)


def loc_rot_scale(translation, rotation, scale) -> torch.Tensor:
    """``(…, 4, 4)`` matrices ``T @ R @ S`` from vectors ``(…, 3)`` (rotation: XYZ Euler).

    Built with one ``stack`` of the 16 entries; a constant zero rotation skips the trigonometry."""
    t, s = rt.as_vector(translation), rt.as_vector(scale)
    if isinstance(rotation, tuple) and not any(rotation):
        t, s = torch.broadcast_tensors(t, s)
        lin = [s[..., 0], None, None, None, s[..., 1], None, None, None, s[..., 2]]
    else:
        r = rt.as_vector(rotation)
        t, r, s = torch.broadcast_tensors(t, r, s)
        rot = _euler_entries(r)
        lin = [rot[3 * i + j] * s[..., j] for i in range(3) for j in range(3)]
    zero = torch.zeros_like(t[..., 0])
    one = torch.ones_like(zero)
    rows = []
    for i in range(3):
        rows += [zero if e is None else e for e in lin[3 * i: 3 * i + 3]] + [t[..., i]]
    rows += [zero, zero, zero, one]
    return torch.stack(rows, -1).reshape(*t.shape[:-1], 4, 4)


def apply_matrix_to_geometry(geo: GeometrySet, m: torch.Tensor) -> GeometrySet:
    """Transform every component of ``geo`` by ``m`` ``(4, 4)`` / ``(B, 4, 4)``: the mesh's
    vertices, the curves' points and handles, and the top-level instances (``m @ transform``; their references are untouched)."""
    mesh = geo.mesh
    if mesh is not None:
        mesh = mesh.transformed(m)
    inst = geo.instances
    if inst is not None and inst.count:
        mm = m if m.dim() == 3 else m.unsqueeze(0)
        inst = replace(inst, transforms=torch.matmul(mm.unsqueeze(1), inst.transforms))
    curves = geo.curves.transformed(m) if geo.curves is not None else None
    return GeometrySet(mesh=mesh, instances=inst, curves=curves)


def _check_transform(n) -> str | None:
    for s in n.inputs:
        if s.identifier == "Mode" and s.enabled and s.default not in (None, "Components", "Matrix"):
            return f"Transform Geometry mode {s.default!r} is not supported"
    return None


def _is_identity(translation, rotation, scale) -> bool:
    return (isinstance(translation, tuple) and isinstance(rotation, tuple) and isinstance(scale, tuple)
            and translation == (0.0, 0.0, 0.0) and rotation == (0.0, 0.0, 0.0) and scale == (1.0, 1.0, 1.0))


@node("GeometryNodeTransform", outputs=("Geometry",), pure=False, check=_check_transform,
      label="Transform Geometry", notes="Components and Matrix modes", grad="yes")
def transform_geometry(geometry=None, mode="Components", translation=(0.0, 0.0, 0.0), rotation=(0.0, 0.0, 0.0),
                       scale=(1.0, 1.0, 1.0), transform=None):
    """Transform Geometry. Components mode: ``T @ R @ S`` from ``translation``, ``rotation`` (Euler)
    and ``scale`` (``(3,)`` / ``(B, 3)``); Matrix mode: ``transform`` ``(4, 4)`` / ``(B, 4, 4)``
    (unlinked: identity). Faces keep their winding under negative scale, as in Blender."""
    if geometry is None:
        return GeometrySet()
    if mode == "Matrix":
        if transform is None:
            return geometry
        m = transform if isinstance(transform, torch.Tensor) else rt.identity_matrix()
    else:
        if _is_identity(translation, rotation, scale):
            return geometry
        m = loc_rot_scale(translation, rotation, scale)
    return apply_matrix_to_geometry(geometry, m)


@node("FunctionNodeCombineTransform", outputs=("Transform",),
      label="Combine Transform", grad="yes")
def combine_transform(translation=(0.0, 0.0, 0.0), rotation=(0.0, 0.0, 0.0), scale=(1.0, 1.0, 1.0)):
    """Combine Transform: ``(…, 4, 4)`` matrix ``T @ R @ S`` (fields give a field of matrices)."""
    return rt.field_map(loc_rot_scale, [translation, rotation, scale], ["VECTOR", "ROTATION", "VECTOR"], "MATRIX")


def _separate(m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    lin = m[..., :3, :3]
    scale = torch.linalg.vector_norm(lin, dim=-2)
    zero = scale == 0
    rot = lin / torch.where(zero, torch.ones_like(scale), scale).unsqueeze(-2)
    eye = torch.eye(3, dtype=m.dtype, device=m.device).expand_as(rot)
    rot = torch.where(zero.unsqueeze(-2), eye, rot)
    return m[..., :3, 3], matrix_to_euler(rot), scale


@node("FunctionNodeSeparateTransform", outputs=("Translation", "Rotation", "Scale"),
      label="Separate Transform", grad="yes")
def separate_transform(transform=None):
    """Separate Transform: ``(…, 4, 4)`` -> translation, rotation (Euler) and scale ``(…, 3)``.

    As in Blender, the scale is the (positive) length of each axis and the rotation the Euler
    angles read from the normalized axes, so a mirroring matrix does not round-trip: its
    reflection is dropped (``diag(-1, 1, 1)`` gives a half turn about z and scale 1)."""
    if transform is None:
        return (0.0, 0.0, 0.0), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    if isinstance(transform, rt.Field):
        return tuple(rt.field_map(lambda m, i=i: _separate(m)[i], [transform], ["MATRIX"], t)
                     for i, t in enumerate(("VECTOR", "ROTATION", "VECTOR")))
    return _separate(transform)


def join_instances(parts: list[Instances]) -> Instances | None:
    """Concatenate instance lists in order; attributes missing on a part get Blender's default
    (zeros), attributes of several types take the most complex one (as ``join_attributes``)."""
    from .attributes import join_instance_attributes

    parts = [p for p in parts if p is not None and p.count]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    refs: list[GeometrySet] = []
    index: list[int] = []
    for p in parts:
        remap = []
        for r in p.references:
            for k, existing in enumerate(refs):
                if existing is r:
                    remap.append(k)
                    break
            else:
                refs.append(r)
                remap.append(len(refs) - 1)
        index.extend(remap[i] for i in p.reference_index)
    b = max(p.transforms.shape[0] for p in parts)
    transforms = torch.cat([p.transforms.expand(b, -1, -1, -1) for p in parts], dim=1)
    attrs = join_instance_attributes(parts)
    return Instances(references=refs, reference_index=index, transforms=transforms, attributes=attrs)


@node("GeometryNodeJoinGeometry", outputs=("Geometry",), pure=False, multi_inputs=("geometry",),
      label="Join Geometry", grad="yes")
def join_geometry(geometry=()):
    """Join Geometry: meshes and instances concatenated in Blender's link order (the exporter
    lists a multi-input's links top to bottom). Meshes are joined as Blender does it, by
    realizing them as identity instances (attributes, materials and material indices merge)."""
    from .instances import join_meshes_like_blender

    geos = [g for g in geometry if g is not None]
    if len(geos) == 1:
        return geos[0]
    return GeometrySet(
        mesh=join_meshes_like_blender([g.mesh for g in geos]),
        instances=join_instances([g.instances for g in geos]),
        curves=join_curves([g.curves for g in geos]),
    )
