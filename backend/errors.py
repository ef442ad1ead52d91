"""Which exceptions are the user's doing: bad files, bad values, impossible requests. Front doors (the command
line, the job service, batch runs) report these as one line (exit status 2, a 4xx answer, a failed row) and
treat anything else as a bug."""

from __future__ import annotations

__all__ = ["USER_ERRORS", "one_line"]

from translator.ir import ProgramError
from translator.runtime import ParameterError, SizeLimitError, TopologySplitError

from .fit.result import FitError
from .io.outputs import OutputError
from .structures import ScanError

USER_ERRORS: tuple[type[BaseException], ...] = (ProgramError, ParameterError, TopologySplitError, SizeLimitError,
                                                ScanError, FitError, OutputError, FileNotFoundError,
                                                IsADirectoryError, NotADirectoryError, PermissionError)
"""The exception types whose message is meant for the user (one line naming the file, field or value)."""


def one_line(exc: BaseException) -> str:
    """An exception's message as one line (its type's name when it has none)."""
    text = str(exc).strip()
    return " ".join(text.splitlines()[0].split()) if text else type(exc).__name__
