"""Compiled CPU kernels (``kernels.cpp``, plain C ABI through :mod:`ctypes`), each the fast path of a
pure-torch computation that stays its tested reference.

The library is compiled on first use with the system's C++ compiler (``$CXX``, else ``g++`` or ``c++``;
about a second, no torch headers) into a cache folder (``$SHAPEPROG_NATIVE_CACHE``, else
``~/.cache/shapeprog/native``) under a name keyed on the source and the flags, so every process (fit
workers included) compiles it at most once; ``python -m backend.ops.native`` builds it ahead of time
(``scripts/setup.sh`` does). Without a compiler, or with ``SHAPEPROG_NATIVE=0``, :func:`available` is
False and the callers use their pure-torch paths (same results, slower).

Kernels:

* :func:`nearest_triangles`: the nearest triangle of every point in every candidate mesh and the
  closest point on it (exact, in float64, pruned by the triangles' bounding boxes): the discrete half of
  :class:`backend.ops.point_mesh.PointsToMesh`.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import torch

__all__ = ["available", "build", "disabled", "library_path", "nearest_triangles"]

SOURCE = Path(__file__).with_name("kernels.cpp")
FLAGS = ("-O3", "-std=c++17", "-shared", "-fPIC", "-fno-math-errno")
ABI_VERSION = 2

_lock = threading.Lock()
_lib: ctypes.CDLL | None = None
_failed: str | None = None


def disabled() -> bool:
    """Whether ``SHAPEPROG_NATIVE=0`` turns the compiled kernels off (the pure-torch paths run)."""
    return os.environ.get("SHAPEPROG_NATIVE", "1").strip().lower() in ("0", "false", "no", "off")


def _compiler() -> str | None:
    for name in (os.environ.get("CXX"), "g++", "c++", "clang++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def library_path() -> Path:
    """Where the compiled library of this source and these flags lives (it may not exist yet)."""
    key = hashlib.sha256(SOURCE.read_bytes() + " ".join(FLAGS).encode() + platform.machine().encode()).hexdigest()[:16]
    root = Path(os.environ.get("SHAPEPROG_NATIVE_CACHE") or Path.home() / ".cache" / "shapeprog" / "native")
    return root / f"shapeprog_kernels_{key}.so"


def build() -> Path:
    """Compile the kernels into :func:`library_path` unless they are there already; returns the path.
    Raises ``RuntimeError`` (one line) when no compiler is found or compiling fails."""
    path = library_path()
    if path.exists():
        return path
    cxx = _compiler()
    if cxx is None:
        raise RuntimeError("no C++ compiler found (set CXX, or install g++) for the compiled CPU kernels")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=path.parent)
    os.close(fd)
    try:
        proc = subprocess.run([cxx, *FLAGS, str(SOURCE), "-o", tmp], check=False, capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            msg = (proc.stderr or proc.stdout).strip().splitlines()
            raise RuntimeError(f"compiling {SOURCE.name} failed: {msg[0] if msg else proc.returncode}")
        os.replace(tmp, path)  # atomic: a process racing this one sees the whole library or none
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _load() -> ctypes.CDLL | None:
    global _lib, _failed
    if _lib is not None or _failed is not None:
        return _lib
    with _lock:
        if _lib is not None or _failed is not None:
            return _lib
        try:
            lib = ctypes.CDLL(str(build()))
            if lib.shapeprog_abi_version() != ABI_VERSION:
                raise RuntimeError("stale compiled kernels (ABI version)")
            i64, ptr = ctypes.c_int64, ctypes.c_void_p
            lib.shapeprog_nearest_triangles.argtypes = [ptr, i64, i64, ptr, i64, ptr, ptr]
            lib.shapeprog_nearest_triangles.restype = None
            _lib = lib
        except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
            _failed = str(exc)
    return _lib


def available() -> bool:
    """Whether the compiled kernels can run here (compiling them on the first call)."""
    return not disabled() and _load() is not None


def nearest_triangles(tris: torch.Tensor, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The nearest triangle of every point in every mesh and the closest point on it, exactly (float64).

    Args:
        tris: ``(K, T, 3, 3)`` the corners of each mesh's triangles (CPU, any float dtype).
        points: ``(P, 3)`` the points (CPU, any float dtype).

    Returns:
        ``(K, P)`` int64 triangle indices (among equally near triangles the first) and ``(K, P, 3)``
        float64 barycentric weights of the closest point on it (a degenerate triangle counts as its edges).
    """
    lib = _load()
    if lib is None or disabled():
        raise RuntimeError(f"the compiled kernels are not available: {_failed or 'turned off by SHAPEPROG_NATIVE=0'}")
    if tris.ndim != 4 or tris.shape[-2:] != (3, 3) or tris.shape[1] == 0:
        raise ValueError(f"tris must be (K, T, 3, 3) with T >= 1, got shape {tuple(tris.shape)}")
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"points must be (P, 3), got shape {tuple(points.shape)}")
    if tris.device.type != "cpu" or points.device.type != "cpu":
        raise ValueError("the compiled kernels run on CPU tensors only")
    t = tris.detach().to(torch.float64).contiguous()
    p = points.detach().to(torch.float64).contiguous()
    k, n = int(t.shape[0]), int(t.shape[1])
    out = torch.empty((k, int(p.shape[0])), dtype=torch.int64)
    bary = torch.empty((k, int(p.shape[0]), 3), dtype=torch.float64)
    lib.shapeprog_nearest_triangles(t.data_ptr(), k, n, p.data_ptr(), int(p.shape[0]), out.data_ptr(), bary.data_ptr())
    return out, bary
