"""Extrude Mesh: vertices, edges and individual faces (``node_geo_extrude_mesh.cc``).

New elements are appended after the original ones, in Blender's order:

* VERTICES: each selected vertex gets a new vertex at ``position + offset * scale`` (default offset: the
  vertex normal) and an edge ``(vertex, new vertex)``. New vertices copy their source's POINT attributes; the
  new edges mix (mean; booleans: any) the EDGE attributes of all edges at the source vertex. Top: the new
  vertices; Side: the new edges.
* EDGES: the vertices of the selected edges (in index order) get new vertices, moved by the mean offset of
  the selected edges at them (default offset: the edge normal), and connecting edges ``(vertex, new)``;
  each selected edge gets a duplicate between the new vertices and a quad joining the two. The quad is
  ``[v1, new 1, new 2, v2]``, or ``[v1, v2, new 2, new 1]`` when the edge has exactly one face and that face's
  corner on the edge is not at ``v1`` (Blender's ``fill_quad_consistent_direction``). Attributes:
  new vertices copy; connecting edges mix the selected edges at their vertex; duplicates copy their edge;
  quads mix the faces using the edge; quad corners mix the corners at the edge's vertices in those faces
  (zero without faces). Top: the duplicate edges; Side: the quads.
* FACES with Individual: every selected face is copied ``offset * scale`` away (default offset: its
  normal), its corners get new vertices, and a quad joins each of its edges to the original one
  (``[new next, new, old, old next]``). Top: the moved faces; Side: the quads.
* FACES as regions (Individual off): edges used by exactly one selected face bound a region and get a side
  quad (``[new 1, v1, v2, new 2]``, or ``[new 1, new 2, v2, v1]`` when the face runs the edge from ``v2``);
  their vertices, then those of edges inside a region that also touch an unselected face, get new vertices
  (in order of appearance) that the selected faces use; edges inside a region are re-attached to them.
  Vertices move by the mean offset of their selected faces (default: face normals). New edges: connecting
  edges (boundary vertices only), copies of the boundary edges, copies of the touching inner edges.

The selection decides topology, so it is one mask shared by the batch. Positions and offsets stay
differentiable. Checked against Blender in ``tests/translator/nodes/test_extrude.py``.
"""

from __future__ import annotations

import itertools
from typing import Any

import torch

from .. import runtime as rt
from ..geometry import Attribute, GeometrySet, MeshBatch
from . import node
from .attributes import map_real_meshes
from .fields import evaluate, mesh_context, selection_mask
from .mesh_fields import face_normals, input_normal

__all__ = ["extrude_mesh"]

_COUNTER = itertools.count()


def _round_half_away(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.floor(x.abs() + 0.5)


def _mix(data: torch.Tensor, item_src: torch.Tensor, item_group: torch.Tensor, n: int) -> torch.Tensor:
    """Blender's ``DefaultPropagationMixer``: per group ``(n,)`` the mean of ``data[:, item_src]`` over the items in
    it (integers rounded, booleans: any; zero for an empty group) -> ``(b, n, ...)``."""
    vals = data[:, item_src]
    extra = vals.shape[2:]
    if data.dtype == torch.bool:
        out = torch.zeros((vals.shape[0], n, *extra), dtype=torch.long, device=data.device)
        return out.index_add(1, item_group, vals.long()) > 0
    x = vals if data.dtype.is_floating_point else vals.to(rt.current().dtype)
    out = torch.zeros((x.shape[0], n, *extra), dtype=x.dtype, device=x.device).index_add(1, item_group, x)
    cnt = torch.zeros(n, dtype=x.dtype, device=x.device).index_add(0, item_group, torch.ones_like(item_group, dtype=x.dtype))
    out = out / cnt.clamp(min=1).reshape(1, n, *([1] * len(extra)))
    return out if data.dtype.is_floating_point else _round_half_away(out).to(data.dtype)


def _store_selections(attrs: dict, names: dict[str, str], top: tuple, side: tuple) -> None:
    """Store the Top / Side outputs' selections ``(domain, size, selected indices)`` under their anonymous names."""
    for key, (domain, size, idx) in (("Top", top), ("Side", side)):
        if key in names:
            mask = torch.zeros(size, dtype=torch.bool, device=idx.device)
            mask[idx] = True
            attrs[names[key]] = Attribute(domain, mask.unsqueeze(0), "BOOLEAN")


def _offsets(mesh: MeshBatch, domain: str, offset: Any, offset_scale: Any) -> torch.Tensor:
    """``offset * offset_scale`` on ``domain`` ``(b, N, 3)``; offset None: the Normal field there."""
    fctx = mesh_context(mesh, domain)
    off = evaluate(input_normal()[0] if offset is None else offset, fctx, "VECTOR")
    return off * evaluate(offset_scale, fctx, "VALUE").unsqueeze(-1)


def _extend(d: torch.Tensor, extra: torch.Tensor) -> torch.Tensor:
    b = max(int(d.shape[0]), int(extra.shape[0]))
    return torch.cat([d.expand(b, *d.shape[1:]), extra.expand(b, *extra.shape[1:])], 1)


def _extrude_vertices(mesh: MeshBatch, selection: Any, offset: Any, offset_scale: Any, names: dict[str, str]) -> MeshBatch:
    mask = selection_mask(selection, mesh_context(mesh, "POINT"), "an Extrude Mesh selection")
    sel = mask.nonzero().reshape(-1)
    if sel.numel() == 0:
        return mesh
    if mesh.edges is None:
        raise TypeError("Extrude Mesh needs a mesh that tracks its edges")
    dev = sel.device
    nv, ne, k = mesh.num_verts, int(mesh.edges.shape[0]), int(sel.numel())
    off = _offsets(mesh, "POINT", offset, offset_scale)
    v = mesh.verts
    verts = _extend(v, v[:, sel] + off[:, sel])
    new_v = nv + torch.arange(k, device=dev)
    edges = torch.cat([mesh.edges, torch.stack([sel, new_v], 1)])
    # the edges at each selected vertex, for mixing edge attributes
    ends = mesh.edges.reshape(-1)
    pos_of = torch.full((nv,), -1, dtype=torch.long, device=dev)
    pos_of[sel] = torch.arange(k, device=dev)
    hit = pos_of[ends] >= 0
    edge_of_end = torch.arange(2 * ne, device=dev) // 2
    attrs = {}
    for name, a in mesh.attributes.items():
        d = a.data
        if a.domain == "POINT":
            d = _extend(d, d[:, sel])
        elif a.domain == "EDGE":
            d = _extend(d, _mix(d, edge_of_end[hit], pos_of[ends[hit]], k))
        attrs[name] = Attribute(a.domain, d, a.type)
    _store_selections(attrs, names, ("POINT", nv + k, new_v), ("EDGE", ne + k, ne + torch.arange(k, device=dev)))
    return MeshBatch(verts=verts, corner_verts=mesh.corner_verts, face_offsets=mesh.face_offsets, edges=edges,
                     attributes=attrs, materials=list(mesh.materials))


def _extrude_edges(mesh: MeshBatch, selection: Any, offset: Any, offset_scale: Any, names: dict[str, str]) -> MeshBatch:
    if mesh.edges is None:
        raise TypeError("Extrude Mesh needs a mesh that tracks its edges")
    ne = int(mesh.edges.shape[0])
    if ne == 0:
        return mesh
    mask = selection_mask(selection, mesh_context(mesh, "EDGE"), "an Extrude Mesh selection")
    sel = mask.nonzero().reshape(-1)
    if sel.numel() == 0:
        return mesh
    dev = sel.device
    nv, nf, nc = mesh.num_verts, mesh.num_faces, mesh.num_corners
    s = int(sel.numel())
    e = mesh.edges
    se = e[sel]  # (S, 2)
    used = torch.zeros(nv, dtype=torch.bool, device=dev)
    used[se.reshape(-1)] = True
    new_src = used.nonzero().reshape(-1)  # (K,) source vertices in index order
    k = int(new_src.numel())
    new_of = torch.full((nv,), -1, dtype=torch.long, device=dev)
    new_of[new_src] = nv + torch.arange(k, device=dev)
    # offsets: the mean over the selected edges at each vertex
    eoff = _offsets(mesh, "EDGE", offset, offset_scale)[:, sel]  # (b, S, 3)
    end_vert = se.reshape(-1)
    end_edge = torch.arange(s, device=dev).repeat_interleave(2)
    slot = new_of[end_vert] - nv
    voff = _mix(eoff, end_edge, slot, k)
    v = mesh.verts
    verts = _extend(v, v[:, new_src] + voff)
    n1, n2 = new_of[se[:, 0]], new_of[se[:, 1]]
    connect = torch.stack([new_src, nv + torch.arange(k, device=dev)], 1)
    duplicate = torch.stack([n1, n2], 1)
    edges = torch.cat([e, connect, duplicate])
    # faces using each edge (in corner order) and the quads' direction
    ce = rt.corner_edges(mesh) if nc else torch.zeros(0, dtype=torch.long, device=dev)
    face_of_corner = torch.repeat_interleave(torch.arange(nf, device=dev), mesh.face_sizes())
    face_used = torch.zeros((nf, ne), dtype=torch.bool, device=dev) if nf * ne <= 4_000_000 else None
    if face_used is None:
        raise ValueError("Extrude Mesh (edges): mesh too large for the edge-face table")
    if nc:
        face_used[face_of_corner, ce] = True
    faces_of_edge = face_used.sum(0)  # (E,) distinct faces using each edge
    flip = torch.zeros(s, dtype=torch.bool, device=dev)
    one = (faces_of_edge[sel] == 1).nonzero().reshape(-1)
    if one.numel():
        # the first corner (in corner order) whose edge is the selected edge; the face walks v1 -> v2 there?
        c_idx = torch.arange(nc, device=dev)
        first_corner = torch.full((ne,), nc, dtype=torch.long, device=dev).scatter_reduce(0, ce, c_idx, "amin")
        fc = first_corner[sel[one]]
        flip[one] = mesh.corner_verts[fc] != se[one, 0]
    e0, e1 = se[:, 0], se[:, 1]
    quad = torch.where(flip.unsqueeze(-1), torch.stack([e0, e1, n2, n1], 1), torch.stack([e0, n1, n2, e1], 1))
    corner_verts = torch.cat([mesh.corner_verts, quad.reshape(-1)])
    face_offsets = torch.cat([mesh.face_offsets, mesh.face_offsets[-1] + 4 * torch.arange(1, s + 1, device=dev)])
    # attributes
    sel_pos = torch.full((ne,), -1, dtype=torch.long, device=dev)
    sel_pos[sel] = torch.arange(s, device=dev)
    pair_face, pair_edge = face_used.nonzero(as_tuple=True)  # faces using edges, face-major
    order = torch.argsort(pair_edge * nf + pair_face)
    pair_face, pair_edge = pair_face[order], pair_edge[order]
    in_sel = sel_pos[pair_edge] >= 0
    attrs = {}
    for name, a in mesh.attributes.items():
        d = a.data
        if a.domain == "POINT":
            d = _extend(d, d[:, new_src])
        elif a.domain == "EDGE":
            d = _extend(d, torch.cat([_mix(d, sel[end_edge], slot, k), d[:, sel]], 1))
        elif a.domain == "FACE":
            d = _extend(d, _mix(d, pair_face[in_sel], sel_pos[pair_edge[in_sel]], s))
        elif a.domain == "CORNER":
            # corners at the edge's two vertices in the faces using it
            items_src, items_grp = [], []
            if nc:
                faces_using = face_used[:, sel]  # (F, S)
                for side, vert in ((0, e0), (1, e1)):
                    at = faces_using[face_of_corner] & (mesh.corner_verts.unsqueeze(1) == vert.unsqueeze(0))  # (C, S)
                    cc, ss = at.nonzero(as_tuple=True)
                    items_src.append(cc)
                    items_grp.append(ss * 2 + side)
            src = torch.cat(items_src) if items_src else torch.zeros(0, dtype=torch.long, device=dev)
            grp = torch.cat(items_grp) if items_grp else torch.zeros(0, dtype=torch.long, device=dev)
            two = _mix(d, src, grp, 2 * s)  # (b, 2S, ...): value at v1, value at v2 of each edge
            is_first = torch.where(flip.unsqueeze(-1), torch.tensor([True, False, False, True], device=dev),
                                   torch.tensor([True, True, False, False], device=dev))
            pick = torch.arange(s, device=dev).unsqueeze(-1) * 2 + (~is_first).long()
            d = _extend(d, two[:, pick.reshape(-1)])
        attrs[name] = Attribute(a.domain, d, a.type)
    _store_selections(attrs, names, ("EDGE", ne + k + s, ne + k + torch.arange(s, device=dev)),
                      ("FACE", nf + s, nf + torch.arange(s, device=dev)))
    return MeshBatch(verts=verts, corner_verts=corner_verts, face_offsets=face_offsets, edges=edges, attributes=attrs,
                     materials=list(mesh.materials))


def _extrude_individual(mesh: MeshBatch, selection: Any, offset: Any, offset_scale: Any, names: dict[str, str]):
    """Blender's ``extrude_individual_mesh_faces``: the mesh with the selections ``names["Top"]`` / ``["Side"]``
    stored (FACE)."""
    fctx = mesh_context(mesh, "FACE")
    mask = selection_mask(selection, fctx, "an Extrude Mesh selection")
    sel = mask.nonzero().reshape(-1)
    if sel.numel() == 0 or mesh.edges is None:
        if mesh.edges is None and sel.numel():
            raise TypeError("Extrude Mesh needs a mesh that tracks its edges")
        return mesh
    # offsets of the selected faces only (b, S, 3): the normals of other faces are never needed
    off = face_normals(mesh, sel) if offset is None else evaluate(offset, fctx, "VECTOR")[:, sel]
    off = off * evaluate(offset_scale, fctx, "VALUE")[:, sel].unsqueeze(-1)
    dev = mesh.corner_verts.device
    fo = mesh.face_offsets
    sizes = mesh.face_sizes()
    nv, nf = mesh.num_verts, mesh.num_faces
    # the corners of the selected faces, in order: one new vertex, connect edge, duplicate edge and side face each
    counts = sizes[sel]
    face_of = torch.repeat_interleave(sel, counts)
    first = torch.repeat_interleave(fo[:-1][sel], counts)
    local = torch.arange(int(counts.sum()), device=dev) - torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)
    corner = first + local
    nxt_local = torch.where(local + 1 == torch.repeat_interleave(counts, counts), torch.zeros_like(local), local + 1)
    nxt_corner = first + nxt_local
    k = int(corner.numel())
    ext = torch.arange(k, device=dev)
    ext_next = ext - local + nxt_local
    ext_prev_local = torch.where(local == 0, torch.repeat_interleave(counts, counts) - 1, local - 1)
    ext_prev = ext - local + ext_prev_local
    orig_vert = mesh.corner_verts[corner]
    new_vert = nv + ext
    ce = rt.corner_edges(mesh)
    orig_edge = ce[corner]
    moved = mesh.verts[:, orig_vert] + off[:, torch.repeat_interleave(torch.arange(sel.numel(), device=dev), counts)]
    verts = torch.cat([mesh.verts.expand(moved.shape[0], -1, -1), moved], 1)
    corner_verts = mesh.corner_verts.clone()
    corner_verts[corner] = new_vert
    side = torch.stack([nv + ext_next, new_vert, orig_vert, orig_vert[ext_next]], 1).reshape(-1)
    edges = torch.cat([mesh.edges, torch.stack([orig_vert, new_vert], 1), torch.stack([new_vert, nv + ext_next], 1)])
    n_side = k
    face_offsets = torch.cat([fo, fo[-1] + 4 * torch.arange(1, n_side + 1, device=dev)])
    side_corner_src = torch.stack([nxt_corner, corner, corner, nxt_corner], 1).reshape(-1)
    attrs = {}
    for name, a in mesh.attributes.items():
        d = a.data
        if a.domain == "POINT":
            d = torch.cat([d, d[:, orig_vert]], 1)
        elif a.domain == "FACE":
            d = torch.cat([d, d[:, face_of]], 1)
        elif a.domain == "CORNER":
            d = torch.cat([d, d[:, side_corner_src]], 1)
        elif a.domain == "EDGE":
            e1, e2 = d[:, orig_edge], d[:, orig_edge[ext_prev]]
            mixed = (e1 | e2) if d.dtype == torch.bool else ((e1 + e2) * 0.5 if d.dtype.is_floating_point else
                                                              _round_half_away((e1 + e2) * 0.5).to(d.dtype))
            d = torch.cat([d, mixed, d[:, orig_edge]], 1)
        attrs[name] = Attribute(a.domain, d, a.type)
    n_faces = nf + n_side
    _store_selections(attrs, names, ("FACE", n_faces, sel), ("FACE", n_faces, torch.arange(nf, n_faces, device=dev)))
    return MeshBatch(verts=verts, corner_verts=torch.cat([corner_verts, side]), face_offsets=face_offsets, edges=edges,
                     attributes=attrs, materials=list(mesh.materials))


def _first_occurrence(seq: torch.Tensor) -> torch.Tensor:
    """The distinct values of ``seq`` in the order they first appear (a ``VectorSet``)."""
    if seq.numel() == 0:
        return seq
    uniq, inv = torch.unique(seq, return_inverse=True)
    first = torch.full((uniq.numel(),), seq.numel(), dtype=torch.long, device=seq.device)
    first = first.scatter_reduce(0, inv, torch.arange(seq.numel(), device=seq.device), "amin")
    return uniq[torch.argsort(first)]


def _extrude_regions(mesh: MeshBatch, selection: Any, offset: Any, offset_scale: Any, names: dict[str, str]) -> MeshBatch:
    """Blender's ``extrude_mesh_face_regions`` (see the module)."""
    fctx = mesh_context(mesh, "FACE")
    mask = selection_mask(selection, fctx, "an Extrude Mesh selection")
    if not bool(mask.any()):
        return mesh
    if mesh.edges is None:
        raise TypeError("Extrude Mesh needs a mesh that tracks its edges")
    dev = mask.device
    nv, nf, nc, ne = mesh.num_verts, mesh.num_faces, mesh.num_corners, int(mesh.edges.shape[0])
    e = mesh.edges
    cv = mesh.corner_verts
    ce = rt.corner_edges(mesh)
    face_of = torch.repeat_interleave(torch.arange(nf, device=dev), mesh.face_sizes())
    csel = mask[face_of]
    sel_count = torch.bincount(ce[csel], minlength=ne)[:ne]
    desel_count = torch.bincount(ce[~csel], minlength=ne)[:ne]
    last_sel_corner = torch.full((ne,), -1, dtype=torch.long, device=dev).scatter_reduce(
        0, ce[csel], torch.arange(nc, device=dev)[csel], "amax")
    boundary = (sel_count == 1).nonzero().reshape(-1)
    boundary_face = face_of[last_sel_corner[boundary].clamp(min=0)]
    new_inner = ((sel_count > 1) & (desel_count > 0)).nonzero().reshape(-1)
    inner = ((sel_count > 1) & (desel_count == 0)).nonzero().reshape(-1)
    from_boundary = _first_occurrence(e[boundary].reshape(-1))
    n_ext = int(from_boundary.numel())
    new_src = _first_occurrence(torch.cat([from_boundary, e[new_inner].reshape(-1)]))
    k = int(new_src.numel())
    new_of = torch.full((nv,), -1, dtype=torch.long, device=dev)
    new_of[new_src] = nv + torch.arange(k, device=dev)
    nb = int(boundary.numel())
    # edges: originals (inner edges re-attached to new vertices), connecting, boundary copies, inner copies
    edges = e.clone()
    if inner.numel():
        ie = edges[inner]
        edges[inner] = torch.where(new_of[ie] >= 0, new_of[ie], ie)
    connect = torch.stack([from_boundary, nv + torch.arange(n_ext, device=dev)], 1)
    edges = torch.cat([edges, connect, new_of[e[boundary]], new_of[e[new_inner]]])
    # the selected faces use the new vertices
    corner_verts = torch.where(csel & (new_of[cv] >= 0), new_of[cv], cv)
    # side quads
    c_idx = torch.arange(nc, device=dev)
    key = torch.where(csel, ce, torch.full_like(ce, ne))  # the corner of the extruded face on each boundary edge
    edge_corner = torch.full((ne + 1,), nc, dtype=torch.long, device=dev).scatter_reduce(0, key, c_idx, "amin")[:ne]
    b0, b1 = e[boundary, 0], e[boundary, 1]
    n1, n2 = new_of[b0], new_of[b1]
    bc = edge_corner[boundary].clamp(max=max(nc - 1, 0))
    start = cv[bc] == b0
    quad = torch.where(start.unsqueeze(-1), torch.stack([n1, b0, b1, n2], 1), torch.stack([n1, n2, b1, b0], 1))
    corner_verts = torch.cat([corner_verts, quad.reshape(-1)])
    face_offsets = torch.cat([mesh.face_offsets, mesh.face_offsets[-1] + 4 * torch.arange(1, nb + 1, device=dev)])
    # positions: offsets mixed from the selected faces to their vertices
    # offsets of the selected faces only (b, S, 3): the normals of other faces are never needed
    faces = mask.nonzero().reshape(-1)
    at = torch.zeros(nf, dtype=torch.long, device=dev)
    at[faces] = torch.arange(faces.numel(), device=dev)
    foff = face_normals(mesh, faces) if offset is None else evaluate(offset, fctx, "VECTOR")[:, faces]
    foff = foff * evaluate(offset_scale, fctx, "VALUE")[:, faces].unsqueeze(-1)
    sel_c = csel.nonzero().reshape(-1)
    used = torch.zeros(nv, dtype=torch.bool, device=dev)
    used[cv[sel_c]] = True
    voff = _mix(foff, at[face_of[sel_c]], cv[sel_c], nv)  # (b, V, 3)
    v = mesh.verts
    b = max(int(v.shape[0]), int(voff.shape[0]))
    stay = used & (new_of < 0)
    moved_old = torch.where(stay.reshape(1, -1, 1), v + voff, v.expand(b, -1, -1))
    verts = torch.cat([moved_old, (v + voff)[:, new_src].expand(b, -1, -1) if k else v[:, :0].expand(b, -1, -1)], 1)

    # corners of the extruded face at the boundary edge's two vertices
    def corner_at(vert: torch.Tensor) -> torch.Tensor:
        hit = csel.unsqueeze(1) & (face_of.unsqueeze(1) == boundary_face.unsqueeze(0)) & (cv.unsqueeze(1) == vert.unsqueeze(0))
        return torch.where(hit, c_idx.unsqueeze(1), torch.full_like(hit, -1, dtype=torch.long)).amax(0)

    c1, c2 = corner_at(b0), corner_at(b1)
    side_corner_src = torch.where(start.unsqueeze(-1), torch.stack([c1, c1, c2, c2], 1), torch.stack([c1, c2, c2, c1], 1))
    bsel = torch.zeros(ne, dtype=torch.bool, device=dev)
    bsel[boundary] = True
    ends = e.reshape(-1)
    end_edge = torch.arange(2 * ne, device=dev) // 2
    slot = torch.full((nv,), -1, dtype=torch.long, device=dev)
    slot[from_boundary] = torch.arange(n_ext, device=dev)
    take = bsel[end_edge] & (slot[ends] >= 0)
    attrs = {}
    for name, a in mesh.attributes.items():
        d = a.data
        if a.domain == "POINT":
            d = _extend(d, d[:, new_src])
        elif a.domain == "FACE":
            d = _extend(d, d[:, boundary_face])
        elif a.domain == "EDGE":
            d = _extend(d, torch.cat([_mix(d, end_edge[take], slot[ends[take]], n_ext), d[:, boundary], d[:, new_inner]], 1))
        elif a.domain == "CORNER":
            d = _extend(d, d[:, side_corner_src.reshape(-1)])
        attrs[name] = Attribute(a.domain, d, a.type)
    _store_selections(attrs, names, ("FACE", nf + nb, mask.nonzero().reshape(-1)),
                      ("FACE", nf + nb, nf + torch.arange(nb, device=dev)))
    return MeshBatch(verts=verts, corner_verts=corner_verts, face_offsets=face_offsets, edges=edges, attributes=attrs,
                     materials=list(mesh.materials))


def _check_extrude(n) -> str | None:
    mode = n.properties.get("mode")
    if mode not in ("VERTICES", "EDGES", "FACES"):
        return f"Extrude Mesh mode {mode!r} is not supported"
    return None


@node("GeometryNodeExtrudeMesh", outputs=("Mesh", "Top", "Side"), props=("mode",), pure=False, check=_check_extrude,
      outputs_arg=True, implicit=("offset",), label="Extrude Mesh", modes={"mode": ("VERTICES", "EDGES", "FACES")},
      grad="yes", notes="vertices, edges, faces (individual and regions); the selection is shared by the batch")
def extrude_mesh(mesh=None, selection=True, offset=None, offset_scale=1.0, individual=True, mode: str = "FACES",
                 outputs_used=None):
    """Extrude Mesh: ``(mesh, top, side)`` (the outputs are selections; see the module)."""
    if mesh is None:
        return GeometrySet(), False, False
    if isinstance(individual, (rt.Field, torch.Tensor)):
        raise TypeError("Extrude Mesh's Individual must be a single value")
    used = tuple(outputs_used) if outputs_used is not None else ("Mesh", "Top", "Side")
    call = next(_COUNTER)
    names = {k: f".extrude_{k.lower()}_{call}" for k in ("Top", "Side") if k in used}
    fn = {"VERTICES": _extrude_vertices, "EDGES": _extrude_edges,
          "FACES": _extrude_individual if individual else _extrude_regions}[mode]

    def on_mesh(m: MeshBatch) -> MeshBatch:
        if m.num_verts == 0:
            return m
        return fn(m, selection, offset, offset_scale, names)

    geo = map_real_meshes(mesh, on_mesh)
    top = rt.attribute_field(names["Top"], "BOOLEAN") if "Top" in names else False
    side = rt.attribute_field(names["Side"], "BOOLEAN") if "Side" in names else False
    return geo, top, side
