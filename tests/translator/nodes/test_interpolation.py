"""Mix (float; vector uniform and non-uniform; clamp factor) and Float Curve (curves with auto, auto-clamped
and vector handles, horizontal and extrapolated ends, clipping, factors): Blender parity (batched), float64
gradchecks, fields. """

from __future__ import annotations

import pytest
import torch

from tests.fixtures.parity import requires_bpy, reset_blender
from tests.fixtures.probes import build_probe, draw_sets
from translator import runtime as rt
from translator.nodes import interpolation as I
from translator.nodes.primitives import make_mesh


@pytest.fixture(scope="module")
def blender():
    reset_blender()


# ---------------------------------------------------------------------------
# Mix

@pytest.fixture(scope="module")
def mix_probes(blender):
    return {
        ("FLOAT", "UNIFORM"): build_probe("ShaderNodeMix", {"Factor_Float": "FLOAT", "A_Float": "FLOAT", "B_Float": "FLOAT"},
                                          ["Result_Float"], data_type="FLOAT"),
        ("VECTOR", "UNIFORM"): build_probe("ShaderNodeMix", {"Factor_Float": "FLOAT", "A_Vector": "VECTOR", "B_Vector": "VECTOR"},
                                           ["Result_Vector"], data_type="VECTOR"),
        ("VECTOR", "NON_UNIFORM"): build_probe("ShaderNodeMix", {"Factor_Vector": "VECTOR", "A_Vector": "VECTOR",
                                                                 "B_Vector": "VECTOR"},
                                               ["Result_Vector"], data_type="VECTOR", factor_mode="NON_UNIFORM"),
    }


@requires_bpy
@pytest.mark.parametrize("clamp", (False, True))
@pytest.mark.parametrize("kind", [("FLOAT", "UNIFORM"), ("VECTOR", "UNIFORM"), ("VECTOR", "NON_UNIFORM")])
def test_mix_parity(mix_probes, kind, clamp):
    probe = mix_probes[kind]
    probe.node.clamp_factor = clamp
    spec = {s.name: ("vector" if s.socket_type == "NodeSocketVector" else "float", -3, 3)
            for s in probe.ng.interface.items_tree if s.item_type == "SOCKET" and s.in_out == "INPUT"}
    fac = "Factor_Vector" if kind[1] == "NON_UNIFORM" else "Factor_Float"
    spec[fac] = ("vector" if kind[1] == "NON_UNIFORM" else "float", -1, 2)
    one = (0.0, 1.0, 0.5) if kind[1] == "NON_UNIFORM" else 1.0
    sets = draw_sets(2, spec, 20, [{fac: one}])
    assert probe.check_batched(sets) == 21


@pytest.mark.parametrize("clamp", (False, True))
def test_mix_gradcheck(clamp):
    g = torch.Generator().manual_seed(0)
    r = lambda *s: (torch.rand(*s, generator=g, dtype=torch.float64) * 3 - 1).requires_grad_()
    assert torch.autograd.gradcheck(lambda t, a, b: I.mix("FLOAT", "UNIFORM", clamp, t, a_float=a, b_float=b)[0],
                                    (r(6), r(6), r(6)))
    assert torch.autograd.gradcheck(lambda t, a, b: I.mix("VECTOR", "UNIFORM", clamp, t, a_vector=a, b_vector=b)[1],
                                    (r(4), r(4, 3), r(4, 3)))
    assert torch.autograd.gradcheck(lambda t, a, b: I.mix("VECTOR", "NON_UNIFORM", clamp, factor_vector=t, a_vector=a,
                                                          b_vector=b)[1], (r(4, 3), r(4, 3), r(4, 3)))


# ---------------------------------------------------------------------------
# Float Curve

_CURVES = {
    "default": ([(0.0, 0.0, "AUTO"), (1.0, 1.0, "AUTO")], "EXTRAPOLATED", False),
    "s-curve": ([(0.0, 0.1, "AUTO"), (0.3, 0.05, "AUTO"), (0.6, 0.9, "AUTO"), (1.0, 0.7, "AUTO")], "EXTRAPOLATED", False),
    "clamped": ([(0.0, 0.0, "AUTO_CLAMPED"), (0.25, 0.8, "AUTO_CLAMPED"), (0.5, 0.2, "AUTO_CLAMPED"), (1.0, 1.0, "AUTO_CLAMPED")],
                "HORIZONTAL", False),
    "vector": ([(0.0, 1.0, "VECTOR"), (0.4, 0.3, "VECTOR"), (0.7, 0.6, "AUTO"), (1.0, 0.0, "VECTOR")], "EXTRAPOLATED", False),
    "steep": ([(0.0, 0.0, "AUTO"), (0.05, 1.0, "AUTO"), (0.1, 0.0, "AUTO"), (1.0, 0.5, "AUTO")], "EXTRAPOLATED", True),
    "wide": ([(-1.0, -0.5, "AUTO"), (0.5, 2.0, "VECTOR"), (2.0, 1.0, "AUTO_CLAMPED")], "EXTRAPOLATED", False),
}


def _set_curve(node, points, extend, clip):
    m = node.mapping
    c = m.curves[0]
    while len(c.points) > 2:
        c.points.remove(c.points[-1])
    for p, (x, y, _) in zip(c.points, points[:2]):
        p.location = (x, y)
    for x, y, _ in points[2:]:
        c.points.new(x, y)
    for p, (_, _, h) in zip(c.points, sorted(points)):
        p.handle_type = h
    m.extend = extend
    m.use_clip = clip
    if not clip:
        m.clip_min_x, m.clip_max_x = min(p[0] for p in points), max(p[0] for p in points)
    m.update()


@pytest.fixture(scope="module")
def curve_probe(blender):
    return build_probe("ShaderNodeFloatCurve", {"Factor": "FLOAT", "Value": "FLOAT"}, ["Value"])


@requires_bpy
@pytest.mark.parametrize("name", list(_CURVES))
def test_float_curve_parity(curve_probe, name):
    _set_curve(curve_probe.node, *_CURVES[name])
    spec = {"Factor": ("float", -0.5, 1.5), "Value": ("float", -1.5, 2.5)}
    edges = [{"Factor": 1.0, "Value": v} for v in (-1.0, 0.0, 0.05, 0.5, 1.0, 2.0, 3.0)]
    sets = draw_sets(4, spec, 24, edges) + draw_sets(5, {**spec, "Factor": ("choice", [1.0])}, 24)
    assert curve_probe.check_batched(sets) == len(sets)


def test_float_curve_gradcheck_and_fields():
    mapping = {"curves": [[[0.0, 0.1, "AUTO"], [0.3, 0.05, "AUTO"], [0.6, 0.9, "VECTOR"], [1.0, 0.7, "AUTO"]]],
               "extend": "EXTRAPOLATED", "use_clip": False, "clip": [0.0, 0.0, 1.0, 1.0]}
    v = torch.tensor([-0.5, 0.11, 0.42, 0.77, 1.3], dtype=torch.float64, requires_grad=True)
    f = torch.tensor([1.0, 0.3, 0.7, 1.0, 0.5], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda f, v: I.float_curve(mapping, f, v), (f, v))
    mesh = make_mesh(torch.tensor([[[0.0, 0, 0], [0.5, 0, 0], [1.0, 0, 0]]], dtype=torch.float64), [])
    x = rt.Field(lambda fctx: fctx.mesh.verts[..., 0], "VALUE")
    with rt.eval_context(torch.float64):
        out = rt.eval_field(I.float_curve(mapping, 1.0, x), rt.FieldContext("POINT", 3, mesh=mesh), "VALUE")
    assert out.shape == (1, 3) and abs(float(out[0, 0]) - 0.1) < 1e-6 and abs(float(out[0, 2]) - 0.7) < 1e-6


def test_float_curve_without_mapping_is_refused():
    from types import SimpleNamespace

    from translator.nodes import get_spec

    check = get_spec("ShaderNodeFloatCurve").check
    assert "curve mapping" in check(SimpleNamespace(properties={}))
    bad = {"curves": [[[0, 0, "AUTO"], [1, 1, "FREE'\n"]]], "extend": "EXTRAPOLATED"}
    assert "\n" not in check(SimpleNamespace(properties={"mapping": bad}))
    assert "finite" in check(SimpleNamespace(properties={"mapping": {"curves": [[[0, "__import__('os')", "AUTO"]]],
                                                                      "extend": "EXTRAPOLATED"}}))
