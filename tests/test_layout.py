"""The package layout's rules (docs/architecture.md), checked by walking every module's imports:

* ``translator`` never imports ``backend`` (the translator is a library of its own);
* library modules of ``backend`` never import the command line (``backend.cli``,
  ``backend.commands``, ``backend.benchmarks``); ``backend.cli`` imports the commands, never
  the other way round;
* the IR, the Blender exporter and the add-on never import torch (they run inside Blender);
* no module is longer than about 600 lines unless it holds one idea (a node family).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("translator", "backend", "blender_addon")
COMMAND_LINE = ("backend.cli", "backend.commands", "backend.benchmarks")
NO_TORCH = ("translator.ir", "translator.blender_export", "translator.blender_apply", "translator.loading",
            "blender_addon")
LONG_MODULES = {"translator.nodes.primitives", "translator.nodes.instances", "translator.nodes.curves",
                "translator.nodes.curve_fill"}  # one node family each (curve_fill: one node, the replay of Blender's CDT)
MAX_LINES = 600


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = path
    return out


def imports_of(name: str, path: Path) -> set[str]:
    """Every module ``name`` imports (absolute names; relative imports resolved), at any depth of the file
    (imports inside functions count)."""
    is_pkg = path.name == "__init__.py"
    package = name if is_pkg else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            found.add(mod)
            found.update(f"{mod}.{a.name}" for a in node.names)  # `from . import x` may import a module
    return found


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


MODULES = _modules()


def test_the_walk_sees_the_packages_and_resolves_relative_imports():
    assert {"translator.ir", "backend.fit.pipeline", "backend.cli", "backend.commands.fit"} <= set(MODULES)
    assert "backend.problem" in imports_of("backend.fit.pipeline", MODULES["backend.fit.pipeline"])
    assert "backend.command" in imports_of("backend.commands.fit", MODULES["backend.commands.fit"])


def test_translator_never_imports_backend():
    bad = {m: sorted(i for i in imports_of(m, p) if _within(i, ("backend",)))
           for m, p in MODULES.items() if _within(m, ("translator",))}
    assert not {m: i for m, i in bad.items() if i}


def test_library_modules_never_import_the_command_line():
    library = {m: p for m, p in MODULES.items() if _within(m, ("backend",)) and not _within(m, COMMAND_LINE)}
    assert "backend.fit" in library and "backend.io.scan" in library
    bad = {m: sorted(i for i in imports_of(m, p) if _within(i, COMMAND_LINE)) for m, p in library.items()}
    assert not {m: i for m, i in bad.items() if i}


def test_commands_and_benchmarks_never_import_the_entry_point():
    for m, p in MODULES.items():
        if _within(m, ("backend.commands", "backend.benchmarks")):
            assert not any(_within(i, ("backend.cli",)) for i in imports_of(m, p)), m


def test_what_runs_inside_blender_never_imports_torch():
    for m, p in MODULES.items():
        if _within(m, NO_TORCH):
            assert not any(_within(i, ("torch",)) for i in imports_of(m, p)), m


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_stay_short(name):
    lines = len(MODULES[name].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES or name in LONG_MODULES, f"{name}: {lines} lines"
