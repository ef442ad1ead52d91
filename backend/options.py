"""Dataclass configs as command-line options (nerfstudio's model, on argparse).

A config is a ``@dataclass`` whose fields carry attribute docstrings (a string
literal right under the field); those docstrings become the ``--help`` text.
:func:`add_arguments` adds one option per field to an argparse parser and
:func:`from_args` builds the config back from the parsed namespace.

* A field whose type is itself a dataclass is a nested config: its fields become
  ``--<field>.<sub-field>`` options (``--objective.depth-weight 0.5``), to any
  depth. ``metadata={"flatten": True}`` adds them without the prefix.
* ``metadata={"cli": False}`` keeps a field off the command line (values that a
  command fills in itself, such as parsed locks); ``metadata={"short": "-o"}``
  adds a short option.
* Options that are not given stay out of the namespace (``argparse.SUPPRESS``),
  so :func:`from_args` can lay them over a *base* config (the defaults, or a
  config read from a file: ``shapeprog fit --config result.json``).
* Numbers must be finite: ``--budget nan`` is refused by the parser.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import functools
import inspect
import itertools
import math
import textwrap
import types
import typing
from typing import Any

__all__ = ["add_arguments", "config_from_dict", "config_to_dict", "field_docs", "finite_float", "from_args"]


@functools.cache
def field_docs(cls: type) -> dict[str, str]:
    """``{field name: docstring}`` read from the class source (attribute docstrings)."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError, SyntaxError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for a, b in itertools.pairwise(body):
            if isinstance(a, ast.AnnAssign) and isinstance(a.target, ast.Name) and isinstance(b, ast.Expr) \
                    and isinstance(b.value, ast.Constant) and isinstance(b.value.value, str):
                docs[a.target.id] = " ".join(b.value.value.split())
    return docs


def finite_float(text: str) -> float:
    """argparse type: a finite float (``nan`` and ``inf`` are refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def _unwrap_optional(hint: Any) -> Any:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        non_none = [a for a in typing.get_args(hint) if a is not type(None)]
        return non_none[0] if len(non_none) == 1 else str
    return hint


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def _scalar_type(base: Any) -> Any:
    return finite_float if base is float else (base if base in (int, str) else str)


def add_arguments(parser: argparse.ArgumentParser, cls: type, positional: tuple[str, ...] = (), prefix: str = "") -> None:
    """Add an option per field of dataclass ``cls`` (``positional`` names become positional arguments;
    nested dataclass fields become ``--field.sub-field`` options)."""
    docs = field_docs(cls)
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.metadata.get("cli") is False:
            continue
        base = _unwrap_optional(hints[f.name])
        if dataclasses.is_dataclass(base):
            add_arguments(parser, base, (), prefix if f.metadata.get("flatten") else f"{prefix}{f.name}.")
            continue
        origin, args = typing.get_origin(base), typing.get_args(base)
        if origin is dict:
            raise TypeError(f"{cls.__name__}.{f.name}: dict fields cannot be command-line options; mark them cli=False")
        help_text = docs.get(f.name, "").replace("%", "%%")  # argparse formats help text with %
        default = _default(f)
        dest = prefix + f.name
        if f.name in positional and not prefix:
            parser.add_argument(f.name, help=help_text, type=_scalar_type(base))
            continue
        shown = f" (default: {default})".replace("%", "%%") if default not in (None, (), [], "") else ""
        names = [_option(dest)] + ([f.metadata["short"]] if "short" in f.metadata and not prefix else [])
        kwargs: dict[str, Any] = {"help": help_text + shown, "dest": dest, "default": argparse.SUPPRESS}
        if prefix and base is not bool:
            kwargs["metavar"] = f.name.upper()
        if base is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif origin in (list, tuple):
            kwargs.update(nargs="+", action="extend", type=_scalar_type(args[0] if args else str))
        elif origin is typing.Literal:
            kwargs.update(choices=list(args))
        else:
            kwargs["type"] = _scalar_type(base)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING and not prefix:
            kwargs["required"] = True
        parser.add_argument(*names, **kwargs)


def from_args(cls: type, ns: argparse.Namespace, base: Any = None, prefix: str = "") -> Any:
    """The config of class ``cls`` from the options given in ``ns`` (:func:`add_arguments`), each laid over
    ``base`` (a ``cls`` instance; default: the class's defaults)."""
    hints = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        hint = _unwrap_optional(hints[f.name])
        current = getattr(base, f.name) if base is not None else dataclasses.MISSING
        if dataclasses.is_dataclass(hint) and f.metadata.get("cli") is not False:
            sub = prefix if f.metadata.get("flatten") else f"{prefix}{f.name}."
            values[f.name] = from_args(hint, ns, None if current is dataclasses.MISSING else current, sub)
        elif hasattr(ns, prefix + f.name):
            v = getattr(ns, prefix + f.name)
            if isinstance(v, list) and typing.get_origin(hint) is tuple:
                v = tuple(v)
            values[f.name] = v
        elif current is not dataclasses.MISSING:
            values[f.name] = current
    return cls(**values)


def config_to_dict(config: Any) -> dict[str, Any]:
    """A config (nested dataclasses) as JSON-ready data: tuples become lists."""

    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {str(k): plain(x) for k, x in v.items()}
        return v

    return plain(config)


def config_from_dict(cls: type, data: dict[str, Any], where: str = "config") -> Any:
    """Rebuild a config of class ``cls`` from :func:`config_to_dict`'s data; unknown keys raise
    ``ValueError`` naming them (missing keys keep their defaults)."""
    if not isinstance(data, dict):
        raise TypeError(f"{where}: expected an object, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ValueError(f"{where}: unknown setting(s) {', '.join(map(repr, unknown))} for {cls.__name__}")
    values = {}
    for name, v in data.items():
        hint = _unwrap_optional(hints[name])
        if dataclasses.is_dataclass(hint) and v is not None:
            values[name] = config_from_dict(hint, v, f"{where}.{name}")
        elif typing.get_origin(hint) is tuple and isinstance(v, list):
            values[name] = tuple(v)
        else:
            values[name] = v
    return cls(**values)
