"""Uploaded scans, checked with the project's own readers before a job is queued, so that a bad file
gets the same one-line message as on the command line (as a 422) and never reaches a worker.

* inline points -> ``scan.ply`` (:func:`backend.io.write_point_cloud`);
* a base64 ``.ply`` -> ``scan.ply``, read back with :func:`backend.io.load_ply`;
* a zip of a frame folder -> ``frames/``, extracted member by member (absolute names, ``..``, links and
  sizes past the limit refused), read back with :func:`backend.io.load_frames`.
"""

from __future__ import annotations

import base64
import binascii
import io
import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

__all__ = ["UploadError", "decode_base64", "extract_zip", "save_scan", "save_scan_file"]

_CHUNK = 1 << 20


class UploadError(Exception):
    """A request's upload is refused: ``status`` (413, 422) and a one-line ``detail``."""

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status, self.detail = status, detail


def decode_base64(text: str, field: str, limit: int) -> bytes:
    """Decode a base64 field; 413 past ``limit`` bytes, 422 when it is not base64."""
    if len(text) * 3 // 4 > limit:
        raise UploadError(413, f"{field}: the file is larger than the upload limit ({limit / 2**20:.0f} MiB)")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise UploadError(422, f"{field}: not valid base64") from None


def _local(msg: str, folder: Path) -> str:
    """A reader's message without the job folder's path (the client knows its files by their field)."""
    return " ".join(msg.replace(str(folder) + "/", "").replace(str(folder), "").split())


def _check_ply(path: Path, field: str) -> None:
    from ..io import load_ply
    from ..structures import ScanError

    try:
        load_ply(path)
    except ScanError as exc:
        raise UploadError(422, f"{field}: {_local(str(exc), path.parent)}") from None


def extract_zip(data: bytes, dest: Path, field: str, limit: int) -> None:
    """Extract a zip into ``dest``, refusing absolute names, ``..``, links and more than ``limit`` bytes
    unpacked (counted as written, whatever the zip's directory claims)."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError):
        raise UploadError(422, f"{field}: not a zip file") from None
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    written = 0
    with zf:
        for info in zf.infolist():
            name = info.filename
            parts = PurePosixPath(name).parts
            if name.startswith(("/", "\\")) or "\\" in name or ":" in name or ".." in parts or not parts:
                raise UploadError(422, f"{field}: refusing the member {name!r} (absolute path, '..' or a drive)")
            if stat.S_ISLNK(info.external_attr >> 16):
                raise UploadError(422, f"{field}: refusing the member {name!r} (a symbolic link)")
            target = dest.joinpath(*parts)
            if not target.resolve().is_relative_to(root):
                raise UploadError(422, f"{field}: refusing the member {name!r} (outside the folder)")
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                with zf.open(info) as src, open(target, "wb") as dst:
                    while chunk := src.read(_CHUNK):
                        written += len(chunk)
                        if written > limit:
                            raise UploadError(413, f"{field}: unpacks to more than the upload limit ({limit / 2**20:.0f} MiB)")
                        dst.write(chunk)
            except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, RuntimeError, NotImplementedError) as exc:
                raise UploadError(422, f"{field}: cannot unpack {name!r}: {' '.join(str(exc).split())}") from None


def _frame_root(folder: Path, field: str) -> Path:
    if (folder / "depth").is_dir():
        return folder
    subs = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(("__MACOSX", "."))]
    if len(subs) == 1 and (subs[0] / "depth").is_dir():
        return subs[0]
    raise UploadError(422, f"{field}: the zip holds no frame folder (a depth/ folder, at the top or in one folder)")


def _check_frames(root: Path, folder: Path, field: str, instance_id: int | None, every: int,
                  max_frames: int | None) -> None:
    from ..io import load_frames
    from ..object_frame import observations_from_frames
    from ..structures import ScanError

    try:
        observations_from_frames(load_frames(root, every=every, max_frames=max_frames, instance_id=instance_id))
    except ScanError as exc:
        raise UploadError(422, f"{field}: {_local(str(exc), folder)}") from None


def _frames_spec(data: bytes, inputs: Path, field: str, limit: int, instance_id: int | None, every: int,
                 max_frames: int | None) -> dict[str, Any]:
    folder = inputs / "frames"
    if folder.exists():
        shutil.rmtree(folder)
    extract_zip(data, folder, field, limit)
    root = _frame_root(folder, field)
    _check_frames(root, inputs, field, instance_id, every, max_frames)
    return {"frames": root.relative_to(inputs).as_posix(), "instance_id": instance_id, "every": every,
            "max_frames": max_frames}


def save_scan(scan: Any, inputs: Path, limit: int) -> dict[str, Any]:
    """Write and check a :class:`~backend.service.schemas.JobRequest`'s scan under ``inputs``; returns the
    :class:`~backend.jobs.spec.JobSpec` fields that name it (paths relative to ``inputs``)."""
    import numpy as np

    from ..io import write_point_cloud

    inputs.mkdir(parents=True, exist_ok=True)
    if hasattr(scan, "points"):
        write_point_cloud(inputs / "scan.ply", np.asarray(scan.points, dtype=np.float32))
        _check_ply(inputs / "scan.ply", "scan.points")
        return {"scan": "scan.ply"}
    if hasattr(scan, "ply"):
        (inputs / "scan.ply").write_bytes(decode_base64(scan.ply, "scan.ply", limit))
        _check_ply(inputs / "scan.ply", "scan.ply")
        return {"scan": "scan.ply"}
    data = decode_base64(scan.frames_zip, "scan.frames_zip", limit)
    return _frames_spec(data, inputs, "scan.frames_zip", limit, scan.instance_id, scan.every, scan.max_frames)


def save_scan_file(filename: str, data: bytes, inputs: Path, limit: int, instance_id: int | None = None, every: int = 1,
                   max_frames: int | None = 8) -> dict[str, Any]:
    """A multipart ``scan`` file: a ``.ply`` or a ``.zip`` of a frame folder (by its name or, failing
    that, its first bytes)."""
    inputs.mkdir(parents=True, exist_ok=True)
    if len(data) > limit:
        raise UploadError(413, f"scan: the file is larger than the upload limit ({limit / 2**20:.0f} MiB)")
    suffix = Path(filename or "").suffix.lower()
    if suffix == ".zip" or (suffix != ".ply" and data[:4] == b"PK\x03\x04"):
        return _frames_spec(data, inputs, "scan", limit, instance_id, every, max_frames)
    if suffix not in (".ply", "") and not data.startswith(b"ply"):
        raise UploadError(422, f"scan: expected a .ply file or a .zip of a frame folder, got {filename!r}")
    (inputs / "scan.ply").write_bytes(data)
    _check_ply(inputs / "scan.ply", "scan")
    return {"scan": "scan.ply"}
