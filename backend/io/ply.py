"""PLY point clouds and meshes: :func:`load_ply` (binary or ascii, colors and normals when present) and
:func:`write_point_cloud`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..structures import PointCloud, ScanError, check_finite

__all__ = ["load_ply", "write_point_cloud"]


_COLOR_NAMES = (("red", "green", "blue"), ("r", "g", "b"), ("diffuse_red", "diffuse_green", "diffuse_blue"))


def _triangulate(polys: list[np.ndarray]) -> np.ndarray:
    """Fan-triangulate polygons given as index arrays -> ``(T, 3)`` int64, in face order."""
    sizes = np.array([len(p) for p in polys], dtype=np.int64)
    tris, owners = [], []
    for n in np.unique(sizes):
        if n < 3:
            continue
        faces = np.nonzero(sizes == n)[0]
        block = np.stack([np.asarray(polys[i], dtype=np.int64) for i in faces])
        k = np.arange(1, n - 1)
        t = np.stack([np.repeat(block[:, :1], n - 2, 1), block[:, k], block[:, k + 1]], axis=2)
        tris.append(t.reshape(-1, 3))
        owners.append(np.repeat(faces, n - 2))
    if not tris:
        return np.zeros((0, 3), dtype=np.int64)
    order = np.argsort(np.concatenate(owners), kind="stable")
    return np.concatenate(tris)[order]


def _check_counts(path: Path) -> None:
    """Refuse a header whose element counts the file cannot hold (every element row takes at least one byte), so
    that a damaged or hostile count (10^12 vertices) is not allocated before the body is read."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(1 << 16)
    if not head.startswith(b"ply"):
        raise ScanError(f"{path}: cannot read PLY: not a PLY file (no 'ply' magic)")
    for line in head.split(b"end_header", 1)[0].splitlines():
        words = line.split()
        if len(words) == 3 and words[0] == b"element":
            try:
                count = int(words[2])
            except ValueError:
                raise ScanError(f"{path}: cannot read PLY: element {words[1].decode(errors='replace')!r} has count "
                                f"{words[2].decode(errors='replace')!r}") from None
            if not 0 <= count <= size:
                raise ScanError(f"{path}: cannot read PLY: the header declares {count:,} "
                                f"{words[1].decode(errors='replace')} elements but the file has {size:,} bytes")


def load_ply(path: str | Path) -> PointCloud:
    """Read a ``.ply`` point cloud or mesh (binary or ascii) with colors and normals when present.

    Colors stored as integers are scaled from [0, 255]; float colors are taken as [0, 1].
    Raises :class:`ScanError` for unreadable files, missing x/y/z, no points, NaN/inf
    positions and faces that index missing vertices.
    """
    from plyfile import PlyData, PlyParseError

    path = Path(path)
    if not path.is_file():
        raise ScanError(f"{path}: no such file")
    _check_counts(path)
    try:
        ply = PlyData.read(str(path))
    except (PlyParseError, ValueError, OSError, EOFError, IndexError, KeyError, UnicodeDecodeError) as exc:
        msg = " ".join(str(exc).split()) or type(exc).__name__
        raise ScanError(f"{path}: cannot read PLY: {msg}") from None
    names = [e.name for e in ply.elements]
    if "vertex" not in names:
        raise ScanError(f"{path}: no 'vertex' element (elements: {', '.join(names) or 'none'})")
    v = ply["vertex"].data
    props = set(v.dtype.names or ())
    if not {"x", "y", "z"} <= props:
        raise ScanError(f"{path}: vertices lack x/y/z (properties: {', '.join(sorted(props))})")
    if len(v) == 0:
        raise ScanError(f"{path}: no points")
    pts = np.stack([v["x"], v["y"], v["z"]], axis=1).astype(np.float64)
    check_finite(pts, "points", path)
    colors = normals = faces = None
    for cn in _COLOR_NAMES:
        if set(cn) <= props:
            c = np.stack([v[n] for n in cn], axis=1)
            if np.issubdtype(c.dtype, np.integer):
                c = c.astype(np.float32) / 255.0
            c = c.astype(np.float32)
            check_finite(c, "colors", path)
            colors = torch.from_numpy(np.clip(c, 0.0, 1.0))
            break
    if {"nx", "ny", "nz"} <= props:
        nrm = np.stack([v["nx"], v["ny"], v["nz"]], axis=1).astype(np.float32)
        check_finite(nrm, "normals", path)
        normals = torch.from_numpy(nrm)
    if "face" in names and len(ply["face"].data) > 0:
        fd = ply["face"].data
        key = next((k for k in ("vertex_indices", "vertex_index") if k in (fd.dtype.names or ())), None)
        if key is None:
            raise ScanError(f"{path}: faces lack 'vertex_indices'")
        col = fd[key]
        polys = list(col) if col.dtype == object else [row for row in np.asarray(col)]
        tris = _triangulate(polys)
        if tris.size and (tris.min() < 0 or tris.max() >= len(pts)):
            raise ScanError(f"{path}: faces index vertices outside 0..{len(pts) - 1}")
        faces = torch.from_numpy(tris)
    return PointCloud(torch.from_numpy(pts.astype(np.float32)), colors, normals, faces, path)


def write_point_cloud(path: str | Path, points: Any, colors: Any = None, normals: Any = None, text: bool = False) -> None:
    """Write ``points (P, 3)`` (+ ``colors (P, 3)`` in [0, 1], ``normals (P, 3)``) as a PLY point cloud."""
    from plyfile import PlyData, PlyElement

    p = np.asarray(torch.as_tensor(points).detach().cpu(), dtype=np.float32).reshape(-1, 3)
    dtype = [("x", "f4"), ("y", "f4"), ("z", "f4")]
    if normals is not None:
        dtype += [("nx", "f4"), ("ny", "f4"), ("nz", "f4")]
    if colors is not None:
        dtype += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
    arr = np.empty(len(p), dtype=dtype)
    arr["x"], arr["y"], arr["z"] = p.T
    if normals is not None:
        n = np.asarray(torch.as_tensor(normals).detach().cpu(), dtype=np.float32).reshape(-1, 3)
        arr["nx"], arr["ny"], arr["nz"] = n.T
    if colors is not None:
        c = np.asarray(torch.as_tensor(colors).detach().cpu(), dtype=np.float32).reshape(-1, 3)
        c8 = np.clip(np.round(c * 255.0), 0, 255).astype(np.uint8)
        arr["red"], arr["green"], arr["blue"] = c8.T
    PlyData([PlyElement.describe(arr, "vertex")], text=text).write(str(path))
