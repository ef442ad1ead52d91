"""Constant input nodes (Value, Integer, Boolean, Vector) and the graph plumbing
nodes that the code generator handles itself (Group, Group Input/Output, Reroute).
"""

from __future__ import annotations

from . import node, special

__all__ = ["boolean", "integer", "value", "vector"]


@node("ShaderNodeValue", outputs=("Value",), props=("value",),
      label="Value")
def value(value=0.0):
    """Value node: a float constant (the value is stored on the node's output socket)."""
    return float(value if value is not None else 0.0)


@node("FunctionNodeInputInt", outputs=("Integer",), props=("integer",),
      label="Integer")
def integer(integer=0):
    """Integer node."""
    return int(integer)


@node("FunctionNodeInputBool", outputs=("Boolean",), props=("boolean",),
      label="Boolean")
def boolean(boolean=False):
    """Boolean node."""
    return bool(boolean)


@node("FunctionNodeInputVector", outputs=("Vector",), props=("vector",),
      label="Vector")
def vector(vector=(0.0, 0.0, 0.0)):
    """Vector node."""
    return tuple(float(v) for v in vector)


special("NodeGroupInput", "group_input", label="Group Input")
special("NodeGroupOutput", "group_output", label="Group Output", notes="the active output when there are several")
special("NodeReroute", "reroute", label="Reroute")
special("GeometryNodeGroup", "group", label="Group", notes="nested groups")
