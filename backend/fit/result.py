"""What a fit returns (:class:`FitResult`) and how it is stored (``result.json``) and read back
(:func:`load_result`)."""

from __future__ import annotations

import platform
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, PlainValidator

from translator import __version__
from translator.geometry import MeshBatch
from translator.validation import ContinuousValue, DiscreteValue, StrictStr, is_finite_number, read_json, validate

from ..options import config_to_dict
from .config import FitConfig

__all__ = ["FitError", "FitInterrupted", "FitResult", "check_pose", "load_result", "software_versions"]


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
    """Seconds: ``search_s`` (the whole fit, setting up included: what the budget limits), ``search_cpu_s`` (the
    CPU time of the fit's process meanwhile: on a machine shared with other work, the time the fit would have
    taken alone, with one torch thread), ``setup_s``, the
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
    scan_fit: dict[str, float] = field(default_factory=dict)
    """How well the fitted mesh explains the scan (:func:`backend.scan_metrics.scan_fit_metrics`: accuracy,
    completeness, F-scores), filled in when the output folder is written."""
    flags: list[str] = field(default_factory=list)
    """What to know about the object's scan (fit-scene: raised, cut by the scan's edge, few points, ...)."""
    undecided: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Parameters the scan could not decide (fit-scene): name -> ``prior`` (the value it was kept at) and, for a
    length, ``evidence`` (the supported fraction of the surface it moves), for a discrete parameter
    ``objective_ratio`` (the prior's objective over the fitted value's) and ``fitted``."""
    mesh: MeshBatch | None = field(default=None, repr=False)
    """The fitted mesh in world coordinates (not serialised)."""

    @property
    def values(self) -> dict[str, Any]:
        return {**self.discrete, **self.continuous}

    @property
    def evaluations_per_s(self) -> float:
        """The fit's speed: objective evaluations (candidates x Adam steps, each with its backward) per second
        of the whole fit (``timings["search_s"]``, setting up included); 0 before any."""
        seconds = float(self.timings.get("search_s", 0.0))
        return float(self.evaluations) / seconds if seconds > 0 else 0.0

    @property
    def evaluations_per_cpu_s(self) -> float:
        """Objective evaluations per CPU second of the fit's process (``timings["search_cpu_s"]``): its speed on an
        unshared core, whatever else the machine ran; 0 when not recorded."""
        seconds = float(self.timings.get("search_cpu_s", 0.0))
        return float(self.evaluations) / seconds if seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        """The result as JSON-ready data (``result.json``), without the mesh; ``evaluations_per_s`` beside
        ``evaluations``."""
        d: dict[str, Any] = {}
        for f in fields(self):
            if f.name != "mesh":
                d[f.name] = config_to_dict(getattr(self, f.name))
            if f.name == "evaluations":
                d["evaluations_per_s"] = round(self.evaluations_per_s, 2)
                d["evaluations_per_cpu_s"] = round(self.evaluations_per_cpu_s, 2)
        d["software"] = software_versions()
        return d


class _ResultFile(BaseModel):
    """What ``edit``, ``fit --init`` and ``fit --config`` read from a result.json (other keys are kept)."""

    model_config = ConfigDict(extra="allow")
    program: StrictStr
    discrete: dict[str, DiscreteValue]
    continuous: dict[str, ContinuousValue]
    world_from_program: Annotated[Any, PlainValidator(lambda m: check_pose(m).tolist())]


def check_pose(data: Any, max_scale: float = 4.0) -> np.ndarray:
    """``data`` (nested lists) as a ``(4, 4)`` float64 matrix; ``ValueError`` unless it is 4x4 of finite numbers,
    a rotation + translation with a uniform scale within ``[1 / max_scale, max_scale]`` (what a fit returns):
    bottom row ``0 0 0 1``, no shear, no mirror."""
    rows = data if isinstance(data, (list, tuple)) else []
    shape = f"{len(rows)}x{len(rows[0]) if rows and isinstance(rows[0], (list, tuple)) else 0}"
    if not (len(rows) == 4 and all(isinstance(r, (list, tuple)) and len(r) == 4 for r in rows)):
        raise ValueError(f"must be a 4x4 matrix (4 rows of 4 numbers), got {shape if rows else type(data).__name__}")
    if not all(is_finite_number(x) for r in rows for x in r):
        raise ValueError("must hold finite numbers only")
    m = np.asarray(rows, dtype=np.float64)
    if np.abs(m[3] - [0.0, 0.0, 0.0, 1.0]).max() > 1e-6:
        raise ValueError("the bottom row must be 0 0 0 1")
    r = m[:3, :3]
    if np.abs(m).max() > 1e12:
        raise ValueError("holds values too large for a pose (over 1e12)")
    det = float(np.linalg.det(r))
    if det <= 0:
        raise ValueError("not a rotation (it mirrors or collapses space)")
    scale = det ** (1.0 / 3.0)
    if not 1.0 / max_scale <= scale <= max_scale:
        raise ValueError(f"its scale {scale:.4g} is outside [{1 / max_scale:g}, {max_scale:g}]")
    if np.abs(r.T @ r / scale**2 - np.eye(3)).max() > 1e-4:
        raise ValueError("not a rigid transform: its rotation part is not orthogonal (shear or uneven scale)")
    return m


def load_result(path: str | Path) -> dict[str, Any]:
    """Read and check a result.json (one-line :class:`FitError` naming the file and field): the program, the
    discrete and continuous values (finite) and a rigid 4x4 pose. Returns its JSON data."""
    data = read_json(path, "result.json", FitError)
    if not isinstance(data, dict) or "discrete" not in data or "continuous" not in data:
        raise FitError(f"{path}: not a ShapeProg result.json (no 'discrete'/'continuous')")
    validate(_ResultFile, data, str(path), FitError)
    return data
