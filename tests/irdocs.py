"""Build Program IR documents by hand (plain dicts, as the exporter writes them).

Socket identifiers, types and defaults mirror what ``translator.blender_export``
writes for Blender 5.0.1 (``tests/test_export.py`` checks that against bpy), so
tests without bpy exercise the same documents. Every helper returns JSON data.
"""

from __future__ import annotations

from typing import Any

from translator.ir import SCHEMA_VERSION

__all__ = [
    "combine_xyz",
    "compare",
    "group",
    "group_input",
    "group_node",
    "group_output",
    "iface",
    "index_switch",
    "join",
    "link",
    "math",
    "menu_switch",
    "mesh_line",
    "node",
    "program",
    "reroute",
    "sock",
    "switch",
    "transform",
    "value",
]

GEOMETRY_OUT = {"identifier": "Socket_0", "name": "Geometry", "type": "GEOMETRY"}


def sock(identifier: str, type: str = "VALUE", default: Any = None, name: str | None = None,
         enabled: bool = True, multi_input: bool = False) -> dict:
    return {"identifier": identifier, "name": name if name is not None else identifier, "type": type,
            "default": default, "enabled": enabled, "multi_input": multi_input}


def iface(identifier: str, type: str, default: Any = None, name: str | None = None, **extra: Any) -> dict:
    return {"identifier": identifier, "name": name if name is not None else identifier, "type": type,
            "default": default, **extra}


def node(name: str, bl_idname: str, inputs=(), outputs=(), properties: dict | None = None, mute: bool = False,
         internal_links=(), group: str | None = None, label: str = "") -> dict:
    return {"name": name, "bl_idname": bl_idname, "label": label, "mute": mute, "properties": dict(properties or {}),
            "inputs": list(inputs), "outputs": list(outputs), "internal_links": [list(p) for p in internal_links],
            "group": group}


def link(from_node: str, from_socket: str, to_node: str, to_socket: str) -> dict:
    return {"from_node": from_node, "from_socket": from_socket, "to_node": to_node, "to_socket": to_socket}


def group(nodes: list[dict], links: list[dict], inputs=(), outputs=(GEOMETRY_OUT,)) -> dict:
    return {"inputs": [dict(s) for s in inputs], "outputs": [dict(s) for s in outputs], "nodes": nodes, "links": links}


def program(groups: dict[str, dict], entry: str | None = None, source: str = "test") -> dict:
    return {"schema_version": SCHEMA_VERSION, "blender_version": "5.0.1", "entry": entry or next(iter(groups)),
            "source": source, "object": "Obj", "groups": groups}


# -- nodes as Blender 5.0.1 exports them ---------------------------------------


def group_input(interface: list[dict], name: str = "Group Input") -> dict:
    return node(name, "NodeGroupInput", outputs=[sock(s["identifier"], s["type"], name=s.get("name")) for s in interface])


def group_output(outputs=(GEOMETRY_OUT,), name: str = "Group Output") -> dict:
    return node(name, "NodeGroupOutput", inputs=[sock(s["identifier"], s["type"], name=s.get("name")) for s in outputs],
                properties={"is_active_output": True})


def math(name: str, operation: str = "ADD", a: float = 0.5, b: float = 0.5, c: float = 0.5, mute: bool = False) -> dict:
    unary = operation in {"SQRT", "ABSOLUTE", "SINE", "COSINE", "FLOOR", "CEIL", "ROUND", "SIGN", "EXPONENT"}
    ternary = operation in {"MULTIPLY_ADD", "COMPARE", "WRAP", "SMOOTH_MIN", "SMOOTH_MAX"}
    return node(name, "ShaderNodeMath",
                inputs=[sock("Value", default=a), sock("Value_001", default=b, enabled=not unary),
                        sock("Value_002", default=c, enabled=ternary)],
                outputs=[sock("Value")], properties={"operation": operation, "use_clamp": False},
                mute=mute, internal_links=[("Value", "Value")] if mute else ())


def compare(name: str, operation: str = "GREATER_THAN", b: float = 0.0) -> dict:
    """Compare (FLOAT, element-wise): A, B -> Result (BOOLEAN); the other types' sockets are unavailable."""
    def off(identifier, type, default):
        return sock(identifier, type, default, name=identifier[0], enabled=False)

    return node(name, "FunctionNodeCompare",
                inputs=[sock("A", default=0.0), sock("B", default=b), off("A_INT", "INT", 0), off("B_INT", "INT", 0),
                        off("A_VEC3", "VECTOR", [0.0] * 3), off("B_VEC3", "VECTOR", [0.0] * 3),
                        off("A_COL", "RGBA", [0.8, 0.8, 0.8, 1.0]), off("B_COL", "RGBA", [0.8, 0.8, 0.8, 1.0]),
                        off("A_STR", "STRING", ""), off("B_STR", "STRING", ""), sock("C", default=0.9, enabled=False),
                        sock("Angle", default=0.0873, enabled=False), sock("Epsilon", default=0.001, enabled=False)],
                outputs=[sock("Result", "BOOLEAN")],
                properties={"operation": operation, "data_type": "FLOAT", "mode": "ELEMENT"})


def combine_xyz(name: str, x: float = 0.0, y: float = 0.0, z: float = 0.0) -> dict:
    return node(name, "ShaderNodeCombineXYZ", inputs=[sock("X", default=x), sock("Y", default=y), sock("Z", default=z)],
                outputs=[sock("Vector", "VECTOR")])


def mesh_line(name: str, count: int = 10, offset=(0.0, 0.0, 1.0), start=(0.0, 0.0, 0.0), mode: str = "OFFSET") -> dict:
    return node(name, "GeometryNodeMeshLine",
                inputs=[sock("Count", "INT", count), sock("Resolution", "VALUE", 1.0, enabled=False),
                        sock("Start Location", "VECTOR", list(start)), sock("Offset", "VECTOR", list(offset))],
                outputs=[sock("Mesh", "GEOMETRY")], properties={"mode": mode, "count_mode": "TOTAL"})


def transform(name: str, translation=(0.0, 0.0, 0.0), rotation=(0.0, 0.0, 0.0), scale=(1.0, 1.0, 1.0)) -> dict:
    return node(name, "GeometryNodeTransform",
                inputs=[sock("Geometry", "GEOMETRY"), sock("Mode", "MENU", "Components"),
                        sock("Translation", "VECTOR", list(translation)), sock("Rotation", "ROTATION", list(rotation)),
                        sock("Scale", "VECTOR", list(scale)), sock("Transform", "MATRIX")],
                outputs=[sock("Geometry", "GEOMETRY")])


def join(name: str) -> dict:
    return node(name, "GeometryNodeJoinGeometry", inputs=[sock("Geometry", "GEOMETRY", multi_input=True)],
                outputs=[sock("Geometry", "GEOMETRY")])


def value(name: str, v: float) -> dict:
    return node(name, "ShaderNodeValue", outputs=[sock("Value")], properties={"value": v})


def reroute(name: str, type: str = "VALUE") -> dict:
    return node(name, "NodeReroute", inputs=[sock("Input", type)], outputs=[sock("Output", type)])


_SOCKET_TYPE = {"FLOAT": "VALUE"}


def switch(name: str, input_type: str = "GEOMETRY", false: Any = None, true: Any = None, condition: bool = False) -> dict:
    t = _SOCKET_TYPE.get(input_type, input_type)
    return node(name, "GeometryNodeSwitch",
                inputs=[sock("Switch", "BOOLEAN", condition), sock("False", t, false), sock("True", t, true)],
                outputs=[sock("Output", t)], properties={"input_type": input_type})


def index_switch(name: str, data_type: str, items: list, index: int = 0) -> dict:
    t = _SOCKET_TYPE.get(data_type, data_type)
    return node(name, "GeometryNodeIndexSwitch",
                inputs=[sock("Index", "INT", index)] + [sock(f"Item_{k}", t, v, name=str(k)) for k, v in enumerate(items)],
                outputs=[sock("Output", t)],
                properties={"data_type": data_type, "index_switch_items": [{"identifier": k} for k in range(len(items))]})


def menu_switch(name: str, data_type: str, items: dict[str, Any], menu: str = "") -> dict:
    t = _SOCKET_TYPE.get(data_type, data_type)
    names = list(items)
    return node(name, "GeometryNodeMenuSwitch",
                inputs=[sock("Menu", "MENU", menu or names[0])]
                + [sock(f"Item_{k}", t, v, name=nm) for k, (nm, v) in enumerate(items.items())],
                outputs=[sock("Output", t)] + [sock(f"Item_{k}", "BOOLEAN", name=nm) for k, nm in enumerate(names)],
                properties={"data_type": data_type, "enum_items": [{"name": nm, "description": ""} for nm in names]})


def group_node(name: str, group_name: str, group_doc: dict) -> dict:
    """A Group node for ``group_doc`` (its interface becomes the node's sockets)."""
    return node(name, "GeometryNodeGroup", group=group_name,
                inputs=[sock(s["identifier"], s["type"], s.get("default"), name=s.get("name")) for s in group_doc["inputs"]],
                outputs=[sock(s["identifier"], s["type"], name=s.get("name")) for s in group_doc["outputs"]])
