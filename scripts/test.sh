#!/usr/bin/env bash
# Set up the environment if needed, lint the whole tree (ruff, the version pyproject.toml pins), then run the
# whole test suite (Blender parity tests included).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
exec .venv/bin/python -m pytest "$@"
