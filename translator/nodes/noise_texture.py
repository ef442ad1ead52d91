"""Noise Texture: Blender's Perlin noise and its fractals (``BLI_noise``), in torch.

Perlin noise as Blender computes it: the lattice cell from ``floor``, corner gradients chosen by
the lookup3 hash of the integer corner (:func:`translator.nodes.noise.jenkins_hash`), blended with
the quintic ``fade`` in Blender's interpolation order, scaled per dimension (0.25, 0.6616, 0.982,
0.8344 as float32) to ``perlin_signed``; coordinates are wrapped every 100000 (``fmod``, plus 0.5
from 1e6 on) as Blender does against float precision. Distortion and the Color output add
Blender's random offsets (the hash of float bits, in float32). The fractals (FBM with normalize on
or off, Multifractal, Hybrid Multifractal, Ridged Multifractal, Hetero Terrain) run every octave up
to the largest Detail in the batch, masked per element, so Detail may be a field.

Octave coordinates grow as Lacunarity^Detail (up to ~1e9 at Detail 15, past the wrap): with
identical float32 inputs the values are still Blender's (tested), but there a 1-ulp difference in an
input position (a mesh primitive's, say) lands on other lattice cells; Ridged and Hybrid
Multifractal with a large Offset sum those octaves undamped (0.44 of 18 at Detail 15, Lacunarity 2.8).

Differentiable in the Vector, W, Scale, Roughness, Lacunarity, Offset, Gain, Distortion and the
fractional part of Detail (the integer part and the lattice cells are piecewise constant).

Shapes: positions ``(…, d)`` with ``d`` the dimensions (1 to 4), float inputs ``(…)`` broadcast to
them; Fac ``(…)``, Color ``(…, 4)`` (alpha 1).
"""

from __future__ import annotations

import struct
from typing import Any

import torch

from . import node
from .fields import position as position_field
from .math import elementwise
from .noise import hash_to_float, jenkins_hash

__all__ = ["FLOAT32_FORWARD", "NOISE_DIMENSIONS", "NOISE_TYPES", "noise_texture", "perlin_signed", "random_offset"]

NOISE_DIMENSIONS = ("1D", "2D", "3D", "4D")
NOISE_TYPES = ("FBM", "MULTIFRACTAL", "HYBRID_MULTIFRACTAL", "RIDGED_MULTIFRACTAL", "HETERO_TERRAIN")

_MASK = 0xFFFFFFFF
_SCALES = {1: 0.25, 2: 0.6616, 3: 0.9820, 4: 0.8344}  # perlin_signed's factors (float32 constants)
_MAX_OCTAVE = 15

#: Compute the values in float32 like Blender (gradients in the runtime dtype); off for float64 gradchecks.
FLOAT32_FORWARD = True


def _f32(x: float) -> float:
    """``x`` rounded to float32 (Blender's ``f`` constants)."""
    return struct.unpack("f", struct.pack("f", x))[0]


def _bits(x: float) -> int:
    """The bits of float32 ``x`` as an unsigned 32-bit int (``float_as_uint``)."""
    return struct.unpack("I", struct.pack("f", x))[0]


def random_offset(seed: float, dims: int) -> list[float]:
    """Blender's ``random_float{dims}_offset(seed)``: ``dims`` floats in [100, 200], as float32."""
    keys = [[_bits(seed)]] if dims == 1 else [[_bits(seed), _bits(float(k))] for k in range(dims)]
    out = []
    for key in keys:
        h = hash_to_float(*(torch.tensor(k, dtype=torch.long) for k in key))
        out.append(float(torch.tensor(100.0, dtype=torch.float32) + h * torch.tensor(100.0, dtype=torch.float32)))
    return out


def _fade(t: torch.Tensor) -> torch.Tensor:
    """``t³ (t (6 t - 15) + 10)``; in float32 as Blender rounds it (``t³`` in float, the rest in double)."""
    if t.dtype != torch.float32:
        return t * t * t * (t * (t * 6.0 - 15.0) + 10.0)
    d = t.double()
    return ((t * t * t).double() * (d * (d * 6.0 - 15.0) + 10.0)).float()


def _negate_if(v: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
    return torch.where(cond != 0, -v, v)


def _grad(h: torch.Tensor, f: list[torch.Tensor]) -> torch.Tensor:
    """Blender's ``noise_grad`` of hash ``h`` (int64) and the offsets ``f`` from the corner (1 to 4 of ``(…)``)."""
    if len(f) == 1:
        h = h & 15
        g = (1 + (h & 7)).to(f[0].dtype)
        return _negate_if(g, h & 8) * f[0]
    if len(f) == 2:
        h = h & 7
        x, y = f
        u = torch.where(h < 4, x, y)
        v = 2.0 * torch.where(h < 4, y, x)
        return _negate_if(u, h & 1) + _negate_if(v, h & 2)
    if len(f) == 3:
        h = h & 15
        x, y, z = f
        u = torch.where(h < 8, x, y)
        vt = torch.where((h == 12) | (h == 14), x, z)
        v = torch.where(h < 4, y, vt)
        return _negate_if(u, h & 1) + _negate_if(v, h & 2)
    h = h & 31
    x, y, z, w = f
    u = torch.where(h < 24, x, y)
    v = torch.where(h < 16, y, z)
    s = torch.where(h < 8, z, w)
    return _negate_if(u, h & 1) + _negate_if(v, h & 2) + _negate_if(s, h & 4)


def _perlin_noise(p: torch.Tensor) -> torch.Tensor:
    """Unscaled Perlin noise of positions ``(…, d)`` -> ``(…)``. The ``2^d`` lattice corners are one leading
    dimension (corner ``k`` is the cell plus bit ``j`` of ``k`` along axis ``j``): one hash and one gradient
    for all of them, then the blends pair neighbours along x first, then y, z, w, the order Blender's
    interpolation takes, element by element the same float operations as corner by corner."""
    d = p.shape[-1]
    fl = torch.floor(p)
    cell = fl.detach().long()
    frac = p - fl
    lead = (2**d,) + (1,) * (p.dim() - 1)
    bits = [torch.tensor([(k >> j) & 1 for k in range(2**d)], device=p.device).view(lead) for j in range(d)]
    keys = [(cell[..., j] + bits[j]) & _MASK for j in range(d)]  # (2^d, …) each
    h = jenkins_hash(*keys) if d < 4 else _hash4(*keys)
    corners = _grad(h, [frac[..., j] - bits[j].to(frac.dtype) for j in range(d)])  # (2^d, …)
    for j in range(d):  # blend along x first, then y, z, w: (1 - t) * a + t * b
        t = _fade(frac[..., j])
        if d == 2 and j == 1 and t.dtype == torch.float32:  # Blender's bilinear blend: (1.0 - y) * a in double
            a, b = corners[0], corners[1]
            return ((1.0 - t.double()) * a.double() + (t * b).double()).float()
        corners = (1.0 - t) * corners[0::2] + t * corners[1::2]
    return corners[0]


def _rot(x: torch.Tensor, k: int) -> torch.Tensor:
    return ((x << k) | (x >> (32 - k))) & _MASK


def _hash4(kx: torch.Tensor, ky: torch.Tensor, kz: torch.Tensor, kw: torch.Tensor) -> torch.Tensor:
    """lookup3 of four keys (one ``mix`` round, then ``final``): unsigned 32-bit values in int64."""
    from .noise import _final

    init = torch.full_like(kx, (0xDEADBEEF + (4 << 2) + 13) & _MASK)
    a, b, c = (init + kx) & _MASK, (init + ky) & _MASK, (init + kz) & _MASK
    for s1, s2, s3 in ((4, 6, 8), (16, 19, 4)):
        a = ((a - c) & _MASK) ^ _rot(c, s1)
        c = (c + b) & _MASK
        b = ((b - a) & _MASK) ^ _rot(a, s2)
        a = (a + c) & _MASK
        c = ((c - b) & _MASK) ^ _rot(b, s3)
        b = (b + a) & _MASK
    return _final((a + kw) & _MASK, b, c)


def perlin_signed(p: torch.Tensor) -> torch.Tensor:
    """Blender's ``perlin_signed`` of positions ``(…, d)`` -> ``(…)``, about [-1, 1]; coordinates wrap
    every 100000 (``fmod``) with 0.5 added from 1e6 on, as Blender guards float precision."""
    correction = 0.5 * (p.abs() >= 1000000.0).to(p.dtype)
    q = torch.fmod(p, 100000.0) + correction
    r = _perlin_noise(q) * _f32(_SCALES[int(p.shape[-1])])  # a constant of the program (the trace records it)
    return torch.where(torch.isinf(r), torch.zeros_like(r), r)


def _mix(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return (1.0 - t) * a + t * b


def _fractal(p, detail, rough, lac, offset, gain, noise_type: str, normalize: bool) -> torch.Tensor:
    """One of Blender's Perlin fractals of positions ``p (…, d)``; the other inputs ``(…)``."""
    n = torch.floor(detail).detach()
    rmd = detail - torch.floor(detail)
    top = int(n.max()) if n.numel() else 0
    one = torch.ones_like(detail)

    def ps(q):
        return perlin_signed(q)

    def step(active, new, old):
        return torch.where(active, new, old)

    def advance(active, q):
        return torch.where(active.unsqueeze(-1), q * lac.unsqueeze(-1), q)

    if noise_type == "FBM":
        fscale, amp, maxamp, total = one, one, torch.zeros_like(detail), torch.zeros_like(detail)
        for i in range(top + 1):
            act = n >= i
            t = ps(fscale.unsqueeze(-1) * p)
            total, maxamp = step(act, total + t * amp, total), step(act, maxamp + amp, maxamp)
            amp, fscale = step(act, amp * rough, amp), step(act, fscale * lac, fscale)
        t = ps(fscale.unsqueeze(-1) * p)
        total2 = total + t * amp
        if normalize:
            plain = 0.5 * total / maxamp + 0.5
            frac = _mix(plain, 0.5 * total2 / (maxamp + amp) + 0.5, rmd)
        else:
            plain, frac = total, _mix(total, total2, rmd)
        return torch.where(rmd != 0, frac, plain)
    if noise_type == "MULTIFRACTAL":
        value, pwr = one, one
        for i in range(top + 1):
            act = n >= i
            value = step(act, value * (pwr * ps(p) + 1.0), value)
            pwr, p = step(act, pwr * rough, pwr), advance(act, p)
        return torch.where(rmd != 0, value * (rmd * pwr * ps(p) + 1.0), value)
    if noise_type == "HETERO_TERRAIN":
        pwr, value = rough, offset + ps(p)
        p = p * lac.unsqueeze(-1)
        for i in range(1, top + 1):
            act = n >= i
            value = step(act, value + (ps(p) + offset) * pwr * value, value)
            pwr, p = step(act, pwr * rough, pwr), advance(act, p)
        return torch.where(rmd != 0, value + rmd * ((ps(p) + offset) * pwr * value), value)
    if noise_type == "HYBRID_MULTIFRACTAL":
        pwr, value, weight = one, torch.zeros_like(detail), one
        for i in range(top + 1):
            act = (n >= i) & (weight > 0.001)
            weight = step(act, torch.clamp(weight, max=1.0), weight)
            signal = (ps(p) + offset) * pwr
            value = step(act, value + weight * signal, value)
            pwr, weight = step(act, pwr * rough, pwr), step(act, weight * (gain * signal), weight)
            p = advance(act, p)
        act = (rmd != 0) & (weight > 0.001)
        w = torch.clamp(weight, max=1.0)
        return torch.where(act, value + rmd * w * ((ps(p) + offset) * pwr), value)
    # RIDGED_MULTIFRACTAL (Blender ignores the fractional part of Detail here)
    pwr = rough
    signal = offset - ps(p).abs()
    signal = signal * signal
    value = signal
    for i in range(1, top + 1):
        act = n >= i
        p = advance(act, p)
        weight = torch.clamp(signal * gain, 0.0, 1.0)
        s = offset - ps(p).abs()
        s = s * s * weight
        value, signal = step(act, value + s * pwr, value), step(act, s, signal)
        pwr = step(act, pwr * rough, pwr)
    return value


def _position(dims: int, vector: torch.Tensor, w: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """The scaled noise position ``(…, dims)`` from Vector ``(…, 3)``, W and Scale ``(…)``."""
    s = scale.unsqueeze(-1)
    if dims == 1:
        return (w * scale).unsqueeze(-1)
    if dims == 4:
        return torch.cat([vector * s, (w * scale).unsqueeze(-1)], -1)
    return vector[..., :dims] * s


def _offset(seed: float, dims: int, like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(random_offset(seed, dims), dtype=like.dtype, device=like.device)


def _noise(dims: int, noise_type: str, normalize: bool, color: bool, *inputs: torch.Tensor) -> torch.Tensor:
    """Fac ``(…)`` or Color ``(…, 4)`` of the Noise Texture. With :data:`FLOAT32_FORWARD` the values
    are computed in float32 as Blender does (they depend on its rounding of the large offset
    coordinates) and, in a wider dtype, the gradients come from the same computation in that dtype."""
    dtype = inputs[0].dtype
    if not FLOAT32_FORWARD or dtype == torch.float32:
        return _noise_in(dims, noise_type, normalize, color, *inputs)
    value = _noise_in(dims, noise_type, normalize, color, *(x.detach().float() for x in inputs)).to(dtype)
    if not any(x.requires_grad for x in inputs):
        return value
    wide = _noise_in(dims, noise_type, normalize, color, *inputs)
    return value + (wide - wide.detach())


def _noise_in(dims: int, noise_type: str, normalize: bool, color: bool, vector, w, scale, detail, rough, lac, offset,
              gain, distortion) -> torch.Tensor:
    """Fac ``(…)`` or Color ``(…, 4)`` in the inputs' dtype (Blender's ``perlin_(float3_)fractal_distorted``)."""
    w, scale, detail, rough, lac, offset, gain, distortion = torch.broadcast_tensors(
        w, scale, detail, rough, lac, offset, gain, distortion, vector[..., 0])[:8]
    vector = vector.expand(*w.shape, 3)
    p = _position(dims, vector, w, scale)
    detail, rough = torch.clamp(detail, 0.0, float(_MAX_OCTAVE)), torch.clamp(rough, min=0.0)
    dist = torch.stack([perlin_signed(p + _offset(float(k), dims, p)) * distortion for k in range(dims)], -1)
    p = p + dist
    args = (detail, rough, lac, offset, gain, noise_type, normalize)
    fac = _fractal(p, *args)
    if not color:
        return fac
    seeds = {1: (1.0, 2.0), 2: (2.0, 3.0), 3: (3.0, 4.0), 4: (4.0, 5.0)}[dims]
    g, b = (_fractal(p + _offset(s, dims, p), *args) for s in seeds)
    return torch.stack([fac, g, b, torch.ones_like(fac)], -1)


@node("ShaderNodeTexNoise", outputs=("Fac", "Color"), props=("noise_dimensions", "noise_type", "normalize"),
      implicit=("vector",), outputs_arg=True, label="Noise Texture",
      modes={"noise_dimensions": NOISE_DIMENSIONS, "noise_type": NOISE_TYPES, "normalize": (True, False)}, grad="yes",
      notes="Perlin as Blender computes it (hash, fade, wraps, float32 values); Vector defaults to Position; "
            "high octaves at large Lacunarity amplify 1-ulp differences of the input positions")
def noise_texture(noise_dimensions: str = "3D", noise_type: str = "FBM", normalize: bool = True, vector=None, w=0.0,
                  scale=5.0, detail=2.0, roughness=0.5, lacunarity=2.0, offset=0.0, gain=1.0, distortion=0.0,
                  outputs_used=None) -> tuple[Any, Any]:
    """Noise Texture: ``(Fac, Color)``; Fac ``(…)``, Color ``(…, 4)``, single values or fields. Vector
    None is the Position field (unused in 1D); W is read in 1D and 4D. Only the outputs in
    ``outputs_used`` are computed (the other is 0)."""
    if noise_dimensions not in NOISE_DIMENSIONS or noise_type not in NOISE_TYPES:
        raise ValueError(f"Noise Texture {noise_dimensions} {noise_type} is not supported")
    dims = int(noise_dimensions[0])
    want = outputs_used if outputs_used is not None else ("Fac", "Color")
    if vector is None:
        vector = position_field() if dims > 1 else (0.0, 0.0, 0.0)
    args = [vector, w, scale, detail, roughness, lacunarity, offset, gain, distortion]
    types = ["VECTOR"] + ["VALUE"] * 8
    fac, col = 0.0, (0.0, 0.0, 0.0, 1.0)
    if "Fac" in want:
        fac = elementwise(lambda *a: _noise(dims, noise_type, bool(normalize), False, *a), args, types, "VALUE")
    if "Color" in want:
        col = elementwise(lambda *a: _noise(dims, noise_type, bool(normalize), True, *a), args, types, "RGBA")
    return fac, col
