"""Point clouds: Mesh to Points (Vertices, Edges, Faces, Corners), Points and Instances to Points.

As Blender 5.0's ``node_geo_mesh_to_points.cc``, ``node_geo_points.cc`` and ``node_geo_instances_to_points.cc``:

* Mesh to Points evaluates Selection, Position and Radius (clamped at 0) on the mode's domain and keeps the
  selected elements in their order; the mesh's attributes (not its built-in ``material_index``, ``sharp_face``,
  ``sharp_edge``) are interpolated to that domain and carried as point attributes. It runs on every real
  geometry set (instanced ones too): a set without a mesh (or with an empty domain) keeps only its instances,
  one with a mesh keeps only the new point cloud and its instances.
* Points makes ``Count`` points whose Position and Radius fields see only the index (other inputs read zeros).
* Instances to Points makes a point per selected top-level instance (Position defaults to its translation;
  Radius not clamped) carrying the instance attributes; everything else is removed. No selected instance keeps
  the input's point cloud only; no instances gives an empty geometry.

Point clouds are :class:`~translator.geometry.MeshBatch` es of vertices only (``verts (b, N, 3)``, POINT
attributes ``(b, N, ...)``). Selections decide topology and are shared by the batch. Differentiable in the
positions and radii. Checked against Blender in ``tests/translator/nodes/test_points.py``.
"""

from __future__ import annotations

from typing import Any

import torch

from .. import runtime as rt
from ..geometry import Attribute, GeometrySet, MeshBatch
from . import node
from .attributes import _BUILTIN, adapt_attribute, attribute_type, modify_geometry_sets
from .fields import evaluate, instance_context, mesh_context, selection_mask
from .fields import position as position_field

__all__ = ["instances_to_points", "mesh_to_points", "point_cloud", "points"]

_DOMAINS = {"VERTICES": "POINT", "EDGES": "EDGE", "FACES": "FACE", "CORNERS": "CORNER"}


def point_cloud(positions: torch.Tensor, attributes: dict[str, Attribute]) -> MeshBatch:
    """A point cloud of ``positions (b, N, 3)`` with POINT ``attributes`` (``(b, N, ...)`` each)."""
    dev = positions.device
    return MeshBatch(verts=positions, corner_verts=torch.zeros(0, dtype=torch.long, device=dev),
                     face_offsets=torch.zeros(1, dtype=torch.long, device=dev),
                     edges=torch.zeros((0, 2), dtype=torch.long, device=dev), attributes=attributes)


def _mesh_points(mesh: MeshBatch, domain: str, selection: Any, position: Any, radius: Any) -> MeshBatch | None:
    """The selected elements of ``domain`` as a point cloud (None for an empty domain)."""
    n = mesh.domain_size(domain)
    if n == 0:
        return None
    fctx = mesh_context(mesh, domain)
    keep = selection_mask(selection, fctx, "Mesh to Points selection")
    pos = evaluate(position_field() if position is None else position, fctx, "VECTOR")
    rad = torch.clamp(evaluate(radius, fctx, "VALUE"), min=0.0)
    attrs = {"radius": Attribute("POINT", rad[:, keep], "FLOAT")}
    for name, attr in mesh.attributes.items():
        if name in _BUILTIN or name in ("position", "radius"):
            continue
        t = attribute_type(attr)
        attrs[name] = Attribute("POINT", adapt_attribute(mesh, attr, domain, t)[:, keep], t)
    return point_cloud(pos[:, keep], attrs)


@node("GeometryNodeMeshToPoints", outputs=("Points",), props=("mode",), pure=False, implicit=("position",),
      label="Mesh to Points", modes={"mode": ("VERTICES", "EDGES", "FACES", "CORNERS")}, grad="yes",
      notes="selection (shared by the batch), position and radius fields; mesh attributes interpolated and carried")
def mesh_to_points(mode: str = "VERTICES", mesh=None, selection=True, position=None, radius=0.05):
    """Mesh to Points: a point per selected vertex, edge, face or corner (``mode``), at Position (default: the
    element's position, i.e. the mean of its vertices) with the Radius field (at least 0) as ``radius``."""
    if mesh is None:
        return GeometrySet()
    domain = _DOMAINS[mode]

    def on_set(g: GeometrySet) -> GeometrySet:
        if g.mesh is None:
            return GeometrySet(instances=g.instances)
        pts = _mesh_points(g.mesh, domain, selection, position, radius)
        return GeometrySet(instances=g.instances, points=pts)

    return modify_geometry_sets(mesh, on_set)


@node("GeometryNodePoints", outputs=("Geometry",), pure=False, label="Points", grad="yes",
      notes="Count a single value; Position and Radius fields see the index only")
def points(count=1, position=(0.0, 0.0, 0.0), radius=0.1):
    """Points: ``count`` points ``(b, count, 3)`` at the Position field with the Radius field as ``radius``."""
    n = int(rt.static(count, "Points count"))
    if n <= 0:
        return GeometrySet()
    fctx = rt.FieldContext(domain="POINT", size=n)
    pos = evaluate(position, fctx, "VECTOR")
    rad = evaluate(radius, fctx, "VALUE")
    b = max(pos.shape[0], rad.shape[0])
    return GeometrySet(points=point_cloud(pos.expand(b, -1, -1),
                                          {"radius": Attribute("POINT", rad.expand(b, -1), "FLOAT")}))


@node("GeometryNodeInstancesToPoints", outputs=("Points",), pure=False, implicit=("position",),
      label="Instances to Points", grad="yes",
      notes="top-level instances; selection (shared by the batch), position and radius fields; instance attributes carried")
def instances_to_points(instances=None, selection=True, position=None, radius=0.05):
    """Instances to Points: a point per selected top-level instance at Position (default: its translation) with
    the Radius field as ``radius``, carrying the instance attributes."""
    if instances is None or instances.instances is None or instances.instances.count == 0:
        return GeometrySet()
    inst = instances.instances
    fctx = instance_context(inst)
    keep = selection_mask(selection, fctx, "Instances to Points selection")
    if not bool(keep.any()):
        return GeometrySet(points=instances.points)
    pos = evaluate(position_field() if position is None else position, fctx, "VECTOR")
    rad = evaluate(radius, fctx, "VALUE")
    attrs = {"radius": Attribute("POINT", rad[:, keep], "FLOAT")}
    for name, attr in inst.attributes.items():
        if name not in ("position", "radius"):
            attrs[name] = Attribute("POINT", attr.data[:, keep], attr.type)
    return GeometrySet(points=point_cloud(pos[:, keep], attrs))
