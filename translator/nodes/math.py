"""Math nodes: Math, Vector Math, Integer Math and Float to Integer.

Semantics follow Blender 5.0 (``NOD_math_functions.hh``, ``BLI_math_base_safe.h``,
``node_fn_integer_math.cc``, ``node_fn_float_to_int.cc``), checked operation by
operation against Blender itself (``tests/translator/nodes/test_math.py``):

* the ``safe_*`` variants: division, modulo, logarithm and inverse square root
  by/of zero give 0, square root of a negative number 0, arc sine/cosine clamp
  their argument to [-1, 1], a negative base with a non-integer exponent gives 0;
* Vector Math's Modulo is *not* safe in Blender: a zero divisor component gives
  NaN there, and here;
* integers are 32-bit: results wrap around like Blender's, and float -> int
  conversions that do not fit (or NaN) give -2147483648, as on x86.

Inputs are Python numbers, tensors ``()`` / ``(B,)`` (vectors ``(3,)`` /
``(B, 3)``) or fields; the result has the broadcast shape (a field when any
input is one). Float results are tensors; integer results of Python-only inputs
stay Python ints (they are discrete and decide topology), otherwise they are
int64 tensors. Where Blender's function is piecewise the gradient is that of
the branch taken, and no branch produces NaN gradients (denominators and
square-root arguments are made safe before use).
"""

from __future__ import annotations

import math as _m
from collections.abc import Callable, Sequence
from typing import Any

import torch

from .. import runtime as rt
from . import node

__all__ = [
    "INTEGER_MATH_OPERATIONS",
    "MATH_OPERATIONS",
    "ROUNDING_MODES",
    "VECTOR_MATH_OPERATIONS",
    "elementwise",
    "float_math",
    "float_to_int",
    "integer_math",
    "math",
    "normalize",
    "safe_divide",
    "std_max",
    "std_min",
    "vector_length",
    "vector_math",
    "vector_math_kernel",
    "wrap_int32",
]

FLT_EPSILON = 1.1920928955078125e-07
INT32_MIN = -(2**31)


# ---------------------------------------------------------------------------
# Applying a kernel to single values or fields


def _as_type(x: Any, type: str) -> torch.Tensor:
    """A runtime value (or an evaluated field tensor) of socket ``type`` as a tensor."""
    if type == "VALUE":
        return rt.as_float(x)
    if type == "VECTOR":
        return rt.as_vector(x)
    if type == "ROTATION":
        return rt.as_rotation(x)
    if type == "MATRIX":
        return x if isinstance(x, torch.Tensor) else rt.identity_matrix()
    if type == "RGBA":
        return rt.as_vector(x, 4)
    dev = rt.current().device
    if type == "INT":
        return x.long() if isinstance(x, torch.Tensor) else torch.tensor(int(x), dtype=torch.long, device=dev)
    if type == "BOOLEAN":
        return x.bool() if isinstance(x, torch.Tensor) else torch.tensor(bool(x), device=dev)
    raise TypeError(f"no tensor form for a {type} value")


def elementwise(fn: Callable[..., torch.Tensor], args: Sequence[Any], types: Sequence[str], out_type: str) -> Any:
    """Apply the tensor kernel ``fn`` to ``args`` (runtime values of socket ``types``).

    Single values give a single value (an INT or BOOLEAN result of inputs that are all
    Python values is a Python ``int`` / ``bool``); any field input gives a lazy field.
    """

    def kernel(*xs: Any) -> torch.Tensor:
        return fn(*(_as_type(x, t) for x, t in zip(xs, types)))

    if any(rt.is_field(a) for a in args):
        return rt.field_map(kernel, args, types, out_type)
    out = kernel(*args)
    if out_type in ("INT", "BOOLEAN") and not any(isinstance(a, torch.Tensor) for a in args):
        return int(out) if out_type == "INT" else bool(out)
    return out


# ---------------------------------------------------------------------------
# Safe float helpers (shared with logic.py and ranges.py)


def _nonzero(b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(b != 0, b with its zeros replaced by 1)``: a divisor that is safe to divide by (any dtype)."""
    nz = b != 0
    return nz, torch.where(nz, b, torch.ones_like(b))


def _guarded(ok: torch.Tensor, x: torch.Tensor, fn: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """``fn(x)`` where ``ok``, else 0. ``fn`` only ever sees ``x`` where ``ok`` (1 elsewhere), so the
    unused branch yields no NaN value or gradient."""
    r = fn(torch.where(ok, x, torch.ones_like(x)))
    return torch.where(ok, r, torch.zeros_like(r))


def _zero_where_zero(b: torch.Tensor, fn: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """``fn(b)``, or 0 where ``b == 0``."""
    return _guarded(b != 0, b, fn)


def safe_divide(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a / b``, or 0 where ``b == 0`` (Blender's ``safe_divide``); zero gradient there."""
    return _zero_where_zero(b, lambda bs: a / bs)


def std_min(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``std::min(a, b)``: ``b`` if ``b < a`` else ``a`` (ties take ``a``'s gradient)."""
    return torch.where(b < a, b, a)


def std_max(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``std::max(a, b)``: ``b`` if ``a < b`` else ``a``."""
    return torch.where(a < b, b, a)


def _safe_sqrt(a: torch.Tensor) -> torch.Tensor:
    """``sqrt(max(a, 0))`` with a zero gradient where ``a <= 0``."""
    return _guarded(a > 0, a, torch.sqrt)


def vector_length(v: torch.Tensor) -> torch.Tensor:
    """``|v|`` over the last dim ``(…, 3) -> (…)``; zero gradient at the origin."""
    return _safe_sqrt((v * v).sum(-1))


def normalize(v: torch.Tensor) -> torch.Tensor:
    """Blender's ``math::normalize``: ``v / |v|``, or zero when ``|v|^2 <= 1e-35``."""
    sq = (v * v).sum(-1, keepdim=True)
    ok = sq > 1e-35
    inv = torch.rsqrt(torch.where(ok, sq, torch.ones_like(sq)))
    return torch.where(ok, v * inv, torch.zeros_like(v))


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a * b).sum(-1)


# ---------------------------------------------------------------------------
# Float Math kernels


def _safe_pow(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Blender's ``safe_powf``: 0 for a negative base with a non-integer exponent, else ``powf``.

    A negative base with an integer exponent is computed as ``±|a|^b`` (finite gradient in ``b``);
    a zero base with an exponent below 1 (where ``d/da`` is infinite) gets a zero gradient.
    """
    a, b = torch.broadcast_tensors(a, b)
    is_int = b == torch.trunc(b)
    neg = a < 0
    zero_sing = (a == 0) & (b < 1)
    base = torch.where(zero_sing, torch.ones_like(a), torch.abs(a))
    p = torch.pow(base, b)
    odd = torch.remainder(b, 2.0) == 1.0
    p = torch.where(neg & odd, -p, p)
    zero_val = torch.where(b == 0, torch.ones_like(p), torch.where(b < 0, torch.full_like(p, _m.inf), torch.zeros_like(p)))
    p = torch.where(zero_sing, zero_val, p)
    return torch.where(neg & ~is_int, torch.zeros_like(p), p)


def _safe_log(a: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
    """``log(a) / log(base)``, or 0 where ``a <= 0``, ``base <= 0`` or ``base == 1``."""
    ok = (a > 0) & (base > 0)
    return _guarded(ok, a, lambda x: safe_divide(torch.log(x), torch.log(torch.where(ok, base, torch.ones_like(base)))))


def _safe_inverse_sqrt(a: torch.Tensor) -> torch.Tensor:
    """``1 / sqrt(a)``, or 0 where ``a <= 0``."""
    return _guarded(a > 0, a, torch.rsqrt)


def _safe_asin(a: torch.Tensor) -> torch.Tensor:
    """``asin(clamp(a, -1, 1))``; zero gradient where ``|a| >= 1``."""
    inside = torch.abs(a) < 1
    r = torch.asin(torch.where(inside, a, torch.zeros_like(a)))
    return torch.where(inside, r, torch.sign(a) * (_m.pi / 2))


def _safe_acos(a: torch.Tensor) -> torch.Tensor:
    """``acos(clamp(a, -1, 1))``; zero gradient where ``|a| >= 1``."""
    inside = torch.abs(a) < 1
    r = torch.acos(torch.where(inside, a, torch.zeros_like(a)))
    return torch.where(inside, r, torch.where(a < 0, torch.full_like(r, _m.pi), torch.zeros_like(r)))


def _safe_fmod(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``fmodf(a, b)``, or 0 where ``b == 0`` (``safe_modf``)."""
    return _zero_where_zero(b, lambda bs: torch.fmod(a, bs))


def _floored_mod(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a - floor(a / b) * b``, or 0 where ``b == 0`` (``safe_floored_modf``)."""
    return _zero_where_zero(b, lambda bs: a - torch.floor(a / bs) * bs)


def _snap(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.floor(safe_divide(a, b)) * b


def _atan2(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``atan2f(y, x)``; zero gradient at the origin (where the value is 0 or pi)."""
    y, x = torch.broadcast_tensors(y, x)
    origin = (y == 0) & (x == 0)
    r = torch.atan2(torch.where(origin, torch.zeros_like(y), y), torch.where(origin, torch.ones_like(x), x))
    return torch.where(origin, torch.atan2(y.detach(), x.detach()), r)


def _wrap(value: torch.Tensor, vmax: torch.Tensor, vmin: torch.Tensor) -> torch.Tensor:
    """``wrapf``: ``value - range * floor((value - min) / range)``, or ``min`` when the range is 0."""
    nz, rs = _nonzero(vmax - vmin)
    r = value - rs * torch.floor((value - vmin) / rs)
    return torch.where(nz, r, vmin + torch.zeros_like(r))


def _pingpong(value: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """``pingpongf``: ``|fract((v - s) / 2s) * 2s - s|``, or 0 when ``s == 0``."""

    def fn(s: torch.Tensor) -> torch.Tensor:
        x = (value - s) / (s * 2.0)
        return torch.abs((x - torch.floor(x)) * s * 2.0 - s)

    return _zero_where_zero(scale, fn)


def _smooth_min(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """``smoothminf``: polynomial smooth minimum with distance ``c`` (plain minimum when ``c == 0``)."""
    nz, cs = _nonzero(c)
    h = torch.clamp(cs - torch.abs(a - b), min=0.0) / cs
    m = std_min(a, b)
    return torch.where(nz, m - h * h * h * cs * (1.0 / 6.0), m)


def _compare(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """1 when ``a == b`` or ``|a - b| <= max(c, FLT_EPSILON)``, else 0."""
    eq = (a == b) | (torch.abs(a - b) <= torch.clamp(c, min=FLT_EPSILON))
    return eq.to(torch.result_type(a, b))


def _round(a: torch.Tensor) -> torch.Tensor:
    return torch.floor(a + 0.5)


def _less(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a < b).to(torch.result_type(a, b))


_UNARY: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "EXPONENT": torch.exp,
    "SQRT": _safe_sqrt,
    "INVERSE_SQRT": _safe_inverse_sqrt,
    "ABSOLUTE": torch.abs,
    "RADIANS": lambda a: a * (_m.pi / 180.0),
    "DEGREES": lambda a: a * (180.0 / _m.pi),
    "SIGN": torch.sign,
    "ROUND": _round,
    "FLOOR": torch.floor,
    "CEIL": torch.ceil,
    "FRACT": lambda a: a - torch.floor(a),
    "TRUNC": torch.trunc,
    "SINE": torch.sin,
    "COSINE": torch.cos,
    "TANGENT": torch.tan,
    "SINH": torch.sinh,
    "COSH": torch.cosh,
    "TANH": torch.tanh,
    "ARCSINE": _safe_asin,
    "ARCCOSINE": _safe_acos,
    "ARCTANGENT": torch.atan,
}

_BINARY: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "ADD": lambda a, b: a + b,
    "SUBTRACT": lambda a, b: a - b,
    "MULTIPLY": lambda a, b: a * b,
    "DIVIDE": safe_divide,
    "POWER": _safe_pow,
    "LOGARITHM": _safe_log,
    "MINIMUM": std_min,
    "MAXIMUM": std_max,
    "LESS_THAN": _less,
    "GREATER_THAN": lambda a, b: _less(b, a),
    "MODULO": _safe_fmod,
    "FLOORED_MODULO": _floored_mod,
    "SNAP": _snap,
    "ARCTAN2": _atan2,
    "PINGPONG": _pingpong,
}

_TERNARY: dict[str, Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "MULTIPLY_ADD": lambda a, b, c: a * b + c,
    "COMPARE": _compare,
    "SMOOTH_MIN": _smooth_min,
    "SMOOTH_MAX": lambda a, b, c: -_smooth_min(-a, -b, c),
    "WRAP": _wrap,
}

MATH_OPERATIONS = tuple(_UNARY) + tuple(_BINARY) + tuple(_TERNARY)


def float_math(operation: str, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, use_clamp: bool = False) -> torch.Tensor:
    """The Math node's kernel on float tensors (broadcasting); ``use_clamp`` clamps to [0, 1]."""
    if operation in _UNARY:
        out = _UNARY[operation](a)
    elif operation in _BINARY:
        out = _BINARY[operation](a, b)
    elif operation in _TERNARY:
        out = _TERNARY[operation](a, b, c)
    else:
        raise ValueError(f"unknown Math operation {operation!r}")
    if use_clamp:
        out = torch.clamp(out, 0.0, 1.0)
    return out


def _check_operation(label: str, ops: Sequence[str], key: str = "operation") -> Callable[[Any], str | None]:
    def check(n) -> str | None:
        op = n.properties.get(key)
        return None if op in ops else f"{label} {key.replace('_', ' ')} {op!r} is not supported"

    return check


@node("ShaderNodeMath", outputs=("Value",), props=("operation", "use_clamp"), check=_check_operation("Math", MATH_OPERATIONS),
      label="Math", modes={"operation": MATH_OPERATIONS, "use_clamp": (False, True)}, grad="yes")
def math(operation: str, use_clamp: bool = False, value=0.5, value_001=0.5, value_002=0.5):
    """Blender's Math node. Inputs/output: float ``()`` / ``(B,)`` or a field."""
    return elementwise(lambda a, b, c: float_math(operation, a, b, c, bool(use_clamp)),
                       [value, value_001, value_002], ["VALUE"] * 3, "VALUE")


# ---------------------------------------------------------------------------
# Vector Math


def _project(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``b * dot(a, b) / dot(b, b)``, zero when ``b`` is zero."""
    return b * safe_divide(_dot(a, b), _dot(b, b)).unsqueeze(-1)


def _reflect(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    n = normalize(b)
    return a - 2.0 * _dot(n, a).unsqueeze(-1) * n


def _refract(a: torch.Tensor, b: torch.Tensor, eta: torch.Tensor) -> torch.Tensor:
    """``refract(a, normalize(b), eta)``; zero on total internal reflection (``k < 0``)."""
    n = normalize(b)
    d = _dot(n, a)
    k = 1.0 - eta * eta * (1.0 - d * d)
    r = eta.unsqueeze(-1) * a - (eta * d + _safe_sqrt(k)).unsqueeze(-1) * n
    return torch.where((k < 0).unsqueeze(-1), torch.zeros_like(r), r)


def _faceforward(a: torch.Tensor, incident: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """``a`` if ``dot(reference, incident) < 0`` else ``-a``."""
    return torch.where((_dot(reference, incident) < 0).unsqueeze(-1), a, -a)


def _cross(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    a, b = torch.broadcast_tensors(a, b)
    return torch.linalg.cross(a, b, dim=-1)


_VEC_OPS: dict[str, Callable[..., torch.Tensor]] = {
    "ADD": lambda a, b, c, s: a + b,
    "SUBTRACT": lambda a, b, c, s: a - b,
    "MULTIPLY": lambda a, b, c, s: a * b,
    "DIVIDE": lambda a, b, c, s: safe_divide(a, b),
    "MULTIPLY_ADD": lambda a, b, c, s: a * b + c,
    "CROSS_PRODUCT": lambda a, b, c, s: _cross(a, b),
    "PROJECT": lambda a, b, c, s: _project(a, b),
    "REFLECT": lambda a, b, c, s: _reflect(a, b),
    "REFRACT": lambda a, b, c, s: _refract(a, b, s),
    "FACEFORWARD": lambda a, b, c, s: _faceforward(a, b, c),
    "SCALE": lambda a, b, c, s: a * s.unsqueeze(-1),
    "NORMALIZE": lambda a, b, c, s: normalize(a),
    "ABSOLUTE": lambda a, b, c, s: torch.abs(a),
    "POWER": lambda a, b, c, s: _safe_pow(a, b),
    "SIGN": lambda a, b, c, s: torch.sign(a),
    "MINIMUM": lambda a, b, c, s: std_min(a, b),
    "MAXIMUM": lambda a, b, c, s: std_max(a, b),
    "FLOOR": lambda a, b, c, s: torch.floor(a),
    "CEIL": lambda a, b, c, s: torch.ceil(a),
    "FRACTION": lambda a, b, c, s: a - torch.floor(a),
    # Blender uses the unsafe fmod here: a zero divisor gives NaN.
    "MODULO": lambda a, b, c, s: torch.fmod(a, b),
    "WRAP": lambda a, b, c, s: _wrap(a, b, c),
    "SNAP": lambda a, b, c, s: _snap(a, b),
    "SINE": lambda a, b, c, s: torch.sin(a),
    "COSINE": lambda a, b, c, s: torch.cos(a),
    "TANGENT": lambda a, b, c, s: torch.tan(a),
}

_VEC_TO_FLOAT: dict[str, Callable[..., torch.Tensor]] = {
    "DOT_PRODUCT": lambda a, b, c, s: _dot(a, b),
    "DISTANCE": lambda a, b, c, s: vector_length(a - b),
    "LENGTH": lambda a, b, c, s: vector_length(a),
}

VECTOR_MATH_OPERATIONS = tuple(_VEC_OPS) + tuple(_VEC_TO_FLOAT)


def vector_math_kernel(operation: str, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """The Vector Math node's kernel: vectors ``(…, 3)`` and ``scale (…)`` -> ``(…, 3)`` or ``(…)``."""
    fn = _VEC_OPS.get(operation) or _VEC_TO_FLOAT.get(operation)
    if fn is None:
        raise ValueError(f"unknown Vector Math operation {operation!r}")
    return fn(a, b, c, scale)


@node("ShaderNodeVectorMath", outputs=("Vector", "Value"), props=("operation",),
      check=_check_operation("Vector Math", VECTOR_MATH_OPERATIONS),
      label="Vector Math", modes={"operation": VECTOR_MATH_OPERATIONS}, grad="yes")
def vector_math(operation: str, vector=(0.0, 0.0, 0.0), vector_001=(0.0, 0.0, 0.0), vector_002=(0.0, 0.0, 0.0), scale=1.0):
    """Blender's Vector Math node. Returns ``(vector (…, 3), value (…))``; the output the
    operation does not produce is 0, as in Blender (which hides it)."""
    args = [vector, vector_001, vector_002, scale]
    types = ["VECTOR", "VECTOR", "VECTOR", "VALUE"]
    kernel = lambda a, b, c, s: vector_math_kernel(operation, a, b, c, s)
    if operation in _VEC_TO_FLOAT:
        return (0.0, 0.0, 0.0), elementwise(kernel, args, types, "VALUE")
    return elementwise(kernel, args, types, "VECTOR"), 0.0


# ---------------------------------------------------------------------------
# Integer Math (32-bit, wrapping like Blender's ints)


def wrap_int32(x: torch.Tensor) -> torch.Tensor:
    """Two's-complement wrap of int64 values to the int32 range."""
    return torch.remainder(x + 2**31, 2**32) - 2**31


def _to_int32(f: torch.Tensor) -> torch.Tensor:
    """An integral float tensor as int64 holding an int32; out of range or NaN gives INT32_MIN (x86)."""
    ok = (f >= -(2.0**31)) & (f < 2.0**31)  # False for NaN and infinities
    return torch.where(ok, torch.where(ok, f, torch.zeros_like(f)).long(), torch.full(f.shape, INT32_MIN, device=f.device))


def _int_div(a: torch.Tensor, b: torch.Tensor, mode: str | None) -> torch.Tensor:
    """``a / b`` rounded toward zero (``mode=None``, C) or down (``"floor"``); 0 where ``b == 0``."""
    return _zero_where_zero(b, lambda bs: torch.div(a, bs, rounding_mode=mode or "trunc"))


def _int_divide_round(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Blender's ``safe_divide_round_i``, with its int32 intermediate wrap-arounds."""
    c = wrap_int32(torch.abs(b))
    sb = torch.sign(b)
    two_c = wrap_int32(2 * c)
    pos = _int_div(wrap_int32(2 * a + c), two_c, None) * sb
    neg = -_int_div(wrap_int32(2 * wrap_int32(-a) + c), two_c, None) * sb
    return torch.where(a >= 0, pos, neg)


def _int_pow(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``int(std::pow(double(a), double(b)))``; values outside int32 (and inf) give INT32_MIN."""
    return _to_int32(torch.trunc(torch.pow(a.to(torch.float64), b.to(torch.float64))))


def _int_mod(a: torch.Tensor, b: torch.Tensor, floored: bool) -> torch.Tensor:
    """Remainder with the sign of ``b`` (floored) or of ``a`` (C ``%``); 0 where ``b == 0``."""
    return _zero_where_zero(b, lambda bs: torch.remainder(a, bs) if floored else torch.fmod(a, bs))


_INT_OPS: dict[str, Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "ADD": lambda a, b, c: a + b,
    "SUBTRACT": lambda a, b, c: a - b,
    "MULTIPLY": lambda a, b, c: a * b,
    "DIVIDE": lambda a, b, c: _int_div(a, b, None),
    "MULTIPLY_ADD": lambda a, b, c: a * b + c,
    "ABSOLUTE": lambda a, b, c: torch.abs(a),
    "NEGATE": lambda a, b, c: -a,
    "POWER": lambda a, b, c: _int_pow(a, b),
    "MINIMUM": lambda a, b, c: torch.minimum(a, b),
    "MAXIMUM": lambda a, b, c: torch.maximum(a, b),
    "SIGN": lambda a, b, c: torch.sign(a),
    "DIVIDE_ROUND": lambda a, b, c: _int_divide_round(a, b),
    "DIVIDE_FLOOR": lambda a, b, c: _int_div(a, b, "floor"),
    "DIVIDE_CEIL": lambda a, b, c: -_int_div(a, -b, "floor"),
    "FLOORED_MODULO": lambda a, b, c: _int_mod(a, b, True),
    "MODULO": lambda a, b, c: _int_mod(a, b, False),
    "GCD": lambda a, b, c: torch.gcd(a, b),
    "LCM": lambda a, b, c: torch.lcm(a, b),
}

INTEGER_MATH_OPERATIONS = tuple(_INT_OPS)


@node("FunctionNodeIntegerMath", outputs=("Value",), props=("operation",),
      check=_check_operation("Integer Math", INTEGER_MATH_OPERATIONS),
      label="Integer Math", modes={"operation": INTEGER_MATH_OPERATIONS})
def integer_math(operation: str, value=0, value_001=0, value_002=0):
    """Blender's Integer Math node (32-bit ints). Python ints give a Python int; int tensors
    ``()`` / ``(B,)`` give an int64 tensor; fields give a field."""
    fn = _INT_OPS[operation]
    a, b, c = value, value_001, value_002
    return elementwise(lambda x, y, z: wrap_int32(fn(*torch.broadcast_tensors(x, y, z))), [a, b, c], ["INT"] * 3, "INT")


# ---------------------------------------------------------------------------
# Float to Integer


def _round_half_away(a: torch.Tensor) -> torch.Tensor:
    """C ``round``: halves away from zero (exact in any float dtype)."""
    t = torch.trunc(a)
    return torch.where(torch.abs(a - t) >= 0.5, t + torch.sign(a), t)


_ROUNDING = {
    "ROUND": _round_half_away,
    "FLOOR": torch.floor,
    "CEILING": torch.ceil,
    "TRUNCATE": torch.trunc,
}

ROUNDING_MODES = tuple(_ROUNDING)


@node("FunctionNodeFloatToInt", outputs=("Integer",), props=("rounding_mode",),
      check=_check_operation("Float to Integer", ROUNDING_MODES, key="rounding_mode"),
      label="Float to Integer", modes={"rounding_mode": ROUNDING_MODES}, grad="no")
def float_to_int(rounding_mode: str = "ROUND", float=0.0):
    """Float to Integer: float ``()`` / ``(B,)`` -> int64 tensor (a Python int for a Python float)."""
    fn = _ROUNDING[rounding_mode]
    return elementwise(lambda x: _to_int32(fn(x.detach())), [float], ["VALUE"], "INT")
