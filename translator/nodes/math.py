"""Math nodes: Math (``ShaderNodeMath``) and Vector Math (``ShaderNodeVectorMath``).

Semantics follow Blender's ``NOD_math_functions.hh`` (float32, the ``safe_*``
variants: division by zero gives 0, and so on). Inputs are Python numbers,
tensors ``()`` / ``(B,)`` (vectors ``(3,)`` / ``(B, 3)``) or fields; the
result has the broadcast shape. Where Blender's function is piecewise the
gradient is that of the branch taken, and the unused branch never produces
NaN gradients (denominators are made safe before dividing).
"""

from __future__ import annotations

import math as _m

import torch

from .. import runtime as rt
from . import node

__all__ = ["math", "vector_math", "MATH_OPERATIONS", "VECTOR_MATH_OPERATIONS"]

FLT_EPSILON = 1.1920928955078125e-07


def _safe_div(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    nz = b != 0
    return torch.where(nz, a / torch.where(nz, b, torch.ones_like(b)), torch.zeros_like(a * b))


def _safe_pow(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    # Blender: 0 when base < 0 and the exponent is not an integer.
    bad = (a < 0) & (b != torch.trunc(b))
    a_ok = torch.where(bad, torch.ones_like(a), a)
    # d/da of a**b at a == 0 is inf*0 for b < 1; keep it finite.
    out = torch.pow(a_ok, b)
    return torch.where(bad, torch.zeros_like(out), out)


def _safe_log(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    ok = (a > 0) & (b > 0)
    la = torch.log(torch.where(ok, a, torch.ones_like(a)))
    lb = torch.log(torch.where(ok, b, torch.ones_like(b)))
    return torch.where(ok, _safe_div(la, lb), torch.zeros_like(la))


def _safe_sqrt(a: torch.Tensor) -> torch.Tensor:
    pos = a > 0
    return torch.where(pos, torch.sqrt(torch.where(pos, a, torch.ones_like(a))), torch.zeros_like(a))


def _safe_inv_sqrt(a: torch.Tensor) -> torch.Tensor:
    pos = a > 0
    return torch.where(pos, torch.rsqrt(torch.where(pos, a, torch.ones_like(a))), torch.zeros_like(a))


def _safe_asin(a: torch.Tensor) -> torch.Tensor:
    ok = (a >= -1) & (a <= 1)
    return torch.where(ok, torch.asin(torch.where(ok, a, torch.zeros_like(a))), torch.zeros_like(a))


def _safe_acos(a: torch.Tensor) -> torch.Tensor:
    ok = (a >= -1) & (a <= 1)
    return torch.where(ok, torch.acos(torch.where(ok, a, torch.zeros_like(a))), torch.zeros_like(a))


def _fmod(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    nz = b != 0
    return torch.where(nz, torch.fmod(a, torch.where(nz, b, torch.ones_like(b))), torch.zeros_like(a * b))


def _floored_mod(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    nz = b != 0
    bs = torch.where(nz, b, torch.ones_like(b))
    return torch.where(nz, a - torch.floor(a / bs) * bs, torch.zeros_like(a * b))


def _wrap(value: torch.Tensor, vmax: torch.Tensor, vmin: torch.Tensor) -> torch.Tensor:
    rng = vmax - vmin
    nz = rng != 0
    rs = torch.where(nz, rng, torch.ones_like(rng))
    return torch.where(nz, value - rs * torch.floor((value - vmin) / rs), vmin + torch.zeros_like(value))


def _pingpong(value: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    nz = scale != 0
    s = torch.where(nz, scale, torch.ones_like(scale))
    x = (value - s) / (s * 2.0)
    return torch.where(nz, torch.abs((x - torch.floor(x)) * s * 2.0 - s), torch.zeros_like(value * scale))


def _smooth_min(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    nz = c != 0
    cs = torch.where(nz, c, torch.ones_like(c))
    h = torch.clamp(cs - torch.abs(a - b), min=0.0) / cs
    return torch.where(nz, torch.minimum(a, b) - h * h * h * cs * (1.0 / 6.0), torch.minimum(a, b))


def _sign(a: torch.Tensor) -> torch.Tensor:
    return torch.sign(a)


def _round(a: torch.Tensor) -> torch.Tensor:
    return torch.floor(a + 0.5)


def _compare(a, b, c):
    return (torch.abs(a - b) <= torch.clamp(c, min=FLT_EPSILON)).to(a.dtype)


_UNARY = {
    "EXPONENT": torch.exp,
    "SQRT": _safe_sqrt,
    "INVERSE_SQRT": _safe_inv_sqrt,
    "ABSOLUTE": torch.abs,
    "RADIANS": lambda a: a * (_m.pi / 180.0),
    "DEGREES": lambda a: a * (180.0 / _m.pi),
    "SIGN": _sign,
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

_BINARY = {
    "ADD": lambda a, b: a + b,
    "SUBTRACT": lambda a, b: a - b,
    "MULTIPLY": lambda a, b: a * b,
    "DIVIDE": _safe_div,
    "POWER": _safe_pow,
    "LOGARITHM": _safe_log,
    "MINIMUM": torch.minimum,
    "MAXIMUM": torch.maximum,
    "LESS_THAN": lambda a, b: (a < b).to(a.dtype),
    "GREATER_THAN": lambda a, b: (a > b).to(a.dtype),
    "MODULO": _fmod,
    "FLOORED_MODULO": _floored_mod,
    "SNAP": lambda a, b: torch.floor(_safe_div(a, b)) * b,
    "ARCTAN2": torch.atan2,
    "PINGPONG": _pingpong,
}

_TERNARY = {
    "MULTIPLY_ADD": lambda a, b, c: a * b + c,
    "COMPARE": _compare,
    "SMOOTH_MIN": _smooth_min,
    "SMOOTH_MAX": lambda a, b, c: -_smooth_min(-a, -b, c),
    "WRAP": _wrap,
}

MATH_OPERATIONS = tuple(_UNARY) + tuple(_BINARY) + tuple(_TERNARY)


def _check_math(n) -> str | None:
    op = n.properties.get("operation")
    return None if op in MATH_OPERATIONS else f"Math operation {op!r} is not supported"


def _float_math(operation: str, use_clamp: bool, a, b, c):
    a, b, c = rt.as_float(a), rt.as_float(b), rt.as_float(c)
    if operation in _UNARY:
        out = _UNARY[operation](a)
    elif operation in _BINARY:
        out = _BINARY[operation](a, b)
    else:
        out = _TERNARY[operation](a, b, c)
    if use_clamp:
        out = torch.clamp(out, 0.0, 1.0)
    return out


@node("ShaderNodeMath", outputs=("Value",), props=("operation", "use_clamp"), check=_check_math)
def math(operation: str, use_clamp: bool = False, value=0.5, value_001=0.5, value_002=0.5):
    """Blender's Math node. Inputs/outputs: float ``()`` / ``(B,)`` or a field."""
    return rt.field_map(lambda a, b, c: _float_math(operation, use_clamp, a, b, c),
                        [value, value_001, value_002], ["VALUE"] * 3, "VALUE")


# ---------------------------------------------------------------------------
# Vector Math


def _dot(a, b):
    return (a * b).sum(-1)


def _length(a):
    # sqrt with a zero-safe gradient at the origin
    sq = (a * a).sum(-1)
    pos = sq > 0
    return torch.where(pos, torch.sqrt(torch.where(pos, sq, torch.ones_like(sq))), torch.zeros_like(sq))


def _normalize(a):
    ln = _length(a)
    return _safe_div(a, ln.unsqueeze(-1))


def _project(a, b):
    return b * _safe_div(_dot(a, b), _dot(b, b)).unsqueeze(-1)


def _reflect(a, b):
    n = _normalize(b)
    return a - 2.0 * _dot(n, a).unsqueeze(-1) * n


def _refract(a, b, eta):
    n = _normalize(b)
    d = _dot(n, a)
    k = 1.0 - eta * eta * (1.0 - d * d)
    ok = k >= 0.0
    ks = torch.sqrt(torch.where(ok, k, torch.zeros_like(k)))
    r = eta.unsqueeze(-1) * a - (eta * d + ks).unsqueeze(-1) * n
    return torch.where(ok.unsqueeze(-1), r, torch.zeros_like(r))


def _faceforward(a, b, c):
    return torch.where((_dot(c, b) < 0).unsqueeze(-1), a, -a)


def _cross(a, b):
    a, b = torch.broadcast_tensors(a, b)
    return torch.linalg.cross(a, b, dim=-1)


_VEC_OPS = {
    "ADD": lambda a, b, c, s: a + b,
    "SUBTRACT": lambda a, b, c, s: a - b,
    "MULTIPLY": lambda a, b, c, s: a * b,
    "DIVIDE": lambda a, b, c, s: _safe_div(a, b),
    "MULTIPLY_ADD": lambda a, b, c, s: a * b + c,
    "CROSS_PRODUCT": lambda a, b, c, s: _cross(a, b),
    "PROJECT": lambda a, b, c, s: _project(a, b),
    "REFLECT": lambda a, b, c, s: _reflect(a, b),
    "REFRACT": lambda a, b, c, s: _refract(a, b, s),
    "FACEFORWARD": lambda a, b, c, s: _faceforward(a, b, c),
    "SCALE": lambda a, b, c, s: a * s.unsqueeze(-1),
    "NORMALIZE": lambda a, b, c, s: _normalize(a),
    "ABSOLUTE": lambda a, b, c, s: torch.abs(a),
    "POWER": lambda a, b, c, s: _safe_pow(a, b),
    "SIGN": lambda a, b, c, s: torch.sign(a),
    "MINIMUM": lambda a, b, c, s: torch.minimum(a, b),
    "MAXIMUM": lambda a, b, c, s: torch.maximum(a, b),
    "FLOOR": lambda a, b, c, s: torch.floor(a),
    "CEIL": lambda a, b, c, s: torch.ceil(a),
    "FRACTION": lambda a, b, c, s: a - torch.floor(a),
    "MODULO": lambda a, b, c, s: _fmod(a, b),
    "WRAP": lambda a, b, c, s: _wrap(a, b, c),
    "SNAP": lambda a, b, c, s: torch.floor(_safe_div(a, b)) * b,
    "SINE": lambda a, b, c, s: torch.sin(a),
    "COSINE": lambda a, b, c, s: torch.cos(a),
    "TANGENT": lambda a, b, c, s: torch.tan(a),
}

_VEC_TO_FLOAT = {
    "DOT_PRODUCT": lambda a, b, c, s: _dot(a, b),
    "DISTANCE": lambda a, b, c, s: _length(a - b),
    "LENGTH": lambda a, b, c, s: _length(a),
}

VECTOR_MATH_OPERATIONS = tuple(_VEC_OPS) + tuple(_VEC_TO_FLOAT)


def _check_vector_math(n) -> str | None:
    op = n.properties.get("operation")
    return None if op in VECTOR_MATH_OPERATIONS else f"Vector Math operation {op!r} is not supported"


def _vector_math(operation, a, b, c, s):
    a, b, c = rt.as_vector(a), rt.as_vector(b), rt.as_vector(c)
    s = rt.as_float(s)
    if operation in _VEC_TO_FLOAT:
        return _VEC_TO_FLOAT[operation](a, b, c, s)
    return _VEC_OPS[operation](a, b, c, s)


@node("ShaderNodeVectorMath", outputs=("Vector", "Value"), props=("operation",), check=_check_vector_math)
def vector_math(operation: str, vector=(0.0, 0.0, 0.0), vector_001=(0.0, 0.0, 0.0), vector_002=(0.0, 0.0, 0.0), scale=1.0):
    """Blender's Vector Math node. Returns ``(vector (…, 3), value (…))``; the output that the
    operation does not produce is 0 (Blender hides it)."""
    if operation in _VEC_TO_FLOAT:
        value = rt.field_map(lambda a, b, c, s: _vector_math(operation, a, b, c, s),
                             [vector, vector_001, vector_002, scale], ["VECTOR", "VECTOR", "VECTOR", "VALUE"], "VALUE")
        return (0.0, 0.0, 0.0), value
    vec = rt.field_map(lambda a, b, c, s: _vector_math(operation, a, b, c, s),
                       [vector, vector_001, vector_002, scale], ["VECTOR", "VECTOR", "VECTOR", "VALUE"], "VECTOR")
    return vec, 0.0
