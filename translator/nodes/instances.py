"""Instances: Instance on Points, Geometry to Instance, Realize Instances, Translate / Rotate / Scale Instances,
and Blender's way of joining meshes (Join Geometry realizes its meshes as identity instances).

Instances (:class:`translator.geometry.Instances`) hold references (geometry
sets), one reference index per instance (a Python list: it decides topology and
is shared by the batch), transforms ``(B, I, 4, 4)`` and INSTANCE-domain
attributes ``(b, I, ...)``.

Realizing follows Blender's ``realize_instances.cc``: the geometry's own mesh
comes first, then every instance in order, nested instances depth first. Each
mesh keeps its attributes; an attribute a mesh lacks takes the value of the
innermost instance that has it (instance attributes land on the POINT domain),
else zeros. Attributes met with several domains or types take the domain of
highest priority and the most complex type. Material slots of all meshes are
merged in order and ``material_index`` is remapped. A realize that yields a
single mesh returns that mesh unchanged but transformed.

Speed: vertices are transformed with one batched matmul per reference (all of
its instances at once) and put in instance order with one gather; faces,
corners, edges and attributes are laid out with index arithmetic, never with a
Python loop over instances or vertices.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace

import torch

from .. import runtime as rt
from ..geometry import Attribute, GeometrySet, Instances, LazyVerts, MeshBatch, join_curves, join_points, offsets_from_sizes
from ..runtime.rotations import IDENTITY, quaternion_to_euler
from . import node
from .attributes import (
    adapt_attribute,
    attribute_type,
    default_data,
    merge_kinds,
    modify_geometry_sets,
    try_convert,
)
from .fields import curves_context, decided, evaluate, instance_context, mesh_context, selection_mask
from .transform import euler_to_matrix, join_instances, loc_rot_scale

__all__ = [
    "geometry_to_instance",
    "instance_on_points",
    "join_meshes_like_blender",
    "realize",
    "realize_instances",
    "rotate_instances",
    "scale_instances",
    "translate_instances",
]

# attributes a mesh keeps as built-ins (not propagated to instances), and names realize handles itself
_MESH_BUILTINS = ("position", "material_index", "sharp_face", "sharp_edge")
_NOT_GENERIC = ("position", "id", "material_index")


def _cat_batched(tensors: list[torch.Tensor], dim: int = 1) -> torch.Tensor:
    """Concatenate along ``dim`` after broadcasting the batch dimension."""
    if len(tensors) == 1:
        return tensors[0]
    b = max(t.shape[0] for t in tensors)
    return torch.cat([t.expand(b, *t.shape[1:]) if t.shape[0] != b else t for t in tensors], dim)


def _static_ints(t: torch.Tensor, what: str) -> torch.Tensor:
    """A ``(b, N)`` int field result as one ``(N,)`` tensor shared by the batch."""
    if t.shape[0] > 1 and not bool((t == t[:1]).all()):
        raise rt.TopologyVaries(t.reshape(t.shape[0], -1), what)
    return decided(t[0])


# ---------------------------------------------------------------------------
# Instance on Points


def _add_reference(refs: list[GeometrySet], ref: GeometrySet) -> int:
    for k, r in enumerate(refs):
        if r is ref:
            return k
    refs.append(ref)
    return len(refs) - 1


def _propagated_point_attributes(mesh: MeshBatch, sel: torch.Tensor) -> dict[str, Attribute]:
    """The mesh's generic attributes moved to its points, gathered for the selected points, as
    INSTANCE attributes (Blender propagates them through the point domain)."""
    out = {}
    for name, attr in mesh.attributes.items():
        if name in _MESH_BUILTINS:
            continue
        t = attribute_type(attr)
        out[name] = Attribute("INSTANCE", adapt_attribute(mesh, attr, "POINT", t)[:, sel], t)
    return out


def _instances_on_mesh(mesh: MeshBatch, selection, instance: GeometrySet, pick_instance, instance_index,
                       rotation, scale, fctx: rt.FieldContext | None = None) -> Instances | None:
    fctx = fctx or mesh_context(mesh, "POINT")
    mask = selection_mask(selection, fctx, "an Instance on Points selection")
    sel = mask.nonzero().reshape(-1)
    n = int(sel.numel())
    if n == 0:
        return None
    # a constant rotation stays a tuple: loc_rot_scale takes its matrix from a cache (the identity: none)
    constant = isinstance(rotation, tuple) and len(rotation) == 4 and all(isinstance(v, (int, float)) for v in rotation)
    rot = rotation if constant else evaluate(rotation, fctx, "ROTATION")[:, sel]
    scl = evaluate(scale, fctx, "VECTOR")[:, sel]
    transforms = loc_rot_scale(mesh.verts[:, sel], rot, scl)
    if pick_instance is False:
        picked = torch.zeros(n, dtype=torch.bool, device=sel.device)
    else:
        picked = decided(rt.static_mask(evaluate(pick_instance, fctx, "BOOLEAN"), "an Instance on Points Pick Instance"))[sel]
    # References as Blender 5.0 adds them: the picked-from geometry's references (in its order),
    # the whole instance geometry, an empty one; unused ones are dropped afterwards.
    src = instance.instances if bool(picked.any()) else None
    refs: list[GeometrySet] = []
    handle_map = torch.tensor([_add_reference(refs, r) for r in src.references] if src is not None and src.count else [],
                              dtype=torch.long)
    full = _add_reference(refs, instance)
    empty = _add_reference(refs, GeometrySet())
    ref_index = torch.full((n,), full, dtype=torch.long)
    if src is not None:
        picked_cpu = picked.cpu()
        if src.count == 0:
            ref_index[picked_cpu] = empty
        else:
            if instance_index is None:  # implicit: the "id" attribute, else the index
                ids = mesh.attributes.get("id")
                idx = (adapt_attribute(mesh, ids, "POINT", "INT") if ids is not None
                       else torch.arange(mesh.num_verts, device=sel.device).unsqueeze(0))
            else:
                idx = evaluate(instance_index, fctx, "INT")
            idx = torch.remainder(_static_ints(idx, "an Instance on Points Instance Index")[sel], src.count)
            idx = torch.where(picked, idx, torch.zeros_like(idx))
            child = src.transforms[:, idx]
            eye = torch.eye(4, dtype=child.dtype, device=child.device)
            transforms = torch.matmul(transforms, torch.where(picked.reshape(1, -1, 1, 1), child, eye))
            src_handles = torch.tensor(src.reference_index, dtype=torch.long)[idx.cpu()]
            ref_index = torch.where(picked_cpu, handle_map[src_handles], ref_index)
    used = torch.zeros(len(refs), dtype=torch.bool)
    used[ref_index] = True
    compact = torch.cumsum(used.long(), 0) - 1
    refs = [r for r, u in zip(refs, used.tolist()) if u]
    ref_index = compact[ref_index]
    return Instances(references=refs, reference_index=ref_index.tolist(), transforms=transforms,
                     attributes=_propagated_point_attributes(mesh, sel))


@node("GeometryNodeInstanceOnPoints", outputs=("Instances",), pure=False, implicit=("instance_index",),
      label="Instance on Points", notes="selection, pick instance, instance index, rotation, scale", grad="yes")
def instance_on_points(points=None, selection=True, instance=None, pick_instance=False, instance_index=None,
                       rotation=IDENTITY, scale=(1.0, 1.0, 1.0)):
    """Instance on Points: one instance of ``instance`` per selected vertex of the points' mesh,
    with transform ``T(position) @ R(rotation) @ S(scale)`` (fields on the POINT domain, ``(B, n,
    4, 4)``). With Pick Instance a point takes instance ``Instance Index`` (wrapped; default the
    "id" attribute or the point index) of the instance geometry, composed with its transform.
    Existing instances are kept first; meshes inside instances get instances too (nested).
    Only instances remain in the output; the points' generic attributes move to the instances."""
    if points is None:
        return GeometrySet()
    instance = instance if instance is not None else GeometrySet()

    def on_set(g: GeometrySet) -> GeometrySet:
        new = None
        if g.mesh is not None and g.mesh.num_verts:
            new = _instances_on_mesh(g.mesh, selection, instance, pick_instance, instance_index, rotation, scale)
        on_curves = None
        c = g.curves
        if c is not None and c.num_points:  # the control points, as Blender's curve component offers them
            points = MeshBatch(verts=c.positions, corner_verts=c.curve_offsets[:0], face_offsets=c.curve_offsets[:1],
                               attributes={k: a for k, a in c.attributes.items() if a.domain == "POINT"})
            on_curves = _instances_on_mesh(points, selection, instance, pick_instance, instance_index, rotation, scale,
                                           fctx=curves_context(c, "POINT"))
        on_points = None
        if g.points is not None and g.points.num_verts:  # radius is a point cloud built-in: not propagated
            generic = replace(g.points, attributes={k: a for k, a in g.points.attributes.items() if k != "radius"})
            on_points = _instances_on_mesh(generic, selection, instance, pick_instance, instance_index, rotation, scale,
                                           fctx=mesh_context(g.points, "POINT"))
        return GeometrySet(instances=join_instances([g.instances, new, on_points, on_curves]))

    return modify_geometry_sets(points, on_set)


# ---------------------------------------------------------------------------
# Realize: pieces of mesh laid out with index arithmetic


@dataclass
class _Piece:
    """A mesh being assembled, in the frame of the geometry that owns it.

    ``attrs[name] = (data (b, N, ...), defined (N,) bool or None)`` holds every output attribute on
    its output domain and type; ``defined`` marks elements whose mesh had the attribute (None: all),
    the others wait for an instance attribute (else stay zero). ``material_index`` ``(b, F)`` holds
    output material slots."""

    verts: LazyVerts
    corner_verts: torch.Tensor
    face_sizes: torch.Tensor
    edges: torch.Tensor | None
    attrs: dict[str, tuple[torch.Tensor, torch.Tensor | None]]
    material_index: torch.Tensor

    def size(self, domain: str) -> int:
        if domain == "POINT":
            return self.verts.num_verts
        if domain == "FACE":
            return int(self.face_sizes.numel())
        if domain == "CORNER":
            return int(self.corner_verts.numel())
        if domain == "EDGE":
            return 0 if self.edges is None else int(self.edges.shape[0])
        raise ValueError(domain)


@dataclass
class _Plan:
    """What a realize produces: the output attributes (name -> (domain, type)), material slots,
    and whether ``material_index`` is written."""

    kinds: dict[str, tuple[str, str]]
    materials: list
    material_index: bool


def _mesh_kinds(mesh: MeshBatch, out: dict[str, list]) -> None:
    for name, attr in mesh.attributes.items():
        out.setdefault(name, []).append((attr.domain, attribute_type(attr)))


def _instance_kinds(inst: Instances, out: dict[str, list]) -> None:
    for name, attr in inst.attributes.items():
        out.setdefault(name, []).append(("POINT", attribute_type(attr)))


def _gather_kinds(geo: GeometrySet, out: dict[str, list], top: torch.Tensor | None, seen: set) -> None:
    """Attributes realize propagates (``gather_attributes_to_propagate``): ``top`` selects the
    top-level instances whose references count (None: all)."""
    if geo.mesh is not None and id(geo.mesh) not in seen:
        seen.add(id(geo.mesh))
        _mesh_kinds(geo.mesh, out)
    inst = geo.instances
    if inst is None or inst.count == 0:
        return
    used = range(len(inst.references)) if top is None else sorted({inst.reference_index[i] for i in top.tolist()})
    if not used:
        return
    if id(inst) not in seen:
        seen.add(id(inst))
        _instance_kinds(inst, out)
    for r in used:
        _gather_kinds(inst.references[r], out, None, seen)


def _gather_meshes(geo: GeometrySet, out: list[MeshBatch]) -> None:
    """Every mesh with vertices, depth first through the references (``gather_meshes_to_realize``)."""
    if geo.mesh is not None and geo.mesh.num_verts and not any(m is geo.mesh for m in out):
        out.append(geo.mesh)
    if geo.instances is not None:
        for r in geo.instances.references:
            _gather_meshes(r, out)


def _make_plan(kind_lists: dict[str, list], meshes: list[MeshBatch]) -> _Plan:
    kinds = {name: merge_kinds(k) for name, k in kind_lists.items() if name not in _NOT_GENERIC}
    materials: list = []
    for m in meshes:
        for mat in (m.materials or [None]):
            if mat not in materials:
                materials.append(mat)
    return _Plan(kinds, materials, "material_index" in kind_lists or len(materials) > 1)


def _mesh_piece(mesh: MeshBatch, plan: _Plan) -> _Piece:
    attrs = {}
    for name, (domain, t) in plan.kinds.items():
        attr = mesh.attributes.get(name)
        if attr is not None:
            attrs[name] = (adapt_attribute(mesh, attr, domain, t), None)
        else:
            n = mesh.domain_size(domain)
            attrs[name] = (default_data(t, n), torch.zeros(n, dtype=torch.bool, device=mesh.corner_verts.device))
    dev = mesh.corner_verts.device
    if not mesh.materials:
        mi = torch.full((1, mesh.num_faces), plan.materials.index(None), dtype=torch.long, device=dev)
    else:
        slot_map = torch.tensor([plan.materials.index(m) for m in mesh.materials], dtype=torch.long, device=dev)
        old = mesh.attributes.get("material_index")
        old = old.data.long() if old is not None else torch.zeros((1, mesh.num_faces), dtype=torch.long, device=dev)
        valid = (old >= 0) & (old < len(mesh.materials))
        mi = torch.where(valid, slot_map[old.clamp(0, len(mesh.materials) - 1)], torch.zeros_like(old))
    return _Piece(mesh.lazy_verts, mesh.corner_verts, mesh.face_sizes(), mesh.edges, attrs, mi)


def _layout(counts: torch.Tensor, ref_of: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Elements of instances laid out in instance order. ``counts (R,)`` elements per reference,
    ``ref_of (I,)`` reference of each instance. Returns ``src (N,)`` (index into the references'
    elements concatenated in reference order), ``inst_of (N,)`` and ``local (N,)`` (index inside
    the instance's reference)."""
    per_inst = counts[ref_of]
    total = int(per_inst.sum())
    first = torch.cumsum(per_inst, 0) - per_inst
    # repeat_interleave(repeats) gives each element's instance directly (no value tensor to repeat)
    inst_of = torch.repeat_interleave(per_inst, output_size=total)
    local = torch.arange(total, device=ref_of.device) - first[inst_of]
    starts = torch.cumsum(counts, 0) - counts
    return starts[ref_of][inst_of] + local, inst_of, local


def _place_verts(pieces: list[_Piece], ref_of: torch.Tensor, transforms: torch.Tensor) -> LazyVerts:
    """Every instance's reference vertices transformed, in instance order (lazily: runs of
    consecutive instances of one reference become one part, materialised with one product)."""
    refs = ref_of.tolist()
    runs: list[LazyVerts] = []
    start = 0
    for i in range(1, len(refs) + 1):
        if i == len(refs) or refs[i] != refs[start]:
            runs.append(pieces[refs[start]].verts.instanced(transforms[:, start:i]))
            start = i
    return LazyVerts.cat(runs)


def _instances_piece(inst: Instances, chosen: torch.Tensor | None, pieces: list[_Piece | None], plan: _Plan) -> _Piece | None:
    """The instances ``chosen`` (``(I,)`` indices, None: all) realized in ``inst``'s frame;
    ``pieces[r]`` is reference ``r`` realized (None: nothing to realize)."""
    dev = inst.transforms.device
    idx = torch.arange(inst.count) if chosen is None else chosen.cpu()
    ref_index = torch.tensor(inst.reference_index, dtype=torch.long)[idx]
    has_piece = torch.tensor([p is not None for p in pieces], dtype=torch.bool)
    keep = has_piece[ref_index]
    idx, ref_index = idx[keep].to(dev), ref_index[keep]
    if idx.numel() == 0:
        return None
    used = sorted(set(ref_index.tolist()))
    compact = torch.zeros(len(pieces), dtype=torch.long)
    compact[torch.tensor(used)] = torch.arange(len(used))
    ref_of = compact[ref_index].to(dev)
    transforms = inst.transforms[:, idx]
    refs = [pieces[r] for r in used]

    def lay(domain: str):
        counts = torch.tensor([p.size(domain) for p in refs], dtype=torch.long, device=dev)
        return _layout(counts, ref_of)

    v_src, v_inst, _ = lay("POINT")
    verts = _place_verts(refs, ref_of, transforms)
    nverts = torch.tensor([p.size("POINT") for p in refs], dtype=torch.long, device=dev)[ref_of]
    vert_first = torch.cumsum(nverts, 0) - nverts
    c_src, c_inst, _ = lay("CORNER")
    corner_verts = torch.cat([p.corner_verts for p in refs])[c_src] + vert_first[c_inst]
    f_src, f_inst, _ = lay("FACE")
    face_sizes = torch.cat([p.face_sizes for p in refs])[f_src]
    edges = None
    if all(p.edges is not None for p in refs):
        e_src, e_inst, _ = lay("EDGE")
        edges = torch.cat([p.edges for p in refs])[e_src] + vert_first[e_inst].unsqueeze(1)
    by_domain = {"POINT": (v_src, v_inst), "CORNER": (c_src, c_inst), "FACE": (f_src, f_inst)}
    if edges is not None:
        by_domain["EDGE"] = (e_src, e_inst)
    attrs = {}
    for name, (domain, t) in plan.kinds.items():
        src, inst_of = by_domain[domain]
        data = _cat_batched([p.attrs[name][0] for p in refs])[:, src]
        defined = None
        if any(p.attrs[name][1] is not None for p in refs):
            defined = torch.cat([p.attrs[name][1] if p.attrs[name][1] is not None
                                 else torch.ones(p.size(domain), dtype=torch.bool, device=dev) for p in refs])[src]
        fallback = inst.attributes.get(name)
        values = None
        if fallback is not None and defined is not None:
            values = try_convert(fallback.data[:, idx], attribute_type(fallback), t)
        if values is not None:
            values = values[:, inst_of]
            mask = defined.reshape(1, -1, *([1] * (data.dim() - 2)))
            data = torch.where(mask, data, values)
            defined = None
        attrs[name] = (data, defined)
    material_index = _cat_batched([p.material_index for p in refs])[:, f_src]
    return _Piece(verts, corner_verts, face_sizes, edges, attrs, material_index)


def _concat(pieces: list[_Piece]) -> _Piece:
    if len(pieces) == 1:
        return pieces[0]
    offsets, off = [], 0
    for p in pieces:
        offsets.append(off)
        off += p.size("POINT")
    attrs = {}
    for name in pieces[0].attrs:
        data = _cat_batched([p.attrs[name][0] for p in pieces])
        defined = None
        if any(p.attrs[name][1] is not None for p in pieces):
            dom_sizes = [int(p.attrs[name][0].shape[1]) for p in pieces]
            defined = torch.cat([p.attrs[name][1] if p.attrs[name][1] is not None
                                 else torch.ones(n, dtype=torch.bool, device=data.device)
                                 for p, n in zip(pieces, dom_sizes)])
        attrs[name] = (data, defined)
    edges = None
    if all(p.edges is not None for p in pieces):
        edges = torch.cat([p.edges + o for p, o in zip(pieces, offsets)])
    return _Piece(
        verts=LazyVerts.cat([p.verts for p in pieces]),
        corner_verts=torch.cat([p.corner_verts + o for p, o in zip(pieces, offsets)]),
        face_sizes=torch.cat([p.face_sizes for p in pieces]),
        edges=edges,
        attrs=attrs,
        material_index=_cat_batched([p.material_index for p in pieces]),
    )


def _flatten(geo: GeometrySet, plan: _Plan, chosen: torch.Tensor | None, memo: dict) -> _Piece | None:
    """``geo`` realized in its own frame (``chosen``: which top-level instances, None: all)."""
    parts = []
    if geo.mesh is not None and geo.mesh.num_verts:
        parts.append(_mesh_piece(geo.mesh, plan))
    inst = geo.instances
    if inst is not None and inst.count and (chosen is None or chosen.numel()):
        used = set(inst.reference_index) if chosen is None else {inst.reference_index[i] for i in chosen.tolist()}
        refs = []
        for r, ref in enumerate(inst.references):
            if r not in used:
                refs.append(None)
                continue
            if id(ref) not in memo:
                memo[id(ref)] = (ref, _flatten(ref, plan, None, memo))
            refs.append(memo[id(ref)][1])
        part = _instances_piece(inst, chosen, refs, plan)
        if part is not None:
            parts.append(part)
    return _concat(parts) if parts else None


def _to_mesh(piece: _Piece, plan: _Plan) -> MeshBatch:
    attrs = {}
    for name, (domain, t) in plan.kinds.items():
        attrs[name] = Attribute(domain, piece.attrs[name][0], t)
    if plan.material_index:
        attrs["material_index"] = Attribute("FACE", piece.material_index, "INT")
    return MeshBatch(verts=piece.verts, corner_verts=piece.corner_verts, face_offsets=offsets_from_sizes(piece.face_sizes),
                     edges=piece.edges, attributes=attrs, materials=list(plan.materials))


# -- the single-mesh case: Blender copies that mesh, transforms it and adds instance attributes


def _realized_size(geo: GeometrySet, chosen: torch.Tensor | None, memo: dict) -> int:
    """Vertices plus face corners of ``geo`` realized: its mesh and its (``chosen``) instances, recursively
    (``memo``: size per referenced geometry)."""
    n = geo.mesh.num_verts + geo.mesh.num_corners if geo.mesh is not None else 0
    inst = geo.instances
    if inst is not None and inst.count:
        refs = inst.reference_index if chosen is None else [inst.reference_index[i] for i in chosen.tolist()]
        for ref, times in Counter(refs).items():
            r = inst.references[ref]
            if id(r) not in memo:
                memo[id(r)] = _realized_size(r, None, memo)
            n += times * memo[id(r)]
    return n


def _count_meshes(geo: GeometrySet, chosen: torch.Tensor | None, memo: dict) -> int:
    n = 1 if geo.mesh is not None and geo.mesh.num_verts else 0
    inst = geo.instances
    if inst is not None and inst.count:
        idx = range(inst.count) if chosen is None else chosen.tolist()
        for i in idx:
            r = inst.references[inst.reference_index[i]]
            if id(r) not in memo:
                memo[id(r)] = (r, _count_meshes(r, None, memo))
            n += memo[id(r)][1]
            if n > 1:
                return n
    return n


def _find_single(geo: GeometrySet, chosen: torch.Tensor | None, memo: dict):
    """The one mesh of ``geo`` with its transform ``(B, 4, 4)`` (None: identity) and the instance
    attribute values it falls back on (``name -> (values (b, ...), type)``, innermost wins)."""
    if geo.mesh is not None and geo.mesh.num_verts:
        return geo.mesh, None, {}
    inst = geo.instances
    for i in (range(inst.count) if chosen is None else chosen.tolist()):
        r = inst.references[inst.reference_index[i]]
        if memo[id(r)][1] == 0:
            continue
        mesh, t, fallbacks = _find_single(r, None, memo)
        outer = {name: (a.data[:, i], attribute_type(a)) for name, a in inst.attributes.items()}
        t_i = inst.transforms[:, i]
        return mesh, t_i if t is None else torch.matmul(t_i, t), {**outer, **fallbacks}
    raise AssertionError("no mesh found")


def _single_mesh(mesh: MeshBatch, transform, fallbacks: dict, plan: _Plan) -> MeshBatch:
    attrs = dict(mesh.attributes)
    for name, (domain, t) in plan.kinds.items():
        if name in attrs or name not in fallbacks:
            continue
        values, src_t = fallbacks[name]
        v = try_convert(values.unsqueeze(1), src_t, t)
        if v is None:
            continue
        n = mesh.domain_size(domain)
        attrs[name] = Attribute(domain, v.expand(v.shape[0], n, *v.shape[2:]), t)
    moved = mesh if transform is None else mesh.transformed(transform)
    return MeshBatch(moved.lazy_verts, mesh.corner_verts, mesh.face_offsets, mesh.edges, attrs, list(mesh.materials))


def realize(geo: GeometrySet, selection: torch.Tensor | None = None) -> GeometrySet:
    """Realize the instances of ``geo`` (``selection``: ``(I,)`` bool mask of the top-level
    instances to realize, None: all). Unselected instances stay instances."""
    inst = geo.instances
    if inst is None or inst.count == 0:
        return geo
    chosen = None if selection is None or bool(selection.all()) else selection.nonzero().reshape(-1)
    kept = None
    if chosen is not None:
        rest = (~selection).nonzero().reshape(-1)
        kept = _subset(inst, rest)
    kind_lists: dict[str, list] = {}
    _gather_kinds(geo, kind_lists, chosen, set())
    rt.check_size(_realized_size(geo, chosen, {}), f"Realize Instances ({inst.count:,} instances)")
    meshes: list[MeshBatch] = []
    _gather_meshes(geo, meshes)
    plan = _make_plan(kind_lists, meshes)
    count_memo: dict = {}
    count = _count_meshes(geo, chosen, count_memo)
    if count == 0:
        mesh = None
    elif count == 1:
        mesh = _single_mesh(*_find_single(geo, chosen, count_memo), plan)
    else:
        mesh = _to_mesh(_flatten(geo, plan, chosen, {}), plan)
    curves: list = []
    _gather(geo, "curves", None, chosen, curves)
    points: list = []
    _gather(geo, "points", None, chosen, points)
    return GeometrySet(mesh=mesh, instances=kept, curves=join_curves(curves), points=join_points(points))


def _gather(geo: GeometrySet, kind: str, transform: torch.Tensor | None, chosen: torch.Tensor | None,
            out: list) -> None:
    """The ``kind`` component (``"curves"`` or ``"points"``) of ``geo`` and of its (``chosen``) instances, depth
    first, moved into the top frame (``transform``: ``(B, 4, 4)`` or None)."""
    comp = getattr(geo, kind)
    if comp is not None and (comp.num_curves if kind == "curves" else comp.num_verts):
        out.append(comp if transform is None else comp.transformed(transform))
    inst = geo.instances
    if inst is None or inst.count == 0:
        return
    for i in (range(inst.count) if chosen is None else chosen.tolist()):
        ref = inst.references[inst.reference_index[i]]
        if getattr(ref, kind) is None and ref.instances is None:
            continue
        t = inst.transforms[:, i] if transform is None else torch.matmul(transform, inst.transforms[:, i])
        _gather(ref, kind, t, None, out)


def _subset(inst: Instances, idx: torch.Tensor) -> Instances | None:
    if idx.numel() == 0:
        return None
    attrs = {k: replace(a, data=a.data[:, idx]) for k, a in inst.attributes.items()}
    return replace(inst, reference_index=[inst.reference_index[i] for i in idx.tolist()],
                   transforms=inst.transforms[:, idx], attributes=attrs)


def join_meshes_like_blender(meshes: list[MeshBatch | None]) -> MeshBatch | None:
    """Join Geometry's mesh join: a single mesh passes unchanged; several are realized as
    identity instances (attributes merged by domain priority and type complexity, zeros where a
    mesh lacks one; material slots merged in order and ``material_index`` remapped)."""
    meshes = [m for m in meshes if m is not None]
    if len(meshes) <= 1:
        return meshes[0] if meshes else None
    real = [m for m in meshes if m.num_verts]
    if len(real) <= 1:
        return real[0] if real else None
    kind_lists: dict[str, list] = {}
    for m in meshes:
        _mesh_kinds(m, kind_lists)
    unique: list[MeshBatch] = []
    for m in real:
        if not any(u is m for u in unique):
            unique.append(m)
    plan = _make_plan(kind_lists, unique)
    return _to_mesh(_concat([_mesh_piece(m, plan) for m in real]), plan)


def _check_realize(n) -> str | None:
    for s in n.inputs:
        if s.identifier == "Realize All" and s.enabled and s.default is not True:
            return "Realize Instances with Realize All off (a Depth limit) is not supported"
    return None


@node("GeometryNodeRealizeInstances", outputs=("Geometry",), pure=False, check=_check_realize,
      label="Realize Instances", notes="selection; Realize All off (a depth limit) is refused", grad="yes")
def realize_instances(geometry=None, selection=True, realize_all=True, depth=0):
    """Realize Instances: the geometry's mesh, then every selected top-level instance (a field on
    the INSTANCE domain, shared by the batch) realized recursively, joined into one mesh;
    unselected instances stay instances. ``depth`` only matters with Realize All off (rejected)."""
    if geometry is None:
        return GeometrySet()
    if isinstance(realize_all, rt.Field) or not rt.static(realize_all, "Realize Instances' Realize All"):
        raise TypeError("Realize Instances with Realize All off (a Depth limit) is not supported")
    inst = geometry.instances
    if inst is None or inst.count == 0:
        return geometry
    mask = None if selection is True else selection_mask(selection, instance_context(inst),
                                                         "a Realize Instances selection")
    return realize(geometry, mask)


# ---------------------------------------------------------------------------
# Translate / Rotate / Scale Instances


def _instances_update(geometry, fn) -> GeometrySet:
    if geometry is None:
        return GeometrySet()
    inst = geometry.instances
    if inst is None or inst.count == 0:
        return geometry
    fctx = instance_context(inst)
    lin, loc = fn(fctx, inst.transforms[..., :3, :3], inst.transforms[..., :3, 3])
    b = max(lin.shape[0], loc.shape[0])
    top = torch.cat([lin.expand(b, *lin.shape[1:]), loc.expand(b, *loc.shape[1:]).unsqueeze(-1)], -1)
    bottom = inst.transforms[..., 3:, :].expand(b, -1, -1, -1)
    return replace(geometry, instances=replace(inst, transforms=torch.cat([top, bottom], -2)))


def _select(fctx, selection, new, old, extra_dims: int):
    if selection is True:
        return new
    sel = evaluate(selection, fctx, "BOOLEAN").reshape(-1, fctx.size, *([1] * extra_dims))
    return torch.where(sel, new, old)


def _local_flag(fctx, local_space, extra_dims: int):
    return evaluate(local_space, fctx, "BOOLEAN").reshape(-1, fctx.size, *([1] * extra_dims))


@node("GeometryNodeTranslateInstances", outputs=("Instances",), pure=False,
      label="Translate Instances", notes="selection, local space", grad="yes")
def translate_instances(instances=None, selection=True, translation=(0.0, 0.0, 0.0), local_space=True):
    """Translate Instances: ``T @ translate(t)`` in local space (the translation goes through the
    instance's rotation and scale), else the translation is added. Fields on the INSTANCE domain."""

    def fn(fctx, lin, loc):
        t = evaluate(translation, fctx, "VECTOR")
        local = loc + torch.matmul(lin, t.unsqueeze(-1)).squeeze(-1)
        new = torch.where(_local_flag(fctx, local_space, 1), local, loc + t)
        return lin, _select(fctx, selection, new, loc, 1)

    return _instances_update(instances, fn)


def _axis_angle(axis: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Rotation matrices ``(…, 3, 3)`` about unit ``axis (…, 3)`` by ``angle (…)`` (Rodrigues)."""
    c, s = torch.cos(angle)[..., None, None], torch.sin(angle)[..., None, None]
    x, y, z = axis.unbind(-1)
    zero = torch.zeros_like(x)
    k = torch.stack([torch.stack([zero, -z, y], -1), torch.stack([z, zero, -x], -1),
                     torch.stack([-y, x, zero], -1)], -2)
    outer = axis.unsqueeze(-1) * axis.unsqueeze(-2)
    eye = torch.eye(3, dtype=axis.dtype, device=axis.device)
    return c * eye + s * k + (1 - c) * outer


@node("GeometryNodeRotateInstances", outputs=("Instances",), pure=False,
      label="Rotate Instances", notes="selection, pivot, local space", grad="yes")
def rotate_instances(instances=None, selection=True, rotation=IDENTITY, pivot_point=(0.0, 0.0, 0.0),
                     local_space=True):
    """Rotate Instances by a rotation (as its XYZ Euler angles) about a pivot. Local space: about the
    instance's own (normalized) axes, x then y then z, around the pivot given in the instance's
    frame; global space: the Euler matrix around the pivot in world space."""

    def fn(fctx, lin, loc):
        r = quaternion_to_euler(evaluate(rotation, fctx, "ROTATION"))
        p = evaluate(pivot_point, fctx, "VECTOR")
        axes = lin / torch.linalg.vector_norm(lin, dim=-2, keepdim=True).clamp(min=1e-30)
        r_local = torch.matmul(_axis_angle(axes[..., :, 2], r[..., 2]),
                               torch.matmul(_axis_angle(axes[..., :, 1], r[..., 1]), _axis_angle(axes[..., :, 0], r[..., 0])))
        pivot_local = loc + torch.matmul(lin, p.unsqueeze(-1)).squeeze(-1)
        local = _local_flag(fctx, local_space, 2)
        rot = torch.where(local, r_local, euler_to_matrix(r))
        pivot = torch.where(local.squeeze(-1), pivot_local, p)
        new_lin = torch.matmul(rot, lin)
        new_loc = torch.matmul(rot, (loc - pivot).unsqueeze(-1)).squeeze(-1) + pivot
        return _select(fctx, selection, new_lin, lin, 2), _select(fctx, selection, new_loc, loc, 1)

    return _instances_update(instances, fn)


@node("GeometryNodeScaleInstances", outputs=("Instances",), pure=False,
      label="Scale Instances", notes="selection, center, local space", grad="yes")
def scale_instances(instances=None, selection=True, scale=(1.0, 1.0, 1.0), center=(0.0, 0.0, 0.0), local_space=True):
    """Scale Instances about a center. Local space: ``T @ translate(c) @ scale(s) @ translate(-c)``;
    global space: ``translate(c) @ scale(s) @ translate(-c) @ T``."""

    def fn(fctx, lin, loc):
        s = evaluate(scale, fctx, "VECTOR")
        c = evaluate(center, fctx, "VECTOR")
        local = _local_flag(fctx, local_space, 2)
        lin_local = lin * s.unsqueeze(-2)
        loc_local = loc + torch.matmul(lin, (c - s * c).unsqueeze(-1)).squeeze(-1)
        lin_global = lin * s.unsqueeze(-1)
        loc_global = s * (loc - c) + c
        new_lin = torch.where(local, lin_local, lin_global)
        new_loc = torch.where(local.squeeze(-1), loc_local, loc_global)
        return _select(fctx, selection, new_lin, lin, 2), _select(fctx, selection, new_loc, loc, 1)

    return _instances_update(instances, fn)


@node("GeometryNodeGeometryToInstance", outputs=("Instances",), pure=False, multi_inputs=("geometry",),
      label="Geometry to Instance", notes="every input geometry one instance (identity transform), in link order")
def geometry_to_instance(geometry=()):
    """Geometry to Instance: instances ``(1, I, 4, 4)`` identity transforms, one per input geometry."""
    refs: list[GeometrySet] = []
    index = []
    for g in geometry or ():
        g = g if g is not None else GeometrySet()
        refs.append(g)
        index.append(len(refs) - 1)
    c = rt.current()
    transforms = torch.eye(4, dtype=c.dtype, device=c.device).expand(1, len(index), 4, 4).clone()
    return GeometrySet(instances=Instances(refs, index, transforms))
