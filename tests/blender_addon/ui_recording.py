"""A recording stand-in for Blender's ``UILayout`` that checks every call the way Blender would (the
function exists, its keyword arguments exist, enum values such as icons are valid, the property drawn exists
on its data, the operator is registered and the properties set on it are its own), and a context to draw
panels with. Needs bpy only: the tests of the installed extension import it in a fresh Blender process."""

from __future__ import annotations

from types import SimpleNamespace

__all__ = ["OperatorProps", "RecordingLayout", "draw", "make_context", "texts_of"]

_LAYOUT_ATTRS = {"use_property_split", "use_property_decorate", "enabled", "active", "alert", "scale_x", "scale_y",
                 "alignment", "emboss", "operator_context", "active_default", "activate_init", "ui_units_x", "ui_units_y"}


class OperatorProps:
    """What ``layout.operator()`` returns: only the operator's own properties may be set."""

    def __init__(self, idname: str, rna):
        object.__setattr__(self, "_idname", idname)
        object.__setattr__(self, "_rna", rna)

    def __setattr__(self, name: str, value) -> None:
        assert name in self._rna.properties, f"{self._idname} has no property {name!r}"
        object.__setattr__(self, name, value)


class RecordingLayout:
    """A stand-in for ``bpy.types.UILayout`` that checks and records every call."""

    def __init__(self, calls: list, depth: int = 0):
        object.__setattr__(self, "calls", calls)
        object.__setattr__(self, "depth", depth)

    def __setattr__(self, name: str, value) -> None:
        assert name in _LAYOUT_ATTRS, f"UILayout has no attribute {name!r}"
        object.__setattr__(self, name, value)

    def __getattr__(self, name: str):
        import bpy

        funcs = bpy.types.UILayout.bl_rna.functions
        assert name in funcs, f"UILayout has no function {name!r}"
        params = {p.identifier: p for p in funcs[name].parameters}

        def call(*args, **kw):
            for key, value in kw.items():
                assert key in params, f"UILayout.{name}() has no argument {key!r}"
                p = params[key]
                if p.type == "ENUM" and isinstance(value, str) and not p.is_enum_flag:
                    assert value in p.enum_items, f"UILayout.{name}({key}={value!r}): not a valid value"
            self.calls.append((self.depth, name, args, kw))
            if name in ("prop", "prop_search"):
                data, prop = args[0], args[1]
                if prop.startswith('["'):
                    assert prop[2:-2] in data, f"{data!r} has no ID property {prop}"
                else:
                    assert prop in data.bl_rna.properties, f"{type(data).__name__} has no property {prop!r}"
            if name == "operator":
                idname = args[0]
                mod, _, op = idname.partition(".")
                rna = getattr(getattr(bpy.ops, mod), op).get_rna_type()  # KeyError: no such operator
                if "text" not in kw:  # Blender shows the operator's label
                    self.calls[-1] = (self.depth, name, args, {**kw, "text": rna.name})
                return OperatorProps(idname, rna)
            if name in ("row", "column", "box", "split", "column_flow", "grid_flow"):
                return RecordingLayout(self.calls, self.depth + 1)
            return None

        return call


def texts_of(calls: list) -> list[str]:
    """The texts a recording shows: labels, progress bars, operator buttons, properties."""
    return [str(kw.get("text", "")) for _, name, _, kw in calls if name in ("label", "progress", "operator", "prop")]


def draw(panel_cls, context) -> list:
    """Run ``panel_cls.draw`` against a recording layout; returns the calls ``(depth, function, args, kwargs)``."""
    calls: list = []
    panel_cls.draw(SimpleNamespace(layout=RecordingLayout(calls)), context)
    return calls


def make_context(**kw):
    """A draw context: this session's scene, preferences and window manager, no active or selected object
    and no window, unless ``kw`` says otherwise."""
    import bpy

    ctx = {"scene": bpy.context.scene, "preferences": bpy.context.preferences, "window_manager": bpy.context.window_manager,
           "active_object": None, "selected_objects": [], "window": None}
    ctx.update(kw)
    return SimpleNamespace(**ctx)
