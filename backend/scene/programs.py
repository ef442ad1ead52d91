"""Which program fits which category (:class:`ProgramMap`), and which objects of a scene to fit
(:func:`select_objects`).

The defaults cover the library: chair; table and desk; sofa; bed; cabinet (with corner_cabinet as a second
candidate: the real scans' corner units, scene0000_01 #38 and scene0000_00 #9, gained 0.04-0.06 F@5cm with it on
two seeds and the box cabinet scene0000_00 #42 changed within its seed-to-seed spread), night stand and dresser;
bookshelf and shelves. ``--map FILE`` (JSON) changes or extends them::

    {"chair": "chair", "armchair": "my_programs/armchair.json", "desk": null,
     "cabinet": ["cabinet", "corner_cabinet"]}

A key is a category (a label name; synonyms fold as in :func:`~backend.scene.labels.category_of`), a value
a library program's name, a program file (``.json`` IR or ``.blend``; relative to the map's folder),
a list of those (the category's candidate programs, each object fitted with every one and the best kept:
see :mod:`backend.scene.run`) or ``null`` to stop fitting that category. Every program is checked when the
map is read: a map naming a missing program, an empty list or a program twice is one line of error, before
anything is computed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from translator.ir import ProgramError

from ..library import resolve_program
from ..structures import ScanError
from .labels import category_of
from .model import Scene, SceneObject

__all__ = ["DEFAULT_MAP", "ProgramMap", "load_map", "select_objects"]

DEFAULT_MAP = {
    "chair": "chair", "table": "table", "desk": "table", "sofa": "sofa", "bed": "bed",
    "cabinet": ["cabinet", "corner_cabinet"], "night stand": "cabinet", "dresser": "cabinet", "bookshelf": "bookshelf",
    "shelves": "bookshelf",
}
"""Category -> library program (or a list of candidate programs), the defaults."""


@dataclass
class ProgramMap:
    """Category -> candidate programs (library names or program files' paths; one or more, in the map's order)."""

    programs: dict[str, tuple[str, ...]] = field(default_factory=lambda: {k: _as_tuple(v) for k, v in DEFAULT_MAP.items()})
    source: str = "defaults"

    def candidates(self, category: str) -> tuple[str, ...]:
        """The category's candidate programs (empty when it is not fitted)."""
        return self.programs.get(category_of(category), ())


def _as_tuple(value: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def load_map(path: str | Path | None) -> ProgramMap:
    """The default map with ``path``'s entries laid over it (see the module docstring); every program named is
    resolved (:func:`backend.library.resolve_program`). One-line :class:`ScanError` for a bad map."""
    programs = {k: _as_tuple(v) for k, v in DEFAULT_MAP.items()}
    source = "defaults"
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ScanError(f"{path}: no such map file")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise ScanError(f"{path}: cannot read the map: {exc}") from None
        except json.JSONDecodeError as exc:
            raise ScanError(f"{path}: the map is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ScanError(f'{path}: the map must be a JSON object {{"category": "program", ...}}')
        for key, value in data.items():
            cat = category_of(key)
            if value is None or value == "":
                programs.pop(cat, None)
                continue
            values = value if isinstance(value, list) else [value]
            if not values or not all(isinstance(v, str) and v for v in values):
                raise ScanError(f"{path}: category '{key}': the program must be a name, a file path or a non-empty "
                                f"list of them, got {value!r}")
            refs = []
            for v in values:
                if Path(v).suffix.lower() in (".json", ".blend") and not Path(v).is_absolute():
                    v = str(path.parent / v)
                refs.append(v)
            programs[cat] = tuple(refs)
        source = str(path)
    for cat, refs in programs.items():
        resolved = []
        for ref in refs:
            try:
                found = resolve_program(ref)
            except ProgramError as exc:
                raise ScanError(f"{source}: category '{cat}' names a missing program: {exc}") from None
            resolved.append(str(found) if Path(ref).suffix else ref)
        if len(set(resolved)) < len(resolved):
            raise ScanError(f"{source}: category '{cat}' names a program twice ({', '.join(refs)})")
        programs[cat] = tuple(resolved)
    return ProgramMap(programs, source)


def _matches(obj: SceneObject, items: list[str]) -> bool:
    return str(obj.instance) in items or obj.category in {category_of(i) for i in items}


def select_objects(scene: Scene, programs: ProgramMap, only: list[str] | None = None,
                   skip: list[str] | None = None) -> list[tuple[SceneObject, tuple[str, ...]]]:
    """The scene's objects to fit, with their candidate programs: those of a mapped category, narrowed by ``only`` and
    ``skip`` (categories or instance ids). One-line :class:`ScanError` when none is left, naming what the scene
    holds."""
    chosen = []
    for obj in sorted(scene.objects.values(), key=lambda o: o.instance):
        prog = programs.candidates(obj.category)
        if not prog:
            continue
        if only and not _matches(obj, only):
            continue
        if skip and _matches(obj, skip):
            continue
        chosen.append((obj, prog))
    if not chosen:
        held = sorted({o.category for o in scene.objects.values()})
        why = " after --only/--skip" if only or skip else ""
        raise ScanError(f"{scene.source}: no instance of a mapped category{why} (mapped: "
                        f"{', '.join(sorted(programs.programs))}; the scene holds: {', '.join(held) or 'nothing'})")
    return chosen
