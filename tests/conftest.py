"""Settings for the whole suite. Shared helpers are in tests/fixtures (``tests.fixtures.*``)."""

from __future__ import annotations

import importlib
import sys

import torch

# The suite's tensors are tiny: one thread avoids oversubscribing a 2-core machine
# (with 2 threads, small ops are many times slower when the other core is busy).
torch.set_num_threads(1)

# Temporary, until the add-on tests move to tests/blender_addon/ (issue #15): tests/test_addon*.py still import
# the parity harness and their stand-in service by their old top-level names. Remove with them.
sys.modules.setdefault("parity", importlib.import_module("tests.fixtures.parity"))
sys.modules.setdefault("addon_fake_backend", importlib.import_module("tests.addon_fake_backend"))
