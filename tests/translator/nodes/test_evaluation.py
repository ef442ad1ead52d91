"""Capture Attribute: values captured on points, edges, faces, corners and instances travel with their
elements through Set Position, Join and Realize, and read back on other domains; several items of several
types; Blender parity, batched like single evaluations; gradients flow through captured values."""

from __future__ import annotations

import pytest
import torch

from tests.fixtures.parity import Tree, check_parity, requires_bpy, split_values, translate_object
from translator import runtime as rt
from translator.nodes import evaluation as E
from translator.nodes.primitives import mesh_grid

_SOCKET = {"FLOAT": "FLOAT", "FLOAT_VECTOR": "VECTOR", "INT": "INT", "BOOLEAN": "BOOLEAN"}


def _capture(t: Tree, src, domain: str, values: list[tuple[str, object]]):
    """A Capture Attribute node on ``domain`` with one item per ``(data_type, source)``."""
    cap = t.node("GeometryNodeCaptureAttribute", domain=domain)
    for k, (dt, _) in enumerate(values):
        cap.capture_items.new(_SOCKET[dt], f"item{k}")
    t.link(src, cap, "Geometry")
    for k, (_, vsrc) in enumerate(values):
        t.link(vsrc, cap, "Value" if k == 0 else f"Value_{k}")
    return cap


def _store(t: Tree, src, name: str, domain: str, data_type: str, value):
    st = t.node("GeometryNodeStoreNamedAttribute", data_type=data_type, domain=domain, Name=name)
    t.link(src, st, "Geometry")
    t.link(value, st, "Value")
    return (st, "Geometry")


def _mesh_program(domain: str):
    """A grid and a cube joined; capture position and a float per element on ``domain``; move everything
    by a wave; store the captured values on POINT and FACE (and the captured int on ``domain``)."""
    t = Tree()
    grid = t.node("GeometryNodeMeshGrid", **{"Vertices X": 4, "Vertices Y": 3})
    t.link(t.input("Size", "NodeSocketFloat", 1.0), grid, "Size X")
    cube = t.node("GeometryNodeMeshCube")
    join = t.node("GeometryNodeJoinGeometry")
    t.link((grid, "Mesh"), join, "Geometry")
    t.link((cube, "Mesh"), join, "Geometry")
    half = t.node("ShaderNodeMath", operation="MULTIPLY", Value_001=0.5)
    t.link(t.node("GeometryNodeInputIndex"), half, "Value")
    cap = _capture(t, (join, "Geometry"), domain, [("FLOAT_VECTOR", t.node("GeometryNodeInputPosition")),
                                                   ("FLOAT", (half, "Value")), ("INT", t.node("GeometryNodeInputIndex"))])
    wave, _ = t.wave_fields(t.input("K", "NodeSocketFloat", 0.5), t.input("J", "NodeSocketFloat", 0.1))
    sp = t.node("GeometryNodeSetPosition")
    t.link((cap, "Geometry"), sp, "Geometry")
    t.link(wave, sp, "Offset")
    src = (sp, "Geometry")
    src = _store(t, src, "cap_pos_p", "POINT", "FLOAT_VECTOR", (cap, "Attribute"))
    src = _store(t, src, "cap_f_f", "FACE", "FLOAT", (cap, "Attribute_1"))
    src = _store(t, src, "cap_i", domain, "INT", (cap, "Attribute_2"))
    t.output(src)
    return t.object()


_SETS = [{"Size": 1.0, "K": 0.5, "J": 0.1}, {"Size": 2.5, "K": -0.3, "J": 0.25}, {"Size": 0.5, "K": 0.0, "J": 0.0}]


@requires_bpy
@pytest.mark.parametrize("domain", ["POINT", "EDGE", "FACE", "CORNER"])
def test_capture_on_mesh_domains_parity(domain):
    assert check_parity(_mesh_program(domain), _SETS, attributes=["cap_pos_p", "cap_f_f", "cap_i"]) == 3


@requires_bpy
def test_capture_on_instances_parity():
    t = Tree()
    iop = t.instances_on_line((t.node("GeometryNodeMeshCube"), "Mesh"), 5, t.input("Offset", "NodeSocketVector", (2, 0, 0)))
    cap = _capture(t, (iop, "Instances"), "INSTANCE", [("FLOAT_VECTOR", t.node("GeometryNodeInputPosition")),
                                                       ("INT", t.node("GeometryNodeInputIndex"))])
    tr = t.node("GeometryNodeTranslateInstances", Translation=(0.0, 0.0, 1.0))
    t.link((cap, "Geometry"), tr, "Instances")
    src = _store(t, (tr, "Instances"), "was_at", "INSTANCE", "FLOAT_VECTOR", (cap, "Attribute"))
    src = _store(t, src, "which", "INSTANCE", "INT", (cap, "Attribute_1"))
    realize = t.node("GeometryNodeRealizeInstances")
    t.link(src, realize, "Geometry")
    t.output((realize, "Geometry"))
    sets = [{"Offset": (2.0, 0.0, 0.0)}, {"Offset": (0.5, -1.0, 0.25)}]
    assert check_parity(t.object(), sets, attributes=["was_at", "which"]) == 2


@requires_bpy
def test_capture_batch_equals_singles():
    module = translate_object(_mesh_program("POINT"))
    ks = torch.tensor([0.5, -0.3, 0.0], dtype=torch.float64)
    batch = module.program({}, {"Size": torch.ones(3, dtype=torch.float64), "K": ks, "J": torch.full((3,), 0.1, dtype=torch.float64)})
    for i, k in enumerate(ks.tolist()):
        single = module.program(*split_values(module, {"Size": 1.0, "K": k, "J": 0.1}))
        torch.testing.assert_close(batch.verts[i], single.verts[0])
        torch.testing.assert_close(batch.attributes["cap_pos_p"].data[i], single.attributes["cap_pos_p"].data[0])


def test_captured_values_carry_gradients():
    with rt.eval_context(torch.float64):
        size = torch.tensor([1.5], dtype=torch.float64, requires_grad=True)
        geo, _ = mesh_grid(size_x=size, vertices_x=3, vertices_y=2)
        pos = rt.Field(lambda f: f.mesh.verts, "VECTOR")
        out = E.capture_attribute(geo, "POINT", [{"data_type": "FLOAT_VECTOR"}], value=pos)
        got, field = out[0], out[1]
        value = rt.eval_field(field, rt.FieldContext("FACE", got.mesh.num_faces, mesh=got.mesh), "VECTOR")
        value.sum().backward()
        assert size.grad is not None and torch.isfinite(size.grad).all()
        assert not any(name.startswith(".capture") for name in rt.run(lambda: (got,), (), None, None).attributes)


@requires_bpy
@pytest.mark.parametrize("src", ["POINT", "FACE", "CORNER", "EDGE"])
def test_edge_domain_interpolation_parity(src):
    """Float and boolean values stored on ``src`` read back on every other mesh domain (the EDGE ones new)."""
    t = Tree()
    grid = t.node("GeometryNodeMeshGrid", **{"Vertices X": 4, "Vertices Y": 3})
    line = t.node("GeometryNodeMeshLine", Count=3)  # loose edges and points
    join = t.node("GeometryNodeJoinGeometry")
    t.link((grid, "Mesh"), join, "Geometry")
    t.link((line, "Mesh"), join, "Geometry")
    scaled = t.node("ShaderNodeMath", operation="MULTIPLY")
    t.link(t.node("GeometryNodeInputIndex"), scaled, "Value")
    t.link(t.input("K", "NodeSocketFloat", 0.5), scaled, "Value_001")
    odd = t.node("ShaderNodeMath", operation="FLOORED_MODULO", Value_001=2.0)
    t.link(t.node("GeometryNodeInputIndex"), odd, "Value")
    src_geo = _store(t, (join, "Geometry"), "f", src, "FLOAT", (scaled, "Value"))
    src_geo = _store(t, src_geo, "b", src, "BOOLEAN", (odd, "Value"))
    names = []
    for dst in ("POINT", "EDGE", "FACE", "CORNER"):
        if dst == src:
            continue
        for name, dt in (("f", "FLOAT"), ("b", "BOOLEAN")):
            read = t.node("GeometryNodeInputNamedAttribute", data_type=dt, Name=name)
            src_geo = _store(t, src_geo, f"{name}_{dst}", dst, dt, (read, "Attribute"))
            names.append(f"{name}_{dst}")
    t.output(src_geo)
    assert check_parity(t.object(), [{"K": 0.5}, {"K": -1.25}], attributes=names) == 2
