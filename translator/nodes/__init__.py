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
  translation fails up front listing every unsupported node;
* ``label`` (Blender's name for the node), ``modes`` (property -> the values
  supported; without a ``check`` any other value is refused at translation
  time), ``notes`` (what else is or is not supported, one line) and ``grad``
  (``"yes"``: differentiable in its float inputs and gradchecked; ``"no"``:
  piecewise constant or discrete outputs; ``"-"``: no float inputs) describe the
  node for ``shapeprog nodes`` (:mod:`translator.catalog`).

Special node kinds (switches, groups, group input/output, reroutes) are
handled by the code generator itself; they are registered with a ``kind``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["REFUSED", "REGISTRY", "NodeSpec", "get_spec", "kwarg_name", "load_all", "modes_check", "node", "refuse", "special"]


@dataclass
class NodeSpec:
    bl_idname: str
    func: Callable[..., Any] | None
    outputs: tuple[str, ...] = ()
    props: tuple[str, ...] = ()
    check: Callable[[Any], str | None] | None = None
    kind: str = "plain"  # plain | switch | index_switch | menu_switch | group | group_input | group_output | reroute
    # | repeat_input | repeat_output | foreach_input | foreach_output (zones)
    pure: bool = True  # no geometry, no field source: constant inputs give a constant output
    implicit: frozenset[str] = field(default_factory=frozenset)  # kwargs left to the function when unlinked
    renames: dict[str, str] = field(default_factory=dict)  # socket identifier -> kwarg when the default is ambiguous
    outputs_arg: bool = False  # the function takes outputs_used=(outputs read downstream) and may skip the others
    multi_inputs: frozenset[str] = field(default_factory=frozenset)  # kwargs that are multi-input sockets (a list)
    label: str = ""  # Blender's name for the node type ("Vector Math")
    modes: dict[str, tuple[Any, ...]] = field(default_factory=dict)  # property -> supported values
    notes: str = ""  # what else is (not) supported, one line
    grad: str = "-"  # "yes" (gradchecked in its float inputs), "no" (piecewise constant), "-" (no float inputs)

    @property
    def module(self) -> str:
        return self.func.__module__ if self.func is not None else ""


REGISTRY: dict[str, NodeSpec] = {}

#: Node types refused on purpose, with the one-line reason translation gives (instead of "unsupported node type").
REFUSED: dict[str, str] = {}


def refuse(bl_idname: str, reason: str) -> None:
    """Record why ``bl_idname`` is not translated (one line)."""
    REFUSED[bl_idname] = reason


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
    label: str | tuple[str, ...] = "",
    modes: dict[str, tuple[Any, ...]] | None = None,
    notes: str = "",
    grad: str = "-",
) -> Callable[[Callable], Callable]:
    """Register the decorated runtime function for ``bl_idname`` (one or several; ``label`` then
    names each). With ``outputs_arg`` the generated code passes ``outputs_used``: the output
    identifiers linked downstream, so the function can skip work for the others (e.g. anonymous
    attributes). Without ``check``, ``modes`` is checked: a property outside its values is refused."""
    names = (bl_idname,) if isinstance(bl_idname, str) else bl_idname
    labels = (label,) * len(names) if isinstance(label, str) else label
    modes = dict(modes or {})
    if check is None and modes:
        check = modes_check(labels[0] or names[0], modes)

    def deco(fn: Callable) -> Callable:
        for name, lab in zip(names, labels):
            REGISTRY[name] = NodeSpec(
                bl_idname=name, func=fn, outputs=outputs, props=props, check=check, pure=pure,
                implicit=frozenset(implicit), renames=dict(renames or {}), outputs_arg=outputs_arg,
                multi_inputs=frozenset(multi_inputs), label=lab, modes=modes, notes=notes, grad=grad,
            )
        return fn

    return deco


def modes_check(label: str, modes: dict[str, tuple[Any, ...]]) -> Callable[[Any], str | None]:
    """A ``check`` refusing a node whose properties fall outside ``modes`` (one line naming the value)."""

    def check(n) -> str | None:
        for prop, allowed in modes.items():
            value = n.properties.get(prop)
            if value not in allowed:
                return f"{label} {prop.replace('_', ' ')} {value!r} is not supported"
        return None

    return check


def special(bl_idname: str, kind: str, check: Callable[[Any], str | None] | None = None, *, label: str = "",
            notes: str = "", modes: dict[str, tuple[Any, ...]] | None = None, grad: str = "-") -> None:
    REGISTRY[bl_idname] = NodeSpec(bl_idname=bl_idname, func=None, kind=kind, pure=False, check=check, label=label,
                                   notes=notes, modes=dict(modes or {}), grad=grad)


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
