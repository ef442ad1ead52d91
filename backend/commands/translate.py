"""``shapeprog translate``: a .blend (or IR .json) -> IR .json and/or generated Python module."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..command import Command, UserError


@dataclass
class TranslateConfig:
    program: str
    """The program: a .blend file (needs bpy) or an IR .json."""
    output: str | None = field(default=None, metadata={"short": "-o"})
    """Where to write the IR .json (-o)."""
    python: str | None = None
    """Where to write the generated PyTorch module (.py)."""
    object: str | None = None
    """Object in the .blend whose geometry-nodes modifier holds the program (default: the first one)."""


def run(cfg: TranslateConfig) -> int:
    from translator.codegen import check_supported, generate_source
    from translator.ir import save_program
    from translator.loading import load_any

    from ..io.outputs import prepare_file

    if cfg.output is None and cfg.python is None:
        raise UserError("nothing to write: give -o/--output PROGRAM.json and/or --python PROGRAM.py")
    if cfg.output:
        prepare_file(cfg.output, (".json",), "IR file")
    if cfg.python:
        prepare_file(cfg.python, (".py",), "Python module")
    prog = load_any(cfg.program, cfg.object)
    check_supported(prog)
    if cfg.output:
        save_program(prog, cfg.output)
        print(f"wrote {cfg.output}")
    if cfg.python:
        Path(cfg.python).write_text(generate_source(prog))
        print(f"wrote {cfg.python}")
    return 0


COMMAND = Command(name="translate", help="translate a geometry-node program to IR JSON and PyTorch code",
                  config=TranslateConfig, run=run, positional=("program",))
