"""``shapeprog programs``: the project's furniture program library (sample_scenes/programs).

* ``shapeprog programs list``: the programs with their parameter counts and sizes;
* ``shapeprog programs build [NAME ...] [--out-dir DIR] [--check]``: run the bpy
  build scripts (``sample_scenes/programs/build/NAME.py``) and write ``NAME.blend``
  and the translated ``NAME.json``; ``--check`` builds into a scratch folder and
  fails if a committed ``NAME.json`` differs from what its script makes.

Other commands take a library name wherever they take a program file
(:func:`backend.library.resolve_program`): ``shapeprog sample chair``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .. import library
from ..command import Command, UserError
from ..library import build_program, program_names


def _build(args: argparse.Namespace) -> int:
    names = args.names or program_names()
    unknown = [n for n in names if n not in program_names()]
    if unknown:
        raise UserError(f"unknown program(s) {', '.join(unknown)} (programs: {', '.join(program_names())})")
    if args.check:
        stale = []
        with tempfile.TemporaryDirectory() as tmp:
            for name in names:
                _, js = build_program(name, Path(tmp))
                committed = library.PROGRAMS_DIR / f"{name}.json"
                same = committed.is_file() and json.loads(committed.read_text()) == json.loads(js.read_text())
                print(f"{name}: {'up to date' if same else 'STALE'}")
                if not same:
                    stale.append(name)
        if stale:
            print(f"rebuild with: shapeprog programs build {' '.join(stale)}", file=sys.stderr)
            return 1
        return 0
    out_dir = Path(args.out_dir) if args.out_dir else library.PROGRAMS_DIR
    for name in names:
        blend, js = build_program(name, out_dir)
        print(f"{name}: wrote {blend} and {js}")
    return 0


def _list(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from translator.ir import load_program
    from translator.params import parameter_space

    table = Table(title=f"shape programs in {library.PROGRAMS_DIR}")
    for col in ("name", "discrete", "continuous", "file"):
        table.add_column(col)
    for name in program_names():
        path = library.PROGRAMS_DIR / f"{name}.json"
        if not path.is_file():
            table.add_row(name, "-", "-", "(not built)")
            continue
        space = parameter_space(load_program(path), analyze=False)
        table.add_row(name, str(len(space.discrete)), str(len(space.continuous)), str(path.relative_to(library.PROGRAMS_DIR.parents[1])))
    Console(width=120).print(table)
    return 0


def _add(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    b = sub.add_parser("build", help="regenerate NAME.blend and NAME.json from the build scripts (needs bpy)")
    b.add_argument("names", nargs="*", metavar="NAME", help="programs to build (default: all)")
    b.add_argument("--out-dir", help=f"where to write (default: {library.PROGRAMS_DIR})")
    b.add_argument("--check", action="store_true", help="build into a scratch folder; exit 1 if a committed .json is stale")
    sub.add_parser("list", help="list the library's programs")


def _run(args: argparse.Namespace) -> int:
    return _build(args) if args.action == "build" else _list(args)


@dataclass
class _NoConfig:
    pass


COMMAND = Command(name="programs", help="the furniture program library: list, build (.blend + .json)", config=_NoConfig,
                  run=_run, add_subcommands=_add)
