"""Value, Integer, Boolean and Vector input nodes: Blender parity and plain Python results."""

from __future__ import annotations

import pytest

from tests.fixtures.parity import empty_scene, requires_bpy
from tests.fixtures.probes import build_probe, f32
from translator.blender_export import export_object
from translator.nodes import inputs as I


@pytest.fixture(scope="module")
def probes():
    empty_scene()
    kinds = {"ShaderNodeValue": "Value", "FunctionNodeInputInt": "Integer", "FunctionNodeInputBool": "Boolean",
             "FunctionNodeInputVector": "Vector"}
    return {bl: build_probe(bl, {}, [out]) for bl, out in kinds.items()}


@requires_bpy
@pytest.mark.parametrize("value", [0.0, -2.5, f32(3.14159265), 1234.5, f32(-1e-3)])
def test_value_parity(probes, value):
    probe = probes["ShaderNodeValue"]
    probe.node.outputs[0].default_value = value
    assert probe.check([{}]) == 1
    # the exporter stores the number (kept on the node's output socket in Blender) as property "value"
    node = next(n for n in export_object(probe.obj).entry_group.nodes if n.bl_idname == "ShaderNodeValue")
    assert node.properties["value"] == value


@requires_bpy
@pytest.mark.parametrize("value", [0, -7, 123456, 2**31 - 1, -(2**31)])
def test_integer_parity(probes, value):
    probe = probes["FunctionNodeInputInt"]
    probe.node.integer = value
    assert probe.check([{}]) == 1


@requires_bpy
@pytest.mark.parametrize("value", [False, True])
def test_boolean_parity(probes, value):
    probe = probes["FunctionNodeInputBool"]
    probe.node.boolean = value
    assert probe.check([{}]) == 1


@requires_bpy
@pytest.mark.parametrize("value", [(0.0, 0.0, 0.0), (1.5, -2.25, 3.0), (f32(0.1), f32(-1e4), f32(2.0 / 3.0))])
def test_vector_parity(probes, value):
    probe = probes["FunctionNodeInputVector"]
    probe.node.vector = value
    assert probe.check([{}]) == 1


def test_input_nodes_give_plain_python_values():
    assert I.value(2.5) == 2.5 and type(I.value(2)) is float and I.value(None) == 0.0
    assert I.integer(7) == 7 and type(I.integer(7.0)) is int
    assert I.boolean(1) is True and I.boolean(0) is False
    assert I.vector([1, 2, 3]) == (1.0, 2.0, 3.0) and all(type(c) is float for c in I.vector([1, 2, 3]))
