"""Batch manifests: many fits described in one JSON or CSV file (:func:`read_manifest`).

Each row names a program and one object's scan, with the fit's options:

* ``program``: a library name or a program file (``.json`` / ``.blend``);
* ``scan`` (a ``.ply``, or a ScanNet scene with ``object_id``) and/or ``frames`` (a frame folder, with
  ``instance_id``); ``every`` and ``max_frames`` for frames;
* ``options``: :class:`~backend.fit.FitConfig` fields (``{"budget": 30, "mcts": {"refine_steps": 4}}``);
  in a CSV, a JSON object in the ``options`` column and/or columns named after top-level settings
  (``method``, ``budget``, ``seed``, ``max_evaluations``, ``device``, ``scale_slack``);
* ``name`` (optional): the row's output folder, ``OUT/<name>`` (default: its number, program and scan).

JSON: a list of row objects, or ``{"rows": [...]}``. Relative paths are relative to the manifest's
folder. A row that cannot even be read becomes a :class:`BatchRow` with an ``error`` and is never run;
everything else is checked where it runs, and fails there with its one-line message.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .spec import JobSpec

__all__ = ["BatchRow", "ManifestError", "is_complete", "read_manifest"]

_SETTINGS = ("method", "budget", "seed", "max_evaluations", "device", "scale_slack", "min_points")
_INTS = ("instance_id", "object_id", "every", "max_frames", "seed", "max_evaluations", "min_points")
_FLOATS = ("budget", "scale_slack")
_FIELDS = ("name", "program", "scan", "frames", "instance_id", "object_id", "every", "max_frames", "ranges", "options")


@dataclass
class BatchRow:
    """One row of a manifest: its number (from 1), output folder name, what it fits and its spec (None
    with an ``error`` when the row cannot be read)."""

    index: int
    name: str
    program: str
    scan: str
    spec: JobSpec | None
    error: str | None = None


def is_complete(folder: Path) -> bool:
    """Whether ``folder`` holds a finished fit (a result.json whose fit was not interrupted)."""
    try:
        data = json.loads((folder / "result.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("status", "succeeded") == "succeeded"


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._")[:80] or "row"


class ManifestError(ValueError):
    """The file is not a manifest at all (one line naming it)."""


def _rows(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read the manifest ({exc.strerror or exc})") from None
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(text.splitlines())
        if not reader.fieldnames or "program" not in reader.fieldnames:
            raise ManifestError(f"{path}: a CSV manifest needs a header row with a 'program' column")
        return [{k.strip(): (v.strip() if isinstance(v, str) else v) for k, v in r.items() if k and v not in (None, "")}
                for r in reader]
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{path}: not valid JSON: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("rows"), list):
        data = data["rows"]
    if not isinstance(data, list):
        raise ManifestError(f"{path}: a JSON manifest is a list of rows (or {{\"rows\": [...]}})")
    return data


def _row(raw: Any, base: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """A row's spec fields and options, or ValueError."""
    if not isinstance(raw, dict):
        raise ValueError(f"expected an object, got {type(raw).__name__}")
    options = raw.get("options") or {}
    if isinstance(options, str):
        try:
            options = json.loads(options)
        except json.JSONDecodeError as exc:
            raise ValueError(f"options: not a JSON object: {exc}") from None
    if not isinstance(options, dict):
        raise ValueError("options: expected an object of fit settings")
    options = dict(options)
    unknown = sorted(set(raw) - set(_FIELDS) - set(_SETTINGS))
    if unknown:
        raise ValueError(f"unknown column(s) {', '.join(map(repr, unknown))}")
    for key in _SETTINGS:
        if key in raw:
            options[key] = raw[key]
    fields: dict[str, Any] = {k: raw[k] for k in ("program", "scan", "frames", "instance_id", "object_id", "every",
                                                    "max_frames", "ranges") if raw.get(k) not in (None, "")}
    if not isinstance(fields.get("program"), str):
        raise ValueError("program: missing")
    if "scan" not in fields and "frames" not in fields:
        raise ValueError("give a scan or a frames folder")
    for key in _INTS:
        for d in (fields, options):
            if key in d and isinstance(d[key], str):
                try:
                    d[key] = int(d[key])
                except ValueError:
                    raise ValueError(f"{key}: not an integer: {d[key]!r}") from None
    for key in _FLOATS:
        if isinstance(options.get(key), str):
            try:
                options[key] = float(options[key])
            except ValueError:
                raise ValueError(f"{key}: not a number: {options[key]!r}") from None
    for key in ("scan", "frames", "ranges"):
        if key in fields:
            fields[key] = str(base / fields[key])
    program = fields["program"]
    if Path(program).suffix.lower() in (".json", ".blend"):
        fields["program"] = str(base / program)
    return fields, options


def read_manifest(path: str | Path, out_dir: str | Path, budget: float | None = None, threads: int = 1) -> list[BatchRow]:
    """The rows of a manifest as job specs writing into ``out_dir/<name>``; ``budget``: the time budget of
    rows that do not set one. Raises :class:`ManifestError` for a file that is not a
    manifest at all; a bad row comes back with its ``error``."""
    from ..fit import FitConfig
    from ..options import config_from_dict, config_to_dict

    path, out = Path(path), Path(out_dir)
    base = path.resolve().parent
    rows: list[BatchRow] = []
    used: set[str] = set()
    for i, raw in enumerate(_rows(path), start=1):
        program = str(raw.get("program", "")) if isinstance(raw, dict) else ""
        scan = str(raw.get("scan") or raw.get("frames") or "") if isinstance(raw, dict) else ""
        given = raw.get("name") if isinstance(raw, dict) else None
        name = _safe_name(str(given)) if given else _safe_name(f"{i:03d}_{Path(program).stem}_{Path(scan).stem}")
        if name in used:
            name = f"{name}_{i}"
        used.add(name)
        try:
            fields, options = _row(raw, base)
            if budget is not None and "budget" not in options:
                options["budget"] = budget
            config = config_to_dict(config_from_dict(FitConfig, options, "options"))
        except (ValueError, TypeError) as exc:
            rows.append(BatchRow(i, name, program, scan, None, " ".join(str(exc).split())))
            continue
        spec = JobSpec(id=f"{i:04d}-{name}", output=str(out / name), config=config, threads=threads, label=name, **fields)
        rows.append(BatchRow(i, name, program, scan, spec))
    return rows
