"""shapeprog fit end to end: synth, fit, edit, refit; one-line errors; fit --config reruns a recorded fit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from backend.io import load_ply, load_scan, write_point_cloud
from backend.ops import PointsToMesh
from tests.fixtures import ROOT
from tests.fixtures.cli import run_cli
from tests.fixtures.fitting import BED, flat
from tests.fixtures.parity import reset_blender
from translator.loading import load_any
from translator.params import parameter_space


def test_synth_fit_edit_refit_end_to_end(tmp_path, capsys):
    scan = tmp_path / "scan"
    rc, _, err = run_cli(capsys, "synth", BED, "--seed", 5, "--views", 5, "-o", scan)
    assert rc == 0, err
    truth = json.loads((scan / "ground_truth.json").read_text())
    out_dir = tmp_path / "fit"
    rc, _, err = run_cli(capsys, "fit", "-p", BED, "--frames", scan, "--instance-id", 1, "--budget", 300,
                      "--max-evaluations", 600, "--quiet", "-o", out_dir)
    assert rc == 0, err
    for f in ("result.json", "fitted.ply", "fitted.obj", "report.png"):
        assert (out_dir / f).is_file() and (out_dir / f).stat().st_size > 0, f
    res = json.loads((out_dir / "result.json").read_text())
    program = load_any(BED)
    space = parameter_space(program)
    assert set(res["discrete"]) == {p.name for p in space.discrete}
    assert set(res["continuous"]) == {p.name for p in space.continuous}
    assert res["method"] == "mcts" and res["seed"] == 0 and res["provenance"]["software"]["shapeprog"]
    assert {"search_s", "outputs_s"} <= set(res["timings"])
    # the fitted mesh in world coordinates sits where the scan is, on the floor
    mesh = load_ply(out_dir / "fitted.ply")
    obs = load_scan(scan, instance_id=1)
    d = PointsToMesh(obs.points)(mesh.points[mesh.faces][None]).sqrt()
    assert float(d.median()) < 0.03
    assert abs(float(mesh.points[:, 2].min()) - truth["floor_z"]) < 0.05
    _check_blend(out_dir, res, program)

    # edit a value, then refit from the edited result
    edited = tmp_path / "edited"
    rc, _, err = run_cli(capsys, "edit", out_dir / "result.json", "--set", "Width=1.3", "-o", edited)
    assert rc == 0, err
    res2 = json.loads((edited / "result.json").read_text())
    assert res2["continuous"]["Width"] == pytest.approx(1.3)
    assert res2["world_from_program"] == res["world_from_program"]
    refit = tmp_path / "refit"
    rc, _, err = run_cli(capsys, "fit", "-p", BED, "--frames", scan, "--instance-id", 1, "--budget", 300,
                      "--max-evaluations", 120, "--quiet", "--init", edited / "result.json", "-o", refit)
    assert rc == 0, err
    res3 = json.loads((refit / "result.json").read_text())
    assert res3["objective"] <= res["objective"] * 1.5


def _check_blend(out_dir: Path, res: dict, program) -> None:
    from translator.loading import has_bpy

    if not has_bpy():
        assert not (out_dir / "fitted.blend").exists()
        return
    assert (out_dir / "fitted.blend").is_file()
    reset_blender()
    reloaded = load_any(out_dir / "fitted.blend", program.object)
    values = {p.name: p.default for p in parameter_space(reloaded, analyze=False)}
    for k, v in res["discrete"].items():
        assert values[k] == v, k
    for k, v in res["continuous"].items():
        assert values[k] == pytest.approx(v, abs=1e-5), k
    import bpy

    obj = bpy.data.objects[program.object]
    assert [x for r in obj.matrix_world for x in r] == pytest.approx(flat(res["world_from_program"]), abs=1e-5)


def _error_line(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("shapeprog fit: error: ")
    return lines[0]


def test_bad_inputs_get_a_one_line_error(tmp_path, capsys, targets):
    scan = targets["folder"] / "noisy"
    pts = load_scan(scan, instance_id=1).points
    few = tmp_path / "few.ply"
    write_point_cloud(few, pts[:20])
    rc, _, err = run_cli(capsys, "fit", "-p", BED, "--scan", few, "-o", tmp_path / "o1", "--quiet")
    assert rc == 2 and "only 20 points" in _error_line(err)

    program = load_any(BED)
    locks = [f"{p.name}={p.default if p.kind == 'continuous' else p.choices[0]}" for p in parameter_space(program)]
    rc, _, err = run_cli(capsys, "fit", "-p", BED, "--frames", scan, "--instance-id", 1, "-o", tmp_path / "o2",
                      "--quiet", "--lock", *locks)
    assert rc == 2 and "every parameter is locked" in _error_line(err)

    for bad in ("0", "-5"):
        rc, _, err = run_cli(capsys, "fit", "-p", BED, "--frames", scan, "--instance-id", 1, "-o", tmp_path / "o3",
                          "--quiet", "--budget", bad)
        assert rc == 2 and "budget must be a number of seconds >= 2" in _error_line(err)

    c = pts.mean(0)
    for factor, words in ((25.0, "far larger"), (0.01, "far smaller")):
        path = tmp_path / f"scaled_{factor}.ply"
        write_point_cloud(path, (pts - c) * factor + c)
        rc, _, err = run_cli(capsys, "fit", "-p", BED, "--scan", path, "-o", tmp_path / "o4", "--quiet")
        assert rc == 2 and words in _error_line(err)
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o4").exists()


def test_fit_config_reruns_the_recorded_fit_exactly(tmp_path, capsys):
    """result.json records the inputs and the whole config tree (nested options included); ``fit --config``
    runs the same fit again: with an evaluation budget it reproduces the result exactly (100 evaluations: the
    pilot, MCTS simulations and the final refinement all run)."""
    scene = ROOT / "sample_scenes" / "scenes" / "chair_s1"
    chair = ROOT / "sample_scenes" / "programs" / "chair.json"
    first = tmp_path / "first"
    rc, _, err = run_cli(capsys, "fit", "-p", chair, "--frames", scene, "--instance-id", 1, "--budget", 600,
                      "--max-evaluations", 100, "--seed", 4, "--mcts.pilot-steps", 8, "--mcts.refine-steps", 6,
                      "--mcts.final-steps", 15, "--objective.silhouette-weight", 0.2, "--quiet", "-o", first)
    assert rc == 0, err
    a = json.loads((first / "result.json").read_text())
    assert a["config"]["mcts"]["pilot_steps"] == 8 and a["config"]["objective"]["silhouette_weight"] == 0.2
    assert a["config"]["seed"] == 4 and a["config"]["max_evaluations"] == 100
    assert a["provenance"]["inputs"]["frames"] == str(scene.resolve()) and len(a["provenance"]["scan_sha256"]) == 64
    from translator.ir import program_hash

    assert a["provenance"]["program_sha256"] == program_hash(load_any(chair))
    again = tmp_path / "again"
    rc, _, err = run_cli(capsys, "fit", "--config", first / "result.json", "--quiet", "-o", again)
    assert rc == 0, err
    b = json.loads((again / "result.json").read_text())
    assert b["config"] == a["config"] and b["provenance"]["scan_sha256"] == a["provenance"]["scan_sha256"]
    for key in ("discrete", "continuous", "objective", "terms", "world_from_program", "evaluations"):
        assert b[key] == a[key], key
    # an option given beside --config replaces the recorded one
    rc, _, err = run_cli(capsys, "fit", "--config", first / "result.json", "--seed", 5, "--max-evaluations", 60,
                      "--quiet", "-o", tmp_path / "other")
    assert rc == 0, err
    c = json.loads((tmp_path / "other" / "result.json").read_text())
    assert c["config"]["seed"] == 5 and c["config"]["mcts"]["pilot_steps"] == 8
    rc, _, err = run_cli(capsys, "fit", "--config", tmp_path / "nope.json", "-o", tmp_path / "x")
    assert rc == 2 and "nope.json: no such file" in _error_line(err)
