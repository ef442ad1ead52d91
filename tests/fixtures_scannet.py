"""Builders of tiny scans in the exact ScanNet / Scan2CAD file formats, written into temporary folders.

Formats (as distributed by ScanNet v2 and Scan2CAD):

* ``<scene>_vh_clean_2.ply``: binary little-endian PLY, vertex ``x y z`` float32 +
  ``red green blue alpha`` uchar, face ``list uchar int vertex_indices``.
* ``<scene>_vh_clean_2.0.010000.segs.json``: ``{"params": {...}, "sceneId": ..., "segIndices": [per vertex]}``.
* ``<scene>.aggregation.json``: ``{"sceneId": "scannet.<scene>", "appId": ..., "segGroups": [{"id", "objectId",
  "segments", "label"}], "segmentsFile": ...}``.
* Exported frames: ``color/N.jpg``, ``depth/N.png`` (uint16 mm), ``intrinsic/intrinsic_depth.txt`` (4x4),
  ``pose/N.txt`` (4x4 camera-to-world, ``-inf`` everywhere where tracking failed), ``instance-filt/N.png`` (uint8 ids).
* Scan2CAD ``full_annotations.json``: a list of ``{"id_scan", "trs": {translation, rotation (w,x,y,z), scale},
  "aligned_models": [{"trs", "bbox" (half extents), "center", "sym", "id_cad", "catid_cad"}], "n_aligned_models"}``.

Each builder returns the ground truth the tests compare against.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from PIL import Image
from plyfile import PlyData, PlyElement

__all__ = [
    "box_surface_points",
    "make_frame_folder",
    "make_scan2cad",
    "make_scannet_scene",
    "matrix_to_quaternion",
    "rot_x",
    "rot_z",
    "write_depth_png",
    "write_matrix",
    "write_ply",
]


def rot_z(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])


def rot_x(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[1.0, 0, 0], [0, c, -s], [0, s, c]])


def matrix_to_quaternion(r: np.ndarray) -> list[float]:
    """(w, x, y, z) of a rotation matrix (largest-pivot method)."""
    t = np.trace(r)
    if t > 0:
        s = math.sqrt(t + 1.0) * 2
        q = [0.25 * s, (r[2, 1] - r[1, 2]) / s, (r[0, 2] - r[2, 0]) / s, (r[1, 0] - r[0, 1]) / s]
    else:
        i = int(np.argmax(np.diag(r)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = math.sqrt(1.0 + r[i, i] - r[j, j] - r[k, k]) * 2
        q = [0.0] * 4
        q[0] = (r[k, j] - r[j, k]) / s
        q[1 + i] = 0.25 * s
        q[1 + j] = (r[j, i] + r[i, j]) / s
        q[1 + k] = (r[k, i] + r[i, k]) / s
    return [float(x) for x in q]


def write_ply(path: Path, points: np.ndarray, colors: np.ndarray | None = None, normals: np.ndarray | None = None,
              faces: list | np.ndarray | None = None, text: bool = False, alpha: bool = False,
              float_colors: bool = False) -> None:
    """A PLY in ScanNet's layout: x y z float, [nx ny nz float], [red green blue (alpha) uchar], faces as
    ``list uchar int vertex_indices``."""
    dtype = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    if normals is not None:
        dtype += [("nx", "<f4"), ("ny", "<f4"), ("nz", "<f4")]
    if colors is not None:
        ct = "<f4" if float_colors else "u1"
        dtype += [("red", ct), ("green", ct), ("blue", ct)] + ([("alpha", "u1")] if alpha else [])
    v = np.empty(len(points), dtype=dtype)
    v["x"], v["y"], v["z"] = np.asarray(points, dtype=np.float32).T
    if normals is not None:
        v["nx"], v["ny"], v["nz"] = np.asarray(normals, dtype=np.float32).T
    if colors is not None:
        c = np.asarray(colors)
        if float_colors:
            v["red"], v["green"], v["blue"] = c.astype(np.float32).T
        else:
            v["red"], v["green"], v["blue"] = np.clip(np.round(c * 255), 0, 255).astype(np.uint8).T
        if alpha:
            v["alpha"] = 255
    elements = [PlyElement.describe(v, "vertex")]
    if faces is not None:
        f = np.empty(len(faces), dtype=[("vertex_indices", "O")])
        f["vertex_indices"] = [np.asarray(x, dtype=np.int32) for x in faces]
        elements.append(PlyElement.describe(f, "face", len_types={"vertex_indices": "u1"}, val_types={"vertex_indices": "i4"}))
    PlyData(elements, text=text, byte_order="<").write(str(path))


def box_surface_points(center, size, yaw: float, n: int = 12) -> np.ndarray:
    """Points on the 5 visible faces (not the bottom) of a yawed box standing on z = center[2] - size[2]/2."""
    hx, hy, hz = np.asarray(size, dtype=np.float64) / 2
    g = np.linspace(-1, 1, n)
    a, b = np.meshgrid(g, g, indexing="ij")
    a, b = a.ravel(), b.ravel()
    one = np.ones_like(a)
    faces = [
        np.stack([a * hx, b * hy, one * hz], 1),
        np.stack([one * hx, a * hy, b * hz], 1),
        np.stack([-one * hx, a * hy, b * hz], 1),
        np.stack([a * hx, one * hy, b * hz], 1),
        np.stack([a * hx, -one * hy, b * hz], 1),
    ]
    local = np.unique(np.round(np.concatenate(faces), 9), axis=0)
    return local @ rot_z(yaw).T + np.asarray(center, dtype=np.float64)


def make_scannet_scene(folder: Path, scene_id: str = "scene0007_00", floor_z: float = 0.02) -> dict:
    """A tiny ScanNet scene: a floor grid (2 segments), a yawed 'chair' box (2 segments), a 'table' box,
    and an annotated object whose segments occur nowhere (objectId 9, 'ghost').

    Returns ``{"mesh", "segs", "aggregation", "objects": {objectId: {"label", "vertices", "center", "size",
    "yaw"}}, "floor_z"}``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    g = np.linspace(-2, 2, 21)
    fx, fy = np.meshgrid(g, g, indexing="ij")
    floor = np.stack([fx.ravel(), fy.ravel(), np.full(fx.size, floor_z)], 1)
    floor_faces = []
    for i in range(20):
        for j in range(20):
            a = i * 21 + j
            floor_faces.append([a, a + 21, a + 22, a + 1])  # quads: the reader must triangulate them
    chair = {"center": (0.8, -0.4, floor_z + 0.45), "size": (0.5, 0.45, 0.9), "yaw": 0.5}
    table = {"center": (-0.9, 0.7, floor_z + 0.375), "size": (1.2, 0.7, 0.75), "yaw": -0.2}
    chair_pts = box_surface_points(chair["center"], chair["size"], chair["yaw"])
    table_pts = box_surface_points(table["center"], table["size"], table["yaw"], n=10)
    points = np.concatenate([floor, chair_pts, table_pts])
    n_floor, n_chair = len(floor), len(chair_pts)
    colors = rng.uniform(0, 1, size=(len(points), 3))
    seg = np.empty(len(points), dtype=np.int64)
    seg[:n_floor] = np.where(floor[:, 0] < 0, 11, 12)
    chair_seg = np.where(chair_pts[:, 2] > floor_z + 0.45, 21, 22)
    seg[n_floor:n_floor + n_chair] = chair_seg
    seg[n_floor + n_chair:] = 31
    mesh = folder / f"{scene_id}_vh_clean_2.ply"
    write_ply(mesh, points, colors, faces=floor_faces, alpha=True)
    segs = folder / f"{scene_id}_vh_clean_2.0.010000.segs.json"
    segs.write_text(json.dumps({"params": {"kThresh": "0.0001", "segMinVerts": "20", "minPoints": "750",
                                           "maxPoints": "5000", "thinThresh": "0.05", "flatThresh": "0.001",
                                           "minLength": "0.02", "maxLength": "1"},
                                "sceneId": scene_id, "segIndices": seg.tolist()}))
    groups = [
        {"id": 0, "objectId": 0, "segments": [11, 12], "label": "floor"},
        {"id": 1, "objectId": 1, "segments": [21, 22], "label": "chair"},
        {"id": 2, "objectId": 2, "segments": [31], "label": "table"},
        {"id": 3, "objectId": 9, "segments": [99], "label": "ghost"},
    ]
    agg = folder / f"{scene_id}.aggregation.json"
    agg.write_text(json.dumps({"sceneId": f"scannet.{scene_id}", "appId": "Aggregator.v2", "segGroups": groups,
                               "segmentsFile": f"scannet.{scene_id}_vh_clean_2.0.010000.segs.json"}))
    idx = np.arange(len(points))
    return {
        "mesh": mesh, "segs": segs, "aggregation": agg, "points": points, "colors": colors, "floor_z": floor_z,
        "floor_faces": floor_faces,
        "objects": {
            0: {"label": "floor", "vertices": idx[:n_floor]},
            1: {"label": "chair", "vertices": idx[n_floor:n_floor + n_chair], **chair},
            2: {"label": "table", "vertices": idx[n_floor + n_chair:], **table},
        },
    }


def write_matrix(path: Path, m: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(" ".join(f"{x:.9g}" for x in row) for row in np.asarray(m)) + "\n")


def write_depth_png(path: Path, depth_m: np.ndarray) -> None:
    """uint16 millimetres, 16-bit grayscale PNG (as ScanNet's exporter writes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mm = np.clip(np.round(np.asarray(depth_m) * 1000.0), 0, 65535).astype(np.uint16)
    Image.fromarray(mm).save(path)


def look_at_pose(eye, target) -> np.ndarray:
    """Camera-to-world (ScanNet: camera looks down +Z, +Y down in the image), world up +Z."""
    eye, target = np.asarray(eye, float), np.asarray(target, float)
    z = target - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, [0, 0, 1.0])
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    m = np.eye(4)
    m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = x, y, z, eye
    return m


def make_frame_folder(folder: Path, n: int = 5, h: int = 24, w: int = 32, plane_depth: float = 1.5,
                      instance_id: int = 3, invalid_pose: tuple[int, ...] = (2,), color_scale: int = 1,
                      mask_scale: int = 1) -> dict:
    """Frames of a fronto-parallel wall ``plane_depth`` metres in front of each camera: depth is constant, so the
    back-projected world points are known exactly. The instance mask marks a rectangle (rows h/4..h/2, cols
    w/4..w/2) with ``instance_id``; one corner pixel has id 7. Frames in ``invalid_pose`` get ScanNet's ``-inf``
    pose. ``color_scale``/``mask_scale`` > 1 write color/masks at a higher resolution with a matching
    ``intrinsic_color.txt`` (as ScanNet's raw export does).

    Returns ``{"K": [fx, fy, cx, cy], "poses": {i: 4x4}, "depth": (h, w), "mask": (h, w) bool, "colors": {i: (h, w, 3)}}``.
    """
    fx = fy = 0.9 * w
    cx, cy = (w - 1) / 2, (h - 1) / 2
    k = np.array([[fx, 0, cx, 0], [0, fy, cy, 0], [0, 0, 1, 0], [0, 0, 0, 1.0]])
    write_matrix(folder / "intrinsic" / "intrinsic_depth.txt", k)
    if color_scale > 1 or mask_scale > 1:
        s = max(color_scale, mask_scale)
        kc = np.array([[fx * s, 0, (cx + 0.5) * s - 0.5, 0], [0, fy * s, (cy + 0.5) * s - 0.5, 0], [0, 0, 1, 0], [0, 0, 0, 1.0]])
        write_matrix(folder / "intrinsic" / "intrinsic_color.txt", kc)
    depth = np.full((h, w), plane_depth)
    depth[0, 0] = 0.0  # one missing measurement
    mask = np.zeros((h, w), dtype=bool)
    mask[h // 4:h // 2, w // 4:w // 2] = True
    inst = np.where(mask, instance_id, 0).astype(np.uint8)
    inst[-1, -1] = 7
    poses, colors = {}, {}
    rng = np.random.default_rng(1)
    for i in range(n):
        ang = 0.3 * i
        eye = [2.0 * math.cos(ang), 2.0 * math.sin(ang), 1.4]
        pose = look_at_pose(eye, [0, 0, 0.6])
        if i in invalid_pose:
            write_matrix(folder / "pose" / f"{i}.txt", np.full((4, 4), -np.inf))
        else:
            write_matrix(folder / "pose" / f"{i}.txt", pose)
            poses[i] = pose
        write_depth_png(folder / "depth" / f"{i}.png", depth)
        col = np.zeros((h, w, 3), dtype=np.uint8)
        col[..., 0] = (np.arange(w)[None, :] * 255 // max(w - 1, 1))
        col[..., 1] = (np.arange(h)[:, None] * 255 // max(h - 1, 1))
        col[..., 2] = int(rng.integers(0, 255))
        colors[i] = col
        (folder / "color").mkdir(parents=True, exist_ok=True)
        big = np.repeat(np.repeat(col, color_scale, 0), color_scale, 1)
        Image.fromarray(big).save(folder / "color" / f"{i}.png" if color_scale == 1 else folder / "color" / f"{i}.jpg",
                                  **({} if color_scale == 1 else {"quality": 100}))
        (folder / "instance-filt").mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.repeat(np.repeat(inst, mask_scale, 0), mask_scale, 1)).save(folder / "instance-filt" / f"{i}.png")
    return {"K": [fx, fy, cx, cy], "poses": poses, "depth": depth, "mask": mask, "colors": colors, "h": h, "w": w,
            "instance_id": instance_id}


def make_scan2cad(path: Path, scene_id: str, boxes: list[dict], other_scene: bool = True) -> dict:
    """A Scan2CAD ``full_annotations.json`` for boxes given in scan coordinates.

    Each box: ``center (3,)`` (scan, z up), ``yaw``, ``half (3,)`` half extents along (x, y, z) of the object in
    scan axes. The CAD frame is y-up (ShapeNet); the scan's own ``trs`` maps ScanNet's z-up scan into Scan2CAD's
    y-up world, like the real annotations. Returns ``{"box_to_scan": [4x4 per box]}``.
    """
    scan_to_world = np.eye(4)
    scan_to_world[:3, :3] = rot_x(-math.pi / 2)
    scan_to_world[:3, 3] = [-1.74, -0.68, 1.43]
    models, expected = [], []
    for k, b in enumerate(boxes):
        s = np.array([1.3, 1.1, 1.2]) * (1 + 0.1 * k)
        bbox_cad = np.array([b["half"][0], b["half"][2], b["half"][1]]) / s  # CAD (x, y-up, z) half extents
        center_cad = np.array([0.02, 0.1, -0.03])
        r_cs = rot_z(b["yaw"]) @ rot_x(math.pi / 2)  # CAD y -> scan z
        # choose the translation so the box centre lands on b["center"]
        t_scan = np.asarray(b["center"], float) - r_cs @ (s * center_cad)
        cad_to_scan = np.eye(4)
        cad_to_scan[:3, :3] = r_cs @ np.diag(s)
        cad_to_scan[:3, 3] = t_scan
        cad_to_world = scan_to_world @ cad_to_scan
        r_world = scan_to_world[:3, :3] @ r_cs
        models.append({
            "trs": {"translation": cad_to_world[:3, 3].tolist(), "rotation": matrix_to_quaternion(r_world), "scale": s.tolist()},
            "bbox": bbox_cad.tolist(), "center": center_cad.tolist(), "sym": "__SYM_NONE",
            "id_cad": f"cad{k:04d}", "catid_cad": "03001627",
            "keypoints_cad": {"n_keypoints": 0, "position": []}, "keypoints_scan": {"n_keypoints": 0, "position": []},
        })
        unit = np.eye(4)
        unit[:3, :3] = np.diag(bbox_cad)
        unit[:3, 3] = center_cad
        expected.append(cad_to_scan @ unit)
    entries = [{"id_scan": scene_id, "trs": {"translation": scan_to_world[:3, 3].tolist(),
                                             "rotation": matrix_to_quaternion(scan_to_world[:3, :3]), "scale": [1.0, 1.0, 1.0]},
                "aligned_models": models, "n_aligned_models": len(models), "id_alignment": "fixture"}]
    if other_scene:
        entries.insert(0, {"id_scan": "scene0999_00", "trs": {"translation": [0, 0, 0], "rotation": [1, 0, 0, 0], "scale": [1, 1, 1]},
                           "aligned_models": [], "n_aligned_models": 0})
    path.write_text(json.dumps(entries))
    return {"box_to_scan": expected}
