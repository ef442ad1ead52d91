"""The fitting objective: how well candidate meshes explain one object's observations.

:class:`Objective` is called for every Adam step of every candidate, so it is
built for speed: everything about the observations is prepared once (moved
into the object frame, subsampled, clustered, downscaled), and each call only
touches the ``K`` candidate meshes, which may be of several topologies (a search
step's configurations packed as :class:`Topologies`: one call, one render, one
backward for all of them). The terms are those of :mod:`backend.losses`; each is
``(K,)`` (distances in metres):

``scan_to_mesh``
    ``mean_p huber(min(d(p, M), outlier))``: exact point-to-triangle distance
    from every scan point ``p`` to the candidate's surface ``M``, clamped so
    that stray points (mask bleeding, flying pixels) stop pulling. Computed by
    :class:`backend.ops.point_mesh.PointsToMesh` (exact).
``mesh_to_scan``
    ``sum_s huber(min(d(s, scan), truncate)) / S`` over ``S`` area-weighted
    surface samples ``s`` (:func:`backend.ops.sampling.sample_surface`, the same
    random numbers for every candidate), truncated because scans are partial.
    With RGB-D frames only the samples the sensor could have seen count (inside a
    view, not hidden by the candidate itself or by something the sensor measured
    in front of them, seen less than ``grazing_deg`` from their surface's normal).
``depth`` (RGB-D frames with instance masks)
    :func:`backend.losses.depth_l1` on the pixels inside the mask (the whole
    block of the downscaled pixel), each pixel's error clamped at ``depth_cap``
    (pixels the candidate misses count ``depth_cap``).
``silhouette`` (RGB-D frames with instance masks)
    :func:`backend.losses.silhouette_iou_loss` of the soft silhouette against the
    soft silhouette the renderer draws for the mask's outline (:func:`soft_outline`),
    ignoring pixels where another object hides this one.
``floor``
    ``relu(-min_v z_v - tolerance)``: how far the candidate sinks below the floor (the
    object frame's ``z = 0``: the scan's floor, or its lowest point), beyond a small
    tolerance for the floor estimate's error.
``bottom``
    ``relu(min_v z_v - bottom_scan - tolerance)``: how far the candidate's lowest vertex is above
    the scan's lowest points (their 0.1 % quantile): an object reaches at least as low as its
    scanned points, so a candidate may not float, trading its legs or base for a raised body
    (a bed 2 cm in the air with a frame 6 cm too low and a mattress 4 cm too thick fit the
    rest of a scan nearly as well as the truth). Only this side: where the scan misses the
    object's bottom, its lowest points are higher than the object's and the term lets the
    candidate reach lower (the ``floor`` term stops it at the floor). In a scanned room an object
    that stands on the floor (its surroundings say so) reaches the floor itself: a chair whose thin
    legs the scan missed still stands on them.
``top``
    ``relu(|max_v z_v - top_scan| - tolerance)``: how far the candidate's top is from the scan's
    top (the 99.9 % quantile of its heights), beyond a small tolerance for the noise there. The
    distance terms clamp far points and the depth term counts a pixel the candidate misses at a
    fixed cost, so neither pulls a candidate that is far too short (a bookshelf whose shelves
    aligned with the wrong ones) back up; and surface where the sensor measured nothing (above
    the object, in front of no wall) is seen by no term but the silhouette, so a cabinet 90 cm too
    tall cost only that. This term assumes the scan shows the object's top, as hand-held scans
    that look down on furniture do; set its weight to 0 for scans that cut the top off. (A
    pull on the four sides, tried too, made refinements worse: the noisy outline of a partial scan
    is a poor guide there.)
``wall`` (a scene's surroundings, :mod:`backend.occlusion`)
    ``relu(reach - tolerance)``: how far the candidate reaches beyond the walls near the object.
``context`` (a scene's surroundings)
    ``relu(depth - tolerance)``: the mean depth of the 10 deepest neighbouring points (floor, walls,
    other objects) inside the candidate's closed convex parts: a chair pushed into a table, a bed into a
    wall. With surroundings, ``mesh_to_scan`` also leaves out the surface the sensor cannot have seen
    (against a wall or a neighbour, on the floor, a low underside, out of any hand-held sensor's sight) and
    averages over the rest, the seen surface that the recall metric scores.
``free_space`` (RGB-D frames)
    :func:`backend.losses.free_space_penalty`: rendered surface in front of the
    observed depth (the sensor saw through it), clamped at ``depth_cap``, per
    object pixel.

The loss is ``sum_term weight_term * term`` with the weights of
:class:`ObjectiveConfig`; terms with weight 0 (or without the
data they need) are not computed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np
import torch

from .losses import depth_l1, free_space_penalty, robust_penalty, silhouette_iou_loss
from .object_frame import lowest_z
from .occlusion import Surroundings
from .ops.checks import triangle_corners
from .ops.knn import ScanNeighbours
from .ops.point_mesh import PointsToMesh
from .ops.sampling import face_normals, sample_surface
from .render import RenderOutput, render
from .structures import Observations
from .views import RASTER, prepare_views

__all__ = ["Objective", "ObjectiveConfig", "Topologies"]

@dataclass
class ObjectiveConfig:
    """Weights and settings of the fitting objective (a weighted sum of backend.losses terms)."""

    scan_to_mesh_weight: float = 1.0
    """Weight of the one-sided distance from scan points to the mesh surface (robust)."""
    mesh_to_scan_weight: float = 1.0
    """Weight of the distance from mesh surface samples to the scan (truncated: scans are partial)."""
    depth_weight: float = 1.0
    """Weight of the masked depth L1 (RGB-D frames only)."""
    silhouette_weight: float = 0.1
    """Weight of the soft silhouette IoU loss (RGB-D frames only). Small: depth and free space carry most of
    the outline's information, and at the downscaled render size a thin part is a pixel or two across. (0.05
    until the silhouette's thin-part bias was removed; 0.1 since: mcts at 3000 evaluations, tuning seeds 11 and
    7, 149 -> 155 of 167 discrete values right.)"""
    free_space_weight: float = 1.0
    """Weight of the penalty for mesh surface in front of observed depth (RGB-D frames only)."""
    floor_weight: float = 1.0
    """Weight of the penalty for sinking into the floor: how far (metres) the lowest vertex is more than
    ``floor_tolerance`` below it."""
    floor_tolerance: float = 0.01
    """Sinking this far (metres) into the floor costs nothing (the floor height estimated from the frames
    or the scan's lowest points is off by a few millimetres)."""
    bottom_weight: float = 1.0
    """Weight of the penalty for floating: how far (metres) the lowest vertex is more than
    ``bottom_tolerance`` above the scan's lowest points (an object reaches at least as low as its scan)."""
    bottom_tolerance: float = 0.01
    """A lowest vertex this close (metres) above the scan's lowest points costs nothing (noise)."""
    top_weight: float = 1.0
    """Weight of the penalty for a top at the wrong height: how far (metres) the highest vertex is more than
    ``top_tolerance`` above or below the scan's highest points (0 for scans that do not show the top)."""
    top_tolerance: float = 0.03
    """A top this close (metres) to the scan's costs nothing (noise spreads the highest points)."""
    huber: float = 0.02
    """Huber transition (metres) of the distance terms."""
    outlier: float = 0.3
    """Scan points farther than this (metres) from the mesh count as this far (stray points stop pulling)."""
    truncate: float = 0.1
    """Distances above this (metres) count as this in the mesh-to-scan term."""
    free_space_margin: float = 0.05
    """Mesh surface counts as seen through only this far (metres) in front of the observed depth."""
    grazing_deg: float = 75.0
    """With RGB-D frames, a surface sample counts in ``mesh_to_scan`` only where some view saw it less than this many
    degrees from its normal: depth sensors lose surfaces seen at grazing angles (a cabinet's top seen from a camera
    a little above it, its sides from the front), so the scan has no points there whatever the shape, and
    counting them charged a shape for every face that happens to graze a view (tuning seed 7's cabinet #1: the
    truth's samples on its top and a side, seen only at grazing angles, 10 cm from any scan point; its
    ``mesh_to_scan`` 0.0055 against 0.0043 for the search's fit turned 180 degrees, whose objective was lower; with
    the rule 0.0021 against 0.0017, and the truth's objective below the fit's). 90 turns it off."""
    depth_cap: float = 0.2
    """Per-pixel depth errors and free-space gaps are capped at this (metres)."""
    scan_points: int = 1500
    """Scan points of the scan-to-mesh term (a fixed random subset; mesh-to-scan uses 4x as many)."""
    surface_samples: int = 1000
    """Mesh surface samples per candidate for the mesh-to-scan term."""
    render_width: int = 80
    """RGB-D views are shrunk by an integer factor to about this many pixels across for the frame terms."""
    max_views: int = 4
    """At most this many RGB-D views enter the objective."""
    fine_scan_points: int = 12000
    """Scan points of the finer objective that decides between the best configurations at the end of a
    search (the search's own objective uses ``scan_points``): parts a few centimetres across (handles,
    round or square legs) fall between the search's points and pixels."""
    fine_render_width: int = 160
    """Render width (pixels) of the finer objective's frame terms."""
    fine_max_views: int = 6
    """RGB-D views of the finer objective."""
    wall_weight: float = 1.0
    """Weight of the penalty for reaching through a wall near the object (scenes: fit-scene): how far (metres)
    the farthest vertex is more than ``wall_tolerance`` beyond a wall plane."""
    wall_tolerance: float = 0.02
    """Reaching this far (metres) beyond a wall plane costs nothing (the plane's estimate is off by a few cm)."""
    context_weight: float = 1.0
    """Weight of the penalty for swallowing neighbouring structure (scenes): the mean depth (metres) of the
    10 deepest neighbouring points inside the candidate, beyond ``context_tolerance``."""
    context_tolerance: float = 0.02
    """Neighbouring points this deep (metres) inside the candidate cost nothing (they touch it)."""
    contact: float = 0.05
    """Scenes: surface within this distance (metres) of a neighbour's points or a wall is hidden from the sensor
    and not counted missing from the scan."""
    duel_tolerance: float = 0.01
    """The final decision between close candidates (:meth:`Objective.disagreement`) compares them only where
    their surfaces are more than this far apart (metres, about twice the sensor's depth noise at 2 m): a
    handle, a drawer's seam, an open front."""
    duel_cap: float = 0.05
    """Per-point residual cap (metres) of that comparison (a stray point counts at most this much)."""
    duel_samples: int = 4000
    """Surface samples per candidate of that comparison (the surface one candidate has and the other lacks)."""

    TERMS = ("scan_to_mesh", "mesh_to_scan", "depth", "silhouette", "free_space", "floor", "bottom", "top", "wall",
             "context")

    def weight(self, term: str) -> float:
        """The weight of ``term`` (one of :attr:`TERMS`)."""
        return float(getattr(self, f"{term}_weight"))

    def finer(self) -> ObjectiveConfig:
        """This objective with the ``fine_*`` detail (the final decision's objective)."""
        return replace(self, scan_points=self.fine_scan_points, render_width=self.fine_render_width,
                       max_views=self.fine_max_views)



class Run(NamedTuple):
    """Consecutive candidates ``start:stop`` of a batch that share one topology: its ``tris (T, 3)`` and
    ``num_verts`` (the vertices it uses; the batch's vertices beyond them are padding)."""

    start: int
    stop: int
    tris: torch.Tensor
    num_verts: int


class Topologies(NamedTuple):
    """The triangles of a batch of candidates of several topologies (discrete configurations), evaluated by
    :class:`Objective` in one call: the fixed cost of a call (the program's graph aside: the renders, the scan
    distances, the backward) is shared by every configuration of a search step instead of paid once per
    configuration.

    Attributes:
        tris: ``(K, T, 3)`` int64, each candidate's triangles padded to the largest count with degenerate
            triangles at a corner of its own (:meth:`pack`).
        runs: the :class:`Run` of each topology, in batch order.
    """

    tris: torch.Tensor
    runs: tuple[Run, ...]

    @staticmethod
    def pack(verts: Sequence[torch.Tensor], tris: Sequence[torch.Tensor]) -> tuple[torch.Tensor, Topologies]:
        """Batches of candidates of several topologies as one: ``verts[r] (K_r, V_r, 3)`` and ``tris[r] (T_r, 3)``
        -> ``(K, V, 3)`` vertices (``K = sum K_r``, ``V = max V_r``) and their :class:`Topologies`.

        Every candidate's vertices are padded with copies of its first triangle's first corner ``c`` and its
        triangles with ``(c, c, c)``: a triangle of no area at a point of the candidate's own surface, which no term
        sees (no pixel, no surface sample, no nearer point, no extent), so a packed candidate's terms equal its own
        batch's."""
        vmax = max(v.shape[1] for v in verts)
        tmax = max(t.shape[0] for t in tris)
        out_v, out_t, runs, start = [], [], [], 0
        for v, t in zip(verts, tris, strict=True):
            k, nv = v.shape[:2]
            t = t.to(device=v.device, dtype=torch.long)
            c = int(t[0, 0]) if t.shape[0] else 0
            pad = v[:, c:c + 1] if nv else v.new_zeros(k, 1, 3)
            out_v.append(torch.cat([v, pad.expand(k, vmax - nv, 3)], 1))
            out_t.append(torch.cat([t, t.new_full((tmax - t.shape[0], 3), c)]).expand(k, tmax, 3))
            runs.append(Run(start, start + k, t, nv))
            start += k
        return torch.cat(out_v), Topologies(torch.cat(out_t), tuple(runs))

    def select(self, keep: torch.Tensor) -> Topologies:
        """The topologies of the candidates ``keep`` (``(K,)`` bool), in order."""
        runs, start = [], 0
        for r in self.runs:
            n = int(keep[r.start:r.stop].sum())
            if n:
                runs.append(Run(start, start + n, r.tris, r.num_verts))
                start += n
        return Topologies(self.tris[keep], tuple(runs))


# ---------------------------------------------------------------------------
# the objective


class Objective:
    """The fitting objective for one object's observations (see the module docstring for the terms).

    Args:
        observations: :class:`backend.structures.Observations` (world frame).
        world_from_object: ``(4, 4)`` float64, the frame candidates are posed in.
        cfg: :class:`ObjectiveConfig` (weights and settings).
        device: where the work runs.
        seed: seeds the scan subsample and the surface samples.

    ``objective(verts, faces)``: ``verts (K, V, 3)`` candidate vertices in the object frame, ``faces`` their
    triangles: ``(T, 3)`` shared by the batch or the :class:`Topologies` of candidates of several topologies ->
    ``(loss (K,), {term: (K,)})``. A candidate's terms depend on its own mesh only (not on the others in the
    batch or its place there). A candidate without triangles or with non-finite vertices costs 1000.
    """

    def __init__(self, observations: Observations, world_from_object: torch.Tensor, cfg: ObjectiveConfig,
                 device: str | torch.device = "cpu", seed: int = 0):
        self.cfg = cfg
        self.device = torch.device(device)
        self.seed = int(seed)
        gen = torch.Generator().manual_seed(self.seed)
        object_from_world = torch.linalg.inv(torch.as_tensor(world_from_object, dtype=torch.float64))
        pts = observations.points.double() @ object_from_world[:3, :3].T + object_from_world[:3, 3]
        self.scan_top = float(np.quantile(pts[:, 2].numpy(), 0.999))
        """Height of the scan's top in the object frame (metres), for the ``top`` term."""
        self.scan_bottom = lowest_z(pts[:, 2])
        """Height of the scan's lowest points in the object frame (metres), for the ``bottom`` term."""
        full = pts
        order = torch.randperm(len(pts), generator=gen)
        dense = pts[order[: 4 * cfg.scan_points]] if cfg.scan_points else pts
        self.neighbours = ScanNeighbours(dense.float(), cfg.truncate).to(self.device)
        """Distances to the scan (``4 scan_points`` of its points: the targets of ``mesh_to_scan``)."""
        if cfg.scan_points and len(pts) > cfg.scan_points:
            pts = pts[order[: cfg.scan_points]]
        self.points = pts.float().to(self.device)
        """``(P, 3)`` the subset of ``scan_points`` scan points of ``scan_to_mesh``."""
        self.s2m = PointsToMesh(self.points)
        frames = getattr(observations, "frames", None)
        self.views = None
        if frames is not None and any(cfg.weight(n) > 0 for n in ("depth", "silhouette", "free_space")):
            views = prepare_views(frames, object_from_world, cfg.max_views, cfg.render_width)
            self.views = None if views is None else views.to(self.device)
        self._pixel_cache: dict[str, torch.Tensor | float] | None = None
        self.surroundings = None
        """The object's surroundings in its scene (:class:`backend.occlusion.Surroundings`), or None."""
        self._sight: dict[tuple, torch.Tensor] = {}
        context = getattr(observations, "context", None)
        if context is not None:
            box = torch.stack([full.min(0).values, full.max(0).values]).float()
            self.surroundings = Surroundings.from_context(context, object_from_world, keep_within=box, seed=self.seed,
                                                          contact=cfg.contact)
        if self.surroundings is not None and self.surroundings.floor_z is not None:
            # an object standing in a room reaches its floor, even where the scan missed its thin legs
            self.scan_bottom = min(self.scan_bottom, self.surroundings.floor_z)
        names = [n for n in ("scan_to_mesh", "mesh_to_scan", "floor", "bottom", "top") if cfg.weight(n) > 0]
        if self.surroundings is not None:
            names += [n for n in ("wall", "context") if cfg.weight(n) > 0]
        if self.views is not None:
            if self.views.mask is not None:
                names += [n for n in ("depth", "silhouette") if cfg.weight(n) > 0]
            if cfg.weight("free_space") > 0:
                names.append("free_space")
        self.terms = names
        """Names of the terms this objective computes (weight > 0 and the data they need)."""

    def _rho(self, d: torch.Tensor, clamp: float) -> torch.Tensor:
        return robust_penalty(d.clamp_max(clamp), "huber", self.cfg.huber)

    def __call__(self, verts: torch.Tensor, faces: torch.Tensor | Topologies) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        c = self.cfg
        k_ = verts.shape[0]
        names = self.terms
        if isinstance(faces, Topologies):
            tris, runs = faces.tris.to(verts.device), faces.runs
        else:
            tris = faces.to(verts.device)
            runs = (Run(0, k_, tris, verts.shape[1]),)
        bad = ~torch.isfinite(verts.detach()).reshape(k_, -1).all(1)
        for r in runs:
            if r.tris.shape[0] == 0:
                bad[r.start:r.stop] = True
        if bool(bad.any()):
            return self._without(bad, verts, faces, runs)
        terms: dict[str, torch.Tensor] = {}
        if "scan_to_mesh" in names:
            d = torch.sqrt(self.s2m(triangle_corners(verts, tris)) + 1e-12)
            terms["scan_to_mesh"] = self._rho(d, c.outlier).mean(-1)
        out = None
        if self.views is not None and any(n in names for n in ("mesh_to_scan", "depth", "silhouette", "free_space")):
            out = render(verts, tris, self.views.cameras.to(dtype=verts.dtype),
                         replace(RASTER, silhouette="silhouette" in names))
            terms.update(self._frame_terms(out, names))
        if "mesh_to_scan" in names:
            terms["mesh_to_scan"] = self._mesh_to_scan(verts, tris, runs, None if out is None else out.depth.detach())
        if "floor" in names:
            terms["floor"] = self._sunk(verts)
        if "bottom" in names:
            terms["bottom"] = torch.relu(verts[..., 2].amin(1) - self.scan_bottom - c.bottom_tolerance)
        if "top" in names:
            terms["top"] = torch.relu((verts[..., 2].amax(1) - self.scan_top).abs() - c.top_tolerance)
        if "wall" in names:
            terms["wall"] = torch.relu(self.surroundings.wall_penetration(verts) - c.wall_tolerance)
        if "context" in names:
            depth = torch.cat([self.surroundings.context_penetration(verts[r.start:r.stop, :r.num_verts], r.tris)
                               for r in runs])
            terms["context"] = torch.relu(depth - c.context_tolerance)
        loss = sum(c.weight(n) * terms[n] for n in names)
        return loss, terms

    @torch.no_grad()
    def settle(self, verts: torch.Tensor) -> torch.Tensor:
        """How far (metres, ``(K,)``, >= 0) each candidate ``verts (K, V, 3)`` must move up so that its lowest vertex
        is no more than ``floor_tolerance`` below the floor: the ``floor`` term's bound in closed form (0 for a
        candidate above it, for non-finite vertices, and when the term is off). The refinement applies it at
        every step (:class:`backend.search.refine.RefineSettings` ``settle``): a candidate whose parts grow by a
        metre in a few steps of its parameters would otherwise take dozens of small translation steps to climb
        out of the floor, and until then the floor term dominates its objective. (The ``bottom`` term's bound,
        the scan's lowest points, is left to the gradient: as a hard bound it measured worse.)"""
        if "floor" not in self.terms:
            return verts.new_zeros(verts.shape[0])
        return self._sunk(verts).nan_to_num(0.0, posinf=0.0, neginf=0.0)

    def _sunk(self, verts: torch.Tensor) -> torch.Tensor:
        """How far (metres, ``(K,)``) each candidate's lowest vertex lies more than ``floor_tolerance`` below the floor."""
        return torch.relu(-verts[..., 2].amin(1) - self.cfg.floor_tolerance)

    def _without(self, bad: torch.Tensor, verts: torch.Tensor, faces: torch.Tensor | Topologies,
                 runs: tuple[Run, ...]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The objective of a batch where the candidates ``bad (K,)`` (no triangles, non-finite vertices) cost 1000
        and the others are evaluated without them (the loss keeps the graph, so their gradients are zeros)."""
        k_ = verts.shape[0]
        big = verts.reshape(k_, -1).nan_to_num(0.0).sum(-1) * 0 + 1e3
        terms = {n: big.detach() for n in self.terms}
        if bool(bad.all()):
            return big, terms
        good = ~bad
        sub = faces.select(good) if isinstance(faces, Topologies) else faces
        loss_good, terms_good = self(verts[good], sub)
        loss = big.masked_scatter(good, loss_good)
        return loss, {n: t.masked_scatter(good, terms_good[n].detach()) for n, t in terms.items()}

    @torch.no_grad()
    def disagreement(self, verts_a: torch.Tensor, tris_a: torch.Tensor, verts_b: torch.Tensor,
                     tris_b: torch.Tensor) -> float:
        """How much worse candidate A explains the scan than candidate B *where they differ* (> 0: B is
        better), for the final decision between candidates whose whole-object objectives are close.

        On the whole object a handle's or a seam's few points are drowned in the noise of thousands of points
        both candidates explain equally well; here only the evidence that tells them apart counts:

        * the scan points whose distances to A and to B differ by more than ``duel_tolerance`` (``tau``):
          ``sum_p [phi(d_A(p)) - phi(d_B(p))] / P`` over them (``P``: all the scan points);
        * each candidate's surface the other lacks (samples more than ``tau`` from the other's surface) where
          the sensor saw through it: at the sample's pixel of a view that sees it (not hidden by the candidate
          itself), the nearest observed depth lies more than ``tau`` behind it (a handle in front of a flat
          front, a door across an open shelf): ``sum_s phi(gap(s)) / S_seen`` (``S_seen``: that candidate's
          samples some view sees), added to that candidate's cost. A pixel without a measurement is no
          evidence either way (missing data at grazing angles is not a contradiction);

        with the robust per-point residual ``phi(d) = clamp(d - tau, 0, duel_cap)`` (within the noise costs
        nothing, a stray point at most ``duel_cap``).

        Args:
            verts_a: ``(V_a, 3)`` candidate A's posed vertices (object frame); ``tris_a``: ``(T_a, 3)`` long.
            verts_b: ``(V_b, 3)``; ``tris_b``: ``(T_b, 3)``.

        Returns:
            cost(A) - cost(B), in metres x fraction of the evidence (0 when the candidates are the same shape).
        """
        c = self.cfg
        tau, cap = float(c.duel_tolerance), float(c.duel_cap)

        def phi(d: torch.Tensor) -> torch.Tensor:
            return (d - tau).clamp(0.0, cap)

        tv_a, tv_b = verts_a.float()[tris_a][None], verts_b.float()[tris_b][None]  # (1, T, 3, 3)
        d_a = torch.sqrt(self.s2m(tv_a)[0] + 1e-12)
        d_b = torch.sqrt(self.s2m(tv_b)[0] + 1e-12)
        differ = (d_a - d_b).abs() > tau
        cost = float(((phi(d_a) - phi(d_b)) * differ).sum()) / max(1, d_a.numel())

        def lacking(verts: torch.Tensor, tris: torch.Tensor, other: torch.Tensor) -> float:
            """``sum phi(gap(s)) / S_seen`` over one candidate's samples farther than ``tau`` from the other's
            triangles ``other (1, T, 3, 3)`` (without views: none, the points carry the evidence)."""
            if self.views is None:
                return 0.0
            s = sample_surface(verts.float()[None], tris, c.duel_samples, self.seed).points  # (1, S, 3)
            gap, seen = self._see_through(s, render(verts.float()[None], tris, self.views.cameras.to(dtype=torch.float32),
                                                    replace(RASTER, silhouette=False)).depth)
            if not bool(seen.any()):
                return 0.0
            apart = torch.sqrt(PointsToMesh(s[0])(other)[0] + 1e-12) > tau
            return float((phi(gap[0]) * apart).sum()) / float(seen.sum())

        return cost + lacking(verts_a, tris_a, tv_b) - lacking(verts_b, tris_b, tv_a)

    def _see_through(self, s: torch.Tensor, rendered: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """How far the sensor saw through surface samples ``s (K, S, 3)``: ``(gap (K, S), seen (K, S) bool)``;
        ``seen``: some view sees the sample (inside it, not behind the candidate's own ``rendered (K, C, h, w)``
        depth by more than ``free_space_margin``, a measurement at its pixel); ``gap``: the largest amount by
        which the nearest measured depth at its pixel lies behind it over those views (0 when none)."""
        z, inside, rend, obs = self._at_pixels(s, rendered)
        sees = inside & (rend > 0) & (z <= rend + self.cfg.free_space_margin) & (obs > 0)
        gap = torch.where(sees, (obs - z).clamp_min(0.0), torch.zeros_like(z)).amax(0)
        return gap, sees.any(0)

    def _mesh_to_scan(self, verts: torch.Tensor, tris: torch.Tensor, runs: tuple[Run, ...],
                      rendered: torch.Tensor | None) -> torch.Tensor:
        """``sum_s rho(d(s, scan)) / S`` over the surface samples the sensor could have seen (all of them
        without frames or surroundings): inside a view, in front of nothing else of the candidate (its
        ``rendered`` depth), where the sensor measured something not in front of it. In a scene the samples
        not hidden by the surroundings (:meth:`backend.occlusion.Surroundings.hidden`) and in sight count, and
        ``S`` is their number: the mean over the seen surface, which the recall metric scores, so that a
        cabinet whose back and top are hidden pays for its unscanned front as much as a free-standing one.
        Every candidate draws its samples with the same random numbers (common random numbers: the difference
        between two candidates' terms is not sampling noise, and a candidate's samples do not depend on the
        batch). ``tris``: ``(T, 3)`` or ``(K, T, 3)``; ``runs``: the candidates of each topology."""
        k_ = verts.shape[0]
        try:
            samples = sample_surface(verts, tris, self.cfg.surface_samples, self.seed, common=True)
        except ValueError:  # a candidate without surface area: nothing to sample; the others on their own
            if k_ > 1:
                return torch.cat([self._mesh_to_scan(verts[i:i + 1], tris[i:i + 1] if tris.ndim == 3 else tris,
                                                     tuple(Run(0, 1, r.tris, r.num_verts) for r in runs
                                                           if r.start <= i < r.stop),
                                                     None if rendered is None else rendered[i:i + 1])
                                  for i in range(k_)])
            return verts.reshape(k_, -1).sum(-1) * 0 + self._rho(verts.new_tensor(math.inf), self.cfg.truncate)
        s = samples.points  # (K, S, 3)
        pen = self._rho(self.neighbours(s), self.cfg.truncate)
        if rendered is not None:
            pen = pen * self._observable(s.detach(), rendered, face_normals(verts.detach(), tris, samples.face))
        elif self.surroundings is not None:
            sight = torch.cat([self._in_sight(verts[r.start:r.stop, :r.num_verts], r.tris)[samples.face[r.start:r.stop]]
                               for r in runs])  # (K, S)
            seen = sight & ~self.surroundings.hidden(s, face_normals(verts.detach(), tris, samples.face))
            # the mean over the seen samples, as the recall metric counts: hidden surface does not dilute it
            return (pen * seen).sum(-1) / seen.sum(-1).clamp_min(1)
        return pen.mean(-1)

    def _in_sight(self, verts: torch.Tensor, tris: torch.Tensor) -> torch.Tensor:
        """``(T,)`` bool: the triangles of this topology some sensor position sees
        (:meth:`backend.occlusion.Surroundings.visible_faces` of the first candidate, once per topology: the
        inside of a closed cabinet stays inside whatever its sizes)."""
        key = (verts.shape[1], tris.shape[0], hash(tris.detach().cpu().numpy().tobytes()))
        if key not in self._sight:
            self._sight[key] = self.surroundings.visible_faces(verts[0], tris).to(verts.device)
        return self._sight[key]

    def _observable(self, s: torch.Tensor, rendered: torch.Tensor, normals: torch.Tensor) -> torch.Tensor:
        """``(K, S)`` bool: samples ``s (K, S, 3)`` visible in some view given the candidates' depth
        ``rendered (K, C, h, w)``, observed by the sensor there (not hidden by something nearer) and seen less than
        ``grazing_deg`` from their surface's ``normals (K, S, 3)`` (either side)."""
        z, inside, rend, obs = self._at_pixels(s, rendered)
        tol = self.cfg.free_space_margin
        seen = inside & (rend > 0) & (z <= rend + tol) & (obs > 0) & (obs >= z - tol)
        if self.cfg.grazing_deg < 90:
            centres = self.views.cameras.centers.to(s.device, s.dtype)  # (C, 3)
            ray = s[None] - centres[:, None, None]  # (C, K, S, 3)
            cos = (ray * normals[None]).sum(-1).abs() / ray.norm(dim=-1).clamp_min(1e-9)
            seen = seen & (cos >= math.cos(math.radians(self.cfg.grazing_deg)))
        return seen.any(0)

    def _at_pixels(self, s: torch.Tensor, rendered: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Samples ``s (K, S, 3)`` seen from every view: ``(z, inside, rend, obs)``, each ``(C, K, S)``: their depth,
        whether they project inside the image in front of the camera, the candidates' ``rendered (K, C, h, w)``
        depth and the sensor's nearest measured depth at their pixel."""
        v = self.views
        uv, z = v.cameras.to(dtype=s.dtype).project(s)  # (C, K, S, 2), (C, K, S)
        h, w = v.nearest.shape[1:]
        u = torch.round(uv[..., 0]).long()
        r = torch.round(uv[..., 1]).long()
        inside = (z > 0.05) & (u >= 0) & (u < w) & (r >= 0) & (r < h)
        u, r = u.clamp(0, w - 1), r.clamp(0, h - 1)
        c_, k_ = z.shape[:2]
        ci = torch.arange(c_, device=s.device)[:, None, None]
        ki = torch.arange(k_, device=s.device)[None, :, None]
        at = ci * (h * w) + r * w + u  # (C, K, S): the sample's pixel in its view
        rend = rendered.reshape(-1).take(at + ki * (c_ * h * w))  # rendered[k, c, r, u]
        obs = v.nearest.reshape(-1).take(at).to(s.dtype)  # nearest[c, r, u]
        return z, inside, rend, obs

    def _frame_terms(self, out: RenderOutput, names: list[str], reference: bool = False) -> dict[str, torch.Tensor]:
        """The image terms of a render: on the pixels each one counts, gathered once per objective (the same
        values as :func:`backend.losses.depth_l1`, :func:`~backend.losses.silhouette_iou_loss` and
        :func:`~backend.losses.free_space_penalty` on the whole images, which ``reference`` computes)."""
        v, c = self.views, self.cfg
        terms = {}
        if reference:
            if "depth" in names:
                terms["depth"] = depth_l1(out.depth, v.depth, v.core, robust="clamp", scale=c.depth_cap)
            if "silhouette" in names:
                counted = v.counted.to(out.silhouette.dtype)
                terms["silhouette"] = silhouette_iou_loss(out.silhouette * counted, v.outline * counted)
            if "free_space" in names:
                fs = free_space_penalty(out.depth, v.nearest, c.free_space_margin, robust="clamp", scale=c.depth_cap)
                terms["free_space"] = fs * v.pixels_per_object_pixel
            return terms
        px = self._pixels()
        k = out.depth.shape[0]
        depth = out.depth.reshape(k, -1)
        if "depth" in names:
            r = depth.index_select(1, px["depth_idx"])
            terms["depth"] = (r - px["depth_obs"].to(r.dtype)).abs().clamp(max=c.depth_cap).sum(1) / px["depth_count"]
        if "silhouette" in names:
            sil = out.silhouette.reshape(k, v.mask.shape[0], -1) * px["counted"].to(out.silhouette.dtype)
            target = px["outline"].to(sil.dtype)
            inter = torch.minimum(sil, target).sum(-1)
            union = torch.maximum(sil, target).sum(-1)
            terms["silhouette"] = 1 - ((inter + 1e-6) / (union + 1e-6)).mean(1)
        if "free_space" in names:
            r = depth.index_select(1, px["free_idx"])
            ahead = torch.relu(px["free_obs"].to(r.dtype) - c.free_space_margin - r) * (r > 0)
            terms["free_space"] = ahead.clamp(max=c.depth_cap).sum(1) / px["free_count"] * v.pixels_per_object_pixel
        return terms

    def _pixels(self) -> dict[str, torch.Tensor | float]:
        """What the image terms count, from the views (once): the flat pixel indices and observed depth of the
        depth term (valid, in the core) and of the free-space term (valid), the silhouette's ``counted`` and
        ``outline`` (its target on the counted pixels) ``(C, h * w)``."""
        if self._pixel_cache is None:
            v = self.views
            valid = torch.isfinite(v.nearest) & (v.nearest > 0)
            out: dict[str, torch.Tensor | float] = {
                "free_idx": torch.nonzero(valid.reshape(-1)).squeeze(1),
                "free_count": float(max(1, int(valid.sum()))),
            }
            out["free_obs"] = v.nearest.reshape(-1).index_select(0, out["free_idx"])
            if v.mask is not None:
                dvalid = torch.isfinite(v.depth) & (v.depth > 0) & v.core.to(torch.bool)
                out["depth_idx"] = torch.nonzero(dvalid.reshape(-1)).squeeze(1)
                out["depth_obs"] = v.depth.reshape(-1).index_select(0, out["depth_idx"])
                out["depth_count"] = float(max(1, int(dvalid.sum())))
                out["counted"] = v.counted.reshape(v.mask.shape[0], -1).float()
                out["outline"] = v.outline.reshape(v.mask.shape[0], -1).float() * out["counted"]
            self._pixel_cache = out
        return self._pixel_cache
