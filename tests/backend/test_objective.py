"""The fitting objective: view preparation, and the objective's terms on a synthetic scan with ground truth."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from backend.io import load_ply, load_scan
from backend.object_frame import observations_from_points
from backend.objective import Objective, ObjectiveConfig, Topologies
from backend.render import render
from backend.views import RASTER, prepare_views, soft_outline
from tests.fixtures import ROOT
from translator.geometry import MeshBatch

SCENE = ROOT / "sample_scenes" / "scenes" / "chair_s1"


def _chair_observations():
    return load_scan(SCENE, instance_id=1)


def test_views_are_downscaled_consistently():
    obs = _chair_observations()
    frames = obs.frames
    inv = torch.linalg.inv(obs.frame.world_from_object)
    views = prepare_views(frames, inv, max_views=3, render_width=80)
    assert views.cameras.width == 80 and views.cameras.height == 60 and len(views.cameras) == 3
    # a world point projects to the same place at both scales: u_full = 2 * (u_small + 0.5) - 0.5
    p = obs.points[:50].double()
    p_obj = p @ inv[:3, :3].T + inv[:3, 3]
    uv_small, _ = views.cameras.to(dtype=torch.float64).project(p_obj)
    views_full = prepare_views(frames, inv, max_views=3, render_width=160)
    uv_full, _ = views_full.cameras.to(dtype=torch.float64).project(p_obj)
    assert torch.allclose(2 * (uv_small + 0.5) - 0.5, uv_full, atol=1e-3)
    # coverage is a fraction; depth is compared only on blocks entirely inside the mask
    assert views.mask.min() >= 0 and views.mask.max() <= 1 and ((views.mask > 0) & (views.mask < 1)).any()
    assert views.core.any() and (views.mask[views.core] == 1).all()
    sel = views.depth > 0
    assert (sel <= views.core).all()
    assert (views.nearest[sel] <= views.depth[sel] + 1e-6).all()


def _true_mesh_in_object_frame(obs):
    m = load_ply(SCENE / "object_mesh.ply")
    inv = torch.linalg.inv(obs.frame.world_from_object)
    v = (m.points.double() @ inv[:3, :3].T + inv[:3, 3]).float()[None]
    return v, MeshBatch(v, m.faces.reshape(-1), torch.arange(0, m.faces.numel() + 1, 3))


def test_objective_prefers_the_true_mesh_over_moved_scaled_and_turned_ones():
    from backend.object_frame import clean_observations

    obs = clean_observations(_chair_observations())
    obj = Objective(obs, obs.frame.world_from_object, ObjectiveConfig())
    assert obj.terms == ["scan_to_mesh", "mesh_to_scan", "floor", "bottom", "top", "depth", "silhouette", "free_space"]
    v, mesh = _true_mesh_in_object_frame(obs)
    c = v.mean(1, keepdim=True)
    turn = torch.tensor([[-1.0, 0, 0], [0, -1.0, 0], [0, 0, 1.0]])
    variants = torch.cat([
        v,
        v + torch.tensor([0.05, 0.0, 0.0]),
        v + torch.tensor([0.0, 0.0, 0.05]),
        (v - c) * 1.1 + c,
        (v - c) @ turn.T + c,
    ])
    loss, terms = obj(variants, mesh.triangles())
    assert loss.shape == (5,) and set(terms) == set(obj.terms)
    assert int(loss.argmin()) == 0
    assert (loss[1:] > loss[0] * 1.2).all()
    assert float(terms["scan_to_mesh"][0]) < 1e-3  # noise level: Huber of about 6 mm RMS
    # the point terms alone, for a point cloud without frames, also rank the truth first
    pc = observations_from_points(obs.points)
    obj_pc = Objective(pc, obs.frame.world_from_object, ObjectiveConfig())
    assert obj_pc.terms == ["scan_to_mesh", "mesh_to_scan", "floor", "bottom", "top"]
    loss_pc, _ = obj_pc(variants, mesh.triangles())
    assert int(loss_pc.argmin()) == 0


def test_free_space_penalises_surface_in_front_of_the_observed_depth():
    from backend.object_frame import clean_observations

    obs = clean_observations(_chair_observations())
    cfg = ObjectiveConfig(scan_to_mesh_weight=0, mesh_to_scan_weight=0, depth_weight=0, silhouette_weight=0, free_space_weight=1.0)
    obj = Objective(obs, obs.frame.world_from_object, cfg)
    v, mesh = _true_mesh_in_object_frame(obs)
    cam = obj.views.cameras.centers[0]
    toward = (cam - v.mean((0, 1))) / (cam - v.mean((0, 1))).norm()
    moved = torch.cat([v, v + 0.3 * toward])
    _, terms = obj(moved, mesh.triangles())
    assert float(terms["free_space"][0]) < 0.02
    assert float(terms["free_space"][1]) > 5 * float(terms["free_space"][0]) + 0.01


def test_objective_gradients_match_finite_differences():
    from backend.object_frame import clean_observations

    obs = clean_observations(_chair_observations())
    cfg = ObjectiveConfig(depth_weight=0, silhouette_weight=0, free_space_weight=0, surface_samples=300, scan_points=400)
    obj = Objective(obs, obs.frame.world_from_object, cfg)
    v, mesh = _true_mesh_in_object_frame(obs)
    x = (v.double() + torch.tensor([0.03, -0.02, 0.01], dtype=torch.float64)).requires_grad_(True)
    loss, _ = obj(x, mesh.triangles())
    loss.sum().backward()
    for idx in [(0, 5, 0), (0, 40, 2), (0, 100, 1)]:
        e = torch.zeros_like(x)
        e[idx] = 1e-5
        fd = (float(obj(x.detach() + e, mesh.triangles())[0]) - float(obj(x.detach() - e, mesh.triangles())[0])) / 2e-5
        assert math.isclose(fd, float(x.grad[idx]), rel_tol=1e-3, abs_tol=1e-7), idx


def test_degenerate_candidates_get_a_large_finite_loss():
    from backend.object_frame import clean_observations

    obs = clean_observations(_chair_observations())
    obj = Objective(obs, obs.frame.world_from_object, ObjectiveConfig(depth_weight=0, silhouette_weight=0, free_space_weight=0))
    v, mesh = _true_mesh_in_object_frame(obs)
    flat = torch.cat([v, torch.zeros_like(v)]).requires_grad_(True)
    loss, _ = obj(flat, mesh.triangles())
    assert torch.isfinite(loss).all() and float(loss[1].detach()) > float(loss[0].detach())
    loss.sum().backward()
    assert torch.isfinite(flat.grad).all()


@pytest.mark.parametrize("k", [1, 7])
def test_objective_is_deterministic_and_batch_independent(k):
    from backend.object_frame import clean_observations

    obs = clean_observations(_chair_observations())
    obj = Objective(obs, obs.frame.world_from_object, ObjectiveConfig(silhouette_weight=0))
    v, mesh = _true_mesh_in_object_frame(obs)
    vk = v.expand(k, -1, -1) + torch.linspace(0, 0.05, k)[:, None, None]
    a, ta = obj(vk, mesh.triangles())
    b, _ = obj(vk, mesh.triangles())
    assert torch.equal(a, b)
    singles = [obj(vk[i:i + 1], mesh.triangles()) for i in range(k)]
    for name in ("scan_to_mesh", "depth", "free_space"):  # exact terms do not depend on the batch
        assert torch.allclose(ta[name], torch.cat([s[1][name] for s in singles]), rtol=1e-5, atol=1e-7), name
    # every candidate draws its surface samples with the same random numbers: mesh_to_scan does not depend on
    # the batch either
    assert torch.allclose(ta["mesh_to_scan"], torch.cat([s[1]["mesh_to_scan"] for s in singles]), rtol=1e-5, atol=1e-7)


def _box(lo, hi):
    """A closed box (8 vertices, 12 triangles, outward winding): ``verts (1, 8, 3)``, ``tris (12, 3)``."""
    lo, hi = torch.tensor(lo), torch.tensor(hi)
    corners = torch.tensor([[i >> 2 & 1, i >> 1 & 1, i & 1] for i in range(8)], dtype=torch.float32)
    tris = torch.tensor([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                         [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]])
    return (lo + (hi - lo) * corners)[None], tris


def test_packed_topologies_equal_each_topology_alone():
    """Candidates of three topologies (the chair, half of its triangles, its box with a loose vertex: a search step's
    configurations)
    in one call: every candidate's loss, terms and gradient are those of its own topology's batch; one with
    non-finite vertices and a topology without triangles cost 1000 and change nothing for the others."""
    from backend.object_frame import clean_observations

    obs = clean_observations(_chair_observations())
    obj = Objective(obs, obs.frame.world_from_object, ObjectiveConfig())
    v, mesh = _true_mesh_in_object_frame(obs)
    tris = mesh.triangles()
    lo, hi = v[0].amin(0), v[0].amax(0)
    box_v, box_t = _box(lo.tolist(), hi.tolist())
    # the box's first vertex is a loose one, at the scan point deepest inside it: padding must not put surface there
    inner = obj.points[(obj.points - (lo + hi) / 2).norm(dim=1).argmin()]
    box_v, box_t = torch.cat([inner.reshape(1, 1, 3), box_v], 1), box_t + 1
    shift = torch.tensor([[[0.02, -0.01, 0.0]]])
    groups = [(torch.cat([v, v + shift]), tris), (box_v, box_t), (v + 2 * shift, tris[: len(tris) // 2]),
              (box_v[:, :0], box_t[:0])]  # the last: no vertices, no triangles
    leaves = [g.clone().requires_grad_(True) for g, _ in groups]
    verts, faces = Topologies.pack(leaves, [t for _, t in groups])
    assert verts.shape == (5, v.shape[1], 3) and [r.stop - r.start for r in faces.runs] == [2, 1, 1, 1]
    loss, terms = obj(verts, faces)
    assert float(loss[4].detach()) == 1000.0  # the empty topology
    loss.sum().backward()
    at = 0
    for (g, t), leaf in zip(groups[:3], leaves, strict=False):
        x = g.clone().requires_grad_(True)
        one, one_terms = obj(x, t)
        one.sum().backward()
        k = len(g)
        torch.testing.assert_close(loss[at:at + k], one, rtol=1e-5, atol=1e-7)
        for name in obj.terms:
            torch.testing.assert_close(terms[name][at:at + k], one_terms[name], rtol=1e-5, atol=1e-7, msg=name)
        torch.testing.assert_close(leaf.grad, x.grad, rtol=1e-4, atol=1e-6)
        assert x.grad.abs().max() > 0
        at += k
    # a candidate with a NaN vertex costs 1000 (no gradient); the others keep their values
    bad = [leaves[0].detach().clone(), leaves[1].detach()]
    bad[0][1, 0, 0] = float("nan")
    verts, faces = Topologies.pack(bad, [groups[0][1], groups[1][1]])
    loss_bad, terms_bad = obj(verts.requires_grad_(True), faces)
    assert float(loss_bad[1].detach()) == 1000.0 and float(terms_bad["depth"][1]) == 1000.0
    torch.testing.assert_close(loss_bad[[0, 2]], loss[[0, 2]].detach(), rtol=1e-5, atol=1e-7)


def _one_term(name: str):
    """An objective of the chair's scan with only term ``name`` (weight 1), its config, and the true mesh
    in the object frame."""
    from backend.object_frame import clean_observations

    obs = clean_observations(_chair_observations())
    weights = {f"{t}_weight": 0.0 for t in ObjectiveConfig.TERMS}
    cfg = ObjectiveConfig(**{**weights, f"{name}_weight": 1.0})
    obj = Objective(obs, obs.frame.world_from_object, cfg)
    assert obj.terms == [name]
    v, mesh = _true_mesh_in_object_frame(obs)
    return obj, cfg, v, mesh


def test_top_pulls_a_candidate_to_the_scans_top_and_leaves_the_truth_alone():
    obj, cfg, v, mesh = _one_term("top")
    true_top = float(v[..., 2].max())
    assert abs(obj.scan_top - true_top) < cfg.top_tolerance  # the scan's top is the object's (within noise)
    base = torch.tensor([0.0, 0.0, float(v[..., 2].min())])
    x = torch.cat([v, (v - base) * torch.tensor([1.0, 1.0, 0.6]) + base, (v - base) * 1.2 + base]).requires_grad_(True)
    loss, _ = obj(x, mesh.triangles())
    lv = loss.detach()
    assert float(lv[0]) == 0.0
    short = obj.scan_top - cfg.top_tolerance - float(x[1, :, 2].detach().max())
    tall = float(x[2, :, 2].detach().max()) - obj.scan_top - cfg.top_tolerance
    assert short > 0.2 and float(lv[1]) == pytest.approx(short, abs=1e-5)
    assert tall > 0.1 and float(lv[2]) == pytest.approx(tall, abs=1e-5)
    loss.sum().backward()
    for k, sign in ((1, -1.0), (2, 1.0)):  # raising a short top / lowering a tall one lowers the loss
        highest = x[k, :, 2] == x[k, :, 2].max()
        assert float(x.grad[k, highest, 2].sum()) == pytest.approx(sign)
        assert float(x.grad[k, ~highest].abs().sum()) == 0.0


@pytest.mark.parametrize("floor", [True, False])
def test_settle_lifts_a_sunk_candidate_onto_the_floor_term_s_bound(floor):
    """``settle`` is the lift onto the floor term's bound: a candidate sunk into the floor comes up to
    ``floor_tolerance`` below it, where the term costs nothing; one above the floor (floating: the bottom term's
    business), one within the tolerance and one with non-finite vertices stay; nothing moves with the term off."""
    from backend.object_frame import clean_observations

    obs = clean_observations(_chair_observations())
    weights = {f"{t}_weight": 0.0 for t in ObjectiveConfig.TERMS}
    cfg = ObjectiveConfig(**{**weights, "scan_to_mesh_weight": 1.0, "floor_weight": float(floor)})
    obj = Objective(obs, obs.frame.world_from_object, cfg)
    v, mesh = _true_mesh_in_object_frame(obs)
    low = float(v[..., 2].min())
    up = torch.tensor([0.0, 0.0, 1.0])
    within = -0.5 * cfg.floor_tolerance - low
    x = torch.cat([v - (low + 0.2) * up, v + 0.3 * up, v + within * up, v * math.nan])  # sunk 20 cm, floating, within
    moved = obj.settle(x)
    sunk = 0.2 - cfg.floor_tolerance if floor else 0.0
    torch.testing.assert_close(moved, torch.tensor([sunk, 0.0, 0.0, 0.0]), rtol=0, atol=1e-5)
    if floor:
        _, before = obj(x[:3], mesh.triangles())
        _, after = obj(x[:3] + moved[:3, None, None] * up, mesh.triangles())
        assert float(before["floor"][0]) == pytest.approx(sunk, abs=1e-5)
        assert float(after["floor"].abs().max()) < 1e-6

def test_bottom_stops_a_candidate_from_floating_above_the_scans_lowest_points():
    obj, cfg, v, mesh = _one_term("bottom")
    assert abs(obj.scan_bottom - float(v[..., 2].min())) < cfg.bottom_tolerance  # the scan reaches the floor
    lift = torch.tensor([0.0, 0.0, 0.05])
    x = torch.cat([v, v + lift, v - lift]).requires_grad_(True)  # the truth, floating 5 cm, sunk 5 cm
    loss, _ = obj(x, mesh.triangles())
    lv = loss.detach()
    assert float(lv[0]) == 0.0 and float(lv[2]) == 0.0  # sinking is the floor term's business
    floating = float(x[1, :, 2].detach().min()) - obj.scan_bottom - cfg.bottom_tolerance
    assert floating > 0.03 and float(lv[1]) == pytest.approx(floating, abs=1e-5)
    loss.sum().backward()
    lowest = x[1, :, 2] == x[1, :, 2].min()
    assert float(x.grad[1, lowest, 2].sum()) == pytest.approx(1.0)  # lowering it lowers the loss
    assert float(x.grad[1, ~lowest].abs().sum()) == 0.0 and float(x.grad[0].abs().sum()) == 0.0


def test_image_terms_on_gathered_pixels_equal_the_losses_on_whole_images():
    """The objective computes the frame terms on the pixels each counts (gathered once); the losses of
    backend.losses on the whole images are the reference: values and gradients, float32 and float64."""
    from backend.object_frame import clean_observations
    from backend.render import RasterSettings, render

    obs = clean_observations(_chair_observations())
    obj = Objective(obs, obs.frame.world_from_object, ObjectiveConfig())
    v, mesh = _true_mesh_in_object_frame(obs)
    names = ["depth", "silhouette", "free_space"]
    for dtype in (torch.float32, torch.float64):
        shifts = torch.tensor([[0.0, 0, 0], [0.04, -0.03, 0.02], [-0.1, 0.05, -0.03]], dtype=dtype)
        got = {}
        for reference in (False, True):
            x = (v.to(dtype) + shifts[:, None]).requires_grad_(True)
            out = render(x, mesh.triangles(), obj.views.cameras.to(dtype=dtype), RasterSettings(znear=0.05))
            terms = obj._frame_terms(out, names, reference=reference)
            sum(w * terms[n].sum() for w, n in zip((1.0, 0.3, 2.0), names, strict=True)).backward()
            got[reference] = ({n: terms[n].detach() for n in names}, x.grad)
        tol = 1e-5 if dtype == torch.float32 else 1e-12
        for n in names:
            assert float(got[True][0][n].abs().max()) > 0, n
            torch.testing.assert_close(got[False][0][n], got[True][0][n], rtol=tol, atol=tol)
        torch.testing.assert_close(got[False][1], got[True][1], rtol=tol, atol=tol * float(got[True][1].abs().max()))


def test_observable_samples_read_the_render_and_the_scan_at_their_pixels():
    from backend.object_frame import clean_observations
    from backend.render import RasterSettings, render

    obs = clean_observations(_chair_observations())
    obj = Objective(obs, obs.frame.world_from_object, ObjectiveConfig())
    v, mesh = _true_mesh_in_object_frame(obs)
    vk = torch.cat([v, v + torch.tensor([0.05, 0.0, 0.02])])
    rendered = render(vk, mesh.triangles(), obj.views.cameras, RasterSettings(silhouette=False, znear=0.05)).depth
    s = vk[:, torch.arange(200) % vk.shape[1]] + 0.01 * torch.randn(2, 200, 3, generator=torch.Generator().manual_seed(0))
    normals = torch.nn.functional.normalize(torch.randn(2, 200, 3, generator=torch.Generator().manual_seed(1)), dim=-1)
    got = obj._observable(s, rendered, normals)
    # the same test written with plain advanced indexing and a loop over the views for the grazing angle
    cams, h, w = obj.views.cameras, rendered.shape[2], rendered.shape[3]
    uv, z = cams.project(s)
    u, r = torch.round(uv[..., 0]).long(), torch.round(uv[..., 1]).long()
    inside = (z > 0.05) & (u >= 0) & (u < w) & (r >= 0) & (r < h)
    u, r = u.clamp(0, w - 1), r.clamp(0, h - 1)
    ci, ki = torch.arange(len(cams))[:, None, None], torch.arange(2)[None, :, None]
    rend, near = rendered[ki, ci, r, u], obj.views.nearest[ci, r, u]
    tol = obj.cfg.free_space_margin
    seen = inside & (rend > 0) & (z <= rend + tol) & (near > 0) & (near >= z - tol)
    facing = torch.zeros_like(seen)
    for c in range(len(cams)):
        centre = cams.cam_to_world[c, :3, 3]
        for k in range(2):
            for i in range(200):
                ray = s[k, i] - centre
                angle = math.degrees(math.acos(min(1.0, abs(float(ray @ normals[k, i])) / float(ray.norm()))))
                facing[c, k, i] = angle <= obj.cfg.grazing_deg
    ref = (seen & facing).any(0)
    assert torch.equal(got, ref) and 0 < int(got.sum()) < int(seen.any(0).sum())  # some samples seen only grazing
    assert torch.equal(Objective(obs, obs.frame.world_from_object, ObjectiveConfig(grazing_deg=90.0))._observable(s, rendered, normals),
                       seen.any(0))


def _soft_outline_reference(masks: torch.Tensor, f: int, h: int, w: int, sigma: float, eps: float) -> torch.Tensor:
    """soft_outline by brute force: every pixel's signed distance from the nearest pixel centre of the other kind
    (minus half a pixel: the outline lies half-way), the mean over the render pixel's central pixels (one, or
    two by two), in render pixels, through the renderer's rescaled sigmoid."""
    out = torch.zeros(len(masks), h, w, dtype=torch.float64)
    ys, xs = torch.meshgrid(torch.arange(masks.shape[1]), torch.arange(masks.shape[2]), indexing="ij")
    centres = torch.stack([ys, xs], -1).reshape(-1, 2).double()
    for k, m in enumerate(masks):
        flat = m.reshape(-1)
        if flat.all() or not flat.any():
            out[k] = 1.0 if flat.all() else 0.0
            continue
        dist_in = torch.cdist(centres, centres[~flat]).min(1).values  # to the nearest outside centre
        dist_out = torch.cdist(centres, centres[flat]).min(1).values
        sd = torch.where(flat, 0.5 - dist_in, dist_out - 0.5).reshape(m.shape)
        for i in range(h):
            for j in range(w):
                rows = sorted({i * f + (f - 1) // 2, i * f + f // 2})
                cols = sorted({j * f + (f - 1) // 2, j * f + f // 2})
                centre = sd[rows][:, cols].mean() if len(rows) * len(cols) == 4 else sd[rows[0], cols[0]]
                cover = torch.sigmoid(-centre / (f * sigma))
                out[k, i, j] = ((cover - eps) / (1 - 2 * eps)).clamp(0, 1)
    return out


@pytest.mark.parametrize("f", [1, 2, 3])
def test_soft_outline_equals_the_brute_force_signed_distances(f):
    g = torch.Generator().manual_seed(f)
    h, w = 7, 9
    blobs = torch.nn.functional.avg_pool2d(torch.rand((3, 1, h * f + 4, w * f + 5), generator=g), 5, 1).squeeze(1)
    masks = blobs[:, : h * f + 1, : w * f + 2] > 0.5  # not a whole number of blocks: the rest is cut off
    masks[1] = True  # no outline in the image: covered everywhere
    masks[2, :, : (w * f) // 2] = False
    got = soft_outline(masks, f, h, w, RASTER)
    ref = _soft_outline_reference(masks[:, : h * f, : w * f], f, h, w, RASTER.sigma, RASTER.silhouette_eps)
    assert got.shape == (3, h, w)
    assert ((got > 0) & (got < 1)).sum() > 10
    torch.testing.assert_close(got.double(), ref, rtol=0, atol=1e-6)
    assert torch.equal(got[1], torch.ones(h, w))


def test_silhouette_target_is_the_render_of_the_true_outline():
    """The silhouette's target is the soft silhouette the renderer draws for the mask's outline, not the mask's
    coverage: at the true chair the term is small and it grows when the chair shrinks or grows."""
    from backend.object_frame import clean_observations

    obs = clean_observations(_chair_observations())
    obj = Objective(obs, obs.frame.world_from_object, replace(ObjectiveConfig(), silhouette_weight=1.0).finer())
    v, mesh = _true_mesh_in_object_frame(obs)
    c = v.mean(1, keepdim=True)
    scales = (0.96, 0.98, 1.0, 1.02, 1.04)
    _, terms = obj(torch.cat([(v - c) * torch.tensor([s, s, 1.0]) + c for s in scales]), mesh.triangles())
    sil = terms["silhouette"].tolist()
    assert min(range(len(scales)), key=sil.__getitem__) == scales.index(1.0)
    assert sil[scales.index(1.0)] < 0.1
    # the soft silhouette of the truth and its target cover the same area in every view (within 3 %)
    out = render(v, mesh.triangles(), obj.views.cameras, replace(RASTER, silhouette=True))
    drawn, target = out.silhouette[0].sum((1, 2)), obj.views.outline.sum((1, 2))
    assert ((drawn - target).abs() / target).max() < 0.03


def test_silhouette_is_least_at_a_thin_parts_true_thickness():
    """A table's 3.4 cm legs: under the finer objective the silhouette term alone is least at their true
    thickness (it preferred legs 20 % thinner, and the legs' gradient pointed thinner at the truth, while the mask's
    coverage was its target and triangles were merged as a product outside the outline)."""
    import json

    from backend.object_frame import clean_observations
    from backend.problem import FitProblem, ProblemConfig
    from backend.search.types import RefineRequest
    from translator.codegen import compile_program
    from translator.loading import load_any
    from translator.params import parameter_space

    scene = ROOT / "sample_scenes" / "scenes" / "table_s2"
    truth = json.loads((scene / "ground_truth.json").read_text())
    program = load_any(ROOT / "sample_scenes" / "programs" / "table.json")
    obs = clean_observations(load_scan(scene, instance_id=1))
    problem = FitProblem(compile_program(program), parameter_space(program), obs,
                         ProblemConfig(objective=ObjectiveConfig(silhouette_weight=1.0)))
    values = {**truth["parameters"]["discrete"], **truth["parameters"]["continuous"]}
    factors = (0.8, 0.9, 1.0, 1.1, 1.2)
    sil = []
    for f in factors:
        config, state = problem.candidate_at({**values, "Leg Thickness": values["Leg Thickness"] * f},
                                             truth["pose"]["world_from_object"])
        sil.append(problem.refine([RefineRequest(config, state, 0)], fine=True)[0].terms["silhouette"])
    assert min(range(len(factors)), key=sil.__getitem__) == factors.index(1.0), sil
