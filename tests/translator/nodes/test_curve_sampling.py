"""Sample Curve (Factor and Length modes, by curve index and over all curves, FLOAT and FLOAT_VECTOR values) read
on the points of a mesh line: the sampled position, tangent, normal and value move the line's points; joined
POLY, BEZIER and cyclic curves; Blender parity, batched like single evaluations, float64 gradchecks."""

from __future__ import annotations

import pytest
import torch

from tests.fixtures.parity import Tree, batch_and_singles, check_parity, requires_bpy, translate_object
from tests.fixtures.probes import draw_sets
from tests.translator.nodes.test_curve_ops import _start
from translator import runtime as rt
from translator.nodes import curve_primitives as CP
from translator.nodes import curve_sampling as CS
from translator.nodes import curves as C
from translator.nodes.fields import evaluate, mesh_context
from translator.nodes.primitives import mesh_line
from translator.nodes.transform import join_geometry


def _program(kind: str, mode: str, all_curves: bool, data_type: str, output: str):
    t = Tree()
    curves = _start(t, kind)
    tilt = t.node("GeometryNodeSetCurveTilt")  # normals turned by a tilt
    t.link(curves, tilt, "Curve")
    t.link(t.input("Tilt", "NodeSocketFloat", 0.3), tilt, "Tilt")
    sc = t.node("GeometryNodeSampleCurve", mode=mode, use_all_curves=all_curves, data_type=data_type)
    t.link((tilt, "Curve"), sc, "Curves")
    read = t.node("GeometryNodeInputNamedAttribute", data_type=data_type, Name="w")
    if data_type == "FLOAT_VECTOR":  # a vector attribute: store one first
        store = t.node("GeometryNodeStoreNamedAttribute", data_type="FLOAT_VECTOR", domain="POINT", Name="w")
        t.link((tilt, "Curve"), store, "Geometry")
        t.link((t.node("GeometryNodeInputPosition"), "Position"), store, "Value")
        t.link((store, "Geometry"), sc, "Curves")
    if data_type == "INT":  # the point index
        t.link(t.node("GeometryNodeInputIndex"), sc, "Value")
    elif data_type == "BOOLEAN":  # every other point
        mod = t.node("ShaderNodeMath", operation="MODULO", Value_001=2.0)
        t.link(t.node("GeometryNodeInputIndex"), mod, "Value")
        t.link((mod, "Value"), sc, "Value")
    else:
        t.link((read, "Attribute"), sc, "Value")
    # the samples: a mesh line of 13 points, Factor / Length from the index
    line = t.node("GeometryNodeMeshLine", Count=13, Offset=(0.0, 0.0, 0.0))
    mul = t.node("ShaderNodeMath", operation="MULTIPLY_ADD")
    t.link(t.node("GeometryNodeInputIndex"), mul, "Value")
    t.link(t.input("Step", "NodeSocketFloat", 0.1), mul, "Value_001")
    t.link(t.input("From", "NodeSocketFloat", -0.1), mul, "Value_002")
    t.link((mul, "Value"), sc, "Factor" if mode == "FACTOR" else "Length")
    if not all_curves:
        idx = t.node("ShaderNodeMath", operation="MODULO")
        t.link(t.node("GeometryNodeInputIndex"), idx, "Value")
        t.link(t.input("Modulo", "NodeSocketFloat", 5.0), idx, "Value_001")
        t.link((idx, "Value"), sc, "Curve Index")
    out = (sc, output)
    if output == "Value" and data_type != "FLOAT_VECTOR":
        xyz = t.node("ShaderNodeCombineXYZ")
        t.link(out, xyz, "Y")
        out = (xyz, "Vector")
    sp = t.node("GeometryNodeSetPosition")
    t.link((line, "Mesh"), sp, "Geometry")
    t.link(out, sp, "Position")
    anchor = t.node("GeometryNodeMeshLine", Count=2, Offset=(2.0, 2.0, 2.0))
    join = t.node("GeometryNodeJoinGeometry")
    t.link((sp, "Geometry"), join, "Geometry")
    t.link((anchor, "Mesh"), join, "Geometry")
    t.output((join, "Geometry"))
    return t.object()


def _sets(obj, mode: str, seed: int, count: int = 4) -> list[dict]:
    step = 0.1 if mode == "FACTOR" else 0.5
    spec = {"Middle": ("vector", -1.0, 2.0), "Start Handle": ("vector", -1.5, 1.5), "K": ("float", -0.5, 0.5),
            "Tilt": ("float", -2.0, 2.0), "Step": ("float", 0.3 * step, 1.5 * step), "From": ("float", -2 * step, step)}
    names = {i.name for i in obj.modifiers[0].node_group.interface.items_tree if i.item_type == "SOCKET" and i.in_out == "INPUT"}
    sets = draw_sets(seed, spec, count, [{"Step": step, "From": -step, "Modulo": 5.0}, {"Step": step, "From": 0.0, "Modulo": 3.0}])
    return [{k: v for k, v in s.items() if k in names} for s in sets]


@requires_bpy
@pytest.mark.parametrize("output", ["Value", "Position", "Tangent", "Normal"])
@pytest.mark.parametrize("all_curves", [False, True])
@pytest.mark.parametrize("mode", ["FACTOR", "LENGTH"])
def test_sample_curve_parity(mode, all_curves, output):
    obj = _program("joined", mode, all_curves, "FLOAT", output)
    sets = _sets(obj, mode, 5)
    assert check_parity(obj, sets) == len(sets)


@requires_bpy
@pytest.mark.parametrize("data_type", ["FLOAT_VECTOR", "INT", "BOOLEAN"])
@pytest.mark.parametrize("kind", ["bezier_cyclic", "circle", "fillet_open", "joined"])
def test_sample_curve_value_types_parity(kind, data_type):
    obj = _program(kind, "FACTOR", False, data_type, "Value")
    sets = _sets(obj, "FACTOR", 6)
    assert check_parity(obj, sets) == len(sets)


@requires_bpy
def test_sample_curve_batch_equals_singles():
    obj = _program("joined", "LENGTH", True, "FLOAT", "Normal")
    module = translate_object(obj)
    sets = _sets(obj, "LENGTH", 8)
    batch, singles = batch_and_singles(module, sets)
    torch.testing.assert_close(batch, singles)


@pytest.mark.parametrize("all_curves", [False, True])
def test_sample_curve_gradcheck(all_curves):
    with rt.eval_context(torch.float64):
        def sample(h, m, f):
            geo = join_geometry([CP.bezier_segment(resolution=4, start_handle=h), C.set_curve_tilt(CP.quadratic_bezier(5, middle=m),
                                                                                                     tilt=m[:, 0])])
            line = mesh_line(count=7).mesh
            fctx = mesh_context(line, "POINT")
            amount = rt.Field(lambda ctx: f.reshape(-1, 1) * torch.linspace(0.05, 0.97, 7, dtype=torch.float64), "VALUE")
            index = rt.Field(lambda ctx: torch.tensor([[0, 1, 0, 1, 0, 1, 0]]), "INT")
            outs = CS.sample_curve("FACTOR", all_curves, "FLOAT", geo, value=m[:, 1], factor=amount, curve_index=index)
            return tuple(evaluate(o, fctx, "VECTOR" if k else "VALUE") for k, o in enumerate(outs))

        h = torch.tensor([[-0.5, 0.5, 0.2], [-0.4, 0.6, -0.1]], dtype=torch.float64, requires_grad=True)
        m = torch.tensor([[0.1, 1.5, 0.3], [0.2, 2.0, -0.2]], dtype=torch.float64, requires_grad=True)
        f = torch.tensor([0.93, 0.97], dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(sample, (h, m, f), fast_mode=True, atol=1e-7)


def _points_program(kind: str, mode: str, output: str):
    """Curve to Points, then a small cube instanced on every point (rotated by the Rotation output, or the points
    moved along the Tangent / Normal output first), realized beside a fixed anchor."""
    t = Tree()
    src = _start(t, kind)
    tilt = t.node("GeometryNodeSetCurveTilt")
    t.link(src, tilt, "Curve")
    t.link(t.input("Tilt", "NodeSocketFloat", 0.3), tilt, "Tilt")
    c2p = t.node("GeometryNodeCurveToPoints", mode=mode)
    t.link((tilt, "Curve"), c2p, "Curve")
    if mode == "COUNT":
        t.link(t.input("Count", "NodeSocketInt", 7), c2p, "Count")
    elif mode == "LENGTH":
        t.link(t.input("Length", "NodeSocketFloat", 0.3), c2p, "Length")
    pts = (c2p, "Points")
    iop = t.node("GeometryNodeInstanceOnPoints")
    if output in ("Tangent", "Normal"):
        sp = t.node("GeometryNodeSetPosition")
        t.link(pts, sp, "Geometry")
        t.link((c2p, output), sp, "Offset")
        pts = (sp, "Geometry")
    else:
        t.link((c2p, "Rotation"), iop, "Rotation")
    cube = t.node("GeometryNodeMeshCube", Size=(0.1, 0.2, 0.3))
    t.link(pts, iop, "Points")
    t.link((cube, "Mesh"), iop, "Instance")
    real = t.node("GeometryNodeRealizeInstances")
    t.link((iop, "Instances"), real, "Geometry")
    anchor = t.node("GeometryNodeMeshLine", Count=2, Offset=(2.0, 2.0, 2.0))
    join = t.node("GeometryNodeJoinGeometry")
    t.link((real, "Geometry"), join, "Geometry")
    t.link((anchor, "Mesh"), join, "Geometry")
    t.output((join, "Geometry"))
    return t.object()


@requires_bpy
@pytest.mark.parametrize("output", ["Rotation", "Tangent", "Normal"])
@pytest.mark.parametrize("mode", ["COUNT", "LENGTH", "EVALUATED"])
@pytest.mark.parametrize("kind", ["joined", "circle"])
def test_curve_to_points_parity(kind, mode, output):
    obj = _points_program(kind, mode, output)
    sets = _sets(obj, "FACTOR", 7, 3)
    if mode == "COUNT":
        sets = [s | {"Count": n} for s in sets for n in (1, 2, 9)]
    elif mode == "LENGTH":
        sets = [s | {"Length": v} for s in sets for v in (0.07, 0.5, 10.0)]
    assert check_parity(obj, sets) == len(sets)


def test_curve_to_points_gradcheck():
    from translator.nodes.instances import instance_on_points, realize

    with rt.eval_context(torch.float64):
        def points(h, m):
            geo = join_geometry([CP.bezier_segment(resolution=4, start_handle=h), C.set_curve_tilt(CP.quadratic_bezier(5, middle=m),
                                                                                                     tilt=m[:, 0])])
            pts, tangent, normal, rotation = CS.curve_to_points("COUNT", geo, count=5)
            cube = mesh_line(count=2, offset=(0.1, 0.2, 0.3))
            inst = instance_on_points(pts, instance=cube, rotation=rotation)
            fctx = mesh_context(pts.points, "POINT")
            return realize(inst).mesh.verts, evaluate(tangent, fctx, "VECTOR"), evaluate(normal, fctx, "VECTOR")

        h = torch.tensor([[-0.5, 0.5, 0.2], [-0.4, 0.6, -0.1]], dtype=torch.float64, requires_grad=True)
        m = torch.tensor([[0.1, 1.5, 0.3], [0.2, 2.0, -0.2]], dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(points, (h, m), fast_mode=True, atol=1e-7)


@requires_bpy
def test_curve_to_points_attributes_parity():
    """Curve to Points keeps the curves' point attributes (radius and a stored float, resampled) and a value
    stored on the point cloud afterwards; both scale the instances (instance attributes read by Scale)."""
    t = Tree()
    src = _start(t, "joined")
    rad = t.node("GeometryNodeSetCurveRadius")
    t.link(src, rad, "Curve")
    t.link(t.input("Radius", "NodeSocketFloat", 0.5), rad, "Radius")
    c2p = t.node("GeometryNodeCurveToPoints", mode="COUNT", Count=6)
    t.link((rad, "Curve"), c2p, "Curve")
    store = t.node("GeometryNodeStoreNamedAttribute", data_type="FLOAT", domain="POINT", Name="s")
    t.link((c2p, "Points"), store, "Geometry")
    t.link(t.node("GeometryNodeInputIndex"), store, "Value")
    iop = t.node("GeometryNodeInstanceOnPoints")
    t.link((store, "Geometry"), iop, "Points")
    t.link((t.node("GeometryNodeMeshCube", Size=(0.1, 0.2, 0.3)), "Mesh"), iop, "Instance")
    xyz = t.node("ShaderNodeCombineXYZ")
    t.link((t.node("GeometryNodeInputRadius"), "Radius"), xyz, "X")
    t.link((t.node("GeometryNodeInputNamedAttribute", data_type="FLOAT", Name="s"), "Attribute"), xyz, "Y")
    t.link((t.node("GeometryNodeInputNamedAttribute", data_type="FLOAT", Name="w"), "Attribute"), xyz, "Z")
    t.link((xyz, "Vector"), iop, "Scale")
    real = t.node("GeometryNodeRealizeInstances")
    t.link((iop, "Instances"), real, "Geometry")
    t.output((real, "Geometry"))
    obj = t.object()
    sets = [s | {"Radius": r} for s in _sets(obj, "FACTOR", 9, 2) for r in (0.5, 1.5)]
    assert check_parity(obj, sets) == len(sets)


@requires_bpy
def test_curve_to_points_batch_equals_singles():
    obj = _points_program("joined", "COUNT", "Rotation")
    module = translate_object(obj)
    sets = [s | {"Count": 5} for s in _sets(obj, "FACTOR", 3)]
    batch, singles = batch_and_singles(module, sets)
    torch.testing.assert_close(batch, singles)
