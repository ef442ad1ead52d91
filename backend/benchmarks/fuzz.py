"""``shapeprog bench fuzz [--seconds N]``: the fuzz targets of :mod:`backend.fuzzing` (the same ones the tests
run briefly under hypothesis), each with a seeded generator, for as long as asked.

Prints per target the cases tried, how many were accepted, refused with a clean one-line error, or failed
(any other exception, or an error of several lines); a failure's inputs are kept in ``--failures DIR/<target>-
<case>/`` with a ``reproduce.txt`` that says how to rerun it. The last line is ``fuzz_failures=<n>``.
"""

from __future__ import annotations

import random
import shutil
import tempfile
import time
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ..command import Command, UserError


@dataclass
class FuzzBenchConfig:
    seconds: float = 60.0
    """How long to fuzz, all targets together (each gets an equal share, round robin)."""
    targets: str = ""
    """Comma-separated targets (default: all; see backend/fuzzing.py)."""
    seed: int = 0
    """Seed of the first case; case k of a target uses random.Random(seed + k)."""
    failures: str = "fuzz-failures"
    """Folder that receives each failing case's inputs and a reproduce.txt."""
    threads: int = 1
    """torch CPU threads (0: torch's default)."""


def run(cfg: FuzzBenchConfig) -> int:
    import torch
    from rich.console import Console
    from rich.table import Table

    from ..fuzzing import TARGETS, run_case

    names = [t.strip() for t in cfg.targets.split(",") if t.strip()] or list(TARGETS)
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        raise UserError(f"--targets: unknown target(s) {', '.join(unknown)} (targets: {', '.join(TARGETS)})")
    if not cfg.seconds > 0:
        raise UserError(f"--seconds must be positive, got {cfg.seconds}")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    counts = {n: Counter() for n in names}
    first_failure: dict[str, str] = {}
    case = {n: 0 for n in names}
    spent = dict.fromkeys(names, 0.0)
    out = Path(cfg.failures)
    start = time.monotonic()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # readers warn about skipped frames and the like: not what is measured
        while time.monotonic() - start < cfg.seconds:
            name = min(names, key=spent.__getitem__)  # round robin by time: slow targets get their share
            t0 = time.monotonic()
            with tempfile.TemporaryDirectory() as tmp:
                folder = Path(tmp) / "case"
                folder.mkdir()
                outcome = run_case(TARGETS[name], random.Random(cfg.seed + case[name]), folder)
                counts[name][outcome.kind] += 1
                if outcome.kind == "failure":
                    keep = out / f"{name}-{cfg.seed + case[name]}"
                    shutil.copytree(folder, keep, dirs_exist_ok=True)
                    (keep / "reproduce.txt").write_text(
                        f"target {name}, case {cfg.seed + case[name]}: {outcome.message}\n"
                        f"rerun: python -c \"import random, pathlib; from backend.fuzzing import TARGETS, run_case; "
                        f"p = pathlib.Path('case'); p.mkdir(); print(run_case(TARGETS['{name}'], "
                        f"random.Random({cfg.seed + case[name]}), p))\"\n")
                    first_failure.setdefault(name, outcome.message)
            case[name] += 1
            spent[name] += time.monotonic() - t0
    table = Table(title=f"fuzzing for {cfg.seconds:g} s (seed {cfg.seed})")
    for col in ("target", "cases", "accepted", "clean errors", "failures"):
        table.add_column(col, justify="left" if col == "target" else "right")
    for n in names:
        c = counts[n]
        table.add_row(n, str(sum(c.values())), str(c["ok"]), str(c["clean"]), str(c["failure"]))
    Console().print(table)
    for n, msg in first_failure.items():
        print(f"{n}: first failure: {msg[:300]}")
    total = sum(sum(c.values()) for c in counts.values())
    failures = sum(c["failure"] for c in counts.values())
    print(f"cases={total} clean_errors={sum(c['clean'] for c in counts.values())} "
          f"accepted={sum(c['ok'] for c in counts.values())}" + (f" reproducers in {out}" if failures else ""))
    print(f"fuzz_failures={failures}")
    return 0


BENCHMARK = Command(name="fuzz", help="fuzz every reader a user reaches for a while (last line: fuzz_failures=<n>)",
                    config=FuzzBenchConfig, run=run)
