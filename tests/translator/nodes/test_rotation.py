"""Rotation nodes: Blender parity for every node and mode (batched) with Blender's edge cases (gimbal
lock, quaternion signs, zero and tiny axes and vectors), the implicit conversions between VECTOR,
ROTATION and MATRIX sockets, Instance on Points with a rotation field; float64 gradchecks; batch ==
singles; tensor and field paths; hostile modes."""

from __future__ import annotations

import pytest
import torch

from tests.fixtures.parity import Tree, check_parity, empty_scene, requires_bpy
from tests.fixtures.probes import build_probe, draw_sets
from translator import runtime as rt
from translator.nodes import rotation as R
from translator.nodes.primitives import make_mesh

_OPERANDS = {"Vector": "VECTOR", "Center": "VECTOR", "Axis": "VECTOR", "Angle": "FLOAT", "Rotation": "VECTOR"}


@pytest.fixture(scope="module")
def probes():
    empty_scene()
    out = {}
    for t in R.VECTOR_ROTATE_TYPES:
        ops = {"Vector": "VECTOR", "Center": "VECTOR"}
        ops |= {"Rotation": "VECTOR"} if t == "EULER_XYZ" else {"Angle": "FLOAT"}
        ops |= {"Axis": "VECTOR"} if t == "AXIS_ANGLE" else {}
        out[t] = build_probe("ShaderNodeVectorRotate", ops, ["Vector"], scale=4.0, rotation_type=t)
    return out


def _sets(t: str, seed: int) -> list[dict]:
    spec = {"Vector": ("vector", -3, 3), "Center": ("vector", -2, 2)}
    if t == "EULER_XYZ":
        spec["Rotation"] = ("vector", -7, 7)
        edges = [{"Rotation": (0.0, 0.0, 0.0)}, {"Rotation": (1.5707963, 0.0, 0.0)}, {"Vector": (1.0, 2.0, 3.0), "Center": (1.0, 2.0, 3.0)}]
    else:
        spec["Angle"] = ("float", -7, 7)
        edges = [{"Angle": 0.0}, {"Angle": 3.1415927}, {"Vector": (1.0, 2.0, 3.0), "Center": (1.0, 2.0, 3.0)}]
        if t == "AXIS_ANGLE":
            spec["Axis"] = ("vector", -1, 1)
            edges += [{"Axis": (0.0, 0.0, 0.0)}, {"Axis": (0.0, 0.0, 5.0)}, {"Axis": (1e-20, 0.0, 0.0)}]
    return draw_sets(seed, spec, 24, edges)


@requires_bpy
@pytest.mark.parametrize("invert", (False, True))
@pytest.mark.parametrize("rotation_type", R.VECTOR_ROTATE_TYPES)
def test_vector_rotate_parity(probes, rotation_type, invert):
    probe = probes[rotation_type]
    probe.node.invert = invert
    sets = _sets(rotation_type, 3)
    assert probe.check_batched(sets) == len(sets)


@requires_bpy
def test_vector_rotate_modes_are_blenders(probes):
    props = probes["EULER_XYZ"].node.bl_rna.properties
    assert {i.identifier for i in props["rotation_type"].enum_items} == set(R.VECTOR_ROTATE_TYPES)


def _rand(shape, lo, hi, seed):
    g = torch.Generator().manual_seed(seed)
    return (lo + (hi - lo) * torch.rand(shape, generator=g, dtype=torch.float64)).requires_grad_()


@pytest.mark.parametrize("invert", (False, True))
@pytest.mark.parametrize("rotation_type", R.VECTOR_ROTATE_TYPES)
def test_vector_rotate_gradcheck(rotation_type, invert):
    v, c, ax, rot = _rand((5, 3), -2, 2, 1), _rand((5, 3), -1, 1, 2), _rand((5, 3), 0.2, 1, 3), _rand((5, 3), -3, 3, 4)
    a = _rand((5,), -3, 3, 5)
    fn = lambda v, c, ax, a, rot: R.vector_rotate(rotation_type, invert, v, c, ax, a, rot)
    assert torch.autograd.gradcheck(fn, (v, c, ax, a, rot))


def test_vector_rotate_values_and_fields():
    with rt.eval_context(torch.float64):
        out = R.vector_rotate("Z_AXIS", False, (1.0, 0.0, 0.0), (0.0, 0.0, 0.0), angle=torch.tensor(torch.pi / 2, dtype=torch.float64))
        assert torch.allclose(out, torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64), atol=1e-12)
        inv = R.vector_rotate("EULER_XYZ", True, (1.0, 2.0, 3.0), rotation=torch.tensor([0.3, -0.2, 1.1]))
        back = R.vector_rotate("EULER_XYZ", False, inv, rotation=torch.tensor([0.3, -0.2, 1.1]))
        assert torch.allclose(back, torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64), atol=1e-6)
        zero_axis = R.vector_rotate("AXIS_ANGLE", False, (1.0, 2.0, 3.0), axis=(0.0, 0.0, 0.0), angle=1.0)
        assert zero_axis.tolist() == [1.0, 2.0, 3.0]
        mesh = make_mesh(torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]], dtype=torch.float64), [])
        pos = rt.Field(lambda f: f.mesh.verts, "VECTOR")
        f = R.vector_rotate("Z_AXIS", False, pos, angle=torch.pi)
        got = rt.eval_field(f, rt.FieldContext("POINT", 2, mesh=mesh), "VECTOR")
        assert torch.allclose(got, torch.tensor([[[-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]]], dtype=torch.float64), atol=1e-12)


# ---------------------------------------------------------------------------
# The rotation socket's nodes

_HALF_PI = 1.5707963705062866  # float32(pi / 2)
_QUAT = ("W", "X", "Y", "Z")


def _quat_spec(ident: str) -> dict:
    return {f"{ident}_{c}": ("float", -1, 1) for c in _QUAT}


def _quat(ident: str, q) -> dict:
    return {f"{ident}_{c}": v for c, v in zip(_QUAT, q)}


def _euler_quat(e) -> tuple:
    """The quaternion (float32) of XYZ Euler angles ``e``, as Blender makes it."""
    q = rt.rotation_constant(tuple(e))
    return q


_QUAT_EDGES = [(1.0, 0.0, 0.0, 0.0), (0.0, 0.0, 0.0, 0.0), (-0.5, 0.5, -0.5, 0.5), (0.0, 1.0, 0.0, 0.0),
               _euler_quat((0.3, _HALF_PI, 0.2)), _euler_quat((0.3, -_HALF_PI, -1.2)), (-1.0, 1e-4, 0.0, 0.0)]


def _rotation_sets(ident: str, seed: int, extra_spec: dict | None = None, extra: list | None = None) -> list[dict]:
    spec = _quat_spec(ident) | (extra_spec or {})
    edges = [_quat(ident, q) for q in _QUAT_EDGES] + list(extra or [])
    return draw_sets(seed, spec, 20, edges)


@requires_bpy
def test_euler_to_rotation_parity():
    empty_scene()
    probe = build_probe("FunctionNodeEulerToRotation", {"Euler": "VECTOR"}, ["Rotation"])
    edges = [{"Euler": (0.0, 0.0, 0.0)}, {"Euler": (3.1415927, 0.0, 0.0)}, {"Euler": (0.0, _HALF_PI, 0.0)},
             {"Euler": (7.0, -9.0, 12.0)}]
    assert probe.check_batched(draw_sets(1, {"Euler": ("vector", -7, 7)}, 24, edges)) == 28


@requires_bpy
@pytest.mark.parametrize("kind", ("QUATERNION", "ROTATION"))
def test_rotation_to_euler_parity(kind):
    """Both the node and Blender's Euler of a rotation, gimbal lock included (z = 0 there); a ROTATION
    operand is a vector linked into the rotation socket (the implicit Euler -> quaternion conversion)."""
    empty_scene()
    probe = build_probe("FunctionNodeRotationToEuler", {"Rotation": kind}, ["Euler"], scale=3.0)
    if kind == "QUATERNION":
        sets = _rotation_sets("Rotation", 2)
    else:
        sets = draw_sets(2, {"Rotation": ("vector", -7, 7)}, 24,
                         [{"Rotation": (0.3, _HALF_PI, 0.2)}, {"Rotation": (4.0, 0.0, -4.0)}, {"Rotation": (0.0, 0.0, 0.0)}])
    assert probe.check_batched(sets) == len(sets)


@requires_bpy
def test_axis_angle_to_rotation_parity():
    empty_scene()
    probe = build_probe("FunctionNodeAxisAngleToRotation", {"Axis": "VECTOR", "Angle": "FLOAT"}, ["Rotation"])
    edges = [{"Axis": (0.0, 0.0, 0.0)}, {"Axis": (1e-20, 0.0, 0.0)}, {"Axis": (0.0, 3.0, 0.0), "Angle": 0.0},
             {"Angle": 9.0}, {"Angle": -3.1415927}]
    sets = draw_sets(3, {"Axis": ("vector", -2, 2), "Angle": ("float", -7, 7)}, 20, edges)
    assert probe.check_batched(sets) == len(sets)


@requires_bpy
def test_rotation_to_axis_angle_parity():
    """Blender's stand-in below sin(angle / 2) = 0.0005 (identity, tiny rotations) included."""
    empty_scene()
    probe = build_probe("FunctionNodeRotationToAxisAngle", {"Rotation": "QUATERNION"}, ["Axis", "Angle"], scale=7.0)
    sets = _rotation_sets("Rotation", 4, extra=[_quat("Rotation", (1.0, 3e-4, 0.0, 2e-4)), _quat("Rotation", (-1.0, 0.0, 1e-3, 0.0))])
    assert probe.check_batched(sets) == len(sets)


@requires_bpy
def test_quaternion_and_rotation_to_quaternion_parity():
    empty_scene()
    probe = build_probe("FunctionNodeQuaternionToRotation", dict.fromkeys(_QUAT, "FLOAT"), ["Rotation"])
    edges = [dict(zip(_QUAT, q)) for q in _QUAT_EDGES] + [dict(zip(_QUAT, (0.0, 0.0, 0.0, 3.0)))]
    sets = draw_sets(5, dict.fromkeys(_QUAT, ("float", -3, 3)), 20, edges)
    assert probe.check_batched(sets) == len(sets)
    empty_scene()
    probe = build_probe("FunctionNodeRotationToQuaternion", {"Rotation": "ROTATION"}, list(_QUAT))
    sets = draw_sets(6, {"Rotation": ("vector", -7, 7)}, 20, [{"Rotation": (0.0, 0.0, 0.0)}, {"Rotation": (6.5, 0.0, 0.0)}])
    assert probe.check_batched(sets) == len(sets)


@requires_bpy
@pytest.mark.parametrize("space", R.ROTATION_SPACES)
def test_rotate_rotation_parity(space):
    empty_scene()
    probe = build_probe("FunctionNodeRotateRotation", {"Rotation": "QUATERNION", "Rotate By": "QUATERNION"}, ["Rotation"],
                        rotation_space=space)
    sets = _rotation_sets("Rotation", 7, _quat_spec("Rotate By"), [_quat("Rotate By", (0.0, 0.0, 0.0, -1.0))])
    assert probe.check_batched(sets) == len(sets)


@requires_bpy
def test_rotate_vector_and_invert_rotation_parity():
    empty_scene()
    probe = build_probe("FunctionNodeRotateVector", {"Vector": "VECTOR", "Rotation": "QUATERNION"}, ["Vector"], scale=4.0)
    sets = _rotation_sets("Rotation", 8, {"Vector": ("vector", -3, 3)}, [{"Vector": (0.0, 0.0, 0.0)}])
    assert probe.check_batched(sets) == len(sets)
    empty_scene()
    probe = build_probe("FunctionNodeInvertRotation", {"Rotation": "QUATERNION"}, ["Rotation"])
    sets = _rotation_sets("Rotation", 9)
    assert probe.check_batched(sets) == len(sets)


def _align_sets(kind: str, axis: str, seed: int) -> list[dict]:
    """Random rotations, factors and vectors, and Blender's edge cases: a zero vector, a vector along the
    (identity) rotation's axis, against it, along the pivot, a tiny one and factors outside [0, 1]."""
    e = {"X": (1.0, 0.0, 0.0), "Y": (0.0, 1.0, 0.0), "Z": (0.0, 0.0, 1.0)}[axis]
    ident = {"Rotation": (0.0, 0.0, 0.0)} if kind == "VECTOR" else _quat("Rotation", (1.0, 0.0, 0.0, 0.0))
    edges = [{"Vector": (0.0, 0.0, 0.0)}, {**ident, "Vector": tuple(2.0 * c for c in e)},
             {**ident, "Vector": tuple(-c for c in e)}, {**ident, "Vector": (0.0, 0.0, 0.7)}, {**ident, "Vector": (1e-3, -2e-3, 0.0)},
             {"Factor": -0.5}, {"Factor": 1.5}, {**ident, "Vector": (0.3, 0.4, 0.5), "Factor": 0.0}]
    spec = {"Factor": ("float", 0, 1), "Vector": ("vector", -2, 2)}
    spec |= {"Rotation": ("vector", -3, 3)} if kind == "VECTOR" else _quat_spec("Rotation")
    return draw_sets(seed, spec, 16, edges)


@requires_bpy
@pytest.mark.parametrize("pivot", R.PIVOT_AXES)
@pytest.mark.parametrize("axis", R.ALIGN_AXES)
def test_align_rotation_to_vector_parity(axis, pivot):
    empty_scene()
    probe = build_probe("FunctionNodeAlignRotationToVector", {"Rotation": "QUATERNION", "Factor": "FLOAT", "Vector": "VECTOR"},
                        ["Rotation"], axis=axis, pivot_axis=pivot)
    sets = _align_sets("QUATERNION", axis, 10)
    assert probe.check_batched(sets) == len(sets)


@requires_bpy
@pytest.mark.parametrize("pivot", R.PIVOT_AXES)
@pytest.mark.parametrize("axis", R.ALIGN_AXES)
def test_align_euler_to_vector_parity(axis, pivot):
    empty_scene()
    probe = build_probe("FunctionNodeAlignEulerToVector", {"Rotation": "VECTOR", "Factor": "FLOAT", "Vector": "VECTOR"},
                        ["Rotation"], scale=3.0, axis=axis, pivot_axis=pivot)
    sets = _align_sets("VECTOR", axis, 11)
    assert probe.check_batched(sets) == len(sets)


@requires_bpy
@pytest.mark.parametrize("space", R.ROTATE_EULER_SPACES)
@pytest.mark.parametrize("rotation_type", R.ROTATE_EULER_TYPES)
def test_rotate_euler_parity(rotation_type, space):
    empty_scene()
    ops = {"Rotation": "VECTOR"} | ({"Rotate By": "VECTOR"} if rotation_type == "EULER" else {"Axis": "VECTOR", "Angle": "FLOAT"})
    probe = build_probe("FunctionNodeRotateEuler", ops, ["Rotation"], scale=3.0, rotation_type=rotation_type, space=space)
    spec = {"Rotation": ("vector", -4, 4)}
    spec |= {"Rotate By": ("vector", -4, 4)} if rotation_type == "EULER" else {"Axis": ("vector", -1, 1), "Angle": ("float", -7, 7)}
    edges = [{"Rotation": (0.0, _HALF_PI, 0.0)}, {"Rotation": (0.0, 0.0, 0.0)}]
    edges += [{"Axis": (0.0, 0.0, 0.0)}] if rotation_type == "AXIS_ANGLE" else [{"Rotate By": (0.0, 0.0, 0.0)}]
    sets = draw_sets(12, spec, 20, edges)
    assert probe.check_batched(sets) == len(sets)


@requires_bpy
def test_rotation_input_and_implicit_conversions_parity():
    """The Rotation node (its Euler property as Blender's quaternion), and the implicit conversions a
    link makes: a rotation into a vector socket (Euler angles, normalized into Blender's range), a
    rotation into a matrix socket, a matrix into a rotation socket (its axes normalized)."""
    empty_scene()
    probe = build_probe("FunctionNodeInputRotation", {}, ["Rotation"])
    for e in [(0.3, -0.2, 4.0), (0.0, _HALF_PI, 1.0), (0.0, 0.0, 0.0)]:
        probe.node.rotation_euler = e
        assert probe.check([{}]) == 1
    t = Tree("Conversions")
    e = t.input("Euler", "NodeSocketVector")
    m = t.input("Scale", "NodeSocketVector")
    to_rot = t.node("FunctionNodeEulerToRotation")
    t.link(e, to_rot, "Euler")
    line = t.node("GeometryNodeMeshLine", Count=1)
    t.link(to_rot, line, "Start Location")  # ROTATION -> VECTOR
    sep = t.node("FunctionNodeSeparateMatrix")
    t.link(to_rot, sep, "Matrix")  # ROTATION -> MATRIX
    comb = t.node("FunctionNodeCombineTransform")
    t.link(e, comb, "Rotation")  # VECTOR -> ROTATION
    t.link(m, comb, "Scale")
    back = t.node("FunctionNodeRotationToQuaternion")
    t.link(comb, back, "Rotation")  # MATRIX -> ROTATION
    join = t.node("GeometryNodeJoinGeometry")
    t.link(line, join, "Geometry")
    for group in ([(sep, o.identifier) for o in sep.outputs][i:i + 3] for i in range(0, 16, 3)):
        xyz = t.node("ShaderNodeCombineXYZ")
        for ax, src in zip("XYZ", group):
            t.link(src, xyz, ax)
        pt = t.node("GeometryNodeMeshLine", Count=1)
        t.link(xyz, pt, "Start Location")
        t.link(pt, join, "Geometry")
    xyz = t.node("ShaderNodeCombineXYZ")
    for ax, o in zip("XYZ", ("X", "Y", "Z")):
        t.link((back, o), xyz, ax)
    pt = t.node("GeometryNodeMeshLine", Count=1)
    t.link(xyz, pt, "Start Location")
    t.link(pt, join, "Geometry")
    t.output(join)
    obj = t.object()
    sets = draw_sets(13, {"Euler": ("vector", -7, 7), "Scale": ("vector", -2, 2)}, 12,
                     [{"Euler": (0.0, _HALF_PI, 0.0)}, {"Scale": (0.0, 1.0, 1.0)}, {"Scale": (-1.0, 1.0, 1.0)}])
    assert check_parity(obj, sets) == len(sets)


@requires_bpy
def test_instance_on_points_rotation_field_parity():
    """Instance on Points with a rotation field (Align Rotation to Vector of the point positions) and a
    batched Euler rotation through Rotate Rotation: the instances' transforms are Blender's."""
    t = Tree("Instances")
    a = t.input("Angle", "NodeSocketVector")
    line = t.node("GeometryNodeMeshLine", Count=5, Offset=(0.7, 0.3, -0.4))
    pos = t.node("GeometryNodeInputPosition")
    align = t.node("FunctionNodeAlignRotationToVector", axis="X")
    t.link(pos, align, "Vector")
    rot = t.node("FunctionNodeRotateRotation", rotation_space="LOCAL")
    t.link(align, rot, "Rotation")
    t.link(a, rot, "Rotate By")
    cube = t.node("GeometryNodeMeshCube")
    iop = t.node("GeometryNodeInstanceOnPoints")
    t.link(line, iop, "Points")
    t.link(cube, iop, "Instance")
    t.link(rot, iop, "Rotation")
    real = t.node("GeometryNodeRealizeInstances")
    t.link(iop, real, "Geometry")
    t.output(real)
    obj = t.object()
    sets = draw_sets(14, {"Angle": ("vector", -3, 3)}, 5, [{"Angle": (0.0, 0.0, 0.0)}])
    assert check_parity(obj, sets) == len(sets)


# float64 gradients, batches and fields

def _q(shape, seed):
    return torch.nn.functional.normalize(_rand((*shape, 4), -1, 1, seed).detach(), dim=-1).requires_grad_()


def test_rotation_nodes_gradcheck():
    q, q2, v, e = _q((4,), 21), _q((4,), 22), _rand((4, 3), -2, 2, 23), _rand((4, 3), -1.2, 1.2, 24)
    ax, ang, f = _rand((4, 3), 0.3, 1, 25), _rand((4,), -3, 3, 26), _rand((4,), 0.1, 0.9, 27)
    w = _rand((4,), 0.2, 1, 28)
    checks = [
        (R.euler_to_rotation, (e,)),
        (R.rotation_to_euler, (q,)),
        (R.axis_angle_to_rotation, (ax, ang)),
        (lambda q: R.rotation_to_axis_angle(q), (q,)),
        (R.quaternion_to_rotation, (w, _rand((4,), -1, 1, 41), _rand((4,), -1, 1, 42), _rand((4,), -1, 1, 43))),
        (lambda q: R.rotation_to_quaternion(q), (q,)),
        (lambda a, b: R.rotate_rotation("GLOBAL", a, b), (q, q2)),
        (lambda a, b: R.rotate_rotation("LOCAL", a, b), (q, q2)),
        (R.rotate_vector, (v, q)),
        (R.invert_rotation, (q,)),
    ]
    for axis in R.ALIGN_AXES:
        for pivot in R.PIVOT_AXES:
            checks.append((lambda q, f, v, a=axis, p=pivot: R.align_rotation_to_vector(a, p, q, f, v), (q, f, v)))
            checks.append((lambda e, f, v, a=axis, p=pivot: R.align_euler_to_vector(a, p, e, f, v), (e, f, v)))
    for space in R.ROTATE_EULER_SPACES:
        checks.append((lambda e, b, s=space: R.rotate_euler("EULER", s, e, b), (e, v * 0.5)))
        checks.append((lambda e, a, g, s=space: R.rotate_euler("AXIS_ANGLE", s, e, axis=a, angle=g), (e, ax, ang)))
    for fn, args in checks:
        assert torch.autograd.gradcheck(fn, args, fast_mode=True, atol=1e-7), fn


def test_rotation_nodes_batch_equals_singles():
    q, v, f = _q((6,), 31).detach(), _rand((6, 3), -2, 2, 32).detach(), _rand((6,), 0, 1, 33).detach()
    e = _rand((6, 3), -4, 4, 34).detach()
    fns = [lambda i: R.align_rotation_to_vector("Y", "AUTO", q[i], f[i], v[i]),
           lambda i: R.align_rotation_to_vector("Z", "X", q[i], f[i], v[i]),
           lambda i: R.align_euler_to_vector("X", "AUTO", e[i], f[i], v[i]),
           lambda i: R.rotation_to_euler(q[i]),
           lambda i: R.rotation_to_axis_angle(q[i])[0],
           lambda i: R.rotate_euler("AXIS_ANGLE", "LOCAL", e[i], axis=v[i], angle=f[i]),
           lambda i: R.rotate_rotation("GLOBAL", q[i], R.euler_to_rotation(e[i]))]
    with rt.eval_context(torch.float64):
        for fn in fns:
            batch = fn(slice(None))
            singles = torch.stack([fn(i) for i in range(6)])
            assert torch.allclose(batch, singles, atol=1e-12)


def test_rotation_nodes_on_fields():
    """A field input gives a field, evaluated per element like the single values."""
    with rt.eval_context(torch.float64):
        verts = torch.tensor([[[1.0, 2.0, 0.5], [0.0, 0.0, 0.0], [-1.0, 0.3, 0.2]]], dtype=torch.float64)
        mesh = make_mesh(verts, [])
        pos = rt.Field(lambda f: f.mesh.verts, "VECTOR")
        ctx = rt.FieldContext("POINT", 3, mesh=mesh)
        rot = R.align_rotation_to_vector("Z", "AUTO", rotation=R.euler_to_rotation(pos), vector=pos)
        got = rt.eval_field(R.rotation_to_quaternion(rot)[0], ctx, "VALUE")
        want = torch.stack([R.rotation_to_quaternion(R.align_rotation_to_vector("Z", "AUTO", R.euler_to_rotation(p), 1.0, p))[0]
                            for p in verts[0]])
        assert torch.allclose(got[0], want, atol=1e-12)
        as_vector = rt.eval_field(rot, ctx, "VECTOR")  # ROTATION field -> VECTOR: its Euler angles
        assert torch.allclose(as_vector[0], R.rotation_to_euler(rt.eval_field(rot, ctx, "ROTATION")[0]), atol=1e-12)


def test_hostile_rotation_modes_are_refused_in_one_line():
    from types import SimpleNamespace

    from translator.nodes import get_spec

    for bad in (None, ["0", 1, 2], [1.0, 2.0], [float("nan"), 0.0, 0.0]):
        reason = get_spec("FunctionNodeInputRotation").check(SimpleNamespace(properties={"rotation_euler": bad}))
        assert reason and "\n" not in reason

    for name, prop in [("FunctionNodeRotateRotation", "rotation_space"), ("FunctionNodeAlignRotationToVector", "pivot_axis"),
                       ("FunctionNodeRotateEuler", "space")]:
        spec = get_spec(name)
        props = {p: spec.modes[p][0] for p in spec.modes} | {prop: "GLOBAL'); import os\n#"}
        reason = spec.check(SimpleNamespace(properties=props))
        assert reason and "\n" not in reason and "import os" in reason


_AXIS_PAIRS = [(p, s) for p in R.ALIGN_AXES for s in R.ALIGN_AXES if p != s]


@requires_bpy
@pytest.mark.parametrize(("primary", "secondary"), _AXIS_PAIRS)
def test_axes_to_rotation_parity(primary, secondary):
    """Every pair of axes; zero, parallel and antiparallel vectors take Blender's fallbacks."""
    empty_scene()
    probe = build_probe("FunctionNodeAxesToRotation", {"Primary Axis": "VECTOR", "Secondary Axis": "VECTOR"}, ["Rotation"],
                        primary_axis=primary, secondary_axis=secondary)
    edges = [{"Primary Axis": (0.0, 0.0, 0.0)}, {"Secondary Axis": (0.0, 0.0, 0.0)},
             {"Primary Axis": (0.0, 0.0, 0.0), "Secondary Axis": (0.0, 0.0, 0.0)},
             {"Primary Axis": (1.0, 2.0, 3.0), "Secondary Axis": (2.0, 4.0, 6.0)},
             {"Primary Axis": (1.0, -1.0, 0.5), "Secondary Axis": (0.0, 0.0, 0.0)},
             {"Primary Axis": (1.0, -1.0, -1.0), "Secondary Axis": (0.0, 0.0, 0.0)},
             {"Primary Axis": (0.0, 0.0, 0.0), "Secondary Axis": (0.0, 0.0, -2.0)},
             {"Primary Axis": (0.0, 0.0, 1.0), "Secondary Axis": (1.0, 0.0, 0.0)}]
    sets = draw_sets(15, {"Primary Axis": ("vector", -2, 2), "Secondary Axis": ("vector", -2, 2)}, 20, edges)
    assert probe.check_batched(sets) == len(sets)


def test_axes_to_rotation_gradcheck_and_equal_axes():
    p, s = _rand((5, 3), -2, 2, 51), _rand((5, 3), -2, 2, 52)
    for primary, secondary in _AXIS_PAIRS:
        assert torch.autograd.gradcheck(lambda p, s, a=primary, b=secondary: R.axes_to_rotation(a, b, p, s), (p, s), fast_mode=True, atol=1e-7)
    from types import SimpleNamespace

    reason = R._check_axes(SimpleNamespace(properties={"primary_axis": "Y", "secondary_axis": "Y"}))
    assert reason and "\n" not in reason


@requires_bpy
def test_rotations_through_attributes_switches_and_geometry_nodes_parity():
    """Rotations everywhere a program carries them: stored as a QUATERNION point attribute (an Align
    Rotation to Vector field) and read back for Instance on Points, chosen by a ROTATION Switch for Rotate
    Instances (local space), and inverted for Transform Geometry's rotation."""
    t = Tree("Rotations")
    angle = t.input("Angle", "NodeSocketVector")
    flag = t.input("Flag", "NodeSocketBool")
    line = t.node("GeometryNodeMeshLine", Count=4, Offset=(0.6, 0.2, 0.1))
    pos = t.node("GeometryNodeInputPosition")
    align = t.node("FunctionNodeAlignRotationToVector", axis="Y")
    t.link(pos, align, "Vector")
    store = t.node("GeometryNodeStoreNamedAttribute", data_type="QUATERNION", domain="POINT", Name="rot")
    t.link(line, store, "Geometry")
    t.link(align, store, "Value")
    read = t.node("GeometryNodeInputNamedAttribute", data_type="QUATERNION", Name="rot")
    cube = t.node("GeometryNodeMeshCube", Size=(0.3, 0.2, 0.1))
    iop = t.node("GeometryNodeInstanceOnPoints")
    t.link(store, iop, "Points")
    t.link(cube, iop, "Instance")
    t.link((read, "Attribute"), iop, "Rotation")
    euler = t.node("FunctionNodeEulerToRotation")
    t.link(angle, euler, "Euler")
    axis_angle = t.node("FunctionNodeAxisAngleToRotation", Axis=(1.0, 1.0, 0.0), Angle=0.7)
    switch = t.node("GeometryNodeSwitch", input_type="ROTATION")
    t.link(flag, switch, "Switch")
    t.link(euler, switch, "False")
    t.link(axis_angle, switch, "True")
    rotate = t.node("GeometryNodeRotateInstances")
    t.link(iop, rotate, "Instances")
    t.link(switch, rotate, "Rotation")
    real = t.node("GeometryNodeRealizeInstances")
    t.link(rotate, real, "Geometry")
    inv = t.node("FunctionNodeInvertRotation")
    t.link(euler, inv, "Rotation")
    tf = t.node("GeometryNodeTransform", Translation=(0.1, -0.2, 0.3))
    t.link(real, tf, "Geometry")
    t.link(inv, tf, "Rotation")
    t.output(tf)
    obj = t.object()
    sets = [dict(s, Flag=f) for f in (False, True) for s in draw_sets(16, {"Angle": ("vector", -4, 4)}, 4, [{"Angle": (0.0, 0.0, 0.0)}])]
    assert check_parity(obj, sets) == len(sets)


@requires_bpy
def test_rotation_group_input_takes_the_modifier_value():
    """A ROTATION input of the entry group (not a parameter): the modifier's Euler value, converted as Blender
    converts it, rotates a vector (and a nested group's ROTATION input default is converted the same way)."""
    from tests.fixtures import parity

    t = Tree("RotationInput")
    r = t.input("R", "NodeSocketRotation")
    rv = t.node("FunctionNodeRotateVector", Vector=(1.0, 2.0, 3.0))
    t.link(r, rv, "Rotation")
    line = t.node("GeometryNodeMeshLine", Count=2)
    t.link(rv, line, "Start Location")
    inner = parity.new_tree("Inner")
    parity.add_input(inner, "Q", "NodeSocketRotation", default=(0.4, -1.1, 2.5))
    inner.interface.new_socket(name="Out", in_out="OUTPUT", socket_type="NodeSocketVector")
    gi, go = parity.group_input(inner), parity.group_output(inner)
    to_euler = inner.nodes.new("FunctionNodeRotationToEuler")
    inner.links.new(gi.outputs[0], to_euler.inputs[0])
    inner.links.new(to_euler.outputs[0], go.inputs[1])
    group = t.node("GeometryNodeGroup")
    group.node_tree = inner
    t.link((group, group.outputs[0].identifier), line, "Offset")
    t.output(line)
    obj = t.object()
    for value in [(0.3, 1.2, -0.5), (7.0, -2.0, 4.0), (0.0, 1.5707963705062866, 0.2)]:
        parity.set_inputs(obj, {"R": value})
        assert check_parity(obj, [{}]) == 1
