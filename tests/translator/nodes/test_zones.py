"""Zones: the Repeat zone (geometry, float and vector state over 0, 1, 5 and negative iteration counts; the count
from a discrete parameter at several values; a field-valued state item; nested zones; a count that differs
across the batch) and the For Each Geometry Element zone (over points generating meshes and instances, with a
generation attribute; over faces with a main output written back; selection; the Element output on every domain
of every component type, with the attributes it inherits; the element's attributes propagated; the stacked fast
path against the per-element reference, values and float64 gradients, its fallbacks). Blender parity, batched like
single evaluations, float64 gradchecks through every iteration, hostile item names inert, one-line refusals."""

from __future__ import annotations

import pytest
import torch

from tests.fixtures.parity import Tree, batch_and_singles, check_parity, requires_bpy, split_values, translate_object
from translator import runtime as rt

_MODULES: dict[str, object] = {}
_COMBINE, _SEPARATE = "ShaderNodeCombineXYZ", "ShaderNodeSeparateXYZ"


def _zone(t: Tree, kind: str):
    """A zone's input and output nodes, paired."""
    if kind == "repeat":
        i, o = t.node("GeometryNodeRepeatInput"), t.node("GeometryNodeRepeatOutput")
    else:
        i, o = t.node("GeometryNodeForeachGeometryElementInput"), t.node("GeometryNodeForeachGeometryElementOutput")
    i.pair_with_output(o)
    return i, o


def _sock(node, name: str, outputs: bool = False) -> str:
    return next(s.identifier for s in (node.outputs if outputs else node.inputs) if s.name == name)


def _repeat_state(item_name: str = "acc") -> Tree:
    """A cube moved ``N`` times by ``off * acc``; ``acc = acc * 0.9 + iteration``; ``off += (0, 0, acc)``: geometry,
    float and vector state, the Iteration output."""
    t = Tree()
    ri, ro = _zone(t, "repeat")
    ro.repeat_items.new("FLOAT", item_name)
    ro.repeat_items.new("VECTOR", "off")
    t.link(t.input("N", "NodeSocketInt", 3), ri, "Iterations")
    cube = t.node("GeometryNodeMeshCube")
    t.link(t.input("Size", "NodeSocketVector", (1.0, 1.0, 1.0)), cube, "Size")
    t.link((cube, "Mesh"), ri, "Item_0")
    t.link(t.input("S", "NodeSocketFloat", 0.5), ri, "Item_1")
    t.link(t.input("Off", "NodeSocketVector", (0.1, 0.2, 0.3)), ri, "Item_2")
    sp = t.node("GeometryNodeSetPosition")
    t.link((ri, "Item_0"), sp, "Geometry")
    sc = t.node("ShaderNodeVectorMath", operation="SCALE")
    t.link((ri, "Item_2"), sc, "Vector")
    t.link((ri, "Item_1"), sc, "Scale")
    t.link((sc, "Vector"), sp, "Offset")
    t.link((sp, "Geometry"), ro, "Item_0")
    mul = t.node("ShaderNodeMath", operation="MULTIPLY_ADD", Value_001=0.9)
    t.link((ri, "Item_1"), mul, "Value")
    t.link((ri, "Iteration"), mul, "Value_002")
    t.link((mul, "Value"), ro, "Item_1")
    xyz = t.node(_COMBINE)
    t.link((ri, "Item_1"), xyz, "Z")
    add = t.node("ShaderNodeVectorMath", operation="ADD")
    t.link((ri, "Item_2"), add, "Vector")
    t.link((xyz, "Vector"), add, "Vector_001")
    t.link((add, "Vector"), ro, "Item_2")
    t.output((ro, "Item_0"))
    return t


def _module(kind: str, build) -> object:
    if kind not in _MODULES:
        _MODULES[kind] = translate_object(build().object())
    return _MODULES[kind]


@requires_bpy
def test_repeat_state_items_parity_over_0_1_5_and_negative_counts():
    obj = _repeat_state().object()
    mod = _MODULES["state"] = translate_object(obj)
    base = {"S": 0.5, "Off": (0.1, 0.2, 0.3), "Size": (1.0, 1.0, 1.0)}
    sets = [{**base, "N": 0}, {**base, "N": 1}, {**base, "N": 5, "S": 0.3, "Off": (0.2, -0.1, 0.05)},
            {**base, "N": -2}, {**base, "N": 2, "Size": (1.5, 0.5, 2.0)}]
    assert check_parity(obj, sets, module=mod) == len(sets)


@requires_bpy
def test_repeat_count_from_a_discrete_parameter_batched_like_singles():
    mod = _module("state", _repeat_state)
    for n in (0, 4):
        sets = [{"N": n, "S": s, "Off": (0.1 * s, 0.2, -0.3), "Size": (1.0, 1.0 + s, 1.0)} for s in (0.2, 0.5, -0.7)]
        batch, singles = batch_and_singles(mod, sets)
        torch.testing.assert_close(batch, singles, rtol=1e-12, atol=1e-12)


@requires_bpy
def test_repeat_gradcheck_through_every_iteration():
    mod = _module("state", _repeat_state)
    s = torch.tensor([0.4, -0.3], dtype=torch.float64, requires_grad=True)
    off = torch.tensor([[0.1, 0.2, 0.3], [-0.2, 0.1, 0.4]], dtype=torch.float64, requires_grad=True)
    size = torch.tensor([[1.0, 1.2, 0.8], [0.6, 1.0, 1.4]], dtype=torch.float64, requires_grad=True)
    fn = lambda s, off, size: mod.program({"N": 4}, {"S": s, "Off": off, "Size": size}).verts
    assert torch.autograd.gradcheck(fn, (s, off, size))


def _repeat_field_state() -> Tree:
    """A float state item that is a field (``Position.x``), composed in every iteration
    (``v = v * 0.5 + Index * K``) and evaluated after the zone on a grid by Set Position."""
    t = Tree()
    ri, ro = _zone(t, "repeat")
    ro.repeat_items.new("FLOAT", "v")
    t.link(t.input("N", "NodeSocketInt", 3), ri, "Iterations")
    grid = t.node("GeometryNodeMeshGrid", **{"Vertices X": 4, "Vertices Y": 3, "Size X": 2.0, "Size Y": 1.5})
    t.link((grid, "Mesh"), ri, "Item_0")
    sep = t.node(_SEPARATE)
    t.link(t.node("GeometryNodeInputPosition"), sep, "Vector")
    t.link((sep, "X"), ri, "Item_1")
    mul = t.node("ShaderNodeMath", operation="MULTIPLY")
    t.link(t.node("GeometryNodeInputIndex"), mul, "Value")
    t.link(t.input("K", "NodeSocketFloat", 0.1), mul, "Value_001")
    fma = t.node("ShaderNodeMath", operation="MULTIPLY_ADD", Value_001=0.5)
    t.link((ri, "Item_1"), fma, "Value")
    t.link((mul, "Value"), fma, "Value_002")
    t.link((fma, "Value"), ro, "Item_1")
    t.link((ri, "Item_0"), ro, "Item_0")
    t.output_offset((ro, "Item_0"), (ro, "Item_1"), "Z")
    return t


@requires_bpy
def test_repeat_field_state_item_parity():
    obj = _repeat_field_state().object()
    sets = [{"N": 0, "K": 0.1}, {"N": 1, "K": 0.3}, {"N": 4, "K": -0.2}]
    assert check_parity(obj, sets) == len(sets)


def _nested() -> Tree:
    """An outer repeat (``N``) of an inner repeat (``M``) moving a cube by
    ``(outer iteration * A, inner iteration * 0.05 + A, 0.1)`` each inner iteration."""
    t = Tree()
    oi, oo = _zone(t, "repeat")
    ii, io = _zone(t, "repeat")
    t.link(t.input("N", "NodeSocketInt", 2), oi, "Iterations")
    t.link(t.input("M", "NodeSocketInt", 3), ii, "Iterations")
    cube = t.node("GeometryNodeMeshCube", **{"Vertices X": 3})
    t.link((cube, "Mesh"), oi, "Item_0")
    t.link((oi, "Item_0"), ii, "Item_0")
    a = t.input("A", "NodeSocketFloat", 0.2)
    ox = t.node("ShaderNodeMath", operation="MULTIPLY")
    t.link((oi, "Iteration"), ox, "Value")
    t.link(a, ox, "Value_001")
    iy = t.node("ShaderNodeMath", operation="MULTIPLY_ADD", Value_001=0.05)
    t.link((ii, "Iteration"), iy, "Value")
    t.link(a, iy, "Value_002")
    xyz = t.node(_COMBINE, Z=0.1)
    t.link((ox, "Value"), xyz, "X")
    t.link((iy, "Value"), xyz, "Y")
    sp = t.node("GeometryNodeSetPosition")
    t.link((ii, "Item_0"), sp, "Geometry")
    t.link((xyz, "Vector"), sp, "Offset")
    t.link((sp, "Geometry"), io, "Item_0")
    t.link((io, "Item_0"), oo, "Item_0")
    t.output((oo, "Item_0"))
    return t


@requires_bpy
def test_nested_repeat_parity_and_gradcheck():
    obj = _nested().object()
    mod = translate_object(obj)
    sets = [{"N": 0, "M": 3, "A": 0.2}, {"N": 2, "M": 0, "A": 0.2}, {"N": 2, "M": 3, "A": 0.3}, {"N": 3, "M": 2, "A": -0.4}]
    assert check_parity(obj, sets, module=mod) == len(sets)
    assert mod.SOURCE.count("rt.repeat_zone(") == 2
    a = torch.tensor([0.3, -0.1], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a: mod.program({"N": 2, "M": 2}, {"A": a}).verts, (a,))


def _count_from_float(geometry_state: bool) -> Tree:
    """The iteration count is ``floor(X)`` (a continuous parameter): float state ``v = v * 1.5 + 0.25`` written
    into a point's z, or geometry state (a Mesh Line that Extrude Mesh grows each iteration)."""
    t = Tree()
    ri, ro = _zone(t, "repeat")
    floor = t.node("ShaderNodeMath", operation="FLOOR")
    t.link(t.input("X", "NodeSocketFloat", 2.0), floor, "Value")
    t.link((floor, "Value"), ri, "Iterations")
    line = t.node("GeometryNodeMeshLine", Count=2)
    if geometry_state:
        t.link((line, "Mesh"), ri, "Item_0")
        ext = t.node("GeometryNodeExtrudeMesh", mode="EDGES")
        t.link((ri, "Item_0"), ext, "Mesh")
        t.link(t.input("Dz", "NodeSocketVector", (0.0, 0.0, 0.5)), ext, "Offset")
        t.link((ext, "Mesh"), ro, "Item_0")
        t.output((ro, "Item_0"))
        return t
    ro.repeat_items.new("FLOAT", "v")
    t.link(t.input("V", "NodeSocketFloat", 0.5), ri, "Item_1")
    fma = t.node("ShaderNodeMath", operation="MULTIPLY_ADD", Value_001=1.5, Value_002=0.25)
    t.link((ri, "Item_1"), fma, "Value")
    t.link((fma, "Value"), ro, "Item_1")
    t.output_offset((line, "Mesh"), (ro, "Item_1"), "Z")
    return t


@requires_bpy
def test_count_from_a_continuous_value_per_element_or_split():
    obj = _count_from_float(False).object()
    mod = translate_object(obj)
    sets = [{"X": 0.5, "V": 0.5}, {"X": 2.7, "V": -0.3}, {"X": 4.0, "V": 0.2}]
    assert check_parity(obj, sets, module=mod) == len(sets)
    # float state only: each element runs its own count (no split), gradients through the iterations it ran
    batch, singles = batch_and_singles(mod, sets)
    torch.testing.assert_close(batch, singles, rtol=1e-12, atol=1e-12)
    v = torch.tensor([0.4, -0.2, 0.3], dtype=torch.float64, requires_grad=True)
    x = torch.tensor([1.5, 3.2, 0.2], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda v: mod.program({}, {"X": x, "V": v}).verts, (v,))
    # geometry state: the count decides topology; a batch that disagrees is refused in one line or split
    obj = _count_from_float(True).object()
    mod = translate_object(obj)
    assert check_parity(obj, [{"X": 0.5, "Dz": (0, 0, 0.5)}, {"X": 2.5, "Dz": (0.1, 0, 0.4)}], module=mod) == 2
    x = torch.tensor([1.5, 3.2, 1.9], dtype=torch.float64)
    with pytest.raises(rt.TopologySplitError, match="iteration count of Repeat zone") as err:
        mod.program({}, {"X": x})
    assert "\n" not in str(err.value)
    groups = mod.program_grouped({}, {"X": x})
    assert [g.tolist() for g, _ in groups] == [[0, 2], [1]]
    for idx, mesh in groups:
        for k, i in enumerate(idx.tolist()):
            single = mod.program({}, {"X": x[i:i + 1]})
            torch.testing.assert_close(mesh.verts[k], single.verts[0])
    # a count shared by the batch is a guard of the traced fast path: a replay with another count is not taken
    entry = next(v for v in vars(mod).values() if hasattr(v, "_shapeprog_traces"))
    entry._shapeprog_traces.entries.clear()
    for _ in range(3):
        mod.program({}, {"X": torch.tensor([2.5, 2.2], dtype=torch.float64)})
    assert entry._shapeprog_traces.stats["replayed"] >= 1
    other = mod.program({}, {"X": torch.tensor([3.5, 3.1], dtype=torch.float64)})
    assert entry._shapeprog_traces.stats["guard_misses"] >= 1
    torch.testing.assert_close(other.verts[:1], mod.program({}, {"X": torch.tensor([3.5], dtype=torch.float64)}).verts)


def _foreach_points(instances: bool = False) -> Tree:
    """For Each point of a Mesh Line (``Index > Th`` selected; a stored point attribute ``w``): a cube of size
    ``0.2 + Index * K`` at the point (as a mesh, or as an instance), a generation float (the cube's ``Position.z``
    times 2 on POINT, or ``Index * K`` on INSTANCE), and a main output ``2 * x``. After the zone the line moves by
    the main output (z), the generated cubes by the generation attribute (x) and by ``w`` (y) that they inherited."""
    t = Tree()
    fi, fo = _zone(t, "foreach")
    fo.input_items.new("VECTOR", "pos")
    fo.main_items.new("FLOAT", "m")
    fo.generation_items.new("FLOAT", "g")
    if instances:
        fo.generation_items[1].domain = "INSTANCE"
    line = t.node("GeometryNodeMeshLine", Count=4)
    t.link(t.input("Off", "NodeSocketVector", (1.0, 0.5, 0.2)), line, "Offset")
    store = t.node("GeometryNodeStoreNamedAttribute", data_type="FLOAT", domain="POINT", Name="w")
    t.link((line, "Mesh"), store, "Geometry")
    wv = t.node("ShaderNodeMath", operation="MULTIPLY", Value_001=0.25)
    t.link(t.node("GeometryNodeInputIndex"), wv, "Value")
    t.link((wv, "Value"), store, "Value")
    t.link((store, "Geometry"), fi, "Geometry")
    t.link((t.index_compare(t.input("Th", "NodeSocketFloat", 0.5)), "Value"), fi, "Selection")
    t.link(t.node("GeometryNodeInputPosition"), fi, _sock(fi, "pos"))
    k = t.input("K", "NodeSocketFloat", 0.3)
    size = t.node("ShaderNodeMath", operation="MULTIPLY_ADD", Value_002=0.2)
    t.link((fi, "Index"), size, "Value")
    t.link(k, size, "Value_001")
    tr = t.node("GeometryNodeTransform")
    t.link((t.node("GeometryNodeMeshCube"), "Mesh"), tr, "Geometry")
    t.link((fi, _sock(fi, "pos", True)), tr, "Translation")
    t.link((size, "Value"), tr, "Scale")
    gen = (tr, "Geometry")
    if instances:
        g2i = t.node("GeometryNodeGeometryToInstance")
        t.link(gen, g2i, "Geometry")
        gen = (g2i, "Instances")
        gval = t.node("ShaderNodeMath", operation="MULTIPLY")
        t.link((fi, "Index"), gval, "Value")
        t.link(k, gval, "Value_001")
    else:
        sep = t.node(_SEPARATE)
        t.link(t.node("GeometryNodeInputPosition"), sep, "Vector")
        gval = t.node("ShaderNodeMath", operation="MULTIPLY", Value_001=2.0)
        t.link((sep, "Z"), gval, "Value")
    t.link(gen, fo, _sock(fo, "Geometry"))
    t.link((gval, "Value"), fo, _sock(fo, "g"))
    sep = t.node(_SEPARATE)
    t.link((fi, _sock(fi, "pos", True)), sep, "Vector")
    m2 = t.node("ShaderNodeMath", operation="MULTIPLY", Value_001=2.0)
    t.link((sep, "X"), m2, "Value")
    t.link((m2, "Value"), fo, _sock(fo, "m"))
    zm = t.node(_COMBINE)
    t.link((fo, _sock(fo, "m", True)), zm, "Z")
    sp = t.node("GeometryNodeSetPosition")
    t.link((fo, "Geometry"), sp, "Geometry")
    t.link((zm, "Vector"), sp, "Offset")
    generated = (fo, [s.identifier for s in fo.outputs if s.name == "Geometry"][1])
    if instances:
        real = t.node("GeometryNodeRealizeInstances")
        t.link(generated, real, "Geometry")
        generated = (real, "Geometry")
    gx = t.node(_COMBINE)
    t.link((fo, _sock(fo, "g", True)), gx, "X")
    t.link((t.node("GeometryNodeInputNamedAttribute", data_type="FLOAT", Name="w"), "Attribute"), gx, "Y")
    sp2 = t.node("GeometryNodeSetPosition")
    t.link(generated, sp2, "Geometry")
    t.link((gx, "Vector"), sp2, "Offset")
    join = t.node("GeometryNodeJoinGeometry")
    t.link((sp2, "Geometry"), join, "Geometry")
    t.link((sp, "Geometry"), join, "Geometry")
    t.output((join, "Geometry"))
    return t


_POINT_SETS = [{"Th": 0.5, "K": 0.3, "Off": (1.0, 0.5, 0.2)}, {"Th": -1.0, "K": 0.1, "Off": (0.6, -0.4, 0.3)},
               {"Th": 5.0, "K": 0.3, "Off": (1.0, 0.5, 0.2)}, {"Th": 1.5, "K": -0.2, "Off": (0.2, 0.9, -0.5)}]


@requires_bpy
@pytest.mark.parametrize("instances", [False, True], ids=["meshes", "instances"])
def test_foreach_points_generating_geometry_parity(instances):
    obj = _foreach_points(instances).object()
    mod = _MODULES[f"points{instances}"] = translate_object(obj)
    assert check_parity(obj, _POINT_SETS, module=mod) == len(_POINT_SETS)


@requires_bpy
@pytest.mark.parametrize("instances", [False, True], ids=["meshes", "instances"])
def test_foreach_batched_like_singles_and_gradcheck(instances):
    """(Instances: the generation attribute is batched while the generated instances' transforms are not.)"""
    mod = _module(f"points{instances}", lambda: _foreach_points(instances))
    batch, singles = batch_and_singles(mod, [{**s, "Th": 0.5} for s in _POINT_SETS])
    torch.testing.assert_close(batch, singles, rtol=1e-12, atol=1e-12)
    k = torch.tensor([0.3, -0.2], dtype=torch.float64, requires_grad=True)
    off = torch.tensor([[1.0, 0.5, 0.2], [0.3, -0.6, 0.4]], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda k, off: mod.program({}, {"K": k, "Off": off, "Th": 0.5}).verts, (k, off), fast_mode=True, atol=1e-7)


def _foreach_faces() -> Tree:
    """For Each face of a grid (``Index > Th`` selected): the main output ``Index * K + center.x`` is written back
    on the faces (the grid's points then move by it, read on POINT: the mean of their faces), and a two-point
    Mesh Line rises from each face's center by ``Index * K`` (generated, joined in face order)."""
    t = Tree()
    fi, fo = _zone(t, "foreach")
    fo.domain = "FACE"
    fo.input_items.new("VECTOR", "center")
    fo.main_items.new("FLOAT", "m")
    grid = t.node("GeometryNodeMeshGrid", **{"Vertices X": 4, "Vertices Y": 3, "Size X": 2.0, "Size Y": 1.0})
    t.link((grid, "Mesh"), fi, "Geometry")
    t.link((t.index_compare(t.input("Th", "NodeSocketFloat", 1.5)), "Value"), fi, "Selection")
    t.link(t.node("GeometryNodeInputPosition"), fi, _sock(fi, "center"))
    k = t.input("K", "NodeSocketFloat", 0.3)
    ik = t.node("ShaderNodeMath", operation="MULTIPLY")
    t.link((fi, "Index"), ik, "Value")
    t.link(k, ik, "Value_001")
    sep = t.node(_SEPARATE)
    t.link((fi, _sock(fi, "center", True)), sep, "Vector")
    m = t.node("ShaderNodeMath", operation="ADD")
    t.link((ik, "Value"), m, "Value")
    t.link((sep, "X"), m, "Value_001")
    t.link((m, "Value"), fo, _sock(fo, "m"))
    up = t.node(_COMBINE)
    t.link((ik, "Value"), up, "Z")
    line = t.node("GeometryNodeMeshLine", Count=2)
    t.link((fi, _sock(fi, "center", True)), line, "Start Location")
    t.link((up, "Vector"), line, "Offset")
    t.link((line, "Mesh"), fo, _sock(fo, "Geometry"))
    zm = t.node(_COMBINE)
    t.link((fo, _sock(fo, "m", True)), zm, "Z")
    sp = t.node("GeometryNodeSetPosition")
    t.link((fo, "Geometry"), sp, "Geometry")
    t.link((zm, "Vector"), sp, "Offset")
    join = t.node("GeometryNodeJoinGeometry")
    t.link((fo, [s.identifier for s in fo.outputs if s.name == "Geometry"][1]), join, "Geometry")
    t.link((sp, "Geometry"), join, "Geometry")
    t.output((join, "Geometry"))
    return t


@requires_bpy
def test_foreach_faces_main_output_written_back_parity():
    obj = _foreach_faces().object()
    mod = translate_object(obj)
    sets = [{"Th": 1.5, "K": 0.3}, {"Th": -1.0, "K": -0.2}, {"Th": 10.0, "K": 0.3}]
    assert check_parity(obj, sets, module=mod) == len(sets)
    batch, singles = batch_and_singles(mod, [{"Th": 1.5, "K": k} for k in (0.1, -0.4, 0.7)])
    torch.testing.assert_close(batch, singles, rtol=1e-12, atol=1e-12)


def _foreach_element() -> Tree:
    """For Each point of a grid: its Element (a one-vertex mesh) raised by ``Index * K``, generated and joined."""
    t = Tree()
    fi, fo = _zone(t, "foreach")
    grid = t.node("GeometryNodeMeshGrid", **{"Vertices X": 3, "Vertices Y": 2})
    t.link((grid, "Mesh"), fi, "Geometry")
    ik = t.node("ShaderNodeMath", operation="MULTIPLY")
    t.link((fi, "Index"), ik, "Value")
    t.link(t.input("K", "NodeSocketFloat", 0.3), ik, "Value_001")
    up = t.node(_COMBINE)
    t.link((ik, "Value"), up, "Z")
    tr = t.node("GeometryNodeTransform")
    t.link((fi, "Element"), tr, "Geometry")
    t.link((up, "Vector"), tr, "Translation")
    t.link((tr, "Geometry"), fo, _sock(fo, "Geometry"))
    join = t.node("GeometryNodeJoinGeometry")
    t.link((fo, [s.identifier for s in fo.outputs if s.name == "Geometry"][1]), join, "Geometry")
    t.link((t.node("GeometryNodeMeshLine", Count=2), "Mesh"), join, "Geometry")
    t.output((join, "Geometry"))
    return t


@requires_bpy
def test_foreach_element_output_parity():
    obj = _foreach_element().object()
    assert check_parity(obj, [{"K": 0.3}, {"K": -0.7}]) == 2


@requires_bpy
def test_hostile_item_names_are_inert():
    hostile = "x'); import os; os.system('true') #\"\"\""
    t = _repeat_state(item_name=hostile)
    obj = t.object()
    mod = translate_object(obj)
    assert "import os" not in mod.SOURCE.replace(repr(hostile), "")
    assert check_parity(obj, [{"N": 2, "S": 0.5, "Off": (0.1, 0.2, 0.3), "Size": (1.0, 1.0, 1.0)}], module=mod) == 1


@requires_bpy
def test_refusals_are_one_line():
    from translator.blender_export import export_object
    from translator.codegen import UnsupportedNodesError, check_supported
    from translator.ir import program_from_dict

    t = _foreach_element()
    fo = next(n for n in t.ng.nodes if n.bl_idname == "GeometryNodeForeachGeometryElementOutput")
    fo.domain = "LAYER"  # Grease Pencil layers are not translated
    doc = export_object(t.object()).to_dict()
    with pytest.raises(UnsupportedNodesError, match="domain 'LAYER' is not supported") as err:
        check_supported(program_from_dict(doc))
    assert "\n" not in str(err.value)
    for n in doc["groups"]["Program"]["nodes"]:
        n["properties"].pop("paired_output", None)
    with pytest.raises(UnsupportedNodesError, match="not paired") as err:
        check_supported(program_from_dict(doc))
    assert "\n" not in str(err.value)


def _every_type() -> Tree:
    """Repeat state of every other socket type: an integer (+2), a boolean (negated), a rotation (rotated by a
    fixed Euler rotation; it moves the cube a little each iteration), a matrix (multiplied by a transform with
    the ``E`` rotation) and a color (scaled as a vector, 0.9); after the zone the cube's points go through the
    matrix and move by the integer, the boolean and the color."""
    t = Tree()
    ri, ro = _zone(t, "repeat")
    for typ, name in (("INT", "i"), ("BOOLEAN", "b"), ("ROTATION", "r"), ("MATRIX", "M"), ("RGBA", "c")):
        ro.repeat_items.new(typ, name)
    t.link(t.input("N", "NodeSocketInt", 2), ri, "Iterations")
    t.link((t.node("GeometryNodeMeshCube"), "Mesh"), ri, "Item_0")
    t.link(t.input("I", "NodeSocketInt", 1), ri, _sock(ri, "i"))
    t.link(t.input("B", "NodeSocketBool", False), ri, _sock(ri, "b"))
    e = t.input("E", "NodeSocketVector", (0.1, 0.2, 0.3))
    e2r = t.node("FunctionNodeEulerToRotation")
    t.link(e, e2r, "Euler")
    t.link((e2r, "Rotation"), ri, _sock(ri, "r"))
    m0 = t.node("FunctionNodeCombineTransform")
    t.link(t.input("T", "NodeSocketVector", (0.0, 0.1, 0.0)), m0, "Translation")
    t.link((m0, "Transform"), ri, _sock(ri, "M"))
    col = t.node("FunctionNodeCombineColor")
    t.link(t.input("Cr", "NodeSocketFloat", 0.5), col, "Red")
    t.link((col, "Color"), ri, _sock(ri, "c"))
    add = t.node("ShaderNodeMath", operation="ADD", Value_001=2.0)
    t.link((ri, _sock(ri, "i", True)), add, "Value")
    t.link((add, "Value"), ro, _sock(ro, "i"))
    neg = t.node("FunctionNodeBooleanMath", operation="NOT")
    t.link((ri, _sock(ri, "b", True)), neg, "Boolean")
    t.link((neg, "Boolean"), ro, _sock(ro, "b"))
    by = t.node("FunctionNodeEulerToRotation")
    by.inputs["Euler"].default_value = (0.3, -0.2, 0.5)
    rr = t.node("FunctionNodeRotateRotation")
    t.link((ri, _sock(ri, "r", True)), rr, "Rotation")
    t.link((by, "Rotation"), rr, "Rotate By")
    t.link((rr, "Rotation"), ro, _sock(ro, "r"))
    step = t.node("FunctionNodeCombineTransform", Translation=(0.1, 0.0, 0.05))
    t.link((e2r, "Rotation"), step, "Rotation")
    mm = t.node("FunctionNodeMatrixMultiply")
    t.link((ri, _sock(ri, "M", True)), mm, "Matrix")
    t.link((step, "Transform"), mm, "Matrix_001")
    t.link((mm, "Matrix"), ro, _sock(ro, "M"))
    sc = t.node("ShaderNodeVectorMath", operation="SCALE", Scale=0.9)
    t.link((ri, _sock(ri, "c", True)), sc, "Vector")
    t.link((sc, "Vector"), ro, _sock(ro, "c"))
    rv = t.node("FunctionNodeRotateVector", Vector=(0.05, 0.0, 0.0))
    t.link((ri, _sock(ri, "r", True)), rv, "Rotation")
    sp = t.node("GeometryNodeSetPosition")
    t.link((ri, "Item_0"), sp, "Geometry")
    t.link((rv, "Vector"), sp, "Offset")
    t.link((sp, "Geometry"), ro, "Item_0")
    tp = t.node("FunctionNodeTransformPoint")
    t.link(t.node("GeometryNodeInputPosition"), tp, "Vector")
    t.link((ro, _sock(ro, "M", True)), tp, "Transform")
    sp2 = t.node("GeometryNodeSetPosition")
    t.link((ro, "Item_0"), sp2, "Geometry")
    t.link((tp, "Vector"), sp2, "Position")
    ib = t.node(_COMBINE)
    t.link((ro, _sock(ro, "i", True)), ib, "X")
    t.link((ro, _sock(ro, "b", True)), ib, "Y")
    off = t.node("ShaderNodeVectorMath", operation="MULTIPLY_ADD", Vector_001=(0.1, 0.1, 0.1))
    t.link((ro, _sock(ro, "c", True)), off, "Vector")
    t.link((ib, "Vector"), off, "Vector_002")
    sp3 = t.node("GeometryNodeSetPosition")
    t.link((sp2, "Geometry"), sp3, "Geometry")
    t.link((off, "Vector"), sp3, "Offset")
    t.output((sp3, "Geometry"))
    return t


@requires_bpy
def test_repeat_state_of_every_type_parity_and_gradcheck():
    obj = _every_type().object()
    mod = translate_object(obj)
    base = {"I": 1, "B": False, "E": (0.1, 0.2, 0.3), "T": (0.0, 0.1, 0.0), "Cr": 0.5}
    sets = [{**base, "N": 0}, {**base, "N": 1, "B": True}, {**base, "N": 3, "I": -4, "E": (0.5, -0.3, 0.2), "Cr": 0.2}]
    assert check_parity(obj, sets, module=mod) == len(sets)
    e = torch.tensor([[0.1, 0.2, 0.3], [0.4, -0.3, 0.6]], dtype=torch.float64, requires_grad=True)
    cr = torch.tensor([0.5, -0.2], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda e, cr: mod.program({"N": 3}, {"E": e, "Cr": cr}).verts, (e, cr), fast_mode=True, atol=1e-7)


def _foreach_domain(domain: str) -> Tree:
    """For Each element of ``domain`` (EDGE / CORNER of a grid, INSTANCE of cubes on a line, CURVE of a circle
    joined with a line, POINT of a point cloud, of a point cloud and a mesh): the main output ``Index * K + Position.x`` written back and read by Set Position (z; on
    instances, their positions; on curves, their points), and a two-point Mesh Line generated at each element's
    position."""
    t = Tree()
    fi, fo = _zone(t, "foreach")
    fo.domain = "POINT" if domain in ("POINTCLOUD", "MIXED") else domain
    fo.input_items.new("VECTOR", "pos")
    fo.main_items.new("FLOAT", "m")
    if domain in ("POINTCLOUD", "MIXED"):
        m2p = t.node("GeometryNodeMeshToPoints")
        t.link((t.node("GeometryNodeMeshLine", Count=3, Offset=(1.0, 0.2, 0.1)), "Mesh"), m2p, "Mesh")
        src = (m2p, "Points")
        if domain == "MIXED":  # a point cloud joined before a mesh: the mesh's points are still iterated first
            join = t.node("GeometryNodeJoinGeometry")
            t.link((t.node("GeometryNodeMeshLine", Count=2, Offset=(0.0, 0.5, 0.3)), "Mesh"), join, "Geometry")
            t.link(src, join, "Geometry")
            src = (join, "Geometry")
    elif domain in ("EDGE", "CORNER"):
        src = (t.node("GeometryNodeMeshGrid", **{"Vertices X": 3, "Vertices Y": 3, "Size X": 2.0}), "Mesh")
    elif domain == "INSTANCE":
        src = (t.instances_on_line((t.node("GeometryNodeMeshCube", Size=(0.3, 0.3, 0.3)), "Mesh"), 3,
                                   Offset=(1.0, 0.2, 0.0)), "Instances")
    else:
        join = t.node("GeometryNodeJoinGeometry")
        t.link((t.node("GeometryNodeCurvePrimitiveCircle", Resolution=5), "Curve"), join, "Geometry")
        t.link((t.node("GeometryNodeCurvePrimitiveLine"), "Curve"), join, "Geometry")
        src = (join, "Geometry")
    t.link(src, fi, "Geometry")
    t.link(t.node("GeometryNodeInputPosition"), fi, _sock(fi, "pos"))
    k = t.input("K", "NodeSocketFloat", 0.3)
    m = t.node("ShaderNodeMath", operation="MULTIPLY_ADD")
    t.link((fi, "Index"), m, "Value")
    t.link(k, m, "Value_001")
    sep = t.node(_SEPARATE)
    t.link((fi, _sock(fi, "pos", True)), sep, "Vector")
    t.link((sep, "X"), m, "Value_002")
    t.link((m, "Value"), fo, _sock(fo, "m"))
    up = t.node(_COMBINE)
    t.link(k, up, "Z")
    line = t.node("GeometryNodeMeshLine", Count=2)
    t.link((fi, _sock(fi, "pos", True)), line, "Start Location")
    t.link((up, "Vector"), line, "Offset")
    t.link((line, "Mesh"), fo, _sock(fo, "Geometry"))
    zm = t.node(_COMBINE)
    t.link((fo, _sock(fo, "m", True)), zm, "Z")
    sp = t.node("GeometryNodeSetPosition")
    t.link((fo, "Geometry"), sp, "Geometry")
    t.link((zm, "Vector"), sp, "Offset")
    moved = (sp, "Geometry")
    if domain == "INSTANCE":
        real = t.node("GeometryNodeRealizeInstances")
        t.link(moved, real, "Geometry")
        moved = (real, "Geometry")
    elif domain == "CURVE":
        c2m = t.node("GeometryNodeCurveToMesh")
        t.link(moved, c2m, "Curve")
        moved = (c2m, "Mesh")
    join = t.node("GeometryNodeJoinGeometry")
    t.link((fo, [s.identifier for s in fo.outputs if s.name == "Geometry"][1]), join, "Geometry")
    t.link(moved, join, "Geometry")
    t.output((join, "Geometry"))
    return t


@requires_bpy
@pytest.mark.parametrize("domain", ["EDGE", "CORNER", "INSTANCE", "CURVE", "POINTCLOUD", "MIXED"])
def test_foreach_other_domains_parity(domain):
    obj = _foreach_domain(domain).object()
    assert check_parity(obj, [{"K": 0.3}, {"K": -0.45}]) == 2


@requires_bpy
def test_zone_inputs_are_live_parameters():
    """The parameter analysis sees what a zone reads through its input node even when the body ignores the
    state (the count still decides whether the initial geometry or the body's comes out)."""
    from translator.blender_export import export_object
    from translator.dependencies import live_parameters

    t = Tree()
    ri, ro = _zone(t, "repeat")
    t.link(t.input("N", "NodeSocketInt", 1), ri, "Iterations")
    t.link(t.sized_primitive("cube"), ri, "Item_0")
    t.link(t.sized_primitive("grid", "Width"), ro, "Item_0")
    t.output((ro, "Item_0"))
    obj = t.object()
    prog = export_object(obj)
    names = {s.identifier: s.name for s in prog.entry_group.inputs}
    assert {names[i] for i in live_parameters(prog, {})} == {"N", "Size", "Width"}
    assert check_parity(obj, [{"N": 0, "Size": (1.0, 2.0, 1.0), "Width": 2.0}, {"N": 3, "Size": (1.0, 1.0, 1.0), "Width": 1.5}]) == 2


def _foreach_in_repeat() -> Tree:
    """A Repeat (``N``, Iterations folded from ``1 + 1`` when ``folded``) whose body runs a For Each over the
    state's points: each point becomes a two-point line rising by ``K * (Iteration + 1)``, so the point count
    doubles every iteration."""
    t = Tree()
    ri, ro = _zone(t, "repeat")
    fi, fo = _zone(t, "foreach")
    fo.input_items.new("VECTOR", "pos")
    t.link(t.input("N", "NodeSocketInt", 2), ri, "Iterations")
    t.link((t.node("GeometryNodeMeshLine", Count=2, Offset=(1.0, 0.0, 0.0)), "Mesh"), ri, "Item_0")
    t.link((ri, "Item_0"), fi, "Geometry")
    t.link(t.node("GeometryNodeInputPosition"), fi, _sock(fi, "pos"))
    step = t.node("ShaderNodeMath", operation="MULTIPLY_ADD")
    t.link((ri, "Iteration"), step, "Value")
    k = t.input("K", "NodeSocketFloat", 0.3)
    t.link(k, step, "Value_001")
    t.link(k, step, "Value_002")
    up = t.node(_COMBINE)
    t.link((step, "Value"), up, "Z")
    t.link((fi, "Index"), up, "X")
    line = t.node("GeometryNodeMeshLine", Count=2)
    t.link((fi, _sock(fi, "pos", True)), line, "Start Location")
    t.link((up, "Vector"), line, "Offset")
    t.link((line, "Mesh"), fo, _sock(fo, "Geometry"))
    t.link((fo, [s.identifier for s in fo.outputs if s.name == "Geometry"][1]), ro, "Item_0")
    t.output((ro, "Item_0"))
    return t


@requires_bpy
def test_foreach_inside_repeat_parity_and_gradcheck():
    obj = _foreach_in_repeat().object()
    mod = translate_object(obj)
    assert "rt.foreach_element_zone(" in mod.SOURCE and "rt.repeat_zone(" in mod.SOURCE
    sets = [{"N": 0, "K": 0.3}, {"N": 1, "K": 0.3}, {"N": 3, "K": -0.25}]
    assert check_parity(obj, sets, module=mod) == len(sets)
    k = torch.tensor([0.3, -0.2], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda k: mod.program({"N": 2}, {"K": k}).verts, (k,))


@requires_bpy
def test_iterations_from_a_folded_constant():
    t = Tree()
    ri, ro = _zone(t, "repeat")
    add = t.node("ShaderNodeMath", operation="ADD", Value=1.0, Value_001=2.0)
    t.link((add, "Value"), ri, "Iterations")
    t.link(t.sized_primitive("cube"), ri, "Item_0")
    tr = t.node("GeometryNodeTransform", Translation=(0.25, 0.0, 0.1))
    t.link((ri, "Item_0"), tr, "Geometry")
    t.link((tr, "Geometry"), ro, "Item_0")
    t.output((ro, "Item_0"))
    obj = t.object()
    mod = translate_object(obj)
    assert "rt.repeat_zone(3, " in mod.SOURCE
    assert check_parity(obj, [{"Size": (1.0, 2.0, 0.5)}], module=mod) == 1


_ELEMENT_SOURCES = ("POINT", "EDGE", "FACE", "CORNER", "POINTCLOUD", "INSTANCE", "CURVE_POINT", "CURVE", "CIRCLE_POINT")


def _store(t: Tree, geometry, name: str, domain: str, factor: float):
    """``geometry`` with the float attribute ``name = Index * factor`` stored on ``domain``."""
    store = t.node("GeometryNodeStoreNamedAttribute", data_type="FLOAT", domain=domain, Name=name)
    t.link(geometry, store, "Geometry")
    v = t.node("ShaderNodeMath", operation="MULTIPLY", Value_001=factor)
    t.link(t.node("GeometryNodeInputIndex"), v, "Value")
    t.link((v, "Value"), store, "Value")
    return (store, "Geometry")


def _foreach_element_on(source: str) -> Tree:
    """For Each element of ``source`` (POINT / EDGE / FACE / CORNER of a cylinder with pentagon caps; POINT of a
    point cloud; INSTANCE of cubes on a line; POINT / CURVE of a circle joined with a Bezier segment), its Element
    moved by ``(f, c, e + Index * K)`` (named attributes the source stores on its domains: what the element
    inherits; CIRCLE_POINT: POINT of the circle alone), generated and joined; point clouds get small cubes,
    instances are realized, curves meshed. ``S``
    sizes the source (the gradients reach the elements' positions through it)."""
    t = Tree()
    fi, fo = _zone(t, "foreach")
    fo.domain = {"POINTCLOUD": "POINT", "CURVE_POINT": "POINT", "CIRCLE_POINT": "POINT"}.get(source, source)
    s = t.input("S", "NodeSocketFloat", 0.8)
    if source in ("POINT", "EDGE", "FACE", "CORNER", "POINTCLOUD"):
        cyl = t.node("GeometryNodeMeshCylinder", fill_type="NGON", Vertices=5, Depth=1.0)
        t.link(s, cyl, "Radius")
        src = (cyl, "Mesh")
        if source == "POINTCLOUD":
            m2p = t.node("GeometryNodeMeshToPoints")
            t.link(src, m2p, "Mesh")
            src = _store(t, (m2p, "Points"), "f", "POINT", 0.25)
        else:
            src = _store(t, _store(t, _store(t, src, "f", "FACE", 0.25), "c", "CORNER", 0.05), "e", "EDGE", 0.1)
    elif source == "INSTANCE":
        iop = t.instances_on_line((t.node("GeometryNodeMeshCube", Size=(0.3, 0.2, 0.1)), "Mesh"), 3,
                                  Offset=(1.0, 0.2, 0.0))
        t.link(s, iop, "Scale")
        src = _store(t, (iop, "Instances"), "f", "INSTANCE", 0.25)
    else:
        circle = t.node("GeometryNodeCurvePrimitiveCircle", Resolution=5)
        t.link(s, circle, "Radius")
        join = t.node("GeometryNodeJoinGeometry")
        t.link((circle, "Curve"), join, "Geometry")
        if source != "CIRCLE_POINT":
            t.link((t.node("GeometryNodeCurvePrimitiveBezierSegment", Resolution=3), "Curve"), join, "Geometry")
        src = _store(t, _store(t, (join, "Geometry"), "f", "CURVE", 0.25), "c", "POINT", 0.05)
    t.link(src, fi, "Geometry")
    ik = t.node("ShaderNodeMath", operation="MULTIPLY_ADD")
    t.link((fi, "Index"), ik, "Value")
    t.link(t.input("K", "NodeSocketFloat", 0.3), ik, "Value_001")
    t.link((t.node("GeometryNodeInputNamedAttribute", data_type="FLOAT", Name="e"), "Attribute"), ik, "Value_002")
    off = t.node(_COMBINE)
    t.link((t.node("GeometryNodeInputNamedAttribute", data_type="FLOAT", Name="f"), "Attribute"), off, "X")
    t.link((t.node("GeometryNodeInputNamedAttribute", data_type="FLOAT", Name="c"), "Attribute"), off, "Y")
    t.link((ik, "Value"), off, "Z")
    sp = t.node("GeometryNodeSetPosition")
    t.link((fi, "Element"), sp, "Geometry")
    t.link((off, "Vector"), sp, "Offset")
    t.link((sp, "Geometry"), fo, _sock(fo, "Geometry"))
    out = (fo, [s.identifier for s in fo.outputs if s.name == "Geometry"][1])
    if source == "POINTCLOUD":
        iop = t.node("GeometryNodeInstanceOnPoints")
        t.link(out, iop, "Points")
        t.link((t.node("GeometryNodeMeshCube", Size=(0.05, 0.05, 0.05)), "Mesh"), iop, "Instance")
        out = (iop, "Instances")
    if source in ("POINTCLOUD", "INSTANCE"):
        real = t.node("GeometryNodeRealizeInstances")
        t.link(out, real, "Geometry")
        out = (real, "Geometry")
    elif source in ("CURVE", "CURVE_POINT", "CIRCLE_POINT"):
        c2m = t.node("GeometryNodeCurveToMesh")
        t.link(out, c2m, "Curve")
        out = (c2m, "Mesh")
    t.output(out)
    return t


@requires_bpy
@pytest.mark.parametrize("source", _ELEMENT_SOURCES)
def test_foreach_element_output_on_every_domain_parity(source):
    """The Element output as Blender builds it on each domain: vertices, their order, faces, edges and the
    attributes the element inherits; batched like singles."""
    from tests.fixtures.parity import evaluate_blender, set_inputs

    obj = _foreach_element_on(source).object()
    mod = _MODULES[f"element{source}"] = translate_object(obj)
    sets = [{"S": 0.8, "K": 0.3}, {"S": 1.3, "K": -0.45}]
    assert check_parity(obj, sets, module=mod) == len(sets)
    set_inputs(obj, sets[1])
    edges = mod.program(*split_values(mod, sets[1])).edges
    assert int(edges.shape[0]) == evaluate_blender(obj).num_edges
    batch, singles = batch_and_singles(mod, [{"S": s, "K": k} for s, k in ((0.8, 0.3), (1.1, -0.2), (0.5, 0.7))])
    torch.testing.assert_close(batch, singles, rtol=1e-12, atol=1e-12)


@requires_bpy
@pytest.mark.parametrize("source", ["FACE", "EDGE", "CURVE"])
def test_foreach_element_output_gradcheck(source):
    mod = _module(f"element{source}", lambda: _foreach_element_on(source))
    s = torch.tensor([0.8, 1.2], dtype=torch.float64, requires_grad=True)
    k = torch.tensor([0.3, -0.4], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda s, k: mod.program({}, {"S": s, "K": k}).verts, (s, k), fast_mode=True, atol=1e-7)


def _count_from_index() -> Tree:
    """For Each point of a Mesh Line: a Mesh Line of ``Index + 2`` points from the point, ``K`` apart (the body's
    topology depends on the element)."""
    t = Tree()
    fi, fo = _zone(t, "foreach")
    fo.input_items.new("VECTOR", "pos")
    t.link((t.node("GeometryNodeMeshLine", Count=3, Offset=(1.0, 0.0, 0.0)), "Mesh"), fi, "Geometry")
    t.link(t.node("GeometryNodeInputPosition"), fi, _sock(fi, "pos"))
    count = t.node("ShaderNodeMath", operation="ADD", Value_001=2.0)
    t.link((fi, "Index"), count, "Value")
    off = t.node(_COMBINE)
    t.link(t.input("K", "NodeSocketFloat", 0.3), off, "Z")
    line = t.node("GeometryNodeMeshLine")
    t.link((count, "Value"), line, "Count")
    t.link((fi, _sock(fi, "pos", True)), line, "Start Location")
    t.link((off, "Vector"), line, "Offset")
    t.link((line, "Mesh"), fo, _sock(fo, "Geometry"))
    t.output((fo, [s.identifier for s in fo.outputs if s.name == "Geometry"][1]))
    return t


_STACK_CASES = {  # tree, values, whether the stacked path applies (False: the body's topology differs per element;
    # elements of different topologies, the cylinder's quads and pentagons, Bezier and poly curves, stack by group)
    "points_meshes": (lambda: _foreach_points(False), {"Th": 0.5, "K": 0.3, "Off": (1.0, 0.5, 0.2)}, True),
    "points_instances": (lambda: _foreach_points(True), {"Th": -1.0, "K": 0.1, "Off": (0.6, -0.4, 0.3)}, True),
    "faces_main": (_foreach_faces, {"Th": 1.5, "K": 0.3}, True),
    **{f"element_{s}": ((lambda s=s: _foreach_element_on(s)), {"S": 0.9, "K": 0.35}, True)
       for s in ("POINT", "EDGE", "FACE", "POINTCLOUD", "INSTANCE", "CURVE_POINT", "CURVE", "CIRCLE_POINT")},
    **{f"domain_{d}": ((lambda d=d: _foreach_domain(d)), {"K": -0.45}, True) for d in ("CORNER", "CURVE", "MIXED")},
    "count_from_index": (_count_from_index, {"K": 0.3}, False),
}


@requires_bpy
@pytest.mark.parametrize("case", list(_STACK_CASES))
def test_foreach_stacked_fast_path_matches_the_per_element_path(case, monkeypatch):
    """Batch 1 stacks the elements into the batch and runs the body once: the same vertices, attributes and float64
    gradients as the per-element loop (the reference); Element outputs of different topologies stack by group; a body
    whose topology differs per element falls back to the loop. Blender parity on the cases this file does not check elsewhere."""
    from translator.runtime import zones

    build, values, applies = _STACK_CASES[case]
    obj = build().object()
    mod = translate_object(obj)
    if case == "count_from_index":
        assert check_parity(obj, [values, {"K": -0.2}], module=mod) == 2
    taken: list[bool] = []
    stacked = zones._stacked

    def spy(*args):
        out = stacked(*args)
        taken.append(out is not None)
        return out

    monkeypatch.setattr(zones, "_stacked", spy)
    d, c = split_values(mod, values)

    def run(stack: bool):
        monkeypatch.setattr(zones, "STACKING", stack)
        c_leaf = {k: v.clone().requires_grad_(True) for k, v in c.items()}
        with rt.eval_context(torch.float64, "cpu", trace=False):
            mesh = mod.program(d, c_leaf)
        w = torch.linspace(0.5, 1.5, mesh.verts.numel(), dtype=torch.float64).reshape(mesh.verts.shape)
        grads = torch.autograd.grad((mesh.verts * w).sum(), list(c_leaf.values()), allow_unused=True)
        return mesh, grads

    fast, g_fast = run(True)
    assert taken and all(taken) == applies
    slow, g_slow = run(False)
    assert fast.polygons() == slow.polygons() and torch.equal(fast.edges, slow.edges)
    torch.testing.assert_close(fast.verts, slow.verts, rtol=1e-12, atol=1e-12)
    assert fast.attributes.keys() == slow.attributes.keys()
    for k in fast.attributes:
        torch.testing.assert_close(fast.attributes[k].data, slow.attributes[k].data, rtol=1e-12, atol=1e-12)
    for a, b in zip(g_fast, g_slow):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)

