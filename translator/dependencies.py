"""Dependencies of a program's parameters: the condition under which each one is active.

A parameter is *active* under an assignment of the discrete parameters when the
program's output still depends on it there. :class:`Liveness` answers that for
one assignment: the :class:`~translator.partial.PartialEvaluator` folds the
assigned values (and constants) through Math / Compare / ... nodes and nested
groups, every Switch / Index Switch / Menu Switch whose choice becomes known
keeps only its taken branch, and the walk from the group's output marks the
inputs it still reaches. :func:`analyze_dependencies` enumerates the (small)
domains of the discrete parameters that reach some switch's selector and turns
the results into one :class:`Condition` per parameter.

This module imports torch only when an analysis runs, so :mod:`translator.params`
stays importable without it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from .ir import Group, Node, Program, ProgramError

if TYPE_CHECKING:
    from .partial import Bound

__all__ = ["MAX_ENUMERATION", "Condition", "Liveness", "analyze_dependencies", "live_parameters"]

MAX_ENUMERATION = 20000  # most discrete assignments enumerated; beyond, every parameter stays "always"


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


class Liveness:
    """Which interface inputs of a group reach its outputs when some inputs are known (memoised).

    ``bound`` (see :func:`translator.partial.bind`) holds the known input values.
    """

    def __init__(self, program: Program):
        from .partial import PartialEvaluator

        self.program = program
        self.evaluator = PartialEvaluator(program, through_groups=True)
        self._live: dict[tuple, frozenset[str]] = {}

    def live_inputs(self, g: Group, bound: Bound, outputs: frozenset[str] | None) -> frozenset[str]:
        """Interface input identifiers of ``g`` that reach the given outputs (all when None)."""
        from .partial import SELECTOR, UNKNOWN, active_output

        key = (g.name, bound, outputs)
        if key in self._live:
            return self._live[key]
        self._live[key] = frozenset()  # guards recursion
        pe = self.evaluator
        out_node = active_output(g)
        if out_node is None:
            return frozenset()
        live: set[str] = set()
        seen: set[tuple[str, str | None]] = set()
        stack: list[tuple[str, str | None]] = []  # (node, output socket) pairs that are live

        def push_inputs(node: Node, socks: Iterable[str]) -> None:
            for sid in socks:
                for src in pe.sources(g, node, sid):
                    if src.node is not None:
                        stack.append((src.node, src.socket))

        push_inputs(out_node, [s.identifier for s in out_node.inputs
                               if s.type != "CUSTOM" and (outputs is None or s.identifier in outputs)])
        while stack:
            name, sock = stack.pop()
            if (name, sock) in seen:
                continue
            seen.add((name, sock))
            n = pe.nodes[g.name][name]
            if n.bl_idname == "NodeGroupInput":
                live.add(sock)
                continue
            enabled = [s.identifier for s in pe.enabled_inputs(n)]
            kind = pe.kind(n)
            if kind in SELECTOR:
                taken = pe.choice(g, n, bound)
                if taken is UNKNOWN:
                    push_inputs(n, enabled)
                else:
                    push_inputs(n, [SELECTOR[kind]] + ([taken.identifier] if taken is not None else []))
                continue
            if n.bl_idname == "GeometryNodeGroup" and n.group in self.program.groups:
                sub = self.program.groups[n.group]
                sub_live = self.live_inputs(sub, pe.call_bound(g, n, bound), frozenset({sock}))
                push_inputs(n, [s for s in enabled if s in sub_live])
                continue
            push_inputs(n, enabled)
            if kind in ("repeat_output", "foreach_output"):  # a zone also reads its input node's inputs
                pair = next((m for m in g.nodes if m.properties.get("paired_output") == n.name), None)
                if pair is not None:
                    push_inputs(pair, [s.identifier for s in pe.enabled_inputs(pair)])
        res = frozenset(live)
        self._live[key] = res
        return res

    def selector_inputs(self) -> set[str]:
        """Entry inputs that can reach the selector of some switch (directly or through groups)."""
        from .partial import SELECTOR

        result: set[str] = set()
        pe = self.evaluator

        def walk(g: Group, path: tuple) -> None:
            for n in g.nodes:
                kind = pe.kind(n)
                if kind in SELECTOR:
                    result.update(self._reach_with_path(g, n, SELECTOR[kind], path))
                if n.bl_idname == "GeometryNodeGroup" and n.group in self.program.groups and len(path) < 32:
                    walk(self.program.groups[n.group], path + ((g, n),))

        walk(self.program.entry_group, ())
        return result

    def _reach_with_path(self, g: Group, node: Node, sock_id: str, path: tuple) -> set[str]:
        from .partial import active_output

        pe = self.evaluator
        found: set[str] = set()
        stack = [(g, node, sock_id, path)]
        seen = set()
        while stack:
            gg, nn, sid, ctx = stack.pop()
            for src in pe.sources(gg, nn, sid):
                if src.node is None:
                    continue
                key = (gg.name, src.node, src.socket, len(ctx), id(ctx[-1][1]) if ctx else 0)
                if key in seen:
                    continue
                seen.add(key)
                sn = pe.nodes[gg.name][src.node]
                if sn.bl_idname == "NodeGroupInput":
                    if not ctx:
                        found.add(src.socket)
                    else:
                        parent_g, parent_n = ctx[-1]
                        if any(s.identifier == src.socket for s in parent_n.inputs):
                            stack.append((parent_g, parent_n, src.socket, ctx[:-1]))
                    continue
                if sn.bl_idname == "GeometryNodeGroup" and sn.group in self.program.groups:
                    sub = self.program.groups[sn.group]
                    out = active_output(sub)
                    if out is not None and any(s.identifier == src.socket for s in out.inputs):
                        stack.append((sub, out, src.socket, ctx + ((gg, sn),)))
                    continue
                for s in pe.enabled_inputs(sn):
                    stack.append((gg, sn, s.identifier, ctx))
        return found


def live_parameters(program: Program, discrete: dict[str, Any], liveness: Liveness | None = None) -> set[str]:
    """Identifiers of the entry inputs that reach the output under a discrete assignment
    (keys: input names or identifiers; missing discrete inputs take their defaults).
    Pass one ``liveness`` to many calls to share its memo."""
    from .partial import bind, interface_default

    lv = liveness or Liveness(program)
    g = program.entry_group
    bound = {s.identifier: interface_default(s) for s in g.inputs if s.type in ("INT", "BOOLEAN", "MENU")}
    by_name = {s.name: s for s in g.inputs} | {s.identifier: s for s in g.inputs}
    for k, v in discrete.items():
        s = by_name.get(k)
        if s is None:
            raise ProgramError(f"unknown parameter '{k}'")
        bound[s.identifier] = v
    return set(lv.live_inputs(g, bind(bound), None))


def analyze_dependencies(program: Program, space: Any) -> None:
    """Set ``active_when`` of every parameter of ``space`` (a
    :class:`~translator.params.ParameterSpace` of ``program``) from the graph."""
    lv = Liveness(program)
    selector_ids = lv.selector_inputs()
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
        live_sets[combo] = live_parameters(program, assignment, lv)
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
