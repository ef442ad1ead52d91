"""Fast path: replay a traced program instead of re-running the Python node graph.

For a fixed discrete configuration the generated program runs the same
sequence of tensor operations on every call, so after it has been called
twice with the same *key* (discrete values, which continuous inputs are
tensors and their shapes, dtype, device) the call is recorded once with
``torch.jit.trace`` and later calls replay the recorded graph in C++: the
same values and gradients, a fraction of the Python overhead.

Correctness guard: Python decisions taken from tensor *values* (a switch
condition, a count derived from a float, a selection mask) would be frozen in
a trace. While tracing, every tensor -> Python conversion (``bool``, ``int``,
``float``, ``item``, ``tolist``) is recorded; the traced graph returns those
tensors too, and a replay whose guard values differ from the recorded ones
falls back to the slow path (the reference: the plain Python program) for
that call. Under the tracer a tensor's sizes are tensors too, so reading a size
(``int(x.shape[1])``, ``x.shape[0] == 1``) is a conversion as well; a guard whose value
is computed from sizes alone, of tensors whose shapes follow from the input shapes
(which the key fixes: no ``nonzero``, boolean indexing or other data-dependent shape
upstream), cannot change between calls with that key and is left out of the graph
(:func:`_size_only_values`), which would otherwise recompute it on every replay. A recorded graph's gathers by a
constant index replay as ``index_select`` (:func:`_gathers_as_index_select`). ``eval_context(trace=False)``
disables the fast path for a block of code, ``SHAPEPROG_TRACE=0`` everywhere.
"""

from __future__ import annotations

import os
import warnings
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Self

import torch

from .geometry import MeshBatch

__all__ = ["TraceCache", "enabled"]

_CONVERSIONS = ("__bool__", "__int__", "__float__", "__index__", "item", "tolist")


def enabled() -> bool:
    """Whether the fast path is on: the evaluation context allows it (``eval_context(trace=False)`` turns it
    off for a block) and the environment does not forbid it (``SHAPEPROG_TRACE=0``)."""
    global _current
    if _current is None:
        from .runtime import current as _current
    return _current().trace and os.environ.get("SHAPEPROG_TRACE", "1") != "0"


_current: Callable | None = None  # runtime.current, imported on first use (the runtime imports this module)


class _GuardRecorder:
    """Patches tensor -> Python conversions while tracing and records the converted tensors."""

    def __init__(self) -> None:
        self.tensors: list[torch.Tensor] = []
        self.values: list[int | None] = []  # the traced graph value of each converted tensor (its unique id)
        self._saved: dict[str, Any] = {}

    def __enter__(self) -> Self:
        for name in _CONVERSIONS:
            orig = getattr(torch.Tensor, name)
            self._saved[name] = orig

            def patched(t, *a, _orig=orig, **k):
                self.tensors.append(t)
                self.values.append(_traced_value(t))
                return _orig(t, *a, **k)

            setattr(torch.Tensor, name, patched)
        return self

    def __exit__(self, *exc) -> None:
        for name, orig in self._saved.items():
            setattr(torch.Tensor, name, orig)


def _traced_value(t: torch.Tensor) -> int | None:
    """The unique id of ``t``'s value in the graph being traced (None outside a trace or when it has none)."""
    if torch._C._get_tracing_state() is None:
        return None
    try:
        return torch._C._get_value_trace(t).unique()
    except RuntimeError:
        return None


# ops whose output shape depends on their inputs' values
_DATA_DEPENDENT_SHAPE = frozenset({
    "aten::nonzero", "aten::nonzero_numpy", "aten::argwhere", "aten::masked_select", "aten::unique", "aten::_unique",
    "aten::_unique2", "aten::unique_consecutive", "aten::unique_dim", "aten::unique_dim_consecutive",
    "aten::repeat_interleave", "aten::bincount", "aten::tensor_split", "aten::segment_reduce", "aten::resize_",
    "aten::resize_as_", "aten::set_", "aten::item", "aten::_local_scalar_dense",
})
# pure functions of their inputs that size arithmetic goes through (a value computed from static sizes and
# constants by these is itself fixed by the key)
_SIZE_ARITHMETIC = frozenset({
    "prim::NumToTensor", "aten::Int", "aten::Float", "aten::Bool", "aten::ScalarImplicit", "prim::ListConstruct",
    "prim::TupleConstruct", "prim::ListUnpack", "prim::TupleUnpack", "aten::__getitem__", "aten::len", "aten::add",
    "aten::sub", "aten::mul", "aten::div", "aten::floordiv", "aten::floor_divide", "aten::remainder", "aten::neg",
    "aten::eq", "aten::ne", "aten::lt", "aten::le", "aten::gt", "aten::ge", "aten::__and__", "aten::__or__",
    "aten::__xor__", "aten::__not__", "aten::logical_not", "aten::max", "aten::min", "aten::maximum",
    "aten::minimum", "aten::detach", "aten::to", "aten::reshape", "aten::view", "aten::unsqueeze", "aten::squeeze",
    "aten::clone", "aten::stack", "aten::cat",
})
_SIZE_READS = frozenset({"aten::size", "aten::numel", "aten::dim"})
_SHAPED_TYPES = (torch.TensorType, torch.ListType, torch.TupleType)


def _size_only_values(graph: torch.Graph) -> set[int]:
    """Unique ids of the values of a traced ``graph`` that are fixed by the input shapes: computed by size
    arithmetic from non-tensor constants and the sizes of tensors whose shapes are themselves fixed.

    One forward pass: a tensor's shape is *dynamic* when an op with a data-dependent output shape (or a
    boolean index) is upstream of it, or an op took a size argument that is not fixed; a graph input's
    shape is fixed (the cache key holds it). Tensor constants are never counted as fixed (a view of one
    may be written in place with traced values). Each value's type is read once, and a node's inputs and
    outputs by position (``Node.inputs()`` costs ~10x more: this pass visits thousands of nodes per trace)."""
    dynamic: set[int] = set()  # tensors (and lists) whose shape is not fixed
    fixed: set[int] = set()  # values fixed by the input shapes
    shaped: dict[int, bool] = {}  # unique id -> whether the value is a tensor, list or tuple (has a shape)

    def is_tensor(v) -> bool:
        return isinstance(v.type(), torch.TensorType)

    def unique(v) -> int:
        u = v.unique()
        if u not in shaped:
            shaped[u] = isinstance(v.type(), _SHAPED_TYPES)
        return u

    def shape_dynamic(u: int) -> bool:
        return u in dynamic if shaped[u] else u not in fixed  # a scalar argument (a size, a fill value) not fixed

    for node in graph.nodes():
        kind = node.kind()
        outs = [node.outputsAt(i) for i in range(node.outputsSize())]
        if kind == "prim::Constant":
            fixed.update(o.unique() for o in outs if not is_tensor(o))
            continue
        ins = [node.inputsAt(i) for i in range(node.inputsSize())]
        us = [unique(i) for i in ins]
        dyn = kind in _DATA_DEPENDENT_SHAPE or any(shape_dynamic(u) for u in us)
        if kind == "aten::where" and len(ins) == 1:
            dyn = True
        if kind == "aten::index" and len(ins) > 1:
            idx = ins[1].node()
            elems = list(idx.inputs()) if idx.kind() == "prim::ListConstruct" else [None]
            dyn = dyn or any(e is None or (is_tensor(e) and e.type().scalarType() not in ("Long", "Int")) for e in elems
                             if e is None or e.type().kind() != "NoneType")
        if dyn:
            dynamic.update(o.unique() for o in outs)
        if kind in _SIZE_READS:
            ok = us[0] not in dynamic and all(u in fixed for u in us[1:])
        else:
            ok = kind in _SIZE_ARITHMETIC and all(u in fixed for u in us)
        if ok:
            fixed.update(o.unique() for o in outs)
    return fixed


def _gathers_as_index_select(graph: torch.Graph) -> int:
    """Rewrite, in a traced ``graph``, each gather by one constant index tensor along one dimension
    (``x[:, idx]``: ``aten::index`` with a list of Nones and one 1-D integer constant without negative entries)
    as ``aten::index_select(x, dim, idx)``: the same values and gradients, 2-5x faster (CPU, batch 1 to 1024;
    advanced indexing goes through a generic strided kernel). Returns how many it rewrote; the constants are
    propagated first, so index tensors computed from constants (a topology cache's, a layout's) count."""
    torch._C._jit_pass_constant_propagation(graph)
    done = 0
    for node in list(graph.nodes()):
        if node.kind() != "aten::index":
            continue
        x, lst = node.inputs()
        kind = lst.node().kind()
        if kind == "prim::Constant":  # the whole index list folded: [None, ..., tensor]
            values = lst.toIValue()
        elif kind == "prim::ListConstruct":
            values = [e.toIValue() if e.node().kind() == "prim::Constant" else e for e in lst.node().inputs()]
        else:
            continue
        at = [i for i, v in enumerate(values) if v is not None]
        if len(at) != 1:
            continue
        idx = values[at[0]]
        if (not isinstance(idx, torch.Tensor) or idx.dtype not in (torch.long, torch.int) or idx.dim() != 1
                or (idx.numel() and int(idx.min()) < 0)):
            continue
        with graph.insert_point_guard(node):
            dim, index = graph.insertConstant(at[0]), graph.insertConstant(idx)
            new = graph.create("aten::index_select", [x, dim, index], 1)
            graph.insertNode(new)
        new.output().setType(node.output().type())
        node.output().replaceAllUsesWith(new.output())
        node.destroy()
        done += 1
    torch._C._jit_pass_dce(graph)
    return done


def _with_index_select(traced) -> tuple[Any, int]:
    """``traced`` with :func:`_gathers_as_index_select` applied (a new function of a copy of its graph), or
    ``traced`` itself where nothing was rewritten or the rewrite failed."""
    try:
        graph = traced.graph.copy()
        done = _gathers_as_index_select(graph)
        if not done:
            return traced, 0
        return torch._C._create_function_from_graph("shapeprog_replay", graph), done
    except Exception:  # noqa: BLE001  (an unexpected graph: keep the recorded one)
        return traced, 0


def _guard_vector(tensors: list[torch.Tensor], device) -> torch.Tensor:
    """The converted tensors' values as one float64 vector, grouped by dtype: per dtype one stack of the 0-d
    guards, one flattening op per other guard and one conversion (not three ops per guard: a replay runs
    these ops every call)."""
    if not tensors:
        return torch.zeros(0, dtype=torch.float64, device=device)
    groups: dict[torch.dtype, tuple[list[torch.Tensor], list[torch.Tensor]]] = {}
    for t in tensors:
        scalars, others = groups.setdefault(t.dtype, ([], []))
        (scalars if t.dim() == 0 else others).append(t)
    parts = []
    for scalars, others in groups.values():  # the 0-d guards (most: a bool() of a reduction) in one stack
        flat = ([torch.stack(scalars)] if scalars else []) + [t.reshape(-1) for t in others]
        parts.append((flat[0] if len(flat) == 1 else torch.cat(flat)).to(torch.float64))
    return (parts[0] if len(parts) == 1 else torch.cat(parts)).detach()


class _Traced:
    def __init__(self, fn, template: MeshBatch, attr_names: list[str], guards: torch.Tensor):
        self.fn = fn
        self.template = template
        self.attr_names = attr_names
        self.guards = guards
        self.verts_shape = template.verts.shape
        self.guards_recorded = self.guards_kept = 0  # conversions seen while tracing / kept in the graph
        self.index_selects = 0  # gathers rewritten as index_select


INDEX_SELECT = True
"""Whether a recorded trace's constant gathers are rewritten as ``index_select`` (:func:`_gathers_as_index_select`)."""

_UNTRACEABLE = "untraceable"
"""The cache entry of a key whose trace failed: it stays on the plain path (tracing it again would fail again)."""


class TraceCache:
    """Per-program cache of traced evaluations, keyed by everything that fixes the op sequence."""

    def __init__(self, capacity: int = 64, min_calls: int = 2):
        self.capacity = capacity
        self.min_calls = min_calls
        self.entries: OrderedDict[tuple, Any] = OrderedDict()
        self.stats = {"traced": 0, "replayed": 0, "guard_misses": 0, "slow": 0, "untraceable": 0}

    def _key(self, kwargs: dict, tensor_names: list[str], batch: int, dtype, device) -> tuple | None:
        static = []
        for k, v in kwargs.items():
            if k in tensor_names:
                continue
            try:
                hash(v)
            except TypeError:
                return None
            static.append((k, v))
        shapes = tuple((k, tuple(kwargs[k].shape), kwargs[k].dtype, str(kwargs[k].device)) for k in tensor_names)
        return (tuple(static), shapes, batch, dtype, str(device))

    def prepare(self, kwargs: dict, batch: int, dtype, device) -> tuple[list[str], tuple | None]:
        """The tensor arguments' names in call order and the cache key of ``kwargs`` (None: not cacheable);
        the same for every call whose non-tensor arguments and tensor shapes, dtypes and devices agree
        (a caller may keep it for such calls and pass it to :meth:`run`)."""
        tensor_names = sorted(k for k, v in kwargs.items() if isinstance(v, torch.Tensor))
        return tensor_names, (self._key(kwargs, tensor_names, batch, dtype, device) if tensor_names else None)

    def run(self, slow: Callable[[dict], MeshBatch], kwargs: dict, batch: int, dtype, device,
            prepared: tuple[list[str], tuple | None] | None = None) -> MeshBatch:
        """Evaluate ``slow(kwargs)`` or its traced replay (same result). ``prepared``: :meth:`prepare`'s
        result for these arguments, when the caller kept it."""
        tensor_names, key = prepared if prepared is not None else self.prepare(kwargs, batch, dtype, device)
        if key is None or not enabled():
            self.stats["slow"] += 1
            return slow(kwargs)
        entry = self.entries.get(key)
        if isinstance(entry, _Traced):
            self.entries.move_to_end(key)
            outs = entry.fn(*[kwargs[k] for k in tensor_names])
            # a value-dependent shape that no guard saw would change the vertex count: never replay that
            if torch.equal(outs[-1], entry.guards) and outs[0].shape == entry.verts_shape:
                self.stats["replayed"] += 1
                if not entry.attr_names:
                    return replace(entry.template, verts=outs[0], attributes={})
                attrs = {n: replace(entry.template.attributes[n], data=t) for n, t in zip(entry.attr_names, outs[1:-1])}
                return replace(entry.template, verts=outs[0], attributes=attrs)
            self.stats["guard_misses"] += 1
            return slow(kwargs)
        if entry == _UNTRACEABLE:
            self.entries.move_to_end(key)
            self.stats["slow"] += 1
            return slow(kwargs)
        calls = (entry or 0) + 1
        if calls < self.min_calls:
            self.entries[key] = calls
            self._evict()
            self.stats["slow"] += 1
            return slow(kwargs)
        return self._trace(slow, kwargs, tensor_names, key, device)

    def _trace(self, slow, kwargs, tensor_names, key, device) -> MeshBatch:
        holder: dict[str, Any] = {}

        def fn(*tensors):
            with _GuardRecorder() as rec:
                mesh = slow({**kwargs, **dict(zip(tensor_names, tensors))})
            holder["mesh"] = mesh
            names = list(mesh.attributes)
            holder["attrs"] = names
            fixed = _size_only_values(torch._C._get_tracing_state().graph())
            kept = [t for t, v in zip(rec.tensors, rec.values) if v is None or v not in fixed]
            holder["guards_total"], holder["guards_kept"] = len(rec.tensors), len(kept)
            guards = _guard_vector(kept, device)
            holder["guards"] = guards
            return (mesh.verts, *(mesh.attributes[n].data for n in names), guards)

        example = tuple(kwargs[k] for k in tensor_names)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                traced = torch.jit.trace(fn, example, check_trace=False, strict=False)
        except Exception:  # noqa: BLE001  (whatever the tracer cannot record: this key stays on the slow path)
            self.entries[key] = _UNTRACEABLE
            self.stats["untraceable"] += 1
            self.stats["slow"] += 1
            return slow(kwargs)
        mesh: MeshBatch = holder["mesh"]
        traced, selects = _with_index_select(traced) if INDEX_SELECT else (traced, 0)
        entry = self.entries[key] = _Traced(traced, mesh, holder["attrs"], holder["guards"].detach().clone())
        entry.index_selects = selects
        entry.guards_recorded, entry.guards_kept = holder["guards_total"], holder["guards_kept"]
        self._evict()
        self.stats["traced"] += 1
        return mesh

    def _evict(self) -> None:
        while len(self.entries) > self.capacity:
            self.entries.popitem(last=False)
