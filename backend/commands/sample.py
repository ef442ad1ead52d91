"""``shapeprog sample PROGRAM -n 16 --seed 0 -o gallery.png``: a gallery of random samples of a program."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..command import Command, UserError


@dataclass
class SampleConfig:
    program: str
    """The program: a library name (chair, table, sofa, cabinet, bed, bookshelf) or an IR .json / .blend (needs bpy)."""
    count: int = field(default=16, metadata={"short": "-n"})
    """Number of random samples (-n)."""
    seed: int = 0
    """Random seed: the same seed draws the same samples."""
    output: str = field(default="gallery.png", metadata={"short": "-o"})
    """The PNG to write (-o)."""
    columns: int = 4
    """Tiles per row."""
    tile: int = 256
    """Tile size in pixels."""
    object: str | None = None
    """Object in the .blend whose geometry-nodes modifier holds the program."""


def run(cfg: SampleConfig) -> int:
    from translator.loading import load_any

    from ..gallery import make_gallery
    from ..io.outputs import prepare_file
    from ..library import resolve_program

    if cfg.count < 1:
        raise UserError(f"-n must be at least 1, got {cfg.count}")
    if cfg.columns < 1 or cfg.tile < 32:
        raise UserError(f"--columns must be >= 1 and --tile >= 32, got {cfg.columns} and {cfg.tile}")
    if not cfg.output.lower().endswith(".png"):
        raise UserError(f"{cfg.output}: the gallery is written as PNG; give a .png path")
    prepare_file(cfg.output, (".png",), "gallery")
    prog = load_any(resolve_program(cfg.program), cfg.object)
    out = make_gallery(prog, n=cfg.count, seed=cfg.seed, out=cfg.output, columns=cfg.columns, tile=cfg.tile)
    print(f"wrote {out}")
    return 0


COMMAND = Command(name="sample", help="draw a gallery of random samples of a program, labelled with their discrete values",
                  config=SampleConfig, run=run, positional=("program",))
