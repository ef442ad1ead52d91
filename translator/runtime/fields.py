"""Fields: lazily evaluated per-element values, lifted single values, and attributes.

Evaluated on a domain of size ``N`` a field gives ``(b, N)`` (scalars) or
``(b, N, K)`` (vectors, colors, rotations as quaternions ``K = 4``; matrices ``(b, N, 4, 4)``)
with ``b`` 1 or B.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from ..geometry import MeshBatch
from .conversions import convert_tensor, default_value
from .rotations import as_rotation
from .values import VECTOR_SIZES, Field, FieldContext, as_float, as_vector, current, identity_matrix

__all__ = ["adapt_domain", "attribute_field", "corner_edges", "eval_field", "field_map", "lift", "next_corners"]


def lift(value: Any, type: str) -> torch.Tensor:
    """A single value as a field-shaped tensor broadcastable to ``(b, N, ...)``."""
    if type in VECTOR_SIZES:
        t = as_rotation(value) if type == "ROTATION" else as_vector(value, VECTOR_SIZES[type])
        return t.reshape(1, 1, -1) if t.dim() == 1 else t.unsqueeze(-2)
    if type == "MATRIX":
        t = value if isinstance(value, torch.Tensor) else identity_matrix()
        return t.reshape(1, 1, 4, 4) if t.dim() == 2 else t.unsqueeze(-3)
    if type == "VALUE":
        t = as_float(value)
    elif type == "INT":
        t = value.long() if isinstance(value, torch.Tensor) else torch.tensor(int(value), device=current().device)
    elif type == "BOOLEAN":
        t = value.bool() if isinstance(value, torch.Tensor) else torch.tensor(bool(value), device=current().device)
    else:
        raise TypeError(f"a {type} value cannot be used as a field")
    return t.reshape(1, 1) if t.dim() == 0 else t.unsqueeze(-1)


def eval_field(value: Any, fctx: FieldContext, type: str) -> torch.Tensor:
    """Evaluate a field (or lift a single value) on ``fctx``; result broadcastable to ``(b, N, ...)``."""
    if isinstance(value, Field):
        out = value.fn(fctx)
        if value.type != type:
            out = convert_tensor(out, value.type, type)
        return out
    return lift(value, type)


def field_map(fn: Callable[..., Any], args: Sequence[Any], types: Sequence[str], out_type: str) -> Any:
    """Apply elementwise ``fn`` to ``args``: directly for single values, lazily when any is a field."""
    if not any(isinstance(a, Field) for a in args):
        return fn(*args)

    def evaluate(fctx: FieldContext) -> torch.Tensor:
        return fn(*(eval_field(a, fctx, t) for a, t in zip(args, types)))

    return Field(evaluate, out_type)


def adapt_domain(mesh: MeshBatch, data: torch.Tensor, src: str, dst: str) -> torch.Tensor:
    """Move attribute values ``(b, N_src, ...)`` from domain ``src`` to ``dst`` on ``mesh``.

    Implements Blender's mesh domain interpolation for the point, edge, face and corner
    domains: point -> corner gathers, corner -> point and face -> point average the
    touching corners, point/corner -> face average the face's corners, face -> corner
    repeats; the edge domain averages its two points, the faces using it or the corners at
    its ends, and gives points, faces and corners the mean of their edges. Booleans mix as
    Blender mixes selections: a face is selected when all its points or corners are, a point
    when all its corners are or when any face around it is (edges: see ``_adapt_edges``).
    """
    if src == dst:
        return data
    cv = mesh.corner_verts
    sizes = mesh.face_sizes()
    face_of_corner = torch.repeat_interleave(torch.arange(sizes.numel(), device=cv.device), sizes)
    is_bool = data.dtype == torch.bool
    x = data.to(current().dtype) if (is_bool or not data.dtype.is_floating_point) else data
    extra = x.shape[2:]

    def scatter_mean(values: torch.Tensor, index: torch.Tensor, n: int) -> torch.Tensor:
        out = torch.zeros((values.shape[0], n, *extra), dtype=values.dtype, device=values.device)
        idx = index.reshape(1, -1, *([1] * len(extra))).expand(values.shape[0], -1, *extra)
        out = out.scatter_add(1, idx, values)
        cnt = torch.zeros(n, dtype=values.dtype, device=values.device).scatter_add(0, index, torch.ones_like(index, dtype=values.dtype))
        return out / cnt.clamp(min=1).reshape(1, n, *([1] * len(extra)))

    if "EDGE" in (src, dst):
        return _adapt_edges(mesh, data, x, src, dst, is_bool)
    if src == "POINT" and dst == "CORNER":
        out = x[:, cv]
    elif src == "CORNER" and dst == "POINT":
        out = scatter_mean(x, cv, mesh.num_verts)
    elif src == "FACE" and dst == "CORNER":
        out = x[:, face_of_corner]
    elif src == "CORNER" and dst == "FACE":
        out = scatter_mean(x, face_of_corner, mesh.num_faces)
    elif src == "POINT" and dst == "FACE":
        out = scatter_mean(x[:, cv], face_of_corner, mesh.num_faces)
    elif src == "FACE" and dst == "POINT":
        out = scatter_mean(x[:, face_of_corner], cv, mesh.num_verts)
    else:
        raise TypeError(f"cannot interpolate an attribute from the {src} to the {dst} domain")
    if is_bool:
        # mean == 1 <=> all true; mean > 0 <=> any true. Points without corners average to 0.
        return out > 0.0 if (src, dst) == ("FACE", "POINT") else out > 1.0 - 1e-6
    if not data.dtype.is_floating_point:
        return _round_half_away(out).to(data.dtype)
    return out


def _round_half_away(x: torch.Tensor) -> torch.Tensor:
    """``std::round`` (halves away from zero), how Blender's integer mixers round a mean."""
    return torch.sign(x) * torch.floor(x.abs() + 0.5)


def corner_edges(mesh: MeshBatch) -> torch.Tensor:
    """``(C,)`` the edge of each face corner (from it to the next corner of its face), looked up in
    ``mesh.edges`` (Blender's ``corner_edges``)."""
    if mesh.edges is None:
        raise TypeError("this mesh does not track its edges")
    n = max(mesh.num_verts, 1)
    e = mesh.edges
    keys = torch.minimum(e[:, 0], e[:, 1]) * n + torch.maximum(e[:, 0], e[:, 1])
    order = torch.argsort(keys)
    a, b = mesh.corner_verts, mesh.corner_verts[next_corners(mesh)]
    want = torch.minimum(a, b) * n + torch.maximum(a, b)
    pos = torch.searchsorted(keys[order], want).clamp(max=max(len(keys) - 1, 0))
    return order[pos]


def next_corners(mesh: MeshBatch) -> torch.Tensor:
    """``(C,)`` the next corner of each corner's face (cyclically)."""
    off = mesh.face_offsets
    sizes = mesh.face_sizes()
    face = torch.repeat_interleave(torch.arange(sizes.numel(), device=off.device), sizes)
    c = torch.arange(mesh.num_corners, device=off.device)
    return torch.where(c + 1 == off[1:][face], off[:-1][face], c + 1)


def _adapt_edges(mesh: MeshBatch, data: torch.Tensor, x: torch.Tensor, src: str, dst: str, is_bool: bool) -> torch.Tensor:
    """Blender's interpolations to and from the EDGE domain (means; booleans: an edge is selected when
    both points / all corners around it are, or any face using it is; a point or corner when any edge /
    both adjacent edges are)."""
    if mesh.edges is None:
        raise TypeError("this mesh does not track its edges, so attributes cannot move to or from its EDGE domain")
    edges = mesh.edges
    extra = x.shape[2:]
    dev = x.device

    def gather_mean(values: torch.Tensor, index: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        out = torch.zeros((values.shape[0], n, *extra), dtype=values.dtype, device=dev)
        idx = index.reshape(1, -1, *([1] * len(extra))).expand(values.shape[0], -1, *extra)
        out = out.scatter_add(1, idx, values)
        cnt = torch.zeros(n, dtype=values.dtype, device=dev).scatter_add(0, index, torch.ones_like(index, dtype=values.dtype))
        return out / cnt.clamp(min=1).reshape(1, n, *([1] * len(extra))), cnt

    ce = corner_edges(mesh) if mesh.num_corners else torch.zeros(0, dtype=torch.long, device=dev)
    ne = int(edges.shape[0])
    if src == "POINT" and dst == "EDGE":
        out = (x[:, edges[:, 0]] + x[:, edges[:, 1]]) * 0.5
        kind = "all"
    elif src == "EDGE" and dst == "POINT":
        out, _ = gather_mean(torch.cat([x, x], 1), torch.cat([edges[:, 0], edges[:, 1]]), mesh.num_verts)
        kind = "any"
    elif src == "FACE" and dst == "EDGE":
        sizes = mesh.face_sizes()
        face = torch.repeat_interleave(torch.arange(sizes.numel(), device=dev), sizes)
        out, _ = gather_mean(x[:, face], ce, ne)
        kind = "any"
    elif src == "EDGE" and dst == "FACE":
        sizes = mesh.face_sizes()
        face = torch.repeat_interleave(torch.arange(sizes.numel(), device=dev), sizes)
        out, _ = gather_mean(x[:, ce], face, mesh.num_faces)
        kind = "all"
    elif src == "CORNER" and dst == "EDGE":
        nxt = next_corners(mesh)
        out, cnt = gather_mean(torch.cat([x, x[:, nxt]], 1), torch.cat([ce, ce]), ne)
        kind = "all"
        if is_bool:  # loose edges (no corners) are not selected
            return (out > 1.0 - 1e-6) & (cnt > 0).reshape(1, -1)
    elif src == "EDGE" and dst == "CORNER":
        off = mesh.face_offsets
        sizes = mesh.face_sizes()
        face = torch.repeat_interleave(torch.arange(sizes.numel(), device=dev), sizes)
        c = torch.arange(mesh.num_corners, device=dev)
        prev = torch.where(c == off[:-1][face], off[1:][face] - 1, c - 1)
        out = (x[:, ce] + x[:, ce[prev]]) * 0.5
        kind = "all"
    else:
        raise TypeError(f"cannot interpolate an attribute from the {src} to the {dst} domain")
    if is_bool:
        return out > 0.0 if kind == "any" else out > 1.0 - 1e-6
    if not data.dtype.is_floating_point:
        return _round_half_away(out).to(data.dtype)
    return out


def attribute_field(name: str, type: str) -> Field:
    """A field reading attribute ``name`` of the geometry it is evaluated on (zeros when absent)."""

    def read(fctx: FieldContext) -> torch.Tensor:
        store = None
        if fctx.mesh is not None:
            store = fctx.mesh.attributes
        elif fctx.instances is not None:
            store = fctx.instances.attributes
        elif fctx.curves is not None:
            store = fctx.curves.attributes
        attr = store.get(name) if store is not None else None
        if attr is None:
            return lift(default_value(type), type)
        if fctx.mesh is not None and attr.domain != fctx.domain:
            return adapt_domain(fctx.mesh, attr.data, attr.domain, fctx.domain)
        return attr.data

    return Field(read, type, label=name)
