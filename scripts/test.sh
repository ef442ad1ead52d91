#!/usr/bin/env bash
# Set up the environment if needed, then run the whole test suite (Blender parity tests included).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
