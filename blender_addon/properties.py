"""The add-on's data on Blender's side: the panel's settings on the scene (``scene.shapeprog``) and what a
reconstruction stores on its result object (``object.shapeprog``: job id, result JSON, locks)."""

import json
from typing import Any

import bpy
from bpy.props import BoolProperty, CollectionProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty, StringProperty

from . import state

__all__ = ["METHODS", "ShapeProgLock", "ShapeProgObject", "ShapeProgScene", "fill_locks", "lock_value"]

METHODS = [
    ("mcts", "MCTS", "Monte Carlo tree search over the discrete choices, Adam on the rest (the paper's method)"),
    ("ga", "Genetic", "Genetic algorithm over the discrete choices"),
    ("cd", "Coordinate Descent", "Coordinate descent (the reference implementation's baseline)"),
    ("exhaustive", "Exhaustive", "Every discrete configuration (small programs only)"),
]


class ShapeProgLock(bpy.types.PropertyGroup):
    """One parameter of the program: whether a fit holds it, and at which value (library programs)."""

    # ``name`` (the parameter's name) comes with PropertyGroup.
    locked: BoolProperty(name="Lock", default=False,
                         description="Hold this parameter at its value during the fit")
    value: StringProperty(name="Value", default="",
                          description="The value to hold (a number, true/false, a menu item, or 'x, y, z')")
    kind: StringProperty(name="Type", default="VALUE", options={"HIDDEN"})
    choices: StringProperty(name="Choices", default="", options={"HIDDEN"},
                            description="Menu items, separated by newlines")


_BOOLEANS = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False, "off": False}


def lock_value(lock: ShapeProgLock) -> Any:
    """The lock's text as a value of its parameter's type. Raises ValueError naming the parameter."""
    text, kind = lock.value.strip(), lock.kind
    try:
        if kind == "VALUE":
            return float(text)
        if kind == "INT" and float(text).is_integer():
            return int(float(text))
        if kind == "BOOLEAN":
            return _BOOLEANS[text.lower()]
        if kind == "VECTOR":
            vals = [float(x) for x in text.strip("()[]").replace(",", " ").split()]
            if len(vals) == 3:
                return vals
        elif kind == "MENU":
            items = [c for c in lock.choices.split("\n") if c]
            if text in items or (text and not items):
                return text
        elif kind != "INT":
            return text
    except (ValueError, KeyError):
        pass
    raise ValueError(f"lock '{lock.name}': {text!r} is not a value of type {kind.lower()}")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_text(v) for v in value)
    return "" if value is None else str(value)


def fill_locks(collection: Any, parameters: list[dict]) -> None:
    """Make ``collection`` list ``parameters`` (rows of a program's parameter table), keeping the ticks and
    values of parameters it already lists."""
    old = {lk.name: (lk.locked, lk.value) for lk in collection}
    collection.clear()
    for p in parameters:
        lk = collection.add()
        lk.name = str(p["name"])
        lk.kind = str(p.get("type") or ("VALUE" if p.get("kind") == "continuous" else "INT"))
        lk.choices = "\n".join(str(c) for c in (p.get("choices") or []))
        lk.locked, lk.value = old.get(lk.name, (False, _text(p.get("default"))))


def _has_program(_self: Any, obj: Any) -> bool:
    return any(m.type == "NODES" and m.node_group is not None for m in obj.modifiers)


def _program_items_search(_self: Any, _context: Any, text: str) -> list[str]:
    names = [p.get("id", "") for p in state.PROGRAMS.programs if p.get("source") == "library"]
    return [n for n in names if text.lower() in n.lower()]


def _device_search(_self: Any, _context: Any, text: str) -> list[str]:
    devices = list(state.HEALTH.devices or ["cpu"])
    return [d for d in devices if text.lower() in d.lower()]


def _program_changed(self: Any, context: Any) -> None:
    from .operators import refresh_scene_locks  # the lock list follows the chosen program

    refresh_scene_locks(context.scene)


class ShapeProgScene(bpy.types.PropertyGroup):
    """The ShapeProg panel's settings (one set per scene)."""

    program_source: EnumProperty(
        name="Program", default="LIBRARY", update=_program_changed,
        items=[("LIBRARY", "Library", "A program of the backend's library, appended from its .blend on apply"),
               ("OBJECT", "Object", "The geometry-nodes modifier of an object in this file, exported and uploaded")])
    library_program: StringProperty(
        name="Library Program", default="", search=_program_items_search, update=_program_changed,
        description="Name of a library program (the list comes from the backend)")
    program_object: PointerProperty(
        name="Program Object", type=bpy.types.Object, poll=_has_program, update=_program_changed,
        description="Object whose geometry-nodes modifier is the program (empty: the active object)")
    scan_source: EnumProperty(
        name="Scan", default="SELECTED",
        items=[("SELECTED", "Selected Objects", ("One job per selected mesh or point-cloud object (its evaluated "
                                                 "vertices in world space)")),
               ("FILE", "File", "A .ply file or a ScanNet frame folder")])
    scan_path: StringProperty(name="Scan File", subtype="FILE_PATH", default="",
                              description="A .ply point cloud or mesh, or a ScanNet frame folder")
    instance_id: IntProperty(name="Instance", default=1, min=0,
                             description="Instance id of the object in a frame folder's instance masks")
    method: EnumProperty(name="Method", items=METHODS, default="mcts")
    budget: FloatProperty(name="Budget", default=60.0, min=1.0, soft_max=600.0, subtype="TIME_ABSOLUTE",
                          unit="TIME_ABSOLUTE", description="Time budget of one fit in seconds")
    device: StringProperty(name="Device", default="", search=_device_search,
                           description="Torch device of the fit (cpu, cuda, ...; the backend lists its own); "
                                       "empty: the backend's default")
    seed: IntProperty(name="Seed", default=0, min=0, description="Random seed of the search")
    max_evaluations: IntProperty(name="Max Evaluations", default=0, min=0,
                                 description="Also stop after this many objective evaluations, the pilot always completed (0: no limit)")
    locks: CollectionProperty(type=ShapeProgLock)
    show_locks: BoolProperty(name="Locks", default=False)


class ShapeProgObject(bpy.types.PropertyGroup):
    """What a reconstruction stores on its result object (read by Refine and Show Report)."""

    is_result: BoolProperty(name="ShapeProg Result", default=False)
    job_id: StringProperty(name="Job", default="", description="The backend's id of the job that made this result")
    program: StringProperty(name="Program", default="", description="Library name or uploaded program id")
    program_kind: EnumProperty(name="Program Kind", default="LIBRARY",
                               items=[("LIBRARY", "Library", ""), ("UPLOAD", "Upload", "")])
    program_label: StringProperty(name="Program Name", default="")
    scan: StringProperty(name="Scan Object", default="", description="The object that was the scan")
    scan_path: StringProperty(name="Scan File", default="", subtype="FILE_PATH")
    instance_id: IntProperty(name="Instance", default=1)
    result_json: StringProperty(name="Result", default="", description="The job's result.json")
    report_path: StringProperty(name="Report", default="", subtype="FILE_PATH")
    method: EnumProperty(name="Method", items=METHODS, default="mcts")
    budget: FloatProperty(name="Budget", default=60.0, min=1.0, subtype="TIME_ABSOLUTE", unit="TIME_ABSOLUTE")
    device: StringProperty(name="Device", default="", search=_device_search)
    seed: IntProperty(name="Seed", default=0, min=0)
    max_evaluations: IntProperty(name="Max Evaluations", default=0, min=0)
    locks: CollectionProperty(type=ShapeProgLock)
    message: StringProperty(name="Status", default="")

    def result(self) -> dict:
        """The stored result.json ({} when there is none or it does not parse)."""
        try:
            data = json.loads(self.result_json) if self.result_json else {}
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}


classes = (ShapeProgLock, ShapeProgScene, ShapeProgObject)


def register() -> None:
    for cls in classes:
        bpy.utils.register_class(cls)
    bpy.types.Scene.shapeprog = PointerProperty(type=ShapeProgScene)
    bpy.types.Object.shapeprog = PointerProperty(type=ShapeProgObject)


def unregister() -> None:
    del bpy.types.Object.shapeprog
    del bpy.types.Scene.shapeprog
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
