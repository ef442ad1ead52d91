"""Instance transform nodes: Instance Transform, Instance Rotation, Instance Scale (field inputs on the
INSTANCE domain) and Set Instance Transform.

Semantics follow Blender 5.0 (``node_geo_input_instance_*.cc``, ``node_geo_instance_transform.cc``,
``node_geo_set_instance_transform.cc``), checked against Blender in
``tests/translator/nodes/test_instance_transforms.py``. An instance's transform is ``(b, N, 4, 4)``
(``Instances.transforms``); its rotation is ``to_quaternion(normalize(transform))`` (the axes
normalized; a mirroring transform gives the rotation of its negation), its scale the lengths of its
axes (negated for a mirroring transform). On a domain other than INSTANCE the inputs give Blender's defaults (identity, zero scale).
"""

from __future__ import annotations

from dataclasses import replace

import torch

from .. import runtime as rt
from ..geometry import GeometrySet
from ..runtime.rotations import IDENTITY, matrix_to_quaternion_checked, normalize_axes
from . import node
from .fields import evaluate, instance_context

__all__ = ["instance_rotation", "instance_scale", "instance_transform", "set_instance_transform"]


def _transforms(fctx: rt.FieldContext) -> torch.Tensor | None:
    return fctx.instances.transforms if fctx.instances is not None and fctx.domain == "INSTANCE" else None


def _transform_on(fctx: rt.FieldContext) -> torch.Tensor:
    t = _transforms(fctx)
    return rt.identity_matrix().reshape(1, 1, 4, 4).expand(1, fctx.size, 4, 4) if t is None else t


def _rotation_on(fctx: rt.FieldContext) -> torch.Tensor:
    t = _transforms(fctx)
    if t is None:
        c = rt.current()
        return torch.tensor(IDENTITY, dtype=c.dtype, device=c.device).expand(1, fctx.size, 4)
    return matrix_to_quaternion_checked(normalize_axes(t[..., :3, :3]))


def _scale_on(fctx: rt.FieldContext) -> torch.Tensor:
    t = _transforms(fctx)
    if t is None:
        c = rt.current()
        return torch.zeros((1, fctx.size, 3), dtype=c.dtype, device=c.device)
    sq = (t[..., :3, :3] ** 2).sum(-2)
    pos = sq > 0
    length = torch.where(pos, torch.sqrt(torch.where(pos, sq, torch.ones_like(sq))), torch.zeros_like(sq))
    negative = torch.linalg.det(t[..., :3, :3]) < 0
    return torch.where(negative.unsqueeze(-1), -length, length)


@node("GeometryNodeInstanceTransform", outputs=("Transform",), pure=False, label="Instance Transform", grad="yes",
      notes="INSTANCE domain")
def instance_transform():
    """Instance Transform: a MATRIX field, each instance's transform ``(b, N, 4, 4)``."""
    return rt.Field(_transform_on, "MATRIX", label="instance transform")


@node("GeometryNodeInputInstanceRotation", outputs=("Rotation",), pure=False, label="Instance Rotation", grad="yes",
      notes="INSTANCE domain; a mirroring transform gives the rotation of its negation")
def instance_rotation():
    """Instance Rotation: a ROTATION field, the quaternion ``(b, N, 4)`` of each transform's normalized axes."""
    return rt.Field(_rotation_on, "ROTATION", label="instance rotation")


@node("GeometryNodeInputInstanceScale", outputs=("Scale",), pure=False, label="Instance Scale", grad="yes",
      notes="INSTANCE domain; the lengths of the axes, all negated for a mirroring transform (as Blender)")
def instance_scale():
    """Instance Scale: a VECTOR field, the length of each transform's axes ``(b, N, 3)``, all three negated
    where the transform mirrors (negative determinant: ``to_scale<true>``)."""
    return rt.Field(_scale_on, "VECTOR", label="instance scale")


@node("GeometryNodeSetInstanceTransform", outputs=("Instances",), pure=False, label="Set Instance Transform",
      grad="yes", notes="selection")
def set_instance_transform(instances=None, selection=True, transform=None):
    """Set Instance Transform: the selected instances' transforms become ``transform`` (a field on the
    INSTANCE domain; unlinked: the identity)."""
    if instances is None:
        return GeometrySet()
    inst = instances.instances
    if inst is None or inst.count == 0:
        return instances
    fctx = instance_context(inst)
    new = evaluate(transform, fctx, "MATRIX")
    old = inst.transforms
    if selection is not True:
        sel = evaluate(selection, fctx, "BOOLEAN").reshape(-1, fctx.size, 1, 1)
        new = torch.where(sel, new, old)
    b = max(new.shape[0], old.shape[0])
    return replace(instances, instances=replace(inst, transforms=new.expand(b, *new.shape[1:])))
