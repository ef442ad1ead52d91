"""Transform Geometry (Components / Matrix), Combine / Separate Transform, Join Geometry and the
rotation helpers: Blender parity, mathutils as the oracle for the rotation math, float64 gradchecks."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch

from tests.fixtures import parity as P
from tests.fixtures.parity import requires_bpy
from translator import runtime as rt
from translator.geometry import GeometrySet
from translator.nodes import primitives
from translator.nodes import transform as T

SEED = 1234


def _vec(rng, lo, hi):
    return tuple(rng.uniform(lo, hi) for _ in range(3))


def _scale(rng):
    """A scale with random signs, never close to zero."""
    return tuple(rng.choice((-1, 1)) * rng.uniform(0.3, 2.0) for _ in range(3))


# ---------------------------------------------------------------------------
# Rotation helpers against mathutils (Blender's own math)


@requires_bpy
def test_rotation_helpers_match_mathutils():
    import bpy  # noqa: F401  (makes mathutils importable)
    from mathutils import Euler, Matrix

    rng = random.Random(SEED)
    eulers = [_vec(rng, -4, 4) for _ in range(200)] + [(0.3, math.pi / 2, -0.7), (1.0, -math.pi / 2, 2.0), (0, 0, 0)]
    e = torch.tensor(eulers, dtype=torch.float64)
    mats = T.euler_to_matrix(e)
    quats = T.euler_to_quaternion(e)
    for k, ang in enumerate(eulers):
        eu = Euler(ang, "XYZ")
        np.testing.assert_allclose(mats[k].numpy(), np.array(eu.to_matrix()), atol=2e-6)
        np.testing.assert_allclose(quats[k].numpy(), np.array(eu.to_quaternion()), atol=2e-6)
        m = Matrix(mats[k].tolist())
        ours = T.matrix_to_euler(mats[k])
        np.testing.assert_allclose(ours.numpy(), np.array(m.to_euler("XYZ")), atol=5e-5, err_msg=str(ang))
        q = np.array(m.to_quaternion())
        q = q if q[0] >= 0 else -q
        np.testing.assert_allclose(T.matrix_to_quaternion(mats[k]).numpy(), q, atol=2e-6)
    np.testing.assert_allclose(T.quaternion_to_matrix(quats).numpy(), mats.numpy(), atol=1e-12)


def test_matrix_to_euler_round_trip_and_gimbal_lock():
    e = torch.tensor([[0.4, -1.2, 2.9], [-3.0, 0.2, 0.1], [0.5, math.pi / 2, 0.25]], dtype=torch.float64)
    back = T.euler_to_matrix(T.matrix_to_euler(T.euler_to_matrix(e)))
    torch.testing.assert_close(back, T.euler_to_matrix(e), atol=1e-7, rtol=0)
    # gimbal lock: z is folded into x and set to zero, as Blender does
    assert T.matrix_to_euler(T.euler_to_matrix(e))[2, 2].item() == 0.0


def test_loc_rot_scale_is_t_r_s():
    t, r, s = (1.0, -2.0, 0.5), (0.3, -0.2, 1.1), (2.0, -1.0, 0.5)
    m = T.loc_rot_scale(t, r, s).double()
    rot = T.euler_to_matrix(torch.tensor(r, dtype=torch.float64))
    expect = torch.eye(4, dtype=torch.float64)
    expect[:3, :3] = rot @ torch.diag(torch.tensor(s, dtype=torch.float64))
    expect[:3, 3] = torch.tensor(t, dtype=torch.float64)
    torch.testing.assert_close(m, expect, atol=1e-6, rtol=0)


# ---------------------------------------------------------------------------
# Transform Geometry


def _transform_program(primitive: str):
    t = P.Tree()
    tr, rot, sc = t.input("T", "NodeSocketVector"), t.input("R", "NodeSocketVector"), t.input("S", "NodeSocketVector", (1, 1, 1))
    counts = {"Vertices X": 3, "Vertices Y": 2, "Vertices Z": 4} if primitive == "cube" else {"Vertices X": 3, "Vertices Y": 4}
    node = t.node("GeometryNodeTransform")
    t.link(t.sized_primitive(primitive, **counts), node, "Geometry")
    t.link(tr, node, "Translation")
    t.link(rot, node, "Rotation")
    t.link(sc, node, "Scale")
    t.output(node)
    return t.object()


@requires_bpy
@pytest.mark.parametrize("primitive", ["cube", "grid"])
def test_transform_components_parity(primitive):
    obj = _transform_program(primitive)
    rng = random.Random(SEED)
    sets = []
    for _ in range(24):
        v = {"T": _vec(rng, -3, 3), "R": _vec(rng, -4, 4), "S": _scale(rng)}
        v["Size"] = _vec(rng, 0.2, 3) if primitive == "cube" else rng.uniform(0.2, 3)
        sets.append(v)
    assert P.check_parity(obj, sets) == 24


@requires_bpy
def test_negative_scale_keeps_winding():
    """Blender only moves the vertices under a mirroring transform; faces keep their corner order."""
    obj = _transform_program("cube")
    mod = P.translate_object(obj)
    values = {"T": (0, 0, 0), "R": (0, 0, 0), "S": (-1.0, 1.0, 1.0), "Size": (1, 1, 1)}
    P.set_inputs(obj, values)
    bm = P.evaluate_blender(obj)
    mesh = mod.program(*P.split_values(mod, values))
    P.compare(bm, mesh)
    plain = mod.program(*P.split_values(mod, {**values, "S": (1.0, 1.0, 1.0)}))
    assert mesh.polygons() == plain.polygons()


@requires_bpy
def test_transform_mesh_and_instances_parity():
    """Transform Geometry moves a geometry's mesh and its top-level instances (whose references
    hold a mesh and instances of their own)."""
    t = P.Tree()
    inner = t.node("GeometryNodeJoinGeometry")  # a reference with a mesh and instances
    t.link((t.node("GeometryNodeMeshCube", Size=(0.3, 0.2, 0.1)), "Mesh"), inner, "Geometry")
    t.link(t.instances_on_line((t.node("GeometryNodeMeshGrid", **{"Size X": 0.2, "Size Y": 0.2}), "Mesh"), 2,
                               Offset=(0.0, 0.0, 0.5)), inner, "Geometry")
    outer = t.node("GeometryNodeJoinGeometry")
    t.link(t.instances_on_line(inner, 3, t.input("Offset", "NodeSocketVector", (1, 0, 0))), outer, "Geometry")
    t.link((t.node("GeometryNodeMeshLine", Count=2), "Mesh"), outer, "Geometry")
    node = t.node("GeometryNodeTransform")
    t.link(outer, node, "Geometry")
    for name, sock, default in (("T", "Translation", None), ("R", "Rotation", None), ("S", "Scale", (1, 1, 1))):
        t.link(t.input(name, "NodeSocketVector", default), node, sock)
    realize = t.node("GeometryNodeRealizeInstances")
    t.link(node, realize, "Geometry")
    t.output(realize)
    rng = random.Random(SEED + 3)
    sets = [{"Offset": _vec(rng, -1, 1), "T": _vec(rng, -3, 3), "R": _vec(rng, -4, 4), "S": _scale(rng)} for _ in range(20)]
    assert P.check_parity(t.object(), sets) == 20


def _matrix_program():
    t = P.Tree()
    comb = t.node("FunctionNodeCombineTransform")
    for name, sock, default in (("T", "Translation", None), ("R", "Rotation", None), ("S", "Scale", (1, 1, 1))):
        t.link(t.input(name, "NodeSocketVector", default), comb, sock)
    cube = t.node("GeometryNodeMeshCube", **{"Vertices X": 2, "Vertices Y": 3, "Vertices Z": 2})
    node = t.node("GeometryNodeTransform", Mode="Matrix")
    t.link((cube, "Mesh"), node, "Geometry")
    t.link((comb, "Transform"), node, "Transform")
    t.output(node)
    return t.object()


@requires_bpy
def test_transform_matrix_mode_parity():
    obj = _matrix_program()
    rng = random.Random(SEED + 1)
    sets = [{"T": _vec(rng, -3, 3), "R": _vec(rng, -4, 4), "S": _scale(rng)} for _ in range(20)]
    assert P.check_parity(obj, sets) == 20


@requires_bpy
def test_separate_transform_parity():
    """Separate Transform of a Combine Transform: translation, Euler rotation and signed scale
    become the start points of three one-point lines."""
    t = P.Tree()
    comb = t.node("FunctionNodeCombineTransform")
    for name, sock, default in (("T", "Translation", None), ("R", "Rotation", None), ("S", "Scale", (1, 1, 1))):
        t.link(t.input(name, "NodeSocketVector", default), comb, sock)
    sep = t.node("FunctionNodeSeparateTransform")
    t.link((comb, "Transform"), sep, "Transform")
    join = t.node("GeometryNodeJoinGeometry")
    for out in ("Translation", "Rotation", "Scale"):
        line = t.node("GeometryNodeMeshLine", Count=1)
        t.link((sep, out), line, "Start Location")
        t.link((line, "Mesh"), join, "Geometry")
    t.output(join)
    obj = t.object()
    rng = random.Random(SEED + 2)
    # rotations away from the Euler branch cut (|y| < pi/2, |x|, |z| < pi) so both sides pick the same triple
    sets = [{"T": _vec(rng, -3, 3), "R": (rng.uniform(-3, 3), rng.uniform(-1.4, 1.4), rng.uniform(-3, 3)),
             "S": _scale(rng)} for _ in range(20)]
    assert P.check_parity(obj, sets) == 20


def test_transform_identity_and_unlinked_matrix_pass_geometry_through():
    geo = primitives.mesh_line(count=3)
    assert T.transform_geometry(geo) is geo
    assert T.transform_geometry(geo, mode="Matrix", transform=None) is geo
    assert T.transform_geometry(None).is_empty()


def test_check_rejects_unknown_mode():
    from translator.ir import Node, Socket

    n = Node(name="T", bl_idname="GeometryNodeTransform", inputs=[Socket("Mode", "Mode", "MENU", "Shear")])
    assert "Shear" in T._check_transform(n)


def _cube64(size=(1.0, 2.0, 0.5)):
    geo, _ = primitives.mesh_cube(size=size, vertices_x=2, vertices_y=3, vertices_z=2)
    return geo


@pytest.mark.parametrize("mode", ["Components", "Matrix"])
def test_transform_gradcheck(mode):
    with rt.eval_context(torch.float64):
        geo = _cube64()
        rng = torch.Generator().manual_seed(0)
        args = [torch.randn(2, 3, generator=rng, dtype=torch.float64, requires_grad=True) for _ in range(3)]

        def f(t, r, s):
            if mode == "Matrix":
                return T.transform_geometry(geo, mode="Matrix", transform=T.combine_transform(t, r, s)).mesh.verts
            return T.transform_geometry(geo, translation=t, rotation=r, scale=s).mesh.verts

        assert torch.autograd.gradcheck(f, args)


def test_separate_transform_gradcheck():
    rng = torch.Generator().manual_seed(2)
    t = torch.randn(3, 3, generator=rng, dtype=torch.float64, requires_grad=True)
    r = (torch.rand(3, 3, generator=rng, dtype=torch.float64) - 0.5).requires_grad_()
    s = (torch.rand(3, 3, generator=rng, dtype=torch.float64) + 0.5).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b, c: T.separate_transform(T.combine_transform(a, b, c)), (t, r, s))


# ---------------------------------------------------------------------------
# Join Geometry


def _line(t: P.Tree, count: int, x: float):
    return t.node("GeometryNodeMeshLine", Count=count, **{"Start Location": (x, 0.0, 0.0)})


@requires_bpy
def test_join_order_meshes():
    """Four inputs of different sizes: the exporter's link order equals Blender's join order."""
    t = P.Tree()
    join = t.node("GeometryNodeJoinGeometry")
    cube = t.node("GeometryNodeMeshCube", **{"Vertices X": 3})
    grid = t.node("GeometryNodeMeshGrid", **{"Vertices X": 2, "Vertices Y": 3})
    for src in (_line(t, 2, 0.0), (cube, "Mesh"), _line(t, 5, 10.0), (grid, "Mesh")):
        t.link(src, join, "Geometry")
    t.output(join)
    obj = t.object()
    assert P.check_parity(obj, [{}]) == 1


def _instances(t: P.Tree, count: int, x: float, instance_node):
    return t.instances_on_line((instance_node, "Mesh"), count, **{"Start Location": (x, 0.0, 0.0)})


@requires_bpy
@pytest.mark.parametrize("with_meshes", [False, True])
def test_join_order_instances_and_meshes(with_meshes):
    t = P.Tree()
    join = t.node("GeometryNodeJoinGeometry")
    cube = t.node("GeometryNodeMeshCube")
    grid = t.node("GeometryNodeMeshGrid", **{"Vertices X": 2, "Vertices Y": 2})
    sources = [_instances(t, 2, 0.0, cube), _instances(t, 3, 5.0, grid), _instances(t, 1, -5.0, cube)]
    if with_meshes:
        sources = [sources[0], _line(t, 4, 20.0), sources[1], (grid, "Mesh"), sources[2]]
    for src in sources:
        t.link(src, join, "Geometry")
    realize = t.node("GeometryNodeRealizeInstances")
    t.link(join, realize, "Geometry")
    t.output(realize)
    assert P.check_parity(t.object(), [{}]) == 1


@requires_bpy
def test_join_merges_attributes_and_materials():
    """Attributes of different domains and types merge by Blender's priority / complexity rules,
    missing ones are zero, material slots merge in order with material_index remapped."""
    import bpy

    t = P.Tree()
    for name in ("Red", "Blue"):
        bpy.data.materials.new(name)
    join = t.node("GeometryNodeJoinGeometry")
    cube = t.node("GeometryNodeMeshCube")
    store_a = t.node("GeometryNodeStoreNamedAttribute", data_type="INT", domain="FACE", Name="a")
    t.link((cube, "Mesh"), store_a, "Geometry")
    t.link(t.node("GeometryNodeInputIndex"), store_a, "Value")
    mat_a = t.node("GeometryNodeSetMaterial", Material=bpy.data.materials["Red"])
    t.link(store_a, mat_a, "Geometry")
    grid = t.node("GeometryNodeMeshGrid", **{"Vertices X": 3, "Vertices Y": 3})
    store_b = t.node("GeometryNodeStoreNamedAttribute", data_type="FLOAT_VECTOR", domain="POINT", Name="a")
    t.link((grid, "Mesh"), store_b, "Geometry")
    t.link(t.node("GeometryNodeInputPosition"), store_b, "Value")
    store_c = t.node("GeometryNodeStoreNamedAttribute", data_type="BOOLEAN", domain="CORNER", Name="c")
    t.link(store_b, store_c, "Geometry")
    store_c.inputs["Value"].default_value = True
    mat_b = t.node("GeometryNodeSetMaterial", Material=bpy.data.materials["Blue"])
    t.link(store_c, mat_b, "Geometry")
    for src in (mat_a, mat_b, _line(t, 3, 4.0)):
        t.link(src, join, "Geometry")
    t.output(join)
    obj = t.object()
    mod = P.translate_object(obj)
    bm = P.evaluate_blender(obj)
    mesh = mod.program()
    P.compare(bm, mesh)
    P.compare_attributes(obj, mesh, ["a", "c", "material_index"])


def test_join_single_mesh_passes_through_and_empty_inputs():
    geo = primitives.mesh_line(count=2)
    assert T.join_geometry([geo]) is geo
    assert T.join_geometry([GeometrySet(), geo]).mesh is geo.mesh
    assert T.join_geometry([]).is_empty()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_loc_rot_scale_equals_reference(dtype):
    """The whole-tensor ``loc_rot_scale`` equals the entry-by-entry reference exactly (identity, constant,
    Euler and batched rotations; broadcast shapes), and so do its gradients."""
    g = torch.Generator().manual_seed(1)
    r = lambda *s: torch.randn(*s, generator=g, dtype=dtype)
    cases = [((0.1, 0.2, 0.3), rt.default_value("ROTATION"), (2.0, 3.0, -4.0)),
             (r(5, 3), (0.70710677, 0.70710677, 0.0, 0.0), r(5, 3)),
             (r(5, 3), r(5, 4), (1.0, 1.0, 1.0)),
             ((0.0, 0.0, 0.0), (0.3, -0.0, 1.2), r(2, 4, 3)),
             (r(3), r(3), r(1, 3)),
             (r(2, 4, 3), rt.default_value("ROTATION"), r(4, 3))]
    with rt.eval_context(dtype):
        for t, rot, s in cases:
            leaves = [x.clone().requires_grad_(True) if isinstance(x, torch.Tensor) else x for x in (t, rot, s)]
            fast, slow = T.loc_rot_scale(*leaves), T.loc_rot_scale_reference(*leaves)
            assert fast.shape == slow.shape and fast.dtype == slow.dtype == dtype
            assert torch.equal(fast, slow)
            tensors = [x for x in leaves if isinstance(x, torch.Tensor)]
            if not tensors:
                continue
            w = torch.randn(fast.shape, generator=g, dtype=dtype)
            for a, b in zip(torch.autograd.grad((fast * w).sum(), tensors), torch.autograd.grad((slow * w).sum(), tensors)):
                torch.testing.assert_close(a, b)  # summation order over broadcast dims may differ


def test_constant_rotation_cache_is_keyed_and_bounded():
    """The cached matrix of a constant rotation follows the context's dtype, keeps -0.0 apart from 0.0, is
    never a leaf that needs gradients, and the cache is bounded."""
    rot = (0.3, -0.0, 1.2)
    with rt.eval_context(torch.float64):
        m64 = T._rotation_matrix(rot)
    with rt.eval_context(torch.float32):
        m32 = T._rotation_matrix(rot)
        assert T._rotation_matrix((0.3, 0.0, 1.2)) is not m32
    assert m64.dtype == torch.float64 and m32.dtype == torch.float32 and not m32.requires_grad
    torch.testing.assert_close(m32, T.quaternion_to_matrix(rt.as_rotation(torch.tensor(rot))), atol=0, rtol=0)
    assert T._constant_rotation_matrix.cache_info().maxsize is not None


def test_translations_move_points_by_one_addition(monkeypatch):
    """A Transform Geometry that only translates (identity rotation, constant unit scale) is marked, and its
    pending translation (also a batched one after a constant one, and a batched mesh moved by a shared one or a
    shared mesh by a batched one) moves the vertices by one addition: the same values and gradients as the
    matrix product; a rotation or a scale is not marked."""
    from translator import geometry as G

    with rt.eval_context(torch.float64):
        size = torch.tensor([[1.0, 2.0, 0.5], [0.3, 0.4, 0.9]], dtype=torch.float64, requires_grad=True)
        t = torch.tensor([[0.1, -0.2, 0.3], [1.0, 2.0, -3.0]], dtype=torch.float64, requires_grad=True)

        def moved(batched_mesh: bool, batched_move: bool):
            geo, _ = primitives.mesh_cube(size=size if batched_mesh else (1.0, 2.0, 0.5), vertices_x=3)
            geo = T.transform_geometry(geo, translation=(0.25, 0.0, -1.5))
            return T.transform_geometry(geo, translation=t if batched_move else (0.5, 0.5, 0.5)).mesh.verts

        for batched_mesh, batched_move in ((True, True), (True, False), (False, True)):
            fast = moved(batched_mesh, batched_move)
            monkeypatch.setattr(G, "TRANSLATIONS", False)
            slow = moved(batched_mesh, batched_move)
            monkeypatch.setattr(G, "TRANSLATIONS", True)
            torch.testing.assert_close(fast, slow, atol=0, rtol=0)
            leaves = [x for x, used in ((size, batched_mesh), (t, batched_move)) if used]
            w = torch.randn(slow.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
            for x, y in zip(torch.autograd.grad((fast * w).sum(), leaves), torch.autograd.grad((slow * w).sum(), leaves)):
                torch.testing.assert_close(x, y, atol=1e-12, rtol=0)
        assert G._translation(T.loc_rot_scale(t, T.IDENTITY, (1.0, 1.0, 1.0))) is not None
        assert G._translation(T.loc_rot_scale(t, (0.0, 0.0, 0.3), (1.0, 1.0, 1.0))) is None
        assert G._translation(T.loc_rot_scale(t, T.IDENTITY, (1.0, 2.0, 1.0))) is None
        assert G._translation(T.loc_rot_scale(t, T.IDENTITY, size)) is None
