"""Color nodes: Color Ramp, Combine Color and Separate Color (RGB, HSV, HSL), and the color blend
modes the Mix node uses.

* Color Ramp (``node_shader_color_ramp.cc`` on ``BKE_colorband_evaluate``): the factor picks the
  stops around it (the first stop whose position is above it, and the one before); LINEAR mixes
  them, EASE with the factor eased (``3 f^2 - 2 f^3``), CONSTANT takes the left stop, B_SPLINE and
  CARDINAL weight four stops with Blender's key weights (``key_curve_position_weights``) and clamp
  the result to [0, 1]. Before the first and after the last stop LINEAR / EASE / CONSTANT give that
  stop's color; the spline modes keep interpolating towards virtual stops at 0 and 1. HSV and HSL
  color modes interpolate linearly (as Blender, whatever the interpolation) in that space, the hue
  the NEAR / FAR / CW / CCW way. The stops are data: differentiable in the factor.
* :func:`ramp_blend` is Blender's ``ramp_blend`` for every blend type (HUE, SATURATION, VALUE
  and COLOR through Blender's HSV conversions) on the RGB part of ``(…, 4)`` colors; alpha is kept.
  LIGHTEN is Blender 5.0's ``max(a, b) * fac + a * (1 - fac)`` (as DARKEN with the max), measured.

Checked against Blender in ``tests/translator/nodes/test_color.py``.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from . import node
from .math import elementwise

__all__ = ["BLEND_TYPES", "COLOR_MODES", "HUE_INTERPOLATIONS", "RAMP_INTERPOLATIONS", "color_ramp", "combine_color", "hsl_to_rgb", "hsv_to_rgb",
           "ramp_blend", "rgb_to_hsl", "rgb_to_hsv", "separate_color"]

BLEND_TYPES = ("MIX", "DARKEN", "MULTIPLY", "BURN", "LIGHTEN", "SCREEN", "DODGE", "ADD", "OVERLAY", "SOFT_LIGHT",
               "LINEAR_LIGHT", "DIFFERENCE", "EXCLUSION", "SUBTRACT", "DIVIDE", "HUE", "SATURATION", "VALUE", "COLOR")
COLOR_MODES = ("RGB", "HSV", "HSL")
RAMP_INTERPOLATIONS = ("LINEAR", "EASE", "CONSTANT", "B_SPLINE", "CARDINAL")


def _where(c: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.where(c, a, b)


# ---------------------------------------------------------------------------
# Blender's HSV and HSL conversions (``math_color.cc``), on ``(…, 3)`` tensors


def rgb_to_hsv(c: torch.Tensor) -> torch.Tensor:
    """``rgb_to_hsv``: hue, saturation, value ``(…, 3)`` (hue in [0, 1), through Blender's swaps)."""
    r, g, b = c.unbind(-1)
    swap1 = g < b
    g1, b1 = torch.where(swap1, b, g), torch.where(swap1, g, b)
    k = torch.where(swap1, -torch.ones_like(r), torch.zeros_like(r))
    min_gb = b1
    swap2 = r < g1
    r2, g2 = torch.where(swap2, g1, r), torch.where(swap2, r, g1)
    k = torch.where(swap2, -2.0 / 6.0 - k, k)
    min_gb = torch.where(swap2, torch.minimum(g2, b1), min_gb)
    chroma = r2 - min_gb
    h = torch.abs(k + (g2 - b1) / (6.0 * chroma + 1e-20))
    return torch.stack([h, chroma / (r2 + 1e-20), r2], -1)


def _hue_weights(h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    nr = (torch.abs(h * 6.0 - 3.0) - 1.0).clamp(0.0, 1.0)
    ng = (2.0 - torch.abs(h * 6.0 - 2.0)).clamp(0.0, 1.0)
    nb = (2.0 - torch.abs(h * 6.0 - 4.0)).clamp(0.0, 1.0)
    return nr, ng, nb


def hsv_to_rgb(c: torch.Tensor) -> torch.Tensor:
    """``hsv_to_rgb`` of ``(…, 3)`` hue, saturation, value."""
    h, s, v = c.unbind(-1)
    return torch.stack([((n - 1.0) * s + 1.0) * v for n in _hue_weights(h)], -1)


def rgb_to_hsl(c: torch.Tensor) -> torch.Tensor:
    """``rgb_to_hsl``: hue, saturation, lightness ``(…, 3)``."""
    r, g, b = c.unbind(-1)
    cmax = torch.maximum(torch.maximum(r, g), b)
    cmin = torch.minimum(torch.minimum(r, g), b)
    l = torch.clamp((cmax + cmin) / 2.0, max=1.0)
    grey = cmax == cmin
    d = torch.where(grey, torch.ones_like(cmax), cmax - cmin)
    s_hi = d / torch.where(2.0 - cmax - cmin == 0, torch.ones_like(d), 2.0 - cmax - cmin)
    s_lo = d / torch.where(cmax + cmin == 0, torch.ones_like(d), cmax + cmin)
    s = torch.where(l > 0.5, s_hi, s_lo)
    h = torch.where(cmax == r, (g - b) / d + torch.where(g < b, 6.0, 0.0),
                    torch.where(cmax == g, (b - r) / d + 2.0, (r - g) / d + 4.0))
    zero = torch.zeros_like(h)
    return torch.stack([torch.where(grey, zero, h) / 6.0, torch.where(grey, zero, s), l], -1)


def hsl_to_rgb(c: torch.Tensor) -> torch.Tensor:
    """``hsl_to_rgb`` of ``(…, 3)`` hue, saturation, lightness."""
    h, s, l = c.unbind(-1)
    chroma = (1.0 - torch.abs(2.0 * l - 1.0)) * s
    return torch.stack([(n - 0.5) * chroma + l for n in _hue_weights(h)], -1)


def _safe_div(a: torch.Tensor, b: torch.Tensor, ok: torch.Tensor) -> torch.Tensor:
    return a / torch.where(ok, b, torch.ones_like(b))


def ramp_blend(blend_type: str, a: torch.Tensor, fac: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``ramp_blend(blend_type, a, fac, b)`` for colors ``(…, 4)`` and factors ``(…)``: the blended RGB
    with ``a``'s alpha. Piecewise modes take the gradient of the branch Blender takes."""
    a, b = torch.broadcast_tensors(a, b)
    r, c = a[..., :3], b[..., :3]
    f = fac.unsqueeze(-1)
    fm = 1.0 - f
    one = torch.ones_like(r)
    if blend_type == "MIX":
        out = fm * r + f * c
    elif blend_type == "ADD":
        out = r + f * c
    elif blend_type == "SUBTRACT":
        out = r - f * c
    elif blend_type == "MULTIPLY":
        out = r * (fm + f * c)
    elif blend_type == "SCREEN":
        out = 1.0 - (fm + f * (1.0 - c)) * (1.0 - r)
    elif blend_type == "OVERLAY":
        out = _where(r < 0.5, r * (fm + 2.0 * f * c), 1.0 - (fm + 2.0 * f * (1.0 - c)) * (1.0 - r))
    elif blend_type == "DIVIDE":
        ok = c != 0
        out = _where(ok, fm * r + f * _safe_div(r, c, ok), r)
    elif blend_type == "DIFFERENCE":
        out = fm * r + f * torch.abs(r - c)
    elif blend_type == "EXCLUSION":
        out = torch.clamp(fm * r + f * (r + c - 2.0 * r * c), min=0.0)
    elif blend_type == "DARKEN":
        out = torch.where(c < r, c, r) * f + r * fm
    elif blend_type == "LIGHTEN":
        out = torch.where(r < c, c, r) * f + r * fm
    elif blend_type == "DODGE":
        t = 1.0 - f * c
        pos = t > 0
        q = _safe_div(r, t, pos)
        out = _where(r != 0, _where(pos, _where(q > 1.0, one, q), one), r)
    elif blend_type == "BURN":
        t = fm + f * c
        pos = t > 0
        q = 1.0 - _safe_div(1.0 - r, t, pos)
        out = _where(pos, _where(q < 0.0, torch.zeros_like(q), _where(q > 1.0, one, q)), torch.zeros_like(r))
    elif blend_type == "SOFT_LIGHT":
        scr = 1.0 - (1.0 - c) * (1.0 - r)
        out = fm * r + f * ((1.0 - r) * c * r + r * scr)
    elif blend_type == "LINEAR_LIGHT":
        out = _where(c > 0.5, r + f * (2.0 * (c - 0.5)), r + f * (2.0 * c - 1.0))
    elif blend_type in ("HUE", "COLOR"):
        hc, hr = rgb_to_hsv(c), rgb_to_hsv(r)
        new = torch.stack([hc[..., 0], hr[..., 1] if blend_type == "HUE" else hc[..., 1], hr[..., 2]], -1)
        out = _where((hc[..., 1] != 0).unsqueeze(-1), fm * r + f * hsv_to_rgb(new), r)
    elif blend_type == "SATURATION":
        hr, hc = rgb_to_hsv(r), rgb_to_hsv(c)
        new = torch.stack([hr[..., 0], fm[..., 0] * hr[..., 1] + f[..., 0] * hc[..., 1], hr[..., 2]], -1)
        out = _where((hr[..., 1] != 0).unsqueeze(-1), hsv_to_rgb(new), r)
    elif blend_type == "VALUE":
        hr, hc = rgb_to_hsv(r), rgb_to_hsv(c)
        out = hsv_to_rgb(torch.stack([hr[..., 0], hr[..., 1], fm[..., 0] * hr[..., 2] + f[..., 0] * hc[..., 2]], -1))
    else:
        raise ValueError(f"Mix blend type {blend_type!r} is not supported")
    return torch.cat([out, a[..., 3:]], -1)


# ---------------------------------------------------------------------------
# Color Ramp


def _weights(t: torch.Tensor, kind: str) -> list[torch.Tensor]:
    """``key_curve_position_weights`` for CARDINAL (tension 0.71) and B_SPLINE: ``[w0, w1, w2, w3]``."""
    t2 = t * t
    t3 = t2 * t
    if kind == "CARDINAL":
        fc = 0.71
        return [-fc * t3 + 2.0 * fc * t2 - fc * t, (2.0 - fc) * t3 + (fc - 3.0) * t2 + 1.0,
                (fc - 2.0) * t3 + (3.0 - 2.0 * fc) * t2 + fc * t, fc * t3 - fc * t2]
    s6 = 0.16666666
    return [-s6 * t3 + 0.5 * t2 - 0.5 * t + s6, 0.5 * t3 - t2 + 0.66666666, -0.5 * t3 + 0.5 * t2 + 0.5 * t + s6, s6 * t3]


def _stop_tables(elements: list) -> dict[str, list]:
    """For each ``a`` in ``0..n`` (how many stops lie at or below the factor): the positions and colors
    Blender's ``BKE_colorband_evaluate`` uses (``cbd1`` right, ``cbd2`` left, ``cbd0`` / ``cbd3`` the
    spline's outer stops), with the virtual stops at 0 and 1 it makes at the ends."""
    n = len(elements)
    pos = [float(p) for p, _ in elements]
    col = [[float(v) for v in c] for _, c in elements]
    t: dict[str, list] = {"p1": [], "p2": [], "c0": [], "c1": [], "c2": [], "c3": []}
    for a in range(n + 1):
        if a == n:
            i2, p1, i1 = n - 1, 1.0, n - 1
            i0 = i1
            i3 = i2 - 1 if a >= 2 else i2
            p2 = pos[i2]
        elif a == 0:
            i1, p1 = 0, pos[0]
            i2, p2 = 0, 0.0
            i0 = 1 if a < n - 1 else i1
            i3 = i2
        else:
            i1, i2 = a, a - 1
            p1, p2 = pos[i1], pos[i2]
            i0 = a + 1 if a < n - 1 else i1
            i3 = a - 2 if a >= 2 else i2
        t["p1"].append(p1)
        t["p2"].append(p2)
        for k, i in (("c0", i0), ("c1", i1), ("c2", i2), ("c3", i3)):
            t[k].append(col[i])
    return t


HUE_INTERPOLATIONS = ("NEAR", "FAR", "CW", "CCW")


def _hue_interp(kind: str, mfac: torch.Tensor, fac: torch.Tensor, h1: torch.Tensor, h2: torch.Tensor) -> torch.Tensor:
    """``colorband_hue_interp``: the hue between ``h1`` (weight ``mfac``) and ``h2`` the NEAR / FAR / CW / CCW way."""
    h1 = torch.where(h1 < 1.0, h1, h1 - 1.0)
    h2 = torch.where(h2 < 1.0, h2, h2 - 1.0)
    d = h2 - h1
    zero = torch.zeros_like(h1, dtype=torch.long)
    one, two = zero + 1, zero + 2
    if kind == "NEAR":
        mode = torch.where((h1 < h2) & (d > 0.5), one, torch.where((h1 > h2) & (d < -0.5), two, zero))
    elif kind == "FAR":
        mode = torch.where(h1 == h2, one, torch.where((h1 < h2) & (d < 0.5), one, torch.where((h1 > h2) & (d > -0.5), two, zero)))
    elif kind == "CCW":
        mode = torch.where(h1 > h2, two, zero)
    else:
        mode = torch.where(h1 < h2, one, zero)
    h = mfac * (h1 + (mode == 1).to(h1.dtype)) + fac * (h2 + (mode == 2).to(h2.dtype))
    return torch.where((mode > 0) & (h >= 1.0), h - 1.0, h)


def _ramp(ramp: dict, x: torch.Tensor) -> torch.Tensor:
    elements = ramp["elements"]
    color_mode = ramp.get("color_mode", "RGB")
    ipo = ramp.get("interpolation", "LINEAR") if color_mode == "RGB" else "LINEAR"
    n = len(elements)
    dev, dt = x.device, x.dtype
    if n == 1:
        return torch.tensor(elements[0][1], dtype=dt, device=dev).expand(*x.shape, 4)
    # positions are Blender's float32 values (a program's literals may print them shorter), and the stop is
    # picked as Blender picks it, comparing in float32
    tab = {k: torch.tensor(v, dtype=torch.float32, device=dev).to(dt) for k, v in _stop_tables(elements).items()}
    pos32 = torch.tensor([float(p) for p, _ in elements], dtype=torch.float32, device=dev)
    a = (pos32 <= x.to(torch.float32).unsqueeze(-1)).sum(-1)
    p1, p2 = tab["p1"][a], tab["p2"][a]
    c0, c1, c2, c3 = tab["c0"][a], tab["c1"][a], tab["c2"][a], tab["c3"][a]
    same = p1 == p2
    fac = torch.where(same, (a == n).to(dt), (x - p1) / torch.where(same, torch.ones_like(p2), p2 - p1))
    if ipo in ("B_SPLINE", "CARDINAL"):
        w0, w1, w2, w3 = _weights(fac.clamp(0.0, 1.0), ipo)
        out = w3.unsqueeze(-1) * c3 + w2.unsqueeze(-1) * c2 + w1.unsqueeze(-1) * c1 + w0.unsqueeze(-1) * c0
        return out.clamp(0.0, 1.0)
    if ipo == "CONSTANT":
        out = c2
    else:
        if ipo == "EASE":
            f2 = fac * fac
            fac = 3.0 * f2 - 2.0 * f2 * fac
        f = fac.unsqueeze(-1)
        if color_mode == "RGB":
            out = (1.0 - f) * c1 + f * c2
        else:
            a1, a2 = _FROM_RGB[color_mode](c1[..., :3]), _FROM_RGB[color_mode](c2[..., :3])
            h = _hue_interp(ramp.get("hue_interpolation", "NEAR"), 1.0 - fac, fac, a1[..., 0], a2[..., 0])
            rest = (1.0 - f) * torch.cat([a1[..., 1:], c1[..., 3:]], -1) + f * torch.cat([a2[..., 1:], c2[..., 3:]], -1)
            out = torch.cat([_TO_RGB[color_mode](torch.cat([h.unsqueeze(-1), rest[..., :2]], -1)), rest[..., 2:]], -1)
    first = torch.tensor(elements[0][1], dtype=dt, device=dev)
    last = torch.tensor(elements[-1][1], dtype=dt, device=dev)
    out = torch.where((a == n).unsqueeze(-1), last.expand_as(out), out)
    return torch.where((x.to(torch.float32) <= pos32[0]).unsqueeze(-1), first.expand_as(out), out)


def _check_ramp(n) -> str | None:
    r = n.properties.get("color_ramp")
    if not isinstance(r, dict) or not isinstance(r.get("elements"), (list, tuple)) or not r["elements"]:
        return "Color Ramp without its stops (re-export the program with this version)"
    for e in r["elements"]:
        if not (isinstance(e, (list, tuple)) and len(e) == 2 and isinstance(e[1], (list, tuple)) and len(e[1]) == 4):
            return "Color Ramp stops must be [position, [r, g, b, a]]"
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (e[0], *e[1])):
            return "Color Ramp stop positions and colors must be finite numbers"
    if [e[0] for e in r["elements"]] != sorted(e[0] for e in r["elements"]):
        return "Color Ramp stops must be sorted by position"
    if r.get("interpolation") not in RAMP_INTERPOLATIONS:
        return f"Color Ramp interpolation {r.get('interpolation')!r} is not supported"
    if r.get("color_mode", "RGB") not in COLOR_MODES:
        return f"Color Ramp color mode {r.get('color_mode')!r} is not supported"
    if r.get("hue_interpolation", "NEAR") not in HUE_INTERPOLATIONS:
        return f"Color Ramp hue interpolation {r.get('hue_interpolation')!r} is not supported"
    return None


@node("ShaderNodeValToRGB", outputs=("Color", "Alpha"), props=("color_ramp",), check=_check_ramp, label="Color Ramp",
      grad="yes", notes="interpolation LINEAR, EASE, CONSTANT, B_SPLINE, CARDINAL; color modes RGB, HSV, HSL (hue NEAR, "
                        "FAR, CW, CCW; linear as Blender); the stops are constants: gradient in the factor")
def color_ramp(color_ramp: dict | None = None, fac=0.5) -> tuple[Any, Any]:
    """Color Ramp: the color ``(…, 4)`` and its alpha ``(…)`` at factor ``fac (…)``."""
    ramp = color_ramp or {"elements": [[0.0, [0.0, 0.0, 0.0, 1.0]], [1.0, [1.0, 1.0, 1.0, 1.0]]], "interpolation": "LINEAR"}
    color = elementwise(lambda x: _ramp(ramp, x), [fac], ["VALUE"], "RGBA")
    alpha = elementwise(lambda x: _ramp(ramp, x)[..., 3], [fac], ["VALUE"], "VALUE")
    return color, alpha


_TO_RGB = {"HSV": hsv_to_rgb, "HSL": hsl_to_rgb}
_FROM_RGB = {"HSV": rgb_to_hsv, "HSL": rgb_to_hsl}


@node("FunctionNodeCombineColor", outputs=("Color",), props=("mode",), label="Combine Color", modes={"mode": COLOR_MODES},
      grad="yes", notes="HSV / HSL through Blender's hsv_to_rgb / hsl_to_rgb")
def combine_color(mode: str = "RGB", red=0.0, green=0.0, blue=0.0, alpha=1.0):
    """Combine Color: four floats ``(…)`` (red, green, blue; or hue, saturation, value / lightness) and alpha
    -> a color ``(…, 4)``."""
    def kernel(r, g, b, a):
        c = torch.stack(torch.broadcast_tensors(r, g, b, a), -1)
        return c if mode == "RGB" else torch.cat([_TO_RGB[mode](c[..., :3]), c[..., 3:]], -1)

    return elementwise(kernel, [red, green, blue, alpha], ["VALUE"] * 4, "RGBA")


@node("FunctionNodeSeparateColor", outputs=("Red", "Green", "Blue", "Alpha"), props=("mode",), label="Separate Color",
      modes={"mode": COLOR_MODES}, grad="yes", notes="HSV / HSL through Blender's rgb_to_hsv / rgb_to_hsl (gradient "
                                                     "of the branch taken where the largest component ties)")
def separate_color(mode: str = "RGB", color=(1.0, 1.0, 1.0, 1.0)):
    """Separate Color: a color ``(…, 4)`` -> four components ``(…)`` (RGB, or hue, saturation, value /
    lightness) and alpha."""
    def kernel(c, i):
        return c[..., i] if mode == "RGB" or i == 3 else _FROM_RGB[mode](c[..., :3])[..., i]

    return tuple(elementwise(lambda c, i=i: kernel(c, i), [color], ["RGBA"], "VALUE") for i in range(4))
