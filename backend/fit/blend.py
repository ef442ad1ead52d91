"""The fitted ``.blend``: the program's object with its modifier set to the recovered values
and its transform set to the recovered pose (needs bpy and the program's .blend)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from translator.ir import Program
from translator.loading import has_bpy

if TYPE_CHECKING:
    from .result import FitResult

__all__ = ["find_program_blend", "write_fitted_blend"]


def find_program_blend(program: Program) -> Path | None:
    """The .blend a program came from: its own path, NAME.blend beside NAME.json, or the recorded source."""
    cands = []
    if program.path:
        p = Path(program.path)
        cands += [p, p.with_suffix(".blend")]
        if program.source:
            cands.append(p.parent / Path(program.source).name)
    if program.source:
        cands.append(Path(program.source))
    for c in cands:
        if c.suffix.lower() == ".blend" and c.is_file():
            return c
    return None


def write_fitted_blend(result: FitResult, program: Program, path: str | Path) -> tuple[str | None, str]:
    """Write ``path``; returns (path, "") or (None, why it was skipped)."""
    if not has_bpy():
        return None, "bpy is not installed"
    src = find_program_blend(program)
    if src is None:
        return None, "the program's .blend is not known (keep NAME.blend beside NAME.json)"
    import bpy

    from translator.blender_apply import set_modifier_values, set_world_matrix

    bpy.ops.wm.open_mainfile(filepath=str(src.resolve()), load_ui=False)
    obj = bpy.data.objects.get(program.object) if program.object else None
    if obj is None:
        return None, f"object '{program.object}' not found in {src}"
    set_modifier_values(obj, {**result.discrete, **result.continuous})
    set_world_matrix(obj, result.world_from_program)
    bpy.ops.wm.save_as_mainfile(filepath=str(Path(path).resolve()), copy=True)
    return str(path), ""
