#!/usr/bin/env bash
# Set up the environment if needed, lint the whole tree (ruff, the version pyproject.toml pins), then run the
# whole test suite (Blender parity tests included): first every test not marked `serial` on one pytest-xdist
# worker per core (a file's tests stay on one worker, so module fixtures are built once), then the `serial`
# tests alone (they measure wall-time budgets or start local Ray clusters, which a busy neighbour would skew).
# Arguments go to both pytest runs (e.g. `bash scripts/test.sh tests/backend -x`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Keep compiled bytecode (__pycache__, git-ignored) even where the environment asks Python not to write it: the
# suite starts dozens of Python processes (pytest workers, servers, job workers, command-line fits), and without
# it each one compiles the project's modules, and each pytest worker rewrites every test module, again.
unset PYTHONDONTWRITEBYTECODE
.venv/bin/ruff check .
workers=$(.venv/bin/python -c "import os; print(max(1, min(4, len(os.sched_getaffinity(0)))))")
status=0
run() {  # pytest's exit status 5 (nothing selected: arguments that pick only one kind of test) is not a failure
  .venv/bin/python -m pytest "$@" || { rc=$?; [ "$rc" = 5 ] || status=$rc; }
}
run -n "$workers" --dist loadfile -m "not serial" "$@"
run -m serial "$@"
exit "$status"
