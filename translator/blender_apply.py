"""Write parameter values back onto a geometry-nodes modifier (bpy only, no torch).

The one place that writes modifier inputs, so the fit outputs, the add-on and
the tests share it (Blender 5.2 changes this API; change it here). Values are
keyed by interface name or identifier; menu values are item names.
"""

from __future__ import annotations

from typing import Any

from .ir import ProgramError

__all__ = ["set_modifier_values", "set_world_matrix"]


def _menu_identifier(ng: Any, name: str, socket: str | None = None) -> int:
    # A Menu Switch names each item's input socket ``Item_<identifier>``. Two menus may share an item's name
    # (a sofa's Arm Style and Chaise both offer 'None'): the item is looked up in the Menu Switch that the
    # interface socket ``socket`` feeds, when there is one.
    switches = [n for n in ng.nodes if n.bl_idname == "GeometryNodeMenuSwitch"]
    if socket is not None:
        fed = [lk.to_node for lk in ng.links if lk.from_node.bl_idname == "NodeGroupInput"
               and lk.from_socket.identifier == socket and lk.to_node.bl_idname == "GeometryNodeMenuSwitch"]
        switches = fed or switches
    for n in switches:
        for s in n.inputs:
            if s.name == name and s.identifier.startswith("Item_"):
                return int(s.identifier[5:])
    raise ProgramError(f"menu item {name!r} not found in group '{ng.name}'")


def set_modifier_values(obj: Any, values: dict[str, Any]) -> None:
    """Set the geometry-nodes modifier inputs of ``obj`` (names or identifiers -> values)."""
    from .blender_export import find_geometry_nodes_modifier

    mod = find_geometry_nodes_modifier(obj)
    if mod is None:
        raise ProgramError(f"object '{obj.name}' has no geometry-nodes modifier")
    items = {}
    for item in mod.node_group.interface.items_tree:
        if item.item_type == "SOCKET" and item.in_out == "INPUT":
            items.setdefault(item.name, item)
            items[item.identifier] = item
    for key, v in values.items():
        item = items.get(key)
        if item is None:
            raise ProgramError(f"object '{obj.name}': the modifier has no input '{key}'")
        st = item.socket_type
        if st == "NodeSocketFloat":
            v = float(v)
        elif st == "NodeSocketInt":
            v = int(v)
        elif st == "NodeSocketBool":
            v = bool(v)
        elif st == "NodeSocketVector":
            v = [float(x) for x in v]
        elif st == "NodeSocketMenu":
            v = _menu_identifier(mod.node_group, v, item.identifier) if isinstance(v, str) else int(v)
        mod[item.identifier] = v
    obj.update_tag()


def set_world_matrix(obj: Any, matrix: Any) -> None:
    """Set ``obj.matrix_world`` from a 4x4 nested list / array (row-major)."""
    from mathutils import Matrix

    obj.matrix_world = Matrix([[float(x) for x in row] for row in matrix])
