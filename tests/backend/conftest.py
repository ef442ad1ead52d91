"""Fixtures of the fitting tests (tests/backend/test_problem.py, test_metrics.py, fit/, commands/): the library's
bed and three synthetic scans of it with known parameters and pose, made once per session."""

from __future__ import annotations

import pytest

from tests.fixtures.fitting import BED, LOCKED, make_target
from translator.codegen import compile_program
from translator.loading import load_any
from translator.params import parameter_space


@pytest.fixture(scope="session")
def bed():
    program = load_any(BED)
    return program, parameter_space(program), compile_program(program)


@pytest.fixture(scope="session")
def targets(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bed_targets")
    # noise-free, seen from all around, with a low mattress (so that a footboard cannot hide behind it)
    low = {**LOCKED, "Frame Height": 0.22, "Mattress Thickness": 0.15}
    around = (330.0, 360.0)
    return {
        "panel": make_target(tmp, "panel", 1, "none", {**low, "Headboard Style": "Panel", "Has Footboard": False}, 0.7,
                             around),
        "slatted": make_target(tmp, "slatted", 2, "none", {**low, "Headboard Style": "Slatted", "Has Footboard": True},
                               -2.0, around),
        "noisy": make_target(tmp, "noisy", 3, "scannet", {}),
        "folder": tmp,
    }
