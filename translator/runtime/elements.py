"""The For Each Geometry Element zone's Element output: one element of a component as a geometry of its own.

Blender 5.0.1 builds it (``geometry::extract_*`` in ``extract_elements.cc``, called by the zone's lazy
function) per component type and iteration domain:

* mesh POINT: a mesh of one vertex (no edges, no faces) with every attribute of the mesh, values of
  other domains interpolated to the points first;
* mesh EDGE: a mesh of the edge's two vertices (in the edge's order) and one edge ``(0, 1)``; POINT and
  EDGE attributes are gathered, CORNER ones interpolated to POINT, FACE ones to EDGE;
* mesh FACE: a mesh of the face's corners' vertices (in corner order, a vertex used twice comes twice),
  one face over them and the edges ``(i, i + 1)`` (the last one back to 0); POINT attributes gathered
  through the corners' vertices, EDGE ones through the corners' edges, CORNER ones in order, FACE ones;
* mesh CORNER: no element (an empty geometry);
* point cloud POINT: a point cloud of one point with its attributes;
* curves POINT: one curve of one point (the type, cyclic flag, resolution and CURVE attributes of the
  curve it belongs to, the point's POINT attributes, handles included);
* curves CURVE: the curve with its points and their attributes;
* instances INSTANCE: one instance of the same reference with its transform and INSTANCE attributes.

An attribute whose name is a built-in one with a fixed domain (``material_index`` and ``sharp_face`` on
FACE, ``sharp_edge`` on EDGE) is written only where the element has that domain (Blender cannot add it
elsewhere). Materials stay. Values keep the batch dimension: ``(b, n, ...)`` for the element's ``n``
points, edges, ... All gathers are differentiable (positions and attribute values).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from itertools import pairwise
from typing import Any

import torch

from ..geometry import Attribute, CurvesBatch, GeometrySet, Instances, MeshBatch

__all__ = ["element_geometries", "element_keys"]


def _index(idx: Sequence[int], device: torch.device) -> torch.Tensor:
    return torch.tensor(list(idx), dtype=torch.long, device=device)


def _allowed(name: str, domain: str) -> bool:
    from ..nodes.attributes import _BUILTIN

    fixed = _BUILTIN.get(name)
    return fixed is None or fixed[0] == domain


def _mesh_sources(mesh: MeshBatch, domain: str) -> list[tuple[str, Attribute]]:
    """The mesh's attributes as the element of ``domain`` takes them: ``(name, attribute on the domain
    it is gathered from)`` (interpolated where Blender interpolates)."""
    from .fields import adapt_domain

    want = {"POINT": {"POINT": "POINT", "EDGE": "POINT", "FACE": "POINT", "CORNER": "POINT"},
            "EDGE": {"POINT": "POINT", "EDGE": "EDGE", "CORNER": "POINT", "FACE": "EDGE"},
            "FACE": {"POINT": "POINT", "EDGE": "EDGE", "CORNER": "CORNER", "FACE": "FACE"}}[domain]
    out = []
    for name, a in mesh.attributes.items():
        dst = want.get(a.domain)
        if dst is None or not _allowed(name, dst):
            continue
        data = a.data if dst == a.domain else adapt_domain(mesh, a.data, a.domain, dst)
        out.append((name, Attribute(dst, data, a.type)))
    return out


def _mesh_elements(mesh: MeshBatch, domain: str, selected: Sequence[int], point_cloud: bool) -> list[GeometrySet]:
    from .fields import corner_edges

    dev = mesh.corner_verts.device
    verts = mesh.verts
    srcs = _mesh_sources(mesh, domain) if not point_cloud else list(mesh.attributes.items())
    no_faces = torch.zeros(1, dtype=torch.long, device=dev)
    out = []
    if domain == "POINT":
        no_edges = torch.zeros((0, 2), dtype=torch.long, device=dev)
        for i in selected:
            attrs = {k: Attribute("POINT", a.data[:, i:i + 1], a.type) for k, a in srcs}
            one = MeshBatch(verts=verts[:, i:i + 1], corner_verts=torch.zeros(0, dtype=torch.long, device=dev),
                            face_offsets=no_faces, edges=no_edges, attributes=attrs, materials=list(mesh.materials))
            out.append(GeometrySet(points=one) if point_cloud else GeometrySet(mesh=one))
        return out
    if domain == "EDGE":
        edges = mesh.edges.tolist()
        one_edge = torch.tensor([[0, 1]], dtype=torch.long, device=dev)
        for i in selected:
            ends = _index(edges[i], dev)
            attrs = {k: Attribute(a.domain, a.data[:, ends] if a.domain == "POINT" else a.data[:, i:i + 1], a.type)
                     for k, a in srcs}
            out.append(GeometrySet(mesh=MeshBatch(
                verts=verts[:, ends], corner_verts=torch.zeros(0, dtype=torch.long, device=dev), face_offsets=no_faces,
                edges=one_edge, attributes=attrs, materials=list(mesh.materials))))
        return out
    # FACE
    offsets = mesh.face_offsets.tolist()
    cedges = corner_edges(mesh) if any(a.domain == "EDGE" for _, a in srcs) else None
    for i in selected:
        c0, c1 = offsets[i], offsets[i + 1]
        n = c1 - c0
        vs = mesh.corner_verts[c0:c1]
        ring = torch.arange(n, dtype=torch.long, device=dev)
        gather = {"POINT": vs, "CORNER": slice(c0, c1), "FACE": slice(i, i + 1),
                  "EDGE": None if cedges is None else cedges[c0:c1]}
        attrs = {k: Attribute(a.domain, a.data[:, gather[a.domain]], a.type) for k, a in srcs}
        out.append(GeometrySet(mesh=MeshBatch(
            verts=verts[:, vs], corner_verts=ring, face_offsets=_index((0, n), dev),
            edges=torch.stack([ring, torch.roll(ring, -1)], 1), attributes=attrs, materials=list(mesh.materials))))
    return out


def _curve_elements(curves: CurvesBatch, domain: str, selected: Sequence[int]) -> list[GeometrySet]:
    dev = curves.curve_offsets.device
    offsets = curves.curve_offsets.tolist()
    if domain == "POINT":
        counts = [b - a for a, b in pairwise(offsets)]
        curve_of = [c for c, k in enumerate(counts) for _ in range(k)]
        spans = [(p, p + 1, curve_of[p]) for p in selected]
    else:
        spans = [(offsets[c], offsets[c + 1], c) for c in selected]
    out = []
    for p0, p1, c in spans:
        bezier = curves.types[c] == "BEZIER" and curves.handle_left is not None

        def pts(t: torch.Tensor | None, bezier: bool = bezier, p0: int = p0, p1: int = p1) -> torch.Tensor | None:
            return t[..., p0:p1, :] if (t is not None and bezier) else None

        def types(t: torch.Tensor | None, bezier: bool = bezier, p0: int = p0, p1: int = p1) -> torch.Tensor | None:
            return t[p0:p1] if (t is not None and bezier) else None

        attrs = {k: Attribute(a.domain, a.data[:, p0:p1] if a.domain == "POINT" else a.data[:, c:c + 1], a.type)
                 for k, a in curves.attributes.items()}
        out.append(GeometrySet(curves=CurvesBatch(
            positions=curves.positions[:, p0:p1], curve_offsets=_index((0, p1 - p0), dev), types=[curves.types[c]],
            cyclic=[curves.cyclic[c]], resolution=[curves.resolution[c]], handle_left=pts(curves.handle_left),
            handle_right=pts(curves.handle_right), handle_type_left=types(curves.handle_type_left),
            handle_type_right=types(curves.handle_type_right), normal_mode=[curves.normal_mode[c]],
            attributes=attrs)))
    return out


def _instance_elements(inst: Instances, selected: Sequence[int]) -> list[GeometrySet]:
    out = []
    for i in selected:
        attrs = {k: Attribute(a.domain, a.data[:, i:i + 1], a.type) for k, a in inst.attributes.items()}
        one = replace(inst, references=[inst.references[inst.reference_index[i]]], reference_index=[0],
                      transforms=inst.transforms[:, i:i + 1], attributes=attrs)
        out.append(GeometrySet(instances=one))
    return out


def element_geometries(kind: str, comp: Any, domain: str, selected: Sequence[int]) -> list[GeometrySet]:
    """The Element output of each ``selected`` element (indices on ``domain``) of the component ``comp``
    of type ``kind`` (``mesh``, ``points``, ``curves``, ``instances``), in order (see the module)."""
    if kind == "instances":
        return _instance_elements(comp, selected)
    if kind == "curves":
        return _curve_elements(comp, domain, selected)
    if kind == "mesh" and domain == "CORNER":
        return [GeometrySet() for _ in selected]
    return _mesh_elements(comp, domain, selected, point_cloud=kind == "points")


def element_keys(kind: str, comp: Any, domain: str, selected: Sequence[int]) -> list[tuple]:
    """Per selected element, what decides its Element output's topology (equal keys: geometries of one topology
    and attribute layout, which stack). From Python values only: no tensor is read (a traced evaluation would
    record every read as a guard)."""
    if kind == "mesh" and domain == "FACE":
        offsets = comp.face_offsets.tolist()
        return [(offsets[i + 1] - offsets[i],) for i in selected]
    if kind == "instances":
        return [(comp.reference_index[i],) for i in selected]
    if kind == "curves":
        offsets = comp.curve_offsets.tolist()
        if domain == "POINT":
            counts = [b - a for a, b in pairwise(offsets)]
            curve_of = [c for c, k in enumerate(counts) for _ in range(k)]
            curves = [curve_of[p] for p in selected]
            sizes = [1] * len(selected)
        else:
            curves = list(selected)
            sizes = [offsets[c + 1] - offsets[c] for c in selected]
        return [(k, comp.types[c], comp.cyclic[c], comp.resolution[c], comp.normal_mode[c]) for k, c in zip(sizes, curves)]
    return [()] * len(selected)
