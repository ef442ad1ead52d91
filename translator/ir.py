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

import hashlib
import json
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "SCHEMA_VERSION",
    "Group",
    "InterfaceSocket",
    "Link",
    "Node",
    "Program",
    "ProgramError",
    "Socket",
    "load_program",
    "program_data",
    "program_from_dict",
    "program_hash",
    "quote",
    "save_program",
    "topological_order",
    "validate",
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


def program_data(program: Program) -> dict:
    """``program`` as JSON data (the IR document; non-finite floats as null)."""
    return _json_safe(program.to_dict())


def save_program(program: Program, path: str | Path) -> None:
    """Write ``program`` as pretty JSON (stable key order, so diffs stay readable)."""
    text = json.dumps(program_data(program), indent=1, sort_keys=False)
    Path(path).write_text(text + "\n", encoding="utf-8")


def load_program(path: str | Path) -> Program:
    """Read and validate an IR document. Raises :class:`ProgramError` naming the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProgramError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProgramError(f"{path}: cannot read: {_one_line(exc)}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProgramError(f"{path}: not valid JSON: {_one_line(exc)}") from None
    except RecursionError:
        raise ProgramError(f"{path}: not valid JSON: nested too deeply") from None
    try:
        prog = program_from_dict(data, source=str(path))
    except ProgramError as exc:
        raise ProgramError(f"{path}: {exc}") from None
    prog.path = str(path)
    return prog


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _type_name(kind: type | tuple) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {"str": "a string", "list": "a list", "dict": "an object", "bool": "true or false",
             "int": "an integer", "float": "a number"}
    return " or ".join(names.get(k.__name__, k.__name__) for k in kinds)


def _json_type(v: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "an integer",
            float: "a number", type(None): "null"}.get(type(v), type(v).__name__)


def _req(d: Any, key: str, kind: type | tuple, where: str) -> Any:
    """``d[key]``, which must exist and be of ``kind`` (bool is never accepted as a number)."""
    if not isinstance(d, dict):
        raise ProgramError(f"{where}: expected an object, got {_json_type(d)}")
    if key not in d:
        raise ProgramError(f"{where}: missing field '{key}'")
    return _typed(d[key], key, kind, where)


def _opt(d: dict, key: str, kind: type | tuple, where: str, default: Any) -> Any:
    """``d[key]`` when present and not null, checked like :func:`_req`; else ``default``."""
    v = d.get(key)
    return default if v is None else _typed(v, key, kind, where)


def _typed(v: Any, key: str, kind: type | tuple, where: str) -> Any:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(v, kinds) or (isinstance(v, bool) and bool not in kinds):
        raise ProgramError(f"{where}: field '{key}' must be {_type_name(kind)}, got {_json_type(v)}")
    return v


_SCALARS = (bool, int, float, str, type(None))


def _is_data(v: Any, allow_objects: bool, depth: int = 0) -> bool:
    """Plain JSON data: scalars and (up to 4 levels of) lists, plus objects when ``allow_objects``."""
    if isinstance(v, _SCALARS):
        return True
    if depth >= 4:
        return False
    if isinstance(v, (list, tuple)):
        return all(_is_data(x, allow_objects, depth + 1) for x in v)
    if allow_objects and isinstance(v, dict):
        return all(isinstance(k, str) and _is_data(x, allow_objects, depth + 1) for k, x in v.items())
    return False


def _default(d: dict, key: str, where: str, typ: str) -> Any:
    """A socket's default value: plain data that fits the socket type (None: the type's default)."""
    v = d.get(key)
    if not _is_data(v, allow_objects=False):
        raise ProgramError(f"{where}: '{key}' must be a number, string, boolean or a list of them")
    expected = _fits(typ, v)
    if expected:
        raise ProgramError(f"{where}: '{key}' {quote(json.dumps(v), 40)} does not fit socket type {typ} ({expected})")
    return v


FLT_MAX = 3.4028234663852886e38
"""The largest float32: Blender stores float sockets as float32, so a larger value cannot come from it."""
INT_MIN, INT_MAX = -(2**31), 2**31 - 1
"""Blender's integer sockets are int32."""


def _is_number(v: Any) -> bool:
    """A finite number within float32 range (JSON's NaN/Infinity, 1e308 and 10**400 are not)."""
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        return False
    return -FLT_MAX <= v <= FLT_MAX  # False for NaN; exact for huge ints (no float conversion)


def _numbers(v: Any, sizes: tuple[int, ...]) -> bool:
    return isinstance(v, list) and len(v) in sizes and all(_is_number(x) for x in v)


def _fits(typ: str, v: Any) -> str:
    """'' when ``v`` can be the default of a ``typ`` socket, else what was expected."""
    if v is None:
        return ""
    if typ == "VALUE":
        return "" if _is_number(v) else "expected a finite number within float32 range"
    if typ == "INT":
        return "" if _is_number(v) and float(v).is_integer() and INT_MIN <= v <= INT_MAX else "expected a 32-bit integer"
    if typ == "BOOLEAN":
        return "" if isinstance(v, bool) or v in (0, 1) else "expected true or false"
    if typ in ("VECTOR", "ROTATION"):
        return "" if _numbers(v, (2, 3, 4)) else "expected a list of 3 finite numbers"
    if typ == "RGBA":
        return "" if _numbers(v, (4,)) else "expected a list of 4 finite numbers"
    if typ == "MATRIX":
        if not isinstance(v, list):
            return "expected 16 numbers"
        flat = v if v and not isinstance(v[0], list) else [x for row in v for x in (row if isinstance(row, list) else [row])]
        return "" if _numbers(flat, (16,)) else "expected 16 numbers"
    if typ in ("STRING", "MENU", "MATERIAL", "OBJECT", "COLLECTION", "IMAGE", "TEXTURE"):
        return "" if isinstance(v, str) else "expected a string"
    if typ == "GEOMETRY":
        return "expected null"
    return ""


def _identifier(d: dict, where: str) -> str:
    ident = _req(d, "identifier", str, where)
    if not ident:
        raise ProgramError(f"{where}: empty socket identifier")
    return ident


def _socket_type(d: dict, where: str) -> str:
    typ = _req(d, "type", str, where)
    if typ not in SOCKET_TYPES:
        raise ProgramError(f"{where}: unknown socket type {quote(typ)}")
    return typ


def _socket(d: Any, where: str) -> Socket:
    ident = _identifier(d, where)
    where = f"{where} socket {quote(ident)}"
    typ = _socket_type(d, where)
    return Socket(
        identifier=ident,
        name=_opt(d, "name", str, where, ident),
        type=typ,
        default=_default(d, "default", where, typ),
        enabled=_opt(d, "enabled", bool, where, True),
        multi_input=_opt(d, "multi_input", bool, where, False),
    )


def _iface(d: Any, where: str) -> InterfaceSocket:
    ident = _identifier(d, where)
    where = f"{where} {quote(ident)}"
    items = _opt(d, "items", list, where, None)
    if items is not None and not all(isinstance(i, str) for i in items):
        raise ProgramError(f"{where}: 'items' must be a list of strings")
    bound = {}
    for key in ("min", "max"):
        v = _opt(d, key, (int, float), where, None)
        if v is not None and not _is_number(v):
            raise ProgramError(f"{where}: '{key}' {quote(json.dumps(v), 40)} is not a finite number within float32 range")
        bound[key] = None if v is None else float(v)
    typ = _socket_type(d, where)
    return InterfaceSocket(
        identifier=ident,
        name=_opt(d, "name", str, where, ident),
        type=typ,
        socket_type=_opt(d, "socket_type", str, where, ""),
        default=_default(d, "default", where, typ),
        min=bound["min"],
        max=bound["max"],
        subtype=_opt(d, "subtype", str, where, "NONE"),
        panel=_opt(d, "panel", str, where, None),
        items=items,
        interface_default=_default(d, "interface_default", where, typ),
    )


def _unique(idents: list[str], what: str, where: str) -> None:
    seen: set[str] = set()
    for i in idents:
        if i in seen:
            raise ProgramError(f"{where}: duplicate {what} {quote(i)}")
        seen.add(i)


def _node(nd: Any, group_where: str, index: int) -> Node:
    name = _req(nd, "name", str, f"{group_where} node #{index}")
    if not name:
        raise ProgramError(f"{group_where} node #{index}: empty node name")
    where = f"{group_where} node {quote(name)}"
    bl_idname = _req(nd, "bl_idname", str, where)
    if not _BL_IDNAME.fullmatch(bl_idname):
        raise ProgramError(f"{where}: invalid bl_idname {quote(bl_idname)} (expected a name such as 'GeometryNodeMeshLine')")
    props = _opt(nd, "properties", dict, where, {})
    for key, v in props.items():
        if not _is_data(v, allow_objects=True):
            raise ProgramError(f"{where}: property {quote(key)} is not plain data")
    inputs = [_socket(s, f"{where} input") for s in _opt(nd, "inputs", list, where, [])]
    outputs = [_socket(s, f"{where} output") for s in _opt(nd, "outputs", list, where, [])]
    _unique([s.identifier for s in inputs], "input socket", where)
    _unique([s.identifier for s in outputs], "output socket", where)
    il = _opt(nd, "internal_links", list, where, [])
    if not all(isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in il):
        raise ProgramError(f"{where}: 'internal_links' must be a list of [input, output] pairs")
    return Node(
        name=name,
        bl_idname=bl_idname,
        label=_opt(nd, "label", str, where, ""),
        mute=_opt(nd, "mute", bool, where, False),
        properties=props,
        inputs=inputs,
        outputs=outputs,
        internal_links=il,
        group=_opt(nd, "group", str, where, None),
    )


def _group(gname: str, g: Any) -> Group:
    where = f"group {quote(gname)}"
    if not isinstance(g, dict):
        raise ProgramError(f"{where}: expected an object, got {_json_type(g)}")
    nodes = [_node(nd, where, i) for i, nd in enumerate(_req(g, "nodes", list, where))]
    _unique([n.name for n in nodes], "node name", where)
    links = []
    for i, ld in enumerate(_req(g, "links", list, where)):
        lw = f"{where} link #{i}"
        links.append(Link(*(_req(ld, k, str, lw) for k in ("from_node", "from_socket", "to_node", "to_socket"))))
    inputs = [_iface(s, f"{where} input") for s in _opt(g, "inputs", list, where, [])]
    outputs = [_iface(s, f"{where} output") for s in _opt(g, "outputs", list, where, [])]
    _unique([s.identifier for s in inputs], "interface input", where)
    _unique([s.identifier for s in outputs], "interface output", where)
    return Group(name=gname, inputs=inputs, outputs=outputs, nodes=nodes, links=links)


def program_from_dict(data: Any, source: str = "") -> Program:
    """Build a :class:`Program` from parsed JSON and validate its structure.

    Checks: schema version, field types (defaults and properties must be plain
    data), node types that are names (never code), unique node names and
    socket identifiers, links between existing nodes and sockets, at most one
    link into a socket that is not multi-input, Group nodes that name an
    existing group, no cycles inside a group and no recursion between groups.
    Raises :class:`ProgramError` with one line naming the group, node or link.
    """
    if not isinstance(data, dict):
        raise ProgramError(f"program must be a JSON object, got {_json_type(data)}")
    version = data.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool) or version != SCHEMA_VERSION:
        raise ProgramError(f"unsupported schema_version {version!r} (this ShapeProg reads {SCHEMA_VERSION})")
    entry = _req(data, "entry", str, "program")
    groups_raw = _req(data, "groups", dict, "program")
    groups = {gname: _group(gname, g) for gname, g in groups_raw.items()}
    prog = Program(
        entry=entry,
        groups=groups,
        blender_version=_opt(data, "blender_version", str, "program", ""),
        source=_opt(data, "source", str, "program", source),
        object=_opt(data, "object", str, "program", ""),
    )
    validate(prog)
    return prog


def validate(prog: Program) -> None:
    """Structural checks; raises :class:`ProgramError` with the first problem found."""
    if prog.entry not in prog.groups:
        known = ", ".join(quote(g) for g in list(prog.groups)[:5]) or "none"
        raise ProgramError(f"entry group {quote(prog.entry)} is missing (groups: {known})")
    for g in prog.groups.values():
        gq = f"group {quote(g.name)}"
        by_name = {n.name: n for n in g.nodes}
        for n in g.nodes:
            if n.group is not None and n.group not in prog.groups:
                raise ProgramError(f"{gq} node {quote(n.name)}: uses missing group {quote(n.group)}")
            ins = {s.identifier for s in n.inputs}
            outs = {s.identifier for s in n.outputs}
            for a, b in n.internal_links:
                if a not in ins or b not in outs:
                    raise ProgramError(f"{gq} node {quote(n.name)}: internal link {quote(a)} -> {quote(b)} names a missing socket")
        into: dict[tuple[str, str], int] = {}
        for lk in g.links:
            desc = f"{gq} link {quote(lk.from_node)}:{quote(lk.from_socket)} -> {quote(lk.to_node)}:{quote(lk.to_socket)}"
            src, dst = by_name.get(lk.from_node), by_name.get(lk.to_node)
            if src is None or dst is None:
                missing = lk.from_node if src is None else lk.to_node
                raise ProgramError(f"{desc}: dangling link (node {quote(missing)} does not exist)")
            if lk.from_socket not in {s.identifier for s in src.outputs}:
                raise ProgramError(f"{desc}: dangling link (node {quote(src.name)} has no output {quote(lk.from_socket)})")
            dst_sock = next((s for s in dst.inputs if s.identifier == lk.to_socket), None)
            if dst_sock is None:
                raise ProgramError(f"{desc}: dangling link (node {quote(dst.name)} has no input {quote(lk.to_socket)})")
            key = (lk.to_node, lk.to_socket)
            into[key] = into.get(key, 0) + 1
            if into[key] > 1 and not dst_sock.multi_input:
                raise ProgramError(f"{desc}: input {quote(lk.to_socket)} of node {quote(dst.name)} is not multi-input but has several links")
        topological_order(g)
    _check_group_recursion(prog)


def topological_order(g: Group) -> list[str]:
    """Node names in dependency order (Kahn's algorithm, ties in file order).

    Raises :class:`ProgramError` naming the nodes of one cycle when there is one.
    """
    deps: dict[str, set[str]] = {n.name: set() for n in g.nodes}
    users: dict[str, set[str]] = {n.name: set() for n in g.nodes}
    for lk in g.links:
        deps[lk.to_node].add(lk.from_node)
        users[lk.from_node].add(lk.to_node)
    remaining = {k: len(v) for k, v in deps.items()}
    pos = {n.name: i for i, n in enumerate(g.nodes)}
    ready = [n.name for n in g.nodes if remaining[n.name] == 0]
    out = []
    while ready:
        ready.sort(key=pos.__getitem__, reverse=True)
        cur = ready.pop()
        out.append(cur)
        for u in users[cur]:
            remaining[u] -= 1
            if remaining[u] == 0:
                ready.append(u)
    if len(out) != len(g.nodes):
        cycle = _find_cycle({k for k, v in remaining.items() if v > 0}, deps, pos)
        shown = " -> ".join(quote(c) for c in cycle[:8]) + (" -> …" if len(cycle) > 8 else "")
        raise ProgramError(f"group {quote(g.name)}: cycle through nodes {shown}")
    return out


def _find_cycle(stuck: set[str], deps: dict[str, set[str]], pos: dict[str, int]) -> list[str]:
    """One cycle among ``stuck`` nodes (each has a dependency inside ``stuck``), closed: [a, b, ..., a]."""
    cur = min(stuck, key=pos.__getitem__)
    path: list[str] = []
    index: dict[str, int] = {}
    while cur not in index:
        index[cur] = len(path)
        path.append(cur)
        cur = min((d for d in deps[cur] if d in stuck), key=pos.__getitem__)
    ring = path[index[cur]:]
    ring.reverse()  # walked against the links; report in link direction
    k = min(range(len(ring)), key=lambda j: pos[ring[j]])  # start at the node listed first
    ring = ring[k:] + ring[:k]
    return ring + ring[:1]


def _check_group_recursion(prog: Program) -> None:
    state: dict[str, int] = {}

    def visit(name: str, chain: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            raise ProgramError(f"group recursion: {' -> '.join(quote(c) for c in chain + [name])}")
        state[name] = 1
        for n in prog.groups[name].nodes:
            if n.group is not None:
                visit(n.group, chain + [name])
        state[name] = 2

    visit(prog.entry, [])


def program_hash(program: Program) -> str:
    """SHA-256 (hex) of a program's IR content (its canonical JSON, key order sorted): equal programs hash
    equal wherever their files live."""
    text = json.dumps(program_data(program), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
