"""File readers and writers for scans: every reader checks its input and raises
:class:`backend.structures.ScanError`, a one-line message naming the file and what is wrong.

* :mod:`.ply`: ``.ply`` point clouds and meshes (:func:`load_ply`, :func:`write_point_cloud`);
* :mod:`.frames`: RGB-D frame folders in ScanNet's exported layout (:func:`load_frames`);
* :mod:`.scannet`: ScanNet scenes with their instance annotation (:func:`load_scannet_scene`);
* :mod:`.scan2cad`: Scan2CAD boxes (:func:`load_scan2cad`, :func:`crop_box`);
* :mod:`.scan`: one object's :class:`~backend.structures.Observations` from any of them (:func:`load_scan`).
"""

from .frames import load_frames, read_matrix, write_matrix
from .ply import load_ply, write_point_cloud
from .scan import load_scan
from .scan2cad import Scan2CADObject, Scan2CADScene, crop_box, load_scan2cad
from .scannet import ScanNetObject, ScanNetScene, load_scannet_scene

__all__ = [
    "Scan2CADObject",
    "Scan2CADScene",
    "ScanNetObject",
    "ScanNetScene",
    "crop_box",
    "load_frames",
    "load_ply",
    "load_scan",
    "load_scan2cad",
    "load_scannet_scene",
    "read_matrix",
    "write_matrix",
    "write_point_cloud",
]
