"""Evaluate a compiled program for many parameter value sets at once (what ``shapeprog eval
--params-file`` and the galleries need)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from pydantic import RootModel

from translator.geometry import MeshBatch
from translator.ir import ProgramError
from translator.params import ParameterSpace, check_values, split_values
from translator.validation import ParameterValue, read_json, validate

__all__ = ["evaluate_sets", "load_parameter_sets"]

_PARAMETER_SETS = RootModel[list[dict[str, ParameterValue]]]
"""A parameter sets file: a list of ``{parameter name: value}`` objects (finite numbers, 3-vectors, booleans,
integers, menu item names)."""


def load_parameter_sets(path: str | Path, space: ParameterSpace, base: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Read a parameter sets file (``shapeprog eval --params-file``) and check every value against ``space``
    (finite, in range); each set is laid over ``base``. One-line :class:`ProgramError` naming the file, the
    item and the parameter."""
    data = read_json(path, "parameter sets file")
    if not isinstance(data, list):
        raise ProgramError(f"{path}: expected a JSON list of {{parameter name: value}} objects")
    sets = validate(_PARAMETER_SETS, data, str(path)).root
    return [{**(base or {}), **check_values(space, d, where=f"{path} item {i}")} for i, d in enumerate(sets)]


def evaluate_sets(module: ModuleType, space: ParameterSpace, sets: list[dict[str, Any]]) -> list[MeshBatch]:
    """Evaluate parameter value sets ``{name: value}`` with a compiled program ``module``, batching the sets
    that share discrete values; returns one :class:`~translator.geometry.MeshBatch` (``B = 1``) per set,
    in the order of ``sets``."""
    results: list = [None] * len(sets)
    groups: dict[tuple, list[int]] = {}
    for i, values in enumerate(sets):
        d, _ = split_values(space, values)
        groups.setdefault(tuple(sorted(d.items())), []).append(i)
    for key, idx in groups.items():
        discrete = dict(key)
        cont_names = sorted({k for i in idx for k in sets[i] if space[k].kind == "continuous"})
        continuous = {}
        for name in cont_names:
            p = space[name]
            vals = [sets[i].get(name, p.default) for i in idx]
            continuous[name] = torch.tensor(vals, dtype=torch.float32)
        for sub_idx, mesh in module.program_grouped(discrete, continuous):
            for j, k in enumerate(sub_idx.tolist()):
                results[idx[k]] = mesh[j]
    return results
