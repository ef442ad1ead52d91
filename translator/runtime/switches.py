"""Switches and topology: Switch / Index Switch / Menu Switch at run time, and the values
that must be shared by the batch because they decide topology.

Topology (vertex counts, which branch of a Geometry Switch is taken, which
points get instances) must be the same for every element of a batch. When a
batched value decides topology and differs across the batch, :func:`static`
raises :class:`TopologyVaries`; :func:`translator.runtime.evaluate_grouped`
splits the batch into groups that share a topology and evaluates each.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from .conversions import default_value
from .fields import field_map
from .rotations import as_rotation
from .values import VECTOR_SIZES, Field, as_float, as_vector, identity_matrix

__all__ = ["TopologySplitError", "TopologyVaries", "index_switch", "menu_switch", "static", "static_mask", "switch"]


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
    if type == "ROTATION":
        a, b = as_rotation(a), as_rotation(b)
        return torch.where(cond.reshape(-1, 1), a, b)
    if type in VECTOR_SIZES:
        a, b = as_vector(a, VECTOR_SIZES[type]), as_vector(b, VECTOR_SIZES[type])
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
            out = torch.zeros_like(vs[0]) if vs else None
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


def menu_switch(type: str, item: Any, branches: dict[str, Callable[[], Any]]) -> Any:
    """Blender's Menu Switch: ``item`` is the chosen menu item's name."""
    if isinstance(item, (torch.Tensor, Field)):
        raise TypeError("a Menu Switch needs a single menu value")
    br = branches.get(item)
    return br() if br is not None else default_value(type)
