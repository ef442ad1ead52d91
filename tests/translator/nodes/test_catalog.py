"""The node catalog (``shapeprog nodes``): every registered node type has Blender's name, supported modes that
are Blender's, a parity test and a differentiability flag; the README's node table is the catalog's output.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.fixtures import ROOT
from tests.fixtures.parity import requires_bpy
from translator.catalog import README_BEGIN, README_END, catalog, markdown, summary
from translator.nodes import load_all, modes_check

README = ROOT / "README.md"
_BEGIN, _END = README_BEGIN, README_END


def readme_table() -> str:
    text = README.read_text()
    return text[text.index(_BEGIN) + len(_BEGIN):text.index(_END)].strip("\n")


def test_every_node_has_a_name_a_grad_flag_and_a_parity_test():
    rows = catalog()
    assert len(rows) == len(load_all())
    for r in rows:
        assert r.label and r.label != r.bl_idname, f"{r.bl_idname}: no label"
        assert r.grad in ("yes", "no", "-"), r
        assert r.parity_test != "-", f"{r.bl_idname} has no parity test"
        assert (ROOT / r.parity_test).is_file()


def test_readme_table_is_the_catalog():
    assert readme_table() == markdown(catalog()).strip("\n"), \
        "README's node table is stale: run `shapeprog nodes --write-readme README.md`"


def test_summary_counts():
    rows = catalog()
    m = re.fullmatch(r"node_types=(\d+) parity_tested=(\d+) differentiable=(\d+)", summary(rows))
    assert m and int(m.group(1)) == len(rows) == int(m.group(2))


def test_modes_check_refuses_other_values_in_one_line():
    check = modes_check("Mix", {"data_type": ("FLOAT", "VECTOR"), "clamp_factor": (False, True)})
    assert check(SimpleNamespace(properties={"data_type": "FLOAT", "clamp_factor": True})) is None
    reason = check(SimpleNamespace(properties={"data_type": "RGBA", "clamp_factor": True}))
    assert reason == "Mix data type 'RGBA' is not supported"
    assert "\n" not in check(SimpleNamespace(properties={"data_type": "bad\nname", "clamp_factor": True}))


def test_cli_prints_the_table(capsys):
    from backend.cli import main

    assert main(["nodes", "--markdown"]) in (0, None)
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1].startswith("node_types=")
    assert "| Cube (`GeometryNodeMeshCube`) |" in out


@requires_bpy
def test_labels_and_modes_are_blenders():
    import bpy

    for name, spec in load_all().items():
        rna = getattr(bpy.types, name).bl_rna
        assert spec.label == rna.name, f"{name}: label {spec.label!r} != Blender's {rna.name!r}"
        for prop, values in spec.modes.items():
            p = rna.properties[prop]
            if p.type == "ENUM":
                blender = {i.identifier for i in p.enum_items}
                assert set(values) <= blender, f"{name}.{prop}: {set(values) - blender} are not Blender's"
            else:
                assert p.type == "BOOLEAN", (name, prop, p.type)


@pytest.mark.parametrize("name", ["GeometryNodeMeshCube", "ShaderNodeMath"])
def test_rows_name_their_family_test(name):
    row = next(r for r in catalog() if r.bl_idname == name)
    assert Path(row.parity_test).stem.endswith(row.family)


# modes that only matter with another property's value (Compare's mode: vectors; Mesh Line's count mode: end points)
_RELEVANT = {"FunctionNodeCompare": {"data_type": "VECTOR"}, "GeometryNodeMeshLine": {"mode": "END_POINTS"}}


def test_hostile_mode_values_are_refused_in_one_line():
    """Every mode property of every node: a value outside its modes (here a code-like string) is refused at
    translation time with one line that quotes it, never run or spliced."""
    evil = "ADD'); __import__('os').system('id') #\nX"
    for name, spec in load_all().items():
        if spec.check is None or not spec.modes:
            continue
        good = {p: next(v for v in vals) for p, vals in spec.modes.items()}
        good |= _RELEVANT.get(name, {})
        for prop in spec.modes:
            if all(isinstance(v, bool) for v in spec.modes[prop]):
                continue
            reason = spec.check(SimpleNamespace(properties={**good, prop: evil}, inputs=[]))
            assert reason and "\n" not in reason and repr(evil) in reason, (name, prop, reason)
