"""Normal (points, edges, faces, corners of flat faces; True Normal) and Face Area: Blender parity on
displaced primitives (non-planar quads and n-gons), batched like single evaluations, float64 gradchecks,
smooth corners refused. """

from __future__ import annotations

import pytest
import torch

from tests.fixtures.parity import Tree, check_parity, requires_bpy, split_values, translate_object
from tests.fixtures.probes import draw_sets
from translator import runtime as rt
from translator.geometry import MeshBatch
from translator.nodes import mesh_fields as MF
from translator.nodes.primitives import mesh_cube, mesh_cylinder

_STORES = [("Normal", "n_p", "POINT"), ("Normal", "n_f", "FACE"), ("Normal", "n_e", "EDGE"), ("True Normal", "tn_c", "CORNER"),
           ("Normal", "n_c", "CORNER")]
_AREAS = [("area_f", "FACE"), ("area_p", "POINT")]
_NAMES = [s[1] for s in _STORES] + [a[0] for a in _AREAS]


def _primitive(t: Tree, kind: str):
    if kind == "ico":
        return (t.node("GeometryNodeMeshIcoSphere", Subdivisions=2), "Mesh")
    if kind == "cube":
        return (t.node("GeometryNodeMeshCube", **{"Vertices X": 3, "Vertices Y": 2, "Vertices Z": 4}), "Mesh")
    if kind == "cylinder":
        return (t.node("GeometryNodeMeshCylinder", fill_type="NGON", Vertices=7, **{"Side Segments": 2}), "Mesh")
    return (t.node("GeometryNodeMeshGrid", **{"Vertices X": 4, "Vertices Y": 3}), "Mesh")


def _program(kind: str):
    """The primitive displaced by a random vector field scaled by Amount (seeded), then every normal and
    area stored."""
    t = Tree()
    src = _primitive(t, kind)
    src = t.jittered(src)
    normal = t.node("GeometryNodeInputNormal")
    for out, name, domain in _STORES:
        st = t.node("GeometryNodeStoreNamedAttribute", data_type="FLOAT_VECTOR", domain=domain, Name=name)
        t.link(src, st, "Geometry")
        t.link((normal, out), st, "Value")
        src = (st, "Geometry")
    area = t.node("GeometryNodeInputMeshFaceArea")
    for name, domain in _AREAS:
        st = t.node("GeometryNodeStoreNamedAttribute", data_type="FLOAT", domain=domain, Name=name)
        t.link(src, st, "Geometry")
        t.link((area, "Area"), st, "Value")
        src = (st, "Geometry")
    t.output(src)
    return t.object()


@requires_bpy
@pytest.mark.parametrize("kind", ["ico", "cube", "cylinder", "grid"])
def test_normal_and_area_parity(kind):
    obj = _program(kind)
    sets = draw_sets(3, {"Seed": ("int", 0, 1000), "Amount": ("float", 0.0, 0.25)}, 6, [{"Amount": 0.0}])
    module = translate_object(obj)
    assert check_parity(obj, sets, module, attributes=_NAMES) == len(sets)


@requires_bpy
def test_normal_batch_equals_singles():
    module = translate_object(_program("cylinder"))
    amounts = torch.tensor([0.0, 0.1, 0.2], dtype=torch.float64)
    batch = module.program({"Seed": 4}, {"Amount": amounts})
    for i, a in enumerate(amounts.tolist()):
        single = module.program(*split_values(module, {"Seed": 4, "Amount": a}))
        for name in _NAMES:
            torch.testing.assert_close(batch.attributes[name].data[i], single.attributes[name].data[0])


def test_normal_gradcheck_and_values():
    with rt.eval_context(torch.float64):
        geo, *_ = mesh_cylinder(vertices=5, fill_type="NGON")
        base = geo.mesh
        g = torch.Generator().manual_seed(1)
        delta = (0.1 * torch.randn((1, base.num_verts, 3), generator=g, dtype=torch.float64)).requires_grad_()

        def normals(d):
            m = type(base)(base.verts + d, base.corner_verts, base.face_offsets, base.edges)
            return torch.cat([MF.face_normals(m).reshape(-1), MF.vertex_normals(m).reshape(-1), MF.face_area(m).reshape(-1)])

        assert torch.autograd.gradcheck(normals, (delta,))
        cube = mesh_cube(size=(2.0, 2.0, 2.0))[0].mesh
        assert torch.allclose(MF.face_area(cube), torch.full((1, 6), 4.0, dtype=torch.float64))
        assert torch.allclose(MF.face_normals(cube)[0, 0], torch.tensor([0.0, 0.0, -1.0], dtype=torch.float64))
        corner = cube.verts[0, 0]
        assert torch.allclose(MF.vertex_normals(cube)[0, 0], corner / corner.norm())


def test_smooth_corner_normals_are_refused():
    from translator.nodes.mesh_ops import set_shade_smooth

    with rt.eval_context(torch.float64):
        geo = set_shade_smooth(mesh_cube()[0])
        normal, true_normal = MF.input_normal()
        fctx = rt.FieldContext("CORNER", geo.mesh.num_corners, mesh=geo.mesh)
        with pytest.raises(TypeError, match="smooth-shaded"):
            rt.eval_field(normal, fctx, "VECTOR")
        assert rt.eval_field(true_normal, fctx, "VECTOR").shape == (1, 24, 3)


def test_newell_of_some_faces_equals_all_faces():
    """``newell(mesh, faces)`` (what Extrude Mesh uses for its selected faces) equals the rows of
    ``newell(mesh)``: values and gradients, on a displaced cylinder (n-gons and quads)."""
    with rt.eval_context(torch.float64):
        mesh = mesh_cylinder(vertices=7, radius=0.8)[0].mesh
        g = torch.Generator().manual_seed(2)
        verts = (mesh.verts + 0.1 * torch.randn(2, mesh.num_verts, 3, generator=g, dtype=torch.float64)).requires_grad_(True)
        mesh = MeshBatch(verts=verts, corner_verts=mesh.corner_verts, face_offsets=mesh.face_offsets, edges=mesh.edges)
        faces = torch.tensor([8, 0, 3])
        some, every = MF.newell(mesh, faces), MF.newell(mesh)[:, faces]
        torch.testing.assert_close(some, every, atol=0, rtol=0)
        w = torch.randn(some.shape, generator=g, dtype=torch.float64)
        ga, = torch.autograd.grad((some * w).sum(), verts)
        gb, = torch.autograd.grad((every * w).sum(), verts)
        torch.testing.assert_close(ga, gb, atol=1e-12, rtol=0)
        torch.testing.assert_close(MF.face_normals(mesh, faces), MF.face_normals(mesh)[:, faces], atol=0, rtol=0)


def test_newell_equals_its_formula_written_out():
    """The Newell vectors' whole-tensor form equals the per-coordinate sums bit for bit (all faces, and a
    subset of them), with gradients."""
    from dataclasses import replace

    with rt.eval_context(torch.float64):
        mesh = mesh_cylinder(vertices=7, fill_type="NGON")[0].mesh
        g = torch.Generator().manual_seed(2)
        verts = (mesh.verts.expand(3, -1, -1) + 0.1 * torch.randn(3, mesh.num_verts, 3, generator=g, dtype=torch.float64))
        verts.requires_grad_(True)
        mesh = replace(mesh, verts=verts)

        def reference(faces):
            fo, cv = mesh.face_offsets.tolist(), mesh.corner_verts.tolist()
            out = []
            for f in (range(mesh.num_faces) if faces is None else faces.tolist()):
                ring = cv[fo[f]:fo[f + 1]]
                acc = torch.zeros(3, 3, dtype=torch.float64)
                for k, a in enumerate(ring):
                    c, n = verts[:, a], verts[:, ring[(k + 1) % len(ring)]]
                    acc = acc + torch.stack([(c[:, 1] - n[:, 1]) * (c[:, 2] + n[:, 2]), (c[:, 2] - n[:, 2]) * (c[:, 0] + n[:, 0]),
                                             (c[:, 0] - n[:, 0]) * (c[:, 1] + n[:, 1])], -1)
                out.append(acc)
            return torch.stack(out, 1)

        for faces in (None, torch.tensor([2, 0, 5])):
            fast, slow = MF.newell(mesh, faces), reference(faces)
            torch.testing.assert_close(fast, slow, atol=1e-14, rtol=0)
            # computed faces-first, returned batch-first (a strided view would hand its layout on downstream)
            assert fast.is_contiguous() and MF.face_normals(mesh, faces).is_contiguous()
            w = torch.randn(slow.shape, generator=g, dtype=torch.float64)
            (ga,), (gb,) = torch.autograd.grad((fast * w).sum(), verts), torch.autograd.grad((slow * w).sum(), verts)
            torch.testing.assert_close(ga, gb, atol=1e-12, rtol=0)
