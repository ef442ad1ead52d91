"""Two shape programs built the way real assets use curves and extrusion (bpy; used by
``tests/translator/test_curve_assets.py`` and the speed table):

* ``floor_lamp``: a round base raised by extruding its top face, a stem swept along a bent quadratic
  Bézier curve with a circular profile and caps, and a lampshade swept around a circle by a slanted
  line profile (a Geometry Switch drops it), all joined.
* ``filleted_table``: a top slab swept along a short vertical line by a rectangle profile whose
  corners are filleted (Poly mode, limited radius), its top face (found by its normal) extruded into a
  lip; four legs instanced on the corners of a smaller rectangle curve and realized.

Each function builds the node group in the current (reset) Blender session and returns the object.
"""

from __future__ import annotations

from tests.fixtures.parity import Tree

__all__ = ["ASSETS", "filleted_table", "floor_lamp"]


def _math(t: Tree, op: str, a, b=None, **defaults):
    n = t.node("ShaderNodeMath", operation=op, **defaults)
    t.link(a, n, "Value")
    if b is not None:
        t.link(b, n, "Value_001")
    return (n, "Value")


def _xyz(t: Tree, x=None, y=None, z=None):
    n = t.node("ShaderNodeCombineXYZ")
    for axis, src in zip("XYZ", (x, y, z)):
        if src is not None:
            t.link(src, n, axis)
    return (n, "Vector")


def _ranged(t: Tree, name: str, kind: str, default, lo, hi):
    src = t.input(name, kind, default)
    item = next(i for i in t.ng.interface.items_tree if i.item_type == "SOCKET" and i.name == name)
    item.min_value, item.max_value = lo, hi
    return src


def floor_lamp():
    t = Tree("Floor Lamp")
    height = _ranged(t, "Height", "NodeSocketFloat", 1.6, 1.2, 1.9)
    base_r = _ranged(t, "Base Radius", "NodeSocketFloat", 0.18, 0.12, 0.25)
    base_h = _ranged(t, "Base Height", "NodeSocketFloat", 0.03, 0.015, 0.06)
    stem_r = _ranged(t, "Stem Radius", "NodeSocketFloat", 0.012, 0.008, 0.02)
    bend = _ranged(t, "Bend", "NodeSocketFloat", 0.2, 0.0, 0.4)
    shade_bottom = _ranged(t, "Shade Bottom Radius", "NodeSocketFloat", 0.22, 0.15, 0.3)
    shade_top = _ranged(t, "Shade Top Radius", "NodeSocketFloat", 0.12, 0.08, 0.18)
    shade_h = _ranged(t, "Shade Height", "NodeSocketFloat", 0.25, 0.15, 0.35)
    segments = _ranged(t, "Shade Segments", "NodeSocketInt", 24, 12, 32)
    has_shade = t.input("Has Shade", "NodeSocketBool", True)

    # base: a thin disc whose top face is extruded up by Base Height
    disc = t.node("GeometryNodeMeshCylinder", fill_type="NGON", Vertices=32, Depth=0.01)
    t.link(base_r, disc, "Radius")
    ex = t.node("GeometryNodeExtrudeMesh", mode="FACES")
    t.link((disc, "Mesh"), ex, "Mesh")
    t.link((disc, "Top"), ex, "Selection")
    t.link(base_h, ex, "Offset Scale")
    lift = t.node("GeometryNodeTransform", Translation=(0.0, 0.0, 0.005))
    t.link((ex, "Mesh"), lift, "Geometry")

    # stem: a quadratic Bézier swept by a circle
    stem = t.node("GeometryNodeCurveQuadraticBezier", Resolution=12, Start=(0.0, 0.0, 0.0))
    t.link(_xyz(t, z=_math(t, "MULTIPLY", height, Value_001=0.6)), stem, "Middle")
    t.link(_xyz(t, x=bend, z=height), stem, "End")
    ring = t.node("GeometryNodeCurvePrimitiveCircle", Resolution=8)
    t.link(stem_r, ring, "Radius")
    stem_mesh = t.node("GeometryNodeCurveToMesh", **{"Fill Caps": True})
    t.link((stem, "Curve"), stem_mesh, "Curve")
    t.link((ring, "Curve"), stem_mesh, "Profile Curve")

    # lampshade: a circle swept by a slanted line (the circle's normals point outwards, its binormal down)
    rim = t.node("GeometryNodeCurvePrimitiveCircle")
    t.link(segments, rim, "Resolution")
    t.link(shade_bottom, rim, "Radius")
    slant = t.node("GeometryNodeCurvePrimitiveLine", Start=(0.0, 0.0, 0.0))
    t.link(_xyz(t, x=_math(t, "SUBTRACT", shade_top, shade_bottom), y=_math(t, "MULTIPLY", shade_h, Value_001=-1.0)),
           slant, "End")
    shade = t.node("GeometryNodeCurveToMesh")
    t.link((rim, "Curve"), shade, "Curve")
    t.link((slant, "Curve"), shade, "Profile Curve")
    place = t.node("GeometryNodeTransform")
    t.link((shade, "Mesh"), place, "Geometry")
    t.link(_xyz(t, x=bend, z=_math(t, "SUBTRACT", height, _math(t, "MULTIPLY", shade_h, Value_001=0.6))), place, "Translation")
    switch = t.node("GeometryNodeSwitch", input_type="GEOMETRY")
    t.link(has_shade, switch, "Switch")
    t.link((place, "Geometry"), switch, "True")

    join = t.node("GeometryNodeJoinGeometry")
    for src in ((lift, "Geometry"), (stem_mesh, "Mesh"), (switch, "Output")):
        t.link(src, join, "Geometry")
    t.output((join, "Geometry"))
    return t.object()


def filleted_table():
    t = Tree("Filleted Table")
    width = _ranged(t, "Width", "NodeSocketFloat", 1.2, 0.8, 1.6)
    depth = _ranged(t, "Depth", "NodeSocketFloat", 0.8, 0.6, 1.0)
    thick = _ranged(t, "Thickness", "NodeSocketFloat", 0.03, 0.02, 0.05)
    corner = _ranged(t, "Corner Radius", "NodeSocketFloat", 0.1, 0.02, 0.2)
    height = _ranged(t, "Height", "NodeSocketFloat", 0.74, 0.65, 0.8)
    leg_r = _ranged(t, "Leg Radius", "NodeSocketFloat", 0.025, 0.015, 0.04)
    inset = _ranged(t, "Leg Inset", "NodeSocketFloat", 0.1, 0.05, 0.15)
    lip = _ranged(t, "Lip", "NodeSocketFloat", 0.005, 0.0, 0.01)
    segments = _ranged(t, "Corner Segments", "NodeSocketInt", 4, 2, 8)

    # top: a filleted rectangle swept along a short vertical line, caps filled, then moved up
    outline = t.node("GeometryNodeCurvePrimitiveQuadrilateral", mode="RECTANGLE")
    t.link(width, outline, "Width")
    t.link(depth, outline, "Height")
    fillet = t.node("GeometryNodeFilletCurve", **{"Limit Radius": True})
    fillet.inputs["Mode"].default_value = "Poly"
    t.link((outline, "Curve"), fillet, "Curve")
    t.link(corner, fillet, "Radius")
    t.link(segments, fillet, "Count")
    path = t.node("GeometryNodeCurvePrimitiveLine", Start=(0.0, 0.0, 0.0))
    t.link(_xyz(t, z=thick), path, "End")
    slab = t.node("GeometryNodeCurveToMesh", **{"Fill Caps": True})
    t.link((path, "Curve"), slab, "Curve")
    t.link((fillet, "Curve"), slab, "Profile Curve")
    # a lip: the face looking up extruded along its normal
    normal = t.node("GeometryNodeInputNormal")
    nz = t.node("ShaderNodeSeparateXYZ")
    t.link((normal, "Normal"), nz, "Vector")
    up = t.node("FunctionNodeCompare", data_type="FLOAT", operation="GREATER_THAN", B=0.5)
    t.link((nz, "Z"), up, "A")
    ex = t.node("GeometryNodeExtrudeMesh", mode="FACES")
    t.link((slab, "Mesh"), ex, "Mesh")
    t.link((up, "Result"), ex, "Selection")
    t.link(lip, ex, "Offset Scale")
    top = t.node("GeometryNodeTransform")
    t.link((ex, "Mesh"), top, "Geometry")
    t.link(_xyz(t, z=_math(t, "SUBTRACT", height, thick)), top, "Translation")

    # legs: cylinders on the corners of an inset rectangle curve
    corners = t.node("GeometryNodeCurvePrimitiveQuadrilateral", mode="RECTANGLE")
    t.link(_math(t, "SUBTRACT", width, _math(t, "MULTIPLY", inset, Value_001=2.0)), corners, "Width")
    t.link(_math(t, "SUBTRACT", depth, _math(t, "MULTIPLY", inset, Value_001=2.0)), corners, "Height")
    leg_h = _math(t, "SUBTRACT", height, thick)
    leg = t.node("GeometryNodeMeshCylinder", fill_type="NGON", Vertices=12)
    t.link(leg_r, leg, "Radius")
    t.link(leg_h, leg, "Depth")
    raise_leg = t.node("GeometryNodeTransform")
    t.link((leg, "Mesh"), raise_leg, "Geometry")
    t.link(_xyz(t, z=_math(t, "MULTIPLY", leg_h, Value_001=0.5)), raise_leg, "Translation")
    iop = t.node("GeometryNodeInstanceOnPoints")
    t.link((corners, "Curve"), iop, "Points")
    t.link((raise_leg, "Geometry"), iop, "Instance")
    legs = t.node("GeometryNodeRealizeInstances")
    t.link((iop, "Instances"), legs, "Geometry")

    join = t.node("GeometryNodeJoinGeometry")
    t.link((top, "Geometry"), join, "Geometry")
    t.link((legs, "Geometry"), join, "Geometry")
    t.output((join, "Geometry"))
    return t.object()


ASSETS = {"floor_lamp": floor_lamp, "filleted_table": filleted_table}
