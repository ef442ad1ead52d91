"""IR -> readable PyTorch source.

One Python function per node group, nodes in dependency order, one line (or a
few) per node named after it with the node's name in a comment. Constant
subgraphs are folded at translation time. Switch, Index Switch and Menu Switch
branches become local functions, so only the taken branch is evaluated.

Everything taken from the program file reaches the source only as sanitised
identifiers (``[a-z0-9_]``) or as ``repr`` literals; nothing from the file is
ever executed.
"""

from __future__ import annotations

import keyword
import math
import re
import types
from dataclasses import dataclass, field
from typing import Any

import torch

from . import runtime as rt
from .ir import Group, InterfaceSocket, Node, Program, ProgramError, quote, topological_order
from .nodes import NodeSpec, kwarg_name, load_all

__all__ = ["generate_source", "compile_program", "check_supported", "UnsupportedNodesError"]

DISCRETE_TYPES = ("INT", "BOOLEAN", "MENU")
CONTINUOUS_TYPES = ("VALUE", "VECTOR")
_SWITCH_COND = {"switch": "Switch", "index_switch": "Index", "menu_switch": "Menu"}


class UnsupportedNodesError(ProgramError):
    """Translation met nodes or modes ShapeProg does not implement; lists all of them."""


def _ident(text: str, prefix: str = "n") -> str:
    s = re.sub(r"[^0-9a-zA-Z]+", "_", text).strip("_").lower()
    if not s:
        s = prefix
    if s[0].isdigit():
        s = f"{prefix}_{s}"
    return s


def literal(value: Any) -> str:
    """A Python literal for a JSON-like value (never splices raw text)."""
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return repr(int(value))
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else f"float({repr(str(value))})"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, (list, tuple)):
        items = ", ".join(literal(v) for v in value)
        return f"({items},)" if len(value) == 1 else f"({items})"
    raise ProgramError(f"cannot express {type(value).__name__} value as a literal")


def _is_literal_value(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(isinstance(v, (bool, int, float)) for v in value)
    return False


def _to_literal_value(value: Any) -> Any:
    """A folded runtime value as plain data, or raise if it is not plain (tensor with batch, field, geometry)."""
    if isinstance(value, torch.Tensor):
        if value.requires_grad or value.dim() > 1 or (value.dim() == 1 and value.numel() > 4):
            raise ValueError
        if value.dtype == torch.bool:
            return bool(value.item()) if value.dim() == 0 else [bool(v) for v in value.tolist()]
        if value.dtype.is_floating_point:
            return float(value.item()) if value.dim() == 0 else tuple(float(v) for v in value.tolist())
        return int(value.item()) if value.dim() == 0 else tuple(int(v) for v in value.tolist())
    if isinstance(value, tuple) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        return tuple(float(v) for v in value)
    if _is_literal_value(value):
        return value
    raise ValueError


@dataclass
class _Src:
    """Where an input's value comes from: a node output, or a literal."""

    node: str | None
    socket: str | None
    type: str
    value: Any = None


@dataclass
class _GroupInfo:
    group: Group
    func_name: str
    params: dict[str, str]  # interface input identifier -> parameter name
    nodes: dict[str, Node] = field(default_factory=dict)
    incoming: dict[tuple[str, str], list[tuple[str, str]]] = field(default_factory=dict)
    var: dict[str, str] = field(default_factory=dict)
    folded: dict[tuple[str, str], Any] = field(default_factory=dict)


def _active_output(g: Group) -> Node | None:
    outs = [n for n in g.nodes if n.bl_idname == "NodeGroupOutput"]
    for n in outs:
        if n.properties.get("is_active_output", False):
            return n
    return outs[0] if outs else None


class _Generator:
    def __init__(self, program: Program):
        self.program = program
        self.registry = load_all()
        self.infos: dict[str, _GroupInfo] = {}
        self.modules: dict[str, str] = {}  # python module -> alias
        used_funcs = {"program", "program_grouped", "rt", "torch", "PARAMETERS"}
        for gname, g in program.groups.items():
            fn = "group_" + _ident(gname, "g")
            base, k = fn, 1
            while fn in used_funcs:
                k += 1
                fn = f"{base}_{k}"
            used_funcs.add(fn)
            params: dict[str, str] = {}
            taken: set[str] = set()
            for s in g.inputs:
                p = kwarg_name(s.identifier)
                while p in taken or keyword.iskeyword(p):
                    p += "_"
                taken.add(p)
                params[s.identifier] = p
            info = _GroupInfo(group=g, func_name=fn, params=params, nodes={n.name: n for n in g.nodes})
            for lk in g.links:
                info.incoming.setdefault((lk.to_node, lk.to_socket), []).append((lk.from_node, lk.from_socket))
            reserved = used_funcs | set(params.values()) | {"discrete", "continuous"}
            for n in g.nodes:
                v = _ident(n.name)
                if keyword.iskeyword(v) or v in reserved or v.startswith("_"):
                    v = "n_" + v
                base, k = v, 1
                while v in reserved:
                    k += 1
                    v = f"{base}_{k}"
                reserved.add(v)
                info.var[n.name] = v
            self.infos[gname] = info
        self.reserved_aliases = used_funcs

    # -- graph helpers -------------------------------------------------------

    def spec(self, node: Node) -> NodeSpec | None:
        return self.registry.get(node.bl_idname)

    def resolve(self, info: _GroupInfo, node: Node, sock_id: str) -> list[_Src]:
        """Sources of an input socket, following reroutes and muted nodes."""
        sock = node.input(sock_id)
        links = info.incoming.get((node.name, sock_id), [])
        if not links:
            return [] if sock.multi_input else [_Src(None, None, sock.type, sock.default)]
        out: list[_Src] = []
        for fn, fs in links:
            out.extend(self._follow(info, fn, fs, set()))
        return out

    def _follow(self, info: _GroupInfo, node_name: str, sock_id: str, seen: set) -> list[_Src]:
        n = info.nodes[node_name]
        out_sock = n.output(sock_id)
        if (node_name, sock_id) in seen:
            raise ProgramError(f"group '{info.group.name}' node '{n.name}': pass-through loop")
        seen = seen | {(node_name, sock_id)}
        if n.bl_idname == "NodeReroute":
            links = info.incoming.get((n.name, n.inputs[0].identifier), [])
            if not links:
                return [_Src(None, None, out_sock.type, rt.default_value(out_sock.type))]
            return [s for fn, fs in links for s in self._follow(info, fn, fs, seen)]
        if n.mute:
            for a, b in n.internal_links:
                if b == sock_id:
                    in_sock = n.input(a)
                    links = info.incoming.get((n.name, a), [])
                    if not links:
                        return [_Src(None, None, in_sock.type, in_sock.default)]
                    srcs = [s for fn, fs in links for s in self._follow(info, fn, fs, seen)]
                    return srcs if in_sock.multi_input else srcs[:1]
            return [_Src(None, None, out_sock.type, rt.default_value(out_sock.type))]
        return [_Src(node_name, sock_id, out_sock.type)]

    def enabled_inputs(self, node: Node):
        return [s for s in node.inputs if s.enabled and s.type != "CUSTOM"]

    def eager_deps(self, info: _GroupInfo, node: Node) -> list[str]:
        spec = self.spec(node)
        kind = spec.kind if spec else "plain"
        socks = self.enabled_inputs(node)
        if kind in _SWITCH_COND:
            socks = [s for s in socks if s.identifier == _SWITCH_COND[kind]]
        deps = []
        for s in socks:
            for src in self.resolve(info, node, s.identifier):
                if src.node is not None and (src.node, src.socket) not in info.folded:
                    deps.append(src.node)
        return deps

    # -- checks --------------------------------------------------------------

    def reachable(self, info: _GroupInfo) -> list[str]:
        out_node = _active_output(info.group)
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
            for s in self.enabled_inputs(n):
                for src in self.resolve(info, n, s.identifier):
                    if src.node is not None:
                        stack.append(src.node)
        # muted / reroute nodes are followed through by resolve, never emitted
        return [n for n in topological_order(info.group) if n in seen]

    def check(self) -> None:
        problems = []
        visited: set[str] = set()

        def visit(gname: str) -> None:
            if gname in visited:
                return
            visited.add(gname)
            info = self.infos[gname]
            if _active_output(info.group) is None:
                problems.append(f"group {quote(gname)} has no Group Output node")
                return
            for name in self.reachable(info):
                n = info.nodes[name]
                spec = self.spec(n)
                where = f"node {quote(n.name)} ({n.bl_idname}) in group {quote(gname)}"
                if spec is None:
                    problems.append(f"{where}: unsupported node type")
                    continue
                if spec.check is not None:
                    reason = spec.check(n)
                    if reason:
                        problems.append(f"{where}: {reason}")
                if n.group is not None:
                    visit(n.group)

        visit(self.program.entry)
        if problems:
            src = getattr(self.program, "path", "") or self.program.source or "program"
            what = "node" if len(problems) == 1 else "nodes"
            raise UnsupportedNodesError(f"{src}: {len(problems)} unsupported {what}: " + "; ".join(problems))

    # -- constant folding ----------------------------------------------------

    def fold(self, info: _GroupInfo) -> None:
        for name in self.reachable(info):
            n = info.nodes[name]
            spec = self.spec(n)
            if spec is None or spec.kind != "plain" or not spec.pure or n.mute:
                continue
            kwargs: dict[str, Any] = {}
            ok = True
            for s in self.enabled_inputs(n):
                srcs = self.resolve(info, n, s.identifier)
                vals = []
                for src in srcs:
                    if src.node is None:
                        v = src.value
                    elif (src.node, src.socket) in info.folded:
                        v = info.folded[(src.node, src.socket)]
                    else:
                        ok = False
                        break
                    if not _is_literal_value(v):
                        ok = False
                        break
                    try:
                        vals.append(rt.convert(tuple(v) if isinstance(v, list) else v, src.type, s.type))
                    except TypeError:
                        ok = False
                        break
                if not ok:
                    break
                kw = spec.renames.get(s.identifier, kwarg_name(s.identifier))
                if s.multi_input:
                    kwargs[kw] = vals
                elif srcs:
                    kwargs[kw] = vals[0]
            if not ok:
                continue
            for p in spec.props:
                kwargs[p] = n.properties.get(p)
            try:
                with rt.eval_context(torch.float32, "cpu"):
                    result = spec.func(**kwargs)
                outs = (result,) if len(spec.outputs) == 1 else tuple(result)
                folded = {oid: _to_literal_value(v) for oid, v in zip(spec.outputs, outs)}
            except Exception:  # not foldable (e.g. needs a geometry); leave it to run time
                continue
            for oid, v in folded.items():
                info.folded[(name, oid)] = v

    # -- emission ------------------------------------------------------------

    def alias(self, module: str) -> str:
        if module not in self.modules:
            a = module.rsplit(".", 1)[-1] + "_nodes"
            self.modules[module] = a
        return self.modules[module]

    def out_expr(self, info: _GroupInfo, node_name: str, sock_id: str) -> str:
        n = info.nodes[node_name]
        if n.bl_idname == "NodeGroupInput":
            return info.params[sock_id]
        if (node_name, sock_id) in info.folded:
            return literal(info.folded[(node_name, sock_id)])
        return self.out_var(info, n, sock_id)

    def out_var(self, info: _GroupInfo, n: Node, sock_id: str) -> str:
        base = info.var[n.name]
        spec = self.spec(n)
        outs = self.node_outputs(n, spec)
        if len(outs) == 1:
            return base
        return f"{base}_{kwarg_name(sock_id)}"

    def node_outputs(self, n: Node, spec: NodeSpec | None) -> list[str]:
        if spec is not None and spec.kind == "plain":
            return list(spec.outputs)
        if n.bl_idname == "GeometryNodeGroup":
            g = self.program.groups[n.group]
            return [s.identifier for s in g.outputs]
        return [s.identifier for s in n.outputs if s.type != "CUSTOM"]

    def src_expr(self, info: _GroupInfo, src: _Src, dst_type: str) -> str:
        if src.node is None:
            if dst_type == "GEOMETRY" or src.type == "GEOMETRY":
                return "rt.empty_geometry()"
            v = src.value
            if isinstance(v, list):
                v = tuple(v)
            if not _is_literal_value(v):
                return "None"
            try:
                return literal(_to_literal_value(rt.convert(v, src.type, dst_type)))
            except (TypeError, ValueError):
                return literal(v)
        key = (src.node, src.socket)
        if key in info.folded:
            try:
                v = info.folded[key]
                return literal(_to_literal_value(rt.convert(tuple(v) if isinstance(v, list) else v, src.type, dst_type)))
            except (TypeError, ValueError):
                pass
        expr = self.out_expr(info, src.node, src.socket)
        if src.type != dst_type and not ({src.type, dst_type} <= {"VECTOR", "ROTATION"}):
            expr = f"rt.convert({expr}, {src.type!r}, {dst_type!r})"
        return expr

    def input_expr(self, info: _GroupInfo, n: Node, sock) -> str:
        srcs = self.resolve(info, n, sock.identifier)
        if sock.multi_input:
            return "[" + ", ".join(self.src_expr(info, s, sock.type) for s in srcs) + "]"
        return self.src_expr(info, srcs[0], sock.type)

    def describe(self, n: Node) -> str:
        extra = [str(v) for k, v in sorted(n.properties.items()) if k in ("operation", "data_type", "input_type", "mode", "fill_type", "domain") and isinstance(v, str)]
        text = f"{n.name!r} ({n.bl_idname}{' ' + ' '.join(extra) if extra else ''})"
        return text.replace("\n", " ").replace("\r", " ")

    def emit_node(self, info: _GroupInfo, n: Node, avail: set[str], ind: str) -> list[str]:
        spec = self.spec(n)
        lines = [f"{ind}# {self.describe(n)}"]
        var = info.var[n.name]
        kind = spec.kind
        if kind == "plain":
            args = []
            linked_or_shown = {s.identifier for s in self.enabled_inputs(n)}
            for s in self.enabled_inputs(n):
                kw = spec.renames.get(s.identifier, kwarg_name(s.identifier))
                if kw in spec.implicit and not info.incoming.get((n.name, s.identifier)):
                    continue
                args.append(f"{kw}={self.input_expr(info, n, s)}")
            del linked_or_shown
            for p in spec.props:
                args.append(f"{p}={literal(n.properties.get(p))}")
            call = f"{self.alias(spec.module)}.{spec.func.__name__}({', '.join(args)})"
            outs = list(spec.outputs)
            if len(outs) == 1:
                lines.append(f"{ind}{var} = {call}")
            else:
                used = self.used_outputs(info, n)
                targets = [self.out_var(info, n, o) if o in used else "_" for o in outs]
                lines.append(f"{ind}{', '.join(targets)}, = {call}" if len(targets) == 1 else f"{ind}{', '.join(targets)} = {call}")
            return lines
        if kind == "group":
            g = self.program.groups[n.group]
            ginfo = self.infos[n.group]
            args = []
            for s in g.inputs:
                try:
                    sock = n.input(s.identifier)
                except KeyError:
                    args.append(f"{ginfo.params[s.identifier]}={literal(_iface_default(s))}")
                    continue
                args.append(f"{ginfo.params[s.identifier]}={self.input_expr(info, n, sock)}")
            used = self.used_outputs(info, n)
            targets = [self.out_var(info, n, s.identifier) if s.identifier in used else "_" for s in g.outputs]
            lhs = "(" + ", ".join(targets) + ",)"
            lines.append(f"{ind}{lhs} = {ginfo.func_name}({', '.join(args)})")
            return lines
        # switches: branches become local functions so that only the taken one runs
        cond_id = _SWITCH_COND[kind]
        cond = self.input_expr(info, n, n.input(cond_id))
        out_sock = next(s for s in n.outputs if s.type != "CUSTOM")
        typ = out_sock.type
        branch_socks = [s for s in self.enabled_inputs(n) if s.identifier != cond_id]
        thunks = []
        for s in branch_socks:
            srcs = self.resolve(info, n, s.identifier)
            src = srcs[0]
            if src.node is None or (src.node, src.socket) in info.folded or src.node in avail or info.nodes[src.node].bl_idname == "NodeGroupInput":
                thunks.append(f"lambda: {self.src_expr(info, src, typ)}")
                continue
            fname = f"_{var}_{kwarg_name(s.identifier)}"
            lines.append(f"{ind}def {fname}():")
            lines.extend(self.emit_scope(info, [src.node], set(avail), ind + "    "))
            lines.append(f"{ind}    return {self.src_expr(info, src, typ)}")
            thunks.append(fname)
        if kind == "switch":
            by_id = dict(zip([s.identifier for s in branch_socks], thunks))
            call = f"rt.switch({typ!r}, {cond}, {by_id['False']}, {by_id['True']})"
        elif kind == "index_switch":
            call = f"rt.index_switch({typ!r}, {cond}, [{', '.join(thunks)}])"
        else:
            names = [s.name for s in branch_socks]
            items = ", ".join(f"{literal(nm)}: {t}" for nm, t in zip(names, thunks))
            call = f"rt.menu_switch({typ!r}, {cond}, {{{items}}})"
        lines.append(f"{ind}{self.out_var(info, n, out_sock.identifier)} = {call}")
        return lines

    def used_outputs(self, info: _GroupInfo, n: Node) -> set[str]:
        used = set()
        for (tn, ts), links in info.incoming.items():
            for fn, fs in links:
                if fn == n.name:
                    used.add(fs)
        # outputs used through reroutes / muted nodes are recorded as direct links of those nodes;
        # resolve() never returns them, so count everything linked from this node.
        return used

    def emit_scope(self, info: _GroupInfo, targets: list[str], avail: set[str], ind: str) -> list[str]:
        closure: set[str] = set()
        stack = list(targets)
        while stack:
            name = stack.pop()
            n = info.nodes[name]
            if name in closure or name in avail or n.bl_idname == "NodeGroupInput":
                continue
            if all((name, o.identifier) in info.folded for o in n.outputs if o.type != "CUSTOM"):
                continue
            closure.add(name)
            stack.extend(self.eager_deps(info, n))
        # Kahn's order inside the closure, switches as late as possible so their
        # branches can reuse everything computed unconditionally.
        deps = {name: {d for d in self.eager_deps(info, info.nodes[name]) if d in closure} for name in closure}
        pos = {name: i for i, name in enumerate(topological_order(info.group))}
        lines: list[str] = []
        done = set(avail)
        pending = set(closure)
        while pending:
            ready = [m for m in pending if deps[m] <= done]
            if not ready:
                raise ProgramError(f"group '{info.group.name}': cannot order nodes {sorted(pending)[:5]}")
            plain = [m for m in ready if (self.spec(info.nodes[m]).kind not in _SWITCH_COND)]
            pick = min(plain or ready, key=pos.__getitem__)
            lines.extend(self.emit_node(info, info.nodes[pick], done, ind))
            done.add(pick)
            pending.discard(pick)
        return lines

    def emit_group(self, gname: str) -> list[str]:
        info = self.infos[gname]
        g = info.group
        self.fold(info)
        out_node = _active_output(g)
        params = ", ".join(f"{info.params[s.identifier]}={literal(_iface_default(s))}" for s in g.inputs)
        lines = [f"def {info.func_name}({params}):"]
        doc = f"Node group {g.name!r}: returns ({', '.join(repr(s.name) for s in g.outputs)})."
        lines.append(f"    {literal(doc)}")
        targets, rets = [], []
        for s in g.outputs:
            try:
                sock = out_node.input(s.identifier)
            except KeyError:
                rets.append(literal(_iface_default(s)) if s.type != "GEOMETRY" else "rt.empty_geometry()")
                continue
            srcs = self.resolve(info, out_node, s.identifier)
            for src in srcs:
                if src.node is not None and (src.node, src.socket) not in info.folded:
                    targets.append(src.node)
            rets.append(self.src_expr(info, srcs[0], sock.type) if srcs else "None")
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
                if n.group is not None and not n.mute:
                    visit(n.group)
            order.append(gname)

        visit(self.program.entry)
        body: list[str] = []
        for gname in order:
            body.extend(self.emit_group(gname))
            body.append("")
            body.append("")
        entry = self.infos[self.program.entry]
        params = []
        for s in entry.group.inputs:
            params.append(
                "    rt.Parameter("
                f"name={literal(s.name)}, identifier={literal(s.identifier)}, arg={literal(entry.params[s.identifier])}, "
                f"type={literal(s.type)}, default={literal(_iface_default(s))}, min={literal(s.min)}, max={literal(s.max)}, "
                f"items={literal(tuple(s.items) if s.items else None)}, subtype={literal(s.subtype)}),"
            )
        header = [
            f'"""Shape program generated by ShapeProg from {self.program.source or "an IR document"!r}, entry group {self.program.entry!r}.',
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
        for module, alias in sorted(self.modules.items()):
            header.append(f"import {module} as {alias}")
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
        src = "\n".join(header + body + footer)
        src = src.replace("\n\n\n\n", "\n\n\n")
        return src


def _iface_default(s: InterfaceSocket) -> Any:
    v = s.default
    if s.type == "GEOMETRY":
        return None
    if isinstance(v, list):
        return tuple(v)
    if v is None:
        d = rt.default_value(s.type)
        return d if _is_literal_value(d) else None
    if s.type == "BOOLEAN":
        return bool(v)
    if s.type == "INT":
        return int(v)
    if s.type == "VALUE":
        return float(v)
    return v


def check_supported(program: Program) -> None:
    """Raise :class:`UnsupportedNodesError` listing every unsupported node reachable from the output."""
    _Generator(program).check()


def generate_source(program: Program) -> str:
    """The generated Python module's source for ``program``."""
    return _Generator(program).generate()


def compile_program(program: Program) -> types.ModuleType:
    """Generate and import the program's module (in memory). Its ``program`` is the entry point."""
    src = generate_source(program)
    mod = types.ModuleType(f"shapeprog_generated_{_ident(program.entry)}")
    mod.__file__ = f"<shapeprog {program.source or program.entry}>"
    code = compile(src, mod.__file__, "exec")
    exec(code, mod.__dict__)  # noqa: S102 - our own generated source; program data only appears as literals
    mod.SOURCE = src
    return mod
