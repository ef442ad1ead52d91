"""``shapeprog fit-scene --ray local``: a scene's objects as Ray tasks (their inputs shipped with the task, their
output folders written back). Skipped when ray is not installed (the ``distributed`` extra)."""

from __future__ import annotations

import json

import pytest

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'shapeprog[distributed]')")

from backend.cli import main

pytestmark = pytest.mark.serial  # run alone, after the parallel part of the suite: it uses a local Ray cluster (conftest)


def test_fit_scene_on_ray(local_ray, tmp_path):
    assert main(["synth-scene", "-o", str(tmp_path / "room"), "--programs", "table", "cabinet", "--seed", "5"]) == 0
    rc = main(["fit-scene", str(tmp_path / "room" / "room_points.ply"), "-o", str(tmp_path / "out"), "--ray", "local",
               "--budget", "4", "--quiet"])
    assert rc == 0
    rows = json.loads((tmp_path / "out" / "summary.json").read_text())["objects"]
    assert [r["state"] for r in rows] == ["succeeded", "succeeded"]
    for r in rows:
        folder = tmp_path / "out" / "objects" / r["key"]
        assert (folder / "result.json").is_file() and (folder / "input" / "object.json").is_file()
        assert r["scan_fit"]["f_5cm"] > 0
