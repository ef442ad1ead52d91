"""Helpers of the add-on's tests that run in this process's bpy: the bundled chair scan as a mesh object,
what "the scene is untouched" compares, pumping the add-on's event queue, reading modifier values."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

__all__ = ["ROOT", "SCENE", "close", "import_scan", "pump_until", "scene_state", "values"]

ROOT = Path(__file__).resolve().parents[2]
SCENE = ROOT / "sample_scenes" / "scenes" / "chair_s1"
"""The bundled chair scan: object_points.ply, a ScanNet frame folder (the chair is instance 1), the truth."""


def import_scan(name: str = "chair_scan") -> Any:
    """The chair's scan points as a mesh object called ``name`` (active and selected)."""
    import bpy

    bpy.ops.wm.ply_import(filepath=str(SCENE / "object_points.ply"))
    obj = bpy.context.active_object
    obj.name = name
    return obj


def scene_state() -> dict:
    """Every data-block by kind (names), plus the objects' transforms: what 'untouched' compares."""
    import bpy

    kinds = ("objects", "meshes", "node_groups", "materials", "images", "collections")
    out: dict[str, Any] = {k: sorted(i.name for i in getattr(bpy.data, k)) for k in kinds}
    out["matrices"] = {o.name: [list(r) for r in o.matrix_world] for o in bpy.data.objects}
    return out


def pump_until(cond: Any, timeout: float = 120.0) -> None:
    """Call the add-on's pump (what its timer does) until ``cond()`` holds."""
    from blender_addon import jobs

    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        jobs.pump()
        time.sleep(0.02)


def values(obj: Any) -> dict:
    """The object's modifier inputs by name (what the add-on reads and writes)."""
    from blender_addon import programs

    return programs.modifier_values(obj)


def close(a: Any, b: Any, tol: float = 1e-6) -> bool:
    """Equal, floats within ``tol`` (relative and absolute), lists element by element."""
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(close(x, y, tol) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(a, b, rel_tol=tol, abs_tol=tol)
    return a == b
