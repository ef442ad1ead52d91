"""One object's observations from any supported input (:func:`load_scan`)."""

from __future__ import annotations

from pathlib import Path

from ..object_frame import observations_from_frames, observations_from_points
from ..structures import Observations, ScanError
from .frames import load_frames
from .ply import load_ply
from .scan2cad import box_yaw, crop_box, load_scan2cad
from .scannet import load_scannet_scene, scene_files

__all__ = ["load_scan"]


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
            scene_id, mesh_path, _, _ = scene_files(path)
            mesh = load_ply(mesh_path)
            ann = load_scan2cad(scan2cad, scene_id)
            if scan2cad_index is None:
                raise ScanError(f"{scan2cad}: say which aligned model to crop (index 0..{len(ann.objects) - 1})")
            obj = ann.object(scan2cad_index)
            inside = crop_box(mesh.points, obj.box_to_scan, crop_margin, where=f"{scan2cad} model #{scan2cad_index} in {mesh_path.name}")
            cols = mesh.colors[inside] if mesh.colors is not None else None
            return observations_from_points(mesh.points[inside], cols, label=obj.catid_cad, floor_z=floor_z,
                                            yaw=box_yaw(obj.box_to_scan), source=f"{mesh_path} scan2cad #{scan2cad_index}")
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
