#!/usr/bin/env bash
# Set up the environment if needed, then run the main job: the demo on the bundled sample scenes (CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/shapeprog demo "$@"
