"""Scan inputs: point clouds, RGB-D frame folders, ScanNet scenes and Scan2CAD boxes.

Everything here turns files on disk into plain dataclasses holding tensors
(float32 positions in metres, ScanNet's z-up world frame) and checks the
input on the way: a problem raises :class:`ScanError`, a one-line message that
names the file and what is wrong.

Readers
    * :func:`load_ply`: ``.ply`` point clouds and meshes, binary or ascii,
      with colors and normals when present.
    * :func:`load_frames`: a folder in ScanNet's exported frame layout::

          color/N.jpg                   (optional) RGB
          depth/N.png                   uint16 millimetres, 0 = no measurement
                                        (depth/N.npy: float metres, also accepted)
          intrinsic/intrinsic_depth.txt 4x4 (or 3x3) pinhole matrix
          intrinsic/intrinsic_color.txt (optional) to align a color image of another size
          pose/N.txt                    4x4 camera-to-world (camera looks down +Z, +Y down)
          instance-filt/N.png           (optional) instance ids, 0 = none

      with frame subsampling; frames whose pose is not finite (ScanNet has
      ``-inf`` poses where tracking failed) are skipped and counted.
    * :func:`load_scannet_scene`: ``<id>_vh_clean_2.ply`` +
      ``<id>_vh_clean_2.0.010000.segs.json`` + ``<id>.aggregation.json`` ->
      per-object vertex segments with labels.
    * :func:`load_scan2cad`: Scan2CAD annotations (``full_annotations.json``
      or one scene's entry) -> per-object oriented boxes in scan coordinates;
      :func:`crop_box` cuts the scene points inside one.

Object frame (:func:`object_frame`): gravity-aligned (+Z up), origin on the
floor under the object (the lowest point, or a given floor height), yaw
hypotheses from the minimum-area rectangle around the points in the XY plane.

:func:`load_scan` dispatches on the path and returns :class:`Observations`,
what the fitting pipeline consumes.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "Frames",
    "ObjectFrame",
    "Observations",
    "PointCloud",
    "Scan2CADObject",
    "Scan2CADScene",
    "ScanError",
    "ScanNetObject",
    "ScanNetScene",
    "crop_box",
    "frames_to_points",
    "load_frames",
    "load_ply",
    "load_scan",
    "load_scan2cad",
    "load_scannet_scene",
    "lowest_z",
    "min_area_rectangle",
    "object_frame",
    "observations_from_frames",
    "observations_from_points",
    "quaternion_to_matrix",
    "read_matrix",
    "write_matrix",
    "write_point_cloud",
]


class ScanError(ValueError):
    """Bad scan input. The message is one line naming the file and the problem."""


# ---------------------------------------------------------------------------
# Small checks


def _check_finite(values: np.ndarray, what: str, where: Path | str) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        n = int(bad.reshape(len(values), -1).any(axis=1).sum()) if values.ndim > 1 else int(bad.sum())
        raise ScanError(f"{where}: {n} {what} are NaN or infinite")


def _frame_index(path: Path) -> int:
    if not re.fullmatch(r"\d+", path.stem):
        raise ScanError(f"{path}: frame files must be named by their integer index (e.g. 0.png)")
    return int(path.stem)


# ---------------------------------------------------------------------------
# PLY


@dataclass
class PointCloud:
    """Points (and optionally a mesh) read from a file.

    Attributes:
        points: ``(P, 3)`` float32 positions.
        colors: ``(P, 3)`` float32 in [0, 1], or None.
        normals: ``(P, 3)`` float32, or None.
        faces: ``(F, 3)`` int64 triangles (polygons fan-triangulated) when the file is a mesh, else None.
        path: where it came from.
    """

    points: torch.Tensor
    colors: torch.Tensor | None = None
    normals: torch.Tensor | None = None
    faces: torch.Tensor | None = None
    path: Path | None = None


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
    _check_finite(pts, "points", path)
    colors = normals = faces = None
    for cn in _COLOR_NAMES:
        if set(cn) <= props:
            c = np.stack([v[n] for n in cn], axis=1)
            if np.issubdtype(c.dtype, np.integer):
                c = c.astype(np.float32) / 255.0
            c = c.astype(np.float32)
            _check_finite(c, "colors", path)
            colors = torch.from_numpy(np.clip(c, 0.0, 1.0))
            break
    if {"nx", "ny", "nz"} <= props:
        nrm = np.stack([v["nx"], v["ny"], v["nz"]], axis=1).astype(np.float32)
        _check_finite(nrm, "normals", path)
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


# ---------------------------------------------------------------------------
# RGB-D frame folders (ScanNet exported layout)


@dataclass
class Frames:
    """RGB-D frames with cameras.

    Attributes:
        depth: ``(C, H, W)`` float32 metres, 0 where the sensor measured nothing.
        cameras: :class:`backend.cameras.Cameras` for the C frames (depth intrinsics,
            camera-to-world poses in ScanNet's convention).
        color: ``(C, H, W, 3)`` float32 in [0, 1] on the depth image grid, or None.
        instances: ``(C, H, W)`` int32 instance ids (0 = none) on the depth grid, or None.
        masks: ``(C, H, W)`` bool, ``instances == instance_id`` when an id was asked for, else None.
        instance_id: the id the masks select, or None.
        frame_ids: the file index of each frame (``depth/<id>.png``).
        skipped_poses: frames dropped because their pose was not finite.
        folder: the frame folder.
    """

    depth: torch.Tensor
    cameras: Any
    color: torch.Tensor | None = None
    instances: torch.Tensor | None = None
    masks: torch.Tensor | None = None
    instance_id: int | None = None
    frame_ids: list[int] = field(default_factory=list)
    skipped_poses: int = 0
    folder: Path | None = None

    @property
    def num_frames(self) -> int:
        return int(self.depth.shape[0])


def read_matrix(path: Path, what: str) -> np.ndarray:
    """A 4x4 matrix from a text file (a 3x3 one is padded to 4x4). Non-finite entries are kept."""
    if not path.is_file():
        raise ScanError(f"{path}: missing {what}")
    try:
        m = np.loadtxt(path, dtype=np.float64, ndmin=2)
    except (ValueError, OSError) as exc:
        raise ScanError(f"{path}: cannot read {what}: {' '.join(str(exc).split())}") from None
    if m.shape == (3, 3):
        m4 = np.eye(4)
        m4[:3, :3] = m
        m = m4
    if m.shape != (4, 4):
        raise ScanError(f"{path}: {what} must be a 4x4 matrix, got shape {m.shape[0]}x{m.shape[1]}")
    return m


def write_matrix(path: str | Path, m: Any) -> None:
    """Write a matrix as whitespace-separated text rows (ScanNet's pose / intrinsic files)."""
    Path(path).write_text("\n".join(" ".join(f"{float(x):.9g}" for x in row) for row in np.asarray(m)) + "\n")


def _intrinsics(path: Path) -> np.ndarray:
    """``[fx, fy, cx, cy]`` from a ScanNet intrinsic file."""
    k = read_matrix(path, "intrinsics")
    fx, fy, cx, cy = k[0, 0], k[1, 1], k[0, 2], k[1, 2]
    vals = np.array([fx, fy, cx, cy])
    if not np.isfinite(vals).all() or fx <= 0 or fy <= 0:
        raise ScanError(f"{path}: invalid intrinsics (fx={fx:g}, fy={fy:g}, cx={cx:g}, cy={cy:g})")
    return vals


def _open_image(path: Path):
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise ScanError(f"{path}: missing file")
    try:
        img = Image.open(path)
        img.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ScanError(f"{path}: cannot read image: {' '.join(str(exc).split())}") from None
    return img


def _read_depth(path: Path, depth_scale: float) -> np.ndarray:
    """Depth in metres ``(H, W)`` float32 from a 16-bit PNG (units of ``1/depth_scale`` m) or a float .npy (metres)."""
    if path.suffix == ".npy":
        try:
            d = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise ScanError(f"{path}: cannot read depth: {' '.join(str(exc).split())}") from None
        if d.ndim != 2 or not np.issubdtype(d.dtype, np.floating):
            raise ScanError(f"{path}: depth .npy must be a 2-D float array in metres, got {d.dtype} {d.shape}")
        d = d.astype(np.float32)
    else:
        img = _open_image(path)
        if img.mode not in ("I;16", "I;16B", "I;16L", "I"):
            raise ScanError(f"{path}: depth must be a 16-bit single-channel PNG (millimetres), got mode {img.mode}")
        d = np.asarray(img).astype(np.float32) / float(depth_scale)
    _check_finite(d.reshape(-1), "depth pixels", path)
    if (d < 0).any():
        raise ScanError(f"{path}: {int((d < 0).sum())} depth pixels are negative")
    return d


def _read_color(path: Path) -> np.ndarray:
    img = _open_image(path)
    if img.mode not in ("RGB", "RGBA", "L"):
        raise ScanError(f"{path}: color image must be RGB, got mode {img.mode}")
    return np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0


def _read_instances(path: Path) -> np.ndarray:
    img = _open_image(path)
    if img.mode not in ("L", "P", "I", "I;16", "I;16B", "I;16L"):
        raise ScanError(f"{path}: instance mask must be a single-channel integer image, got mode {img.mode}")
    return np.asarray(img).astype(np.int32)


def _resample(img: np.ndarray, src_k: np.ndarray, dst_k: np.ndarray, h: int, w: int, fill: float) -> np.ndarray:
    """Nearest-neighbour resampling of an image taken with intrinsics ``src_k`` onto a
    ``(h, w)`` grid with intrinsics ``dst_k`` (same optical centre and orientation)."""
    u = (np.arange(w) - dst_k[2]) / dst_k[0]
    v = (np.arange(h) - dst_k[3]) / dst_k[1]
    su = np.rint(u * src_k[0] + src_k[2]).astype(np.int64)
    sv = np.rint(v * src_k[1] + src_k[3]).astype(np.int64)
    ok_u = (su >= 0) & (su < img.shape[1])
    ok_v = (sv >= 0) & (sv < img.shape[0])
    out = img[np.clip(sv, 0, img.shape[0] - 1)][:, np.clip(su, 0, img.shape[1] - 1)]
    bad = ~(ok_v[:, None] & ok_u[None, :])
    out = out.copy()
    out[bad] = fill
    return out


def _read_stack(paths: list[Path], read, what: str, first_id: int, to_grid=None) -> np.ndarray:
    """Read one image per frame into ``(C, H, W, ...)``; all must share the first one's size.
    ``to_grid(img, path, what)`` maps each onto the depth grid."""
    out, first = [], None
    for p in paths:
        img = read(p)
        first = first or img.shape
        if img.shape[:2] != first[:2]:
            raise ScanError(f"{p}: {what} size {img.shape[1]}x{img.shape[0]} differs from {first[1]}x{first[0]} of frame {first_id}")
        out.append(to_grid(img, p, what) if to_grid is not None else img)
    return np.stack(out)


def _select_ids(ids: list[int], every: int, max_frames: int | None) -> list[int]:
    ids = ids[::every]
    if max_frames is not None and len(ids) > max_frames:
        keep = np.unique(np.linspace(0, len(ids) - 1, max_frames).round().astype(int))
        ids = [ids[i] for i in keep]
    return ids


def load_frames(
    folder: str | Path,
    *,
    every: int = 1,
    max_frames: int | None = None,
    instance_id: int | None = None,
    depth_scale: float = 1000.0,
    mask_folder: str = "instance-filt",
    load_color: bool = True,
) -> Frames:
    """Read a ScanNet-style frame folder (see the module docstring for the layout).

    Args:
        every: keep every ``every``-th frame (by index order).
        max_frames: then keep at most this many, evenly spaced.
        instance_id: build ``masks`` for this instance id (the pixel value in
            ``instance-filt/N.png``; for ScanNet, the aggregation objectId + 1).
        depth_scale: depth PNG units per metre (ScanNet: 1000, millimetres).

    Color images and masks of another size than the depth images are resampled onto
    the depth grid when ``intrinsic/intrinsic_color.txt`` says how they relate.
    Frames whose pose has non-finite entries are skipped with a warning
    (``Frames.skipped_poses`` counts them). Raises :class:`ScanError` for missing
    intrinsics/poses/images, unreadable files, NaN/inf or negative depth, mismatched
    image sizes, and an ``instance_id`` that no mask contains.
    """
    from .cameras import Cameras

    folder = Path(folder)
    if not folder.is_dir():
        raise ScanError(f"{folder}: no such frame folder")
    if every < 1:
        raise ScanError(f"{folder}: frame step must be >= 1, got {every}")
    if max_frames is not None and max_frames < 1:
        raise ScanError(f"{folder}: max_frames must be >= 1, got {max_frames}")
    ddir = folder / "depth"
    if not ddir.is_dir():
        raise ScanError(f"{folder}: no depth/ folder (expected ScanNet's layout: color/, depth/, intrinsic/, pose/)")
    depth_files = {}
    for p in sorted(ddir.iterdir()):
        if p.suffix.lower() in (".png", ".npy") and not p.name.startswith("."):
            depth_files[_frame_index(p)] = p
    if not depth_files:
        raise ScanError(f"{ddir}: no depth images (N.png)")
    k_depth = _intrinsics(folder / "intrinsic" / "intrinsic_depth.txt")
    ids = _select_ids(sorted(depth_files), every, None)
    poses, kept, skipped = [], [], 0
    for i in ids:
        m = read_matrix(folder / "pose" / f"{i}.txt", "pose")
        if not np.isfinite(m).all():
            skipped += 1
            continue
        r = m[:3, :3]
        if np.abs(r.T @ r - np.eye(3)).max() > 1e-3 or np.linalg.det(r) < 0 or np.abs(m[3] - [0, 0, 0, 1]).max() > 1e-6:
            raise ScanError(f"{folder / 'pose' / f'{i}.txt'}: pose is not a rigid camera-to-world transform")
        poses.append(m)
        kept.append(i)
    if skipped:
        warnings.warn(f"{folder}: skipped {skipped} frame(s) with invalid (non-finite) poses", stacklevel=2)
    if not kept:
        raise ScanError(f"{folder}: no frame has a valid pose ({skipped} invalid)")
    if max_frames is not None and len(kept) > max_frames:
        sel = _select_ids(list(range(len(kept))), 1, max_frames)
        kept, poses = [kept[j] for j in sel], [poses[j] for j in sel]

    depths = _read_stack([depth_files[i] for i in kept], lambda p: _read_depth(p, depth_scale), "depth", kept[0])
    h, w = depths.shape[1:]
    k_color_path = folder / "intrinsic" / "intrinsic_color.txt"

    def on_depth_grid(img: np.ndarray, path: Path, what: str) -> np.ndarray:
        if img.shape[:2] == (h, w):
            return img
        if not k_color_path.is_file():
            raise ScanError(f"{path}: {what} size {img.shape[1]}x{img.shape[0]} does not match depth size {w}x{h} "
                            f"(and there is no intrinsic/intrinsic_color.txt to align them)")
        return _resample(img, _intrinsics(k_color_path), k_depth, h, w, 0)

    color = None
    cdir = folder / "color"
    if load_color and cdir.is_dir():
        paths = [next((cdir / f"{i}{ext}" for ext in (".jpg", ".png", ".jpeg") if (cdir / f"{i}{ext}").is_file()), cdir / f"{i}.jpg")
                 for i in kept]
        color = torch.from_numpy(_read_stack(paths, _read_color, "color", kept[0], on_depth_grid))
    instances = masks = None
    mdir = folder / mask_folder
    if instance_id is not None and not mdir.is_dir():
        raise ScanError(f"{folder}: instance id {instance_id} asked for but there is no {mask_folder}/ folder")
    if mdir.is_dir():
        instances = torch.from_numpy(_read_stack([mdir / f"{i}.png" for i in kept], _read_instances, "mask", kept[0], on_depth_grid))
        if instance_id is not None:
            masks = instances == int(instance_id)
            if not masks.any():
                present = sorted(int(x) for x in torch.unique(instances).tolist() if x != 0)
                shown = ", ".join(map(str, present[:20])) + (" ..." if len(present) > 20 else "")
                raise ScanError(f"{mdir}: instance id {instance_id} does not appear in any mask (ids present: {shown or 'none'})")
    n = len(kept)
    cams = Cameras(
        intrinsics=torch.from_numpy(np.tile(k_depth, (n, 1))).float(),
        cam_to_world=torch.from_numpy(np.stack(poses)).float(),
        width=w,
        height=h,
    )
    return Frames(
        depth=torch.from_numpy(depths),
        cameras=cams,
        color=color,
        instances=instances,
        masks=masks,
        instance_id=instance_id,
        frame_ids=kept,
        skipped_poses=skipped,
        folder=folder,
    )


def frames_to_points(frames: Frames, masked: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Back-project valid depth pixels to world points.

    Returns ``points (P, 3)`` and ``colors (P, 3)`` (or None). With ``masked`` and
    masks present, only pixels inside the masks are used.
    """
    world, keep = frames.cameras.backproject(frames.depth)  # (C, H, W, 3), (C, H, W)
    if masked and frames.masks is not None:
        keep = keep & frames.masks
    pts = world[keep]
    cols = frames.color[keep] if frames.color is not None else None
    return pts, cols


# ---------------------------------------------------------------------------
# ScanNet scenes


@dataclass
class ScanNetObject:
    """One annotated object of a ScanNet scene.

    Attributes:
        object_id: the aggregation's ``objectId``.
        label: its raw category label (e.g. ``"chair"``).
        segments: the over-segmentation ids it groups.
        vertex_indices: ``(K,)`` int64 indices of its vertices in the scene mesh.
    """

    object_id: int
    label: str
    segments: list[int]
    vertex_indices: torch.Tensor


@dataclass
class ScanNetScene:
    """A ScanNet scene mesh with its instance annotation.

    Attributes:
        scene_id: e.g. ``"scene0000_00"``.
        mesh: the ``_vh_clean_2.ply`` :class:`PointCloud` (vertices, colors, faces).
        seg_indices: ``(V,)`` int64 over-segmentation id of every vertex.
        objects: annotated objects by ``objectId``.
        files: the files read (``mesh``, ``segs``, ``aggregation``).
    """

    scene_id: str
    mesh: PointCloud
    seg_indices: torch.Tensor
    objects: dict[int, ScanNetObject]
    files: dict[str, Path]

    def object(self, object_id: int) -> ScanNetObject:
        """The object with this ``objectId``; :class:`ScanError` when it does not exist or is empty."""
        obj = self.objects.get(int(object_id))
        if obj is None:
            ids = ", ".join(f"{k} ({o.label})" for k, o in sorted(self.objects.items())[:30])
            raise ScanError(f"{self.files['aggregation']}: no object with id {object_id} (objects: {ids or 'none'})")
        if obj.vertex_indices.numel() == 0:
            raise ScanError(f"{self.files['aggregation']}: object {object_id} ({obj.label}) is empty: "
                            f"none of its segments {obj.segments[:8]} occur in {self.files['segs'].name}")
        return obj

    def floor_z(self) -> float | None:
        """Median height of the vertices labelled ``floor``, or None when no segment is."""
        idx = [o.vertex_indices for o in self.objects.values() if o.label.strip().lower() == "floor"]
        idx = [i for i in idx if i.numel()]
        if not idx:
            return None
        return float(self.mesh.points[torch.cat(idx), 2].median())


def _read_json(path: Path, what: str) -> Any:
    if not path.is_file():
        raise ScanError(f"{path}: missing {what}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ScanError(f"{path}: cannot read {what}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ScanError(f"{path}: {what} is not valid JSON: {exc}") from None


def _scene_files(path: Path) -> tuple[str, Path, Path, Path]:
    if path.is_file():
        mesh = path
        folder = path.parent
        m = re.match(r"(.+)_vh_clean_2\.ply$", path.name)
        if not m:
            raise ScanError(f"{path}: not a ScanNet scene mesh (expected <scene>_vh_clean_2.ply)")
        scene_id = m.group(1)
    elif path.is_dir():
        meshes = sorted(path.glob("*_vh_clean_2.ply"))
        if not meshes:
            raise ScanError(f"{path}: no <scene>_vh_clean_2.ply in this folder")
        mesh = meshes[0]
        folder = path
        scene_id = mesh.name[: -len("_vh_clean_2.ply")]
    else:
        raise ScanError(f"{path}: no such file or folder")
    segs = folder / f"{scene_id}_vh_clean_2.0.010000.segs.json"
    agg = folder / f"{scene_id}.aggregation.json"
    if not agg.is_file() and (folder / f"{scene_id}_vh_clean.aggregation.json").is_file():
        agg = folder / f"{scene_id}_vh_clean.aggregation.json"
    return scene_id, mesh, segs, agg


def load_scannet_scene(path: str | Path) -> ScanNetScene:
    """Read a ScanNet scene: ``path`` is the scene folder or its ``_vh_clean_2.ply``.

    Needs ``<id>_vh_clean_2.0.010000.segs.json`` (``segIndices``: one segment id per
    mesh vertex) and ``<id>.aggregation.json`` (``segGroups``: ``objectId``,
    ``label``, ``segments``) next to the mesh.
    """
    scene_id, mesh_path, segs_path, agg_path = _scene_files(Path(path))
    mesh = load_ply(mesh_path)
    segs = _read_json(segs_path, "segments file")
    seg = segs.get("segIndices") if isinstance(segs, dict) else None
    if not isinstance(seg, list) or not all(isinstance(s, int) for s in seg[:1000]):
        raise ScanError(f"{segs_path}: expected an object with a 'segIndices' list of integers")
    seg_idx = np.asarray(seg, dtype=np.int64)
    if len(seg_idx) != len(mesh.points):
        raise ScanError(f"{segs_path}: {len(seg_idx)} segment indices for {len(mesh.points)} mesh vertices in {mesh_path.name}")
    agg = _read_json(agg_path, "aggregation file")
    groups = agg.get("segGroups") if isinstance(agg, dict) else None
    if not isinstance(groups, list):
        raise ScanError(f"{agg_path}: expected an object with a 'segGroups' list")
    objects: dict[int, ScanNetObject] = {}
    for k, g in enumerate(groups):
        if not isinstance(g, dict) or not isinstance(g.get("segments"), list):
            raise ScanError(f"{agg_path}: segGroups[{k}] lacks a 'segments' list")
        oid = g.get("objectId", g.get("id"))
        if not isinstance(oid, int):
            raise ScanError(f"{agg_path}: segGroups[{k}] lacks an integer 'objectId'")
        segments = [int(s) for s in g["segments"]]
        vidx = np.nonzero(np.isin(seg_idx, np.asarray(segments, dtype=np.int64)))[0]
        objects[oid] = ScanNetObject(oid, str(g.get("label", "")), segments, torch.from_numpy(vidx.astype(np.int64)))
    return ScanNetScene(scene_id, mesh, torch.from_numpy(seg_idx), objects,
                        {"mesh": mesh_path, "segs": segs_path, "aggregation": agg_path})


# ---------------------------------------------------------------------------
# Scan2CAD


def quaternion_to_matrix(q: Any) -> np.ndarray:
    """``(3, 3)`` rotation of a quaternion ``(w, x, y, z)`` (normalised first)."""
    w, x, y, z = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ])


def _trs(d: Any, where: str) -> np.ndarray:
    """4x4 ``T @ R @ S`` from a Scan2CAD ``trs`` object."""
    try:
        t = np.asarray(d["translation"], dtype=np.float64).reshape(3)
        q = np.asarray(d["rotation"], dtype=np.float64).reshape(4)
        s = np.asarray(d["scale"], dtype=np.float64).reshape(3)
    except (KeyError, TypeError, ValueError):
        raise ScanError(f"{where}: 'trs' needs translation (3), rotation (w, x, y, z) and scale (3)") from None
    if not (np.isfinite(t).all() and np.isfinite(q).all() and np.isfinite(s).all()) or np.linalg.norm(q) == 0 or (s == 0).any():
        raise ScanError(f"{where}: 'trs' has non-finite values, a zero quaternion or a zero scale")
    m = np.eye(4)
    m[:3, :3] = quaternion_to_matrix(q) @ np.diag(s)
    m[:3, 3] = t
    return m


@dataclass
class Scan2CADObject:
    """One Scan2CAD-aligned CAD model.

    Attributes:
        index: position in the scene's ``aligned_models``.
        catid_cad, id_cad: ShapeNet synset and model id.
        sym: symmetry tag (``__SYM_NONE``, ``__SYM_ROTATE_UP_2``, ...).
        box_to_scan: ``(4, 4)`` float64 affine map from the unit cube ``[-1, 1]^3`` to
            scan coordinates (the CAD model's bounding box, ``T R S T_center diag(bbox)``
            composed with the inverse of the scan's own ``trs``).
        cad_to_scan: ``(4, 4)`` float64 map from CAD model coordinates (y-up) to scan coordinates.
    """

    index: int
    catid_cad: str
    id_cad: str
    sym: str
    box_to_scan: np.ndarray
    cad_to_scan: np.ndarray


@dataclass
class Scan2CADScene:
    scene_id: str
    objects: list[Scan2CADObject]
    path: Path

    def object(self, index: int) -> Scan2CADObject:
        if not 0 <= int(index) < len(self.objects):
            raise ScanError(f"{self.path}: scene {self.scene_id} has no aligned model #{index} "
                            f"({len(self.objects)} models: 0..{len(self.objects) - 1})")
        return self.objects[int(index)]


def load_scan2cad(path: str | Path, scene_id: str | None = None) -> Scan2CADScene:
    """Read Scan2CAD annotations: ``full_annotations.json`` (a list of scenes; pick one by
    ``scene_id``) or a single scene's entry. Boxes are returned in scan coordinates."""
    path = Path(path)
    data = _read_json(path, "Scan2CAD annotation")
    entries = data if isinstance(data, list) else [data]
    if scene_id is not None:
        entries = [e for e in entries if isinstance(e, dict) and e.get("id_scan") == scene_id]
        if not entries:
            raise ScanError(f"{path}: no annotation for scene '{scene_id}'")
    elif len(entries) != 1:
        raise ScanError(f"{path}: holds {len(entries)} scenes; say which one (scene id)")
    e = entries[0]
    if not isinstance(e, dict) or "trs" not in e or not isinstance(e.get("aligned_models"), list):
        raise ScanError(f"{path}: a scene entry needs 'id_scan', 'trs' and 'aligned_models'")
    sid = str(e.get("id_scan", scene_id or ""))
    scan_from_world = np.linalg.inv(_trs(e["trs"], f"{path} scene {sid}"))
    objects = []
    for k, m in enumerate(e["aligned_models"]):
        where = f"{path} scene {sid} aligned_models[{k}]"
        if not isinstance(m, dict) or "trs" not in m:
            raise ScanError(f"{where}: missing 'trs'")
        try:
            bbox = np.asarray(m["bbox"], dtype=np.float64).reshape(3)
            center = np.asarray(m.get("center", [0, 0, 0]), dtype=np.float64).reshape(3)
        except (KeyError, TypeError, ValueError):
            raise ScanError(f"{where}: needs 'bbox' (3 half extents) and 'center' (3)") from None
        if not (np.isfinite(bbox).all() and np.isfinite(center).all()) or (bbox <= 0).any():
            raise ScanError(f"{where}: 'bbox' must be 3 positive finite half extents")
        cad_to_scan = scan_from_world @ _trs(m["trs"], where)
        unit = np.eye(4)
        unit[:3, :3] = np.diag(bbox)
        unit[:3, 3] = center
        objects.append(Scan2CADObject(k, str(m.get("catid_cad", "")), str(m.get("id_cad", "")), str(m.get("sym", "")),
                                      cad_to_scan @ unit, cad_to_scan))
    return Scan2CADScene(sid, objects, path)


def crop_box(points: torch.Tensor, box_to_scan: np.ndarray, margin: float = 0.0, where: str = "crop") -> torch.Tensor:
    """``(P,)`` bool: which of ``points (P, 3)`` lie in the box (unit cube mapped by ``box_to_scan``),
    grown by ``margin`` (a fraction of each half extent). Raises :class:`ScanError` if none does."""
    inv = torch.from_numpy(np.linalg.inv(box_to_scan)).to(points.dtype if points.dtype.is_floating_point else torch.float32)
    local = points.to(inv.dtype) @ inv[:3, :3].T + inv[:3, 3]
    inside = (local.abs() <= 1.0 + margin).all(dim=1)
    if not inside.any():
        raise ScanError(f"{where}: the box contains none of the {len(points)} scan points")
    return inside


# ---------------------------------------------------------------------------
# Object frame


def _convex_hull(xy: np.ndarray) -> np.ndarray:
    """Convex hull (Andrew's monotone chain), counter-clockwise, ``(H, 2)``."""
    pts = np.unique(xy, axis=0)
    if len(pts) <= 2:
        return pts

    def half(seq: np.ndarray) -> list:
        out: list = []
        for p in seq:
            while len(out) >= 2:
                (ax, ay), (bx, by) = out[-2], out[-1]
                if (bx - ax) * (p[1] - ay) - (by - ay) * (p[0] - ax) <= 0:
                    out.pop()
                else:
                    break
            out.append((p[0], p[1]))
        return out

    lower = half(pts)
    upper = half(pts[::-1])
    return np.asarray(lower[:-1] + upper[:-1], dtype=np.float64)


def min_area_rectangle(xy: Any) -> tuple[float, np.ndarray, np.ndarray]:
    """Minimum-area rectangle around 2-D points ``xy (P, 2)``.

    Returns ``(yaw, center (2,), size (2,))``: the rectangle's first axis points along
    ``(cos yaw, sin yaw)`` and is its longer side (``size[0] >= size[1]``), with
    ``yaw`` in ``[-pi/2, pi/2)``. One side of a minimum-area rectangle lies on a
    convex-hull edge, so only hull edge directions are tried (rotating calipers).
    """
    xy = np.asarray(xy, dtype=np.float64)
    hull = _convex_hull(xy)
    if len(hull) == 1:
        return 0.0, hull[0].copy(), np.zeros(2)
    if len(hull) == 2:
        edges = hull[1:] - hull[:1]
    else:
        edges = np.roll(hull, -1, axis=0) - hull
    angles = np.arctan2(edges[:, 1], edges[:, 0])
    c, s = np.cos(angles), np.sin(angles)
    u = hull[None, :, 0] * c[:, None] + hull[None, :, 1] * s[:, None]
    v = -hull[None, :, 0] * s[:, None] + hull[None, :, 1] * c[:, None]
    area = (u.max(1) - u.min(1)) * (v.max(1) - v.min(1))
    best = int(np.argmin(area + 1e-12 * np.arange(len(area))))  # first of equal areas: deterministic
    a = float(angles[best])
    umin, umax, vmin, vmax = u[best].min(), u[best].max(), v[best].min(), v[best].max()
    size = np.array([umax - umin, vmax - vmin])
    cu, cv = (umin + umax) / 2, (vmin + vmax) / 2
    center = np.array([cu * math.cos(a) - cv * math.sin(a), cu * math.sin(a) + cv * math.cos(a)])
    if size[1] > size[0]:
        a += math.pi / 2
        size = size[::-1].copy()
    a = (a + math.pi / 2) % math.pi - math.pi / 2
    return float(a), center, size


@dataclass
class ObjectFrame:
    """A gravity-aligned object frame.

    Attributes:
        world_from_object: ``(4, 4)`` float64: rotation about +Z by ``yaw`` and
            translation to ``(center_x, center_y, floor_z)``.
        yaw: radians; the object's x axis is ``(cos yaw, sin yaw, 0)`` (the box's longer side).
        yaw_hypotheses: ``(4,)`` float64 ``yaw + k pi/2`` for k = 0..3 (a box does not tell front from back or side).
        extents: ``(3,)`` float64 box size along the object's x, y, z (for ``yaw``; swap x/y for odd hypotheses).
        floor_z: height of the floor under the object (the frame's origin).
    """

    world_from_object: torch.Tensor
    yaw: float
    yaw_hypotheses: torch.Tensor
    extents: torch.Tensor
    floor_z: float

    def pose(self, k: int) -> torch.Tensor:
        """``(4, 4)`` world_from_object for yaw hypothesis ``k``."""
        return _frame_matrix(float(self.yaw_hypotheses[k]), self.world_from_object[:2, 3].tolist(), self.floor_z)


def _frame_matrix(yaw: float, center_xy: Any, floor_z: float) -> torch.Tensor:
    m = torch.eye(4, dtype=torch.float64)
    c, s = math.cos(yaw), math.sin(yaw)
    m[0, 0], m[0, 1], m[1, 0], m[1, 1] = c, -s, s, c
    m[0, 3], m[1, 3], m[2, 3] = float(center_xy[0]), float(center_xy[1]), float(floor_z)
    return m


def lowest_z(z: Any) -> float:
    """The height of the lowest points of ``z (P,)``: the 0.1 % quantile, so that a few stray points
    below the floor (flying pixels) do not count."""
    return float(np.quantile(np.asarray(torch.as_tensor(z).detach().cpu().double()), 0.001))


def object_frame(points: torch.Tensor, floor_z: float | None = None, yaw: float | None = None,
                 where: str = "object") -> ObjectFrame:
    """The gravity-aligned frame of an object's points ``(P, 3)`` (z up).

    Origin: the centre of the minimum-area XY rectangle, at ``floor_z`` (default: the
    lowest points' z, :func:`lowest_z`). ``yaw`` fixes the orientation (e.g. from an annotated
    box); otherwise it comes from the rectangle.
    """
    p = torch.as_tensor(points).detach().cpu().double().numpy().reshape(-1, 3)
    if len(p) == 0:
        raise ScanError(f"{where}: no points")
    _check_finite(p, "points", where)
    fz = lowest_z(p[:, 2]) if floor_z is None else float(floor_z)
    if yaw is None:
        a, center, size = min_area_rectangle(p[:, :2])
    else:
        a = float(yaw)
        c, s = math.cos(a), math.sin(a)
        u = p[:, 0] * c + p[:, 1] * s
        v = -p[:, 0] * s + p[:, 1] * c
        cu, cv = (u.max() + u.min()) / 2, (v.max() + v.min()) / 2
        center = np.array([cu * c - cv * s, cu * s + cv * c])
        size = np.array([u.max() - u.min(), v.max() - v.min()])
    height = float(p[:, 2].max()) - fz
    hyps = torch.tensor([a + k * math.pi / 2 for k in range(4)], dtype=torch.float64)
    return ObjectFrame(_frame_matrix(a, center, fz), a, hyps, torch.tensor([size[0], size[1], height], dtype=torch.float64), fz)


# ---------------------------------------------------------------------------
# Observations


@dataclass
class Observations:
    """What a sensor saw of one object, as the fitting pipeline consumes it.

    Attributes:
        points: ``(P, 3)`` float32 world points of the object.
        colors: ``(P, 3)`` float32 in [0, 1], or None.
        normals: ``(P, 3)`` float32, or None.
        frames: the RGB-D :class:`Frames` (depth ``(C, H, W)`` metres, masks ``(C, H, W)``
            bool, cameras) when the scan came as frames, else None.
        label: a category label when known (ScanNet), else "".
        frame: the object's gravity-aligned :class:`ObjectFrame` (world_from_object, yaw hypotheses).
        source: a description of where it came from.
    """

    points: torch.Tensor
    frame: ObjectFrame
    colors: torch.Tensor | None = None
    normals: torch.Tensor | None = None
    frames: Frames | None = None
    label: str = ""
    source: str = ""


def observations_from_points(points: torch.Tensor, colors: torch.Tensor | None = None, normals: torch.Tensor | None = None,
                             *, label: str = "", floor_z: float | None = None, yaw: float | None = None,
                             source: str = "points") -> Observations:
    """Observations of an object given as world points ``(P, 3)``; checks they are finite and not empty."""
    points = torch.as_tensor(points, dtype=torch.float32)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ScanError(f"{source}: points must have shape (P, 3), got {tuple(points.shape)}")
    if len(points) == 0:
        raise ScanError(f"{source}: no points")
    _check_finite(points.numpy(), "points", source)
    frame = object_frame(points, floor_z=floor_z, yaw=yaw, where=source)
    return Observations(points, frame, colors, normals, None, label, source)


def observations_from_frames(frames: Frames, *, label: str = "", floor_z: float | None = None) -> Observations:
    """Observations from RGB-D frames: the back-projected (masked) valid depth pixels."""
    pts, cols = frames_to_points(frames, masked=True)
    where = f"{frames.folder}" + (f" instance {frames.instance_id}" if frames.instance_id is not None else "")
    if len(pts) == 0:
        raise ScanError(f"{where}: no valid depth pixels" + (" inside the masks" if frames.masks is not None else ""))
    obs = observations_from_points(pts, cols, label=label, floor_z=floor_z, source=where)
    obs.frames = frames
    return obs


def _box_yaw(box_to_scan: np.ndarray) -> float:
    """Yaw of a Scan2CAD box in scan coordinates: the CAD x axis projected on the floor."""
    axes = box_to_scan[:3, :3]
    up = int(np.argmax(np.abs(axes[2]) / np.linalg.norm(axes, axis=0)))
    x = axes[:, 0] if up != 0 else axes[:, 2]
    return math.atan2(x[1], x[0])


def load_scan(
    path: str | Path,
    *,
    object_id: int | None = None,
    instance_id: int | None = None,
    scan2cad: str | Path | None = None,
    scan2cad_index: int | None = None,
    every: int = 1,
    max_frames: int | None = None,
    floor_z: float | None = None,
    crop_margin: float = 0.05,
) -> Observations:
    """Read one object's observations from any supported input.

    * a ``.ply`` file: the whole file is the object;
    * an RGB-D frame folder (has ``depth/``): the pixels of ``instance_id`` (all valid pixels without one);
    * a ScanNet scene (folder or ``_vh_clean_2.ply``) with ``object_id``: that aggregation object's
      vertices; with ``scan2cad`` (+ ``scan2cad_index``): the scene points inside that annotated box
      (grown by ``crop_margin``), oriented by the box.

    The floor height defaults to the scene's ``floor`` segments when a ScanNet scene has them,
    otherwise to the lowest point of the object.
    """
    path = Path(path)
    if not path.exists():
        raise ScanError(f"{path}: no such file or folder")
    if path.is_dir() and (path / "depth").is_dir():
        frames = load_frames(path, every=every, max_frames=max_frames, instance_id=instance_id)
        return observations_from_frames(frames, floor_z=floor_z)
    is_scene = (path.is_dir() and any(path.glob("*_vh_clean_2.ply"))) or path.name.endswith("_vh_clean_2.ply")
    if is_scene and (object_id is not None or scan2cad is not None):
        if scan2cad is not None:
            scene_id, mesh_path, _, _ = _scene_files(path)
            mesh = load_ply(mesh_path)
            ann = load_scan2cad(scan2cad, scene_id)
            if scan2cad_index is None:
                raise ScanError(f"{scan2cad}: say which aligned model to crop (index 0..{len(ann.objects) - 1})")
            obj = ann.object(scan2cad_index)
            inside = crop_box(mesh.points, obj.box_to_scan, crop_margin, where=f"{scan2cad} model #{scan2cad_index} in {mesh_path.name}")
            cols = mesh.colors[inside] if mesh.colors is not None else None
            return observations_from_points(mesh.points[inside], cols, label=obj.catid_cad, floor_z=floor_z,
                                            yaw=_box_yaw(obj.box_to_scan), source=f"{mesh_path} scan2cad #{scan2cad_index}")
        scene = load_scannet_scene(path)
        obj = scene.object(object_id)
        pts = scene.mesh.points[obj.vertex_indices]
        cols = scene.mesh.colors[obj.vertex_indices] if scene.mesh.colors is not None else None
        fz = floor_z if floor_z is not None else scene.floor_z()
        return observations_from_points(pts, cols, label=obj.label, floor_z=fz, source=f"{scene.files['mesh']} object {object_id}")
    if is_scene:
        raise ScanError(f"{path}: a ScanNet scene holds many objects; say which one (object id or a Scan2CAD box)")
    if path.suffix.lower() == ".ply":
        pc = load_ply(path)
        return observations_from_points(pc.points, pc.colors, pc.normals, floor_z=floor_z, source=str(path))
    raise ScanError(f"{path}: not a scan ShapeProg reads (.ply, a ScanNet frame folder or a ScanNet scene)")
