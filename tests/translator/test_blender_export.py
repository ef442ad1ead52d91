"""Blender exporter: what Blender 4.0-5.0 files hold becomes IR that translates to Blender's mesh.

Each feature (frames, reroutes, muted nodes and links, invalid links, unavailable and hidden
sockets, nested groups, multi-input order, modifier values, MENU inputs) is built with bpy in the
test and checked for parity with Blender; the four reference programs (Blender 4.0 files) are
exported and checked when ../shared/reference_programs is present.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.fixtures import ROOT
from tests.fixtures import irdocs as D
from tests.fixtures import parity as P
from tests.fixtures.parity import requires_bpy, seeded_parity
from tests.fixtures.reference import REFERENCE_DIR, REFERENCE_NAMES, requires_reference
from translator.ir import ProgramError, load_program, program_from_dict, save_program


def export(obj):
    from translator.blender_export import export_object

    return export_object(obj)


def node_types(prog, group=None) -> list[str]:
    g = prog.groups[group or prog.entry]
    return [n.bl_idname for n in g.nodes]


# -- the exporter needs bpy, never torch -------------------------------------------


@requires_bpy
def test_exporter_never_imports_torch(tmp_path):
    script = textwrap.dedent(
        """
        import sys, json
        import bpy
        from translator.blender_export import export_node_group
        bpy.ops.wm.read_factory_settings(use_empty=True)
        ng = bpy.data.node_groups.new("G", "GeometryNodeTree")
        ng.interface.new_socket(name="Geometry", in_out="OUTPUT", socket_type="NodeSocketGeometry")
        out = ng.nodes.new("NodeGroupOutput")
        line = ng.nodes.new("GeometryNodeMeshLine")
        ng.links.new(line.outputs[0], out.inputs[0])
        prog = export_node_group(ng)
        print(json.dumps({"torch": "torch" in sys.modules, "nodes": [n.bl_idname for n in prog.entry_group.nodes]}))
        """
    )
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out == {"torch": False, "nodes": ["NodeGroupOutput", "GeometryNodeMeshLine"]}


# -- the reference programs (Blender 4.0 files) --------------------------------------


def _modifier_snapshot(path: Path) -> dict:
    """Straight from bpy: the modifier's values and the interface defaults of the entry group."""
    import bpy

    from translator.blender_export import find_geometry_nodes_modifier

    bpy.ops.wm.open_mainfile(filepath=str(path), load_ui=False)
    obj = next(o for o in sorted(bpy.data.objects, key=lambda o: o.name) if find_geometry_nodes_modifier(o))
    mod = find_geometry_nodes_modifier(obj)
    items = [i for i in mod.node_group.interface.items_tree if i.item_type == "SOCKET" and i.in_out == "INPUT"]
    return {
        "object": obj.name,
        "group": mod.node_group.name,
        "idents": [i.identifier for i in items],
        "values": {i.identifier: mod[i.identifier] for i in items if i.identifier in set(mod.keys())},
        "interface": {i.identifier: getattr(i, "default_value", None) for i in items},
        "groups": sorted({g.name for g in bpy.data.node_groups}),
        "frames": sum(n.bl_idname == "NodeFrame" for g in bpy.data.node_groups for n in g.nodes),
    }


@requires_bpy
@requires_reference
@pytest.mark.parametrize("name", REFERENCE_NAMES)
def test_reference_program_exports(tmp_path, name):
    from translator.blender_export import export_blend

    path = REFERENCE_DIR / f"{name}.blend"
    snap = _modifier_snapshot(path)
    prog = export_blend(path)
    assert prog.entry == snap["group"] == "Geometry Nodes" and prog.object == snap["object"]
    assert prog.source == f"{name}.blend"
    entry = prog.entry_group
    assert [s.identifier for s in entry.inputs] == snap["idents"]
    if name in ("cabinet", "test"):  # saved by an older Blender: Input_N identifiers
        assert any(i.startswith("Input_") for i in snap["idents"])
    for s in entry.inputs:
        if s.identifier in snap["values"]:
            want = snap["values"][s.identifier]
            assert s.default == (bool(want) if s.type == "BOOLEAN" else pytest.approx(want)), s.name
            assert s.interface_default == pytest.approx(snap["interface"][s.identifier]), s.name
    # every group reached from the entry is there, frames are gone, Group nodes name real groups
    used = {n.group for g in prog.groups.values() for n in g.nodes if n.group}
    assert used <= set(prog.groups) <= set(snap["groups"])
    assert len(prog.groups) > 1
    assert all("NodeFrame" not in node_types(prog, g) for g in prog.groups)
    # the saved IR loads back identically
    save_program(prog, tmp_path / f"{name}.json")
    assert load_program(tmp_path / f"{name}.json").to_dict() == prog.to_dict()


@requires_bpy
@requires_reference
@pytest.mark.parametrize("name", REFERENCE_NAMES)
def test_reference_program_parity_at_modifier_values(name):
    """With the values saved on the modifier, the translated program equals Blender's mesh."""
    import bpy

    from translator.blender_export import export_blend, find_geometry_nodes_modifier
    from translator.codegen import UnsupportedNodesError, check_supported, compile_program

    prog = export_blend(REFERENCE_DIR / f"{name}.blend")
    try:
        check_supported(prog)
    except UnsupportedNodesError as exc:
        pytest.skip(f"needs nodes not implemented yet: {exc}")
    module = compile_program(prog)
    obj = bpy.data.objects[prog.object]
    assert find_geometry_nodes_modifier(obj) is not None
    P.compare(P.evaluate_blender(obj), module.program(), what=f"{name} at its modifier values")


# -- frames, reroutes -------------------------------------------------------------------


def _line_tree():
    """Count, Step -> Math x2 -> Combine XYZ -> Mesh Line; returns (tree, math, combine, line)."""
    t = P.Tree()
    count = t.input("Count", "NodeSocketInt", 4)
    step = t.input("Step", "NodeSocketFloat", 0.5)
    m = t.node("ShaderNodeMath", operation="MULTIPLY", Value_001=2.0)
    cx = t.node("ShaderNodeCombineXYZ")
    line = t.node("GeometryNodeMeshLine")
    t.link(step, m, "Value")
    t.link(m, cx, "X")
    t.link(cx, line, "Offset")
    t.link(count, line, "Count")
    return t, m, cx, line


LINE_SPEC = {"Count": ("int", 1, 7), "Step": ("float", -2.0, 2.0)}


@requires_bpy
def test_frames_are_dropped():
    t, m, cx, line = _line_tree()
    frame = t.ng.nodes.new("NodeFrame")
    inner = t.ng.nodes.new("NodeFrame")
    inner.parent = frame
    for n in (m, cx):
        n.parent = inner
    line.parent = frame
    t.output(line)
    obj = t.object()
    prog = export(obj)
    assert "NodeFrame" not in node_types(prog)
    assert seeded_parity(obj, LINE_SPEC) == 6


@requires_bpy
def test_reroutes_pass_values_through():
    t, _, cx, line = _line_tree()
    ng = t.ng
    for lk in list(ng.links):
        if lk.to_node == line and lk.to_socket.identifier in ("Offset", "Count"):
            ng.links.remove(lk)
    r1, r2, r3 = (ng.nodes.new("NodeReroute") for _ in range(3))
    ng.links.new(cx.outputs["Vector"], r1.inputs[0])
    ng.links.new(r1.outputs[0], r2.inputs[0])
    ng.links.new(r2.outputs[0], line.inputs["Offset"])
    ng.links.new(P.group_input(ng).outputs[0], r3.inputs[0])  # Count through a reroute
    ng.links.new(r3.outputs[0], line.inputs["Count"])
    dangling = ng.nodes.new("NodeReroute")  # nothing linked into it: the socket keeps its own value
    line.inputs["Start Location"].default_value = (5.0, 5.0, 5.0)
    ng.links.new(dangling.outputs[0], line.inputs["Start Location"])
    join = t.node("GeometryNodeJoinGeometry")
    r4 = ng.nodes.new("NodeReroute")
    ng.links.new(line.outputs[0], r4.inputs[0])
    ng.links.new(r4.outputs[0], join.inputs[0])
    t.output(join)
    obj = t.object()
    prog = export(obj)
    assert node_types(prog).count("NodeReroute") == 5
    n = seeded_parity(obj, LINE_SPEC, fixed=[{"Count": 3, "Step": 1.0}])
    assert n == 7
    bm = P.evaluate_blender(obj)
    assert bm.verts[0].tolist() == [5.0, 5.0, 5.0]  # the dangling reroute left Start Location's own value


# -- muted nodes ---------------------------------------------------------------------


@requires_bpy
def test_muted_nodes_pass_through_with_conversions_and_defaults():
    t = P.Tree()
    count = t.input("Count", "NodeSocketInt", 3)
    a = t.input("A", "NodeSocketFloat", 0.5)
    b = t.input("B", "NodeSocketFloat", 1.5)
    # muted Math: its first input passes (the multiplication is skipped)
    m = t.node("ShaderNodeMath", operation="MULTIPLY", Value_001=10.0)
    m.mute = True
    t.link(a, m, "Value")
    # muted Separate XYZ: Vector -> Y is float(vector) = mean, then back to a vector (m, m, m)
    cx = t.node("ShaderNodeCombineXYZ", Z=4.0)
    t.link(m, cx, "X")
    t.link(b, cx, "Y")
    sep = t.node("ShaderNodeSeparateXYZ")
    sep.mute = True
    t.link(cx, sep, "Vector")
    line1 = t.node("GeometryNodeMeshLine")
    t.link(count, line1, "Count")
    t.ng.links.new(sep.outputs["Y"], line1.inputs["Offset"])
    # muted Combine XYZ: X -> Vector converts float to (x, x, x); muted Value: no input, gives 0
    cx2 = t.node("ShaderNodeCombineXYZ")
    cx2.mute = True
    val = t.node("ShaderNodeValue")
    val.outputs[0].default_value = 7.0
    val.mute = True
    t.link(b, cx2, "X")
    line2 = t.node("GeometryNodeMeshLine")
    t.link(cx2, line2, "Offset")
    t.link(count, line2, "Count")
    cx3 = t.node("ShaderNodeCombineXYZ", Y=1.0)
    t.link(val, cx3, "X")
    t.link(cx3, line2, "Start Location")
    # muted Transform passes its geometry; a muted Mesh Line has no geometry input: empty
    tr = t.node("GeometryNodeTransform", Translation=(9.0, 9.0, 9.0))
    tr.mute = True
    t.link(line2, tr, "Geometry")
    dead = t.node("GeometryNodeMeshLine", Count=5)
    dead.mute = True
    # muted Join with three inputs passes only its first link
    mj = t.node("GeometryNodeJoinGeometry")
    mj.mute = True
    third = t.node("GeometryNodeMeshLine", Count=2, Offset=(0.0, 0.0, -1.0))
    for src in (third, line1, tr):
        t.link(src, mj, "Geometry")
    # muted Switch: passes False, whatever the condition says
    msw = t.node("GeometryNodeSwitch", input_type="GEOMETRY", Switch=True)
    msw.mute = True
    t.link(third, msw, "False")
    t.link(tr, msw, "True")
    join = t.node("GeometryNodeJoinGeometry")
    for src in (mj, line1, tr, dead, msw):
        t.link(src, join, "Geometry")
    t.output(join)
    obj = t.object()
    prog = export(obj)
    muted = {n.name: n.internal_links for n in prog.entry_group.nodes if n.mute}
    assert len(muted) == 8 and muted[sep.name] == [["Vector", "X"], ["Vector", "Y"], ["Vector", "Z"]]
    assert muted[dead.name] == [] and muted[msw.name] == [["False", "Output"]]
    spec = {"Count": ("int", 1, 5), "A": ("float", -2.0, 2.0), "B": ("float", -2.0, 2.0)}
    assert seeded_parity(obj, spec, n=8) == 8
    bm = P.evaluate_blender(obj)
    assert len(bm.verts) > 0


# -- links ---------------------------------------------------------------------------


@requires_bpy
def test_muted_invalid_and_unavailable_links_are_dropped_hidden_sockets_kept():
    t, m, cx, line = _line_tree()
    ng = t.ng
    gin = P.group_input(ng)
    # muted link: Combine XYZ's X takes its own value
    cx.inputs["X"].default_value = 0.25
    next(lk for lk in ng.links if lk.to_node == cx and lk.to_socket.identifier == "X").is_muted = True
    # invalid link: a geometry into a float socket; Combine XYZ's Y keeps its own value
    other = t.node("GeometryNodeMeshLine")
    cx.inputs["Y"].default_value = 0.5
    bad = ng.links.new(other.outputs["Mesh"], cx.inputs["Y"])
    # a link into an unavailable socket (Resolution exists only in END_POINTS mode) is ignored
    ng.links.new(gin.outputs[1], P.in_socket(line, "Resolution"))
    # a hidden (collapsed) socket with a value still counts
    cx.inputs["Z"].default_value = 2.0
    cx.inputs["Z"].hide = True
    m2 = t.node("ShaderNodeMath", operation="ADD", Value_001=0.5)
    t.link(m, m2, "Value")
    ng.links.new(gin.outputs[1], P.in_socket(m2, "Value_002"))  # unavailable for ADD
    start = t.node("ShaderNodeCombineXYZ")
    t.link(m2, start, "Z")
    t.link(start, line, "Start Location")
    t.output(line)
    obj = t.object()
    P.evaluate_blender(obj)
    assert not bad.is_valid
    prog = export(obj)
    links = [(lk.from_node, lk.to_node, lk.to_socket) for lk in prog.entry_group.links]
    assert (m.name, cx.name, "X") not in links and (other.name, cx.name, "Y") not in links
    assert not any(to_socket in ("Resolution", "Value_002") for _, _, to_socket in links)
    zsock = prog.entry_group.node(cx.name).input("Z")
    assert zsock.default == 2.0 and zsock.enabled
    assert not prog.entry_group.node(line.name).input("Resolution").enabled
    assert seeded_parity(obj, LINE_SPEC) == 6


# -- nested groups -------------------------------------------------------------------


def _post_group():
    """Group 'Post' (Geometry, Height, Count) -> Join(Geometry, Leaf(Height, Count)) moved up by Leaf's
    'Top'; 'Leaf' makes a line and also returns a float, Top = Height x Count."""
    import bpy

    leaf = bpy.data.node_groups.new("Leaf", "GeometryNodeTree")
    leaf.interface.new_socket(name="Geometry", in_out="OUTPUT", socket_type="NodeSocketGeometry")
    h = P.add_input(leaf, "Height", "NodeSocketFloat", 1.0)
    c = P.add_input(leaf, "Count", "NodeSocketInt", 2)
    lgi, lgo = leaf.nodes.new("NodeGroupInput"), leaf.nodes.new("NodeGroupOutput")
    up = leaf.nodes.new("ShaderNodeCombineXYZ")
    line = leaf.nodes.new("GeometryNodeMeshLine")
    P.link(leaf, lgi, h.identifier, up, "Z")
    P.link(leaf, up, "Vector", line, "Offset")
    P.link(leaf, lgi, c.identifier, line, "Count")
    P.link(leaf, line, "Mesh", lgo, lgo.inputs[0].identifier)
    top = leaf.interface.new_socket(name="Top", in_out="OUTPUT", socket_type="NodeSocketFloat")
    times = leaf.nodes.new("ShaderNodeMath")
    times.operation = "MULTIPLY"
    P.link(leaf, lgi, h.identifier, times, "Value")
    P.link(leaf, lgi, c.identifier, times, "Value_001")
    P.link(leaf, times, "Value", lgo, top.identifier)

    post = bpy.data.node_groups.new("Post", "GeometryNodeTree")
    post.interface.new_socket(name="Geometry", in_out="OUTPUT", socket_type="NodeSocketGeometry")
    g = post.interface.new_socket(name="Geometry", in_out="INPUT", socket_type="NodeSocketGeometry")
    ph = P.add_input(post, "Height", "NodeSocketFloat", 3.0)
    pc = P.add_input(post, "Count", "NodeSocketInt", 3)
    pgi, pgo = post.nodes.new("NodeGroupInput"), post.nodes.new("NodeGroupOutput")
    node = post.nodes.new("GeometryNodeGroup")
    node.node_tree = leaf
    join = post.nodes.new("GeometryNodeJoinGeometry")
    P.link(post, pgi, ph.identifier, node, node.inputs[0].identifier)
    P.link(post, pgi, pc.identifier, node, node.inputs[1].identifier)
    P.link(post, pgi, g.identifier, join, "Geometry")
    P.link(post, node, node.outputs[0].identifier, join, "Geometry")
    up = post.nodes.new("ShaderNodeCombineXYZ")
    P.link(post, node, node.outputs[1].identifier, up, "Z")
    move = post.nodes.new("GeometryNodeTransform")
    P.link(post, join, "Geometry", move, "Geometry")
    P.link(post, up, "Vector", move, "Translation")
    P.link(post, move, "Geometry", pgo, pgo.inputs[0].identifier)
    return post


@requires_bpy
def test_nested_groups_used_twice_with_unlinked_inputs():
    t = P.Tree()
    height = t.input("Height", "NodeSocketFloat", 1.0)
    count = t.input("Count", "NodeSocketInt", 2)
    post = _post_group()
    base = t.node("GeometryNodeMeshLine", Count=2, Offset=(1.0, 0.0, 0.0))
    a = t.ng.nodes.new("GeometryNodeGroup")
    a.node_tree = post
    b = t.ng.nodes.new("GeometryNodeGroup")
    b.node_tree = post
    t.link(base, a, a.inputs[0].identifier)
    t.link(height, a, a.inputs[1].identifier)
    t.link(count, a, a.inputs[2].identifier)
    # 'b': Geometry unlinked, Height set on the node (not the group's default 3.0)
    b.inputs[1].default_value = -0.75
    t.link(height, b, b.inputs[2].identifier)  # a float into the Int socket: converted (truncated)
    tr = t.node("GeometryNodeTransform", Translation=(0.0, 2.0, 0.0))
    t.link(b, tr, "Geometry")
    # 'c': muted, passes its Geometry input through (Blender's internal link)
    c = t.ng.nodes.new("GeometryNodeGroup")
    c.node_tree = post
    c.mute = True
    shifted = t.node("GeometryNodeTransform", Translation=(0.0, -2.0, 0.0))
    t.link(base, shifted, "Geometry")
    t.link(shifted, c, c.inputs[0].identifier)
    join = t.node("GeometryNodeJoinGeometry")
    t.link(a, join, "Geometry")
    t.link(tr, join, "Geometry")
    t.link(c, join, "Geometry")
    t.output(join)
    obj = t.object()
    prog = export(obj)
    assert set(prog.groups) == {"Program", "Post", "Leaf"}
    bnode = prog.entry_group.node(b.name)
    assert bnode.group == "Post" and bnode.inputs[1].default == -0.75
    assert prog.entry_group.node(c.name).internal_links == [[c.inputs[0].identifier, c.outputs[0].identifier]]
    spec = {"Height": ("float", 0.5, 4.5), "Count": ("int", 1, 5)}
    assert seeded_parity(obj, spec, n=8) == 8


# -- multi-input order ---------------------------------------------------------------


@requires_bpy
def test_join_keeps_blenders_multi_input_order():
    t = P.Tree()
    step = t.input("Step", "NodeSocketFloat", 1.0)
    lines = []
    for k in range(5):
        cx = t.node("ShaderNodeCombineXYZ", Y=float(k))
        t.link(step, cx, "X")
        lines.append(t.node("GeometryNodeMeshLine", Count=k + 1))
        t.link(cx, lines[-1], "Start Location")
    join = t.node("GeometryNodeJoinGeometry")
    reroute = t.ng.nodes.new("NodeReroute")
    t.ng.links.new(lines[3].outputs[0], reroute.inputs[0])
    muted_tr = t.node("GeometryNodeTransform", Translation=(0.0, 0.0, 3.0))
    muted_tr.mute = True
    t.link(lines[4], muted_tr, "Geometry")
    for src in (lines[2], lines[0], reroute, muted_tr, lines[1]):  # scrambled link order
        t.link(src, join, "Geometry")
    t.output(join)
    obj = t.object()
    prog = export(obj)
    into_join = [lk.from_node for lk in prog.entry_group.links if lk.to_node == join.name]
    assert len(into_join) == 5
    assert into_join == [lk.from_node.name for lk in join.inputs[0].links]
    assert seeded_parity(obj, {"Step": ("float", -3.0, 3.0)}, n=3) == 3
    # each part is a line of a different length, so the vertex order pins the link order
    bm = P.evaluate_blender(obj)
    assert len(bm.verts) == 15


# -- modifier values, MENU inputs ----------------------------------------------------


@requires_bpy
def test_modifier_values_become_defaults():
    t, _, _, line = _line_tree()
    flag = t.input("Lift", "NodeSocketBool", False)
    vec = t.input("Shift", "NodeSocketVector", (0.0, 0.0, 0.0))
    sw = t.node("GeometryNodeSwitch", input_type="GEOMETRY")
    tr = t.node("GeometryNodeTransform")
    t.link(line, tr, "Geometry")
    t.link(vec, tr, "Translation")
    t.link(line, sw, "False")
    t.link(tr, sw, "True")
    t.link(flag, sw, "Switch")
    t.output(sw)
    obj = t.object()
    P.set_inputs(obj, {"Count": 6, "Step": -0.3, "Lift": True, "Shift": (1.0, 2.0, 3.0)})
    prog = program_from_dict(export(obj).to_dict())
    by_name = {s.name: s for s in prog.entry_group.inputs}
    assert by_name["Count"].default == 6 and by_name["Count"].interface_default == 4
    assert by_name["Step"].default == pytest.approx(-0.3) and by_name["Step"].interface_default == 0.5
    assert by_name["Lift"].default is True and by_name["Lift"].interface_default is False
    assert by_name["Shift"].default == pytest.approx([1.0, 2.0, 3.0])
    from translator.codegen import compile_program

    P.compare(P.evaluate_blender(obj), compile_program(prog).program(), what="modifier values")


def _menu_switch(t, data_type: str):
    """A Menu Switch with items Plain, Moved, Lifted whose ids are 0, 1, 3 (one item was deleted)."""
    ms = t.node("GeometryNodeMenuSwitch", data_type=data_type)
    ms.enum_items.new("Gone")
    ms.enum_items.new("Lifted")
    ms.enum_items.remove(ms.enum_items[2])
    ms.enum_items[0].name = "Plain"
    ms.enum_items[1].name = "Moved"
    assert [s.identifier for s in ms.inputs][1:4] == ["Item_0", "Item_1", "Item_3"]
    return ms


def _menu_tree():
    """A MENU input drives (through a reroute) a GEOMETRY Menu Switch with items ids 0, 1, 3,
    whose per-item booleans feed floats. (A MENU input can drive one enum definition only:
    with two Menu Switches Blender marks the links invalid.)"""
    t, _, _, line = _line_tree()
    menu = t.input("Shape", "NodeSocketMenu")
    ms = _menu_switch(t, "GEOMETRY")
    tr = t.node("GeometryNodeTransform", Translation=(0.0, 0.0, 1.0))
    tr2 = t.node("GeometryNodeTransform", Translation=(0.0, 4.0, 0.0))
    t.link(line, ms, "Item_0")
    t.link(line, tr, "Geometry")
    t.link(tr, ms, "Item_1")
    t.link(line, tr2, "Geometry")
    t.link(tr2, ms, "Item_3")
    r = t.ng.nodes.new("NodeReroute")
    t.link(menu, r, "Input")
    t.ng.links.new(r.outputs[0], ms.inputs["Menu"])
    # after the switch: move by (Moved, 0, Lifted x Step) using the per-item booleans
    post = t.node("GeometryNodeTransform")
    shift = t.node("ShaderNodeCombineXYZ")
    lifted = t.node("ShaderNodeMath", operation="MULTIPLY")
    t.ng.links.new(ms.outputs["Item_1"], shift.inputs["X"])
    t.ng.links.new(ms.outputs["Item_3"], lifted.inputs[0])
    t.link((P.group_input(t.ng), "Socket_2"), lifted, "Value_001")
    t.link(lifted, shift, "Z")
    t.link(shift, post, "Translation")
    t.link(ms, post, "Geometry")
    t.output(post)
    return t


@requires_bpy
def test_link_cycle_is_refused():
    """Blender cannot evaluate a tree with a link cycle (the modifier gives nothing): refuse it."""
    from translator.blender_export import export_object

    t, _, cx, line = _line_tree()
    sep = t.node("ShaderNodeSeparateXYZ")
    t.link(cx, sep, "Vector")
    t.ng.links.new(sep.outputs["Y"], cx.inputs["Y"])
    t.output(line)
    obj = t.object()
    assert len(P.evaluate_blender(obj).verts) == 0
    with pytest.raises(ProgramError, match=r"group 'Program': link cycle through nodes 'Combine XYZ' -> 'Separate XYZ' -> 'Combine XYZ'"):
        export_object(obj)


@requires_bpy
def test_menu_inputs_items_and_modifier_values():
    t = _menu_tree()
    obj = t.object()
    P.set_inputs(obj, {"Shape": "Lifted", "Count": 3})
    prog = export(obj)
    shape = next(s for s in prog.entry_group.inputs if s.name == "Shape")
    assert shape.type == "MENU" and shape.items == ["Plain", "Moved", "Lifted"]
    assert shape.default == "Lifted"
    ms = next(n for n in prog.entry_group.nodes if n.bl_idname == "GeometryNodeMenuSwitch"
              and n.properties["data_type"] == "GEOMETRY")
    assert [s.name for s in ms.outputs] == ["Output", "Plain", "Moved", "Lifted"]
    from translator.codegen import compile_program

    module = compile_program(program_from_dict(prog.to_dict()))
    P.compare(P.evaluate_blender(obj), module.program(), what="the modifier's menu value")
    spec = {"Shape": ("choice", ["Plain", "Moved", "Lifted"]), "Count": ("int", 1, 5)}
    fixed = [{"Shape": s, "Count": 2} for s in ("Plain", "Moved", "Lifted")]
    assert seeded_parity(obj, spec, n=4, fixed=fixed, module=module) == 7


@requires_bpy
def test_menu_items_are_found_through_nested_groups():
    import bpy

    from translator.blender_export import export_node_group

    P.reset_blender()
    inner = P.new_tree("Inner")
    it = P.add_input(inner, "Kind", "NodeSocketMenu")
    ms = inner.nodes.new("GeometryNodeMenuSwitch")
    ms.enum_items.new("Third")
    P.link(inner, P.group_input(inner), it.identifier, ms, "Menu")
    P.link(inner, ms, "Output", P.group_output(inner), "Socket_0")
    outer = P.new_tree("Outer")
    oit = P.add_input(outer, "Kind", "NodeSocketMenu")
    node = outer.nodes.new("GeometryNodeGroup")
    node.node_tree = inner
    r = outer.nodes.new("NodeReroute")
    P.link(outer, P.group_input(outer), oit.identifier, r, "Input")
    outer.links.new(r.outputs[0], node.inputs[0])
    P.link(outer, node, node.outputs[0].identifier, P.group_output(outer), "Socket_0")
    assert bpy.data.node_groups["Outer"] is outer
    prog = export_node_group(outer)
    assert prog.entry_group.inputs[0].items == ["A", "B", "Third"]
    assert prog.groups["Inner"].inputs[0].items == ["A", "B", "Third"]


# -- errors ----------------------------------------------------------------------------


@requires_bpy
def test_export_errors_are_one_line(tmp_path):
    import bpy

    from translator.blender_export import export_blend, export_node_group, export_object

    with pytest.raises(ProgramError, match=r"nope\.blend: no such file"):
        export_blend(tmp_path / "nope.blend")
    junk = tmp_path / "junk.blend"
    junk.write_bytes(b"not a blend file")
    with pytest.raises(ProgramError, match=r"junk\.blend: Blender cannot open it"):
        export_blend(junk)
    P.reset_blender()
    me = bpy.data.meshes.new("M")
    plain = bpy.data.objects.new("Plain\nObject", me)
    with pytest.raises(ProgramError, match=r"object 'Plain\\nObject' has no geometry-nodes modifier"):
        export_object(plain)
    ng = P.new_tree("Broken\ngroup")
    g = ng.nodes.new("GeometryNodeGroup")
    g.name = "Empty\nGroup"
    with pytest.raises(ProgramError) as ei:
        export_node_group(ng)
    assert str(ei.value) == "group 'Broken\\ngroup' node 'Empty\\nGroup': Group node has no node group"


# -- the hand-written IR used by tests without bpy matches real exports -----------------


@requires_bpy
def test_irdocs_match_blender_exports():
    t = P.Tree()
    made = {
        "math": (t.node("ShaderNodeMath"), D.math("x")),
        "combine": (t.node("ShaderNodeCombineXYZ"), D.combine_xyz("x")),
        "line": (t.node("GeometryNodeMeshLine"), D.mesh_line("x")),
        "transform": (t.node("GeometryNodeTransform"), D.transform("x")),
        "join": (t.node("GeometryNodeJoinGeometry"), D.join("x")),
        "value": (t.node("ShaderNodeValue"), D.value("x", 0.0)),
        "compare": (t.node("FunctionNodeCompare"), D.compare("x")),
        "switch": (t.node("GeometryNodeSwitch", input_type="FLOAT"), D.switch("x", "FLOAT", 0.0, 0.0)),
        "index": (t.node("GeometryNodeIndexSwitch", data_type="GEOMETRY"), D.index_switch("x", "GEOMETRY", [None, None])),
        "menu": (t.node("GeometryNodeMenuSwitch", data_type="INT"), D.menu_switch("x", "INT", {"A": 0, "B": 0})),
    }
    t.output(made["line"][0])
    prog = export(t.object())
    for key, (bnode, doc) in made.items():
        ours = prog.entry_group.node(bnode.name)

        def shape(socks):
            return [(s["identifier"], s["type"], s.get("enabled", True), s.get("multi_input", False))
                    for s in socks if s["type"] != "CUSTOM"]

        exported = json.loads(json.dumps({"i": [vars(s) for s in ours.inputs], "o": [vars(s) for s in ours.outputs]}))
        assert shape(doc["inputs"]) == shape(exported["i"]), key
        assert shape(doc["outputs"]) == shape(exported["o"]), key
        assert set(doc["properties"]) <= set(ours.properties), key
        for k, v in doc["properties"].items():
            if k not in ("value", "enum_items", "index_switch_items"):
                assert ours.properties[k] == v, (key, k)
