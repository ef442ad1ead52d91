"""Plain Python operators for the nodes whose semantics they are, and what makes that safe.

The code generator writes ``half_width = width * 0.5`` instead of
``math_nodes.math(value=width, value_001=0.5, operation='MULTIPLY')`` only where
the two compute the same tensor bit for bit, with the same shape, dtype and
gradient. The Math node computes ``as_float(a) * as_float(b)``; the operator
does the same when

* no operand can be a field (a field makes the node return a lazy field), and
* at least one operand is a float tensor, so that the other, a Python number,
  enters the operation in that tensor's dtype exactly as ``as_float`` would
  have made it. (That holds when a call's continuous tensors share one dtype,
  which :func:`translator.runtime.run` makes the context's; a call mixing
  float32 and float64 tensors may see a Python number rounded differently.) Where
  neither operand is known to be a tensor (two inputs of the entry group,
  which are Python floats when left at their defaults), the generator spells
  the conversion: ``rt.as_float(seat_height) - thickness``.

Only Math ADD / SUBTRACT / MULTIPLY without clamping and Vector Math ADD /
SUBTRACT / MULTIPLY (whose ``Value`` output nobody reads) become operators:
Blender's DIVIDE is a safe division, clamping, the other modes and every other
node keep their runtime call.

To know what can be a field, :class:`ValueKinds` gives every node output one of
three kinds at translation time:

* ``TENSOR``: a float tensor, never a field (a Math node's result, an operator's);
* ``VALUE``: never a field (a constant, an input of the entry group, a pure node of
  such values);
* ``ANY``: anything, a field included (a field input's result, a geometry node's
  attribute output, ...).

Inputs of a nested group get the weakest kind their Group nodes pass them: every
input starts as ``VALUE`` and is lowered round by round until nothing changes.
Groups never call themselves (the IR rejects recursion), so every argument a call
passes was computed before it, and the kinds found this way hold at run time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .ir import Group, Node, topological_order
from .partial import SELECTOR, UNKNOWN, PartialEvaluator, Source, active_output

__all__ = ["ANY", "OPERATOR_NODES", "TENSOR", "VALUE", "Operand", "ValueKinds", "operator_expression"]

TENSOR, VALUE, ANY = "tensor", "value", "any"
_RANK = {TENSOR: 0, VALUE: 1, ANY: 2}

# Node operations written as a Python operator, and the nodes that can be.
_OPERATORS = {"ADD": "+", "SUBTRACT": "-", "MULTIPLY": "*"}
OPERATOR_NODES = frozenset({"ShaderNodeMath", "ShaderNodeVectorMath"})


def _weakest(*kinds: str) -> str:
    return max(kinds, key=_RANK.__getitem__, default=TENSOR)


class ValueKinds:
    """The kind of every node output of a program (see the module docstring)."""

    def __init__(self, pe: PartialEvaluator):
        self.pe = pe
        groups = pe.program.groups
        # optimistic start, lowered round by round to the fixed point
        self.inputs: dict[str, dict[str, str]] = {g: {s.identifier: VALUE for s in grp.inputs} for g, grp in groups.items()}
        while True:
            self._outputs: dict[str, dict[tuple[str, str], str]] = {}
            self._returns: dict[str, dict[str, str]] = {}
            passed = {g: {s.identifier: VALUE for s in grp.inputs} for g, grp in groups.items()}
            for g in groups.values():
                for n in g.nodes:
                    if pe.kind(n) != "group" or n.group not in groups:
                        continue
                    for s in groups[n.group].inputs:
                        sock = next((x for x in n.inputs if x.identifier == s.identifier), None)
                        k = VALUE if sock is None else self.arg(g, pe.sources(g, n, s.identifier)[0], sock.type)
                        passed[n.group][s.identifier] = _weakest(passed[n.group][s.identifier], k)
            if passed == self.inputs:
                break
            self.inputs = passed

    def arg(self, g: Group, src: Source, dst_type: str) -> str:
        """The kind of the value ``src`` delivers to a ``dst_type`` socket."""
        if src.node is None or self.pe.known(g, src.node, src.socket):
            return VALUE
        k = self.output(g, src.node, src.socket)
        return VALUE if src.steps(dst_type) and k != ANY else k

    def output(self, g: Group, node: str, sock_id: str) -> str:
        """The kind of output ``sock_id`` of ``node``."""
        if g.name not in self._outputs:
            table: dict[tuple[str, str], str] = {}
            self._outputs[g.name] = table
            for name in topological_order(g):
                n = self.pe.nodes[g.name][name]
                for oid, k in self._node(g, n).items():
                    table[(name, oid)] = k
        return self._outputs[g.name].get((node, sock_id), ANY)

    def _node(self, g: Group, n: Node) -> dict[str, str]:
        pe = self.pe
        if n.bl_idname == "NodeGroupInput":
            return dict(self.inputs[g.name])
        spec = pe.spec(n)
        kind = pe.kind(n)
        if spec is None or n.mute:
            return {}
        if kind in SELECTOR:
            return self._switch(g, n)
        if kind == "group":
            return dict(self._group_returns(n.group)) if n.group in pe.program.groups else {}
        if kind != "plain" or not spec.pure:
            return {}
        inputs = [self.arg(g, src, s.type) for s in pe.enabled_inputs(n) for src in pe.sources(g, n, s.identifier)]
        if _weakest(*inputs) == ANY:
            return {}
        out = {o: VALUE for o in spec.outputs}
        if n.bl_idname == "ShaderNodeMath":
            out["Value"] = TENSOR  # every operation gives a tensor
        elif n.bl_idname == "ShaderNodeVectorMath" and n.properties.get("operation") in _OPERATORS:
            out["Vector"] = TENSOR
        return out

    def _switch(self, g: Group, n: Node) -> dict[str, str]:
        pe = self.pe
        items = {s.identifier: VALUE for s in n.outputs if s.identifier != "Output"}  # menu item booleans
        taken = pe.choice(g, n)
        out_type = n.output("Output").type
        if taken is None:
            return {**items, "Output": VALUE}
        if taken is not UNKNOWN:
            return {**items, "Output": self.arg(g, pe.sources(g, n, taken.identifier)[0], out_type)}
        cond = n.input(SELECTOR[pe.kind(n)])
        kinds = [self.arg(g, pe.sources(g, n, cond.identifier)[0], cond.type)]
        kinds += [self.arg(g, pe.sources(g, n, s.identifier)[0], out_type) for s in pe.branch_sockets(n)]
        return {**items, "Output": VALUE if _weakest(*kinds) != ANY else ANY}

    def _group_returns(self, gname: str) -> dict[str, str]:
        if gname not in self._returns:
            g = self.pe.program.groups[gname]
            out_node = active_output(g)
            out: dict[str, str] = {}
            for s in g.outputs:
                sock = next((x for x in out_node.inputs if x.identifier == s.identifier), None) if out_node else None
                if out_node is None:
                    out[s.identifier] = ANY
                elif sock is None:
                    out[s.identifier] = VALUE  # the type's default
                else:
                    out[s.identifier] = self.arg(g, self.pe.sources(g, out_node, s.identifier)[0], sock.type)
            self._returns[gname] = out
        return self._returns[gname]


@dataclass(frozen=True)
class Operand:
    """One input of a node as the generated code reads it: source ``expr``, its kind, and its
    ``value`` when known at translation time (else :data:`~translator.partial.UNKNOWN`)."""

    expr: str
    kind: str
    value: Any = UNKNOWN

    def number(self) -> bool:
        """A run-time value or a numeric constant (not a bool, string or None)."""
        return self.value is UNKNOWN or (isinstance(self.value, (int, float)) and not isinstance(self.value, bool))


def operator_expression(n: Node, operands: dict[str, Operand], used: set[str]) -> tuple[str, str] | None:
    """``(output identifier, expression)`` when node ``n`` is written as a Python operator;
    None when it keeps its runtime call. ``operands``: the node's enabled inputs by socket
    identifier; ``used``: its outputs read downstream."""
    op = _OPERATORS.get(n.properties.get("operation"))
    if op is None or any(o.kind == ANY for o in operands.values()):
        return None
    if n.bl_idname == "ShaderNodeMath":
        first, second, wrap, output = "Value", "Value_001", "rt.as_float", "Value"
        if n.properties.get("use_clamp"):
            return None
    elif n.bl_idname == "ShaderNodeVectorMath":
        first, second, wrap, output = "Vector", "Vector_001", "rt.as_vector", "Vector"
        if "Value" in used:
            return None
    else:
        return None
    if first not in operands or second not in operands:
        return None
    a, b = operands[first], operands[second]
    if n.bl_idname == "ShaderNodeMath":
        if not (a.number() and b.number()):
            return None
        if a.kind != TENSOR and b.kind != TENSOR:  # make one side the tensor as_float would have made
            if a.value is UNKNOWN:
                a = Operand(f"{wrap}({a.expr})", TENSOR)
            elif b.value is UNKNOWN:
                b = Operand(f"{wrap}({b.expr})", TENSOR)
            else:
                return None
    else:  # vectors: torch adds no tuples, so every side that is not a tensor is converted
        a, b = (x if x.kind == TENSOR else Operand(f"{wrap}({x.expr})", TENSOR) for x in (a, b))
    return output, f"{a.expr} {op} {b.expr}"
