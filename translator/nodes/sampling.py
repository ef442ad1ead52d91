"""Sampling and field-evaluation nodes: Sample Index, Field at Index, Evaluate on Domain, Accumulate Field,
Sample Nearest and Sample Nearest Surface.

* Sample Index (``node_geo_sample_index.cc``): the Value field is evaluated on one domain of the Geometry
  input (its mesh, else its curves, else its instances: the first component with elements on that domain)
  and read at the Index field evaluated where the output is read; an index out of range gives the type's
  zero, or with Clamp the nearest end.
* Evaluate at Index (Field at Index): the same on the geometry the output is evaluated on (no clamping).
* Evaluate on Domain: the field evaluated on the node's domain, then interpolated to the domain that reads
  it (``adapt_domain``).
* Accumulate Field: the Value and Group ID fields evaluated on the node's domain; per group, in element
  order, Leading is the running sum including the element, Trailing excluding it, Total the group's sum;
  then interpolated to the domain that reads them.
* Sample Nearest: the index of the element of the mesh nearest to the Sample Position: vertices (POINT),
  edge segments (EDGE), faces (FACE: their corner triangles), or the corner of the nearest face whose
  vertex is nearest (CORNER).
* Sample Nearest Surface: the nearest point on the mesh's corner triangles (restricted to the faces whose
  Group ID equals the Sample Group ID) and the Value field (evaluated on face corners) interpolated there
  with barycentric weights; Is Valid says whether the group has faces.

Triangles are Blender's (``mesh_tessellate``: quads cut on 0-2 unless flipped); n-gons are cut as a fan,
which covers the same surface as Blender's polyfill when they are planar and convex (checked: anything
else raises), and Sample Nearest Surface refuses n-gons whose corner values differ (their interpolation
would depend on the triangulation). The choice of the nearest element is piecewise constant; positions
and sampled values are differentiable. Checked against Blender in ``tests/translator/nodes/test_sampling.py``.
"""

from __future__ import annotations

import torch

from .. import runtime as rt
from ..geometry import GeometrySet, MeshBatch
from . import node
from .attributes import SOCKET_OF_TYPE
from .fields import curves_context, decided, evaluate, instance_context, mesh_context
from .topology import corner_tris

__all__ = ["accumulate_field", "evaluate_on_domain", "field_at_index", "sample_index", "sample_nearest",
           "sample_nearest_surface"]

_TYPES = ("FLOAT", "INT", "FLOAT_VECTOR", "FLOAT_COLOR", "BOOLEAN", "QUATERNION", "FLOAT4X4")
_MESH_DOMAINS = ("POINT", "EDGE", "FACE", "CORNER")
_DOMAINS = (*_MESH_DOMAINS, "CURVE", "INSTANCE")


def _default(type: str, n: int) -> torch.Tensor:
    """``(1, n, ...)`` Blender's value-initialised ``type`` (zeros; a zero matrix for MATRIX)."""
    if type == "MATRIX":
        c = rt.current()
        return torch.zeros((1, n, 4, 4), dtype=c.dtype, device=c.device)
    t = rt.eval_field(rt.default_value(type), rt.FieldContext("POINT", n), type)
    return t.expand(t.shape[0], n, *t.shape[2:]) if n else t[:, :0]


def _gather(src: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``src (bs, M, ...)`` read at ``index (bi, N)`` (in range) -> ``(b, N, ...)``."""
    b = max(int(src.shape[0]), int(index.shape[0]))
    src = src.expand(b, *src.shape[1:])
    idx = index.expand(b, -1)
    idx = idx.reshape(*idx.shape, *([1] * (src.dim() - 2))).expand(-1, -1, *src.shape[2:])
    return torch.gather(src, 1, idx)


def _read_at(src: torch.Tensor, index: torch.Tensor, type: str, clamp: bool) -> torch.Tensor:
    """``src`` at ``index``; out of range: clamped (``clamp``) or the type's zero."""
    m = int(src.shape[1])
    if m == 0:
        return _default(type, int(index.shape[1]))
    out = _gather(src, index.clamp(0, m - 1))
    if clamp:
        return out
    ok = (index >= 0) & (index < m)
    ok = ok.reshape(*ok.shape, *([1] * (out.dim() - 2)))
    return torch.where(ok, out, _default(type, int(index.shape[1])).to(out.dtype))


def _context_of(geo: GeometrySet | None, domain: str, mesh=None, curves=None, instances=None) -> rt.FieldContext | None:
    """The field context of ``domain`` on a geometry's first component that has elements there (mesh,
    curves, instances), or None."""
    if geo is not None:
        mesh, curves, instances = geo.mesh, geo.curves, geo.instances
    if domain in _MESH_DOMAINS and mesh is not None and mesh.domain_size(domain):
        return mesh_context(mesh, domain)
    if domain in ("POINT", "CURVE") and curves is not None and curves.domain_size(domain):
        return curves_context(curves, domain)
    if domain == "INSTANCE" and instances is not None and instances.count:
        return instance_context(instances)
    return None


def _check_types(label: str, types=_TYPES, domains=_DOMAINS):
    def check(n) -> str | None:
        t, d = n.properties.get("data_type"), n.properties.get("domain", "POINT")
        if t == "QUATERNION" and label in ("Sample Index", "Evaluate at Index") and not n.properties.get("clamp"):
            return (f"{label} of rotations without Clamp is not supported (an index out of range gives Blender's zero "
                    "quaternion, which is not parity-tested yet)")
        if t not in types:
            return f"{label} data type {t!r} is not supported"
        if d not in domains:
            return f"{label} domain {d!r} is not supported"
        return None

    return check


@node("GeometryNodeSampleIndex", outputs=("Value",), props=("data_type", "domain", "clamp"), pure=False,
      check=_check_types("Sample Index"), label="Sample Index",
      modes={"data_type": _TYPES, "domain": _DOMAINS, "clamp": (False, True)}, grad="yes",
      notes="meshes, curves and instances; rotations (QUATERNION) with Clamp only")
def sample_index(geometry=None, value=0.0, index=0, data_type: str = "FLOAT", domain: str = "POINT",
                 clamp: bool = False):
    """Sample Index: a field ``(b, N, ...)``: ``value`` on ``domain`` of ``geometry`` at ``index``."""
    type = SOCKET_OF_TYPE[data_type]
    src_ctx = _context_of(geometry, domain)
    if src_ctx is None:
        return rt.default_value(type)
    src = evaluate(value, src_ctx, type)

    def fn(fctx: rt.FieldContext) -> torch.Tensor:
        return _read_at(src, evaluate(index, fctx, "INT"), type, clamp)

    if not isinstance(index, rt.Field):  # a single index: a single value ((B, ...) or unbatched)
        i = index if isinstance(index, torch.Tensor) else torch.tensor(int(index), device=rt.current().device)
        out = _read_at(src, i.reshape(-1, 1), type, clamp)[:, 0]
        if out.shape[0] > 1 or isinstance(index, torch.Tensor) and index.dim() > 0:
            return out
        out = out[0]
        return out.tolist() if type in ("INT", "BOOLEAN") else out
    return rt.Field(fn, type, label="sample index")


def _own_context(fctx: rt.FieldContext, domain: str) -> rt.FieldContext | None:
    return _context_of(None, domain, fctx.mesh, fctx.curves, fctx.instances)


@node("GeometryNodeFieldAtIndex", outputs=("Value",), props=("domain", "data_type"), pure=False,
      check=_check_types("Evaluate at Index"), label="Evaluate at Index",
      modes={"domain": _DOMAINS, "data_type": _TYPES}, grad="yes",
      notes="meshes, curves and instances; rotations (QUATERNION) are refused")
def field_at_index(value=0.0, index=0, domain: str = "POINT", data_type: str = "FLOAT"):
    """Field at Index: a field ``(b, N, ...)``: ``value`` on ``domain`` of the geometry it is read on, at ``index``
    (evaluated where it is read; out of range: zero)."""
    type = SOCKET_OF_TYPE[data_type]

    def fn(fctx: rt.FieldContext) -> torch.Tensor:
        idx = evaluate(index, fctx, "INT")
        ctx = _own_context(fctx, domain)
        if ctx is None:
            return _default(type, fctx.size)
        return _read_at(evaluate(value, ctx, type), idx, type, False)

    return rt.Field(fn, type, label="field at index")


def _adapt(fctx: rt.FieldContext, data: torch.Tensor, src: str) -> torch.Tensor:
    """Values on domain ``src`` of ``fctx``'s geometry interpolated to ``fctx.domain``."""
    if src == fctx.domain:
        return data
    if fctx.mesh is not None:
        return rt.adapt_domain(fctx.mesh, data, src, fctx.domain)
    if fctx.curves is not None:
        from .fields import curve_point_mean

        c = fctx.curves
        if (src, fctx.domain) == ("POINT", "CURVE"):
            out = curve_point_mean(c, data)
            if data.dtype == torch.bool:
                return out > 1.0 - 1e-6
            return out if data.dtype.is_floating_point else torch.sign(out) * torch.floor(out.abs() + 0.5)
        sizes = c.curve_offsets[1:] - c.curve_offsets[:-1]
        return data[:, torch.repeat_interleave(torch.arange(c.num_curves, device=sizes.device), sizes)]
    raise TypeError(f"cannot interpolate from the {src} to the {fctx.domain} domain")


@node("GeometryNodeFieldOnDomain", outputs=("Value",), props=("domain", "data_type"), pure=False,
      check=_check_types("Evaluate on Domain"), label="Evaluate on Domain",
      modes={"domain": _DOMAINS, "data_type": _TYPES}, grad="yes", notes="meshes, curves and instances")
def evaluate_on_domain(value=0.0, domain: str = "POINT", data_type: str = "FLOAT"):
    """Evaluate on Domain: ``value`` evaluated on ``domain`` and interpolated to the domain it is read on."""
    type = SOCKET_OF_TYPE[data_type]
    if not isinstance(value, rt.Field):
        return value

    def fn(fctx: rt.FieldContext) -> torch.Tensor:
        ctx = _own_context(fctx, domain)
        if ctx is None:
            return _default(type, fctx.size)
        return _adapt(fctx, evaluate(value, ctx, type), domain)

    return rt.Field(fn, type, label="evaluate on domain")


_ACC_TYPES = ("FLOAT", "INT", "FLOAT_VECTOR")


def _accumulate(values: torch.Tensor, groups: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``values (b, N, ...)`` summed in element order per group ``groups (b, N)``: leading, trailing, total."""
    b = max(int(values.shape[0]), int(groups.shape[0]))
    values = values.expand(b, *values.shape[1:])
    groups = groups.expand(b, -1)
    n = int(values.shape[1])
    extra = values.shape[2:]
    order = torch.argsort(groups, dim=1, stable=True)  # (b, N) elements by group, in order
    inv = torch.argsort(order, dim=1)
    g = torch.gather(groups, 1, order)

    def take(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        return torch.gather(x, 1, idx.reshape(*idx.shape, *([1] * len(extra))).expand(-1, -1, *extra))

    v = take(values, order)
    cs = torch.cumsum(v, 1)
    pos = torch.arange(n, device=values.device).expand(b, -1)
    new_group = torch.ones_like(g, dtype=torch.bool)
    new_group[:, 1:] = g[:, 1:] != g[:, :-1]
    start = torch.cummax(torch.where(new_group, pos, torch.zeros_like(pos)), 1).values
    before = take(cs - v, start)  # the running sum before each group
    leading = cs - before
    trailing = leading - v
    is_end = torch.ones_like(new_group)
    is_end[:, :-1] = new_group[:, 1:]
    end = torch.where(is_end, pos, torch.full_like(pos, n))
    last = torch.flip(torch.cummin(torch.flip(end, [1]), 1).values, [1])  # each element's group's last position
    total = take(cs, last) - before
    return take(leading, inv), take(trailing, inv), take(total, inv)


@node("GeometryNodeAccumulateField", outputs=("Leading", "Trailing", "Total"), props=("data_type", "domain"),
      pure=False, check=_check_types("Accumulate Field", _ACC_TYPES, _DOMAINS), label="Accumulate Field",
      modes={"data_type": _ACC_TYPES, "domain": _DOMAINS}, grad="yes",
      notes="group index; meshes, curves and instances; matrices (TRANSFORM) are refused")
def accumulate_field(value=1.0, group_index=0, data_type: str = "FLOAT", domain: str = "POINT"):
    """Accumulate Field: Leading, Trailing and Total fields (see the module)."""
    type = SOCKET_OF_TYPE[data_type]

    def make(k: int) -> rt.Field:
        def fn(fctx: rt.FieldContext) -> torch.Tensor:
            ctx = _own_context(fctx, domain)
            if ctx is None:
                return _default(type, fctx.size)
            vals = evaluate(value, ctx, type)
            out = _accumulate(vals, evaluate(group_index, ctx, "INT"))[k]
            return _adapt(fctx, out, domain)

        return rt.Field(fn, type, label="accumulate")

    return make(0), make(1), make(2)


# ---------------------------------------------------------------------------
# Nearest elements


def _closest_on_segment(p: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``p (b, N, 1, 3)``, segments ``a, b (b, 1, M, 3)`` -> closest points ``(b, N, M, 3)``."""
    d = b - a
    dd = (d * d).sum(-1, keepdim=True)
    t = ((p - a) * d).sum(-1, keepdim=True) / torch.where(dd > 0, dd, torch.ones_like(dd))
    t = torch.where(dd > 0, t.clamp(0.0, 1.0), torch.zeros_like(t))
    return a + t * d


def closest_on_triangles(p: torch.Tensor, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """Closest points on triangles (``closest_on_tri_to_point_v3``): ``p (b, N, 1, 3)``, corners ``(b, 1, T, 3)``
    -> ``(b, N, T, 3)``."""
    ab, ac, ap = b - a, c - a, p - a
    d1, d2 = (ab * ap).sum(-1, keepdim=True), (ac * ap).sum(-1, keepdim=True)
    bp = p - b
    d3, d4 = (ab * bp).sum(-1, keepdim=True), (ac * bp).sum(-1, keepdim=True)
    cp = p - c
    d5, d6 = (ab * cp).sum(-1, keepdim=True), (ac * cp).sum(-1, keepdim=True)
    va = d3 * d6 - d5 * d4
    vb = d5 * d2 - d1 * d6
    vc = d1 * d4 - d3 * d2

    def safe_div(x, y):
        return x / torch.where(y != 0, y, torch.ones_like(y))

    denom = va + vb + vc
    v_in, w_in = safe_div(vb, denom), safe_div(vc, denom)
    out = a + ab * v_in + ac * w_in  # inside
    # edges (checked in reverse priority so that the first matching region wins)
    bc_t = safe_div(d4 - d3, (d4 - d3) + (d5 - d6))
    out = torch.where((va <= 0) & ((d4 - d3) >= 0) & ((d5 - d6) >= 0), b + (c - b) * bc_t, out)
    ac_t = safe_div(d2, d2 - d6)
    out = torch.where((vb <= 0) & (d2 >= 0) & (d6 <= 0), a + ac * ac_t, out)
    ab_t = safe_div(d1, d1 - d3)
    out = torch.where((vc <= 0) & (d1 >= 0) & (d3 <= 0), a + ab * ab_t, out)
    out = torch.where((d6 >= 0) & (d5 <= d6), c.expand_as(out), out)
    out = torch.where((d3 >= 0) & (d4 <= d3), b.expand_as(out), out)
    out = torch.where((d1 <= 0) & (d2 <= 0), a.expand_as(out), out)
    return out


def _check_ngons(mesh: MeshBatch, what: str) -> None:
    """n-gons (5+ corners) must be planar and convex (their fan covers the same surface as Blender's fill)."""
    sizes = mesh.face_sizes()
    big = (sizes > 4).nonzero().reshape(-1)
    if big.numel() == 0:
        return
    from .mesh_fields import face_normals

    v = mesh.verts
    fn = face_normals(mesh)[:, big]  # (b, G, 3)
    for gi, f in enumerate(big.tolist()):
        s, e = int(mesh.face_offsets[f]), int(mesh.face_offsets[f + 1])
        p = v[:, mesh.corner_verts[s:e]]
        n = fn[:, gi].unsqueeze(1)
        spread = ((p - p.mean(1, keepdim=True)) * n).sum(-1).abs().amax()
        size = (p.amax(1) - p.amin(1)).abs().amax().clamp(min=1e-12)
        turn = (torch.linalg.cross(p.roll(-1, 1) - p, p.roll(-2, 1) - p.roll(-1, 1)) * n).sum(-1)
        if float(spread) > 1e-5 * float(size) or bool((turn < -1e-9 * float(size) ** 2).any()):
            raise ValueError(f"{what}: face {f} has {e - s} corners and is not planar and convex; Blender's n-gon "
                             "triangulation (polyfill) is not reproduced")


def _triangles(mesh: MeshBatch, what: str, faces: torch.Tensor | None = None):
    _check_ngons(mesh, what)
    tris, face = corner_tris(mesh)
    if faces is not None:
        keep = faces[face]
        tris, face = tris[:, keep], face[keep]
    return tris, face


def _unique_argmin(d: torch.Tensor, what: str) -> torch.Tensor:
    """``d (b, N, M)`` squared distances -> ``(b, N)`` the nearest; a tie (another element as near, relative 1e-6)
    raises: Blender breaks it by its BVH traversal order, which is not reproduced."""
    if d.shape[-1] > 1:
        two = torch.topk(d, 2, dim=-1, largest=False).values
        tie = two[..., 1] <= two[..., 0] * (1.0 + 1e-6) + 1e-14
        if bool(tie.any()):
            k = int(tie.reshape(-1).nonzero()[0]) % int(d.shape[1])
            raise ValueError(f"Sample Nearest: sample {k} is equally near to several {what} (Blender picks one by its "
                             "BVH traversal order, which is not reproduced)")
    return d.argmin(-1)


def _nearest(mesh: MeshBatch, pos: torch.Tensor, domain: str) -> torch.Tensor:
    """``(b, N)`` index of the nearest element of ``domain`` to ``pos (b, N, 3)`` (ties raise)."""
    v = mesh.verts
    p = pos.unsqueeze(2)
    if domain == "POINT":
        return _unique_argmin(((p - v.unsqueeze(1)) ** 2).sum(-1), "vertices")
    if domain == "EDGE":
        e = mesh.edges
        q = _closest_on_segment(p, v[:, e[:, 0]].unsqueeze(1), v[:, e[:, 1]].unsqueeze(1))
        return _unique_argmin(((q - p) ** 2).sum(-1), "edges")
    tris, face = _triangles(mesh, "Sample Nearest")
    corner_v = mesh.corner_verts[tris]  # (b', T, 3)
    bb = max(int(v.shape[0]), int(corner_v.shape[0]))
    vv = v.expand(bb, -1, -1)

    def corner_pos(k: int) -> torch.Tensor:
        return torch.gather(vv, 1, corner_v[..., k].expand(bb, -1).unsqueeze(-1).expand(-1, -1, 3)).unsqueeze(1)

    q = closest_on_triangles(p, corner_pos(0), corner_pos(1), corner_pos(2))
    d_tri = ((q - p) ** 2).sum(-1)  # (b, N, T)
    d_face = torch.full((*d_tri.shape[:2], mesh.num_faces), torch.inf, dtype=d_tri.dtype, device=d_tri.device)
    d_face = d_face.scatter_reduce(2, face.expand(*d_tri.shape[:2], -1), d_tri, "amin")
    f = _unique_argmin(d_face, "faces")
    if domain == "FACE":
        return f
    # CORNER: the corner of the nearest face whose vertex is nearest (the first on ties)
    sizes = mesh.face_sizes()
    k = int(sizes.max())
    local = torch.arange(k, device=f.device)
    corners = mesh.face_offsets[:-1][f].unsqueeze(-1) + local  # (b, N, k)
    valid = local < sizes[f].unsqueeze(-1)
    cv = mesh.corner_verts[corners.clamp(max=mesh.num_corners - 1)]  # (b', N, k)
    bq = max(int(v.shape[0]), int(cv.shape[0]), int(pos.shape[0]))
    batch = torch.arange(bq, device=f.device).reshape(-1, 1, 1)
    pts = v.expand(bq, -1, -1)[batch, cv.expand(bq, -1, -1)]  # (bq, N, k, 3)
    d = ((pts - pos.expand(bq, -1, -1).unsqueeze(2)) ** 2).sum(-1)
    d = torch.where(valid, d, torch.full_like(d, torch.inf))
    return torch.gather(corners.expand(bq, -1, -1), 2, d.argmin(-1, keepdim=True)).squeeze(-1)


@node("GeometryNodeSampleNearest", outputs=("Index",), props=("domain",), pure=False, implicit=("sample_position",),
      label="Sample Nearest", modes={"domain": _MESH_DOMAINS}, grad="no",
      notes="meshes; faces through Blender's corner triangles (n-gons planar and convex); a sample equally near "
            "to two elements raises (Blender's BVH order breaks such ties)")
def sample_nearest(geometry=None, sample_position=None, domain: str = "POINT"):
    """Sample Nearest: an INT field ``(b, N)``, the nearest element of ``geometry``'s mesh on ``domain`` to
    ``sample_position`` (default: the position where it is read; 0 without elements)."""
    mesh = geometry.mesh if geometry is not None else None
    if mesh is None or mesh.domain_size(domain) == 0 or (domain != "POINT" and mesh.domain_size("FACE" if domain in (
            "FACE", "CORNER") else domain) == 0):
        return 0
    from .fields import position

    where = position() if sample_position is None else sample_position

    def fn(fctx: rt.FieldContext) -> torch.Tensor:
        with torch.no_grad():
            return _nearest(mesh, evaluate(where, fctx, "VECTOR"), domain)

    return rt.Field(fn, "INT", label="sample nearest")


def _bary(q: torch.Tensor, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """Barycentric weights ``(..., 3)`` of points ``q`` on triangles ``a, b, c`` (``interp_weights_tri_v3``)."""
    n = torch.linalg.cross(b - a, c - a)
    nn = (n * n).sum(-1, keepdim=True)
    nn = torch.where(nn > 0, nn, torch.ones_like(nn))
    wa = (torch.linalg.cross(c - b, q - b) * n).sum(-1, keepdim=True) / nn
    wb = (torch.linalg.cross(a - c, q - c) * n).sum(-1, keepdim=True) / nn
    return torch.cat([wa, wb, 1.0 - wa - wb], -1)


@node("GeometryNodeSampleNearestSurface", outputs=("Value", "Is Valid"), props=("data_type",), pure=False,
      implicit=("sample_position",), check=_check_types("Sample Nearest Surface", ("FLOAT", "FLOAT_VECTOR",
                                                                                    "FLOAT_COLOR"), _DOMAINS),
      label="Sample Nearest Surface", modes={"data_type": ("FLOAT", "FLOAT_VECTOR", "FLOAT_COLOR")}, grad="yes",
      notes="groups; triangles and quads (n-gons planar, convex, with equal corner values); differentiable in "
            "positions and values, the nearest triangle piecewise constant")
def sample_nearest_surface(mesh=None, value=0.0, group_id=0, sample_position=None, sample_group_id=0,
                           data_type: str = "FLOAT"):
    """Sample Nearest Surface: ``(value field (b, N, ...), is valid field (b, N))`` (see the module)."""
    type = SOCKET_OF_TYPE[data_type]
    m = mesh.mesh if mesh is not None else None
    if m is None or m.num_verts == 0 or m.num_faces == 0:
        return rt.default_value(type), False
    from .fields import position

    where = position() if sample_position is None else sample_position
    corner_vals = evaluate(value, mesh_context(m, "CORNER"), type)  # (b, C, ...)
    groups = evaluate(group_id, mesh_context(m, "FACE"), "INT")  # (b, F)
    if groups.shape[0] > 1 and not bool((groups == groups[:1]).all()):
        raise rt.TopologyVaries(groups, "the Group ID of Sample Nearest Surface")
    fixed = decided(groups[0])
    ids = sorted(set(fixed.tolist()))
    per_group = {g: _triangles(m, "Sample Nearest Surface", fixed == g) for g in ids}
    v = m.verts

    def sample(fctx: rt.FieldContext):
        pos = evaluate(where, fctx, "VECTOR")  # (b, N, 3)
        sgid = evaluate(sample_group_id, fctx, "INT")  # (b, N)
        b = max(int(pos.shape[0]), int(sgid.shape[0]), int(v.shape[0]), int(corner_vals.shape[0]))
        pos = pos.expand(b, fctx.size, 3)
        sgid = sgid.expand(b, fctx.size)
        extra = corner_vals.shape[2:]
        out = torch.zeros((b, fctx.size, *extra), dtype=v.dtype, device=v.device)
        valid = torch.zeros((b, fctx.size), dtype=torch.bool, device=v.device)
        vv = v.expand(b, -1, -1)
        cvals = corner_vals.to(v.dtype).expand(b, *corner_vals.shape[1:])
        for g, (tris, face) in per_group.items():
            sel = sgid == g
            if not bool(sel.any()) or face.numel() == 0:
                continue
            tris = tris.expand(b, -1, -1)
            corner_p = [torch.gather(vv, 1, m.corner_verts[tris[..., k]].unsqueeze(-1).expand(-1, -1, 3)) for k in range(3)]
            p = pos.unsqueeze(2)
            q = closest_on_triangles(p, *(c.unsqueeze(1) for c in corner_p))
            with torch.no_grad():
                best = ((q - p) ** 2).sum(-1).argmin(-1)  # (b, N)
            _refuse_varying_ngons(m, cvals, face[best] if best.numel() else best, sel)
            qb = torch.gather(q, 2, best.reshape(b, -1, 1, 1).expand(-1, -1, 1, 3)).squeeze(2)
            tri = torch.gather(tris, 1, best.unsqueeze(-1).expand(-1, -1, 3))  # (b, N, 3) corner indices
            a, bb, c = (torch.gather(vv, 1, m.corner_verts[tri[..., k]].unsqueeze(-1).expand(-1, -1, 3)) for k in range(3))
            w = _bary(qb, a, bb, c)  # (b, N, 3)
            vals = [torch.gather(cvals, 1, tri[..., k].reshape(b, -1, *([1] * len(extra))).expand(-1, -1, *extra))
                    for k in range(3)]
            wk = [w[..., k].reshape(b, -1, *([1] * len(extra))) for k in range(3)]
            mixed = vals[0] * wk[0] + vals[1] * wk[1] + vals[2] * wk[2]
            out = torch.where(sel.reshape(b, -1, *([1] * len(extra))), mixed, out)
            valid = valid | sel
        return out, valid

    return (rt.Field(lambda fctx: sample(fctx)[0], type, label="sample nearest surface"),
            rt.Field(lambda fctx: sample(fctx)[1], "BOOLEAN", label="sample nearest surface valid"))


def _refuse_varying_ngons(mesh: MeshBatch, cvals: torch.Tensor, faces: torch.Tensor, sel: torch.Tensor) -> None:
    sizes = mesh.face_sizes()
    hit = faces[sel & (sizes[faces] > 4)]
    for f in sorted(set(hit.tolist())):
        s, e = int(mesh.face_offsets[f]), int(mesh.face_offsets[f + 1])
        block = cvals[:, s:e]
        if not bool((block == block[:, :1]).all()):
            raise ValueError(f"Sample Nearest Surface: face {f} has {e - s} corners whose values differ; the "
                             "interpolation would need Blender's n-gon triangulation (polyfill), which is not reproduced")
