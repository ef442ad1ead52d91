"""shapeprog bench fuzz: counts and the headline; an unknown target is a usage error."""

from __future__ import annotations


def test_bench_fuzz_prints_counts_and_the_headline(capsys, tmp_path):
    from backend.cli import main

    assert main(["bench", "fuzz", "--seconds", "4", "--targets", "values,ranges", "--failures", str(tmp_path / "f")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == "fuzz_failures=0"
    assert any(line.startswith("cases=") for line in lines)
    assert main(["bench", "fuzz", "--targets", "nope"]) == 2
