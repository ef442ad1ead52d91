"""Domain Size (every component), Is Face Smooth / Is Edge Smooth (read on every domain) and Set ID (meshes,
selections, instances; Random Value reads the ids): Blender parity."""

from __future__ import annotations

import pytest

from tests.fixtures.parity import Tree, check_parity, requires_bpy


def _geometry(t: Tree):
    """A cube and a grid joined, a curve circle and a few instances: every component."""
    join = t.node("GeometryNodeJoinGeometry")
    cube = t.node("GeometryNodeMeshCube", **{"Vertices X": 3})
    t.link((cube, "Mesh"), join, "Geometry")
    grid = t.node("GeometryNodeMeshGrid")
    t.link(t.input("Columns", "NodeSocketInt", 3), grid, "Vertices X")
    t.link((grid, "Mesh"), join, "Geometry")
    circle = t.node("GeometryNodeCurvePrimitiveCircle")
    t.link(t.input("Resolution", "NodeSocketInt", 6), circle, "Resolution")
    t.link((circle, "Curve"), join, "Geometry")
    iop = t.node("GeometryNodeInstanceOnPoints")
    line = t.node("GeometryNodeMeshLine")
    t.link(t.input("Copies", "NodeSocketInt", 4), line, "Count")
    t.link((line, "Mesh"), iop, "Points")
    t.link((t.node("GeometryNodeMeshCube"), "Mesh"), iop, "Instance")
    t.link((iop, "Instances"), join, "Geometry")
    return (join, "Geometry")


@requires_bpy
@pytest.mark.parametrize("component", ["MESH", "CURVE", "INSTANCES", "POINTCLOUD"])
def test_domain_size_parity(component):
    t = Tree()
    ds = t.node("GeometryNodeAttributeDomainSize", component=component)
    t.link(_geometry(t), ds, "Geometry")
    out = t.node("GeometryNodeJoinGeometry")
    outs = [o.identifier for o in ds.outputs if o.enabled]
    for i in range(0, len(outs), 3):
        xyz = t.node("ShaderNodeCombineXYZ")
        for axis, o in zip("XYZ", outs[i:i + 3]):
            t.link((ds, o), xyz, axis)
        pt = t.node("GeometryNodeMeshLine", Count=1)
        t.link((xyz, "Vector"), pt, "Start Location")
        t.link((pt, "Mesh"), out, "Geometry")
    t.output((out, "Geometry"))
    obj = t.object()
    sets = [{"Columns": c, "Resolution": r, "Copies": k} for c, r, k in ((3, 6, 4), (5, 3, 0), (2, 9, 7))]
    assert check_parity(obj, sets) == len(sets)


@requires_bpy
def test_is_face_and_edge_smooth_parity():
    t = Tree()
    src = (t.node("GeometryNodeMeshCube", **{"Vertices X": 3, "Vertices Y": 2, "Vertices Z": 2}), "Mesh")
    names = []
    for domain in ("FACE", "EDGE"):
        ss = t.node("GeometryNodeSetShadeSmooth", domain=domain)
        t.link(src, ss, "Geometry")
        t.link((t.index_compare(t.input(f"T_{domain}", "NodeSocketFloat", 3.0)), "Value"), ss, "Selection")
        src = (ss, "Geometry")
    for node, tag in (("GeometryNodeInputShadeSmooth", "face"), ("GeometryNodeInputEdgeSmooth", "edge")):
        n = t.node(node)
        for domain in ("POINT", "EDGE", "FACE", "CORNER"):
            st = t.node("GeometryNodeStoreNamedAttribute", data_type="BOOLEAN", domain=domain, Name=f"{tag}_{domain.lower()}")
            t.link(src, st, "Geometry")
            t.link((n, "Smooth"), st, "Value")
            src = (st, "Geometry")
            names.append(f"{tag}_{domain.lower()}")
    t.output(src)
    obj = t.object()
    sets = [{"T_FACE": a, "T_EDGE": b} for a, b in ((3.0, 5.0), (-1.0, 100.0), (7.5, -1.0))]
    assert check_parity(obj, sets, attributes=names) == len(sets)


@requires_bpy
@pytest.mark.parametrize("selected", [False, True])
def test_set_id_parity(selected):
    """Set ID on a mesh and on instances; Random Value reads the ids (offsets), ID stores them."""
    t = Tree()
    src = (t.node("GeometryNodeMeshGrid", **{"Vertices X": 4, "Vertices Y": 3}), "Mesh")
    sid = t.node("GeometryNodeSetID")
    t.link(src, sid, "Geometry")
    ids = t.node("ShaderNodeMath", operation="MULTIPLY_ADD", Value_002=11.0)
    t.link(t.node("GeometryNodeInputIndex"), ids, "Value")
    t.link(t.input("K", "NodeSocketFloat", 3.0), ids, "Value_001")
    t.link((ids, "Value"), sid, "ID")
    if selected:
        t.link((t.index_compare(t.input("Threshold", "NodeSocketFloat", 4.0)), "Value"), sid, "Selection")
    rv = t.node("FunctionNodeRandomValue", data_type="FLOAT_VECTOR", Min=(-0.3, -0.3, -0.3), Max=(0.3, 0.3, 0.3))
    sp = t.node("GeometryNodeSetPosition")
    t.link((sid, "Geometry"), sp, "Geometry")
    t.link((rv, "Value"), sp, "Offset")
    st = t.node("GeometryNodeStoreNamedAttribute", data_type="INT", domain="POINT", Name="ident")
    t.link((sp, "Geometry"), st, "Geometry")
    t.link((t.node("GeometryNodeInputID"), "ID"), st, "Value")
    # instances: ids set on them move their copies
    iop = t.node("GeometryNodeInstanceOnPoints")
    t.link((t.node("GeometryNodeMeshLine", Count=3, Offset=(0.0, 0.0, 2.0)), "Mesh"), iop, "Points")
    t.link((t.node("GeometryNodeMeshCube"), "Mesh"), iop, "Instance")
    sid2 = t.node("GeometryNodeSetID")
    t.link((iop, "Instances"), sid2, "Geometry")
    t.link((ids, "Value"), sid2, "ID")
    rv2 = t.node("FunctionNodeRandomValue", data_type="FLOAT_VECTOR", Min=(-1.0, -1.0, -1.0), Max=(1.0, 1.0, 1.0))
    tr = t.node("GeometryNodeTranslateInstances")
    t.link((sid2, "Geometry"), tr, "Instances")
    t.link((rv2, "Value"), tr, "Translation")
    join = t.node("GeometryNodeJoinGeometry")
    t.link((st, "Geometry"), join, "Geometry")
    rz = t.node("GeometryNodeRealizeInstances")
    t.link((tr, "Instances"), rz, "Geometry")
    t.link((rz, "Geometry"), join, "Geometry")
    t.output((join, "Geometry"))
    obj = t.object()
    sets = [{"K": k} for k in (3.0, -2.0, 17.0)]
    if selected:
        sets = [s | {"Threshold": th} for s in sets for th in (4.0, -1.0)]
    assert check_parity(obj, sets, attributes=["ident"]) == len(sets)
