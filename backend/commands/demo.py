"""``shapeprog demo``: reconstruct the bundled sample scans and compare with their ground truth.

Each folder of ``sample_scenes/scenes`` (or ``--scenes``) is an RGB-D scan in
ScanNet's layout with a ``ground_truth.json`` naming its program. The demo
fits each with the chosen search on CPU and prints, per scene, the recovered
and the true value of every parameter, then the scene's discrete accuracy,
continuous error, yaw error and Chamfer distance.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from ..command import Command, UserError
from ..library import PROGRAMS_DIR, ROOT, SCENES_DIR


@dataclass
class DemoConfig:
    budget: float = 35.0
    """Time budget per scene, in seconds (the four bundled scenes take about 2.5 minutes on 2 CPU cores)."""
    scenes: str = str(SCENES_DIR)
    """Folder of scans with ground_truth.json (one sub-folder per scene)."""
    method: str = "mcts"
    """Search method: mcts, ga, cd or exhaustive."""
    seed: int = 0
    """Random seed of the searches."""
    output: str | None = None
    """Also write each scene's fit (result.json, fitted.ply/.obj, report.png, fitted.blend) to OUTPUT/SCENE."""
    threads: int = 1
    """torch CPU threads (one is fastest for these small tensors on a shared machine)."""


def _program_path(gt: dict, scene: Path) -> Path:
    """The program named by a ground truth: as recorded (relative to the repository or the scene), or
    the library's program of the same name."""
    recorded = Path(gt.get("program") or "")
    for cand in (recorded, ROOT / recorded, scene / recorded):
        if recorded.name and cand.is_file():
            return cand
    lib = PROGRAMS_DIR / f"{gt.get('program_name', recorded.stem)}.json"
    if lib.is_file():
        return lib
    raise UserError(f"{scene / 'ground_truth.json'}: program {str(recorded)!r} not found")


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.3f}"
    if isinstance(v, (list, tuple)):
        return "(" + ", ".join(f"{float(x):.3f}" for x in v) + ")"
    return str(v)


def run(cfg: DemoConfig) -> int:
    import torch
    from rich.console import Console
    from rich.table import Table

    from translator.codegen import compile_program
    from translator.loading import load_any
    from translator.params import parameter_space

    from ..fit import FitConfig, FitError, fit, write_outputs
    from ..io import load_ply, load_scan
    from ..metrics import recovery_metrics

    folder = Path(cfg.scenes)
    if not folder.is_dir():
        raise UserError(f"{folder}: no such folder")
    scenes = sorted(p.parent for p in folder.glob("*/ground_truth.json"))
    if not scenes:
        raise UserError(f"{folder}: no scenes (sub-folders with a ground_truth.json)")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    console = Console()
    console.print(f"[bold]ShapeProg demo[/bold]: {len(scenes)} scanned objects in {folder}, method {cfg.method}, "
                  f"{cfg.budget:g} s each, CPU, torch threads {torch.get_num_threads()}")
    totals = {"correct": 0, "discrete": 0, "errors": []}
    t_start = time.perf_counter()
    for scene in scenes:
        gt = json.loads((scene / "ground_truth.json").read_text())
        path = _program_path(gt, scene)
        program = load_any(path)
        space = parameter_space(program)
        module = compile_program(program)
        obs = load_scan(scene, instance_id=gt.get("object_instance_id", 1))
        t0 = time.perf_counter()
        try:
            with console.status(f"fitting {scene.name} ({path.stem}, {len(obs.points)} points, "
                                f"{obs.frames.num_frames if obs.frames is not None else 0} frames)..."):
                result = fit(program, obs, FitConfig(method=cfg.method, budget=cfg.budget, seed=cfg.seed), space=space,
                             module=module)
        except FitError as exc:
            raise UserError(f"{scene.name}: {exc}") from None
        seconds = time.perf_counter() - t0
        mesh_file = scene / "object_mesh.ply"
        true_mesh = None
        if mesh_file.is_file():
            m = load_ply(mesh_file)
            true_mesh = (m.points, m.faces)
        metrics = recovery_metrics(space, gt, result, true_mesh, module)
        if cfg.output:
            write_outputs(result, Path(cfg.output) / scene.name, program, obs)

        disc_true = gt["parameters"]["discrete"]
        cont_true = metrics["compared_with"]
        title = f"{scene.name}: {path.stem}"
        if metrics["equivalent"]:
            title += (f" (the object is symmetric and was found turned by {90 * metrics['equivalent']} deg: 'true' "
                      f"describes the true object at that turn)")
        table = Table(title=title, title_justify="left")
        for col in ("parameter", "true", "recovered", "error"):
            table.add_column(col, justify="left" if col == "parameter" else "right")
        for p in space:
            active = p.active_when.holds(disc_true)
            true = disc_true.get(p.name, cont_true.get(p.name))
            got = result.values.get(p.name)
            if p.kind == "discrete":
                err = ("[green]ok[/green]" if got == true else "[red]wrong[/red]") if active else ""
            elif p.name in metrics["continuous_errors_cm"]:
                e = metrics["continuous_errors_cm"][p.name]
                err = f"[{'green' if e <= 1.5 else 'yellow' if e <= 5 else 'red'}]{e:.1f} cm[/]"
            else:
                err = ""
            style = None if active else "dim"
            name = p.name if active else f"{p.name} (inactive)"
            table.add_row(name, _fmt(true), _fmt(got), err, style=style)
        console.print(table)
        mae = metrics["continuous_mae_cm"]
        console.print(f"  discrete {metrics['discrete_correct']}/{metrics['discrete_total']} correct, continuous error "
                      f"{'n/a' if mae is None else f'{mae:.2f} cm'} (mean over active lengths), yaw error "
                      f"{metrics['yaw_error_deg']:.1f} deg"
                      + (f", Chamfer {metrics['chamfer_cm']:.2f} cm" if metrics["chamfer_cm"] is not None else "")
                      + f", {seconds:.0f} s\n")
        totals["correct"] += metrics["discrete_correct"]
        totals["discrete"] += metrics["discrete_total"]
        totals["errors"] += list(metrics["continuous_errors_cm"].values())
    acc = 100.0 * totals["correct"] / max(1, totals["discrete"])
    mae = sum(totals["errors"]) / len(totals["errors"]) if totals["errors"] else float("nan")
    print(f"demo: {len(scenes)} scenes in {time.perf_counter() - t_start:.0f} s, discrete accuracy {acc:.1f}% "
          f"({totals['correct']}/{totals['discrete']}), continuous error {mae:.2f} cm")
    return 0


COMMAND = Command(name="demo", help="reconstruct the bundled sample scans and compare with their ground truth",
                  config=DemoConfig, run=run)
