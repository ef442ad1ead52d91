#!/usr/bin/env bash
# Create (or refresh) the project's environment from nothing: system libraries bpy links
# against, a Python 3.11 venv in .venv, torch 2.13.0 (the CPU wheel), bpy 5.0.1 and the
# project with its extras. Idempotent: a stamp keyed on pyproject.toml skips the work
# when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3

# bpy needs a few X11/GL client libraries even headless; g++ compiles the CPU kernels (backend/ops/native).
LIBS="libx11-6 libxi6 libxkbcommon0 libsm6 libxext6 libxrender1 libxfixes3 libgl1 libegl1 g++"
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  missing=""
  for p in $LIBS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
  if [ -n "$missing" ]; then
    echo "setup: installing$missing"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null) \
      || echo "setup: warning: could not install$missing (bpy may fail to import; without g++ the pure-torch paths run)"
  fi
fi

stamp=".venv/.shapeprog-$(sha1sum pyproject.toml | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  # torch first and pinned: a bare `torch` requirement could pull a multi-GB CUDA build.
  .venv/bin/python -m pip install -q "torch==2.13.0"
  .venv/bin/python -m pip install -q -e ".[blender,server,distributed,dev]"
  rm -f .venv/.shapeprog-*
  touch "$stamp"
  echo "setup: environment ready in .venv"
fi
# the compiled CPU kernels (backend/ops/native): built once per source hash with g++ (a second or so) and cached;
# without a compiler the pure-torch paths run
.venv/bin/python -m backend.ops.native || true
