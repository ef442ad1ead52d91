"""Shape programs on the Blender side: export an object's geometry-nodes program, read and write its
modifier inputs, append a library program's object from its .blend (main thread only).

The exporter and the modifier write are the translator's (``translator/blender_export.py``,
``translator/blender_apply.py``): ``shapeprog addon build`` vendors them into the extension as
``vendor/translator``; from a source checkout the repository's ``translator`` package is used.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

import bpy

__all__ = [
    "ProgramError", "append_program_object", "export_program", "find_modifier", "modifier_values",
    "parameter_table", "remove_ids", "set_pose", "set_values", "translator",
]


def _translator_package() -> str:
    vendored = f"{__package__}.vendor.translator"
    try:
        if importlib.util.find_spec(vendored) is not None:
            return vendored
    except ModuleNotFoundError:
        pass
    return "translator"  # a source checkout: the repository's own package (torch-free modules only)


_PKG = _translator_package()
ir = importlib.import_module(f"{_PKG}.ir")
blender_export = importlib.import_module(f"{_PKG}.blender_export")
blender_apply = importlib.import_module(f"{_PKG}.blender_apply")
ProgramError = ir.ProgramError


def translator() -> str:
    """Which translator the add-on uses: the vendored copy's package name or ``translator``."""
    return _PKG


def find_modifier(obj: Any) -> Any:
    """The object's first geometry-nodes modifier with a node group, or None."""
    return blender_export.find_geometry_nodes_modifier(obj) if obj is not None else None


def export_program(obj: Any) -> dict:
    """The IR document of ``obj``'s geometry-nodes program (its modifier's values as defaults), ready to
    send as JSON. Raises :class:`ProgramError` with one line naming what is wrong."""
    return ir.program_data(blender_export.export_object(obj))


def _inputs(obj: Any) -> list:
    prog = blender_export.export_object(obj)
    return [s for s in prog.entry_group.inputs if s.type != "GEOMETRY"]


def modifier_values(obj: Any) -> dict[str, Any]:
    """The object's current modifier inputs by name (menus as item names), as the exporter reads them."""
    return {s.name: s.default for s in _inputs(obj)}


def parameter_table(obj: Any) -> list[dict]:
    """The program's parameters from the modifier's group interface, in the shape of the service's
    ``Program.parameters`` rows (name, type, default, choices)."""
    out = []
    for s in _inputs(obj):
        kind = "continuous" if s.type in ("VALUE", "VECTOR") else "discrete"
        out.append({"name": s.name, "kind": kind, "type": s.type, "default": s.default, "choices": s.items})
    return out


def set_values(obj: Any, values: dict[str, Any]) -> None:
    """Write parameter values (names -> values) onto the object's modifier (the translator's write)."""
    blender_apply.set_modifier_values(obj, values)


def set_pose(obj: Any, matrix: Any) -> None:
    blender_apply.set_world_matrix(obj, matrix)


def _all_ids() -> set[int]:
    uids = set()
    for attr in dir(bpy.data):
        coll = getattr(bpy.data, attr, None)
        if isinstance(coll, bpy.types.bpy_prop_collection) and attr not in ("window_managers", "workspaces", "screens"):
            for idb in coll:
                if isinstance(idb, bpy.types.ID):
                    uids.add(idb.session_uid)
    return uids


def ids_by_uid(uids: set[int]) -> list:
    found = []
    for attr in dir(bpy.data):
        coll = getattr(bpy.data, attr, None)
        if isinstance(coll, bpy.types.bpy_prop_collection):
            for idb in coll:
                if isinstance(idb, bpy.types.ID) and idb.session_uid in uids:
                    found.append(idb)
    return found


def remove_ids(uids: set[int]) -> None:
    """Remove the data-blocks with these session ids (what an append brought in)."""
    ids = ids_by_uid(uids)
    if ids:
        bpy.data.batch_remove(ids)


def append_program_object(blend_path: str, preferred: str = "") -> tuple[Any, set[int]]:
    """Append the object carrying the program from ``blend_path`` (the object named ``preferred`` when there
    is one, else the first with a geometry-nodes modifier). Returns (object, session ids of every
    data-block the append added); the object is not linked to any collection yet."""
    before = _all_ids()
    with bpy.data.libraries.load(blend_path, link=False) as (src, dst):
        names = list(src.objects)
        dst.objects = [preferred] if preferred in names else names
    added = _all_ids() - before
    objs = [o for o in dst.objects if o is not None]
    chosen = next((o for o in objs if find_modifier(o) is not None), None)
    if chosen is None:
        remove_ids(added)
        raise ProgramError(f"{blend_path}: no object with a geometry-nodes modifier")
    others = [o for o in objs if o is not chosen]
    if others:  # appended only to find the program: drop them and whatever only they brought in
        bpy.data.batch_remove(others)
        while True:
            unused = [i for i in ids_by_uid(added) if i.users == 0 and i != chosen]
            if not unused:
                break
            bpy.data.batch_remove(unused)
        added &= _all_ids()
    return chosen, added
