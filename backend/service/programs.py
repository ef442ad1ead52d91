"""The programs a job can name (:class:`ProgramCatalog`): the library's (by name) and uploaded IR
documents (by content hash, stored as ``programs/<sha256>.json`` in the data dir).

An upload is data, handled with the translator's own rules: :func:`translator.ir.program_from_dict`
validates it (never executing anything, names never spliced into code) and
:func:`translator.codegen.check_supported` refuses unsupported nodes, both with their one-line
messages. Parameter tables (what ``shapeprog params`` shows) are computed once per program and cached.
A library program's ``.blend`` (:meth:`ProgramCatalog.blend`) is served to clients such as the Blender
add-on, which appends the program's object (``object`` in the program's description) from it.
"""

from __future__ import annotations

import json
import math
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from translator.ir import Program, ProgramError, program_from_dict, program_hash, save_program

__all__ = ["CatalogEntry", "ProgramCatalog", "parameter_table"]

_SHA = re.compile(r"^[0-9a-f]{64}$")


def _plain(v: Any) -> Any:
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def parameter_table(space: Any) -> list[dict[str, Any]]:
    """A :class:`~translator.params.ParameterSpace` as the API's ``parameters`` list."""
    rows = []
    for p in space:
        rng = None if p.low is None else [_plain(p.low), _plain(p.high)]
        rows.append({"name": p.name, "kind": p.kind, "type": p.type, "subtype": p.subtype, "default": _plain(p.default),
                     "range": rng, "choices": None if p.choices is None else [_plain(c) for c in p.choices],
                     "active_when": str(p.active_when)})
    return rows


@dataclass
class CatalogEntry:
    """One program: its API description, the program and its parameter space."""

    info: dict[str, Any]
    program: Program
    space: Any
    path: Path


class ProgramCatalog:
    """The library's programs and the uploads in ``upload_dir``."""

    def __init__(self, upload_dir: str | Path):
        self.upload_dir = Path(upload_dir)
        self.upload_dir.mkdir(parents=True, exist_ok=True)
        self._cache: dict[str, CatalogEntry] = {}
        self._lock = threading.Lock()

    @staticmethod
    def library_names() -> list[str]:
        from ..library import program_names

        return program_names()

    def ids(self) -> list[str]:
        """Library names, then uploaded ids (oldest first)."""
        uploads = sorted(self.upload_dir.glob("*.json"), key=lambda p: (p.stat().st_mtime, p.name))
        return self.library_names() + [p.stem for p in uploads if _SHA.match(p.stem)]

    def get(self, program_id: str) -> CatalogEntry | None:
        """The program named ``program_id`` (a library name or an uploaded id), or None."""
        with self._lock:
            hit = self._cache.get(program_id)
        if hit is not None:
            return hit
        if program_id in self.library_names():
            from ..library import PROGRAMS_DIR

            path, source = PROGRAMS_DIR / f"{program_id}.json", "library"
        elif _SHA.match(program_id) and (self.upload_dir / f"{program_id}.json").is_file():
            path, source = self.upload_dir / f"{program_id}.json", "upload"
        else:
            return None
        from translator.ir import load_program

        entry = self._entry(program_id, load_program(path), source, path)
        with self._lock:
            self._cache[program_id] = entry
        return entry

    @staticmethod
    def _entry(program_id: str, program: Program, source: str, path: Path) -> CatalogEntry:
        from translator.params import parameter_space

        space = parameter_space(program)
        name = program_id if source == "library" else (program.object or program.entry)
        info = {"id": program_id, "name": name, "object": program.object or "", "source": source,
                "sha256": program_hash(program), "parameters": parameter_table(space)}
        return CatalogEntry(info, program, space, path)

    def blend(self, program_id: str) -> Path | None:
        """A library program's ``.blend`` (``NAME.blend`` beside its ``NAME.json``), or None: uploads never
        have one (the server opens no file an upload names), nor do library programs built without one."""
        entry = self.get(program_id)
        if entry is None or entry.info["source"] != "library":
            return None
        path = entry.path.with_suffix(".blend")
        return path if path.is_file() else None

    def list(self) -> list[dict[str, Any]]:
        out = []
        for pid in self.ids():
            entry = self.get(pid)
            if entry is not None:
                out.append(entry.info)
        return out

    def add(self, document: Any) -> tuple[CatalogEntry, bool]:
        """Validate an IR document and keep it; returns its entry and whether it was new. Raises
        :class:`ProgramError` (one line) for an invalid or unsupported program."""
        from translator.codegen import check_supported

        if isinstance(document, (bytes, str)):
            try:
                document = json.loads(document)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise ProgramError(f"not valid JSON: {exc}") from None
        program = program_from_dict(document, source="")
        program.source = ""  # informative only, and a sidecar would be looked up beside it: an upload names no files
        check_supported(program)
        pid = program_hash(program)
        existing = self.get(pid)
        if existing is not None:
            return existing, False
        path = self.upload_dir / f"{pid}.json"
        entry = self._entry(pid, program, "upload", path)  # ranges and dependencies: refused before it is kept
        tmp = path.with_suffix(".tmp")
        save_program(program, tmp)
        tmp.replace(path)
        with self._lock:
            self._cache[pid] = entry
        return entry, True

    def warm(self) -> None:
        """Compute every program's table (at start, in a background thread)."""
        for pid in self.ids():
            try:
                self.get(pid)
            except ProgramError:
                pass
