"""Sample Index (every domain, every data type, clamp), Field at Index, Evaluate on Domain, Accumulate Field
(groups; leading, trailing, total), Sample Nearest (every domain) and Sample Nearest Surface (groups): Blender
parity, values stored as attributes on a target mesh or on the source itself; batched like single evaluations;
float64 gradchecks."""

from __future__ import annotations

import pytest
import torch

from tests.fixtures.parity import Tree, check_parity, requires_bpy, split_values, translate_object
from tests.fixtures.probes import draw_sets
from translator import runtime as rt
from translator.nodes import sampling as S
from translator.nodes.fields import mesh_context
from translator.nodes.primitives import mesh_cube, mesh_grid

_STORE_TYPE = {"FLOAT": "FLOAT", "INT": "INT", "FLOAT_VECTOR": "FLOAT_VECTOR", "FLOAT_COLOR": "FLOAT_COLOR",
               "BOOLEAN": "BOOLEAN", "QUATERNION": "QUATERNION", "FLOAT4X4": "FLOAT4X4"}


def _displaced(t: Tree, kind: str = "cube"):
    """A displaced primitive (random offsets scaled by Amount, seeded by Seed)."""
    if kind == "cube":
        prim = t.node("GeometryNodeMeshCube", **{"Vertices X": 3, "Vertices Y": 2, "Vertices Z": 2})
    elif kind == "grid":
        prim = t.node("GeometryNodeMeshGrid", **{"Vertices X": 4, "Vertices Y": 3})
    else:
        prim = t.node("GeometryNodeMeshCylinder", fill_type="NGON", Vertices=6)
    return t.jittered((prim, "Mesh"))


def _value_of(t: Tree, data_type: str, index: bool = True):
    """A field of ``data_type`` that differs per element: built from Position (and Index unless not ``index``)."""
    pos = t.node("GeometryNodeInputPosition")
    if data_type in ("FLOAT_VECTOR", "FLOAT_COLOR", "QUATERNION"):
        add = t.node("ShaderNodeVectorMath", operation="MULTIPLY_ADD", Vector_002=(0.1, -0.2, 0.3),
                     Vector_001=(1.0, 2.0, -0.5))
        t.link(pos, add, "Vector")
        if index:
            t.link(t.node("GeometryNodeInputIndex"), add, "Vector_001")
        return (add, "Vector")
    if data_type == "FLOAT4X4":
        ct = t.node("FunctionNodeCombineTransform")
        t.link(pos, ct, "Translation")
        return (ct, "Transform")
    sep = t.node("ShaderNodeSeparateXYZ")
    t.link(pos, sep, "Vector")
    m = t.node("ShaderNodeMath", operation="MULTIPLY_ADD", Value_001=10.0, Value_002=0.5)
    t.link((sep, "X"), m, "Value")
    if index:
        t.link(t.node("GeometryNodeInputIndex"), m, "Value_002")
    if data_type == "BOOLEAN":
        cmp = t.node("FunctionNodeCompare", data_type="FLOAT", operation="GREATER_THAN", B=2.0)
        t.link((m, "Value"), cmp, "A")
        return (cmp, "Result")
    if data_type == "INT":
        f2i = t.node("FunctionNodeFloatToInt", rounding_mode="FLOOR")
        t.link((m, "Value"), f2i, "Float")
        return (f2i, "Integer")
    return (m, "Value")


def _store(t: Tree, src, value, data_type: str, domain: str, name: str):
    st = t.node("GeometryNodeStoreNamedAttribute", data_type=_STORE_TYPE[data_type], domain=domain, Name=name)
    t.link(src, st, "Geometry")
    t.link(value, st, "Value")
    return (st, "Geometry")


def _index_expr(t: Tree, k: float, c: float):
    m = t.node("ShaderNodeMath", operation="MULTIPLY_ADD", Value_001=k, Value_002=c)
    t.link(t.node("GeometryNodeInputIndex"), m, "Value")
    return (m, "Value")


def _source(t: Tree, domain: str):
    if domain == "INSTANCE":
        iop = t.node("GeometryNodeInstanceOnPoints")
        line = t.node("GeometryNodeMeshLine", Count=5, Offset=(0.3, 0.1, -0.2))
        t.link((line, "Mesh"), iop, "Points")
        t.link((t.node("GeometryNodeMeshCube"), "Mesh"), iop, "Instance")
        sp = t.node("GeometryNodeSetPosition")
        t.link((iop, "Instances"), sp, "Geometry")
        t.link(t.input("Shift", "NodeSocketVector", (0.0, 0.0, 0.0)), sp, "Offset")
        return (sp, "Geometry")
    if domain == "CURVE":
        c = t.node("GeometryNodeCurvePrimitiveCircle", Resolution=7)
        t.link(t.input("Amount", "NodeSocketFloat", 0.1), c, "Radius")
        return (c, "Curve")
    return _displaced(t)


@requires_bpy
@pytest.mark.parametrize("domain", ["POINT", "EDGE", "FACE", "CORNER", "INSTANCE", "CURVE"])
def test_sample_index_parity(domain):
    """Every data type on one domain, clamped and not, at indices below, inside and above the range."""
    t = Tree()
    src = _source(t, domain)
    target = (t.node("GeometryNodeMeshLine", Count=12), "Mesh")
    types = ["FLOAT", "INT", "FLOAT_VECTOR", "BOOLEAN", "FLOAT_COLOR", "QUATERNION", "FLOAT4X4"]
    names = []
    for dt in types:
        for clamp in (False, True) if dt != "QUATERNION" else (True,):
            si = t.node("GeometryNodeSampleIndex", data_type=dt, domain=domain, clamp=clamp)
            t.link(src, si, "Geometry")
            t.link(_value_of(t, dt), si, "Value")
            t.link(_index_expr(t, 5.0 if domain == "CORNER" else 2.0, -3.0), si, "Index")
            name = f"{dt.lower()}_{int(clamp)}"
            target = _store(t, target, (si, "Value"), dt, "POINT", name)
            names.append(name)
    # a single index gives a single value: the target's offset
    one = t.node("GeometryNodeSampleIndex", data_type="FLOAT_VECTOR", domain=domain, Index=1)
    t.link(src, one, "Geometry")
    t.link(_value_of(t, "FLOAT_VECTOR"), one, "Value")
    tr = t.node("GeometryNodeTransform")
    t.link(target, tr, "Geometry")
    t.link((one, "Value"), tr, "Translation")
    t.output((tr, "Geometry"))
    obj = t.object()
    spec = {"Amount": ("float", 0.05, 0.3)}
    if domain == "INSTANCE":
        spec = {"Shift": ("vector", -1.0, 1.0)}
    elif domain != "CURVE":
        spec |= {"Seed": ("int", 0, 100)}
    sets = draw_sets(7, spec, 3)
    assert check_parity(obj, sets, attributes=names) == len(sets)


_PAIRS = [("POINT", "FACE"), ("FACE", "POINT"), ("EDGE", "CORNER"), ("CORNER", "EDGE"), ("POINT", "POINT"),
          ("FACE", "CORNER")]


@requires_bpy
@pytest.mark.parametrize("kind", ["cube", "cylinder"])
def test_field_at_index_evaluate_on_domain_accumulate_parity(kind):
    """Each node on a domain, read on another (stored there), for float, integer, vector and boolean values."""
    t = Tree()
    src = _displaced(t, kind)
    names = []
    for k, (node_domain, store_domain) in enumerate(_PAIRS):
        for dt in ("FLOAT", "INT", "FLOAT_VECTOR", "BOOLEAN"):
            fai = t.node("GeometryNodeFieldAtIndex", domain=node_domain, data_type=dt)
            t.link(_value_of(t, dt), fai, "Value")
            t.link(_index_expr(t, 2.0, -1.0), fai, "Index")
            src = _store(t, src, (fai, "Value"), dt, store_domain, f"fai{k}_{dt.lower()}")
            names.append(f"fai{k}_{dt.lower()}")
            eod = t.node("GeometryNodeFieldOnDomain", domain=node_domain, data_type=dt)
            t.link(_value_of(t, dt), eod, "Value")
            src = _store(t, src, (eod, "Value"), dt, store_domain, f"eod{k}_{dt.lower()}")
            names.append(f"eod{k}_{dt.lower()}")
            if dt == "BOOLEAN":
                continue
            acc = t.node("GeometryNodeAccumulateField", domain=node_domain, data_type=dt)
            t.link(_value_of(t, dt), acc, "Value")
            group = t.node("ShaderNodeMath", operation="FLOORED_MODULO", Value_001=3.0)
            t.link(t.node("GeometryNodeInputIndex"), group, "Value")
            t.link((group, "Value"), acc, "Group Index")
            for out in ("Leading", "Trailing", "Total"):
                name = f"acc{k}_{dt.lower()}_{out.lower()}"
                src = _store(t, src, (acc, out), dt, store_domain, name)
                names.append(name)
    t.output(src)
    obj = t.object()
    sets = draw_sets(8, {"Seed": ("int", 0, 100), "Amount": ("float", 0.05, 0.2)}, 3)
    assert check_parity(obj, sets, attributes=names) == len(sets)


@requires_bpy
def test_accumulate_without_groups_on_curves_and_instances():
    t = Tree()
    curve = t.node("GeometryNodeCurvePrimitiveCircle", Resolution=6)
    t.link(t.input("Amount", "NodeSocketFloat", 0.5), curve, "Radius")
    acc = t.node("GeometryNodeAccumulateField", domain="POINT", data_type="FLOAT_VECTOR")
    t.link(t.node("GeometryNodeInputPosition"), acc, "Value")
    sp = t.node("GeometryNodeSetPosition")
    t.link((curve, "Curve"), sp, "Geometry")
    t.link((acc, "Leading"), sp, "Position")
    c2m = t.node("GeometryNodeCurveToMesh")
    t.link((sp, "Geometry"), c2m, "Curve")
    t.output((c2m, "Mesh"))
    obj = t.object()
    assert check_parity(obj, [{"Amount": a} for a in (0.5, 1.25)]) == 2


_OWN = {"POINT": "POINT", "EDGE": "EDGE", "FACE": "FACE", "CORNER": "FACE"}


@requires_bpy
@pytest.mark.parametrize("domain", ["POINT", "EDGE", "FACE", "CORNER"])
def test_sample_nearest_parity(domain):
    """Sample Nearest of a displaced mesh's own vertices (POINT), edge midpoints (EDGE) and face centres (FACE,
    CORNER) moved by Shift, stored where they are sampled; POINT also from a line of points."""
    t = Tree()
    src = _displaced(t, "grid" if domain in ("POINT", "EDGE") else "cube")
    moved = t.node("GeometryNodeSetPosition")
    t.link(src, moved, "Geometry")
    t.link(t.input("Shift", "NodeSocketVector", (0.0, 0.0, 0.0)), moved, "Offset")
    sn = t.node("GeometryNodeSampleNearest", domain=domain)
    t.link(src, sn, "Geometry")
    out = _store(t, (moved, "Geometry"), (sn, "Index"), "INT", _OWN[domain], "own")
    names = ["own"]
    if domain == "POINT":
        line = t.node("GeometryNodeMeshLine", Count=9, mode="END_POINTS")
        t.link(t.input("Start", "NodeSocketVector", (-1.0, -1.0, 0.3)), line, "Start Location")
        t.link(t.input("End", "NodeSocketVector", (1.0, 0.8, -0.2)), line, "Offset")
        other = t.node("GeometryNodeSampleNearest", domain=domain)
        t.link(src, other, "Geometry")
        target = _store(t, (line, "Mesh"), (other, "Index"), "INT", "POINT", "nearest")
        join = t.node("GeometryNodeJoinGeometry")
        t.link(target, join, "Geometry")
        t.link(out, join, "Geometry")
        out = (join, "Geometry")
        names.append("nearest")
    t.output(out)
    obj = t.object()
    spec = {"Seed": ("int", 0, 100), "Amount": ("float", 0.05, 0.3), "Shift": ("vector", -0.04, 0.04)}
    if domain == "POINT":
        spec |= {"Start": ("vector", -1.2, 1.2), "End": ("vector", -1.2, 1.2)}
    sets = draw_sets(9, spec, 6)
    assert check_parity(obj, sets, attributes=names) == len(sets)


def test_sample_nearest_ties_raise():
    from translator.geometry import GeometrySet

    with rt.eval_context(torch.float64):
        grid = GeometrySet(mesh=mesh_grid(vertices_x=3, vertices_y=3)[0].mesh)
        target = mesh_cube()[0].mesh
        at_vertex = rt.Field(lambda fctx: torch.zeros((1, fctx.size, 3), dtype=torch.float64), "VECTOR")
        field = S.sample_nearest(grid, sample_position=at_vertex, domain="EDGE")
        with pytest.raises(ValueError, match="equally near"):
            field.fn(mesh_context(target, "POINT"))
        assert S.sample_nearest(grid, sample_position=at_vertex, domain="POINT").fn(mesh_context(target, "POINT")).tolist() == [[4] * 8]


@requires_bpy
@pytest.mark.parametrize("groups", [False, True])
def test_sample_nearest_surface_parity(groups):
    t = Tree()
    src = _displaced(t, "cube")
    line = t.node("GeometryNodeMeshLine", Count=10, mode="END_POINTS")
    t.link(t.input("Start", "NodeSocketVector", (-1.0, -1.0, 0.3)), line, "Start Location")
    t.link(t.input("End", "NodeSocketVector", (1.0, 0.8, -0.2)), line, "Offset")
    target = (line, "Mesh")
    names = []
    for dt in ("FLOAT", "FLOAT_VECTOR", "FLOAT_COLOR"):
        sns = t.node("GeometryNodeSampleNearestSurface", data_type=dt)
        t.link(src, sns, "Mesh")
        t.link(_value_of(t, dt, index=False), sns, "Value")
        if groups:
            g = t.node("ShaderNodeMath", operation="FLOORED_MODULO", Value_001=2.0)
            t.link(t.node("GeometryNodeInputIndex"), g, "Value")
            t.link((g, "Value"), sns, "Group ID")
            sg = t.node("ShaderNodeMath", operation="FLOORED_MODULO", Value_001=3.0)
            t.link(t.node("GeometryNodeInputIndex"), sg, "Value")
            t.link((sg, "Value"), sns, "Sample Group ID")
        target = _store(t, target, (sns, "Value"), dt, "POINT", f"v_{dt.lower()}")
        target = _store(t, target, (sns, "Is Valid"), "BOOLEAN", "POINT", f"ok_{dt.lower()}")
        names += [f"v_{dt.lower()}", f"ok_{dt.lower()}"]
    # the sampled positions move the target
    pos = t.node("GeometryNodeSampleNearestSurface", data_type="FLOAT_VECTOR")
    t.link(src, pos, "Mesh")
    t.link(t.node("GeometryNodeInputPosition"), pos, "Value")
    sp = t.node("GeometryNodeSetPosition")
    t.link(target, sp, "Geometry")
    t.link((pos, "Value"), sp, "Position")
    t.output((sp, "Geometry"))
    obj = t.object()
    sets = draw_sets(10, {"Seed": ("int", 0, 100), "Amount": ("float", 0.05, 0.3), "Start": ("vector", -1.2, 1.2),
                          "End": ("vector", -1.2, 1.2)}, 6)
    assert check_parity(obj, sets, attributes=names) == len(sets)


@requires_bpy
def test_sampling_batch_equals_singles():
    t = Tree()
    src = _displaced(t, "cube")
    line = t.node("GeometryNodeMeshLine", Count=6, mode="END_POINTS")
    t.link(t.input("End", "NodeSocketVector", (1.0, 0.8, -0.2)), line, "Offset")
    sns = t.node("GeometryNodeSampleNearestSurface", data_type="FLOAT_VECTOR")
    t.link(src, sns, "Mesh")
    t.link(t.node("GeometryNodeInputPosition"), sns, "Value")
    si = t.node("GeometryNodeSampleIndex", data_type="FLOAT_VECTOR", domain="FACE")
    t.link(src, si, "Geometry")
    t.link(t.node("GeometryNodeInputPosition"), si, "Value")
    t.link(t.node("GeometryNodeInputIndex"), si, "Index")
    add = t.node("ShaderNodeVectorMath", operation="ADD")
    t.link((sns, "Value"), add, "Vector")
    t.link((si, "Value"), add, "Vector_001")
    sp = t.node("GeometryNodeSetPosition")
    t.link((line, "Mesh"), sp, "Geometry")
    t.link((add, "Vector"), sp, "Position")
    t.output((sp, "Geometry"))
    module = translate_object(t.object())
    amounts = torch.tensor([0.0, 0.1, 0.25], dtype=torch.float64)
    ends = torch.tensor([[1.0, 0.8, -0.2], [0.5, -1.0, 0.4], [-0.7, 0.2, 1.1]], dtype=torch.float64)
    batch = module.program({"Seed": 5}, {"Amount": amounts, "End": ends})
    for i in range(3):
        single = module.program(*split_values(module, {"Seed": 5, "Amount": float(amounts[i]), "End": tuple(ends[i].tolist())}))
        torch.testing.assert_close(batch.verts[i], single.verts[0])


def test_sampling_gradchecks():
    with rt.eval_context(torch.float64):
        grid = mesh_grid(size_x=2.0, size_y=1.5, vertices_x=4, vertices_y=3)[0].mesh
        g = torch.Generator().manual_seed(3)
        delta = (0.2 * torch.randn((1, grid.num_verts, 3), generator=g, dtype=torch.float64)).requires_grad_()
        samples = torch.tensor([[[0.3, 0.2, 0.5], [-0.6, 0.1, -0.4], [0.9, -0.5, 0.2]]], dtype=torch.float64,
                               requires_grad=True)
        line = mesh_cube(size=(1.0, 1.0, 1.0))[0].mesh  # a target to read the fields on (its first 3 points)

        def run(d, p):
            from translator.geometry import GeometrySet

            m = type(grid)(grid.verts + d, grid.corner_verts, grid.face_offsets, grid.edges)
            pos_field = rt.Field(lambda fctx: p.expand(1, 3, 3)[:, :fctx.size], "VECTOR")
            value, _ = S.sample_nearest_surface(GeometrySet(mesh=m), value=_position(), sample_position=pos_field,
                                                data_type="FLOAT_VECTOR")
            fctx = rt.FieldContext("POINT", 3, mesh=line)
            acc = S.accumulate_field(value=_position(), group_index=0, data_type="FLOAT_VECTOR")
            si = S.sample_index(GeometrySet(mesh=m), value=_position(), index=rt.Field(
                lambda f: torch.tensor([[0, 5, 11]]), "INT"), data_type="FLOAT_VECTOR", domain="POINT")
            fai = S.field_at_index(value=_position(), index=rt.Field(lambda f: torch.arange(f.size).flip(0).unsqueeze(0),
                                                                     "INT"), domain="POINT", data_type="FLOAT_VECTOR")
            eod = S.evaluate_on_domain(value=_position(), domain="FACE", data_type="FLOAT_VECTOR")
            return torch.cat([value.fn(fctx).reshape(-1), acc[0].fn(mesh_context(m, "POINT")).reshape(-1),
                              acc[2].fn(mesh_context(m, "FACE")).reshape(-1), si.fn(fctx).reshape(-1),
                              fai.fn(mesh_context(m, "EDGE")).reshape(-1), eod.fn(mesh_context(m, "CORNER")).reshape(-1)])

        assert torch.autograd.gradcheck(run, (delta, samples), fast_mode=True, atol=1e-7)


def _position():
    from translator.nodes.fields import position

    return position()


def test_accumulate_groups_and_nearest_choices():
    values = torch.tensor([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]], dtype=torch.float64)
    groups = torch.tensor([[0, 1, 0, 2, 1, 0]])
    lead, trail, total = S._accumulate(values, groups)
    assert lead.tolist() == [[1.0, 2.0, 4.0, 4.0, 7.0, 10.0]]
    assert trail.tolist() == [[0.0, 0.0, 1.0, 0.0, 2.0, 4.0]]
    assert total.tolist() == [[10.0, 7.0, 10.0, 4.0, 7.0, 10.0]]
    p = torch.tensor([[[0.2, 0.2, 1.0]]], dtype=torch.float64)
    tri = [torch.tensor([[[0.0, 0.0, 0.0]]]), torch.tensor([[[1.0, 0.0, 0.0]]]), torch.tensor([[[0.0, 1.0, 0.0]]])]
    q = S.closest_on_triangles(p.unsqueeze(2), *(c.double().unsqueeze(1) for c in tri))
    assert q.reshape(-1).tolist() == pytest.approx([0.2, 0.2, 0.0])
    q = S.closest_on_triangles(torch.tensor([[[[2.0, 2.0, 0.0]]]], dtype=torch.float64), *(c.double().unsqueeze(1) for c in tri))
    assert q.reshape(-1).tolist() == pytest.approx([0.5, 0.5, 0.0])
