"""The RGB-D views of one object prepared for the fitting objective (:mod:`backend.objective`): moved into the
object frame, downscaled to the objective's render width, with the targets of its image terms (the mask's soft
outline, the observed depth of whole blocks, the nearest depth for free space)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .cameras import Cameras
from .render import RasterSettings
from .structures import Frames

__all__ = ["RASTER", "Views", "prepare_views", "soft_outline"]

RASTER = RasterSettings(znear=0.05, bary=False)
"""How the objective renders candidates (the silhouette's edge width is also its target's: :func:`soft_outline`)."""


@dataclass
class Views:
    """RGB-D views prepared for the objective (object frame, downscaled).

    Attributes:
        cameras: :class:`backend.cameras.Cameras` in the object frame at the render scale.
        mask: ``(C, h, w)`` float, the fraction of each pixel's block in the instance mask (None without
            masks).
        outline: ``(C, h, w)`` float, the target of the silhouette term (None without masks): the soft
            silhouette the renderer draws for a shape whose outline is the mask's (:func:`soft_outline`).
        core: ``(C, h, w)`` bool, blocks entirely in the mask: the pixels of the depth term (a block
            on the object's outline has no single depth to compare with).
        depth: ``(C, h, w)`` observed depth of the core blocks (mean of their valid pixels, 0 = none).
        nearest: ``(C, h, w)`` nearest observed depth of each block (any pixel; 0 = none), for free space.
        counted: ``(C, h, w)`` bool pixels the silhouette IoU counts (not hidden by another object).
        pixels_per_object_pixel: valid observed pixels per mask pixel (rescales the free-space
            penalty from "per observed pixel" to "per object pixel"; 1 without masks).
    """

    cameras: Cameras
    mask: torch.Tensor | None
    outline: torch.Tensor | None
    core: torch.Tensor | None
    depth: torch.Tensor | None
    nearest: torch.Tensor
    counted: torch.Tensor | None
    pixels_per_object_pixel: float = 1.0

    def to(self, device: torch.device) -> Views:
        def move(t):
            return None if t is None else t.to(device)

        return Views(self.cameras.to(device), move(self.mask), move(self.outline), move(self.core), move(self.depth), move(self.nearest),
                      move(self.counted), self.pixels_per_object_pixel)


def soft_outline(masks: torch.Tensor, f: int, h: int, w: int, settings: RasterSettings) -> torch.Tensor:
    """The soft silhouette that ``settings``' renderer draws for a shape whose outline is the masks', at the
    render scale: ``(C, H, W)`` bool masks -> ``(C, h, w)`` coverage in [0, 1] at the centres of the ``f x f``
    pixel blocks.

    The renderer's soft silhouette is the rescaled sigmoid of a pixel centre's signed distance to the outline
    (``settings.sigma``, ``settings.silhouette_eps``). It is not the fraction of the pixel the shape covers: a
    part one pixel wide draws about 1.3 pixels across, and a part of no width still draws 0.7. Compared with
    the mask's coverage, the silhouette term pulled every thin part thinner (a chair's 3 cm round legs held at
    the 2.5 cm bound of their range, where the finer objective's gradient still pointed thinner although the
    truth scored 12 % better). The target is the same function of the mask's own outline: the signed distance
    from every pixel centre to the boundary between the mask's pixels and the others (half-way between their
    centres; exact Euclidean distance transforms), taken at the render pixels' centres and measured in
    render pixels. The image's edge is no outline (a part cut by it continues beyond)."""
    from scipy import ndimage

    m = masks.detach().cpu().numpy().astype(bool)[:, : h * f, : w * f]
    # the render pixels' centres in full-resolution pixels: one pixel (odd f) or the mean of the central two
    lo, hi = (f - 1) // 2, f // 2
    out = np.empty((len(m), h, w))
    for k, mk in enumerate(m):
        if not mk.any() or mk.all():
            out[k] = 1.0 if mk.all() else 0.0
            continue
        sd = np.where(mk, 0.5 - ndimage.distance_transform_edt(mk), ndimage.distance_transform_edt(~mk) - 0.5)
        blocks = sd.reshape(h, f, w, f)
        centre = 0.25 * (blocks[:, lo, :, lo] + blocks[:, lo, :, hi] + blocks[:, hi, :, lo] + blocks[:, hi, :, hi])
        out[k] = settings.coverage(torch.from_numpy(centre / f)).numpy()
    return torch.from_numpy(out).float()


def prepare_views(frames: Frames, object_from_world: torch.Tensor, max_views: int, render_width: int) -> Views | None:
    depth = frames.depth.float()
    c_all = depth.shape[0]
    masks = frames.masks
    if masks is not None:
        area = masks.reshape(c_all, -1).sum(1)
        usable = torch.nonzero(area > 0).squeeze(1)
    else:
        usable = torch.arange(c_all)
    if len(usable) == 0 or max_views <= 0:
        return None
    pick = usable[torch.unique(torch.linspace(0, len(usable) - 1, min(max_views, len(usable))).round().long())]
    f = max(1, round(frames.cameras.width / max(1, render_width)))
    h, w = frames.cameras.height // f, frames.cameras.width // f
    if h < 2 or w < 2:
        f, h, w = 1, frames.cameras.height, frames.cameras.width

    def blocks(x: torch.Tensor) -> torch.Tensor:  # (C, H, W) -> (C, h, w, f * f)
        x = x[pick][:, : h * f, : w * f]
        return x.reshape(len(pick), h, f, w, f).permute(0, 1, 3, 2, 4).reshape(len(pick), h, w, f * f)

    d = blocks(depth)
    valid = (d > 0) & torch.isfinite(d)
    nearest = torch.where(valid, d, torch.full_like(d, math.inf)).amin(-1)
    nearest = torch.where(torch.isfinite(nearest), nearest, torch.zeros_like(nearest))
    mask = outline = core = obs_depth = counted = None
    if masks is not None:
        m = blocks(masks.float()) > 0.5
        mask = m.float().mean(-1)
        outline = soft_outline(masks[pick] > 0.5, f, h, w, RASTER)
        core = m.all(-1)
        inside = m & valid
        n_in = inside.sum(-1)
        obs_depth = torch.where(core & (n_in > 0), (d * inside).sum(-1) / n_in.clamp_min(1), torch.zeros_like(nearest))
        if frames.instances is not None and frames.instance_id is not None:
            inst = blocks(frames.instances.float())
            other = (inst != 0) & (inst != float(frames.instance_id))
            counted = (other.float().mean(-1) < 0.5) | (mask > 0)
        else:
            counted = torch.ones_like(core)
    intr = frames.cameras.intrinsics[pick].double().clone()
    intr[:, :2] /= f
    intr[:, 2:] = (intr[:, 2:] + 0.5) / f - 0.5
    pose = object_from_world.double() @ frames.cameras.cam_to_world[pick].double()
    cams = Cameras(intrinsics=intr.float(), cam_to_world=pose.float(), width=w, height=h)
    ratio = float((nearest > 0).sum()) / max(1.0, float(mask.sum())) if mask is not None else 1.0
    return Views(cams, mask, outline, core, obs_depth, nearest, counted, ratio)
