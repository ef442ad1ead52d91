"""Duplicate Elements (``node_geo_duplicate_elements.cc``) on meshes and instances.

Each selected element is copied Amount times (``max(0, amount)``, a field on the domain), copies of one
element next to each other, elements in index order; the output holds only the copies:

* POINT: a mesh of loose vertices (every mesh, nested ones included), POINT attributes copied;
* EDGE: a mesh of separate edges, two new vertices each (POINT attributes from the edge's vertices, EDGE
  attributes from the edge);
* FACE: a mesh of separate faces, one new vertex and edge per corner (POINT attributes from the corner's
  vertex, EDGE from the corner's edge, FACE and CORNER copied);
* INSTANCE: the top-level instances (their ``id`` attribute is not copied).

The ``id`` attribute of the copies (POINT, EDGE, FACE) is the original's for the first copy and
``noise::hash(id, k)`` for copy ``k`` (for POINT, as Blender 5.0 does, the id of the vertex whose index is the
element's position in the selection). Duplicate Index (a field on the output domain) numbers the copies of each
element from 0. The new meshes have no material slots (``BKE_mesh_new_nomain``). Counts and the selection decide
topology and are shared by the batch. Checked against Blender in ``tests/translator/nodes/test_duplicate.py``.
"""

from __future__ import annotations

import itertools
from typing import Any

import torch

from .. import runtime as rt
from ..geometry import Attribute, GeometrySet, Instances, MeshBatch, offsets_from_sizes
from . import node
from .attributes import map_real_meshes
from .fields import decided, evaluate, instance_context, mesh_context, selection_mask
from .noise import jenkins_hash

__all__ = ["duplicate_elements"]

_COUNTER = itertools.count()
_DOMAINS = ("POINT", "EDGE", "FACE", "INSTANCE")


def _counts(fctx: rt.FieldContext, selection: Any, amount: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """``(selected indices (S,), copies of each (S,))`` shared by the batch."""
    mask = selection_mask(selection, fctx, "a Duplicate Elements selection")
    n = evaluate(amount, fctx, "INT").clamp(min=0)
    if n.shape[0] > 1 and not bool((n == n[:1]).all()):
        raise rt.TopologyVaries(n, "the Amount of Duplicate Elements")
    sel = mask.nonzero().reshape(-1)
    return sel, decided(n[0][sel])


def _groups(counts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For copies laid out group by group: ``(group of each copy, copy number within its group)``."""
    dev = counts.device
    group = torch.repeat_interleave(torch.arange(counts.numel(), device=dev), counts)
    start = torch.cumsum(counts, 0) - counts
    return group, torch.arange(int(counts.sum()), device=dev) - start[group]


def _hashed_ids(ids: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """``id`` for copy 0, ``noise::hash(id, k)`` (as a signed 32-bit int) for the others."""
    h = jenkins_hash(ids, k.expand_as(ids))
    h = torch.where(h >= 2**31, h - 2**32, h)
    return torch.where(k == 0, ids, h)


def _out_attrs(mesh: MeshBatch, maps: dict[str, torch.Tensor], copy_of_vert: torch.Tensor | None,
               name: str | None, index_domain: str, copy_number: torch.Tensor) -> dict[str, Attribute]:
    attrs = {}
    for key, a in mesh.attributes.items():
        src = maps.get(a.domain)
        if src is None:
            continue
        d = a.data[:, src]
        if key == "id" and a.domain == "POINT" and copy_of_vert is not None:
            d = _hashed_ids(d.long(), copy_of_vert.unsqueeze(0)).to(a.data.dtype)
        attrs[key] = Attribute(a.domain, d, a.type)
    if name is not None:
        attrs[name] = Attribute(index_domain, copy_number.unsqueeze(0), "INT")
    return attrs


def _dup_points(mesh: MeshBatch, selection: Any, amount: Any, name: str | None) -> MeshBatch:
    sel, counts = _counts(mesh_context(mesh, "POINT"), selection, amount)
    group, k = _groups(counts)
    src = sel[group]
    dev = src.device
    attrs = _out_attrs(mesh, {"POINT": src}, k, name, "POINT", k)
    ids = mesh.attributes.get("id")
    if ids is not None and ids.domain == "POINT":
        # Blender 5.0 reads the id of the *selection position* (copy_stable_id_point indexes the source by it)
        d = ids.data[:, group.clamp(max=max(mesh.num_verts - 1, 0))]
        attrs["id"] = Attribute("POINT", _hashed_ids(d.long(), k.unsqueeze(0)).to(ids.data.dtype), ids.type)
    return MeshBatch(verts=mesh.verts[:, src], corner_verts=torch.zeros(0, dtype=torch.long, device=dev),
                     face_offsets=torch.zeros(1, dtype=torch.long, device=dev),
                     edges=torch.zeros((0, 2), dtype=torch.long, device=dev), attributes=attrs)


def _dup_edges(mesh: MeshBatch, selection: Any, amount: Any, name: str | None) -> MeshBatch:
    if mesh.edges is None:
        raise TypeError("Duplicate Elements on edges needs a mesh that tracks its edges")
    sel, counts = _counts(mesh_context(mesh, "EDGE"), selection, amount)
    group, k = _groups(counts)
    src_edge = sel[group]
    dev = src_edge.device
    n = int(src_edge.numel())
    vert_src = mesh.edges[src_edge].reshape(-1)
    k_vert = k.repeat_interleave(2)
    attrs = _out_attrs(mesh, {"POINT": vert_src, "EDGE": src_edge}, k_vert, name, "EDGE", k)
    edges = torch.arange(2 * n, device=dev).reshape(n, 2)
    return MeshBatch(verts=mesh.verts[:, vert_src], corner_verts=torch.zeros(0, dtype=torch.long, device=dev),
                     face_offsets=torch.zeros(1, dtype=torch.long, device=dev), edges=edges, attributes=attrs)


def _dup_faces(mesh: MeshBatch, selection: Any, amount: Any, name: str | None) -> MeshBatch:
    sel, counts = _counts(mesh_context(mesh, "FACE"), selection, amount)
    group, k = _groups(counts)
    src_face = sel[group]  # (D,) the source of each new face
    dev = src_face.device
    sizes = mesh.face_sizes()[src_face]
    new_face = torch.repeat_interleave(torch.arange(src_face.numel(), device=dev), sizes)
    offsets = offsets_from_sizes(sizes)
    local = torch.arange(int(sizes.sum()), device=dev) - offsets[:-1][new_face]
    corner_src = mesh.face_offsets[:-1][src_face][new_face] + local
    c = torch.arange(corner_src.numel(), device=dev)
    nxt = torch.where(local + 1 == sizes[new_face], offsets[:-1][new_face], c + 1)
    maps = {"POINT": mesh.corner_verts[corner_src], "FACE": src_face, "CORNER": corner_src}
    if mesh.edges is not None and mesh.num_corners:
        maps["EDGE"] = rt.corner_edges(mesh)[corner_src]
    attrs = _out_attrs(mesh, maps, k[new_face], name, "FACE", k)
    return MeshBatch(verts=mesh.verts[:, maps["POINT"]], corner_verts=c, face_offsets=offsets,
                     edges=torch.stack([c, nxt], 1), attributes=attrs)


def _dup_instances(inst: Instances, selection: Any, amount: Any, name: str | None) -> Instances | None:
    sel, counts = _counts(instance_context(inst), selection, amount)
    group, k = _groups(counts)
    src = sel[group]
    if src.numel() == 0:
        return None
    attrs = {key: Attribute(a.domain, a.data[:, src], a.type) for key, a in inst.attributes.items() if key != "id"}
    if name is not None:
        attrs[name] = Attribute("INSTANCE", k.unsqueeze(0), "INT")
    idx = src.tolist()
    return Instances(list(inst.references), [inst.reference_index[i] for i in idx], inst.transforms[:, src], attrs)


def _check(n) -> str | None:
    d = n.properties.get("domain")
    return None if d in _DOMAINS else f"Duplicate Elements domain {d!r} is not supported (meshes and instances only)"


@node("GeometryNodeDuplicateElements", outputs=("Geometry", "Duplicate Index"), props=("domain",), pure=False,
      check=_check, outputs_arg=True, label="Duplicate Elements", modes={"domain": _DOMAINS}, grad="yes",
      notes="meshes and instances; counts and the selection are shared by the batch")
def duplicate_elements(geometry=None, selection=True, amount=1, domain: str = "POINT", outputs_used=None):
    """Duplicate Elements: ``(copies, duplicate index field)`` (see the module)."""
    if geometry is None:
        return GeometrySet(), 0
    used = tuple(outputs_used) if outputs_used is not None else ("Geometry", "Duplicate Index")
    name = f".duplicate_index_{next(_COUNTER)}" if "Duplicate Index" in used else None
    index = rt.attribute_field(name, "INT") if name is not None else 0
    if geometry.curves is not None and domain in ("POINT",):
        raise TypeError("Duplicate Elements of curve points is not supported")
    if domain == "INSTANCE":
        inst = geometry.instances
        if inst is None or inst.count == 0:
            return GeometrySet(), index
        return GeometrySet(instances=_dup_instances(inst, selection, amount, name)), index
    if domain == "POINT":
        out = map_real_meshes(geometry, lambda m: _dup_points(m, selection, amount, name))
        return GeometrySet(mesh=out.mesh, instances=out.instances), index
    mesh = geometry.mesh
    if mesh is None:
        return GeometrySet(), index
    fn = _dup_edges if domain == "EDGE" else _dup_faces
    return GeometrySet(mesh=fn(mesh, selection, amount, name)), index
