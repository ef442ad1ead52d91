"""The renderer's interface: settings, output, the backend registry and :func:`render` (see
:mod:`backend.render` for what the images mean)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch

from ..cameras import Cameras
from ..ops.checks import check_faces

__all__ = ["AREA_EPS", "DIST_EPS", "LEN_EPS", "RasterSettings", "RenderOutput", "Renderer", "check_inputs", "register_renderer",
           "render", "render_mesh", "renderers"]

AREA_EPS = 1e-10
"""Triangles whose projected area (doubled, px^2) is below this are culled."""
LEN_EPS = 1e-8
"""Triangles with a projected edge shorter than this (px) are culled."""
DIST_EPS = 1e-12
"""px^2 added under the square root of the silhouette distance (finite gradient on edges)."""


@dataclass
class RasterSettings:
    """How to rasterize (shared by every renderer backend)."""

    sigma: float = 0.5
    """Soft-silhouette edge width in pixels: a triangle covers a pixel at signed distance d (negative inside)
    with probability about sigmoid(-d / sigma)."""
    silhouette_eps: float = 0.05
    """Soft-silhouette cut-off: coverage is rescaled from [eps, 1 - eps] to [0, 1], so it reaches exactly 0 and 1
    at sigma * ln(1/eps - 1) px from an edge and only that band is evaluated (smaller: wider band, slower)."""
    znear: float = 1e-2
    """Triangles with a vertex closer than this to the camera plane (in scene units, metres) are culled."""
    max_pairs: int = 3_000_000
    """Bound on the (pixel, triangle) pairs processed at once; bounds memory, larger is slightly faster."""
    silhouette: bool = True
    """Compute the soft silhouette (turn off for depth-only renders)."""
    cull_backfaces: bool = False
    """Drop triangles facing away from the camera (faster; exact for closed meshes seen from outside)."""
    bary: bool = True
    """Compute the barycentrics of the visible points (turn off when only depth and silhouette are used: the
    output's ``bary`` is then None)."""

    def __post_init__(self) -> None:
        if not self.sigma > 0:
            raise ValueError(f"sigma must be positive, got {self.sigma}")
        if not 0 < self.silhouette_eps < 0.5:
            raise ValueError(f"silhouette_eps must be in (0, 0.5), got {self.silhouette_eps}")
        if not self.znear > 0:
            raise ValueError(f"znear must be positive, got {self.znear}")
        if int(self.max_pairs) < 1:
            raise ValueError(f"max_pairs must be at least 1, got {self.max_pairs}")

    @property
    def band(self) -> float:
        """Half-width in pixels of the evaluated silhouette band: ``sigma * ln((1 - eps) / eps)``."""
        eps = self.silhouette_eps
        return self.sigma * math.log((1 - eps) / eps)

    def coverage(self, signed: torch.Tensor) -> torch.Tensor:
        """A triangle's (or an outline's) soft coverage ``D = clamp((sigmoid(-d / sigma) - eps) / (1 - 2 eps), 0, 1)``
        of pixels at signed distances ``d`` (px, negative inside; any shape)."""
        eps = self.silhouette_eps
        return torch.clamp((torch.sigmoid(-signed / self.sigma) - eps) / (1 - 2 * eps), 0.0, 1.0)


@dataclass
class RenderOutput:
    """Per-pixel render of ``N`` candidates in ``C`` views of ``H x W`` pixels.

    Attributes:
        depth: ``(N, C, H, W)`` camera-frame z of the nearest surface, 0 on background.
        silhouette: ``(N, C, H, W)`` soft coverage in [0, 1], or ``None`` when not computed.
        face_index: ``(N, C, H, W)`` int64 visible triangle, -1 on background.
        bary: ``(N, C, H, W, 3)`` perspective-correct barycentrics of the visible point, 0 on background, or
            ``None`` when not computed (``RasterSettings.bary`` off).
    """

    depth: torch.Tensor
    silhouette: torch.Tensor | None
    face_index: torch.Tensor
    bary: torch.Tensor | None

    @property
    def mask(self) -> torch.Tensor:
        """``(N, C, H, W)`` bool: pixels where a triangle is visible."""
        return self.face_index >= 0


class Renderer(Protocol):
    """A rendering backend: ``(verts (N, V, 3), faces (F, 3) or (N, F, 3), cameras, settings) -> RenderOutput``."""

    def __call__(self, verts: torch.Tensor, faces: torch.Tensor, cameras: Cameras,
                 settings: RasterSettings) -> RenderOutput: ...


_RENDERERS: dict[str, Renderer] = {}


def register_renderer(name: str) -> Callable[[Renderer], Renderer]:
    """Decorator: register a rendering backend under ``name``."""

    def deco(fn: Renderer) -> Renderer:
        _RENDERERS[name] = fn
        return fn

    return deco


def renderers() -> list[str]:
    """Names of the registered backends."""
    return sorted(_RENDERERS)


def render(verts: torch.Tensor, faces: torch.Tensor, cameras: Cameras, settings: RasterSettings | None = None,
           backend: str = "torch") -> RenderOutput:
    """Render ``N`` meshes into every camera.

    Args:
        verts: ``(N, V, 3)`` (or ``(V, 3)``) world-space vertex positions; float32 or float64.
        faces: ``(F, 3)`` int64 vertex indices shared by the batch, or ``(N, F, 3)``: each mesh its own
            triangles (meshes of different topologies padded to one ``F`` with degenerate triangles, which
            draw nothing).
        cameras: ``C`` cameras (moved to ``verts``' device and dtype).
        settings: raster settings (defaults: :class:`RasterSettings`).
        backend: a registered backend name (see :func:`renderers`).

    Returns:
        :class:`RenderOutput` with ``(N, C, H, W)`` images.
    """
    settings = settings or RasterSettings()
    if backend not in _RENDERERS:
        raise ValueError(f"unknown renderer backend '{backend}' (have: {', '.join(renderers())})")
    verts, faces = check_inputs(verts, faces, cameras)
    return _RENDERERS[backend](verts, faces, cameras.to(device=verts.device, dtype=verts.dtype), settings)


def render_mesh(mesh, cameras: Cameras, settings: RasterSettings | None = None, backend: str = "torch") -> RenderOutput:
    """Render a :class:`translator.geometry.MeshBatch` (its faces fan-triangulated)."""
    return render(mesh.verts, mesh.triangles(), cameras, settings, backend)


def check_inputs(verts: torch.Tensor, faces: torch.Tensor, cameras: Cameras) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(cameras, Cameras):
        raise TypeError(f"cameras must be a backend.cameras.Cameras, got {type(cameras).__name__}")
    if not isinstance(verts, torch.Tensor) or not verts.is_floating_point():
        raise ValueError("verts must be a floating-point tensor (N, V, 3)")
    if verts.ndim == 2:
        verts = verts[None]
    if verts.ndim != 3 or verts.shape[-1] != 3:
        raise ValueError(f"verts must be (N, V, 3), got shape {tuple(verts.shape)}")
    check_faces(faces, verts.shape[0])
    faces = faces.to(device=verts.device, dtype=torch.long)
    if faces.numel() and (int(faces.min()) < 0 or int(faces.max()) >= verts.shape[1]):
        raise ValueError(f"faces index vertices {int(faces.min())}..{int(faces.max())} but there are {verts.shape[1]} vertices")
    if not torch.isfinite(verts).all():
        bad = int(torch.nonzero(~torch.isfinite(verts).reshape(verts.shape[0], -1).all(1))[0])
        raise ValueError(f"verts of candidate {bad} contain NaN or inf")
    return verts, faces
