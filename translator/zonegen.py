"""Code generation for zones (Repeat, For Each Geometry Element): the code generator's helpers.

A zone's *body* is the set of nodes that depend on the zone's input node and feed its output node
(links followed through reroutes and muted nodes). The zone output node is emitted as

.. code-block:: python

    def _repeat_body(repeat_iteration, repeat_geometry, repeat_value):  # the input node's outputs
        ...                                                            # the body's nodes
        return (geometry_out, value_out,)                              # the output node's inputs
    (repeat_geometry_2, repeat_value_2,) = rt.repeat_zone(iterations, _repeat_body, (geometry, value,), ...)

so a nested zone is a nested function. What the body reads from outside it (nodes that do not depend
on the zone input) is computed before the zone: those nodes are the zone output's dependencies in
the enclosing scope. Item names reach the source only as sanitised identifiers; types, domains and
node names as ``repr`` literals (:mod:`translator.pysource`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .ir import Node, quote
from .nodes.zones import ZONE_PAIRS
from .pysource import identifier, literal

if TYPE_CHECKING:
    from .codegen import _Generator, _GroupInfo

__all__ = ["ZONE_INPUT_KINDS", "ZONE_OUTPUT_KINDS", "body", "emit_zone", "external_deps", "paired_input", "zone_problems"]

ZONE_OUTPUT_KINDS = frozenset({"repeat_output", "foreach_output"})
ZONE_INPUT_KINDS = frozenset({"repeat_input", "foreach_input"})
_FIXED_INPUTS = {"repeat_input": ("Iterations",), "foreach_input": ("Geometry", "Selection")}


def _items(sockets: list) -> list:
    return [s for s in sockets if s.type != "CUSTOM" and s.enabled]


def paired_input(gen: _Generator, info: _GroupInfo, out: Node) -> Node | None:
    """The zone input node whose ``paired_output`` is ``out`` (None when there is none)."""
    want = {v: k for k, v in ZONE_PAIRS.items()}.get(out.bl_idname)
    return next((n for n in info.group.nodes if n.bl_idname == want and n.properties.get("paired_output") == out.name),
                None)


def _graph(gen: _Generator, info: _GroupInfo) -> dict[str, set[str]]:
    """Producer sets: node -> the nodes its enabled inputs read (through reroutes and muted nodes)."""
    cache = gen.__dict__.setdefault("_zone_graphs", {})
    if info.group.name not in cache:
        prod: dict[str, set[str]] = {}
        for n in info.group.nodes:
            prod[n.name] = {src.node for s in gen.pe.enabled_inputs(n) for src in gen.resolve(info, n, s.identifier)
                            if src.node is not None}
        cache[info.group.name] = prod
    return cache[info.group.name]


def body(gen: _Generator, info: _GroupInfo, out: Node) -> set[str]:
    """Names of the nodes inside the zone ``out`` closes (its input and output node excluded)."""
    cache = gen.__dict__.setdefault("_zone_bodies", {})
    key = (info.group.name, out.name)
    if key not in cache:
        cache[key] = _body(gen, info, out)
    return cache[key]


def _body(gen: _Generator, info: _GroupInfo, out: Node) -> set[str]:
    inp = paired_input(gen, info, out)
    prod = _graph(gen, info)
    up: set[str] = set()
    stack = [out.name]
    while stack:
        m = stack.pop()
        for p in prod.get(m, ()):
            if p not in up:
                up.add(p)
                stack.append(p)
    if inp is None:
        return set()
    down = {inp.name}
    changed = True
    while changed:
        changed = False
        for m in up:
            if m not in down and prod.get(m, set()) & down:
                down.add(m)
                changed = True
    return (down & up) - {inp.name, out.name}


def external_deps(gen: _Generator, info: _GroupInfo, out: Node) -> list[str]:
    """What the zone needs from the enclosing scope: the nodes outside its body that the body, the zone
    input's inputs and the zone output read."""
    inside = body(gen, info, out)
    inp = paired_input(gen, info, out)
    members = [info.nodes[m] for m in inside] + [out] + ([inp] if inp is not None else [])
    deps: list[str] = []
    for m in members:
        for d in gen.eager_deps(info, m) if m is not out else _direct_deps(gen, info, out):
            if d not in inside and (inp is None or d != inp.name) and d not in deps:
                deps.append(d)
    return deps


def _direct_deps(gen: _Generator, info: _GroupInfo, n: Node) -> list[str]:
    return [src.node for s in gen.pe.enabled_inputs(n) for src in gen.resolve(info, n, s.identifier)
            if src.node is not None and not gen.folded(info, src)]


def zone_problems(gen: _Generator, info: _GroupInfo, n: Node) -> list[str]:
    """Translation-time problems of a zone node (one line each)."""
    where = f"node {quote(n.name)} ({n.bl_idname}) in group {quote(info.group.name)}"
    kind = gen.kind(n)
    if kind in ZONE_INPUT_KINDS:
        out = info.nodes.get(n.properties.get("paired_output") or "")
        if out is None or ZONE_PAIRS.get(n.bl_idname) != out.bl_idname:
            return [f"{where}: zone input is not paired with a {ZONE_PAIRS[n.bl_idname]} node"]
        return []
    if paired_input(gen, info, n) is None:
        return [f"{where}: zone output has no paired input node"]
    return []


def _signature(gen: _Generator, info: _GroupInfo, inp: Node) -> list[str]:
    names = [gen.out_var(info, inp, s.identifier) for s in _items(inp.outputs)]
    if gen.kind(inp) == "foreach_input" and not any(s.identifier == "Element" for s in _items(inp.outputs)):
        names.insert(1, info.names.take("_element"))  # the runtime always passes the element (None here)
    return names


def _body_lines(gen: _Generator, info: _GroupInfo, out: Node, inp: Node, avail: set[str], ind: str,
                returns: list) -> tuple[str, list[str]]:
    fname = info.names.take("_" + identifier(f"{info.var[out.name]}_body"))
    lines = [f"{ind}def {fname}({', '.join(_signature(gen, info, inp))}):"]
    targets = [src.node for s in returns for src in gen.resolve(info, out, s.identifier)
               if src.node is not None and not gen.folded(info, src)]
    lines += gen.emit_scope(info, targets, set(avail) | {inp.name}, ind + "    ")
    rets = [gen.input_expr(info, out, s) for s in returns]
    lines.append(f"{ind}    return ({''.join(r + ', ' for r in rets)})")
    return fname, lines


def _targets(gen: _Generator, info: _GroupInfo, n: Node) -> str:
    used = gen.pe.linked_outputs(info.group, n)
    names = [gen.out_var(info, n, s.identifier) if s.identifier in used else "_" for s in _items(n.outputs)]
    return f"({''.join(t + ', ' for t in names)})"


def emit_zone(gen: _Generator, info: _GroupInfo, n: Node, avail: set[str], ind: str) -> list[str]:
    """The lines of a zone output node: the body function and the runtime call."""
    inp = paired_input(gen, info, n)
    kind = gen.kind(n)
    name = literal(n.name[:60])
    fixed = _FIXED_INPUTS[gen.kind(inp)]
    items_in = [s for s in _items(inp.inputs) if s.identifier not in fixed]
    fname, lines = _body_lines(gen, info, n, inp, avail, ind, _items(n.inputs))
    if kind == "repeat_output":
        init = "".join(gen.input_expr(info, inp, s) + ", " for s in items_in)
        types = literal(tuple(s.type for s in _items(n.inputs)))
        iters = gen.input_expr(info, inp, inp.input("Iterations"))
        call = f"rt.repeat_zone({iters}, {fname}, ({init}), {types}, name={name})"
        return lines + [f"{ind}{_targets(gen, info, n)} = {call}"]
    geo = gen.input_expr(info, inp, inp.input("Geometry"))
    sel = gen.input_expr(info, inp, inp.input("Selection"))
    values = "".join(gen.input_expr(info, inp, s) + ", " for s in items_in)
    mains = [s for s in _items(n.inputs) if s.identifier.startswith("Main")]
    gens = [s for s in _items(n.inputs) if s.identifier.startswith("Generation")]
    gen_items = n.properties.get("generation_items") or []
    generation = tuple((s.type, _domain(gen_items, k)) for k, s in enumerate(gens))
    element = "Element" in gen.pe.linked_outputs(info.group, inp)
    args: dict[str, Any] = {"domain": n.properties.get("domain", "POINT"),
                            "input_types": tuple(s.type for s in items_in),
                            "main_types": tuple(s.type for s in mains), "generation": generation}
    kw = ", ".join(f"{k}={literal(v)}" for k, v in args.items())
    call = (f"rt.foreach_element_zone({geo}, {sel}, ({values}), {fname}, {kw}, element={element!r}, name={name})")
    return lines + [f"{ind}{_targets(gen, info, n)} = {call}"]


def _domain(items: list, k: int) -> str:
    d = items[k].get("domain", "POINT") if k < len(items) and isinstance(items[k], dict) else "POINT"
    return d if isinstance(d, str) else "POINT"
