"""``report.png``: what the fit saw and what it found.

With RGB-D frames: per view, observed depth | fitted depth | absolute error.
With points only: the scan and the fitted mesh from the top, front and side.
Below: the objective over time.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch

from ..structures import Frames, Observations

if TYPE_CHECKING:
    from .result import FitResult

__all__ = ["write_report"]


def _fitted_depth(result: FitResult, frames: Frames) -> torch.Tensor:
    from ..render import RasterSettings, render

    mesh = result.mesh
    out = render(mesh.verts[:1].float(), mesh.triangles(), frames.cameras, RasterSettings())
    return out.depth[0]


def write_report(result: FitResult, observations: Observations, path: str | Path, max_views: int = 4) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frames = getattr(observations, "frames", None)
    if frames is not None:
        views = list(range(min(max_views, int(frames.depth.shape[0]))))
        fitted = _fitted_depth(result, frames)
        fig, axes = plt.subplots(len(views) + 1, 3, figsize=(10, 2.8 * (len(views) + 1)), squeeze=False)
        for r, v in enumerate(views):
            obs = frames.depth[v].cpu()
            fit = fitted[v].detach().cpu()
            vmax = float(max(obs.max(), fit.max(), 1e-3))
            mask = frames.masks[v].cpu() if frames.masks is not None else obs > 0
            err = torch.where(mask & (obs > 0) & (fit > 0), (obs - fit).abs(), torch.zeros_like(obs))
            for c, (img, title, cmap, hi) in enumerate([
                (obs, f"view {v}: observed depth (m)", "viridis", vmax),
                (fit, "fitted depth (m)", "viridis", vmax),
                (err, "|error| in the mask (m)", "magma", max(0.05, float(err.max()))),
            ]):
                ax = axes[r, c]
                im = ax.imshow(img.numpy(), cmap=cmap, vmin=0, vmax=hi)
                ax.set_title(title, fontsize=8)
                ax.axis("off")
                fig.colorbar(im, ax=ax, fraction=0.046)
        bottom = fig.add_subplot(len(views) + 1, 1, len(views) + 1)
        for c in range(3):
            axes[len(views), c].remove()
    else:
        fig = plt.figure(figsize=(10, 6))
        pts = observations.points.cpu()
        if len(pts) > 20000:  # a scatter plot shows no more
            pts = pts[torch.randperm(len(pts), generator=torch.Generator().manual_seed(0))[:20000]]
        verts = result.mesh.verts[0].detach().cpu()
        for c, (i, j, name) in enumerate([(0, 1, "top (x, y)"), (0, 2, "front (x, z)"), (1, 2, "side (y, z)")]):
            ax = fig.add_subplot(2, 3, c + 1)
            ax.scatter(pts[:, i], pts[:, j], s=0.5, c="tab:blue", label="scan")
            ax.scatter(verts[:, i], verts[:, j], s=2, c="tab:red", label="fitted vertices")
            ax.set_title(name, fontsize=8)
            ax.set_aspect("equal")
            ax.tick_params(labelsize=6)
            if c == 0:
                ax.legend(fontsize=6, markerscale=4)
        bottom = fig.add_subplot(2, 1, 2)
    hist = result.history
    for phase, label in (("search", "search objective"), ("final", "finer objective (final decision)")):
        part = [h for h in hist if (h[2] if len(h) > 2 else "search") == phase]
        if part:
            bottom.plot([h[0] for h in part], [h[1] for h in part], "-o", ms=2, label=label)
    if hist:
        bottom.legend(fontsize=6)
    bottom.set_xlabel("seconds")
    bottom.set_ylabel("best objective")
    bottom.set_yscale("log")
    bottom.set_title(f"{result.method}: objective {result.objective:.4g}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
