"""A small vocabulary for writing geometry-node shape programs with bpy.

The build scripts next to this file describe furniture in plain arithmetic
and boxes; :class:`Kit` turns that into a Blender geometry-node group:

* numbers stay Python numbers (folded here, no node) until they meet a
  program input; from then on they are :class:`Val` objects, and ``+ - * /``,
  :meth:`Kit.min`, :meth:`Kit.max` add Math nodes;
* :meth:`Kit.box` / :meth:`Kit.cylinder` add a Cube / Cylinder primitive and a
  Transform Geometry node that places it (the primitives are centred, so the
  scripts give spans ``x0..x1`` or a foot point and a height);
* :meth:`Kit.switch`, :meth:`Kit.index_switch` and :meth:`Kit.menu_switch`
  choose geometry or numbers from discrete inputs, so parameters used only in
  one branch are visibly inactive in the others (a menu input feeds one INT
  Menu Switch giving the chosen item's index; choices on it are Index Switches);
* :meth:`Kit.spread` repeats a part ``count`` times between two points
  (Mesh Line + Instance on Points + Realize Instances).

Only nodes the translator supports are used (Math, Combine XYZ, Cube,
Cylinder, Mesh Line, Transform Geometry, Join Geometry, Switch, Index Switch,
Menu Switch, Instance on Points, Realize Instances). ``bpy`` is imported
lazily, so this module can be imported without Blender.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Union

__all__ = ["DEG", "PROGRAMS_DIR", "Kit", "Menu", "Val", "build_files", "main", "save_program_files"]

Num = Union[float, int, "Val"]
Vec = Union[Sequence[Num], "Val"]


class Val:
    """A node output socket carrying a number, a vector, a boolean or a geometry."""

    def __init__(self, kit: Kit, socket: Any):
        self.kit = kit
        self.socket = socket

    # arithmetic -> Math nodes (numbers are folded by Kit.math)
    def __add__(self, o: Num) -> Num:
        return self.kit.math("ADD", self, o)

    def __radd__(self, o: Num) -> Num:
        return self.kit.math("ADD", o, self)

    def __sub__(self, o: Num) -> Num:
        return self.kit.math("SUBTRACT", self, o)

    def __rsub__(self, o: Num) -> Num:
        return self.kit.math("SUBTRACT", o, self)

    def __mul__(self, o: Num) -> Num:
        return self.kit.math("MULTIPLY", self, o)

    def __rmul__(self, o: Num) -> Num:
        return self.kit.math("MULTIPLY", o, self)

    def __truediv__(self, o: Num) -> Num:
        return self.kit.math("DIVIDE", self, o)

    def __rtruediv__(self, o: Num) -> Num:
        return self.kit.math("DIVIDE", o, self)

    def __neg__(self) -> Num:
        return self.kit.math("MULTIPLY", self, -1.0)


class Menu(Val):
    """A MENU program input; ``items`` are its choices in order, ``index`` the chosen item's
    position (an INT Menu Switch on the input)."""

    def __init__(self, kit: Kit, socket: Any, items: tuple[str, ...], index: Val):
        super().__init__(kit, socket)
        self.items = items
        self.index = index


_SWITCH_TYPES = {"GEOMETRY": "GEOMETRY", "FLOAT": "FLOAT", "VECTOR": "VECTOR", "INT": "INT", "BOOLEAN": "BOOLEAN"}
_PY_OPS = {
    "ADD": lambda a, b: a + b,
    "SUBTRACT": lambda a, b: a - b,
    "MULTIPLY": lambda a, b: a * b,
    "DIVIDE": lambda a, b: a / b,
    "MINIMUM": min,
    "MAXIMUM": max,
}


class Kit:
    """Builds one geometry-node group named ``name`` (a fresh one in the current Blender file)."""

    def __init__(self, name: str):
        import bpy

        self.name = name
        self.ng = bpy.data.node_groups.new(name, "GeometryNodeTree")
        self.ng.interface.new_socket(name="Geometry", in_out="OUTPUT", socket_type="NodeSocketGeometry")
        self.gin = self.ng.nodes.new("NodeGroupInput")
        self.gout = self.ng.nodes.new("NodeGroupOutput")
        self._menu_defaults: list[tuple[Any, str]] = []

    # -- program inputs --------------------------------------------------------

    def _input(self, name: str, socket_type: str, description: str) -> Any:
        item = self.ng.interface.new_socket(name=name, in_out="INPUT", socket_type=socket_type)
        item.description = description
        sock = next(s for s in self.gin.outputs if s.identifier == item.identifier)
        return item, sock

    def float(self, name: str, default: float, low: float, high: float, description: str = "",
              subtype: str = "DISTANCE") -> Val:
        """A continuous input with its realistic range ``low..high`` (metres unless ``subtype`` says otherwise)."""
        if not low <= default <= high:
            raise ValueError(f"{name}: default {default} outside {low}..{high}")
        item, sock = self._input(name, "NodeSocketFloat", description)
        item.subtype = subtype
        item.min_value, item.max_value, item.default_value = low, high, default
        return Val(self, sock)

    def int(self, name: str, default: int, low: int, high: int, description: str = "") -> Val:
        """A discrete count ``low..high``."""
        item, sock = self._input(name, "NodeSocketInt", description)
        item.min_value, item.max_value, item.default_value = low, high, default
        return Val(self, sock)

    def bool(self, name: str, default: bool, description: str = "") -> Val:
        item, sock = self._input(name, "NodeSocketBool", description)
        item.default_value = default
        return Val(self, sock)

    def menu(self, name: str, items: Sequence[str], default: str, description: str = "") -> Menu:
        """A discrete style choice; every :meth:`menu_switch` on it must list exactly ``items``."""
        if default not in items:
            raise ValueError(f"{name}: default {default!r} is not one of {list(items)}")
        item, sock = self._input(name, "NodeSocketMenu", description)
        self._menu_defaults.append((item, default))
        n = self._node("GeometryNodeMenuSwitch", f"{name} Index", data_type="INT")
        n.enum_items.clear()
        for it in items:
            n.enum_items.new(it)
        self.ng.links.new(sock, n.inputs["Menu"])
        for k, s in enumerate(s for s in n.inputs if s.identifier.startswith("Item_")):
            s.default_value = k
        return Menu(self, sock, tuple(items), Val(self, n.outputs[0]))

    # -- numbers ---------------------------------------------------------------

    def _node(self, idname: str, label: str = "", **props: Any) -> Any:
        n = self.ng.nodes.new(idname)
        for k, v in props.items():
            setattr(n, k, v)
        if label:
            n.name = label
            n.label = label
        return n

    def _feed(self, node: Any, identifier: str, value: Any) -> None:
        sock = next(s for s in node.inputs if s.identifier == identifier)
        if isinstance(value, Val):
            self.ng.links.new(value.socket, sock)
        elif value is not None:
            sock.default_value = value

    def math(self, op: str, a: Num, b: Num) -> Num:
        """``a op b`` (Math node), computed right here when both are numbers."""
        if not isinstance(a, Val) and not isinstance(b, Val):
            return _PY_OPS[op](a, b)
        if op in ("ADD", "SUBTRACT") and not isinstance(b, Val) and b == 0:
            return a
        if op == "ADD" and not isinstance(a, Val) and a == 0:
            return b
        if op in ("MULTIPLY", "DIVIDE") and not isinstance(b, Val) and b == 1:
            return a
        n = self._node("ShaderNodeMath", operation=op)
        self._feed(n, "Value", a)
        self._feed(n, "Value_001", b)
        return Val(self, n.outputs[0])

    def min(self, a: Num, b: Num) -> Num:
        return self.math("MINIMUM", a, b)

    def max(self, a: Num, b: Num) -> Num:
        return self.math("MAXIMUM", a, b)

    def xyz(self, x: Num, y: Num, z: Num) -> Vec:
        """A vector: a tuple when all three are numbers, else a Combine XYZ node."""
        if not any(isinstance(v, Val) for v in (x, y, z)):
            return (float(x), float(y), float(z))
        n = self._node("ShaderNodeCombineXYZ")
        for ident, v in zip("XYZ", (x, y, z)):
            self._feed(n, ident, v)
        return Val(self, n.outputs[0])

    # -- geometry --------------------------------------------------------------

    def box(self, x0: Num, x1: Num, y0: Num, y1: Num, z0: Num, z1: Num, label: str = "") -> Val:
        """An axis-aligned box spanning ``x0..x1, y0..y1, z0..z1`` (Cube + Transform Geometry)."""
        size = self.xyz(x1 - x0, y1 - y0, z1 - z0)
        centre = self.xyz((x0 + x1) * 0.5, (y0 + y1) * 0.5, (z0 + z1) * 0.5)
        cube = self._node("GeometryNodeMeshCube", f"{label} Cube" if label else "")
        self._feed(cube, "Size", size)
        return self.transform(Val(self, cube.outputs["Mesh"]), translate=centre, label=label)

    def cylinder(self, radius: Num, z0: Num, z1: Num, x: Num = 0.0, y: Num = 0.0, vertices: int = 12,
                 label: str = "") -> Val:
        """A vertical cylinder of ``radius`` on ``(x, y)`` spanning ``z0..z1`` (n-gon caps)."""
        cyl = self._node("GeometryNodeMeshCylinder", f"{label} Cylinder" if label else "", fill_type="NGON")
        self._feed(cyl, "Vertices", vertices)
        self._feed(cyl, "Radius", radius)
        self._feed(cyl, "Depth", z1 - z0)
        return self.transform(Val(self, cyl.outputs["Mesh"]), translate=self.xyz(x, y, (z0 + z1) * 0.5), label=label)

    def transform(self, geo: Val, translate: Vec | None = None, rotate: Vec | None = None,
                  scale: Vec | None = None, label: str = "") -> Val:
        """Transform Geometry (scale, then rotate (XYZ Euler, radians), then translate)."""
        n = self._node("GeometryNodeTransform", label)
        self._feed(n, "Geometry", geo)
        self._feed(n, "Translation", translate)
        self._feed(n, "Rotation", rotate)
        self._feed(n, "Scale", scale)
        return Val(self, n.outputs[0])

    def join(self, *geos: Val | None, label: str = "") -> Val:
        """Join Geometry in the given order (``None`` entries are skipped)."""
        parts = [g for g in geos if g is not None]
        if len(parts) == 1:
            return parts[0]
        n = self._node("GeometryNodeJoinGeometry", label)
        sock = n.inputs[0]
        for g in parts:
            self.ng.links.new(g.socket, sock)
        return Val(self, n.outputs[0])

    def spread(self, part: Val, start: Vec, step: Vec, count: Val | int, label: str = "") -> Val:
        """``count`` copies of ``part`` moved to ``start + i * step`` (Mesh Line + Instance on Points + Realize)."""
        line = self._node("GeometryNodeMeshLine", f"{label} Points" if label else "", mode="OFFSET")
        self._feed(line, "Count", count)
        self._feed(line, "Start Location", start)
        self._feed(line, "Offset", step)
        inst = self._node("GeometryNodeInstanceOnPoints", f"{label} Instances" if label else "")
        self._feed(inst, "Points", Val(self, line.outputs[0]))
        self._feed(inst, "Instance", part)
        real = self._node("GeometryNodeRealizeInstances", label)
        self._feed(real, "Geometry", Val(self, inst.outputs[0]))
        return Val(self, real.outputs[0])

    # -- choices ---------------------------------------------------------------

    def switch(self, condition: Val, if_true: Any, if_false: Any = None, type: str = "GEOMETRY",
               label: str = "") -> Any:
        """Switch on a boolean input: ``if_true`` or ``if_false`` (``None`` geometry = nothing)."""
        n = self._node("GeometryNodeSwitch", label, input_type=_SWITCH_TYPES[type])
        self._feed(n, "Switch", condition)
        self._feed(n, "True", if_true)
        self._feed(n, "False", if_false)
        return Val(self, n.outputs[0])

    def index_switch(self, index: Val, values: Sequence[Any], type: str = "GEOMETRY", label: str = "") -> Val:
        """Index Switch: ``values[index]`` (``None`` geometry = nothing)."""
        n = self._node("GeometryNodeIndexSwitch", label, data_type=_SWITCH_TYPES[type])
        items = n.index_switch_items
        while len(items) < len(values):
            items.new()
        self._feed(n, "Index", index)
        for k, v in enumerate(values):
            self._feed(n, f"Item_{k}", v)
        return Val(self, n.outputs[0])

    def menu_switch(self, menu: Menu, values: dict[str, Any], type: str = "GEOMETRY", label: str = "") -> Val:
        """The value for the chosen item of ``menu`` (items missing from ``values`` give nothing / zero).

        Blender lets a menu input feed only one Menu Switch (it takes its items from
        there), so :meth:`menu` maps the choice to its index once and every choice
        made here is an Index Switch on that index."""
        unknown = set(values) - set(menu.items)
        if unknown:
            raise ValueError(f"menu_switch: {sorted(unknown)} are not items of the menu ({menu.items})")
        return self.index_switch(menu.index, [values.get(item) for item in menu.items], type=type, label=label)

    # -- finishing -------------------------------------------------------------

    def output(self, geo: Val) -> Any:
        """Connect the program's result, set menu defaults, lay the nodes out; returns the node group."""
        self.ng.links.new(geo.socket, self.gout.inputs[0])
        for item, default in self._menu_defaults:
            item.default_value = default
        self._layout()
        return self.ng

    def _layout(self) -> None:
        """Columns by longest path from the inputs, so the graph reads left to right in Blender."""
        depth: dict[str, int] = {}
        incoming: dict[str, list[str]] = {n.name: [] for n in self.ng.nodes}
        for lk in self.ng.links:
            incoming[lk.to_node.name].append(lk.from_node.name)

        def d(name: str) -> int:
            if name not in depth:
                depth[name] = 1 + max((d(m) for m in incoming[name]), default=-1)
            return depth[name]

        rows: dict[int, int] = {}
        for n in self.ng.nodes:
            col = d(n.name)
            row = rows.get(col, 0)
            rows[col] = row + 1
            n.location = (col * 240.0, -row * 200.0)


def save_program_files(kit_group: Any, name: str, out_dir: Path) -> tuple[Path, Path]:
    """Put ``kit_group`` on an object called ``name`` (origin at the world origin), save
    ``out_dir/NAME.blend`` and its translated IR ``out_dir/NAME.json``."""
    import bpy

    out_dir = Path(out_dir)

    from translator.blender_export import export_object
    from translator.ir import save_program

    mesh = bpy.data.meshes.new(name)
    obj = bpy.data.objects.new(name, mesh)
    bpy.context.scene.collection.objects.link(obj)
    mod = obj.modifiers.new("GeometryNodes", "NODES")
    mod.node_group = kit_group
    blend = out_dir / f"{name}.blend"
    js = out_dir / f"{name}.json"
    bpy.context.preferences.filepaths.save_version = 0  # no NAME.blend1 backups next to the programs
    bpy.ops.wm.save_as_mainfile(filepath=str(blend.resolve()), compress=True)
    prog = export_object(obj)
    prog.source = blend.name
    save_program(prog, js)
    return blend, js


def build_files(build: Any, name: str, out_dir: Path | None = None) -> tuple[Path, Path]:
    """Start from an empty Blender file, run ``build()`` (returns the node group) and save
    ``NAME.blend`` and ``NAME.json`` in ``out_dir`` (default: the programs folder)."""
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    group = build()
    return save_program_files(group, name, Path(out_dir) if out_dir else PROGRAMS_DIR)


def main(build: Any, name: str) -> None:
    """Entry point of a build script run directly: ``python build/chair.py [OUT_DIR]``."""
    import sys

    blend, js = build_files(build, name, Path(sys.argv[1]) if len(sys.argv) > 1 else None)
    print(f"wrote {blend} and {js}")


PROGRAMS_DIR = Path(__file__).resolve().parents[1]
DEG = math.pi / 180.0
