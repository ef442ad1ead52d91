"""Matrix nodes: Blender parity (batched) for Combine / Separate Matrix, Multiply Matrices, Invert Matrix
(singular matrices included), Transpose Matrix, Matrix Determinant, Transform Point / Direction, Project
Point (behind the camera included) and Separate Transform's quaternion of sheared, mirrored and
zero-scale matrices; float64 gradchecks; batch == singles; fields."""

from __future__ import annotations

import pytest
import torch

from tests.fixtures.parity import empty_scene, requires_bpy
from tests.fixtures.probes import MATRIX_ENTRIES, build_probe, draw_sets
from translator import runtime as rt
from translator.nodes import matrix as M
from translator.nodes import transform as T
from translator.nodes.primitives import make_mesh

_IDENTITY = [1.0 if r == c else 0.0 for c in range(4) for r in range(4)]


def _matrix_spec(ident: str, lo: float = -2.0, hi: float = 2.0, affine: bool = False) -> dict:
    """16 random entries of operand ``ident`` (``<ident>_k``, column by column); ``affine``: the last row
    is (0, 0, 0, 1)."""
    spec = {}
    for k in range(16):
        r = k % 4
        spec[f"{ident}_{k}"] = ("float", lo, hi) if not (affine and r == 3) else ("float", float(k == 15), float(k == 15))
    return spec


def _matrix(ident: str, entries) -> dict:
    return {f"{ident}_{k}": float(v) for k, v in enumerate(entries)}


def _singular(ident: str) -> dict:
    m = list(_IDENTITY)
    m[5] = 0.0  # column 2 is zero: determinant exactly 0
    return _matrix(ident, m)


def _tf(ident: str, t=(0.5, -1.0, 2.0), scale=(1.0, 1.0, 1.0), shear: float = 0.0) -> dict:
    """An affine matrix: diagonal ``scale``, column 2 row 1 ``shear``, translation ``t``."""
    m = list(_IDENTITY)
    m[0], m[5], m[10] = scale
    m[4] = shear
    m[12], m[13], m[14] = t
    return _matrix(ident, m)


@requires_bpy
def test_combine_and_separate_matrix_parity():
    empty_scene()
    probe = build_probe("FunctionNodeCombineMatrix", dict.fromkeys(MATRIX_ENTRIES, "FLOAT"), ["Matrix"], scale=3.0)
    assert any(n.bl_idname == "FunctionNodeSeparateMatrix" for n in probe.ng.nodes)  # the probe reads the entries back
    sets = draw_sets(1, {e: ("float", -3, 3) for e in MATRIX_ENTRIES}, 12, [dict(zip(MATRIX_ENTRIES, _IDENTITY))])
    assert probe.check_batched(sets) == len(sets)


@requires_bpy
@pytest.mark.parametrize("name", ["FunctionNodeMatrixMultiply", "FunctionNodeTransposeMatrix", "FunctionNodeInvertMatrix",
                                  "FunctionNodeMatrixDeterminant"])
def test_matrix_operations_parity(name):
    empty_scene()
    ops = {"Matrix": "MATRIX"} | ({"Matrix_001": "MATRIX"} if name == "FunctionNodeMatrixMultiply" else {})
    outputs = {"FunctionNodeInvertMatrix": ["Matrix", "Invertible"], "FunctionNodeMatrixDeterminant": ["Determinant"]}
    probe = build_probe(name, ops, outputs.get(name, ["Matrix"]), scale=4.0)
    spec = _matrix_spec("Matrix", -1.5, 1.5)
    if "Matrix_001" in ops:
        spec |= _matrix_spec("Matrix_001", -1.5, 1.5)
    edges = [_singular("Matrix"), _matrix("Matrix", _IDENTITY), _tf("Matrix", scale=(2.0, 0.5, -1.0), shear=0.7)]
    sets = draw_sets(2, spec, 16, edges)
    if name == "FunctionNodeInvertMatrix":  # keep the inverses' entries moderate: well-conditioned random matrices
        sets = draw_sets(2, _matrix_spec("Matrix", -0.4, 0.4), 16, edges)
        for s in sets[:16]:
            for k in (0, 5, 10, 15):
                s[f"Matrix_{k}"] += 1.5
    assert probe.check_batched(sets) == len(sets)


@requires_bpy
@pytest.mark.parametrize("name", ["FunctionNodeTransformPoint", "FunctionNodeTransformDirection", "FunctionNodeProjectPoint"])
def test_transform_and_project_point_parity(name):
    empty_scene()
    vec = "Direction" if name == "FunctionNodeTransformDirection" else "Vector"
    probe = build_probe(name, {vec: "VECTOR", "Transform": "MATRIX"}, [vec], scale=4.0)
    spec = {vec: ("vector", -2, 2)} | _matrix_spec("Transform", -1.5, 1.5)
    edges = [_matrix("Transform", _IDENTITY), _tf("Transform", scale=(2.0, -1.0, 0.5), shear=0.3)]
    if name == "FunctionNodeProjectPoint":  # w kept away from 0; one with a negative w (behind the camera)
        for k in (3, 7, 11):
            spec[f"Transform_{k}"] = ("float", -0.1, 0.1)
        spec["Transform_15"] = ("float", 0.8, 2.0)
        edges.append({"Transform_15": -1.5})
    sets = draw_sets(3, spec, 16, edges)
    assert probe.check_batched(sets) == len(sets)


@requires_bpy
def test_separate_transform_quaternion_parity():
    """Separate Transform's rotation read as Blender's quaternion: random, sheared, mirrored and
    zero-scale affine matrices (normalized axes, Euler, quaternion)."""
    empty_scene()
    probe = build_probe("FunctionNodeSeparateTransform", {"Transform": "MATRIX"}, ["Translation", "Rotation", "Scale"], scale=4.0)
    edges = [_tf("Transform", scale=(-1.0, 1.0, 1.0)), _tf("Transform", scale=(0.0, 1.0, 1.0)), _tf("Transform", shear=0.8),
             _tf("Transform", scale=(2.0, 3.0, 0.5)), _matrix("Transform", _IDENTITY)]
    sets = draw_sets(4, _matrix_spec("Transform", -2, 2, affine=True), 16, edges)
    assert probe.check_batched(sets) == len(sets)


def _rand(shape, lo, hi, seed):
    g = torch.Generator().manual_seed(seed)
    return (lo + (hi - lo) * torch.rand(shape, generator=g, dtype=torch.float64)).requires_grad_()


def _mat(seed, b=3):
    return (torch.eye(4, dtype=torch.float64) * 1.5 + _rand((b, 4, 4), -0.4, 0.4, seed).detach()).requires_grad_()


def test_matrix_nodes_gradcheck():
    a, b, v = _mat(1), _mat(2), _rand((3, 3), -2, 2, 3)
    entries = [_rand((3,), -1, 1, 10 + k) for k in range(16)]
    checks = [
        (M.combine_matrix, entries),
        (lambda m: M.separate_matrix(m), (a,)),
        (M.multiply_matrices, (a, b)),
        (lambda m: M.invert_matrix(m)[0], (a,)),
        (M.transpose_matrix, (a,)),
        (M.matrix_determinant, (a,)),
        (M.transform_point, (v, a)),
        (M.transform_direction, (v, a)),
        (M.project_point, (v, a)),
        (lambda m: T.separate_transform(m)[1], (a,)),
    ]
    for fn, args in checks:
        assert torch.autograd.gradcheck(fn, tuple(args)), fn


def test_matrix_nodes_batch_equals_singles_and_defaults():
    a, b, v = _mat(4, 5).detach(), _mat(5, 5).detach(), _rand((5, 3), -2, 2, 6).detach()
    with rt.eval_context(torch.float64):
        for fn in (lambda i: M.multiply_matrices(a[i], b[i]), lambda i: M.invert_matrix(a[i])[0],
                   lambda i: M.project_point(v[i], a[i]), lambda i: M.matrix_determinant(a[i]),
                   lambda i: T.separate_transform(a[i])[1]):
            assert torch.allclose(fn(slice(None)), torch.stack([fn(i) for i in range(5)]), atol=1e-12)
        # unlinked matrices are the identity; a singular matrix inverts to the identity, not invertible
        assert torch.equal(M.transform_point((1.0, 2.0, 3.0), None), torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))
        inv, ok = M.invert_matrix(torch.zeros(4, 4, dtype=torch.float64))
        assert torch.equal(inv, torch.eye(4, dtype=torch.float64)) and not bool(ok)
        assert M.invert_matrix(None)[1] is True


def test_matrix_nodes_on_fields():
    with rt.eval_context(torch.float64):
        verts = torch.tensor([[[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]]], dtype=torch.float64)
        ctx = rt.FieldContext("POINT", 2, mesh=make_mesh(verts, []))
        pos = rt.Field(lambda f: f.mesh.verts, "VECTOR")
        x, y, z = (rt.Field(lambda f, i=i: f.mesh.verts[..., i], "VALUE") for i in range(3))
        m = M.combine_matrix(column_4_row_1=x, column_4_row_2=y, column_4_row_3=z, column_1_row_1=2.0)
        got = rt.eval_field(M.transform_point(pos, m), ctx, "VECTOR")
        want = verts * torch.tensor([2.0, 1.0, 1.0], dtype=torch.float64) + verts
        assert torch.allclose(got, want, atol=1e-12)
        det = rt.eval_field(M.matrix_determinant(m), ctx, "VALUE")
        assert torch.allclose(det, torch.full((1, 2), 2.0, dtype=torch.float64))
        entries = M.separate_matrix(M.invert_matrix(m)[0])
        assert torch.allclose(rt.eval_field(entries[12], ctx, "VALUE"), -verts[..., 0] / 2.0)
