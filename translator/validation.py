"""Reading the files users hand in: JSON without NaN/Infinity literals, checked against pydantic models,
every problem reported as one line naming the file and the field.

* :func:`read_json`: a JSON file, or a one-line error (missing, a folder, binary, invalid JSON, NaN);
* :func:`validate`: data against a pydantic model, or a one-line error naming the field;
* :data:`FiniteFloat`, :data:`Vector3`: the number types every model uses (finite only).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, Field, PlainValidator, StrictBool, StrictInt, StrictStr, ValidationError

from .ir import ProgramError

__all__ = ["ContinuousValue", "DiscreteValue", "FiniteFloat", "ParameterValue", "Range", "StrictBool", "StrictInt",
           "StrictStr", "Vector3", "is_finite_number", "read_json", "shown", "validate"]

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
"""A finite number (integers are accepted as numbers)."""
Vector3 = tuple[FiniteFloat, FiniteFloat, FiniteFloat]
"""Three finite numbers."""


def is_finite_number(v: Any) -> bool:
    """A real number (not a bool) that a float64 holds: NaN, infinities and integers beyond float range are not
    (``math.isfinite(10**400)`` would raise)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    return abs(v) <= sys.float_info.max if isinstance(v, int) else math.isfinite(v)


_number = is_finite_number


def _continuous(v: Any) -> float | tuple[float, float, float]:
    if _number(v):
        return float(v)
    if isinstance(v, (list, tuple)) and len(v) == 3 and all(_number(x) for x in v):
        return tuple(float(x) for x in v)
    raise ValueError(f"must be a finite number or 3 finite numbers, got {shown(v)}")


def _discrete(v: Any) -> bool | int | str:
    if isinstance(v, (bool, int, str)):
        return v
    raise ValueError(f"must be true or false, an integer or a name, got {shown(v)}")


def _value(v: Any) -> Any:
    try:
        return _continuous(v)
    except ValueError:
        pass
    if isinstance(v, (bool, int, str)):
        return v
    raise ValueError(f"must be a finite number, 3 finite numbers, true or false, an integer or a name, got {shown(v)}")


def _range(v: Any) -> tuple:
    if isinstance(v, (list, tuple)) and len(v) == 2:
        lo, hi = v
        if _number(lo) and _number(hi):
            if lo > hi:
                raise ValueError(f"low {lo} is above high {hi}")
            return (float(lo), float(hi))
        try:
            los, his = _continuous(lo), _continuous(hi)
        except ValueError:
            pass
        else:
            if isinstance(los, tuple) and isinstance(his, tuple):
                if any(a > b for a, b in zip(los, his, strict=True)):
                    raise ValueError(f"low {list(los)} is above high {list(his)}")
                return (los, his)
    raise ValueError(f"must be [low, high] (finite numbers, or two lists of 3 for a vector), got {shown(v)}")


def shown(v: Any) -> str:
    """``v`` for a message: its JSON text, cut to 40 characters."""
    text = json.dumps(v) if isinstance(v, (dict, list, tuple, str, int, float, bool, type(None))) else type(v).__name__
    return text if len(text) <= 40 else text[:37] + "..."


ContinuousValue = Annotated[Any, PlainValidator(_continuous)]
"""A continuous parameter's value: a finite number or 3 finite numbers."""
DiscreteValue = Annotated[Any, PlainValidator(_discrete)]
"""A discrete parameter's value: true or false, an integer, or a menu item's name."""
ParameterValue = Annotated[Any, PlainValidator(_value)]
"""Any parameter's value (what a ``--params-file`` holds)."""
Range = Annotated[Any, PlainValidator(_range)]
"""A ``[low, high]`` range: finite numbers in order, or two lists of 3 (per component, in order)."""

M = TypeVar("M", bound=BaseModel)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number (JSON has no NaN or Infinity)")


def read_json(path: str | Path, what: str, error: type[Exception] = ProgramError) -> Any:
    """The JSON data in file ``path`` (``what`` names it in messages); ``error`` (one line) for a missing
    file, a folder, a file that is not UTF-8 text, invalid JSON and NaN/Infinity literals."""
    path = Path(path)
    if path.is_dir():
        raise error(f"{path}: is a folder, not a {what}")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise error(f"{path}: not a text file (a {what} is JSON)") from None
    except OSError as exc:
        raise error(f"{path}: cannot read the {what}: {exc.strerror or type(exc).__name__}") from None
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise error(f"{path}: the {what} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except ValueError as exc:
        raise error(f"{path}: the {what} is not valid JSON: {exc}") from None
    except RecursionError:
        raise error(f"{path}: the {what} is nested too deeply") from None


def validate(model: type[M], data: Any, where: str, error: type[Exception] = ProgramError) -> M:
    """``data`` as a ``model`` instance; ``error`` with one line ``where: field.path: what is wrong`` (the
    first problem, and how many more there are)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        # a union reports each of its branches, tagged in the location (``tuple[float, float]``): name the
        # field once, by its place in the data
        places = {_place(e["loc"]) for e in errors}
        first = errors[0]
        loc = _place(first["loc"])
        msg = " ".join(str(first["msg"]).split()).removeprefix("Value error, ")
        more = f" (and {len(places) - 1} more field{'s' if len(places) > 2 else ''})" if len(places) > 1 else ""
        raise error(f"{where}: {loc + ': ' if loc else ''}{msg}{more}") from None


def _place(loc: tuple) -> str:
    """A pydantic error location as a field path (``parameters.Width.range.1``), without union branch tags."""
    return ".".join(str(x) for x in loc if not (isinstance(x, str) and ("[" in x or x.startswith("function-"))))
