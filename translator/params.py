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

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .dependencies import Condition, analyze_dependencies, live_parameters
from .ir import Program, ProgramError

__all__ = [
    "Condition",
    "Parameter",
    "ParameterSpace",
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
                return "unbounded"
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


def load_sidecar(path: str | Path) -> dict[str, dict]:
    """Read a ``NAME.params.json`` sidecar: ``{name: {"range": [lo, hi]} | {"choices": [...]}}``."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ProgramError(f"{path}: cannot read parameter ranges: {exc}") from None
    params = data.get("parameters") if isinstance(data, dict) else None
    if not isinstance(params, dict):
        raise ProgramError(f"{path}: expected {{\"parameters\": {{name: {{...}}}}}}")
    for name, spec in params.items():
        if not isinstance(spec, dict):
            raise ProgramError(f"{path}: parameter '{name}' must be an object")
        rng = spec.get("range")
        if rng is not None and not (isinstance(rng, list) and len(rng) == 2):
            raise ProgramError(f"{path}: parameter '{name}': 'range' must be [low, high]")
    return params


def import_pytorchgeonodes_config(path: str | Path) -> dict[str, dict]:
    """Read a PyTorchGeoNodes ``sp_*.json`` config into sidecar form (``range``, ``depends``).

    Nested groups are flattened; ``or_dependencies`` (also the misspelt
    ``or_dependcies``) become ``depends``: a list of ``[name, value]`` pairs or
    bare names (meaning ``name == True``), any of which activates the parameter.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ProgramError(f"{path}: cannot read config: {exc}") from None
    out: dict[str, dict] = {}

    def walk(params: dict) -> None:
        for name, spec in params.items():
            if not isinstance(spec, dict):
                raise ProgramError(f"{path}: '{name}' must be an object")
            if spec.get("type") == "nested":
                walk(spec.get("params", {}))
                continue
            entry: dict[str, Any] = {"type": spec.get("type")}
            if "range" in spec:
                entry["range"] = spec["range"]
            deps = spec.get("or_dependencies", spec.get("or_dependcies"))
            if deps:
                entry["depends"] = deps
            out[name] = entry

    if not isinstance(data, dict) or not isinstance(data.get("params"), dict):
        raise ProgramError(f"{path}: not a PyTorchGeoNodes shape-program config (no 'params')")
    walk(data["params"])
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
        lo3 = tuple(float(x) for x in (lo if isinstance(lo, list) else [lo] * 3))
        hi3 = tuple(float(x) for x in (hi if isinstance(hi, list) else [hi] * 3))
        return replace(p, low=lo3, high=hi3, range_source=source)
    if p.type == "INT":
        lo, hi = int(lo), int(hi)
        if hi < lo:
            raise ProgramError(f"{where}: parameter '{p.name}': empty range [{lo}, {hi}]")
        return replace(p, low=lo, high=hi, choices=tuple(range(lo, hi + 1)), range_source=source)
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
        elif s.type == "INT" and _finite(s.min, INT_UNBOUNDED) and _finite(s.max, INT_UNBOUNDED) and s.max - s.min <= 4096:
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
    if not path.is_file():
        raise ProgramError(f"{path}: no such parameter file")
    text = path.read_text()
    if '"params"' in text and '"parameters"' not in text:
        return import_pytorchgeonodes_config(path), "sp_config", str(path)
    return load_sidecar(path), "sidecar", str(path)


# ---------------------------------------------------------------------------
# Values from text and dicts (CLI --set / --lock, JSON parameter sets)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def parse_value(p: Parameter, text: str) -> Any:
    """Parse ``text`` as a value of ``p`` (float; ``x,y,z``; int; true/false; menu item)."""
    t = text.strip()
    try:
        if p.type == "VALUE":
            return float(t)
        if p.type == "VECTOR":
            parts = [float(x) for x in t.strip("()[] ").split(",")]
            if len(parts) != 3:
                raise ValueError
            return tuple(parts)
        if p.type == "INT":
            v = float(t)
            if v != int(v):
                raise ValueError
            return int(v)
        if p.type == "BOOLEAN":
            if t.lower() in _TRUE:
                return True
            if t.lower() in _FALSE:
                return False
            raise ValueError
        if p.type == "MENU":
            if p.choices and t not in p.choices:
                raise ValueError
            return t
    except ValueError:
        pass
    expected = {"VALUE": "a number", "VECTOR": "x,y,z", "INT": "an integer", "BOOLEAN": "true or false",
                "MENU": f"one of {list(p.choices or ())}"}[p.type]
    raise ProgramError(f"parameter '{p.name}': cannot read {text!r} as {expected}")


def parse_assignments(space: ParameterSpace, items: Iterable[str]) -> dict[str, Any]:
    """``["Width=1.2", "Legs Type=2"]`` -> ``{"Width": 1.2, "Legs Type": 2}`` (names checked)."""
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


def check_values(space: ParameterSpace, values: dict[str, Any], where: str = "") -> dict[str, Any]:
    """Validate a ``{name: value}`` mapping (JSON data); returns it keyed by parameter name."""
    out: dict[str, Any] = {}
    prefix = f"{where}: " if where else ""
    for k, v in values.items():
        try:
            p = space[k]
        except KeyError:
            raise ProgramError(f"{prefix}unknown parameter '{k}'") from None
        ok = {
            "VALUE": isinstance(v, (int, float)) and not isinstance(v, bool),
            "VECTOR": isinstance(v, (list, tuple)) and len(v) == 3 and all(isinstance(x, (int, float)) for x in v),
            "INT": isinstance(v, int) and not isinstance(v, bool) or (isinstance(v, float) and v == int(v)),
            "BOOLEAN": isinstance(v, bool) or v in (0, 1),
            "MENU": isinstance(v, str) and (not p.choices or v in p.choices),
        }[p.type]
        if not ok:
            raise ProgramError(f"{prefix}parameter '{p.name}' ({p.type.lower()}): bad value {v!r}")
        if p.type == "VALUE":
            v = float(v)
        elif p.type == "VECTOR":
            v = tuple(float(x) for x in v)
        elif p.type == "INT":
            v = int(v)
        elif p.type == "BOOLEAN":
            v = bool(v)
        out[p.name] = v
    return out


def split_values(space: ParameterSpace, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split ``{name: value}`` into the program's ``(discrete, continuous)`` arguments (Python values)."""
    d, c = {}, {}
    for k, v in values.items():
        (d if space[k].kind == "discrete" else c)[space[k].name] = v
    return d, c
