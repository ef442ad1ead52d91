"""Compiled CPU kernels (``kernels.cpp``, plain C ABI through :mod:`ctypes`), each the fast path of a
pure-torch computation that stays its tested reference.

The library is compiled on first use with the system's C++ compiler (``$CXX``, else ``g++`` or ``c++``;
about a second, no torch headers) into a cache folder (``$SHAPEPROG_NATIVE_CACHE``, else
``~/.cache/shapeprog/native``) under a name keyed on the source and the flags, so every process (fit
workers included) compiles it at most once; ``python -m backend.ops.native`` builds it ahead of time
(``scripts/setup.sh`` does). Without a compiler, or with ``SHAPEPROG_NATIVE=0``, :func:`available` is
False and the callers use their pure-torch paths (same results, slower).

Kernels:

* :func:`raster_setup`, :func:`raster_zbuffer`, :func:`raster_saturated`, :func:`raster_band_pairs`: the discrete
  half of the ``"torch"`` rasterizer (:mod:`backend.render.raster`: the triangles' screen-space setup, the
  z-buffer, the saturated pixels, the silhouette's (pixel, triangle) pairs), the same arithmetic in the same
  order, so equal results;
* :func:`silhouette_logq`, :func:`silhouette_logq_backward`: the soft silhouette's per-pixel ``sum_j log(1 - D_j)``
  and its backward (``_SilhouetteLogQ`` of :mod:`backend.render.raster`, whose torch code is the reference);
* :func:`blend_corners`, :func:`blend_corners_backward`: points at barycentric weights of chosen triangles and
  the backward (:func:`backend.ops.blend.blend_corners`, whose torch gather is the reference);
* :class:`PointGrid`: the nearest of fixed points within a reach (exact; a uniform grid searched ring by
  ring), the search of :class:`backend.ops.knn.ScanNeighbours` (whose KD-tree is its reference);
* :func:`nearest_triangles`: the nearest triangle of every point in every candidate mesh and the
  closest point on it (exact, in float64: a bounding-volume hierarchy per mesh, searched nearer box first
  from the previous point's nearest triangle): the discrete half of
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

__all__ = ["PointGrid", "available", "blend_corners", "blend_corners_backward", "build", "disabled", "library_path", "nearest_triangles", "raster_band_pairs", "raster_saturated",
           "raster_setup", "raster_zbuffer", "silhouette_logq", "silhouette_logq_backward"]

SOURCE = Path(__file__).with_name("kernels.cpp")
FLAGS = ("-O3", "-std=c++17", "-shared", "-fPIC", "-fno-math-errno", "-ffp-contract=off")
ABI_VERSION = 13

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
            cint, u8, f64 = ctypes.c_int, ctypes.c_void_p, ctypes.c_double
            lib.shapeprog_raster_setup.argtypes = [cint, ptr, ptr, ptr, i64, f64, f64, f64, cint, ptr, ptr, ptr, ptr]
            lib.shapeprog_raster_setup.restype = None
            lib.shapeprog_raster_zbuffer.argtypes = [cint, u8, ptr, ptr, ptr, i64, i64, i64, i64, ptr]
            lib.shapeprog_raster_zbuffer.restype = None
            lib.shapeprog_raster_saturated.argtypes = [ptr, i64, i64, i64, i64, ptr]
            lib.shapeprog_raster_saturated.restype = None
            lib.shapeprog_raster_band_pairs.argtypes = [cint, u8, u8, ptr, ptr, ptr, ptr, i64, i64, i64, i64, ctypes.c_double,
                                                        ptr, ptr, ptr, ptr, ptr, ptr, ptr]
            lib.shapeprog_raster_band_pairs.restype = i64
            lib.shapeprog_silhouette_logq.argtypes = [cint, ptr, ptr, ptr, ptr, ptr, i64, ctypes.c_double, ctypes.c_double,
                                                      ptr, i64, ptr, ptr, ptr, ptr, ptr, ptr]
            lib.shapeprog_silhouette_logq.restype = None
            lib.shapeprog_silhouette_logq_backward.argtypes = [cint, ptr, ptr, ptr, ptr, ptr, ptr, ptr, i64, i64, ptr]
            lib.shapeprog_silhouette_logq_backward.restype = None
            lib.shapeprog_blend_corners.argtypes = [cint, ptr, i64, i64, ptr, ptr, i64, ptr]
            lib.shapeprog_blend_corners.restype = None
            lib.shapeprog_blend_corners_backward.argtypes = [cint, ptr, i64, i64, ptr, ptr, i64, ptr]
            lib.shapeprog_blend_corners_backward.restype = None
            lib.shapeprog_grid_nearest.argtypes = [ptr, ptr, ptr, ptr, ctypes.c_double, ptr, i64, ctypes.c_double, ptr]
            lib.shapeprog_grid_nearest.restype = None
            _lib = lib
        except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
            _failed = str(exc)
    return _lib


def available() -> bool:
    """Whether the compiled kernels can run here (compiling them on the first call)."""
    return not disabled() and _load() is not None


def _lib_or_raise() -> ctypes.CDLL:
    lib = _load()
    if lib is None or disabled():
        raise RuntimeError(f"the compiled kernels are not available: {_failed or 'turned off by SHAPEPROG_NATIVE=0'}")
    return lib


def _dtype_code(*tensors: torch.Tensor) -> int:
    dtypes = {t.dtype for t in tensors}
    if dtypes == {torch.float32}:
        return 0
    if dtypes == {torch.float64}:
        return 1
    raise ValueError(f"expected float32 or float64 tensors of one dtype, got {sorted(map(str, dtypes))}")


def raster_setup(uv: torch.Tensor, z: torch.Tensor, length: torch.Tensor, znear: float, area_eps: float, len_eps: float,
                 cull_backfaces: bool, dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
    """The triangles' screen-space setup, as :func:`backend.render.raster._triangle_setup` (computed in float64).

    Args:
        uv: ``(T, 3, 2)`` projected corners (px), z: ``(T, 3)`` their camera depths, length: ``(T, 3)`` the edges'
            lengths as the torch setup computes them (torch's sqrt is not always correctly rounded); all float64
            on CPU. znear, area_eps, len_eps, cull_backfaces: the culling settings; dtype: float32 or float64, of
            the outputs.

    Returns:
        ``valid (T,)`` bool, ``lines (T, 4, 4)``, ``inv_z (T, 3)`` and ``box (T, 4)`` in ``dtype``."""
    lib = _lib_or_raise()
    uv, z, length = (v.to(torch.float64).contiguous() for v in (uv, z, length))
    t = int(uv.shape[0])
    valid = torch.empty(t, dtype=torch.uint8)
    lines, inv_z, box = torch.empty((t, 4, 4), dtype=dtype), torch.empty((t, 3), dtype=dtype), torch.empty((t, 4), dtype=dtype)
    lib.shapeprog_raster_setup(_dtype_code(lines), uv.data_ptr(), z.data_ptr(), length.data_ptr(), t, float(znear), float(area_eps), float(len_eps),
                               int(bool(cull_backfaces)), valid.data_ptr(), lines.data_ptr(), inv_z.data_ptr(), box.data_ptr())
    return valid.bool(), lines, inv_z, box


def raster_zbuffer(valid: torch.Tensor, lines: torch.Tensor, inv_z: torch.Tensor, box: torch.Tensor, images: int,
                   height: int, width: int) -> torch.Tensor:
    """The visible triangle of every pixel (``-1``: none), as :func:`backend.render.raster._zbuffer`.

    Args:
        valid: ``(B * F,)`` bool; lines: ``(B * F, 4, 4)``; inv_z: ``(B * F, 3)``; box: ``(B * F, 4)`` (the
            rasterizer's triangle setup, float32 or float64, CPU), ``B = images``.

    Returns:
        ``(B * H * W,)`` int64."""
    lib = _lib_or_raise()
    code = _dtype_code(lines, inv_z, box)
    v, ln, iz, bx = (x.contiguous() for x in (valid.to(torch.uint8), lines, inv_z, box))
    faces = v.numel() // max(1, images)
    out = torch.empty(images * height * width, dtype=torch.int64)
    lib.shapeprog_raster_zbuffer(code, v.data_ptr(), ln.data_ptr(), iz.data_ptr(), bx.data_ptr(), images, faces, height, width,
                                 out.data_ptr())
    return out


def raster_saturated(face: torch.Tensor, images: int, height: int, width: int, radius: int) -> torch.Tensor:
    """``(B * H * W,)`` bool: the ``(2 radius + 1)^2`` window around the pixel (clipped to the image) is all hit
    in ``face (B * H * W,)`` (as :func:`backend.render.raster._saturated`)."""
    lib = _lib_or_raise()
    f = face.contiguous()
    out = torch.empty(images * height * width, dtype=torch.uint8)
    lib.shapeprog_raster_saturated(f.data_ptr(), images, height, width, int(radius), out.data_ptr())
    return out.bool()


def raster_band_pairs(valid: torch.Tensor, front: torch.Tensor, lines: torch.Tensor, box: torch.Tensor, face: torch.Tensor,
                      saturated: torch.Tensor, images: int, height: int, width: int, band: float):
    """The silhouette's (pixel, triangle) pairs, as :func:`backend.render.raster._silhouette_pairs` (in the same
    order): pixel ``(M,)`` (over all images), triangle (``image * F + face``), x and y, all int64; and the
    distinct pixels of the pairs: ``slot (M,)``, the pair's pixel among them, and ``upix (U,)``, those pixels
    (in order of first appearance). ``front``: ``(B * F,)`` bool, the triangles facing the camera."""
    lib = _lib_or_raise()
    code = _dtype_code(lines, box)
    v, fr, ln, bx, f = (x.contiguous() for x in (valid.to(torch.uint8), front.to(torch.uint8), lines, box, face))
    sat = saturated.to(torch.uint8).contiguous()
    faces = v.numel() // max(1, images)
    args = (code, v.data_ptr(), fr.data_ptr(), ln.data_ptr(), bx.data_ptr(), f.data_ptr(), sat.data_ptr(), images, faces,
            height, width, float(band))
    unique = torch.zeros(1, dtype=torch.int64)
    m = lib.shapeprog_raster_band_pairs(*args, None, None, None, None, None, None, unique.data_ptr())
    out = [torch.empty(m, dtype=torch.int64) for _ in range(5)] + [torch.empty(int(unique), dtype=torch.int64)]
    lib.shapeprog_raster_band_pairs(*args, *(o.data_ptr() for o in out), unique.data_ptr())
    return tuple(out)


def silhouette_logq(tri_uv: torch.Tensor, pix: torch.Tensor, tri: torch.Tensor, x: torch.Tensor, y: torch.Tensor, npix: int,
                    sigma: float, eps: float, outside: torch.Tensor | None = None):
    """The soft silhouette's ``sum_j log(1 - D_j)`` per pixel over the ``M`` (pixel, triangle) pairs, no autograd; at the
    pixels ``outside`` (``(npix,)`` bool) the lowest ``log(1 - D_j)`` only (its first pair; the others' ``gx``, ``gy`` are 0).

    Args:
        tri_uv: ``(T, 3, 2)`` projected triangles (float32 or float64, CPU); pix, tri, x, y: ``(M,)`` int64
            pairs (:func:`raster_band_pairs`); npix: pixels of the output; sigma, eps: the silhouette's settings;
            outside: the output pixels that no triangle covers (None: none).

    Returns:
        ``logq (npix,)`` and, per pair, what the backward needs: the nearest edge's two corners as
        ``triangle * 3 + corner`` (``ia``, ``ib``, int64), ``d logq / d signed distance`` times the
        pixel-to-edge vector (``gx``, ``gy``) and the position on the edge (``s``)."""
    lib = _lib_or_raise()
    code = _dtype_code(tri_uv)
    uv = tri_uv.detach().contiguous()
    p, t, xs, ys = (v.contiguous() for v in (pix, tri, x, y))
    m = int(p.numel())
    out = torch.zeros(int(npix), dtype=uv.dtype)
    ia, ib = torch.empty(m, dtype=torch.int64), torch.empty(m, dtype=torch.int64)
    gx, gy, gs = (torch.empty(m, dtype=uv.dtype) for _ in range(3))
    flags = None
    if outside is not None:
        flags = outside.detach().to(torch.uint8).contiguous()
        if flags.numel() != int(npix):
            raise ValueError(f"outside must have npix = {int(npix)} entries, got {flags.numel()}")
    lib.shapeprog_silhouette_logq(code, uv.data_ptr(), p.data_ptr(), t.data_ptr(), xs.data_ptr(), ys.data_ptr(), m, float(sigma),
                                  float(eps), None if flags is None else flags.data_ptr(), int(npix), out.data_ptr(),
                                  ia.data_ptr(), ib.data_ptr(), gx.data_ptr(), gy.data_ptr(), gs.data_ptr())
    return out, ia, ib, gx, gy, gs


def silhouette_logq_backward(grad: torch.Tensor, pix: torch.Tensor, ia: torch.Tensor, ib: torch.Tensor, gx: torch.Tensor,
                             gy: torch.Tensor, gs: torch.Tensor, num: int) -> torch.Tensor:
    """The backward of :func:`silhouette_logq`: ``grad (npix,)`` of its output and what it returned per pair (``pix``,
    ``ia``, ``ib``, ``gx``, ``gy``, ``gs``, ``(M,)``) -> ``(2, num)`` the gradient of every corner's x and y
    (``num = 3 T``), accumulated in the order of ``_SilhouetteLogQ.backward``'s torch code (equal results)."""
    lib = _lib_or_raise()
    code = _dtype_code(grad, gx, gy, gs)
    g = grad.contiguous()
    p, a, b, x, y, s = (v.contiguous() for v in (pix, ia, ib, gx, gy, gs))
    out = torch.zeros((2, int(num)), dtype=g.dtype)
    lib.shapeprog_silhouette_logq_backward(code, g.data_ptr(), p.data_ptr(), a.data_ptr(), b.data_ptr(), x.data_ptr(), y.data_ptr(),
                                           s.data_ptr(), int(p.numel()), int(num), out.data_ptr())
    return out


def blend_corners(tv: torch.Tensor, face: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``(K, P, 3)``: the points at barycentric weights ``w (K, P, 3)`` of the triangles ``face (K, P)`` (int64, each
    in ``[0, T)``) of ``tv (K, T, 3, 3)`` (CPU, float32 or float64, ``w`` of the same dtype), no autograd."""
    lib = _lib_or_raise()
    t, f, ww = tv.detach().contiguous(), face.contiguous(), w.detach().contiguous()
    k, n, p = int(t.shape[0]), int(t.shape[1]), int(f.shape[1])
    out = torch.empty((k, p, 3), dtype=t.dtype)
    lib.shapeprog_blend_corners(_dtype_code(t, ww), t.data_ptr(), k, n, f.data_ptr(), ww.data_ptr(), p, out.data_ptr())
    return out


def blend_corners_backward(grad: torch.Tensor, face: torch.Tensor, w: torch.Tensor, num_triangles: int) -> torch.Tensor:
    """The backward of :func:`blend_corners` w.r.t. ``tv``: ``grad (K, P, 3)`` -> ``(K, T, 3, 3)``, summed over the
    points in order (as the torch gather's backward does: equal results)."""
    lib = _lib_or_raise()
    g, f, ww = grad.contiguous(), face.contiguous(), w.detach().contiguous()
    k, p = int(f.shape[0]), int(f.shape[1])
    out = torch.zeros((k, int(num_triangles), 3, 3), dtype=g.dtype)
    lib.shapeprog_blend_corners_backward(_dtype_code(g, ww), g.data_ptr(), k, int(num_triangles), f.data_ptr(), ww.data_ptr(), p,
                                         out.data_ptr())
    return out


class PointGrid:
    """Fixed points bucketed in a uniform grid of ``cell``-sized cells, for exact nearest-point queries within a
    reach (:meth:`nearest`).

    Args:
        points: ``(P, 3)`` the points (CPU, any float dtype; searched in float64).
        cell: the cells' edge (the reach / 2 answers a query in a few dozen cells).
    """

    def __init__(self, points: torch.Tensor, cell: float):
        if points.ndim != 2 or points.shape[1] != 3 or points.shape[0] == 0:
            raise ValueError(f"points must be (P, 3) with P >= 1, got shape {tuple(points.shape)}")
        if not cell > 0:
            raise ValueError(f"cell must be positive, got {cell}")
        p = points.detach().to("cpu", torch.float64)
        self.cell = float(cell)
        self.origin = p.min(0).values.contiguous()
        self.dims = (torch.floor((p.max(0).values - self.origin) / self.cell).long() + 1).contiguous()
        c = torch.floor((p - self.origin) / self.cell).long().minimum(self.dims - 1)
        key = (c[:, 0] * self.dims[1] + c[:, 1]) * self.dims[2] + c[:, 2]
        self.order = torch.argsort(key, stable=True)
        """``(P,)`` the points' rows in the order the grid stores them."""
        self.points = p.index_select(0, self.order).contiguous()
        count = torch.bincount(key, minlength=int(self.dims.prod()))
        self.start = torch.cat([torch.zeros(1, dtype=torch.long), torch.cumsum(count, 0)]).contiguous()

    def nearest(self, queries: torch.Tensor, reach: float) -> torch.Tensor:
        """``(Q,)`` int64: the row of each query's nearest point (``queries (Q, 3)``) when nearer than ``reach``,
        else -1 (among equally near points any one)."""
        lib = _lib_or_raise()
        if queries.ndim != 2 or queries.shape[1] != 3:
            raise ValueError(f"queries must be (Q, 3), got shape {tuple(queries.shape)}")
        q = queries.detach().to("cpu", torch.float64).contiguous()
        out = torch.empty(int(q.shape[0]), dtype=torch.int64)
        lib.shapeprog_grid_nearest(self.points.data_ptr(), self.start.data_ptr(), self.origin.data_ptr(), self.dims.data_ptr(),
                                   self.cell, q.data_ptr(), int(q.shape[0]), float(reach), out.data_ptr())
        found = out >= 0
        return torch.where(found, self.order.index_select(0, out.clamp_min(0)), out)


def nearest_triangles(tris: torch.Tensor, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The nearest triangle of every point in every mesh and the closest point on it, exactly (float64).

    Args:
        tris: ``(K, T, 3, 3)`` the corners of each mesh's triangles (CPU, any float dtype).
        points: ``(P, 3)`` the points (CPU, any float dtype).

    Returns:
        ``(K, P)`` int64 triangle indices (among equally near triangles the first) and ``(K, P, 3)``
        float64 barycentric weights of the closest point on it (a degenerate triangle counts as its edges).

    Each point starts from the previous point's nearest triangle: points in a spatial order
    (:func:`backend.ops.point_mesh.spatial_order`) are answered about twice as fast.
    """
    lib = _lib_or_raise()
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
