"""Store Named Attribute (every data type on every mesh domain and on instances), Named
Attribute (conversions between all data types, Exists), Set Material and Viewer: values read
back from Blender's evaluated mesh and compared with ours; gradients through attributes."""

from __future__ import annotations

import random

import pytest
import torch

from tests.fixtures import parity as P
from tests.fixtures.parity import requires_bpy
from translator import runtime as rt
from translator.nodes import attributes as A
from translator.nodes import fields as F
from translator.nodes import math as M
from translator.nodes import primitives

SEED = 99
TYPES = ("FLOAT", "INT", "INT8", "BOOLEAN", "FLOAT_VECTOR", "FLOAT2", "FLOAT_COLOR", "BYTE_COLOR", "QUATERNION", "FLOAT4X4")
MESH_DOMAINS = ("POINT", "EDGE", "FACE", "CORNER")
READ_TYPES = ("FLOAT", "INT", "BOOLEAN", "FLOAT_VECTOR", "FLOAT_COLOR", "QUATERNION", "FLOAT4X4")  # Named Attribute


def _vec(rng, lo, hi):
    return tuple(rng.uniform(lo, hi) for _ in range(3))


class Fields:
    """Field sources built once per program: a vector field ``Position * K + (Index * J, 0, 0)``,
    a float field ``Index * J - C``, and a matrix field combining them."""

    def __init__(self, t: P.Tree):
        self.t = t
        self.vector, ramp = t.wave_fields(t.input("K", "NodeSocketFloat", 0.5), t.input("J", "NodeSocketFloat", 0.3))
        shifted = t.node("ShaderNodeMath", operation="SUBTRACT")
        t.link(ramp, shifted, "Value")
        t.link(t.input("C", "NodeSocketFloat", 1.0), shifted, "Value_001")
        self.scalar = shifted
        comb = t.node("FunctionNodeCombineTransform")
        t.link(self.vector, comb, "Translation")
        t.link(self.vector, comb, "Rotation")
        t.link(t.input("S", "NodeSocketVector", (1, 1, 1)), comb, "Scale")
        self.matrix = (comb, "Transform")

    def for_type(self, data_type: str):
        if data_type in ("FLOAT", "INT", "INT8", "BOOLEAN"):
            return self.scalar
        if data_type == "FLOAT4X4":
            return self.matrix
        return self.vector

    @staticmethod
    def values(rng) -> dict:
        return {"K": rng.uniform(-2, 2), "J": rng.uniform(-40, 40), "C": rng.uniform(-3, 3), "S": _vec(rng, 0.3, 2)}


def _small_values(rng):
    """Values that keep byte colors, quaternions and matrices in ranges where float32 rounding
    does not flip a byte or an Euler branch."""
    return {"K": rng.uniform(-0.6, 0.6), "J": rng.uniform(-0.2, 0.2), "C": rng.uniform(-1, 1), "S": _vec(rng, 0.3, 2)}


@requires_bpy
@pytest.mark.parametrize("data_type", TYPES)
def test_store_every_type_on_every_mesh_domain(data_type):
    """Per domain: a full store, then a partial store of another field under the same name
    (unselected elements keep the first values) and a partial store under a fresh name
    (unselected elements are zero)."""
    t = P.Tree()
    f = Fields(t)
    cube = t.node("GeometryNodeMeshCube", **{"Vertices X": 3, "Vertices Y": 2, "Vertices Z": 2})
    t.link(t.input("Size", "NodeSocketVector", (1, 1, 1)), cube, "Size")
    geo = (cube, "Mesh")
    threshold = t.input("Threshold", "NodeSocketFloat", 3.0)
    other = t.node("ShaderNodeVectorMath", operation="MULTIPLY")
    t.link(f.for_type("FLOAT_VECTOR"), other, "Vector")
    other.inputs[1].default_value = (-0.5, 0.25, 1.0)
    names = []
    for domain in MESH_DOMAINS:
        for name, selected, src in ((f"a_{domain}", False, f.for_type(data_type)), (f"a_{domain}", True, (other, "Vector")),
                                    (f"b_{domain}", True, f.for_type(data_type))):
            store = t.node("GeometryNodeStoreNamedAttribute", data_type=data_type, domain=domain, Name=name)
            t.link(geo, store, "Geometry")
            t.link(src, store, "Value")
            if selected:
                t.link(t.index_compare(threshold), store, "Selection")
            geo = store
        names += [f"a_{domain}", f"b_{domain}"]
    t.output(geo)
    obj = t.object()
    rng = random.Random(SEED)
    small = data_type in ("BYTE_COLOR", "QUATERNION", "FLOAT4X4")
    sets = [{"Size": _vec(rng, 0.3, 2), "Threshold": rng.uniform(-1, 25), **(_small_values(rng) if small else Fields.values(rng))}
            for _ in range(20)]
    assert P.check_parity(obj, sets, attributes=names, atol=2e-5 if data_type == "FLOAT4X4" else 1e-5) == 20


@requires_bpy
def test_store_on_instances_then_realize():
    """INSTANCE-domain attributes (and "position" on instances) on top-level instances; realize
    puts them on the points of each instance."""
    t = P.Tree()
    f = Fields(t)
    iop = t.instances_on_line((t.node("GeometryNodeMeshCube", Size=(0.2, 0.2, 0.2)), "Mesh"), 5,
                              t.input("Offset", "NodeSocketVector", (1, 0, 0)))
    geo = iop
    names = []
    for data_type in TYPES:
        store = t.node("GeometryNodeStoreNamedAttribute", data_type=data_type, domain="INSTANCE", Name=f"i_{data_type}")
        t.link(geo, store, "Geometry")
        t.link(f.for_type(data_type), store, "Value")
        t.link(t.index_compare(t.input(f"T_{data_type}", "NodeSocketFloat", 1.0)), store, "Selection")
        geo = store
        names.append(f"i_{data_type}")
    move = t.node("GeometryNodeStoreNamedAttribute", data_type="FLOAT_VECTOR", domain="INSTANCE", Name="position")
    t.link(geo, move, "Geometry")
    t.link(f.vector, move, "Value")
    realize = t.node("GeometryNodeRealizeInstances")
    t.link(move, realize, "Geometry")
    t.output(realize)
    rng = random.Random(SEED + 1)
    sets = [{"Offset": _vec(rng, -1, 1), **_small_values(rng), **{f"T_{d}": rng.uniform(-1, 5) for d in TYPES}}
            for _ in range(20)]
    assert P.check_parity(t.object(), sets, attributes=names, atol=2e-5) == 20


@requires_bpy
@pytest.mark.parametrize("source_type", TYPES)
def test_named_attribute_reads_every_type_as_every_type(source_type):
    """Blender's implicit conversions between attribute types (and defaults where it has none)."""
    t = P.Tree()
    f = Fields(t)
    cube = t.node("GeometryNodeMeshCube", **{"Vertices X": 2, "Vertices Y": 3, "Vertices Z": 2})
    store = t.node("GeometryNodeStoreNamedAttribute", data_type=source_type, domain="POINT", Name="src")
    t.link((cube, "Mesh"), store, "Geometry")
    t.link(f.for_type(source_type), store, "Value")
    geo = store
    names = ["src"]
    for target in READ_TYPES:
        read = t.node("GeometryNodeInputNamedAttribute", data_type=target, Name="src")
        out = t.node("GeometryNodeStoreNamedAttribute", data_type=target, domain="POINT", Name=f"to_{target}")
        t.link(geo, out, "Geometry")
        t.link((read, "Attribute"), out, "Value")
        geo = out
        names.append(f"to_{target}")
    t.output(geo)
    rng = random.Random(SEED + 2)
    sets = [_small_values(rng) for _ in range(20)]
    assert P.check_parity(t.object(), sets, attributes=names, atol=2e-5) == 20


@requires_bpy
def test_named_attribute_across_domains_and_exists():
    """A FACE attribute read on points (averaged) drives Set Position; Exists selects."""
    t = P.Tree()
    f = Fields(t)
    grid = t.node("GeometryNodeMeshGrid", **{"Vertices X": 4, "Vertices Y": 3})
    store = t.node("GeometryNodeStoreNamedAttribute", data_type="FLOAT_VECTOR", domain="FACE", Name="lift")
    t.link((grid, "Mesh"), store, "Geometry")
    t.link(f.vector, store, "Value")
    sp = t.node("GeometryNodeSetPosition")
    t.link(store, sp, "Geometry")
    name = t.input("Which", "NodeSocketBool", True)
    read = t.node("GeometryNodeInputNamedAttribute", data_type="FLOAT_VECTOR", Name="lift")
    missing = t.node("GeometryNodeInputNamedAttribute", data_type="FLOAT", Name="nothing")
    either = t.node("FunctionNodeBooleanMath", operation="OR")
    t.link((read, "Exists"), either, "Boolean")
    t.link((missing, "Exists"), either, "Boolean_001")
    switch = t.node("GeometryNodeSwitch", input_type="BOOLEAN")
    t.link(name, switch, "Switch")
    t.link(either, switch, "True")
    t.link((missing, "Exists"), switch, "False")
    t.link(switch, sp, "Selection")
    t.link((read, "Attribute"), sp, "Offset")
    t.output(sp)
    rng = random.Random(SEED + 3)
    sets = [{**Fields.values(rng), "Which": k % 2 == 0} for k in range(20)]
    assert P.check_parity(t.object(), sets, attributes=["lift"]) == 20


@requires_bpy
def test_set_material_parity():
    """Partial and full selections, two materials, no material, and meshes inside instances."""
    import bpy

    t = P.Tree()
    red, blue = bpy.data.materials.new("Red"), bpy.data.materials.new("Blue")
    cube = t.node("GeometryNodeMeshCube", **{"Vertices X": 3})
    first = t.node("GeometryNodeSetMaterial", Material=red)
    t.link((cube, "Mesh"), first, "Geometry")
    t.link(t.index_compare(t.input("RedFrom", "NodeSocketFloat", 2.0)), first, "Selection")
    second = t.node("GeometryNodeSetMaterial", Material=blue)
    t.link(first, second, "Geometry")
    t.link(t.index_compare(t.input("BlueFrom", "NodeSocketFloat", 6.0)), second, "Selection")
    none = t.node("GeometryNodeSetMaterial")
    t.link(second, none, "Geometry")
    t.link(t.index_compare(t.input("NoneFrom", "NodeSocketFloat", 8.0)), none, "Selection")
    iop = t.instances_on_line((t.node("GeometryNodeMeshGrid"), "Mesh"), 2)
    join = t.node("GeometryNodeJoinGeometry")
    t.link(none, join, "Geometry")
    t.link(iop, join, "Geometry")
    on_instances = t.node("GeometryNodeSetMaterial", Material=blue)
    t.link(join, on_instances, "Geometry")
    realize = t.node("GeometryNodeRealizeInstances")
    t.link(on_instances, realize, "Geometry")
    t.output(realize)
    rng = random.Random(SEED + 4)
    sets = [{"RedFrom": rng.uniform(-1, 12), "BlueFrom": rng.uniform(-1, 12), "NoneFrom": rng.uniform(-1, 16)} for _ in range(20)]
    assert P.check_parity(t.object(), sets, attributes=["material_index"]) == 20


@requires_bpy
def test_viewer_passes_nothing_on():
    t = P.Tree()
    cube = t.node("GeometryNodeMeshCube")
    viewer = t.node("GeometryNodeViewer")
    t.link((cube, "Mesh"), viewer, viewer.inputs[0].identifier)
    sp = t.node("GeometryNodeSetPosition", Offset=(0.0, 0.0, 1.0))
    t.link((cube, "Mesh"), sp, "Geometry")
    t.output(sp)
    assert P.check_parity(t.object(), [{}]) == 1


@requires_bpy
def test_store_position_and_builtin_mismatch():
    """"position" on POINT / FLOAT_VECTOR moves vertices; a built-in name with another domain
    or type writes nothing; an empty name writes nothing."""
    t = P.Tree()
    f = Fields(t)
    grid = t.node("GeometryNodeMeshGrid", **{"Vertices X": 3, "Vertices Y": 3})
    geo = (grid, "Mesh")
    for name, data_type, domain in (("position", "FLOAT_VECTOR", "POINT"), ("position", "FLOAT_VECTOR", "FACE"),
                                    ("material_index", "FLOAT", "FACE"), ("", "FLOAT", "POINT")):
        store = t.node("GeometryNodeStoreNamedAttribute", data_type=data_type, domain=domain, Name=name)
        t.link(geo, store, "Geometry")
        t.link(f.for_type(data_type), store, "Value")
        geo = store
    t.output(geo)
    rng = random.Random(SEED + 5)
    assert P.check_parity(t.object(), [Fields.values(rng) for _ in range(5)], attributes=["material_index"]) == 5


def test_store_named_attribute_unit_behaviour():
    with rt.eval_context(torch.float64):
        geo = primitives.mesh_grid(size_x=1.0, size_y=1.0, vertices_x=3, vertices_y=2)[0]
        assert A.store_named_attribute(geo, name="", value=1.0) is geo
        out = A.store_named_attribute(geo, name="w", value=F.index(), data_type="INT8", domain="FACE")
        attr = out.mesh.attributes["w"]
        assert (attr.domain, A.attribute_type(attr), attr.data.dtype) == ("FACE", "INT8", torch.int8)
        assert attr.data.tolist() == [[0, 1]]
        assert "w" not in geo.mesh.attributes  # the input geometry is not modified
        assert A.store_named_attribute(None, name="w").is_empty()


def test_check_rejects_unsupported_types_and_domains():
    from translator.ir import Node

    assert "STRING" in A._check_store(Node("S", "GeometryNodeStoreNamedAttribute", properties={"data_type": "STRING", "domain": "POINT"}))
    assert "LAYER" in A._check_store(Node("S", "GeometryNodeStoreNamedAttribute", properties={"data_type": "FLOAT", "domain": "LAYER"}))
    assert A._check_store(Node("S", "GeometryNodeStoreNamedAttribute", properties={"data_type": "FLOAT", "domain": "EDGE"})) is None


def test_conversion_without_blender_equivalent_raises_clearly():
    with pytest.raises(TypeError, match="no implicit conversion from a FLOAT4X4 attribute to FLOAT"):
        A.convert_attribute(torch.zeros(1, 2, 4, 4), "FLOAT4X4", "FLOAT")
    assert A.try_convert(torch.zeros(1, 2, 4, 4), "FLOAT4X4", "FLOAT") is None


def test_byte_colors_round_trip_bytes():
    b = torch.arange(256, dtype=torch.uint8).reshape(64, 4)
    assert torch.equal(A.encode_byte_color(A.decode_byte_color(b).double()), b)


def test_gradcheck_through_stored_attribute():
    """Position * k stored as an attribute, read back and used as an offset."""
    with rt.eval_context(torch.float64):
        geo = primitives.mesh_cube(size=(1.0, 2.0, 0.5), vertices_x=2, vertices_y=3, vertices_z=2)[0]
        k = torch.randn(2, dtype=torch.float64, requires_grad=True)

        def f(k):
            value, _ = M.vector_math("SCALE", vector=F.position(), scale=k)
            stored = A.store_named_attribute(geo, name="o", value=value, data_type="FLOAT_VECTOR", domain="FACE")
            read, _ = A.named_attribute(name="o", data_type="FLOAT_VECTOR")
            return F.set_position(stored, offset=read).mesh.verts

        assert torch.autograd.gradcheck(f, (k,))
