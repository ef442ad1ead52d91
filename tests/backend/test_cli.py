"""The ``shapeprog`` command line: translate, eval, params; one-line user errors with exit status 2."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest
import torch

from backend.cli import main
from tests.fixtures.parity import requires_bpy
from translator.codegen import compile_program
from translator.ir import load_program


@pytest.fixture(scope="module")
def blend_file(tmp_path_factory):
    """A saved .blend whose program uses an int, a bool and floats (from the params tests)."""
    pytest.importorskip("bpy", reason="bpy is not installed")
    import bpy

    from tests.fixtures.bpy_programs import switch_program

    switch_program()
    path = tmp_path_factory.mktemp("blend") / "legs.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    return path


@pytest.fixture(scope="module")
def program_json(blend_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("json") / "legs.json"
    assert main(["translate", str(blend_file), "-o", str(out)]) == 0
    return out


def _read_obj(path):
    verts, faces, lines = [], [], []
    for line in path.read_text().splitlines():
        parts = line.split()
        if parts and parts[0] == "v":
            verts.append([float(x) for x in parts[1:]])
        elif parts and parts[0] == "f":
            faces.append([int(x) - 1 for x in parts[1:]])
        elif parts and parts[0] == "l":
            lines.append([int(x) - 1 for x in parts[1:]])
    return torch.tensor(verts), faces, lines


@requires_bpy
def test_translate_writes_json_and_a_standalone_module(blend_file, tmp_path):
    js, py = tmp_path / "p.json", tmp_path / "p_program.py"
    assert main(["translate", str(blend_file), "-o", str(js), "--python", str(py)]) == 0
    prog = load_program(js)
    spec = importlib.util.spec_from_file_location("p_program", py)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    a = mod.program({"Leg Style": 1}, {"Width": torch.tensor([1.2, 1.4])})
    b = compile_program(prog).program({"Leg Style": 1}, {"Width": torch.tensor([1.2, 1.4])})
    assert torch.equal(a.verts, b.verts) and a.polygons() == b.polygons()
    assert a.verts.shape[0] == 2


@requires_bpy
def test_eval_single_and_params_file(program_json, tmp_path):
    out = tmp_path / "m.obj"
    assert main(["eval", str(program_json), "--set", "Width=1.5", "Leg Style=1", "--set", "Spread=0.5", "-o", str(out)]) == 0
    v, _, lines = _read_obj(out)
    mod = compile_program(load_program(program_json))
    ref = mod.program({"Leg Style": 1}, {"Width": 1.5, "Spread": 0.5})
    assert torch.allclose(v, ref.verts[0], atol=1e-6)
    assert lines == ref.edges.tolist()
    sets = [{"Width": 0.7, "Has Legs": False}, {"Width": 1.1, "Leg Style": 1, "Spread": 0.9}, {"Width": 0.9}]
    pf = tmp_path / "sets.json"
    pf.write_text(json.dumps(sets))
    d = tmp_path / "out"
    assert main(["eval", str(program_json), "--params-file", str(pf), "--out-dir", str(d)]) == 0
    for i, s in enumerate(sets):
        v, _, _ = _read_obj(d / f"{i:04d}.obj")
        disc = {k: s[k] for k in ("Has Legs", "Leg Style") if k in s}
        cont = {k: s[k] for k in ("Width", "Spread") if k in s}
        ref = mod.program(disc, cont)
        assert v.shape == ref.verts[0].shape and torch.allclose(v, ref.verts[0], atol=1e-6), f"set {i}"
    assert main(["eval", str(program_json), "--params-file", str(pf), "--out-dir", str(d), "--format", "ply"]) == 0
    from plyfile import PlyData

    ply = PlyData.read(str(d / "0001.ply"))
    assert len(ply["vertex"]) == compile_program(load_program(program_json)).program({"Leg Style": 1}, {}).num_verts


@requires_bpy
def test_params_table(program_json, capsys):
    assert main(["params", str(program_json), "--markdown"]) == 0
    out = capsys.readouterr().out
    assert "| Spread | continuous (value) | 0 .. 1 | 0.2 | Has Legs and Leg Style = 1 |" in out


@requires_bpy
@pytest.mark.parametrize(
    "args, message",
    [
        (["eval", "{p}", "--set", "Wdth=1", "-o", "{t}/a.obj"], "unknown parameter 'Wdth'"),
        (["eval", "{p}", "--set", "Leg Style=1.5", "-o", "{t}/a.obj"], "cannot read '1.5' as an integer"),
        (["eval", "{p}", "-o", "{t}/a.stl"], "the mesh must end in .obj or .ply"),
        (["eval", "{p}"], "give either -o/--output"),
        (["eval", "{t}/missing.json", "-o", "{t}/a.obj"], "missing.json: no such file"),
        (["eval", "{p}", "--params-file", "{t}/bad.json", "--out-dir", "{t}/o"], "bad.json: the parameter sets file is not valid JSON"),
        (["translate", "{p}"], "nothing to write"),
        (["params", "{t}/x.txt"], "expected a program .json or .blend file"),
    ],
)
def test_user_errors_are_one_line_with_exit_2(program_json, tmp_path, capsys, args, message):
    (tmp_path / "bad.json").write_text("[{")
    argv = [a.format(p=program_json, t=tmp_path) for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err


@requires_bpy
def test_console_script_prints_no_traceback(program_json, tmp_path):
    exe = [sys.executable, "-m", "backend.cli"]
    r = subprocess.run(exe + ["eval", str(program_json), "--set", "Nope=1", "-o", str(tmp_path / "a.obj")],
                       capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and "unknown parameter 'Nope'" in r.stderr


def test_every_command_s_help_renders(capsys):
    """``--help`` of every command and subcommand prints its usage (argparse formats help text with %: a
    docstring with a literal percent sign once broke ``fit-scene --help``)."""
    import argparse

    from backend.cli import commands

    argvs = []
    for name, cmd in commands().items():
        argvs.append([name])
        if cmd.add_subcommands is not None:
            p = argparse.ArgumentParser()
            cmd.add_subcommands(p)
            for action in p._actions:
                if isinstance(action, argparse._SubParsersAction):
                    argvs += [[name, sub] for sub in action.choices]
    assert len(argvs) > 10
    for argv in argvs:
        assert main([*argv, "--help"]) == 0, argv
        out = capsys.readouterr().out
        assert out.startswith("usage: shapeprog " + " ".join(argv)), (argv, out[:200])
