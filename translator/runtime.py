"""Runtime support for generated programs: values, implicit conversions, fields, switches, topology.

Value representation (``B`` = batch; a value that does not depend on a
batched input has no batch dimension and broadcasts):

=============  ==========================================================
socket type    runtime value
=============  ==========================================================
VALUE          Python float, or float tensor ``()`` / ``(B,)``
INT            Python int, or int64 tensor ``(B,)`` (derived from a batched float)
BOOLEAN        Python bool, or bool tensor ``(B,)``
VECTOR         3-tuple of floats, or tensor ``(3,)`` / ``(B, 3)``
ROTATION       Euler XYZ in radians, same as VECTOR
RGBA           4-tuple, or tensor ``(4,)`` / ``(B, 4)``
MATRIX         tensor ``(4, 4)`` / ``(B, 4, 4)``
STRING, MENU   Python str
MATERIAL       material name (str) or None
GEOMETRY       :class:`~translator.geometry.GeometrySet`
=============  ==========================================================

Any numeric value may instead be a :class:`Field`: a lazily evaluated
function of a geometry, evaluated on the domain of the node that consumes it.
Evaluated on a domain of size ``N`` a field gives ``(b, N)`` (scalars) or
``(b, N, K)`` (vectors, colors, matrices ``(b, N, 4, 4)``) with ``b`` 1 or B.

Topology (vertex counts, which branch of a Geometry Switch is taken, which
points get instances) must be the same for every element of a batch. When a
batched value decides topology and differs across the batch,
:func:`static` raises :class:`TopologyVaries`; :func:`evaluate_grouped`
splits the batch into groups that share a topology and evaluates each.
"""

from __future__ import annotations

import contextvars
import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch

from .geometry import GeometrySet, Instances, MeshBatch

__all__ = [
    "EvalContext",
    "eval_context",
    "current",
    "Field",
    "FieldContext",
    "TopologyVaries",
    "TopologySplitError",
    "is_field",
    "field_map",
    "eval_field",
    "static",
    "static_mask",
    "convert",
    "switch",
    "index_switch",
    "menu_switch",
    "as_float",
    "as_vector",
    "as_int",
    "as_bool",
    "batch_size_of",
    "evaluate_grouped",
    "default_value",
    "empty_geometry",
    "Parameter",
    "ParameterError",
    "resolve_parameters",
    "run",
    "adapt_domain",
    "attribute_field",
]


# ---------------------------------------------------------------------------
# Evaluation context (dtype / device for tensors made from constants)


@dataclass(frozen=True)
class EvalContext:
    dtype: torch.dtype = torch.float32
    """dtype of tensors made from constants."""
    device: torch.device = torch.device("cpu")
    """device of tensors made from constants."""
    trace: bool = True
    """Whether program calls may use the traced fast path (:mod:`translator.tracing`; the environment
    variable ``SHAPEPROG_TRACE=0`` turns it off everywhere)."""


_CONTEXT: contextvars.ContextVar[EvalContext] = contextvars.ContextVar("shapeprog_eval", default=EvalContext())


def current() -> EvalContext:
    return _CONTEXT.get()


class eval_context:
    """``with eval_context(dtype, device): ...`` sets where constants become tensors;
    ``with eval_context(trace=False): ...`` evaluates programs on the plain (untraced) path.
    ``trace`` left as None keeps the enclosing context's choice."""

    def __init__(self, dtype: torch.dtype = torch.float32, device: Any = "cpu", trace: bool | None = None):
        self.ctx = EvalContext(dtype, torch.device(device), current().trace if trace is None else bool(trace))

    def __enter__(self) -> EvalContext:
        self._token = _CONTEXT.set(self.ctx)
        return self.ctx

    def __exit__(self, *exc) -> None:
        _CONTEXT.reset(self._token)


def as_float(x: Any) -> torch.Tensor:
    """A float value as a tensor of the context's dtype (``()`` or ``(B,)``)."""
    if isinstance(x, torch.Tensor):
        if x.dtype.is_floating_point:
            return x
        return x.to(current().dtype)
    c = current()
    return torch.tensor(float(x), dtype=c.dtype, device=c.device)


def as_vector(x: Any, size: int = 3) -> torch.Tensor:
    """A vector value as a tensor ``(size,)`` or ``(B, size)``."""
    if isinstance(x, torch.Tensor):
        return x if x.dtype.is_floating_point else x.to(current().dtype)
    c = current()
    return torch.tensor([float(v) for v in x], dtype=c.dtype, device=c.device)


def as_int(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return x.long()
    return int(x)


def as_bool(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return x.bool()
    return bool(x)


def batch_size_of(*values: Any) -> int:
    """The batch size among tensors whose leading dim is a batch (1 if none)."""
    b = 1
    for v in values:
        if isinstance(v, torch.Tensor) and v.dim() > 0:
            b = max(b, int(v.shape[0]))
    return b


# ---------------------------------------------------------------------------
# Fields


@dataclass
class FieldContext:
    """Where a field is evaluated: a component of a geometry and one of its domains."""

    domain: str
    size: int
    mesh: MeshBatch | None = None
    instances: Instances | None = None


class Field:
    """A lazily evaluated per-element value. ``fn(ctx) -> Tensor (b, N, ...)``."""

    __slots__ = ("fn", "type", "label")

    def __init__(self, fn: Callable[[FieldContext], torch.Tensor], type: str, label: str = ""):
        self.fn = fn
        self.type = type
        self.label = label

    def __repr__(self) -> str:
        return f"Field({self.type}{', ' + self.label if self.label else ''})"


def is_field(x: Any) -> bool:
    return isinstance(x, Field)


_VECTOR_SIZES = {"VECTOR": 3, "ROTATION": 3, "RGBA": 4}


def lift(value: Any, type: str) -> torch.Tensor:
    """A single value as a field-shaped tensor broadcastable to ``(b, N, ...)``."""
    if type in _VECTOR_SIZES:
        t = as_vector(value, _VECTOR_SIZES[type])
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


def identity_matrix() -> torch.Tensor:
    c = current()
    return torch.eye(4, dtype=c.dtype, device=c.device)


# ---------------------------------------------------------------------------
# Implicit conversions (Blender's blenkernel type_conversions)


def _vec_mean(t: torch.Tensor) -> torch.Tensor:
    return t.sum(-1) / t.shape[-1]


def convert_tensor(t: torch.Tensor, src: str, dst: str) -> torch.Tensor:
    """Convert an evaluated tensor between socket types (field layout: trailing vector dim)."""
    if src == dst or (src in ("VECTOR", "ROTATION") and dst in ("VECTOR", "ROTATION")):
        return t
    dt = current().dtype
    if src == "VALUE":
        if dst == "INT":
            return torch.trunc(t).long()
        if dst == "BOOLEAN":
            return t > 0
        if dst in ("VECTOR", "ROTATION"):
            return t.unsqueeze(-1).expand(*t.shape, 3)
        if dst == "RGBA":
            return torch.stack([t, t, t, torch.ones_like(t)], -1)
    if src == "INT":
        if dst == "BOOLEAN":
            return t > 0
        if dst == "VALUE":
            return t.to(dt)
        if dst in ("VECTOR", "ROTATION"):
            return t.to(dt).unsqueeze(-1).expand(*t.shape, 3)
        if dst == "RGBA":
            f = t.to(dt)
            return torch.stack([f, f, f, torch.ones_like(f)], -1)
    if src == "BOOLEAN":
        if dst == "INT":
            return t.long()
        if dst == "VALUE":
            return t.to(dt)
        if dst in ("VECTOR", "ROTATION"):
            return t.to(dt).unsqueeze(-1).expand(*t.shape, 3)
        if dst == "RGBA":
            f = t.to(dt)
            return torch.stack([f, f, f, torch.ones_like(f)], -1)
    if src in ("VECTOR", "ROTATION"):
        if dst == "VALUE":
            return _vec_mean(t)
        if dst == "INT":
            return torch.trunc(_vec_mean(t)).long()
        if dst == "BOOLEAN":
            return (t != 0).any(-1)
        if dst == "RGBA":
            return torch.cat([t, torch.ones_like(t[..., :1])], -1)
    if src == "RGBA":
        lum = t[..., 0] * 0.2126 + t[..., 1] * 0.7152 + t[..., 2] * 0.0722
        if dst == "VALUE":
            return lum
        if dst == "INT":
            return torch.trunc(lum).long()
        if dst == "BOOLEAN":
            return lum > 0
        if dst in ("VECTOR", "ROTATION"):
            return t[..., :3]
    raise TypeError(f"no implicit conversion from {src} to {dst}")


def convert(value: Any, src: str, dst: str) -> Any:
    """Convert a runtime value along a link from a ``src`` socket to a ``dst`` socket."""
    if src == dst or value is None:
        return value
    if src in ("VECTOR", "ROTATION") and dst in ("VECTOR", "ROTATION"):
        return value
    if isinstance(value, Field):
        return Field(lambda fctx, f=value: convert_tensor(f.fn(fctx), src, dst), dst)
    if isinstance(value, torch.Tensor):
        return convert_tensor(value, src, dst)
    # Python scalars / tuples (constants and discrete values)
    if src == "VALUE":
        v = float(value)
        if dst == "INT":
            return int(math.trunc(v)) if math.isfinite(v) else 0
        if dst == "BOOLEAN":
            return v > 0.0
        if dst in ("VECTOR", "ROTATION"):
            return (v, v, v)
        if dst == "RGBA":
            return (v, v, v, 1.0)
    if src in ("INT", "BOOLEAN"):
        v = int(value)
        if dst == "INT":
            return v
        if dst == "BOOLEAN":
            return v > 0
        if dst == "VALUE":
            return float(v)
        if dst in ("VECTOR", "ROTATION"):
            return (float(v),) * 3
        if dst == "RGBA":
            return (float(v),) * 3 + (1.0,)
    if src in ("VECTOR", "ROTATION", "RGBA"):
        return convert_tensor(as_vector(value, len(value)), src, dst)
    raise TypeError(f"no implicit conversion from {src} to {dst}")


def default_value(type: str) -> Any:
    """Blender's default for an output of ``type`` (muted nodes, unmatched switch indices)."""
    return {
        "VALUE": 0.0,
        "INT": 0,
        "BOOLEAN": False,
        "VECTOR": (0.0, 0.0, 0.0),
        "ROTATION": (0.0, 0.0, 0.0),
        "RGBA": (0.0, 0.0, 0.0, 0.0),
        "STRING": "",
        "MENU": "",
        "GEOMETRY": GeometrySet(),
        "MATRIX": None,
        "MATERIAL": None,
    }.get(type)


# ---------------------------------------------------------------------------
# Topology


class TopologyVaries(Exception):
    """Raised when a batched value that decides topology differs across the batch.

    ``key`` is ``(B, K)``: elements with equal rows share a topology.
    """

    def __init__(self, key: torch.Tensor, what: str):
        super().__init__(f"{what} differs across the batch")
        self.key = key
        self.what = what


class TopologySplitError(RuntimeError):
    """A batch asked for several topologies in one call; use :func:`evaluate_grouped`."""


def static(value: Any, what: str = "a topology input") -> Any:
    """``value`` as a Python value shared by the batch; raises :class:`TopologyVaries` otherwise."""
    if isinstance(value, Field):
        raise TypeError(f"{what} must be a single value, not a field")
    if not isinstance(value, torch.Tensor):
        return value
    t = value.detach()
    if t.dim() == 0 or t.shape[0] == 1:
        flat = t.reshape(-1)
        return flat[0].item() if flat.numel() == 1 else tuple(flat.tolist())
    rows = t.reshape(t.shape[0], -1)
    if bool((rows == rows[:1]).all()):
        r = rows[0]
        return r.item() if r.numel() == 1 else tuple(r.tolist())
    raise TopologyVaries(rows, what)


def static_mask(mask: torch.Tensor, what: str) -> torch.Tensor:
    """A ``(b, N)`` bool field result as one ``(N,)`` mask shared by the batch."""
    m = mask.detach()
    if m.dim() == 1:
        return m
    if m.shape[0] == 1 or bool((m == m[:1]).all()):
        return m[0]
    raise TopologyVaries(m.reshape(m.shape[0], -1), what)


def _uniform(t: torch.Tensor) -> bool:
    if t.dim() == 0 or t.shape[0] == 1:
        return True
    flat = t.reshape(t.shape[0], -1)
    return bool((flat == flat[:1]).all())


def _where(cond: torch.Tensor, a: Any, b: Any, type: str, what: str = "") -> Any:
    """Per batch element ``a if cond else b`` for single values (``what`` names the choice
    when the type cannot vary per element)."""
    if type in _VECTOR_SIZES:
        a, b = as_vector(a, _VECTOR_SIZES[type]), as_vector(b, _VECTOR_SIZES[type])
        return torch.where(cond.reshape(-1, 1), a, b)
    if type == "MATRIX":
        a = a if isinstance(a, torch.Tensor) else identity_matrix()
        b = b if isinstance(b, torch.Tensor) else identity_matrix()
        return torch.where(cond.reshape(-1, 1, 1), a, b)
    if type == "VALUE":
        return torch.where(cond, as_float(a), as_float(b))
    if type in ("INT", "BOOLEAN"):
        dev = cond.device
        a = a if isinstance(a, torch.Tensor) else torch.tensor(a, device=dev)
        b = b if isinstance(b, torch.Tensor) else torch.tensor(b, device=dev)
        return torch.where(cond, a, b)
    raise TopologyVaries(cond.reshape(cond.shape[0], -1).long(), what or f"a {type} switch condition")


def switch(type: str, condition: Any, if_false: Callable[[], Any], if_true: Callable[[], Any], name: str = "") -> Any:
    """Blender's Switch. Only the taken branch is evaluated when the condition is
    shared by the batch; a batched condition selects per element (``torch.where``,
    gradients flow through the chosen branch); a field condition gives a field.
    ``name`` (the node's) makes topology errors say which switch."""
    what = f"the condition of Switch {name!r}" if name else f"a {type.capitalize()} Switch condition"
    if isinstance(condition, Field):
        f, t = if_false(), if_true()
        return field_map(lambda c, a, b: torch.where(c.unsqueeze(-1) if a.dim() > c.dim() else c, a, b),
                         [condition, t, f], ["BOOLEAN", type, type], type)
    if not isinstance(condition, torch.Tensor):
        return if_true() if condition else if_false()
    if _uniform(condition):
        return if_true() if bool(condition.reshape(-1)[0]) else if_false()
    if type == "GEOMETRY":
        raise TopologyVaries(condition.reshape(condition.shape[0], -1).long(), what)
    t, f = if_true(), if_false()
    if isinstance(t, Field) or isinstance(f, Field):
        return field_map(lambda c, a, b: torch.where(c.unsqueeze(-1) if a.dim() > c.dim() else c, a, b),
                         [condition, t, f], ["BOOLEAN", type, type], type)
    return _where(condition.bool(), t, f, type, what)


def index_switch(type: str, index: Any, branches: Sequence[Callable[[], Any]], name: str = "") -> Any:
    """Blender's Index Switch; an index out of range gives the type's default value.
    ``name`` (the node's) makes topology errors say which switch."""
    n = len(branches)
    what = f"the index of Index Switch {name!r}" if name else "an Index Switch index"
    if isinstance(index, Field):
        vals = [b() for b in branches]

        def pick(i, *vs):
            out = eval_default_like(vs[0]) if vs else None
            for k, v in enumerate(vs):
                c = (i == k)
                out = torch.where(c.unsqueeze(-1) if v.dim() > c.dim() else c, v, out)
            return out

        return field_map(pick, [index, *vals], ["INT"] + [type] * n, type)
    if not isinstance(index, torch.Tensor):
        i = int(index)
        return branches[i]() if 0 <= i < n else default_value(type)
    if _uniform(index):
        i = int(index.reshape(-1)[0])
        return branches[i]() if 0 <= i < n else default_value(type)
    if type == "GEOMETRY":
        raise TopologyVaries(index.reshape(index.shape[0], -1).long(), what)
    out = default_value(type)
    for k, br in enumerate(branches):
        out = _where(index == k, br(), out, type, what)
    return out


def eval_default_like(t: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(t)


def menu_switch(type: str, item: Any, branches: dict[str, Callable[[], Any]]) -> Any:
    """Blender's Menu Switch: ``item`` is the chosen menu item's name."""
    if isinstance(item, torch.Tensor) or isinstance(item, Field):
        raise TypeError("a Menu Switch needs a single menu value")
    br = branches.get(item)
    return br() if br is not None else default_value(type)


# ---------------------------------------------------------------------------
# Batch splitting by topology


def evaluate_grouped(fn: Callable[..., Any], discrete: dict, continuous: dict[str, torch.Tensor], **kwargs) -> list[tuple[torch.Tensor, Any]]:
    """Evaluate ``fn(discrete, continuous)`` and split the batch where topology differs.

    Returns ``[(indices (G,) int64, result), ...]``: the batch elements in each
    group share one topology; groups are ordered by their first element. Gradients
    flow to ``continuous`` through every group.
    """
    batch = max([int(v.shape[0]) for v in continuous.values() if isinstance(v, torch.Tensor) and v.dim() > 0] or [1])
    dev = next((v.device for v in continuous.values() if isinstance(v, torch.Tensor)), torch.device("cpu"))
    return _grouped(fn, discrete, continuous, torch.arange(batch, device=dev), kwargs)


def _grouped(fn, discrete, continuous, idx, kwargs):
    sub = {k: (v[idx] if isinstance(v, torch.Tensor) and v.dim() > 0 and v.shape[0] > 1 else v) for k, v in continuous.items()}
    try:
        return [(idx, fn(discrete, sub, **kwargs))]
    except TopologyVaries as tv:
        key = tv.key
        _, inverse = torch.unique(key, dim=0, return_inverse=True)
        order = []
        for g in inverse.tolist():
            if g not in order:
                order.append(g)
        out = []
        for g in order:
            sel = (inverse == g).nonzero().reshape(-1)
            out.extend(_grouped(fn, discrete, continuous, idx[sel], kwargs))
        return out


# ---------------------------------------------------------------------------
# Program entry point


def empty_geometry() -> GeometrySet:
    return GeometrySet()


class ParameterError(ValueError):
    """A parameter value passed to a program is invalid (unknown name, wrong kind or shape)."""


@dataclass(frozen=True)
class Parameter:
    """One input of a program's entry group."""

    name: str
    identifier: str
    arg: str
    type: str
    default: Any
    min: float | None = None
    max: float | None = None
    items: tuple[str, ...] | None = None
    subtype: str = "NONE"

    @property
    def kind(self) -> str:
        if self.type in ("VALUE", "VECTOR"):
            return "continuous"
        if self.type in ("INT", "BOOLEAN", "MENU"):
            return "discrete"
        return "other"


def _lookup(parameters: Sequence[Parameter], key: str) -> Parameter:
    for p in parameters:
        if p.identifier == key:
            return p
    for p in parameters:
        if p.name == key:
            return p
    names = ", ".join(repr(p.name) for p in parameters if p.kind != "other")
    raise ParameterError(f"unknown parameter {key!r} (parameters: {names})")


def _discrete_value(p: Parameter, v: Any) -> Any:
    if isinstance(v, torch.Tensor):
        if v.numel() != 1:
            raise ParameterError(f"discrete parameter {p.name!r} takes one value shared by the batch, got shape {tuple(v.shape)}")
        v = v.item()
    if p.type == "BOOLEAN":
        if isinstance(v, bool) or (isinstance(v, (int, float)) and v in (0, 1)):
            return bool(v)
        raise ParameterError(f"parameter {p.name!r} is a boolean, got {v!r}")
    if p.type == "INT":
        if isinstance(v, bool) or not isinstance(v, (int, float)) or int(v) != v:
            raise ParameterError(f"parameter {p.name!r} is an integer, got {v!r}")
        return int(v)
    if p.type == "MENU":
        if p.items and v not in p.items:
            if isinstance(v, int) and not isinstance(v, bool) and 0 <= v < len(p.items):
                return p.items[v]
            raise ParameterError(f"parameter {p.name!r} is one of {list(p.items)}, got {v!r}")
        return v
    raise ParameterError(f"parameter {p.name!r} is not discrete")


def _continuous_value(p: Parameter, v: Any) -> Any:
    if p.type == "VALUE":
        if isinstance(v, torch.Tensor):
            if v.dim() > 1 or not v.dtype.is_floating_point:
                raise ParameterError(f"continuous parameter {p.name!r} takes a float tensor (B,), got {v.dtype} {tuple(v.shape)}")
            return v
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
    elif p.type == "VECTOR":
        if isinstance(v, torch.Tensor):
            if v.dim() not in (1, 2) or v.shape[-1] != 3 or not v.dtype.is_floating_point:
                raise ParameterError(f"vector parameter {p.name!r} takes a float tensor (B, 3), got {v.dtype} {tuple(v.shape)}")
            return v
        if isinstance(v, (list, tuple)) and len(v) == 3:
            return tuple(float(x) for x in v)
    else:
        raise ParameterError(f"parameter {p.name!r} is not continuous (it is {p.type})")
    raise ParameterError(f"parameter {p.name!r}: bad value {v!r}")


def resolve_parameters(parameters: Sequence[Parameter], discrete: dict | None, continuous: dict | None) -> tuple[dict[str, Any], int, torch.dtype, torch.device]:
    """Map user values by name (or identifier) to the entry function's arguments."""
    kwargs = {p.arg: p.default for p in parameters}
    tensors = []
    for key, v in (discrete or {}).items():
        p = _lookup(parameters, key)
        if p.kind != "discrete":
            raise ParameterError(f"parameter {p.name!r} is continuous ({p.type}); pass it in `continuous`")
        kwargs[p.arg] = _discrete_value(p, v)
    for key, v in (continuous or {}).items():
        p = _lookup(parameters, key)
        if p.kind != "continuous":
            raise ParameterError(f"parameter {p.name!r} is discrete ({p.type}); pass it in `discrete`")
        kwargs[p.arg] = _continuous_value(p, v)
        if isinstance(kwargs[p.arg], torch.Tensor):
            tensors.append((p, kwargs[p.arg]))
    batch = 1
    for p, t in tensors:
        b = int(t.shape[0]) if (t.dim() == 1 and p.type == "VALUE") or t.dim() == 2 else 1
        if b != 1 and batch != 1 and b != batch:
            raise ParameterError(f"parameter {p.name!r} has batch size {b}, others have {batch}")
        batch = max(batch, b)
    dtype = tensors[0][1].dtype if tensors else torch.float32
    device = tensors[0][1].device if tensors else torch.device("cpu")
    return kwargs, batch, dtype, device


def _run_once(entry: Callable, kwargs: dict, batch: int, dtype, device) -> MeshBatch:
    from .geometry import empty_mesh

    with eval_context(dtype, device):
        outputs = entry(**kwargs)
        geo = next((o for o in outputs if isinstance(o, GeometrySet)), None)
        mesh = geo.mesh if geo is not None and geo.mesh is not None else empty_mesh(device, dtype)
    if any(name.startswith(".") for name in mesh.attributes):
        # anonymous attributes (a primitive's UV Map output, ...) do not leave the program, as in Blender
        from dataclasses import replace

        mesh = replace(mesh, attributes={k: a for k, a in mesh.attributes.items() if not k.startswith(".")})
    return mesh.expand(max(batch, mesh.batch_size))


def run(entry: Callable, parameters: Sequence[Parameter], discrete: dict | None, continuous: dict | None, grouped: bool = False):
    """Evaluate a generated program's entry group and return its mesh (Blender's evaluated mesh:
    the mesh component of the first geometry output). With ``grouped=True`` returns
    ``[(indices, MeshBatch), ...]`` split by topology."""
    kwargs, batch, dtype, device = resolve_parameters(parameters, discrete, continuous)
    if grouped:
        batched_dim = {p.arg: (1 if p.type == "VALUE" else 2) for p in parameters if p.kind == "continuous"}
        tensor_args = {
            k: v for k, v in kwargs.items()
            if isinstance(v, torch.Tensor) and v.dim() == batched_dim.get(k) and v.shape[0] == batch
        }

        def fn(_d, sub):
            b = max([int(v.shape[0]) for v in sub.values() if v.dim() > 0] or [1])
            return _run_once(entry, {**kwargs, **sub}, b, dtype, device)

        return _grouped(fn, {}, tensor_args, torch.arange(batch, device=device), {})
    cache = getattr(entry, "_shapeprog_traces", None)
    if cache is None:
        from .tracing import TraceCache

        cache = entry._shapeprog_traces = TraceCache()
    try:
        return cache.run(lambda kw: _run_once(entry, kw, batch, dtype, device), kwargs, batch, dtype, device)
    except TopologyVaries as tv:
        raise TopologySplitError(
            f"{tv.what} differs across the batch, so the elements do not share one topology; "
            "evaluate with program_grouped(...) to split the batch by topology"
        ) from None


# ---------------------------------------------------------------------------
# Attributes as fields (anonymous attributes such as a primitive's UV Map output,
# named attributes) and Blender's domain interpolation.


def _mesh_domain_size(mesh: MeshBatch, domain: str) -> int:
    return mesh.domain_size(domain)


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
