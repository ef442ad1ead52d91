"""The project's own shape-program library (``sample_scenes/programs``) and sample scenes: where they
are, their names, and how a name becomes a program file."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from translator.ir import ProgramError

__all__ = ["BUILD_DIR", "PROGRAMS_DIR", "ROOT", "SCENES_DIR", "build_program", "load_build_script", "program_names",
           "resolve_program"]

ROOT = Path(__file__).resolve().parents[1]
"""The project's folder (the library and the sample scenes live under it)."""
PROGRAMS_DIR = ROOT / "sample_scenes" / "programs"
"""The library's programs: ``NAME.json`` (IR) and ``NAME.blend`` per program."""
BUILD_DIR = PROGRAMS_DIR / "build"
"""The bpy build scripts, ``build/NAME.py``."""
SCENES_DIR = ROOT / "sample_scenes" / "scenes"
"""The bundled sample scans (one folder per scene with a ``ground_truth.json``)."""
_HELPER = "progkit"  # the build scripts' shared node-building module


def program_names() -> list[str]:
    """Names of the library's programs (one build script each)."""
    return sorted(p.stem for p in BUILD_DIR.glob("*.py") if p.stem != _HELPER and not p.stem.startswith("_"))


def resolve_program(program: str | Path) -> Path:
    """A library name (``chair``) -> its committed ``.json``; a program file (``.json`` / ``.blend``) is
    returned as it is. Raises :class:`ProgramError` for a file that does not exist or an unknown name."""
    path = Path(program)
    if path.suffix.lower() in (".json", ".blend"):
        if not path.is_file():
            raise ProgramError(f"{path}: no such program file")
        return path
    if str(program) in program_names():
        return PROGRAMS_DIR / f"{program}.json"
    raise ProgramError(f"unknown program {str(program)!r}: neither a program file (.json/.blend) nor a library program "
                       f"({', '.join(program_names())})")


def load_build_script(name: str) -> ModuleType:
    """Import ``build/NAME.py`` (it defines ``NAME`` and ``build()``)."""
    path = BUILD_DIR / f"{name}.py"
    if not path.is_file():
        raise ProgramError(f"no build script for {name!r} (programs: {', '.join(program_names())})")
    spec = importlib.util.spec_from_file_location(f"shapeprog_build_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_program(name: str, out_dir: Path) -> tuple[Path, Path]:
    """Build one program with bpy into ``out_dir``: returns the written ``(NAME.blend, NAME.json)``."""
    from translator.loading import has_bpy

    if not has_bpy():
        raise ProgramError("building programs needs bpy (pip install 'shapeprog[blender]')")
    module = load_build_script(name)
    kit = sys.modules[_HELPER]  # imported by the build script from its own folder
    out_dir.mkdir(parents=True, exist_ok=True)
    return kit.build_files(module.build, module.NAME, out_dir)
