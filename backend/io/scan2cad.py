"""Scan2CAD annotations (``full_annotations.json`` or one scene's entry) -> per-object oriented boxes in
scan coordinates (:func:`load_scan2cad`); :func:`crop_box` cuts the scene points inside one."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from translator.nodes.transform import quaternion_to_matrix

from ..structures import ScanError
from .scannet import read_json

__all__ = ["Scan2CADObject", "Scan2CADScene", "box_yaw", "crop_box", "load_scan2cad"]


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
    m[:3, :3] = quaternion_to_matrix(torch.from_numpy(q / np.linalg.norm(q))).numpy() @ np.diag(s)
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
    data = read_json(path, "Scan2CAD annotation")
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


def box_yaw(box_to_scan: np.ndarray) -> float:
    """Yaw of a Scan2CAD box in scan coordinates: the CAD x axis projected on the floor."""
    axes = box_to_scan[:3, :3]
    up = int(np.argmax(np.abs(axes[2]) / np.linalg.norm(axes, axis=0)))
    x = axes[:, 0] if up != 0 else axes[:, 2]
    return math.atan2(x[1], x[0])
