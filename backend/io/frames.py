"""RGB-D frame folders in ScanNet's exported layout::

    color/N.jpg                   (optional) RGB
    depth/N.png                   uint16 millimetres, 0 = no measurement
                                  (depth/N.npy: float metres, also accepted)
    intrinsic/intrinsic_depth.txt 4x4 (or 3x3) pinhole matrix
    intrinsic/intrinsic_color.txt (optional) to align a color image of another size
    pose/N.txt                    4x4 camera-to-world (camera looks down +Z, +Y down)
    instance-filt/N.png           (optional) instance ids, 0 = none

:func:`load_frames` reads one with frame subsampling; frames whose pose is not
finite (ScanNet has ``-inf`` poses where tracking failed) are skipped and
counted. :meth:`backend.structures.Frames.to_points` back-projects the (masked) depth pixels.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..cameras import Cameras
from ..structures import Frames, ScanError, check_finite

__all__ = ["load_frames", "read_matrix", "write_matrix"]


def _frame_index(path: Path) -> int:
    if not re.fullmatch(r"\d+", path.stem):
        raise ScanError(f"{path}: frame files must be named by their integer index (e.g. 0.png)")
    return int(path.stem)


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
    check_finite(d.reshape(-1), "depth pixels", path)
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
