"""``shapeprog fit``: recover a program's parameters and the object's pose from a scan.

Every setting of the fit is an option (:class:`backend.fit.FitConfig`: ``--budget``,
``--objective.depth-weight``, ``--mcts.exploration``, ...). ``result.json`` records the inputs and
the whole config, and ``shapeprog fit --config result.json -o OUT`` runs the same fit again (options
given beside ``--config`` replace the recorded ones).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..command import Command, UserError, stop_on_signals
from ..fit.config import FitConfig
from ..options import config_from_dict, config_to_dict

__all__ = ["COMMAND", "FitCommandConfig", "FitInputs", "load_observations", "load_recorded"]


@dataclass
class FitInputs:
    """What a fit reads: the program and the scan, with the readers' options."""

    program: str | None = field(default=None, metadata={"short": "-p"})
    """The program: an IR .json (NAME.blend beside it gives a fitted .blend), a .blend (needs bpy) or a library name."""
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
    every: int = 1
    """With --frames: use every k-th frame."""
    max_frames: int | None = 8
    """With --frames: at most this many frames."""
    object: str | None = None
    """Object in the .blend whose modifier holds the program."""
    ranges: str | None = None
    """Parameter ranges: a NAME.params.json sidecar or a PyTorchGeoNodes sp_*.json."""
    lock: tuple[str, ...] = ()
    """Parameters to keep fixed, NAME=VALUE (e.g. --lock "Legs Type=1")."""
    init: str | None = None
    """Warm start from an earlier (possibly edited) result.json."""


@dataclass
class FitCommandConfig:
    inputs: FitInputs = field(default_factory=FitInputs, metadata={"flatten": True})
    """The program and the scan."""
    fit: FitConfig = field(default_factory=FitConfig, metadata={"flatten": True})
    """The fit's settings."""
    output: str = field(default=None, metadata={"short": "-o"})  # type: ignore[assignment]
    """Output directory: result.json, fitted.ply, fitted.obj, fitted.blend, report.png."""
    config: str | None = None
    """Rerun the fit recorded in this result.json (its inputs and settings; options given here replace them)."""
    quiet: bool = False
    """No progress bar."""
    threads: int = 1
    """torch CPU threads (one is fastest for a fit's small tensors, and keeps its time budget when other work
    shares the cores; 0 keeps torch's default)."""
    server: str | None = None
    """Run the fit on a ShapeProg service at this URL (shapeprog serve; token from SHAPEPROG_TOKEN) and write the same output folder here."""


def load_recorded(path: str) -> FitCommandConfig:
    """The inputs and config recorded in a result.json, as a command config (``--config``)."""
    from ..fit import FitError, load_result

    try:
        data = load_result(path)
        inputs = data.get("provenance", {}).get("inputs")
        if not isinstance(inputs, dict) or not isinstance(data.get("config"), dict):
            raise UserError(f"{path}: records no inputs and config to rerun (written by an older version or by edit?)")
        return FitCommandConfig(inputs=config_from_dict(FitInputs, inputs, f"{path}: inputs"),
                                fit=config_from_dict(FitConfig, data["config"], f"{path}: config"))
    except (FitError, ValueError, TypeError) as exc:
        raise UserError(str(exc).splitlines()[0]) from None


def load_observations(inputs: FitInputs):
    """The observations named by the inputs (:func:`backend.io.load_scan`, frames)."""
    from ..io import load_frames, load_scan
    from ..object_frame import observations_from_frames

    if inputs.scan is None and inputs.frames is None:
        raise UserError("give the scan: --scan FILE and/or --frames DIR")
    if inputs.scan is not None:
        obs = load_scan(inputs.scan, object_id=inputs.object_id, scan2cad=inputs.scan2cad,
                        scan2cad_index=inputs.scan2cad_index)
        if inputs.frames is not None:
            obs.frames = load_frames(inputs.frames, every=inputs.every, max_frames=inputs.max_frames,
                                     instance_id=inputs.instance_id)
        return obs
    frames = load_frames(inputs.frames, every=inputs.every, max_frames=inputs.max_frames, instance_id=inputs.instance_id)
    return observations_from_frames(frames)


def _recorded_inputs(inputs: FitInputs) -> dict[str, Any]:
    """The inputs with their paths made absolute (a rerun may start elsewhere)."""
    d = config_to_dict(inputs)
    for f in fields(FitInputs):
        if f.name in ("program", "scan", "frames", "scan2cad", "ranges", "init") and d[f.name] is not None \
                and Path(d[f.name]).exists():
            d[f.name] = str(Path(d[f.name]).resolve())
    return d


def _log_lines(method: str, every: float = 2.0):
    """A progress callback that prints a plain line to stderr at most every ``every`` seconds and at each new
    phase (for logs, where a live progress bar cannot draw)."""
    last = {"t": -1e9, "phase": None}

    def progress(p: dict) -> None:
        if p["elapsed"] - last["t"] >= every or p.get("phase") != last["phase"]:
            last["t"], last["phase"] = p["elapsed"], p.get("phase")
            print(f"fit {method}: {100 * p['fraction']:.0f}% {p.get('phase', '')} step {p['step']} best "
                  f"{p['best_objective']:.4g} ({p['elapsed']:.1f} s)", file=sys.stderr, flush=True)

    return progress


def run(cfg: FitCommandConfig) -> int:
    from ..io.outputs import output_dir

    if not cfg.inputs.program or not cfg.output:
        raise UserError("--program and -o/--output are required")
    with output_dir(cfg.output):
        return _run(cfg)


def _run(cfg: FitCommandConfig) -> int:
    from dataclasses import replace

    import torch
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from translator.loading import load_any
    from translator.params import parameter_space, parse_assignments

    from ..fit import FitError, FitInterrupted, fit, load_result, write_outputs
    from ..library import resolve_program

    inputs = cfg.inputs
    if cfg.threads < 0:
        raise UserError(f"--threads must be 0 (torch's default) or more, got {cfg.threads}")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    prog = load_any(resolve_program(inputs.program), inputs.object)
    space = parameter_space(prog, inputs.ranges)
    fcfg = replace(cfg.fit, locks=parse_assignments(space, inputs.lock))
    if inputs.init:
        try:
            data = load_result(inputs.init)
        except FitError as exc:
            raise UserError(str(exc)) from None
        fcfg = replace(fcfg, init={**data["discrete"], **data["continuous"]}, init_pose=data.get("world_from_program"))
    if cfg.server:
        from .fit_remote import run_remote

        return run_remote(cfg, prog, fcfg, _recorded_inputs(inputs))
    obs = load_observations(inputs)
    console = Console(stderr=True)
    with stop_on_signals() as stop:
        try:
            if cfg.quiet:
                result = fit(prog, obs, fcfg, space=space, stop=stop)
            elif not console.is_terminal:  # a log: a plain line every few seconds
                result = fit(prog, obs, fcfg, space=space, progress=_log_lines(fcfg.method), stop=stop)
            else:
                with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"),
                              TimeElapsedColumn(), console=console, transient=False) as bar:
                    task = bar.add_task(f"fit {fcfg.method}", total=1.0, info="")

                    def progress(p: dict) -> None:
                        bar.update(task, completed=p["fraction"], info=f"step {p['step']} best {p['best_objective']:.4g}")

                    result = fit(prog, obs, fcfg, space=space, progress=progress, stop=stop)
                    bar.update(task, completed=1.0)
        except FitError as exc:
            raise UserError(str(exc)) from None
        except FitInterrupted as exc:
            print(f"shapeprog fit: interrupted: {exc}; nothing written", file=sys.stderr)
            return stop.exit_status
    result.provenance["inputs"] = _recorded_inputs(inputs)
    files = write_outputs(result, cfg.output, prog, obs)
    print(f"objective {result.objective:.5g} ({', '.join(f'{k} {v:.4g}' for k, v in result.terms.items())})")
    for k, v in result.values.items():
        print(f"  {k} = {v if not isinstance(v, float) else round(v, 4)}")
    for w in result.warnings:
        print(f"warning: {w}")
    print(f"wrote {', '.join(Path(f).name for f in files.values())} to {cfg.output}")
    if result.status == "interrupted":
        print(f"shapeprog fit: interrupted: wrote the best candidate found in {result.timings['search_s']:.1f} s",
              file=sys.stderr)
        return stop.exit_status
    return 0


COMMAND = Command(name="fit", help="fit a program's parameters and the object's pose to a scan",
                  config=FitCommandConfig, run=run, load_config=load_recorded)
