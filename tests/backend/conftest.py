"""Fixtures of the fitting tests (tests/backend/test_problem.py, test_metrics.py, fit/, commands/): the library's
bed and three synthetic scans of it with known parameters and pose, made once per session; the Ray tests' local
cluster."""

from __future__ import annotations

import os

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


@pytest.fixture(scope="session")
def local_ray():
    """A local Ray cluster (2 CPUs) shared by the Ray tests (tests/backend/jobs/test_ray_executor.py,
    tests/backend/scene/test_fit_scene_ray.py; all ``serial``, so one process runs them): started once, its
    workers stay warm between the files; shut down at the end of the session if this fixture started it."""
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'shapeprog[distributed]')")
    started = not ray.is_initialized()
    if started:
        # Ray kills workers when the whole machine passes 95 % memory, whoever uses it; on a shared test machine
        # that made fits fail for other processes' memory, so the test cluster leaves memory to the OS
        os.environ.setdefault("RAY_memory_monitor_refresh_ms", "0")
        ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield ray
    if started:
        ray.shutdown()
