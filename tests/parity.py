"""Blender parity harness: build tiny node programs with bpy, evaluate them in
Blender and with the translator, and compare (topology exactly, positions within
``1e-5`` x the object's size).

Tests import this module; everything bpy-related skips cleanly when bpy is not
installed (``requires_bpy``).
"""

from __future__ import annotations

import importlib.util
import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import torch

HAS_BPY = importlib.util.find_spec("bpy") is not None
requires_bpy = pytest.mark.skipif(not HAS_BPY, reason="bpy (Blender as a Python module, pip 'bpy==5.0.1') is not installed")

REL_TOL = 1e-5


def reset_blender() -> None:
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)


def new_tree(name: str = "Program"):
    """A fresh geometry node group with one Geometry output and a Group Output node."""
    import bpy

    ng = bpy.data.node_groups.new(name, "GeometryNodeTree")
    ng.interface.new_socket(name="Geometry", in_out="OUTPUT", socket_type="NodeSocketGeometry")
    out = ng.nodes.new("NodeGroupOutput")
    out.location = (600, 0)
    gin = ng.nodes.new("NodeGroupInput")
    gin.location = (-600, 0)
    return ng


def add_input(ng, name: str, socket_type: str, default: Any = None, min_value=None, max_value=None):
    """Add an interface input; returns the item (identifier in ``.identifier``)."""
    item = ng.interface.new_socket(name=name, in_out="INPUT", socket_type=socket_type)
    if default is not None:
        item.default_value = default
    if min_value is not None:
        item.min_value = min_value
    if max_value is not None:
        item.max_value = max_value
    return item


def group_input(ng):
    return next(n for n in ng.nodes if n.bl_idname == "NodeGroupInput")


def group_output(ng):
    return next(n for n in ng.nodes if n.bl_idname == "NodeGroupOutput")


def out_socket(node, identifier: str):
    return next(s for s in node.outputs if s.identifier == identifier)


def in_socket(node, identifier: str):
    return next(s for s in node.inputs if s.identifier == identifier)


def link(ng, from_node, from_id: str, to_node, to_id: str):
    return ng.links.new(out_socket(from_node, from_id), in_socket(to_node, to_id))


def make_object(ng, name: str = "Obj"):
    """An object with an empty mesh and a geometry-nodes modifier using ``ng``."""
    import bpy

    me = bpy.data.meshes.new(name + "Mesh")
    obj = bpy.data.objects.new(name, me)
    bpy.context.scene.collection.objects.link(obj)
    mod = obj.modifiers.new("GeometryNodes", "NODES")
    mod.node_group = ng
    return obj


def set_inputs(obj, values: dict[str, Any]) -> None:
    """Set modifier inputs by interface name (or identifier)."""
    mod = next(m for m in obj.modifiers if m.type == "NODES")
    by_name = {}
    for item in mod.node_group.interface.items_tree:
        if item.item_type == "SOCKET" and item.in_out == "INPUT":
            by_name[item.name] = item
            by_name[item.identifier] = item
    for key, v in values.items():
        item = by_name[key]
        if item.socket_type == "NodeSocketFloat":
            v = float(v)
        elif item.socket_type == "NodeSocketInt":
            v = int(v)
        elif item.socket_type == "NodeSocketBool":
            v = bool(v)
        elif item.socket_type == "NodeSocketMenu":
            # menu values on the modifier are the item's identifier
            v = _menu_identifier(mod.node_group, item, v)
        elif item.socket_type == "NodeSocketVector":
            v = [float(x) for x in v]
        mod[item.identifier] = v
    obj.update_tag()


def _menu_identifier(ng, item, name):
    # bpy does not expose NodeEnumItem's identifier; a Menu Switch names the input
    # socket of each item ``Item_<identifier>``.
    for n in ng.nodes:
        if n.bl_idname == "GeometryNodeMenuSwitch":
            for s in n.inputs:
                if s.name == name and s.identifier.startswith("Item_"):
                    return int(s.identifier[len("Item_"):])
    raise KeyError(name)


@dataclass
class BlenderMesh:
    verts: np.ndarray  # (V, 3) float64 (from float32)
    polygons: list[list[int]]
    num_edges: int


def evaluate_blender(obj) -> BlenderMesh:
    import bpy

    dg = bpy.context.evaluated_depsgraph_get()
    dg.update()
    ev = obj.evaluated_get(dg)
    me = ev.to_mesh()
    try:
        buf = np.empty(len(me.vertices) * 3, dtype=np.float32)
        me.vertices.foreach_get("co", buf)
        loops = np.empty(len(me.loops), dtype=np.int64)
        me.loops.foreach_get("vertex_index", loops)
        starts = np.empty(len(me.polygons), dtype=np.int64)
        me.polygons.foreach_get("loop_start", starts)
        totals = np.empty(len(me.polygons), dtype=np.int64)
        me.polygons.foreach_get("loop_total", totals)
        polys = [loops[s : s + t].tolist() for s, t in zip(starts, totals)]
        return BlenderMesh(buf.reshape(-1, 3).astype(np.float64), polys, len(me.edges))
    finally:
        ev.to_mesh_clear()


def translate_object(obj):
    """Export ``obj``'s program and compile it; returns the generated module."""
    from translator.blender_export import export_object
    from translator.codegen import compile_program
    from translator.ir import program_from_dict

    prog = export_object(obj)
    # round trip through JSON data, as a saved program would be
    prog = program_from_dict(prog.to_dict())
    return compile_program(prog)


def split_values(module, values: dict[str, Any], dtype=torch.float64):
    """Split a {name: value} set into the translator's (discrete, continuous) dicts (batch 1)."""
    discrete, continuous = {}, {}
    params = {p.name: p for p in module.PARAMETERS} | {p.identifier: p for p in module.PARAMETERS}
    for k, v in values.items():
        p = params[k]
        if p.kind == "discrete":
            discrete[p.name] = v
        elif p.type == "VECTOR":
            continuous[p.name] = torch.tensor([list(v)], dtype=dtype)
        else:
            continuous[p.name] = torch.tensor([float(v)], dtype=dtype)
    return discrete, continuous


def compare(bm: BlenderMesh, mesh, index: int = 0, what: str = "") -> None:
    """Assert the translator's mesh (batch element ``index``) equals Blender's."""
    ours_v = mesh.verts[index].detach().cpu().double().numpy()
    assert ours_v.shape == bm.verts.shape, f"{what}: vertex count {ours_v.shape[0]} != Blender's {bm.verts.shape[0]}"
    ours_p = mesh.polygons()
    assert len(ours_p) == len(bm.polygons), f"{what}: face count {len(ours_p)} != Blender's {len(bm.polygons)}"
    assert ours_p == bm.polygons, f"{what}: polygons differ (first: {next((a, b) for a, b in zip(ours_p, bm.polygons) if a != b)})"
    if len(bm.verts):
        size = float(np.max(bm.verts.max(0) - bm.verts.min(0)))
        size = max(size, 1e-3)
        err = float(np.abs(ours_v - bm.verts).max())
        assert err <= REL_TOL * size + 1e-7, f"{what}: max vertex error {err:.3g} > {REL_TOL} x size {size:.3g}"


def check_parity(obj, value_sets: Iterable[dict[str, Any]], module=None, attributes: Iterable[str] = (),
                 atol: float = 1e-5) -> int:
    """Evaluate every value set in Blender and with the translator; assert equality (and of the
    named ``attributes`` and material slots, see :func:`compare_attributes`, when given).
    Returns the number of sets checked."""
    module = module or translate_object(obj)
    attributes = list(attributes)
    n = 0
    for values in value_sets:
        set_inputs(obj, values)
        bm = evaluate_blender(obj)
        d, c = split_values(module, values)
        mesh = module.program(d, c)
        compare(bm, mesh, what=f"values {values}")
        if attributes:
            compare_attributes(obj, mesh, attributes, atol=atol)
        n += 1
    return n


def random_values(rng: random.Random, spec: dict[str, tuple]) -> dict[str, Any]:
    """Draw one value set. ``spec`` maps name -> ('float', lo, hi) | ('int', lo, hi) | ('bool',)
    | ('choice', [...]) | ('vector', lo, hi)."""
    out = {}
    for name, s in spec.items():
        kind = s[0]
        if kind == "float":
            out[name] = rng.uniform(s[1], s[2])
        elif kind == "int":
            out[name] = rng.randint(s[1], s[2])
        elif kind == "bool":
            out[name] = rng.random() < 0.5
        elif kind == "choice":
            out[name] = rng.choice(s[1])
        elif kind == "vector":
            out[name] = tuple(rng.uniform(s[1], s[2]) for _ in range(3))
        else:
            raise ValueError(kind)
    return out


# ---------------------------------------------------------------------------
# Evaluated attributes and materials, and a compact node-tree builder


_ATTRIBUTE_LAYOUT = {  # data_type -> (foreach_get property, components, numpy dtype)
    "FLOAT": ("value", 1, np.float32), "INT": ("value", 1, np.int32), "INT8": ("value", 1, np.int32),
    "BOOLEAN": ("value", 1, bool), "FLOAT_VECTOR": ("vector", 3, np.float32), "FLOAT2": ("vector", 2, np.float32),
    "FLOAT_COLOR": ("color", 4, np.float32), "BYTE_COLOR": ("color", 4, np.float32),
    "QUATERNION": ("value", 4, np.float32), "FLOAT4X4": ("value", 16, np.float32),
}


@dataclass
class BlenderAttribute:
    domain: str
    data_type: str
    data: np.ndarray  # (N,) or (N, K); BYTE_COLOR decoded to linear floats; FLOAT4X4 (N, 4, 4) row-major


def evaluate_blender_attributes(obj, names: Iterable[str]) -> tuple[dict[str, BlenderAttribute | None], list]:
    """Attributes ``names`` of ``obj``'s evaluated mesh (None where absent) and its material names."""
    import bpy

    dg = bpy.context.evaluated_depsgraph_get()
    dg.update()
    ev = obj.evaluated_get(dg)
    me = ev.to_mesh()
    try:
        out: dict[str, BlenderAttribute | None] = {}
        for name in names:
            a = me.attributes.get(name)
            if a is None:
                out[name] = None
                continue
            prop, k, dtype = _ATTRIBUTE_LAYOUT[a.data_type]
            buf = np.empty(len(a.data) * k, dtype=dtype)
            a.data.foreach_get(prop, buf)
            data = buf.reshape(len(a.data), k) if k > 1 else buf
            if a.data_type == "FLOAT4X4":  # stored column by column
                data = data.reshape(-1, 4, 4).transpose(0, 2, 1)
            out[name] = BlenderAttribute(a.domain, a.data_type, data)
        materials = [m.name if m is not None else None for m in me.materials]
        return out, materials
    finally:
        ev.to_mesh_clear()


class Tree:
    """A geometry node group under construction: ``t.input(...)`` adds a group input and returns
    its (node, socket identifier) source; ``t.node(bl_idname, prop=value, **{"Socket": value})``
    adds a node, setting properties and unlinked input defaults (by socket identifier);
    ``t.link(src, node, identifier)`` links a source to an input; ``t.output(src)`` feeds the
    group's Geometry output; ``t.object()`` wraps it in an object with the modifier."""

    def __init__(self, name: str = "Program"):
        reset_blender()
        self.ng = new_tree(name)
        self.gin = group_input(self.ng)

    def input(self, name: str, socket_type: str, default: Any = None):
        item = add_input(self.ng, name, socket_type, default)
        return (self.gin, item.identifier)

    def node(self, bl_idname: str, **settings):
        n = self.ng.nodes.new(bl_idname)
        for key, value in settings.items():
            if hasattr(n, key) and not any(s.identifier == key for s in n.inputs):
                setattr(n, key, value)
        for key, value in settings.items():
            sock = next((s for s in n.inputs if s.identifier == key), None)
            if sock is not None:
                sock.default_value = value
        return n

    def link(self, src, to_node, to_id: str):
        node, ident = src if isinstance(src, tuple) else (src, src.outputs[0].identifier)
        return link(self.ng, node, ident, to_node, to_id)

    def output(self, src) -> None:
        self.link(src, group_output(self.ng), group_output(self.ng).inputs[0].identifier)

    def sized_primitive(self, kind: str, size_input: str = "Size", **counts):
        """A Cube (``kind`` "cube", Size from a vector input) or Grid ("grid", Size X from a float
        input) with vertex counts ``counts`` (socket identifiers); returns its mesh source."""
        if kind == "cube":
            prim = self.node("GeometryNodeMeshCube", **counts)
            self.link(self.input(size_input, "NodeSocketVector", (1, 1, 1)), prim, "Size")
        else:
            prim = self.node("GeometryNodeMeshGrid", **counts)
            self.link(self.input(size_input, "NodeSocketFloat", 1.0), prim, "Size X")
        return (prim, "Mesh")

    def index_compare(self, threshold_src, operation: str = "GREATER_THAN"):
        """A selection field: ``Index > threshold`` (a Math node, 1.0 or 0.0)."""
        cmp = self.node("ShaderNodeMath", operation=operation)
        self.link(self.node("GeometryNodeInputIndex"), cmp, "Value")
        self.link(threshold_src, cmp, "Value_001")
        return cmp

    def position_times(self, factor_src):
        """A vector field: ``Position * factor``."""
        vm = self.node("ShaderNodeVectorMath", operation="SCALE")
        self.link(self.node("GeometryNodeInputPosition"), vm, "Vector")
        self.link(factor_src, vm, "Scale")
        return (vm, "Vector")

    def wave_fields(self, k_src, j_src):
        """Fields that vary per element: the vector ``Position * k + (Index * j, 0, 0)`` and the
        float ``Index * j``; returns both sources."""
        ramp = self.node("ShaderNodeMath", operation="MULTIPLY")
        self.link(self.node("GeometryNodeInputIndex"), ramp, "Value")
        self.link(j_src, ramp, "Value_001")
        xyz = self.node("ShaderNodeCombineXYZ")
        self.link(ramp, xyz, "X")
        add = self.node("ShaderNodeVectorMath", operation="ADD")
        self.link(self.position_times(k_src), add, "Vector")
        self.link(xyz, add, "Vector_001")
        return (add, "Vector"), ramp

    def instances_on_line(self, instance_src, count: int, offset_src=None, **line_settings):
        """Instance on Points of ``instance_src`` on a Mesh Line of ``count`` points."""
        line = self.node("GeometryNodeMeshLine", Count=count, **line_settings)
        if offset_src is not None:
            self.link(offset_src, line, "Offset")
        iop = self.node("GeometryNodeInstanceOnPoints")
        self.link((line, "Mesh"), iop, "Points")
        self.link(instance_src, iop, "Instance")
        return iop

    def object(self):
        return make_object(self.ng)


def compare_attributes(obj, mesh, names: Iterable[str], index: int = 0, atol: float = 1e-5, rtol: float = 2e-6) -> None:
    """Assert that ``obj``'s evaluated attributes ``names`` (domain, data type and values) and
    material slots equal those of the translator's ``mesh`` (batch element ``index``).

    Tolerances: ``atol`` plus ``rtol`` of the value (Blender computes in float32); byte colors
    within one byte step (float32 and float64 values may round to neighbouring bytes);
    quaternions up to sign (the runtime carries rotations as Euler angles, so a quaternion that
    passed through a rotation socket comes back as ``q`` or ``-q``, the same rotation)."""
    from translator.nodes.attributes import attribute_type, to_socket

    names = list(names)
    attrs, materials = evaluate_blender_attributes(obj, names)
    assert materials == list(mesh.materials), f"materials {mesh.materials} != Blender's {materials}"
    for name in names:
        ba, ours = attrs[name], mesh.attributes.get(name)
        assert (ba is None) == (ours is None), f"attribute {name!r}: Blender has it: {ba is not None}, we: {ours is not None}"
        if ba is None:
            continue
        t = attribute_type(ours)
        assert (ours.domain, t) == (ba.domain, ba.data_type), f"{name!r}: {(ours.domain, t)} != Blender's {(ba.domain, ba.data_type)}"
        data = ours.data[index if ours.data.shape[0] > 1 else 0]
        if t == "BYTE_COLOR":
            data = to_socket(data, t)
        got = data.detach().cpu().numpy().astype(np.float64)
        expect = ba.data.astype(np.float64)
        if t == "QUATERNION":
            flip = np.sum(got * expect, axis=-1, keepdims=True) < 0
            got = np.where(flip, -got, got)
        np.testing.assert_allclose(got, expect, atol=max(atol, 0.0087) if t == "BYTE_COLOR" else atol, rtol=rtol,
                                   err_msg=f"attribute {name!r}")
