"""Load a program from an IR ``.json`` or, when bpy is installed, straight from a ``.blend``."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from .ir import Program, ProgramError, load_program

__all__ = ["has_bpy", "load_any"]


def has_bpy() -> bool:
    return importlib.util.find_spec("bpy") is not None


def load_any(path: str | Path, object_name: str | None = None) -> Program:
    """``.json`` -> validated IR; ``.blend`` -> exported with bpy (first object with a
    geometry-nodes modifier, or ``object_name``). Raises :class:`ProgramError` with one line."""
    path = Path(path)
    if path.suffix.lower() == ".blend":
        if not has_bpy():
            raise ProgramError(f"{path}: reading .blend files needs bpy (pip install 'shapeprog[blender]'); "
                               "or pass the program's .json")
        from .blender_export import export_blend

        prog = export_blend(path, object_name)
        prog.path = str(path)
        return prog
    if path.suffix.lower() != ".json":
        raise ProgramError(f"{path}: expected a program .json or .blend file")
    return load_program(path)
