"""Batched geometry containers: meshes, instances and geometry sets.

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
    "MeshBatch",
    "Attribute",
    "Instances",
    "GeometrySet",
    "join_meshes",
    "empty_mesh",
    "write_obj",
    "write_ply",
]

DOMAINS = ("POINT", "EDGE", "FACE", "CORNER", "INSTANCE")


@dataclass
class Attribute:
    """A named attribute: ``data`` is ``(B, N)`` or ``(B, N, K)`` on ``domain`` (N = domain size).

    ``type`` is Blender's attribute data type (``FLOAT``, ``INT``, ``FLOAT_VECTOR``, ``QUATERNION``,
    ...); ``None`` means "inferred from ``data``" (see ``translator.nodes.attributes.attribute_type``).
    """

    domain: str
    data: torch.Tensor
    type: str | None = None


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
        return int(self.verts.shape[0])

    @property
    def num_verts(self) -> int:
        return int(self.verts.shape[1])

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

    def expand(self, batch_size: int) -> "MeshBatch":
        """Broadcast a batch of 1 to ``batch_size`` (no copy)."""
        if self.batch_size == batch_size:
            return self
        if self.batch_size != 1:
            raise ValueError(f"cannot expand a batch of {self.batch_size} to {batch_size}")
        attrs = {k: Attribute(a.domain, a.data.expand(batch_size, *a.data.shape[1:])) for k, a in self.attributes.items()}
        return replace(self, verts=self.verts.expand(batch_size, -1, -1), attributes=attrs)

    def __getitem__(self, index) -> "MeshBatch":
        """Select batch elements (an int keeps the batch dimension)."""
        if isinstance(index, int):
            index = slice(index, index + 1)
        attrs = {k: Attribute(a.domain, a.data[index] if a.data.shape[0] != 1 else a.data) for k, a in self.attributes.items()}
        verts = self.verts[index] if self.verts.shape[0] != 1 else self.verts
        return replace(self, verts=verts, attributes=attrs)

    def to(self, device=None, dtype=None) -> "MeshBatch":
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


def empty_mesh(device=None, dtype=torch.float32) -> MeshBatch:
    return MeshBatch(
        verts=torch.zeros((1, 0, 3), device=device, dtype=dtype),
        corner_verts=torch.zeros(0, dtype=torch.long, device=device),
        face_offsets=torch.zeros(1, dtype=torch.long, device=device),
        edges=torch.zeros((0, 2), dtype=torch.long, device=device),
    )


def _broadcast_batch(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    b = max(t.shape[0] for t in tensors)
    return [t.expand(b, *t.shape[1:]) if t.shape[0] != b else t for t in tensors]


def join_meshes(meshes: list[MeshBatch]) -> MeshBatch | None:
    """Concatenate meshes in order (Blender's Join Geometry / Realize Instances order).

    Attributes present in any input are kept; inputs without one get zeros
    (Blender's default value), as Blender does.
    """
    meshes = [m for m in meshes if m is not None]
    if not meshes:
        return None
    if len(meshes) == 1:
        return meshes[0]
    vert_off = 0
    cvs, offs, edges = [], [], []
    corner_off = 0
    for m in meshes:
        cvs.append(m.corner_verts + vert_off)
        offs.append(m.face_offsets[1:] + corner_off)
        if m.edges is not None:
            edges.append(m.edges + vert_off)
        vert_off += m.num_verts
        corner_off += m.num_corners
    verts = torch.cat(_broadcast_batch([m.verts for m in meshes]), dim=1)
    attributes: dict[str, Attribute] = {}
    names = []
    for m in meshes:
        for k in m.attributes:
            if k not in names:
                names.append(k)
    for name in names:
        proto = next(m.attributes[name] for m in meshes if name in m.attributes)
        parts = []
        for m in meshes:
            a = m.attributes.get(name)
            if a is not None and a.domain == proto.domain:
                parts.append(a.data)
            else:
                n = m.domain_size(proto.domain)
                parts.append(torch.zeros((1, n, *proto.data.shape[2:]), dtype=proto.data.dtype, device=proto.data.device))
        attributes[name] = Attribute(proto.domain, torch.cat(_broadcast_batch(parts), dim=1))
    materials: list[str | None] = []
    for m in meshes:
        for mat in m.materials:
            if mat not in materials:
                materials.append(mat)
    return MeshBatch(
        verts=verts,
        corner_verts=torch.cat(cvs),
        face_offsets=torch.cat([meshes[0].face_offsets[:1]] + offs),
        edges=torch.cat(edges) if len(edges) == len(meshes) else None,
        attributes=attributes,
        materials=materials,
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

    references: list["GeometrySet"]
    reference_index: list[int]
    transforms: torch.Tensor
    attributes: dict[str, Attribute] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.reference_index)


@dataclass
class GeometrySet:
    """What flows along a geometry socket: an optional mesh and optional instances."""

    mesh: MeshBatch | None = None
    instances: Instances | None = None

    def is_empty(self) -> bool:
        return (self.mesh is None or (self.mesh.num_verts == 0 and self.mesh.num_faces == 0)) and (
            self.instances is None or self.instances.count == 0
        )


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
