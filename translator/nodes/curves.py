"""Curve nodes on :mod:`.curve_eval`'s evaluation: Curve to Mesh (profile, scale, fill caps), Set Curve
Radius, Set Curve Tilt, Set Spline Cyclic, Set Spline Resolution, Spline Parameter, Resample Curve (count,
length, evaluated) and Fillet Curve (Bézier, Poly).

Curves are :class:`translator.geometry.CurvesBatch`: positions ``(b, P, 3)`` per batch element,
everything that decides topology (types, cyclic, resolution, point counts) shared by the batch.
Checked against Blender in ``tests/translator/nodes/test_curves.py``.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from typing import Any

import torch

from .. import runtime as rt
from ..geometry import Attribute, CurvesBatch, GeometrySet, MeshBatch, offsets_from_sizes
from . import node
from .attributes import modify_geometry_sets
from .curve_eval import (
    curve_lengths,
    evaluated_normals,
    evaluated_positions,
    evaluated_tangents,
    evaluation,
    interpolate_to_evaluated,
    map_curves,
    normalize,
    rotate_about,
    scaled_shape,
    unit_shape,
)
from .fields import curves_context, evaluate, selection_mask

__all__ = [
    "curve_lengths",
    "curve_to_mesh",
    "curves_to_wire_mesh",
    "evaluated_normals",
    "evaluated_positions",
    "evaluated_tangents",
    "evaluation",
    "fillet_curve",
    "interpolate_to_evaluated",
    "map_curves",
    "resample_curve",
    "set_curve_radius",
    "set_curve_tilt",
    "spline_parameter",
]



def _set_point_attribute(curves: CurvesBatch, name: str, selection: Any, value: Any, default: float) -> CurvesBatch:
    fctx = curves_context(curves, "POINT")
    new = evaluate(value, fctx, "VALUE")
    if selection is not True:
        old = curves.attributes.get(name)
        prev = old.data if old is not None else torch.full((1, curves.num_points), default, dtype=new.dtype, device=new.device)
        new = torch.where(evaluate(selection, fctx, "BOOLEAN"), new, prev)
    return replace(curves, attributes={**curves.attributes, name: Attribute("POINT", new, "FLOAT")})


@node("GeometryNodeSetCurveRadius", outputs=("Curve",), pure=False, label="Set Curve Radius", grad="yes")
def set_curve_radius(curve=None, selection=True, radius=0.005):
    """Set Curve Radius: the POINT attribute ``radius`` ``(b, P)`` becomes ``radius`` where selected."""
    if curve is None:
        return GeometrySet()
    return map_curves(curve, lambda c: _set_point_attribute(c, "radius", selection, radius, 1.0))


@node("GeometryNodeSetCurveTilt", outputs=("Curve",), pure=False, label="Set Curve Tilt", grad="yes")
def set_curve_tilt(curve=None, selection=True, tilt=0.0):
    """Set Curve Tilt: the POINT attribute ``tilt`` ``(b, P)`` (radians; it turns the normals) where selected."""
    if curve is None:
        return GeometrySet()
    return map_curves(curve, lambda c: _set_point_attribute(c, "tilt", selection, tilt, 0.0))


def _set_curve_values(curves: CurvesBatch, selection: Any, value: Any, socket: str, attr: str, what: str) -> CurvesBatch:
    fctx = curves_context(curves, "CURVE")
    mask = selection_mask(selection, fctx, f"a {what} selection")
    vals = rt.static_mask(evaluate(value, fctx, socket) != 0, what) if socket == "BOOLEAN" else None
    if socket == "INT":
        t = evaluate(value, fctx, "INT")
        if t.shape[0] > 1 and not bool((t == t[:1]).all()):
            raise rt.TopologyVaries(t, what)
        vals = t[0]
    old = getattr(curves, attr)
    new = [type(o)(v) if m else o for o, v, m in zip(old, vals.tolist(), mask.tolist())]
    return replace(curves, **{attr: new})


@node("GeometryNodeSetSplineCyclic", outputs=("Geometry",), pure=False, label="Set Spline Cyclic",
      notes="the cyclic flags are shared by the batch")
def set_spline_cyclic(geometry=None, selection=True, cyclic=False):
    """Set Spline Cyclic: the selected curves become closed (or open)."""
    if geometry is None:
        return GeometrySet()
    return map_curves(geometry, lambda c: _set_curve_values(c, selection, cyclic, "BOOLEAN", "cyclic", "Set Spline Cyclic"))


@node("GeometryNodeSetSplineResolution", outputs=("Geometry",), pure=False, label="Set Spline Resolution",
      notes="the resolutions are shared by the batch")
def set_spline_resolution(geometry=None, selection=True, resolution=12):
    """Set Spline Resolution: the selected curves' Bezier resolution (evaluated points per segment)."""
    if geometry is None:
        return GeometrySet()
    return map_curves(geometry, lambda c: _set_curve_values(c, selection, resolution, "INT", "resolution",
                                                            "Set Spline Resolution"))


# ---------------------------------------------------------------------------
# Spline Parameter, Spline Length, Curve Length


def _parameter_on(fctx: rt.FieldContext, which: str) -> torch.Tensor:
    curves = fctx.curves
    c = rt.current()
    if curves is None:
        return torch.zeros((1, fctx.size), dtype=torch.long if which == "index" else c.dtype, device=c.device)
    ev = evaluation(curves)
    pos = evaluated_positions(curves, ev)
    totals, acc = curve_lengths(pos, ev, curves.cyclic)
    off = curves.curve_offsets.tolist()
    if fctx.domain == "CURVE":
        if which == "index":
            return torch.zeros((1, curves.num_curves), dtype=torch.long, device=c.device)
        prefix = torch.cat([totals.new_zeros((totals.shape[0], 1)), torch.cumsum(totals, 1)[:, :-1]], 1)
        if which == "length":
            return prefix
        whole = totals.sum(1, keepdim=True)
        ok = whole > 0
        n = curves.num_curves
        even = torch.arange(n, dtype=totals.dtype, device=totals.device).reshape(1, -1) / max(n - 1, 1)
        return torch.where(ok, prefix / torch.where(ok, whole, torch.ones_like(whole)), even)
    if which == "index":
        local = [torch.arange(off[i + 1] - off[i], device=c.device) for i in range(curves.num_curves)]
        return torch.cat(local).unsqueeze(0) if local else torch.zeros((1, 0), dtype=torch.long, device=c.device)
    parts = []
    for i in range(curves.num_curves):
        n = off[i + 1] - off[i]
        at = ev.control_at[off[i]:off[i + 1]] - ev.offsets[i]
        length = acc[i][:, at]
        if which == "length":
            parts.append(length)
            continue
        total = totals[:, i:i + 1]
        ok = total > 0
        even = torch.arange(n, dtype=length.dtype, device=length.device).reshape(1, -1) / max(n - 1 if not curves.cyclic[i]
                                                                                             else n, 1)
        parts.append(torch.where(ok, length / torch.where(ok, total, torch.ones_like(total)), even))
    b = max((int(p.shape[0]) for p in parts), default=1)
    return torch.cat([p.expand(b, -1) for p in parts], 1) if parts else torch.zeros((1, 0), dtype=c.dtype, device=c.device)


@node("GeometryNodeSplineParameter", outputs=("Factor", "Length", "Index"), pure=False, label="Spline Parameter",
      grad="yes", notes="curve points and curves")
def spline_parameter():
    """Spline Parameter: fields of the length along each curve at its points (Length), that length
    over the curve's (Factor) and the point's index in its curve (Index); on the CURVE domain the
    accumulated length of the curves before it."""
    return (rt.Field(lambda f: _parameter_on(f, "factor"), "VALUE", label="spline factor"),
            rt.Field(lambda f: _parameter_on(f, "length"), "VALUE", label="spline length"),
            rt.Field(lambda f: _parameter_on(f, "index"), "INT", label="spline index"))


# ---------------------------------------------------------------------------
# Curve to Mesh


@functools.lru_cache(maxsize=256)
def _sweep_topology(main: tuple[tuple[int, bool], ...], profile: tuple[tuple[int, bool], ...], fill_caps: bool):
    """Blender's ``curve_to_mesh_sweep`` layout for every (main curve, profile curve) pair: vertex,
    edge and face lists (Python ints)."""
    edges: list[tuple[int, int]] = []
    faces: list[list[int]] = []
    v0 = 0
    for m, m_cyc in main:
        m_segs = m if (m_cyc and m > 2) else m - 1  # Blender 5.0: two cyclic points make one segment
        for p, p_cyc in profile:
            p_segs = p if (p_cyc and p > 2) else p - 1
            if p == 1:
                edges += [(v0 + i, v0 + i + 1) for i in range(m - 1)]
                if m_cyc and m_segs > 1:
                    edges.append((v0 + m - 1, v0))
            else:
                for ip in range(p):
                    for r in range(m_segs):
                        nr = 0 if r == m - 1 else r + 1
                        edges.append((v0 + p * r + ip, v0 + p * nr + ip))
                for r in range(m):
                    for ip in range(p_segs):
                        nip = 0 if ip == p - 1 else ip + 1
                        edges.append((v0 + p * r + ip, v0 + p * r + nip))
                for r in range(m_segs):
                    nr = 0 if r == m - 1 else r + 1
                    for ip in range(p_segs):
                        nip = 0 if ip == p - 1 else ip + 1
                        faces.append([v0 + p * r + ip, v0 + p * r + nip, v0 + p * nr + nip, v0 + p * nr + ip])
                if fill_caps and not m_cyc and p_cyc:
                    faces.append([v0 + p_segs - 1 - i for i in range(p_segs)])
                    faces.append([v0 + p * (m - 1) + i for i in range(p_segs)])
            v0 += m * p
    return edges, faces


def curves_to_wire_mesh(curves: CurvesBatch) -> MeshBatch:
    """Curve to Mesh without a profile: the evaluated points joined by edges."""
    ev = evaluation(curves)
    pos = evaluated_positions(curves, ev)
    edges = []
    for c, cyc in enumerate(curves.cyclic):
        s, e = ev.offsets[c], ev.offsets[c + 1]
        edges += [(i, i + 1) for i in range(s, e - 1)]
        if cyc and e - s > 2:
            edges.append((e - 1, s))
    dev = pos.device
    return MeshBatch(verts=pos, corner_verts=torch.zeros(0, dtype=torch.long, device=dev),
                     face_offsets=torch.zeros(1, dtype=torch.long, device=dev),
                     edges=torch.tensor(edges, dtype=torch.long, device=dev).reshape(-1, 2))


@functools.lru_cache(maxsize=256)
def _sweep_mesh_topology(main: tuple[tuple[int, bool], ...], profile: tuple[tuple[int, bool], ...], fill_caps: bool,
                         device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`_sweep_topology` as index tensors on ``device``: ``corner_verts (C,)``, ``face_offsets (F + 1,)``,
    ``edges (E, 2)`` (shared by every sweep of this layout; never modified in place)."""
    edges, faces = _sweep_topology(main, profile, fill_caps)
    sizes = torch.tensor([len(f) for f in faces], dtype=torch.long)
    corner_verts = torch.tensor([v for f in faces for v in f], dtype=torch.long)
    face_offsets = offsets_from_sizes(sizes)
    return corner_verts.to(device), face_offsets.to(device), torch.tensor(edges, dtype=torch.long).reshape(-1, 2).to(device)


def sweep_frames(main: CurvesBatch, scale: Any, ev=None, factor: torch.Tensor | None = None) -> torch.Tensor:
    """The sweep's affine frame at every evaluated point of ``main``: ``(b, E, 3, 4)`` with the columns
    ``s N``, ``s B``, ``s T`` (scale times the evaluated normal, binormal ``T x N`` and tangent) and the
    evaluated position, so that a profile point ``(x, y, z)`` lands at ``frame @ (x, y, z, 1)``. ``factor
    (b, 1)``: a per-element factor of ``s`` (a profile that is that factor times a shape)."""
    ev = ev or evaluation(main)
    pos = evaluated_positions(main, ev)
    unit = unit_shape(main)  # a positive per-element scale of one shape: that shape's frames (batch 1)
    if unit is None:
        tan = evaluated_tangents(main, pos, ev)
        nrm = evaluated_normals(main, tan, ev)
    else:
        tan = evaluated_tangents(unit, evaluated_positions(unit, ev), ev)
        tan, nrm = torch.broadcast_tensors(tan, evaluated_normals(unit, tan, ev))  # a batched tilt: (b, E, 3) normals
    binormal = torch.cross(tan, nrm, dim=-1)
    s = interpolate_to_evaluated(main, evaluate(scale, curves_context(main, "POINT"), "VALUE"), ev)
    s = s if factor is None else s * factor
    axes = torch.stack([nrm, binormal, tan], -1) * s.reshape(*s.shape[:2], 1, 1)
    b = max(int(axes.shape[0]), int(pos.shape[0]))
    return torch.cat([axes.expand(b, -1, -1, -1), pos.expand(b, -1, -1).unsqueeze(-1)], -1)


SMALL_PROFILE = 4
"""Up to this many points a batched profile is placed by one small product per (element, main point) (a line:
2x faster than the batched product and its transpose at batch 1024), above it by one batched product."""

SCALED_PROFILES = True
"""Whether a sweep takes a profile marked as a factor times a shape as the shared shape (:func:`_sweep`; False:
the profile's own positions, the reference the tests compare with)."""


def _profile_matrix(hom: torch.Tensor) -> torch.Tensor:
    """``(b, 12, 3p)`` matrices ``Q`` with ``frame.reshape(-1, 12) @ Q[i]`` the profile's ``p`` points
    ``hom (b, p, 4)`` (homogeneous) placed by each 3x4 ``frame``, laid out ``(p, 3)``:
    ``Q[4i + k, 3v + i] = hom[v, k]``."""
    eye = torch.eye(3, dtype=hom.dtype, device=hom.device)  # an outer product: one broadcast multiply
    return (hom.transpose(1, 2)[:, None, :, :, None] * eye[None, :, None, None, :]).reshape(hom.shape[0], 12, 3 * hom.shape[1])


def _sweep(main: CurvesBatch, profile: CurvesBatch, scale: Any, fill_caps: bool) -> MeshBatch:
    """Every main curve swept by every profile curve. With a profile shared by the batch each (main,
    profile) block is one matrix product of the main curve's frames ``(b * m, 12)`` with the profile's
    placement matrix ``(12, 3p)``, which writes the block's vertices in their final (main point major,
    profile point minor) order; a batched profile takes one batched product per block (or, of few points, one
    small product per element and main point). A profile
    marked as a per-element factor times a shape (:func:`scaled_shape`: a Curve Circle of batched radius) is
    the shape, shared by the batch, with the factor moved into the frames' axes."""
    ev_m, ev_p = evaluation(main), evaluation(profile)
    scaled = scaled_shape(profile) if SCALED_PROFILES else None
    if scaled is None:
        frames = sweep_frames(main, scale, ev_m)
        prof = evaluated_positions(profile, ev_p)
    else:
        frames = sweep_frames(main, scale, ev_m, scaled[1].reshape(-1, 1))
        prof = evaluated_positions(scaled[0], ev_p)
    hom = torch.cat([prof, torch.ones_like(prof[..., :1])], -1)
    m_info = tuple((ev_m.offsets[i + 1] - ev_m.offsets[i], bool(main.cyclic[i])) for i in range(main.num_curves))
    p_info = tuple((ev_p.offsets[i + 1] - ev_p.offsets[i], bool(profile.cyclic[i])) for i in range(profile.num_curves))
    shared = hom.shape[0] == 1
    pieces = [hom[:, ev_p.offsets[pi]:ev_p.offsets[pi + 1]] for pi in range(profile.num_curves)]
    if shared:  # one placement matrix per profile curve, used by every batch element
        pieces = [_profile_matrix(h)[0] for h in pieces]
    b = max(int(frames.shape[0]), int(hom.shape[0]))
    blocks = []
    for mi in range(main.num_curves):
        ms, me = ev_m.offsets[mi], ev_m.offsets[mi + 1]
        f = frames[:, ms:me]
        for q in pieces:
            if shared:
                v = (f.reshape(-1, 12) @ q).reshape(f.shape[0], -1, 3)
            elif q.shape[1] <= SMALL_PROFILE:  # a batched profile of few points: P + x sN + y sB + z sT, an element's
                # homogeneous profile points (p, 4) times each main point's frame (4, 3), in final order
                v = torch.matmul(q.unsqueeze(1), f.transpose(2, 3)).reshape(b, -1, 3)
            else:  # all (main point, axis) rows of an element times its profile's homogeneous points in one batched
                # product (b, 3m, 4) @ (b, 4, p), then put in (main point, profile point, axis) order
                # (placement matrices per element would be 12x larger)
                v = torch.bmm(f.expand(b, -1, -1, -1).reshape(b, 3 * (me - ms), 4), q.expand(b, -1, -1).transpose(1, 2))
                v = v.reshape(b, me - ms, 3, -1).transpose(2, 3).reshape(b, -1, 3)
            blocks.append(v)
    if not blocks:
        verts = frames[:, :0, :, 3]
    elif len(blocks) == 1:
        verts = blocks[0]
    else:
        verts = torch.cat([v.expand(b, -1, -1) for v in blocks], 1)
    corner_verts, face_offsets, edges = _sweep_mesh_topology(m_info, p_info, bool(fill_caps), verts.device)
    return MeshBatch(verts=verts, corner_verts=corner_verts, face_offsets=face_offsets, edges=edges)


@node("GeometryNodeCurveToMesh", outputs=("Mesh",), pure=False, label="Curve to Mesh", grad="yes",
      notes="profile curves, Scale (a point field), Fill Caps; POLY and BEZIER curves")
def curve_to_mesh(curve=None, profile_curve=None, scale=1.0, fill_caps=False):
    """Curve to Mesh: every curve swept by every profile curve (positions ``main + s * (x N + y B + z T)``
    with the evaluated normal ``N``, binormal ``B = T x N`` and tangent ``T``), or a wire mesh of the
    evaluated points without a profile; caps close open sweeps of cyclic profiles. Meshes and
    instances in the input are dropped, as in Blender (instances keep their own curves converted)."""
    if curve is None:
        return GeometrySet()
    fill = bool(rt.static(fill_caps, "Curve to Mesh Fill Caps"))
    prof = profile_curve.curves if profile_curve is not None else None

    def on_set(g: GeometrySet) -> GeometrySet:
        c = g.curves
        if c is None or c.num_points == 0:
            return GeometrySet(instances=g.instances)
        if prof is None or prof.num_points == 0:
            mesh = curves_to_wire_mesh(c) if prof is None else None
        else:
            mesh = _sweep(c, prof, scale, fill)
        return GeometrySet(mesh=mesh, instances=g.instances)

    return modify_geometry_sets(curve, on_set)


# ---------------------------------------------------------------------------
# Resample Curve


def _resample_one(ev_pos: torch.Tensor, cyclic: bool, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Blender's ``sample_uniform`` on one evaluated polyline ``(b, m, 3)``: for ``k`` samples equally
    spaced by length (the last on the end of an open curve), the evaluated segment ``(b, k)`` each
    falls on, the segment's end index and the factor along it."""
    b, m = int(ev_pos.shape[0]), int(ev_pos.shape[1])
    dev, dt = ev_pos.device, ev_pos.dtype
    if m == 1 or k == 1:
        z = torch.zeros((b, k), dtype=torch.long, device=dev)
        return z, z, torch.zeros((b, k), dtype=dt, device=dev)
    nxt = torch.arange(1, m + (1 if cyclic else 0), device=dev) % m
    seg = torch.linalg.vector_norm(ev_pos[:, nxt] - ev_pos[:, :nxt.numel()], dim=-1)  # (b, segs)
    acc = torch.cumsum(seg, 1)
    total = acc[:, -1:]
    step = total / (k - (0 if cyclic else 1))
    i = torch.arange(k, dtype=dt, device=dev).reshape(1, -1)
    sample = torch.minimum(total, i * step)
    idx = torch.searchsorted(acc.detach().contiguous(), sample.detach().contiguous(), right=True).clamp(max=acc.shape[1] - 1)
    start = torch.where(idx > 0, torch.gather(acc, 1, (idx - 1).clamp(min=0)), torch.zeros_like(sample))
    length = torch.gather(seg, 1, idx)
    ok = length > 0
    fac = torch.where(ok, (sample - start) / torch.where(ok, length, torch.ones_like(length)), torch.zeros_like(sample))
    if not cyclic:  # the last sample sits on the end
        idx = torch.cat([idx[:, :-1], torch.full_like(idx[:, -1:], nxt.numel() - 1)], 1)
        fac = torch.cat([fac[:, :-1], torch.ones_like(fac[:, -1:])], 1)
    return idx, nxt[idx], fac


def _pick(values: torch.Tensor, a_i: torch.Tensor, b_i: torch.Tensor, fac: torch.Tensor) -> torch.Tensor:
    """``values (b, m, ...)`` mixed between ``a_i`` and ``b_i`` ``(b, k)`` by ``fac (b, k)``."""
    bsz = max(int(values.shape[0]), int(a_i.shape[0]))
    v = values.expand(bsz, *values.shape[1:])
    tail = [1] * (v.dim() - 2)
    f = fac.expand(bsz, -1).reshape(bsz, -1, *tail)
    ga = torch.gather(v, 1, a_i.expand(bsz, -1).reshape(bsz, -1, *tail).expand(-1, -1, *v.shape[2:]))
    gb = torch.gather(v, 1, b_i.expand(bsz, -1).reshape(bsz, -1, *tail).expand(-1, -1, *v.shape[2:]))
    return ga * (1.0 - f) + gb * f


def _sample_count_for_length(total: torch.Tensor, length: Any, keep_last: bool, what: str) -> int:
    """``int(length_of_curve / sample_length) + 1`` in float32 (at least 2 with Keep Last Segment), shared by the batch."""
    lv = rt.as_float(length).detach().to(torch.float32)
    q = (total.detach().to(torch.float32) / lv.clamp(min=0.01).reshape(-1)).trunc().long() + 1
    q = q.clamp(min=2 if keep_last else 1)
    return int(rt.static(q, what))


def _resample(curves: CurvesBatch, selection: Any, mode: str, count: Any, length: Any, keep_last: bool,
              evaluated: dict[str, torch.Tensor] | None = None) -> CurvesBatch:
    """Resample Curve on ``curves``; ``evaluated``: values at the evaluated points ``(b, E, ...)`` (tangents,
    normals) sampled like the positions and returned as POINT attributes of those names."""
    ev = evaluation(curves)
    pos = evaluated_positions(curves, ev)
    fctx = curves_context(curves, "CURVE")
    mask = selection_mask(selection, fctx, "a Resample Curve selection").tolist()
    counts = None
    if mode == "Count":
        c = evaluate(count, fctx, "INT")
        if c.shape[0] > 1 and not bool((c == c[:1]).all()):
            raise rt.TopologyVaries(c, "a Resample Curve count")
        counts = [max(int(v), 1) for v in c[0].tolist()]
    point_attrs = {k: a for k, a in curves.attributes.items() if a.domain == "POINT"}
    evaluated = evaluated or {}
    off = curves.curve_offsets.tolist()
    new_pos, new_attrs, sizes = [], {k: [] for k in [*point_attrs, *evaluated]}, []
    totals = curve_lengths(pos, ev, curves.cyclic)[0] if mode == "Length" else None
    for c in range(curves.num_curves):
        if not mask[c]:
            new_pos.append(curves.positions[:, off[c]:off[c + 1]])
            for k, a in point_attrs.items():
                new_attrs[k].append(a.data[:, off[c]:off[c + 1]])
            for k, v in evaluated.items():
                new_attrs[k].append(v[:, ev.control_at[off[c]:off[c + 1]]])
            sizes.append(off[c + 1] - off[c])
            continue
        e0, e1 = ev.offsets[c], ev.offsets[c + 1]
        ep = pos[:, e0:e1]
        if mode == "Evaluated":
            new_pos.append(ep)
            for k, a in point_attrs.items():
                new_attrs[k].append(interpolate_to_evaluated(curves, a.data, ev)[:, e0:e1])
            for k, v in evaluated.items():
                new_attrs[k].append(v[:, e0:e1])
            sizes.append(e1 - e0)
            continue
        k_pts = counts[c] if mode == "Count" else _sample_count_for_length(totals[:, c], length, keep_last,
                                                                          "a Resample Curve length")
        rt.check_size(k_pts, f"Resample Curve ({k_pts:,} points)")
        a_i, b_i, fac = _resample_one(ep, bool(curves.cyclic[c]), k_pts)

        new_pos.append(_pick(ep, a_i, b_i, fac))
        for k, a in point_attrs.items():
            new_attrs[k].append(_pick(interpolate_to_evaluated(curves, a.data, ev)[:, e0:e1], a_i, b_i, fac).to(a.data.dtype))
        for k, v in evaluated.items():
            new_attrs[k].append(_pick(v[:, e0:e1], a_i, b_i, fac))
        sizes.append(k_pts)
    bsz = max(int(p.shape[0]) for p in new_pos)
    offsets = torch.tensor([0, *torch.cumsum(torch.tensor(sizes), 0).tolist()], dtype=torch.long, device=pos.device)
    attrs = {k: a for k, a in curves.attributes.items() if a.domain != "POINT"}
    for k, chunks in new_attrs.items():
        b2 = max(int(x.shape[0]) for x in chunks)
        attrs[k] = Attribute("POINT", torch.cat([x.expand(b2, *x.shape[1:]) for x in chunks], 1),
                             point_attrs[k].type if k in point_attrs else "FLOAT_VECTOR")
    types = [("POLY" if mask[c] else t) for c, t in enumerate(curves.types)]
    keep_handles = any(t == "BEZIER" for t in types)
    if keep_handles:  # unselected Bezier curves keep their handles; resampled curves get zeros
        def handles(h):
            parts = [h[:, off[c]:off[c + 1]] if not mask[c] else torch.zeros((h.shape[0], sizes[c], 3), dtype=h.dtype,
                                                                               device=h.device) for c in range(curves.num_curves)]
            b3 = max(int(x.shape[0]) for x in parts)
            return torch.cat([x.expand(b3, -1, -1) for x in parts], 1)

        def htypes(h):
            return torch.cat([h[off[c]:off[c + 1]] if not mask[c] else torch.zeros(sizes[c], dtype=h.dtype, device=h.device)
                              for c in range(curves.num_curves)])

        extra = {"handle_left": handles(curves.handle_left), "handle_right": handles(curves.handle_right),
                 "handle_type_left": htypes(curves.handle_type_left), "handle_type_right": htypes(curves.handle_type_right)}
    else:
        extra = {"handle_left": None, "handle_right": None, "handle_type_left": None, "handle_type_right": None}
    return replace(curves, positions=torch.cat([p.expand(bsz, -1, -1) for p in new_pos], 1), curve_offsets=offsets,
                   types=types, attributes=attrs, **extra)


def _check_resample(n) -> str | None:
    for s in n.inputs:
        if s.identifier == "Mode" and s.enabled and s.default not in (None, "Count", "Length", "Evaluated"):
            return f"Resample Curve mode {s.default!r} is not supported"
    return None


@node("GeometryNodeResampleCurve", outputs=("Curve",), props=("keep_last_segment",), pure=False, check=_check_resample,
      label="Resample Curve", grad="yes", notes="Count, Length and Evaluated modes (a Mode menu); counts shared by the batch")
def resample_curve(curve=None, selection=True, mode="Count", count=10, length=0.1, keep_last_segment=True):
    """Resample Curve: each selected curve becomes a POLY curve of ``count`` points (Count), of
    ``int(length / Length) + 1`` points (Length; at least 2 with Keep Last Segment) equally spaced
    along its evaluated length, or of its evaluated points (Evaluated); point attributes follow."""
    if curve is None:
        return GeometrySet()
    if isinstance(mode, rt.Field) or not isinstance(mode, str):
        raise TypeError("Resample Curve's mode must be a single menu value")
    return map_curves(curve, lambda c: _resample(c, selection, mode, count, length, bool(keep_last_segment)))


# ---------------------------------------------------------------------------
# Fillet Curve


@functools.lru_cache(maxsize=256)
def _fillet_layout(counts: tuple[int, ...], device: torch.device) -> tuple[torch.Tensor, ...]:
    """Where a fillet's output points come from (topology only, cached per point counts and device):
    ``order (T,)`` indexes ``cat([points, arc starts, arc ends, arc middles])`` (``n``, ``n``, ``n``, ``M``);
    ``arc (A,)`` the points whose arcs have middle points, ``denom (A,)`` their ``count - 1``;
    ``mid_arc (M,)`` and ``mid_k (M,)`` each middle point's arc (index into ``arc``) and step along it."""
    n = len(counts)
    arc = [j for j in range(n) if counts[j] > 2]
    order, mid_arc, mid_k = [], [], []
    for j, m in enumerate(counts):
        if m == 1:
            order.append(j)
            continue
        order.append(n + j)
        for k in range(1, m - 1):
            order.append(3 * n + len(mid_arc))
            mid_arc.append(arc.index(j))
            mid_k.append(k)
        order.append(2 * n + j)
    mk = lambda v: torch.tensor(v, dtype=torch.long, device=device)
    return mk(order), mk(arc), mk([counts[j] - 1 for j in arc]), mk(mid_arc), mk(mid_k)


def _fillet_positions(p: torch.Tensor, r: torch.Tensor, angle: torch.Tensor, disp: torch.Tensor, prev_dir: torch.Tensor,
                      next_dir: torch.Tensor, counts: list[int]) -> torch.Tensor:
    """Every point's arc, all points at once: point ``j`` of ``p (b, n, 3)`` becomes ``counts[j]`` points
    from ``p + prev_dir * disp`` to ``p + next_dir * disp`` around the arc's centre (itself when
    ``counts[j] == 1``) -> ``(b, sum(counts), 3)``."""
    order, arc, denom, mid_arc, mid_k = _fillet_layout(tuple(counts), p.device)
    start = p + prev_dir * disp.unsqueeze(-1)
    end = p + next_dir * disp.unsqueeze(-1)
    parts = [p.expand(start.shape[0], -1, -1), start, end]
    if arc.numel():
        pd, nd = prev_dir[:, arc], next_dir[:, arc]
        axis, _ = normalize(torch.cross(pd, nd, dim=-1))
        cdir, _ = normalize((nd + pd) * 0.5)
        dist = torch.sqrt(r[:, arc] ** 2 + disp[:, arc] ** 2).unsqueeze(-1)
        center = p[:, arc] + cdir * dist
        step = angle[:, arc] / denom.to(angle.dtype)
        c = center[:, mid_arc]
        parts.append(c + rotate_about(start[:, arc][:, mid_arc] - c, -axis[:, mid_arc], step[:, mid_arc] * mid_k.to(angle.dtype)))
    return torch.cat(parts, 1)[:, order]


def _fillet_one(p: torch.Tensor, radius: torch.Tensor, cyclic: bool, counts: list[int], limit: bool,
                bezier: dict | None) -> tuple[torch.Tensor, dict | None]:
    """Blender's ``fillet_curves`` on one curve ``p (b, n, 3)``: each point ``j`` becomes ``counts[j]``
    points (its arc); returns the new positions ``(b, sum(counts), 3)`` (and Bezier handles)."""
    from .logic import vector_angle

    n = int(p.shape[1])
    nxt = torch.arange(1, n + 1, device=p.device) % n
    prv = (torch.arange(n, device=p.device) - 1) % n
    d, _ = normalize(p[:, nxt] - p)
    angle = torch.pi - vector_angle(-d[:, prv], d)
    tan_half = torch.tan(angle / 2.0)
    r = radius
    if limit:
        rr = r if cyclic else torch.cat([torch.zeros_like(r[:, :1]), r[:, 1:-1], torch.zeros_like(r[:, :1])], 1)
        disp = rr * tan_half
        seg_prev = torch.linalg.vector_norm(p - p[:, prv], dim=-1)
        seg_next = torch.linalg.vector_norm(p[:, nxt] - p, dim=-1)

        def factor(seg, total):
            ok = total != 0
            return torch.where(ok, seg / torch.where(ok, total, torch.ones_like(total)), torch.zeros_like(total)).clamp(0.0, 1.0)

        f = torch.minimum(factor(seg_prev, disp[:, prv] + disp), factor(seg_next, disp[:, nxt] + disp))
        r = rr * f
        if not cyclic:
            r = torch.cat([torch.zeros_like(r[:, :1]), r[:, 1:-1], torch.zeros_like(r[:, :1])], 1)
    disp = r * tan_half
    prev_dir, next_dir = -d[:, prv], d
    positions = _fillet_positions(p, r, angle, disp, prev_dir, next_dir, counts)
    h_left, h_right, t_left, t_right = [], [], [], []
    for j in range(n if bezier is not None else 0):
        if counts[j] == 1:
            h_left.append(bezier["hl"][:, j:j + 1])
            h_right.append(bezier["hr"][:, j:j + 1])
            t_left.append(bezier["tl"][j:j + 1])
            t_right.append(bezier["tr"][j:j + 1])
            continue
        tl = torch.full((counts[j],), 2, dtype=torch.int8, device=p.device)  # vector handles
        t_left.append(tl)
        t_right.append(tl.clone())
        h_left.append(None)  # filled after the positions are known
        h_right.append(None)
    if bezier is None:
        return positions, None
    # handles: vector handles at the fillets' outer sides and inner points (poly mode), or the circle
    # approximation of the Bezier mode for two-point arcs
    total = int(positions.shape[1])
    hl = torch.zeros_like(positions)
    hr = torch.zeros_like(positions)
    tl_all, tr_all = torch.cat(t_left), torch.cat(t_right)
    o = 0
    for j in range(n):
        m = counts[j]
        if m == 1:
            hl[:, o] = h_left[j][:, 0].expand_as(hl[:, o])
            hr[:, o] = h_right[j][:, 0].expand_as(hr[:, o])
            o += 1
            continue
        a, b_ = o, o + m - 1
        pa, pb = (a - 1) % total, (b_ + 1) % total
        hl[:, a] = positions[:, a] + (positions[:, pa] - positions[:, a]) / 3.0
        hr[:, b_] = positions[:, b_] + (positions[:, pb] - positions[:, b_]) / 3.0
        if bezier["mode"] == "Bézier" and m == 2:
            length = (4.0 / 3.0) * r[:, j:j + 1] * torch.tan(angle[:, j:j + 1] / 4.0)
            hr[:, a] = positions[:, a] - prev_dir[:, j] * length
            hl[:, b_] = positions[:, b_] - next_dir[:, j] * length
            tr_all[a] = 3
            tl_all[b_] = 3
        else:
            hr[:, a] = positions[:, a] + (positions[:, a + 1] - positions[:, a]) / 3.0
            hl[:, b_] = positions[:, b_] + (positions[:, b_ - 1] - positions[:, b_]) / 3.0
            for i in range(a + 1, b_):
                hr[:, i] = positions[:, i] + (positions[:, i - 1] - positions[:, i]) / 3.0
                hl[:, i] = positions[:, i] + (positions[:, i + 1] - positions[:, i]) / 3.0
        o += m
    return positions, {"hl": hl, "hr": hr, "tl": tl_all, "tr": tr_all}


def _fillet(curves: CurvesBatch, radius: Any, count: Any, limit: bool, mode: str) -> CurvesBatch:
    fctx = curves_context(curves, "POINT")
    radii = evaluate(radius, fctx, "VALUE")
    cnt = evaluate(count, fctx, "INT") if mode == "Poly" else None
    zero = radii.detach() == 0
    if zero.shape[0] > 1 and not bool((zero == zero[:1]).all()):
        raise rt.TopologyVaries(zero.long(), "a Fillet Curve radius of zero")
    zero = zero[0].tolist()
    if cnt is not None and cnt.shape[0] > 1 and not bool((cnt == cnt[:1]).all()):
        raise rt.TopologyVaries(cnt, "a Fillet Curve count")
    per_point = [max(int(c), 0) + 1 for c in cnt[0].tolist()] if cnt is not None else [2] * curves.num_points
    off = curves.curve_offsets.tolist()
    bez = curves.has_bezier()
    new_pos, sizes, groups, hl, hr, tl, tr = [], [], [], [], [], [], []
    bsz = max(int(curves.positions.shape[0]), int(radii.shape[0]))
    for c in range(curves.num_curves):
        s, e = off[c], off[c + 1]
        n = e - s
        counts = [1 if zero[s + j] else per_point[s + j] for j in range(n)]
        if not curves.cyclic[c] and n:
            counts[0] = counts[-1] = 1
        if n < 2:
            counts = [1] * n
        src_b = None
        if bez:
            src_b = {"hl": curves.handle_left[:, s:e], "hr": curves.handle_right[:, s:e], "tl": curves.handle_type_left[s:e],
                     "tr": curves.handle_type_right[s:e], "mode": mode}
        if n >= 2:
            pos, handles = _fillet_one(curves.positions[:, s:e].expand(bsz, -1, -1), radii[:, s:e].expand(bsz, -1),
                                       bool(curves.cyclic[c]), counts, limit, src_b)
        else:
            pos, handles = curves.positions[:, s:e].expand(bsz, -1, -1), src_b
        new_pos.append(pos)
        sizes.append(sum(counts))
        groups += [s + j for j in range(n) for _ in range(counts[j])]
        if bez:
            hl.append(handles["hl"].expand(bsz, -1, -1))
            hr.append(handles["hr"].expand(bsz, -1, -1))
            tl.append(handles["tl"])
            tr.append(handles["tr"])
    dev = curves.positions.device
    gather = torch.tensor(groups, dtype=torch.long, device=dev)
    offsets = torch.tensor([0, *torch.cumsum(torch.tensor(sizes), 0).tolist()], dtype=torch.long, device=dev)
    attrs = {k: (Attribute(a.domain, a.data[:, gather], a.type) if a.domain == "POINT" else a)
             for k, a in curves.attributes.items()}
    extra = {}
    if bez:
        extra = {"handle_left": torch.cat(hl, 1), "handle_right": torch.cat(hr, 1), "handle_type_left": torch.cat(tl),
                 "handle_type_right": torch.cat(tr)}
    return replace(curves, positions=torch.cat(new_pos, 1), curve_offsets=offsets, attributes=attrs, **extra)


def _check_fillet(n) -> str | None:
    for s in n.inputs:
        if s.identifier == "Mode" and s.enabled and s.default not in (None, "Bézier", "Poly"):
            return f"Fillet Curve mode {s.default!r} is not supported"
    return None


@node("GeometryNodeFilletCurve", outputs=("Curve",), pure=False, check=_check_fillet, label="Fillet Curve", grad="yes",
      notes="Bézier and Poly modes (a Mode menu), Limit Radius; counts and zero radii shared by the batch")
def fillet_curve(curve=None, radius=0.25, limit_radius=False, mode="Bézier", count=1):
    """Fillet Curve: every inner point (every point of a cyclic curve) with a non-zero radius becomes an
    arc of ``count + 1`` points (Poly) or two points with circle-approximating handles (Bézier; POLY
    curves get the two arc ends) tangent to its segments, ``radius * tan(angle / 2)`` from the corner
    (radii scaled down so neighbouring arcs meet at most in the middle with Limit Radius)."""
    if curve is None:
        return GeometrySet()
    if not isinstance(mode, str):
        raise TypeError("Fillet Curve's mode must be a single menu value")
    limit = bool(rt.static(limit_radius, "Fillet Curve Limit Radius"))
    return map_curves(curve, lambda c: _fillet(c, radius, count, limit, mode))
