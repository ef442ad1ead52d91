"""Zones: Repeat (Repeat Input / Repeat Output) and For Each Geometry Element (Blender 4.3+).

A zone is a pair of nodes: the input node names its output node in ``paired_output``. The nodes
between them (those that depend on the zone input and feed the zone output) are the zone's body;
the code generator (:mod:`translator.zonegen`) makes the body a local function and calls
:func:`translator.runtime.repeat_zone` / :func:`translator.runtime.foreach_element_zone` with it
(:mod:`translator.runtime.zones` says what each computes). Nodes that feed the body without depending
on the zone input run once, before the zone (Blender would compute the same value in every
iteration).

The checks here refuse, at translation time and in one line, what is not translated: an unpaired
zone node, item types without a runtime value (strings, menus, objects, ...), an iteration domain
outside POINT, EDGE, FACE, CORNER, CURVE, INSTANCE (layers of Grease Pencil).
"""

from __future__ import annotations

from . import special

__all__: list[str] = []

#: zone input node type -> its output node type
ZONE_PAIRS = {"GeometryNodeRepeatInput": "GeometryNodeRepeatOutput",
              "GeometryNodeForeachGeometryElementInput": "GeometryNodeForeachGeometryElementOutput"}
#: socket types a zone item may have
ITEM_TYPES = frozenset({"GEOMETRY", "VALUE", "INT", "BOOLEAN", "VECTOR", "RGBA", "ROTATION", "MATRIX"})
#: socket types a For Each main / generation attribute item may have (values stored as attributes)
ATTRIBUTE_ITEM_TYPES = frozenset({"VALUE", "INT", "BOOLEAN", "VECTOR", "RGBA", "ROTATION", "MATRIX"})
DOMAINS = ("POINT", "EDGE", "FACE", "CORNER", "CURVE", "INSTANCE")


def _items_check(n) -> str | None:
    for s in n.inputs:
        if s.type != "CUSTOM" and s.enabled and s.identifier not in ("Iterations", "Geometry", "Selection") \
                and s.type not in ITEM_TYPES:
            return f"zone item {s.name!r} of type {s.type} is not supported"
    if not n.properties.get("paired_output") and getattr(n, "bl_idname", "") in ZONE_PAIRS:
        return "zone input is not paired with an output node"
    return None


def _foreach_check(n) -> str | None:
    reason = _items_check(n)
    if reason:
        return reason
    dom = n.properties.get("domain", "POINT")
    if dom not in DOMAINS:
        return f"For Each Geometry Element domain {dom!r} is not supported"
    for it in n.properties.get("generation_items") or ():
        if it.get("domain", "POINT") not in DOMAINS:
            return f"For Each Geometry Element generation item domain {it.get('domain')!r} is not supported"
    return None


_REPEAT = ("iterations from a discrete parameter, a folded constant or any value shared by the batch (guarded); "
           "state items of every type, fields included; nested zones (5.0.1 has no Skip input)")
_FOREACH = ("meshes (POINT, EDGE, FACE, CORNER), point clouds, instances, curves; selection, input fields, main "
            "outputs written back, generation outputs joined with their attributes; the Element output on every domain")
special("GeometryNodeRepeatInput", "repeat_input", _items_check, label="Repeat Input", notes=_REPEAT, grad="yes")
special("GeometryNodeRepeatOutput", "repeat_output", _items_check, label="Repeat Output", notes=_REPEAT, grad="yes")
special("GeometryNodeForeachGeometryElementInput", "foreach_input", _items_check,
        label="For Each Geometry Element Input", notes=_FOREACH, grad="yes")
special("GeometryNodeForeachGeometryElementOutput", "foreach_output", _foreach_check,
        label="For Each Geometry Element Output", notes=_FOREACH,
        modes={"domain": DOMAINS}, grad="yes")
