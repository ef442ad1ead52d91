"""Node semantics, one module per node family, registered by ``bl_idname``.

A node type is a plain runtime function plus a :class:`NodeSpec` saying how
the code generator calls it:

* each *enabled* input socket becomes a keyword argument named after the
  socket identifier (``Value_001`` -> ``value_001``, ``Vertices X`` ->
  ``vertices_x``); multi-input sockets receive a list in Blender's link order;
* the node's properties listed in ``props`` are passed as keyword arguments;
* the function returns the outputs listed in ``outputs`` (a tuple when there
  are several, the value itself when there is one);
* ``check(node)`` returns a reason string when a mode is unsupported, so that
  translation fails up front listing every unsupported node.

Special node kinds (switches, groups, group input/output, reroutes) are
handled by the code generator itself; they are registered with a ``kind``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["REGISTRY", "NodeSpec", "get_spec", "kwarg_name", "load_all", "node", "special"]


@dataclass
class NodeSpec:
    bl_idname: str
    func: Callable[..., Any] | None
    outputs: tuple[str, ...] = ()
    props: tuple[str, ...] = ()
    check: Callable[[Any], str | None] | None = None
    kind: str = "plain"  # plain | switch | index_switch | menu_switch | group | group_input | group_output | reroute
    pure: bool = True  # no geometry, no field source: constant inputs give a constant output
    implicit: frozenset[str] = field(default_factory=frozenset)  # kwargs left to the function when unlinked
    renames: dict[str, str] = field(default_factory=dict)  # socket identifier -> kwarg when the default is ambiguous
    outputs_arg: bool = False  # the function takes outputs_used=(outputs read downstream) and may skip the others
    multi_inputs: frozenset[str] = field(default_factory=frozenset)  # kwargs that are multi-input sockets (a list)

    @property
    def module(self) -> str:
        return self.func.__module__ if self.func is not None else ""


REGISTRY: dict[str, NodeSpec] = {}


def kwarg_name(identifier: str) -> str:
    """A socket identifier as a Python keyword (``Vertices X`` -> ``vertices_x``)."""
    s = re.sub(r"[^0-9a-zA-Z]+", "_", identifier).strip("_").lower() or "socket"
    return "s_" + s if s[0].isdigit() else s


def node(
    bl_idname: str | tuple[str, ...],
    *,
    outputs: tuple[str, ...],
    props: tuple[str, ...] = (),
    check: Callable[[Any], str | None] | None = None,
    pure: bool = True,
    implicit: tuple[str, ...] = (),
    renames: dict[str, str] | None = None,
    outputs_arg: bool = False,
    multi_inputs: tuple[str, ...] = (),
) -> Callable[[Callable], Callable]:
    """Register the decorated runtime function for ``bl_idname`` (one or several). With
    ``outputs_arg`` the generated code passes ``outputs_used``: the output identifiers linked
    downstream, so the function can skip work for the others (e.g. anonymous attributes)."""

    def deco(fn: Callable) -> Callable:
        for name in (bl_idname,) if isinstance(bl_idname, str) else bl_idname:
            REGISTRY[name] = NodeSpec(
                bl_idname=name, func=fn, outputs=outputs, props=props, check=check, pure=pure,
                implicit=frozenset(implicit), renames=dict(renames or {}), outputs_arg=outputs_arg,
                multi_inputs=frozenset(multi_inputs),
            )
        return fn

    return deco


def special(bl_idname: str, kind: str, check: Callable[[Any], str | None] | None = None) -> None:
    REGISTRY[bl_idname] = NodeSpec(bl_idname=bl_idname, func=None, kind=kind, pure=False, check=check)


def load_all() -> dict[str, NodeSpec]:
    """Import every node family module in this package so the registry is complete."""
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")
    return REGISTRY


def get_spec(bl_idname: str) -> NodeSpec | None:
    load_all()
    return REGISTRY.get(bl_idname)
