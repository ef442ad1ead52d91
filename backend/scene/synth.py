"""Synthetic rooms (:func:`synthesize_room`, ``shapeprog synth-scene``): several library objects with random
parameters placed against the walls of a room, scanned as a labelled point cloud in the layout of the real
captures (``x y z red green blue nyu40 instance``), with the truth beside it.

The scan is what a hand-held sensor would have seen: area-weighted samples of every surface (objects, walls,
floor) at ``density`` points per square metre, less the object surface out of every sensor position's sight
or hidden by its surroundings (the rules the fit and the metrics use, :mod:`backend.occlusion`), with
Gaussian noise. Segmentation is made imperfect the way real labels are: a strip of floor around each object's
foot carries the object's instance (``floor_strays``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..occlusion import Surroundings
from ..ops.sampling import face_normals, sample_surface
from .labels import NYU40

__all__ = ["NYU40_OF", "RoomSettings", "synthesize_room", "write_labelled_ply"]

NYU40_OF = {"chair": 5, "table": 7, "sofa": 6, "bed": 4, "cabinet": 3, "bookshelf": 10, "corner_cabinet": 3}
"""The NYU40 id a library program's objects are labelled with."""


@dataclass
class RoomSettings:
    """What to put in a synthetic room and how to scan it."""

    programs: tuple[str, ...] = ("bed", "cabinet", "table", "chair")
    """Library programs, one object each, placed in this order along the walls."""
    seed: int = 0
    """Seed of the parameters, the placement and the scan."""
    density: float = 1200.0
    """Scan points per square metre of seen surface."""
    noise: float = 0.004
    """Standard deviation (metres) of the points' noise."""
    gap: float = 0.35
    """Free space (metres) between neighbouring objects."""
    wall_gap: float = 0.02
    """How far (metres) an object's back stands from its wall."""
    floor_strays: float = 0.05
    """Floor points within this distance (metres) of an object's footprint are labelled as the object."""
    height: float = 2.5
    """Height of the walls (metres)."""


def write_labelled_ply(path: str | Path, points: np.ndarray, colors: np.ndarray, labels: np.ndarray,
                       instances: np.ndarray) -> None:
    """A labelled point cloud in the real captures' layout (``nyu40`` and ``instance`` ushort fields)."""
    from plyfile import PlyData, PlyElement

    arr = np.empty(len(points), dtype=[("x", "f4"), ("y", "f4"), ("z", "f4"), ("red", "u1"), ("green", "u1"),
                                       ("blue", "u1"), ("nyu40", "u2"), ("instance", "u2")])
    arr["x"], arr["y"], arr["z"] = np.asarray(points, dtype=np.float32).T
    c8 = np.clip(np.round(np.asarray(colors) * 255), 0, 255).astype(np.uint8)
    arr["red"], arr["green"], arr["blue"] = c8.T
    arr["nyu40"], arr["instance"] = labels, instances
    PlyData([PlyElement.describe(arr, "vertex")]).write(str(path))


def _rect_points(corner: np.ndarray, u: np.ndarray, v: np.ndarray, density: float, rng: np.random.Generator) -> np.ndarray:
    n = max(1, int(density * np.linalg.norm(u) * np.linalg.norm(v)))
    a, b = rng.random(n), rng.random(n)
    return corner + a[:, None] * u + b[:, None] * v


def synthesize_room(settings: RoomSettings, out_dir: str | Path) -> dict[str, Any]:
    """Write ``room_points.ply`` and ``ground_truth.json`` into ``out_dir``; returns the truth (see the module
    docstring). Objects stand with their backs to the north (+y) and south walls, left to right."""
    from ..library import resolve_program
    from ..synth import _evaluate, load_shape_program, sample_parameters

    s = settings
    rng = np.random.default_rng(s.seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    placed = []
    for k, name in enumerate(s.programs):
        prog = load_shape_program(resolve_program(name))
        disc, cont, _ = sample_parameters(prog.space, rng)
        mesh = _evaluate(prog, disc, cont)
        v = mesh.verts[0].double()
        placed.append({"name": name, "prog": prog, "discrete": disc, "continuous": cont, "verts": v,
                       "tris": mesh.triangles(), "size": (v.max(0).values - v.min(0).values).numpy(),
                       "centre": ((v.max(0).values + v.min(0).values) / 2).numpy(), "instance": k + 1})
    north = placed[::2]
    south = placed[1::2]
    width = max(4.0, max(sum(p["size"][0] + s.gap for p in row) + s.gap for row in (north, south) if row))
    depth = max(4.0, max((p["size"][1] for p in placed), default=0) * 2 + 1.6)
    half_w, half_d = width / 2, depth / 2
    for row, yaw, wall_y in ((north, 0.0, half_d), (south, math.pi, -half_d)):
        x = -half_w + s.gap
        for p in row:
            c, sx, sy = p["centre"], p["size"][0], p["size"][1]
            m = np.eye(4)
            m[:2, :2] = [[math.cos(yaw), -math.sin(yaw)], [math.sin(yaw), math.cos(yaw)]]
            back = wall_y - s.wall_gap - sy / 2 if yaw == 0.0 else wall_y + s.wall_gap + sy / 2
            # the mesh's box centre goes to (x + sx/2, back); turning by pi mirrors the centre's offset
            off = m[:2, :2] @ c[:2]
            m[0, 3], m[1, 3] = x + sx / 2 - off[0], back - off[1]
            p["pose"] = m
            p["world"] = p["verts"] @ torch.from_numpy(m[:3, :3]).T + torch.from_numpy(m[:3, 3])
            x += sx + s.gap
    walls = torch.tensor([[0, -1, 0, half_d], [0, 1, 0, half_d], [-1, 0, 0, half_w], [1, 0, 0, half_w]], dtype=torch.float64)
    # the room's own surfaces
    wall_pts = np.concatenate([
        _rect_points(np.array([-half_w, half_d, 0]), np.array([width, 0, 0]), np.array([0, 0, s.height]), s.density / 4, rng),
        _rect_points(np.array([-half_w, -half_d, 0]), np.array([width, 0, 0]), np.array([0, 0, s.height]), s.density / 4, rng),
        _rect_points(np.array([half_w, -half_d, 0]), np.array([0, depth, 0]), np.array([0, 0, s.height]), s.density / 4, rng),
        _rect_points(np.array([-half_w, -half_d, 0]), np.array([0, depth, 0]), np.array([0, 0, s.height]), s.density / 4, rng)])
    floor_pts = _rect_points(np.array([-half_w, -half_d, 0]), np.array([width, 0, 0]), np.array([0, depth, 0]),
                             s.density / 2, rng)
    samples = []
    for p in placed:
        area = float(_area(p["world"], p["tris"]))
        sp = sample_surface(p["world"][None], p["tris"], max(200, int(s.density * area)), int(rng.integers(1 << 30)))
        p["samples"], p["normals"] = sp.points[0], face_normals(p["world"][None], p["tris"], sp.face)[0]
        p["face"] = sp.face[0]
        samples.append(p["samples"])
    floor_keep = np.ones(len(floor_pts), dtype=bool)
    stray_of = np.zeros(len(floor_pts), dtype=np.int64)
    pts, cols, labs, ins = [], [], [], []
    for i, p in enumerate(placed):
        others = torch.cat([samples[j] for j in range(len(placed)) if j != i] + [torch.from_numpy(wall_pts)]).float()
        sur = Surroundings(others, walls, floor_z=0.0, sensor_pixels=160)
        sight = sur.visible_samples(p["world"], p["tris"], p["samples"], p["face"])
        seen = sight & ~sur.hidden(p["samples"], p["normals"])
        q = p["samples"][seen].numpy()
        pts.append(q)
        tint = np.array([0.3, 0.3, 0.3]) + 0.5 * rng.random(3)
        cols.append(np.tile(tint, (len(q), 1)))
        labs.append(np.full(len(q), NYU40_OF.get(p["name"], 39)))
        ins.append(np.full(len(q), p["instance"]))
        # the floor under the object is hidden; a strip around its foot is mislabelled as the object
        inv = np.linalg.inv(p["pose"])
        local = floor_pts @ inv[:3, :3].T + inv[:3, 3]
        lo, hi = p["verts"].min(0).values.numpy(), p["verts"].max(0).values.numpy()
        inside = np.all((local[:, :2] >= lo[:2]) & (local[:, :2] <= hi[:2]), axis=1)
        near = np.all((local[:, :2] >= lo[:2] - s.floor_strays) & (local[:, :2] <= hi[:2] + s.floor_strays), axis=1)
        floor_keep &= ~inside
        stray_of[near & ~inside] = p["instance"]
    floor_pts, stray_of = floor_pts[floor_keep], stray_of[floor_keep]
    pts += [wall_pts, floor_pts]
    cols += [np.tile([0.85, 0.85, 0.8], (len(wall_pts), 1)), np.tile([0.6, 0.5, 0.4], (len(floor_pts), 1))]
    labs += [np.full(len(wall_pts), 1), np.where(stray_of > 0, [NYU40_OF.get(placed[k - 1]["name"], 39) if k else 2
                                                               for k in stray_of], 2)]
    ins += [np.zeros(len(wall_pts), dtype=np.int64), stray_of]
    allp = np.concatenate(pts)
    allp = allp + rng.normal(0.0, s.noise, allp.shape)
    write_labelled_ply(out / "room_points.ply", allp, np.concatenate(cols), np.concatenate(labs), np.concatenate(ins))
    truth = {"room": {"width": width, "depth": depth, "height": s.height, "walls": walls.tolist()},
             "settings": {k: (list(v) if isinstance(v, tuple) else v) for k, v in s.__dict__.items()},
             "objects": [{"instance": p["instance"], "program": p["name"], "category": NYU40[NYU40_OF.get(p["name"], 39)],
                          "discrete": p["discrete"], "continuous": p["continuous"], "world_from_program": p["pose"].tolist(),
                          "points": int((np.concatenate(ins) == p["instance"]).sum())} for p in placed]}
    (out / "ground_truth.json").write_text(json.dumps(truth, indent=1) + "\n")
    return truth


def _area(verts: torch.Tensor, tris: torch.Tensor) -> torch.Tensor:
    t = verts[tris]
    return torch.linalg.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0], dim=-1).norm(dim=-1).sum() / 2

