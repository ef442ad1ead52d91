"""Probe programs: evaluate one node in Blender and in the translator and compare.

A probe is a tiny geometry-node program around one node under test. Each of
the node's operands is driven by a group input (named after the operand's
socket identifier), so one built program is evaluated for many operand sets.
The node's results become points of the probe's mesh: each vector output one
point, scalar outputs (float, integer and boolean, the latter two through
Blender's implicit conversion to float) three to a point through Combine XYZ.
The mesh also holds two anchor points, the origin and ``(s, s, s)`` (``s`` =
``scale``, 1 by default), so its size, the scale of the harness's tolerance, is
``max(s, extent of the results)``: results are compared within ``1e-5 * s``
absolutely and ``1e-5`` relatively when larger, as a shape of size ``s`` is.
Without the anchor a result near zero that Blender computes by cancellation
(``2.77 - 2.77``) would be held to a tolerance float32 cannot meet.

Typical use::

    probe = build_probe("ShaderNodeMath", {"Value": "FLOAT", "Value_001": "FLOAT"}, ["Value"])
    for op in operations:
        probe.node.operation = op
        probe.check(value_sets)  # re-translates, then tests every set in Blender and the translator

Operand values should be float32-representable (see :func:`f32`) so that both
sides start from the same numbers; Blender computes in float32, the
translator in float64, and the harness compares within ``1e-5`` of the size.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import parity
import torch

__all__ = ["Probe", "build_probe", "draw_sets", "f32", "f32_values"]

INTERFACE_SOCKETS = {
    "FLOAT": "NodeSocketFloat",
    "INT": "NodeSocketInt",
    "BOOLEAN": "NodeSocketBool",
    "VECTOR": "NodeSocketVector",
}


def f32(x: float) -> float:
    """``x`` rounded to the nearest float32 (as a Python float)."""
    return float(np.float32(x))


def f32_values(values: dict[str, Any]) -> dict[str, Any]:
    """A value set with every float (and vector component) rounded to float32; ints and bools kept."""
    out: dict[str, Any] = {}
    for k, v in values.items():
        if isinstance(v, int):  # ints and bools
            out[k] = v
        elif isinstance(v, (tuple, list)):
            out[k] = tuple(f32(c) for c in v)
        else:
            out[k] = f32(v)
    return out


def draw_sets(seed: int, spec: dict[str, tuple], count: int, extra: Iterable[dict[str, Any]] = ()) -> list[dict[str, Any]]:
    """``count`` random value sets from ``spec`` (see :func:`parity.random_values`), then ``extra``
    (explicit edge cases; operands they omit are drawn at random); all rounded to float32."""
    rng = random.Random(seed)
    sets = [f32_values(parity.random_values(rng, spec)) for _ in range(count)]
    for e in extra:
        sets.append(f32_values({**parity.random_values(rng, spec), **e}))
    return sets


@dataclass
class Probe:
    """A built probe program around ``node``, the node under test. The keys of a value set are
    the names of the group inputs: the identifiers of the operand sockets they drive."""

    ng: Any
    obj: Any
    node: Any

    def translate(self):
        """Export and compile the program as it is now (after changing the node's properties)."""
        return parity.translate_object(self.obj)

    def check(self, value_sets: Iterable[dict[str, Any]]) -> int:
        """Translate, then assert parity with Blender for every value set; returns the count."""
        return parity.check_parity(self.obj, value_sets, self.translate())

    def check_batched(self, value_sets: Sequence[dict[str, Any]]) -> int:
        """Like :meth:`check`, but the translator evaluates every set in one call, its continuous
        inputs stacked into ``(B,)`` / ``(B, 3)`` tensors (discrete inputs must agree across sets)."""
        module = self.translate()
        blender = []
        discrete: dict[str, Any] = {}
        stacked: dict[str, list] = {}
        for values in value_sets:
            parity.set_inputs(self.obj, values)
            blender.append(parity.evaluate_blender(self.obj))
            d, c = parity.split_values(module, values)
            assert not discrete or d == discrete, f"discrete inputs differ across a batch: {d} != {discrete}"
            discrete = d
            for k, v in c.items():
                stacked.setdefault(k, []).append(v)
        mesh = module.program(discrete, {k: torch.cat(v) for k, v in stacked.items()})
        for i, (bm, values) in enumerate(zip(blender, value_sets)):
            parity.compare(bm, mesh, index=i, what=f"batch element {i}, values {values}")
        return len(blender)

    def set_default(self, identifier: str, value: Any) -> None:
        """Set an unlinked input socket's value on the node under test."""
        parity.in_socket(self.node, identifier).default_value = value

    def link_input(self, name: str, identifier: str) -> None:
        """Also drive the node's socket ``identifier`` from the existing group input ``name``
        (through Blender's implicit conversion when the types differ)."""
        item = next(i for i in self.ng.interface.items_tree if i.item_type == "SOCKET" and i.name == name)
        gin = parity.group_input(self.ng)
        self.ng.links.new(parity.out_socket(gin, item.identifier), parity.in_socket(self.node, identifier))


def build_probe(bl_idname: str, operands: dict[str, str], outputs: Sequence[str], scale: float = 1.0, **props: Any) -> Probe:
    """Build a probe around a new ``bl_idname`` node.

    Args:
        operands: node input socket identifier -> group input type (``FLOAT``, ``INT``, ``BOOLEAN``,
            ``VECTOR``); each gets a group input of that name and type linked to the socket.
        outputs: node output socket identifiers whose values become probe points: each vector output
            one point, scalar outputs three to a point.
        scale: the anchor's size (see the module docstring).
        props: node properties to set before linking (``operation``, ``data_type``, ...).
    """
    ng = parity.new_tree("Probe")
    gin = parity.group_input(ng)
    node = ng.nodes.new(bl_idname)
    for k, v in props.items():
        setattr(node, k, v)
    for ident, kind in operands.items():
        item = parity.add_input(ng, ident, INTERFACE_SOCKETS[kind])
        ng.links.new(parity.out_socket(gin, item.identifier), parity.in_socket(node, ident))

    vector_sources = [(node, o) for o in outputs if parity.out_socket(node, o).type == "VECTOR"]
    scalars = [o for o in outputs if parity.out_socket(node, o).type != "VECTOR"]
    for i in range(0, len(scalars), 3):
        cxyz = ng.nodes.new("ShaderNodeCombineXYZ")
        for axis, o in zip(("X", "Y", "Z"), scalars[i : i + 3]):
            ng.links.new(parity.out_socket(node, o), parity.in_socket(cxyz, axis))
        vector_sources.append((cxyz, "Vector"))

    # Each result vector is a one-point Mesh Line; the anchor is a two-point line from the origin
    # to (scale, scale, scale). All are joined into the probe's mesh.
    join = ng.nodes.new("GeometryNodeJoinGeometry")
    for src, sock in vector_sources:
        point = ng.nodes.new("GeometryNodeMeshLine")
        parity.in_socket(point, "Count").default_value = 1
        ng.links.new(parity.out_socket(src, sock), parity.in_socket(point, "Start Location"))
        ng.links.new(parity.out_socket(point, "Mesh"), parity.in_socket(join, "Geometry"))
    anchor = ng.nodes.new("GeometryNodeMeshLine")
    parity.in_socket(anchor, "Count").default_value = 2
    parity.in_socket(anchor, "Offset").default_value = (scale, scale, scale)
    ng.links.new(parity.out_socket(anchor, "Mesh"), parity.in_socket(join, "Geometry"))
    ng.links.new(parity.out_socket(join, "Geometry"), parity.in_socket(parity.group_output(ng), "Socket_0"))
    obj = parity.make_object(ng)
    return Probe(ng=ng, obj=obj, node=node)
