"""Set Shade Smooth (faces and edges, selections, over primitives that start flat) and Flip Faces
(selections; corner attributes move with their corners): Blender parity, batched like single evaluations;
a selection that varies across the batch splits it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.fixtures.parity import (
    Tree,
    check_parity,
    evaluate_blender_attributes,
    requires_bpy,
    set_inputs,
    split_values,
    translate_object,
)
from translator import runtime as rt
from translator.nodes import mesh_ops as O
from translator.nodes.primitives import mesh_grid


def _selection(t: Tree, threshold_name: str, modulo: bool = False):
    """``Index % 3 == 1`` (modulo) or ``Index > threshold`` (a group input)."""
    if modulo:
        mod = t.node("ShaderNodeMath", operation="FLOORED_MODULO", Value_001=3.0)
        t.link(t.node("GeometryNodeInputIndex"), mod, "Value")
        cmp = t.node("FunctionNodeCompare", data_type="FLOAT", operation="EQUAL", B=1.0)
        t.link((mod, "Value"), cmp, "A")
        return (cmp, "Result")
    return (t.index_compare(t.input(threshold_name, "NodeSocketFloat", 2.0)), "Value")


def _shade_program(domain: str, prim: str):
    t = Tree()
    if prim == "cube":
        src = (t.node("GeometryNodeMeshCube", **{"Vertices X": 3, "Vertices Y": 2, "Vertices Z": 2}), "Mesh")
    else:
        src = (t.node("GeometryNodeMeshCylinder", fill_type="TRIANGLE_FAN", Vertices=6), "Mesh")
    ss = t.node("GeometryNodeSetShadeSmooth", domain=domain)
    t.link(src, ss, "Geometry")
    t.link(_selection(t, "Threshold"), ss, "Selection")
    t.link(t.input("Smooth", "NodeSocketBool", True), ss, "Shade Smooth")
    t.output((ss, "Geometry"))
    return t.object()


def _sharp_values(obj, name: str) -> np.ndarray | None:
    attrs, _ = evaluate_blender_attributes(obj, [name])
    return None if attrs[name] is None else attrs[name].data.astype(bool)


@requires_bpy
@pytest.mark.parametrize("prim", ["cube", "cylinder"])
@pytest.mark.parametrize("domain", ["FACE", "EDGE"])
def test_set_shade_smooth_parity(domain, prim):
    obj = _shade_program(domain, prim)
    module = translate_object(obj)
    name = "sharp_face" if domain == "FACE" else "sharp_edge"
    for values in [{"Threshold": th, "Smooth": sm} for th in (-1.0, 2.0, 5.5, 100.0) for sm in (True, False)]:
        set_inputs(obj, values)
        mesh = module.program(*split_values(module, values))
        check_parity(obj, [values], module)
        n = mesh.domain_size(domain)
        blender = _sharp_values(obj, name)
        ours = mesh.attributes.get(name)
        # Blender drops an all-false sharp attribute; absent means false everywhere
        expect = np.zeros(n, dtype=bool) if blender is None else blender
        got = np.zeros(n, dtype=bool) if ours is None else ours.data[0].numpy()
        assert (got == expect).all(), values
        if domain == "EDGE":  # the faces stay flat
            assert _sharp_values(obj, "sharp_face").all() and mesh.attributes["sharp_face"].data.all()


def _flip_program(modulo: bool):
    t = Tree()
    grid = t.node("GeometryNodeMeshGrid", **{"Vertices X": 4, "Vertices Y": 3})
    t.link(t.input("Size", "NodeSocketFloat", 1.0), grid, "Size X")
    store = t.node("GeometryNodeStoreNamedAttribute", data_type="FLOAT_VECTOR", domain="CORNER", Name="uv")
    t.link((grid, "Mesh"), store, "Geometry")
    t.link((grid, "UV Map"), store, "Value")
    cube = t.node("GeometryNodeMeshCube")
    join = t.node("GeometryNodeJoinGeometry")
    t.link((store, "Geometry"), join, "Geometry")
    t.link((cube, "Mesh"), join, "Geometry")
    flip = t.node("GeometryNodeFlipFaces")
    t.link((join, "Geometry"), flip, "Mesh")
    t.link(_selection(t, "Threshold", modulo), flip, "Selection")
    t.output((flip, "Mesh"))
    return t.object()


@requires_bpy
@pytest.mark.parametrize("modulo", (False, True))
def test_flip_faces_parity(modulo):
    obj = _flip_program(modulo)
    sets = [{"Size": s, "Threshold": th} for s in (1.0, 2.5) for th in (-1.0, 3.0, 7.5)] if not modulo else \
        [{"Size": s} for s in (0.5, 2.0)]
    assert check_parity(obj, sets, attributes=["uv"]) == len(sets)


def test_flip_faces_reverses_all_but_the_first_corner():
    with rt.eval_context(torch.float64):
        geo, _ = mesh_grid(vertices_x=3, vertices_y=2, size_x=torch.tensor([1.0, 2.0], dtype=torch.float64))
        before = geo.mesh.polygons()
        out = O.flip_faces(geo).mesh
        assert out.polygons() == [[p[0], *p[:0:-1]] for p in before]
        assert torch.equal(out.verts, geo.mesh.verts)
        sel = rt.Field(lambda f: torch.tensor([[True, False]]), "BOOLEAN")
        part = O.flip_faces(geo, sel).mesh.polygons()
        assert part[0] == [before[0][0], *before[0][:0:-1]] and part[1] == before[1]
        varying = rt.Field(lambda f: torch.tensor([[True, False], [False, True]]), "BOOLEAN")
        with pytest.raises(rt.TopologyVaries):
            O.flip_faces(geo, varying)


def _scale_program(domain: str, mode: str, center: bool, fields: bool):
    """A grid and a cube joined (several islands), displaced, then Scale Elements on faces or edges."""
    t = Tree()
    join = t.node("GeometryNodeJoinGeometry")
    t.link((t.node("GeometryNodeMeshGrid", **{"Vertices X": 4, "Vertices Y": 3}), "Mesh"), join, "Geometry")
    t.link((t.node("GeometryNodeMeshCube", **{"Vertices X": 3, "Vertices Y": 2, "Vertices Z": 2}), "Mesh"), join, "Geometry")
    rv = t.node("FunctionNodeRandomValue", data_type="FLOAT_VECTOR", Min=(-0.2, -0.2, -0.2), Max=(0.2, 0.2, 0.2))
    sp = t.node("GeometryNodeSetPosition")
    t.link((join, "Geometry"), sp, "Geometry")
    t.link((rv, "Value"), sp, "Offset")
    se = t.node("GeometryNodeScaleElements", domain=domain, **{"Scale Mode": mode})
    t.link((sp, "Geometry"), se, "Geometry")
    t.link(_selection(t, "Threshold"), se, "Selection")
    if fields:
        t.link(t.wave_fields(t.input("K", "NodeSocketFloat", 0.5), t.input("J", "NodeSocketFloat", 0.1))[1], se, "Scale")
        t.link(t.wave_fields(t.input("K2", "NodeSocketFloat", 1.0), t.input("J2", "NodeSocketFloat", 0.2))[0], se, "Axis")
    else:
        t.link(t.input("Scale", "NodeSocketFloat", 1.5), se, "Scale")
        t.link(t.input("Axis", "NodeSocketVector", (1.0, 0.5, 0.0)), se, "Axis")
    if center:
        t.link(t.input("Center", "NodeSocketVector", (0.1, 0.2, 0.3)), se, "Center")
    t.output((se, "Geometry"))
    return t.object()


@requires_bpy
@pytest.mark.parametrize("fields", [False, True])
@pytest.mark.parametrize("center", [False, True])
@pytest.mark.parametrize("mode", ["Uniform", "Single Axis"])
@pytest.mark.parametrize("domain", ["FACE", "EDGE"])
def test_scale_elements_parity(domain, mode, center, fields):
    obj = _scale_program(domain, mode, center, fields)
    spec = {"Threshold": ("float", -1.0, 20.0)}
    spec |= {"K": ("float", -1.0, 1.0), "J": ("float", -0.3, 0.3), "K2": ("float", -1.0, 1.0), "J2": ("float", -0.3, 0.3)} \
        if fields else {"Scale": ("float", -0.5, 2.0), "Axis": ("vector", -1.0, 1.0)}
    if center:
        spec["Center"] = ("vector", -1.0, 1.0)
    fixed = [{"Threshold": -1.0, **({"Axis": (0.0, 0.0, 0.0)} if not fields else {})}]
    rng_sets = [dict(s) for s in fixed]
    from tests.fixtures.probes import draw_sets

    sets = draw_sets(11, spec, 4, rng_sets)
    assert check_parity(obj, sets) == len(sets)


@requires_bpy
def test_scale_elements_batch_and_gradcheck():
    module = translate_object(_scale_program("FACE", "Single Axis", True, False))
    scale = torch.tensor([0.5, 1.5, 2.0], dtype=torch.float64)
    center = torch.tensor([[0.1, 0.2, 0.3], [0.0, -0.5, 0.2], [1.0, 1.0, 1.0]], dtype=torch.float64)
    axis = torch.tensor([[1.0, 0.5, 0.0]] * 3, dtype=torch.float64)
    batch = module.program({}, {"Scale": scale, "Center": center, "Axis": axis, "Threshold": torch.full((3,), 4.0,
                                                                                                      dtype=torch.float64)})
    for i in range(3):
        single = module.program(*split_values(module, {"Scale": float(scale[i]), "Center": tuple(center[i].tolist()),
                                                       "Axis": (1.0, 0.5, 0.0), "Threshold": 4.0}))
        torch.testing.assert_close(batch.verts[i], single.verts[0])
    with rt.eval_context(torch.float64):
        from translator.nodes.fields import index, position

        s = torch.tensor([0.7], dtype=torch.float64, requires_grad=True)
        ax = torch.tensor([[0.3, 1.0, -0.2]], dtype=torch.float64, requires_grad=True)
        sel = rt.field_map(lambda i: i > 2, [index()], ["INT"], "BOOLEAN")

        def run(s, ax):
            g = mesh_grid(size_x=2.0, size_y=1.0, vertices_x=4, vertices_y=3)[0]
            return O.scale_elements(g, selection=sel, scale=s, center=position(), scale_mode="Single Axis", axis=ax).mesh.verts

        assert torch.autograd.gradcheck(run, (s, ax))


@requires_bpy
def test_mesh_boolean_is_refused_in_one_line():
    from translator.codegen import UnsupportedNodesError

    t = Tree()
    boolean = t.node("GeometryNodeMeshBoolean", operation="DIFFERENCE")
    t.link((t.node("GeometryNodeMeshCube"), "Mesh"), boolean, "Mesh 1")
    t.link((t.node("GeometryNodeMeshUVSphere"), "Mesh"), boolean, "Mesh 2")
    t.output((boolean, "Mesh"))
    with pytest.raises(UnsupportedNodesError) as err:
        translate_object(t.object())
    msg = str(err.value)
    assert "\n" not in msg and "GeometryNodeMeshBoolean" in msg and "intersection" in msg


@requires_bpy
def test_convex_hull_is_refused_in_one_line():
    from translator.codegen import UnsupportedNodesError

    t = Tree()
    hull = t.node("GeometryNodeConvexHull")
    t.link((t.node("GeometryNodeMeshUVSphere"), "Mesh"), hull, "Geometry")
    t.output((hull, "Convex Hull"))
    with pytest.raises(UnsupportedNodesError) as err:
        translate_object(t.object())
    msg = str(err.value)
    assert "\n" not in msg and "GeometryNodeConvexHull" in msg and "Bullet" in msg
