"""Zones at run time: the Repeat zone and the For Each Geometry Element zone.

The code generator turns a zone's body (the nodes between its input and output node) into a local
function and calls :func:`repeat_zone` or :func:`foreach_element_zone` with it; nested zones are
nested functions.

Repeat: ``body(iteration, *state) -> state`` runs ``max(0, Iterations)`` times (Blender 5.0.1's
Repeat zone has no Skip input). The count decides how many nodes run, so it must be one value for the
batch: a count shared by the batch (a discrete parameter, a folded constant, or a value computed from
continuous parameters that happens to agree) is read through :func:`~translator.runtime.static`, which
the traced fast path records as a guard, so a replay with another count falls back to the slow path.
A count that differs across the batch: when every state item is a single value (no field; a geometry
item only when it stays empty or unchanged), each element runs its own number of iterations (the batch runs the largest count and keeps
each element's state once its count is reached, ``torch.where``, gradients included); otherwise it
raises :class:`~translator.runtime.TopologyVaries` (``program`` refuses in one line,
``program_grouped`` splits the batch by count). State items of every socket type pass through as
they are, fields included (a field state item stays a field, composed lazily, and is evaluated
where it is consumed, as in Blender).

For Each Geometry Element: see :func:`foreach_element_zone`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from itertools import count
from typing import Any

import torch

from ..geometry import Attribute, GeometrySet
from .conversions import default_value
from .elements import element_geometries, element_keys
from .stacking import geometry_rows, stack_geometries, stack_rows, unstack_geometry
from .switches import TopologyVaries, _where, static
from .values import Field, FieldContext, current

__all__ = ["foreach_element_zone", "repeat_zone"]

#: Whether For Each zones may take the stacked fast path (tests turn it off to compare with the reference).
STACKING = True
_MASKABLE = frozenset({"VALUE", "INT", "BOOLEAN", "VECTOR", "RGBA", "ROTATION", "MATRIX"})
_ANONYMOUS = count()


def repeat_zone(iterations: Any, body: Callable[..., tuple], state: Sequence[Any], types: Sequence[str],
                name: str = "") -> tuple:
    """Blender's Repeat zone: ``state`` (one value per item, of socket ``types``) through ``body`` run
    ``max(0, iterations)`` times, ``body(i, *state)`` for ``i = 0, 1, ...``; returns the final state.
    ``iterations``: int, or int tensor ``()`` / ``(B,)`` (see the module for a count that varies)."""
    what = f"the iteration count of Repeat zone {name!r}" if name else "a Repeat zone's iteration count"
    if isinstance(iterations, Field):
        raise TypeError(f"Repeat zone {name!r}: Iterations must be a single value, not a field")
    state = tuple(state)
    try:
        n = static(iterations, what)
    except TopologyVaries:
        if not all(t in _MASKABLE or t == "GEOMETRY" for t in types) or any(isinstance(v, Field) for v in state):
            raise
        return _repeat_per_element(iterations, body, state, types, what)
    for i in range(max(0, int(n))):
        state = tuple(body(i, *state))
    return state


def _repeat_per_element(iterations: torch.Tensor, body: Callable[..., tuple], state: tuple, types: Sequence[str],
                        what: str) -> tuple:
    counts = iterations.detach().reshape(-1).long()
    for i in range(max(0, int(counts.max()))):
        new = tuple(body(i, *state))
        if any(isinstance(v, Field) for v in new):
            raise TopologyVaries(counts.reshape(-1, 1), what)
        active = counts > i
        state = tuple(_keep(active, a, b, t, counts, what) for a, b, t in zip(new, state, types))
    return state


def _keep(active: torch.Tensor, new: Any, old: Any, type: str, counts: torch.Tensor, what: str) -> Any:
    """Per element: the new state where its count is not reached yet, else the old one. A geometry item may
    only be an unchanged or an empty geometry (its topology cannot differ per element)."""
    if type != "GEOMETRY":
        return _where(active, new, old, type, what)
    if new is old or (_empty(new) and _empty(old)):
        return new
    raise TopologyVaries(counts.reshape(-1, 1), what)


def _empty(g: Any) -> bool:
    return g is None or (isinstance(g, GeometrySet) and g.is_empty())


# ---------------------------------------------------------------------------
# For Each Geometry Element

# attribute type of a main / generation item's socket type
_ATTRIBUTE_TYPE = {"VALUE": "FLOAT", "INT": "INT", "BOOLEAN": "BOOLEAN", "VECTOR": "FLOAT_VECTOR",
                   "RGBA": "FLOAT_COLOR", "ROTATION": "QUATERNION", "MATRIX": "FLOAT4X4"}
# the domains a component type iterates over, in Blender's component order (mesh, point cloud, instances, curves)
_COMPONENT_DOMAINS = (("mesh", ("POINT", "EDGE", "FACE", "CORNER")), ("points", ("POINT",)),
                      ("instances", ("INSTANCE",)), ("curves", ("POINT", "CURVE")))
# where attributes of the iterated element land on a generated component (Blender's propagation target)
_PROPAGATION = {"mesh": "POINT", "points": "POINT", "curves": "CURVE", "instances": "INSTANCE"}


def _context(kind: str, comp: Any, domain: str) -> FieldContext:
    from ..nodes.fields import curves_context, instance_context, mesh_context

    if kind in ("mesh", "points"):
        return mesh_context(comp, domain)
    if kind == "instances":
        return instance_context(comp)
    return curves_context(comp, domain)


def _element_value(t: torch.Tensor, i: int) -> torch.Tensor:
    """Element ``i`` of ``(b, N, ...)`` field values as a single value ``(b, ...)``."""
    return t[:, i]


def _single(v: Any, type: str, where: str) -> torch.Tensor:
    from ..nodes.attributes import from_socket
    from .fields import lift

    if isinstance(v, Field):
        raise TypeError(f"{where} must be a single value per element, not a field")
    t = lift(v, type)  # (b, 1, ...)
    return from_socket(t, type, _ATTRIBUTE_TYPE[type])[:, 0]


def _propagate(geo: GeometrySet, src: list[tuple[str, Attribute]], rows: Callable[[torch.Tensor], torch.Tensor]
               ) -> GeometrySet:
    """Blender's attribute propagation onto one generated geometry: every attribute of the iterated
    component (adapted to the iteration domain: ``src``) that the generated component does not have
    yet, filled with the element's value on the component's propagation domain. ``rows(data)`` gives
    the element's values ``(b, ...)`` of the attribute's data ``(b, N_domain, ...)`` (``(N * b, ...)``
    on the stacked path)."""
    from ..nodes.attributes import _BUILTIN

    out = {}
    for kind in ("mesh", "points", "curves", "instances"):
        comp = getattr(geo, kind)
        if comp is None:
            continue
        dom = _PROPAGATION[kind]
        n = comp.count if kind == "instances" else comp.domain_size(dom)
        attrs = dict(comp.attributes)
        for name, a in src:
            if name in attrs or name in _BUILTIN:  # built-in attributes (position, sharp_face, ...) are not copied
                continue
            v = rows(a.data).unsqueeze(1)
            attrs[name] = Attribute(dom, v.expand(v.shape[0], n, *v.shape[2:]), a.type)
        out[kind] = replace(comp, attributes=attrs)
    return replace(geo, **out)


def _groups(generation: Sequence[tuple[str, str]]) -> list[tuple[int, dict[int, str]]]:
    """The generation items' groups: ``(index of the geometry item, {index of an attribute item: the
    anonymous name it is captured as})``."""
    starts = [k for k, (t, _) in enumerate(generation) if t == "GEOMETRY"]
    return [(s, {k: f".foreach_{next(_ANONYMOUS)}" for k in range(s + 1, e)})
            for s, e in zip(starts, [*starts[1:], len(generation)])]


def _generated(gen: Sequence[Any], generation: Sequence[tuple[str, str]], groups: list, src: list,
               rows: Callable[[torch.Tensor], torch.Tensor]) -> list[GeometrySet]:
    """One iteration's generated geometry per group: the element's attributes propagated, each attribute
    item captured on it."""
    from ..nodes.attributes import store_named_attribute

    out = []
    for s, names in groups:
        g = gen[s] if gen[s] is not None else GeometrySet()
        g = _propagate(g, src, rows)
        for k, nm in names.items():
            t, dom = generation[k]
            g = store_named_attribute(g, name=nm, value=gen[k], data_type=_ATTRIBUTE_TYPE[t], domain=dom)
        out.append(g)
    return out


def _per_element(body: Callable[..., tuple], kind: str, comp: Any, domain: str, selected: list[int], values: list,
                 element: bool, main_types: Sequence[str], generation: Sequence[tuple[str, str]], groups: list,
                 src: list, where: str) -> tuple[list[list[torch.Tensor]], list[list[GeometrySet]]]:
    """The reference path: the body once per selected element. Returns per main item its values per element
    ``(b, ...)``, and per element its generated geometries (one per group)."""
    per_main: list[list[torch.Tensor]] = [[] for _ in main_types]
    generated = []
    elems = element_geometries(kind, comp, domain, selected) if element else [None] * len(selected)
    for i, elem in zip(selected, elems):
        outs = tuple(body(i, elem, *(_element_value(v, i) for v in values)))
        for k, t in enumerate(main_types):
            per_main[k].append(_single(outs[k], t, f"{where}: a main output"))
        generated.append(_generated(outs[len(main_types):], generation, groups, src, lambda d, i=i: d[:, i]))
    return per_main, generated


def _batch_of(kind: str, comp: Any) -> int:
    if kind == "instances":
        return int(comp.transforms.shape[0])
    return int(comp.batch_size)


def _stacked(body: Callable[..., tuple], kind: str, comp: Any, domain: str, selected: list[int], values: list,
             element: bool, main_types: Sequence[str], generation: Sequence[tuple[str, str]], groups: list,
             src: list, where: str) -> tuple[list[list[torch.Tensor]], list[list[GeometrySet]]] | None:
    """The fast path: the body once per group of elements whose Element outputs share a topology (once in
    all when the Element output is not used), the group's elements stacked into the batch (``N * b``, see
    :mod:`~translator.runtime.stacking`), its results taken apart per element; the same results as
    :func:`_per_element`. None when the body's topology depends on the element (it raised
    :class:`~translator.runtime.TopologyVaries`), when it failed on the stacked batch, or when a group's
    elements cannot be stacked: the caller then runs the reference path."""
    n = len(selected)
    elems = element_geometries(kind, comp, domain, selected) if element else None
    parts: dict[Any, list[int]] = {}
    keys = element_keys(kind, comp, domain, selected) if element else [()] * n
    for p in range(n):
        parts.setdefault(keys[p], []).append(p)
    if len(parts) == 1:  # every element in one run: its generated geometries joined at once, when they can be
        return _stacked_group(body, kind, comp, selected, values, elems, main_types, generation, groups, src, where,
                              joined=True)
    per_main: list[list[Any]] = [[None] * n for _ in main_types]
    generated: list[Any] = [None] * n
    for pos in parts.values():
        res = _stacked_group(body, kind, comp, [selected[p] for p in pos], values,
                             [elems[p] for p in pos] if elems is not None else None, main_types, generation, groups,
                             src, where)
        if res is None:
            return None
        for j, p in enumerate(pos):
            for k in range(len(main_types)):
                per_main[k][p] = res[0][k][j]
            generated[p] = res[1][j]
    return per_main, generated


def _stacked_group(body: Callable[..., tuple], kind: str, comp: Any, selected: list[int], values: list,
                   elems: list[GeometrySet] | None, main_types: Sequence[str], generation: Sequence[tuple[str, str]],
                   groups: list, src: list, where: str, joined: bool = False
                   ) -> tuple[list[list[torch.Tensor]], list[list[GeometrySet]]] | None:
    """One stacked run over ``selected`` (Element outputs ``elems`` of one topology, or None). Returns per main
    item its values per element and per element its generated geometries; with ``joined``, the generated
    geometries of all the elements already joined (one entry instead of one per element) where
    :func:`~translator.runtime.stacking.unstack_geometry` can lay them out."""
    from .values import eval_context

    n = len(selected)
    b = max([int(v.shape[0]) for v in values] + [_batch_of(kind, comp)])
    index = torch.tensor(selected, dtype=torch.long, device=current().device)
    elem = None
    if elems is not None:
        elem = stack_geometries(elems, b, check=False)
        if elem is None:
            return None
    ids = index.repeat_interleave(b) if b > 1 else index
    try:
        with eval_context(current().dtype, current().device, batch=0):  # nested For Each zones: per element
            outs = tuple(body(ids, elem, *(stack_rows(v.expand(b, *v.shape[1:]), index) for v in values)))
            per_main: list[list[torch.Tensor]] = []
            for k, t in enumerate(main_types):
                m = _single(outs[k], t, f"{where}: a main output")
                m = m.expand(n * b, *m.shape[1:]).reshape(n, b, *m.shape[1:])
                per_main.append(list(m.unbind(0)))
            stacked = _generated(outs[len(main_types):], generation, groups, src,
                                 lambda d: stack_rows(d.expand(b, *d.shape[1:]), index))
    except (TopologyVaries, RuntimeError, ValueError, TypeError, IndexError):
        # the body's topology follows the element, or a node cannot take a batch of elements where it took one
        # element: the reference path decides (and raises what it raises)
        return None
    if joined:
        chunk = [unstack_geometry(g, n, b) for g in stacked]
        if all(g is not None for g in chunk):
            return per_main, [chunk]
    generated = [[geometry_rows(g, e * b, (e + 1) * b, n * b) for g in stacked] for e in range(n)]
    return per_main, generated


def foreach_element_zone(geometry: Any, selection: Any, inputs: Sequence[Any], body: Callable[..., tuple], *,
                         domain: str, input_types: Sequence[str], main_types: Sequence[str],
                         generation: Sequence[tuple[str, str]], element: bool = False, name: str = "",
                         stack: bool | None = None) -> tuple:
    """Blender's For Each Geometry Element zone.

    Every component of ``geometry`` with elements on ``domain`` (mesh, point cloud, instances, curves,
    in that order) is iterated, element by element in index order, over the elements ``selection``
    picks (a field evaluated on the component; the mask must be shared by the batch). ``inputs`` are
    fields (of socket ``input_types``) evaluated on the component; the body is called as
    ``body(index, element_geometry, *input values)`` with each input's value at the element (single
    values ``(b,)`` / ``(b, K)``) and returns the main items then the generation items.

    Returns ``(geometry, *main outputs, *generation outputs)``:

    * ``geometry``: the input with each main item stored as an anonymous attribute on ``domain``
      (the element's value; zero where not selected); each main output is a field reading it;
    * generation items (``generation``: ``(socket type, domain)`` per item) come in groups, a
      geometry followed by attribute fields: the geometries of every iteration, each given the
      iterated element's attributes (on POINT of meshes and point clouds, CURVE of curves, INSTANCE
      of instances, where the generated geometry has no attribute of that name) and each following
      field captured on it on the item's domain, joined in iteration order (Join Geometry); the
      fields' outputs read the captured values. Items before the first geometry give defaults.

    Speed: when the evaluation's batch is 1 (:attr:`~translator.runtime.EvalContext.batch`: then what the
    body reads from outside the zone has batch 1 too) the body runs once with the elements stacked into the
    batch (``index`` an int tensor ``(N,)``, values ``(N, ...)``, the Element outputs stacked; once per
    group of elements of one topology), and falls back to the per-element loop (the reference) when the
    body's topology differs per element. ``stack`` forces the choice (True: stack whenever possible; False: the loop).
    """
    from ..nodes.attributes import default_data, named_attribute
    from ..nodes.fields import evaluate, selection_mask
    from ..nodes.transform import join_geometry
    from .fields import adapt_domain

    def attribute_field(name: str, type: str) -> Field:
        return named_attribute(name, _ATTRIBUTE_TYPE[type])[0]

    geometry = geometry if geometry is not None else GeometrySet()
    where = f"For Each Geometry Element zone {name!r}"
    main_names = [f".foreach_{next(_ANONYMOUS)}" for _ in main_types]
    first = next((k for k, (t, _) in enumerate(generation) if t == "GEOMETRY"), len(generation))
    groups = _groups(generation)
    generated: list[list[GeometrySet]] = []  # per iteration (or run of iterations, joined): its geometry per group
    mains: dict[str, Any] = {}
    stack = STACKING and current().batch == 1 if stack is None else stack
    for kind, domains in _COMPONENT_DOMAINS:
        comp = getattr(geometry, kind)
        if comp is None or domain not in domains:
            continue
        size = comp.count if kind == "instances" else comp.domain_size(domain)
        if size == 0:
            continue
        fctx = _context(kind, comp, domain)
        mask = selection_mask(selection, fctx, f"the selection of {where}")
        values = [evaluate(v, fctx, t) for v, t in zip(inputs, input_types)]
        src: list[tuple[str, Attribute]] = []
        if groups:
            for aname, a in comp.attributes.items():
                if kind == "mesh" and a.domain != domain:
                    a = Attribute(domain, adapt_domain(comp, a.data, a.domain, domain), a.type)
                elif a.domain != domain:
                    continue
                src.append((aname, a))
        selected = mask.nonzero().reshape(-1).tolist()
        args = (body, kind, comp, domain, selected, values, element, main_types, generation, groups, src, where)
        result = _stacked(*args) if stack and len(selected) > 1 else None
        per_main, gen = result if result is not None else _per_element(*args)
        generated += gen
        new_comp = comp
        for k, t in enumerate(main_types):
            attr_type = _ATTRIBUTE_TYPE[t]
            data = default_data(attr_type, size)
            if per_main[k]:
                vals = per_main[k]
                b = max(v.shape[0] for v in vals)
                stacked = torch.stack([v.expand(b, *v.shape[1:]) for v in vals], 1)
                data = data.to(stacked.dtype).expand(b, *data.shape[1:]).clone()
                data[:, torch.tensor(selected, dtype=torch.long, device=data.device)] = stacked
            new_comp = replace(new_comp, attributes={**new_comp.attributes,
                                                     main_names[k]: Attribute(domain, data, attr_type)})
        mains[kind] = new_comp
    out_geo = replace(geometry, **mains) if mains else geometry
    outputs: list[Any] = [out_geo] + [attribute_field(nm, t) for nm, t in zip(main_names, main_types)]
    gen_out: list[Any] = [None] * len(generation)
    for k in range(first):  # items before the first geometry
        gen_out[k] = default_value(generation[k][0])
    for j, (s, names) in enumerate(groups):
        geos = [it[j] for it in generated]
        gen_out[s] = join_geometry(geos) if geos else GeometrySet()
        for k, nm in names.items():
            gen_out[k] = attribute_field(nm, generation[k][0])
    return (*outputs, *gen_out)
