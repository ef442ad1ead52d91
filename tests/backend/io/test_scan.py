"""load_scan: paths that are no scan."""

from __future__ import annotations

from backend.io import load_scan
from tests.fixtures.scans import raises_one_line


def test_load_scan_bad_paths(tmp_path):
    raises_one_line(lambda: load_scan(tmp_path / "nothing.ply"), "nothing.ply", "no such file")
    (tmp_path / "x.txt").write_text("hi")
    raises_one_line(lambda: load_scan(tmp_path / "x.txt"), "x.txt", "not a scan")
