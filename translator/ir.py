"""Program IR: a versioned, JSON-serialisable description of a geometry-node program.

The IR is pure data. This module imports neither torch nor bpy, never executes
anything read from a file, and validates a document on load so that a broken
program fails with one clear message naming the group, node or link at fault.

Layout of a document (``schema_version`` 1)::

    {
      "schema_version": 1,
      "blender_version": "5.0.1",
      "entry": "Geometry Nodes",          # the group the modifier uses
      "source": "table.blend",            # where it came from (informative)
      "object": "Cube",                   # the object that carried the modifier
      "groups": {
        "Geometry Nodes": {
          "inputs":  [ {identifier, name, type, socket_type, default, min, max,
                        subtype, panel, items} ... ],
          "outputs": [ ... same keys ... ],
          "nodes":   [ {name, bl_idname, label, mute, properties, group,
                        inputs: [{identifier, name, type, default, enabled,
                                  multi_input}],
                        outputs: [...], internal_links: [[in_id, out_id], ...]} ],
          "links":   [ {from_node, from_socket, to_node, to_socket} ... ]
        }, ...
      }
    }

Socket ``type`` uses Blender's ``NodeSocket.type`` names (``VALUE``, ``INT``,
``BOOLEAN``, ``VECTOR``, ``RGBA``, ``ROTATION``, ``MATRIX``, ``STRING``,
``MENU``, ``GEOMETRY``, ``MATERIAL``, ``OBJECT``, ``COLLECTION``, ...). Links
into a multi-input socket are listed in Blender's order. Muted links and Frame
nodes are dropped by the exporter; muted nodes stay, flagged ``mute`` with
their ``internal_links`` (Blender's pass-through).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "SCHEMA_VERSION",
    "ProgramError",
    "Socket",
    "InterfaceSocket",
    "Node",
    "Link",
    "Group",
    "Program",
    "load_program",
    "program_from_dict",
    "save_program",
    "validate",
    "topological_order",
    "quote",
]

SCHEMA_VERSION = 1

SOCKET_TYPES = frozenset(
    {
        "VALUE", "INT", "BOOLEAN", "VECTOR", "RGBA", "ROTATION", "MATRIX", "STRING",
        "MENU", "GEOMETRY", "MATERIAL", "OBJECT", "COLLECTION", "IMAGE", "TEXTURE",
        "SHADER", "CUSTOM", "BUNDLE", "CLOSURE",
    }
)


class ProgramError(ValueError):
    """A program (IR document, .blend export or translation) is invalid.

    The message is one line naming the file, group, node or link at fault.
    """


_QUOTE_LIMIT = 80


def quote(text: Any, limit: int = _QUOTE_LIMIT) -> str:
    """``text`` quoted for a one-line message: control characters and line breaks
    escaped (``repr``), cut to ``limit`` characters (``'abc…'``)."""
    text = str(text)
    if len(text) > limit:
        return repr(text[:limit]) + "…"
    return repr(text)


# A node type names a registered Python-free identifier such as ``GeometryNodeMeshLine``.
_BL_IDNAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,127}")


@dataclass
class Socket:
    """A node's input or output socket."""

    identifier: str
    name: str
    type: str
    default: Any = None
    enabled: bool = True
    multi_input: bool = False


@dataclass
class InterfaceSocket:
    """One input or output of a node group's interface."""

    identifier: str
    name: str
    type: str
    socket_type: str = ""
    default: Any = None
    min: float | None = None
    max: float | None = None
    subtype: str = "NONE"
    panel: str | None = None
    items: list[str] | None = None  # MENU inputs: the item names, in order
    interface_default: Any = None  # the group's own default when the modifier overrode it


@dataclass
class Node:
    name: str
    bl_idname: str
    label: str = ""
    mute: bool = False
    properties: dict[str, Any] = field(default_factory=dict)
    inputs: list[Socket] = field(default_factory=list)
    outputs: list[Socket] = field(default_factory=list)
    internal_links: list[list[str]] = field(default_factory=list)
    group: str | None = None  # node group used by a Group node

    def input(self, identifier: str) -> Socket:
        for s in self.inputs:
            if s.identifier == identifier:
                return s
        raise KeyError(identifier)

    def output(self, identifier: str) -> Socket:
        for s in self.outputs:
            if s.identifier == identifier:
                return s
        raise KeyError(identifier)


@dataclass
class Link:
    from_node: str
    from_socket: str
    to_node: str
    to_socket: str


@dataclass
class Group:
    name: str
    inputs: list[InterfaceSocket] = field(default_factory=list)
    outputs: list[InterfaceSocket] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)


@dataclass
class Program:
    entry: str
    groups: dict[str, Group]
    blender_version: str = ""
    source: str = ""
    object: str = ""
    schema_version: int = SCHEMA_VERSION
    path: str = ""  # the file this program was loaded from (not serialised)

    @property
    def entry_group(self) -> Group:
        return self.groups[self.entry]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["groups"] = {k: asdict(g) for k, g in self.groups.items()}
        return {k: d[k] for k in ("schema_version", "blender_version", "entry", "source", "object", "groups")}


def _json_safe(value: Any) -> Any:
    """Replace non-finite floats (Blender's +-FLT_MAX ranges are finite; inf/nan are not JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def save_program(program: Program, path: str | Path) -> None:
    """Write ``program`` as pretty JSON (stable key order, so diffs stay readable)."""
    text = json.dumps(_json_safe(program.to_dict()), indent=1, sort_keys=False)
    Path(path).write_text(text + "\n", encoding="utf-8")


def load_program(path: str | Path) -> Program:
    """Read and validate an IR document. Raises :class:`ProgramError` naming the file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProgramError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProgramError(f"{path}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ProgramError(f"{path}: not valid JSON: {exc}") from None
    try:
        prog = program_from_dict(data, source=str(path))
    except ProgramError as exc:
        raise ProgramError(f"{path}: {exc}") from None
    prog.path = str(path)
    return prog


def _req(d: Any, key: str, kind: type | tuple, where: str) -> Any:
    if not isinstance(d, dict):
        raise ProgramError(f"{where}: expected an object, got {type(d).__name__}")
    if key not in d:
        raise ProgramError(f"{where}: missing field '{key}'")
    v = d[key]
    if not isinstance(v, kind):
        raise ProgramError(f"{where}: field '{key}' must be {getattr(kind, '__name__', kind)}, got {type(v).__name__}")
    return v


def _socket(d: dict, where: str) -> Socket:
    ident = _req(d, "identifier", str, where)
    where = f"{where} socket '{ident}'"
    typ = _req(d, "type", str, where)
    if typ not in SOCKET_TYPES:
        raise ProgramError(f"{where}: unknown socket type '{typ}'")
    return Socket(
        identifier=ident,
        name=str(d.get("name", ident)),
        type=typ,
        default=d.get("default"),
        enabled=bool(d.get("enabled", True)),
        multi_input=bool(d.get("multi_input", False)),
    )


def _iface(d: dict, where: str) -> InterfaceSocket:
    ident = _req(d, "identifier", str, where)
    where = f"{where} '{ident}'"
    typ = _req(d, "type", str, where)
    if typ not in SOCKET_TYPES:
        raise ProgramError(f"{where}: unknown socket type '{typ}'")
    items = d.get("items")
    if items is not None and not (isinstance(items, list) and all(isinstance(i, str) for i in items)):
        raise ProgramError(f"{where}: 'items' must be a list of strings")
    def num(key: str) -> float | None:
        v = d.get(key)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ProgramError(f"{where}: '{key}' must be a number")
        return float(v)
    return InterfaceSocket(
        identifier=ident,
        name=str(d.get("name", ident)),
        type=typ,
        socket_type=str(d.get("socket_type", "")),
        default=d.get("default"),
        min=num("min"),
        max=num("max"),
        subtype=str(d.get("subtype", "NONE")),
        panel=d.get("panel") if isinstance(d.get("panel"), str) else None,
        items=items,
        interface_default=d.get("interface_default"),
    )


def program_from_dict(data: Any, source: str = "") -> Program:
    """Build a :class:`Program` from parsed JSON and validate its structure.

    Checks: schema version, field types, unique node names, links between
    existing nodes and sockets, Group nodes that name an existing group, no
    cycles inside a group and no recursion between groups.
    """
    if not isinstance(data, dict):
        raise ProgramError("program must be a JSON object")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ProgramError(f"unsupported schema_version {version!r} (this ShapeProg reads {SCHEMA_VERSION})")
    entry = _req(data, "entry", str, "program")
    groups_raw = _req(data, "groups", dict, "program")
    groups: dict[str, Group] = {}
    for gname, g in groups_raw.items():
        where = f"group '{gname}'"
        nodes = []
        seen = set()
        for i, nd in enumerate(_req(g, "nodes", list, where)):
            name = _req(nd, "name", str, f"{where} node #{i}")
            nwhere = f"{where} node '{name}'"
            if name in seen:
                raise ProgramError(f"{nwhere}: duplicate node name")
            seen.add(name)
            props = nd.get("properties", {})
            if not isinstance(props, dict):
                raise ProgramError(f"{nwhere}: 'properties' must be an object")
            il = nd.get("internal_links", [])
            if not (isinstance(il, list) and all(isinstance(p, list) and len(p) == 2 and all(isinstance(s, str) for s in p) for p in il)):
                raise ProgramError(f"{nwhere}: 'internal_links' must be a list of [input, output] pairs")
            grp = nd.get("group")
            if grp is not None and not isinstance(grp, str):
                raise ProgramError(f"{nwhere}: 'group' must be a string")
            nodes.append(
                Node(
                    name=name,
                    bl_idname=_req(nd, "bl_idname", str, nwhere),
                    label=str(nd.get("label", "")),
                    mute=bool(nd.get("mute", False)),
                    properties=props,
                    inputs=[_socket(s, nwhere) for s in nd.get("inputs", [])],
                    outputs=[_socket(s, nwhere) for s in nd.get("outputs", [])],
                    internal_links=il,
                    group=grp,
                )
            )
        links = []
        for i, ld in enumerate(_req(g, "links", list, where)):
            lw = f"{where} link #{i}"
            links.append(Link(*(_req(ld, k, str, lw) for k in ("from_node", "from_socket", "to_node", "to_socket"))))
        groups[gname] = Group(
            name=gname,
            inputs=[_iface(s, f"{where} input") for s in g.get("inputs", [])],
            outputs=[_iface(s, f"{where} output") for s in g.get("outputs", [])],
            nodes=nodes,
            links=links,
        )
    prog = Program(
        entry=entry,
        groups=groups,
        blender_version=str(data.get("blender_version", "")),
        source=str(data.get("source", source)),
        object=str(data.get("object", "")),
    )
    validate(prog)
    return prog


def validate(prog: Program) -> None:
    """Structural checks; raises :class:`ProgramError` with the first problem found."""
    if prog.entry not in prog.groups:
        raise ProgramError(f"entry group '{prog.entry}' is missing")
    for g in prog.groups.values():
        by_name = {n.name: n for n in g.nodes}
        for n in g.nodes:
            if n.group is not None and n.group not in prog.groups:
                raise ProgramError(f"group '{g.name}' node '{n.name}': uses missing group '{n.group}'")
            ins = {s.identifier for s in n.inputs}
            outs = {s.identifier for s in n.outputs}
            for a, b in n.internal_links:
                if a not in ins or b not in outs:
                    raise ProgramError(f"group '{g.name}' node '{n.name}': internal link {a}->{b} names a missing socket")
        for lk in g.links:
            desc = f"group '{g.name}' link {lk.from_node}:{lk.from_socket} -> {lk.to_node}:{lk.to_socket}"
            src, dst = by_name.get(lk.from_node), by_name.get(lk.to_node)
            if src is None or dst is None:
                raise ProgramError(f"{desc}: dangling link (node '{lk.from_node if src is None else lk.to_node}' does not exist)")
            if lk.from_socket not in {s.identifier for s in src.outputs}:
                raise ProgramError(f"{desc}: dangling link (node '{src.name}' has no output '{lk.from_socket}')")
            if lk.to_socket not in {s.identifier for s in dst.inputs}:
                raise ProgramError(f"{desc}: dangling link (node '{dst.name}' has no input '{lk.to_socket}')")
        order = topological_order(g)
        del order
    _check_group_recursion(prog)


def topological_order(g: Group) -> list[str]:
    """Node names in dependency order (Kahn's algorithm, ties in file order). Raises on cycles."""
    deps: dict[str, set[str]] = {n.name: set() for n in g.nodes}
    users: dict[str, set[str]] = {n.name: set() for n in g.nodes}
    for lk in g.links:
        deps[lk.to_node].add(lk.from_node)
        users[lk.from_node].add(lk.to_node)
    remaining = {k: len(v) for k, v in deps.items()}
    ready = [n.name for n in g.nodes if remaining[n.name] == 0]
    pos = {n.name: i for i, n in enumerate(g.nodes)}
    out = []
    while ready:
        ready.sort(key=pos.__getitem__)
        cur = ready.pop(0)
        out.append(cur)
        for u in users[cur]:
            remaining[u] -= 1
            if remaining[u] == 0:
                ready.append(u)
    if len(out) != len(g.nodes):
        stuck = sorted(k for k, v in remaining.items() if v > 0)
        raise ProgramError(f"group '{g.name}': cycle through nodes {', '.join(repr(s) for s in stuck[:5])}")
    return out


def _check_group_recursion(prog: Program) -> None:
    state: dict[str, int] = {}

    def visit(name: str, chain: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            raise ProgramError(f"group recursion: {' -> '.join(chain + [name])}")
        state[name] = 1
        for n in prog.groups[name].nodes:
            if n.group is not None:
                visit(n.group, chain + [name])
        state[name] = 2

    visit(prog.entry, [])
