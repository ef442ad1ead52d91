"""``shapeprog synth``: a synthetic RGB-D scan of a program's random instance, with ground truth."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..command import Command, UserError


@dataclass
class SynthConfig:
    program: str
    """The shape program: an IR .json (or a .blend, which needs bpy)."""
    output: str = field(default=None, metadata={"short": "-o"})  # type: ignore[assignment]
    """Output folder (ScanNet frame layout, object_points.ply, object_mesh.ply, ground_truth.json)."""
    seed: int = 0
    """Random seed: the same seed writes the same files."""
    views: int = 6
    """Number of RGB-D frames."""
    noise: Literal["scannet", "none"] = "scannet"
    """Depth noise model: scannet (Kinect-like noise, missing pixels at grazing angles, edges and at random) or none."""
    occluders: int = 0
    """Random box occluders standing between the cameras and the object."""
    width: int = 160
    """Image width in pixels."""
    height: int = 120
    """Image height in pixels."""
    facing: float = 45.0
    """The arc of views is centred within this many degrees of the object's front (-Y in the program's
    frame); 180 puts it anywhere around the object."""
    set: tuple[str, ...] = ()
    """Parameters to fix instead of sampling, NAME=VALUE (e.g. --set "Leg Style=Sled" "Seat Height=0.45")."""
    yaw: float | None = None
    """Fix the object's yaw (radians) instead of sampling it."""
    ranges: str | None = None
    """Parameter ranges: a NAME.params.json sidecar or a PyTorchGeoNodes sp_*.json (default: the program's sidecar)."""
    object: str | None = None
    """Object in the .blend whose modifier holds the program."""


def run(cfg: SynthConfig) -> int:
    from translator.params import parse_assignments

    from ..io.outputs import output_dir
    from ..synth import CaptureSettings, NoiseSettings, SynthError, load_shape_program, synthesize

    if cfg.output is None:
        raise UserError("say where to write the scan: -o/--output DIR")
    with output_dir(cfg.output, "scan folder"):
        try:
            noise = NoiseSettings(kind=cfg.noise)
            capture = CaptureSettings(views=cfg.views, width=cfg.width, height=cfg.height, occluders=cfg.occluders,
                                      facing_deg=cfg.facing)
            program = load_shape_program(cfg.program, cfg.ranges, cfg.object)
            fixed = parse_assignments(program.space, cfg.set)
            result = synthesize(program, cfg.output, cfg.seed, noise=noise, capture=capture, fixed=fixed, yaw=cfg.yaw)
        except SynthError as exc:
            raise UserError(str(exc)) from None
    gt = result.ground_truth
    print(f"wrote {cfg.output}: {gt['frames']} frames {cfg.width}x{cfg.height}, "
          f"{gt['object_points']['count']} object points, noise {cfg.noise}, seed {cfg.seed}")
    return 0


COMMAND = Command(name="synth", help="render a synthetic RGB-D scan of a random program instance, with ground truth",
                  config=SynthConfig, run=run, positional=("program",))
