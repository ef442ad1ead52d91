"""Dataclass configs as command-line options.

A config is a ``@dataclass`` whose fields carry attribute docstrings (a string
literal right under the field, as in nerfstudio); those docstrings become the
``--help`` text. :func:`add_arguments` adds one option per field to an argparse
parser and :func:`from_args` builds the config back from the parsed namespace.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import textwrap
import typing
from functools import lru_cache
from typing import Any

__all__ = ["field_docs", "add_arguments", "from_args"]


@lru_cache(maxsize=None)
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
        for a, b in zip(body, body[1:]):
            if isinstance(a, ast.AnnAssign) and isinstance(a.target, ast.Name) and isinstance(b, ast.Expr) \
                    and isinstance(b.value, ast.Constant) and isinstance(b.value.value, str):
                docs[a.target.id] = " ".join(b.value.value.split())
    return docs


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_arguments(parser: argparse.ArgumentParser, cls: type, positional: tuple[str, ...] = ()) -> None:
    """Add an option per field of dataclass ``cls`` (``positional`` names become positional arguments)."""
    docs = field_docs(cls)
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.metadata.get("cli") is False:
            continue
        hint = hints[f.name]
        help_text = docs.get(f.name, "")
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        origin = typing.get_origin(hint)
        args = typing.get_args(hint)
        kwargs: dict[str, Any] = {"help": help_text + (f" (default: {default})" if default not in (None, (), [], "") else "")}
        base = hint
        if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
            non_none = [a for a in args if a is not type(None)]
            base = non_none[0] if len(non_none) == 1 else str
            origin = typing.get_origin(base)
            args = typing.get_args(base)
        if f.name in positional:
            kwargs.pop("help")
            parser.add_argument(f.name, help=help_text, type=base if base in (int, float, str) else str)
            continue
        if base is bool:
            names = [_option(f.name)] + ([f.metadata["short"]] if "short" in f.metadata else [])
            parser.add_argument(*names, dest=f.name, action=argparse.BooleanOptionalAction, default=default, help=kwargs["help"])
            continue
        if origin in (list, tuple):
            elem = args[0] if args else str
            kwargs.update(nargs="+", action="extend", type=elem, default=list(default or []))
        elif origin is typing.Literal:
            kwargs.update(choices=list(args), default=default)
        else:
            kwargs.update(type=base if base in (int, float, str) else str, default=default)
        if default is None and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            kwargs["required"] = True
        names = [_option(f.name)] + ([f.metadata["short"]] if "short" in f.metadata else [])
        parser.add_argument(*names, dest=f.name, **kwargs)


def from_args(cls: type, ns: argparse.Namespace) -> Any:
    values = {}
    for f in dataclasses.fields(cls):
        if hasattr(ns, f.name):
            v = getattr(ns, f.name)
            if isinstance(v, list) and typing.get_origin(typing.get_type_hints(cls)[f.name]) is tuple:
                v = tuple(v)
            values[f.name] = v
    return cls(**values)
