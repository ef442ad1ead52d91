"""Switch, Index Switch and Menu Switch: socket layout in bpy 5.0.1, and Blender parity for every
input type that can feed geometry, with 20+ random parameter sets per program (discrete values that
change topology included)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from tests.fixtures import parity as P
from tests.fixtures.parity import requires_bpy, seeded_parity

N_RANDOM = 20
SWITCH_TYPES = ("FLOAT", "INT", "BOOLEAN", "VECTOR", "RGBA", "ROTATION", "MATRIX", "STRING", "MENU", "OBJECT",
                "IMAGE", "GEOMETRY", "COLLECTION", "MATERIAL", "BUNDLE", "CLOSURE")
SOCKET_TYPE = {"FLOAT": "VALUE"}


# -- socket layout ---------------------------------------------------------------------


@requires_bpy
def test_switch_sockets_in_blender_5():
    """Switch: Switch/False/True -> Output typed by input_type; Index Switch: Index, Item_0..; Menu
    Switch: Menu, Item_<id> inputs, and Output plus one boolean output per item (Item_<id>)."""
    P.empty_scene()
    ng = P.new_tree()
    sw = ng.nodes.new("GeometryNodeSwitch")
    for t in SWITCH_TYPES:
        sw.input_type = t
        typ = SOCKET_TYPE.get(t, t)
        assert [(s.identifier, s.type) for s in sw.inputs] == [("Switch", "BOOLEAN"), ("False", typ), ("True", typ)], t
        assert [(s.identifier, s.type) for s in sw.outputs] == [("Output", typ)], t
    ix = ng.nodes.new("GeometryNodeIndexSwitch")
    ix.data_type = "FLOAT"
    for _ in range(3):
        ix.index_switch_items.new()
    assert [(s.identifier, s.name, s.type) for s in ix.inputs if s.type != "CUSTOM"] == \
        [("Index", "Index", "INT")] + [(f"Item_{k}", str(k), "VALUE") for k in range(5)]
    assert [s.identifier for s in ix.outputs] == ["Output"]
    ms = ng.nodes.new("GeometryNodeMenuSwitch")
    ms.data_type = "VECTOR"
    ms.enum_items.new("C")
    ms.enum_items.remove(ms.enum_items[0])
    assert [(s.identifier, s.name, s.type) for s in ms.inputs if s.type != "CUSTOM"] == \
        [("Menu", "Menu", "MENU"), ("Item_1", "B", "VECTOR"), ("Item_2", "C", "VECTOR")]
    assert [(s.identifier, s.name, s.type) for s in ms.outputs] == \
        [("Output", "Output", "VECTOR"), ("Item_1", "B", "BOOLEAN"), ("Item_2", "C", "BOOLEAN")]


def test_switch_types_without_values_are_refused():
    """Types that carry no value ShapeProg can compute (shaders, bundles, closures) fail at translation."""
    from tests.fixtures import irdocs as D
    from translator.codegen import UnsupportedNodesError, check_supported
    from translator.ir import program_from_dict

    nodes = [D.switch("Odd", "BUNDLE"), D.index_switch("Odder", "CLOSURE", [None, None]), D.mesh_line("Line"),
             D.join("Join"), D.group_output()]
    for nd in nodes[:2]:
        for sk in nd["inputs"][1:] + nd["outputs"]:
            sk["type"] = nd["properties"].get("input_type", nd["properties"].get("data_type"))
    links = [D.link("Line", "Mesh", "Join", "Geometry"), D.link("Join", "Geometry", "Group Output", "Socket_0")]
    # the switches are linked into the Join only as far as the IR is concerned: types are checked first
    links += [D.link("Odd", "Output", "Join", "Geometry"), D.link("Odder", "Output", "Join", "Geometry")]
    with pytest.raises(UnsupportedNodesError) as ei:
        check_supported(program_from_dict(D.program({"Program": D.group(nodes, links)})))
    msg = str(ei.value)
    assert "node 'Odd' (GeometryNodeSwitch) in group 'Program': switch type 'BUNDLE' is not supported" in msg
    assert "node 'Odder' (GeometryNodeIndexSwitch) in group 'Program': switch type 'CLOSURE' is not supported" in msg


# -- Switch over the types that feed geometry ---------------------------------------------


def _flags(t, n):
    return [t.input(f"F{k}", "NodeSocketBool", False) for k in range(1, n + 1)]


@requires_bpy
def test_switch_parity_numeric_vector_and_geometry_types():
    """FLOAT, INT, BOOLEAN, VECTOR, RGBA, ROTATION and GEOMETRY switches, each driven by its own flag."""
    t = P.Tree()
    count = t.input("Count", "NodeSocketInt", 3)
    alt = t.input("Alt Count", "NodeSocketInt", 0)
    a = t.input("A", "NodeSocketFloat", 0.5)
    b = t.input("B", "NodeSocketFloat", -1.0)
    v = t.input("V", "NodeSocketVector", (0.0, 0.0, 0.0))
    f = _flags(t, 8)
    line = t.node("GeometryNodeMeshLine")
    s_int = t.node("GeometryNodeSwitch", input_type="INT")
    t.link(count, s_int, "False")
    t.link(alt, s_int, "True")
    t.link(f[0], s_int, "Switch")
    t.link(s_int, line, "Count")  # topology
    s_float = t.node("GeometryNodeSwitch", input_type="FLOAT")
    t.link(a, s_float, "False")
    t.link(b, s_float, "True")
    t.link(f[1], s_float, "Switch")
    s_bool = t.node("GeometryNodeSwitch", input_type="BOOLEAN")
    s_bool.inputs["True"].default_value = True
    t.link(f[2], s_bool, "False")
    t.link(f[3], s_bool, "Switch")
    offset = t.node("ShaderNodeCombineXYZ", Z=0.25)
    t.link(s_float, offset, "X")
    t.link(s_bool, offset, "Y")  # boolean -> float
    t.link(offset, line, "Offset")
    s_vec = t.node("GeometryNodeSwitch", input_type="VECTOR")
    ab1 = t.node("ShaderNodeCombineXYZ", Z=1.0)
    t.link(a, ab1, "X")
    t.link(b, ab1, "Y")
    t.link(v, s_vec, "False")
    t.link(ab1, s_vec, "True")
    t.link(f[4], s_vec, "Switch")
    t.link(s_vec, line, "Start Location")
    s_rgba = t.node("GeometryNodeSwitch", input_type="RGBA")
    s_rgba.inputs["False"].default_value = (0.2, 0.4, 0.6, 1.0)
    t.link(ab1, s_rgba, "True")  # vector -> color (x, y, z, 1)
    t.link(f[5], s_rgba, "Switch")
    s_rot = t.node("GeometryNodeSwitch", input_type="ROTATION")
    s_rot.inputs["False"].default_value = (0.1, 0.2, 0.3)
    a0b = t.node("ShaderNodeCombineXYZ")
    t.link(a, a0b, "X")
    t.link(b, a0b, "Z")
    t.link(a0b, s_rot, "True")  # vector -> rotation (Euler)
    t.link(f[6], s_rot, "Switch")
    tr = t.node("GeometryNodeTransform", Translation=(0.0, 0.0, 2.0))
    t.link(line, tr, "Geometry")
    t.link(s_rgba, tr, "Scale")  # color -> vector (r, g, b)
    t.link(s_rot, tr, "Rotation")
    s_geo = t.node("GeometryNodeSwitch", input_type="GEOMETRY")
    t.link(line, s_geo, "False")
    t.link(tr, s_geo, "True")
    t.link(f[7], s_geo, "Switch")
    t.output(s_geo)
    obj = t.object()
    spec = {"Count": ("int", 0, 6), "Alt Count": ("int", 0, 4), "A": ("float", -2, 2), "B": ("float", -2, 2),
            "V": ("vector", -1, 1)} | {f"F{k}": ("bool",) for k in range(1, 9)}
    fixed = [{f"F{k}": on for k in range(1, 9)} for on in (False, True)]
    assert seeded_parity(obj, spec, n=N_RANDOM, fixed=fixed) == N_RANDOM + 2


def _blender_attributes(obj, names):
    attrs, _ = P.evaluate_blender_attributes(obj, names)
    return {k: (None if a is None else a.data.astype(np.float64)) for k, a in attrs.items()}


@requires_bpy
def test_switch_parity_matrix_menu_and_string_types():
    import bpy

    t = P.Tree()
    a = t.input("A", "NodeSocketFloat", 0.5)
    count = t.input("Count", "NodeSocketInt", 3)
    shape = t.input("Shape", "NodeSocketMenu")
    f = _flags(t, 4)
    line = t.node("GeometryNodeMeshLine", Offset=(0.5, 0.0, 0.0))
    t.link(count, line, "Count")
    # MATRIX: identity (unlinked) or a Combine Transform, applied in Transform's Matrix mode
    s_mat = t.node("GeometryNodeSwitch", input_type="MATRIX")
    ct = t.node("FunctionNodeCombineTransform", Scale=(1.0, 2.0, 1.0))
    ta = t.node("ShaderNodeCombineXYZ", Y=0.5)
    t.link(a, ta, "X")
    t.link(ta, ct, "Translation")
    t.link(ct, s_mat, "True")
    t.link(f[0], s_mat, "Switch")
    tr = t.node("GeometryNodeTransform", Mode="Matrix")
    t.link(line, tr, "Geometry")
    t.link(s_mat, tr, "Transform")
    # MENU: the menu input, or the item 'Moved', drives a Menu Switch
    ms = t.node("GeometryNodeMenuSwitch", data_type="GEOMETRY")
    ms.enum_items[0].name, ms.enum_items[1].name = "Plain", "Moved"
    up = t.node("GeometryNodeTransform", Translation=(0.0, 0.0, 1.0))
    t.link(tr, up, "Geometry")
    t.link(tr, ms, "Item_0")
    t.link(up, ms, "Item_1")
    s_menu = t.node("GeometryNodeSwitch", input_type="MENU")
    t.link(shape, s_menu, "False")
    t.link(s_menu, ms, "Menu")
    t.link(f[1], s_menu, "Switch")
    P.evaluate_blender(t.object())  # let Blender propagate the menu items before setting a menu default
    s_menu.inputs["True"].default_value = "Moved"
    # STRING: the name of a stored attribute
    s_str = t.node("GeometryNodeSwitch", input_type="STRING")
    s_str.inputs["False"].default_value = "first"
    s_str.inputs["True"].default_value = "second"
    t.link(f[2], s_str, "Switch")
    store = t.node("GeometryNodeStoreNamedAttribute", data_type="FLOAT", domain="POINT")
    t.link(ms, store, "Geometry")
    t.link(s_str, store, "Name")
    t.link(a, store, "Value")
    t.output(store)
    obj = bpy.data.objects["Obj"]
    module = P.translate_object(obj)
    rng = random.Random(7)
    spec = {"A": ("float", -2, 2), "Count": ("int", 1, 5), "Shape": ("choice", ["Plain", "Moved"])} | \
        {f"F{k}": ("bool",) for k in range(1, 5)}
    sets = [{f"F{k}": on for k in range(1, 5)} | {"Shape": "Plain"} for on in (False, True)]
    sets += [P.random_values(rng, spec) for _ in range(N_RANDOM)]
    for values in sets:
        P.set_inputs(obj, values)
        d, c = P.split_values(module, values)
        mesh = module.program(d, c)
        P.compare(P.evaluate_blender(obj), mesh, what=str(values))
        attrs = _blender_attributes(obj, ["first", "second"])
        for name, data in attrs.items():
            ours = mesh.attributes.get(name)
            assert (ours is None) == (data is None), (name, values)
            if data is not None:
                np.testing.assert_allclose(ours.data[0].detach().double().numpy().reshape(data.shape), data, atol=1e-6)


@requires_bpy
def test_switch_parity_material_type():
    import bpy

    from translator.nodes import get_spec

    if get_spec("GeometryNodeMeshCube") is None:
        pytest.skip("needs the Cube node (a mesh with faces to carry materials)")
    t = P.Tree()
    size = t.input("Size", "NodeSocketFloat", 1.0)
    flag = t.input("Blue", "NodeSocketBool", False)
    cube = t.node("GeometryNodeMeshCube")
    sz = t.node("ShaderNodeCombineXYZ", Y=1.0, Z=0.5)
    t.link(size, sz, "X")
    t.link(sz, cube, "Size")
    red, blue = bpy.data.materials.new("Red"), bpy.data.materials.new("Blue")
    sw = t.node("GeometryNodeSwitch", input_type="MATERIAL")
    sw.inputs["False"].default_value = red
    sw.inputs["True"].default_value = blue
    t.link(flag, sw, "Switch")
    setm = t.node("GeometryNodeSetMaterial")
    t.link(cube, setm, "Geometry")
    t.link(sw, setm, "Material")
    t.output(setm)
    obj = t.object()
    module = P.translate_object(obj)
    rng = random.Random(11)
    sets = [{"Blue": k % 2 == 1, "Size": rng.uniform(0.1, 3.0)} for k in range(N_RANDOM)]
    for values in sets:
        P.set_inputs(obj, values)
        d, c = P.split_values(module, values)
        mesh = module.program(d, c)
        P.compare(P.evaluate_blender(obj), mesh, what=str(values))
        want = ["Blue" if values["Blue"] else "Red"] * 6
        assert _face_materials_blender(obj) == want and _face_materials(mesh) == want, values


def _face_materials_blender(obj) -> list:
    attrs, slots = P.evaluate_blender_attributes(obj, ["material_index"])
    index = attrs["material_index"]
    n = len(P.evaluate_blender(obj).polygons)
    return [slots[i] for i in (index.data.tolist() if index is not None else [0] * n)]


def _face_materials(mesh) -> list:
    index = mesh.attributes.get("material_index")
    idx = index.data[0].tolist() if index is not None else [0] * mesh.num_faces
    return [mesh.materials[i] if i < len(mesh.materials) else None for i in idx]


# -- Index Switch ---------------------------------------------------------------------


@requires_bpy
def test_index_switch_parity_any_number_of_items_and_out_of_range():
    t = P.Tree()
    which = t.input("Which", "NodeSocketInt", 0)
    pick = t.input("Pick", "NodeSocketInt", 0)
    count = t.input("Count", "NodeSocketInt", 3)
    a = t.input("A", "NodeSocketFloat", 0.5)
    b = t.input("B", "NodeSocketFloat", 1.0)
    line = t.node("GeometryNodeMeshLine")
    t.link(count, line, "Count")
    # FLOAT, four items (one a default, one a Math node): the line's X step
    fx = t.node("GeometryNodeIndexSwitch", data_type="FLOAT")
    fx.index_switch_items.new()
    fx.index_switch_items.new()
    prod = t.node("ShaderNodeMath", operation="MULTIPLY")
    t.link(a, prod, "Value")
    t.link(b, prod, "Value_001")
    t.link(a, fx, "Item_0")
    t.link(b, fx, "Item_1")
    fx.inputs["Item_2"].default_value = 1.5
    t.link(prod, fx, "Item_3")
    t.link(pick, fx, "Index")
    step = t.node("ShaderNodeCombineXYZ", Y=0.1)
    t.link(fx, step, "X")
    t.link(step, line, "Offset")
    # VECTOR, three items, indexed by the count (mostly out of range)
    vx = t.node("GeometryNodeIndexSwitch", data_type="VECTOR")
    vx.index_switch_items.new()
    for k, s in enumerate(P.in_socket(vx, f"Item_{k}") for k in range(3)):
        s.default_value = (float(k), 1.0, -float(k))
    t.link(count, vx, "Index")
    t.link(vx, line, "Start Location")
    # GEOMETRY, six items: line, moved line, both, nothing (unlinked), a second line, line again
    gx = t.node("GeometryNodeIndexSwitch", data_type="GEOMETRY")
    for _ in range(4):
        gx.index_switch_items.new()
    moved = t.node("GeometryNodeTransform", Translation=(0.0, 3.0, 0.0), Scale=(2.0, 1.0, 1.0))
    t.link(line, moved, "Geometry")
    both = t.node("GeometryNodeJoinGeometry")
    t.link(line, both, "Geometry")
    t.link(moved, both, "Geometry")
    other = t.node("GeometryNodeMeshLine", Count=2, Offset=(0.0, 0.0, -1.0))
    for k, src in ((0, line), (1, moved), (2, both), (4, other), (5, line)):
        t.link(src, gx, f"Item_{k}")
    t.link(which, gx, "Index")
    t.output(gx)
    obj = t.object()
    spec = {"Which": ("int", -2, 7), "Pick": ("int", -1, 5), "Count": ("int", 0, 4), "A": ("float", -2, 2),
            "B": ("float", -2, 2)}
    fixed = [{"Which": k, "Pick": k - 1, "Count": 2} for k in range(-1, 7)]
    assert seeded_parity(obj, spec, n=N_RANDOM, fixed=fixed) == N_RANDOM + 8


# -- Menu Switch ---------------------------------------------------------------------


@requires_bpy
def test_menu_switch_parity_with_menu_inputs_and_item_booleans():
    t = P.Tree()
    shape = t.input("Shape", "NodeSocketMenu")
    size = t.input("Size", "NodeSocketMenu")
    count = t.input("Count", "NodeSocketInt", 3)
    a = t.input("A", "NodeSocketFloat", 0.5)
    # FLOAT menu (Small / Large / Custom <- A), its own MENU input: the line's step
    fm = t.node("GeometryNodeMenuSwitch", data_type="FLOAT")
    fm.enum_items.new("Custom")
    fm.enum_items[0].name, fm.enum_items[1].name = "Small", "Large"
    P.in_socket(fm, "Item_0").default_value = 0.25
    P.in_socket(fm, "Item_1").default_value = 2.0
    t.link(a, fm, "Item_2")
    t.link(size, fm, "Menu")
    step = t.node("ShaderNodeCombineXYZ")
    t.link(fm, step, "X")
    line = t.node("GeometryNodeMeshLine")
    t.link(count, line, "Count")
    t.link(step, line, "Offset")
    # GEOMETRY menu with four items (ids 0, 2, 3, 4), one left unlinked
    gm = t.node("GeometryNodeMenuSwitch", data_type="GEOMETRY")
    for nm in ("Gone", "Tall", "Twin", "None"):
        gm.enum_items.new(nm)
    gm.enum_items.remove(gm.enum_items[1])
    gm.enum_items.remove(gm.enum_items[1])
    gm.enum_items[0].name = "Flat"
    assert [s.identifier for s in gm.inputs if s.type == "GEOMETRY"] == ["Item_0", "Item_3", "Item_4", "Item_5"]
    tall = t.node("GeometryNodeTransform", Scale=(1.0, 1.0, 3.0), Translation=(0.0, 0.0, 1.0))
    t.link(line, tall, "Geometry")
    twin = t.node("GeometryNodeJoinGeometry")
    t.link(line, twin, "Geometry")
    t.link(tall, twin, "Geometry")
    t.link(line, gm, "Item_0")
    t.link(tall, gm, "Item_3")
    t.link(twin, gm, "Item_4")
    t.link(shape, gm, "Menu")
    # the per-item booleans move the result: x by 'Tall', y by 'None'
    shift = t.node("ShaderNodeCombineXYZ")
    t.ng.links.new(gm.outputs["Item_3"], shift.inputs["X"])
    t.ng.links.new(gm.outputs["Item_5"], shift.inputs["Y"])
    post = t.node("GeometryNodeTransform")
    t.link(gm, post, "Geometry")
    t.link(shift, post, "Translation")
    both = t.node("GeometryNodeJoinGeometry")
    t.link(post, both, "Geometry")
    marker = t.node("GeometryNodeMeshLine", Count=1)  # one point that follows the booleans even for 'None'
    mt = t.node("GeometryNodeTransform")
    t.link(marker, mt, "Geometry")
    t.link(shift, mt, "Translation")
    t.link(mt, both, "Geometry")
    t.output(both)
    obj = t.object()
    module = P.translate_object(obj)
    params = {p.name: p for p in module.PARAMETERS}
    assert params["Shape"].items == ("Flat", "Tall", "Twin", "None")
    assert params["Size"].items == ("Small", "Large", "Custom")
    spec = {"Shape": ("choice", ["Flat", "Tall", "Twin", "None"]), "Size": ("choice", ["Small", "Large", "Custom"]),
            "Count": ("int", 0, 4), "A": ("float", -2, 2)}
    fixed = [{"Shape": s, "Size": z, "Count": 2} for s in ("Flat", "Tall", "Twin", "None") for z in ("Small", "Custom")]
    assert seeded_parity(obj, spec, n=N_RANDOM, fixed=fixed, module=module) == N_RANDOM + 8
