"""``shapeprog params``: a program's parameters: kind, range or choices, default, active-when."""

from __future__ import annotations

from dataclasses import dataclass

from ..command import Command


@dataclass
class ParamsConfig:
    program: str
    """The program: an IR .json or a .blend (needs bpy)."""
    ranges: str | None = None
    """Parameter ranges: a NAME.params.json sidecar or a PyTorchGeoNodes sp_*.json config (default: NAME.params.json beside the program)."""
    object: str | None = None
    """Object in the .blend whose geometry-nodes modifier holds the program."""
    markdown: bool = False
    """Print a Markdown table instead of a terminal table."""


def run(cfg: ParamsConfig) -> int:
    from rich.console import Console
    from rich.table import Table

    from translator.loading import load_any
    from translator.params import parameter_space

    prog = load_any(cfg.program, cfg.object)
    space = parameter_space(prog, cfg.ranges)
    rows = space.table()
    cols = ["name", "kind", "range", "default", "active when"]
    if cfg.markdown:
        print("| " + " | ".join(cols) + " |")
        print("|" + "---|" * len(cols))
        for r in rows:
            print("| " + " | ".join(r[c].replace("|", "\\|") for c in cols) + " |")
        return 0
    table = Table(title=f"{prog.entry} ({cfg.program})")
    for c in cols:
        table.add_column(c)
    for r in rows:
        table.add_row(*(r[c] for c in cols))
    Console(width=160).print(table)
    return 0


COMMAND = Command(name="params", help="list a program's parameters with ranges and dependencies",
                  config=ParamsConfig, run=run, positional=("program",))
