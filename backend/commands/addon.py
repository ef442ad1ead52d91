"""``shapeprog addon build -o DIR``: the Blender extension as ``DIR/shapeprog-<version>.zip``.

The zip holds ``blender_addon/`` (its manifest's version set to the project's) and the translator's
bpy-only, torch-free modules (``ir``, ``blender_export``, ``blender_apply``) vendored as
``vendor/translator/``, copied from the real files at build time. Install it with Blender's own
extension installer (Edit > Preferences > Get Extensions > Install from Disk, drag and drop, or
``bpy.ops.extensions.package_install_files(filepath=..., repo="user_default")``).
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
import tomllib
import zipfile
from pathlib import Path

from ..command import Command, UserError

__all__ = ["ADDON_DIR", "VENDORED", "build_zip", "project_version"]

ROOT = Path(__file__).resolve().parents[2]
ADDON_DIR = ROOT / "blender_addon"
VENDORED = ("ir.py", "blender_export.py", "blender_apply.py")
"""The translator modules the add-on uses; they import only each other, the standard library and bpy."""
_ALLOWED_IMPORTS = {"bpy", "mathutils", "__future__"} | set(sys.stdlib_module_names)
_SKIP = {"__pycache__", "vendor"}

_VENDOR_INIT = '"""Vendored by `shapeprog addon build`: the add-on\'s copy of ShapeProg\'s bpy-only modules."""\n'
_TRANSLATOR_INIT = ('"""ShapeProg\'s translator modules that run inside Blender (ir, blender_export, blender_apply), '
                    'copied from translator/ by `shapeprog addon build`. Do not edit: rebuild."""\n\n'
                    '__version__ = "{version}"\n')


def project_version() -> str:
    """The project's version (pyproject.toml)."""
    with open(ROOT / "pyproject.toml", "rb") as fh:
        return tomllib.load(fh)["project"]["version"]


def _check_vendored(path: Path) -> str:
    """The module's source, after checking it imports nothing the extension lacks."""
    text = path.read_text(encoding="utf-8")
    local = {Path(v).stem for v in VENDORED}
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ImportFrom) and node.level:
            mods = [node.module] if node.module else [a.name for a in node.names]
            bad = [m for m in mods if m.split(".")[0] not in local]
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            bad = [m for m in names if m.split(".")[0] not in _ALLOWED_IMPORTS]
        else:
            continue
        if bad:
            raise UserError(f"{path.relative_to(ROOT)} imports {', '.join(bad)}, which the extension does not "
                            "vendor; only ir, blender_export, blender_apply, bpy and the standard library may be used")
    return text


def _manifest(version: str) -> str:
    text = (ADDON_DIR / "blender_manifest.toml").read_text(encoding="utf-8")
    text, n = re.subn(r'(?m)^version\s*=\s*"[^"]*"', f'version = "{version}"', text)
    if n != 1:
        raise UserError("blender_addon/blender_manifest.toml: expected one top-level 'version = \"...\"' line")
    return text


def build_zip(out_dir: str | Path) -> Path:
    """Write ``out_dir/shapeprog-<version>.zip``; returns its path."""
    version = project_version()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"shapeprog-{version}.zip"
    tmp = path.with_suffix(".zip.part")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for src in sorted(ADDON_DIR.rglob("*")):
            rel = src.relative_to(ADDON_DIR)
            if src.is_dir() or _SKIP & set(rel.parts) or src.suffix in (".pyc", ".blend1"):
                continue
            if rel.as_posix() == "blender_manifest.toml":
                zf.writestr("blender_manifest.toml", _manifest(version))
            else:
                zf.write(src, rel.as_posix())
        zf.writestr("vendor/__init__.py", _VENDOR_INIT)
        zf.writestr("vendor/translator/__init__.py", _TRANSLATOR_INIT.format(version=version))
        for name in VENDORED:
            zf.writestr(f"vendor/translator/{name}", _check_vendored(ROOT / "translator" / name))
    tmp.replace(path)
    return path


def _add(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    b = sub.add_parser("build", help="write DIR/shapeprog-<version>.zip, installable with Blender's extension installer")
    b.add_argument("-o", "--out-dir", required=True, metavar="DIR", help="folder to write the zip into")


def _run(args: argparse.Namespace) -> int:
    path = build_zip(args.out_dir)
    print(f"wrote {path}")
    return 0


class _NoConfig:
    pass


COMMAND = Command(name="addon", help="the Blender add-on: build the extension zip", config=_NoConfig, run=_run,
                  add_subcommands=_add)
