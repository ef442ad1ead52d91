"""shapeprog bench fit: a line per fitted object, the records file, the headline."""

from __future__ import annotations

import json
import math

from tests.fixtures.cli import run_cli


def test_bench_fit_prints_a_line_per_object_the_table_and_the_headline(tmp_path, capsys):
    """``shapeprog bench fit`` on one tiny target per method: a line per fitted object, the records
    file, and the headline summarising the best method as the last line."""
    out = tmp_path / "records.json"
    rc, text, err = run_cli(capsys, "bench", "fit", "--programs", "table", "--targets", 1, "--methods", "cd,mcts",
                         "--budget", 4, "--views", 3, "--output", out)
    assert rc == 0, err
    records = json.loads(out.read_text())
    assert [r["method"] for r in records] == ["cd", "mcts"]
    for r in records:
        assert r["program"] == "table" and r["discrete_total"] >= 2
        assert 0 <= r["discrete_correct"] <= r["discrete_total"] and r["chamfer_cm"] >= 0
        assert r["seconds"] > 0 and math.isfinite(r["objective"])
        assert r["evaluations"] > 0 and r["evaluations_per_s"] > 0  # the fit's speed, printed per object
        assert r["evaluations_per_cpu_s"] >= r["evaluations_per_s"] * 0.9  # a fit takes at most its wall time in CPU
        if "miss" in r:  # diagnosed: the truth's objective is there and the kind follows from it
            assert r["miss"] == ("search" if r["objective"] > r["truth_objective"] * (1 + 1e-3) else "not identifiable")
            assert f"[{r['miss']}: objective" in text  # printed as text, not taken for console markup
    lines = text.strip().splitlines()
    assert sum(line.startswith("  table #0") for line in lines) == 2
    assert all(line.endswith(" per CPU s)") and " evaluations/s (" in line for line in lines if line.startswith("  table #0"))
    assert lines[-1].startswith("best=") and "discrete_accuracy=" in lines[-1] and "continuous_mae=" in lines[-1]
    assert "evaluations_per_s=" in lines[-1] and "evaluations_per_cpu_s=" in lines[-1]
    assert ("beats_cd_on=" in lines[-1]) == (not lines[-1].startswith("best=cd"))
    rc, _, err = run_cli(capsys, "bench", "fit", "--programs", "nosuch", "--targets", 1)
    assert rc == 2 and "unknown program 'nosuch'" in err


def test_bench_fit_bounds_every_fit_by_evaluations_when_asked(tmp_path, capsys):
    """``--max-evaluations`` bounds each fit by objective evaluations (runs compare settings whatever the
    machine's load): a fit of a 100-evaluation bound stops long before the time budget; 0 is refused."""
    out = tmp_path / "records.json"
    rc, text, err = run_cli(capsys, "bench", "fit", "--programs", "bed", "--targets", 1, "--methods", "mcts",
                            "--budget", 60, "--max-evaluations", 100, "--views", 3, "--output", out, "--no-diagnose")
    assert rc == 0, err
    assert "or 100 evaluations" in text
    (record,) = json.loads(out.read_text())
    assert record["seconds"] < 30
    rc, _, err = run_cli(capsys, "bench", "fit", "--programs", "bed", "--max-evaluations", 0)
    assert rc == 2 and "--max-evaluations must be at least 1" in err
