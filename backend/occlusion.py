"""An object's surroundings in a scanned scene as the fit and the metrics use them (:class:`Surroundings`).

A scanned object is not alone: it stands on the floor, against walls, next to other objects. Two things
follow, and both the fitting objective (:mod:`backend.objective`) and the scan-fit metrics
(:mod:`backend.scan_metrics`) use them, computed here once so that both agree:

* **Occlusion**: surface the sensor cannot have seen is not missing from the scan. A surface sample is
  *hidden* when it lies within ``contact`` of the neighbouring structure's points (a sofa's back against
  a wall, a bed under a pillow, a chair under a table), within ``contact`` of a wall plane or beyond it,
  at the floor (within ``floor_contact`` of it), or faces down within ``low_underside`` of the floor (the
  underside of a sofa on 8 cm legs). A triangle is *out of sight* when no sensor position could see it
  (:meth:`Surroundings.visible_faces`: the candidate rendered from a hand-held sensor's positions around
  it, ``sensor_heights`` above the room's floor and on the room's side of the walls, with the neighbours'
  points in the way): the inside of a closed cabinet, the top of a wardrobe taller than anyone holds a
  sensor, a back against a wall, the side of a night stand that faces the bed. Hidden
  samples and samples of triangles out of sight are left out of the mesh-to-scan term; the completeness and
  recall metrics, a scene's parameter evidence and the synthetic scenes' scans tell sight point by point
  (:meth:`Surroundings.visible_samples`: the inside of a cabinet's back seen through the seam between two
  drawers is seen only along the seam).
* **Free space**: the structure around the object is solid. A candidate may not reach through a wall
  (``wall``: how far its vertices reach beyond the nearby wall planes) nor swallow the points of its
  neighbours (``context``: how deep the deepest context points lie inside its closed convex parts, see
  :mod:`backend.ops.inside`).

Everything is expressed in the frame the candidates are posed in (the object frame of the fit, or the
world for the metrics): :meth:`Surroundings.from_context` moves a :class:`~backend.structures.SceneContext`
there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .cameras import Cameras, intrinsics_from_fov
from .ops.inside import ConvexParts, convex_parts, penetration_depth
from .ops.knn import ScanNeighbours
from .render import RasterSettings, render
from .structures import SceneContext

__all__ = ["Surroundings"]


@dataclass
class Surroundings:
    """The neighbouring structure of one object, in the candidates' frame.

    Attributes:
        points: ``(Q, 3)`` float32 context points (floor, walls, neighbours; not the object).
        walls: ``(W, 4)`` planes ``n . x + d = 0``, ``n`` pointing into the room.
        floor_z: height of the floor the object stands on in this frame, or None (raised object).
        contact: samples within this distance (metres) of a context point or a wall are hidden.
        floor_contact: samples within this height (metres) above the floor are hidden.
        low_underside: down-facing samples lower than this (metres) above the floor are hidden.
        room_floor_z: the room's floor (sensor heights count from it); defaults to ``floor_z``, else the
            candidate's lowest point.
        sensor_heights: heights (metres above the room's floor) a hand-held sensor is held at.
        sensor_azimuths: sensor positions per height, evenly around the object.
        sensor_pixels: the side of the square renders that decide which triangles are in sight (the objective's
            64 miss some thin parts, a few centimetres across; the metrics use 128).
        max_context_points: the ``context`` term looks at most at this many context points (a fixed random
            subset of those inside the candidates' box and above the floor).
    """

    points: torch.Tensor
    walls: torch.Tensor
    floor_z: float | None
    contact: float = 0.05
    floor_contact: float = 0.03
    low_underside: float = 0.3
    room_floor_z: float | None = None
    sensor_heights: tuple[float, ...] = (0.6, 1.3, 2.0)
    sensor_azimuths: int = 12
    sensor_pixels: int = 64
    max_context_points: int = 256

    def __post_init__(self) -> None:
        self._near = ScanNeighbours(self.points.float(), self.contact) if len(self.points) else None
        self._parts: dict[tuple, ConvexParts] = {}
        self._order = torch.randperm(len(self.points), generator=torch.Generator().manual_seed(0))
        if self.room_floor_z is None:
            self.room_floor_z = self.floor_z

    @classmethod
    def from_context(cls, context: SceneContext, frame_from_world: torch.Tensor, *, keep_within: torch.Tensor | None = None,
                     margin: float = 0.5, max_points: int = 2000, seed: int = 0, **settings) -> Surroundings:
        """``context`` (world) moved by ``frame_from_world (4, 4)``; with ``keep_within`` (``(2, 3)`` lower and
        upper corner in the new frame) only context points within ``margin`` of that box are kept, at most
        ``max_points`` of them (a seeded random subset)."""
        m = torch.as_tensor(frame_from_world, dtype=torch.float64)
        pts = context.points.double() @ m[:3, :3].T + m[:3, 3]
        if keep_within is not None and len(pts):
            lo, hi = keep_within[0].double() - margin, keep_within[1].double() + margin
            pts = pts[((pts >= lo) & (pts <= hi)).all(1)]
        if len(pts) > max_points:
            pts = pts[torch.randperm(len(pts), generator=torch.Generator().manual_seed(seed))[:max_points]]
        walls = context.walls.double().reshape(-1, 4)
        if len(walls):
            inv = torch.linalg.inv(m)  # world = inv @ frame
            n = walls[:, :3] @ inv[:3, :3]  # (R^T n) as rows
            d = walls[:, :3] @ inv[:3, 3] + walls[:, 3]
            walls = torch.cat([n, d[:, None]], 1)
        def height(z):  # frames here are gravity-aligned: heights shift, they do not turn
            return None if z is None else float(z) * float(m[2, 2]) + float(m[2, 3])

        room = context.room_floor_z if context.room_floor_z is not None else context.floor_z
        return cls(pts.float(), walls, height(context.floor_z), room_floor_z=height(room), **settings)

    # -- occlusion ------------------------------------------------------------------------------------

    def hidden(self, samples: torch.Tensor, normals: torch.Tensor | None = None) -> torch.Tensor:
        """``(...)`` bool: which surface samples ``(..., 3)`` (outward unit ``normals (..., 3)``) the sensor
        cannot have seen (see the module docstring)."""
        s = samples.detach()
        hid = torch.zeros(s.shape[:-1], dtype=torch.bool, device=s.device)
        if self._near is not None:
            hid |= self._near(s.float()) < self.contact
        if len(self.walls):
            w = self.walls.to(s.device, s.dtype)
            dist = s @ w[:, :3].T + w[:, 3]  # (..., W), positive inside the room
            hid |= (dist < self.contact).any(-1)
        if self.floor_z is not None:
            z = s[..., 2] - self.floor_z
            hid |= z < self.floor_contact
            if normals is not None:
                hid |= (normals.detach()[..., 2] < -0.5) & (z < self.low_underside)
        return hid

    def sensor_cameras(self, lo: torch.Tensor, hi: torch.Tensor) -> Cameras:
        """Where a hand-held sensor could be around the box ``lo..hi`` ``(3,)``: ``sensor_azimuths`` positions
        per height of ``sensor_heights`` (above the room's floor, else the box's bottom) at 0.7 m and at 1.8 m
        beyond the box's horizontal radius, looking at its centre; positions behind a wall are left out (all
        kept if none is left)."""
        lo, hi = lo.double(), hi.double()
        c = (lo + hi) / 2
        radius = float((hi - lo)[:2].norm()) / 2
        floor = self.room_floor_z if self.room_floor_z is not None else float(lo[2])
        eyes = torch.tensor([[float(c[0]) + dist * math.cos(2 * math.pi * k / self.sensor_azimuths),
                              float(c[1]) + dist * math.sin(2 * math.pi * k / self.sensor_azimuths), floor + h]
                             for dist in (radius + 0.7, radius + 1.8) for h in self.sensor_heights
                             for k in range(self.sensor_azimuths)], dtype=torch.float64)
        if len(self.walls):
            w = self.walls.double()
            ok = ((eyes @ w[:, :3].T + w[:, 3]) > 0.2).all(1)
            if ok.any():
                eyes = eyes[ok]
        size = float((hi - lo).norm() / 2)
        far = float((eyes - c).norm(dim=1).min())
        fov = min(120.0, max(20.0, 2.2 * math.degrees(math.atan2(size, max(far - size, 1e-3)))))
        px = self.sensor_pixels
        return Cameras.look_at(eyes.float(), c.float()[None], intrinsics=intrinsics_from_fov(px, px, fov), width=px, height=px)

    def _sight(self, verts: torch.Tensor, tris: torch.Tensor) -> tuple[Cameras, torch.Tensor, torch.Tensor]:
        """The renders of ``verts (V, 3)`` from :meth:`sensor_cameras`: the cameras, the face index ``(C, H, W)``
        (-1 where nothing of the mesh is seen: background, or a context point, splatted into the same view,
        more than ``contact`` in front of it) and the depth ``(C, H, W)``."""
        v = verts.detach().float().reshape(-1, 3)
        cams = self.sensor_cameras(v.min(0).values, v.max(0).values)
        out = render(v[None], tris, cams, RasterSettings(silhouette=False, znear=0.05))
        face, depth = out.face_index[0], out.depth[0]
        if len(self.points):  # the neighbours' points block the view (a bed beside a night stand)
            from .render.overlay import splat

            _, ctx_depth = splat(self.points, None, cams, radius=1)
            blocked = (ctx_depth > 0) & (ctx_depth < depth - self.contact)
            face = torch.where(blocked, torch.full_like(face, -1), face)
        return cams, face, depth

    @torch.no_grad()
    def visible_faces(self, verts: torch.Tensor, tris: torch.Tensor) -> torch.Tensor:
        """``(T,)`` bool: the triangles of ``verts (V, 3)`` that some sensor position sees (at least one pixel of
        one render of :meth:`sensor_cameras` where no context point, splatted into the same view, lies more than
        ``contact`` in front of it). Coarse for large triangles: one seen through a seam counts whole (the
        objective's, cached per topology); :meth:`visible_samples` tells it point by point."""
        _, face, _ = self._sight(verts, tris)
        seen = torch.zeros(len(tris), dtype=torch.bool)
        seen[face[face >= 0].unique().cpu()] = True
        return seen

    @torch.no_grad()
    def visible_samples(self, verts: torch.Tensor, tris: torch.Tensor, samples: torch.Tensor,
                        faces: torch.Tensor, tolerance: float = 0.01) -> torch.Tensor:
        """``(N,)`` bool: which surface samples ``(N, 3)`` of the mesh ``verts (V, 3)``, ``tris (T, 3)`` (on the
        triangles ``faces (N,)``) some sensor position sees: in some render of :meth:`sensor_cameras` the sample
        projects inside the image, its triangle faces the sensor, and that triangle is what the render shows (no
        context point in front of it) at the sample's pixel or at one of the eight around it (the pixels' centres
        are not the sample: a sample near an edge of its triangle may fall in a neighbour's pixel), and nothing at
        its own pixel lies in front of it by more than ``tolerance`` plus two pixels' width. Unlike
        :meth:`visible_faces` a large triangle seen only through a seam (the inside of a cabinet's back behind
        its drawers) is seen only along the seam, give or take a pixel."""
        cams, face, depth = self._sight(verts, tris)
        n_cams, (h, w) = len(cams), face.shape[-2:]
        pts = samples.detach().float().reshape(-1, 3)
        faces = faces.reshape(-1)
        v = verts.detach().float().reshape(-1, 3)[tris[faces]]  # (N, 3, 3)
        normal = torch.linalg.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
        facing = ((cams.centers.float()[:, None] - pts[None]) * normal[None]).sum(-1) > 0  # (C, N)
        uv, z = cams.project(pts)  # (C, N, 2), (C, N)
        u, r = torch.round(uv[..., 0]).long(), torch.round(uv[..., 1]).long()
        pixel = r.clamp(0, h - 1) * w + u.clamp(0, w - 1)  # (C, N)
        # nothing stands in front of the sample at its own pixel (the door before the seam's neighbour pixels)
        d_at = depth.reshape(n_cams, -1).gather(1, pixel)
        clear = (d_at <= 0) | (d_at >= z - (tolerance + 2 * z / cams.intrinsics[:, 0, None].float()))
        could = clear & facing & (z > 0.05) & (u >= 0) & (u < w) & (r >= 0) & (r < h)  # (C, N)
        flat_face = face.reshape(n_cams, -1)
        seen = (could & (flat_face.gather(1, pixel) == faces[None])).any(0)  # (N,): its own pixel shows it
        # the rest: the eight pixels around, only for the (camera, sample) pairs of samples not yet seen
        cam, idx = (could & ~seen[None]).nonzero(as_tuple=True)
        for du, dr in ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)):
            uu, rr = u[cam, idx] + du, r[cam, idx] + dr
            ok = (uu >= 0) & (uu < w) & (rr >= 0) & (rr < h)
            hit = ok & (flat_face[cam, rr.clamp(0, h - 1) * w + uu.clamp(0, w - 1)] == faces[idx])
            seen[idx[hit]] = True
        return seen.cpu()

    def structure_contact(self, samples: torch.Tensor) -> torch.Tensor:
        """``(...)`` bool: samples ``(..., 3)`` that touch the room's structure (within ``contact`` of a wall plane,
        or within ``floor_contact`` of the floor the object stands on): hidden, but held in place by it."""
        s = samples.detach()
        touch = torch.zeros(s.shape[:-1], dtype=torch.bool, device=s.device)
        if len(self.walls):
            w = self.walls.to(s.device, s.dtype)
            touch |= ((s @ w[:, :3].T + w[:, 3]).abs() < self.contact).any(-1)
        if self.floor_z is not None:
            touch |= s[..., 2] - self.floor_z < self.floor_contact
        return touch

    # -- free space -----------------------------------------------------------------------------------

    def wall_penetration(self, verts: torch.Tensor) -> torch.Tensor:
        """``(K,)``: how far (metres) the candidates ``verts (K, V, 3)`` reach beyond the walls (0 inside)."""
        if not len(self.walls):
            return verts.new_zeros(verts.shape[0]) + verts.sum() * 0
        w = self.walls.to(verts.device, verts.dtype)
        dist = verts @ w[:, :3].T + w[:, 3]  # (K, V, W)
        return torch.relu(-dist).amax(dim=(1, 2))

    def parts(self, tris: torch.Tensor, num_verts: int) -> ConvexParts:
        """The closed convex parts of a topology (cached)."""
        key = (num_verts, tris.shape[0], hash(tris.detach().cpu().numpy().tobytes()))
        if key not in self._parts:
            self._parts[key] = convex_parts(tris, num_verts)
        return self._parts[key]

    def context_penetration(self, verts: torch.Tensor, tris: torch.Tensor, deepest: int = 10) -> torch.Tensor:
        """``(K,)``: the mean depth (metres) of the ``deepest`` context points inside the candidates'
        closed convex parts (a few stray points inside count for a fraction of their depth)."""
        if not len(self.points):
            return verts.new_zeros(verts.shape[0]) + verts.sum() * 0
        lo = verts.detach().amin((0, 1)) - 0.01
        hi = verts.detach().amax((0, 1)) + 0.01
        if self.floor_z is not None:  # the floor's own points are the floor term's business
            lo[2] = max(float(lo[2]), self.floor_z + self.floor_contact)
        pts = self.points[self._order].to(verts.device)
        pts = pts[((pts >= lo) & (pts <= hi)).all(1)][: self.max_context_points]
        if not len(pts):
            return verts.new_zeros(verts.shape[0]) + verts.sum() * 0
        depth = penetration_depth(pts, verts, tris, self.parts(tris, verts.shape[1]))  # (K, Q)
        k = min(deepest, depth.shape[1])
        return depth.topk(k, dim=1).values.sum(1) / deepest
