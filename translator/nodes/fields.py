"""Field inputs and field evaluation on a geometry: Position, Index, Set Position.

A field (:class:`translator.runtime.Field`) is evaluated lazily on the domain of
the node that consumes it, as in Blender: Set Position evaluates its inputs on
the mesh's POINT domain and on the instances' INSTANCE domain, Store Named
Attribute on the chosen domain, Instance on Points on the points. Evaluated
on a domain of size ``N`` a field gives ``(b, N)`` or ``(b, N, K)`` with ``b``
1 or the batch size ``B``.

* Position: vertex positions (interpolated to other mesh domains, e.g. face
  centres on FACE), the instance translations on INSTANCE.
* Index: ``0 .. N-1`` on any domain.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch

from .. import runtime as rt
from ..geometry import CurvesBatch, GeometrySet, Instances, MeshBatch
from . import node

__all__ = [
    "curve_point_mean",
    "curves_context",
    "decided",
    "evaluate",
    "index",
    "instance_context",
    "mesh_context",
    "position",
    "positions_on",
    "selection_mask",
    "set_curve_positions",
    "set_instance_positions",
    "set_mesh_positions",
    "set_position",
]


def mesh_context(mesh: MeshBatch, domain: str) -> rt.FieldContext:
    """Field context for ``domain`` (POINT, EDGE, FACE, CORNER) of ``mesh``."""
    return rt.FieldContext(domain=domain, size=mesh.domain_size(domain), mesh=mesh)


def curves_context(curves: CurvesBatch, domain: str) -> rt.FieldContext:
    """Field context for the POINT or CURVE domain of ``curves``."""
    return rt.FieldContext(domain=domain, size=curves.domain_size(domain), curves=curves)


def curve_point_mean(curves: CurvesBatch, values: torch.Tensor) -> torch.Tensor:
    """POINT values ``(b, P, ...)`` averaged per curve ``(b, S, ...)`` (Blender's point -> curve interpolation)."""
    sizes = curves.curve_offsets[1:] - curves.curve_offsets[:-1]
    curve_of = torch.repeat_interleave(torch.arange(curves.num_curves, device=sizes.device), sizes)
    x = values.to(rt.current().dtype) if not values.dtype.is_floating_point else values
    extra = x.shape[2:]
    out = torch.zeros((x.shape[0], curves.num_curves, *extra), dtype=x.dtype, device=x.device)
    out = out.index_add(1, curve_of, x)
    return out / sizes.clamp(min=1).to(x.dtype).reshape(1, -1, *([1] * len(extra)))


def instance_context(instances: Instances) -> rt.FieldContext:
    """Field context for the INSTANCE domain of ``instances``."""
    return rt.FieldContext(domain="INSTANCE", size=instances.count, instances=instances)


def evaluate(value: Any, fctx: rt.FieldContext, type: str) -> torch.Tensor:
    """``value`` (field or single value) evaluated on ``fctx`` as ``(b, N, ...)`` (single values expanded)."""
    t = rt.eval_field(value, fctx, type)
    if t.shape[1] != fctx.size:
        t = t.expand(t.shape[0], fctx.size, *t.shape[2:])
    return t


def decided(t: torch.Tensor) -> torch.Tensor:
    """A tensor whose values decide topology, passed through Python (``tolist``) so that a traced
    replay of the program is guarded on its values (see ``translator.tracing``)."""
    return torch.tensor(t.tolist(), dtype=t.dtype, device=t.device)


def selection_mask(selection: Any, fctx: rt.FieldContext, what: str) -> torch.Tensor:
    """A Selection input that decides topology, as one ``(N,)`` bool mask shared by the batch."""
    if selection is True:
        return torch.ones(fctx.size, dtype=torch.bool, device=rt.current().device)
    return decided(rt.static_mask(evaluate(selection, fctx, "BOOLEAN"), what))


def positions_on(fctx: rt.FieldContext) -> torch.Tensor:
    """The Position field's values on ``fctx``: ``(b, N, 3)``."""
    if fctx.mesh is not None:
        mesh = fctx.mesh
        if fctx.domain == "POINT":
            return mesh.verts
        if fctx.domain == "EDGE":
            if mesh.edges is None:
                raise TypeError("this mesh does not track its edges, so fields cannot be evaluated on its EDGE domain")
            return (mesh.verts[:, mesh.edges[:, 0]] + mesh.verts[:, mesh.edges[:, 1]]) * 0.5
        return rt.adapt_domain(mesh, mesh.verts, "POINT", fctx.domain)
    if fctx.instances is not None:
        return fctx.instances.transforms[..., :3, 3]
    if fctx.curves is not None:
        pos = fctx.curves.positions
        return pos if fctx.domain == "POINT" else curve_point_mean(fctx.curves, pos)
    c = rt.current()
    return torch.zeros((1, fctx.size, 3), dtype=c.dtype, device=c.device)


@node("GeometryNodeInputPosition", outputs=("Position",), pure=False,
      label="Position", notes="every mesh domain and instances", grad="yes")
def position():
    """Position: a VECTOR field, ``(b, N, 3)`` on the domain it is evaluated on."""
    return rt.Field(positions_on, "VECTOR", label="position")


def _index_on(fctx: rt.FieldContext) -> torch.Tensor:
    return torch.arange(fctx.size, device=rt.current().device).unsqueeze(0)


@node("GeometryNodeInputIndex", outputs=("Index",), pure=False,
      label="Index", notes="every domain")
def index():
    """Index: an INT field, ``(1, N)`` = ``0 .. N-1`` on the domain it is evaluated on."""
    return rt.Field(_index_on, "INT", label="index")


def _moved(old: torch.Tensor, fctx: rt.FieldContext, selection: Any, position: Any, offset: Any) -> torch.Tensor:
    """``where(selection, position + offset, old)`` on ``fctx``; ``position`` None: the current one."""
    pos = old if position is None else evaluate(position, fctx, "VECTOR")
    new = pos + evaluate(offset, fctx, "VECTOR") if not _is_zero(offset) else pos
    if selection is True:
        return new
    sel = evaluate(selection, fctx, "BOOLEAN")
    return torch.where(sel.unsqueeze(-1), new, old)


def _is_zero(v: Any) -> bool:
    return isinstance(v, tuple) and all(c == 0.0 for c in v)


def set_mesh_positions(mesh: MeshBatch, selection: Any = True, position: Any = None, offset: Any = (0.0, 0.0, 0.0)) -> MeshBatch:
    """Set Position on a mesh: inputs evaluated on its POINT domain; returns verts ``(b, V, 3)``
    replaced where selected (the selection may differ per batch element)."""
    if mesh.num_verts == 0:
        return mesh
    return replace(mesh, verts=_moved(mesh.verts, mesh_context(mesh, "POINT"), selection, position, offset))


def set_instance_positions(instances: Instances, selection: Any = True, position: Any = None,
                           offset: Any = (0.0, 0.0, 0.0)) -> Instances:
    """Set Position on instances: moves their translations (inputs on the INSTANCE domain)."""
    if instances.count == 0:
        return instances
    t = instances.transforms
    moved = _moved(t[..., :3, 3], instance_context(instances), selection, position, offset)
    b = max(moved.shape[0], t.shape[0])
    t = t.expand(b, *t.shape[1:])
    transforms = torch.cat([torch.cat([t[..., :3, :3], moved.expand(b, *moved.shape[1:]).unsqueeze(-1)], -1),
                            t[..., 3:, :]], -2)
    return replace(instances, transforms=transforms)


def set_curve_positions(curves: CurvesBatch, selection: Any = True, position: Any = None,
                        offset: Any = (0.0, 0.0, 0.0)) -> CurvesBatch:
    """Set Position on curves: control points ``(b, P, 3)`` moved (inputs on the POINT domain); Bezier
    handles move with their points, then automatic (AUTO, VECTOR, one-sided ALIGN) handles are recomputed."""
    if curves.num_points == 0:
        return curves
    old = curves.positions
    new = _moved(old, curves_context(curves, "POINT"), selection, position, offset)
    if curves.handle_left is None:
        return replace(curves, positions=new)
    from .curve_ops import auto_handles

    delta = new - old
    return auto_handles(replace(curves, positions=new, handle_left=curves.handle_left + delta,
                                handle_right=curves.handle_right + delta))


@node("GeometryNodeSetPosition", outputs=("Geometry",), pure=False, implicit=("position",),
      label="Set Position", notes="selection, position, offset; meshes and instances", grad="yes")
def set_position(geometry=None, selection=True, position=None, offset=(0.0, 0.0, 0.0)):
    """Set Position: the mesh's vertices and the top-level instances' translations become
    ``position + offset`` where ``selection`` holds. ``position`` unlinked (None) means the current
    position. Nested instances are not touched (as in Blender)."""
    if geometry is None:
        return GeometrySet()
    mesh, inst, curves = geometry.mesh, geometry.instances, geometry.curves
    if mesh is not None:
        mesh = set_mesh_positions(mesh, selection, position, offset)
    if inst is not None:
        inst = set_instance_positions(inst, selection, position, offset)
    if curves is not None:
        curves = set_curve_positions(curves, selection, position, offset)
    points = geometry.points
    if points is not None:
        points = set_mesh_positions(points, selection, position, offset)
    return GeometrySet(mesh=mesh, instances=inst, curves=curves, points=points)
