"""Export a Blender geometry-node program to the IR (needs ``bpy``, never torch).

Works inside a live Blender session (``export_object`` / ``export_node_group``)
and headless from a ``.blend`` path (``export_blend``). Handles files saved by
Blender 4.0 to 5.0: ``Input_N`` and ``Socket_N`` identifiers, Frames (dropped),
Reroutes (kept, pass-through), muted nodes (kept with Blender's internal
links), muted and invalid links (dropped), unavailable sockets (kept, flagged
``enabled: false``; sockets are always addressed by identifier) and nested
groups. The modifier's current input values become the entry group's
defaults; the group's own defaults are kept as ``interface_default``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .ir import SCHEMA_VERSION, Group, Link, Node, Program, ProgramError, program_from_dict, quote, topological_order

__all__ = ["export_blend", "export_node_group", "export_object", "find_geometry_nodes_modifier"]

# Properties every node has; they are layout or bookkeeping, not semantics.
_SKIP_PROPS = {
    "rna_type", "type", "location", "location_absolute", "width", "width_hidden", "height",
    "dimensions", "name", "label", "inputs", "outputs", "internal_links", "parent", "warning_propagation",
    "use_custom_color", "color", "color_tag", "select", "show_options", "show_preview", "hide",
    "mute", "show_texture", "bl_idname", "bl_label", "bl_description", "bl_icon", "bl_static_type",
    "bl_width_default", "bl_width_min", "bl_width_max", "bl_height_default", "bl_height_min",
    "bl_height_max", "node_tree", "active_item", "active_index", "debug_zone_body_lazy_function_graph",
    "debug_zone_lazy_function_graph",
}


def _value(v: Any) -> Any:
    """Convert a bpy value (floats, vectors, ID pointers, ID property arrays) to JSON data."""
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if hasattr(v, "to_list"):
        return v.to_list()
    if hasattr(v, "name") and hasattr(v, "users"):  # an ID (Material, Object, ...)
        return v.name
    try:
        return [_value(x) for x in v]
    except TypeError:
        return str(v)


def _collection_items(coll: Any) -> list:
    out = []
    for it in coll:
        d = {}
        for p in it.bl_rna.properties:
            if p.identifier in ("rna_type",):
                continue
            if p.type in ("BOOLEAN", "INT", "FLOAT", "STRING", "ENUM"):
                d[p.identifier] = _value(getattr(it, p.identifier))
        out.append(d)
    return out


def _node_properties(node: Any) -> dict:
    props: dict[str, Any] = {}
    for p in node.bl_rna.properties:
        ident = p.identifier
        if ident in _SKIP_PROPS or ident.startswith("bl_"):
            continue
        val = getattr(node, ident, None)
        if p.type in ("BOOLEAN", "INT", "FLOAT", "STRING", "ENUM"):
            if p.type == "ENUM" and getattr(p, "is_enum_flag", False):
                val = sorted(val)
            props[ident] = _value(val)
        elif p.type == "POINTER":
            if val is not None and hasattr(val, "users"):
                props[ident] = val.name
            elif val is not None and val.bl_rna.identifier == "CurveMapping":
                props[ident] = _curve_mapping(val)
            elif val is not None and val.bl_rna.identifier == "ColorRamp":
                props[ident] = _color_ramp(val)
            elif val is not None and hasattr(val, "bl_idname") and hasattr(val, "inputs"):
                props[ident] = val.name  # a node (a zone input's ``paired_output``): its name
        elif p.type == "COLLECTION":
            items = _collection_items(val)
            if items:
                props[ident] = items
    if node.bl_idname == "ShaderNodeValue":
        props["value"] = float(node.outputs[0].default_value)
    return props


def _curve_mapping(m: Any) -> dict:
    """A CurveMapping (Float Curve, Vector Curves) as data: each curve's points ``[x, y, handle type]``,
    the extend mode, and the clipping rectangle ``[min x, min y, max x, max y]`` with its flag."""
    return {
        "curves": [[[float(p.location[0]), float(p.location[1]), str(p.handle_type)] for p in c.points] for c in m.curves],
        "extend": str(m.extend),
        "use_clip": bool(m.use_clip),
        "clip": [float(m.clip_min_x), float(m.clip_min_y), float(m.clip_max_x), float(m.clip_max_y)],
    }


def _color_ramp(r: Any) -> dict:
    """A ColorRamp (Color Ramp node) as data: its stops ``[position, [r, g, b, a]]`` in Blender's
    (sorted) order and its interpolation, color mode and hue interpolation."""
    return {
        "elements": [[float(e.position), [float(c) for c in e.color]] for e in r.elements],
        "interpolation": str(r.interpolation),
        "color_mode": str(r.color_mode),
        "hue_interpolation": str(r.hue_interpolation),
    }


def _socket_default(sock: Any) -> Any:
    if sock.type == "MENU":
        return getattr(sock, "default_value", None)
    if not hasattr(sock, "default_value"):
        return None
    return _value(sock.default_value)


def _socket(sock: Any) -> dict:
    return {
        "identifier": sock.identifier,
        "name": sock.name,
        "type": sock.type,
        "default": _socket_default(sock),
        "enabled": bool(sock.enabled),
        "multi_input": bool(sock.is_multi_input),
    }


def _link_used(lk: Any) -> bool:
    """Blender evaluates a link only when it is valid (types convert, no cycle), not muted,
    and both of its sockets are available; links from or to Frames are layout only."""
    if lk.is_muted or not lk.is_valid:
        return False
    if not (lk.from_socket.enabled and lk.to_socket.enabled):
        return False
    return lk.from_node.bl_idname != "NodeFrame" and lk.to_node.bl_idname != "NodeFrame"


def _check_cycles(ng: Any, names: list[str]) -> None:
    """Blender refuses to evaluate a tree with a cycle of (unmuted, available) links, even though
    it marks those links invalid; raise instead of exporting a program Blender would not run."""
    group = Group(name=ng.name, nodes=[Node(name=n, bl_idname="") for n in names])
    known = set(names)
    for lk in ng.links:
        if lk.is_muted or not (lk.from_socket.enabled and lk.to_socket.enabled):
            continue
        if lk.from_node.name in known and lk.to_node.name in known:
            group.links.append(Link(lk.from_node.name, "", lk.to_node.name, ""))
    try:
        topological_order(group)
    except ProgramError as exc:
        raise ProgramError(str(exc).replace("cycle through", "link cycle through") + "; Blender cannot evaluate it") from None


def _multi_input_order(links: list) -> list:
    # Blender evaluates a multi-input socket's links top to bottom in the editor,
    # which is descending multi_input_sort_id.
    return sorted(links, key=lambda lk: -lk.multi_input_sort_id)


def _export_group(ng: Any, groups: dict) -> None:
    if ng.name in groups:
        return
    groups[ng.name] = None  # placeholder against recursion
    inputs, outputs = [], []
    for item in ng.interface.items_tree:
        if item.item_type != "SOCKET":
            continue
        parent = getattr(item, "parent", None)
        d = {
            "identifier": item.identifier,
            "name": item.name,
            "type": _interface_type(item),
            "socket_type": item.socket_type,
            "default": _value(getattr(item, "default_value", None)),
            "min": _value(getattr(item, "min_value", None)),
            "max": _value(getattr(item, "max_value", None)),
            "subtype": getattr(item, "subtype", "NONE") or "NONE",
            "panel": parent.name if parent is not None and parent.name else None,
        }
        (inputs if item.in_out == "INPUT" else outputs).append(d)
    nodes, links = [], []
    for node in ng.nodes:
        if node.bl_idname == "NodeFrame":
            continue
        nd = {
            "name": node.name,
            "bl_idname": node.bl_idname,
            "label": node.label,
            "mute": bool(node.mute),
            "properties": _node_properties(node),
            "inputs": [_socket(s) for s in node.inputs],
            "outputs": [_socket(s) for s in node.outputs],
            "internal_links": [[lk.from_socket.identifier, lk.to_socket.identifier] for lk in node.internal_links] if node.mute else [],
            "group": None,
        }
        if node.bl_idname == "GeometryNodeGroup":
            if node.node_tree is None:
                raise ProgramError(f"group {quote(ng.name)} node {quote(node.name)}: Group node has no node group")
            nd["group"] = node.node_tree.name
            _export_group(node.node_tree, groups)
        nodes.append(nd)
    _check_cycles(ng, names=[nd["name"] for nd in nodes])
    by_target: dict[tuple, list] = {}
    for lk in ng.links:
        if _link_used(lk):
            by_target.setdefault((lk.to_node.name, lk.to_socket.identifier), []).append(lk)
    for lks in by_target.values():
        for lk in _multi_input_order(lks) if len(lks) > 1 else lks:
            links.append(
                {
                    "from_node": lk.from_node.name,
                    "from_socket": lk.from_socket.identifier,
                    "to_node": lk.to_node.name,
                    "to_socket": lk.to_socket.identifier,
                }
            )
    _add_menu_items(inputs, ng)
    groups[ng.name] = {"inputs": inputs, "outputs": outputs, "nodes": nodes, "links": links}


_SOCKET_TYPE_BY_IDNAME = {
    "NodeSocketFloat": "VALUE", "NodeSocketInt": "INT", "NodeSocketBool": "BOOLEAN",
    "NodeSocketVector": "VECTOR", "NodeSocketColor": "RGBA", "NodeSocketRotation": "ROTATION",
    "NodeSocketMatrix": "MATRIX", "NodeSocketString": "STRING", "NodeSocketMenu": "MENU",
    "NodeSocketGeometry": "GEOMETRY", "NodeSocketMaterial": "MATERIAL", "NodeSocketObject": "OBJECT",
    "NodeSocketCollection": "COLLECTION", "NodeSocketImage": "IMAGE", "NodeSocketTexture": "TEXTURE",
}


def _interface_type(item: Any) -> str:
    return _SOCKET_TYPE_BY_IDNAME.get(item.socket_type, "CUSTOM")


def _add_menu_items(inputs: list, ng: Any) -> None:
    """MENU inputs take their item names from the Menu Switch they drive (Blender infers them the same way)."""
    for d in inputs:
        if d["type"] == "MENU":
            items = _menu_items(ng, d["identifier"])
            if items:
                d["items"] = list(items.values())


def _menu_items(ng: Any, ident: str) -> dict[int, str]:
    """Item id -> name for MENU input ``ident`` of ``ng``: the items of the first Menu Switch it
    drives, followed through reroutes, MENU Switches and nested groups ({} when none)."""
    for n in ng.nodes:
        if n.bl_idname == "NodeGroupInput":
            found = _menu_items_from(ng, n, ident, set())
            if found is not None:
                return found
    return {}


def _menu_items_from(ng: Any, node: Any, out_identifier: str, seen: set) -> dict[int, str] | None:
    key = (ng.name, node.name, out_identifier)
    if key in seen:
        return None
    seen.add(key)
    for lk in ng.links:
        if lk.from_node != node or lk.from_socket.identifier != out_identifier or not _link_used(lk):
            continue
        to, to_id = lk.to_node, lk.to_socket.identifier
        found = None
        if to.bl_idname == "GeometryNodeMenuSwitch" and to_id == "Menu":
            # bpy hides NodeEnumItem's id; the Menu Switch names each item's input socket Item_<id>
            found = {int(s.identifier[5:]): s.name for s in to.inputs
                     if s.identifier.startswith("Item_") and s.identifier[5:].isdigit()}
        elif to.bl_idname == "NodeReroute":
            found = _menu_items_from(ng, to, to.outputs[0].identifier, seen)
        elif to.bl_idname == "GeometryNodeSwitch" and to_id in ("False", "True"):
            found = _menu_items_from(ng, to, "Output", seen)
        elif to.bl_idname == "GeometryNodeGroup" and to.node_tree is not None:
            for inner in to.node_tree.nodes:
                if inner.bl_idname == "NodeGroupInput" and found is None:
                    found = _menu_items_from(to.node_tree, inner, to_id, seen)
        if found is not None:
            return found
    return None


def find_geometry_nodes_modifier(obj: Any) -> Any:
    for mod in obj.modifiers:
        if mod.type == "NODES" and mod.node_group is not None:
            return mod
    return None


def export_node_group(ng: Any, modifier: Any = None, source: str = "", object_name: str = "") -> Program:
    """Export ``ng`` and every group it uses; ``modifier`` values override the entry defaults."""
    import bpy

    groups: dict = {}
    _export_group(ng, groups)
    if modifier is not None:
        for d in groups[ng.name]["inputs"]:
            _apply_modifier_value(modifier, d)
    data = {
        "schema_version": SCHEMA_VERSION,
        "blender_version": bpy.app.version_string,
        "entry": ng.name,
        "source": source,
        "object": object_name,
        "groups": groups,
    }
    return program_from_dict(data, source=source)


def _apply_modifier_value(modifier: Any, d: dict) -> None:
    """The modifier's value of entry input ``d`` becomes its default (the group's own is kept
    as ``interface_default``). MENU values are stored as item ids; they become item names."""
    ident = d["identifier"]
    if d["type"] == "GEOMETRY" or ident not in set(modifier.keys()):
        return
    if modifier.get(f"{ident}_use_attribute"):
        raise ProgramError(f"modifier input {quote(d['name'])} reads the attribute "
                           f"{quote(modifier.get(ident + '_attribute_name', ''))}; attribute inputs are not supported")
    val = _value(modifier[ident])
    if d["type"] == "MENU":  # an item id; unset (-1) or unknown: no item, the switches give defaults
        names = _menu_items(modifier.node_group, ident) or _menu_item_names(modifier, ident)
        val = names.get(val, "") if isinstance(val, int) else val
    elif d["type"] == "BOOLEAN":
        val = bool(val)
    d["interface_default"] = d["default"]
    d["default"] = val


def _menu_item_names(modifier: Any, ident: str) -> dict[int, str]:
    """Item id -> name of a MENU modifier input, from its ID property UI data ({} when unknown)."""
    try:
        items = modifier.id_properties_ui(ident).as_dict().get("items") or []
    except (TypeError, KeyError, AttributeError):
        return {}
    # each item: (identifier, name, description, icon, value)
    return {int(it[4]): str(it[1]) for it in items if len(it) >= 5}


def export_object(obj: Any) -> Program:
    mod = find_geometry_nodes_modifier(obj)
    if mod is None:
        raise ProgramError(f"object {quote(obj.name)} has no geometry-nodes modifier")
    import bpy

    return export_node_group(mod.node_group, mod, source=bpy.data.filepath, object_name=obj.name)


def export_blend(path: str | Path, object_name: str | None = None) -> Program:
    """Open ``path`` and export the geometry-nodes program of ``object_name``
    (default: the first object, by name, that has a geometry-nodes modifier)."""
    import bpy

    path = Path(path)
    if not path.is_file():
        raise ProgramError(f"{path}: no such file")
    try:
        bpy.ops.wm.open_mainfile(filepath=str(path.resolve()), load_ui=False)
    except RuntimeError as exc:
        raise ProgramError(f"{path}: Blender cannot open it: {str(exc).strip().splitlines()[-1]}") from None
    if object_name is not None:
        obj = bpy.data.objects.get(object_name)
        if obj is None:
            raise ProgramError(f"{path}: no object named {quote(object_name)}")
        if find_geometry_nodes_modifier(obj) is None:
            raise ProgramError(f"{path}: object {quote(object_name)} has no geometry-nodes modifier")
    else:
        objs = [o for o in sorted(bpy.data.objects, key=lambda o: o.name) if find_geometry_nodes_modifier(o)]
        if not objs:
            raise ProgramError(f"{path}: no object with a geometry-nodes modifier")
        obj = objs[0]
    prog = export_object(obj)
    prog.source = path.name
    return prog
