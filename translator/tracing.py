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
that call. ``eval_context(trace=False)`` disables the fast path for a block of
code, ``SHAPEPROG_TRACE=0`` everywhere.
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
    from .runtime import current

    return current().trace and os.environ.get("SHAPEPROG_TRACE", "1") != "0"


class _GuardRecorder:
    """Patches tensor -> Python conversions while tracing and records the converted tensors."""

    def __init__(self) -> None:
        self.tensors: list[torch.Tensor] = []
        self._saved: dict[str, Any] = {}

    def __enter__(self) -> Self:
        for name in _CONVERSIONS:
            orig = getattr(torch.Tensor, name)
            self._saved[name] = orig

            def patched(t, *a, _orig=orig, **k):
                self.tensors.append(t)
                return _orig(t, *a, **k)

            setattr(torch.Tensor, name, patched)
        return self

    def __exit__(self, *exc) -> None:
        for name, orig in self._saved.items():
            setattr(torch.Tensor, name, orig)


def _guard_vector(tensors: list[torch.Tensor], device) -> torch.Tensor:
    """The converted tensors' values as one float64 vector, grouped by dtype (one flattening op per guard and
    one conversion per dtype, not three ops per guard: a replay runs these ops every call)."""
    if not tensors:
        return torch.zeros(0, dtype=torch.float64, device=device)
    groups: dict[torch.dtype, list[torch.Tensor]] = {}
    for t in tensors:
        groups.setdefault(t.dtype, []).append(t.reshape(-1))
    return torch.cat([torch.cat(g).to(torch.float64) for g in groups.values()]).detach()


class _Traced:
    def __init__(self, fn, template: MeshBatch, attr_names: list[str], guards: torch.Tensor):
        self.fn = fn
        self.template = template
        self.attr_names = attr_names
        self.guards = guards


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

    def run(self, slow: Callable[[dict], MeshBatch], kwargs: dict, batch: int, dtype, device) -> MeshBatch:
        """Evaluate ``slow(kwargs)`` or its traced replay (same result)."""
        tensor_names = sorted(k for k, v in kwargs.items() if isinstance(v, torch.Tensor))
        key = self._key(kwargs, tensor_names, batch, dtype, device) if enabled() and tensor_names else None
        if key is None:
            self.stats["slow"] += 1
            return slow(kwargs)
        entry = self.entries.get(key)
        if isinstance(entry, _Traced):
            self.entries.move_to_end(key)
            outs = entry.fn(*(kwargs[k] for k in tensor_names))
            # a value-dependent shape that no guard saw would change the vertex count: never replay that
            if torch.equal(outs[-1], entry.guards) and outs[0].shape == entry.template.verts.shape:
                self.stats["replayed"] += 1
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
            guards = _guard_vector(rec.tensors, device)
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
        self.entries[key] = _Traced(traced, mesh, holder["attrs"], holder["guards"].detach().clone())
        self._evict()
        self.stats["traced"] += 1
        return mesh

    def _evict(self) -> None:
        while len(self.entries) > self.capacity:
            self.entries.popitem(last=False)
