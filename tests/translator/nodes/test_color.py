"""Color nodes: Color Ramp (every interpolation; one stop, stops sharing a position, factors outside the
stops and outside [0, 1]), Combine Color and Separate Color (RGB, HSV, HSL): Blender parity (batched);
float64 gradchecks; fields; refused color modes."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from tests.fixtures.parity import empty_scene, requires_bpy
from tests.fixtures.probes import build_probe, draw_sets
from translator import runtime as rt
from translator.nodes import color as C
from translator.nodes.primitives import make_mesh

_RAMPS = {
    "three stops": [(0.2, (0.9, 0.1, 0.3, 1.0)), (0.5, (0.0, 0.8, 0.4, 0.5)), (0.9, (0.3, 0.3, 1.0, 0.2))],
    "five stops": [(0.0, (0.0, 0.0, 0.0, 1.0)), (0.1, (1.0, 0.2, 0.0, 0.9)), (0.45, (0.2, 1.0, 0.6, 0.3)),
                   (0.7, (0.7, 0.0, 1.0, 1.0)), (1.0, (1.0, 1.0, 1.0, 0.0))],
    "shared position": [(0.3, (1.0, 0.0, 0.0, 1.0)), (0.3, (0.0, 0.0, 1.0, 1.0)), (0.8, (0.0, 1.0, 0.0, 0.5))],
    "one stop": [(0.4, (0.2, 0.5, 0.7, 0.6))],
}


def _set_ramp(node, stops, interpolation):
    r = node.color_ramp
    while len(r.elements) > 1:
        r.elements.remove(r.elements[-1])
    r.elements[0].position = stops[0][0]
    r.elements[0].color = stops[0][1]
    for pos, col in stops[1:]:
        e = r.elements.new(pos)
        e.color = col
    r.interpolation = interpolation


@requires_bpy
@pytest.mark.parametrize("ramp", list(_RAMPS))
@pytest.mark.parametrize("interpolation", C.RAMP_INTERPOLATIONS)
def test_color_ramp_parity(interpolation, ramp):
    empty_scene()
    probe = build_probe("ShaderNodeValToRGB", {"Fac": "FLOAT"}, ["Color", "Alpha"])
    _set_ramp(probe.node, _RAMPS[ramp], interpolation)
    edges = [{"Fac": v} for v in (0.0, 1.0, -0.5, 1.5, 0.2, 0.9)]
    sets = draw_sets(1, {"Fac": ("float", -0.2, 1.2)}, 30, edges)
    assert probe.check_batched(sets) == len(sets)


@requires_bpy
@pytest.mark.parametrize("hue", C.HUE_INTERPOLATIONS)
@pytest.mark.parametrize("color_mode", ("HSV", "HSL"))
def test_color_ramp_hsv_hsl_parity(color_mode, hue):
    """HSV / HSL ramps (linear in that space whatever the interpolation), the hue each way round; stops
    with hues both sides of 0.5 apart and a grey stop."""
    empty_scene()
    probe = build_probe("ShaderNodeValToRGB", {"Fac": "FLOAT"}, ["Color", "Alpha"])
    stops = [(0.1, (0.9, 0.1, 0.2, 1.0)), (0.4, (0.1, 0.2, 0.9, 0.5)), (0.6, (0.5, 0.5, 0.5, 0.8)), (0.95, (0.2, 0.9, 0.3, 0.1))]
    _set_ramp(probe.node, stops, "EASE")
    probe.node.color_ramp.color_mode = color_mode
    probe.node.color_ramp.hue_interpolation = hue
    sets = draw_sets(4, {"Fac": ("float", -0.1, 1.1)}, 30, [{"Fac": 0.1}, {"Fac": 0.6}])
    assert probe.check_batched(sets) == len(sets)


@requires_bpy
@pytest.mark.parametrize("mode", C.COLOR_MODES)
def test_combine_and_separate_color_parity(mode):
    """Combine Color in ``mode`` (hue beyond [0, 1], saturations and values beyond their range), read back
    by the probe's RGB Separate Color; then Separate Color in ``mode`` of colors (grey, ties of the largest
    component, negative components)."""
    empty_scene()
    names = ("Red", "Green", "Blue", "Alpha")
    probe = build_probe("FunctionNodeCombineColor", dict.fromkeys(names, "FLOAT"), ["Color"], mode=mode)
    assert any(n.bl_idname == "FunctionNodeSeparateColor" for n in probe.ng.nodes)  # the probe reads the components back
    sets = draw_sets(2, dict.fromkeys(names, ("float", -0.5, 1.5)), 16, [{"Red": 0.0}, {"Green": 0.0}, {"Blue": 1.0}])
    assert probe.check_batched(sets) == len(sets)
    empty_scene()
    probe = build_probe("FunctionNodeSeparateColor", {"Color": "COLOR"}, list(names), mode=mode)
    grey = {"Color_Red": 0.4, "Color_Green": 0.4, "Color_Blue": 0.4}
    tie = {"Color_Red": 0.8, "Color_Green": 0.8, "Color_Blue": 0.1}
    tie_gb = {"Color_Red": 0.2, "Color_Green": 0.7, "Color_Blue": 0.7}
    sets = draw_sets(3, {f"Color_{n}": ("float", -0.3, 1.3) for n in names}, 20, [grey, tie, tie_gb, {"Color_Red": 1.2}])
    assert probe.check_batched(sets) == len(sets)


def test_color_ramp_gradcheck_and_fields():
    for interpolation in C.RAMP_INTERPOLATIONS:
        ramp = {"elements": [[p, list(c)] for p, c in _RAMPS["five stops"]], "interpolation": interpolation}
        x = torch.tensor([-0.1, 0.05, 0.3, 0.52, 0.8, 0.97, 1.1], dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda x, r=ramp: C.color_ramp(r, x)[0], (x,)), interpolation
    for mode in ("HSV", "HSL"):
        ramp = {"elements": [[p, list(c)] for p, c in _RAMPS["three stops"]], "interpolation": "LINEAR", "color_mode": mode,
                "hue_interpolation": "FAR"}
        x = torch.tensor([0.1, 0.3, 0.45, 0.6, 0.85, 1.0], dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda x, r=ramp: C.color_ramp(r, x)[0], (x,)), mode
    with rt.eval_context(torch.float64):
        verts = torch.tensor([[[0.1, 0.0, 0.0], [0.6, 0.0, 0.0]]], dtype=torch.float64)
        ctx = rt.FieldContext("POINT", 2, mesh=make_mesh(verts, []))
        color, alpha = C.color_ramp(ramp, rt.Field(lambda c: c.mesh.verts[..., 0], "VALUE"))
        assert torch.allclose(rt.eval_field(color, ctx, "RGBA")[0], C.color_ramp(ramp, verts[0, :, 0])[0])
        assert torch.allclose(rt.eval_field(alpha, ctx, "VALUE")[0], C.color_ramp(ramp, verts[0, :, 0])[1])
        batch = C.color_ramp(ramp, verts[0, :, 0])[0]
        assert torch.allclose(batch, torch.stack([C.color_ramp(ramp, v)[0] for v in verts[0, :, 0]]))


def test_hsv_hsl_round_trip_and_gradcheck():
    g = torch.Generator().manual_seed(5)
    rgb = (torch.rand(8, 3, generator=g, dtype=torch.float64) * 0.9 + 0.05).requires_grad_()
    assert torch.allclose(C.hsv_to_rgb(C.rgb_to_hsv(rgb)), rgb, atol=1e-12)
    assert torch.allclose(C.hsl_to_rgb(C.rgb_to_hsl(rgb)), rgb, atol=1e-12)
    for fn in (C.rgb_to_hsv, C.rgb_to_hsl):
        assert torch.autograd.gradcheck(fn, (rgb,))
    for mode in C.COLOR_MODES:
        a = (torch.rand(6, 4, generator=g, dtype=torch.float64) * 0.9 + 0.05).requires_grad_()
        assert torch.autograd.gradcheck(lambda c, m=mode: torch.stack(C.separate_color(m, c), -1), (a,))
        assert torch.autograd.gradcheck(lambda r, gg, b, al, m=mode: C.combine_color(m, r, gg, b, al), tuple(a.unbind(-1)))


def test_color_ramp_refuses_unknown_modes_in_one_line():
    ramp = {"elements": [[0.0, [0, 0, 0, 1]], [1.0, [1, 1, 1, 1]]], "interpolation": "LINEAR", "color_mode": "LAB"}
    reason = C._check_ramp(SimpleNamespace(properties={"color_ramp": ramp}))
    assert reason and "LAB" in reason and "\n" not in reason
    evil = dict(ramp, color_mode="RGB", interpolation="X'); import os\n#")
    reason = C._check_ramp(SimpleNamespace(properties={"color_ramp": evil}))
    assert reason and "\n" not in reason and "import os" in reason
