"""Whole scenes from the inputs ``fit-scene`` takes (:func:`load_scene`); every reader raises a one-line
:class:`~backend.structures.ScanError` naming the file and what is wrong.

* a labelled point cloud: a ``.ply`` whose vertices carry a label and an instance field
  (:func:`load_labelled_ply`; ``--label-field``, ``--instance-field``, ``--labels`` for what the numbers mean);
* a ScanNet scene folder: ``<id>_vh_clean_2.ply`` + segments + aggregation (:func:`load_scannet_folder`);
  its objects' labels are ScanNet's raw names;
* a ScanNet scene plus a Scan2CAD annotation (:func:`load_scan2cad_scene`): one object per aligned CAD
  model, the scene's points inside its box (grown by 5 %), the box's yaw as the object's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..io.ply import load_ply
from ..io.scan2cad import box_yaw, crop_box, load_scan2cad
from ..io.scannet import load_scannet_scene, scene_files
from ..structures import ScanError
from .labels import SYNSETS, label_names
from .model import Scene, SceneObject

__all__ = ["INSTANCE_FIELDS", "LABEL_FIELDS", "load_labelled_ply", "load_scan2cad_scene", "load_scannet_folder", "load_scene"]

LABEL_FIELDS = ("nyu40", "label", "semantic", "semantic_label", "class", "category", "scalar_label")
"""Vertex fields taken as the label when ``--label-field`` is not given (the first present)."""
INSTANCE_FIELDS = ("instance", "instance_id", "object_id", "objectId", "scalar_instance")
"""Vertex fields taken as the instance when ``--instance-field`` is not given (the first present)."""


def _field(props: list[str], given: str | None, defaults: tuple[str, ...], what: str, path: Path) -> str:
    if given is not None:
        if given not in props:
            raise ScanError(f"{path}: no vertex field '{given}' for the {what} (fields: {', '.join(props)})")
        return given
    for name in defaults:
        if name in props:
            return name
    raise ScanError(f"{path}: no {what} field among the vertex fields ({', '.join(props)}); name it with "
                    f"--{what}-field")


def _objects(instances: np.ndarray, labels: np.ndarray, names: dict[int, str], path: Path) -> dict[int, SceneObject]:
    objects = {}
    order = np.argsort(instances, kind="stable")
    ids, starts = np.unique(instances[order], return_index=True)
    for k, inst in enumerate(ids):
        if inst < 0:
            continue
        rows = order[starts[k]: starts[k + 1] if k + 1 < len(starts) else len(order)]
        lab = labels[rows]
        lab = lab[lab >= 0]
        if not len(lab):
            continue
        vals, counts = np.unique(lab, return_counts=True)
        major = int(vals[np.argmax(counts)])  # an instance's label: the one most of its points carry
        objects[int(inst)] = SceneObject(int(inst), names.get(major, f"label {major}"), torch.from_numpy(rows.astype(np.int64)))
    return objects


def load_labelled_ply(path: str | Path, label_field: str | None = None, instance_field: str | None = None,
                      labels: str = "nyu40", label_column: str = "category") -> Scene:
    """A labelled point cloud: a PLY whose vertices have ``x y z`` (colors optional), a label field and an
    instance field (0 or negative = none). ``labels`` says what the label numbers mean
    (:func:`~backend.scene.labels.label_names`)."""
    from plyfile import PlyData

    path = Path(path)
    pc = load_ply(path)  # checks the file, the points and the colors
    names = label_names(labels, label_column)
    data = PlyData.read(str(path))["vertex"].data
    props = list(data.dtype.names or ())
    lf = _field(props, label_field, LABEL_FIELDS, "label", path)
    inf = _field(props, instance_field, INSTANCE_FIELDS, "instance", path)
    lab, ins = np.asarray(data[lf]), np.asarray(data[inf])
    for name, arr in ((lf, lab), (inf, ins)):
        if not np.issubdtype(arr.dtype, np.integer) and (not np.isfinite(arr).all() or (arr != np.round(arr)).any()):
            raise ScanError(f"{path}: vertex field '{name}' must hold whole numbers")
    lab = lab.astype(np.int64)
    ins = ins.astype(np.int64)
    if 0 not in names:  # NYU40's 0 is "unlabelled"
        lab[lab == 0] = -1
    lab[lab < 0] = -1
    ins[ins <= 0] = -1
    unknown = sorted(set(np.unique(lab[lab >= 0]).tolist()) - set(names))
    if unknown:
        raise ScanError(f"{path}: label ids {unknown[:8]} in field '{lf}' are not in the label set '{labels}' "
                        f"(ids {min(names)}..{max(names)}); choose the set with --labels")
    scene = Scene(pc.points, pc.colors, torch.from_numpy(lab), names, torch.from_numpy(ins),
                  source=f"{path} (labels: {lf} as {labels}, instances: {inf})")
    scene.objects = _objects(ins, lab, names, path)
    return scene


def load_scannet_folder(path: str | Path) -> Scene:
    """A ScanNet scene (folder or ``_vh_clean_2.ply`` with its segments and aggregation): its mesh vertices as
    points, each annotated object an instance (``objectId``) labelled with its raw ScanNet name."""
    sc = load_scannet_scene(path)
    n = len(sc.mesh.points)
    names: dict[int, str] = {}
    ids: dict[str, int] = {}
    lab = np.full(n, -1, dtype=np.int64)
    ins = np.full(n, -1, dtype=np.int64)
    for oid, obj in sorted(sc.objects.items()):
        name = obj.label.strip() or "unlabelled"
        if name not in ids:
            ids[name] = len(ids)
            names[ids[name]] = name
        idx = obj.vertex_indices.numpy()
        lab[idx] = ids[name]
        ins[idx] = oid
    scene = Scene(sc.mesh.points, sc.mesh.colors, torch.from_numpy(lab), names, torch.from_numpy(ins),
                  source=f"{sc.files['mesh']} (ScanNet aggregation)")
    scene.objects = {oid: SceneObject(oid, o.label.strip() or "unlabelled", o.vertex_indices)
                     for oid, o in sorted(sc.objects.items()) if o.vertex_indices.numel()}
    return scene


def load_scan2cad_scene(path: str | Path, annotation: str | Path, margin: float = 0.05) -> Scene:
    """A ScanNet scene cut by a Scan2CAD annotation: one object per aligned model (its index), the points in its
    box grown by ``margin`` (a fraction of each half extent), labelled by the model's ShapeNet category. The
    scene's own labels (when its aggregation is there) give the floor and walls."""
    path = Path(path)
    scene_id, mesh_path, segs, agg = scene_files(path)
    scene = load_scannet_folder(path) if segs.is_file() and agg.is_file() else _bare(mesh_path)
    ann = load_scan2cad(annotation, scene_id)
    objects = {}
    for obj in ann.objects:
        try:
            inside = crop_box(scene.points, obj.box_to_scan, margin, where=f"{annotation} model #{obj.index}")
        except ScanError:
            continue  # a box that holds no point of this scan: nothing to fit
        name = SYNSETS.get(obj.catid_cad, f"shapenet {obj.catid_cad}")
        objects[obj.index] = SceneObject(obj.index, name, torch.nonzero(inside).squeeze(1), obj.box_to_scan,
                                         box_yaw(obj.box_to_scan))
    if not objects:
        raise ScanError(f"{annotation}: none of the {len(ann.objects)} aligned models of {scene_id} holds scan points")
    scene.objects = objects
    scene.source = f"{mesh_path} + {annotation} (Scan2CAD boxes)"
    return scene


def _bare(mesh_path: Path) -> Scene:
    pc = load_ply(mesh_path)
    n = len(pc.points)
    return Scene(pc.points, pc.colors, torch.full((n,), -1, dtype=torch.long), {}, torch.full((n,), -1, dtype=torch.long),
                 source=str(mesh_path))


def load_scene(path: str | Path, *, label_field: str | None = None, instance_field: str | None = None,
               labels: str = "nyu40", label_column: str = "category", scan2cad: str | Path | None = None) -> Scene:
    """Any supported scene input (see the module docstring)."""
    path = Path(path)
    if not path.exists():
        raise ScanError(f"{path}: no such file or folder")
    is_scannet = (path.is_dir() and any(path.glob("*_vh_clean_2.ply"))) or path.name.endswith("_vh_clean_2.ply")
    if scan2cad is not None:
        if not is_scannet:
            raise ScanError(f"{path}: a Scan2CAD annotation goes with a ScanNet scene (a folder with <id>_vh_clean_2.ply)")
        return load_scan2cad_scene(path, scan2cad)
    if is_scannet:
        return load_scannet_folder(path)
    if path.is_dir():
        plys = sorted(path.glob("*.ply"))
        if len(plys) != 1:
            raise ScanError(f"{path}: a folder must be a ScanNet scene or hold one labelled .ply (found {len(plys)})")
        path = plys[0]
    if path.suffix.lower() != ".ply":
        raise ScanError(f"{path}: not a scene ShapeProg reads (a labelled .ply, a ScanNet scene folder)")
    return load_labelled_ply(path, label_field, instance_field, labels, label_column)
