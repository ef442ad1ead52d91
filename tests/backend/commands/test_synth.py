"""shapeprog synth: the options reach synthesize(), bad input is one line with exit status 2."""

from __future__ import annotations

import json

from backend.cli import main
from backend.io import load_frames
from tests.fixtures.synth import BOX


def test_synth_command(tmp_path, monkeypatch, capsys):
    import backend.synth as synth_mod

    seen = {}

    def fake_load(path, ranges=None, object_name=None):
        seen["path"] = path
        return BOX

    monkeypatch.setattr(synth_mod, "load_shape_program", fake_load)
    out = tmp_path / "scan"
    rc = main(["synth", "prog.json", "--seed", "5", "-o", str(out), "--views", "3", "--noise", "none", "--width", "64",
               "--height", "48", "--set", "Width=1.1", "Style=Tall", "--yaw", "0.5", "--occluders", "0"])
    assert rc == 0 and seen["path"] == "prog.json"
    gt = json.loads((out / "ground_truth.json").read_text())
    assert gt["seed"] == 5 and gt["frames"] == 3 and gt["noise"]["kind"] == "none"
    assert gt["parameters"]["continuous"]["Width"] == 1.1 and gt["parameters"]["discrete"]["Style"] == "Tall"
    assert gt["pose"]["yaw"] == 0.5
    assert load_frames(out).depth.shape == (3, 48, 64)
    assert "wrote" in capsys.readouterr().out
    # bad input: one line, exit status 2
    rc = main(["synth", "prog.json", "-o", str(tmp_path / "y"), "--set", "Nope=1"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "\n" not in err and "unknown parameter 'Nope'" in err
    rc = main(["synth", "prog.json", "-o", str(tmp_path / "y"), "--views", "0"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "views must be >= 1" in err


def test_synth_command_program_errors(tmp_path, capsys):
    rc = main(["synth", str(tmp_path / "missing.json"), "-o", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "missing.json" in err and "\n" not in err
    # a program that makes only points (a Mesh Line) has no surface to scan
    from tests.fixtures.irdocs import group, group_input, group_output, link, mesh_line, program

    doc = program({"G": group([group_input([]), mesh_line("Line", count=4), group_output()],
                              [link("Line", "Mesh", "Group Output", "Socket_0")])})
    (tmp_path / "line.json").write_text(json.dumps(doc))
    rc = main(["synth", str(tmp_path / "line.json"), "-o", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "makes no faces" in err and "line.json" in err
