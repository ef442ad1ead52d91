"""Partial evaluation of a program: the values known before it runs.

The code generator and the parameter analysis ask the same questions of a
node graph, and both get their answers here:

* *Where does an input's value come from?* :meth:`PartialEvaluator.sources`
  follows links through reroutes and muted nodes (Blender's pass-through,
  with the implicit conversions on the way) to node outputs or constants.
* *Is that value known?* :meth:`PartialEvaluator.output_value` and
  :meth:`PartialEvaluator.source_value` evaluate, at translation time, pure
  nodes whose inputs are known (with their runtime function, in float32 on
  the CPU, as Blender computes), switches whose choice is known (their taken
  branch), the group's inputs given in ``bound``, and, for an evaluator made
  with ``through_groups=True``, nested groups called with the known part of
  their arguments.
* *Which branch does a switch take?* :meth:`PartialEvaluator.choice`.

The code generator folds with nothing bound (group inputs are run-time
values, group calls stay calls); the parameter analysis binds the discrete
inputs of the entry group and looks through nested groups.

Known values are plain data (:func:`is_plain`: ``None``, bool, int, float,
str, tuples of numbers); a batched tensor, a field or a geometry is never
known and reads as :data:`UNKNOWN`. ``bound`` is a sorted tuple of
``(interface input identifier, plain value)`` pairs (see :func:`bind`), so it
can key the evaluator's caches.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import torch

from . import runtime as rt
from .ir import Group, InterfaceSocket, Node, Program, ProgramError, Socket, quote, topological_order
from .nodes import NodeSpec, kwarg_name, load_all

__all__ = [
    "SELECTOR",
    "UNKNOWN",
    "Bound",
    "PartialEvaluator",
    "Source",
    "active_output",
    "bind",
    "interface_default",
    "is_plain",
    "plain_value",
]

# The input socket that makes a switch's choice, by node kind.
SELECTOR = {"switch": "Switch", "index_switch": "Index", "menu_switch": "Menu"}

Bound = tuple[tuple[str, Any], ...]


class _Unknown:
    """The value of something that is only known when the program runs."""

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __bool__(self) -> bool:
        raise TypeError("UNKNOWN has no truth value; compare with `is UNKNOWN`")


UNKNOWN: Any = _Unknown()


def bind(values: dict[str, Any]) -> Bound:
    """``{input identifier: plain value}`` as a hashable ``bound`` (unknown values left out)."""
    return tuple(sorted((k, v) for k, v in values.items() if v is not UNKNOWN))


def is_plain(value: Any) -> bool:
    """Whether ``value`` is plain data that a generated program can spell as a literal."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(isinstance(v, (bool, int, float)) for v in value)
    return False


def plain_value(value: Any) -> Any:
    """A node's result as plain data: a tensor without batch or gradient becomes a Python
    number / tuple (bool, int or float by dtype; at most 4 components). Raises ``ValueError``
    for anything else (a batched tensor, a field, a geometry)."""
    if isinstance(value, torch.Tensor):
        if value.requires_grad or value.dim() > 1 or (value.dim() == 1 and value.numel() > 4):
            raise ValueError("not a plain value")
        if value.dtype == torch.bool:
            return bool(value.item()) if value.dim() == 0 else [bool(v) for v in value.tolist()]
        if value.dtype.is_floating_point:
            return float(value.item()) if value.dim() == 0 else tuple(float(v) for v in value.tolist())
        return int(value.item()) if value.dim() == 0 else tuple(int(v) for v in value.tolist())
    if isinstance(value, tuple) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        return tuple(float(v) for v in value)
    if is_plain(value):
        return value
    raise ValueError("not a plain value")


def socket_value(type: str, v: Any) -> Any:
    """A socket's stored value as the runtime value: Blender stores a rotation socket's value as XYZ
    Euler angles and uses it as a quaternion (``to_quaternion(EulerXYZ)``); other values are kept."""
    if type == "ROTATION" and v is not None:
        q = rt.rotation_constant(v)
        return q if q is not None else v
    return v


def interface_default(s: InterfaceSocket) -> Any:
    """An interface input's default as plain data (the entry group's: the modifier's value);
    ``None`` where it has none that is plain (a geometry, a matrix)."""
    v = s.default
    if s.type == "GEOMETRY":
        return None
    if s.type == "ROTATION":
        return socket_value("ROTATION", tuple(v) if isinstance(v, list) else v) if v is not None else rt.default_value("ROTATION")
    if isinstance(v, list):
        return tuple(v) if is_plain(v) else None
    if v is None:
        d = rt.default_value(s.type)
        return d if is_plain(d) else None
    if s.type == "BOOLEAN":
        return bool(v)
    if s.type == "INT" and isinstance(v, (int, float)):
        return int(v)
    if s.type == "VALUE" and isinstance(v, (int, float)):
        return float(v)
    return v


def active_output(g: Group) -> Node | None:
    """The Group Output node Blender uses (the active one, else the first), or None."""
    outs = [n for n in g.nodes if n.bl_idname == "NodeGroupOutput"]
    for n in outs:
        if n.properties.get("is_active_output", False):
            return n
    return outs[0] if outs else None


@dataclass(frozen=True)
class Source:
    """Where an input's value comes from: output ``socket`` of ``node``, or the constant
    ``value`` (``node`` None).

    ``type`` is the socket type of that output (or constant); ``via`` the socket types the
    value passes through on the way (a muted node converts its input to its output type).
    """

    node: str | None
    socket: str | None
    type: str
    value: Any = None
    via: tuple[str, ...] = ()

    def steps(self, dst: str) -> list[tuple[str, str]]:
        """The implicit conversions from the source to a ``dst`` socket, in order."""
        chain = [self.type, *self.via, dst]
        return [(a, b) for a, b in itertools.pairwise(chain) if a != b]


_VALUE_TYPES = frozenset({"VALUE", "INT", "BOOLEAN", "VECTOR", "ROTATION", "RGBA", "STRING", "MENU"})


class PartialEvaluator:
    """Sources, known values and switch choices of a program's nodes (memoised).

    ``through_groups``: a Group node's outputs are evaluated from the nested group with the
    known part of the node's inputs bound; otherwise they are never known.
    """

    def __init__(self, program: Program, *, through_groups: bool):
        self.program = program
        self.through_groups = through_groups
        self.registry = load_all()
        self.nodes: dict[str, dict[str, Node]] = {}
        self.incoming: dict[str, dict[tuple[str, str], list[tuple[str, str]]]] = {}
        for g in program.groups.values():
            self.nodes[g.name] = {n.name: n for n in g.nodes}
            inc: dict[tuple[str, str], list[tuple[str, str]]] = {}
            for lk in g.links:
                inc.setdefault((lk.to_node, lk.to_socket), []).append((lk.from_node, lk.from_socket))
            self.incoming[g.name] = inc
        self._sources: dict[tuple[str, str, str], tuple[Source, ...]] = {}
        self._values: dict[tuple[str, str, Bound], dict[str, Any]] = {}

    # -- the graph -----------------------------------------------------------

    def spec(self, node: Node) -> NodeSpec | None:
        return self.registry.get(node.bl_idname)

    def kind(self, node: Node) -> str:
        """The node's kind (``plain``, ``switch``, ``group``, ...; ``plain`` when unregistered)."""
        spec = self.spec(node)
        return spec.kind if spec is not None else "plain"

    @staticmethod
    def enabled_inputs(node: Node) -> list[Socket]:
        return [s for s in node.inputs if s.enabled and s.type != "CUSTOM"]

    def branch_sockets(self, node: Node) -> list[Socket]:
        """A switch's branch inputs, in order (its enabled inputs but the selector)."""
        sel = SELECTOR[self.kind(node)]
        return [s for s in self.enabled_inputs(node) if s.identifier != sel]

    def linked_outputs(self, g: Group, node: Node) -> set[str]:
        """Outputs of ``node`` with a link (directly, or into a reroute / muted node)."""
        return {fs for links in self.incoming[g.name].values() for fn, fs in links if fn == node.name}

    def is_linked(self, g: Group, node: Node, sock_id: str) -> bool:
        return bool(self.incoming[g.name].get((node.name, sock_id)))

    def sources(self, g: Group, node: Node, sock_id: str) -> tuple[Source, ...]:
        """Sources of an input socket (in link order), following reroutes and muted nodes.
        An unlinked input (or one linked only from dangling reroutes, Blender's rule) gives
        its own default, a multi-input nothing."""
        key = (g.name, node.name, sock_id)
        if key not in self._sources:
            sock = node.input(sock_id)
            out = self._links(g, node, sock_id, frozenset())
            if not out and not sock.multi_input:
                out = [Source(None, None, sock.type, socket_value(sock.type, sock.default))]
            self._sources[key] = tuple(out)
        return self._sources[key]

    def _links(self, g: Group, node: Node, sock_id: str, seen: frozenset) -> list[Source]:
        links = self.incoming[g.name].get((node.name, sock_id), [])
        return [s for fn, fs in links for s in self._follow(g, fn, fs, seen)]

    def _follow(self, g: Group, node_name: str, sock_id: str, seen: frozenset) -> list[Source]:
        n = self.nodes[g.name][node_name]
        out_sock = n.output(sock_id)
        if (node_name, sock_id) in seen:
            raise ProgramError(f"group {quote(g.name)} node {quote(n.name)}: pass-through loop")
        seen = seen | {(node_name, sock_id)}
        if n.bl_idname == "NodeReroute":  # nothing when dangling (no link into the chain)
            return self._links(g, n, n.inputs[0].identifier, seen)
        if not n.mute:
            return [Source(node_name, sock_id, out_sock.type)]
        # A muted node passes its internally linked input through, converted to the
        # output's type; a multi-input passes its first link; no internal link: the default.
        for a, b in n.internal_links:
            if b != sock_id:
                continue
            in_sock = n.input(a)
            first = self._links(g, n, a, seen)[:1]
            if not first:
                return [Source(None, None, in_sock.type, socket_value(in_sock.type, in_sock.default), via=(out_sock.type,))]
            return [Source(s.node, s.socket, s.type, s.value, s.via + (in_sock.type, out_sock.type)) for s in first]
        return [Source(None, None, out_sock.type, rt.default_value(out_sock.type))]

    # -- known values --------------------------------------------------------

    def output_value(self, g: Group, node_name: str, sock_id: str, bound: Bound = ()) -> Any:
        """The value of output ``sock_id`` of node ``node_name`` when known, else :data:`UNKNOWN`."""
        return self._node_values(g, node_name, bound).get(sock_id, UNKNOWN)

    def known(self, g: Group, node_name: str, sock_id: str, bound: Bound = ()) -> bool:
        return self.output_value(g, node_name, sock_id, bound) is not UNKNOWN

    def source_value(self, g: Group, src: Source, dst_type: str, bound: Bound = ()) -> Any:
        """The value ``src`` delivers to a ``dst_type`` socket (implicit conversions applied,
        as Blender does in float32) when known, else :data:`UNKNOWN`."""
        v = src.value if src.node is None else self.output_value(g, src.node, src.socket, bound)
        if v is None and src.node is None and src.type in _VALUE_TYPES:  # a default left out: the type's default
            v = rt.default_value(src.type)
        if v is UNKNOWN or not is_plain(v):
            return UNKNOWN
        v = tuple(v) if isinstance(v, list) else v
        try:
            for a, b in src.steps(dst_type):
                with rt.eval_context(torch.float32, "cpu"):
                    v = plain_value(rt.convert(v, a, b))
        except (TypeError, ValueError):
            return UNKNOWN
        return v

    def choice(self, g: Group, node: Node, bound: Bound = ()) -> Any:
        """The branch input a switch takes: a socket of :meth:`branch_sockets`; None when its
        known choice matches no branch (the output is the type's default); :data:`UNKNOWN`
        when the choice is only known at run time."""
        kind = self.kind(node)
        cond = node.input(SELECTOR[kind])
        v = self.source_value(g, self.sources(g, node, cond.identifier)[0], cond.type, bound)
        if v is UNKNOWN:
            return UNKNOWN
        branches = self.branch_sockets(node)
        if kind == "switch":
            return next((s for s in branches if s.identifier == ("True" if v else "False")), None)
        if kind == "index_switch":
            return branches[v] if isinstance(v, int) and 0 <= v < len(branches) else None
        return next((s for s in branches if s.name == v), None)

    def call_bound(self, g: Group, node: Node, bound: Bound = ()) -> Bound:
        """What a Group node passes to its nested group that is known: its ``bound``."""
        sub = self.program.groups[node.group]
        values = {}
        for s in sub.inputs:
            sock = next((x for x in node.inputs if x.identifier == s.identifier), None)
            if sock is None:
                values[s.identifier] = interface_default(s)
            else:
                values[s.identifier] = self.source_value(g, self.sources(g, node, s.identifier)[0], sock.type, bound)
        return bind(values)

    def fold(self, g: Group, bound: Bound = ()) -> None:
        """Evaluate every node of ``g`` in dependency order (later queries are cache hits and
        never recurse deeply)."""
        for name in topological_order(g):
            self._node_values(g, name, bound)

    def _node_values(self, g: Group, name: str, bound: Bound) -> dict[str, Any]:
        key = (g.name, name, bound)
        if key not in self._values:
            self._values[key] = {}  # guards recursion
            self._values[key] = self._evaluate(g, self.nodes[g.name][name], bound)
        return self._values[key]

    def _evaluate(self, g: Group, n: Node, bound: Bound) -> dict[str, Any]:
        """The known outputs of ``n`` (identifier -> plain value)."""
        if n.bl_idname == "NodeGroupInput":
            return dict(bound)
        spec = self.spec(n)
        if spec is None or n.mute:
            return {}
        if spec.kind in SELECTOR:
            return self._switch_values(g, n, bound)
        if spec.kind == "group":
            return self._group_values(g, n, bound) if self.through_groups else {}
        if spec.kind != "plain" or not spec.pure:
            return {}
        kwargs: dict[str, Any] = {}
        for s in self.enabled_inputs(n):
            kw = spec.renames.get(s.identifier, kwarg_name(s.identifier))
            if kw in spec.implicit and not self.is_linked(g, n, s.identifier):
                continue  # an implicit field input (Random Value's ID): the function's own default
            srcs = self.sources(g, n, s.identifier)
            vals = [self.source_value(g, src, s.type, bound) for src in srcs]
            if any(v is UNKNOWN for v in vals):
                return {}
            if s.multi_input:
                kwargs[kw] = vals
            elif srcs:
                kwargs[kw] = vals[0]
        for p in spec.props:
            kwargs[p] = n.properties.get(p)
        try:
            with rt.eval_context(torch.float32, "cpu"):
                result = spec.func(**kwargs)
            outs = (result,) if len(spec.outputs) == 1 else tuple(result)
        except Exception:  # noqa: BLE001 - not foldable (an unsupported mode, needs a geometry): left to run time
            return {}
        known = {}
        for oid, v in zip(spec.outputs, outs):
            try:
                known[oid] = plain_value(v)
            except ValueError:
                pass
        return known

    def _switch_values(self, g: Group, n: Node, bound: Bound) -> dict[str, Any]:
        taken = self.choice(g, n, bound)
        if taken is UNKNOWN:
            return {}
        known: dict[str, Any] = {}
        if self.kind(n) == "menu_switch":  # the per-item booleans
            for s in n.outputs:
                if s.identifier != "Output":
                    known[s.identifier] = taken is not None and s.name == taken.name
        out_type = n.output("Output").type
        if out_type == "GEOMETRY":
            return known
        if taken is None:
            d = rt.default_value(out_type)
            if is_plain(d):
                known["Output"] = d
            return known
        v = self.source_value(g, self.sources(g, n, taken.identifier)[0], out_type, bound)
        if v is not UNKNOWN:
            known["Output"] = v
        return known

    def _group_values(self, g: Group, n: Node, bound: Bound) -> dict[str, Any]:
        sub = self.program.groups.get(n.group)
        out_node = active_output(sub) if sub is not None else None
        if out_node is None:
            return {}
        sub_bound = self.call_bound(g, n, bound)
        known = {}
        for s in out_node.inputs:
            if s.type == "CUSTOM":
                continue
            v = self.source_value(sub, self.sources(sub, out_node, s.identifier)[0], s.type, sub_bound) \
                if not s.multi_input else UNKNOWN
            if v is not UNKNOWN:
                known[s.identifier] = v
        return known
