"""Bad input, as a careless or hostile user gives it, gets one line naming what is wrong and exit status 2:
never a traceback, never a silently wrong result (the classes of the reliability review, one case each)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from backend.cli import main
from tests.fixtures import ROOT

CHAIR = ROOT / "sample_scenes" / "programs" / "chair.json"
SCENE = ROOT / "sample_scenes" / "scenes" / "chair_s1"


def _with_default(tmp: Path, text: str) -> Path:
    """chair.json with Seat Width's default replaced by the JSON literal ``text``."""
    raw = CHAIR.read_text()
    doc = json.loads(raw)
    entry = doc["groups"][doc["entry"]]
    i = next(k for k, s in enumerate(entry["inputs"]) if s["name"] == "Seat Width")
    entry["inputs"][i]["default"] = "@@"
    path = tmp / "chair_bad.json"
    path.write_text(json.dumps(doc).replace('"@@"', text))
    return path


def _result(tmp: Path, **changes) -> Path:
    """A valid result.json of the chair (its defaults at the identity pose), with ``changes``."""
    data = {"program": str(CHAIR), "discrete": {"Leg Style": "Four Legs", "Slat Count": 4},
            "continuous": {"Seat Width": 0.46, "Seat Depth": 0.45},
            "world_from_program": [[1.0, 0, 0, 0.5], [0, 1.0, 0, 0], [0, 0, 1.0, 0], [0, 0, 0, 1.0]]}
    data.update(changes)
    path = tmp / "result.json"
    path.write_text(json.dumps(data).replace('"NaN"', "NaN"))
    return path


CASES = {
    # tracebacks before
    "IR default 10**400": (lambda t: ["eval", _with_default(t, "1" + "0" * 400), "-o", t / "a.obj"],
                           "'default' '1000000000000"),
    "IR default NaN": (lambda t: ["eval", _with_default(t, "NaN"), "-o", t / "a.obj"], "does not fit socket type VALUE"),
    "IR default 1e308": (lambda t: ["eval", _with_default(t, "1e308"), "-o", t / "a.obj"], "expected a finite number"),
    "params-file with NaN": (lambda t: ["eval", CHAIR, "--params-file", _text(t, "s.json", '[{"Seat Width": NaN}]'),
                                        "--out-dir", t / "o"], "NaN is not a number"),
    "params-file value not a number": (lambda t: ["eval", CHAIR, "--params-file", _text(t, "s.json", '[{"Seat Width": {}}]'),
                                                  "--out-dir", t / "o"], "s.json: 0.Seat Width: must be a finite number, 3 finite numbers, true or false, an integer or a name, got {}"),
    "synth -o an existing file": (lambda t: ["synth", CHAIR, "-o", _text(t, "f", "x")], "the scan folder is a file"),
    "synth --yaw nan": (lambda t: ["synth", CHAIR, "--yaw", "nan", "-o", t / "s"], "argument --yaw: not a finite number: 'nan'"),
    "synth --set nan": (lambda t: ["synth", CHAIR, "--set", "Seat Width=nan", "-o", t / "s"],
                        "parameter 'Seat Width': NaN is not a finite number"),
    "edit: pose 2x3": (lambda t: ["edit", _result(t, world_from_program=[[1, 0, 0], [0, 1, 0]]), "-o", t / "e"],
                       "world_from_program: must be a 4x4 matrix (4 rows of 4 numbers), got 2x3"),
    "edit: discrete a list": (lambda t: ["edit", _result(t, discrete=["Four Legs"]), "-o", t / "e"],
                              "discrete: Input should be a valid dictionary"),
    "edit: program not a string": (lambda t: ["edit", _result(t, program=3), "-o", t / "e"],
                                   "program: Input should be a valid string"),
    "fit --init: pose 2x3": (lambda t: ["fit", "-p", CHAIR, "--frames", SCENE, "--instance-id", 1, "--quiet",
                                        "--init", _result(t, world_from_program=[[1, 0, 0], [0, 1, 0]]), "-o", t / "f"],
                             "world_from_program: must be a 4x4 matrix (4 rows of 4 numbers), got 2x3"),
    "--ranges a binary file": (lambda t: ["params", CHAIR, "--ranges", _bytes(t, "r.json")], "not a text file"),
    # silently wrong before
    "eval --set nan": (lambda t: ["eval", CHAIR, "--set", "Seat Width=nan", "-o", t / "a.obj"], "is not a finite number"),
    "eval --set inf": (lambda t: ["eval", CHAIR, "--set", "Seat Width=inf", "-o", t / "a.obj"], "is not a finite number"),
    "eval: value out of range": (lambda t: ["eval", CHAIR, "--set", "Seat Width=5", "-o", t / "a.obj"],
                                 "parameter 'Seat Width' = 5.0 is outside its range 0.38 .. 0.62"),
    "eval: count out of range": (lambda t: ["eval", CHAIR, "--set", "Slat Count=-5", "-o", t / "a.obj"],
                                 "parameter 'Slat Count' = -5 is outside its range 2, 3, 4, 5, 6, 7"),
    "edit: NaN in the pose": (lambda t: ["edit", _result(t, world_from_program=[[1, 0, 0, "NaN"], [0, 1, 0, 0], [0, 0, 1, 0],
                                                                                [0, 0, 0, 1]]), "-o", t / "e"],
                              "NaN is not a number"),
    "edit: a sheared pose": (lambda t: ["edit", _result(t, world_from_program=[[1, 0.5, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0],
                                                                               [0, 0, 0, 1]]), "-o", t / "e"],
                             "world_from_program: not a rigid transform"),
    "edit: value out of range": (lambda t: ["edit", _result(t, continuous={"Seat Width": 3.0}), "-o", t / "e"],
                                 "parameter 'Seat Width' = 3.0 is outside its range"),
    "fit --scale-slack nan": (lambda t: ["fit", "-p", CHAIR, "--frames", SCENE, "--scale-slack", "nan", "-o", t / "f"],
                              "argument --scale-slack: not a finite number: 'nan'"),
    "fit --budget inf": (lambda t: ["fit", "-p", CHAIR, "--frames", SCENE, "--budget", "inf", "-o", t / "f"],
                         "argument --budget: not a finite number: 'inf'"),
}


def _text(tmp: Path, name: str, text: str) -> Path:
    (tmp / name).write_text(text)
    return tmp / name


def _bytes(tmp: Path, name: str) -> Path:
    (tmp / name).write_bytes(bytes(range(256)) * 4)
    return tmp / name


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, case):
    make, words = CASES[case]
    argv = [str(a) for a in make(tmp_path)]
    capsys.readouterr()
    assert main(argv) == 2, case
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words in err and "Traceback" not in err, err
    assert err.startswith(f"shapeprog {argv[0]}: error: "), err
