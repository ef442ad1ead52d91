"""``python -m backend.ops.native``: compile the kernels ahead of time (prints where they are, or why not)."""

import sys

from . import build, library_path

if __name__ == "__main__":
    try:
        print(f"compiled kernels: {build()}")
    except RuntimeError as exc:  # no compiler: the pure-torch paths run instead
        print(f"compiled kernels not built ({exc}); the pure-torch paths will run (expected {library_path()})")
    sys.exit(0)
