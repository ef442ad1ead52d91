"""Galleries of random program samples: a picture of what a shape program can make.

``make_gallery(program, n=16, seed=0, out="gallery.png")`` draws ``n`` random
parameter sets of a program in a grid, each tile labelled with its size and
the discrete values that matter for it (the active ones). Meshes come from
the translated program; tiles are drawn with the project's rasterizer
(:mod:`backend.render`: face ids and depth), shaded per polygon and outlined
where the surface creases, so no Blender is needed.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from translator.geometry import MeshBatch
from translator.ir import Program
from translator.params import ParameterSpace

from .evaluate import evaluate_sets

__all__ = ["CREASE_COS", "PALETTE", "corner_values", "describe", "make_gallery", "sample_values", "shade_mesh"]

CREASE_COS = math.cos(math.radians(30.0))  # outline edges between polygons meeting at more than 30 degrees
PALETTE = (  # part colours (RGB 0..1), cycled over the mesh's connected parts
    (0.80, 0.62, 0.43), (0.62, 0.70, 0.80), (0.78, 0.74, 0.60), (0.66, 0.78, 0.64), (0.85, 0.70, 0.66),
    (0.72, 0.66, 0.82),
)


def _draw(p, rng: random.Random) -> Any:
    if p.kind == "discrete":
        if not p.choices:
            return p.default
        return rng.choice(list(p.choices))
    if p.low is None:
        return p.default
    if p.type == "VECTOR":
        return tuple(rng.uniform(lo, hi) for lo, hi in zip(p.low, p.high))
    return rng.uniform(p.low, p.high)


def sample_values(space: ParameterSpace, n: int, rng: random.Random, discrete: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """``n`` random parameter sets ``{name: value}``: discrete values uniform over their choices
    (or fixed by ``discrete``), continuous ones uniform in their range (defaults where unbounded)."""
    out = []
    for _ in range(n):
        values = {p.name: _draw(p, rng) for p in space.parameters}
        values.update(discrete or {})
        out.append(values)
    return out


def corner_values(space: ParameterSpace, discrete: dict[str, Any], high: bool) -> dict[str, Any]:
    """Every continuous parameter at its upper (``high``) or lower range end, with ``discrete`` values."""
    values = {p.name: p.default for p in space.parameters}
    for p in space.continuous:
        if p.low is not None:
            values[p.name] = p.high if high else p.low
    values.update(discrete)
    return values


def describe(space: ParameterSpace, values: dict[str, Any]) -> list[str]:
    """The active discrete values as short lines: ``Leg Style: Sled``, ``Has Armrests``, ``no Armrests``,
    ``Round Legs: no``, ``Slat Count: 4``."""
    discrete = {p.name: values.get(p.name, p.default) for p in space.discrete}
    lines = []
    for p in space.discrete:
        if not p.active_when.holds(discrete):
            continue
        v = discrete[p.name]
        if p.type == "BOOLEAN":
            if v:
                lines.append(p.name)
            else:
                lines.append(f"no {p.name[4:]}" if p.name.startswith("Has ") else f"{p.name}: no")
        else:
            lines.append(f"{p.name}: {v}")
    return lines


def _polygon_of_triangle(mesh: MeshBatch) -> torch.Tensor:
    sizes = mesh.face_sizes()
    return torch.repeat_interleave(torch.arange(sizes.numel()), (sizes - 2).clamp(min=0))


def _parts(mesh: MeshBatch) -> np.ndarray:
    """Connected part index of every polygon (vertices joined by faces)."""
    parent = np.arange(mesh.num_verts)

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    polys = mesh.polygons()
    for poly in polys:
        r = find(poly[0])
        for v in poly[1:]:
            parent[find(v)] = r
    roots = {}
    return np.array([roots.setdefault(find(p[0]), len(roots)) for p in polys], dtype=np.int64)


def shade_mesh(mesh: MeshBatch, index: int = 0, size: int = 256, azimuth: float = 35.0, elevation: float = 22.0,
               fov: float = 30.0) -> np.ndarray:
    """Render batch element ``index`` of ``mesh`` seen from the front-right, above (``azimuth`` degrees
    from -Y towards +X, ``elevation`` above the horizon), framed to fit: ``(size, size, 3)`` floats in
    [0, 1] on a white background; polygons shaded by their normal and coloured by part, creases outlined."""
    from .cameras import Cameras, intrinsics_from_fov
    from .render import RasterSettings, render

    verts = mesh.verts[index].detach().to(torch.float64).cpu()
    img = np.ones((size, size, 3))
    if mesh.num_faces == 0 or verts.shape[0] == 0:
        return img
    lo, hi = verts.amin(0), verts.amax(0)
    centre = (lo + hi) / 2
    radius = float((hi - lo).norm()) / 2 or 1.0
    az, el = math.radians(azimuth), math.radians(elevation)
    view = torch.tensor([math.sin(az) * math.cos(el), -math.cos(az) * math.cos(el), math.sin(el)], dtype=torch.float64)
    dist = radius / math.sin(math.radians(fov) / 2) * 1.02
    eye = centre + view * dist
    cams = Cameras.look_at(eye.unsqueeze(0), centre.unsqueeze(0), intrinsics=intrinsics_from_fov(size, size, fov).double(),
                           width=size, height=size)
    tris = mesh.triangles().cpu()
    out = render(verts.unsqueeze(0), tris, cams, RasterSettings(silhouette=False))
    tri = out.face_index[0, 0]  # (H, W)
    hit = tri >= 0
    poly_of_tri = _polygon_of_triangle(mesh)
    poly = torch.where(hit, poly_of_tri[tri.clamp(min=0)], torch.full_like(tri, -1)).numpy()
    # polygon normals (Newell), turned towards the camera
    normals = np.zeros((mesh.num_faces, 3))
    centres = np.zeros((mesh.num_faces, 3))
    v = verts.numpy()
    for f, p in enumerate(mesh.polygons()):
        pts = v[p]
        normals[f] = np.cross(pts, np.roll(pts, -1, axis=0)).sum(0)
        centres[f] = pts.mean(0)
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
    towards = ((eye.numpy() - centres) * normals).sum(1) < 0
    normals[towards] *= -1
    light = np.array([0.35, -0.55, 0.75])
    light /= np.linalg.norm(light)
    lambert = 0.45 + 0.55 * np.clip(normals @ light, 0.0, 1.0)
    part = _parts(mesh)
    colours = np.array(PALETTE)[part % len(PALETTE)] * lambert[:, None]
    img[hit.numpy()] = colours[poly[hit.numpy()]]
    # outlines: neighbouring pixels on different polygons whose normals differ, or object / background
    edge = np.zeros((size, size), dtype=bool)
    for dy, dx in ((0, 1), (1, 0)):
        a = poly[: size - dy, : size - dx]
        b = poly[dy:, dx:]
        differ = a != b
        both = (a >= 0) & (b >= 0)
        crease = both & differ & ((normals[a.clip(0)] * normals[b.clip(0)]).sum(-1) < CREASE_COS)
        crease |= both & differ & (part[a.clip(0)] != part[b.clip(0)])
        border = differ & ~both
        e = crease | border
        edge[: size - dy, : size - dx] |= e
    img[edge] = 0.2
    return img


def make_gallery(program: Program, n: int = 16, seed: int = 0, out: str | Path = "gallery.png", columns: int = 4,
                 tile: int = 256, title: str | None = None,
                 evaluate: Callable[[dict[str, Any]], MeshBatch] | None = None) -> Path:
    """Draw ``n`` random samples of ``program`` (an IR :class:`~translator.ir.Program`) into ``out`` (PNG).
    Each tile is labelled with the sample's size (width x depth x height, metres) and active discrete values.
    ``evaluate(values) -> MeshBatch`` makes a sample's mesh (default: the translated program)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from translator.codegen import compile_program
    from translator.params import parameter_space

    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    space = parameter_space(program)
    samples = sample_values(space, n, random.Random(seed))
    if evaluate is None:
        meshes = evaluate_sets(compile_program(program), space, samples)
    else:
        meshes = [evaluate(values) for values in samples]
    columns = max(1, min(columns, n))
    rows = math.ceil(n / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(columns * tile / 100, rows * (tile + 70) / 100), dpi=100,
                             squeeze=False)
    for k, ax in enumerate(axes.reshape(-1)):
        ax.set_axis_off()
        if k >= n:
            continue
        values, mesh = samples[k], meshes[k]
        ax.imshow(shade_mesh(mesh, 0, tile))
        ext = (mesh.verts[0].amax(0) - mesh.verts[0].amin(0)).tolist() if mesh.num_verts else [0.0, 0.0, 0.0]
        lines = [f"{ext[0]:.2f} x {ext[1]:.2f} x {ext[2]:.2f} m, {mesh.num_verts} verts"] + describe(space, values)
        ax.set_title("\n".join(_wrap(lines)), fontsize=7, loc="left")
    fig.suptitle(title or f"{program.entry}: {n} random samples (seed {seed})", fontsize=11)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def _wrap(lines: Sequence[str], width: int = 44) -> list[str]:
    """Join short lines with `` · `` up to ``width`` characters per row."""
    rows: list[str] = []
    for line in lines:
        if rows and len(rows[-1]) + 3 + len(line) <= width and len(rows) > 1:
            rows[-1] += " · " + line
        else:
            rows.append(line)
    return rows
