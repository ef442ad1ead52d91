"""Mix (float; vector uniform and non-uniform; color in every arithmetic blend type, clamp result; rotation
by slerp; clamp factor), Float Curve (curves with auto, auto-clamped and vector handles, horizontal and
extrapolated ends, clipping, factors) and Vector Curves: Blender parity (batched), float64 gradchecks,
fields. """

from __future__ import annotations

import pytest
import torch

from tests.fixtures.parity import empty_scene, requires_bpy
from tests.fixtures.probes import build_probe, draw_sets
from translator import runtime as rt
from translator.nodes import color as C
from translator.nodes import interpolation as I
from translator.nodes.primitives import make_mesh


@pytest.fixture(scope="module")
def blender():
    empty_scene()


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


# ---------------------------------------------------------------------------
# Mix: colors (every arithmetic blend type) and rotations

@requires_bpy
@pytest.mark.parametrize("clamp_result", (False, True))
@pytest.mark.parametrize("blend", C.BLEND_TYPES)
def test_mix_color_parity(blend, clamp_result):
    """Colors with components in [-0.5, 1.5] (Blender's branches at 0, 0.5 and 1 all taken), factors
    beyond [0, 1] unclamped; the alpha is A's."""
    empty_scene()
    probe = build_probe("ShaderNodeMix", {"Factor_Float": "FLOAT", "A_Color": "COLOR", "B_Color": "COLOR"}, ["Result_Color"],
                        scale=2.0, data_type="RGBA", blend_type=blend, clamp_result=clamp_result, clamp_factor=False)
    spec = {"Factor_Float": ("float", -0.5, 1.5)} | {f"{o}_{c}": ("float", -0.5, 1.5) for o in ("A_Color", "B_Color")
                                                      for c in ("Red", "Green", "Blue", "Alpha")}
    edges = [{"B_Color_Red": 0.0, "B_Color_Green": 0.5, "A_Color_Blue": 0.0}, {"Factor_Float": 1.0, "B_Color_Red": 1.0},
             {"A_Color_Red": 0.5, "A_Color_Green": 1.0, "B_Color_Blue": 0.0}]
    sets = draw_sets(7, spec, 20, edges)
    assert probe.check_batched(sets) == len(sets)


@requires_bpy
@pytest.mark.parametrize("clamp", (False, True))
def test_mix_rotation_parity(clamp):
    """Quaternion slerp: random rotations, the shorter way round (negative dot products), nearly equal
    rotations (the linear fallback) and factors beyond [0, 1]."""
    empty_scene()
    probe = build_probe("ShaderNodeMix", {"Factor_Float": "FLOAT", "A_Rotation": "QUATERNION", "B_Rotation": "QUATERNION"},
                        ["Result_Rotation"], scale=2.0, data_type="ROTATION", clamp_factor=clamp)
    spec = {"Factor_Float": ("float", -0.5, 1.5)} | {f"{o}_{c}": ("float", -1, 1) for o in ("A_Rotation", "B_Rotation")
                                                      for c in "WXYZ"}
    same = {f"{o}_{c}": v for o in ("A_Rotation", "B_Rotation") for c, v in zip("WXYZ", (0.9, 0.1, -0.2, 0.3))}
    opposite = {"A_Rotation_W": 0.5, "B_Rotation_W": -0.5}
    sets = draw_sets(8, spec, 20, [same, opposite])
    assert probe.check_batched(sets) == len(sets)


def test_mix_color_and_rotation_gradcheck():
    g = torch.Generator().manual_seed(3)
    r = lambda *s: (torch.rand(*s, generator=g, dtype=torch.float64) * 1.6 - 0.3).requires_grad_()
    for blend in C.BLEND_TYPES:
        fn = lambda t, a, b, bl=blend: I.mix("RGBA", "UNIFORM", False, t, a_color=a, b_color=b, blend_type=bl)[2]
        assert torch.autograd.gradcheck(fn, (r(5), r(5, 4), r(5, 4))), blend
    q = torch.nn.functional.normalize(torch.randn(5, 4, generator=g, dtype=torch.float64), dim=-1)
    qa, qb = q.clone().requires_grad_(), q.roll(1, 0).clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda t, a, b: I.mix("ROTATION", "UNIFORM", True, t, a_rotation=a, b_rotation=b)[3],
                                    (r(5), qa, qb))


# ---------------------------------------------------------------------------
# Vector Curves

def _set_vector_curves(node, use_clip: bool):
    m = node.mapping
    shapes = [[(-1.0, -0.8), (-0.2, 0.3), (0.4, -0.1), (1.0, 0.9)], [(-1.0, 1.0), (1.0, -1.0)], [(-0.7, -1.0), (0.0, 0.6), (0.8, 0.2)]]
    for curve, pts in zip(m.curves, shapes):
        while len(curve.points) > 2:
            curve.points.remove(curve.points[1])
        curve.points[0].location, curve.points[1].location = pts[0], pts[-1]
        for p in pts[1:-1]:
            curve.points.new(*p)
    m.curves[0].points[1].handle_type = "VECTOR"
    m.extend = "EXTRAPOLATED"
    m.use_clip = use_clip
    m.clip_min_y, m.clip_max_y = -0.5, 0.8
    m.update()


@requires_bpy
@pytest.mark.parametrize("use_clip", (False, True))
def test_vector_curves_parity(use_clip):
    empty_scene()
    probe = build_probe("ShaderNodeVectorCurve", {"Fac": "FLOAT", "Vector": "VECTOR"}, ["Vector"], scale=2.0)
    _set_vector_curves(probe.node, use_clip)
    sets = draw_sets(9, {"Fac": ("float", -0.5, 1.5), "Vector": ("vector", -1.5, 1.5)}, 24, [{"Fac": 1.0}, {"Fac": 0.0}])
    assert probe.check_batched(sets) == len(sets)


def test_vector_curves_gradcheck_and_fields():
    line = [[-1.0, -0.5, "AUTO"], [0.2, 0.4, "AUTO"], [1.0, 1.0, "AUTO"]]
    mapping = {"curves": [line, line[::2], line], "clip": (-1.0, -1.0, 1.0, 1.0), "extend": "EXTRAPOLATED", "use_clip": False}
    g = torch.Generator().manual_seed(4)
    v = (torch.rand(6, 3, generator=g, dtype=torch.float64) * 2.4 - 1.2).requires_grad_()
    f = torch.rand(6, generator=g, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(lambda f, v: I.vector_curves(mapping, f, v), (f, v))
    with rt.eval_context(torch.float64):
        mesh = make_mesh(v.detach().unsqueeze(0), [])
        field = I.vector_curves(mapping, 0.5, rt.Field(lambda c: c.mesh.verts, "VECTOR"))
        got = rt.eval_field(field, rt.FieldContext("POINT", 6, mesh=mesh), "VECTOR")
        assert torch.allclose(got[0], I.vector_curves(mapping, 0.5, v.detach()), atol=1e-12)
