"""IR -> readable PyTorch source.

One Python function per node group, nodes in dependency order, one line (or a
few) per node with the node's name in a comment:

* a group's arguments are named after its interface (``seat_width``), a
  node's variable after its label or name; defaults and constants are the
  shortest literals that mean the same float32 (``0.46``);
* Math and Vector Math ADD / SUBTRACT / MULTIPLY become Python operators where
  that is exactly the node (:mod:`translator.operators`); every other node is a
  call of its runtime function, listing the geometry nodes' inputs only where
  they differ from the function's defaults;
* constant subgraphs are folded at translation time by the
  :class:`~translator.partial.PartialEvaluator` (a Switch whose condition is a
  constant becomes its taken branch); Switch, Index Switch and Menu Switch
  branches become local functions, so only the taken branch is evaluated;
* a zone's body becomes a local function that the runtime calls per iteration or element
  (:mod:`translator.zonegen`).

Everything taken from the program file reaches the source only as sanitised
identifiers (``[a-z0-9_]``, never a keyword, builtin, module alias or another
generated name), as ``repr`` literals, or escaped inside comments and
docstrings (:mod:`translator.pysource`); nothing from the file is ever executed.
"""

from __future__ import annotations

import builtins
import dataclasses
import inspect
import keyword
import re
import types
from dataclasses import dataclass, field
from typing import Any

from . import runtime as rt
from .ir import Group, Node, Program, ProgramError, Socket, quote, topological_order
from .nodes import NodeSpec, kwarg_name
from .operators import OPERATOR_NODES, Operand, ValueKinds, operator_expression
from .partial import SELECTOR, UNKNOWN, PartialEvaluator, Source, active_output, interface_default, is_plain
from .pysource import Names, comment_text, identifier, literal
from .zonegen import ZONE_INPUT_KINDS, ZONE_OUTPUT_KINDS, emit_zone, external_deps, paired_input, zone_problems

__all__ = ["UnsupportedNodesError", "check_supported", "compile_program", "generate_source", "literal"]

# Names the generated module uses itself; nothing from the program may take them.
_RESERVED = frozenset(keyword.kwlist) | frozenset(dir(builtins)) | {
    "rt", "torch", "program", "program_grouped", "PARAMETERS", "discrete", "continuous",
}
# rt.Parameter's optional fields and their defaults (left out of PARAMETERS when equal)
_PARAMETER_DEFAULTS = {f.name: f.default for f in dataclasses.fields(rt.Parameter) if f.default is not dataclasses.MISSING}
# Socket types with implicit conversions between each other (Blender's type_conversions), and the
# conversions of rotations and matrices (a float or vector is Euler angles; a rotation becomes a vector
# as its Euler angles, a matrix as its rotation matrix; a matrix becomes its rotation).
_CONVERTIBLE = frozenset({"VALUE", "INT", "BOOLEAN", "VECTOR", "RGBA"})
_ROTATION_CONVERSIONS = frozenset({("VALUE", "ROTATION"), ("VECTOR", "ROTATION"), ("ROTATION", "VECTOR"),
                                   ("ROTATION", "MATRIX"), ("MATRIX", "ROTATION")})


def _converts(a: str, b: str) -> bool:
    return {a, b} <= _CONVERTIBLE or (a, b) in _ROTATION_CONVERSIONS


class UnsupportedNodesError(ProgramError):
    """Translation met nodes or modes ShapeProg does not implement; lists all of them."""


@dataclass
class _GroupInfo:
    group: Group
    func_name: str
    names: Names
    nodes: dict[str, Node]
    params: dict[str, str] = field(default_factory=dict)  # interface input identifier -> parameter name
    var: dict[str, str] = field(default_factory=dict)  # node name -> variable
    out_vars: dict[tuple[str, str], str] = field(default_factory=dict)  # (node, output) -> variable


def _keywords(func: Any) -> set[str] | None:
    """The keyword arguments ``func`` accepts (None: any, it takes ``**kwargs``)."""
    params = inspect.signature(func).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def _defaults(func: Any) -> dict[str, str]:
    """The literal of each keyword argument's default in ``func`` (plain defaults only)."""
    return {p.name: literal(p.default) for p in inspect.signature(func).parameters.values()
            if p.default is not p.empty and is_plain(p.default)}


def _default_expr(typ: str) -> str:
    """Source for the default value of a socket type (what an unmatched switch or a muted node gives)."""
    if typ == "GEOMETRY":
        return "rt.empty_geometry()"
    d = rt.default_value(typ)
    return literal(d) if is_plain(d) else "None"


class _Generator:
    def __init__(self, program: Program, operators: bool = True):
        self.program = program
        self.operators = operators
        self.pe = PartialEvaluator(program, through_groups=False)
        self.registry = self.pe.registry
        self.modules = {s.module: s.module.rsplit(".", 1)[-1] + "_nodes" for s in self.registry.values() if s.func is not None}
        self.used_modules: set[str] = set()
        global_names = Names(_RESERVED | set(self.modules.values()))
        funcs = {gname: global_names.take("group_" + identifier(gname, "g")) for gname in program.groups}
        self.infos: dict[str, _GroupInfo] = {}
        for gname, g in program.groups.items():
            info = _GroupInfo(group=g, func_name=funcs[gname], names=Names(global_names.taken), nodes=self.pe.nodes[gname])
            for s in g.inputs:  # arguments named after the interface, variables after the nodes
                info.params[s.identifier] = info.names.take(identifier(s.name or s.identifier, "p"))
            for n in g.nodes:
                info.var[n.name] = info.names.take(identifier(n.label or n.name))
            self.infos[gname] = info
        for g in program.groups.values():
            self.pe.fold(g)
        self._kinds: ValueKinds | None = None
        self._defaults: dict[str, dict[str, str]] = {}

    @property
    def kinds(self) -> ValueKinds:
        if self._kinds is None:
            self._kinds = ValueKinds(self.pe)
        return self._kinds

    # -- graph helpers -------------------------------------------------------

    def spec(self, node: Node) -> NodeSpec | None:
        return self.pe.spec(node)

    def kind(self, node: Node) -> str:
        return self.pe.kind(node)

    def resolve(self, info: _GroupInfo, node: Node, sock_id: str) -> tuple[Source, ...]:
        return self.pe.sources(info.group, node, sock_id)

    def folded(self, info: _GroupInfo, src: Source) -> bool:
        """Whether ``src`` is a node output known at translation time."""
        return src.node is not None and self.pe.known(info.group, src.node, src.socket)

    def eager_deps(self, info: _GroupInfo, node: Node) -> list[str]:
        """Nodes that must run before ``node`` in the same scope (a switch: its condition, or its taken branch)."""
        if self.kind(node) in ZONE_OUTPUT_KINDS:
            return external_deps(self, info, node)
        socks = self.pe.enabled_inputs(node)
        if self.kind(node) in SELECTOR:
            taken = self.pe.choice(info.group, node)
            if taken is UNKNOWN:
                socks = [node.input(SELECTOR[self.kind(node)])]
            else:
                socks = [taken] if taken is not None else []
        deps = []
        for s in socks:
            for src in self.resolve(info, node, s.identifier):
                if src.node is not None and not self.folded(info, src):
                    deps.append(src.node)
        return deps

    def reachable(self, info: _GroupInfo) -> list[str]:
        """Nodes the active Group Output depends on, in dependency order; a switch with a
        constant choice only reaches its taken branch. Reroutes and muted nodes are
        followed through (never emitted)."""
        out_node = active_output(info.group)
        if out_node is None:
            return []
        seen: set[str] = set()
        stack = [out_node.name]
        while stack:
            name = stack.pop()
            if name in seen:
                continue
            seen.add(name)
            n = info.nodes[name]
            socks = self.pe.enabled_inputs(n)
            if self.kind(n) in SELECTOR:
                taken = self.pe.choice(info.group, n)
                if taken is not UNKNOWN:
                    socks = [taken] if taken is not None else []
            for s in socks:
                for src in self.resolve(info, n, s.identifier):
                    if src.node is not None:
                        stack.append(src.node)
            if self.kind(n) in ZONE_OUTPUT_KINDS and paired_input(self, info, n) is not None:
                stack.append(paired_input(self, info, n).name)
        return [n for n in topological_order(info.group) if n in seen]

    # -- checks --------------------------------------------------------------

    def check(self) -> None:
        problems: list[str] = []
        visited: set[str] = set()

        def visit(gname: str) -> None:
            if gname in visited:
                return
            visited.add(gname)
            info = self.infos[gname]
            if active_output(info.group) is None:
                problems.append(f"group {quote(gname)} has no Group Output node")
                return
            for name in self.reachable(info):
                n = info.nodes[name]
                problems.extend(self.node_problems(info, n))
                if n.group is not None and self.spec(n) is not None:
                    visit(n.group)

        visit(self.program.entry)
        if problems:
            src = getattr(self.program, "path", "") or self.program.source or "program"
            what = "node" if len(problems) == 1 else "nodes"
            raise UnsupportedNodesError(f"{src}: {len(problems)} unsupported {what}: " + "; ".join(problems))

    def node_problems(self, info: _GroupInfo, n: Node) -> list[str]:
        where = f"node {quote(n.name)} ({n.bl_idname}) in group {quote(info.group.name)}"
        spec = self.spec(n)
        if spec is None:
            from .nodes import REFUSED

            return [f"{where}: {REFUSED.get(n.bl_idname, 'unsupported node type')}"]
        out = []
        if spec.check is not None:
            reason = spec.check(n)
            if reason:
                out.append(f"{where}: {reason}")
        if spec.kind in ZONE_INPUT_KINDS | ZONE_OUTPUT_KINDS:
            out.extend(zone_problems(self, info, n))
        if spec.kind in ("plain", "group"):
            extra = sorted(self.pe.linked_outputs(info.group, n) - set(self.node_outputs(n)))
            if extra:
                what = "is not supported" if spec.kind == "plain" else f"is not an output of group {quote(n.group)}"
                out.append(f"{where}: output {', '.join(quote(o) for o in extra)} {what}")
        if spec.kind == "plain":
            accepted = _keywords(spec.func)
            unknown = [s.identifier for s in self.pe.enabled_inputs(n)
                       if accepted is not None and spec.renames.get(s.identifier, kwarg_name(s.identifier)) not in accepted]
            if unknown:
                out.append(f"{where}: input {', '.join(quote(i) for i in unknown)} is not supported")
            kws: dict[str, str] = {}
            for s in self.pe.enabled_inputs(n):
                kw = spec.renames.get(s.identifier, kwarg_name(s.identifier))
                if kw in kws:
                    out.append(f"{where}: inputs {quote(kws[kw])} and {quote(s.identifier)} are the same input")
                kws.setdefault(kw, s.identifier)
                if s.multi_input != (kw in spec.multi_inputs):
                    out.append(f"{where}: input {quote(s.identifier)} is {'' if s.multi_input else 'not '}marked "
                               f"multi-input, which this node's is {'not' if s.multi_input else ''}".rstrip())
        for s in self.pe.enabled_inputs(n):
            for src in self.resolve(info, n, s.identifier):
                if src.node is not None and info.nodes[src.node].bl_idname == "NodeGroupInput" \
                        and src.socket not in info.params:
                    out.append(f"{where}: input {quote(s.identifier)} reads {quote(src.socket)}, not an input of the group")
                bad = [(a, b) for a, b in src.steps(s.type) if not _converts(a, b)]
                if bad:
                    out.append(f"{where}: input {quote(s.identifier)} gets a {bad[0][0]} value; no conversion to {bad[0][1]}")
        return out

    # -- emission ------------------------------------------------------------

    def alias(self, module: str) -> str:
        self.used_modules.add(module)
        return self.modules[module]

    def out_expr(self, info: _GroupInfo, node_name: str, sock_id: str) -> str:
        n = info.nodes[node_name]
        if n.bl_idname == "NodeGroupInput":
            return info.params[sock_id]
        return self.out_var(info, n, sock_id)

    def out_var(self, info: _GroupInfo, n: Node, sock_id: str) -> str:
        """The variable holding output ``sock_id`` of ``n`` (the node's variable when it has one output)."""
        if len(self.node_outputs(n)) == 1:
            return info.var[n.name]
        key = (n.name, sock_id)
        if key not in info.out_vars:
            info.out_vars[key] = info.names.take(identifier(f"{info.var[n.name]}_{self.output_name(n, sock_id)}"))
        return info.out_vars[key]

    def output_name(self, n: Node, sock_id: str) -> str:
        """The name a user sees on output ``sock_id`` of ``n`` (its identifier when it has none)."""
        if n.bl_idname == "GeometryNodeGroup":
            socks = self.program.groups[n.group].outputs
        else:
            socks = n.outputs
        return next((s.name for s in socks if s.identifier == sock_id and s.name), sock_id)

    def node_outputs(self, n: Node) -> list[str]:
        spec = self.spec(n)
        if spec is not None and spec.kind == "plain":
            return list(spec.outputs)
        if n.bl_idname == "GeometryNodeGroup":
            return [s.identifier for s in self.program.groups[n.group].outputs]
        return [s.identifier for s in n.outputs if s.type != "CUSTOM"]

    def src_expr(self, info: _GroupInfo, src: Source, dst_type: str) -> str:
        """Source for the value ``src`` delivers to a ``dst_type`` socket (conversions included)."""
        if src.node is None and (dst_type == "GEOMETRY" or src.type == "GEOMETRY"):
            return "rt.empty_geometry()"
        v = self.pe.source_value(info.group, src, dst_type)
        if v is not UNKNOWN:
            return literal(v)
        if src.node is None:
            return "None"  # a default that is not plain data (a matrix): the consumer's own default
        expr = self.out_expr(info, src.node, src.socket)
        for a, b in src.steps(dst_type):
            expr = f"rt.convert({expr}, {a!r}, {b!r})"
        return expr

    def input_expr(self, info: _GroupInfo, n: Node, sock: Socket) -> str:
        srcs = self.resolve(info, n, sock.identifier)
        if sock.multi_input:
            return "[" + ", ".join(self.src_expr(info, s, sock.type) for s in srcs) + "]"
        return self.src_expr(info, srcs[0], sock.type)

    def describe(self, n: Node) -> str:
        """The comment above a node's line: its name (and label, when it has another), type and
        modes (escaped)."""
        modes = []
        for k in ("operation", "data_type", "input_type", "mode", "fill_type", "domain"):
            v = n.properties.get(k)
            if isinstance(v, str):
                modes.append(v if re.fullmatch(r"[A-Z0-9_]{1,40}", v) else comment_text(v, 40))
        label = f" label {comment_text(n.label, 60)}" if n.label and n.label != n.name else ""
        return f"{comment_text(n.name)}{label} ({' '.join([n.bl_idname] + modes)})"

    def emit_node(self, info: _GroupInfo, n: Node, avail: set[str], ind: str) -> list[str]:
        spec = self.spec(n)
        lines = [f"{ind}# {self.describe(n)}"]
        if spec.kind == "plain":
            lines.append(ind + self.plain_call(info, n, spec))
        elif spec.kind == "group":
            lines.append(ind + self.group_call(info, n))
        elif spec.kind in ZONE_OUTPUT_KINDS:
            lines.extend(emit_zone(self, info, n, avail, ind))
        else:
            lines.extend(self.switch_lines(info, n, avail, ind))
        return lines

    def operands(self, info: _GroupInfo, n: Node) -> dict[str, Operand]:
        """The node's enabled single inputs as the generated code reads them (for operators)."""
        out = {}
        for s in self.pe.enabled_inputs(n):
            if s.multi_input:
                continue
            src = self.resolve(info, n, s.identifier)[0]
            out[s.identifier] = Operand(self.src_expr(info, src, s.type), self.kinds.arg(info.group, src, s.type),
                                        self.pe.source_value(info.group, src, s.type))
        return out

    def plain_call(self, info: _GroupInfo, n: Node, spec: NodeSpec) -> str:
        """A plain node's line: a Python operator where that is exactly the node, else a call of its
        runtime function (a geometry node's inputs and any node's properties only where they differ
        from the function's defaults)."""
        used = self.pe.linked_outputs(info.group, n)
        if self.operators and n.bl_idname in OPERATOR_NODES:
            op = operator_expression(n, self.operands(info, n), used)
            if op is not None:
                return f"{self.out_var(info, n, op[0])} = {op[1]}"
        if spec.bl_idname not in self._defaults:
            self._defaults[spec.bl_idname] = _defaults(spec.func)
        defaults = self._defaults[spec.bl_idname]
        args = []
        for s in self.pe.enabled_inputs(n):
            kw = spec.renames.get(s.identifier, kwarg_name(s.identifier))
            if kw in spec.implicit and not self.pe.is_linked(info.group, n, s.identifier):
                continue
            expr = self.input_expr(info, n, s)
            if spec.pure or expr != defaults.get(kw):  # a value node's operands are always spelled out
                args.append(f"{kw}={expr}")
        for p in spec.props:
            expr = literal(n.properties.get(p))
            if expr != defaults.get(p):
                args.append(f"{p}={expr}")
        if spec.outputs_arg:
            args.append(f"outputs_used={literal(tuple(o for o in spec.outputs if o in used))}")
        call = f"{self.alias(spec.module)}.{spec.func.__name__}({', '.join(args)})"
        if len(spec.outputs) == 1:
            return f"{info.var[n.name]} = {call}"
        targets = [self.out_var(info, n, o) if o in used else "_" for o in spec.outputs]
        return f"{', '.join(targets)} = {call}"

    def group_call(self, info: _GroupInfo, n: Node) -> str:
        g = self.program.groups[n.group]
        ginfo = self.infos[n.group]
        args = []
        for s in g.inputs:
            sock = next((x for x in n.inputs if x.identifier == s.identifier), None)
            value = self.input_expr(info, n, sock) if sock is not None else literal(interface_default(s))
            args.append(f"{ginfo.params[s.identifier]}={value}")
        used = self.pe.linked_outputs(info.group, n)
        targets = [self.out_var(info, n, s.identifier) if s.identifier in used else "_" for s in g.outputs]
        return f"({', '.join(targets)},) = {ginfo.func_name}({', '.join(args)})"

    def switch_lines(self, info: _GroupInfo, n: Node, avail: set[str], ind: str) -> list[str]:
        """A switch: its taken branch when the choice is constant, else a runtime switch over
        local functions (one per branch that needs nodes of its own) so only the taken one runs."""
        kind = self.kind(n)
        out_sock = next(s for s in n.outputs if s.identifier == "Output")
        typ = out_sock.type
        used = self.pe.linked_outputs(info.group, n)
        lines: list[str] = []
        cond = self.input_expr(info, n, n.input(SELECTOR[kind]))
        if kind == "menu_switch":  # per-item booleans: is this item the chosen one?
            for s in n.outputs:
                if s.identifier != "Output" and s.identifier in used and not self.pe.known(info.group, n.name, s.identifier):
                    lines.append(f"{ind}{self.out_var(info, n, s.identifier)} = {cond} == {literal(s.name)}")
        if "Output" not in used and kind == "menu_switch":
            return lines
        target = self.out_var(info, n, "Output")
        taken = self.pe.choice(info.group, n)
        if taken is not UNKNOWN:
            value = self.src_expr(info, self.resolve(info, n, taken.identifier)[0], typ) if taken else _default_expr(typ)
            return lines + [f"{ind}{target} = {value}"]
        thunks = []
        for s in self.pe.branch_sockets(n):
            src = self.resolve(info, n, s.identifier)[0]
            if src.node is None or self.folded(info, src) or src.node in avail \
                    or info.nodes[src.node].bl_idname == "NodeGroupInput":
                thunks.append(f"lambda: {self.src_expr(info, src, typ)}")
                continue
            branch = s.name if kind == "menu_switch" else s.identifier
            fname = info.names.take("_" + identifier(f"{info.var[n.name]}_{branch}"))
            lines.append(f"{ind}def {fname}():")
            lines.extend(self.emit_scope(info, [src.node], set(avail), ind + "    "))
            lines.append(f"{ind}    return {self.src_expr(info, src, typ)}")
            thunks.append(fname)
        socks = self.pe.branch_sockets(n)
        name = literal(n.name[:60])  # for topology errors
        if kind == "switch":
            by_id = {s.identifier: t for s, t in zip(socks, thunks)}
            call = f"rt.switch({typ!r}, {cond}, {by_id['False']}, {by_id['True']}, name={name})"
        elif kind == "index_switch":
            call = f"rt.index_switch({typ!r}, {cond}, [{', '.join(thunks)}], name={name})"
        else:
            items = ", ".join(f"{literal(s.name)}: {t}" for s, t in zip(socks, thunks))
            call = f"rt.menu_switch({typ!r}, {cond}, {{{items}}})"
        return lines + [f"{ind}{target} = {call}"]

    def emit_scope(self, info: _GroupInfo, targets: list[str], avail: set[str], ind: str) -> list[str]:
        """Lines computing ``targets`` and what they need (minus ``avail``), in dependency order."""
        closure: set[str] = set()
        stack = list(targets)
        while stack:
            name = stack.pop()
            n = info.nodes[name]
            if name in closure or name in avail or n.bl_idname == "NodeGroupInput":
                continue
            if all(self.pe.known(info.group, name, o) for o in self.node_outputs(n)):
                continue
            closure.add(name)
            stack.extend(self.eager_deps(info, n))
        # Kahn's order inside the closure, runtime switches as late as possible so that
        # their branches can reuse everything computed unconditionally.
        deps = {name: {d for d in self.eager_deps(info, info.nodes[name]) if d in closure} for name in closure}
        pos = {name: i for i, name in enumerate(topological_order(info.group))}
        lines: list[str] = []
        done = set(avail)
        pending = set(closure)
        while pending:
            ready = [m for m in pending if deps[m] <= done]
            if not ready:
                raise ProgramError(f"group {quote(info.group.name)}: cannot order nodes {sorted(pending)[:5]}")
            plain = [m for m in ready if self.kind(info.nodes[m]) not in SELECTOR]
            pick = min(plain or ready, key=pos.__getitem__)
            lines.extend(self.emit_node(info, info.nodes[pick], done, ind))
            done.add(pick)
            pending.discard(pick)
        return lines

    def group_docstring(self, info: _GroupInfo) -> list[str]:
        """The group function's docstring: the group's name, its inputs and outputs (escaped)."""
        g = info.group
        lines = [f'    """Node group {comment_text(g.name)}.', ""]
        if g.inputs:
            lines.append("    Args:")
            lines += [f"        {info.params[s.identifier]}: {comment_text(s.name, 60)} ({s.type})" for s in g.inputs]
            lines.append("")
        lines.append("    Returns a tuple:" if g.outputs else "    Returns an empty tuple.")
        lines += [f"        {comment_text(s.name, 60)} ({s.type})" for s in g.outputs]
        return lines + ['    """']

    def emit_group(self, gname: str) -> list[str]:
        info = self.infos[gname]
        g = info.group
        out_node = active_output(g)
        params = ", ".join(f"{info.params[s.identifier]}={literal(interface_default(s))}" for s in g.inputs)
        lines = [f"def {info.func_name}({params}):"]
        lines += self.group_docstring(info)
        targets, rets = [], []
        for s in g.outputs:
            sock = next((x for x in out_node.inputs if x.identifier == s.identifier), None)
            if sock is None:
                rets.append(_default_expr(s.type))
                continue
            srcs = self.resolve(info, out_node, s.identifier)
            targets.extend(src.node for src in srcs if src.node is not None and not self.folded(info, src))
            rets.append(self.src_expr(info, srcs[0], sock.type))
        lines.extend(self.emit_scope(info, targets, set(), "    "))
        lines.append(f"    return ({', '.join(rets)},)")
        return lines

    def generate(self) -> str:
        self.check()
        order: list[str] = []

        def visit(gname: str) -> None:
            if gname in order:
                return
            info = self.infos[gname]
            for name in self.reachable(info):
                n = info.nodes[name]
                if n.group is not None and self.kind(n) == "group":
                    visit(n.group)
            order.append(gname)

        visit(self.program.entry)
        body: list[str] = []
        for gname in order:
            body += self.emit_group(gname) + ["", ""]
        entry = self.infos[self.program.entry]
        params = []
        for s in entry.group.inputs:
            fields = [f"name={literal(s.name)}", f"identifier={literal(s.identifier)}", f"arg={literal(entry.params[s.identifier])}",
                      f"type={literal(s.type)}", f"default={literal(interface_default(s))}"]
            optional = {"min": s.min, "max": s.max, "items": tuple(s.items) if s.items else None, "subtype": s.subtype}
            fields += [f"{k}={literal(v)}" for k, v in optional.items() if v != _PARAMETER_DEFAULTS[k]]
            params.append(f"    rt.Parameter({', '.join(fields)}),")
        source = comment_text(self.program.source) if self.program.source else "an IR document"
        header = [
            f'"""Shape program generated by ShapeProg from {source}, entry group {comment_text(self.program.entry)}.',
            "",
            "Call ``program(discrete, continuous)``: discrete values (INT, BOOLEAN, MENU inputs)",
            "are Python values shared by the batch; continuous values (VALUE, VECTOR inputs) are",
            "tensors ``(B,)`` / ``(B, 3)``. Missing inputs take the defaults below. Returns a",
            "``MeshBatch`` in Blender's vertex and corner order. This file may be edited by hand.",
            '"""',
            "",
            "import torch  # noqa: F401",
            "",
            "from translator import runtime as rt",
        ]
        header += [f"import {module} as {self.modules[module]}" for module in sorted(self.used_modules)]
        header += ["", "", "PARAMETERS = ("] + params + [")", "", ""]
        footer = [
            "def program(discrete=None, continuous=None):",
            '    """Evaluate the program; see the module docstring."""',
            f"    return rt.run({entry.func_name}, PARAMETERS, discrete, continuous)",
            "",
            "",
            "def program_grouped(discrete=None, continuous=None):",
            '    """Like ``program`` but splits the batch where topology differs: [(indices, MeshBatch), ...]."""',
            f"    return rt.run({entry.func_name}, PARAMETERS, discrete, continuous, grouped=True)",
            "",
        ]
        return "\n".join(header + body + footer)


def check_supported(program: Program) -> None:
    """Raise :class:`UnsupportedNodesError` listing every unsupported node that Blender would evaluate
    (linked to the active Group Output, not muted, not in a branch a constant switch never takes)."""
    _Generator(program).check()


def generate_source(program: Program, *, operators: bool = True) -> str:
    """The generated Python module's source for ``program``. ``operators=False`` keeps every
    node a call of its runtime function (no Python operators; for checking the operators)."""
    return _Generator(program, operators).generate()


def compile_program(program: Program, *, operators: bool = True) -> types.ModuleType:
    """Generate and import the program's module (in memory). Its ``program`` is the entry point;
    ``operators`` as in :func:`generate_source`."""
    src = generate_source(program, operators=operators)
    mod = types.ModuleType(f"shapeprog_generated_{identifier(program.entry)}")
    mod.__file__ = f"<shapeprog {identifier(program.source or program.entry)}>"
    code = compile(src, mod.__file__, "exec")
    exec(code, mod.__dict__)  # noqa: S102 - our own generated source; program data only appears as literals
    mod.SOURCE = src
    return mod
