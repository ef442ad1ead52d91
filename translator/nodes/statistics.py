"""Geometry statistics: Bounding Box and Attribute Statistic.

* Bounding Box (``node_geo_bounding_box.cc``): Min and Max are the corners of the axis-aligned box
  around the geometry's own (top-level, not instanced) vertices and points (points grown by their radius with
  Use Radius; curves are not counted), zeros when it has none; the
  Bounding Box output replaces every geometry, the top level and each instanced one, by a
  2 x 2 x 2 Cube spanning its own box (geometry without vertices disappears), so instances keep
  their boxes.
* Attribute Statistic (``node_geo_attribute_statistic.cc``): the selected values of a float or
  vector field on one domain of the top-level components (meshes for the mesh domains, instances
  for INSTANCE), gathered in order; mean, median (the mean of the middle two for an even count),
  sum, min, max, range, the population variance (Blender 5.0 divides by ``n``) and its
  square root, per component for vectors; all zero when nothing is selected.

Results are batched: ``(B, 3)`` / ``(B,)`` tensors, differentiable (min / max / median pass the
gradient to the chosen elements). The statistic's selection decides which elements count, so it is
one mask shared by the batch. Checked against Blender in ``tests/translator/nodes/test_statistics.py``.
"""

from __future__ import annotations

from typing import Any

import torch

from .. import runtime as rt
from ..geometry import GeometrySet
from . import node
from .attributes import modify_geometry_sets
from .fields import evaluate, instance_context, mesh_context, selection_mask
from .primitives import mesh_cube
from .transform import apply_matrix_to_geometry

__all__ = ["attribute_statistic", "bounding_box", "geometry_bounds"]


def geometry_bounds(geo: GeometrySet, use_radius: bool = True) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``(min, max)`` ``(b, 3)`` of the geometry's own mesh vertices and point cloud points (instances not
    included; with ``use_radius`` each point grown by its ``radius`` attribute when it has one); None when none."""
    lows, highs = [], []
    mesh = geo.mesh
    if mesh is not None and mesh.num_verts:
        lows.append(mesh.verts.amin(1))
        highs.append(mesh.verts.amax(1))
    pts = geo.points
    if pts is not None and pts.num_verts:
        p = pts.verts
        r = pts.attributes.get("radius")
        if use_radius and r is not None:
            rr = r.data.to(p.dtype).unsqueeze(-1)
            lows.append((p - rr).amin(1))
            highs.append((p + rr).amax(1))
        else:
            lows.append(p.amin(1))
            highs.append(p.amax(1))
    if not lows:
        return None
    b = max(int(t.shape[0]) for t in lows)
    lo = torch.stack([t.expand(b, 3) for t in lows]).amin(0)
    hi = torch.stack([t.expand(b, 3) for t in highs]).amax(0)
    return lo, hi


def _box(lo: torch.Tensor, hi: torch.Tensor) -> GeometrySet:
    size = hi - lo
    cube, _ = mesh_cube(size=size, outputs_used=("Mesh",))
    m = torch.eye(4, dtype=lo.dtype, device=lo.device).repeat(lo.shape[0], 1, 1)
    m[:, :3, 3] = lo + size * 0.5
    return apply_matrix_to_geometry(cube, m)


@node("GeometryNodeBoundBox", outputs=("Bounding Box", "Min", "Max"), pure=False, label="Bounding Box", grad="yes",
      notes="meshes and point clouds (grown by their radii with Use Radius); a box per instanced geometry; curves are not counted")
def bounding_box(geometry=None, use_radius=True):
    """Bounding Box: ``(box geometry, min (B, 3), max (B, 3))`` (see the module)."""
    zero = (0.0, 0.0, 0.0)
    if geometry is None:
        return GeometrySet(), zero, zero
    radius = bool(rt.static(use_radius, "Bounding Box use radius"))
    top = geometry_bounds(geometry, radius)

    def on_set(g: GeometrySet) -> GeometrySet:
        b = top if g is geometry else geometry_bounds(g, radius)
        if b is None:
            return GeometrySet(instances=g.instances)
        return GeometrySet(mesh=_box(*b).mesh, instances=g.instances)

    box = modify_geometry_sets(geometry, on_set)
    if top is None:
        return box, zero, zero
    return box, top[0], top[1]


_OUTPUTS = ("Mean", "Median", "Sum", "Min", "Max", "Range", "Standard Deviation", "Variance")
_DOMAINS = ("POINT", "EDGE", "FACE", "CORNER", "INSTANCE")


def _statistics(data: torch.Tensor) -> list[torch.Tensor]:
    """``data (b, n)`` or ``(b, n, 3)`` -> the 8 statistics ``(b,)`` / ``(b, 3)``."""
    n = data.shape[1]
    s = data.sum(1)
    mean = s / n
    srt = torch.sort(data, dim=1).values
    med = srt[:, n // 2]
    if n % 2 == 0:
        med = (med + srt[:, n // 2 - 1]) * 0.5
    lo, hi = srt[:, 0], srt[:, -1]
    var = ((data - mean.unsqueeze(1)) ** 2).sum(1) / n if n > 1 else torch.zeros_like(mean)
    pos = var > 0
    std = torch.where(pos, torch.sqrt(torch.where(pos, var, torch.ones_like(var))), torch.zeros_like(var))
    return [mean, med, s, lo, hi, hi - lo, std, var]


@node("GeometryNodeAttributeStatistic", outputs=_OUTPUTS, props=("data_type", "domain"), pure=False,
      label="Attribute Statistic", modes={"data_type": ("FLOAT", "FLOAT_VECTOR"), "domain": _DOMAINS}, grad="yes",
      notes="meshes and instances; the selection is shared by the batch")
def attribute_statistic(geometry=None, selection=True, attribute=0.0, data_type: str = "FLOAT",
                        domain: str = "POINT") -> tuple[Any, ...]:
    """Attribute Statistic: mean, median, sum, min, max, range, standard deviation and variance of
    ``attribute`` (floats ``(B,)``, or vectors ``(B, 3)`` for FLOAT_VECTOR; Blender 5.0 types the
    sockets by the data type)."""
    vector = data_type == "FLOAT_VECTOR"
    sock = "VECTOR" if vector else "VALUE"
    chunks = []
    if geometry is not None:
        contexts = []
        if domain == "INSTANCE":
            if geometry.instances is not None and geometry.instances.count:
                contexts.append(instance_context(geometry.instances))
        elif geometry.mesh is not None and geometry.mesh.domain_size(domain):
            contexts.append(mesh_context(geometry.mesh, domain))
        for fctx in contexts:
            vals = evaluate(attribute, fctx, sock)
            if selection is not True:
                vals = vals[:, selection_mask(selection, fctx, "an Attribute Statistic selection")]
            chunks.append(vals)
    if not chunks or not sum(int(c.shape[1]) for c in chunks):
        return tuple([(0.0, 0.0, 0.0) if vector else 0.0] * 8)
    b = max(int(c.shape[0]) for c in chunks)
    return tuple(_statistics(torch.cat([c.expand(b, *c.shape[1:]) for c in chunks], 1)))
