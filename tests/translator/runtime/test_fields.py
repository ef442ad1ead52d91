"""Attribute domain interpolation (runtime.adapt_domain) against Blender: values read on
another domain than the one they are stored on, booleans mixed as Blender mixes selections."""

from __future__ import annotations

import random

import pytest

from tests.fixtures.parity import Tree, check_parity, requires_bpy, translate_object


def _chain(t: Tree, geo, name: str, src_domain: str, data_type: str, value_src, dst_name: str, dst_domain: str):
    """Store ``value_src`` as ``name`` on ``src_domain``, read it back as a Named Attribute and
    store that as ``dst_name`` on ``dst_domain`` (Blender interpolates between the domains)."""
    store = t.node("GeometryNodeStoreNamedAttribute", data_type=data_type, domain=src_domain, Name=name)
    t.link(geo, store, "Geometry")
    t.link(value_src, store, "Value")
    read = t.node("GeometryNodeInputNamedAttribute", data_type=data_type, Name=name)
    store2 = t.node("GeometryNodeStoreNamedAttribute", data_type=data_type, domain=dst_domain, Name=dst_name)
    t.link((store, "Geometry"), store2, "Geometry")
    t.link((read, "Attribute"), store2, "Value")
    return (store2, "Geometry")


@requires_bpy
@pytest.mark.parametrize("src,dst", [("POINT", "FACE"), ("FACE", "POINT"), ("CORNER", "POINT"), ("CORNER", "FACE"),
                                     ("POINT", "CORNER"), ("FACE", "CORNER")])
@pytest.mark.parametrize("data_type", ["BOOLEAN", "FLOAT"])
def test_values_read_on_another_domain_match_blender(src, dst, data_type):
    t = Tree()
    threshold = t.input("Threshold", "NodeSocketFloat", 3.0)
    grid = t.node("GeometryNodeMeshGrid", **{"Vertices X": 4, "Vertices Y": 3})
    value = t.index_compare(threshold) if data_type == "BOOLEAN" else t.node("GeometryNodeInputIndex")
    t.output(_chain(t, (grid, "Mesh"), "a", src, data_type, value, "b", dst))
    obj = t.object()
    rng = random.Random(f"{src}{dst}{data_type}")
    sets = [{"Threshold": rng.uniform(-1, 12)} for _ in range(8)]
    assert check_parity(obj, sets, translate_object(obj), attributes=["a", "b"]) == 8
