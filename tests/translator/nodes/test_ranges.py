"""Clamp and Map Range: Blender parity for every type, interpolation and clamp setting; float64
gradchecks, finite gradients at the edge cases, tensor and field paths."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import pytest
import torch

from tests.fixtures.parity import empty_scene, requires_bpy
from tests.fixtures.probes import build_probe, draw_sets
from translator import runtime as rt
from translator.nodes import get_spec
from translator.nodes import ranges as R
from translator.nodes.primitives import make_mesh


@pytest.fixture(scope="module")
def blender():
    empty_scene()


# ---------------------------------------------------------------------------
# Clamp

@pytest.fixture(scope="module")
def clamp_probe(blender):
    return build_probe("ShaderNodeClamp", {"Value": "FLOAT", "Min": "FLOAT", "Max": "FLOAT"}, ["Result"])


@requires_bpy
@pytest.mark.parametrize("clamp_type", R.CLAMP_TYPES)
def test_clamp_parity(clamp_probe, clamp_type):
    clamp_probe.node.clamp_type = clamp_type
    spec = {"Value": ("float", -3, 3), "Min": ("float", -2, 2), "Max": ("float", -2, 2)}
    edges = [{"Value": 0.5, "Min": 1.0, "Max": -1.0}, {"Value": 2.0, "Min": 1.0, "Max": -1.0}, {"Value": -2.0, "Min": 1.0, "Max": -1.0},
             {"Value": 1.0, "Min": 1.0, "Max": 1.0}, {"Value": 1.0, "Min": 1.0, "Max": 2.0}]
    assert clamp_probe.check(draw_sets(1, spec, 30, edges)) == 35


def test_clamp_values():
    assert float(R.clamp("MINMAX", 0.5, 1.0, -1.0)) == -1.0  # Max wins when Min > Max
    assert float(R.clamp("RANGE", 0.5, 1.0, -1.0)) == 0.5
    assert float(R.clamp("RANGE", 3.0, 1.0, -1.0)) == 1.0


# ---------------------------------------------------------------------------
# Map Range

_FLOAT_OPERANDS = {"Value": "FLOAT", "From Min": "FLOAT", "From Max": "FLOAT", "To Min": "FLOAT", "To Max": "FLOAT", "Steps": "FLOAT"}
_VECTOR_OPERANDS = {"Vector": "VECTOR", "From_Min_FLOAT3": "VECTOR", "From_Max_FLOAT3": "VECTOR", "To_Min_FLOAT3": "VECTOR",
                    "To_Max_FLOAT3": "VECTOR", "Steps_FLOAT3": "VECTOR"}


@pytest.fixture(scope="module")
def map_range_probes(blender):
    """One probe per data type, showing both outputs (the other type's output is zero)."""
    return {
        dt: build_probe("ShaderNodeMapRange", operands, ["Result", "Vector"], data_type=dt)
        for dt, operands in (("FLOAT", _FLOAT_OPERANDS), ("FLOAT_VECTOR", _VECTOR_OPERANDS))
    }


def _map_range_sets(dt: str, seed: int) -> list[dict]:
    names = list(_FLOAT_OPERANDS) if dt == "FLOAT" else list(_VECTOR_OPERANDS)
    kind = "float" if dt == "FLOAT" else "vector"
    value, fmin, fmax, tmin, tmax, steps = names
    spec = {value: (kind, -3, 3), fmin: (kind, -2, 2), fmax: (kind, -2, 2), tmin: (kind, -5, 5), tmax: (kind, -5, 5),
            steps: (kind, -1, 8)}

    def e(v, a, b, c, d, s=4.0):
        if dt == "FLOAT":
            return {value: v, fmin: a, fmax: b, tmin: c, tmax: d, steps: s}
        return {value: (v, -v, 0.5), fmin: (a, a, b), fmax: (b, b, a), tmin: (c, d, c), tmax: (d, c, c), steps: (s, 2.0, 0.0)}

    edges = [e(1.0, 1.0, 1.0, 2.0, 3.0), e(0.5, 0.0, 1.0, 3.0, -1.0), e(2.0, 0.0, 1.0, 3.0, -1.0), e(-1.0, 0.0, 1.0, 3.0, -1.0),
             e(0.5, 0.0, 1.0, 0.0, 10.0, 0.0), e(0.75, 0.0, 1.0, 0.0, 8.0, 3.0), e(0.5, 1.0, 0.0, -2.0, 2.0, 4.0)]
    return draw_sets(seed, spec, 24, edges)


@requires_bpy
@pytest.mark.parametrize("use_clamp", (False, True))
@pytest.mark.parametrize("interpolation", R.MAP_RANGE_INTERPOLATIONS)
@pytest.mark.parametrize("dt", ("FLOAT", "FLOAT_VECTOR"))
def test_map_range_parity(map_range_probes, dt, interpolation, use_clamp):
    probe = map_range_probes[dt]
    probe.node.interpolation_type = interpolation
    probe.node.clamp = use_clamp
    assert probe.check_batched(_map_range_sets(dt, 7)) == 31


@requires_bpy
def test_range_modes_are_blenders(map_range_probes, clamp_probe):
    props = map_range_probes["FLOAT"].node.bl_rna.properties
    assert {i.identifier for i in props["interpolation_type"].enum_items} == set(R.MAP_RANGE_INTERPOLATIONS)
    assert {i.identifier for i in props["data_type"].enum_items} == {"FLOAT", "FLOAT_VECTOR"}
    assert {i.identifier for i in clamp_probe.node.bl_rna.properties["clamp_type"].enum_items} == set(R.CLAMP_TYPES)


# ---------------------------------------------------------------------------
# Gradients

def _rand(shape, lo, hi, seed):
    g = torch.Generator().manual_seed(seed)
    return (lo + (hi - lo) * torch.rand(shape, generator=g, dtype=torch.float64)).requires_grad_()


@pytest.mark.parametrize("clamp_type", R.CLAMP_TYPES)
def test_clamp_gradcheck(clamp_type):
    value, lo, hi = _rand((8,), -3, 3, 1), _rand((8,), -2, 0, 2), _rand((8,), 0, 2, 3)
    assert torch.autograd.gradcheck(lambda v, a, b: R.clamp(clamp_type, v, a, b), (value, lo, hi))
    assert torch.autograd.gradcheck(lambda v, a, b: R.clamp(clamp_type, v, b, a), (value, lo, hi))


@pytest.mark.parametrize("use_clamp", (False, True))
@pytest.mark.parametrize("interpolation", R.MAP_RANGE_INTERPOLATIONS)
def test_map_range_gradcheck(interpolation, use_clamp):
    args = [_rand((6,), -1, 2, 1), _rand((6,), -1, -0.5, 2), _rand((6,), 0.5, 1, 3), _rand((6,), -2, 0, 4),
            _rand((6,), 1, 3, 5), _rand((6,), 2, 6, 6)]
    assert torch.autograd.gradcheck(lambda *xs: R.map_range("FLOAT", interpolation, use_clamp, *xs)[0], args)
    vargs = [_rand((2, 3), lo, hi, 10 + i) for i, (lo, hi) in enumerate(((-1, 2), (-1, -0.5), (0.5, 1), (-2, 0), (1, 3), (2, 6)))]

    def vector_map(*xs):
        names = ("vector", "from_min_float3", "from_max_float3", "to_min_float3", "to_max_float3", "steps_float3")
        return R.map_range("FLOAT_VECTOR", interpolation, use_clamp, **dict(zip(names, xs)))[1]

    assert torch.autograd.gradcheck(vector_map, vargs)


@pytest.mark.parametrize("interpolation,use_clamp", list(itertools.product(R.MAP_RANGE_INTERPOLATIONS, (False, True))))
def test_map_range_edge_gradients_are_finite(interpolation, use_clamp):
    # empty input range, zero steps, value on the range ends, reversed target range
    cases = [(1.0, 1.0, 1.0, 2.0, 3.0, 4.0), (0.5, 0.0, 1.0, 0.0, 1.0, 0.0), (1.0, 0.0, 1.0, 3.0, -1.0, 4.0),
             (0.0, 0.0, 1.0, 3.0, -1.0, 4.0)]
    for case in cases:
        xs = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in case]
        out = R.map_range("FLOAT", interpolation, use_clamp, *xs)[0]
        out.backward()
        grads = [x.grad for x in xs if x.grad is not None]  # Steps is read only by STEPPED
        assert torch.isfinite(out) and len(grads) >= 5 and all(torch.isfinite(g) for g in grads), case


def test_map_range_fields_and_shapes():
    verts = torch.tensor([[[0.0, 1.0, 2.0], [-1.5, 0.5, 3.0], [2.0, -2.0, 0.25]]], dtype=torch.float64)
    mesh = make_mesh(verts, [[0, 1, 2]])
    x = rt.Field(lambda fctx: fctx.mesh.verts[..., 0], "VALUE")
    with rt.eval_context(torch.float64):
        f, zero = R.map_range("FLOAT", "LINEAR", True, x, 0.0, 2.0, 0.0, 10.0)
        assert isinstance(f, rt.Field) and zero == (0.0, 0.0, 0.0)
        got = rt.eval_field(f, rt.FieldContext("POINT", 3, mesh=mesh), "VALUE")
        assert got.reshape(-1).tolist() == [0.0, 0.0, 10.0]
        c = R.clamp("RANGE", x, 1.0, -1.0)
        assert rt.eval_field(c, rt.FieldContext("POINT", 3, mesh=mesh), "VALUE").reshape(-1).tolist() == [0.0, -1.0, 1.0]
    zero, vec = R.map_range("FLOAT_VECTOR", "STEPPED", False, vector=torch.zeros(5, 3, dtype=torch.float64))
    assert zero == 0.0 and vec.shape == (5, 3)


def test_unsupported_range_modes_fail_at_translation():
    assert "'NOPE'" in get_spec("ShaderNodeClamp").check(SimpleNamespace(properties={"clamp_type": "NOPE"}))
    check = get_spec("ShaderNodeMapRange").check
    assert "'NOPE'" in check(SimpleNamespace(properties={"data_type": "NOPE", "interpolation_type": "LINEAR"}))
    assert "'NOPE'" in check(SimpleNamespace(properties={"data_type": "FLOAT", "interpolation_type": "NOPE"}))
    assert check(SimpleNamespace(properties={"data_type": "FLOAT_VECTOR", "interpolation_type": "STEPPED"})) is None
