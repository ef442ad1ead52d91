"""Switch, Index Switch and Menu Switch.

The code generator turns their branch inputs into local functions and calls
:func:`translator.runtime.switch` / ``index_switch`` / ``menu_switch``, so only
the taken branch is evaluated when the choice is shared by the batch.
"""

from __future__ import annotations

from . import special

__all__: list[str] = []

_TYPES = {"FLOAT", "INT", "BOOLEAN", "VECTOR", "RGBA", "ROTATION", "MATRIX", "STRING", "MENU", "GEOMETRY",
          "MATERIAL", "OBJECT", "COLLECTION", "IMAGE", "TEXTURE"}


def _check_type(n) -> str | None:
    t = n.properties.get("input_type", n.properties.get("data_type"))
    return None if t in _TYPES or t is None else f"switch type {t!r} is not supported"


_NOTES = "every socket type; a batched condition that decides topology splits the batch"
special("GeometryNodeSwitch", "switch", _check_type, label="Switch", notes=_NOTES)
special("GeometryNodeIndexSwitch", "index_switch", _check_type, label="Index Switch", notes=_NOTES)
special("GeometryNodeMenuSwitch", "menu_switch", _check_type, label="Menu Switch", notes=_NOTES + "; item booleans")
