"""The ``shapeprog`` command line.

Subcommands live in :mod:`backend.commands`, one module each, discovered
automatically: a module defines ``COMMAND = Command(...)``. A command's options
come from its dataclass config (field docstrings become ``--help``). User
errors (bad files, bad values) print one line ``shapeprog <cmd>: error: ...``
and exit with status 2; no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import typing

from .command import Command, UserError
from .options import add_arguments, from_args

__all__ = ["commands", "main"]


def commands() -> dict[str, Command]:
    from . import commands as pkg

    found: dict[str, Command] = {}
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        mod = importlib.import_module(f"{pkg.__name__}.{info.name}")
        for cmd in getattr(mod, "COMMANDS", [getattr(mod, "COMMAND", None)]):
            if cmd is not None:
                found[cmd.name] = cmd
    return found


def _user_errors() -> tuple[type[BaseException], ...]:
    from .errors import USER_ERRORS  # imports the library (torch): only once a command has failed

    return USER_ERRORS


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``shapeprog <cmd>: error: <message>``, exit status 2."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())}\n")


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="shapeprog", description="Blender shape programs as differentiable PyTorch, fitted to scans.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    cmds = commands()
    for cmd in cmds.values():
        p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.description or cmd.help)
        if cmd.add_subcommands is not None:
            cmd.add_subcommands(p)
        else:
            add_arguments(p, cmd.config, cmd.positional)
        p.set_defaults(_cmd=cmd.name)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a one-line usage error (2)
        return int(exc.code or 0)
    if not getattr(args, "_cmd", None):
        parser.print_help()
        return 2
    cmd = cmds[args._cmd]
    try:
        if cmd.add_subcommands is not None:
            rc = cmd.run(args)
        else:
            base = cmd.load_config(args.config) if cmd.load_config is not None and getattr(args, "config", None) else None
            rc = cmd.run(from_args(cmd.config, args, base))
    except (UserError, *_user_errors()) as exc:
        from .errors import one_line

        print(f"shapeprog {cmd.name}: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"shapeprog {cmd.name}: interrupted", file=sys.stderr)
        return 130
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
