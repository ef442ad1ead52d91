"""``shapeprog batch MANIFEST -o OUT``: fit every row of a manifest (JSON or CSV; see
:mod:`backend.jobs.manifest`) in parallel, in local worker processes or on Ray.

Each row writes ``OUT/<name>/`` (the same folder ``shapeprog fit`` writes). Rerunning skips the rows
whose folder holds a finished result. A bad row is recorded as failed with its one-line error and never
stops the others. At the end: a summary table and ``OUT/summary.csv``; the exit status is 1 when a row
failed. Ctrl-C stops the running fits (each keeps its best result) and drops the rest.
"""

from __future__ import annotations

import csv
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..command import Command, UserError

__all__ = ["BatchConfig", "run"]

SUMMARY_COLUMNS = ("row", "name", "program", "scan", "state", "skipped", "objective", "evaluations", "seconds", "error", "output")


@dataclass
class BatchConfig:
    manifest: str
    """The manifest: a JSON list of rows or a CSV with a header (program, scan, frames, instance_id, object_id, options, name, ...)."""
    output: str = field(default=None, metadata={"short": "-o"})  # type: ignore[assignment]
    """Output folder: one folder per row and summary.csv."""
    ray: str | None = None
    """Run the fits on Ray: a cluster address (auto, HOST:6379, ray://HOST:10001) or 'local' for a Ray started here."""
    jobs: int | None = None
    """Fits at once (default: one per two cores; on Ray: the cluster's CPUs)."""
    budget: float | None = None
    """Time budget in seconds of the rows that do not set their own."""
    threads: int = 1
    """Torch threads per fit."""
    quiet: bool = False
    """No progress bars."""


def _summary_row(row, state: str, skipped: bool, outcome=None, error: str | None = None) -> dict:
    return {"row": row.index, "name": row.name, "program": row.program, "scan": row.scan, "state": state,
            "skipped": "yes" if skipped else "", "objective": "" if outcome is None or outcome.objective is None
            else f"{outcome.objective:.6g}", "evaluations": "" if outcome is None or outcome.evaluations is None
            else outcome.evaluations, "seconds": "" if outcome is None else f"{outcome.seconds:.1f}",
            "error": error or (outcome.error if outcome is not None else "") or "",
            "output": row.spec.output if row.spec is not None else ""}


def _objective(folder: Path) -> str:
    import json

    try:
        return f"{json.loads((folder / 'result.json').read_text())['objective']:.6g}"
    except (OSError, ValueError, KeyError, TypeError):
        return ""


def run(cfg: BatchConfig) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from ..jobs import make_executor
    from ..jobs.manifest import ManifestError, is_complete, read_manifest

    if not cfg.output:
        raise UserError("-o/--output is required")
    if cfg.jobs is not None and cfg.jobs < 1:
        raise UserError(f"--jobs must be at least 1, got {cfg.jobs}")
    try:
        rows = read_manifest(cfg.manifest, cfg.output, cfg.budget, cfg.threads)
    except ManifestError as exc:
        raise UserError(str(exc)) from None
    if not rows:
        raise UserError(f"{cfg.manifest}: no rows")
    out = Path(cfg.output)
    out.mkdir(parents=True, exist_ok=True)
    console = Console(stderr=True)
    results: dict[int, dict] = {}
    todo = []
    for row in rows:
        if row.spec is None:
            results[row.index] = _summary_row(row, "failed", False, error=row.error)
        elif is_complete(Path(row.spec.output)):
            results[row.index] = {**_summary_row(row, "succeeded", True), "objective": _objective(Path(row.spec.output))}
        else:
            todo.append(row)
    skipped = sum(1 for r in results.values() if r["skipped"])
    console.print(f"batch: {len(rows)} rows, {skipped} already done, {len(rows) - len(todo) - skipped} unreadable, "
                  f"{len(todo)} to fit" + (f" on Ray ({cfg.ray})" if cfg.ray else ""))
    if todo:
        try:
            executor = make_executor(cfg.ray, cfg.jobs, threads=cfg.threads)
        except RuntimeError as exc:
            raise UserError(" ".join(str(exc).split())) from None
        done = threading.Event()
        lock = threading.Lock()
        remaining = {row.spec.id: row for row in todo}
        progress = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"),
                            TimeElapsedColumn(), console=console, disable=cfg.quiet)
        overall = progress.add_task(f"batch ({len(todo)} fits)", total=len(todo), info="")
        bars: dict[str, int] = {}

        def on_start(job_id: str) -> None:
            with lock:
                bars[job_id] = progress.add_task(f"  {remaining[job_id].name}", total=1.0, info="starting")

        def on_progress(job_id: str, p: dict) -> None:
            with lock:
                if job_id in bars:
                    progress.update(bars[job_id], completed=p["fraction"],
                                    info=f"step {p['step']} best {p['best_objective'] or 0:.4g}")

        def on_done(job_id: str, outcome) -> None:
            with lock:
                row = remaining.pop(job_id)
                results[row.index] = _summary_row(row, outcome.state, False, outcome)
                if job_id in bars:
                    progress.remove_task(bars.pop(job_id))
                progress.update(overall, advance=1, info=f"{row.name}: {outcome.state}")
                if outcome.state == "failed":
                    progress.console.print(f"[red]row {row.index} ({row.name}) failed:[/red] {outcome.error}", markup=True,
                                           highlight=False, soft_wrap=True)
                if not remaining:
                    done.set()

        t0 = time.perf_counter()
        try:
            with progress:
                for row in todo:
                    executor.submit(row.spec, on_progress, on_done, on_start)
                while not done.wait(0.2):
                    pass
        except KeyboardInterrupt:
            console.print("interrupted: stopping the running fits (each keeps its best result)")
        finally:
            executor.shutdown(wait=10.0)
        console.print(f"fitted {len(todo) - len(remaining)} rows in {time.perf_counter() - t0:.1f} s")
    ordered = [results[r.index] for r in rows if r.index in results]
    with open(out / "summary.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=SUMMARY_COLUMNS)
        writer.writeheader()
        writer.writerows(ordered)
    table = Table(title=f"batch {cfg.manifest}")
    for col in ("row", "name", "state", "objective", "seconds", "error"):
        table.add_column(col, overflow="fold")
    for r in ordered:
        state = r["state"] + (" (done before)" if r["skipped"] else "")
        table.add_row(str(r["row"]), r["name"], state, r["objective"], r["seconds"], r["error"])
    Console().print(table)
    counts = {s: sum(1 for r in ordered if r["state"] == s) for s in ("succeeded", "failed", "cancelled")}
    print(f"batch: {counts['succeeded']} succeeded ({skipped} skipped as done), {counts['failed']} failed, "
          f"{counts['cancelled']} cancelled -> {out / 'summary.csv'}")
    return 1 if counts["failed"] or counts["cancelled"] else 0


COMMAND = Command(name="batch", help="fit every row of a manifest (JSON or CSV) in parallel, locally or on Ray",
                  config=BatchConfig, run=run, positional=("manifest",),
                  description="Fit every row of a manifest (JSON or CSV: program, scan or frames folder or ScanNet scene + "
                              "object id, options) in parallel, in local worker processes or on Ray (--ray). Resumable: "
                              "rows whose folder holds a finished result are skipped. Writes OUT/<row>/ and OUT/summary.csv.")
