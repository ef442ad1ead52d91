"""Vector Rotate: Blender parity for every rotation type with and without Invert (batched), zero axes;
float64 gradchecks; tensor and field paths. """

from __future__ import annotations

import pytest
import torch

from tests.fixtures.parity import requires_bpy, reset_blender
from tests.fixtures.probes import build_probe, draw_sets
from translator import runtime as rt
from translator.nodes import rotation as R
from translator.nodes.primitives import make_mesh

_OPERANDS = {"Vector": "VECTOR", "Center": "VECTOR", "Axis": "VECTOR", "Angle": "FLOAT", "Rotation": "VECTOR"}


@pytest.fixture(scope="module")
def probes():
    reset_blender()
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
