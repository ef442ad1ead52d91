"""Batched geometry containers: meshes, curves, instances and geometry sets.

Shapes: ``B`` is the batch size (``1`` for values that do not depend on a
batched input; they broadcast), ``V`` vertices, ``E`` loose/explicit edges,
``F`` faces, ``C`` face corners. Topology (``corner_verts``, ``face_offsets``,
``edges``) is shared by the whole batch; positions are per batch element.
Vertex and corner order equal Blender's, so a :class:`MeshBatch` compares 1:1
with Blender's evaluated mesh.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

__all__ = [
    "CURVE_TYPES",
    "HANDLE_TYPES",
    "Attribute",
    "CurvesBatch",
    "GeometrySet",
    "Instances",
    "LazyVerts",
    "MeshBatch",
    "empty_mesh",
    "join_curves",
    "join_points",
    "mark_translation",
    "offsets_from_sizes",
    "transform_points",
    "write_obj",
    "write_ply",
]

DOMAINS = ("POINT", "EDGE", "FACE", "CORNER", "INSTANCE")


def offsets_from_sizes(sizes: torch.Tensor) -> torch.Tensor:
    """``(N + 1,)`` int64 offsets ``[0, s0, s0 + s1, ...]`` of ``sizes (N,)`` (faces' corners, curves' points)
    back to back, on ``sizes``' device."""
    return torch.cat([torch.zeros(1, dtype=torch.long, device=sizes.device), torch.cumsum(sizes, 0)])


@dataclass
class Attribute:
    """A named attribute: ``data`` is ``(B, N)`` or ``(B, N, K)`` on ``domain`` (N = domain size).

    ``type`` is Blender's attribute data type (``FLOAT``, ``INT``, ``FLOAT_VECTOR``, ``QUATERNION``,
    ...); ``None`` means "inferred from ``data``" (see ``translator.nodes.attributes.attribute_type``).
    """

    domain: str
    data: torch.Tensor
    type: str | None = None


TRANSLATIONS = True
"""Whether pending transforms marked as translations (:func:`mark_translation`) are applied as one addition."""


def mark_translation(m: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Record on ``m (4, 4)`` / ``(B, 4, 4)`` that it is exactly the translation by ``t (3,)`` / ``(B, 3)``
    (identity linear part): :class:`LazyVerts` then moves points by one addition, the same values as the
    matrix product (the identity's products are exact). The note lives on this tensor object."""
    m._shapeprog_translation = t
    return m


def _translation(m: torch.Tensor) -> torch.Tensor | None:
    """The translation ``(B, 3)`` that :func:`mark_translation` recorded on ``m (B, 4, 4)``, or None."""
    t = getattr(m, "_shapeprog_translation", None)
    return None if t is None or not TRANSLATIONS else t.reshape(-1, 3)


def _template_matrix(points: torch.Tensor) -> torch.Tensor:
    """``(12, 3N)`` matrix ``Q`` with ``A.reshape(-1, 12) @ Q == points`` transformed by the 3x4
    affine ``A`` (row-major), laid out ``(N, 3)``: ``Q[4i + k, 3v + i] = [points | 1][v, k]``."""
    hom = torch.cat([points, torch.ones_like(points[:, :1])], 1)  # (N, 4)
    eye = torch.eye(3, dtype=points.dtype, device=points.device)  # an outer product: one broadcast multiply
    return (hom.t()[None, :, :, None] * eye[:, None, None, :]).reshape(12, 3 * points.shape[0])


def transform_points(points: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Affine transform: ``points (b, N, 3)`` by ``m (4, 4)`` / ``(B, 4, 4)`` -> ``(max(b, B), N, 3)``.

    Points shared by the batch (``b == 1``) take one matrix product ``(B, 12) @ (12, 3N)`` that
    writes the result in its final layout (several times faster than a batched product of 3x3
    blocks); otherwise three fused multiply-adds (also faster than ``bmm`` for 3x3)."""
    if m.dim() == 2:
        m = m.unsqueeze(0)
    if points.shape[0] == 1 and m.shape[0] > 1:
        n = points.shape[1]
        return (m[:, :3, :].reshape(-1, 12) @ _template_matrix(points[0])).reshape(-1, n, 3)
    lin, t = m[:, :3, :3], m[:, :3, 3]
    p = points
    return (p[..., 0:1] * lin[:, None, :, 0] + p[..., 1:2] * lin[:, None, :, 1] + p[..., 2:3] * lin[:, None, :, 2]
            + t.unsqueeze(1))


class LazyVerts:
    """Vertex positions kept as parts with pending affine transforms, materialised once.

    Transforming a mesh composes 4x4 matrices instead of touching every vertex, and joining
    meshes concatenates part lists; the positions are computed when first read, each part
    with one matrix product. A part is ``(local (b, V, 3), xf)`` with ``xf`` None (identity),
    ``(B, 4, 4)`` or ``(B, n, 4, 4)`` (``n`` instances of the part laid out one after another).
    """

    __slots__ = ("parts",)

    def __init__(self, parts: list[tuple[torch.Tensor, torch.Tensor | None]]):
        self.parts = parts

    @staticmethod
    def of(verts: torch.Tensor | LazyVerts) -> LazyVerts:
        return verts if isinstance(verts, LazyVerts) else LazyVerts([(verts, None)])

    @property
    def num_verts(self) -> int:
        return sum(int(v.shape[1]) * (1 if x is None or x.dim() == 3 else int(x.shape[1])) for v, x in self.parts)

    @property
    def batch_size(self) -> int:
        return max(max(int(v.shape[0]), 1 if x is None else int(x.shape[0])) for v, x in self.parts)

    def transformed(self, m: torch.Tensor) -> LazyVerts:
        """These positions moved by ``m (4, 4)`` / ``(B, 4, 4)`` (applied after the pending transforms)."""
        mm = m if m.dim() == 3 else m.unsqueeze(0)
        t = getattr(m, "_shapeprog_translation", None)
        if t is not None:
            mark_translation(mm, t)
        out = []
        for v, x in self.parts:
            if x is None:
                out.append((v, mm))
            elif x.dim() == 3:
                xm, tx = torch.matmul(mm, x), getattr(x, "_shapeprog_translation", None)
                out.append((v, xm if t is None or tx is None else mark_translation(xm, t + tx)))
            else:
                out.append((v, torch.matmul(mm.unsqueeze(1), x)))
        return LazyVerts(out)

    def instanced(self, transforms: torch.Tensor) -> LazyVerts:
        """``n`` copies, one per instance transform ``(B, n, 4, 4)``, in instance order."""
        out = []  # (local, (B, n * m, 4, 4), m): m copies of the part per instance
        for v, x in self.parts:
            if x is None:
                out.append((v, transforms, 1))
            elif x.dim() == 3:
                out.append((v, torch.matmul(transforms, x.unsqueeze(1)), 1))
            else:  # nested instances: instance-major order of the copies
                t = torch.matmul(transforms.unsqueeze(2), x.unsqueeze(1))  # (B, n, m, 4, 4)
                out.append((v, t.reshape(t.shape[0], -1, 4, 4), int(x.shape[1])))
        if len(out) == 1:
            return LazyVerts([(out[0][0], out[0][1])])
        # several parts: a copy keeps its parts together, so interleave them per instance
        n = int(transforms.shape[1])
        return LazyVerts([(v, x[:, i * m:(i + 1) * m]) for i in range(n) for (v, x, m) in out])

    @staticmethod
    def cat(items: list[torch.Tensor | LazyVerts]) -> LazyVerts:
        parts: list = []
        for it in items:
            parts.extend(LazyVerts.of(it).parts)
        return LazyVerts(parts)

    def materialize(self) -> torch.Tensor:
        blocks = []
        for v, x in self.parts:
            if x is None:
                blocks.append(v)
            elif x.dim() == 3:
                t = _translation(x)
                blocks.append(transform_points(v, x) if t is None else v + t.unsqueeze(1))
            else:
                b, n = int(x.shape[0]), int(x.shape[1])
                if v.shape[0] == 1:
                    flat = (x[:, :, :3, :].reshape(b * n, 12) @ _template_matrix(v[0]))
                else:
                    flat = transform_points(v.unsqueeze(1).expand(-1, n, -1, -1).reshape(-1, v.shape[1], 3), x.reshape(b * n, 4, 4))
                blocks.append(flat.reshape(b, n * int(v.shape[1]), 3))
        if len(blocks) == 1:
            return blocks[0]
        bs = max(int(t.shape[0]) for t in blocks)
        return torch.cat([t.expand(bs, -1, -1) if t.shape[0] != bs else t for t in blocks], dim=1)


@dataclass
class MeshBatch:
    """A batch of meshes sharing one topology.

    Attributes:
        verts: ``(B, V, 3)`` vertex positions.
        corner_verts: ``(C,)`` int64 vertex index of each face corner, faces back to back.
        face_offsets: ``(F + 1,)`` int64; face ``f`` owns corners ``face_offsets[f]:face_offsets[f+1]``.
        edges: ``(E, 2)`` int64 explicit edges (as Blender stores them) or ``None`` when not tracked.
        attributes: named attributes (Store Named Attribute, UV maps, material index).
        materials: material slot names; ``attributes['material_index']`` indexes it.
    """

    verts: torch.Tensor
    corner_verts: torch.Tensor
    face_offsets: torch.Tensor
    edges: torch.Tensor | None = None
    attributes: dict[str, Attribute] = field(default_factory=dict)
    materials: list[str | None] = field(default_factory=list)

    @property
    def batch_size(self) -> int:
        lazy = self.__dict__.get("_lazy")
        return lazy.batch_size if lazy is not None else int(self.verts.shape[0])

    @property
    def num_verts(self) -> int:
        lazy = self.__dict__.get("_lazy")
        return lazy.num_verts if lazy is not None else int(self.verts.shape[1])

    @property
    def lazy_verts(self) -> LazyVerts:
        """The positions as (possibly still pending) :class:`LazyVerts`."""
        lazy = self.__dict__.get("_lazy")
        return lazy if lazy is not None else LazyVerts.of(self.__dict__["_verts"])

    def transformed(self, m: torch.Tensor) -> MeshBatch:
        """This mesh moved by ``m (4, 4)`` / ``(B, 4, 4)``; the positions are computed lazily."""
        return MeshBatch(self.lazy_verts.transformed(m), self.corner_verts, self.face_offsets, self.edges,
                         dict(self.attributes), list(self.materials))

    @property
    def num_faces(self) -> int:
        return int(self.face_offsets.numel()) - 1

    @property
    def num_corners(self) -> int:
        return int(self.corner_verts.numel())

    def face_sizes(self) -> torch.Tensor:
        """``(F,)`` corners per face."""
        return self.face_offsets[1:] - self.face_offsets[:-1]

    def polygons(self) -> list[list[int]]:
        """Faces as Python lists of vertex indices (for tests and writers)."""
        cv = self.corner_verts.tolist()
        off = self.face_offsets.tolist()
        return [cv[off[i] : off[i + 1]] for i in range(len(off) - 1)]

    def triangles(self) -> torch.Tensor:
        """``(T, 3)`` int64 fan triangulation of every face (Blender's faces here are convex)."""
        sizes = self.face_sizes()
        if sizes.numel() == 0:
            return torch.zeros((0, 3), dtype=torch.long, device=self.corner_verts.device)
        ntri = (sizes - 2).clamp(min=0)
        face_of_tri = torch.repeat_interleave(torch.arange(sizes.numel(), device=sizes.device), ntri)
        first_tri = torch.cumsum(ntri, 0) - ntri
        k = torch.arange(int(ntri.sum()), device=sizes.device) - first_tri[face_of_tri]
        start = self.face_offsets[:-1][face_of_tri]
        cv = self.corner_verts
        return torch.stack([cv[start], cv[start + k + 1], cv[start + k + 2]], dim=1)

    def expand(self, batch_size: int) -> MeshBatch:
        """Broadcast a batch of 1 to ``batch_size`` (no copy)."""
        if self.batch_size == batch_size:
            return self
        if self.batch_size != 1:
            raise ValueError(f"cannot expand a batch of {self.batch_size} to {batch_size}")
        attrs = {k: Attribute(a.domain, a.data.expand(batch_size, *a.data.shape[1:])) for k, a in self.attributes.items()}
        return replace(self, verts=self.verts.expand(batch_size, -1, -1), attributes=attrs)

    def __getitem__(self, index) -> MeshBatch:
        """Select batch elements (an int keeps the batch dimension)."""
        if isinstance(index, int):
            index = slice(index, index + 1)
        attrs = {k: Attribute(a.domain, a.data[index] if a.data.shape[0] != 1 else a.data) for k, a in self.attributes.items()}
        verts = self.verts[index] if self.verts.shape[0] != 1 else self.verts
        return replace(self, verts=verts, attributes=attrs)

    def to(self, device=None, dtype=None) -> MeshBatch:
        attrs = {k: Attribute(a.domain, a.data.to(device=device)) for k, a in self.attributes.items()}
        return replace(
            self,
            verts=self.verts.to(device=device, dtype=dtype),
            corner_verts=self.corner_verts.to(device),
            face_offsets=self.face_offsets.to(device),
            edges=None if self.edges is None else self.edges.to(device),
            attributes=attrs,
        )

    def domain_size(self, domain: str) -> int:
        if domain == "POINT":
            return self.num_verts
        if domain == "FACE":
            return self.num_faces
        if domain == "CORNER":
            return self.num_corners
        if domain == "EDGE":
            return 0 if self.edges is None else int(self.edges.shape[0])
        raise ValueError(f"meshes have no {domain} domain")


def _get_verts(self: MeshBatch) -> torch.Tensor:
    lazy = self.__dict__.get("_lazy")
    if lazy is not None:
        self.__dict__["_verts"] = lazy.materialize()
        self.__dict__["_lazy"] = None
    return self.__dict__["_verts"]


def _set_verts(self: MeshBatch, value: torch.Tensor | LazyVerts) -> None:
    if isinstance(value, LazyVerts):
        if len(value.parts) == 1 and value.parts[0][1] is None:
            self.__dict__["_verts"], self.__dict__["_lazy"] = value.parts[0][0], None
        else:
            self.__dict__["_verts"], self.__dict__["_lazy"] = None, value
    else:
        self.__dict__["_verts"], self.__dict__["_lazy"] = value, None


# ``verts`` stays a dataclass field (constructor argument, ``replace``) but reads through the lazy parts.
MeshBatch.verts = property(_get_verts, _set_verts, doc="``(B, V, 3)`` vertex positions (computed on first read).")


def empty_mesh(device=None, dtype=torch.float32) -> MeshBatch:
    return MeshBatch(
        verts=torch.zeros((1, 0, 3), device=device, dtype=dtype),
        corner_verts=torch.zeros(0, dtype=torch.long, device=device),
        face_offsets=torch.zeros(1, dtype=torch.long, device=device),
        edges=torch.zeros((0, 2), dtype=torch.long, device=device),
    )


@dataclass
class Instances:
    """Instances of other geometry.

    Attributes:
        references: the geometries that can be instanced.
        reference_index: ``(I,)`` Python list: which reference each instance shows.
        transforms: ``(B, I, 4, 4)`` instance transforms.
        attributes: per-instance attributes on the ``INSTANCE`` domain.
    """

    references: list[GeometrySet]
    reference_index: list[int]
    transforms: torch.Tensor
    attributes: dict[str, Attribute] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.reference_index)


#: Blender's curve types (``CurveType``), by name.
CURVE_TYPES = ("CATMULL_ROM", "POLY", "BEZIER", "NURBS")
#: Blender's Bezier handle types (``HandleType``), by name.
HANDLE_TYPES = ("FREE", "AUTO", "VECTOR", "ALIGN")


@dataclass
class CurvesBatch:
    """A batch of curves sharing one topology (Blender's ``CurvesGeometry``).

    Attributes:
        positions: ``(b, P, 3)`` control point positions.
        curve_offsets: ``(S + 1,)`` int64; curve ``i`` owns points ``curve_offsets[i]:curve_offsets[i+1]``.
        types: per curve, a name from :data:`CURVE_TYPES` (Python list: it decides topology).
        cyclic: per curve, whether it is closed (Python list).
        resolution: per curve, evaluated points per segment of Bezier curves (Python list).
        handle_left, handle_right: ``(b, P, 3)`` Bezier handle positions, or None when no curve is Bezier.
        handle_type_left, handle_type_right: ``(P,)`` int8 :data:`HANDLE_TYPES` indices, or None.
        normal_mode: per curve, ``MINIMUM_TWIST`` or ``Z_UP`` (Python list).
        attributes: POINT (``(b, P, ...)``) and CURVE (``(b, S, ...)``) attributes; ``radius`` and
            ``tilt`` (POINT, FLOAT) are Blender's built-ins (absent: radius 1, tilt 0).
    """

    positions: torch.Tensor
    curve_offsets: torch.Tensor
    types: list[str]
    cyclic: list[bool]
    resolution: list[int]
    handle_left: torch.Tensor | None = None
    handle_right: torch.Tensor | None = None
    handle_type_left: torch.Tensor | None = None
    handle_type_right: torch.Tensor | None = None
    normal_mode: list[str] = field(default_factory=list)
    attributes: dict[str, Attribute] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.normal_mode:
            self.normal_mode = ["MINIMUM_TWIST"] * self.num_curves

    @property
    def num_curves(self) -> int:
        return int(self.curve_offsets.numel()) - 1

    @property
    def num_points(self) -> int:
        return int(self.positions.shape[1])

    @property
    def batch_size(self) -> int:
        return int(self.positions.shape[0])

    def points_per_curve(self) -> list[int]:
        return (self.curve_offsets[1:] - self.curve_offsets[:-1]).tolist()

    def domain_size(self, domain: str) -> int:
        if domain == "POINT":
            return self.num_points
        if domain == "CURVE":
            return self.num_curves
        raise ValueError(f"curves have no {domain} domain")

    def has_bezier(self) -> bool:
        return "BEZIER" in self.types

    def transformed(self, m: torch.Tensor) -> CurvesBatch:
        """These curves moved by ``m (4, 4)`` / ``(B, 4, 4)`` (positions and handles)."""
        mm = m if m.dim() == 3 else m.unsqueeze(0)
        move = (lambda p: None if p is None else transform_points(p, mm))
        return replace(self, positions=move(self.positions), handle_left=move(self.handle_left),
                       handle_right=move(self.handle_right), attributes=dict(self.attributes))


def _cat_batch(tensors: list[torch.Tensor]) -> torch.Tensor:
    b = max(int(t.shape[0]) for t in tensors)
    return torch.cat([t.expand(b, *t.shape[1:]) for t in tensors], 1)


def join_curves(parts: list[CurvesBatch | None]) -> CurvesBatch | None:
    """Curves concatenated in order (Blender's join): handles where any part is Bezier (zeros for the
    other parts' points), attributes merged (a part without one gets zeros; ``radius`` gets 1)."""
    parts = [p for p in parts if p is not None and p.num_curves]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    offsets, start = [parts[0].curve_offsets[:1]], 0
    for p in parts:
        offsets.append(p.curve_offsets[1:] + start)
        start += p.num_points
    bezier = any(p.has_bezier() for p in parts)

    def handles(attr: str) -> torch.Tensor | None:
        if not bezier:
            return None
        return _cat_batch([getattr(p, attr) if getattr(p, attr) is not None else torch.zeros_like(p.positions) for p in parts])

    def handle_types(attr: str) -> torch.Tensor | None:
        if not bezier:
            return None
        return torch.cat([getattr(p, attr) if getattr(p, attr) is not None
                          else torch.zeros(p.num_points, dtype=torch.int8, device=p.positions.device) for p in parts])

    names: dict[str, tuple[str, torch.Tensor]] = {}
    for p in parts:
        for k, a in p.attributes.items():
            names.setdefault(k, (a.domain, a.data))
    attrs = {}
    for k, (domain, sample) in names.items():
        chunks = []
        for p in parts:
            a = p.attributes.get(k)
            if a is not None and a.domain == domain:
                chunks.append(a.data)
            else:
                n = p.domain_size(domain)
                fill = 1.0 if k == "radius" else 0
                chunks.append(torch.full((1, n, *sample.shape[2:]), fill, dtype=sample.dtype, device=sample.device))
        attrs[k] = Attribute(domain, _cat_batch(chunks), next(p.attributes[k].type for p in parts if k in p.attributes))
    return CurvesBatch(positions=_cat_batch([p.positions for p in parts]), curve_offsets=torch.cat(offsets),
                       types=[t for p in parts for t in p.types], cyclic=[c for p in parts for c in p.cyclic],
                       resolution=[r for p in parts for r in p.resolution], handle_left=handles("handle_left"),
                       handle_right=handles("handle_right"), handle_type_left=handle_types("handle_type_left"),
                       handle_type_right=handle_types("handle_type_right"),
                       normal_mode=[n for p in parts for n in p.normal_mode], attributes=attrs)


@dataclass
class GeometrySet:
    """What flows along a geometry socket: an optional mesh, optional curves, optional instances and an
    optional point cloud (``points``: a :class:`MeshBatch` of vertices only, its attributes on POINT; it never
    reaches the evaluated mesh, as in Blender)."""

    mesh: MeshBatch | None = None
    instances: Instances | None = None
    curves: CurvesBatch | None = None
    points: MeshBatch | None = None

    def is_empty(self) -> bool:
        return (self.mesh is None or (self.mesh.num_verts == 0 and self.mesh.num_faces == 0)) and (
            self.instances is None or self.instances.count == 0
        ) and (self.curves is None or self.curves.num_points == 0) and (self.points is None or self.points.num_verts == 0)


def join_points(parts: list[MeshBatch | None]) -> MeshBatch | None:
    """Point clouds concatenated in order: positions and POINT attributes (zeros where a part lacks one)."""
    parts = [p for p in parts if p is not None and p.num_verts]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    names: dict[str, Attribute] = {}
    for p in parts:
        for k, a in p.attributes.items():
            names.setdefault(k, a)
    attrs = {}
    for k, sample in names.items():
        chunks = [p.attributes[k].data if k in p.attributes else
                  torch.zeros((1, p.num_verts, *sample.data.shape[2:]), dtype=sample.data.dtype, device=sample.data.device)
                  for p in parts]
        attrs[k] = Attribute("POINT", _cat_batch(chunks), sample.type)
    dev = parts[0].verts.device
    return MeshBatch(verts=_cat_batch([p.verts for p in parts]), corner_verts=torch.zeros(0, dtype=torch.long, device=dev),
                     face_offsets=torch.zeros(1, dtype=torch.long, device=dev),
                     edges=torch.zeros((0, 2), dtype=torch.long, device=dev), attributes=attrs)


def write_obj(mesh: MeshBatch, path: str | Path, index: int = 0) -> None:
    """Write batch element ``index`` as Wavefront OBJ, keeping vertex and face order."""
    v = mesh.verts[index].detach().cpu().double().tolist()
    lines = ["# ShapeProg mesh"]
    lines += [f"v {x:.9g} {y:.9g} {z:.9g}" for x, y, z in v]
    lines += ["f " + " ".join(str(i + 1) for i in poly) for poly in mesh.polygons()]
    if mesh.num_faces == 0 and mesh.edges is not None:
        lines += [f"l {a + 1} {b + 1}" for a, b in mesh.edges.tolist()]
    Path(path).write_text("\n".join(lines) + "\n")


def write_ply(mesh: MeshBatch, path: str | Path, index: int = 0) -> None:
    """Write batch element ``index`` as binary PLY (plyfile), keeping vertex and face order."""
    import numpy as np
    from plyfile import PlyData, PlyElement

    v = mesh.verts[index].detach().cpu().float().numpy()
    vert = np.empty(len(v), dtype=[("x", "f4"), ("y", "f4"), ("z", "f4")])
    vert["x"], vert["y"], vert["z"] = v[:, 0], v[:, 1], v[:, 2]
    polys = mesh.polygons()
    face = np.empty(len(polys), dtype=[("vertex_indices", "O")])
    face["vertex_indices"] = [np.asarray(p, dtype=np.int32) for p in polys]
    PlyData([PlyElement.describe(vert, "vertex"), PlyElement.describe(face, "face")], text=False).write(str(path))
