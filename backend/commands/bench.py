"""``shapeprog bench NAME ...``: run one of the benchmarks in :mod:`backend.benchmarks`."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
from dataclasses import dataclass

from ..command import Command
from ..options import add_arguments, from_args


def benchmarks() -> dict[str, Command]:
    from .. import benchmarks as pkg

    out = {}
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        mod = importlib.import_module(f"{pkg.__name__}.{info.name}")
        b = getattr(mod, "BENCHMARK", None)
        if b is not None:
            out[b.name] = b
    return out


def _add(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="bench", metavar="BENCHMARK", required=True)
    for b in benchmarks().values():
        p = sub.add_parser(b.name, help=b.help, description=b.description or b.help)
        add_arguments(p, b.config, b.positional)


def _run(args: argparse.Namespace) -> int | None:
    b = benchmarks()[args.bench]
    return b.run(from_args(b.config, args))


@dataclass
class _NoConfig:
    pass


COMMAND = Command(name="bench", help="run a benchmark (prints figures; the last line is the headline)", config=_NoConfig,
                  run=_run, add_subcommands=_add)
