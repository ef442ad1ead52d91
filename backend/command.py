"""What a ``shapeprog`` subcommand or benchmark is (:class:`Command`) and the error it raises for bad user
input (:class:`UserError`). Kept apart from :mod:`backend.cli` so that commands and benchmarks never import
the entry point that discovers them."""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

__all__ = ["Command", "StopRequest", "UserError", "stop_on_signals"]


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


class StopRequest(threading.Event):
    """A stop request (pass it as a fit's ``stop``); ``signum`` is the signal that set it, if one did."""

    signum: int | None = None

    @property
    def exit_status(self) -> int:
        """The shell's status for a process ended by the signal: 128 + its number (130 for SIGINT)."""
        return 128 + int(self.signum or signal.SIGINT)


@contextmanager
def stop_on_signals(signums: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)) -> Iterator[StopRequest]:
    """While active, SIGINT and SIGTERM set the returned :class:`StopRequest` instead of killing the process,
    so the work stops at its next step and keeps what it found; a second signal raises KeyboardInterrupt.
    The previous handlers come back on exit. (Signal handlers exist only in the main thread.)"""
    request = StopRequest()

    def handler(signum: int, frame: Any) -> None:
        if request.is_set():
            raise KeyboardInterrupt
        request.signum = signum
        request.set()

    old = {s: signal.signal(s, handler) for s in signums}
    try:
        yield request
    finally:
        for s, h in old.items():
            signal.signal(s, h)
