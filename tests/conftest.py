"""Settings for the whole suite. Shared helpers are in tests/fixtures (``tests.fixtures.*``)."""

from __future__ import annotations

import torch

# The suite's tensors are tiny: one thread avoids oversubscribing a 2-core machine
# (with 2 threads, small ops are many times slower when the other core is busy).
torch.set_num_threads(1)
