"""Whole-geometry operations and transform matrices.

Nodes: Transform Geometry (Components and Matrix modes), Join Geometry,
Combine Transform and Separate Transform.

Also the rotation helpers the other families share. Rotations travel as
quaternions ``(…, 4)`` (the runtime's ROTATION value, see
:mod:`translator.runtime.rotations`, whose conversions this module re-exports);
Blender's own conventions are kept exactly:

* :func:`euler_to_matrix` is ``eul_to_mat3`` (``R = Rz @ Ry @ Rx``),
* :func:`loc_rot_scale` is ``from_loc_rot_scale`` (``T @ R @ S``, R from the
  quaternion; a 3-component rotation is XYZ Euler).

Blender keeps the face winding when a transform has negative scale (it only
moves the vertices), and so does :func:`transform_geometry`.
"""

from __future__ import annotations

import functools
from dataclasses import replace

import torch

from .. import runtime as rt
from ..geometry import GeometrySet, Instances, join_curves, join_points, mark_translation, transform_points
from ..runtime.rotations import (
    IDENTITY,
    euler_to_quaternion,
    matrix_to_euler,
    matrix_to_quaternion,
    matrix_to_rotation,
    quaternion_to_matrix,
)
from . import node

__all__ = [
    "apply_matrix_to_geometry",
    "combine_transform",
    "euler_to_matrix",
    "euler_to_quaternion",
    "join_geometry",
    "join_instances",
    "loc_rot_scale",
    "loc_rot_scale_reference",
    "matrix_to_euler",
    "matrix_to_quaternion",
    "matrix_to_rotation",
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


def _is_identity_rotation(rotation) -> bool:
    return isinstance(rotation, tuple) and (rotation == rt.default_value("ROTATION") or
                                            (len(rotation) == 3 and not any(rotation)))


@functools.lru_cache(maxsize=256)
def _constant_rotation_matrix(key: tuple[str, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """The ``(3, 3)`` matrix of a constant rotation (its components as ``float.hex`` strings, so that
    ``-0.0`` and ``0.0`` stay apart), made once per rotation, dtype and device. Never modified in place."""
    with rt.eval_context(dtype, device):
        return quaternion_to_matrix(rt.as_rotation(tuple(float.fromhex(v) for v in key)))


def _rotation_matrix(rotation) -> torch.Tensor:
    """``(…, 3, 3)`` matrices of a rotation value (a constant tuple is converted once and cached)."""
    if isinstance(rotation, tuple) and all(isinstance(v, (int, float)) for v in rotation):
        c = rt.current()
        return _constant_rotation_matrix(tuple(float(v).hex() for v in rotation), c.dtype, c.device)
    return quaternion_to_matrix(rt.as_rotation(rotation))


def loc_rot_scale_reference(translation, rotation, scale) -> torch.Tensor:
    """:func:`loc_rot_scale` entry by entry (the slow, obviously-correct reference its tests compare with)."""
    t, s = rt.as_vector(translation), rt.as_vector(scale)
    rm = quaternion_to_matrix(rt.as_rotation(rotation))
    shape = torch.broadcast_shapes(t.shape[:-1], s.shape[:-1], rm.shape[:-2])
    t, s, rm = t.expand(*shape, 3), s.expand(*shape, 3), rm.expand(*shape, 3, 3)
    zero = torch.zeros_like(t[..., 0])
    rows = []
    for i in range(3):
        rows += [rm[..., i, j] * s[..., j] for j in range(3)] + [t[..., i]]
    rows += [zero, zero, zero, torch.ones_like(zero)]
    return torch.stack(rows, -1).reshape(*shape, 4, 4)


def loc_rot_scale(translation, rotation, scale) -> torch.Tensor:
    """``(…, 4, 4)`` matrices ``T @ R @ S`` from vectors ``(…, 3)`` and rotations (quaternions
    ``(…, 4)``; XYZ Euler ``(…, 3)`` also accepted).

    A few whole-tensor operations: ``R * s`` (a constant identity rotation: the diagonal of ``s``; another
    constant rotation's matrix comes from a cache), the translation as the fourth column, the constant
    last row; the entries equal :func:`loc_rot_scale_reference`'s exactly. A pure translation (identity rotation,
    constant unit scale) is marked as such (:func:`~translator.geometry.mark_translation`)."""
    t, s = rt.as_vector(translation), rt.as_vector(scale)
    if _is_identity_rotation(rotation):
        lin = torch.diag_embed(s)
    else:
        lin = _rotation_matrix(rotation) * s.unsqueeze(-2)
    shape = torch.broadcast_shapes(t.shape[:-1], lin.shape[:-2])
    top = torch.cat([lin.expand(*shape, 3, 3), t.expand(*shape, 3).unsqueeze(-1)], -1)
    last = torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=top.dtype, device=top.device).expand(*shape, 1, 4)
    m = torch.cat([top, last], -2)
    if _is_identity_rotation(rotation) and isinstance(scale, tuple) and scale == (1.0, 1.0, 1.0):
        mark_translation(m, t.expand(*shape, 3))
    return m


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
    points = geo.points.transformed(m) if geo.points is not None else None
    return GeometrySet(mesh=mesh, instances=inst, curves=curves, points=points)


def _check_transform(n) -> str | None:
    for s in n.inputs:
        if s.identifier == "Mode" and s.enabled and s.default not in (None, "Components", "Matrix"):
            return f"Transform Geometry mode {s.default!r} is not supported"
    return None


def _is_identity(translation, rotation, scale) -> bool:
    return (isinstance(translation, tuple) and isinstance(scale, tuple) and _is_identity_rotation(rotation)
            and translation == (0.0, 0.0, 0.0) and scale == (1.0, 1.0, 1.0))


@node("GeometryNodeTransform", outputs=("Geometry",), pure=False, check=_check_transform,
      label="Transform Geometry", notes="Components and Matrix modes", grad="yes")
def transform_geometry(geometry=None, mode="Components", translation=(0.0, 0.0, 0.0), rotation=IDENTITY,
                       scale=(1.0, 1.0, 1.0), transform=None):
    """Transform Geometry. Components mode: ``T @ R @ S`` from ``translation``, ``rotation`` (quaternion)
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
def combine_transform(translation=(0.0, 0.0, 0.0), rotation=IDENTITY, scale=(1.0, 1.0, 1.0)):
    """Combine Transform: ``(…, 4, 4)`` matrix ``T @ R @ S`` (fields give a field of matrices)."""
    return rt.field_map(loc_rot_scale, [translation, rotation, scale], ["VECTOR", "ROTATION", "VECTOR"], "MATRIX")


def _separate(m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    lin = m[..., :3, :3]
    sq = (lin * lin).sum(-2)
    pos = sq > 0
    scale = torch.where(pos, torch.sqrt(torch.where(pos, sq, torch.ones_like(sq))), torch.zeros_like(sq))
    return m[..., :3, 3], matrix_to_rotation(lin), scale


@node("FunctionNodeSeparateTransform", outputs=("Translation", "Rotation", "Scale"),
      label="Separate Transform", grad="yes",
      notes="rotation: Blender's quaternion of the normalized axes' Euler angles (mirroring and shear dropped); "
            "no gradient through a zero-length axis")
def separate_transform(transform=None):
    """Separate Transform: ``(…, 4, 4)`` -> translation ``(…, 3)``, rotation (quaternion ``(…, 4)``)
    and scale ``(…, 3)``.

    As in Blender, the scale is the (positive) length of each axis and the rotation the quaternion
    of the Euler angles read from the normalized axes, so a mirroring matrix does not round-trip:
    its reflection is dropped (``diag(-1, 1, 1)`` gives a half turn about z and scale 1)."""
    if transform is None:
        return (0.0, 0.0, 0.0), IDENTITY, (1.0, 1.0, 1.0)
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
        points=join_points([g.points for g in geos]),
    )
