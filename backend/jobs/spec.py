"""What a fit job is (:class:`JobSpec`), what it ends with (:class:`JobOutcome`) and the states a job
goes through (:data:`STATES`). Plain data: specs and outcomes travel to worker processes and Ray tasks
and back (``to_dict`` / ``from_dict``)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

__all__ = ["ACTIVE_STATES", "FINAL_STATES", "STATES", "JobOutcome", "JobSpec", "progress_record"]

STATES = ("queued", "running", "succeeded", "failed", "cancelled", "interrupted")
"""Every state a job can be in."""
ACTIVE_STATES = ("queued", "running")
"""States of a job that has not ended."""
FINAL_STATES = ("succeeded", "failed", "cancelled", "interrupted")
"""States of a job that has ended (``interrupted``: the server stopped while it ran)."""


@dataclass
class JobSpec:
    """One fit to run: the program, the scan (with its readers' options), the fit's settings and where
    to write the output folder.

    Relative file paths (``program`` when it is a file, ``scan``, ``frames``, ``ranges``) are relative
    to ``inputs_dir``; the files under ``inputs_dir`` travel with the job to a Ray worker on another
    machine, every other path must be readable there."""

    id: str
    """The job's id (also names it in logs and progress messages)."""
    program: str
    """A library program's name (``chair``) or a program file (``.json`` IR or ``.blend``)."""
    output: str
    """The output folder (result.json, fitted.ply/.obj, fitted.blend, report.png)."""
    scan: str | None = None
    """A ``.ply`` scan, or a ScanNet scene (folder or ``_vh_clean_2.ply``) with ``object_id``."""
    frames: str | None = None
    """An RGB-D frame folder in ScanNet's exported layout."""
    instance_id: int | None = None
    """With ``frames``: the object's id in the instance masks."""
    object_id: int | None = None
    """With a ScanNet scene: the aggregation object id."""
    every: int = 1
    """With ``frames``: use every k-th frame."""
    max_frames: int | None = 8
    """With ``frames``: at most this many frames."""
    ranges: str | None = None
    """Parameter ranges: a ``NAME.params.json`` sidecar or a PyTorchGeoNodes ``sp_*.json``."""
    config: dict[str, Any] = field(default_factory=dict)
    """The fit's :class:`~backend.fit.FitConfig` as data (:func:`backend.options.config_to_dict`; missing
    keys keep their defaults)."""
    inputs_dir: str | None = None
    """The folder relative paths start from; its files travel with the job."""
    threads: int = 1
    """Torch threads for this fit."""
    label: str = ""
    """Free text for listings and logs."""
    scene_object: str | None = None
    """One object of a scanned scene (``shapeprog fit-scene``): its ``object.json`` (points, surroundings, frame;
    :mod:`backend.scene.job`), in place of ``scan`` / ``frames``."""

    def path(self, value: str | None) -> str | None:
        """``value`` resolved against :attr:`inputs_dir` when it is a relative path."""
        if value is None or self.inputs_dir is None or Path(value).is_absolute():
            return value
        return str(Path(self.inputs_dir) / value)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobSpec:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class JobOutcome:
    """How a job ended."""

    state: str
    """``succeeded``, ``failed`` or ``cancelled`` (a cancelled fit that had a candidate keeps its result,
    marked ``interrupted`` in result.json)."""
    error: str | None = None
    """One line saying why, for ``failed``."""
    files: list[str] = field(default_factory=list)
    """Names of the files written into the output folder."""
    objective: float | None = None
    evaluations: int | None = None
    seconds: float = 0.0
    """Wall time of the job in its worker."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobOutcome:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def _plain(v: Any) -> Any:
    """JSON-ready: tuples as lists, non-finite floats as None."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (str, int, bool)) or v is None:
        return v
    return str(v)


def progress_record(p: dict[str, Any]) -> dict[str, Any]:
    """A fit's progress report (the dict :func:`backend.fit.fit` passes to its callback) as the job's
    ``progress``: fraction, step, evaluations, best objective, best values and pose, elapsed, phase."""
    values = p.get("best_values")
    if values is None:
        values = {k: v for k, v in (p.get("best_config") or {}).items() if not str(k).startswith("__")}
    return _plain({
        "fraction": float(p.get("fraction", 0.0)),
        "step": int(p.get("step", 0)),
        "evaluations": int(p.get("evaluations", 0)),
        "best_objective": p.get("best_objective"),
        "best_values": values,
        "best_pose": p.get("best_pose"),
        "elapsed": float(p.get("elapsed", 0.0)),
        "phase": p.get("phase", "search"),
    })
