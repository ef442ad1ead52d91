"""Runtime values: the evaluation context, coercions to tensors, and the Field type.

Constants in a generated program are Python numbers and tuples; the nodes turn
them into tensors of the context's dtype and device (:class:`eval_context`,
set by :func:`translator.runtime.run` from the continuous inputs) with
:func:`as_float` / :func:`as_vector`. A :class:`Field` is a lazily evaluated
per-element value, evaluated on a :class:`FieldContext` (see
:mod:`translator.runtime.fields`).
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from ..geometry import CurvesBatch, Instances, MeshBatch

__all__ = [
    "VECTOR_SIZES",
    "EvalContext",
    "Field",
    "FieldContext",
    "SizeLimitError",
    "as_bool",
    "as_float",
    "as_int",
    "as_vector",
    "batch_size_of",
    "check_size",
    "current",
    "eval_context",
    "identity_matrix",
    "is_field",
]

# Components of the vector-like socket types.
VECTOR_SIZES = {"VECTOR": 3, "ROTATION": 4, "RGBA": 4}


@dataclass(frozen=True)
class EvalContext:
    dtype: torch.dtype = torch.float32
    """dtype of tensors made from constants."""
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    """device of tensors made from constants."""
    trace: bool = True
    """Whether program calls may use the traced fast path (:mod:`translator.tracing`; the environment
    variable ``SHAPEPROG_TRACE=0`` turns it off everywhere)."""
    max_elements: int = 100_000_000
    """The most elements (vertices plus face corners) one node may make; a node that would make more raises
    :class:`SizeLimitError` before it allocates anything (a count of 10^9 from a user's value)."""
    batch: int = 0
    """The batch size of the whole program evaluation when known (``run`` sets it; 0: unknown). With 1, every
    value of the evaluation has batch 1, so a For Each zone may stack its elements into the batch dimension."""


class SizeLimitError(ValueError):
    """A node would make more elements than the evaluation allows (one line naming the node)."""


def check_size(elements: int, what: str) -> None:
    """Raise :class:`SizeLimitError` when ``what`` (a node, with the counts that decide its size) would make
    more than the context's ``max_elements`` elements."""
    limit = current().max_elements
    if elements > limit:
        raise SizeLimitError(f"{what} would make {elements:,} vertices and face corners, more than the limit of "
                             f"{limit:,} (raise it with --max-elements)")


_CONTEXT: contextvars.ContextVar[EvalContext] = contextvars.ContextVar(
    "shapeprog_eval", default=EvalContext())  # noqa: B039 - EvalContext is frozen


def current() -> EvalContext:
    return _CONTEXT.get()


class eval_context:
    """``with eval_context(dtype, device): ...`` sets where constants become tensors;
    ``with eval_context(trace=False): ...`` evaluates programs on the plain (untraced) path;
    ``with eval_context(max_elements=n): ...`` sets the size limit; ``batch`` the evaluation's batch size
    (:attr:`EvalContext.batch`). ``trace``, ``max_elements`` and ``batch`` left as None keep the enclosing
    context's choice."""

    def __init__(self, dtype: torch.dtype = torch.float32, device: Any = "cpu", trace: bool | None = None,
                 max_elements: int | None = None, batch: int | None = None):
        cur = current()
        self.ctx = EvalContext(dtype, torch.device(device), cur.trace if trace is None else bool(trace),
                               cur.max_elements if max_elements is None else int(max_elements),
                               cur.batch if batch is None else int(batch))

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


def identity_matrix() -> torch.Tensor:
    c = current()
    return torch.eye(4, dtype=c.dtype, device=c.device)


@dataclass
class FieldContext:
    """Where a field is evaluated: a component of a geometry and one of its domains."""

    domain: str
    size: int
    mesh: MeshBatch | None = None
    instances: Instances | None = None
    curves: CurvesBatch | None = None


class Field:
    """A lazily evaluated per-element value. ``fn(ctx) -> Tensor (b, N, ...)``."""

    __slots__ = ("fn", "label", "type")

    def __init__(self, fn: Callable[[FieldContext], torch.Tensor], type: str, label: str = ""):
        self.fn = fn
        self.type = type
        self.label = label

    def __repr__(self) -> str:
        return f"Field({self.type}{', ' + self.label if self.label else ''})"


def is_field(x: Any) -> bool:
    return isinstance(x, Field)
