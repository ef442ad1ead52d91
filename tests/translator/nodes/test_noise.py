"""Random Value: bit-exact with Blender's hash for every data type (the implicit ID: the index; linked IDs
including negative ones; seeds as single values and as fields), batched like single evaluations; float64
gradchecks of min and max; the hash against known values."""

from __future__ import annotations

import pytest
import torch

from tests.fixtures.parity import Tree, batch_and_singles, check_parity, requires_bpy, translate_object
from tests.fixtures.probes import draw_sets
from translator import runtime as rt
from translator.nodes import noise as N
from translator.nodes.primitives import make_mesh

_OUT = {"FLOAT": "Value_001", "INT": "Value_002", "FLOAT_VECTOR": "Value", "BOOLEAN": "Value_003"}


def _program(data_type: str, id_mode: str, seed_field: bool):
    """A 9 x 7 grid whose points move by the random value (scalars on x); ID implicit ("index"), or
    ``Index * 37 - 200`` ("linked"); the seed a group input, or ``Seed + Index`` (a field)."""
    t = Tree()
    grid = t.node("GeometryNodeMeshGrid", **{"Vertices X": 9, "Vertices Y": 7, "Size X": 0.0, "Size Y": 0.0})
    rv = t.node("FunctionNodeRandomValue", data_type=data_type)
    if data_type == "FLOAT":
        t.link(t.input("Min", "NodeSocketFloat", 0.0), rv, "Min_001")
        t.link(t.input("Max", "NodeSocketFloat", 1.0), rv, "Max_001")
    elif data_type == "FLOAT_VECTOR":
        t.link(t.input("Min", "NodeSocketVector", (0, 0, 0)), rv, "Min")
        t.link(t.input("Max", "NodeSocketVector", (1, 1, 1)), rv, "Max")
    elif data_type == "INT":
        t.link(t.input("Min", "NodeSocketInt", 0), rv, "Min_002")
        t.link(t.input("Max", "NodeSocketInt", 100), rv, "Max_002")
    else:
        t.link(t.input("Probability", "NodeSocketFloat", 0.5), rv, "Probability")
    seed = t.input("Seed", "NodeSocketInt", 0)
    if seed_field:
        add = t.node("FunctionNodeIntegerMath", operation="ADD")
        t.link(seed, add, "Value")
        t.link(t.node("GeometryNodeInputIndex"), add, "Value_001")
        seed = (add, "Value")
    t.link(seed, rv, "Seed")
    if id_mode == "linked":
        mul = t.node("FunctionNodeIntegerMath", operation="MULTIPLY_ADD", Value_001=37, Value_002=-200)
        t.link(t.node("GeometryNodeInputIndex"), mul, "Value")
        t.link((mul, "Value"), rv, "ID")
    t.output_offset((grid, "Mesh"), (rv, _OUT[data_type]), "X" if data_type != "FLOAT_VECTOR" else None)
    return t.object()


def _sets(data_type: str, seed: int) -> list[dict]:
    spec = {"Seed": ("int", -10000, 10000)}
    if data_type == "FLOAT":
        spec |= {"Min": ("float", -3, 3), "Max": ("float", -3, 3)}
    elif data_type == "FLOAT_VECTOR":
        spec |= {"Min": ("vector", -3, 3), "Max": ("vector", -3, 3)}
    elif data_type == "INT":
        spec |= {"Min": ("int", -50, 50), "Max": ("int", -50, 200)}
    else:
        spec |= {"Probability": ("float", -0.2, 1.2)}
    extra = [{"Seed": 0}, {"Seed": -1}]
    if data_type == "INT":
        extra += [{"Min": 5, "Max": 5}, {"Min": 10, "Max": 3}, {"Min": -100000, "Max": 100000}]
    if data_type == "BOOLEAN":
        extra += [{"Probability": 0.0}, {"Probability": 1.0}]
    return draw_sets(seed, spec, 6, extra)


@requires_bpy
@pytest.mark.parametrize("seed_field", (False, True))
@pytest.mark.parametrize("id_mode", ("index", "linked"))
@pytest.mark.parametrize("data_type", N.RANDOM_VALUE_TYPES)
def test_random_value_parity(data_type, id_mode, seed_field):
    obj = _program(data_type, id_mode, seed_field)
    sets = _sets(data_type, 11)
    assert check_parity(obj, sets) == len(sets)


@requires_bpy
@pytest.mark.parametrize("data_type", ("FLOAT", "FLOAT_VECTOR", "BOOLEAN"))
def test_random_value_batch_equals_singles(data_type):
    obj = _program(data_type, "index", False)
    module = translate_object(obj)
    sets = [s | {"Seed": 7} for s in _sets(data_type, 5)]
    batch, singles = batch_and_singles(module, sets)
    assert torch.equal(batch, singles)


def test_hash_known_values():
    # unsigned 32-bit results for any int32 key (negative keys read as two's complement)
    keys = torch.tensor([-1, 0, 1, 2**31 - 1, -(2**31)])
    h = N.jenkins_hash(keys, keys)
    assert h.dtype == torch.long and bool(((h >= 0) & (h <= 0xFFFFFFFF)).all())
    f = N.hash_to_float(keys, torch.zeros_like(keys))
    assert f.dtype == torch.float32 and bool(((f >= 0) & (f <= 1)).all())


def test_random_value_single_values_and_gradcheck():
    with rt.eval_context(torch.float64):
        _, _, integer, _ = N.random_value("INT", id=3, seed=4, min_002=9, max_002=0)  # reversed: swapped
        assert isinstance(integer, int) and 0 <= integer <= 9
        _, _, full, _ = N.random_value("INT", id=3, seed=4, min_002=-(2**31), max_002=2**31 - 1)  # the whole range
        assert -(2**31) <= full < 2**31
        lo = torch.tensor([0.5, -1.0], dtype=torch.float64, requires_grad=True)
        hi = torch.tensor([2.0, 3.0], dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda a, b: N.random_value("FLOAT", min_001=a, max_001=b, id=5, seed=1)[1], (lo, hi))
        lo3, hi3 = lo.detach()[:, None].expand(2, 3).clone().requires_grad_(), hi.detach()[:, None].expand(2, 3).clone().requires_grad_()
        assert torch.autograd.gradcheck(lambda a, b: N.random_value("FLOAT_VECTOR", min=a, max=b, id=5, seed=1)[0], (lo3, hi3))


def test_implicit_id_reads_the_id_attribute():
    from translator.geometry import Attribute

    mesh = make_mesh(torch.zeros((1, 4, 3)), [])
    fctx = rt.FieldContext("POINT", 4, mesh=mesh)
    by_index = rt.eval_field(N.random_value("FLOAT")[1], fctx, "VALUE")
    mesh.attributes["id"] = Attribute("POINT", torch.tensor([[3, 2, 1, 0]]), "INT")
    by_id = rt.eval_field(N.random_value("FLOAT")[1], fctx, "VALUE")
    assert torch.equal(by_id[0], by_index[0].flip(0))
