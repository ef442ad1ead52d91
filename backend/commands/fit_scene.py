"""``shapeprog fit-scene SCENE -o OUT``: every piece of furniture of a scanned scene fitted as an editable
program (:func:`backend.scene.run.fit_scene`).

SCENE is a labelled point cloud (a PLY whose vertices carry a label and an instance field), a ScanNet scene
folder, or a ScanNet scene with a Scan2CAD annotation (``--scan2cad``). Objects are fitted in parallel by the
same executors as the job service and ``shapeprog batch`` (local worker processes; Ray with ``--ray``). OUT
gets ``scene.blend``, ``scene.glb``, ``scene.ply``, ``summary.json``, ``summary.csv``, ``scene_report.png`` and
``objects/<instance>_<category>/`` per object (result.json, fitted meshes, report.png). The exit status is 1
when an object failed (the others' results are kept), 130 when interrupted.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

from ..command import Command, UserError, stop_on_signals
from ..scene.run import SceneFitSettings

__all__ = ["COMMAND", "FitSceneConfig", "run"]


@dataclass
class FitSceneConfig:
    scene: str
    """The scene: a labelled point cloud (.ply with per-point label and instance fields), a ScanNet scene folder (<id>_vh_clean_2.ply + segments + aggregation), or that folder with --scan2cad."""
    output: str = field(default=None, metadata={"short": "-o"})  # type: ignore[assignment]
    """Output folder: scene.blend, scene.glb, scene.ply, summary.json, summary.csv, scene_report.png, objects/<instance>_<category>/."""
    settings: SceneFitSettings = field(default_factory=SceneFitSettings, metadata={"flatten": True})
    """What to read and how to fit."""
    quiet: bool = False
    """No progress bars."""


def run(cfg: FitSceneConfig) -> int:
    from ..io.outputs import output_dir

    if not cfg.output:
        raise UserError("-o/--output is required")
    s = cfg.settings
    if s.jobs is not None and s.jobs < 1:
        raise UserError(f"--jobs must be at least 1, got {s.jobs}")
    if s.threads < 1:
        raise UserError(f"--threads must be at least 1, got {s.threads}")
    from ..fit import METHODS, MIN_BUDGET_S

    if s.fit.method not in METHODS:
        raise UserError(f"unknown method {s.fit.method!r} (choose from {', '.join(METHODS)})")
    if s.fit.budget < MIN_BUDGET_S:
        raise UserError(f"the budget must be at least {MIN_BUDGET_S:g} s per object, got {s.fit.budget:g}")
    with output_dir(cfg.output):
        return _run(cfg)


def _run(cfg: FitSceneConfig) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from ..scene.run import fit_scene

    console = Console(stderr=True)
    progress = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"),
                        TimeElapsedColumn(), console=console, disable=cfg.quiet or not console.is_terminal)
    bars: dict[str, int] = {}
    state = {"overall": None, "prepared": 0, "t0": time.perf_counter()}

    def log(text: str) -> None:
        if not cfg.quiet and not console.is_terminal:
            print(f"fit-scene: {text}", file=sys.stderr, flush=True)

    def on_event(kind: str, *args) -> None:
        if kind == "prepared":
            plan = args[0]
            state["prepared"] += plan.spec is not None and not plan.done_before  # the objects with work to do
        elif kind == "start" and args[0] is not None:
            plan = args[0]
            if state["overall"] is None:
                state["overall"] = progress.add_task(f"fit-scene ({state['prepared']} objects)", total=state["prepared"], info="")
            bars[plan.key] = progress.add_task(f"  {plan.key}", total=1.0, info="starting")
            log(f"{plan.key}: fitting {plan.program}")
        elif kind == "progress" and args[0] is not None and args[0].key in bars:
            p = args[1]
            progress.update(bars[args[0].key], completed=p["fraction"], info=f"best {p['best_objective'] or 0:.4g}")
        elif kind == "done" and args[0] is not None:
            plan, outcome = args
            if plan.key in bars:
                progress.remove_task(bars.pop(plan.key))
            if outcome.state == "failed":
                progress.console.print(f"[red]{plan.key} failed:[/red] {outcome.error}", markup=True, highlight=False,
                                       soft_wrap=True)
            log(f"{plan.key}: {outcome.state} in {outcome.seconds:.1f} s" + (f" ({outcome.error})" if outcome.error else ""))
        elif kind == "finished" and state["overall"] is not None:
            progress.update(state["overall"], advance=1, info=f"{args[0].key} finished")

    with stop_on_signals() as stop, progress:
        run_ = fit_scene(cfg.scene, cfg.output, cfg.settings, on_event=on_event, stop=stop)
    from ..scene.outputs import object_rows

    rows = object_rows(run_)
    table = Table(title=f"fit-scene {cfg.scene}")
    for col in ("instance", "category", "program", "state", "F@5cm", "acc cm", "s"):
        table.add_column(col, no_wrap=True)
    table.add_column("notes", overflow="fold")
    for r in rows:
        m = r.get("scan_fit", {})
        notes = r.get("error") or "; ".join(r.get("flags", []))
        table.add_row(str(r["instance"]), r["category"], str(r["program"]).rsplit("/", 1)[-1],
                      r["state"] + (" (done before)" if r["done_before"] else ""),
                      f"{m['f_5cm']:.3f}" if "f_5cm" in m else "", f"{m['accuracy_cm']:.1f}" if "accuracy_cm" in m else "",
                      f"{r['seconds']:.0f}" if r.get("seconds") is not None else "", notes)
    Console(width=max(140, Console().width)).print(table)
    counts = {k: sum(1 for r in rows if r["state"] == k) for k in ("succeeded", "failed", "cancelled", "skipped")}
    f5 = [r["scan_fit"]["f_5cm"] for r in rows if r.get("scan_fit", {}).get("f_5cm") is not None]
    mean = f" mean F@5cm {sum(f5) / len(f5):.3f}," if f5 else ""
    print(f"fit-scene: {counts['succeeded']} of {len(rows)} objects fitted ({counts['failed']} failed, {counts['cancelled']} "
          f"cancelled, {counts['skipped']} skipped),{mean} {run_.seconds['total_s']:.0f} s -> {cfg.output}")
    for w in _warnings(cfg.output):
        print(f"warning: {w}")
    if run_.interrupted:
        return stop.exit_status
    return 1 if counts["failed"] or counts["cancelled"] else 0


def _warnings(out: str) -> list[str]:
    import json
    from pathlib import Path

    try:
        return list(json.loads((Path(out) / "summary.json").read_text()).get("warnings", []))
    except (OSError, ValueError):
        return []


COMMAND = Command(name="fit-scene", help="fit every piece of furniture of a scanned scene as an editable program",
                  config=FitSceneConfig, run=run, positional=("scene",),
                  description="Fit every object of a mapped category (chair, table, desk, sofa, bed, cabinet, night stand, "
                              "dresser, bookshelf, shelves; --map to change) in a labelled point cloud, a ScanNet scene "
                              "folder or a ScanNet scene with Scan2CAD boxes, in parallel (local processes, or Ray with --ray). "
                              "Writes scene.blend, scene.glb, scene.ply, summary.json/.csv, scene_report.png and one folder "
                              "per object.")
