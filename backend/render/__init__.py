"""Differentiable depth and soft-silhouette rendering of batched triangle meshes.

``render(verts, faces, cameras)`` draws ``N`` candidate meshes (one shared
triangle list, or one per candidate padded with degenerate triangles) into ``C`` views and returns,
per pixel:

* ``depth`` ``(N, C, H, W)``: camera-frame ``z`` of the nearest surface, ``0``
  where nothing is hit (ScanNet's invalid value). It is the perspective-correct
  interpolation of the visible triangle's vertex depths,
  ``1 / z = sum_i lambda_i / z_i`` (``lambda`` the screen-space barycentrics),
  so it is differentiable w.r.t. the three vertices of the visible triangle;
  which triangle is visible is a discrete choice with no gradient.
* ``silhouette`` ``(N, C, H, W)`` in ``[0, 1]`` (SoftRas-style): triangle ``j``
  covers pixel ``p`` with probability
  ``D_j = clamp((sigmoid(-d_j(p) / sigma) - eps) / (1 - 2 eps), 0, 1)``, where
  ``d_j`` is the signed screen-space distance in pixels from the pixel centre
  to the projected triangle (negative inside) and ``eps =
  RasterSettings.silhouette_eps``; the silhouette is ``1 - prod_j (1 - D_j)``
  over the triangles visible somewhere in that view (in the z-buffer; hidden
  triangles cannot change the outline) at a pixel the mesh covers, and
  ``max_j D_j`` over those and every triangle facing the camera (the nearest
  triangle's: the coverage of their union, whose distance is the least of
  theirs) at a pixel it does not, so that a part tiled by many thin triangles
  spreads as far as a single triangle would, slivers that no pixel centre hits
  included (``RasterSettings.coverage`` gives ``D``). The rescaling makes
  ``D_j`` exactly 0 beyond ``band = sigma * ln((1 - eps) / eps)`` px outside the triangle and
  exactly 1 that far inside, so only a band around the edges is evaluated, and
  the result stays continuous. Pixels whose whole ``(2r + 1)^2`` neighbourhood
  (``r = ceil(band)``, clipped to the image) is covered by the mesh are set to
  1 (no soft seams along interior edges). Gradients reach the two vertices of
  the nearest edge of every triangle in a pixel's band.
* ``face_index`` ``(N, C, H, W)`` int64, the visible triangle (``-1``: background).
* ``bary`` ``(N, C, H, W, 3)`` perspective-correct barycentrics of the visible
  point (weights of the triangle's vertices; ``0`` on background).

Conventions: cameras are :class:`backend.cameras.Cameras` (ScanNet/OpenCV
pinhole, pixel centres at integer coordinates). Triangles with a vertex closer
than ``RasterSettings.znear`` to the camera plane, and triangles seen exactly
edge-on (projected area below ``1e-10`` px^2), are culled; there is no clipping.
Both sides of a triangle are drawn unless ``RasterSettings.cull_backfaces``.

Backends: renderers register under a name (:func:`register_renderer`);
``"torch"`` is the fast pure-PyTorch rasterizer (the same code on CPU and
CUDA), ``"reference"`` a slow per-pixel, per-triangle loop used by the tests
to check the fast path's values and gradients.

How ``"torch"`` works: the discrete part (which pixels each triangle touches,
the z-buffer, which pixels are saturated) runs without autograd on exact
per-row spans of each triangle (no ``N x C x H x W x F`` tensors): for every
pixel row a triangle touches, the pixel interval inside it (or inside it grown
by the silhouette band) is solved from its three edge inequalities. The
z-buffer is a ``scatter_reduce(amin)`` over keys ``(depth bits << 32) | face``.
Then only the visible triangle of each hit pixel (depth, barycentrics) and the
(pixel, triangle) pairs in the silhouette band are evaluated with autograd (the
silhouette pairs with a hand-written backward). Images are processed in chunks
bounded by ``RasterSettings.max_pairs``.
"""

from . import raster as _raster  # noqa: F401  (registers "torch")
from .base import AREA_EPS, LEN_EPS, RasterSettings, Renderer, RenderOutput, register_renderer, render, render_mesh, renderers
from .reference import render_reference

__all__ = ["AREA_EPS", "LEN_EPS", "RasterSettings", "RenderOutput", "Renderer", "register_renderer", "render",
           "render_mesh", "render_reference", "renderers"]
