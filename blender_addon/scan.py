"""Scans for a job: the evaluated, world-space vertices of mesh and point-cloud objects, or a file
(a ``.ply``, or a ScanNet frame folder sent as a zip).

:func:`object_points` and :func:`scan_from_objects` touch bpy (main thread); :func:`points_to_ply`,
:func:`file_scan` and :class:`ScanPayload` are plain Python and run on worker threads.
"""

from __future__ import annotations

import base64
import io
import os
import sys
import zipfile
from array import array
from dataclasses import dataclass
from typing import Any

__all__ = ["SCAN_TYPES", "ScanError", "ScanPayload", "file_scan", "object_points", "points_to_ply",
           "scan_from_objects"]

SCAN_TYPES = ("MESH", "POINTCLOUD", "CURVE", "SURFACE", "META", "FONT", "CURVES")
"""Object types whose evaluated geometry can be read as scan points."""

_FRAME_DIRS = ("depth", "pose", "intrinsic")


class ScanError(ValueError):
    """The scan cannot be read (one line naming the object or file)."""


def _transform(co: array, m: Any) -> None:
    """Apply the 4x4 matrix ``m`` (rows) to the flat xyz buffer ``co`` in place."""
    (a, b, c, d), (e, f, g, h), (i, j, k, l) = (tuple(m[r]) for r in range(3))
    for n in range(0, len(co), 3):
        x, y, z = co[n], co[n + 1], co[n + 2]
        co[n], co[n + 1], co[n + 2] = a * x + b * y + c * z + d, e * x + f * y + g * z + h, i * x + j * y + k * z + l


def object_points(obj: Any, depsgraph: Any) -> array:
    """The evaluated vertices (and points) of ``obj`` in world space, as a flat float32 ``array`` (x, y, z, ...)."""
    ev = obj.evaluated_get(depsgraph)
    co = array("f")
    if obj.type != "POINTCLOUD":
        try:
            me = ev.to_mesh()
        except RuntimeError:
            me = None
        if me is not None:
            try:
                me.transform(ev.matrix_world)
                buf = array("f", bytes(12 * len(me.vertices)))
                me.vertices.foreach_get("co", buf)
                co.extend(buf)
            finally:
                ev.to_mesh_clear()
    clouds = []
    if hasattr(ev, "evaluated_geometry"):  # 4.3+: a point cloud made by geometry nodes counts too
        geometry = ev.evaluated_geometry()  # owns its point cloud: keep it alive while reading
        if geometry.pointcloud is not None:
            clouds.append(geometry.pointcloud)
    elif obj.type == "POINTCLOUD":
        clouds.append(ev.data)
    for pc in clouds:
        pos = pc.attributes.get("position")
        if pos is None or not len(pc.points):
            continue
        buf = array("f", bytes(12 * len(pc.points)))
        pos.data.foreach_get("vector", buf)
        _transform(buf, ev.matrix_world)
        co.extend(buf)
    return co


def points_to_ply(co: array) -> bytes:
    """A binary little-endian PLY with one float x, y, z vertex per point."""
    n = len(co) // 3
    header = ("ply\nformat binary_little_endian 1.0\ncomment ShapeProg Blender add-on\n"
              f"element vertex {n}\nproperty float x\nproperty float y\nproperty float z\nend_header\n")
    body = array("f", co)
    if sys.byteorder != "little":
        body.byteswap()
    return header.encode("ascii") + body.tobytes()


@dataclass
class ScanPayload:
    """What a job sends as its scan: PLY bytes, or a frame folder (zipped on the worker thread)."""

    ply: bytes | None = None
    frames_dir: str = ""
    instance_id: int = 1
    points: int = 0
    """How many points the PLY holds (0 when unknown)."""
    description: str = ""
    path: str = ""
    """The scan file or frame folder ('' for objects)."""

    def request(self) -> dict:
        """The JobRequest's ``scan`` member (plain Python; worker thread)."""
        if self.ply is not None:
            return {"ply": base64.b64encode(self.ply).decode("ascii")}
        return {"frames_zip": base64.b64encode(_zip_folder(self.frames_dir)).decode("ascii"),
                "instance_id": int(self.instance_id)}


def _zip_folder(folder: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for root, _dirs, files in os.walk(folder):
            for name in sorted(files):
                path = os.path.join(root, name)
                zf.write(path, os.path.relpath(path, folder))
    return out.getvalue()


def scan_from_objects(objects: list, depsgraph: Any) -> ScanPayload:
    """One scan from several objects (their points together). Raises :class:`ScanError`."""
    co = array("f")
    for obj in objects:
        if obj.type not in SCAN_TYPES:
            raise ScanError(f"object '{obj.name}' ({obj.type.lower()}) has no points to use as a scan")
        co.extend(object_points(obj, depsgraph))
    if not co:
        names = ", ".join(f"'{o.name}'" for o in objects)
        raise ScanError(f"object {names} has no vertices or points to use as a scan")
    return ScanPayload(ply=points_to_ply(co), points=len(co) // 3, description=", ".join(o.name for o in objects))


def file_scan(path: str, instance_id: int = 1) -> ScanPayload:
    """A scan file: a ``.ply`` (read here) or a ScanNet frame folder (``depth/``, ``pose/``, ``intrinsic/``)."""
    path = os.path.abspath(os.path.expanduser(path))
    if os.path.isdir(path):
        missing = [d for d in _FRAME_DIRS if not os.path.isdir(os.path.join(path, d))]
        if missing:
            raise ScanError(f"{path}: not a ScanNet frame folder (no {', '.join(d + '/' for d in missing)})")
        return ScanPayload(frames_dir=path, instance_id=instance_id, description=os.path.basename(path), path=path)
    if not os.path.isfile(path):
        raise ScanError(f"{path}: no such file or folder")
    if not path.lower().endswith(".ply"):
        raise ScanError(f"{path}: a scan file must be a .ply or a ScanNet frame folder")
    with open(path, "rb") as fh:
        data = fh.read()
    if not data.startswith(b"ply"):
        raise ScanError(f"{path}: not a PLY file")
    return ScanPayload(ply=data, description=os.path.basename(path), path=path)
