"""How well a fitted mesh explains a real scan, without any ground truth: the scan-fit metrics that
``result.json`` (every fit), ``fit-scene``'s ``summary.json`` / ``summary.csv`` and ``shapeprog bench real``
report, all computed by :func:`scan_fit_metrics`.

* ``accuracy_cm``: the mean distance (cm) from the scan's points to the fitted surface (exact
  point-to-triangle distances);
* ``completeness``: over the *seen region* of the fitted surface, the fraction of its area whose nearest
  scan point is within 10 cm (surface the fit put where the sensor saw nothing lowers it);
* ``precision_Xcm`` / ``recall_Xcm`` / ``f_Xcm`` for X = 2.5 and 5: the fraction of scan points within X of
  the surface, the fraction of the seen surface within X of a scan point, and their harmonic mean
  (the F-score).

The *seen region* is the fitted surface less what the sensor cannot have seen
(:meth:`backend.occlusion.Surroundings.hidden`: against a wall or a neighbour, on the floor, a low
underside; :meth:`~backend.occlusion.Surroundings.visible_samples`: out of sight of every position a hand-held
sensor could have, like the inside of a closed cabinet). Without a scene (a single object's scan) only the
floor and the sensor's positions apply, with the floor at the scan's lowest points when the object's frame
was estimated from them.
Surface samples are area-weighted (20,000 by default, seeded), so the fractions are fractions of area.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from .object_frame import lowest_z
from .occlusion import Surroundings
from .ops.point_mesh import PointsToMesh
from .ops.sampling import face_normals, sample_surface
from .structures import Observations, SceneContext

__all__ = ["THRESHOLDS_CM", "metric_names", "observation_metrics", "scan_fit_metrics"]

THRESHOLDS_CM = (2.5, 5.0)
"""The F-score thresholds (cm)."""
SEEN_WITHIN = 0.10
"""Completeness counts the seen surface within this distance (metres) of a scan point."""


def _tag(t: float) -> str:
    return f"{t:g}".replace(".", "_") + "cm"


def metric_names() -> list[str]:
    """The keys of :func:`scan_fit_metrics`' result, in report order."""
    names = ["accuracy_cm", "completeness"]
    for t in THRESHOLDS_CM:
        names += [f"f_{_tag(t)}", f"precision_{_tag(t)}", f"recall_{_tag(t)}"]
    return names + ["seen_fraction", "scan_points"]


def scan_fit_metrics(verts: Any, tris: Any, points: Any, surroundings: Surroundings | None = None, *,
                     samples: int = 20000, max_points: int = 20000, seed: int = 0) -> dict[str, float]:
    """Scan-fit metrics of a fitted mesh (see the module docstring).

    Args:
        verts: ``(V, 3)`` fitted vertices (world, metres).
        tris: ``(T, 3)`` int64 triangles.
        points: ``(P, 3)`` the object's scan points (world); at most ``max_points`` of them (seeded) are used.
        surroundings: the object's surroundings in the same frame (None: nothing hides the surface).
        samples: area-weighted surface samples.

    Returns:
        ``{name: value}`` for :func:`metric_names` (fractions in [0, 1], distances in cm).
    """
    v = torch.as_tensor(verts, dtype=torch.float64).reshape(1, -1, 3)
    t = torch.as_tensor(tris, dtype=torch.long).reshape(-1, 3)
    p = torch.as_tensor(points, dtype=torch.float64).reshape(-1, 3)
    if len(p) > max_points:
        p = p[torch.randperm(len(p), generator=torch.Generator().manual_seed(seed))[:max_points]]
    if len(p) == 0 or len(t) == 0:
        raise ValueError("scan-fit metrics need scan points and a mesh with triangles")
    to_mesh = PointsToMesh(p)(v[:, t])[0].clamp_min(0).sqrt()  # (P,) metres
    s = sample_surface(v, t, samples, seed)
    if surroundings is not None:
        sight = surroundings.visible_samples(v[0], t, s.points[0], s.face[0])
        hidden = surroundings.hidden(s.points, face_normals(v, t, s.face))[0] | ~sight
    else:
        hidden = torch.zeros(samples, dtype=torch.bool)
    from scipy.spatial import cKDTree

    seen = s.points[0][~hidden].numpy()
    d_seen = cKDTree(p.numpy()).query(seen, k=1)[0] if len(seen) else np.zeros(0)
    out: dict[str, float] = {"accuracy_cm": 100.0 * float(to_mesh.mean()),
                             "completeness": float((d_seen <= SEEN_WITHIN).mean()) if len(seen) else math.nan}
    for th in THRESHOLDS_CM:
        prec = float((to_mesh <= th / 100).double().mean())
        rec = float((d_seen <= th / 100).mean()) if len(seen) else math.nan
        f = 2 * prec * rec / (prec + rec) if len(seen) and prec + rec > 0 else 0.0
        out.update({f"f_{_tag(th)}": f, f"precision_{_tag(th)}": prec, f"recall_{_tag(th)}": rec})
    out["seen_fraction"] = float((~hidden).double().mean())
    out["scan_points"] = float(len(p))
    return out


def observation_metrics(verts: Any, tris: Any, observations: Observations, **kw: Any) -> dict[str, float]:
    """:func:`scan_fit_metrics` of a fitted mesh (world) against the observations it was fitted to: their
    points and their surroundings (a scene's), else a floor at the object frame's floor (when it came from a
    scene or a caller) or at the scan's lowest points."""
    context = observations.context
    if context is None:
        floor = observations.frame.floor_z if observations.frame.floor_source == "given" else \
            lowest_z(observations.points[:, 2])
        context = SceneContext(torch.zeros((0, 3)), floor_z=floor)
    pts = observations.points
    box = torch.stack([pts.min(0).values, pts.max(0).values]).float()
    sur = Surroundings.from_context(context, torch.eye(4, dtype=torch.float64), keep_within=box, sensor_pixels=128)
    return scan_fit_metrics(verts, tris, pts, sur, **kw)
