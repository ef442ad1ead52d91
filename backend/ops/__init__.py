"""Geometry kernels, batched over candidates and differentiable where it matters:

* :mod:`.point_mesh`: exact point-to-mesh distances (a fast kernel and its slow reference);
* :mod:`.sampling`: area-weighted surface samples;
* :mod:`.blend`: points at barycentric weights of chosen triangles (a fast kernel and its reference);
* :mod:`.knn`: exact nearest neighbours between point sets (KD-tree on CPU, a torch grid elsewhere);
* :mod:`.pose`: yaw + translation + scale transforms;
* :mod:`.checks`: the shape checks they share;
* :mod:`.native`: compiled CPU kernels (C++ through ctypes), each the fast path of a pure-torch reference.
"""

from .knn import NN_BACKENDS, ScanNeighbours, nearest_neighbors
from .point_mesh import (
    PackedTriangles,
    PointMeshDistance,
    PointsToMesh,
    point_mesh_sqdist,
    point_mesh_sqdist_reference,
    point_triangle_sqdist,
)
from .pose import apply_pose, pose_matrix
from .sampling import SurfaceSamples, sample_surface

__all__ = [
    "NN_BACKENDS",
    "PackedTriangles",
    "PointMeshDistance",
    "PointsToMesh",
    "ScanNeighbours",
    "SurfaceSamples",
    "apply_pose",
    "nearest_neighbors",
    "point_mesh_sqdist",
    "point_mesh_sqdist_reference",
    "point_triangle_sqdist",
    "pose_matrix",
    "sample_surface",
]
