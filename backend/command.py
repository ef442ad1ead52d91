"""What a ``shapeprog`` subcommand or benchmark is (:class:`Command`) and the error it raises for bad user
input (:class:`UserError`). Kept apart from :mod:`backend.cli` so that commands and benchmarks never import
the entry point that discovers them."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Command", "UserError"]


class UserError(Exception):
    """An error caused by the user's input; reported as one line, exit status 2."""


@dataclass
class Command:
    name: str
    help: str
    config: type
    run: Callable[[Any], int | None]
    positional: tuple[str, ...] = ()
    description: str = ""
    add_subcommands: Callable[[argparse.ArgumentParser], None] | None = None
    load_config: Callable[[str], Any] | None = None
    """Reads the file given with the command's ``--config`` option into a config, over which the options
    given on the command line are laid (``shapeprog fit --config result.json`` reruns a fit)."""
