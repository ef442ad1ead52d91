"""ScanNet scenes: ``<id>_vh_clean_2.ply`` + ``<id>_vh_clean_2.0.010000.segs.json`` +
``<id>.aggregation.json`` -> per-object vertex segments with labels (:func:`load_scannet_scene`)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..structures import PointCloud, ScanError
from .ply import load_ply

__all__ = ["ScanNetObject", "ScanNetScene", "load_scannet_scene", "read_json", "scene_files"]


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


def read_json(path: Path, what: str) -> Any:
    if not path.is_file():
        raise ScanError(f"{path}: missing {what}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ScanError(f"{path}: cannot read {what}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ScanError(f"{path}: {what} is not valid JSON: {exc}") from None


def scene_files(path: Path) -> tuple[str, Path, Path, Path]:
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
    scene_id, mesh_path, segs_path, agg_path = scene_files(Path(path))
    mesh = load_ply(mesh_path)
    segs = read_json(segs_path, "segments file")
    seg = segs.get("segIndices") if isinstance(segs, dict) else None
    if not isinstance(seg, list) or not all(isinstance(s, int) for s in seg[:1000]):
        raise ScanError(f"{segs_path}: expected an object with a 'segIndices' list of integers")
    seg_idx = np.asarray(seg, dtype=np.int64)
    if len(seg_idx) != len(mesh.points):
        raise ScanError(f"{segs_path}: {len(seg_idx)} segment indices for {len(mesh.points)} mesh vertices in {mesh_path.name}")
    agg = read_json(agg_path, "aggregation file")
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
