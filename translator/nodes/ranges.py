"""Range nodes: Clamp and Map Range.

Semantics follow Blender 5.0 (``node_shader_clamp.cc``, ``node_shader_map_range.cc``),
checked against Blender in ``tests/translator/nodes/test_ranges.py``. Inputs are floats
``()`` / ``(B,)`` (vectors ``(3,)`` / ``(B, 3)`` for Map Range's FLOAT_VECTOR
type) or fields. Gradients are those of the branch taken; a zero input range
maps to ``To Min`` with zero gradient (Blender's ``safe_divide``).
"""

from __future__ import annotations

import torch

from . import node
from .math import elementwise, safe_divide, std_max, std_min

__all__ = ["CLAMP_TYPES", "MAP_RANGE_INTERPOLATIONS", "clamp", "map_range", "map_range_kernel"]

CLAMP_TYPES = ("MINMAX", "RANGE")
MAP_RANGE_INTERPOLATIONS = ("LINEAR", "STEPPED", "SMOOTHSTEP", "SMOOTHERSTEP")


def _clamp_ordered(value: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """``std::min(std::max(value, lo), hi)``."""
    return std_min(std_max(value, lo), hi)


def _clamp_range(value: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Clamp to the range between ``a`` and ``b`` in either order."""
    swap = a > b
    return _clamp_ordered(value, torch.where(swap, b, a), torch.where(swap, a, b))


def _check_clamp(n) -> str | None:
    t = n.properties.get("clamp_type")
    return None if t in CLAMP_TYPES else f"Clamp type {t!r} is not supported"


@node("ShaderNodeClamp", outputs=("Result",), props=("clamp_type",), check=_check_clamp,
      label="Clamp", modes={"clamp_type": CLAMP_TYPES}, grad="yes")
def clamp(clamp_type: str = "MINMAX", value=1.0, min=0.0, max=1.0):
    """Clamp: MINMAX gives ``min(max(value, Min), Max)`` (``Max`` wins when ``Min > Max``);
    RANGE clamps to the range between ``Min`` and ``Max`` in either order."""
    fn = _clamp_ordered if clamp_type == "MINMAX" else _clamp_range
    return elementwise(fn, [value, min, max], ["VALUE"] * 3, "VALUE")


def map_range_kernel(interpolation: str, use_clamp: bool, value, from_min, from_max, to_min, to_max, steps) -> torch.Tensor:
    """Map Range on float tensors (per component for vectors).

    ``factor = (value - from_min) / (from_max - from_min)`` (0 for an empty input range), shaped by
    the interpolation, then ``to_min + factor * (to_max - to_min)``. LINEAR and STEPPED clamp the
    result to the target range when ``use_clamp``; the smooth steps always clamp the factor.
    """
    factor = safe_divide(value - from_min, from_max - from_min)
    if interpolation == "STEPPED":
        factor = safe_divide(torch.floor(factor * (steps + 1.0)), steps)
    elif interpolation == "SMOOTHSTEP":
        f = torch.clamp(factor, 0.0, 1.0)
        factor = (3.0 - 2.0 * f) * (f * f)
    elif interpolation == "SMOOTHERSTEP":
        f = torch.clamp(factor, 0.0, 1.0)
        factor = f * f * f * (f * (f * 6.0 - 15.0) + 10.0)
    result = to_min + factor * (to_max - to_min)
    if use_clamp and interpolation in ("LINEAR", "STEPPED"):
        result = _clamp_range(result, to_min, to_max)
    return result


def _check_map_range(n) -> str | None:
    dt, it = n.properties.get("data_type"), n.properties.get("interpolation_type")
    if dt not in ("FLOAT", "FLOAT_VECTOR"):
        return f"Map Range data type {dt!r} is not supported"
    if it not in MAP_RANGE_INTERPOLATIONS:
        return f"Map Range interpolation {it!r} is not supported"
    return None


@node("ShaderNodeMapRange", outputs=("Result", "Vector"), props=("data_type", "interpolation_type", "clamp"),
      check=_check_map_range,
      label="Map Range", grad="yes",
      modes={"data_type": ("FLOAT", "FLOAT_VECTOR"), "interpolation_type": MAP_RANGE_INTERPOLATIONS, "clamp": (False, True)})
def map_range(data_type: str = "FLOAT", interpolation_type: str = "LINEAR", clamp: bool = True,
              value=1.0, from_min=0.0, from_max=1.0, to_min=0.0, to_max=1.0, steps=4.0,
              vector=(0.0, 0.0, 0.0), from_min_float3=(0.0, 0.0, 0.0), from_max_float3=(1.0, 1.0, 1.0),
              to_min_float3=(0.0, 0.0, 0.0), to_max_float3=(1.0, 1.0, 1.0), steps_float3=(4.0, 4.0, 4.0)):
    """Map Range. Returns ``(result (…), vector (…, 3))``: FLOAT maps ``value`` (the vector output
    is zero), FLOAT_VECTOR maps ``vector`` per component (the float output is zero)."""
    use_clamp = bool(clamp)

    def kernel(*xs):
        return map_range_kernel(interpolation_type, use_clamp, *xs)

    if data_type == "FLOAT":
        args = [value, from_min, from_max, to_min, to_max, steps]
        return elementwise(kernel, args, ["VALUE"] * 6, "VALUE"), (0.0, 0.0, 0.0)
    args = [vector, from_min_float3, from_max_float3, to_min_float3, to_max_float3, steps_float3]
    return 0.0, elementwise(kernel, args, ["VECTOR"] * 6, "VECTOR")
