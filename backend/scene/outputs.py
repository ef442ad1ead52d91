"""What ``fit-scene`` writes besides each object's own folder (:func:`write_scene_outputs`):

* ``summary.json`` / ``summary.csv``: one row per object (instance, category, program, state, discrete values,
  scan-fit metrics, time, flags, undecided parameters, error; with several candidate programs the program kept
  and, in ``candidates``, every candidate's state and F@5cm), and for the scene its structure and timings;
* ``scene.ply`` / ``scene.glb``: every fitted mesh in the scan's frame (trimesh; one node per object in the
  glb, one colour per object in the ply);
* ``scene.blend`` (with bpy): every fitted program object with its modifier values and pose, named after its
  instance, and the scan as a point-cloud object, so the whole room is editable in Blender;
* ``scene_report.png`` (:mod:`backend.scene.report`).

A missing object result (failed, cancelled) leaves its row with the error and the others' outputs intact.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from ..io.ply import load_ply
from ..scan_metrics import metric_names

__all__ = ["SUMMARY_COLUMNS", "object_rows", "write_scene_blend", "write_scene_meshes", "write_scene_outputs"]

SUMMARY_COLUMNS = ["instance", "category", "label", "program", "state", "points", "discrete", "accuracy_cm",
                   "completeness", "f_2_5cm", "f_5cm", "precision_5cm", "recall_5cm", "seconds", "flags", "undecided",
                   "error", "folder", "candidates"]
PALETTE = [(0.12, 0.47, 0.71), (1.0, 0.5, 0.05), (0.17, 0.63, 0.17), (0.84, 0.15, 0.16), (0.58, 0.4, 0.74),
           (0.55, 0.34, 0.29), (0.89, 0.47, 0.76), (0.5, 0.5, 0.5), (0.74, 0.74, 0.13), (0.09, 0.75, 0.81)]
"""One colour per object (matplotlib's tab10)."""


def _read_result(folder: Path) -> dict | None:
    try:
        data = json.loads((folder / "result.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _num(x: Any) -> Any:
    return round(x, 4) if isinstance(x, float) and math.isfinite(x) else x


def object_rows(run) -> list[dict[str, Any]]:
    """One summary row per planned object (see the module docstring), from its result.json and outcome."""
    rows = []
    for p in run.objects:
        outcome = run.outcomes.get(p.key)
        data = _read_result(p.folder) if p.spec is not None else None
        if p.spec is None:
            state, error = "skipped", p.error
        elif outcome is not None:
            state, error = outcome.state, outcome.error
        elif p.done_before:
            state, error = "succeeded", None
        else:
            state, error = "cancelled", "not fitted (stopped before it started)"
        if data is None and state == "succeeded":
            state, error = "failed", "no result.json"
        row: dict[str, Any] = {"instance": p.instance, "key": p.key, "category": p.category, "label": p.label,
                               "program": p.program, "state": state, "done_before": p.done_before, "points": p.points,
                               "error": error, "folder": str(p.folder), "flags": list(p.flags),
                               "candidates": dict(p.choice)}
        if data is not None:
            row.update({"status": data.get("status"), "discrete": data.get("discrete", {}),
                        "continuous": {k: _num(v) if not isinstance(v, list) else v for k, v in data.get("continuous", {}).items()},
                        "world_from_program": data.get("world_from_program"), "yaw_deg": _num(math.degrees(data.get("yaw", 0.0))),
                        "objective": _num(data.get("objective")), "seconds": _num(data.get("timings", {}).get("search_s")),
                        "scan_fit": {k: _num(v) for k, v in data.get("scan_fit", {}).items()},
                        "undecided": data.get("undecided", {}), "flags": data.get("flags", p.flags),
                        "method": data.get("method")})
        rows.append(row)
    return rows


def _csv_row(r: dict[str, Any]) -> dict[str, Any]:
    m = r.get("scan_fit", {})
    return {"instance": r["instance"], "category": r["category"], "label": r["label"], "program": r["program"],
            "state": r["state"], "points": r["points"], "discrete": json.dumps(r.get("discrete", {}), sort_keys=True),
            **{k: m.get(k, "") for k in ("accuracy_cm", "completeness", "f_2_5cm", "f_5cm", "precision_5cm", "recall_5cm")},
            "seconds": r.get("seconds", ""), "flags": "; ".join(r.get("flags", [])),
            "undecided": " ".join(f"{k}" for k in r.get("undecided", {})), "error": r.get("error") or "", "folder": r["folder"],
            "candidates": " ".join(f"{k}={'' if v.get('f_5cm') is None else format(v['f_5cm'], '.3f')}"
                                   for k, v in r.get("candidates", {}).items())}


def write_scene_meshes(rows: list[dict[str, Any]], out: Path) -> dict[str, str]:
    """``scene.ply`` and ``scene.glb`` of the fitted objects' ``fitted.ply`` (already in the scan's frame)."""
    import trimesh

    scene = trimesh.Scene()
    parts = []
    for k, r in enumerate(rows):
        f = Path(r["folder"]) / "fitted.ply"
        if r["state"] not in ("succeeded", "cancelled") or not f.is_file():
            continue
        pc = load_ply(f)
        mesh = trimesh.Trimesh(pc.points.numpy(), pc.faces.numpy(), process=False)
        colour = (np.array(PALETTE[k % len(PALETTE)] + (1.0,)) * 255).astype(np.uint8)
        mesh.visual = trimesh.visual.ColorVisuals(mesh, face_colors=np.tile(colour, (len(mesh.faces), 1)))
        scene.add_geometry(mesh, node_name=r["key"], geom_name=r["key"])
        parts.append(mesh)
    if not parts:
        return {}
    trimesh.util.concatenate(parts).export(out / "scene.ply")
    scene.export(out / "scene.glb")
    return {"ply": str(out / "scene.ply"), "glb": str(out / "scene.glb")}


def write_scene_blend(rows: list[dict[str, Any]], scene, out: Path, max_scan_points: int = 200_000) -> tuple[str | None, str]:
    """``scene.blend``: the fitted program objects (modifier values and pose set) and the scan as points.
    Returns ``(path, "")`` or ``(None, why not)``."""
    from translator.loading import has_bpy, load_any

    if not has_bpy():
        return None, "bpy is not installed"
    import bpy

    from translator.blender_apply import set_modifier_values, set_world_matrix

    from ..fit.blend import find_program_blend
    from ..library import resolve_program

    bpy.ops.wm.read_factory_settings(use_empty=True)
    fits = bpy.data.collections.new("ShapeProg fits")
    bpy.context.scene.collection.children.link(fits)
    templates: dict[str, Any] = {}
    missing = []
    for r in rows:
        if r["state"] not in ("succeeded", "cancelled") or "discrete" not in r:
            continue
        prog = r["program"]
        if prog not in templates:
            program = load_any(resolve_program(prog))
            src = find_program_blend(program)
            if src is None or not program.object:
                templates[prog] = None
            else:
                with bpy.data.libraries.load(str(src.resolve()), link=False) as (_, dst):
                    dst.objects = [program.object]
                templates[prog] = dst.objects[0]
        base = templates[prog]
        if base is None:
            missing.append(r["key"])
            continue
        obj = base.copy()
        obj.name = r["key"]
        fits.objects.link(obj)
        set_modifier_values(obj, {**r["discrete"], **r["continuous"]})
        set_world_matrix(obj, r["world_from_program"])
        obj["shapeprog_instance"] = int(r["instance"])
        obj["shapeprog_category"] = r["category"]
        obj["shapeprog_result"] = str(Path(r["folder"]) / "result.json")
    for base in templates.values():
        if base is not None and base.users == 0:
            bpy.data.objects.remove(base)
    _scan_object(bpy, scene, max_scan_points)
    bpy.ops.wm.save_as_mainfile(filepath=str((out / "scene.blend").resolve()))
    why = f"no .blend for the programs of {', '.join(missing)}" if missing else ""
    return str(out / "scene.blend"), why


def _scan_object(bpy, scene, max_points: int) -> None:
    """The scan as an object named ``scan``: a mesh of its points (colour attribute ``Col``) shown as points
    by a Mesh to Points modifier."""
    pts = scene.points.numpy()
    cols = scene.colors.numpy() if scene.colors is not None else None
    if len(pts) > max_points:
        keep = np.random.default_rng(0).choice(len(pts), max_points, replace=False)
        pts, cols = pts[keep], (cols[keep] if cols is not None else None)
    mesh = bpy.data.meshes.new("scan")
    mesh.vertices.add(len(pts))
    mesh.vertices.foreach_set("co", pts.astype(np.float32).ravel())
    if cols is not None:
        attr = mesh.color_attributes.new("Col", "FLOAT_COLOR", "POINT")
        rgba = np.concatenate([cols, np.ones((len(cols), 1), dtype=np.float32)], 1)
        attr.data.foreach_set("color", rgba.astype(np.float32).ravel())
    mesh.update()
    obj = bpy.data.objects.new("scan", mesh)
    bpy.context.scene.collection.objects.link(obj)
    ng = bpy.data.node_groups.new("Scan Points", "GeometryNodeTree")
    ng.interface.new_socket("Geometry", in_out="INPUT", socket_type="NodeSocketGeometry")
    ng.interface.new_socket("Geometry", in_out="OUTPUT", socket_type="NodeSocketGeometry")
    gi, go = ng.nodes.new("NodeGroupInput"), ng.nodes.new("NodeGroupOutput")
    to_points = ng.nodes.new("GeometryNodeMeshToPoints")
    to_points.inputs["Radius"].default_value = 0.01
    ng.links.new(gi.outputs[0], to_points.inputs["Mesh"])
    ng.links.new(to_points.outputs["Points"], go.inputs[0])
    mod = obj.modifiers.new("Scan Points", "NODES")
    mod.node_group = ng


def write_scene_outputs(run, out: Path, settings) -> dict[str, str]:
    """Every scene output (see the module docstring); returns ``{kind: path}``."""
    rows = object_rows(run)
    files: dict[str, str] = {}
    warnings = []
    try:
        files.update(write_scene_meshes(rows, out))
    except Exception as exc:  # noqa: BLE001 - one output failing must not lose the others
        warnings.append(f"scene.ply/glb not written: {type(exc).__name__}: {exc}")
    try:
        path, why = write_scene_blend(rows, run.scene, out)
        if path:
            files["blend"] = path
        if why:
            warnings.append(f"scene.blend: {why}")
    except Exception as exc:  # noqa: BLE001
        warnings.append(f"scene.blend not written: {type(exc).__name__}: {exc}")
    try:
        from .report import write_scene_report

        write_scene_report(run, rows, out / "scene_report.png")
        files["report"] = str(out / "scene_report.png")
    except Exception as exc:  # noqa: BLE001
        warnings.append(f"scene_report.png not written: {type(exc).__name__}: {exc}")
    st = run.structure
    counts = {k: sum(1 for r in rows if r["state"] == k) for k in ("succeeded", "failed", "cancelled", "skipped")}
    summary = {
        "scene": run.scene.source, "objects": rows, "counts": counts, "interrupted": run.interrupted,
        "fit": {"method": settings.fit.method, "budget": settings.fit.budget, "seed": settings.fit.seed},
        "structure": {"floor_z": st.floor_z, "tilt_deg": st.tilt_deg, "floor_source": st.floor_source,
                      "wall_source": st.wall_source, "walls": [{"normal": w.normal.tolist(), "d": w.d, "span": w.span,
                                                                "heights": w.heights, "points": w.points} for w in st.walls],
                      "level": np.asarray(st.level).tolist()},
        "metrics": metric_names(), "seconds": dict(run.seconds), "files": {**files, "summary_csv": str(out / "summary.csv")},
        "warnings": warnings,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    with open(out / "summary.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=SUMMARY_COLUMNS)
        w.writeheader()
        w.writerows(_csv_row(r) for r in rows)
    files.update({"summary": str(out / "summary.json"), "summary_csv": str(out / "summary.csv")})
    return files
