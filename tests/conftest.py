"""Shared fixtures: the real reference programs in ../shared/reference_programs (skip when absent)."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import pytest
import torch

# The suite's tensors are tiny: one thread avoids oversubscribing a 2-core machine
# (with 2 threads, small ops are many times slower when the other core is busy).
torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # tests import the parity harness as `parity`

REFERENCE_DIR = ROOT.parent / "shared" / "reference_programs"
REFERENCE_NAMES = ("table", "cabinet", "bed", "test")


def reference_available() -> bool:
    return all((REFERENCE_DIR / f"{n}.blend").is_file() for n in REFERENCE_NAMES)


requires_reference = pytest.mark.skipif(
    not reference_available(), reason=f"reference programs not found in {REFERENCE_DIR} (../shared is absent)"
)


@functools.cache
def export_reference(name: str):
    """The reference program ``name`` exported from its .blend (needs bpy), cached per session."""
    from translator.blender_export import export_blend

    return export_blend(REFERENCE_DIR / f"{name}.blend")


def sp_config(name: str) -> Path:
    return REFERENCE_DIR / f"sp_{'cabinet' if name == 'test' else name}.json"
