"""Field evaluation nodes: Capture Attribute.

Capture Attribute evaluates its fields on one domain of the geometry passing through it, keeps the
values as anonymous attributes (names starting with ``.``, which never leave the program) and
outputs fields that read them back wherever the geometry goes next (moved, joined, realized:
the values travel with their elements, interpolated to the domain that reads them). As in Blender
5.0, the INSTANCE domain captures on the top-level instances; the mesh domains on every mesh,
nested instances included. Only the items whose outputs are read are captured.

Values are stored in their attribute type's representation (see :mod:`.attributes`): ``(b, N)``
or ``(b, N, K)``. Checked against Blender in ``tests/translator/nodes/test_evaluation.py``.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any

from ..geometry import Attribute, GeometrySet, MeshBatch
from . import node
from .attributes import SOCKET_OF_TYPE, from_socket, map_real_meshes, named_attribute
from .fields import evaluate, instance_context, mesh_context

__all__ = ["MAX_CAPTURE_ITEMS", "capture_attribute"]

MAX_CAPTURE_ITEMS = 16
_OUTPUTS = ("Attribute", *(f"Attribute_{i}" for i in range(1, MAX_CAPTURE_ITEMS)))
_INPUTS = ("Value", *(f"Value_{i}" for i in range(1, MAX_CAPTURE_ITEMS)))
_DOMAINS = ("POINT", "EDGE", "FACE", "CORNER", "INSTANCE")
_COUNTER = itertools.count()


def _check_capture(n) -> str | None:
    d = n.properties.get("domain")
    if d not in _DOMAINS:
        return f"Capture Attribute domain {d!r} is not supported (meshes and instances only)"
    items = n.properties.get("capture_items") or []
    if len(items) > MAX_CAPTURE_ITEMS:
        return f"Capture Attribute with more than {MAX_CAPTURE_ITEMS} items is not supported"
    for it in items:
        t = it.get("data_type") if isinstance(it, dict) else None
        if t not in SOCKET_OF_TYPE:
            return f"Capture Attribute item type {t!r} is not supported"
    ins = [s.identifier for s in n.inputs if s.type not in ("GEOMETRY", "CUSTOM")]
    outs = [s.identifier for s in n.outputs if s.type not in ("GEOMETRY", "CUSTOM")]
    if ins != list(_INPUTS[:len(items)]) or outs != list(_OUTPUTS[:len(items)]):
        return "Capture Attribute items whose sockets are not numbered in order (remove and add them again) are not supported"
    return None


def _values(mesh_or_none: MeshBatch | None, fctx, items: list[tuple[str, Any, str]]) -> dict[str, Attribute]:
    out = {}
    for name, value, attr_type in items:
        sock = SOCKET_OF_TYPE[attr_type]
        out[name] = Attribute(fctx.domain, from_socket(evaluate(value, fctx, sock), sock, attr_type), attr_type)
    return out


@node("GeometryNodeCaptureAttribute", outputs=("Geometry", *_OUTPUTS), props=("domain", "capture_items"), pure=False,
      check=_check_capture, outputs_arg=True, label="Capture Attribute", modes={"domain": _DOMAINS}, grad="yes",
      notes=f"up to {MAX_CAPTURE_ITEMS} items of every attribute type; meshes and instances")
def capture_attribute(geometry=None, domain: str = "POINT", capture_items=(), outputs_used=None, **values) -> tuple:
    """Capture Attribute: ``(geometry, field per item...)``; item ``k`` evaluates input ``Value[_k]`` on
    ``domain`` and its output field reads the captured values back (``(b, N, ...)`` where read)."""
    items = list(capture_items or ())
    used = set(outputs_used) if outputs_used is not None else set(_OUTPUTS)
    captured = []  # (anonymous name, value, attribute type, output index)
    for k, it in enumerate(items):
        if _OUTPUTS[k] in used:
            value = values.get(_INPUTS[k].lower(), 0.0)
            captured.append((f".capture_{next(_COUNTER)}", value, it["data_type"], k))
    outputs: list[Any] = [None] * MAX_CAPTURE_ITEMS
    for name, _, attr_type, k in captured:
        outputs[k] = named_attribute(name, attr_type)[0]
    if geometry is None:
        return (GeometrySet(), *outputs)
    spec = [(name, value, attr_type) for name, value, attr_type, _ in captured]
    if not spec:
        return (geometry, *outputs)
    if domain == "INSTANCE":
        inst = geometry.instances
        if inst is not None and inst.count:
            attrs = {**inst.attributes, **_values(None, instance_context(inst), spec)}
            geometry = replace(geometry, instances=replace(inst, attributes=attrs))
        return (geometry, *outputs)

    def on_mesh(mesh: MeshBatch) -> MeshBatch:
        if domain == "EDGE" and mesh.edges is None:
            raise TypeError("cannot capture on the EDGE domain of a mesh that does not track its edges")
        if mesh.domain_size(domain) == 0:
            return mesh
        return replace(mesh, attributes={**mesh.attributes, **_values(mesh, mesh_context(mesh, domain), spec)})

    return (map_real_meshes(geometry, on_mesh), *outputs)
