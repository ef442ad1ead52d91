"""The HTTP API's request and response bodies (pydantic), as docs/api.md describes them, and the
one-line form of a validation error (:func:`one_line_error`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator

from ..fit.config import FitConfig
from ..fit.pipeline import MIN_BUDGET_S

__all__ = ["Health", "Job", "JobList", "JobOptions", "JobRequest", "Parameter", "Program", "ProgramList", "Progress",
           "ScanFrames", "ScanPly", "ScanPoints", "field_error", "one_line_error"]

_D = FitConfig()


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class ScanPoints(_Strict):
    """A point cloud inline: ``[[x, y, z], ...]`` in metres, world coordinates (z up)."""

    points: list[tuple[float, float, float]] = Field(min_length=1)


class ScanPly(_Strict):
    """A ``.ply`` file (point cloud or mesh), base64-encoded."""

    ply: str = Field(min_length=1)


class ScanFrames(_Strict):
    """A zip of an RGB-D frame folder in ScanNet's exported layout, base64-encoded."""

    frames_zip: str = Field(min_length=1)
    instance_id: int | None = Field(None, ge=0, description="the object's id in instance-filt/ masks")
    every: int = Field(1, ge=1, description="use every k-th frame")
    max_frames: int | None = Field(8, ge=1, description="at most this many frames")


def _scan_kind(v: Any) -> str | None:
    if isinstance(v, dict):
        for key in ("points", "ply", "frames_zip"):
            if key in v:
                return key
    elif isinstance(v, BaseModel):
        return {ScanPoints: "points", ScanPly: "ply", ScanFrames: "frames_zip"}.get(type(v))
    return None


Scan = Annotated[
    Annotated[ScanPoints, Tag("points")] | Annotated[ScanPly, Tag("ply")] | Annotated[ScanFrames, Tag("frames_zip")],
    Discriminator(_scan_kind, custom_error_type="scan_kind",
                  custom_error_message="give the scan as an object with 'points', 'ply' or 'frames_zip'"),
]


class JobOptions(_Strict):
    """The fit's settings; each has :class:`~backend.fit.FitConfig`'s default. ``config`` takes any other
    FitConfig field (nested: ``{"objective": {"depth_weight": 0.5}}``); the named options win over it."""

    method: Literal["mcts", "ga", "cd", "exhaustive"] = _D.method
    budget: float = Field(_D.budget, ge=MIN_BUDGET_S, description="time budget in seconds")
    seed: int = Field(_D.seed, ge=0)
    max_evaluations: int | None = Field(_D.max_evaluations, ge=1)
    device: Literal["cpu", "cuda"] | None = Field(None, description="default: the server's --device")
    scale_slack: float = Field(_D.scale_slack, ge=0.0, le=1.0)
    locks: dict[str, Any] = Field(default_factory=dict)
    init: dict[str, Any] | None = None
    init_pose: list[list[float]] | None = None
    config: dict[str, Any] = Field(default_factory=dict)

    @field_validator("init_pose")
    @classmethod
    def _four_by_four(cls, v: list[list[float]] | None) -> list[list[float]] | None:
        if v is not None and (len(v) != 4 or any(len(row) != 4 for row in v)):
            raise ValueError("expected a 4x4 matrix (a list of 4 rows of 4 numbers)")
        return v


class JobRequest(_Strict):
    """``POST /v1/jobs``: a program (library name, uploaded id or an IR document), a scan and options."""

    program: str | dict[str, Any]
    scan: Scan | None = None
    options: JobOptions = Field(default_factory=JobOptions)
    label: str = Field("", max_length=200)


class Progress(BaseModel):
    fraction: float = 0.0
    step: int = 0
    evaluations: int = 0
    best_objective: float | None = None
    best_values: dict[str, Any] = Field(default_factory=dict)
    best_pose: list[list[float]] | None = None
    elapsed: float = 0.0
    phase: str = "search"


class Job(BaseModel):
    id: str
    state: Literal["queued", "running", "succeeded", "failed", "cancelled", "interrupted"]
    label: str = ""
    program: str
    created: str
    started: str | None = None
    finished: str | None = None
    progress: Progress | None = None
    error: str | None = None
    files: list[str] = Field(default_factory=list)
    options: dict[str, Any] = Field(default_factory=dict)
    retry_of: str | None = None


class JobList(BaseModel):
    jobs: list[Job]


class Parameter(BaseModel):
    name: str
    kind: Literal["continuous", "discrete"]
    type: str
    subtype: str
    default: Any
    range: list[Any] | None = None
    choices: list[Any] | None = None
    active_when: str


class Program(BaseModel):
    id: str
    name: str
    object: str = Field("", description="the IR's object name: the object in the program's .blend that carries it "
                                        "(empty when the IR names none)")
    source: Literal["library", "upload"]
    sha256: str
    parameters: list[Parameter]


class ProgramList(BaseModel):
    programs: list[Program]


class Workers(BaseModel):
    total: int
    busy: int
    free: int


class Health(BaseModel):
    version: str
    devices: list[str]
    executor: Literal["local", "ray"]
    workers: Workers
    queue: int


def field_error(field: str, message: str) -> str:
    """``field: message`` as one line, without repeating the field when the message already starts with it
    (``program: missing field 'entry'``, not ``program: program: ...``; ``program must be ...`` becomes
    ``program: must be ...``)."""
    text = " ".join(str(message).split())
    if text.startswith(f"{field}:"):
        return text
    if text.startswith(f"{field} "):
        text = text[len(field) + 1:]
    return f"{field}: {text}"


def one_line_error(errors: list[dict[str, Any]], prefix: tuple = ()) -> str:
    """pydantic's errors as one line naming the first field at fault: ``options.budget: Input should be
    greater than or equal to 2``."""
    if not errors:
        return "invalid request"
    e = errors[0]
    loc: list[str] = []
    for part in (*prefix, *e.get("loc", ())):
        if part == "body" or (loc and str(part) == loc[-1]):
            continue  # FastAPI's 'body' and a tagged union's repeated tag
        loc.append(str(part))
    msg = " ".join(str(e.get("msg", "invalid")).split()).removeprefix("Value error, ")
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
    return f"{'.'.join(loc) or 'request'}: {msg}{more}"
