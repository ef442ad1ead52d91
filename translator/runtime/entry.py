"""The entry point of generated programs: parameters by name, the evaluation context, the
traced fast path, and splitting a batch by topology."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch

from ..geometry import GeometrySet, MeshBatch, empty_mesh
from ..tracing import TraceCache
from .switches import TopologySplitError, TopologyVaries
from .values import eval_context

__all__ = ["Parameter", "ParameterError", "evaluate_grouped", "resolve_parameters", "run"]


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


_PLAN_LIMIT = 256


def _signature(discrete: dict | None, continuous: dict | None) -> tuple | None:
    """What fixes :func:`resolve_parameters`' result up to the continuous tensors themselves: each argument's
    name and its value with its type (``True``, ``1`` and ``1.0`` resolve differently), a tensor's shape,
    dtype and device. None where that does not hold (a tensor passed as a discrete value, whose value
    decides) or a value is not hashable."""
    sig = []
    for k, v in (discrete or {}).items():
        if isinstance(v, torch.Tensor):
            return None
        sig.append((0, k, type(v), v))
    for k, v in (continuous or {}).items():
        if isinstance(v, torch.Tensor):
            sig.append((1, k, v.shape, v.dtype, v.device))
        else:
            sig.append((2, k, type(v), v))
    sig = tuple(sig)
    try:
        hash(sig)
    except TypeError:
        return None
    return sig


@dataclass(frozen=True)
class _Plan:
    """A resolved call: the non-tensor arguments, where each continuous tensor goes (argument, key in the
    caller's ``continuous``), the batch, dtype and device, and the trace cache's key."""

    static: dict[str, Any]
    slots: tuple[tuple[str, str], ...]
    batch: int
    dtype: torch.dtype
    device: torch.device
    prepared: tuple


def _resolve_planned(plans: dict, parameters: Sequence[Parameter], discrete: dict | None, continuous: dict | None,
                     cache: TraceCache) -> tuple[dict[str, Any], int, torch.dtype, torch.device, tuple | None]:
    """:func:`resolve_parameters` with its result kept per call signature (:func:`_signature`): a call like an
    earlier one (same names, discrete values, tensor shapes) only places its tensors. Also returns the trace
    cache's prepared key (None when not kept)."""
    sig = _signature(discrete, continuous)
    plan = plans.get(sig) if sig is not None else None
    if plan is not None:
        kwargs = dict(plan.static)
        for arg, key in plan.slots:
            kwargs[arg] = continuous[key]
        return kwargs, plan.batch, plan.dtype, plan.device, plan.prepared
    kwargs, batch, dtype, device = resolve_parameters(parameters, discrete, continuous)
    if sig is None:
        return kwargs, batch, dtype, device, None
    slots = {}
    for key, v in (continuous or {}).items():
        if isinstance(v, torch.Tensor):
            slots[_lookup(parameters, key).arg] = key
    static = {k: v for k, v in kwargs.items() if k not in slots}
    if len(plans) >= _PLAN_LIMIT:
        plans.clear()
    plans[sig] = _Plan(static, tuple(slots.items()), batch, dtype, device, cache.prepare(kwargs, batch, dtype, device))
    return kwargs, batch, dtype, device, plans[sig].prepared


def _run_once(entry: Callable, kwargs: dict, batch: int, dtype, device) -> MeshBatch:
    with eval_context(dtype, device, batch=batch):
        outputs = entry(**kwargs)
        geo = next((o for o in outputs if isinstance(o, GeometrySet)), None)
        mesh = geo.mesh if geo is not None and geo.mesh is not None else empty_mesh(device, dtype)
    if any(name.startswith(".") for name in mesh.attributes):
        # anonymous attributes (a primitive's UV Map output, ...) do not leave the program, as in Blender
        mesh = replace(mesh, attributes={k: a for k, a in mesh.attributes.items() if not k.startswith(".")})
    return mesh.expand(max(batch, mesh.batch_size))


def run(entry: Callable, parameters: Sequence[Parameter], discrete: dict | None, continuous: dict | None, grouped: bool = False):
    """Evaluate a generated program's entry group and return its mesh (Blender's evaluated mesh:
    the mesh component of the first geometry output). With ``grouped=True`` returns
    ``[(indices, MeshBatch), ...]`` split by topology."""
    if grouped:
        kwargs, batch, dtype, device = resolve_parameters(parameters, discrete, continuous)
        batched_dim = {p.arg: (1 if p.type == "VALUE" else 2) for p in parameters if p.kind == "continuous"}
        tensor_args = {
            k: v for k, v in kwargs.items()
            if isinstance(v, torch.Tensor) and v.dim() == batched_dim.get(k) and v.shape[0] == batch
        }

        def fn(_d, sub):
            b = max([int(v.shape[0]) for v in sub.values() if v.dim() > 0] or [1])
            return _run_once(entry, {**kwargs, **sub}, b, dtype, device)

        return _grouped(fn, {}, tensor_args, torch.arange(batch, device=device), {})
    plans = getattr(entry, "_shapeprog_plans", None)
    if plans is None:
        plans = entry._shapeprog_plans = {}
    cache = getattr(entry, "_shapeprog_traces", None)
    if cache is None:
        cache = entry._shapeprog_traces = TraceCache()
    kwargs, batch, dtype, device, prepared = _resolve_planned(plans, parameters, discrete, continuous, cache)
    try:
        return cache.run(lambda kw: _run_once(entry, kw, batch, dtype, device), kwargs, batch, dtype, device, prepared)
    except TopologyVaries as tv:
        raise TopologySplitError(
            f"{tv.what} differs across the batch, so the elements do not share one topology; "
            "evaluate with program_grouped(...) to split the batch by topology"
        ) from None
