"""Fields: lazily evaluated per-element values, lifted single values, and attributes.

Evaluated on a domain of size ``N`` a field gives ``(b, N)`` (scalars) or
``(b, N, K)`` (vectors, colors; matrices ``(b, N, 4, 4)``) with ``b`` 1 or B.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from ..geometry import MeshBatch
from .conversions import convert_tensor, default_value
from .values import VECTOR_SIZES, Field, FieldContext, as_float, as_vector, current, identity_matrix

__all__ = ["adapt_domain", "attribute_field", "eval_field", "field_map", "lift"]


def lift(value: Any, type: str) -> torch.Tensor:
    """A single value as a field-shaped tensor broadcastable to ``(b, N, ...)``."""
    if type in VECTOR_SIZES:
        t = as_vector(value, VECTOR_SIZES[type])
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

    Implements Blender's mesh domain interpolation for the point, face and corner
    domains: point -> corner gathers, corner -> point and face -> point average the
    touching corners, point/corner -> face average the face's corners, face -> corner
    repeats. Booleans mix as Blender mixes selections: a face is selected when all its
    points or corners are, a point when all its corners are or when any face around it is.
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
        return torch.round(out).to(data.dtype)
    return out


def attribute_field(name: str, type: str) -> Field:
    """A field reading attribute ``name`` of the geometry it is evaluated on (zeros when absent)."""

    def read(fctx: FieldContext) -> torch.Tensor:
        store = None
        if fctx.mesh is not None:
            store = fctx.mesh.attributes
        elif fctx.instances is not None:
            store = fctx.instances.attributes
        attr = store.get(name) if store is not None else None
        if attr is None:
            return lift(default_value(type), type)
        if fctx.mesh is not None and attr.domain != fctx.domain:
            return adapt_domain(fctx.mesh, attr.data, attr.domain, fctx.domain)
        return attr.data

    return Field(read, type, label=name)
