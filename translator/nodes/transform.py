"""Whole-geometry operations: Transform Geometry and Join Geometry.

Also the rotation / matrix helpers the instance nodes share:
:func:`euler_to_matrix` (Blender's XYZ Euler, ``R = Rz @ Ry @ Rx``) and
:func:`loc_rot_scale` (``T @ R @ S`` as ``(…, 4, 4)``).
"""

from __future__ import annotations

from dataclasses import replace

import torch

from .. import runtime as rt
from ..geometry import GeometrySet, Instances, join_meshes
from . import node

__all__ = [
    "euler_to_matrix",
    "loc_rot_scale",
    "transform_geometry",
    "join_geometry",
    "apply_matrix_to_geometry",
    "join_instances",
]


def euler_to_matrix(euler: torch.Tensor) -> torch.Tensor:
    """XYZ Euler angles ``(…, 3)`` -> rotation matrices ``(…, 3, 3)`` (Blender's ``eul_to_mat3``)."""
    ci, cj, ch = torch.cos(euler[..., 0]), torch.cos(euler[..., 1]), torch.cos(euler[..., 2])
    si, sj, sh = torch.sin(euler[..., 0]), torch.sin(euler[..., 1]), torch.sin(euler[..., 2])
    cc, cs, sc, ss = ci * ch, ci * sh, si * ch, si * sh
    rows = [
        torch.stack([cj * ch, sj * sc - cs, sj * cc + ss], -1),
        torch.stack([cj * sh, sj * ss + cc, sj * cs - sc], -1),
        torch.stack([-sj, cj * si, cj * ci], -1),
    ]
    return torch.stack(rows, -2)


def loc_rot_scale(translation, rotation, scale) -> torch.Tensor:
    """``(…, 4, 4)`` matrices ``T @ R @ S`` from vectors ``(…, 3)`` (rotation: XYZ Euler)."""
    t, r, s = rt.as_vector(translation), rt.as_vector(rotation), rt.as_vector(scale)
    t, r, s = torch.broadcast_tensors(t, r, s)
    rs = euler_to_matrix(r) * s.unsqueeze(-2)
    top = torch.cat([rs, t.unsqueeze(-1)], -1)
    bottom = torch.zeros_like(top[..., :1, :])
    bottom = bottom + torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=top.dtype, device=top.device)
    return torch.cat([top, bottom], -2)


def _transform_points(points: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """points ``(b, N, 3)``, m ``(4, 4)`` or ``(B, 4, 4)`` -> ``(max(b, B), N, 3)``."""
    if m.dim() == 2:
        m = m.unsqueeze(0)
    lin = m[:, :3, :3]
    return torch.matmul(points, lin.transpose(-1, -2)) + m[:, None, :3, 3]


def apply_matrix_to_geometry(geo: GeometrySet, m: torch.Tensor) -> GeometrySet:
    """Transform every component of ``geo`` by ``m`` ``(4, 4)`` / ``(B, 4, 4)``."""
    mesh = geo.mesh
    if mesh is not None:
        mesh = replace(mesh, verts=_transform_points(mesh.verts, m))
    inst = geo.instances
    if inst is not None and inst.count:
        mm = m if m.dim() == 3 else m.unsqueeze(0)
        inst = replace(inst, transforms=torch.matmul(mm.unsqueeze(1), inst.transforms))
    return GeometrySet(mesh=mesh, instances=inst)


def _check_transform(n) -> str | None:
    for s in n.inputs:
        if s.identifier == "Mode" and s.enabled and s.default not in (None, "Components", "Matrix"):
            return f"Transform Geometry mode {s.default!r} is not supported"
    return None


@node("GeometryNodeTransform", outputs=("Geometry",), pure=False, check=_check_transform)
def transform_geometry(geometry=None, mode="Components", translation=(0.0, 0.0, 0.0), rotation=(0.0, 0.0, 0.0),
                       scale=(1.0, 1.0, 1.0), transform=None):
    """Transform Geometry. Components mode: ``T @ R @ S``; Matrix mode: ``transform (…, 4, 4)``."""
    if geometry is None:
        return GeometrySet()
    if mode == "Matrix":
        m = transform if isinstance(transform, torch.Tensor) else rt.identity_matrix()
    else:
        if isinstance(translation, tuple) and isinstance(rotation, tuple) and isinstance(scale, tuple) \
                and translation == (0.0, 0.0, 0.0) and rotation == (0.0, 0.0, 0.0) and scale == (1.0, 1.0, 1.0):
            return geometry
        m = loc_rot_scale(translation, rotation, scale)
    return apply_matrix_to_geometry(geometry, m)


def join_instances(parts: list[Instances]) -> Instances | None:
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
    names = []
    for p in parts:
        names += [k for k in p.attributes if k not in names]
    attrs = {}
    for k in names:
        proto = next(p.attributes[k] for p in parts if k in p.attributes)
        chunks = []
        for p in parts:
            a = p.attributes.get(k)
            data = a.data if a is not None else torch.zeros((1, p.count, *proto.data.shape[2:]), dtype=proto.data.dtype, device=proto.data.device)
            chunks.append(data.expand(b, *data.shape[1:]))
        attrs[k] = replace(proto, data=torch.cat(chunks, 1))
    return Instances(references=refs, reference_index=index, transforms=transforms, attributes=attrs)


@node("GeometryNodeJoinGeometry", outputs=("Geometry",), pure=False)
def join_geometry(geometry=()):
    """Join Geometry: meshes and instances concatenated in Blender's link order."""
    geos = [g for g in geometry if g is not None]
    if len(geos) == 1:
        return geos[0]
    return GeometrySet(
        mesh=join_meshes([g.mesh for g in geos]),
        instances=join_instances([g.instances for g in geos]),
    )
