"""Mesh field inputs: Normal and Face Area.

Blender's normals (``mesh_normals.cc``): a face's normal is its Newell normal, normalized (``(0, 0,
1)`` when it has no area); a vertex's normal is the sum of its faces' normals weighted by the
face's angle at the vertex (Blender's ``safe_acos_approx`` polynomial), normalized (a vertex without faces takes its normalized position);
an edge's normal is the normalized mean of its vertices' normals; a face corner's "True Normal" is
its face's normal, and so is its "Normal" on flat-shaded faces (smooth-shaded corners are
refused). Face Area is half the length of the Newell vector. Positions are ``(b, V, 3)``; fields
give ``(b, N, 3)`` / ``(b, N)``. Checked against Blender in ``tests/translator/nodes/test_mesh_fields.py``.
"""

from __future__ import annotations

import functools

import torch

from .. import runtime as rt
from ..geometry import MeshBatch
from . import node

__all__ = ["face_area", "face_normals", "input_normal", "mesh_face_area", "newell", "safe_acos_approx", "vertex_normals"]


def _face_of_corner(mesh: MeshBatch) -> torch.Tensor:
    sizes = mesh.face_sizes()
    return torch.repeat_interleave(torch.arange(sizes.numel(), device=sizes.device), sizes)


def _next_corner(mesh: MeshBatch) -> torch.Tensor:
    """``(C,)`` the next corner of each corner's face (cyclically)."""
    off = mesh.face_offsets
    face = _face_of_corner(mesh)
    c = torch.arange(mesh.num_corners, device=off.device)
    nxt = c + 1
    return torch.where(nxt == off[1:][face], off[:-1][face], nxt)


def _prev_corner(mesh: MeshBatch) -> torch.Tensor:
    off = mesh.face_offsets
    face = _face_of_corner(mesh)
    c = torch.arange(mesh.num_corners, device=off.device)
    return torch.where(c == off[:-1][face], off[1:][face] - 1, c - 1)


def _face_corners(mesh: MeshBatch, faces: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The corners of ``faces (S,)`` in order ``(K,)``, the next corner of each in its face, and the position
    in ``faces`` of each corner's face."""
    fo = mesh.face_offsets
    counts = fo[1:][faces] - fo[:-1][faces]
    seg = torch.repeat_interleave(torch.arange(faces.numel(), device=fo.device), counts)
    first = fo[:-1][faces][seg]
    local = torch.arange(seg.numel(), device=fo.device) - (torch.cumsum(counts, 0) - counts)[seg]
    nxt = first + torch.where(local + 1 == counts[seg], torch.zeros_like(local), local + 1)
    return first + local, nxt, seg


@functools.lru_cache(maxsize=16)
def _rotations(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The coordinate orders ``(y, z, x)`` and ``(z, x, y)`` as index tensors (constants of a traced replay)."""
    return torch.tensor([1, 2, 0], device=device), torch.tensor([2, 0, 1], device=device)


def _newell_columns(mesh: MeshBatch, faces: torch.Tensor | None = None) -> torch.Tensor:
    """The Newell vectors of :func:`newell` laid out ``(S, 3, b)``: faces first, the batch last.

    Every gather and the per-face sum run on the leading dimensions, each row a contiguous run of the
    batch (on the batch-first layout the last-dimension gathers and the face sum were ~2x slower at
    batch 1024); the same operations on the same values in the same order, so the same bits."""
    vt = mesh.verts.permute(1, 2, 0).contiguous()  # (V, 3, b)
    if faces is None:
        corners, nxt, seg, count = mesh.corner_verts, mesh.corner_verts[_next_corner(mesh)], _face_of_corner(mesh), mesh.num_faces
    else:
        corners, nxt, seg = _face_corners(mesh, faces)
        corners, nxt, count = mesh.corner_verts[corners], mesh.corner_verts[nxt], int(faces.numel())
    cur, nxt = torch.index_select(vt, 0, corners), torch.index_select(vt, 0, nxt)
    # per corner ((c - n)_y (c + n)_z, (c - n)_z (c + n)_x, (c - n)_x (c + n)_y): five whole-tensor ops
    yzx, zxy = _rotations(vt.device)
    cross = torch.index_select(cur - nxt, 1, yzx) * torch.index_select(cur + nxt, 1, zxy)
    out = torch.zeros((count, 3, vt.shape[2]), dtype=vt.dtype, device=vt.device)
    return out.index_add(0, seg, cross)


def newell(mesh: MeshBatch, faces: torch.Tensor | None = None) -> torch.Tensor:
    """Each face's Newell vector (twice its vector area) ``(b, F, 3)``; with ``faces (S,)`` only those
    faces' ``(b, S, 3)`` (the same sums, without touching the other faces' corners): :func:`_newell_columns`
    batch-first again, copied contiguous (a strided view would pass its layout on to every elementwise result
    computed from it)."""
    return _newell_columns(mesh, faces).permute(2, 0, 1).contiguous()


def _normalized(v: torch.Tensor, fallback: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """``v`` over its length along ``dim`` (of size 3), ``fallback`` (broadcast along ``dim``) where that is ~0."""
    sq = (v * v).sum(dim, keepdim=True)
    ok = sq > 1.0e-35
    n = v / torch.sqrt(torch.where(ok, sq, torch.ones_like(sq)))
    return torch.where(ok, n, fallback.expand_as(n))


def face_normals(mesh: MeshBatch, faces: torch.Tensor | None = None) -> torch.Tensor:
    """Unit face normals ``(b, F, 3)`` (``(0, 0, 1)`` for faces without area); with ``faces (S,)`` only
    those faces' ``(b, S, 3)``. Normalized on :func:`_newell_columns`' layout, then batch-first."""
    up = torch.tensor([[0.0], [0.0], [1.0]], dtype=mesh.verts.dtype, device=mesh.verts.device)
    return _normalized(_newell_columns(mesh, faces), up, 1).permute(2, 0, 1).contiguous()


def vertex_normals(mesh: MeshBatch) -> torch.Tensor:
    """Angle-weighted unit vertex normals ``(b, V, 3)``."""
    v = mesh.verts
    cv = mesh.corner_verts
    fn = face_normals(mesh)
    p = v[:, cv]
    to_prev = v[:, cv[_prev_corner(mesh)]] - p
    to_next = v[:, cv[_next_corner(mesh)]] - p
    zero = torch.zeros(3, dtype=v.dtype, device=v.device)
    angle = safe_acos_approx((_normalized(to_prev, zero) * _normalized(to_next, zero)).sum(-1))
    acc = torch.zeros_like(v).index_add(1, cv, fn[:, _face_of_corner(mesh)] * angle.unsqueeze(-1))
    sq = (acc * acc).sum(-1, keepdim=True)
    ok = sq > 1.0e-35
    return torch.where(ok, acc / torch.sqrt(torch.where(ok, sq, torch.ones_like(sq))), _normalized(v, zero))


def safe_acos_approx(x: torch.Tensor) -> torch.Tensor:
    """Blender's ``math::safe_acos_approx`` (the polynomial its normals weight corners with; within
    4.6e-5 of ``acos``), clamped to [0, pi]; a finite gradient everywhere."""
    m = x.abs().clamp(max=1.0)
    rest = 1.0 - m
    ok = rest > 0
    root = torch.sqrt(torch.where(ok, rest, torch.ones_like(rest)))
    a = torch.where(ok, root, torch.zeros_like(root)) * (1.5707963267 + m * (-0.213300989 + m * (0.077980478 + m * -0.02164095)))
    return torch.where(x < 0, torch.pi - a, a)


def _all_flat(mesh: MeshBatch) -> bool:
    sharp = mesh.attributes.get("sharp_face")
    return mesh.num_faces == 0 or (sharp is not None and sharp.domain == "FACE" and bool(sharp.data.all()))


def _normal_on(fctx: rt.FieldContext, true_normal: bool) -> torch.Tensor:
    mesh = fctx.mesh
    if fctx.curves is not None:  # curve normals at the control points (averaged per curve on CURVE)
        from .curve_fields import point_normals
        from .fields import curve_point_mean

        n = point_normals(fctx.curves)
        return n if fctx.domain == "POINT" else curve_point_mean(fctx.curves, n)
    if mesh is None:
        c = rt.current()
        return torch.zeros((1, fctx.size, 3), dtype=c.dtype, device=c.device)
    if fctx.domain == "FACE":
        return face_normals(mesh)
    if fctx.domain == "POINT":
        return vertex_normals(mesh)
    if fctx.domain == "EDGE":
        if mesh.edges is None:
            raise TypeError("this mesh does not track its edges, so Normal cannot be evaluated on its EDGE domain")
        vn = vertex_normals(mesh)
        zero = torch.zeros(3, dtype=vn.dtype, device=vn.device)
        return _normalized((vn[:, mesh.edges[:, 0]] + vn[:, mesh.edges[:, 1]]) * 0.5, zero)
    if fctx.domain == "CORNER":
        if not true_normal and not _all_flat(mesh):
            raise TypeError("Normal on the face corners of smooth-shaded faces (custom / split normals) is not supported")
        return face_normals(mesh)[:, _face_of_corner(mesh)]
    raise TypeError(f"Normal cannot be evaluated on the {fctx.domain} domain")


@node("GeometryNodeInputNormal", outputs=("Normal", "True Normal"), props=("legacy_corner_normals",), pure=False,
      label="Normal", modes={"legacy_corner_normals": (False,)}, grad="yes",
      notes="points, edges, faces; corners of flat faces (True Normal: every corner); curve points and curves")
def input_normal(legacy_corner_normals: bool = False):
    """Normal: VECTOR fields ``(b, N, 3)``: unit normals on the domain they are evaluated on (see the module)."""
    return (rt.Field(lambda fctx: _normal_on(fctx, False), "VECTOR", label="normal"),
            rt.Field(lambda fctx: _normal_on(fctx, True), "VECTOR", label="true normal"))


def face_area(mesh: MeshBatch) -> torch.Tensor:
    """Face areas ``(b, F)``: half the Newell vector's length."""
    n = newell(mesh)
    sq = (n * n).sum(-1)
    ok = sq > 0
    return torch.where(ok, torch.sqrt(torch.where(ok, sq, torch.ones_like(sq))), torch.zeros_like(sq)) * 0.5


def _area_on(fctx: rt.FieldContext) -> torch.Tensor:
    if fctx.mesh is None:
        c = rt.current()
        return torch.zeros((1, fctx.size), dtype=c.dtype, device=c.device)
    area = face_area(fctx.mesh)
    return area if fctx.domain == "FACE" else rt.adapt_domain(fctx.mesh, area, "FACE", fctx.domain)


@node("GeometryNodeInputMeshFaceArea", outputs=("Area",), pure=False, label="Face Area", grad="yes",
      notes="on faces; interpolated to points and corners")
def mesh_face_area():
    """Face Area: a VALUE field, ``(b, F)`` on faces (interpolated to the other domains)."""
    return rt.Field(_area_on, "VALUE", label="face area")
