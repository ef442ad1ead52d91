"""What a fit returns (:class:`FitResult`) and how it is stored (``result.json``) and read back
(:func:`load_result`)."""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from translator import __version__
from translator.geometry import MeshBatch

from ..options import config_to_dict
from .config import FitConfig

__all__ = ["FitError", "FitInterrupted", "FitResult", "load_result", "software_versions"]


class FitError(ValueError):
    """The fit cannot run on these inputs (one line saying why)."""


class FitInterrupted(Exception):
    """The fit was asked to stop before it had any candidate to return."""


def software_versions() -> dict[str, str]:
    """The versions that decide a fit's numbers: shapeprog, torch, numpy, Python."""
    return {"shapeprog": __version__, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


@dataclass
class FitResult:
    program: str
    method: str
    seed: int
    discrete: dict[str, Any]
    continuous: dict[str, Any]
    world_from_program: list[list[float]]
    yaw: float
    translation: list[float]
    scale: float
    objective: float
    terms: dict[str, float]
    timings: dict[str, float]
    """Seconds: ``search_s`` (the whole fit, setting up included: what the budget limits), ``setup_s``, the
    refinements of each phase (``phase_pilot_s``, ``phase_search_s``, ``phase_final_s``, ``phase_warm_start_s``)
    and ``outputs_s`` (writing the output folder)."""
    evaluations: int
    history: list[list]
    """``[seconds, best objective, phase]`` over the search: phase "search", or "final" for the final
    refinement under the finer objective (another scale)."""
    config: FitConfig = field(default_factory=FitConfig)
    """The whole config tree the fit ran with."""
    status: str = "succeeded"
    """``succeeded``, or ``interrupted`` when a stop request ended the search early (the result is then the
    best candidate found so far, its objective the search's, not the final refinement's)."""
    provenance: dict[str, Any] = field(default_factory=dict)
    """What the result came from: ``program_sha256`` (of the program's IR), ``scan_sha256`` (of the
    observations' points and frames), ``software`` (:func:`software_versions`), and the command's
    ``inputs`` (file paths and reader options) when a command wrote it."""
    version: str = __version__
    warnings: list[str] = field(default_factory=list)
    mesh: MeshBatch | None = field(default=None, repr=False)
    """The fitted mesh in world coordinates (not serialised)."""

    @property
    def values(self) -> dict[str, Any]:
        return {**self.discrete, **self.continuous}

    def to_json(self) -> dict[str, Any]:
        """The result as JSON-ready data (``result.json``), without the mesh."""
        d = {f.name: config_to_dict(getattr(self, f.name)) for f in fields(self) if f.name != "mesh"}
        d["software"] = software_versions()
        return d


def load_result(path: str | Path) -> dict:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise FitError(f"{path}: no such file") from None
    except json.JSONDecodeError as exc:
        raise FitError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(data, dict) or "discrete" not in data or "continuous" not in data:
        raise FitError(f"{path}: not a ShapeProg result.json (no 'discrete'/'continuous')")
    return data
