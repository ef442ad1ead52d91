"""shapeprog programs: list the library; build --check finds stale files."""

from __future__ import annotations

import json

from tests.fixtures.library import PROGRAMS, PROGRAMS_DIR
from tests.fixtures.parity import requires_bpy


def test_programs_list(capsys):
    from backend.cli import main

    assert main(["programs", "list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in PROGRAMS)


@requires_bpy
def test_programs_build_check_finds_stale_files(tmp_path, monkeypatch, capsys):
    from backend import library
    from backend.cli import main
    from tests.fixtures.parity import reset_blender

    reset_blender()
    assert main(["programs", "build", "--check", "bed"]) == 0
    stale = json.loads((PROGRAMS_DIR / "bed.json").read_text())
    stale["groups"]["Bed"]["inputs"][5]["max"] = 2.5  # someone widened Width in the .json by hand
    (tmp_path / "bed.json").write_text(json.dumps(stale))
    monkeypatch.setattr(library, "PROGRAMS_DIR", tmp_path)
    capsys.readouterr()
    assert main(["programs", "build", "--check", "bed"]) == 1
    assert "bed: STALE" in capsys.readouterr().out
    assert main(["programs", "build", "sideboard"]) == 2
