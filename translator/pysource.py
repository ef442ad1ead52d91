"""Python source text made from program data: identifiers, literals, comment text.

A program file is data, so everything the code generator takes from it goes
through here: names become identifiers of ``[a-z0-9_]`` (:func:`identifier`,
made unique in their scope by :class:`Names`), values become ``repr``
literals (:func:`literal`), and free text (node names, labels) becomes an
escaped, quoted, one-line string for comments and docstrings
(:func:`comment_text`). Nothing is spliced into source any other way.
"""

from __future__ import annotations

import keyword
import math
import re
import struct
from typing import Any

from .ir import ProgramError, quote

__all__ = ["Names", "comment_text", "float_literal", "identifier", "literal"]


def identifier(text: str, prefix: str = "n") -> str:
    """``text`` as a lower-case identifier made of ``[a-z0-9_]`` (never empty, never starting
    with a digit or ``_``, at most 40 characters): ``'Seat Width'`` -> ``seat_width``."""
    s = re.sub(r"[^0-9a-zA-Z]+", "_", text)[:40].strip("_").lower()
    if not s:
        s = prefix
    if s[0].isdigit():
        s = f"{prefix}_{s}"
    return s


class Names:
    """Unique Python identifiers within one scope: :meth:`take` adds ``_2``, ``_3``, ... to a
    name already taken (or a keyword)."""

    def __init__(self, taken: set[str] | frozenset[str]):
        self.taken = set(taken)

    def take(self, base: str) -> str:
        name, k = base, 1
        while name in self.taken or keyword.iskeyword(name):
            k += 1
            name = f"{base}_{k}"
        self.taken.add(name)
        return name


def comment_text(value: Any, limit: int = 80) -> str:
    """Text from the program file for a comment or docstring: quoted with escapes
    (no line breaks), no double quote that could close a docstring, cut to ``limit``."""
    return quote(value, limit).replace('"', "\\x22")


def _float32(x: float) -> float | None:
    """``x`` rounded to float32 as a C cast does (what ``torch.tensor(x, dtype=torch.float32)``
    holds); None beyond float32's range."""
    try:
        return struct.unpack("f", struct.pack("f", x))[0]
    except OverflowError:
        return None


def float_literal(x: float) -> str:
    """A float as Python source. A float32 value (every number Blender stores is one) gets its
    shortest spelling that reads back as the same float32 (``1.2``, not ``1.2000000476837158``);
    any other float its exact ``repr``."""
    if not math.isfinite(x):
        return f"float({str(x)!r})"
    if _float32(x) == x:
        for digits in range(1, 10):
            short = float(f"{x:.{digits}g}")
            if _float32(short) == x:
                return repr(short)
    return repr(x)


def literal(value: Any) -> str:
    """A Python literal for a JSON-like value (never splices raw text): lists become tuples, objects
    dicts with string keys (``repr``); floats as :func:`float_literal`."""
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return repr(int(value))
    if isinstance(value, float):
        return float_literal(value)
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, (list, tuple)):
        items = ", ".join(literal(v) for v in value)
        return f"({items},)" if len(value) == 1 else f"({items})"
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return "{" + ", ".join(f"{k!r}: {literal(v)}" for k, v in value.items()) + "}"
    raise ProgramError(f"cannot express {type(value).__name__} value as a literal")
