"""Boolean Math and Compare: Blender parity for every operation, data type and mode; Python,
tensor and field paths."""

from __future__ import annotations

import itertools
import math
from types import SimpleNamespace

import pytest
import torch

from tests.fixtures.parity import empty_scene, requires_bpy
from tests.fixtures.probes import build_probe, draw_sets
from translator import runtime as rt
from translator.nodes import get_spec
from translator.nodes import logic as L
from translator.nodes.primitives import make_mesh


@pytest.fixture(scope="module")
def blender():
    empty_scene()


# ---------------------------------------------------------------------------
# Boolean Math

@pytest.fixture(scope="module")
def bool_probe(blender):
    return build_probe("FunctionNodeBooleanMath", {"Boolean": "BOOLEAN", "Boolean_001": "BOOLEAN"}, ["Boolean"])


@requires_bpy
@pytest.mark.parametrize("op", L.BOOLEAN_OPERATIONS)
def test_boolean_math_parity(bool_probe, op):
    bool_probe.node.operation = op
    sets = [{"Boolean": a, "Boolean_001": b} for a, b in itertools.product((False, True), repeat=2)]
    assert bool_probe.check(sets) == 4


def test_boolean_math_python_and_tensor():
    truth = {"AND": [0, 0, 0, 1], "OR": [0, 1, 1, 1], "NOT": [1, 1, 0, 0], "NAND": [1, 1, 1, 0], "NOR": [1, 0, 0, 0],
             "XNOR": [1, 0, 0, 1], "XOR": [0, 1, 1, 0], "IMPLY": [1, 1, 0, 1], "NIMPLY": [0, 0, 1, 0]}
    assert set(truth) == set(L.BOOLEAN_OPERATIONS)
    pairs = list(itertools.product((False, True), repeat=2))
    a = torch.tensor([p[0] for p in pairs])
    b = torch.tensor([p[1] for p in pairs])
    for op, expected in truth.items():
        assert [L.boolean_math(op, x, y) for x, y in pairs] == [bool(e) for e in expected]
        assert all(type(L.boolean_math(op, x, y)) is bool for x, y in pairs)
        got = L.boolean_math(op, a, b)
        assert got.dtype == torch.bool and got.tolist() == [bool(e) for e in expected]


# ---------------------------------------------------------------------------
# Compare

_OPERANDS = {"A": "FLOAT", "B": "FLOAT", "A_INT": "INT", "B_INT": "INT", "A_VEC3": "VECTOR", "B_VEC3": "VECTOR",
             "C": "FLOAT", "Angle": "FLOAT", "Epsilon": "FLOAT"}


@pytest.fixture(scope="module")
def compare_probe(blender):
    probe = build_probe("FunctionNodeCompare", _OPERANDS, ["Result"])
    # colors come from the vector inputs through Blender's implicit conversion (alpha 1)
    probe.link_input("A_VEC3", "A_COL")
    probe.link_input("B_VEC3", "B_COL")
    return probe


def _set(probe, data_type, operation, mode="ELEMENT"):
    probe.node.data_type = data_type
    probe.node.mode = mode
    probe.node.operation = operation


_FLOAT_SPEC = {"A": ("float", -2, 2), "B": ("float", -2, 2), "Epsilon": ("float", -0.5, 1.5)}
_FLOAT_EDGES = [{"A": 1.0, "B": 1.0, "Epsilon": 0.0}, {"A": 1.0, "B": 1.5, "Epsilon": 0.5},
                {"A": 1.0, "B": 1.5, "Epsilon": 0.25}, {"A": 1.0, "B": 1.0, "Epsilon": -1.0}, {"A": -0.5, "B": 0.5}]


@requires_bpy
@pytest.mark.parametrize("op", L.COMPARE_OPERATIONS["FLOAT"])
def test_compare_float_parity(compare_probe, op):
    _set(compare_probe, "FLOAT", op)
    assert compare_probe.check_batched(draw_sets(1, _FLOAT_SPEC, 16, _FLOAT_EDGES)) == 21


@requires_bpy
@pytest.mark.parametrize("op", L.COMPARE_OPERATIONS["INT"])
def test_compare_int_parity(compare_probe, op):
    _set(compare_probe, "INT", op)
    spec = {"A_INT": ("int", -3, 3), "B_INT": ("int", -3, 3), "Epsilon": ("float", 0, 2)}
    edges = [{"A_INT": 2, "B_INT": 2}, {"A_INT": -2**31, "B_INT": 2**31 - 1}]
    assert compare_probe.check(draw_sets(2, spec, 16, edges)) == 18


_X, _Y, _ZERO = (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 0.0)
_VEC_EDGES = {
    "ELEMENT": [{"A_VEC3": (1.0, 2.0, 3.0), "B_VEC3": (1.0, 2.0, 3.0)}, {"A_VEC3": (0.0, 2.0, 3.0), "B_VEC3": (1.0, 3.0, 3.0)},
                {"A_VEC3": (1.0, 2.0, 3.0), "B_VEC3": (1.5, 2.0, 2.5), "Epsilon": 0.5}],
    "LENGTH": [{"A_VEC3": (3.0, 4.0, 0.0), "B_VEC3": (0.0, 0.0, 5.0)}, {"A_VEC3": (3.0, 4.0, 0.0), "B_VEC3": (0.0, 0.0, 5.5), "Epsilon": 0.5}],
    "AVERAGE": [{"A_VEC3": (1.0, 2.0, 3.0), "B_VEC3": (3.0, 2.0, 1.0)}, {"A_VEC3": (1.5, 1.5, 3.0), "B_VEC3": (0.0, 0.0, 4.5), "Epsilon": 0.5}],
    # |dot - C| == Epsilon exactly: Blender's Not Equal is inclusive for dot products
    "DOT_PRODUCT": [{"A_VEC3": _X, "B_VEC3": _X, "C": 0.5, "Epsilon": 0.5}, {"A_VEC3": _X, "B_VEC3": _X, "C": 1.0, "Epsilon": 0.0},
                    {"A_VEC3": (1.0, 2.0, 0.0), "B_VEC3": (2.0, 1.0, 7.0), "C": 4.0}],
    "DIRECTION": [{"A_VEC3": _ZERO, "B_VEC3": _X, "Angle": 0.5}, {"A_VEC3": _X, "B_VEC3": (-2.0, 0.0, 0.0), "Angle": 3.0},
                  {"A_VEC3": _X, "B_VEC3": (2.0, 0.0, 0.0), "Angle": 0.0, "Epsilon": 0.0}, {"A_VEC3": _X, "B_VEC3": _Y, "Angle": 1.5}],
}


@requires_bpy
@pytest.mark.parametrize("mode", L.COMPARE_MODES)
@pytest.mark.parametrize("op", L.COMPARE_OPERATIONS["VECTOR"])
def test_compare_vector_parity(compare_probe, op, mode):
    _set(compare_probe, "VECTOR", op, mode)
    spec = {"A_VEC3": ("vector", -2, 2), "B_VEC3": ("vector", -2, 2), "C": ("float", -3, 3), "Angle": ("float", 0, 3.2),
            "Epsilon": ("float", -0.2, 1.0)}
    edges = _VEC_EDGES[mode]
    assert compare_probe.check_batched(draw_sets(3, spec, 16, edges)) == 16 + len(edges)


@requires_bpy
@pytest.mark.parametrize("op", L.COMPARE_OPERATIONS["RGBA"])
def test_compare_color_parity(compare_probe, op):
    _set(compare_probe, "RGBA", op)
    spec = {"A_VEC3": ("vector", 0, 1), "B_VEC3": ("vector", 0, 1), "Epsilon": ("float", 0, 0.5)}
    # (1, 0, 0) is darker than (0, 0.3, 0) with Rec. 709 weights but brighter with (0.3, 0.58, 0.12)
    edges = [{"A_VEC3": _X, "B_VEC3": (0.0, 0.3, 0.0)}, {"A_VEC3": (0.5, 0.5, 0.5), "B_VEC3": (0.5, 0.5, 0.5)},
             {"A_VEC3": (0.5, 0.25, 0.5), "B_VEC3": (0.5, 0.5, 0.5), "Epsilon": 0.25}]
    assert compare_probe.check(draw_sets(4, spec, 16, edges)) == 19


@requires_bpy
@pytest.mark.parametrize("op", L.COMPARE_OPERATIONS["STRING"])
def test_compare_string_parity(compare_probe, op):
    _set(compare_probe, "STRING", op)
    for a, b in [("", ""), ("leg", "leg"), ("leg", "Leg"), ("a", "ab")]:
        compare_probe.set_default("A_STR", a)
        compare_probe.set_default("B_STR", b)
        assert compare_probe.check([{}]) == 1


@requires_bpy
def test_compare_types_and_operations_are_blenders(compare_probe):
    node = compare_probe.node
    types = {i.identifier for i in node.bl_rna.properties["data_type"].enum_items if i.identifier in L.COMPARE_OPERATIONS}
    assert types == set(L.COMPARE_OPERATIONS)
    assert {i.identifier for i in node.bl_rna.properties["mode"].enum_items} == set(L.COMPARE_MODES)
    for dt, ops in L.COMPARE_OPERATIONS.items():
        node.data_type = dt
        assert {i.identifier for i in node.bl_rna.properties["operation"].enum_items_static} >= set(ops)
        for op in ops:
            node.operation = op
            assert node.operation == op, f"{dt} {op}"


def test_compare_python_values_give_python_bools():
    assert L.compare("FLOAT", "EQUAL", a=1.0, b=1.0005) is True
    assert L.compare("FLOAT", "NOT_EQUAL", a=1.0, b=1.0005) is False
    assert L.compare("INT", "LESS_EQUAL", a_int=3, b_int=3) is True
    assert L.compare("VECTOR", "GREATER_THAN", "LENGTH", a_vec3=(3.0, 4.0, 0.0), b_vec3=(0.0, 0.0, 4.5)) is True
    assert L.compare("VECTOR", "NOT_EQUAL", "DOT_PRODUCT", a_vec3=(1.0, 0.0, 0.0), b_vec3=(1.0, 0.0, 0.0), c=0.5, epsilon=0.5) is True
    assert L.compare("RGBA", "DARKER", a_col=(1.0, 0.0, 0.0, 1.0), b_col=(0.0, 0.3, 0.0, 1.0)) is True
    assert L.compare("STRING", "NOT_EQUAL", a_str="a", b_str="b") is True


def test_vector_angle():
    a = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [1.0, 1.0, 0.0], [2.0, 0.0, 0.0]],
                     dtype=torch.float64)
    b = torch.tensor([[0.0, 3.0, 0.0], [-1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.5, 0.0, 0.0]],
                     dtype=torch.float64)
    # a zero vector normalizes to zero; Blender's asin formula then gives pi/3 (parity-tested above)
    expected = [math.pi / 2, math.pi, math.pi / 3, 0.0, math.pi / 4, 0.0]
    assert torch.allclose(L.vector_angle(a, b), torch.tensor(expected, dtype=torch.float64))


def test_compare_tensors_and_fields():
    a = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64, requires_grad=True)
    out = L.compare("FLOAT", "GREATER_EQUAL", a=a, b=1.0)
    assert out.dtype == torch.bool and out.tolist() == [False, True, True]
    verts = torch.tensor([[[0.0, 1.0, 2.0], [-1.5, 0.5, 3.0], [2.0, -2.0, 0.25]]], dtype=torch.float64)
    mesh = make_mesh(verts, [[0, 1, 2]])
    pos = rt.Field(lambda fctx: fctx.mesh.verts, "VECTOR")
    with rt.eval_context(torch.float64):
        f = L.compare("VECTOR", "LESS_THAN", "AVERAGE", a_vec3=pos, b_vec3=(1.0, 1.0, 1.0))
        assert isinstance(f, rt.Field) and f.type == "BOOLEAN"
        got = rt.eval_field(f, rt.FieldContext("POINT", 3, mesh=mesh), "BOOLEAN")
        assert got.reshape(-1).tolist() == [False, True, True]
        g = L.boolean_math("NOT", f, False)
        assert rt.eval_field(g, rt.FieldContext("POINT", 3, mesh=mesh), "BOOLEAN").reshape(-1).tolist() == [True, False, False]


def test_unsupported_compare_and_boolean_modes_fail_at_translation():
    check = get_spec("FunctionNodeCompare").check
    assert check(SimpleNamespace(properties={"data_type": "FLOAT", "operation": "EQUAL", "mode": "ELEMENT"})) is None
    assert "'MATRIX'" in check(SimpleNamespace(properties={"data_type": "MATRIX", "operation": "EQUAL", "mode": "ELEMENT"}))
    assert "BRIGHTER" in check(SimpleNamespace(properties={"data_type": "FLOAT", "operation": "BRIGHTER", "mode": "ELEMENT"}))
    assert "'NOPE'" in check(SimpleNamespace(properties={"data_type": "VECTOR", "operation": "EQUAL", "mode": "NOPE"}))
    assert "'NOPE'" in get_spec("FunctionNodeBooleanMath").check(SimpleNamespace(properties={"operation": "NOPE"}))
