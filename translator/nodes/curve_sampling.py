"""Sampling curves: Sample Curve (Factor and Length modes, one curve by index or all curves one after another) and
Curve to Points (Count, Length, Evaluated; Tangent, Normal and Rotation outputs).

As Blender 5.0's ``node_geo_curve_sample.cc``: a sample length (``factor * the curve's length`` or the length
itself, clamped to the curve) is looked up on the curve's evaluated polyline (a cyclic curve's closing
segment included) and the evaluated positions, tangents, normals and the Value field (a point field of the
sampled curves, interpolated to the evaluated points) are mixed linearly at it; tangents and normals are
normalized after mixing. With All Curves the lengths of the curves are laid end to end and the sample picks
the curve first. A curve index out of range gives zeros (with one curve the index is not read). The outputs are fields of the context the node is
read in (Factor, Length and Curve Index are evaluated there), ``(b, N, ...)``; differentiable in the
curves' positions and in Factor / Length. Checked against Blender in
``tests/translator/nodes/test_curve_sampling.py``.
"""

from __future__ import annotations

import itertools
from typing import Any

import torch

from .. import runtime as rt
from ..geometry import Attribute, GeometrySet, MeshBatch
from ..runtime.rotations import matrix_to_quaternion_checked
from . import node
from .attributes import modify_geometry_sets
from .curve_eval import (
    evaluated_normals,
    evaluated_positions,
    evaluated_tangents,
    evaluation,
    interpolate_to_evaluated,
    normalize,
)
from .fields import curves_context, evaluate

__all__ = ["curve_to_points", "sample_curve"]

_ANONYMOUS = itertools.count()

_TYPES = {"FLOAT": "VALUE", "FLOAT_VECTOR": "VECTOR", "INT": "INT", "BOOLEAN": "BOOLEAN"}


def _quantize(x: torch.Tensor, vtype: str) -> torch.Tensor:
    """Blender's ``mix2`` result for integers (``round_fl_to_int``: half up) and booleans (at least 0.5), as floats."""
    if vtype == "INT":
        return torch.floor(x + 0.5)
    if vtype == "BOOLEAN":
        return (x >= 0.5).to(x.dtype)
    return x


def _segment_lookup(acc: torch.Tensor, length: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``sample_at_length`` for accumulated lengths ``acc (b, m)`` and sample lengths ``(b, N)`` (clamped already):
    the segment index and the factor in it ``(b, N)`` (the last segment at factor 1 from the total on)."""
    m = int(acc.shape[1])
    idx = torch.searchsorted(acc.detach().contiguous(), length.detach().contiguous(), right=True).clamp(max=m - 1)
    end = torch.gather(acc, 1, idx)
    start = torch.where(idx > 0, torch.gather(acc, 1, (idx - 1).clamp(min=0)), torch.zeros_like(end))
    seg = end - start
    ok = seg != 0
    fac = torch.where(ok, (length - start) / torch.where(ok, seg, torch.ones_like(seg)), torch.zeros_like(length))
    at_end = length >= acc[:, -1:]
    return torch.where(at_end, torch.full_like(idx, m - 1), idx), torch.where(at_end, torch.ones_like(fac), fac)


class _Sampler:
    """Everything Sample Curve reads from the curves, per curve: evaluated positions, tangents, normals, values
    and accumulated lengths."""

    def __init__(self, curves, value: Any, vtype: str):
        ev = evaluation(curves)
        self.curves, self.ev = curves, ev
        self.pos = evaluated_positions(curves, ev)
        self.tan = evaluated_tangents(curves, self.pos, ev)
        self.nrm = evaluated_normals(curves, self.tan, ev)
        v = evaluate(value, curves_context(curves, "POINT"), vtype)
        if not v.dtype.is_floating_point:
            v = v.to(self.pos.dtype)
        self.val = _quantize(interpolate_to_evaluated(curves, v, ev), vtype)
        self.acc, self.total = [], []
        for c, cyc in enumerate(curves.cyclic):
            p = self.pos[:, ev.offsets[c]:ev.offsets[c + 1]]
            q = torch.cat([p[:, 1:], p[:, :1]], 1) if cyc else p[:, 1:]
            seg = torch.linalg.vector_norm(q - p[:, :q.shape[1]], dim=-1)
            acc = torch.cumsum(seg, 1)
            self.acc.append(acc)
            self.total.append(acc[:, -1] if acc.shape[1] else torch.zeros(p.shape[0], dtype=p.dtype, device=p.device))

    def curve(self, c: int, length: torch.Tensor, factor_mode: bool) -> tuple[torch.Tensor, ...]:
        """Value, position, tangent and normal ``(b, N, ...)`` at ``length`` (or factor) on curve ``c``."""
        e0, e1 = self.ev.offsets[c], self.ev.offsets[c + 1]
        arrays = (self.val[:, e0:e1], self.pos[:, e0:e1], self.tan[:, e0:e1], self.nrm[:, e0:e1])
        acc = self.acc[c]
        b = max(int(length.shape[0]), int(acc.shape[0]) if acc.numel() else 1, *(int(a.shape[0]) for a in arrays))
        n = int(length.shape[1])
        if e1 - e0 == 1 or acc.shape[1] == 0:
            return tuple(a[:, :1].expand(b, n, *a.shape[2:]) for a in arrays)
        total = self.total[c].reshape(-1, 1)
        ln = length * total if factor_mode else length
        ln = torch.minimum(ln.clamp(min=0.0), total).expand(b, n)
        idx, fac = _segment_lookup(acc.expand(b, -1), ln)
        m = e1 - e0
        nxt = torch.where(idx == m - 1, torch.zeros_like(idx), idx + 1)  # the closing segment of a cyclic curve
        out = []
        for a in arrays:
            a = a.expand(b, *a.shape[1:])
            shape = (b, n, *a.shape[2:])
            gi = idx.reshape(b, n, *([1] * (a.dim() - 2))).expand(shape)
            gn = nxt.reshape(b, n, *([1] * (a.dim() - 2))).expand(shape)
            f = fac.reshape(b, n, *([1] * (a.dim() - 2)))
            out.append(torch.gather(a, 1, gi) * (1.0 - f) + torch.gather(a, 1, gn) * f)
        out[2], _ = normalize(out[2])
        out[3], _ = normalize(out[3])
        return tuple(out)


def _read(geometry, value: Any, vtype: str, mode: str, all_curves: bool, amount: Any, curve_index: Any, which: int):
    def read(fctx: rt.FieldContext) -> torch.Tensor:
        curves = geometry.curves if geometry is not None else None
        c = rt.current()
        comps = (3,) if which or vtype == "VECTOR" else ()
        out_dtype = c.dtype if which or vtype in ("VALUE", "VECTOR") else (torch.long if vtype == "INT" else torch.bool)
        if curves is None or curves.num_curves == 0:
            return torch.zeros((1, fctx.size, *comps), dtype=out_dtype, device=c.device)
        s = _Sampler(curves, value, vtype)
        amt = evaluate(amount, fctx, "VALUE")
        factor_mode = mode == "FACTOR"
        if curves.num_curves == 1:  # Blender samples the one curve whatever the index
            index, length = torch.zeros_like(amt, dtype=torch.long), amt
        elif all_curves:
            totals = torch.stack(s.total, 1)  # (b, S)
            whole = totals.sum(1, keepdim=True)
            ln = amt * whole if factor_mode else amt
            ln = torch.minimum(ln.clamp(min=0.0), whole)
            b = max(int(ln.shape[0]), int(totals.shape[0]))
            idx, fac = _segment_lookup(torch.cumsum(totals, 1).expand(b, -1), ln.expand(b, -1))
            length = fac * torch.gather(totals.expand(b, -1), 1, idx)
            index, factor_mode = idx, False
        else:
            index = evaluate(curve_index, fctx, "INT")
            length = amt
        result = None
        for ci in range(curves.num_curves):
            vals = s.curve(ci, length, factor_mode)[which]
            sel = (index == ci).reshape(*index.shape, *([1] * (vals.dim() - 2)))
            result = torch.where(sel, vals, torch.zeros_like(vals) if result is None else result)
        if which == 0 and vtype in ("INT", "BOOLEAN"):
            return _quantize(result, vtype).to(out_dtype)
        return result

    return read


def _check(n) -> str | None:
    for prop, allowed in (("mode", ("FACTOR", "LENGTH")), ("data_type", tuple(_TYPES))):
        if n.properties.get(prop) not in allowed:
            return f"Sample Curve {prop.replace('_', ' ')} {n.properties.get(prop)!r} is not supported"
    return None


@node("GeometryNodeSampleCurve", outputs=("Value", "Position", "Tangent", "Normal"), props=("mode", "use_all_curves", "data_type"),
      pure=False, check=_check, label="Sample Curve",
      modes={"mode": ("FACTOR", "LENGTH"), "use_all_curves": (False, True), "data_type": tuple(_TYPES)}, grad="yes",
      notes="POLY and BEZIER curves of the geometry itself; Value of type FLOAT, FLOAT_VECTOR, INT or BOOLEAN")
def sample_curve(mode: str = "FACTOR", use_all_curves: bool = False, data_type: str = "FLOAT", curves=None, value=0.0,
                 factor=0.0, length=0.0, curve_index=0):
    """Sample Curve: fields of the value, position, tangent and normal at ``factor`` (or ``length``) along curve
    ``curve_index`` (or along all curves); see the module docstring."""
    vtype = _TYPES[data_type]
    amount = factor if mode == "FACTOR" else length
    args = (curves, value, vtype, mode, bool(use_all_curves), amount, curve_index)
    return tuple(rt.Field(_read(*args, which), vtype if which == 0 else "VECTOR", label=f"sample curve {name}")
                 for which, name in enumerate(("value", "position", "tangent", "normal")))


# ---------------------------------------------------------------------------
# Curve to Points


def _curve_to_points(curves, mode: str, count: Any, length: Any, names: tuple[str, str]):
    """The point cloud of ``curves`` resampled (Count, Length without the last-segment rule, Evaluated) with
    the sampled tangents and normals stored as ``names`` (anonymous POINT attributes)."""
    from .curves import _resample

    ev = evaluation(curves)
    pos = evaluated_positions(curves, ev)
    tan = evaluated_tangents(curves, pos, ev)
    nrm = evaluated_normals(curves, tan, ev)
    res_mode = {"COUNT": "Count", "LENGTH": "Length", "EVALUATED": "Evaluated"}[mode]
    out = _resample(curves, True, res_mode, count, length, False, evaluated={names[0]: tan, names[1]: nrm})
    attrs = {}
    for k, a in out.attributes.items():
        if a.domain == "POINT":
            attrs[k] = a
    attrs[names[0]] = Attribute("POINT", normalize(attrs[names[0]].data)[0], "FLOAT_VECTOR")
    attrs[names[1]] = Attribute("POINT", normalize(attrs[names[1]].data)[0], "FLOAT_VECTOR")
    sizes = out.curve_offsets[1:] - out.curve_offsets[:-1]
    curve_of = torch.repeat_interleave(torch.arange(out.num_curves, device=sizes.device), sizes)
    for k, a in out.attributes.items():  # generic curve attributes move to the points
        if a.domain == "CURVE" and not k.startswith("."):
            attrs[k] = Attribute("POINT", a.data[:, curve_of], a.type)
    dev = out.positions.device
    return MeshBatch(verts=out.positions, corner_verts=torch.zeros(0, dtype=torch.long, device=dev),
                     face_offsets=torch.zeros(1, dtype=torch.long, device=dev),
                     edges=torch.zeros((0, 2), dtype=torch.long, device=dev), attributes=attrs)


def _rotation(tangent_name: str, normal_name: str) -> rt.Field:
    """``to_quaternion(from_orthonormal_axes(normal, tangent))`` (a quaternion ``(…, 4)``, as the runtime carries
    rotations): the rotation whose X axis is the normal and Z axis the tangent."""

    def read(fctx: rt.FieldContext) -> torch.Tensor:
        t = rt.attribute_field(tangent_name, "VECTOR").fn(fctx)
        n = rt.attribute_field(normal_name, "VECTOR").fn(fctx)
        t, n = torch.broadcast_tensors(t, n)
        m = torch.stack([n, torch.cross(t, n, dim=-1), t], -1)  # columns X, Y, Z
        return matrix_to_quaternion_checked(m)

    return rt.Field(read, "ROTATION", label="curve to points rotation")


@node("GeometryNodeCurveToPoints", outputs=("Points", "Tangent", "Normal", "Rotation"), props=("mode",), pure=False,
      label="Curve to Points", modes={"mode": ("COUNT", "LENGTH", "EVALUATED")}, grad="yes",
      notes="a point cloud (positions and point attributes; meshes in the input are removed)")
def curve_to_points(mode: str = "COUNT", curve=None, count=10, length=0.1):
    """Curve to Points: every curve resampled as Resample Curve does (Count, Length, Evaluated) into a point cloud
    that keeps the point attributes (and the curves' generic attributes); Tangent and Normal are the curves'
    sampled directions (normalized), Rotation the rotation with X along the normal and Z along the tangent.
    Like Blender it removes the other geometry of each geometry set it converts (instances stay)."""
    names = (f".c2p_tangent_{next(_ANONYMOUS)}", f".c2p_normal_{next(_ANONYMOUS)}")
    tangent, normal = rt.attribute_field(names[0], "VECTOR"), rt.attribute_field(names[1], "VECTOR")
    if curve is None:
        return GeometrySet(), tangent, normal, _rotation(*names)

    def on_set(g: GeometrySet) -> GeometrySet:
        if g.curves is None or g.curves.num_points == 0:
            return g
        return GeometrySet(instances=g.instances, points=_curve_to_points(g.curves, mode, count, length, names))

    return modify_geometry_sets(curve, on_set), tangent, normal, _rotation(*names)
