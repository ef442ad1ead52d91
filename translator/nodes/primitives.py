"""Mesh primitives: Mesh Line, Cube, Grid, Cylinder, Cone, UV Sphere and Ico Sphere.

Vertex, edge and face-corner order follow Blender 5.0's ``GEO_mesh_primitive_*`` code (for
the Ico Sphere: the BMesh ``create_icosphere`` and ``subdivide_edges`` operators it runs), so
results compare 1:1 with Blender's evaluated mesh.

Counts decide topology and must be shared by the batch (:func:`translator.runtime.static`
raises :class:`~translator.runtime.TopologyVaries` otherwise); so does whether a cone radius
is exactly zero. Sizes, radii and depths are Python floats or tensors ``()`` / ``(B,)``
(vectors ``(3,)`` / ``(B, 3)``); positions ``(b, V, 3)`` are differentiable w.r.t. them, with
``b = 1`` when every input is constant (the mesh broadcasts). Everything that depends on the
counts only (index buffers, per-vertex coefficients, UVs) is built with vectorised torch ops,
cached per count tuple on the CPU and cached again per device and dtype.

UV Map outputs and the Top / Side / Bottom selections of Cylinder and Cone are anonymous
attributes stored on the mesh under a fresh name per evaluation and returned as attribute
fields, as in Blender. ``outputs_used`` (the output identifiers something reads; the generated
code passes it) skips the attributes nobody reads; ``None`` builds them all.
"""

from __future__ import annotations

import functools
import itertools
import math
import os
import struct
from collections.abc import Callable
from typing import Any

import torch

from .. import runtime as rt
from ..geometry import Attribute, GeometrySet, MeshBatch, offsets_from_sizes
from . import node

__all__ = [
    "cone_topology",
    "cube_topology",
    "edges_from_faces",
    "grid_topology",
    "ico_sphere_topology",
    "make_mesh",
    "mesh_cone",
    "mesh_cube",
    "mesh_cylinder",
    "mesh_grid",
    "mesh_ico_sphere",
    "mesh_line",
    "mesh_uv_sphere",
    "uv_sphere_topology",
]

Topology = dict[str, torch.Tensor]


def make_mesh(verts: torch.Tensor, faces: list[list[int]] | None = None, edges: torch.Tensor | None = None,
              corner_verts: torch.Tensor | None = None, face_offsets: torch.Tensor | None = None) -> MeshBatch:
    """Build a :class:`MeshBatch` from ``verts (b, V, 3)`` and faces (lists) or corner arrays."""
    dev = verts.device
    if corner_verts is None:
        faces = faces or []
        corner_verts = torch.tensor([v for f in faces for v in f], dtype=torch.long, device=dev)
        sizes = torch.tensor([len(f) for f in faces], dtype=torch.long, device=dev)
        face_offsets = offsets_from_sizes(sizes)
    return MeshBatch(verts=verts, corner_verts=corner_verts, face_offsets=face_offsets, edges=edges)


# ---------------------------------------------------------------------------
# Shared helpers

_ANONYMOUS = itertools.count()
_NO_FACES = torch.zeros(1, dtype=torch.long)


def _f32(x: float) -> float:
    """``x`` rounded to float32 (Blender computes in float32)."""
    return struct.unpack("f", struct.pack("f", x))[0]


def _count(value: Any, what: str) -> int:
    return int(rt.static(value, what))


def _single(node_name: str, **values: Any) -> None:
    """Primitive inputs are single values in Blender; a field there is a user error."""
    for key, value in values.items():
        if isinstance(value, rt.Field):
            raise TypeError(f"{node_name} {key.replace('_', ' ')} must be a single value, not a field")


def _choice(value: Any, allowed: tuple[str, ...], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(allowed)}, got {value!r}")


def _is_zero(value: Any, what: str) -> bool:
    """Whether a float input is exactly 0 as Blender's float32 sees it (shared by the batch)."""
    if isinstance(value, torch.Tensor):
        return bool(rt.static(value.detach().to(torch.float32) == 0, what))
    return _f32(float(value)) == 0.0


def _dtype(*values: Any) -> torch.dtype:
    """The float dtype of the batched inputs (the context's when all are constants)."""
    dt = None
    for v in values:
        if isinstance(v, torch.Tensor) and v.dtype.is_floating_point:
            dt = v.dtype if dt is None else torch.promote_types(dt, v.dtype)
    return dt or rt.current().dtype


def _scalar(value: Any, dtype: torch.dtype) -> torch.Tensor:
    """A float input as ``(b, 1, 1)`` for broadcasting over ``(b, V, 3)``."""
    return rt.as_float(value).to(dtype).reshape(-1, 1, 1)


def _vector(value: Any, dtype: torch.dtype) -> torch.Tensor:
    """A vector input as ``(b, 1, 3)``."""
    return rt.as_vector(value).to(dtype).reshape(-1, 1, 3)


def _params(dtype: torch.dtype, *values: Any) -> torch.Tensor:
    """Float inputs as one ``(b, K)`` matrix (``b`` = 1 when all are constants)."""
    return torch.stack(torch.broadcast_tensors(*(rt.as_float(v).to(dtype).reshape(-1) for v in values)), -1)


def _basis(*columns: torch.Tensor) -> torch.Tensor:
    """Per-parameter vertex offsets (``K`` tensors ``(V, 3)``) as the ``(K, V * 3)`` matrix that maps
    parameters ``(b, K)`` to positions (positions are linear in the float inputs)."""
    return torch.stack([c.reshape(-1) for c in columns]).to(torch.float64)


def _axes(coef: torch.Tensor) -> torch.Tensor:
    """``(3, V * 3)`` basis for positions ``coef * size`` with ``coef`` ``(V, 3)`` and ``size`` ``(b, 3)``."""
    return _basis(*(coef * torch.eye(3, dtype=coef.dtype)[k] for k in range(3)))


def _positions(topo: Topology, params: torch.Tensor) -> torch.Tensor:
    """Positions ``(b, V, 3)`` from parameters ``(b, K)``: one matrix product with the topology's basis."""
    return (params @ topo["basis"]).reshape(params.shape[0], -1, 3)


def _uv3(uv: torch.Tensor) -> torch.Tensor:
    """UVs ``(C, 2)`` as the 3D vectors Blender's UV Map output gives ``(C, 3)`` (z = 0)."""
    return torch.cat([uv, torch.zeros_like(uv[:, :1])], 1).to(torch.float64)


@functools.lru_cache(maxsize=512)
def _placed(builder: Callable[..., Topology], args: tuple, device: torch.device, dtype: torch.dtype) -> Topology:
    """``builder(*args)`` (CPU) with index tensors on ``device`` and float tensors as ``dtype``."""
    return {k: v.to(device=device, dtype=dtype if v.is_floating_point() else v.dtype) for k, v in builder(*args).items()}


def _topology(builder: Callable[..., Topology], *args: Any, dtype: torch.dtype) -> Topology:
    return _placed(builder, args, rt.current().device, dtype)


def _mesh(verts: torch.Tensor, topo: Topology) -> MeshBatch:
    """A primitive's mesh; like Blender's it has one (empty) material slot and flat-shaded faces (the
    FACE attribute ``sharp_face`` true everywhere)."""
    mesh = MeshBatch(verts=verts, corner_verts=topo["corner_verts"], face_offsets=topo["face_offsets"], edges=topo["edges"],
                     materials=[None])
    if mesh.num_faces:
        mesh.attributes["sharp_face"] = Attribute("FACE", torch.ones((1, mesh.num_faces), dtype=torch.bool,
                                                                     device=verts.device), "BOOLEAN")
    return mesh


def _wants(outputs_used: tuple[str, ...] | None, name: str) -> bool:
    return outputs_used is None or name in outputs_used


def _store(mesh: MeshBatch, what: str, domain: str, data: torch.Tensor, type: str) -> rt.Field:
    """Store ``data`` ``(b, N, ...)`` as a fresh anonymous attribute on ``mesh``; return its field."""
    name = f".{what}_{next(_ANONYMOUS)}"
    mesh.attributes[name] = Attribute(domain, data, "FLOAT_VECTOR" if type == "VECTOR" else "BOOLEAN")
    return rt.attribute_field(name, type)


def _store_uv(mesh: MeshBatch, uv: torch.Tensor) -> rt.Field:
    """UVs ``(b, C, 3)`` (z = 0) as Blender's UV Map output: a vector field on the corner domain."""
    return _store(mesh, "uv_map", "CORNER", uv, "VECTOR")


def _hash_tables(faces: int) -> int:
    """How many hash tables Blender's ``mesh_calc_edges`` uses: 1 below 1000 faces, else the
    largest power of two <= min(8, CPU count) (so the edge order depends on the machine)."""
    if faces < 1000:
        return 1
    return 1 << (min(8, os.cpu_count() or 1).bit_length() - 1)


def edges_from_faces(corner_verts: torch.Tensor, face_offsets: torch.Tensor) -> torch.Tensor:
    """Blender's ``mesh_calc_edges``: one edge per distinct vertex pair of consecutive corners
    ``(prev, corner)``, stored as ``(low, high)``, in order of first appearance within each hash
    table (table ``low & (tables - 1)``, see :func:`_hash_tables`), tables one after the other.
    ``(E, 2)``."""
    if corner_verts.numel() == 0:
        return torch.zeros((0, 2), dtype=torch.long)
    sizes = face_offsets[1:] - face_offsets[:-1]
    face = torch.repeat_interleave(torch.arange(sizes.numel()), sizes)
    corner = torch.arange(corner_verts.numel())
    start = face_offsets[:-1][face]
    prev = torch.where(corner == start, start + sizes[face] - 1, corner - 1)
    a, b = corner_verts[prev], corner_verts[corner]
    low, high = torch.minimum(a, b), torch.maximum(a, b)
    key = low * (int(corner_verts.max()) + 1) + high
    uniq, inverse = torch.unique(key, return_inverse=True)
    first = torch.full((uniq.numel(),), corner.numel(), dtype=torch.long).scatter_reduce(0, inverse, corner, "amin")
    first = first[first.argsort()]
    table = low[first] & (_hash_tables(sizes.numel()) - 1)
    first = first[torch.sort(table, stable=True).indices]
    return torch.stack([low[first], high[first]], 1)


def _line_edges(n: int) -> torch.Tensor:
    i = torch.arange(max(n - 1, 0))
    return torch.stack([i, i + 1], 1)


def _circle(n: int) -> torch.Tensor:
    """``(n, 2)`` cos / sin of Blender's ring angles: a float32 step of ``2 pi / n`` accumulated in float32."""
    delta = _f32(2.0 * (math.pi / n))
    angles, a = [], 0.0
    for _ in range(n):
        angles.append(a)
        a = _f32(a + delta)
    t = torch.tensor(angles, dtype=torch.float64)
    return torch.stack([torch.cos(t), torch.sin(t)], 1)


# ---------------------------------------------------------------------------
# Mesh Line

def _check_line(n) -> str | None:
    mode = n.properties.get("mode")
    if mode not in ("OFFSET", "END_POINTS"):
        return f"Mesh Line mode {mode!r} is not supported"
    if mode == "END_POINTS" and n.properties.get("count_mode") not in ("TOTAL", "RESOLUTION"):
        return f"Mesh Line count mode {n.properties.get('count_mode')!r} is not supported"
    return None


def _line_mesh(start: torch.Tensor, delta: torch.Tensor, n: int) -> GeometrySet:
    """``n`` points ``start + i * delta`` (``(b, 1, 3)`` each) joined by edges ``(i, i + 1)``."""
    if n < 1:
        return GeometrySet()
    rt.check_size(n, f"a line of {n:,} points")
    i = torch.arange(n, dtype=start.dtype, device=start.device).reshape(1, n, 1)
    verts = start + i * delta
    edges = _line_edges(n).to(start.device)
    return GeometrySet(mesh=MeshBatch(verts=verts, corner_verts=_NO_FACES[:0].to(start.device),
                                      face_offsets=_NO_FACES.to(start.device), edges=edges, materials=[None]))


@node("GeometryNodeMeshLine", outputs=("Mesh",), props=("mode", "count_mode"), pure=False, check=_check_line,
      label="Mesh Line", modes={"mode": ("OFFSET", "END_POINTS"), "count_mode": ("TOTAL", "RESOLUTION")}, grad="yes")
def mesh_line(mode="OFFSET", count_mode="TOTAL", count=10, resolution=1.0, start_location=(0.0, 0.0, 0.0),
              offset=(0.0, 0.0, 1.0)):
    """Mesh Line: ``count`` points ``start + i * offset`` (OFFSET), or spread from the start to the
    end location (END_POINTS; the end is the ``offset`` socket). With count mode RESOLUTION the
    count is ``int(length / max(resolution, 0.0001) + 1)`` (float32) and the points are
    ``resolution`` apart along the line. Edges ``(i, i + 1)``; positions ``(b, count, 3)``."""
    _choice(mode, ("OFFSET", "END_POINTS"), "Mesh Line mode")
    _choice(count_mode, ("TOTAL", "RESOLUTION"), "Mesh Line count mode")
    _single("Mesh Line", resolution=resolution, start_location=start_location, offset=offset)
    dt = _dtype(start_location, offset, resolution)
    start, off = _vector(start_location, dt), _vector(offset, dt)
    if mode == "END_POINTS" and count_mode == "RESOLUTION":
        total = off - start
        res = torch.clamp(rt.as_float(resolution).to(dt).reshape(-1, 1, 1), min=0.0001)
        t32, r32 = total.detach().to(torch.float32), res.detach().to(torch.float32)
        length32 = torch.sqrt((t32 * t32).sum(-1, keepdim=True))
        n = _count(torch.trunc(length32 / r32 + 1.0).long().reshape(-1), "Mesh Line count")
        length = torch.linalg.vector_norm(total, dim=-1, keepdim=True)
        ok = length > 1e-35
        direction = torch.where(ok, total / torch.where(ok, length, torch.ones_like(length)), torch.zeros_like(total))
        return _line_mesh(start, direction * res, n)
    n = _count(count, "Mesh Line count")
    if mode == "END_POINTS":
        delta = (off - start) / (n - 1) if n > 1 else torch.zeros_like(off - start)
        return _line_mesh(start, delta, n)
    return _line_mesh(start, off, n)


# ---------------------------------------------------------------------------
# Grid

@functools.lru_cache(maxsize=64)
def grid_topology(vx: int, vy: int) -> Topology:
    """Blender's ``create_grid_mesh``: vertex ``ix * vy + iy`` (y fastest) at ``coef * size``
    (``coef`` ``(V, 2)`` in ``[-0.5, 0.5]``), one quad per cell ``[v, v + vy, v + vy + 1, v + 1]``
    (cells x-major), edges along y then along x, UVs ``(C, 2)`` = (ix / ex, iy / ey)."""
    ex, ey = vx - 1, vy - 1
    ix = torch.arange(vx).repeat_interleave(vy)
    iy = torch.arange(vy).repeat(vx)
    fx = ix / ex - 0.5 if ex else torch.zeros(vx * vy, dtype=torch.float64)
    fy = iy / ey - 0.5 if ey else torch.zeros(vx * vy, dtype=torch.float64)
    cx = torch.arange(ex).repeat_interleave(ey)
    cy = torch.arange(ey).repeat(ex)
    v = cx * vy + cy
    corner_verts = torch.stack([v, v + vy, v + vy + 1, v + 1], 1).reshape(-1)
    y_edges = torch.arange(vx * vy).reshape(vx, vy)[:, :ey].reshape(-1)
    x_edges = (torch.arange(ex).reshape(1, ex) * vy + torch.arange(vy).reshape(vy, 1)).reshape(-1)
    edges = torch.cat([torch.stack([y_edges, y_edges + 1], 1), torch.stack([x_edges, x_edges + vy], 1)])
    cix, ciy = ix[corner_verts], iy[corner_verts]
    zero = torch.zeros(vx * vy, dtype=torch.float64)
    return {
        "corner_verts": corner_verts,
        "face_offsets": offsets_from_sizes(torch.full((ex * ey,), 4, dtype=torch.long)),
        "edges": edges,
        "coef": torch.stack([fx, fy, zero], 1).to(torch.float64),
        "basis": _basis(torch.stack([fx, zero, zero], 1), torch.stack([zero, fy, zero], 1)),
        "uv": _uv3(torch.stack([cix / max(ex, 1), ciy / max(ey, 1)], 1)),
    }


def _grid_uv(topo: Topology, size_u: torch.Tensor, size_v: torch.Tensor) -> torch.Tensor:
    """Grid UVs ``(b, C, 3)``: Blender sets a UV coordinate to 0 where that size is exactly 0."""
    uv = topo["uv"].unsqueeze(0)
    keep = torch.stack([size_u != 0, size_v != 0, torch.ones_like(size_u, dtype=torch.bool)], -1).reshape(-1, 1, 3)
    return torch.where(keep, uv, torch.zeros_like(uv))


@node("GeometryNodeMeshGrid", outputs=("Mesh", "UV Map"), pure=False, outputs_arg=True,
      label="Grid", notes="UV Map output", grad="yes")
def mesh_grid(size_x=1.0, size_y=1.0, vertices_x=3, vertices_y=3, outputs_used=None):
    """Grid: ``vertices_x * vertices_y`` points in the XY plane, centred, ``size_x`` by ``size_y``.
    Counts below 1 give an empty geometry. Returns ``(geometry, uv_map_field)``."""
    _single("Grid", size_x=size_x, size_y=size_y)
    vx, vy = _count(vertices_x, "Grid Vertices X"), _count(vertices_y, "Grid Vertices Y")
    if vx < 1 or vy < 1:
        return GeometrySet(), (0.0, 0.0, 0.0)
    rt.check_size(5 * vx * vy, f"Grid ({vx:,} x {vy:,} vertices)")
    dt = _dtype(size_x, size_y)
    params = _params(dt, size_x, size_y)
    topo = _topology(grid_topology, vx, vy, dtype=dt)
    mesh = _mesh(_positions(topo, params), topo)
    uv = (0.0, 0.0, 0.0)
    if _wants(outputs_used, "UV Map") and mesh.num_faces:
        uv = _store_uv(mesh, _grid_uv(topo, params[:, 0], params[:, 1]))
    return GeometrySet(mesh=mesh), uv


# ---------------------------------------------------------------------------
# Cube

# Cube sides in Blender's face order: the axis held fixed (and at which end), the axis that
# varies fastest ("inner") and slowest ("outer"), the quad's corner steps along (inner, outer),
# and the UV layout u = u0 + su * inner / 4e_inner, v = v0 + sv * outer / 4e_outer.
_CUBE_SIDES = (
    # fixed, at max, inner, outer, corner steps,                      u0,   su,  v0,    sv
    (2, False, 0, 1, ((0, 0), (0, 1), (1, 1), (1, 0)), 0.25, 1.0, 0.375, -1.0),  # bottom (-Z)
    (1, False, 0, 2, ((0, 0), (1, 0), (1, 1), (0, 1)), 0.25, 1.0, 0.375, 1.0),   # front (-Y)
    (2, True, 0, 1, ((0, 0), (1, 0), (1, 1), (0, 1)), 0.25, 1.0, 0.625, 1.0),    # top (+Z)
    (1, True, 0, 2, ((0, 0), (0, 1), (1, 1), (1, 0)), 1.0, -1.0, 0.375, 1.0),    # back (+Y)
    (0, False, 1, 2, ((0, 0), (0, 1), (1, 1), (1, 0)), 0.25, -1.0, 0.375, 1.0),  # left (-X)
    (0, True, 1, 2, ((0, 0), (1, 0), (1, 1), (0, 1)), 0.5, 1.0, 0.375, 1.0),     # right (+X)
)


def _cuboid_index(ix: torch.Tensor, iy: torch.Tensor, iz: torch.Tensor, v: tuple[int, int, int]) -> torch.Tensor:
    """Vertex index of surface grid point ``(ix, iy, iz)`` in Blender's cuboid order: the bottom
    and top layers are full ``vx * vy`` grids, the layers between hold only the boundary ring
    (row y = 0, then x = 0 / x = ex for each inner y, then row y = ey); x varies fastest."""
    vx, vy, vz = v
    ex, ey, ez = vx - 1, vy - 1, vz - 1
    full, ring = vx * vy, 2 * vx + 2 * (vy - 2)
    inner_layer = (iz > 0) & (iz < ez)
    layer_start = torch.where(iz == 0, 0, torch.where(iz == ez, full + (vz - 2) * ring, full + (iz - 1) * ring))
    in_ring = torch.where(iy == 0, ix, torch.where(iy == ey, vx + 2 * (vy - 2) + ix, vx + 2 * (iy - 1) + (ix == ex).long()))
    return layer_start + torch.where(inner_layer, in_ring, iy * vx + ix)


@functools.lru_cache(maxsize=64)
def cube_topology(vx: int, vy: int, vz: int) -> Topology:
    """Blender's cuboid (all counts >= 2): surface vertices only, layer by layer in z, then y,
    then x (x fastest), at ``coef * size`` (``coef`` ``(V, 3)``); quads side by side: bottom,
    front, top, back, left, right; edges as ``mesh_calc_edges`` makes them; UVs ``(C, 2)``."""
    e = (vx - 1, vy - 1, vz - 1)
    iz, iy, ix = torch.meshgrid(torch.arange(vz), torch.arange(vy), torch.arange(vx), indexing="ij")
    surface = (iz == 0) | (iz == e[2]) | (iy == 0) | (iy == e[1]) | (ix == 0) | (ix == e[0])
    grid = torch.stack([ix[surface], iy[surface], iz[surface]], 1)  # (V, 3), already in Blender's order
    coef = grid.to(torch.float64) / torch.tensor(e, dtype=torch.float64) - 0.5
    corners, uvs = [], []
    for fixed, at_max, inner, outer, steps, u0, su, v0, sv in _CUBE_SIDES:
        o, i = torch.meshgrid(torch.arange(e[outer]), torch.arange(e[inner]), indexing="ij")
        o, i = o.reshape(-1, 1), i.reshape(-1, 1)
        di = torch.tensor([s[0] for s in steps]).reshape(1, 4)
        do = torch.tensor([s[1] for s in steps]).reshape(1, 4)
        point = [None, None, None]
        point[fixed] = torch.full_like(i + di, e[fixed] if at_max else 0)
        point[inner], point[outer] = i + di, o + do
        corners.append(_cuboid_index(point[0], point[1], point[2], (vx, vy, vz)).reshape(-1))
        u = u0 + su * (i + di).to(torch.float64) * (0.25 / e[inner])
        v = v0 + sv * (o + do).to(torch.float64) * (0.25 / e[outer])
        uvs.append(torch.stack([u, v], -1).reshape(-1, 2))
    corner_verts = torch.cat(corners)
    face_offsets = offsets_from_sizes(torch.full((corner_verts.numel() // 4,), 4, dtype=torch.long))
    return {
        "corner_verts": corner_verts,
        "face_offsets": face_offsets,
        "edges": edges_from_faces(corner_verts, face_offsets),
        "basis": _axes(coef),
        "uv": _uv3(torch.cat(uvs)),
    }


@functools.lru_cache(maxsize=64)
def _cube_degenerate_topology(vx: int, vy: int, vz: int) -> Topology:
    """A cube with a count of 1 on some axis: a point, a line along the one axis with more than
    one vertex, or a grid in the plane of the two (Blender builds the XZ grid from
    ``(vx, vz)`` turned +90 degrees about X and the YZ grid from ``(vz, vy)`` turned +90 degrees
    about Y). ``coef`` ``(V, 3)`` multiplies the size; UVs ``(C, 2)`` where there are faces."""
    counts = (vx, vy, vz)
    axes = [a for a in range(3) if counts[a] > 1]
    if len(axes) <= 1:
        n = vx * vy * vz
        coef = torch.zeros((n, 3), dtype=torch.float64)
        if axes:
            coef[:, axes[0]] = torch.arange(n, dtype=torch.float64) / (n - 1) - 0.5
        return {"corner_verts": _NO_FACES[:0], "face_offsets": _NO_FACES, "edges": _line_edges(n), "basis": _axes(coef)}
    if vz == 1:  # XY plane
        g, gx_axis, gx_sign, gy_axis = grid_topology(vx, vy), 0, 1.0, 1
    elif vy == 1:  # XZ plane: (x, y, 0) -> (x, 0, y)
        g, gx_axis, gx_sign, gy_axis = grid_topology(vx, vz), 0, 1.0, 2
    else:  # YZ plane: grid (vz, vy) turned about Y: (x, y, 0) -> (0, y, -x)
        g, gx_axis, gx_sign, gy_axis = grid_topology(vz, vy), 2, -1.0, 1
    coef = torch.zeros((g["coef"].shape[0], 3), dtype=torch.float64)
    coef[:, gx_axis] = gx_sign * g["coef"][:, 0]
    coef[:, gy_axis] = g["coef"][:, 1]
    return {**g, "coef": coef, "basis": _axes(coef)}


@node("GeometryNodeMeshCube", outputs=("Mesh", "UV Map"), pure=False, outputs_arg=True,
      label="Cube", notes="UV Map output", grad="yes")
def mesh_cube(size=(1.0, 1.0, 1.0), vertices_x=2, vertices_y=2, vertices_z=2, outputs_used=None):
    """Cube: a box of ``size`` centred at the origin with ``vertices_x/y/z`` vertices along each
    edge (a grid, a line or a point when counts are 1; empty when a count is below 1).
    Returns ``(geometry, uv_map_field)``."""
    _single("Cube", size=size)
    vx = _count(vertices_x, "Cube Vertices X")
    vy = _count(vertices_y, "Cube Vertices Y")
    vz = _count(vertices_z, "Cube Vertices Z")
    if vx < 1 or vy < 1 or vz < 1:
        return GeometrySet(), (0.0, 0.0, 0.0)
    rt.check_size(10 * (vx * vy + vy * vz + vz * vx), f"Cube ({vx:,} x {vy:,} x {vz:,} vertices)")
    dt = _dtype(size)
    s = rt.as_vector(size).to(dt).reshape(-1, 3)
    degenerate = min(vx, vy, vz) == 1
    topo = _topology(_cube_degenerate_topology if degenerate else cube_topology, vx, vy, vz, dtype=dt)
    mesh = _mesh(_positions(topo, s), topo)
    uv = (0.0, 0.0, 0.0)
    if _wants(outputs_used, "UV Map") and mesh.num_faces:
        if degenerate:  # the grid's UV axes: (x, y), (x, z) or (z, y)
            u_axis, v_axis = (0, 1) if vz == 1 else (0, 2) if vy == 1 else (2, 1)
            uv = _store_uv(mesh, _grid_uv(topo, s[:, u_axis], s[:, v_axis]))
        else:
            uv = _store_uv(mesh, topo["uv"].unsqueeze(0))
    return GeometrySet(mesh=mesh), uv


# ---------------------------------------------------------------------------
# Cylinder and Cone

_FILL_TYPES = ("NONE", "NGON", "TRIANGLE_FAN")


def _check_fill(n) -> str | None:
    fill = n.properties.get("fill_type")
    return None if fill in _FILL_TYPES else f"fill type {fill!r} is not supported"


def _rings(n: int, lo: int, count: int) -> torch.Tensor:
    """``(count, 1)`` first vertex of each of ``count`` consecutive rings of ``n`` starting at ``lo``."""
    return lo + n * torch.arange(count).reshape(count, 1)


@functools.lru_cache(maxsize=128)
def cone_topology(n: int, side: int, fill: int, fill_type: str, top_point: bool, bottom_point: bool,
                  base_z: float = 0.0) -> Topology:
    """Blender's ``create_cylinder_or_cone_mesh`` (not both ends points).

    Vertices: the top centre (a cone tip, or a triangle fan's centre), the top fill rings
    inside-out, the side rings top to bottom, the bottom fill rings outside-in, the bottom
    centre. Vertex ``i`` sits at ``circle[i] * (kt[i] radius_top + kb[i] radius_bottom)`` in x / y
    and ``(kz[i] + base_z) * depth`` in z (``basis`` maps (radius_top, radius_bottom, depth)). Faces:
    top fill, side quads, bottom fill. ``top`` / ``side`` / ``bottom`` are the selection masks
    (on faces, or on points where Blender stores them there); ``uv`` ``(C, 2)``."""
    top_center = top_point or fill_type == "TRIANGLE_FAN"
    bottom_center = bottom_point or fill_type == "TRIANGLE_FAN"
    circle = _circle(n)
    cos_sin, kr, kz = [], [], []

    def add_ring(k_top: float, k_bottom: float, z: float) -> None:
        cos_sin.append(circle)
        kr.append(torch.tensor([[k_top, k_bottom]], dtype=torch.float64).expand(n, 2))
        kz.append(torch.full((n,), z, dtype=torch.float64))

    def add_center(z: float) -> None:
        cos_sin.append(torch.zeros((1, 2), dtype=torch.float64))
        kr.append(torch.zeros((1, 2), dtype=torch.float64))
        kz.append(torch.full((1,), z, dtype=torch.float64))

    if top_center:
        add_center(0.5)
    if not top_point:
        for i in range(fill):
            add_ring((i + 1) / fill, 0.0, 0.5)
    for i in range(side - 1):
        t = (i + 1) / side
        add_ring(1.0 - t, t, 0.5 - t)
    if not bottom_point:
        for i in range(fill):
            add_ring(0.0, 1.0 - i / fill, -0.5)
    if bottom_center:
        add_center(-0.5)
    nv = sum(c.shape[0] for c in cos_sin)
    first_ring = 1 if top_center else 0
    last = nv - 1
    last_ring = last - n
    quad_rings = (0 if top_point else fill - 1) + (side if not (top_point or bottom_point) else side - 1) \
        + (0 if bottom_point else fill - 1)
    edge_rings = (0 if top_point else fill) + side - 1 + (0 if bottom_point else fill)
    j = torch.arange(n)
    j1 = (j + 1) % n

    faces, sizes = [], []
    if top_center:
        faces.append(torch.stack([first_ring + j, first_ring + j1, torch.zeros_like(j)], 1).reshape(-1))
        sizes.append(torch.full((n,), 3))
    elif fill_type == "NGON":
        faces.append(j.clone())
        sizes.append(torch.tensor([n]))
    # The top fill's faces (a tip's triangles count as side faces, as in Blender).
    top_len = 0 if top_point else (fill - 1) * n + (n if top_center else 0) + (fill_type == "NGON")
    ring = _rings(n, first_ring, quad_rings)
    faces.append(torch.stack([ring + j, ring + n + j, ring + n + j1, ring + j1], -1).reshape(-1))
    sizes.append(torch.full((quad_rings * n,), 4))
    if bottom_center:
        faces.append(torch.stack([last_ring + j, torch.full_like(j, last), last_ring + j1], 1).reshape(-1))
        sizes.append(torch.full((n,), 3))
    elif fill_type == "NGON":
        faces.append(last - j)
        sizes.append(torch.tensor([n]))
    sizes_t = torch.cat(sizes).long()
    nf = int(sizes_t.numel())
    side_len = side * n
    # Blender's own edge list: fan edges, then each ring followed by the edges to the next ring.
    edges = []
    if top_center:
        edges.append(torch.stack([torch.zeros_like(j), first_ring + j], 1))
    for i in range(edge_rings):
        r = first_ring + i * n
        edges.append(torch.stack([r + j, r + j1], 1))
        if i < edge_rings - 1:
            edges.append(torch.stack([r + j, r + n + j], 1))
    if bottom_center:
        edges.append(torch.stack([last_ring + j, torch.full_like(j, last)], 1))

    top_face = not top_point and fill_type != "NONE"
    bottom_face = not bottom_point and fill_type != "NONE"
    top = torch.zeros(nf if top_face else nv, dtype=torch.bool)
    if top_face:
        top[:top_len] = True
    else:
        top[: 1 if top_point else n] = True
    bottom = torch.zeros(nf if bottom_face else nv, dtype=torch.bool)
    if bottom_face:
        bottom[top_len + side_len:] = True
    elif bottom_point:
        bottom[last] = True
    else:
        bottom[nv - n:] = True
    side_mask = torch.zeros(nf, dtype=torch.bool)
    side_mask[top_len: top_len + side_len] = True
    circle_v, kr_v, kz_v = torch.cat(cos_sin), torch.cat(kr), torch.cat(kz) + base_z
    zero = torch.zeros_like(kz_v)
    return {
        "corner_verts": torch.cat(faces),
        "face_offsets": offsets_from_sizes(sizes_t),
        "edges": torch.cat(edges),
        "basis": _basis(torch.cat([circle_v * kr_v[:, :1], zero[:, None]], 1), torch.cat([circle_v * kr_v[:, 1:], zero[:, None]], 1),
                        torch.stack([zero, zero, kz_v], 1)),
        "uv": _uv3(_cone_uv(n, side, fill, fill_type, top_point, bottom_point)),
        "top": top,
        "side": side_mask,
        "bottom": bottom,
    }


def _cone_uv(n: int, side: int, fill: int, fill_type: str, top_point: bool, bottom_point: bool) -> torch.Tensor:
    """Blender's ``calculate_cone_uvs`` ``(C, 2)``: the top (fill or tip) as a disc around
    (0.25, 0.25), the sides as a rectangle in the upper half (all of it without fills), the bottom
    as a disc around (0.75, 0.25); discs have radius 0.225."""
    c = _circle(n) * 0.225
    c1 = c.roll(-1, 0)
    top_center = top_point or fill_type == "TRIANGLE_FAN"
    bottom_center = bottom_point or fill_type == "TRIANGLE_FAN"
    out = []

    def quads(r_a: torch.Tensor, r_b: torch.Tensor, center: torch.Tensor) -> None:
        """Rings of quads between radius factors ``r_a[k]`` and ``r_b[k]``: [a j, b j, b j+1, a j+1]."""
        a, b = r_a.reshape(-1, 1, 1), r_b.reshape(-1, 1, 1)
        out.append((torch.stack([a * c, b * c, b * c1, a * c1], 2) + center).reshape(-1, 2))

    if top_point or fill_type != "NONE":
        center = torch.tensor([0.25, 0.25], dtype=torch.float64)
        segs = side if top_point else fill
        d = 1.0 / segs
        if top_center:
            out.append(torch.stack([d * c + center, d * c1 + center, center.expand(n, 2)], 1).reshape(-1, 2))
        elif fill_type == "NGON":
            out.append(d * c + center)
        k = torch.arange(1, segs, dtype=torch.float64)
        quads(k * d, (k + 1) * d, center)
    if not top_point and not bottom_point:
        bottom = 0.0 if fill_type == "NONE" else 0.5
        xd, yd = 1.0 / n, (1.0 - bottom) / side
        i = torch.arange(side, dtype=torch.float64).reshape(-1, 1, 1)
        jj = torch.arange(n, dtype=torch.float64).reshape(1, -1, 1)
        u = torch.cat([jj, jj, jj + 1, jj + 1], -1) * xd
        v = torch.cat([i, i + 1, i + 1, i], -1) * yd + bottom
        out.append(torch.stack(torch.broadcast_tensors(u, v), -1).reshape(-1, 2))
    if bottom_point or fill_type != "NONE":
        center = torch.tensor([0.75, 0.25], dtype=torch.float64)
        segs = side if bottom_point else fill
        d = 1.0 / segs
        k = torch.arange(segs - 1, dtype=torch.float64)
        quads(1.0 - k * d, 1.0 - (k + 1) * d, center)
        if bottom_center:
            out.append(torch.stack([d * c + center, center.expand(n, 2), d * c1 + center], 1).reshape(-1, 2))
        elif fill_type == "NGON":
            out.append(d * c.flip(0) + center)
    return torch.cat(out)


def _cylinder_or_cone(n_value, side_value, fill_value, radius_top, radius_bottom, depth, fill_type: str, what: str,
                      z_offset: float, outputs_used) -> tuple:
    """Shared body of Cylinder and Cone: ``(geometry, top, side, bottom, uv_map)`` with the
    selections and UVs as attribute fields (``False`` / zero vector where Blender stores none)."""
    _choice(fill_type, _FILL_TYPES, f"{what} fill type")
    none = (GeometrySet(), False, False, False, (0.0, 0.0, 0.0))
    n = _count(n_value, f"{what} Vertices")
    if n < 3:
        return none
    side = _count(side_value, f"{what} Side Segments")
    if side < 1:
        return none
    fill = 1 if fill_type == "NONE" else _count(fill_value, f"{what} Fill Segments")
    if fill < 1:
        return none
    rt.check_size(5 * n * (side + 2 * fill + 1) + 2, f"{what} ({n:,} vertices, {side:,} side and {fill:,} fill segments)")
    top_point = _is_zero(radius_top, f"whether the {what} top radius is 0")
    bottom_point = _is_zero(radius_bottom, f"whether the {what} bottom radius is 0")
    dt = _dtype(radius_top, radius_bottom, depth)
    if top_point and bottom_point:  # a line along z (a single vertex when the depth is 0)
        d = _scalar(depth, dt)
        zeros = torch.zeros_like(d)
        if _is_zero(depth, f"whether the {what} depth is 0"):
            return _line_mesh(torch.cat([zeros, zeros, zeros], -1), zeros, 1), False, False, False, (0.0, 0.0, 0.0)
        start = torch.cat([zeros, zeros, d * (0.5 + z_offset)], -1)
        delta = torch.cat([zeros, zeros, -d / side], -1)
        return _line_mesh(start, delta, side + 1), False, False, False, (0.0, 0.0, 0.0)
    topo = _topology(cone_topology, n, side, fill, fill_type, top_point, bottom_point, z_offset, dtype=dt)
    mesh = _mesh(_positions(topo, _params(dt, radius_top, radius_bottom, depth)), topo)
    outs = []
    for name, face in (("Top", not top_point and fill_type != "NONE"), ("Side", True),
                       ("Bottom", not bottom_point and fill_type != "NONE")):
        if _wants(outputs_used, name):
            outs.append(_store(mesh, name.lower(), "FACE" if face else "POINT", topo[name.lower()].unsqueeze(0), "BOOLEAN"))
        else:
            outs.append(False)
    uv = _store_uv(mesh, topo["uv"].unsqueeze(0)) if _wants(outputs_used, "UV Map") else (0.0, 0.0, 0.0)
    return (GeometrySet(mesh=mesh), *outs, uv)


@node("GeometryNodeMeshCylinder", outputs=("Mesh", "Top", "Side", "Bottom", "UV Map"), props=("fill_type",),
      pure=False, check=_check_fill, outputs_arg=True,
      label="Cylinder", modes={"fill_type": _FILL_TYPES}, notes="Top / Side / Bottom / UV Map outputs", grad="yes")
def mesh_cylinder(fill_type="NGON", vertices=32, side_segments=1, fill_segments=1, radius=1.0, depth=2.0, outputs_used=None):
    """Cylinder: ``vertices`` around, centred, z in ``[-depth / 2, depth / 2]``; fill NONE / NGON /
    TRIANGLE_FAN caps (``fill_segments`` rings, ignored for NONE). Radius 0 gives a line of
    ``side_segments + 1`` points. Returns ``(geometry, top, side, bottom, uv_map)``."""
    _single("Cylinder", radius=radius, depth=depth)
    return _cylinder_or_cone(vertices, side_segments, fill_segments, radius, radius, depth, fill_type, "Cylinder", 0.0,
                             outputs_used)


@node("GeometryNodeMeshCone", outputs=("Mesh", "Top", "Bottom", "Side", "UV Map"), props=("fill_type",),
      pure=False, check=_check_fill, outputs_arg=True,
      label="Cone", modes={"fill_type": _FILL_TYPES}, notes="Top / Bottom / Side / UV Map outputs", grad="yes")
def mesh_cone(fill_type="NGON", vertices=32, side_segments=1, fill_segments=1, radius_top=0.0, radius_bottom=1.0,
              depth=2.0, outputs_used=None):
    """Cone: like the cylinder with separate top and bottom radii and its base at z = 0 (z in
    ``[0, depth]``). A radius that is exactly 0 (in float32) collapses that end to one tip vertex
    (and the fill there disappears); both 0 give a line. Returns ``(geometry, top, bottom, side, uv_map)``."""
    _single("Cone", radius_top=radius_top, radius_bottom=radius_bottom, depth=depth)
    geo, top, side, bottom, uv = _cylinder_or_cone(vertices, side_segments, fill_segments, radius_top, radius_bottom, depth,
                                                   fill_type, "Cone", 0.5, outputs_used)
    return geo, top, bottom, side, uv


# ---------------------------------------------------------------------------
# UV Sphere

@functools.lru_cache(maxsize=64)
def uv_sphere_topology(segments: int, rings: int) -> Topology:
    """Blender's ``create_uv_sphere_mesh``: the top pole, ``rings - 1`` rings top to bottom (ring
    vertex ``s`` at angle ``(s + 1) * 2 pi / segments``, computed in float32), the bottom pole.
    ``unit`` ``(V, 3)`` are the positions for radius 1; top fan ``[0, r s, r s+1]``, quads, bottom
    fan ``[last, r s+1, r s]``; Blender's edge order; UVs ``(C, 2)``."""
    n = segments
    dphi, dtheta = _f32(2.0 * math.pi / n), _f32(math.pi / rings)
    phi = torch.tensor([_f32(s * dphi) for s in range(1, n + 1)], dtype=torch.float64)
    theta = torch.tensor([_f32(r * dtheta) for r in range(1, rings)], dtype=torch.float64)
    st, ct = torch.sin(theta).reshape(-1, 1), torch.cos(theta).reshape(-1, 1)
    ring_pts = torch.stack(torch.broadcast_tensors(st * torch.cos(phi), st * torch.sin(phi), ct), -1).reshape(-1, 3)
    pole = torch.tensor([[0.0, 0.0, 1.0]], dtype=torch.float64)
    unit = torch.cat([pole, ring_pts, -pole])
    last = unit.shape[0] - 1
    j = torch.arange(n)
    j1 = (j + 1) % n
    top = torch.stack([torch.zeros_like(j), 1 + j, 1 + j1], 1).reshape(-1)
    r = _rings(n, 1, rings - 2)
    quads = torch.stack([r + j, r + n + j, r + n + j1, r + j1], -1).reshape(-1)
    lr = last - n
    bottom = torch.stack([torch.full_like(j, last), lr + j1, lr + j], 1).reshape(-1)
    sizes = torch.cat([torch.full((n,), 3), torch.full(((rings - 2) * n,), 4), torch.full((n,), 3)])
    edges = [torch.stack([torch.zeros_like(j), 1 + j], 1)]
    for ring in range(rings - 1):
        s = 1 + ring * n
        edges.append(torch.stack([s + j, s + j1], 1))
        if ring < rings - 2:
            edges.append(torch.stack([s + j, s + n + j], 1))
    edges.append(torch.stack([torch.full_like(j, last), lr + j], 1))
    # UVs (Blender's calculate_sphere_uvs)
    inv = 1.0 / n
    js = j.to(torch.float64).reshape(-1, 1)
    dy = 1.0 / rings
    uv_top = torch.stack([torch.cat([(js + 0.5) * inv, js * inv, (js + 1) * inv], 1),
                          torch.tensor([[0.0, dy, dy]], dtype=torch.float64).expand(n, 3)], -1).reshape(-1, 2)
    ri = torch.arange(1, rings - 1, dtype=torch.float64).reshape(-1, 1, 1)
    jq = js.reshape(1, -1, 1)
    u = torch.cat([jq, jq, jq + 1, jq + 1], -1) * inv
    v = torch.cat([ri, ri + 1, ri + 1, ri], -1) / rings
    uv_quads = torch.stack(torch.broadcast_tensors(u, v), -1).reshape(-1, 2)
    uv_bottom = torch.stack([torch.cat([(js + 0.5) * inv, (js + 1) * inv, js * inv], 1),
                             torch.tensor([[1.0, 1.0 - dy, 1.0 - dy]], dtype=torch.float64).expand(n, 3)], -1).reshape(-1, 2)
    return {
        "corner_verts": torch.cat([top, quads, bottom]),
        "face_offsets": offsets_from_sizes(sizes.long()),
        "edges": torch.cat(edges),
        "basis": _basis(unit),
        "uv": _uv3(torch.cat([uv_top, uv_quads, uv_bottom])),
    }


@node("GeometryNodeMeshUVSphere", outputs=("Mesh", "UV Map"), pure=False, outputs_arg=True,
      label="UV Sphere", notes="UV Map output", grad="yes")
def mesh_uv_sphere(segments=32, rings=16, radius=1.0, outputs_used=None):
    """UV Sphere of ``radius`` with ``segments`` around and ``rings`` from pole to pole (fewer than
    3 segments or 2 rings give an empty geometry). Returns ``(geometry, uv_map_field)``."""
    _single("UV Sphere", radius=radius)
    n, r = _count(segments, "UV Sphere Segments"), _count(rings, "UV Sphere Rings")
    if n < 3 or r < 2:
        return GeometrySet(), (0.0, 0.0, 0.0)
    rt.check_size(5 * n * r, f"UV Sphere ({n:,} segments, {r:,} rings)")
    dt = _dtype(radius)
    topo = _topology(uv_sphere_topology, n, r, dtype=dt)
    mesh = _mesh(_positions(topo, _params(dt, radius)), topo)
    uv = _store_uv(mesh, topo["uv"].unsqueeze(0)) if _wants(outputs_used, "UV Map") else (0.0, 0.0, 0.0)
    return GeometrySet(mesh=mesh), uv


# ---------------------------------------------------------------------------
# Ico Sphere
#
# Blender builds the icosahedron below (vertex coordinates for radius 200, faces in creation
# order, per-corner UVs as indices into _ICO_U / _ICO_V) and, for subdivision s > 1, runs
# BMesh's subdivide_edges on it with n = 2**(s-1) - 1 cuts, grid fill and sphere projection.
# That splits every edge into n + 1 pieces (edges in creation order, cut vertices from each
# edge's first vertex), then fills the faces from the last to the first. Each face becomes a
# triangular grid: row r = 0..n+1 from the face's third corner c2 down to the edge c0-c1, with
# L(r, 0) on edge c2-c0, L(r, r) on edge c1-c2 and L(r, c) in between; the face keeps the
# bottom-left triangle, and the pieces appear in the order of the face splits. The layout was
# checked step by step against a BMesh emulation (tests) and against Blender.

_ICO_VERTS = (
    (0.0, 0.0, -200.0), (144.72, -105.144, -89.443), (-55.277, -170.128, -89.443), (-178.885, 0.0, -89.443),
    (-55.277, 170.128, -89.443), (144.72, 105.144, -89.443), (55.277, -170.128, 89.443), (-144.72, -105.144, 89.443),
    (-144.72, 105.144, 89.443), (55.277, 170.128, 89.443), (178.885, 0.0, 89.443), (0.0, 0.0, 200.0),
)
_ICO_FACES = (
    (0, 1, 2), (1, 0, 5), (0, 2, 3), (0, 3, 4), (0, 4, 5), (1, 5, 10), (2, 1, 6), (3, 2, 7), (4, 3, 8), (5, 4, 9),
    (1, 10, 6), (2, 6, 7), (3, 7, 8), (4, 8, 9), (5, 9, 10), (6, 10, 11), (7, 6, 11), (8, 7, 11), (9, 8, 11), (10, 9, 11),
)
_ICO_U = (0.0, 0.09091, 0.181819, 0.272728, 0.363637, 0.454546, 0.545455, 0.636364, 0.727273, 0.818182, 0.909091, 1.0)
_ICO_V = (0.0, 0.157461, 0.314921, 0.472382)
_ICO_UV_U = "231345ab98976753541329ba7985763421209a87865642430218a9687465"  # hex index into _ICO_U per corner
_ICO_UV_V = "011101011011011112112112112112122122122122122223223223223223"  # index into _ICO_V per corner


def _ico_base_edges() -> torch.Tensor:
    """The icosahedron's 30 edges in BMesh creation order: each face ``(a, b, c)`` adds the
    missing ones of ``(c, a)``, ``(a, b)``, ``(b, c)``."""
    seen, edges = set(), []
    for f in _ICO_FACES:
        for a, b in ((f[2], f[0]), (f[0], f[1]), (f[1], f[2])):
            if frozenset((a, b)) not in seen:
                seen.add(frozenset((a, b)))
                edges.append((a, b))
    return torch.tensor(edges)


def _ico_face_grid(n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One subdivided face in local vertex ids (corners 0, 1, 2; cuts of c0-c1, c1-c2, c2-c0 at
    ``3 + k``, ``3 + n + k``, ``3 + 2n + k`` counted from the first corner; inner vertices from
    ``3 + 3n`` in creation order). Returns the grid ``L`` ``(n + 2, n + 2)`` (-1 off the
    triangle), the faces ``(T, 3)`` in creation order (face 0 keeps the original face's slot),
    the edges the fill creates ``(E, 2)`` in creation order, and the barycentric weights of
    every local vertex on (c0, c1, c2) ``(3 + 3n + n(n-1)/2, 3)``."""
    L = torch.full((n + 2, n + 2), -1, dtype=torch.long)
    L[0, 0] = 2
    for r in range(1, n + 1):
        L[r, 0] = 3 + 2 * n + (r - 1)
        L[r, r] = 3 + n + (n - r)
        L[r, 1:r] = 3 + 3 * n + (r - 1) * (r - 2) // 2 + torch.arange(r - 1)
    L[n + 1, 0], L[n + 1, n + 1] = 0, 1
    L[n + 1, 1:n + 1] = 3 + torch.arange(n)

    def up(r, c):
        return torch.stack([L[r + 1, c], L[r + 1, c + 1], L[r, c]], -1)

    def down(r, c):
        return torch.stack([L[r, c], L[r + 1, c + 1], L[r, c + 1]], -1)

    tri = torch.tril_indices(n, n)
    r, c = tri[0] + 1, tri[1]  # every (r, c) with 1 <= r <= n, 0 <= c < r, row by row
    rows = torch.arange(n)
    faces = torch.cat([
        up(torch.tensor([n]), torch.tensor([0])),
        up(rows, torch.zeros_like(rows)),
        torch.stack([down(r, c), up(r, c + 1)], 1).reshape(-1, 3),
    ])
    # Each row r is first cut off by the edge L(r, 0)-L(r, r), which is then split from L(r, 0):
    # the edge keeps its slot as (L(r, r-1), L(r, r)), the pieces (L(r, c), L(r, c+1)) follow.
    row_c = torch.where(c == 0, r - 1, c - 1)
    row_edges = torch.stack([L[r, row_c], L[r, row_c + 1]], 1)
    fill_edges = torch.stack([torch.stack([L[r, c], L[r + 1, c + 1]], 1), torch.stack([L[r, c + 1], L[r + 1, c + 1]], 1)],
                             1).reshape(-1, 2)
    nloc = 3 + 3 * n + n * (n - 1) // 2
    weights = torch.zeros((nloc, 3), dtype=torch.float64)
    rr, cc = torch.tril_indices(n + 2, n + 2)
    rf, cf = rr.to(torch.float64), cc.to(torch.float64)
    weights[L[rr, cc]] = torch.stack([rf - cf, cf, n + 1 - rf], 1) / (n + 1)
    return L, faces, torch.cat([row_edges, fill_edges]), weights


def _normalize(x: torch.Tensor) -> torch.Tensor:
    return x / torch.linalg.vector_norm(x, dim=-1, keepdim=True)


@functools.lru_cache(maxsize=16)
def ico_sphere_topology(subdivisions: int) -> Topology:
    """The Ico Sphere for ``subdivisions`` (1 to 10): ``unit`` ``(V, 3)`` positions for radius 1,
    faces, edges and UVs ``(C, 2)`` in Blender's order (see the comment above)."""
    n = (1 << (subdivisions - 1)) - 1
    ico = torch.tensor(_ICO_VERTS, dtype=torch.float64) / 200.0
    base_edges = _ico_base_edges()
    L, local_faces, local_edges, weights = _ico_face_grid(n)
    m = n * (n - 1) // 2
    # Edge cuts: vertex 12 + g n + k is cut k of edge g, counted from its first vertex.
    t = (torch.arange(n, dtype=torch.float64) + 1) / (n + 1)
    a, b = ico[base_edges[:, 0]], ico[base_edges[:, 1]]
    cuts = _normalize(a.unsqueeze(1) * (1 - t).reshape(1, -1, 1) + b.unsqueeze(1) * t.reshape(1, -1, 1)).reshape(-1, 3)
    corners = _normalize(ico) if n else ico
    cut_ids = 12 + torch.arange(30 * n).reshape(30, n)
    # Local -> global vertex ids of each face; faces are filled from the last one to the first.
    pair_edge = {frozenset(e): g for g, e in enumerate(base_edges.tolist())}
    lookup = torch.empty((20, 3 + 3 * n + m), dtype=torch.long)
    for f, (c0, c1, c2) in enumerate(_ICO_FACES):
        lookup[f, :3] = torch.tensor([c0, c1, c2])
        for side, (p, q) in enumerate(((c0, c1), (c1, c2), (c2, c0))):
            g = pair_edge[frozenset((p, q))]
            ids = cut_ids[g] if int(base_edges[g, 0]) == p else cut_ids[g].flip(0)
            lookup[f, 3 + side * n: 3 + (side + 1) * n] = ids
        lookup[f, 3 + 3 * n:] = 12 + 30 * n + (19 - f) * m + torch.arange(m)
    order = torch.arange(19, -1, -1)  # processing order of the faces
    unit = torch.cat([corners, cuts, torch.zeros((20 * m, 3), dtype=torch.float64)])
    if m:
        # Inner vertex L(r, c) lies on the chord between the (projected) row ends, at c / r.
        i, j = torch.tril_indices(n - 1, n - 1)
        r, c = i + 2, j + 1  # r = 2..n, c = 1..r-1 in creation order
        lo, hi = unit[lookup[order][:, L[r, 0]]], unit[lookup[order][:, L[r, r]]]
        frac = (c.to(torch.float64) / r.to(torch.float64)).reshape(1, -1, 1)
        inner = _normalize(lo * (1 - frac) + hi * frac)  # (20, m, 3) in processing order
        unit[lookup[order][:, L[r, c]].reshape(-1)] = inner.reshape(-1, 3)
    # Faces: the 20 original slots, then each face's new pieces in processing order.
    slot_faces = lookup.gather(1, local_faces[0].expand(20, 3))
    new_faces = lookup[order][:, local_faces[1:]].reshape(-1, 3)
    corner_verts = torch.cat([slot_faces, new_faces]).reshape(-1)
    face_src = torch.cat([torch.arange(20), order.repeat_interleave(local_faces.shape[0] - 1)])
    local_of_face = torch.cat([local_faces[:1].expand(20, 3), local_faces[1:].repeat(20, 1)])
    # Edges: the original edges (ending at their last cut), the cut pieces, then the fill's edges.
    first = torch.stack([cut_ids[:, -1] if n else base_edges[:, 0], base_edges[:, 1]], 1)
    if n:
        prev = torch.cat([base_edges[:, :1], cut_ids[:, :-1]], 1)
        pieces = torch.stack([prev, cut_ids], -1).reshape(-1, 2)
    else:
        pieces = torch.zeros((0, 2), dtype=torch.long)
    fill = lookup[order][:, local_edges].reshape(-1, 2)
    # UVs: barycentric on the original face's corner UVs.
    ico_uv = torch.tensor([[_ICO_U[int(h, 16)], _ICO_V[int(v)]] for h, v in zip(_ICO_UV_U, _ICO_UV_V)],
                          dtype=torch.float64).reshape(20, 3, 2)
    uv = torch.einsum("fck,fkd->fcd", weights[local_of_face], ico_uv[face_src]).reshape(-1, 2)
    return {
        "corner_verts": corner_verts,
        "face_offsets": offsets_from_sizes(torch.full((face_src.numel(),), 3, dtype=torch.long)),
        "edges": torch.cat([first, pieces, fill]),
        "basis": _basis(unit),
        "uv": _uv3(uv),
    }


@node("GeometryNodeMeshIcoSphere", outputs=("Mesh", "UV Map"), pure=False, outputs_arg=True,
      label="Ico Sphere", notes="UV Map output", grad="yes")
def mesh_ico_sphere(radius=1.0, subdivisions=1, outputs_used=None):
    """Ico Sphere of ``|radius|``; ``subdivisions`` is clamped to 1..10 (as Blender does: 1 is the
    icosahedron). Returns ``(geometry, uv_map_field)``."""
    _single("Ico Sphere", radius=radius)
    s = min(max(_count(subdivisions, "Ico Sphere Subdivisions"), 1), 10)
    rt.check_size(70 * 4**s, f"Ico Sphere ({s} subdivisions)")
    dt = _dtype(radius)
    topo = _topology(ico_sphere_topology, s, dtype=dt)
    mesh = _mesh(_positions(topo, torch.abs(_params(dt, radius))), topo)
    uv = _store_uv(mesh, topo["uv"].unsqueeze(0)) if _wants(outputs_used, "UV Map") else (0.0, 0.0, 0.0)
    return GeometrySet(mesh=mesh), uv
