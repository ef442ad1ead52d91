"""Mesh to Points (every mode, selections, Position and Radius fields, mesh attributes carried), Points and
Instances to Points (instance attributes carried): Blender parity through Instance on Points (a small cube per
point, scaled by the point's radius and carried attribute, realized beside a fixed anchor: the evaluated mesh
never holds point clouds), batched like single evaluations, float64 gradchecks."""

from __future__ import annotations

import pytest
import torch

from tests.fixtures.parity import Tree, batch_and_singles, check_parity, requires_bpy, translate_object
from translator import runtime as rt
from translator.nodes import points as PT
from translator.nodes.instances import instance_on_points, realize
from translator.nodes.primitives import mesh_grid, mesh_line


def _modulo_selection(t: Tree, k: float, domain_index=None):
    """``Index % k != 1``."""
    mod = t.node("ShaderNodeMath", operation="FLOORED_MODULO", Value_001=k)
    t.link(domain_index or t.node("GeometryNodeInputIndex"), mod, "Value")
    cmp = t.node("FunctionNodeCompare", data_type="FLOAT", operation="NOT_EQUAL", B=1.0)
    t.link((mod, "Value"), cmp, "A")
    return cmp, "Result"


def _instanced(t: Tree, pts, scale_y=None):
    """A cube on every point, scaled by (radius, ``scale_y`` or 1, 1), realized and joined with an anchor."""
    iop = t.node("GeometryNodeInstanceOnPoints")
    t.link(pts, iop, "Points")
    t.link((t.node("GeometryNodeMeshCube", Size=(0.1, 0.2, 0.3)), "Mesh"), iop, "Instance")
    xyz = t.node("ShaderNodeCombineXYZ", Z=1.0)
    t.link((t.node("GeometryNodeInputRadius"), "Radius"), xyz, "X")
    if scale_y is not None:
        t.link(scale_y, xyz, "Y")
    else:
        xyz.inputs["Y"].default_value = 1.0
    t.link((xyz, "Vector"), iop, "Scale")
    real = t.node("GeometryNodeRealizeInstances")
    t.link((iop, "Instances"), real, "Geometry")
    join = t.node("GeometryNodeJoinGeometry")
    t.link((real, "Geometry"), join, "Geometry")
    t.link((t.node("GeometryNodeMeshLine", Count=2, Offset=(2.0, 2.0, 2.0)), "Mesh"), join, "Geometry")
    t.output((join, "Geometry"))
    return t.object()


def _mesh_program(mode: str, select: bool, position: bool, radius_field: bool):
    """A bumped grid with a FACE float ``w`` (the face index) -> Mesh to Points -> cubes scaled by radius and ``w``."""
    t = Tree()
    grid = t.node("GeometryNodeMeshGrid", **{"Vertices X": 4, "Vertices Y": 3})
    t.link(t.input("Size", "NodeSocketFloat", 1.5), grid, "Size X")
    bump = t.node("GeometryNodeSetPosition")
    t.link((grid, "Mesh"), bump, "Geometry")
    off = t.node("ShaderNodeVectorMath", operation="MULTIPLY", Vector_001=(0.0, 0.1, 0.3))
    sq = t.node("ShaderNodeVectorMath", operation="MULTIPLY")
    t.link((t.node("GeometryNodeInputPosition"), "Position"), sq, "Vector")
    t.link((t.node("GeometryNodeInputPosition"), "Position"), sq, "Vector_001")
    t.link((sq, "Vector"), off, "Vector")
    t.link((off, "Vector"), bump, "Offset")
    store = t.node("GeometryNodeStoreNamedAttribute", data_type="FLOAT", domain="FACE", Name="w")
    t.link((bump, "Geometry"), store, "Geometry")
    t.link(t.node("GeometryNodeInputIndex"), store, "Value")
    m2p = t.node("GeometryNodeMeshToPoints", mode=mode)
    t.link((store, "Geometry"), m2p, "Mesh")
    if select:
        t.link(_modulo_selection(t, 3.0), m2p, "Selection")
    if position:
        add = t.node("ShaderNodeVectorMath", operation="ADD")
        t.link((t.node("GeometryNodeInputPosition"), "Position"), add, "Vector")
        t.link(t.input("Shift", "NodeSocketVector", (0.0, 0.0, 0.5)), add, "Vector_001")
        t.link((add, "Vector"), m2p, "Position")
    if radius_field:
        mul = t.node("ShaderNodeMath", operation="MULTIPLY_ADD")
        t.link(t.node("GeometryNodeInputIndex"), mul, "Value")
        t.link(t.input("Step", "NodeSocketFloat", 0.2), mul, "Value_001")
        t.link(t.input("Radius", "NodeSocketFloat", -0.3), mul, "Value_002")
        t.link((mul, "Value"), m2p, "Radius")
    else:
        t.link(t.input("Radius", "NodeSocketFloat", 0.5), m2p, "Radius")
    w = t.node("GeometryNodeInputNamedAttribute", data_type="FLOAT", Name="w")
    add1 = t.node("ShaderNodeMath", operation="ADD", Value_001=1.0)
    t.link((w, "Attribute"), add1, "Value")
    return _instanced(t, (m2p, "Points"), (add1, "Value"))


@requires_bpy
@pytest.mark.parametrize("mode", ["VERTICES", "EDGES", "FACES", "CORNERS"])
@pytest.mark.parametrize("select,position,radius_field", [(False, False, False), (True, True, True)])
def test_mesh_to_points_parity(mode, select, position, radius_field):
    obj = _mesh_program(mode, select, position, radius_field)
    sets = [{"Size": 1.5, "Radius": 0.5}, {"Size": 0.7, "Radius": 1.2}]
    if radius_field:
        sets = [{"Size": 1.5, "Radius": -0.3, "Step": 0.2}, {"Size": 0.9, "Radius": 0.1, "Step": -0.05}]
    if position:
        sets = [s | {"Shift": v} for s in sets for v in ((0.0, 0.0, 0.5), (0.3, -0.2, 0.0))]
    assert check_parity(obj, sets) == len(sets)


def _points_program():
    t = Tree()
    pts = t.node("GeometryNodePoints")
    t.link(t.input("Count", "NodeSocketInt", 5), pts, "Count")
    scale = t.node("ShaderNodeVectorMath", operation="SCALE")
    t.link(t.input("Step", "NodeSocketVector", (0.3, 0.1, -0.2)), scale, "Vector")
    t.link(t.node("GeometryNodeInputIndex"), scale, "Scale")
    t.link((scale, "Vector"), pts, "Position")
    mul = t.node("ShaderNodeMath", operation="MULTIPLY_ADD", Value_001=0.25)
    t.link(t.node("GeometryNodeInputIndex"), mul, "Value")
    t.link(t.input("Radius", "NodeSocketFloat", 0.5), mul, "Value_002")
    t.link((mul, "Value"), pts, "Radius")
    return _instanced(t, (pts, "Geometry"))


@requires_bpy
def test_points_parity():
    obj = _points_program()
    sets = [{"Count": n, "Step": s, "Radius": r} for n in (0, 1, 6) for s, r in (((0.3, 0.1, -0.2), 0.5),
                                                                                  ((-0.1, 0.4, 0.2), -0.2))]
    assert check_parity(obj, sets) == len(sets)


def _instances_program(select: bool):
    """Cones instanced on a grid's points, rotated, with an INSTANCE float ``s`` -> Instances to Points -> cubes."""
    t = Tree()
    grid = t.node("GeometryNodeMeshGrid", **{"Vertices X": 3, "Vertices Y": 2})
    t.link(t.input("Size", "NodeSocketFloat", 1.5), grid, "Size X")
    iop = t.node("GeometryNodeInstanceOnPoints")
    t.link((grid, "Mesh"), iop, "Points")
    t.link((t.node("GeometryNodeMeshCone"), "Mesh"), iop, "Instance")
    t.link(t.input("Rotation", "NodeSocketVector", (0.3, 0.2, 0.1)), iop, "Rotation")
    store = t.node("GeometryNodeStoreNamedAttribute", data_type="FLOAT", domain="INSTANCE", Name="s")
    t.link((iop, "Instances"), store, "Geometry")
    mul = t.node("ShaderNodeMath", operation="MULTIPLY_ADD", Value_001=0.5, Value_002=1.0)
    t.link(t.node("GeometryNodeInputIndex"), mul, "Value")
    t.link((mul, "Value"), store, "Value")
    i2p = t.node("GeometryNodeInstancesToPoints")
    t.link((store, "Geometry"), i2p, "Instances")
    if select:
        t.link(_modulo_selection(t, 2.0), i2p, "Selection")
    t.link(t.input("Radius", "NodeSocketFloat", 0.5), i2p, "Radius")
    return _instanced(t, (i2p, "Points"), (t.node("GeometryNodeInputNamedAttribute", data_type="FLOAT", Name="s"),
                                           "Attribute"))


@requires_bpy
@pytest.mark.parametrize("select", [False, True])
def test_instances_to_points_parity(select):
    obj = _instances_program(select)
    sets = [{"Size": 1.5, "Radius": 0.5, "Rotation": (0.3, 0.2, 0.1)}, {"Size": 0.8, "Radius": 1.5, "Rotation": (1.0, -0.5, 2.0)}]
    assert check_parity(obj, sets) == len(sets)


_BATCH_CASES = {
    "mesh_to_points": (lambda: _mesh_program("FACES", True, True, True),
                       [{"Size": 1.5, "Radius": -0.3, "Step": 0.2, "Shift": (0.0, 0.0, 0.5)},
                        {"Size": 0.9, "Radius": 0.1, "Step": 0.3, "Shift": (0.3, -0.2, 0.0)},
                        {"Size": 1.1, "Radius": 0.2, "Step": 0.1, "Shift": (0.1, 0.2, 0.3)}]),
    "points": (_points_program, [{"Count": 4, "Step": (0.3, 0.1, -0.2), "Radius": 0.5},
                                 {"Count": 4, "Step": (-0.1, 0.4, 0.2), "Radius": 0.2},
                                 {"Count": 4, "Step": (0.2, 0.2, 0.2), "Radius": 1.0}]),
    "instances_to_points": (lambda: _instances_program(True),
                            [{"Size": 1.5, "Radius": 0.5, "Rotation": (0.3, 0.2, 0.1)},
                             {"Size": 0.8, "Radius": 1.5, "Rotation": (1.0, -0.5, 2.0)},
                             {"Size": 1.2, "Radius": 0.7, "Rotation": (0.0, 0.5, -1.0)}]),
}


@requires_bpy
@pytest.mark.parametrize("case", sorted(_BATCH_CASES))
def test_batch_equals_singles(case):
    build, sets = _BATCH_CASES[case]
    module = translate_object(build())
    batch, singles = batch_and_singles(module, sets)
    torch.testing.assert_close(batch, singles)


@pytest.mark.parametrize("mode", ["VERTICES", "EDGES", "FACES", "CORNERS"])
def test_mesh_to_points_gradcheck(mode):
    with rt.eval_context(torch.float64):
        def run(size, radius):
            grid = mesh_grid(size_x=size, vertices_x=3, vertices_y=2, outputs_used=("Mesh",))
            grid = grid[0] if isinstance(grid, tuple) else grid
            pts = PT.mesh_to_points(mode, grid, radius=radius)
            cube = mesh_line(count=2, offset=(0.1, 0.2, 0.3))
            from translator.nodes.curve_fields import radius as radius_field

            inst = instance_on_points(pts, instance=cube, scale=radius_field())
            return realize(inst).mesh.verts

        size = torch.tensor([1.3, 0.7], dtype=torch.float64, requires_grad=True)
        radius = torch.tensor([0.4, 0.9], dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(run, (size, radius))


def test_points_and_instances_to_points_gradcheck():
    from translator.nodes.curve_fields import radius as radius_field

    with rt.eval_context(torch.float64):
        def run(pos, radius):
            pts = PT.points(count=3, position=pos, radius=radius)
            cube = mesh_line(count=2, offset=(0.1, 0.2, 0.3))
            inst = instance_on_points(pts, instance=cube, scale=radius_field())
            back = PT.instances_to_points(inst, radius=radius * 2.0)
            again = instance_on_points(back, instance=cube, scale=radius_field())
            return realize(again).mesh.verts

        pos = torch.tensor([[0.1, 0.2, 0.3], [0.4, -0.5, 0.6]], dtype=torch.float64, requires_grad=True)
        radius = torch.tensor([0.4, 0.9], dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(run, (pos, radius))


def _cloud(t: Tree):
    """Points: ``Count`` points at ``index * Step`` with radius ``0.25 * index + Radius``, the index stored as ``s``."""
    pts = t.node("GeometryNodePoints")
    t.link(t.input("Count", "NodeSocketInt", 6), pts, "Count")
    scale = t.node("ShaderNodeVectorMath", operation="SCALE")
    t.link(t.input("Step", "NodeSocketVector", (0.3, 0.1, -0.2)), scale, "Vector")
    t.link(t.node("GeometryNodeInputIndex"), scale, "Scale")
    t.link((scale, "Vector"), pts, "Position")
    mul = t.node("ShaderNodeMath", operation="MULTIPLY_ADD", Value_001=0.25)
    t.link(t.node("GeometryNodeInputIndex"), mul, "Value")
    t.link(t.input("Radius", "NodeSocketFloat", 0.5), mul, "Value_002")
    t.link((mul, "Value"), pts, "Radius")
    store = t.node("GeometryNodeStoreNamedAttribute", data_type="FLOAT", domain="POINT", Name="s")
    t.link((pts, "Geometry"), store, "Geometry")
    t.link(t.node("GeometryNodeInputIndex"), store, "Value")
    return store, "Geometry"


@requires_bpy
@pytest.mark.parametrize("domain", ["POINT", "FACE"])
@pytest.mark.parametrize("which", ["delete", "selection", "inverted"])
def test_delete_and_separate_point_clouds_parity(which, domain):
    """Delete / Separate Geometry on the POINT domain keep the selected points of a point cloud (with their
    attributes); other domains leave point clouds alone."""
    t = Tree()
    cloud = _cloud(t)
    if which == "delete":
        op = t.node("GeometryNodeDeleteGeometry", domain=domain)
        out = (op, "Geometry")
    else:
        op = t.node("GeometryNodeSeparateGeometry", domain=domain)
        out = (op, "Selection" if which == "selection" else "Inverted")
    t.link(cloud, op, "Geometry")
    t.link(_modulo_selection(t, 3.0), op, "Selection")
    obj = _instanced(t, out, (t.node("GeometryNodeInputNamedAttribute", data_type="FLOAT", Name="s"), "Attribute"))
    sets = [{"Count": n, "Step": (0.3, 0.1, -0.2), "Radius": 0.5} for n in (1, 2, 7)]
    assert check_parity(obj, sets) == len(sets)


@requires_bpy
@pytest.mark.parametrize("use_radius", [False, True])
@pytest.mark.parametrize("with_mesh", [False, True])
def test_bounding_box_of_point_clouds_parity(use_radius, with_mesh):
    """Bounding Box of a point cloud (grown by the radii with Use Radius), alone or joined with a mesh; its Min
    and Max move an anchor."""
    t = Tree()
    geo = _cloud(t)
    if with_mesh:
        join = t.node("GeometryNodeJoinGeometry")
        t.link((t.node("GeometryNodeMeshCube", Size=(0.5, 0.6, 0.7)), "Mesh"), join, "Geometry")
        t.link(geo, join, "Geometry")
        geo = (join, "Geometry")
    box = t.node("GeometryNodeBoundBox", **{"Use Radius": use_radius})
    t.link(geo, box, "Geometry")
    line = t.node("GeometryNodeMeshLine", mode="END_POINTS")
    line.inputs["Count"].default_value = 2
    t.link((box, "Min"), line, "Start Location")
    t.link((box, "Max"), line, "Offset")
    join = t.node("GeometryNodeJoinGeometry")
    t.link((box, "Bounding Box"), join, "Geometry")
    t.link((line, "Mesh"), join, "Geometry")
    t.output((join, "Geometry"))
    obj = t.object()
    sets = [{"Count": n, "Step": s, "Radius": 0.5} for n in (1, 5) for s in ((0.3, 0.1, -0.2), (-0.2, 0.5, 0.1))]
    assert check_parity(obj, sets) == len(sets)


@requires_bpy
@pytest.mark.parametrize("mode", ["VERTICES", "FACES"])
def test_mesh_to_points_nested_and_other_components_parity(mode):
    """Mesh to Points on a geometry that joins a mesh, a point cloud, a curve and grids instanced on a line: every
    real mesh (instanced ones too) becomes points, the old point cloud and the curve go, instances stay."""
    t = Tree()
    grid = t.node("GeometryNodeMeshGrid", **{"Vertices X": 3, "Vertices Y": 2})
    t.link(t.input("Size", "NodeSocketFloat", 1.5), grid, "Size X")
    line = t.node("GeometryNodeMeshLine", Count=3, Offset=(0.0, 0.0, 1.0))
    iop = t.node("GeometryNodeInstanceOnPoints")
    t.link((line, "Mesh"), iop, "Points")
    t.link((grid, "Mesh"), iop, "Instance")
    t.link(t.input("Rotation", "NodeSocketVector", (0.3, 0.2, 0.1)), iop, "Rotation")
    join = t.node("GeometryNodeJoinGeometry")
    t.link((t.node("GeometryNodeMeshCube", Size=(0.5, 0.6, 0.7)), "Mesh"), join, "Geometry")
    t.link(_cloud(t), join, "Geometry")
    t.link((t.node("GeometryNodeCurvePrimitiveCircle"), "Curve"), join, "Geometry")
    t.link((iop, "Instances"), join, "Geometry")
    m2p = t.node("GeometryNodeMeshToPoints", mode=mode)
    t.link((join, "Geometry"), m2p, "Mesh")
    t.link(t.input("Point Radius", "NodeSocketFloat", 0.5), m2p, "Radius")
    real = t.node("GeometryNodeRealizeInstances")
    t.link((m2p, "Points"), real, "Geometry")
    obj = _instanced(t, (real, "Geometry"))
    sets = [{"Size": 1.5, "Radius": 0.5, "Point Radius": 0.5, "Count": 4, "Step": (0.3, 0.1, -0.2), "Rotation": (0.3, 0.2, 0.1)},
            {"Size": 0.8, "Radius": 0.2, "Point Radius": 1.5, "Count": 2, "Step": (0.1, 0.1, 0.2), "Rotation": (1.0, -0.5, 2.0)}]
    assert check_parity(obj, sets) == len(sets)


@requires_bpy
@pytest.mark.parametrize("mode", ["VERTICES", "EDGES", "FACES", "CORNERS"])
def test_mesh_to_points_attribute_types_parity(mode):
    """A POINT vector, a FACE boolean, an EDGE integer and the grid's UV map carried by Mesh to Points (interpolated
    to the mode's domain as Blender does, types kept; ``material_index`` not carried), compared after realizing
    cubes on the points (whose realized vertices get the point attributes)."""
    t = Tree()
    grid = t.node("GeometryNodeMeshGrid", **{"Vertices X": 4, "Vertices Y": 3})
    t.link(t.input("Size", "NodeSocketFloat", 1.5), grid, "Size X")
    uv = t.node("GeometryNodeStoreNamedAttribute", data_type="FLOAT2", domain="CORNER", Name="uv")
    t.link((grid, "Mesh"), uv, "Geometry")
    t.link((grid, "UV Map"), uv, "Value")
    geo = (uv, "Geometry")
    for data_type, domain, name in (("FLOAT_VECTOR", "POINT", "v"), ("BOOLEAN", "FACE", "b"), ("INT", "EDGE", "k")):
        store = t.node("GeometryNodeStoreNamedAttribute", data_type=data_type, domain=domain, Name=name)
        t.link(geo, store, "Geometry")
        if data_type == "FLOAT_VECTOR":
            t.link((t.node("GeometryNodeInputPosition"), "Position"), store, "Value")
        elif data_type == "BOOLEAN":
            t.link(_modulo_selection(t, 2.0), store, "Value")
        else:
            t.link(t.node("GeometryNodeInputIndex"), store, "Value")
        geo = (store, "Geometry")
    mat = t.node("GeometryNodeStoreNamedAttribute", data_type="INT", domain="FACE", Name="material_index", Value=1)
    t.link(geo, mat, "Geometry")
    m2p = t.node("GeometryNodeMeshToPoints", mode=mode)
    t.link((mat, "Geometry"), m2p, "Mesh")
    obj = _instanced(t, (m2p, "Points"))
    sets = [{"Size": 1.5}, {"Size": 0.6}]
    assert check_parity(obj, sets, attributes=["v", "b", "k", "uv", "material_index", "radius"]) == len(sets)
