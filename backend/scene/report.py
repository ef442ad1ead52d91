"""``scene_report.png``: the scan with every fitted mesh rendered over it, from above (a plan) and in
perspective, and a row of per-object thumbnails (each object's points and its fitted mesh, labelled with its
instance, program and F-score at 5 cm). Rendering: :mod:`backend.render.overlay` (the pure-torch renderer)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..render.overlay import overlay, shade, splat, view_cameras
from .outputs import PALETTE

__all__ = ["write_scene_report"]


def _meshes(rows: list[dict[str, Any]]) -> list[tuple[int, dict, torch.Tensor, torch.Tensor]]:
    from ..io.ply import load_ply

    out = []
    for k, r in enumerate(rows):
        f = Path(r["folder"]) / "fitted.ply"
        if r["state"] in ("succeeded", "cancelled") and f.is_file():
            m = load_ply(f)
            out.append((k, r, m.points.float(), m.faces.long()))
    return out


def _front(r: dict) -> float:
    m = np.asarray(r["world_from_program"], dtype=np.float64)
    d = m[:3, :3] @ np.array([0.0, -1.0, 0.0])
    return math.atan2(d[1], d[0])


def _picture(meshes, points, colors, cams, tint_of, radius: int = 1) -> np.ndarray:
    pts_rgb, pts_depth = splat(points, colors, cams, radius=radius)
    if not meshes:
        return pts_rgb.numpy()
    verts = torch.cat([m[2] for m in meshes])
    offs = np.cumsum([0] + [len(m[2]) for m in meshes])
    tris = torch.cat([m[3] + int(offs[i]) for i, m in enumerate(meshes)])
    owner = torch.cat([torch.full((len(m[3]),), i) for i, m in enumerate(meshes)])
    inten, depth, face = shade(verts, tris, cams)
    palette = torch.tensor([tint_of(m) for m in meshes], dtype=torch.float32)
    tint = palette[owner[face.clamp_min(0)]]
    return overlay(inten, depth, tint, pts_rgb, pts_depth, alpha=0.75).numpy()


def write_scene_report(run, rows: list[dict[str, Any]], path: str | Path, max_points: int = 120_000,
                       thumbnails: int = 18) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scene = run.scene
    st = run.structure
    pts = scene.points
    lev_z = pts.double() @ torch.as_tensor(st.level[2, :3], dtype=torch.float64)
    keep = lev_z < st.floor_z + 2.0  # the ceiling and the tops of the walls hide the room from above
    keep &= ~scene.mask_of("ceiling")
    idx = torch.nonzero(keep).squeeze(1)
    if len(idx) > max_points:
        idx = idx[torch.randperm(len(idx), generator=torch.Generator().manual_seed(0))[:max_points]]
    p, c = pts[idx], (scene.colors[idx] if scene.colors is not None else None)
    meshes = _meshes(rows)

    def tint_of(m):
        return PALETTE[m[0] % len(PALETTE)]

    lo, hi = p.min(0).values, p.max(0).values
    plan = _picture(meshes, p, c, view_cameras(lo, hi, ("plan",), 720, 720), tint_of, 2)[0]
    persp = _picture(meshes, p, c, view_cameras(lo, hi, ("three_quarter",), 960, 720, fov=55.0,
                                                front=-3 * math.pi / 4), tint_of, 2)[0]
    thumbs = []
    for m in meshes[:thumbnails]:
        _k, r, v, _ = m
        own = torch.as_tensor(np.asarray(scene.objects[r["instance"]].indices)) if r["instance"] in scene.objects else None
        op = pts[own] if own is not None else p
        oc = scene.colors[own] if own is not None and scene.colors is not None else None
        blo = torch.minimum(v.min(0).values, op.min(0).values)
        bhi = torch.maximum(v.max(0).values, op.max(0).values)
        cams = view_cameras(blo, bhi, ("three_quarter",), 240, 200, front=_front(r))
        thumbs.append((r, _picture([m], op, oc, cams, tint_of)[0]))
    cols = 6
    rows_t = max(1, math.ceil(len(thumbs) / cols))
    fig = plt.figure(figsize=(16, 7 + 2.6 * rows_t))
    gs = fig.add_gridspec(1 + rows_t, cols, height_ratios=[7] + [2.6] * rows_t)
    ax = fig.add_subplot(gs[0, :2])
    ax.imshow(plan)
    ax.set_title("from above: the scan and the fitted programs", fontsize=10)
    ax.axis("off")
    ax = fig.add_subplot(gs[0, 2:])
    ax.imshow(persp)
    ax.set_title("perspective", fontsize=10)
    ax.axis("off")
    for i, (r, img) in enumerate(thumbs):
        ax = fig.add_subplot(gs[1 + i // cols, i % cols])
        ax.imshow(img)
        f5 = r.get("scan_fit", {}).get("f_5cm")
        ax.set_title(f"{r['key']} ({Path(r['program']).stem})\nF@5cm {f5:.2f}" if f5 is not None else r["key"], fontsize=8,
                     color=PALETTE[meshes[i][0] % len(PALETTE)])
        ax.axis("off")
    n_ok = sum(1 for r in rows if r["state"] == "succeeded")
    fig.suptitle(f"{Path(str(scene.source).split(' ')[0]).name}: {n_ok} of {len(rows)} objects fitted", fontsize=12)
    fig.tight_layout()
    fig.savefig(path, dpi=70)
    plt.close(fig)
