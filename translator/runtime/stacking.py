"""Elements stacked into the batch dimension and back: the For Each zone's fast path.

A For Each zone over ``N`` elements of a component of batch ``b`` may run its body once on a batch of
``N * b`` (element-major: row ``n * b + j`` is element ``n`` of batch element ``j``) instead of ``N``
times on a batch of ``b``, when everything the body reads has the same layout for every element:

* :func:`stack_rows` gathers per-element single values ``(b, N_domain, ...)`` into ``(N * b, ...)``;
* :func:`stack_geometries` stacks geometries of one topology (the Element outputs) into one geometry of
  batch ``N * b`` (None when their topologies differ: the zone then runs element by element);
* :func:`geometry_rows` takes the rows of one element back out of a stacked geometry;
  :func:`unstack_geometry` lays all of them out one after another at once (what joining them gives).

Tensors of batch 1 (values shared by every element) stay as they are. Every operation is a gather or a
concatenation, so gradients flow as on the per-element path.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch

from ..geometry import Attribute, CurvesBatch, GeometrySet, Instances, MeshBatch

__all__ = ["geometry_rows", "stack_geometries", "stack_rows", "unstack_geometry"]


def stack_rows(t: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Field values ``t (b, M, ...)`` at the elements ``index (N,)`` stacked element-major: ``(N * b, ...)``."""
    g = t[:, index]  # (b, N, ...)
    return g.transpose(0, 1).reshape(-1, *t.shape[2:])


def _cat(tensors: list[torch.Tensor], batch: int = 1) -> torch.Tensor:
    """Per-element tensors ``(batch, ...)`` (or ``(1, ...)``) concatenated along the batch: ``(N * batch, ...)``."""
    return torch.cat([t.expand(batch, *t.shape[1:]) for t in tensors], 0)


def _same(a: torch.Tensor | None, b: torch.Tensor | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a.shape == b.shape and bool(torch.equal(a, b))


def _stack_attrs(parts: list[dict[str, Attribute]], batch: int, check: bool = True) -> dict[str, Attribute] | None:
    first = parts[0]
    if check and any(p.keys() != first.keys() or any(p[k].domain != first[k].domain or p[k].data.shape[1:] != first[k].data.shape[1:]
                                           for k in first) for p in parts[1:]):
        return None
    return {k: Attribute(a.domain, _cat([p[k].data for p in parts], batch), a.type) for k, a in first.items()}


def _stack_meshes(parts: list[MeshBatch], batch: int, check: bool = True) -> MeshBatch | None:
    m = parts[0]
    if check and any(p.num_verts != m.num_verts or not _same(p.corner_verts, m.corner_verts) or not _same(p.face_offsets, m.face_offsets)
           or not _same(p.edges, m.edges) for p in parts[1:]):
        return None
    attrs = _stack_attrs([p.attributes for p in parts], batch, check)
    if attrs is None:
        return None
    return replace(m, verts=_cat([p.verts for p in parts], batch), attributes=attrs)


def _stack_curves(parts: list[CurvesBatch], batch: int, check: bool = True) -> CurvesBatch | None:
    c = parts[0]
    for p in parts[1:] if check else ():
        if (p.types, p.cyclic, p.resolution, p.normal_mode) != (c.types, c.cyclic, c.resolution, c.normal_mode) \
                or not _same(p.curve_offsets, c.curve_offsets) or (p.handle_left is None) != (c.handle_left is None) \
                or not _same(p.handle_type_left, c.handle_type_left) or not _same(p.handle_type_right, c.handle_type_right):
            return None
    attrs = _stack_attrs([p.attributes for p in parts], batch, check)
    if attrs is None:
        return None
    hl = None if c.handle_left is None else _cat([p.handle_left for p in parts], batch)
    hr = None if c.handle_right is None else _cat([p.handle_right for p in parts], batch)
    return replace(c, positions=_cat([p.positions for p in parts], batch), handle_left=hl, handle_right=hr, attributes=attrs)


def _stack_instances(parts: list[Instances], batch: int, check: bool = True) -> Instances | None:
    i = parts[0]
    if any(p.reference_index != i.reference_index or len(p.references) != len(i.references)
           or any(r is not s for r, s in zip(p.references, i.references)) for p in parts[1:]):
        return None  # the references themselves are not stacked: only the same ones qualify
    attrs = _stack_attrs([p.attributes for p in parts], batch, check)
    if attrs is None:
        return None
    return replace(i, transforms=_cat([p.transforms for p in parts], batch), attributes=attrs)


def stack_geometries(parts: list[GeometrySet], batch: int = 1, check: bool = True) -> GeometrySet | None:
    """Geometries of one topology (each of batch ``batch`` or 1) as one of batch ``N * batch``, element-major;
    None when their components, topologies or attribute layouts differ (``check=False``: the caller knows they
    do not, e.g. the Element outputs of one :func:`~translator.runtime.elements.element_keys` key; no tensor
    sizes are compared, which a traced evaluation would record as guards)."""
    out: dict[str, Any] = {}
    stackers = {"mesh": _stack_meshes, "points": _stack_meshes, "curves": _stack_curves, "instances": _stack_instances}
    for kind, stack in stackers.items():
        comps = [getattr(g, kind) for g in parts]
        if all(c is None for c in comps):
            continue
        if any(c is None for c in comps):
            return None
        out[kind] = stack(comps, batch, check)
        if out[kind] is None:
            return None
    return GeometrySet(**out)


def _rows(t: torch.Tensor | None, lo: int, hi: int, total: int) -> torch.Tensor | None:
    if t is None or int(t.shape[0]) != total or total == 1:
        return t
    return t[lo:hi]


def _attr_rows(attrs: dict[str, Attribute], lo: int, hi: int, total: int) -> dict[str, Attribute]:
    return {k: replace(a, data=_rows(a.data, lo, hi, total)) for k, a in attrs.items()}


def geometry_rows(g: GeometrySet | None, lo: int, hi: int, total: int) -> GeometrySet | None:
    """Batch rows ``lo:hi`` of every tensor of ``g`` whose batch is ``total`` (tensors of batch 1 stay)."""
    if g is None:
        return None
    out: dict[str, Any] = {}
    for kind in ("mesh", "points"):
        m = getattr(g, kind)
        if m is not None:
            out[kind] = replace(m, verts=_rows(m.verts, lo, hi, total), attributes=_attr_rows(m.attributes, lo, hi, total))
    c = g.curves
    if c is not None:
        out["curves"] = replace(c, positions=_rows(c.positions, lo, hi, total),
                                handle_left=_rows(c.handle_left, lo, hi, total),
                                handle_right=_rows(c.handle_right, lo, hi, total),
                                attributes=_attr_rows(c.attributes, lo, hi, total))
    i = g.instances
    if i is not None:
        out["instances"] = replace(i, references=[geometry_rows(r, lo, hi, total) for r in i.references],
                                   transforms=_rows(i.transforms, lo, hi, total),
                                   attributes=_attr_rows(i.attributes, lo, hi, total))
    return replace(g, **out)


def _max_batch(g: GeometrySet) -> int:
    """The largest batch of any tensor of ``g`` (references of its instances included)."""
    sizes = [1]
    for m in (g.mesh, g.points):
        if m is not None:
            sizes += [m.batch_size] + [int(a.data.shape[0]) for a in m.attributes.values()]
    if g.curves is not None:
        sizes += [g.curves.batch_size] + [int(a.data.shape[0]) for a in g.curves.attributes.values()]
    if g.instances is not None:
        i = g.instances
        sizes += [int(i.transforms.shape[0])] + [int(a.data.shape[0]) for a in i.attributes.values()]
        sizes += [_max_batch(r) for r in i.references if r is not None]
    return max(sizes)


def _spread(t: torch.Tensor | None, n: int, b: int) -> torch.Tensor | None:
    """``(n * b, D, ...)`` element-major (or ``(1, D, ...)``, every element alike) -> ``(b', n * D, ...)``: the
    elements' data one after another, as joining them would lay it out."""
    if t is None:
        return None
    if int(t.shape[0]) == 1 and n * b != 1:
        return t.repeat(1, n, *([1] * (t.dim() - 2)))
    s = t.reshape(n, b, *t.shape[1:]).transpose(0, 1)
    return s.reshape(b, n * int(t.shape[1]), *t.shape[2:])


def _offsets(off: torch.Tensor, n: int) -> torch.Tensor:
    """Offsets ``(K + 1,)`` of one element repeated for ``n`` elements laid out one after another."""
    step = off[-1:]
    rep = off[:-1].unsqueeze(0) + step * torch.arange(n, device=off.device).unsqueeze(1)
    return torch.cat([rep.reshape(-1), step * n])


def _repeat_index(t: torch.Tensor | None, n: int, stride: int) -> torch.Tensor | None:
    """Indices ``(K, ...)`` of one element repeated for ``n`` elements, shifted by ``stride`` each."""
    if t is None:
        return None
    shift = stride * torch.arange(n, device=t.device).reshape(n, *([1] * t.dim()))
    return (t.unsqueeze(0) + shift).reshape(-1, *t.shape[1:])


def unstack_geometry(g: GeometrySet, n: int, b: int) -> GeometrySet | None:
    """A stacked geometry (batch ``n * b`` or 1, element-major) as the join of its ``n`` elements in order (batch
    ``b``): the topology repeated, the data of each element after the previous one's. None where that is not
    a plain concatenation (instances whose references differ per element): take the elements apart with
    :func:`geometry_rows` and join them instead."""
    out: dict[str, Any] = {}
    for kind in ("mesh", "points"):
        m = getattr(g, kind)
        if m is None:
            continue
        nv = m.num_verts
        attrs = {k: replace(a, data=_spread(a.data, n, b)) for k, a in m.attributes.items()}
        out[kind] = replace(m, verts=_spread(m.verts, n, b), corner_verts=_repeat_index(m.corner_verts, n, nv),
                            face_offsets=_offsets(m.face_offsets, n), edges=_repeat_index(m.edges, n, nv),
                            attributes=attrs)
    c = g.curves
    if c is not None:
        attrs = {k: replace(a, data=_spread(a.data, n, b)) for k, a in c.attributes.items()}
        rep = (lambda t: None if t is None else t.repeat(n))
        out["curves"] = replace(c, positions=_spread(c.positions, n, b), curve_offsets=_offsets(c.curve_offsets, n),
                                types=c.types * n, cyclic=c.cyclic * n, resolution=c.resolution * n,
                                normal_mode=c.normal_mode * n, handle_left=_spread(c.handle_left, n, b),
                                handle_right=_spread(c.handle_right, n, b), handle_type_left=rep(c.handle_type_left),
                                handle_type_right=rep(c.handle_type_right), attributes=attrs)
    i = g.instances
    if i is not None:
        if any(r is not None and _max_batch(r) > 1 for r in i.references):
            return None
        attrs = {k: replace(a, data=_spread(a.data, n, b)) for k, a in i.attributes.items()}
        out["instances"] = replace(i, reference_index=i.reference_index * n, transforms=_spread(i.transforms, n, b),
                                   attributes=attrs)
    return replace(g, **out)
