"""Interpolation nodes: Mix (float, vector, color, rotation), Float Curve and Vector Curves.

* Mix (``node_shader_mix.cc``): ``a * (1 - t) + b * t`` with the factor clamped to [0, 1] when
  Clamp Factor is on; vectors take one factor (UNIFORM) or one per component (NON_UNIFORM); colors
  blend with ``ramp_blend`` (:mod:`translator.nodes.color`), rotations with quaternion slerp.
* Vector Curves: each component through its own curve of the mapping (the Float Curve's table),
  then mixed with the input by the factor.
* Float Curve (``node_shader_curves.cc`` on ``BKE_colortools``): Blender evaluates a curve mapping
  through a table of 257 samples built from the curve's Bezier segments (auto / vector handles,
  32 forward-differenced points per segment, the points spread over equal x steps), linearly
  interpolated, extended outside the table (horizontally or along the end handles) and clipped
  when the mapping clips. The table is built here the same way in float32 (:func:`curve_table`),
  once per curve, and evaluated with torch: differentiable in the value (the slope of the table)
  and in the factor.

Shapes: floats ``(…)``, vectors ``(…, 3)``; fields give a field. Checked against Blender in
``tests/translator/nodes/test_interpolation.py``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch

from ..runtime.rotations import IDENTITY
from . import node
from .color import BLEND_TYPES, ramp_blend
from .math import elementwise

__all__ = ["MIX_TYPES", "CurveTable", "curve_table", "evaluate_curve", "float_curve", "mix", "slerp", "vector_curves"]

_CM_TABLE = 256
_CM_RESOL = 32
_HANDLES = ("AUTO", "AUTO_CLAMPED", "VECTOR")
_F = np.float32


# ---------------------------------------------------------------------------
# Mix


def _factor(t: torch.Tensor, clamp: bool) -> torch.Tensor:
    return t.clamp(0.0, 1.0) if clamp else t


def _lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return a * (1.0 - t) + b * t


MIX_TYPES = ("FLOAT", "VECTOR", "RGBA", "ROTATION")


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """``math::interpolate`` of quaternions ``(…, 4)`` by ``t (…)``: spherical, the shorter way (``b``'s
    weight negated sign-wise through ``a``'s when ``a . b < 0``), linear where ``|a . b| >= 1 - 1e-4``;
    not normalized afterwards, as in Blender."""
    cosom = (a * b).sum(-1)
    c = cosom.abs()
    far = c < 1.0 - 1e-4
    omega = torch.acos(torch.where(far, c, torch.zeros_like(c)))
    sinom = torch.sin(omega)
    sinom = torch.where(far, sinom, torch.ones_like(sinom))
    w0 = torch.where(far, torch.sin((1.0 - t) * omega) / sinom, 1.0 - t)
    w1 = torch.where(far, torch.sin(t * omega) / sinom, t)
    w0 = torch.where(cosom < 0, -w0, w0)
    return w0.unsqueeze(-1) * a + w1.unsqueeze(-1) * b


def _check_mix(n) -> str | None:
    p = n.properties
    for prop, allowed, default in (("data_type", MIX_TYPES, "FLOAT"), ("factor_mode", ("UNIFORM", "NON_UNIFORM"), "UNIFORM"),
                                   ("clamp_factor", (False, True), True), ("clamp_result", (False, True), False)):
        v = p.get(prop, default)
        if v not in allowed:
            return f"Mix {prop.replace('_', ' ')} {v!r} is not supported"
    blend = p.get("blend_type", "MIX")
    if blend not in BLEND_TYPES:
        return f"Mix blend type {blend!r} is not supported"
    return None


@node("ShaderNodeMix", outputs=("Result_Float", "Result_Vector", "Result_Color", "Result_Rotation"),
      props=("data_type", "factor_mode", "clamp_factor", "blend_type", "clamp_result"), label="Mix", grad="yes",
      check=_check_mix,
      modes={"data_type": MIX_TYPES, "factor_mode": ("UNIFORM", "NON_UNIFORM"), "clamp_factor": (False, True),
             "blend_type": BLEND_TYPES, "clamp_result": (False, True)},
      notes="every color blend type (clamp result on RGB); rotations by slerp")
def mix(data_type: str = "FLOAT", factor_mode: str = "UNIFORM", clamp_factor: bool = True, factor_float=0.5,
        factor_vector=(0.5, 0.5, 0.5), a_float=0.0, b_float=0.0, a_vector=(0.0, 0.0, 0.0), b_vector=(0.0, 0.0, 0.0),
        a_color=(0.5, 0.5, 0.5, 1.0), b_color=(0.5, 0.5, 0.5, 1.0), a_rotation=IDENTITY, b_rotation=IDENTITY,
        blend_type: str = "MIX", clamp_result: bool = False) -> tuple[Any, Any, Any, Any]:
    """Mix: ``(float, vector, color, rotation)``, only ``data_type``'s output computed. FLOAT mixes
    ``a_float`` and ``b_float`` by ``factor_float``; VECTOR mixes the vectors by ``factor_float``
    (UNIFORM) or per component by ``factor_vector`` (NON_UNIFORM); RGBA blends ``a_color`` with
    ``b_color`` by ``blend_type`` (:func:`~translator.nodes.color.ramp_blend`, ``a``'s alpha kept),
    its RGB clamped to [0, 1] with ``clamp_result`` (alpha is not: measured in Blender 5.0.1); ROTATION interpolates the quaternions (:func:`slerp`)."""
    clamp = bool(clamp_factor)
    flt, vec, col, rot = 0.0, (0.0, 0.0, 0.0), (0.0, 0.0, 0.0, 0.0), IDENTITY
    if data_type == "FLOAT":
        flt = elementwise(lambda t, a, b: _lerp(a, b, _factor(t, clamp)), [factor_float, a_float, b_float],
                          ["VALUE"] * 3, "VALUE")
    elif data_type == "VECTOR" and factor_mode == "NON_UNIFORM":
        vec = elementwise(lambda t, a, b: _lerp(a, b, _factor(t, clamp)), [factor_vector, a_vector, b_vector],
                          ["VECTOR"] * 3, "VECTOR")
    elif data_type == "VECTOR":
        vec = elementwise(lambda t, a, b: _lerp(a, b, _factor(t, clamp).unsqueeze(-1)), [factor_float, a_vector, b_vector],
                          ["VALUE", "VECTOR", "VECTOR"], "VECTOR")
    elif data_type == "RGBA":
        def blend(t, a, b):
            out = ramp_blend(blend_type, a, _factor(t, clamp), b)
            return torch.cat([out[..., :3].clamp(0.0, 1.0), out[..., 3:]], -1) if clamp_result else out

        col = elementwise(blend, [factor_float, a_color, b_color], ["VALUE", "RGBA", "RGBA"], "RGBA")
    elif data_type == "ROTATION":
        rot = elementwise(lambda t, a, b: slerp(a, b, _factor(t, clamp)), [factor_float, a_rotation, b_rotation],
                          ["VALUE", "ROTATION", "ROTATION"], "ROTATION")
    else:
        raise ValueError(f"Mix data type {data_type!r} is not supported")
    return flt, vec, col, rot


# ---------------------------------------------------------------------------
# Curve mappings: Blender's table, built in float32


@dataclass(frozen=True)
class CurveTable:
    """A curve map's evaluation table: ``ys`` (257,) at ``x = mintable + i / range_inv``, the extension
    handles and the mapping's extend and clip settings."""

    ys: tuple[float, ...]
    mintable: float
    range_inv: float
    first: tuple[float, float]
    last: tuple[float, float]
    ext_in: tuple[float, float]
    ext_out: tuple[float, float]
    extrapolate: bool
    clip: tuple[float, float] | None


def _len2(v) -> _F:
    return _F(math.sqrt(float(_F(v[0]) * _F(v[0]) + _F(v[1]) * _F(v[1]))))


def _calchandle(bez: list, a: int, prev: int | None, nxt: int | None, handles: list[str]) -> None:
    """``calchandle_curvemap``: the handles of point ``a`` from its neighbours (``bez[i]``: 3 x 2 float32)."""
    p2 = bez[a][1]
    if prev is None:
        p3 = bez[nxt][1]
        p1 = _F(2.0) * p2 - p3
    else:
        p1 = bez[prev][1]
    if nxt is None:
        p1 = bez[prev][1]
        p3 = _F(2.0) * p2 - p1
    else:
        p3 = bez[nxt][1]
    dvec_a, dvec_b = p2 - p1, p3 - p2
    len_a, len_b = _len2(dvec_a), _len2(dvec_b)
    len_a = _F(1.0) if len_a == 0 else len_a
    len_b = _F(1.0) if len_b == 0 else len_b
    h = handles[a]
    if h in ("AUTO", "AUTO_CLAMPED"):
        tvec = dvec_b / len_b + dvec_a / len_a
        ln = _len2(tvec) * _F(2.5614)
        if ln != 0:
            la, lb = len_a / ln, len_b / ln
            bez[a][0] = p2 + tvec * -la
            bez[a][2] = p2 + tvec * lb
            if h == "AUTO_CLAMPED" and prev is not None and nxt is not None:
                yd1, yd2 = bez[prev][1][1] - p2[1], bez[nxt][1][1] - p2[1]
                if (yd1 <= 0 and yd2 <= 0) or (yd1 >= 0 and yd2 >= 0):
                    bez[a][0][1] = p2[1]
                    bez[a][2][1] = p2[1]
                elif yd1 <= 0:
                    bez[a][0][1] = max(bez[prev][1][1], bez[a][0][1])
                    bez[a][2][1] = min(bez[nxt][1][1], bez[a][2][1])
                else:
                    bez[a][0][1] = min(bez[prev][1][1], bez[a][0][1])
                    bez[a][2][1] = max(bez[nxt][1][1], bez[a][2][1])
    if h == "VECTOR":
        bez[a][0] = p2 + dvec_a * _F(-1.0 / 3.0)
        bez[a][2] = p2 + dvec_b * _F(1.0 / 3.0)


def _correct_bezpart(v1, v2, v3, v4) -> None:
    """``BKE_curve_correct_bezpart``: shorten crossing handles ``v2`` / ``v3`` in place."""
    h1, h2 = v1 - v2, v4 - v3
    length = v4[0] - v1[0]
    len1, len2 = abs(h1[0]), abs(h2[0])
    if len1 + len2 == 0:
        return
    if len1 + len2 > length:
        fac = length / (len1 + len2)
        v2[:] = v1 - fac * h1
        v3[:] = v4 - fac * h2


def _forward_diff(q0, q1, q2, q3, it: int) -> np.ndarray:
    """``BKE_curve_forward_diff_bezier``: ``it + 1`` points of a cubic, forward differenced in float32."""
    f = _F(it)
    rt0 = q0
    rt1 = _F(3.0) * (q1 - q0) / f
    f = f * f
    rt2 = _F(3.0) * (q0 - _F(2.0) * q1 + q2) / f
    f = f * _F(it)
    rt3 = (q3 - q0 + _F(3.0) * (q1 - q2)) / f
    a0, a1, a2, a3 = rt0, rt1 + rt2 + rt3, _F(2.0) * rt2 + _F(6.0) * rt3, _F(6.0) * rt3
    out = np.empty(it + 1, dtype=_F)
    for i in range(it + 1):
        out[i] = a0
        a0 = _F(a0 + a1)
        a1 = _F(a1 + a2)
        a2 = _F(a2 + a3)
    return out


def _extend(x, first, last, ext_in, ext_out, extrapolate: bool) -> _F:
    if x <= first[0]:
        if not extrapolate:
            return first[1]
        if ext_in[0] == 0:
            return first[1] + ext_in[1] * _F(10000.0)
        return first[1] + ext_in[1] * (x - first[0]) / ext_in[0]
    if x >= last[0]:
        if not extrapolate:
            return last[1]
        if ext_out[0] == 0:
            return last[1] - ext_out[1] * _F(10000.0)
        return last[1] + ext_out[1] * (x - last[0]) / ext_out[0]
    return _F(0.0)


@functools.lru_cache(maxsize=256)
def _table(points: tuple[tuple[float, float, str], ...], extend: str, use_clip: bool,
           clip: tuple[float, float, float, float]) -> CurveTable:
    with np.errstate(all="ignore"):
        return _make_table(points, extend, use_clip, clip)


def _make_table(points, extend, use_clip, clip) -> CurveTable:
    extrapolate = extend == "EXTRAPOLATED"
    mintable, maxtable = _F(clip[0]), _F(clip[2])
    if len(points) >= 2:
        for x, _, _ in points:
            mintable, maxtable = min(mintable, _F(x)), max(maxtable, _F(x))
        pts = points
    else:
        mintable = maxtable = _F(0.0)
        pts = ((0.0, 0.0, "AUTO"), (0.0, 0.0, "AUTO"))
    n = len(pts)
    bez = [np.zeros((3, 2), dtype=_F) for _ in range(n)]
    for i, (x, y, _) in enumerate(pts):
        bez[i][1] = (x, y)
    handles = [h for _, _, h in pts]
    for a in range(n):
        _calchandle(bez, a, a - 1 if a > 0 else None, a + 1 if a < n - 1 else None, handles)
    if n > 2:  # the end handles point at the neighbouring handle instead of its point
        for a, nb, lo in ((0, 1, True), (n - 1, n - 2, False)):
            if handles[a] != "AUTO":
                continue
            own = bez[a][2] if lo else bez[a][0]
            hlen = _len2(bez[a][1] - own)
            vec = (bez[nb][0] if lo else bez[nb][2]).copy()
            vec[0] = max(vec[0], bez[a][1][0]) if lo else min(vec[0], bez[a][1][0])
            vec = vec - bez[a][1]
            nlen = _len2(vec)
            if nlen > np.finfo(_F).eps:
                vec = vec * (hlen / nlen)
                if lo:
                    bez[a][2], bez[a][0] = vec + bez[a][1], bez[a][1] - vec
                else:
                    bez[a][0], bez[a][2] = vec + bez[a][1], bez[a][1] - vec
    allpoints = []
    for a in range(n - 1):
        s, e = bez[a], bez[a + 1]
        _correct_bezpart(s[1], s[2], e[0], e[1])
        xs = _forward_diff(s[1][0], s[2][0], e[0][0], e[1][0], _CM_RESOL - 1)
        ys = _forward_diff(s[1][1], s[2][1], e[0][1], e[1][1], _CM_RESOL - 1)
        allpoints.append(np.stack([xs, ys], 1))
    pts_xy = np.concatenate(allpoints, 0)
    ext_in = bez[0][0] - bez[0][1]
    ext_in = ext_in / _len2(ext_in)
    ext_out = bez[n - 1][1] - bez[n - 1][2]
    ext_out = ext_out / _len2(ext_out)
    table_range = maxtable - mintable
    rng = _F(1.0 / _CM_TABLE) * table_range
    first, last = pts_xy[0], pts_xy[-1]
    ys = np.empty(_CM_TABLE + 1, dtype=_F)
    k = 0
    lastk = len(pts_xy) - 1
    for a in range(_CM_TABLE + 1):
        cur_x = mintable + rng * _F(a)
        while cur_x >= pts_xy[k][0] and k != lastk:
            k += 1
        if k == 0 or (k == lastk and cur_x >= pts_xy[k][0]):
            if abs(cur_x - pts_xy[k][0]) <= _F(1e-6):
                ys[a] = pts_xy[k][1]
            else:
                ys[a] = _extend(cur_x, first, last, ext_in, ext_out, extrapolate)
        else:
            fac1 = pts_xy[k][0] - pts_xy[k - 1][0]
            fac2 = pts_xy[k][0] - cur_x
            fac1 = fac2 / fac1 if fac1 > np.finfo(_F).eps else _F(0.0)
            ys[a] = fac1 * pts_xy[k - 1][1] + (_F(1.0) - fac1) * pts_xy[k][1]
    range_inv = _F(1.0) / rng
    return CurveTable(
        ys=tuple(float(v) for v in ys), mintable=float(mintable), range_inv=float(range_inv),
        first=(float(mintable), float(ys[0])), last=(float(mintable + rng * _F(_CM_TABLE)), float(ys[-1])),
        ext_in=(float(ext_in[0]), float(ext_in[1])), ext_out=(float(ext_out[0]), float(ext_out[1])),
        extrapolate=extrapolate, clip=(float(clip[1]), float(clip[3])) if use_clip else None,
    )


def curve_table(mapping: dict, index: int = 0) -> CurveTable:
    """The evaluation table of curve ``index`` of an exported curve mapping (cached)."""
    points = tuple((float(x), float(y), str(h)) for x, y, h in mapping["curves"][index])
    clip = tuple(float(c) for c in mapping.get("clip", (0.0, 0.0, 1.0, 1.0)))
    return _table(points, str(mapping.get("extend", "EXTRAPOLATED")), bool(mapping.get("use_clip", False)), clip)


def evaluate_curve(table: CurveTable, value: torch.Tensor) -> torch.Tensor:
    """``BKE_curvemapping_evaluateF``: the curve at ``value (…)`` (differentiable in ``value``)."""
    ys = torch.tensor(table.ys, dtype=value.dtype, device=value.device)
    fi = (value - table.mintable) * table.range_inv
    inside = (fi >= 0) & (fi <= _CM_TABLE)
    fic = torch.where(inside, fi, torch.zeros_like(fi))
    i = torch.clamp(torch.trunc(fic).long(), 0, _CM_TABLE - 1)
    frac = fic - i.to(fic.dtype)
    y = (1.0 - frac) * ys[i] + frac * ys[i + 1]
    (fx, fy), (lx, ly) = table.first, table.last
    if table.extrapolate:
        below = fy + table.ext_in[1] * 10000.0 if table.ext_in[0] == 0 else fy + table.ext_in[1] * (value - fx) / table.ext_in[0]
        above = ly - table.ext_out[1] * 10000.0 if table.ext_out[0] == 0 else ly + table.ext_out[1] * (value - lx) / table.ext_out[0]
    else:
        below, above = fy, ly
    below = torch.as_tensor(below, dtype=value.dtype, device=value.device)
    above = torch.as_tensor(above, dtype=value.dtype, device=value.device)
    out = torch.where(inside, y, torch.where(value <= fx, below, torch.where(value >= lx, above, torch.zeros_like(y))))
    if table.clip is not None:
        out = out.clamp(table.clip[0], table.clip[1])
    return out


def _check_curve(n) -> str | None:
    m = n.properties.get("mapping")
    if not isinstance(m, dict) or not m.get("curves"):
        return "Float Curve without its curve mapping (re-export the program with this version)"
    pts = m["curves"][0]
    if not isinstance(pts, (list, tuple)) or not all(isinstance(p, (list, tuple)) and len(p) == 3 for p in pts):
        return "Float Curve points must be [x, y, handle type] triples"
    if not all(isinstance(c, (int, float)) and not isinstance(c, bool) and math.isfinite(c) for p in pts for c in p[:2]):
        return "Float Curve point coordinates must be finite numbers"
    if not all(p[2] in _HANDLES for p in pts):
        return "Float Curve handle types other than AUTO, AUTO_CLAMPED and VECTOR are not supported"
    clip = m.get("clip", (0.0, 0.0, 1.0, 1.0))
    if not (isinstance(clip, (list, tuple)) and len(clip) == 4
            and all(isinstance(c, (int, float)) and not isinstance(c, bool) and math.isfinite(c) for c in clip)):
        return "Float Curve clipping must be four finite numbers"
    if m.get("extend") not in ("EXTRAPOLATED", "HORIZONTAL"):
        return f"Float Curve extend mode {m.get('extend')!r} is not supported"
    return None


@node("ShaderNodeFloatCurve", outputs=("Value",), props=("mapping",), check=_check_curve, label="Float Curve",
      grad="yes", notes="auto, auto-clamped and vector handles; extend horizontal or extrapolated; clipping")
def float_curve(mapping: dict | None = None, factor=1.0, value=1.0):
    """Float Curve: ``(1 - factor) * value + factor * curve(value)``, floats ``(…)``."""
    table = curve_table(mapping or {"curves": [[[0.0, 0.0, "AUTO"], [1.0, 1.0, "AUTO"]]]})
    # Blender skips the mix when the factor is 1; the formula gives the curve's value exactly there too
    return elementwise(lambda f, v: (1.0 - f) * v + f * evaluate_curve(table, v), [factor, value], ["VALUE", "VALUE"], "VALUE")


def _check_vector_curves(n) -> str | None:
    m = n.properties.get("mapping")
    if not isinstance(m, dict) or not isinstance(m.get("curves"), (list, tuple)) or len(m["curves"]) < 3:
        return "Vector Curves without its three curves (re-export the program with this version)"
    for i in range(3):
        reason = _check_curve(SimpleNamespace(properties={"mapping": {**m, "curves": [m["curves"][i]]}}))
        if reason is not None:
            return reason.replace("Float Curve", "Vector Curves")
    return None


@node("ShaderNodeVectorCurve", outputs=("Vector",), props=("mapping",), check=_check_vector_curves, label="Vector Curves",
      grad="yes", notes="as Float Curve, one curve per component; not clipped (as Blender)")
def vector_curves(mapping: dict | None = None, fac=1.0, vector=(0.0, 0.0, 0.0)):
    """Vector Curves: ``(1 - fac) * v + fac * (curve_x(v.x), curve_y(v.y), curve_z(v.z))``, vectors ``(…, 3)``;
    the curves are not clipped (Blender's ``BKE_curvemapping_evaluate3F``)."""
    line = [[-1.0, -1.0, "AUTO"], [1.0, 1.0, "AUTO"]]
    mapping = mapping or {"curves": [line, line, line], "clip": (-1.0, -1.0, 1.0, 1.0)}
    # BKE_curvemapping_evaluate3F reads the curves without the mapping's clipping (measured in Blender 5.0.1)
    tables = [replace(curve_table(mapping, i), clip=None) for i in range(3)]

    def kernel(f, v):
        curved = torch.stack([evaluate_curve(t, v[..., i]) for i, t in enumerate(tables)], -1)
        return (1.0 - f).unsqueeze(-1) * v + f.unsqueeze(-1) * curved

    return elementwise(kernel, [fac, vector], ["VALUE", "VECTOR"], "VECTOR")
