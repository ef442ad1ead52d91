"""Instance on Points, Realize Instances, Translate / Rotate / Scale Instances: Blender parity
(rotations, scales, selections, Pick Instance, nested instances, attribute propagation), the
fast realize against a slow per-instance reference, batching, and float64 gradchecks."""

from __future__ import annotations

import random

import pytest
import torch

from tests.fixtures import parity as P
from tests.fixtures.parity import requires_bpy
from translator import runtime as rt
from translator.geometry import Attribute, GeometrySet, Instances, transform_points
from translator.nodes import instances as I
from translator.nodes import primitives
from translator.nodes.transform import loc_rot_scale

SEED = 4321


def _vec(rng, lo, hi):
    return tuple(rng.uniform(lo, hi) for _ in range(3))


def _signed_scale(rng):
    return tuple(rng.choice((-1, 1)) * rng.uniform(0.3, 2.0) for _ in range(3))


def _realized(t: P.Tree, geometry_src):
    realize = t.node("GeometryNodeRealizeInstances")
    t.link(geometry_src, realize, "Geometry")
    t.output(realize)
    return realize


# ---------------------------------------------------------------------------
# Instance on Points


@requires_bpy
def test_instance_on_points_rotation_scale_selection_parity():
    """Rotation and scale as fields (per point), a selection that changes which points get
    instances, a grid as points and a cube as instance."""
    t = P.Tree()
    grid = t.node("GeometryNodeMeshGrid", **{"Vertices X": 3, "Vertices Y": 4})
    t.link(t.input("Size", "NodeSocketFloat", 2.0), grid, "Size X")
    cube = t.node("GeometryNodeMeshCube", **{"Vertices X": 2, "Vertices Y": 3})
    t.link(t.input("CubeSize", "NodeSocketVector", (0.3, 0.3, 0.3)), cube, "Size")
    iop = t.node("GeometryNodeInstanceOnPoints")
    t.link((grid, "Mesh"), iop, "Points")
    t.link((cube, "Mesh"), iop, "Instance")
    t.link(t.index_compare(t.input("Threshold", "NodeSocketFloat", 2.0)), iop, "Selection")
    t.link(t.position_times(t.input("Spin", "NodeSocketFloat", 1.0)), iop, "Rotation")
    t.link(t.input("Scale", "NodeSocketVector", (1, 1, 1)), iop, "Scale")
    _realized(t, iop)
    rng = random.Random(SEED)
    sets = [{"Size": rng.uniform(0.5, 3), "CubeSize": _vec(rng, 0.1, 1), "Threshold": rng.uniform(-1, 12),
             "Spin": rng.uniform(-3, 3), "Scale": _signed_scale(rng)} for _ in range(24)]
    assert P.check_parity(t.object(), sets) == 24


def _instance_library(t: P.Tree):
    """Instances of a cube and a grid (each with its material) at different places: the geometry
    to pick from."""
    import bpy

    join = t.node("GeometryNodeJoinGeometry")
    cube = t.node("GeometryNodeSetMaterial", Material=bpy.data.materials.new("CubeMat"))
    t.link((t.node("GeometryNodeMeshCube", Size=(0.4, 0.2, 0.3)), "Mesh"), cube, "Geometry")
    grid = t.node("GeometryNodeSetMaterial", Material=bpy.data.materials.new("GridMat"))
    t.link((t.node("GeometryNodeMeshGrid", **{"Vertices X": 2, "Vertices Y": 3, "Size X": 0.5}), "Mesh"), grid, "Geometry")
    for count, offset, inst, rot in ((2, (1.0, 0.0, 0.0), cube, (0.3, 0.0, 0.0)), (1, (0.0, 1.0, 0.0), grid, (0.0, 0.5, 0.2)),
                                     (2, (0.0, 0.0, 1.0), grid, (0.1, 0.0, -0.4))):
        iop = t.instances_on_line(inst, count, Offset=offset)
        iop.inputs["Rotation"].default_value = rot
        t.link(iop, join, "Geometry")
    return join


@requires_bpy
@pytest.mark.parametrize("index_mode", ["implicit", "field", "id"])
def test_pick_instance_parity(index_mode):
    """Pick Instance by a field, by the point index (implicit) or by the points' "id" attribute
    (implicit when it exists)."""
    t = P.Tree()
    line = t.node("GeometryNodeMeshLine")
    t.link(t.input("Count", "NodeSocketInt", 7), line, "Count")
    t.link(t.input("Offset", "NodeSocketVector", (2.0, 0.0, 0.0)), line, "Offset")
    points = (line, "Mesh")
    if index_mode == "id":
        ids = t.node("GeometryNodeStoreNamedAttribute", data_type="INT", domain="POINT", Name="id")
        t.link(points, ids, "Geometry")
        t.link(t.index_compare(t.input("Shift", "NodeSocketFloat", 0.0), operation="SUBTRACT"), ids, "Value")
        points = ids
    iop = t.node("GeometryNodeInstanceOnPoints")
    t.link(points, iop, "Points")
    t.link(_instance_library(t), iop, "Instance")
    t.link(t.index_compare(t.input("PickFrom", "NodeSocketFloat", 1.0)), iop, "Pick Instance")
    if index_mode == "field":  # index * 3 - shift: negative and large values wrap around
        mul = t.node("ShaderNodeMath", operation="MULTIPLY_ADD")
        t.link(t.node("GeometryNodeInputIndex"), mul, "Value")
        mul.inputs[1].default_value = 3.0
        t.link(t.input("Shift", "NodeSocketFloat", -4.0), mul, "Value_002")
        t.link(mul, iop, "Instance Index")
    t.link(t.input("Rot", "NodeSocketVector"), iop, "Rotation")
    t.link(t.input("Scale", "NodeSocketVector", (1, 1, 1)), iop, "Scale")
    _realized(t, iop)
    rng = random.Random(SEED + 1)
    sets = []
    for _ in range(20):
        v = {"Count": rng.randint(1, 9), "Offset": _vec(rng, -2, 2), "PickFrom": rng.uniform(-1, 6),
             "Rot": _vec(rng, -3, 3), "Scale": _signed_scale(rng)}
        if index_mode != "implicit":
            v["Shift"] = float(rng.randint(-20, 20))
        sets.append(v)
    # material slots follow the order in which picked references are first used
    assert P.check_parity(t.object(), sets, attributes=["material_index"]) == 20


@requires_bpy
def test_nested_instances_parity():
    """Instances of instances (a grid of IoP results) and points inside instances (IoP applied to
    a geometry that already holds instances: its meshes get instances, its instances stay)."""
    t = P.Tree()
    small = t.node("GeometryNodeInstanceOnPoints")
    line = t.node("GeometryNodeMeshLine", Count=3)
    t.link(t.input("Offset", "NodeSocketVector", (0.3, 0.0, 0.0)), line, "Offset")
    cube = t.node("GeometryNodeMeshCube", Size=(0.1, 0.2, 0.1))
    t.link((line, "Mesh"), small, "Points")
    t.link((cube, "Mesh"), small, "Instance")
    t.link(t.input("InnerRot", "NodeSocketVector"), small, "Rotation")
    grid = t.node("GeometryNodeMeshGrid", **{"Vertices X": 2, "Vertices Y": 2})
    big = t.node("GeometryNodeInstanceOnPoints")
    t.link((grid, "Mesh"), big, "Points")
    t.link(small, big, "Instance")
    t.link(t.input("OuterRot", "NodeSocketVector"), big, "Rotation")
    t.link(t.input("OuterScale", "NodeSocketVector", (1, 1, 1)), big, "Scale")
    # points that hold instances: the grid mesh joined with instances of lines
    holder = t.node("GeometryNodeJoinGeometry")
    t.link(big, holder, "Geometry")
    t.link((t.node("GeometryNodeMeshLine", Count=2, Offset=(0, 0, 2)), "Mesh"), holder, "Geometry")
    third = t.node("GeometryNodeInstanceOnPoints")
    t.link(holder, third, "Points")
    t.link((t.node("GeometryNodeMeshGrid", **{"Vertices X": 2, "Vertices Y": 2, "Size X": 0.2, "Size Y": 0.2}), "Mesh"),
           third, "Instance")
    t.link(t.input("ThirdScale", "NodeSocketVector", (1, 1, 1)), third, "Scale")
    _realized(t, third)
    rng = random.Random(SEED + 2)
    sets = [{"Offset": _vec(rng, -1, 1), "InnerRot": _vec(rng, -3, 3), "OuterRot": _vec(rng, -3, 3),
             "OuterScale": _signed_scale(rng), "ThirdScale": _vec(rng, 0.2, 2)} for _ in range(20)]
    assert P.check_parity(t.object(), sets) == 20


@requires_bpy
@pytest.mark.parametrize("single", [False, True])
def test_attributes_propagate_through_instances(single):
    """Point attributes of the points become instance attributes, which realize puts on the
    points of each instance where its mesh lacks them; mesh attributes and materials survive.
    ``single``: one instance and nothing else, so realize returns that one mesh transformed."""
    import bpy

    t = P.Tree()
    mat = bpy.data.materials.new("Wood")
    line = t.node("GeometryNodeMeshLine", Count=1 if single else 4)
    t.link(t.input("Offset", "NodeSocketVector", (1, 0, 0)), line, "Offset")
    store_p = t.node("GeometryNodeStoreNamedAttribute", data_type="FLOAT", domain="POINT", Name="weight")
    t.link((line, "Mesh"), store_p, "Geometry")
    t.link(t.position_times(t.input("K", "NodeSocketFloat", 1.0)), store_p, "Value")
    store_shared = t.node("GeometryNodeStoreNamedAttribute", data_type="INT", domain="POINT", Name="tag")
    t.link(store_p, store_shared, "Geometry")
    t.link(t.node("GeometryNodeInputIndex"), store_shared, "Value")
    cube = t.node("GeometryNodeMeshCube", **{"Vertices X": 2})
    store_f = t.node("GeometryNodeStoreNamedAttribute", data_type="FLOAT_COLOR", domain="FACE", Name="tint")
    t.link((cube, "Mesh"), store_f, "Geometry")
    t.link(t.position_times(t.input("C", "NodeSocketFloat", 0.5)), store_f, "Value")
    store_tag = t.node("GeometryNodeStoreNamedAttribute", data_type="FLOAT", domain="FACE", Name="tag")
    t.link(store_f, store_tag, "Geometry")
    store_tag.inputs["Value"].default_value = 7.5
    set_mat = t.node("GeometryNodeSetMaterial", Material=mat)
    t.link(store_tag, set_mat, "Geometry")
    t.link(t.index_compare(t.input("MatFrom", "NodeSocketFloat", 2.0)), set_mat, "Selection")
    iop = t.node("GeometryNodeInstanceOnPoints")
    t.link(store_shared, iop, "Points")
    t.link(set_mat, iop, "Instance")
    join = t.node("GeometryNodeJoinGeometry")
    t.link(iop, join, "Geometry")
    if not single:
        t.link((t.node("GeometryNodeMeshGrid"), "Mesh"), join, "Geometry")
    _realized(t, join)
    rng = random.Random(SEED + 3)
    sets = [{"Offset": _vec(rng, -1, 1), "K": rng.uniform(-2, 2), "C": rng.uniform(-1, 1), "MatFrom": rng.uniform(-1, 7)}
            for _ in range(20)]
    assert P.check_parity(t.object(), sets, attributes=["weight", "tag", "tint", "material_index"]) == 20


@requires_bpy
def test_realize_selection_keeps_unselected_instances():
    """Realize Instances with a selection: the selected instances become the mesh, the others
    stay instances (not part of the evaluated mesh)."""
    t = P.Tree()
    iop = t.instances_on_line((t.node("GeometryNodeMeshCube"), "Mesh"), 6, Offset=(1, 0, 0))
    t.link(t.input("Rot", "NodeSocketVector"), iop, "Rotation")
    realize = t.node("GeometryNodeRealizeInstances")
    t.link(iop, realize, "Geometry")
    t.link(t.index_compare(t.input("From", "NodeSocketFloat", 2.0)), realize, "Selection")
    t.output(realize)
    rng = random.Random(SEED + 4)
    sets = [{"Rot": _vec(rng, -3, 3), "From": rng.uniform(-1, 6)} for _ in range(20)]
    assert P.check_parity(t.object(), sets) == 20


# ---------------------------------------------------------------------------
# Translate / Rotate / Scale Instances


def _transform_instances_program(kind: str):
    t = P.Tree()
    iop = t.instances_on_line((t.node("GeometryNodeMeshCube", Size=(0.5, 0.3, 0.2)), "Mesh"), 5,
                              t.input("Offset", "NodeSocketVector", (1, 0, 0)))
    t.link(t.input("BaseRot", "NodeSocketVector"), iop, "Rotation")
    t.link(t.input("BaseScale", "NodeSocketVector", (1, 1, 1)), iop, "Scale")
    node = t.node({"translate": "GeometryNodeTranslateInstances", "rotate": "GeometryNodeRotateInstances",
                   "scale": "GeometryNodeScaleInstances"}[kind])
    t.link(iop, node, "Instances")
    t.link(t.index_compare(t.input("From", "NodeSocketFloat", 1.0)), node, "Selection")
    t.link(t.input("Local", "NodeSocketBool", True), node, "Local Space")
    if kind == "translate":
        t.link(t.input("V", "NodeSocketVector"), node, "Translation")
    elif kind == "rotate":
        t.link(t.input("V", "NodeSocketVector"), node, "Rotation")
        t.link(t.input("Pivot", "NodeSocketVector"), node, "Pivot Point")
    else:
        t.link(t.input("V", "NodeSocketVector", (1, 1, 1)), node, "Scale")
        t.link(t.input("Pivot", "NodeSocketVector"), node, "Center")
    _realized(t, node)
    return t.object()


@requires_bpy
@pytest.mark.parametrize("kind", ["translate", "rotate", "scale"])
def test_transform_instances_parity(kind):
    obj = _transform_instances_program(kind)
    rng = random.Random(SEED + 5)
    sets = []
    for k in range(24):
        v = {"Offset": _vec(rng, -1, 1), "BaseRot": _vec(rng, -3, 3), "BaseScale": _signed_scale(rng),
             "From": rng.uniform(-1, 5), "Local": k % 2 == 0,
             "V": _signed_scale(rng) if kind == "scale" else _vec(rng, -2, 2)}
        if kind != "translate":
            v["Pivot"] = _vec(rng, -1, 1)
        sets.append(v)
    assert P.check_parity(obj, sets) == 24


# ---------------------------------------------------------------------------
# The fast realize against a slow, obviously correct one


def _slow_realize(geo: GeometrySet, name: str):
    """Per instance, recursively: transform the realized reference, concatenate; the attribute
    ``name`` (FLOAT on POINT) falls back to the innermost instance value that has it."""
    verts, faces, values, defined = [], [], [], []
    offset = 0

    def add(v, f, a, d):
        nonlocal offset
        verts.append(v)
        faces.extend([[i + offset for i in face] for face in f])
        values.append(a)
        defined.append(d)
        offset += v.shape[1]

    if geo.mesh is not None and geo.mesh.num_verts:
        m = geo.mesh
        attr = m.attributes.get(name)
        add(m.verts, m.polygons(), attr.data if attr is not None else torch.zeros(1, m.num_verts, dtype=m.verts.dtype),
            torch.full((m.num_verts,), attr is not None))
    inst = geo.instances
    if inst is not None:
        for i in range(inst.count):
            sub = _slow_realize(inst.references[inst.reference_index[i]], name)
            if sub is None:
                continue
            v, f, a, d = sub
            v = transform_points(v, inst.transforms[:, i])
            own = inst.attributes.get(name)
            if own is not None:
                a = torch.where(d, a, own.data[:, i : i + 1])
                d = torch.ones_like(d)
            add(v, f, a, d)
    if not verts:
        return None
    b = max(v.shape[0] for v in verts)
    cat = lambda xs: torch.cat([x.expand(b, *x.shape[1:]) for x in xs], 1)
    return cat(verts), faces, cat(values), torch.cat(defined)


def _random_geometry(rng: random.Random, depth: int, batch: int) -> GeometrySet:
    """A random geometry: maybe a mesh (cube or grid with a random attribute), maybe instances of
    random references (nested up to ``depth``), with random transforms and attributes."""
    mesh = None
    if rng.random() < 0.6:
        if rng.random() < 0.5:
            mesh = primitives.mesh_cube(size=(rng.uniform(0.2, 1),) * 3, vertices_x=rng.randint(2, 3), vertices_y=2, vertices_z=2)[0].mesh
        else:
            mesh = primitives.mesh_grid(size_x=1.0, size_y=0.5, vertices_x=rng.randint(2, 4), vertices_y=rng.randint(2, 3))[0].mesh
        mesh.attributes = {}
        if rng.random() < 0.5:
            mesh.attributes["w"] = Attribute("POINT", torch.randn(1, mesh.num_verts, dtype=torch.float64), "FLOAT")
    inst = None
    if depth > 0 and rng.random() < 0.8:
        refs = [_random_geometry(rng, depth - 1, batch) for _ in range(rng.randint(1, 3))]
        count = rng.randint(1, 6)
        idx = [rng.randrange(len(refs)) for _ in range(count)]
        t = loc_rot_scale(torch.randn(batch, count, 3, dtype=torch.float64), torch.randn(batch, count, 3, dtype=torch.float64),
                          torch.rand(batch, count, 3, dtype=torch.float64) + 0.5)
        attrs = {"w": Attribute("INSTANCE", torch.randn(batch, count, dtype=torch.float64), "FLOAT")} if rng.random() < 0.5 else {}
        inst = Instances(references=refs, reference_index=idx, transforms=t, attributes=attrs)
    return GeometrySet(mesh=mesh, instances=inst)


def test_realize_matches_slow_reference():
    rng = random.Random(SEED + 6)
    checked = 0
    with rt.eval_context(torch.float64):
        for _ in range(30):
            geo = _random_geometry(rng, depth=3, batch=2)
            slow = _slow_realize(geo, "w")
            fast = I.realize(geo).mesh
            if slow is None:
                assert fast is None
                continue
            v, faces, values, _ = slow
            torch.testing.assert_close(fast.verts.expand_as(v), v, atol=1e-10, rtol=0)
            assert fast.polygons() == faces
            if "w" in fast.attributes:
                torch.testing.assert_close(fast.attributes["w"].data.expand_as(values), values, atol=1e-12, rtol=0)
            checked += 1
    assert checked > 12


def test_instance_on_points_batch_matches_single_elements():
    """A batch of rotations and scales gives, element by element, what each alone gives."""
    with rt.eval_context(torch.float64):
        points = primitives.mesh_line(count=4, offset=(1.0, 0.5, 0.0))
        cube = primitives.mesh_cube(size=(0.3, 0.2, 0.1))[0]
        rot = torch.randn(3, 3, dtype=torch.float64)
        scale = torch.rand(3, 3, dtype=torch.float64) + 0.5
        batched = I.realize(I.instance_on_points(points=points, instance=cube, rotation=rot, scale=scale)).mesh.verts
        for k in range(3):
            single = I.realize(I.instance_on_points(points=points, instance=cube, rotation=rot[k], scale=scale[k])).mesh.verts
            torch.testing.assert_close(batched[k], single[0], atol=1e-12, rtol=0)


def test_selection_that_varies_across_the_batch_is_a_topology_split():
    with rt.eval_context(torch.float64):
        points = primitives.mesh_line(count=3)
        sel = rt.Field(lambda fctx: torch.tensor([[True, False, True], [True, True, True]]), "BOOLEAN")
        with pytest.raises(rt.TopologyVaries):
            I.instance_on_points(points=points, selection=sel, instance=points)


def test_realize_all_off_is_rejected_at_translation():
    from translator.ir import Node, Socket

    n = Node(name="R", bl_idname="GeometryNodeRealizeInstances",
             inputs=[Socket("Realize All", "Realize All", "BOOLEAN", False)])
    assert "Realize All" in I._check_realize(n)


# ---------------------------------------------------------------------------
# Gradients


def _grad_setup():
    points = primitives.mesh_line(count=3, offset=(1.0, 0.3, -0.2))
    cube = primitives.mesh_cube(size=(0.4, 0.3, 0.2), vertices_x=2, vertices_y=2, vertices_z=2)[0]
    return points, cube


def test_instance_on_points_gradcheck_rotation_scale():
    with rt.eval_context(torch.float64):
        points, cube = _grad_setup()
        g = torch.Generator().manual_seed(3)
        rot = torch.randn(2, 3, generator=g, dtype=torch.float64, requires_grad=True)
        scale = (torch.rand(2, 3, generator=g, dtype=torch.float64) + 0.5).requires_grad_()

        def f(r, s):
            return I.realize(I.instance_on_points(points=points, instance=cube, rotation=r, scale=s)).mesh.verts

        assert torch.autograd.gradcheck(f, (rot, scale), fast_mode=True, atol=1e-7)


@pytest.mark.parametrize("local", [True, False])
@pytest.mark.parametrize("kind", ["translate", "rotate", "scale"])
def test_transform_instances_gradcheck(kind, local):
    with rt.eval_context(torch.float64):
        points, cube = _grad_setup()
        base = I.instance_on_points(points=points, instance=cube, rotation=(0.3, -0.5, 1.0), scale=(1.0, 2.0, 0.5))
        g = torch.Generator().manual_seed(4)
        v = torch.randn(2, 3, generator=g, dtype=torch.float64, requires_grad=True)
        pivot = torch.randn(2, 3, generator=g, dtype=torch.float64, requires_grad=True)

        def f(v, pivot):
            if kind == "translate":
                out = I.translate_instances(base, translation=v, local_space=local)
            elif kind == "rotate":
                out = I.rotate_instances(base, rotation=v, pivot_point=pivot, local_space=local)
            else:
                out = I.scale_instances(base, scale=v, center=pivot, local_space=local)
            return I.realize(out).mesh.verts

        assert torch.autograd.gradcheck(f, (v, pivot), fast_mode=True, atol=1e-7)


@requires_bpy
def test_geometry_to_instance_parity():
    """Three geometries (one empty) become instances; moved, rotated and realized."""
    t = P.Tree()
    g2i = t.node("GeometryNodeGeometryToInstance")
    cube = t.node("GeometryNodeMeshCube", **{"Vertices X": 3})
    t.link(t.input("Size", "NodeSocketVector", (1.0, 2.0, 0.5)), cube, "Size")
    t.link((cube, "Mesh"), g2i, "Geometry")
    t.link((t.node("GeometryNodeMeshLine", Count=0), "Mesh"), g2i, "Geometry")
    t.link((t.node("GeometryNodeMeshCylinder", Vertices=5), "Mesh"), g2i, "Geometry")
    tr = t.node("GeometryNodeTranslateInstances")
    t.link((g2i, "Instances"), tr, "Instances")
    off = t.node("ShaderNodeVectorMath", operation="SCALE")
    t.link(t.node("GeometryNodeInputIndex"), off, "Vector")
    t.link(t.input("Step", "NodeSocketFloat", 1.0), off, "Scale")
    t.link((off, "Vector"), tr, "Translation")
    rz = t.node("GeometryNodeRealizeInstances")
    t.link((tr, "Instances"), rz, "Geometry")
    t.output((rz, "Geometry"))
    obj = t.object()
    sets = [{"Size": (1.0, 2.0, 0.5), "Step": 1.5}, {"Size": (0.3, 0.2, 1.0), "Step": -0.7}]
    assert P.check_parity(obj, sets) == 2
