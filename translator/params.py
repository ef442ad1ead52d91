"""Parameter space of a program: kinds, ranges, choices and dependencies.

* Continuous parameters: FLOAT inputs and VECTOR inputs (each component);
  discrete: INT, BOOLEAN and MENU inputs.
* Ranges come from the interface min/max when finite (Blender's "unbounded"
  is +-FLT_MAX / +-2**31); otherwise from a sidecar ``NAME.params.json`` next
  to the program, or from an imported PyTorchGeoNodes ``sp_*.json`` config.
* Dependencies come from the graph (:mod:`translator.dependencies`): for
  every parameter, the condition on the discrete parameters under which it
  changes the output, found by partially evaluating the program for each
  assignment of the discrete parameters that reach a Switch / Index Switch /
  Menu Switch.

Sidecar schema (``NAME.params.json``)::

    {"parameters": {
        "Width":      {"range": [0.4, 4.0]},           # float: [low, high] metres
        "Offset":     {"range": [[0,0,0], [1,1,2]]},   # vector: per-component low/high
        "Legs Type":  {"range": [0, 3]},               # int: inclusive
        "Style":      {"choices": ["Round", "Square"]} # menu (optional: items come from the program)
    }}
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .dependencies import Condition, analyze_dependencies, live_parameters
from .ir import Program, ProgramError
from .validation import DiscreteValue, Range, StrictStr, is_finite_number, read_json, shown, validate

__all__ = [
    "Condition",
    "Parameter",
    "ParameterSpace",
    "check_value",
    "check_values",
    "import_pytorchgeonodes_config",
    "live_parameters",
    "load_sidecar",
    "parameter_space",
    "parse_assignments",
    "parse_value",
    "split_values",
]

FLT_MAX_ISH = 1e30
INT_UNBOUNDED = 2**31 - 1
MAX_CHOICES = 4097
"""An integer parameter with more values than this in its range is not enumerated (no ``choices``)."""


@dataclass
class Parameter:
    """One program input as a search dimension."""

    name: str
    identifier: str
    type: str  # VALUE | VECTOR | INT | BOOLEAN | MENU
    default: Any
    low: Any = None  # float / int / (3,) tuple; None when unknown
    high: Any = None
    choices: tuple | None = None  # discrete values (ints, bools, menu item names)
    subtype: str = "NONE"
    active_when: Condition = field(default_factory=Condition)
    range_source: str = "interface"  # interface | sidecar | sp_config | default

    @property
    def kind(self) -> str:
        return "continuous" if self.type in ("VALUE", "VECTOR") else "discrete"

    def describe_range(self) -> str:
        if self.kind == "discrete":
            if self.choices is None:
                return f"{self.low}..{self.high}" if self.low is not None else "unbounded"
            if self.type == "INT" and len(self.choices) > 6:
                return f"{self.choices[0]}..{self.choices[-1]}"
            return ", ".join(repr(c) if isinstance(c, str) else str(c) for c in self.choices)
        if self.low is None:
            return "unbounded"
        fmt = (lambda v: f"{v:g}") if self.type == "VALUE" else (lambda v: "(" + ", ".join(f"{x:g}" for x in v) + ")")
        return f"{fmt(self.low)} .. {fmt(self.high)}"


@dataclass
class ParameterSpace:
    """All parameters of a program, with ranges and dependency conditions."""

    parameters: list[Parameter]

    def __iter__(self):
        return iter(self.parameters)

    def __getitem__(self, name: str) -> Parameter:
        for p in self.parameters:
            if p.name == name or p.identifier == name:
                return p
        raise KeyError(name)

    @property
    def continuous(self) -> list[Parameter]:
        return [p for p in self.parameters if p.kind == "continuous"]

    @property
    def discrete(self) -> list[Parameter]:
        return [p for p in self.parameters if p.kind == "discrete"]

    def active(self, discrete: dict[str, Any]) -> list[Parameter]:
        """Parameters that change the output under the discrete assignment (names -> values)."""
        full = {p.name: discrete.get(p.name, p.default) for p in self.discrete}
        return [p for p in self.parameters if p.active_when.holds(full)]

    def table(self) -> list[dict[str, str]]:
        return [
            {
                "name": p.name,
                "kind": f"{p.kind} ({p.type.lower()})",
                "range": p.describe_range(),
                "default": _fmt_default(p.default),
                "active when": str(p.active_when),
            }
            for p in self.parameters
        ]


def _fmt_default(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, (list, tuple)):
        return "(" + ", ".join(f"{x:.6g}" for x in v) + ")"
    return repr(v) if isinstance(v, str) else str(v)


# ---------------------------------------------------------------------------
# Ranges


def _finite(v: Any, bound: float) -> bool:
    if v is None:
        return False
    vals = v if isinstance(v, (list, tuple)) else [v]
    return all(isinstance(x, (int, float)) and math.isfinite(x) and abs(x) < bound for x in vals)


class _RangeSpec(BaseModel):
    """One parameter of a sidecar: a ``[low, high]`` range (numbers, or per-component vectors) or choices."""

    model_config = ConfigDict(extra="forbid")
    range: Range | None = None
    choices: list[DiscreteValue] | None = Field(default=None, min_length=1)


class _Sidecar(BaseModel):
    model_config = ConfigDict(extra="forbid")
    parameters: dict[str, _RangeSpec]


class _SpEntry(BaseModel):
    """A PyTorchGeoNodes parameter (their format: other keys are theirs and left alone)."""

    model_config = ConfigDict(extra="allow")
    type: StrictStr | None = None
    range: Range | None = None
    params: dict[str, _SpEntry] | None = None
    or_dependencies: list[StrictStr | list[DiscreteValue]] | None = None
    or_dependcies: list[StrictStr | list[DiscreteValue]] | None = None  # sic: sp_bed.json spells it so


class _SpConfig(BaseModel):
    model_config = ConfigDict(extra="allow")
    params: dict[str, _SpEntry]


def load_sidecar(path: str | Path, data: Any = None) -> dict[str, dict]:
    """Read a ``NAME.params.json`` sidecar: ``{name: {"range": [lo, hi]} | {"choices": [...]}}`` (``data``:
    its JSON when already read). One-line :class:`ProgramError` naming the file and field."""
    data = read_json(path, "parameter ranges file") if data is None else data
    side = validate(_Sidecar, data, str(path))
    return {name: spec.model_dump(exclude_none=True) for name, spec in side.parameters.items()}


def import_pytorchgeonodes_config(path: str | Path, data: Any = None) -> dict[str, dict]:
    """Read a PyTorchGeoNodes ``sp_*.json`` config into sidecar form (``range``, ``depends``).

    Nested groups are flattened; ``or_dependencies`` (also the misspelt
    ``or_dependcies``) become ``depends``: a list of ``[name, value]`` pairs or
    bare names (meaning ``name == True``), any of which activates the parameter.
    """
    data = read_json(path, "PyTorchGeoNodes config") if data is None else data
    if not isinstance(data, dict) or not isinstance(data.get("params"), dict):
        raise ProgramError(f"{path}: not a PyTorchGeoNodes shape-program config (no 'params')")
    config = validate(_SpConfig, data, str(path))
    out: dict[str, dict] = {}

    def walk(params: dict[str, _SpEntry]) -> None:
        for name, spec in params.items():
            if spec.type == "nested":
                walk(spec.params or {})
                continue
            entry: dict[str, Any] = {"type": spec.type}
            if spec.range is not None:
                entry["range"] = [list(x) if isinstance(x, tuple) else x for x in spec.range]
            deps = spec.or_dependencies if spec.or_dependencies is not None else spec.or_dependcies
            if deps:
                entry["depends"] = deps
            out[name] = entry

    walk(config.params)
    return out


def _apply_range(p: Parameter, spec: dict, source: str, where: str) -> Parameter:
    if "choices" in spec and p.kind == "discrete":
        return replace(p, choices=tuple(spec["choices"]), range_source=source)
    rng = spec.get("range")
    if rng is None:
        return p
    lo, hi = rng
    if p.type == "VALUE":
        return replace(p, low=float(lo), high=float(hi), range_source=source)
    if p.type == "VECTOR":
        lo3 = tuple(float(x) for x in (lo if isinstance(lo, (list, tuple)) else [lo] * 3))
        hi3 = tuple(float(x) for x in (hi if isinstance(hi, (list, tuple)) else [hi] * 3))
        return replace(p, low=lo3, high=hi3, range_source=source)
    if p.type == "INT":
        if not all(float(x).is_integer() and -(2**31) <= x < 2**31 for x in (lo, hi)):
            raise ProgramError(f"{where}: parameter '{p.name}': an integer range must hold 32-bit integers, got [{lo}, {hi}]")
        lo, hi = int(lo), int(hi)
        if hi < lo:
            raise ProgramError(f"{where}: parameter '{p.name}': empty range [{lo}, {hi}]")
        choices = tuple(range(lo, hi + 1)) if hi - lo < MAX_CHOICES else None  # a wider range is searched as unbounded
        return replace(p, low=lo, high=hi, choices=choices, range_source=source)
    return p


# ---------------------------------------------------------------------------
# Building the space


def parameter_space(program: Program, sidecar: str | Path | dict | None = None, analyze: bool = True) -> ParameterSpace:
    """The program's parameter space. ``sidecar``: a path to ``NAME.params.json`` / ``sp_*.json``
    or an already-read mapping; by default ``NAME.params.json`` next to the program's source is used."""
    g = program.entry_group
    params: list[Parameter] = []
    for s in g.inputs:
        if s.type not in ("VALUE", "VECTOR", "INT", "BOOLEAN", "MENU"):
            continue
        default = s.default
        if s.type == "VECTOR":
            default = tuple(float(x) for x in (default or (0.0, 0.0, 0.0)))
        elif s.type == "VALUE":
            default = float(default or 0.0)
        elif s.type == "INT":
            default = int(default or 0)
        elif s.type == "BOOLEAN":
            default = bool(default)
        p = Parameter(name=s.name, identifier=s.identifier, type=s.type, default=default, subtype=s.subtype)
        if s.type == "BOOLEAN":
            p = replace(p, choices=(False, True))
        elif s.type == "MENU":
            p = replace(p, choices=tuple(s.items or ()))
        elif s.type == "VALUE" and _finite(s.min, FLT_MAX_ISH) and _finite(s.max, FLT_MAX_ISH):
            p = replace(p, low=float(s.min), high=float(s.max))
        elif s.type == "VECTOR" and _finite(s.min, FLT_MAX_ISH) and _finite(s.max, FLT_MAX_ISH):
            p = replace(p, low=(float(s.min),) * 3, high=(float(s.max),) * 3)
        elif s.type == "INT" and _finite(s.min, INT_UNBOUNDED) and _finite(s.max, INT_UNBOUNDED) and s.max - s.min < MAX_CHOICES:
            p = replace(p, low=int(s.min), high=int(s.max), choices=tuple(range(int(s.min), int(s.max) + 1)))
        else:
            p = replace(p, range_source="default")
        params.append(p)
    specs, source, where = _sidecar_specs(program, sidecar)
    if specs:
        names = {p.name for p in params}
        for name in specs:
            if name not in names:
                raise ProgramError(f"{where}: no parameter named '{name}' in the program (parameters: {', '.join(sorted(names))})")
        params = [_apply_range(p, specs[p.name], source, where) if p.name in specs else p for p in params]
    space = ParameterSpace(params)
    if analyze:
        analyze_dependencies(program, space)
    return space


def _sidecar_specs(program: Program, sidecar: str | Path | dict | None) -> tuple[dict, str, str]:
    if isinstance(sidecar, dict):
        return sidecar, "sidecar", "sidecar"
    if sidecar is None:
        for src in (program.path, program.source):
            if src:
                cand = Path(src).with_suffix(".params.json")
                if cand.is_file():
                    return load_sidecar(cand), "sidecar", str(cand)
        return {}, "", ""
    path = Path(sidecar)
    data = read_json(path, "parameter ranges file")
    if isinstance(data, dict) and "params" in data and "parameters" not in data:
        return import_pytorchgeonodes_config(path, data), "sp_config", str(path)
    return load_sidecar(path, data), "sidecar", str(path)


# ---------------------------------------------------------------------------
# Values from text and dicts (CLI --set / --lock, JSON parameter sets)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def parse_value(p: Parameter, text: str) -> Any:
    """Parse ``text`` as a value of ``p`` (float; ``x,y,z``; int; true/false; menu item), checked like
    :func:`check_values` (finite, within the parameter's range)."""
    t = text.strip()
    value: Any = None
    try:
        if p.type == "VALUE":
            value = float(t)
        elif p.type == "VECTOR":
            value = tuple(float(x) for x in t.strip("()[] ").split(","))
            if len(value) != 3:
                raise ValueError
        elif p.type == "INT":
            v = float(t)
            if not (math.isfinite(v) and v == int(v)):
                raise ValueError
            value = int(v)
        elif p.type == "BOOLEAN":
            if t.lower() not in _TRUE | _FALSE:
                raise ValueError
            value = t.lower() in _TRUE
        else:
            if p.choices and t not in p.choices:
                raise ValueError
            value = t
    except ValueError:
        expected = {"VALUE": "a number", "VECTOR": "x,y,z", "INT": "an integer", "BOOLEAN": "true or false",
                    "MENU": f"one of {list(p.choices or ())}"}[p.type]
        raise ProgramError(f"parameter '{p.name}': cannot read {text!r} as {expected}") from None
    return check_value(p, value)


def parse_assignments(space: ParameterSpace, items: Iterable[str]) -> dict[str, Any]:
    """``["Width=1.2", "Legs Type=2"]`` -> ``{"Width": 1.2, "Legs Type": 2}`` (names and values checked)."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ProgramError(f"expected NAME=VALUE, got {item!r}")
        name, text = item.split("=", 1)
        name = name.strip()
        try:
            p = space[name]
        except KeyError:
            raise ProgramError(f"unknown parameter '{name}' (parameters: {', '.join(repr(q.name) for q in space)})") from None
        out[p.name] = parse_value(p, text)
    return out


_ROUNDING = 1e-6
"""Values this far (relative) outside a range are taken as its end: a float32 computation at a bound
(a fit's result read back as float64) lands up to an ulp beyond it."""


def _within(v: float, lo: float | None, hi: float | None) -> float | None:
    """``v`` clamped to ``[lo, hi]`` when it is inside up to rounding; None when it is outside."""
    if lo is not None and v < lo:
        return lo if lo - v <= _ROUNDING * max(1.0, abs(lo)) else None
    if hi is not None and v > hi:
        return hi if v - hi <= _ROUNDING * max(1.0, abs(hi)) else None
    return v


def check_value(p: Parameter, v: Any, prefix: str = "") -> Any:
    """One value of ``p`` (JSON data or parsed text), checked and normalised: the right type, finite, within
    the parameter's range or choices. :class:`ProgramError` naming the parameter (and the range) otherwise.
    Values outside a range are refused, not clamped."""
    is_number = isinstance(v, (int, float)) and not isinstance(v, bool)
    ok = {
        "VALUE": is_number,
        "VECTOR": isinstance(v, (list, tuple)) and len(v) == 3 and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                                                      for x in v),
        "INT": is_number and (isinstance(v, int) or (is_finite_number(v) and v == int(v))),
        "BOOLEAN": isinstance(v, bool) or (isinstance(v, int) and v in (0, 1)),
        "MENU": isinstance(v, str) and (not p.choices or v in p.choices),
    }[p.type]
    expected = {"VALUE": "a number", "VECTOR": "3 numbers", "INT": "an integer", "BOOLEAN": "true or false",
                "MENU": f"one of {list(p.choices or ())}"}[p.type]
    if not ok:
        raise ProgramError(f"{prefix}parameter '{p.name}' ({p.type.lower()}): bad value {shown(v)}, expected {expected}")
    if p.type in ("VALUE", "VECTOR"):
        if not all(is_finite_number(x) for x in (v if p.type == "VECTOR" else [v])):
            raise ProgramError(f"{prefix}parameter '{p.name}': {shown(v)} is not a finite number")
        xs = [float(x) for x in (v if p.type == "VECTOR" else [v])]
        lows = p.low if isinstance(p.low, tuple) else (p.low,) * len(xs)
        highs = p.high if isinstance(p.high, tuple) else (p.high,) * len(xs)
        inside = [_within(x, lo, hi) for x, lo, hi in zip(xs, lows, highs, strict=True)]
        if any(x is None for x in inside):
            raise ProgramError(f"{prefix}parameter '{p.name}' = {shown(v)} is outside its range {p.describe_range()}")
        return inside[0] if p.type == "VALUE" else tuple(inside)
    if p.type == "INT":
        v = int(v)
        outside = (p.choices is not None and v not in p.choices) or (p.low is not None and not p.low <= v <= p.high)
        if outside or not -(2**31) <= v < 2**31:
            raise ProgramError(f"{prefix}parameter '{p.name}' = {shown(v)} is outside its range "
                               f"{p.describe_range() if p.low is not None or p.choices else 'of 32-bit integers'}")
        return v
    if p.type == "BOOLEAN":
        return bool(v)
    return v


def check_values(space: ParameterSpace, values: dict[str, Any], where: str = "") -> dict[str, Any]:
    """Validate a ``{name: value}`` mapping (JSON data) with :func:`check_value`; returns it keyed by
    parameter name."""
    out: dict[str, Any] = {}
    prefix = f"{where}: " if where else ""
    for k, v in values.items():
        try:
            p = space[k]
        except KeyError:
            raise ProgramError(f"{prefix}unknown parameter '{k}'") from None
        out[p.name] = check_value(p, v, prefix)
    return out


def split_values(space: ParameterSpace, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split ``{name: value}`` into the program's ``(discrete, continuous)`` arguments (Python values)."""
    d, c = {}, {}
    for k, v in values.items():
        (d if space[k].kind == "discrete" else c)[space[k].name] = v
    return d, c
