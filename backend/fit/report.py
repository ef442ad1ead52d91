"""``report.png``: what the fit saw and what it found, for a person to look at.

* top row: the fitted mesh, shaded by the pure-torch renderer (:mod:`backend.render.overlay`), over the scan's
  points, from the object's front, from a corner above and from the top (points in front of the mesh stay
  visible, so a part the fit missed shows as points sticking out);
* with RGB-D frames, a row per view: observed depth, fitted depth and their difference inside the object's
  mask (the depth residual);
* bottom: the parameter table (discrete and continuous values; parameters the scan could not decide marked,
  with the prior they were kept at) and the objective over time, with the scan-fit metrics in the title.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..structures import Frames, Observations

if TYPE_CHECKING:
    from .result import FitResult

__all__ = ["write_report"]


def _fitted_depth(result: FitResult, frames: Frames) -> torch.Tensor:
    from ..render import RasterSettings, render

    mesh = result.mesh
    out = render(mesh.verts[:1].float(), mesh.triangles(), frames.cameras, RasterSettings(silhouette=False))
    return out.depth[0]


def _views(result: FitResult, observations: Observations, width: int = 360, height: int = 300) -> list[np.ndarray]:
    from ..render.overlay import overlay, shade, splat, view_cameras

    verts = result.mesh.verts[0].detach().float()
    tris = result.mesh.triangles()
    pts = observations.points.float()
    if len(pts) > 60000:
        pts = pts[torch.randperm(len(pts), generator=torch.Generator().manual_seed(0))[:60000]]
        cols = None
    else:
        cols = observations.colors
    lo = torch.minimum(verts.min(0).values, pts.min(0).values)
    hi = torch.maximum(verts.max(0).values, pts.max(0).values)
    pose = np.asarray(result.world_from_program, dtype=np.float64)
    d = pose[:3, :3] @ np.array([0.0, -1.0, 0.0])
    front = math.atan2(d[1], d[0])
    cams = view_cameras(lo, hi, ("front", "three_quarter", "top"), width, height, front=front)
    inten, depth, _ = shade(verts, tris, cams)
    prgb, pdepth = splat(pts, cols, cams, radius=1)
    img = overlay(inten, depth, torch.tensor([0.85, 0.35, 0.2]), prgb, pdepth, alpha=0.7)
    return [img[k].numpy() for k in range(len(cams))]


def _table_text(result: FitResult) -> list[list[str]]:
    rows = []
    for k, v in result.discrete.items():
        note = ""
        if k in result.undecided:
            u = result.undecided[k]
            note = (f"undecided among {', '.join(map(str, u['within']))} (within 10 %)" if "within" in u else
                    f"undecided: the prior scores within 10 % (x{u.get('objective_ratio', 1):.3f})") + \
                (f", fitted {u['fitted']}" if "fitted" in u else "")
        rows.append([k, str(v), note])
    for k, v in result.continuous.items():
        val = ", ".join(f"{x:.3f}" for x in v) if isinstance(v, (list, tuple)) else f"{float(v):.3f}"
        note = ""
        if k in result.undecided:
            u = result.undecided[k]
            note = f"undecided (evidence {u['evidence']:.2f}), at the prior" if u.get("prior") is not None else \
                f"undecided (evidence {u['evidence']:.2f})"
        rows.append([k, val, note])
    return rows


def _margins(fig, rows: int, bottom: float, columns: int = 3) -> None:
    """Fixed margins in inches (``tight_layout`` measures every text by drawing the figure once more, about as
    long as writing it): room for the titles above each row, the colour bars' ticks and the objective plot's
    y labels between the columns, its x label (and the notes) within ``bottom`` below."""
    gap, vgap, left, right, top = 1.4, 0.4, 0.1, 0.5, 0.3
    width, height = fig.get_size_inches()
    ax_w = (width - left - right - (columns - 1) * gap) / columns
    ax_h = (height - top - bottom - (rows - 1) * vgap) / rows
    fig.subplots_adjust(left=left / width, right=1 - right / width, top=1 - top / height, bottom=bottom / height,
                        wspace=gap / ax_w, hspace=vgap / ax_h)


def write_report(result: FitResult, observations: Observations, path: str | Path, max_views: int = 4) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frames = getattr(observations, "frames", None)
    views = list(range(min(max_views, int(frames.depth.shape[0])))) if frames is not None else []
    pictures = _views(result, observations) if result.mesh is not None else []
    rows_table = _table_text(result)
    n_rows = 1 + len(views) + 1
    heights = [3.2] + [2.4] * len(views) + [max(3.0, 0.22 * len(rows_table) + 1.0)]
    fig = plt.figure(figsize=(12, sum(heights)))
    gs = fig.add_gridspec(n_rows, 3, height_ratios=heights)
    for c, (img, title) in enumerate(zip(pictures, ("front", "from a corner above", "top"), strict=False)):
        ax = fig.add_subplot(gs[0, c])
        ax.imshow(img)
        ax.set_title(f"{title}: fitted mesh over the scan", fontsize=8)
        ax.axis("off")
    if views:
        fitted = _fitted_depth(result, frames)
        for r, v in enumerate(views):
            obs = frames.depth[v].cpu()
            fit = fitted[v].detach().cpu()
            vmax = float(max(obs.max(), fit.max(), 1e-3))
            mask = frames.masks[v].cpu() if frames.masks is not None else obs > 0
            both = mask & (obs > 0) & (fit > 0)
            err = torch.where(both, obs - fit, torch.full_like(obs, float("nan")))
            for c, (img, title, cmap, lim) in enumerate([
                (obs, f"view {v}: observed depth (m)", "viridis", (0, vmax)),
                (fit, "fitted depth (m)", "viridis", (0, vmax)),
                (err, "depth residual in the mask (m, observed - fitted)", "coolwarm", (-0.05, 0.05)),
            ]):
                ax = fig.add_subplot(gs[1 + r, c])
                im = ax.imshow(img.numpy(), cmap=cmap, vmin=lim[0], vmax=lim[1])
                ax.set_title(title, fontsize=8)
                ax.axis("off")
                fig.colorbar(im, ax=ax, fraction=0.046)
    notes = any(r[2] for r in rows_table)  # the table takes two columns where it has notes, the plot the rest
    ax = fig.add_subplot(gs[n_rows - 1, : 2 if notes else 1])
    ax.axis("off")
    if rows_table:
        cells = rows_table if notes else [r[:2] for r in rows_table]
        tab = ax.table(cellText=cells, colLabels=["parameter", "value", "note"][: len(cells[0])], loc="upper left",
                       cellLoc="left", colLoc="left", colWidths=[0.25, 0.18, 0.57] if notes else [0.6, 0.4])
        tab.auto_set_font_size(False)
        tab.set_fontsize(7)
        tab.scale(1.0, 1.1)
    bottom = fig.add_subplot(gs[n_rows - 1, 2 if notes else 1:])
    hist = result.history
    for phase, label in (("search", "search objective"), ("final", "finer objective (final decision)"),
                         ("priors", "refit with undecided parameters at their priors")):
        part = [h for h in hist if (h[2] if len(h) > 2 else "search") == phase]
        if part:
            bottom.plot([h[0] for h in part], [h[1] for h in part], "-o", ms=2, label=label)
    if hist:
        bottom.legend(fontsize=6)
        bottom.set_yscale("log")
    bottom.set_xlabel("seconds")
    bottom.set_ylabel("best objective")
    m = result.scan_fit
    metrics = (f"; F@5cm {m['f_5cm']:.3f}, F@2.5cm {m['f_2_5cm']:.3f}, accuracy {m['accuracy_cm']:.1f} cm, "
               f"completeness {m['completeness']:.2f}") if m.get("f_5cm") is not None else ""
    bottom.set_title(f"{result.method}: objective {result.objective:.4g}{metrics}", fontsize=8)
    if result.flags:
        fig.text(0.01, 0.003, "notes: " + "; ".join(result.flags), fontsize=7, va="bottom")
    _margins(fig, n_rows, bottom=0.75 if result.flags else 0.55)
    fig.savefig(path, dpi=80)
    plt.close(fig)
