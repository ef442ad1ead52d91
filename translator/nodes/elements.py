"""Element counts and flags: Domain Size, Is Face Smooth, Is Edge Smooth and Set ID.

* Domain Size (``node_geo_attribute_domain_size.cc``): the element counts of one component of the geometry
  (its own, not instanced ones): a mesh's points, edges, faces and face corners; curves' points and splines;
  instances. Other counts are 0 (point clouds and Grease Pencil layers do not exist in this runtime).
* Is Face Smooth / Is Edge Smooth: ``not sharp_face`` / ``not sharp_edge`` (absent attributes are false, so
  everything is smooth), read on the domain that evaluates them.
* Set ID: the ``id`` attribute of the selected points of the geometry's mesh and curves (POINT) and of its
  instances (INSTANCE) becomes the ID field (default: the index); unselected elements keep their id, or 0
  where the geometry had none.

Checked against Blender in ``tests/translator/nodes/test_elements.py``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch

from .. import runtime as rt
from ..geometry import Attribute, GeometrySet
from . import node
from .fields import curves_context, evaluate, instance_context, mesh_context

__all__ = ["domain_size", "edge_smooth", "face_smooth", "set_id"]

_COMPONENTS = ("MESH", "POINTCLOUD", "CURVE", "INSTANCES", "GREASEPENCIL")


@node("GeometryNodeAttributeDomainSize", outputs=("Point Count", "Edge Count", "Face Count", "Face Corner Count",
                                                  "Spline Count", "Instance Count", "Layer Count"),
      props=("component",), pure=False, label="Domain Size", modes={"component": _COMPONENTS},
      notes="meshes, curves and instances (point clouds and layers count 0)")
def domain_size(geometry=None, component: str = "MESH") -> tuple[int, ...]:
    """Domain Size: the seven counts (Python ints: topology is shared by the batch)."""
    counts = [0] * 7
    if geometry is None:
        return tuple(counts)
    if component == "MESH" and geometry.mesh is not None:
        m = geometry.mesh
        counts[:4] = [m.num_verts, m.domain_size("EDGE"), m.num_faces, m.num_corners]
    elif component == "CURVE" and geometry.curves is not None:
        counts[0], counts[4] = geometry.curves.num_points, geometry.curves.num_curves
    elif component == "INSTANCES" and geometry.instances is not None:
        counts[5] = geometry.instances.count
    return tuple(counts)


def _not_attribute(name: str) -> rt.Field:
    read = rt.attribute_field(name, "BOOLEAN")
    return rt.Field(lambda fctx: ~read.fn(fctx).bool(), "BOOLEAN", label=f"not {name}")


@node("GeometryNodeInputShadeSmooth", outputs=("Smooth",), pure=False, label="Is Face Smooth",
      notes="not sharp_face, read on the domain that evaluates it")
def face_smooth():
    """Is Face Smooth: a BOOLEAN field, ``not sharp_face``."""
    return _not_attribute("sharp_face")


@node("GeometryNodeInputEdgeSmooth", outputs=("Smooth",), pure=False, label="Is Edge Smooth",
      notes="not sharp_edge, read on the domain that evaluates it")
def edge_smooth():
    """Is Edge Smooth: a BOOLEAN field, ``not sharp_edge``."""
    return _not_attribute("sharp_edge")


def _with_id(attrs: dict, fctx: rt.FieldContext, selection: Any, ident: Any) -> dict:
    new = evaluate(ident, fctx, "INT").long()
    if selection is not True:
        old = attrs.get("id")
        prev = old.data.long() if old is not None and old.domain == fctx.domain else torch.zeros_like(new)
        new = torch.where(evaluate(selection, fctx, "BOOLEAN"), new, prev)
    return {**attrs, "id": Attribute(fctx.domain, new, "INT")}


@node("GeometryNodeSetID", outputs=("Geometry",), pure=False, implicit=("id",), label="Set ID",
      notes="points of the mesh and curves, instances (not inside instances); ID defaults to the index")
def set_id(geometry=None, selection=True, id=None):
    """Set ID: the ``id`` attribute ``(b, N)`` of the selected points / instances becomes ``id`` (see the module)."""
    if geometry is None:
        return GeometrySet()
    ident = rt.Field(lambda fctx: torch.arange(fctx.size, device=rt.current().device).unsqueeze(0), "INT") \
        if id is None else id

    mesh, curves, inst = geometry.mesh, geometry.curves, geometry.instances
    if mesh is not None and mesh.num_verts:
        mesh = replace(mesh, attributes=_with_id(mesh.attributes, mesh_context(mesh, "POINT"), selection, ident))
    if curves is not None and curves.num_points:
        curves = replace(curves, attributes=_with_id(curves.attributes, curves_context(curves, "POINT"), selection, ident))
    if inst is not None and inst.count:
        inst = replace(inst, attributes=_with_id(inst.attributes, instance_context(inst), selection, ident))
    return GeometrySet(mesh=mesh, instances=inst, curves=curves)
