"""Evaluate a compiled program for many parameter value sets at once (what ``shapeprog eval
--params-file`` and the galleries need)."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import torch

from translator.geometry import MeshBatch
from translator.params import ParameterSpace, split_values

__all__ = ["evaluate_sets"]


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
