"""``shapeprog synth-scene -o DIR``: a synthetic room of library objects scanned as a labelled point cloud
(:func:`backend.scene.synth.synthesize_room`), the input ``shapeprog fit-scene`` takes, with its truth."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..command import Command, UserError
from ..scene.synth import RoomSettings

__all__ = ["COMMAND", "SynthSceneConfig", "run"]


@dataclass
class SynthSceneConfig:
    output: str = field(default=None, metadata={"short": "-o"})  # type: ignore[assignment]
    """Output folder: room_points.ply (x y z red green blue nyu40 instance) and ground_truth.json."""
    room: RoomSettings = field(default_factory=RoomSettings, metadata={"flatten": True})
    """What to put in the room and how to scan it."""


def run(cfg: SynthSceneConfig) -> int:
    from ..io.outputs import output_dir
    from ..library import program_names
    from ..scene.synth import synthesize_room

    if not cfg.output:
        raise UserError("-o/--output is required")
    known = program_names()
    bad = [p for p in cfg.room.programs if p not in known]
    if bad:
        raise UserError(f"unknown library program {bad[0]!r} (programs: {', '.join(known)})")
    if not cfg.room.programs:
        raise UserError("--programs needs at least one program")
    if not cfg.room.density > 0 or cfg.room.noise < 0:
        raise UserError("--density must be positive and --noise not negative")
    with output_dir(cfg.output):
        truth = synthesize_room(cfg.room, cfg.output)
    for o in truth["objects"]:
        print(f"instance {o['instance']}: {o['program']} ({o['category']}), {o['points']} points")
    print(f"wrote room_points.ply and ground_truth.json to {cfg.output}")
    return 0


COMMAND = Command(name="synth-scene", help="a synthetic room of library objects as a labelled point cloud, with its truth",
                  config=SynthSceneConfig, run=run)
