"""Logic nodes: Boolean Math and Compare.

Semantics follow Blender 5.0 (``node_fn_boolean_math.cc``, ``node_fn_compare.cc``),
checked against Blender in ``tests/translator/nodes/test_logic.py``. Results are booleans:
a Python ``bool`` when every input is a Python value, a bool tensor ``()`` /
``(B,)`` for tensor inputs, a field when any input is one. Comparisons have no
gradient.
"""

from __future__ import annotations

import math as _m
from collections.abc import Callable
from typing import Any

import torch

from . import node
from .math import elementwise, normalize, vector_length

__all__ = [
    "BOOLEAN_OPERATIONS",
    "COMPARE_MODES",
    "COMPARE_OPERATIONS",
    "boolean_math",
    "compare",
    "vector_angle",
]

_BOOL_OPS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "AND": lambda a, b: a & b,
    "OR": lambda a, b: a | b,
    "NOT": lambda a, b: ~a,
    "NAND": lambda a, b: ~(a & b),
    "NOR": lambda a, b: ~(a | b),
    "XNOR": lambda a, b: a == b,
    "XOR": lambda a, b: a != b,
    "IMPLY": lambda a, b: ~a | b,
    "NIMPLY": lambda a, b: a & ~b,
}

BOOLEAN_OPERATIONS = tuple(_BOOL_OPS)


def _check_boolean_math(n) -> str | None:
    op = n.properties.get("operation")
    return None if op in _BOOL_OPS else f"Boolean Math operation {op!r} is not supported"


@node("FunctionNodeBooleanMath", outputs=("Boolean",), props=("operation",), check=_check_boolean_math,
      label="Boolean Math", modes={"operation": BOOLEAN_OPERATIONS})
def boolean_math(operation: str, boolean=False, boolean_001=False):
    """Boolean Math: ``a op b`` on bools (``NOT`` uses only ``a``)."""
    fn = _BOOL_OPS[operation]
    return elementwise(lambda a, b: fn(*torch.broadcast_tensors(a, b)), [boolean, boolean_001], ["BOOLEAN"] * 2, "BOOLEAN")


# ---------------------------------------------------------------------------
# Compare

_ORDER: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "LESS_THAN": torch.lt,
    "LESS_EQUAL": torch.le,
    "GREATER_THAN": torch.gt,
    "GREATER_EQUAL": torch.ge,
}

COMPARE_OPERATIONS = {
    "FLOAT": (*_ORDER, "EQUAL", "NOT_EQUAL"),
    "INT": (*_ORDER, "EQUAL", "NOT_EQUAL"),
    "VECTOR": (*_ORDER, "EQUAL", "NOT_EQUAL"),
    "RGBA": ("EQUAL", "NOT_EQUAL", "BRIGHTER", "DARKER"),
    "STRING": ("EQUAL", "NOT_EQUAL"),
}
_ALL_COMPARE_OPERATIONS = tuple(dict.fromkeys(op for ops in COMPARE_OPERATIONS.values() for op in ops))
COMPARE_MODES = ("ELEMENT", "LENGTH", "AVERAGE", "DOT_PRODUCT", "DIRECTION")

# Blender's rgb_to_grayscale (Rec. 709 luminance).
_LUMINANCE = (0.2126, 0.7152, 0.0722)


def _scalar(operation: str, a: torch.Tensor, b: torch.Tensor, eps: torch.Tensor, not_equal_inclusive: bool = False) -> torch.Tensor:
    """Compare floats; EQUAL / NOT_EQUAL within ``eps`` (NOT_EQUAL uses ``>=`` when inclusive)."""
    if operation in _ORDER:
        return _ORDER[operation](a, b)
    d = torch.abs(a - b)
    if operation == "EQUAL":
        return d <= eps
    return d >= eps if not_equal_inclusive else d > eps


def vector_angle(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Blender's ``angle_v3v3``: the angle between ``a`` and ``b`` ``(…, 3) -> (…)`` in [0, pi],
    computed with its asin formulation on the normalized vectors (a zero vector normalizes to zero,
    so the angle is pi/3 when exactly one of them is zero and 0 when both are)."""
    u, v = normalize(a), normalize(b)
    half_near = torch.clamp(vector_length(u - v) / 2.0, -1.0, 1.0)
    half_far = torch.clamp(vector_length(u + v) / 2.0, -1.0, 1.0)
    return torch.where((u * v).sum(-1) >= 0, 2.0 * torch.asin(half_near), _m.pi - 2.0 * torch.asin(half_far))


def _compare_vector(operation: str, mode: str, a, b, c, angle, eps) -> torch.Tensor:
    if mode == "ELEMENT":
        if operation in _ORDER:
            return _ORDER[operation](a, b).all(-1)
        d = torch.abs(a - b)
        return (d <= eps.unsqueeze(-1)).all(-1) if operation == "EQUAL" else (d > eps.unsqueeze(-1)).any(-1)
    if mode == "LENGTH":
        return _scalar(operation, vector_length(a), vector_length(b), eps)
    if mode == "AVERAGE":
        return _scalar(operation, a.sum(-1) / 3.0, b.sum(-1) / 3.0, eps)
    if mode == "DOT_PRODUCT":
        # Blender's Not Equal for dot products is |dot - c| >= epsilon.
        return _scalar(operation, (a * b).sum(-1), c, eps, not_equal_inclusive=True)
    return _scalar(operation, vector_angle(a, b), angle, eps)


def _compare_color(operation: str, a, b, eps) -> torch.Tensor:
    if operation in ("BRIGHTER", "DARKER"):
        w = torch.tensor(_LUMINANCE, dtype=a.dtype, device=a.device)
        la, lb = (a[..., :3] * w).sum(-1), (b[..., :3] * w).sum(-1)
        return la > lb if operation == "BRIGHTER" else la < lb
    d = torch.abs(a[..., :3] - b[..., :3])
    return (d <= eps.unsqueeze(-1)).all(-1) if operation == "EQUAL" else (d > eps.unsqueeze(-1)).any(-1)


def _check_compare(n) -> str | None:
    dt, op, mode = n.properties.get("data_type"), n.properties.get("operation"), n.properties.get("mode")
    if dt not in COMPARE_OPERATIONS:
        return f"Compare data type {dt!r} is not supported"
    if op not in COMPARE_OPERATIONS[dt]:
        return f"Compare operation {op!r} is not supported for {dt} inputs"
    if dt == "VECTOR" and mode not in COMPARE_MODES:
        return f"Compare mode {mode!r} is not supported"
    return None


@node("FunctionNodeCompare", outputs=("Result",), props=("data_type", "operation", "mode"), check=_check_compare,
      label="Compare", grad="no",
      modes={"data_type": tuple(COMPARE_OPERATIONS), "operation": _ALL_COMPARE_OPERATIONS, "mode": COMPARE_MODES},
      notes="the operations of each data type as in Blender; epsilon for EQUAL / NOT_EQUAL")
def compare(data_type: str = "FLOAT", operation: str = "GREATER_THAN", mode: str = "ELEMENT",
            a=0.0, b=0.0, a_int=0, b_int=0, a_vec3=(0.0, 0.0, 0.0), b_vec3=(0.0, 0.0, 0.0),
            a_col=(0.8, 0.8, 0.8, 1.0), b_col=(0.8, 0.8, 0.8, 1.0), a_str="", b_str="",
            c=0.9, angle=0.0872665, epsilon=0.001) -> Any:
    """Compare: floats ``()`` / ``(B,)``, ints, vectors ``(…, 3)`` (with ``mode``), colors ``(…, 4)``
    or strings -> bool. Only the inputs of ``data_type`` are read."""
    if data_type == "FLOAT":
        return elementwise(lambda x, y, e: _scalar(operation, x, y, e), [a, b, epsilon], ["VALUE"] * 3, "BOOLEAN")
    if data_type == "INT":
        return elementwise(lambda x, y: _scalar(operation, x, y, 0), [a_int, b_int], ["INT"] * 2, "BOOLEAN")
    if data_type == "VECTOR":
        return elementwise(lambda x, y, cc, an, e: _compare_vector(operation, mode, x, y, cc, an, e),
                           [a_vec3, b_vec3, c, angle, epsilon], ["VECTOR", "VECTOR", "VALUE", "VALUE", "VALUE"], "BOOLEAN")
    if data_type == "RGBA":
        return elementwise(lambda x, y, e: _compare_color(operation, x, y, e), [a_col, b_col, epsilon],
                           ["RGBA", "RGBA", "VALUE"], "BOOLEAN")
    if data_type == "STRING":
        return (str(a_str) == str(b_str)) == (operation == "EQUAL")
    raise ValueError(f"Compare data type {data_type!r} is not supported")
