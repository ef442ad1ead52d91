"""Batch manifests in CSV and JSON: rows, names, paths, options, one-line row errors; finished outputs."""

from __future__ import annotations

import json

import pytest

from backend.jobs.manifest import ManifestError, is_complete, read_manifest


def test_manifests_in_csv_and_json(tmp_path):
    (tmp_path / "scans").mkdir()
    csv_text = ("name,program,scan,frames,instance_id,object_id,budget,max_evaluations,options\n"
                "a,chair,scans/a.ply,,,,30,,\n"
                ",table,,frames/t,1,,,50,\"{\"\"seed\"\": 3}\"\n"
                "c,bed,scene0007_00,,,1,,,\n"
                "d,chair,scans/a.ply,,,,,abc,\n"
                "e,chair,,,,,,,\n"
                "a,chair,scans/b.ply,,,,,,\"{\"\"objective\"\": {\"\"nonsense\"\": 1}}\"\n")
    (tmp_path / "m.csv").write_text(csv_text)
    rows = read_manifest(tmp_path / "m.csv", tmp_path / "out", budget=20)
    assert [r.name for r in rows] == ["a", "002_table_t", "c", "d", "e", "a_6"]
    a, t, c, d, e, a6 = rows
    assert a.spec.scan == str(tmp_path / "scans" / "a.ply") and a.spec.config["budget"] == 30.0
    assert a.spec.output == str(tmp_path / "out" / "a")
    assert t.spec.frames == str(tmp_path / "frames" / "t") and t.spec.instance_id == 1
    assert t.spec.config["seed"] == 3 and t.spec.config["max_evaluations"] == 50 and t.spec.config["budget"] == 20
    assert c.spec.object_id == 1 and c.spec.scan == str(tmp_path / "scene0007_00")
    assert d.spec is None and "max_evaluations: not an integer" in d.error
    assert e.spec is None and "give a scan or a frames folder" in e.error
    assert a6.spec is None and "nonsense" in a6.error

    (tmp_path / "m.json").write_text(json.dumps({"rows": [{"program": "chair", "scan": "x.ply", "colour": 1}, 7]}))
    j1, j2 = read_manifest(tmp_path / "m.json", tmp_path / "out")
    assert "unknown column(s) 'colour'" in j1.error and "expected an object" in j2.error
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ManifestError, match="not valid JSON"):
        read_manifest(tmp_path / "bad.json", tmp_path / "out")
    (tmp_path / "nohead.csv").write_text("x,y\n1,2\n")
    with pytest.raises(ManifestError, match="'program' column"):
        read_manifest(tmp_path / "nohead.csv", tmp_path / "out")

    (tmp_path / "done").mkdir()
    assert not is_complete(tmp_path / "done")
    (tmp_path / "done" / "result.json").write_text(json.dumps({"status": "interrupted"}))
    assert not is_complete(tmp_path / "done")
    (tmp_path / "done" / "result.json").write_text(json.dumps({"status": "succeeded"}))
    assert is_complete(tmp_path / "done")
