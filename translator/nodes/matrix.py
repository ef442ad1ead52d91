"""Matrix nodes: Combine Matrix, Separate Matrix, Multiply Matrices, Invert Matrix, Transpose Matrix,
Matrix Determinant, Transform Point, Transform Direction and Project Point.

Semantics follow Blender 5.0 (``node_fn_*matrix*.cc``, ``node_fn_transform_*.cc``,
``node_fn_project_point.cc``, ``BLI_math_matrix.hh``), checked against Blender in
``tests/translator/nodes/test_matrix.py``. A MATRIX value is a ``(…, 4, 4)`` tensor indexed
``[row, column]`` (the translation is ``[:3, 3]``; Blender's ``Column c Row r`` is ``[r - 1, c - 1]``);
an unlinked matrix input is the identity. Single values are ``(4, 4)``, batched ``(B, 4, 4)``, fields
``(b, N, 4, 4)``; any field input gives a field.

Combine Transform and Separate Transform live in :mod:`translator.nodes.transform`.
"""

from __future__ import annotations

import torch

from .. import runtime as rt
from . import node
from .math import elementwise

__all__ = [
    "MATRIX_ENTRIES",
    "combine_matrix",
    "invert_matrix",
    "matrix_determinant",
    "multiply_matrices",
    "project_point",
    "separate_matrix",
    "transform_direction",
    "transform_point",
    "transpose_matrix",
]

# Blender's socket identifiers of the 16 entries, column by column.
MATRIX_ENTRIES = tuple(f"Column {c} Row {r}" for c in range(1, 5) for r in range(1, 5))


def _combine(*entries: torch.Tensor) -> torch.Tensor:
    cols = torch.stack(torch.broadcast_tensors(*entries), -1)  # (…, 16) column-major
    return cols.reshape(*cols.shape[:-1], 4, 4).transpose(-1, -2)


@node("FunctionNodeCombineMatrix", outputs=("Matrix",), label="Combine Matrix", grad="yes")
def combine_matrix(column_1_row_1=1.0, column_1_row_2=0.0, column_1_row_3=0.0, column_1_row_4=0.0,
                   column_2_row_1=0.0, column_2_row_2=1.0, column_2_row_3=0.0, column_2_row_4=0.0,
                   column_3_row_1=0.0, column_3_row_2=0.0, column_3_row_3=1.0, column_3_row_4=0.0,
                   column_4_row_1=0.0, column_4_row_2=0.0, column_4_row_3=0.0, column_4_row_4=1.0):
    """Combine Matrix: 16 floats ``(…)`` (``Column c Row r``) -> ``(…, 4, 4)``."""
    args = [column_1_row_1, column_1_row_2, column_1_row_3, column_1_row_4,
            column_2_row_1, column_2_row_2, column_2_row_3, column_2_row_4,
            column_3_row_1, column_3_row_2, column_3_row_3, column_3_row_4,
            column_4_row_1, column_4_row_2, column_4_row_3, column_4_row_4]
    return elementwise(_combine, args, ["VALUE"] * 16, "MATRIX")


@node("FunctionNodeSeparateMatrix", outputs=MATRIX_ENTRIES, label="Separate Matrix", grad="yes")
def separate_matrix(matrix=None):
    """Separate Matrix: ``(…, 4, 4)`` -> its 16 entries ``(…)``, column by column (identity when unlinked)."""
    if rt.is_field(matrix):
        return tuple(rt.field_map(lambda m, r=r, c=c: m[..., r, c], [matrix], ["MATRIX"], "VALUE")
                     for c in range(4) for r in range(4))
    m = matrix if isinstance(matrix, torch.Tensor) else rt.identity_matrix()
    return tuple(m[..., r, c] for c in range(4) for r in range(4))


@node("FunctionNodeMatrixMultiply", outputs=("Matrix",), label="Multiply Matrices", grad="yes")
def multiply_matrices(matrix=None, matrix_001=None):
    """Multiply Matrices: ``matrix @ matrix_001`` (the second is applied first)."""
    return elementwise(torch.matmul, [matrix, matrix_001], ["MATRIX"] * 2, "MATRIX")


def _invert(m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    det = torch.linalg.det(m)
    ok = det != 0
    eye = torch.eye(4, dtype=m.dtype, device=m.device)
    safe = torch.where(ok[..., None, None], m, eye.expand_as(m))
    inv = torch.linalg.inv(safe)
    return torch.where(ok[..., None, None], inv, eye.expand_as(inv)), ok


@node("FunctionNodeInvertMatrix", outputs=("Matrix", "Invertible"), label="Invert Matrix", grad="yes",
      notes="a singular matrix (determinant exactly 0) gives the identity and Invertible false")
def invert_matrix(matrix=None):
    """Invert Matrix: the inverse ``(…, 4, 4)`` and whether it exists ``(…)``; a matrix whose determinant is
    exactly zero gives the identity (as Blender's ``invert(m, success)``)."""
    if rt.is_field(matrix):
        return (rt.field_map(lambda m: _invert(m)[0], [matrix], ["MATRIX"], "MATRIX"),
                rt.field_map(lambda m: _invert(m)[1], [matrix], ["MATRIX"], "BOOLEAN"))
    if not isinstance(matrix, torch.Tensor):
        return rt.identity_matrix(), True
    return _invert(matrix)


@node("FunctionNodeTransposeMatrix", outputs=("Matrix",), label="Transpose Matrix", grad="yes")
def transpose_matrix(matrix=None):
    """Transpose Matrix: ``matrix^T``."""
    return elementwise(lambda m: m.transpose(-1, -2), [matrix], ["MATRIX"], "MATRIX")


@node("FunctionNodeMatrixDeterminant", outputs=("Determinant",), label="Matrix Determinant", grad="yes")
def matrix_determinant(matrix=None):
    """Matrix Determinant: ``det(matrix)`` ``(…)`` of the 4x4 matrix."""
    return elementwise(torch.linalg.det, [matrix], ["MATRIX"], "VALUE")


def _apply(m: torch.Tensor, v: torch.Tensor, w: float) -> torch.Tensor:
    out = torch.matmul(m[..., :3, :3], v.unsqueeze(-1)).squeeze(-1)
    return out + m[..., :3, 3] if w else out


@node("FunctionNodeTransformPoint", outputs=("Vector",), label="Transform Point", grad="yes")
def transform_point(vector=(0.0, 0.0, 0.0), transform=None):
    """Transform Point: ``M[:3, :3] @ v + M[:3, 3]`` (the fourth row is ignored, as in Blender)."""
    return elementwise(lambda v, m: _apply(m, v, 1.0), [vector, transform], ["VECTOR", "MATRIX"], "VECTOR")


@node("FunctionNodeTransformDirection", outputs=("Direction",), label="Transform Direction", grad="yes")
def transform_direction(direction=(0.0, 0.0, 0.0), transform=None):
    """Transform Direction: ``M[:3, :3] @ d`` (no translation)."""
    return elementwise(lambda v, m: _apply(m, v, 0.0), [direction, transform], ["VECTOR", "MATRIX"], "VECTOR")


def _project(v: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    p = torch.matmul(m, torch.cat([v, torch.ones_like(v[..., :1])], -1).unsqueeze(-1)).squeeze(-1)
    return p[..., :3] / torch.abs(p[..., 3:])


@node("FunctionNodeProjectPoint", outputs=("Vector",), label="Project Point", grad="yes",
      notes="divides by |w|; w = 0 gives infinities as in Blender")
def project_point(vector=(0.0, 0.0, 0.0), transform=None):
    """Project Point: ``p = M @ (v, 1)``, then ``p.xyz / |p.w|`` (perspective divide that does not flip
    points behind the camera)."""
    return elementwise(_project, [vector, transform], ["VECTOR", "MATRIX"], "VECTOR")
