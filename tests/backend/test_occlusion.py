"""backend.occlusion (a scanned object's surroundings: what hides its surface, what it must not reach into)
and its terms in the fitting objective."""

from __future__ import annotations

import math

import pytest
import torch

from backend.object_frame import observations_from_points
from backend.objective import Objective, ObjectiveConfig, Topologies
from backend.occlusion import Surroundings
from backend.ops.sampling import sample_surface
from backend.structures import SceneContext
from tests.backend.ops.test_inside import CUBE_TRIS, cube
from translator.geometry import MeshBatch


def box_mesh(lo, hi, dtype=torch.float32) -> MeshBatch:
    v = cube(lo, hi, dtype)
    tris = CUBE_TRIS
    return MeshBatch(v[None], tris.reshape(-1), torch.arange(0, 3 * len(tris) + 1, 3))


def test_hidden_rules():
    wall = torch.tensor([[0.0, -1.0, 0.0, 1.0]], dtype=torch.float64)  # y = 1, room at y < 1
    sur = Surroundings(torch.tensor([[5.0, 5.0, 0.5]]), wall, floor_z=0.0)
    s = torch.tensor([[5.0, 5.02, 0.5],   # at a neighbour's point
                      [0.0, 0.98, 0.5],   # at the wall
                      [0.0, 1.2, 0.5],    # behind the wall
                      [0.0, 0.0, 0.01],   # on the floor
                      [0.0, 0.0, 0.2],    # a low underside (normal down)
                      [0.0, 0.0, 0.2],    # the same height, facing up
                      [0.0, 0.0, 0.6]], dtype=torch.float64)  # an underside well above the floor
    n = torch.tensor([[0, 0, 1], [0, 1, 0], [0, 1, 0], [0, 0, 1], [0, 0, -1], [0, 0, 1], [0, 0, -1]], dtype=torch.float64)
    assert sur.hidden(s, n).tolist() == [True, True, True, True, True, False, False]
    raised = Surroundings(torch.zeros((0, 3)), torch.zeros((0, 4)), floor_z=None)
    assert not raised.hidden(s, n).any()


def test_from_context_moves_planes_and_floor_with_the_frame():
    ctx = SceneContext(torch.tensor([[1.0, 2.0, 0.3], [9.0, 9.0, 9.0]]),
                       torch.tensor([[1.0, 0.0, 0.0, -0.5]], dtype=torch.float64), floor_z=0.1)
    yaw = 0.7
    frame_from_world = torch.eye(4, dtype=torch.float64)
    frame_from_world[:2, :2] = torch.tensor([[math.cos(yaw), math.sin(yaw)], [-math.sin(yaw), math.cos(yaw)]])
    frame_from_world[:3, 3] = torch.tensor([0.3, -0.2, -0.1])
    sur = Surroundings.from_context(ctx, frame_from_world, keep_within=torch.tensor([[0.0, 0.0, 0.0], [3.0, 3.0, 1.0]]),
                                    margin=10.0)
    x_world = torch.tensor([0.8, 0.4, 0.5], dtype=torch.float64)
    x_frame = frame_from_world[:3, :3] @ x_world + frame_from_world[:3, 3]
    world_dist = float(ctx.walls[0, :3] @ x_world + ctx.walls[0, 3])
    frame_dist = float(sur.walls[0, :3] @ x_frame + sur.walls[0, 3])
    assert abs(world_dist - frame_dist) < 1e-9
    assert abs(sur.floor_z - 0.0) < 1e-6
    assert len(sur.points) == 2
    near = Surroundings.from_context(ctx, torch.eye(4, dtype=torch.float64),
                                     keep_within=torch.tensor([[0.0, 0.0, 0.0], [3.0, 3.0, 1.0]]), margin=0.5)
    assert len(near.points) == 1


def test_wall_and_context_penetration_values_and_gradients():
    wall = torch.tensor([[0.0, -1.0, 0.0, 1.0]], dtype=torch.float64)
    ctx_pts = torch.tensor([[0.5, 0.5, 0.5]] * 3 + [[0.5, 0.5, 0.95]], dtype=torch.float64)
    sur = Surroundings(ctx_pts.float(), wall, floor_z=0.0)
    v = cube([0, 0, 0], [1, 1.25, 1])[None].requires_grad_(True)
    assert abs(float(sur.wall_penetration(v)[0].detach()) - 0.25) < 1e-9
    depth = sur.context_penetration(v, CUBE_TRIS, deepest=4).detach()
    assert abs(float(depth[0]) - (3 * 0.5 + 0.05) / 4) < 1e-6
    # gradients where the farthest vertex and the nearest faces are unique (a slightly uneven box)
    g = torch.Generator().manual_seed(0)
    x = (cube([0, 0, 0], [1, 1.25, 1]) + 0.01 * torch.rand(8, 3, generator=g, dtype=torch.float64))[None]
    x.requires_grad_(True)
    pts = torch.tensor([[0.3, 0.45, 0.6], [0.62, 0.3, 0.4], [0.5, 0.81, 0.35], [0.25, 0.6, 0.93]], dtype=torch.float64)
    sur64 = Surroundings(pts, wall, floor_z=0.0)
    assert torch.autograd.gradcheck(lambda x: sur64.wall_penetration(x), (x,))
    assert torch.autograd.gradcheck(lambda x: sur64.context_penetration(x, CUBE_TRIS, deepest=3), (x,))


def _observations(points, context=None):
    obs = observations_from_points(points, floor_z=0.0)
    obs.context = context
    return obs


def _box_against_a_wall():
    """A 1 m box against a wall at y = 1, its scan missing the back (y = 1) and the bottom: the box, the scanned
    points and the scene context (the wall's points and plane, the floor at z = 0)."""
    true = box_mesh([0, 0, 0], [1, 1, 1])
    s = sample_surface(true.verts.double(), true.triangles(), 4000, 0).points[0]
    seen = s[(s[:, 1] < 0.99) & (s[:, 2] > 0.01)].float()
    wall_pts = torch.stack(torch.meshgrid(torch.linspace(-0.5, 1.5, 21), torch.tensor([1.0]), torch.linspace(0.0, 2.0, 21),
                                          indexing="ij"), -1).reshape(-1, 3)
    ctx = SceneContext(wall_pts, torch.tensor([[0.0, -1.0, 0.0, 1.0]], dtype=torch.float64), floor_z=0.0)
    return true, seen, ctx


def test_objective_terms_with_surroundings():
    true, seen, ctx = _box_against_a_wall()
    cfg = ObjectiveConfig(scan_points=0)
    plain = _observations(seen)
    scene = _observations(seen, ctx)
    eye = torch.eye(4, dtype=torch.float64)
    obj_plain, obj_scene = Objective(plain, eye, cfg), Objective(scene, eye, cfg)
    assert {"wall", "context"} <= set(obj_scene.terms) and not {"wall", "context"} & set(obj_plain.terms)
    _, t_plain = obj_plain(true.verts, true.triangles())
    _, t_scene = obj_scene(true.verts, true.triangles())
    # the hidden back and bottom (a third of the box, each sample at the truncated cost alone) are not counted
    # missing in the scene: what is left is the mean over the scanned faces, the sampling's noise
    assert float(t_scene["mesh_to_scan"][0]) < 0.5 * float(t_plain["mesh_to_scan"][0])
    assert float(t_scene["wall"][0]) == 0 and float(t_scene["context"][0]) == 0
    # pushed 15 cm into the wall: both free-space terms see it
    deep = box_mesh([0, 0.15, 0], [1, 1.15, 1])
    _, t_deep = obj_scene(deep.verts, deep.triangles())
    assert abs(float(t_deep["wall"][0]) - (0.15 - cfg.wall_tolerance)) < 1e-5
    assert float(t_deep["context"][0]) > 0.1


def test_packed_topologies_with_surroundings_equal_each_alone():
    """A scene's terms (context, wall, the seen surface) of candidates of two topologies in one call (a box and the
    box without its top) equal those of each topology's own batch."""
    true, seen, ctx = _box_against_a_wall()
    obj = Objective(_observations(seen, ctx), torch.eye(4, dtype=torch.float64), ObjectiveConfig(scan_points=0))
    boxes = torch.cat([box_mesh([0, 0, 0], [1, 1, 1]).verts, box_mesh([0, 0.15, 0], [1, 1.15, 1]).verts])
    tris = true.triangles()
    open_top = tris[~(cube([0, 0, 0], [1, 1, 1])[tris][:, :, 2] > 0.99).all(1)]  # the box without its top
    assert 0 < len(open_top) < len(tris)
    shifted = box_mesh([0.05, 0.1, 0], [1.05, 1.1, 1]).verts
    verts, faces = Topologies.pack([boxes, shifted], [tris, open_top])
    _, packed = obj(verts, faces)
    _, first = obj(boxes, tris)
    _, second = obj(shifted, open_top)
    assert {"wall", "context", "mesh_to_scan"} <= set(obj.terms)
    for name in obj.terms:
        torch.testing.assert_close(packed[name], torch.cat([first[name], second[name]]), rtol=1e-5, atol=1e-7, msg=name)
    assert float(packed["context"][1]) > 0.1 and float(packed["wall"][2]) > 0.05  # pushed into the wall


def test_an_object_standing_in_a_room_reaches_its_floor():
    # only the top half of a 1 m box was scanned (thin legs, say): alone it may float, in a room it stands
    true = box_mesh([0, 0, 0], [1, 1, 1])
    s = sample_surface(true.verts.double(), true.triangles(), 3000, 0).points[0]
    top = s[s[:, 2] > 0.5].float()
    floating = box_mesh([0, 0, 0.4], [1, 1, 1])
    cfg = ObjectiveConfig(scan_points=0)
    eye = torch.eye(4, dtype=torch.float64)
    alone = Objective(_observations(top), eye, cfg)
    room = Objective(_observations(top, SceneContext(torch.zeros((0, 3)), floor_z=0.0)), eye, cfg)
    assert float(alone(floating.verts, floating.triangles())[1]["bottom"][0]) == 0.0
    assert float(room(floating.verts, floating.triangles())[1]["bottom"][0]) == pytest.approx(0.4 - cfg.bottom_tolerance, abs=1e-5)


def _open_cabinet() -> tuple[torch.Tensor, torch.Tensor, int]:
    """A cabinet of 2 cm panels, 0.8 x 0.4 x 0.8 m, its front (towards -y) two doors with a 3 cm seam between
    them: ``verts (V, 3)``, ``tris (T, 3)`` and the index of the back panel's first triangle."""
    panels = [((-0.4, -0.2, 0.0), (-0.38, 0.2, 0.8)), ((0.38, -0.2, 0.0), (0.4, 0.2, 0.8)),  # sides
              ((-0.38, -0.2, 0.78), (0.38, 0.2, 0.8)), ((-0.38, -0.2, 0.0), (0.38, 0.2, 0.02)),  # top, bottom
              ((-0.38, -0.2, 0.02), (-0.015, -0.18, 0.78)), ((0.015, -0.2, 0.02), (0.38, -0.18, 0.78)),  # doors
              ((-0.38, 0.18, 0.02), (0.38, 0.2, 0.78))]  # back
    verts = torch.cat([cube(lo, hi, torch.float32) for lo, hi in panels])
    tris = torch.cat([CUBE_TRIS + 8 * i for i in range(len(panels))])
    return verts, tris, 12 * (len(panels) - 1)


def _seen_by_ray_casting(verts, tris, points, faces, cams) -> torch.Tensor:
    """The slow reference of :meth:`Surroundings.visible_samples`: a sample is seen when some sensor it faces
    and whose image it projects into sees it along a straight segment that crosses no triangle (Moller-Trumbore
    against every triangle)."""
    v = verts.double()[tris]  # (T, 3, 3)
    e1, e2 = v[:, 1] - v[:, 0], v[:, 2] - v[:, 0]
    normal = torch.linalg.cross(e1, e2)[faces]  # (N, 3)
    p = points.double()
    uv, z = cams.project(points.float())
    w, h = cams.width, cams.height
    seen = torch.zeros(len(p), dtype=torch.bool)
    for c, eye in enumerate(cams.centers.double()):
        u, r = torch.round(uv[c, :, 0]), torch.round(uv[c, :, 1])
        ok = (((eye - p) * normal).sum(-1) > 0) & (z[c] > 0.05) & (u >= 0) & (u < w) & (r >= 0) & (r < h)
        start = p + 1e-5 * (eye - p) / (eye - p).norm(dim=-1, keepdim=True)
        d = eye - start  # (N, 3): the segment start + t d, t in (0, 1)
        pv = torch.linalg.cross(d[:, None], e2[None].expand(len(p), -1, -1))  # (N, T, 3)
        det = (e1[None] * pv).sum(-1)
        tv = start[:, None] - v[None, :, 0]
        a = (tv * pv).sum(-1) / det
        qv = torch.linalg.cross(tv, e1[None].expand(len(p), -1, -1))
        b = (d[:, None] * qv).sum(-1) / det
        t = (e2[None] * qv).sum(-1) / det
        hit = (det.abs() > 1e-12) & (a >= 0) & (b >= 0) & (a + b <= 1) & (t > 0) & (t < 1)
        seen |= ok & ~hit.any(1)
    return seen


def test_visible_samples_tell_sight_point_by_point_and_agree_with_ray_casting():
    verts, tris, back = _open_cabinet()
    sur = Surroundings(torch.zeros((0, 3)), torch.zeros((0, 4), dtype=torch.float64), 0.0, sensor_pixels=128)
    s = sample_surface(verts[None], tris, 4000, seed=3)
    points, faces = s.points[0], s.face[0]
    fast = sur.visible_samples(verts, tris, points, faces)
    slow = _seen_by_ray_casting(verts, tris, points, faces, sur.sensor_cameras(verts.min(0).values, verts.max(0).values))
    assert (fast == slow).double().mean() > 0.97
    # the inner face of the back panel (its -y side: triangles 4 and 5 of the box) shows only through the seam:
    # both its triangles are "visible" face by face, a strip of it point by point
    inner = (faces == back + 4) | (faces == back + 5)
    assert sur.visible_faces(verts, tris)[back + 4: back + 6].all()
    assert 0.05 < slow[inner].double().mean() < 0.3 and abs(fast[inner].double().mean() - slow[inner].double().mean()) < 0.1
    # the doors' fronts are seen whole; the inner faces of the sides (and of the doors) not at all
    fronts = (faces == 52) | (faces == 53) | (faces == 64) | (faces == 65)  # the doors' -y sides
    assert fast[fronts].all()
    backs = (faces == 54) | (faces == 55) | (faces == 66) | (faces == 67)
    assert not fast[(faces == 2) | (faces == 3) | (faces == 12) | (faces == 13) | backs].any()


def _seen_dense(sur, verts, tris, points, faces, tolerance=0.01) -> torch.Tensor:
    """The plain form of :meth:`Surroundings.visible_samples` (every camera, every sample, all nine pixels)."""
    cams, face, depth = sur._sight(verts, tris)
    c, (h, w) = len(cams), face.shape[-2:]
    v = verts.float()[tris[faces]]
    normal = torch.linalg.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
    facing = ((cams.centers.float()[:, None] - points[None]) * normal[None]).sum(-1) > 0
    uv, z = cams.project(points)
    u, r = torch.round(uv[..., 0]).long(), torch.round(uv[..., 1]).long()
    seen = torch.zeros(z.shape, dtype=torch.bool)
    for du in (-1, 0, 1):
        for dr in (-1, 0, 1):
            uu, rr = u + du, r + dr
            ok = (uu >= 0) & (uu < w) & (rr >= 0) & (rr < h)
            at = face.reshape(c, -1).gather(1, rr.clamp(0, h - 1) * w + uu.clamp(0, w - 1))
            seen |= ok & (at == faces[None])
    d_at = depth.reshape(c, -1).gather(1, r.clamp(0, h - 1) * w + u.clamp(0, w - 1))
    clear = (d_at <= 0) | (d_at >= z - (tolerance + 2 * z / cams.intrinsics[:, 0, None].float()))
    return (seen & clear & facing & (z > 0.05) & (u >= 0) & (u < w) & (r >= 0) & (r < h)).any(0)


@pytest.mark.parametrize("pixels", [64, 128])
def test_visible_samples_equal_the_plain_form(pixels):
    # the fast path checks the eight pixels around only for samples their own pixel does not show; with a
    # neighbour's points in the way (a block in front of the doors) and without
    verts, tris, _ = _open_cabinet()
    s = sample_surface(verts[None], tris, 3000, seed=5)
    points, faces = s.points[0], s.face[0]
    block = torch.rand((400, 3), generator=torch.Generator().manual_seed(1)) * torch.tensor([0.3, 0.05, 0.4]) \
        + torch.tensor([-0.1, -0.45, 0.2])
    for context in (torch.zeros((0, 3)), block):
        sur = Surroundings(context, torch.zeros((0, 4), dtype=torch.float64), 0.0, sensor_pixels=pixels)
        fast = sur.visible_samples(verts, tris, points, faces)
        assert torch.equal(fast, _seen_dense(sur, verts, tris, points, faces))
        assert 0.2 < fast.double().mean() < 0.9  # some seen, some not
