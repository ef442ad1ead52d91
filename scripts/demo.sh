#!/usr/bin/env bash
# Set up the environment if needed, then run the main job: the demo on the bundled sample scenes (CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
unset PYTHONDONTWRITEBYTECODE  # the demo's worker processes reuse the compiled modules (__pycache__, git-ignored)
exec .venv/bin/shapeprog demo "$@"
