"""Output paths checked before any work starts: a fit, a synthesis or a translation that can only
fail at the end, when it writes, loses everything it computed. :func:`prepare_dir` and
:func:`prepare_file` create what is missing, make sure a probe file can be written there, and raise
:class:`OutputError` (one line naming the path) when not."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["OutputError", "output_dir", "prepare_dir", "prepare_file"]


class OutputError(ValueError):
    """An output path that cannot be written (one line naming it and why)."""


def _probe(folder: Path, what: str) -> None:
    try:
        fd, name = tempfile.mkstemp(prefix=".shapeprog-probe-", dir=folder)
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        raise OutputError(f"{folder}: cannot write the {what} there ({exc.strerror or type(exc).__name__})") from None


def prepare_dir(path: str | Path, what: str = "output folder") -> Path:
    """Create folder ``path`` (and its parents) if needed and check that files can be written in it."""
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder}: the {what} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{folder}: cannot create the {what} ({exc.strerror or type(exc).__name__})") from None
    _probe(folder, what)
    return folder


def prepare_file(path: str | Path, suffixes: tuple[str, ...] = (), what: str = "output file") -> Path:
    """Check that file ``path`` can be written: not a folder, one of ``suffixes`` (when given), and its
    folder exists (created if missing) and is writable."""
    file = Path(path)
    if file.is_dir():
        raise OutputError(f"{file}: the {what} is a folder")
    if suffixes and file.suffix.lower() not in suffixes:
        raise OutputError(f"{file}: the {what} must end in {' or '.join(suffixes)}")
    prepare_dir(file.parent if str(file.parent) else ".", f"{what}'s folder")
    return file


@contextlib.contextmanager
def output_dir(path: str | Path, what: str = "output folder") -> Iterator[Path]:
    """:func:`prepare_dir` for a block of work: the folder is checked before the work starts, and a folder this
    call created is removed again when the block ends with nothing written into it (it failed or stopped early)."""
    folder = Path(path)
    created = not folder.exists()
    prepare_dir(folder, what)
    try:
        yield folder
    finally:
        if created:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when empty
