"""The catalog of supported node types: what ``shapeprog nodes`` prints and the README's node table.

Every node type the translator registers (:mod:`translator.nodes`) is one row: its family (the
module that implements it), Blender's name for it, its ``bl_idname``, the modes it supports (the
values of each mode property; anything else is refused at translation time), notes, whether it
is differentiable in its float inputs (``yes``: gradchecked in float64; ``no``: piecewise constant
or discrete outputs; ``-``: no float inputs) and the test file holding its Blender parity test.

The parity test is found by reading the test files (``tests/**/test_*.py``) for the node's
``bl_idname`` as a string literal: the family's own test file (``test_<family>.py`` or
``test_nodes_<family>.py``) first, else the test importing the parity harness that names it most often. A row
without one says ``-``; ``tests/translator/nodes/test_catalog.py`` fails when a node has none.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .nodes import NodeSpec, load_all

__all__ = ["NodeRow", "catalog", "markdown", "parity_tests", "summary"]

ROOT = Path(__file__).resolve().parent.parent

# Special node kinds (handled by the code generator) and the family each belongs to.
_SPECIAL_FAMILY = {"switch": "switches", "index_switch": "switches", "menu_switch": "switches", "group": "graph",
                   "group_input": "graph", "group_output": "graph", "reroute": "graph"}


# How a test file uses the parity harness (today's imports and those of the tests/fixtures layout).
_HARNESS = ("from parity import", "from probes import", "import parity", "fixtures.parity import", "fixtures.probes import")


@dataclass(frozen=True)
class NodeRow:
    family: str
    label: str
    bl_idname: str
    modes: str
    notes: str
    grad: str
    parity_test: str

    def as_dict(self) -> dict[str, str]:
        return {"family": self.family, "node": self.label, "bl_idname": self.bl_idname, "modes": self.modes,
                "notes": self.notes, "grad": self.grad, "parity test": self.parity_test}


def _family(spec: NodeSpec) -> str:
    if spec.func is None:
        return _SPECIAL_FAMILY.get(spec.kind, spec.kind)
    return spec.module.rsplit(".", 1)[-1]


def _modes_text(spec: NodeSpec) -> str:
    parts = []
    for prop, values in spec.modes.items():
        shown = [str(v) for v in values if not isinstance(v, bool)]
        if not shown:  # a boolean option: both values supported
            parts.append(f"{prop}: on, off")
        else:
            parts.append(f"{prop}: {', '.join(shown)}")
    return "; ".join(parts)


def _test_files(tests_dir: Path) -> list[tuple[Path, str]]:
    if not tests_dir.is_dir():
        return []
    return [(p, p.read_text(encoding="utf-8", errors="replace")) for p in sorted(tests_dir.rglob("test_*.py"))]


def parity_tests(specs: dict[str, NodeSpec], tests_dir: Path | None = None) -> dict[str, str]:
    """``bl_idname -> test file`` (relative to the repository) holding each node's parity test ('' when none)."""
    tests_dir = tests_dir or ROOT / "tests"
    files = [(p, text) for p, text in _test_files(tests_dir) if any(h in text for h in _HARNESS)]
    out = {}
    for name, spec in specs.items():
        fam = _family(spec)
        counts = [(text.count(f'"{name}"'), p) for p, text in files]
        hits = [p for _, p in sorted(((-c, p) for c, p in counts if c), key=lambda cp: cp[0])]
        own = [p for p in hits if p.stem in (f"test_{fam}", f"test_nodes_{fam}")]
        best = (own or hits or [None])[0]
        out[name] = "" if best is None else best.relative_to(tests_dir.parent).as_posix()
    return out


def catalog(tests_dir: Path | None = None) -> list[NodeRow]:
    """Every registered node type, sorted by family and name."""
    specs = load_all()
    tests = parity_tests(specs, tests_dir)
    rows = [NodeRow(_family(s), s.label or name, name, _modes_text(s), s.notes, s.grad, tests[name] or "-")
            for name, s in specs.items()]
    return sorted(rows, key=lambda r: (r.family, r.label, r.bl_idname))


def summary(rows: list[NodeRow]) -> str:
    """The headline: how many node types are supported and how many have a parity test."""
    tested = sum(r.parity_test != "-" for r in rows)
    grad = sum(r.grad == "yes" for r in rows)
    return f"node_types={len(rows)} parity_tested={tested} differentiable={grad}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|") if text else ""


def markdown(rows: list[NodeRow]) -> str:
    """The catalog as a Markdown table (the README's node table), then the summary line."""
    lines = ["| family | node | modes | notes | grad | parity test |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.family} | {_cell(r.label)} (`{r.bl_idname}`) | {_cell(r.modes)} | {_cell(r.notes)} | {r.grad} | "
                     f"{'`' + r.parity_test + '`' if r.parity_test != '-' else '-'} |")
    return "\n".join(lines) + "\n\n" + summary(rows) + "\n"
