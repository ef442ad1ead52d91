"""Parameter space of a program: kinds, ranges, choices and dependencies.

* Continuous parameters: FLOAT inputs and VECTOR inputs (each component);
  discrete: INT, BOOLEAN and MENU inputs.
* Ranges come from the interface min/max when finite (Blender's "unbounded"
  is +-FLT_MAX / +-2**31); otherwise from a sidecar ``NAME.params.json`` next
  to the program, or from an imported PyTorchGeoNodes ``sp_*.json`` config.
* Dependencies come from the graph: for every parameter, the condition on the
  discrete parameters under which it changes the output. The analysis
  partially evaluates the program for a discrete assignment (constants and
  discrete values folded through Math/Compare/... nodes and nested groups),
  keeps only the taken branch of every Switch / Index Switch / Menu Switch
  whose selector is known, and marks what the output still reaches. Active
  conditions are found by enumerating the (small) domains of the discrete
  parameters that reach a selector.

Sidecar schema (``NAME.params.json``)::

    {"parameters": {
        "Width":      {"range": [0.4, 4.0]},           # float: [low, high] metres
        "Offset":     {"range": [[0,0,0], [1,1,2]]},   # vector: per-component low/high
        "Legs Type":  {"range": [0, 3]},               # int: inclusive
        "Style":      {"choices": ["Round", "Square"]} # menu (optional: items come from the program)
    }}
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable

from .ir import Group, Node, Program, ProgramError

__all__ = [
    "Parameter",
    "Condition",
    "ParameterSpace",
    "parameter_space",
    "load_sidecar",
    "import_pytorchgeonodes_config",
    "live_parameters",
    "parse_value",
    "parse_assignments",
    "check_values",
    "split_values",
]

FLT_MAX_ISH = 1e30
INT_UNBOUNDED = 2**31 - 1
MAX_ENUMERATION = 20000


@dataclass(frozen=True)
class Condition:
    """When a parameter is active: the allowed value tuples of ``variables`` (discrete parameter names).

    ``variables == ()`` with ``allowed == {()}`` means "always"; an empty ``allowed`` means "never".
    """

    variables: tuple[str, ...] = ()
    allowed: frozenset[tuple] = frozenset({()})
    domains: tuple[tuple, ...] = ()  # each variable's possible values (for readable rendering)

    @property
    def always(self) -> bool:
        return not self.variables and () in self.allowed

    @property
    def never(self) -> bool:
        return not self.allowed

    def holds(self, discrete: dict[str, Any]) -> bool:
        return tuple(discrete.get(v) for v in self.variables) in self.allowed

    def __str__(self) -> str:
        if self.always:
            return "always"
        if self.never:
            return "never"
        return _render(self.variables, set(self.allowed), self.domains or tuple(() for _ in self.variables))


def _atom(var: str, values: set) -> str:
    vals = sorted(values, key=lambda v: (str(type(v)), v))
    if all(isinstance(v, bool) for v in vals):
        if vals == [True]:
            return var
        if vals == [False]:
            return f"not {var}"
        return "true"
    if len(vals) == 1:
        return f"{var} = {vals[0]!r}" if isinstance(vals[0], str) else f"{var} = {vals[0]}"
    return f"{var} in {{{', '.join(repr(v) if isinstance(v, str) else str(v) for v in vals)}}}"


def _render(variables: tuple[str, ...], allowed: set[tuple], domains: tuple[tuple, ...]) -> str:
    if domains and all(domains) and len(allowed) == math.prod(len(d) for d in domains):
        return "true"
    if len(variables) == 1:
        return _atom(variables[0], {t[0] for t in allowed})
    projections = [{t[i] for t in allowed} for i in range(len(variables))]
    if len(allowed) == math.prod(len(p) for p in projections):
        return " and ".join(_atom(v, p) for v, p in zip(variables, projections))
    first = variables[0]
    clauses = []
    for val in sorted(projections[0], key=lambda v: (str(type(v)), v)):
        rest = {t[1:] for t in allowed if t[0] == val}
        inner = _render(variables[1:], rest, domains[1:])
        clauses.append(_atom(first, {val}) if inner == "true" else f"({_atom(first, {val})} and {inner})")
    return " or ".join(clauses)


@dataclass
class Parameter:
    """One program input as a search dimension."""

    name: str
    identifier: str
    type: str  # VALUE | VECTOR | INT | BOOLEAN | MENU
    default: Any
    low: Any = None  # float / int / (3,) tuple; None when unknown
    high: Any = None
    choices: tuple | None = None  # discrete values (ints, bools, menu item names)
    subtype: str = "NONE"
    active_when: Condition = field(default_factory=Condition)
    range_source: str = "interface"  # interface | sidecar | sp_config | default

    @property
    def kind(self) -> str:
        return "continuous" if self.type in ("VALUE", "VECTOR") else "discrete"

    def describe_range(self) -> str:
        if self.kind == "discrete":
            if self.choices is None:
                return "unbounded"
            if self.type == "INT" and len(self.choices) > 6:
                return f"{self.choices[0]}..{self.choices[-1]}"
            return ", ".join(repr(c) if isinstance(c, str) else str(c) for c in self.choices)
        if self.low is None:
            return "unbounded"
        fmt = (lambda v: f"{v:g}") if self.type == "VALUE" else (lambda v: "(" + ", ".join(f"{x:g}" for x in v) + ")")
        return f"{fmt(self.low)} .. {fmt(self.high)}"


@dataclass
class ParameterSpace:
    """All parameters of a program, with ranges and dependency conditions."""

    parameters: list[Parameter]

    def __iter__(self):
        return iter(self.parameters)

    def __getitem__(self, name: str) -> Parameter:
        for p in self.parameters:
            if p.name == name or p.identifier == name:
                return p
        raise KeyError(name)

    @property
    def continuous(self) -> list[Parameter]:
        return [p for p in self.parameters if p.kind == "continuous"]

    @property
    def discrete(self) -> list[Parameter]:
        return [p for p in self.parameters if p.kind == "discrete"]

    def active(self, discrete: dict[str, Any]) -> list[Parameter]:
        """Parameters that change the output under the discrete assignment (names -> values)."""
        full = {p.name: discrete.get(p.name, p.default) for p in self.discrete}
        return [p for p in self.parameters if p.active_when.holds(full)]

    def table(self) -> list[dict[str, str]]:
        return [
            {
                "name": p.name,
                "kind": f"{p.kind} ({p.type.lower()})",
                "range": p.describe_range(),
                "default": _fmt_default(p.default),
                "active when": str(p.active_when),
            }
            for p in self.parameters
        ]


def _fmt_default(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, (list, tuple)):
        return "(" + ", ".join(f"{x:.6g}" for x in v) + ")"
    return repr(v) if isinstance(v, str) else str(v)


# ---------------------------------------------------------------------------
# Ranges


def _finite(v: Any, bound: float) -> bool:
    if v is None:
        return False
    vals = v if isinstance(v, (list, tuple)) else [v]
    return all(isinstance(x, (int, float)) and math.isfinite(x) and abs(x) < bound for x in vals)


def load_sidecar(path: str | Path) -> dict[str, dict]:
    """Read a ``NAME.params.json`` sidecar: ``{name: {"range": [lo, hi]} | {"choices": [...]}}``."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ProgramError(f"{path}: cannot read parameter ranges: {exc}") from None
    params = data.get("parameters") if isinstance(data, dict) else None
    if not isinstance(params, dict):
        raise ProgramError(f"{path}: expected {{\"parameters\": {{name: {{...}}}}}}")
    for name, spec in params.items():
        if not isinstance(spec, dict):
            raise ProgramError(f"{path}: parameter '{name}' must be an object")
        rng = spec.get("range")
        if rng is not None and not (isinstance(rng, list) and len(rng) == 2):
            raise ProgramError(f"{path}: parameter '{name}': 'range' must be [low, high]")
    return params


def import_pytorchgeonodes_config(path: str | Path) -> dict[str, dict]:
    """Read a PyTorchGeoNodes ``sp_*.json`` config into sidecar form (``range``, ``depends``).

    Nested groups are flattened; ``or_dependencies`` (also the misspelt
    ``or_dependcies``) become ``depends``: a list of ``[name, value]`` pairs or
    bare names (meaning ``name == True``), any of which activates the parameter.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ProgramError(f"{path}: cannot read config: {exc}") from None
    out: dict[str, dict] = {}

    def walk(params: dict) -> None:
        for name, spec in params.items():
            if not isinstance(spec, dict):
                raise ProgramError(f"{path}: '{name}' must be an object")
            if spec.get("type") == "nested":
                walk(spec.get("params", {}))
                continue
            entry: dict[str, Any] = {"type": spec.get("type")}
            if "range" in spec:
                entry["range"] = spec["range"]
            deps = spec.get("or_dependencies", spec.get("or_dependcies"))
            if deps:
                entry["depends"] = deps
            out[name] = entry

    if not isinstance(data, dict) or not isinstance(data.get("params"), dict):
        raise ProgramError(f"{path}: not a PyTorchGeoNodes shape-program config (no 'params')")
    walk(data["params"])
    return out


def _apply_range(p: Parameter, spec: dict, source: str, where: str) -> Parameter:
    if "choices" in spec and p.kind == "discrete":
        return replace(p, choices=tuple(spec["choices"]), range_source=source)
    rng = spec.get("range")
    if rng is None:
        return p
    lo, hi = rng
    if p.type == "VALUE":
        return replace(p, low=float(lo), high=float(hi), range_source=source)
    if p.type == "VECTOR":
        lo3 = tuple(float(x) for x in (lo if isinstance(lo, list) else [lo] * 3))
        hi3 = tuple(float(x) for x in (hi if isinstance(hi, list) else [hi] * 3))
        return replace(p, low=lo3, high=hi3, range_source=source)
    if p.type == "INT":
        lo, hi = int(lo), int(hi)
        if hi < lo:
            raise ProgramError(f"{where}: parameter '{p.name}': empty range [{lo}, {hi}]")
        return replace(p, low=lo, high=hi, choices=tuple(range(lo, hi + 1)), range_source=source)
    return p


# ---------------------------------------------------------------------------
# Liveness analysis


class _Unknown:
    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()
_SELECTOR = {"GeometryNodeSwitch": "Switch", "GeometryNodeIndexSwitch": "Index", "GeometryNodeMenuSwitch": "Menu"}


class _Analyzer:
    """Partial evaluation and liveness over the IR (per group, with bound input values)."""

    def __init__(self, program: Program):
        from .nodes import load_all

        self.program = program
        self.registry = load_all()
        self.incoming: dict[str, dict[tuple[str, str], list[tuple[str, str]]]] = {}
        self.nodes: dict[str, dict[str, Node]] = {}
        for g in program.groups.values():
            inc: dict[tuple[str, str], list[tuple[str, str]]] = {}
            for lk in g.links:
                inc.setdefault((lk.to_node, lk.to_socket), []).append((lk.from_node, lk.from_socket))
            self.incoming[g.name] = inc
            self.nodes[g.name] = {n.name: n for n in g.nodes}
        self._value_cache: dict = {}
        self._live_cache: dict = {}

    # sources of an input, through reroutes and muted nodes: [(node, socket)] or [("", value)]
    def sources(self, g: Group, node: Node, sock_id: str) -> list[tuple[str | None, Any]]:
        links = self.incoming[g.name].get((node.name, sock_id), [])
        if not links:
            return [(None, node.input(sock_id).default)]
        out = []
        for fn, fs in links:
            out.extend(self._follow(g, fn, fs, 0))
        return out

    def _follow(self, g: Group, name: str, sock: str, depth: int) -> list[tuple[str | None, Any]]:
        n = self.nodes[g.name][name]
        if depth > 256:
            return [(name, sock)]
        if n.bl_idname == "NodeReroute":
            links = self.incoming[g.name].get((n.name, n.inputs[0].identifier), [])
            return [s for fn, fs in links for s in self._follow(g, fn, fs, depth + 1)] or [(None, None)]
        if n.mute:
            for a, b in n.internal_links:
                if b == sock:
                    links = self.incoming[g.name].get((n.name, a), [])
                    if not links:
                        return [(None, n.input(a).default)]
                    return [s for fn, fs in links for s in self._follow(g, fn, fs, depth + 1)]
            return [(None, None)]
        return [(name, sock)]

    def value(self, g: Group, name: str, sock: str, bound: tuple) -> Any:
        key = (g.name, name, sock, bound)
        if key in self._value_cache:
            return self._value_cache[key]
        self._value_cache[key] = UNKNOWN  # guards recursion
        v = self._compute_value(g, name, sock, dict(bound))
        self._value_cache[key] = v
        return v

    def input_value(self, g: Group, node: Node, sock_id: str, bound: tuple) -> Any:
        from . import runtime as rt

        srcs = self.sources(g, node, sock_id)
        sock = node.input(sock_id)
        if sock.multi_input or len(srcs) != 1:
            return UNKNOWN
        src_node, payload = srcs[0]
        if src_node is None:
            v = payload
        else:
            v = self.value(g, src_node, payload, bound)
            if v is UNKNOWN:
                return UNKNOWN
            src_type = self.nodes[g.name][src_node].output(payload).type
            try:
                v = rt.convert(tuple(v) if isinstance(v, list) else v, src_type, sock.type)
            except (TypeError, ValueError):
                return UNKNOWN
        return tuple(v) if isinstance(v, list) else v

    def _compute_value(self, g: Group, name: str, sock: str, bound: dict) -> Any:
        import torch

        from . import runtime as rt
        from .codegen import _to_literal_value

        n = self.nodes[g.name][name]
        if n.bl_idname == "NodeGroupInput":
            return bound.get(sock, UNKNOWN)
        spec = self.registry.get(n.bl_idname)
        if spec is None:
            return UNKNOWN
        bt = tuple(sorted(bound.items()))
        if spec.kind in ("switch", "index_switch", "menu_switch"):
            sel = self.input_value(g, n, _SELECTOR[n.bl_idname], bt)
            taken = self._taken_branch(n, sel)
            if taken is None:
                return UNKNOWN
            return self.input_value(g, n, taken, bt)
        if spec.kind == "group":
            sub = self.program.groups[n.group]
            sub_bound = self._bind(g, n, sub, bt)
            out = next((s for s in sub.nodes if s.bl_idname == "NodeGroupOutput"), None)
            if out is None:
                return UNKNOWN
            try:
                return self.input_value(sub, out, sock, sub_bound)
            except KeyError:
                return UNKNOWN
        if spec.kind != "plain" or not spec.pure:
            return UNKNOWN
        kwargs = {}
        from .nodes import kwarg_name

        for s in n.inputs:
            if not s.enabled or s.type == "CUSTOM":
                continue
            v = self.input_value(g, n, s.identifier, bt)
            if v is UNKNOWN:
                return UNKNOWN
            kwargs[spec.renames.get(s.identifier, kwarg_name(s.identifier))] = v
        for p in spec.props:
            kwargs[p] = n.properties.get(p)
        try:
            with rt.eval_context(torch.float32, "cpu"):
                res = spec.func(**kwargs)
            outs = (res,) if len(spec.outputs) == 1 else tuple(res)
            return _to_literal_value(dict(zip(spec.outputs, outs))[sock])
        except Exception:
            return UNKNOWN

    def _taken_branch(self, n: Node, sel: Any) -> str | None:
        if sel is UNKNOWN:
            return None
        branches = [s for s in n.inputs if s.enabled and s.identifier != _SELECTOR[n.bl_idname] and s.type != "CUSTOM"]
        if n.bl_idname == "GeometryNodeSwitch":
            return "True" if sel else "False"
        if n.bl_idname == "GeometryNodeIndexSwitch":
            i = int(sel)
            return branches[i].identifier if 0 <= i < len(branches) else ""
        for s in branches:
            if s.name == sel:
                return s.identifier
        return ""

    def _bind(self, g: Group, n: Node, sub: Group, bound: tuple) -> tuple:
        out = {}
        for s in sub.inputs:
            try:
                out[s.identifier] = self.input_value(g, n, s.identifier, bound)
            except KeyError:
                out[s.identifier] = s.default
        return tuple(sorted((k, v) for k, v in out.items() if v is not UNKNOWN))

    def live_inputs(self, g: Group, bound: tuple, outputs: frozenset[str] | None) -> frozenset[str]:
        """Interface input identifiers of ``g`` that reach the given outputs (all when None)."""
        key = (g.name, bound, outputs)
        if key in self._live_cache:
            return self._live_cache[key]
        self._live_cache[key] = frozenset()
        out_node = next((n for n in g.nodes if n.bl_idname == "NodeGroupOutput" and n.properties.get("is_active_output", False)), None)
        out_node = out_node or next((n for n in g.nodes if n.bl_idname == "NodeGroupOutput"), None)
        live: set[str] = set()
        if out_node is None:
            self._live_cache[key] = frozenset()
            return frozenset()
        seen: set[tuple[str, str | None]] = set()
        stack: list[tuple[str, str | None]] = []  # (node, output socket) pairs that are live

        def push_inputs(node: Node, socks: Iterable[str]) -> None:
            for sid in socks:
                for src_node, payload in self.sources(g, node, sid):
                    if src_node is not None:
                        stack.append((src_node, payload))

        socks = [s.identifier for s in out_node.inputs if s.type != "CUSTOM" and (outputs is None or s.identifier in outputs)]
        push_inputs(out_node, socks)
        while stack:
            name, sock = stack.pop()
            if (name, sock) in seen:
                continue
            seen.add((name, sock))
            n = self.nodes[g.name][name]
            if n.bl_idname == "NodeGroupInput":
                live.add(sock)
                continue
            enabled = [s.identifier for s in n.inputs if s.enabled and s.type != "CUSTOM"]
            if n.bl_idname in _SELECTOR:
                sel_id = _SELECTOR[n.bl_idname]
                sel = self.input_value(g, n, sel_id, bound)
                taken = self._taken_branch(n, sel)
                if taken is None:
                    push_inputs(n, enabled)
                else:
                    push_inputs(n, [sel_id] + ([taken] if taken in enabled else []))
                continue
            if n.bl_idname == "GeometryNodeGroup" and n.group in self.program.groups:
                sub = self.program.groups[n.group]
                sub_live = self.live_inputs(sub, self._bind(g, n, sub, bound), frozenset({sock}))
                push_inputs(n, [s for s in enabled if s in sub_live])
                continue
            push_inputs(n, enabled)
        res = frozenset(live)
        self._live_cache[key] = res
        return res

    def selector_inputs(self) -> set[str]:
        """Entry inputs that can reach the selector of some switch (directly or through groups)."""
        result: set[str] = set()

        def walk(g: Group, path: tuple) -> None:
            for n in g.nodes:
                if n.bl_idname in _SELECTOR:
                    result.update(self._reach_with_path(g, n, _SELECTOR[n.bl_idname], path))
                if n.bl_idname == "GeometryNodeGroup" and n.group in self.program.groups and len(path) < 32:
                    walk(self.program.groups[n.group], path + ((g, n),))

        walk(self.program.entry_group, ())
        return result

    def _reach_with_path(self, g: Group, node: Node, sock_id: str, path: tuple) -> set[str]:
        found: set[str] = set()
        stack = [(g, node, sock_id, path)]
        seen = set()
        while stack:
            gg, nn, sid, ctx = stack.pop()
            for src_node, payload in self.sources(gg, nn, sid):
                if src_node is None:
                    continue
                key = (gg.name, src_node, payload, len(ctx), id(ctx[-1][1]) if ctx else 0)
                if key in seen:
                    continue
                seen.add(key)
                sn = self.nodes[gg.name][src_node]
                if sn.bl_idname == "NodeGroupInput":
                    if not ctx:
                        found.add(payload)
                    else:
                        parent_g, parent_n = ctx[-1]
                        if any(s.identifier == payload for s in parent_n.inputs):
                            stack.append((parent_g, parent_n, payload, ctx[:-1]))
                    continue
                if sn.bl_idname == "GeometryNodeGroup" and sn.group in self.program.groups:
                    sub = self.program.groups[sn.group]
                    out = next((x for x in sub.nodes if x.bl_idname == "NodeGroupOutput"), None)
                    if out is not None and any(s.identifier == payload for s in out.inputs):
                        stack.append((sub, out, payload, ctx + ((gg, sn),)))
                    continue
                for s in sn.inputs:
                    if s.enabled and s.type != "CUSTOM":
                        stack.append((gg, sn, s.identifier, ctx))
        return found


def live_parameters(program: Program, discrete: dict[str, Any], analyzer: _Analyzer | None = None) -> set[str]:
    """Identifiers of the entry inputs that reach the output under a discrete assignment
    (keys: input names or identifiers; missing discrete inputs take their defaults)."""
    an = analyzer or _Analyzer(program)
    g = program.entry_group
    bound = {}
    by_name = {s.name: s for s in g.inputs} | {s.identifier: s for s in g.inputs}
    for s in g.inputs:
        if s.type in ("INT", "BOOLEAN", "MENU"):
            bound[s.identifier] = s.default if s.type != "BOOLEAN" else bool(s.default)
    for k, v in discrete.items():
        s = by_name.get(k)
        if s is None:
            raise ProgramError(f"unknown parameter '{k}'")
        bound[s.identifier] = v
    return set(an.live_inputs(g, tuple(sorted(bound.items())), None))


# ---------------------------------------------------------------------------
# Building the space


def parameter_space(program: Program, sidecar: str | Path | dict | None = None, analyze: bool = True) -> ParameterSpace:
    """The program's parameter space. ``sidecar``: a path to ``NAME.params.json`` / ``sp_*.json``
    or an already-read mapping; by default ``NAME.params.json`` next to the program's source is used."""
    g = program.entry_group
    params: list[Parameter] = []
    for s in g.inputs:
        if s.type not in ("VALUE", "VECTOR", "INT", "BOOLEAN", "MENU"):
            continue
        default = s.default
        if s.type == "VECTOR":
            default = tuple(float(x) for x in (default or (0.0, 0.0, 0.0)))
        elif s.type == "VALUE":
            default = float(default or 0.0)
        elif s.type == "INT":
            default = int(default or 0)
        elif s.type == "BOOLEAN":
            default = bool(default)
        p = Parameter(name=s.name, identifier=s.identifier, type=s.type, default=default, subtype=s.subtype)
        if s.type == "BOOLEAN":
            p = replace(p, choices=(False, True))
        elif s.type == "MENU":
            p = replace(p, choices=tuple(s.items or ()))
        elif s.type == "VALUE" and _finite(s.min, FLT_MAX_ISH) and _finite(s.max, FLT_MAX_ISH):
            p = replace(p, low=float(s.min), high=float(s.max))
        elif s.type == "VECTOR" and _finite(s.min, FLT_MAX_ISH) and _finite(s.max, FLT_MAX_ISH):
            p = replace(p, low=(float(s.min),) * 3, high=(float(s.max),) * 3)
        elif s.type == "INT" and _finite(s.min, INT_UNBOUNDED) and _finite(s.max, INT_UNBOUNDED) and s.max - s.min <= 4096:
            p = replace(p, low=int(s.min), high=int(s.max), choices=tuple(range(int(s.min), int(s.max) + 1)))
        else:
            p = replace(p, range_source="default")
        params.append(p)
    specs, source, where = _sidecar_specs(program, sidecar)
    if specs:
        names = {p.name for p in params}
        for name in specs:
            if name not in names:
                raise ProgramError(f"{where}: no parameter named '{name}' in the program (parameters: {', '.join(sorted(names))})")
        params = [_apply_range(p, specs[p.name], source, where) if p.name in specs else p for p in params]
    space = ParameterSpace(params)
    if analyze:
        _analyze_dependencies(program, space)
    return space


def _sidecar_specs(program: Program, sidecar: str | Path | dict | None) -> tuple[dict, str, str]:
    if isinstance(sidecar, dict):
        return sidecar, "sidecar", "sidecar"
    if sidecar is None:
        for src in (program.path, program.source):
            if src:
                cand = Path(src).with_suffix(".params.json")
                if cand.is_file():
                    return load_sidecar(cand), "sidecar", str(cand)
        return {}, "", ""
    path = Path(sidecar)
    if not path.is_file():
        raise ProgramError(f"{path}: no such parameter file")
    text = path.read_text()
    if '"params"' in text and '"parameters"' not in text:
        return import_pytorchgeonodes_config(path), "sp_config", str(path)
    return load_sidecar(path), "sidecar", str(path)


def _analyze_dependencies(program: Program, space: ParameterSpace) -> None:
    an = _Analyzer(program)
    selector_ids = an.selector_inputs()
    sel_params = [p for p in space.discrete if p.identifier in selector_ids]
    domains = []
    for p in sel_params:
        if p.choices is None or len(p.choices) == 0:
            # unbounded selector: cannot enumerate; analyse around the default only
            domains.append((p.default,))
        else:
            domains.append(p.choices)
    total = math.prod(len(d) for d in domains) if domains else 1
    if total > MAX_ENUMERATION:
        return  # too many combinations: leave every parameter "always" active
    live_sets: dict[tuple, set[str]] = {}
    for combo in itertools.product(*domains):
        assignment = {p.identifier: v for p, v in zip(sel_params, combo)}
        live_sets[combo] = live_parameters(program, assignment, an)
    names = tuple(p.name for p in sel_params)
    for i, p in enumerate(space.parameters):
        allowed = {combo for combo, live in live_sets.items() if p.identifier in live}
        if len(allowed) == len(live_sets):
            continue
        # keep only the variables the condition depends on
        keep = []
        for j in range(len(names)):
            dep = False
            for combo in live_sets:
                for alt in domains[j]:
                    other = combo[:j] + (alt,) + combo[j + 1:]
                    if (combo in allowed) != (other in allowed):
                        dep = True
                        break
                if dep:
                    break
            if dep:
                keep.append(j)
        proj = frozenset(tuple(c[j] for j in keep) for c in allowed)
        space.parameters[i] = replace(
            p, active_when=Condition(tuple(names[j] for j in keep), proj, tuple(tuple(domains[j]) for j in keep)))


# ---------------------------------------------------------------------------
# Values from text and dicts (CLI --set / --lock, JSON parameter sets)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def parse_value(p: Parameter, text: str) -> Any:
    """Parse ``text`` as a value of ``p`` (float; ``x,y,z``; int; true/false; menu item)."""
    t = text.strip()
    try:
        if p.type == "VALUE":
            return float(t)
        if p.type == "VECTOR":
            parts = [float(x) for x in t.strip("()[] ").split(",")]
            if len(parts) != 3:
                raise ValueError
            return tuple(parts)
        if p.type == "INT":
            v = float(t)
            if v != int(v):
                raise ValueError
            return int(v)
        if p.type == "BOOLEAN":
            if t.lower() in _TRUE:
                return True
            if t.lower() in _FALSE:
                return False
            raise ValueError
        if p.type == "MENU":
            if p.choices and t not in p.choices:
                raise ValueError
            return t
    except ValueError:
        pass
    expected = {"VALUE": "a number", "VECTOR": "x,y,z", "INT": "an integer", "BOOLEAN": "true or false",
                "MENU": f"one of {list(p.choices or ())}"}[p.type]
    raise ProgramError(f"parameter '{p.name}': cannot read {text!r} as {expected}")


def parse_assignments(space: ParameterSpace, items: Iterable[str]) -> dict[str, Any]:
    """``["Width=1.2", "Legs Type=2"]`` -> ``{"Width": 1.2, "Legs Type": 2}`` (names checked)."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ProgramError(f"expected NAME=VALUE, got {item!r}")
        name, text = item.split("=", 1)
        name = name.strip()
        try:
            p = space[name]
        except KeyError:
            raise ProgramError(f"unknown parameter '{name}' (parameters: {', '.join(repr(q.name) for q in space)})") from None
        out[p.name] = parse_value(p, text)
    return out


def check_values(space: ParameterSpace, values: dict[str, Any], where: str = "") -> dict[str, Any]:
    """Validate a ``{name: value}`` mapping (JSON data); returns it keyed by parameter name."""
    out: dict[str, Any] = {}
    prefix = f"{where}: " if where else ""
    for k, v in values.items():
        try:
            p = space[k]
        except KeyError:
            raise ProgramError(f"{prefix}unknown parameter '{k}'") from None
        ok = {
            "VALUE": isinstance(v, (int, float)) and not isinstance(v, bool),
            "VECTOR": isinstance(v, (list, tuple)) and len(v) == 3 and all(isinstance(x, (int, float)) for x in v),
            "INT": isinstance(v, int) and not isinstance(v, bool) or (isinstance(v, float) and v == int(v)),
            "BOOLEAN": isinstance(v, bool) or v in (0, 1),
            "MENU": isinstance(v, str) and (not p.choices or v in p.choices),
        }[p.type]
        if not ok:
            raise ProgramError(f"{prefix}parameter '{p.name}' ({p.type.lower()}): bad value {v!r}")
        if p.type == "VALUE":
            v = float(v)
        elif p.type == "VECTOR":
            v = tuple(float(x) for x in v)
        elif p.type == "INT":
            v = int(v)
        elif p.type == "BOOLEAN":
            v = bool(v)
        out[p.name] = v
    return out


def split_values(space: ParameterSpace, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split ``{name: value}`` into the program's ``(discrete, continuous)`` arguments (Python values)."""
    d, c = {}, {}
    for k, v in values.items():
        (d if space[k].kind == "discrete" else c)[space[k].name] = v
    return d, c
