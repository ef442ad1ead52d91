"""``shapeprog fit``: recover a program's parameters and the object's pose from a scan."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..cli import Command, UserError


@dataclass
class FitCommandConfig:
    program: str = field(default=None, metadata={"short": "-p"})  # type: ignore[assignment]
    """The program: an IR .json (NAME.blend beside it gives a fitted .blend) or a .blend (needs bpy)."""
    output: str = field(default=None, metadata={"short": "-o"})  # type: ignore[assignment]
    """Output directory: result.json, fitted.ply, fitted.obj, fitted.blend, report.png."""
    scan: str | None = None
    """The scan: a .ply point cloud / mesh of the object, or a ScanNet scene (with --object-id or --scan2cad)."""
    frames: str | None = None
    """An RGB-D frame folder in ScanNet's exported layout (color/, depth/, intrinsic/, pose/, instance-filt/)."""
    instance_id: int | None = None
    """With --frames: the object's id in instance-filt/ masks."""
    object_id: int | None = None
    """With a ScanNet scene: the aggregation object id."""
    scan2cad: str | None = None
    """With a ScanNet scene: a Scan2CAD annotation JSON; crops the scene with --scan2cad-index's box."""
    scan2cad_index: int | None = None
    """Which aligned model of the Scan2CAD annotation to crop."""
    method: str = "mcts"
    """Search method: mcts, ga, cd or exhaustive."""
    budget: float = 60.0
    """Time budget in seconds."""
    seed: int = 0
    """Random seed."""
    lock: tuple[str, ...] = ()
    """Parameters to keep fixed, NAME=VALUE (e.g. --lock "Legs Type=1")."""
    init: str | None = None
    """Warm start from an earlier (possibly edited) result.json."""
    device: str = "cpu"
    """cpu or cuda."""
    ranges: str | None = None
    """Parameter ranges: a NAME.params.json sidecar or a PyTorchGeoNodes sp_*.json."""
    every: int = 1
    """With --frames: use every k-th frame."""
    max_frames: int | None = 8
    """With --frames: at most this many frames."""
    scale_slack: float = 0.0
    """Allowed uniform scale deviation (e.g. 0.05)."""
    object: str | None = None
    """Object in the .blend whose modifier holds the program."""
    quiet: bool = False
    """No progress bar."""


def load_observations(cfg: FitCommandConfig):
    from ..scans import ScanError, load_frames, load_scan, observations_from_frames

    try:
        if cfg.scan is None and cfg.frames is None:
            raise UserError("give the scan: --scan FILE and/or --frames DIR")
        if cfg.scan is not None:
            obs = load_scan(cfg.scan, object_id=cfg.object_id, scan2cad=cfg.scan2cad, scan2cad_index=cfg.scan2cad_index)
            if cfg.frames is not None:
                obs.frames = load_frames(cfg.frames, every=cfg.every, max_frames=cfg.max_frames, instance_id=cfg.instance_id)
            return obs
        frames = load_frames(cfg.frames, every=cfg.every, max_frames=cfg.max_frames, instance_id=cfg.instance_id)
        return observations_from_frames(frames)
    except ScanError as exc:
        raise UserError(str(exc)) from None


def run(cfg: FitCommandConfig) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from translator.loading import load_any
    from translator.params import parameter_space, parse_assignments

    from ..fit import FitConfig, FitError, fit, load_result, write_outputs

    if not cfg.program or not cfg.output:
        raise UserError("--program and -o/--output are required")
    prog = load_any(cfg.program, cfg.object)
    space = parameter_space(prog, cfg.ranges)
    obs = load_observations(cfg)
    init = pose = None
    if cfg.init:
        data = load_result(cfg.init)
        init = {**data["discrete"], **data["continuous"]}
        pose = data.get("world_from_program")
    fcfg = FitConfig(method=cfg.method, budget=cfg.budget, seed=cfg.seed, device=cfg.device,
                     locks=parse_assignments(space, cfg.lock), init=init, init_pose=pose, scale_slack=cfg.scale_slack)
    console = Console(stderr=True)
    try:
        if cfg.quiet:
            result = fit(prog, obs, fcfg, space=space)
        else:
            with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"),
                          TimeElapsedColumn(), console=console, transient=False) as bar:
                task = bar.add_task(f"fit {cfg.method}", total=1.0, info="")

                def progress(p: dict) -> None:
                    bar.update(task, completed=p["fraction"], info=f"step {p['step']} best {p['best_objective']:.4g}")

                result = fit(prog, obs, fcfg, space=space, progress=progress)
                bar.update(task, completed=1.0)
    except FitError as exc:
        raise UserError(str(exc)) from None
    files = write_outputs(result, cfg.output, prog, obs)
    print(f"objective {result.objective:.5g} ({', '.join(f'{k} {v:.4g}' for k, v in result.terms.items())})")
    for k, v in result.values.items():
        print(f"  {k} = {v if not isinstance(v, float) else round(v, 4)}")
    for w in result.warnings:
        print(f"warning: {w}")
    print(f"wrote {', '.join(Path(f).name for f in files.values())} to {cfg.output}")
    return 0


COMMAND = Command(name="fit", help="fit a program's parameters and the object's pose to a scan",
                  config=FitCommandConfig, run=run)
