"""Math, Vector Math, Integer Math and Float to Integer: Blender parity for every operation,
float64 gradchecks, finite gradients at the safe-op edge cases, tensor and field paths."""

from __future__ import annotations

import math
import random
from types import SimpleNamespace

import pytest
import torch

from tests.fixtures.parity import empty_scene, requires_bpy
from tests.fixtures.probes import build_probe, draw_sets
from translator import runtime as rt
from translator.nodes import get_spec
from translator.nodes import math as M
from translator.nodes.primitives import make_mesh

A, B, C = "Value", "Value_001", "Value_002"
VA, VB, VC, S = "Vector", "Vector_001", "Vector_002", "Scale"
INT32_MIN = -(2**31)


# ---------------------------------------------------------------------------
# Operand ranges and edge cases per operation (Blender computes in float32; the harness compares
# within 1e-5 of the result's magnitude, so explosive operations get moderate ranges; edge cases
# use dyadic numbers so float32 and float64 agree on every branch decision).

def _f(lo, hi):
    return ("float", lo, hi)


_MATH_SPECS: dict[str, tuple[dict, list[dict]]] = {
    "EXPONENT": ({A: _f(-10, 10)}, [{A: 0.0}]),
    "SQRT": ({A: _f(-4, 16)}, [{A: 0.0}, {A: -1.0}, {A: 4.0}]),
    "INVERSE_SQRT": ({A: _f(-4, 16)}, [{A: 0.0}, {A: -1.0}, {A: 0.25}]),
    "POWER": ({A: _f(-3, 3), B: _f(-3, 3)},
              [{A: -2.0, B: 0.5}, {A: -2.0, B: 3.0}, {A: -2.0, B: -2.0}, {A: 0.0, B: 2.0}, {A: 0.0, B: 0.0},
               {A: 2.0, B: 0.0}, {A: 4.0, B: 0.5}, {A: 0.0, B: 0.5}, {A: -1.5, B: 1.0}]),
    "LOGARITHM": ({A: _f(-2, 10), B: _f(-2, 10)},
                  [{A: 8.0, B: 2.0}, {A: 8.0, B: 1.0}, {A: -1.0, B: 2.0}, {A: 2.0, B: -1.0}, {A: 0.0, B: 2.0},
                   {A: 8.0, B: 0.5}, {A: 8.0, B: 0.0}]),
    "DIVIDE": ({A: _f(-10, 10), B: _f(-10, 10)}, [{B: 0.0}, {A: 0.0, B: 0.0}, {A: 3.0, B: -0.5}]),
    "ARCSINE": ({A: _f(-1.5, 1.5)}, [{A: 1.0}, {A: -1.0}, {A: 2.0}, {A: -2.0}, {A: 0.0}]),
    "ARCCOSINE": ({A: _f(-1.5, 1.5)}, [{A: 1.0}, {A: -1.0}, {A: 2.0}, {A: -2.0}, {A: 0.0}]),
    "TANGENT": ({A: _f(-1.4, 1.4)}, [{A: 0.0}]),
    "SINH": ({A: _f(-5, 5)}, [{A: 0.0}]),
    "COSH": ({A: _f(-5, 5)}, [{A: 0.0}]),
    "MODULO": ({A: _f(-10, 10), B: _f(-4, 4)},
               [{B: 0.0}, {A: 6.0, B: 2.0}, {A: -7.0, B: 2.0}, {A: 7.0, B: -2.0}, {A: -7.5, B: -2.0}]),
    "FLOORED_MODULO": ({A: _f(-10, 10), B: _f(-4, 4)},
                       [{B: 0.0}, {A: 6.0, B: 2.0}, {A: -7.0, B: 2.0}, {A: 7.0, B: -2.0}, {A: -7.5, B: -2.0}]),
    "SNAP": ({A: _f(-10, 10), B: _f(-4, 4)}, [{B: 0.0}, {A: 6.0, B: 1.5}, {A: -6.25, B: 1.5}, {A: 5.0, B: -2.0}]),
    "WRAP": ({A: _f(-10, 10), B: _f(-4, 4), C: _f(-4, 4)},
             [{B: 1.0, C: 1.0}, {A: 5.0, B: 3.0, C: 1.0}, {A: -5.0, B: 3.0, C: 1.0}, {A: 5.0, B: 1.0, C: 3.0},
              {A: 3.0, B: 3.0, C: 1.0}]),
    "PINGPONG": ({A: _f(-10, 10), B: _f(-4, 4)}, [{B: 0.0}, {A: 3.0, B: 2.0}, {A: 5.0, B: -2.0}, {A: -1.0, B: 0.5}]),
    "SMOOTH_MIN": ({A: _f(-5, 5), B: _f(-5, 5), C: _f(-2, 5)}, [{C: 0.0}, {A: 1.0, B: 1.0, C: 1.0}, {A: 1.0, B: 3.0, C: 4.0}]),
    "SMOOTH_MAX": ({A: _f(-5, 5), B: _f(-5, 5), C: _f(-2, 5)}, [{C: 0.0}, {A: 1.0, B: 1.0, C: 1.0}, {A: 1.0, B: 3.0, C: 4.0}]),
    "COMPARE": ({A: _f(-2, 2), B: _f(-2, 2), C: _f(-1, 2)},
                [{A: 1.0, B: 1.0, C: 0.0}, {A: 1.0, B: 1.5, C: 0.5}, {A: 1.0, B: 1.5, C: 0.25}, {A: 1.0, B: 1.0, C: -1.0},
                 {A: 0.5, B: 0.5 + 2**-24, C: 0.0}]),
    "ARCTAN2": ({A: _f(-5, 5), B: _f(-5, 5)}, [{A: 0.0, B: 0.0}, {A: 0.0, B: -1.0}, {A: 1.0, B: 0.0}, {A: -1.0, B: 0.0}]),
    "ROUND": ({A: _f(-10, 10)}, [{A: 2.5}, {A: -2.5}, {A: 0.5}, {A: -0.5}, {A: 3.0}]),
    "FLOOR": ({A: _f(-10, 10)}, [{A: 3.0}, {A: -3.0}, {A: -0.5}]),
    "CEIL": ({A: _f(-10, 10)}, [{A: 3.0}, {A: -3.0}, {A: -0.5}]),
    "TRUNC": ({A: _f(-10, 10)}, [{A: 3.0}, {A: -3.5}, {A: 0.75}]),
    "FRACT": ({A: _f(-10, 10)}, [{A: 3.0}, {A: -3.25}, {A: 0.75}]),
    "SIGN": ({A: _f(-10, 10)}, [{A: 0.0}, {A: -2.0}]),
    "LESS_THAN": ({A: _f(-3, 3), B: _f(-3, 3)}, [{A: 1.0, B: 1.0}, {A: -1.0, B: 1.0}]),
    "GREATER_THAN": ({A: _f(-3, 3), B: _f(-3, 3)}, [{A: 1.0, B: 1.0}, {A: -1.0, B: 1.0}]),
    "MINIMUM": ({A: _f(-3, 3), B: _f(-3, 3)}, [{A: 1.0, B: 1.0}]),
    "MAXIMUM": ({A: _f(-3, 3), B: _f(-3, 3)}, [{A: 1.0, B: 1.0}]),
}
_DEFAULT_SPEC = ({A: _f(-10, 10), B: _f(-10, 10), C: _f(-10, 10)}, [{A: 0.0, B: 0.0, C: 0.0}, {A: -2.0, B: -2.0, C: -2.0}])


def _math_sets(op: str, seed: int, count: int) -> list[dict]:
    spec, extra = _MATH_SPECS.get(op, _DEFAULT_SPEC)
    full = {k: spec.get(k, _f(-10, 10)) for k in (A, B, C)}
    return draw_sets(seed, full, count, extra)


@pytest.fixture(scope="module")
def blender():
    """A fresh Blender scene shared by this module's probes (each probe is its own object)."""
    empty_scene()


@pytest.fixture(scope="module")
def math_probe(blender):
    return build_probe("ShaderNodeMath", {A: "FLOAT", B: "FLOAT", C: "FLOAT"}, ["Value"])


@requires_bpy
@pytest.mark.parametrize("op", M.MATH_OPERATIONS)
def test_math_parity(math_probe, op):
    math_probe.node.operation = op
    math_probe.node.use_clamp = False
    assert math_probe.check(_math_sets(op, 10, 30)) >= 31
    # use_clamp clamps the result to [0, 1]; these sets are evaluated as one batch
    math_probe.node.use_clamp = True
    assert math_probe.check_batched(_math_sets(op, 11, 8)) >= 8


@requires_bpy
def test_math_operations_are_blenders():
    """Every operation Blender 5.0 offers is implemented (and nothing else)."""
    import bpy

    items = {i.identifier for i in bpy.types.ShaderNodeMath.bl_rna.properties["operation"].enum_items}
    assert items == set(M.MATH_OPERATIONS)
    items = {i.identifier for i in bpy.types.ShaderNodeVectorMath.bl_rna.properties["operation"].enum_items}
    assert items == set(M.VECTOR_MATH_OPERATIONS)
    items = {i.identifier for i in bpy.types.FunctionNodeIntegerMath.bl_rna.properties["operation"].enum_items}
    assert items == set(M.INTEGER_MATH_OPERATIONS)
    items = {i.identifier for i in bpy.types.FunctionNodeFloatToInt.bl_rna.properties["rounding_mode"].enum_items}
    assert items == set(M.ROUNDING_MODES)


# ---------------------------------------------------------------------------
# Vector Math

def _v(lo, hi):
    return ("vector", lo, hi)


_X, _Z = (1.0, 0.0, 0.0), (0.0, 0.0, 0.0)
_VEC_SPECS: dict[str, tuple[dict, list[dict]]] = {
    "DIVIDE": ({}, [{VB: (0.0, 2.0, -0.5)}, {VA: _Z, VB: _Z}]),
    # Blender's vector modulo is the unsafe fmod (NaN for a zero divisor): divisors stay non-zero.
    "MODULO": ({VB: _v(0.25, 4)}, [{VA: (6.0, -7.0, 7.5), VB: (2.0, 2.0, -2.0)}]),
    "POWER": ({VA: _v(-3, 3), VB: _v(-3, 3)},
              [{VA: (-2.0, -2.0, 0.0), VB: (0.5, 3.0, 2.0)}, {VA: (4.0, -1.5, 0.0), VB: (0.5, -2.0, 0.0)}]),
    "NORMALIZE": ({}, [{VA: _Z}, {VA: (1e-18, 0.0, 0.0)}, {VA: (3.0, 0.0, -4.0)}]),
    "PROJECT": ({}, [{VB: _Z}, {VA: (1.0, 2.0, 3.0), VB: (2.0, 4.0, 6.0)}]),
    "REFLECT": ({}, [{VB: _Z}, {VA: (1.0, -1.0, 0.0), VB: (0.0, 2.0, 0.0)}]),
    "REFRACT": ({S: _f(0, 3)}, [{VB: _Z}, {VA: (1.0, 0.0, 0.0), VB: (0.0, 1.0, 0.0), S: 2.0},
                                {VA: (0.0, -1.0, 0.0), VB: (0.0, 1.0, 0.0), S: 1.5}]),
    "FACEFORWARD": ({}, [{VB: (1.0, 0.0, 0.0), VC: (0.0, 1.0, 0.0)}, {VB: (1.0, 0.0, 0.0), VC: (-1.0, 0.0, 0.0)}]),
    "LENGTH": ({}, [{VA: _Z}]),
    "DISTANCE": ({}, [{VA: (1.0, 2.0, 3.0), VB: (1.0, 2.0, 3.0)}]),
    "CROSS_PRODUCT": ({}, [{VA: (1.0, 2.0, 3.0), VB: (2.0, 4.0, 6.0)}, {VA: _X, VB: (0.0, 1.0, 0.0)}]),
    "WRAP": ({}, [{VB: (1.0, 3.0, 1.0), VC: (1.0, 1.0, 3.0), VA: (5.0, 5.0, 5.0)}]),
    "SNAP": ({}, [{VB: (0.0, 1.5, -2.0), VA: (3.0, 6.0, 5.0)}]),
    "SIGN": ({}, [{VA: (0.0, -1.0, 2.0)}]),
    "FLOOR": ({}, [{VA: (3.0, -3.0, -0.5)}]),
    "CEIL": ({}, [{VA: (3.0, -3.0, -0.5)}]),
    "FRACTION": ({}, [{VA: (3.0, -3.25, 0.75)}]),
    "MINIMUM": ({}, [{VA: (1.0, 2.0, 3.0), VB: (1.0, 0.0, 4.0)}]),
    "MAXIMUM": ({}, [{VA: (1.0, 2.0, 3.0), VB: (1.0, 0.0, 4.0)}]),
    "TANGENT": ({VA: _v(-1.4, 1.4)}, []),
    "SCALE": ({}, [{S: 0.0}, {S: -2.0}]),
}


def _vec_sets(op: str, seed: int, count: int) -> list[dict]:
    spec, extra = _VEC_SPECS.get(op, ({}, []))
    full = {VA: _v(-5, 5), VB: _v(-5, 5), VC: _v(-5, 5), S: _f(-3, 3), **spec}
    return draw_sets(seed, full, count, extra)


@pytest.fixture(scope="module")
def vector_probe(blender):
    return build_probe("ShaderNodeVectorMath", {VA: "VECTOR", VB: "VECTOR", VC: "VECTOR", S: "FLOAT"}, ["Vector", "Value"])


@requires_bpy
@pytest.mark.parametrize("op", M.VECTOR_MATH_OPERATIONS)
def test_vector_math_parity(vector_probe, op):
    """Both outputs are compared (the one the operation does not produce is 0 in Blender too);
    all sets are evaluated as one batch."""
    vector_probe.node.operation = op
    assert vector_probe.check_batched(_vec_sets(op, 20, 24)) >= 24


def test_vector_modulo_by_zero_is_nan_like_blender():
    # Measured in Blender 5.0.1: Vector Math Modulo uses the unsafe fmod, (1, 2, 3) mod (0, 1.5, -2) = (nan, 0.5, 1).
    out = M.vector_math("MODULO", vector=(1.0, 2.0, 3.0), vector_001=(0.0, 1.5, -2.0))[0]
    assert math.isnan(out[0]) and out[1:].tolist() == [0.5, 1.0]


# ---------------------------------------------------------------------------
# Integer Math

_IA = ("int", -20, 20)
_INT_SPECS: dict[str, tuple[dict, list[dict]]] = {
    "ADD": ({}, [{A: 2**31 - 1, B: 1}, {A: INT32_MIN, B: -1}]),
    "SUBTRACT": ({}, [{A: INT32_MIN, B: 1}]),
    "MULTIPLY": ({}, [{A: 65536, B: 65536}, {A: 100000, B: 100000}, {A: -65536, B: 32768}]),
    "MULTIPLY_ADD": ({}, [{A: 65536, B: 32768, C: 5}, {A: -3, B: 4, C: -5}]),
    "DIVIDE": ({}, [{B: 0}, {A: -7, B: 2}, {A: 7, B: -2}, {A: INT32_MIN, B: 3}]),
    "DIVIDE_ROUND": ({}, [{B: 0}, {A: 5, B: 2}, {A: -5, B: 2}, {A: 5, B: -2}, {A: -5, B: -2}, {A: 7, B: 3},
                          {A: INT32_MIN, B: 1}, {A: 2**30, B: 3}]),
    "DIVIDE_FLOOR": ({}, [{B: 0}, {A: 7, B: 2}, {A: -7, B: 2}, {A: 7, B: -2}, {A: -7, B: -2}, {A: INT32_MIN, B: 3}]),
    "DIVIDE_CEIL": ({}, [{B: 0}, {A: 7, B: 2}, {A: -7, B: 2}, {A: 7, B: -2}, {A: -7, B: -2}, {A: 2**31 - 1, B: 2}]),
    "FLOORED_MODULO": ({}, [{B: 0}, {A: -7, B: 3}, {A: 7, B: -3}, {A: -7, B: -3}, {A: INT32_MIN, B: 3}, {A: 2**31 - 1, B: -3}]),
    "MODULO": ({}, [{B: 0}, {A: -7, B: 3}, {A: 7, B: -3}, {A: INT32_MIN, B: 3}]),
    "POWER": ({A: ("int", -6, 6), B: ("int", -3, 9)},
              [{A: 2, B: -1}, {A: -1, B: -3}, {A: 0, B: -1}, {A: 0, B: 0}, {A: 2, B: 31}, {A: -2, B: 31},
               {A: 46341, B: 2}, {A: -1290, B: 3}, {A: 10, B: 9}, {A: 3, B: 30}]),
    "ABSOLUTE": ({}, [{A: INT32_MIN}, {A: 0}]),
    "NEGATE": ({}, [{A: INT32_MIN}, {A: 0}]),
    "SIGN": ({}, [{A: 0}, {A: INT32_MIN}]),
    "GCD": ({}, [{A: 0, B: 0}, {A: 0, B: -5}, {A: -12, B: 18}, {A: INT32_MIN, B: 6}]),
    "LCM": ({}, [{A: 0, B: 5}, {A: -4, B: 6}, {A: -4, B: -6}, {A: 100000, B: 99999}]),
    "MINIMUM": ({}, [{A: 3, B: 3}, {A: INT32_MIN, B: 2**31 - 1}]),
    "MAXIMUM": ({}, [{A: 3, B: 3}, {A: INT32_MIN, B: 2**31 - 1}]),
}


def _int_sets(op: str, seed: int, count: int) -> list[dict]:
    # Blender crashes (SIGFPE) on INT32_MIN / -1, so no value set divides that.
    spec, extra = _INT_SPECS.get(op, ({}, []))
    return draw_sets(seed, {A: _IA, B: _IA, C: _IA, **spec}, count, extra)


@pytest.fixture(scope="module")
def int_probe(blender):
    return build_probe("FunctionNodeIntegerMath", {A: "INT", B: "INT", C: "INT"}, ["Value"])


@requires_bpy
@pytest.mark.parametrize("op", M.INTEGER_MATH_OPERATIONS)
def test_integer_math_parity(int_probe, op):
    int_probe.node.operation = op
    assert int_probe.check(_int_sets(op, 30, 30)) >= 31


@pytest.mark.parametrize("op", M.INTEGER_MATH_OPERATIONS)
def test_integer_math_tensor_and_field_paths_match_python_ints(op):
    """int64 tensors (B,) and fields give, element by element, the Python-int result."""
    rng = random.Random(M.INTEGER_MATH_OPERATIONS.index(op))
    spec, extra = _INT_SPECS.get(op, ({}, []))
    lo_hi = {k: spec.get(k, _IA)[1:] for k in (A, B, C)}
    rows = [[rng.randint(*lo_hi[k]) for k in (A, B, C)] for _ in range(40)]
    rows += [[e.get(k, 1) for k in (A, B, C)] for e in extra]
    expected = [M.integer_math(op, *r) for r in rows]
    assert all(type(e) is int for e in expected)
    cols = torch.tensor(rows, dtype=torch.long).T
    got = M.integer_math(op, cols[0], cols[1], cols[2])
    assert got.dtype == torch.int64 and got.tolist() == expected
    field = rt.Field(lambda fctx: cols[0].reshape(1, -1), "INT")
    f = M.integer_math(op, field, cols[1].reshape(-1).tolist()[0], 1)
    assert isinstance(f, rt.Field) and f.type == "INT"
    ev = rt.eval_field(f, rt.FieldContext("POINT", len(rows)), "INT")
    assert ev.reshape(-1).tolist() == [M.integer_math(op, r[0], rows[0][1], 1) for r in rows]


def test_integer_math_python_ints_stay_python_ints():
    assert M.integer_math("ADD", 2**31 - 1, 1) == INT32_MIN
    assert M.integer_math("DIVIDE_ROUND", -5, 2) == -3
    assert M.integer_math("POWER", 46341, 2) == INT32_MIN  # out of int32: Blender gives INT_MIN
    assert M.integer_math("LCM", -4, 6) == 12 and isinstance(M.integer_math("GCD", 4, 6), int)


# ---------------------------------------------------------------------------
# Float to Integer

@pytest.fixture(scope="module")
def f2i_probe(blender):
    return build_probe("FunctionNodeFloatToInt", {"Float": "FLOAT"}, ["Integer"])


@requires_bpy
@pytest.mark.parametrize("mode", M.ROUNDING_MODES)
def test_float_to_int_parity(f2i_probe, mode):
    f2i_probe.node.rounding_mode = mode
    extra = [{"Float": x} for x in (2.5, -2.5, 0.5, -0.5, 1.5, 3.0, -3.0, 0.0, 2147483520.0, -2147483648.0, 3e9, -3e9, 1e20)]
    sets = draw_sets(40, {"Float": _f(-100, 100)}, 30, extra)
    assert f2i_probe.check(sets[:20]) == 20 and f2i_probe.check_batched(sets[20:]) == 23


def test_float_to_int_python_and_tensor():
    assert M.float_to_int("ROUND", 2.5) == 3 and M.float_to_int("ROUND", -2.5) == -3
    assert M.float_to_int("CEILING", -0.5) == 0 and M.float_to_int("FLOOR", 1e10) == INT32_MIN
    t = torch.tensor([2.5, -2.5, 0.49999997, float("nan"), -1.5], dtype=torch.float32, requires_grad=True)
    out = M.float_to_int("ROUND", t)
    assert out.dtype == torch.int64 and out.tolist() == [3, -3, 0, INT32_MIN, -2]


# ---------------------------------------------------------------------------
# Gradients

def _grad_points(op: str, spec: dict, keys, batch: int, seed: int) -> list[torch.Tensor]:
    """float64 operand tensors (B,) drawn from the op's parity ranges (vectors (B, 3))."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for k in keys:
        kind, lo, hi = spec[k]
        shape = (batch, 3) if kind == "vector" else (batch,)
        out.append((lo + (hi - lo) * torch.rand(shape, generator=g, dtype=torch.float64)).requires_grad_())
    return out


# Points kept away from Blender's discontinuities (and where d/dx is unbounded).
_GRAD_SPECS = {
    "POWER": {A: _f(0.5, 3), B: _f(-2, 2)},
    "LOGARITHM": {A: _f(0.5, 8), B: _f(1.5, 8)},
    "SQRT": {A: _f(0.5, 9)},
    "INVERSE_SQRT": {A: _f(0.5, 9)},
    "ARCSINE": {A: _f(-0.9, 0.9)},
    "ARCCOSINE": {A: _f(-0.9, 0.9)},
    "DIVIDE": {A: _f(-5, 5), B: _f(0.5, 5)},
    "SMOOTH_MIN": {A: _f(-1, 1), B: _f(-1, 1), C: _f(0.5, 2)},
    "SMOOTH_MAX": {A: _f(-1, 1), B: _f(-1, 1), C: _f(0.5, 2)},
}


@pytest.mark.parametrize("op", M.MATH_OPERATIONS)
def test_math_gradcheck(op):
    spec = {A: _f(-3, 3), B: _f(0.5, 3), C: _f(-3, 3), **_MATH_SPECS.get(op, ({}, []))[0], **_GRAD_SPECS.get(op, {})}
    spec.setdefault(C, _f(-3, 3))
    # keep piecewise ops away from their jumps by nudging points off integers / ties
    a, b, c = _grad_points(op, spec, (A, B, C), 4, 1)
    if op == "WRAP":
        b, c = (b.detach() + 4.0).requires_grad_(), (c.detach() - 4.0).requires_grad_()
    assert torch.autograd.gradcheck(lambda x, y, z: M.math(op, False, x, y, z), (a, b, c))
    with torch.no_grad():
        clamped = M.math(op, True, a, b, c)
    assert bool(((clamped >= 0) & (clamped <= 1)).all())


_VEC_GRAD_SPECS = {
    "POWER": {VA: _v(0.5, 3), VB: _v(-2, 2)},
    "MODULO": {VB: _v(0.5, 3)},
    "DIVIDE": {VB: _v(0.5, 3)},
    "SNAP": {VB: _v(0.5, 3)},
    "REFRACT": {S: _f(0.2, 0.9)},
    "TANGENT": {VA: _v(-1.2, 1.2)},
}


@pytest.mark.parametrize("op", M.VECTOR_MATH_OPERATIONS)
def test_vector_math_gradcheck(op):
    spec = {VA: _v(-3, 3), VB: _v(-3, 3), VC: _v(-3, 3), S: _f(-2, 2), **_VEC_GRAD_SPECS.get(op, {})}
    a, b, c, s = _grad_points(op, spec, (VA, VB, VC, S), 3, 2)
    if op == "WRAP":
        b, c = (b.detach() + 4.0).requires_grad_(), (c.detach() - 4.0).requires_grad_()
    out_index = 1 if op in ("DOT_PRODUCT", "DISTANCE", "LENGTH") else 0
    assert torch.autograd.gradcheck(lambda w, x, y, z: M.vector_math(op, w, x, y, z)[out_index], (a, b, c, s))


def _grads(fn, *values):
    xs = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in values]
    out = fn(*xs)
    if out.requires_grad:  # comparisons have no gradient at all
        out.sum().backward()
    return out, [x.grad if x.grad is not None else torch.zeros_like(x) for x in xs]


_MATH_EDGES = [
    ("DIVIDE", (1.0, 0.0, 0.0)), ("DIVIDE", (0.0, 0.0, 0.0)), ("SQRT", (-1.0, 0.0, 0.0)), ("SQRT", (0.0, 0.0, 0.0)),
    ("INVERSE_SQRT", (0.0, 0.0, 0.0)), ("INVERSE_SQRT", (-2.0, 0.0, 0.0)), ("LOGARITHM", (0.0, 2.0, 0.0)),
    ("LOGARITHM", (-1.0, 2.0, 0.0)), ("LOGARITHM", (2.0, 1.0, 0.0)), ("LOGARITHM", (2.0, 0.0, 0.0)),
    ("POWER", (-2.0, 0.5, 0.0)), ("POWER", (-2.0, 3.0, 0.0)), ("POWER", (0.0, 0.5, 0.0)), ("POWER", (0.0, 0.0, 0.0)),
    ("POWER", (0.0, 2.0, 0.0)), ("ARCSINE", (1.0, 0.0, 0.0)), ("ARCSINE", (-2.0, 0.0, 0.0)),
    ("ARCCOSINE", (1.0, 0.0, 0.0)), ("ARCCOSINE", (3.0, 0.0, 0.0)), ("ARCTAN2", (0.0, 0.0, 0.0)),
    ("MODULO", (1.0, 0.0, 0.0)), ("FLOORED_MODULO", (1.0, 0.0, 0.0)), ("SNAP", (1.0, 0.0, 0.0)),
    ("WRAP", (1.0, 2.0, 2.0)), ("PINGPONG", (1.0, 0.0, 0.0)), ("SMOOTH_MIN", (1.0, 1.0, 0.0)),
    ("SMOOTH_MAX", (1.0, 2.0, 0.0)), ("COMPARE", (1.0, 1.0, 0.0)), ("MINIMUM", (1.0, 1.0, 0.0)),
]


@pytest.mark.parametrize("op,values", _MATH_EDGES, ids=[f"{o}{v}" for o, v in _MATH_EDGES])
def test_math_edge_gradients_are_finite(op, values):
    out, grads = _grads(lambda a, b, c: M.math(op, False, a, b, c), *values)
    assert torch.isfinite(out).all() and all(torch.isfinite(g).all() for g in grads)


def test_math_edge_values_follow_blender():
    def val(op, a, b=0.5, c=0.5):
        return float(M.math(op, False, a, b, c))

    assert val("ARCSINE", 2.0) == pytest.approx(math.pi / 2) and val("ARCCOSINE", -3.0) == pytest.approx(math.pi)
    assert val("POWER", -2.0, 0.5) == 0.0 and val("POWER", -2.0, 3.0) == -8.0 and val("POWER", 0.0, -1.0) == math.inf
    assert val("ARCTAN2", 0.0, -1.0) == pytest.approx(math.pi) and val("ARCTAN2", 0.0, 0.0) == 0.0
    assert val("MINIMUM", 1.0, 1.0) == 1.0 and val("WRAP", 5.0, 1.0, 1.0) == 1.0


@pytest.mark.parametrize("op,values", [
    ("NORMALIZE", ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0), (0.0, 0.0, 0.0), 1.0)),
    ("LENGTH", ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0), (0.0, 0.0, 0.0), 1.0)),
    ("DISTANCE", ((1.0, 2.0, 3.0), (1.0, 2.0, 3.0), (0.0, 0.0, 0.0), 1.0)),
    ("PROJECT", ((1.0, 2.0, 3.0), (0.0, 0.0, 0.0), (0.0, 0.0, 0.0), 1.0)),
    ("REFLECT", ((1.0, 2.0, 3.0), (0.0, 0.0, 0.0), (0.0, 0.0, 0.0), 1.0)),
    ("REFRACT", ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 0.0), 1.0)),  # k == 0
    ("REFRACT", ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 0.0), 2.0)),  # total internal reflection
    ("DIVIDE", ((1.0, 2.0, 3.0), (0.0, 1.0, 0.0), (0.0, 0.0, 0.0), 1.0)),
    ("SNAP", ((1.0, 2.0, 3.0), (0.0, 1.0, 0.0), (0.0, 0.0, 0.0), 1.0)),
    ("WRAP", ((1.0, 2.0, 3.0), (1.0, 1.0, 1.0), (1.0, 1.0, 1.0), 1.0)),
    ("POWER", ((-2.0, 0.0, -1.0), (0.5, 0.5, 2.0), (0.0, 0.0, 0.0), 1.0)),
])
def test_vector_math_edge_gradients_are_finite(op, values):
    idx = 1 if op in ("DOT_PRODUCT", "DISTANCE", "LENGTH") else 0
    out, grads = _grads(lambda a, b, c, s: M.vector_math(op, a, b, c, s)[idx], *values)
    assert torch.isfinite(out).all() and all(torch.isfinite(g).all() for g in grads)


# ---------------------------------------------------------------------------
# Fields and shapes

def _point_mesh():
    verts = torch.tensor([[[0.0, 1.0, 2.0], [-1.5, 0.5, 3.0], [2.0, -2.0, 0.25]]], dtype=torch.float64)
    return make_mesh(verts, [[0, 1, 2]])


def test_math_on_fields():
    mesh = _point_mesh()
    pos = rt.Field(lambda fctx: fctx.mesh.verts, "VECTOR", label="position")
    x = rt.Field(lambda fctx: fctx.mesh.verts[..., 0], "VALUE")
    fctx = rt.FieldContext("POINT", 3, mesh=mesh)
    with rt.eval_context(torch.float64):
        f = M.math("POWER", False, x, 2.0, 0.0)
        assert isinstance(f, rt.Field) and f.type == "VALUE"
        assert torch.allclose(rt.eval_field(f, fctx, "VALUE"), mesh.verts[..., 0] ** 2)
        vec, val = M.vector_math("CROSS_PRODUCT", pos, (0.0, 0.0, 1.0))
        assert isinstance(vec, rt.Field) and vec.type == "VECTOR" and val == 0.0
        expected = torch.linalg.cross(mesh.verts, torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64).expand(1, 3, 3), dim=-1)
        assert torch.allclose(rt.eval_field(vec, fctx, "VECTOR"), expected)
        _, length = M.vector_math("LENGTH", pos)
        assert torch.allclose(rt.eval_field(length, fctx, "VALUE"), mesh.verts.norm(dim=-1))
        scaled, _ = M.vector_math("SCALE", pos, scale=x)
        assert torch.allclose(rt.eval_field(scaled, fctx, "VECTOR"), mesh.verts * mesh.verts[..., :1])


def test_math_shapes_and_broadcasting():
    b = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    assert M.math("ADD", False, b, 1.0).shape == (3,)
    assert M.math("ADD", False, 1.0, 2.0).shape == ()
    v = torch.ones(4, 3, dtype=torch.float64)
    vec, _ = M.vector_math("SCALE", v, scale=torch.arange(4.0, dtype=torch.float64))
    assert vec.shape == (4, 3) and vec[2].tolist() == [2.0, 2.0, 2.0]
    _, dot = M.vector_math("DOT_PRODUCT", v, (1.0, 2.0, 3.0))
    assert dot.shape == (4,) and dot.tolist() == [6.0] * 4


@requires_bpy
def test_unknown_operation_fails_translation_up_front(math_probe):
    from translator.blender_export import export_object
    from translator.codegen import UnsupportedNodesError, check_supported

    math_probe.node.operation = "ADD"
    prog = export_object(math_probe.obj)
    next(n for n in prog.entry_group.nodes if n.bl_idname == "ShaderNodeMath").properties["operation"] = "NOPE"
    with pytest.raises(UnsupportedNodesError, match="Math operation 'NOPE' is not supported"):
        check_supported(prog)


def test_unknown_operations_fail_at_translation():
    n = SimpleNamespace(properties={"operation": "NOPE", "rounding_mode": "NOPE"})
    for bl in ("ShaderNodeMath", "ShaderNodeVectorMath", "FunctionNodeIntegerMath", "FunctionNodeFloatToInt"):
        reason = get_spec(bl).check(n)
        assert reason and "'NOPE'" in reason and "not supported" in reason
