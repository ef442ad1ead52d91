"""Synthetic scans: parameter sampling, the depth noise model's statistics, ScanNet-layout round trips,
reproducibility (the box program built in code: tests/fixtures/synth.py)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from backend.io import load_frames, load_ply, load_scan
from backend.object_frame import clean_observations
from backend.synth import (
    OBJECT_ID,
    CaptureSettings,
    NoiseSettings,
    ShapeProgram,
    SynthError,
    apply_depth_noise,
    box_mesh,
    depth_sigma,
    floor_grid,
    sample_cameras,
    sample_parameters,
    synthesize,
)
from tests.fixtures.synth import BOX, SPACE, box_program
from translator.geometry import MeshBatch

SMALL = CaptureSettings(views=4, width=80, height=60)


def box_surface_distance(points: np.ndarray, gt: dict) -> np.ndarray:
    """Exact distance from world points to the true box surface (the object's outer box)."""
    p = gt["parameters"]
    w, d, h = (p["continuous"][k] for k in ("Width", "Depth", "Height"))
    h *= 1.5 if p["discrete"]["Style"] == "Tall" else 1.0
    m = np.asarray(gt["pose"]["world_from_object"])
    local = (points - m[:3, 3]) @ m[:3, :3]
    q = np.abs(local - [0, 0, h / 2]) - np.array([w, d, h]) / 2
    outside = np.linalg.norm(np.maximum(q, 0), axis=1)
    inside = np.minimum(np.max(q, axis=1), 0)
    return np.abs(outside + inside)


# ---------------------------------------------------------------------------
# Parameter sampling


def test_sampling_respects_ranges_and_records_how():
    rng = np.random.default_rng(0)
    draws = [sample_parameters(SPACE, rng) for _ in range(400)]
    disc = [d for d, _, _ in draws]
    cont = [c for _, c, _ in draws]
    w = np.array([c["Width"] for c in cont])
    assert w.min() >= 0.4 and w.max() <= 1.2 and abs(w.mean() - 0.8) < 0.03
    h = np.array([c["Height"] for c in cont])
    assert h.min() >= 0.75 * 0.8 and h.max() <= 0.75 * 1.2 and h.std() > 0.05
    off = np.array([c["Offset"] for c in cont])
    assert (off[:, 2] == 0).all() and off[:, 0].min() >= 0.08 and off[:, 1].max() <= 0.24
    assert {d["Cells"] for d in disc} == {1, 2, 3} and {d["Style"] for d in disc} == {"Plain", "Tall"}
    assert {d["Count"] for d in disc} == {4}  # an int without a finite range keeps its default
    how = draws[0][2]
    assert how["Width"] == "uniform 0.4..1.2"
    assert "no finite range" in how["Height"] and "no finite range" in how["Count"]
    d, c, how = sample_parameters(SPACE, rng, fixed={"Width": 1.0, "Style": "Tall"})
    assert c["Width"] == 1.0 and d["Style"] == "Tall" and how["Width"] == how["Style"] == "fixed"


# ---------------------------------------------------------------------------
# Noise model


def _noise(**kw) -> NoiseSettings:
    base = {"dropout": 0.0, "edge_drop": 0.0, "lateral_px": 0.0}
    base.update(kw)
    return NoiseSettings(**base)


def test_depth_sigma_formula():
    n = NoiseSettings()
    z = np.array([0.4, 1.0, 2.0, 3.0])
    np.testing.assert_allclose(depth_sigma(z, np.zeros(4), n), [0.0012, 0.001884, 0.006064, 0.014044], rtol=1e-12)
    th = math.radians(50)
    expected = 0.0012 + 0.0019 * 1.6**2 + 0.0001 / math.sqrt(2.0) * th**2 / (math.pi / 2 - th) ** 2
    assert depth_sigma(np.array([2.0]), np.array([th]), n)[0] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("z, theta_deg", [(1.0, 0.0), (2.5, 0.0), (2.0, 50.0)])
def test_noise_std_matches_model(z, theta_deg):
    n = _noise()
    rng = np.random.default_rng(5)
    depth = np.full((4, 200, 200), z)
    cos = np.full(depth.shape, math.cos(math.radians(theta_deg)))
    noisy, _ = apply_depth_noise(depth, cos, n, rng)
    assert (noisy > 0).all()
    err = noisy - z
    sigma = depth_sigma(np.array([z]), np.array([math.radians(theta_deg)]), n)[0]
    expected = math.sqrt(sigma**2 + n.quantization**2 / 12)  # Gaussian + uniform rounding error
    assert err.std() == pytest.approx(expected, rel=0.03)
    assert abs(err.mean()) < 4 * expected / math.sqrt(err.size)
    # quantised to millimetres
    np.testing.assert_allclose(noisy * 1000, np.round(noisy * 1000), atol=1e-6)


def test_missing_pixels_random_grazing_and_range():
    rng = np.random.default_rng(6)
    shape = (4, 150, 150)
    depth = np.full(shape, 1.5)
    ones = np.ones(shape)
    noisy, _ = apply_depth_noise(depth, ones, _noise(dropout=0.05), rng)
    assert (noisy == 0).mean() == pytest.approx(0.05, abs=0.004)
    n = _noise(grazing_start_deg=70.0, grazing_end_deg=85.0)
    for deg, frac in ((60.0, 0.0), (80.0, 2 / 3), (86.0, 1.0)):
        noisy, _ = apply_depth_noise(depth, np.full(shape, math.cos(math.radians(deg))), n, rng)
        assert (noisy == 0).mean() == pytest.approx(frac, abs=0.01), deg
    far, _ = apply_depth_noise(np.full(shape, 6.0), ones, _noise(), rng)
    near, _ = apply_depth_noise(np.full(shape, 0.2), ones, _noise(), rng)
    assert (far == 0).all() and (near == 0).all()
    # no surface stays no measurement
    empty, _ = apply_depth_noise(np.zeros(shape), ones, _noise(), rng)
    assert (empty == 0).all()


def test_missing_pixels_at_depth_edges():
    rng = np.random.default_rng(7)
    depth = np.full((8, 100, 100), 2.0)
    depth[:, :, 50:] = 1.0  # a step between columns 49 and 50
    depth[:, 90:, :] = 0.0  # nothing hit below row 90
    noisy, _ = apply_depth_noise(depth, np.ones(depth.shape), _noise(edge_drop=0.6), rng)
    missing = noisy == 0
    assert missing[:, :89, 49:51].mean() == pytest.approx(0.6, abs=0.03)
    assert missing[:, 89, :].mean() == pytest.approx(0.6, abs=0.05)  # next to the background
    assert not missing[:, :89, :49].any() and not missing[:, :89, 51:].any()


def test_lateral_noise_moves_values_and_extras_together():
    rng = np.random.default_rng(8)
    depth = np.tile(np.linspace(1.0, 2.0, 64)[None, None, :], (2, 64, 1))
    ids = np.tile(np.arange(64)[None, None, :], (2, 64, 1))
    noisy, (moved,) = apply_depth_noise(depth, np.ones(depth.shape), _noise(lateral_px=8.0, axial_base=0.0, axial_quad=0.0,
                                                                        axial_angle=0.0), rng, [ids])
    # each pixel reads a neighbour: the value and the id moved with it stay consistent
    np.testing.assert_allclose(noisy, np.round(depth[0, 0][moved] * 1000) / 1000, atol=1e-9)
    assert (moved != ids).mean() > 0.3


def test_no_noise_is_exact_up_to_millimetres():
    depth = np.random.default_rng(0).uniform(0.5, 3.0, (2, 10, 10))
    depth[0, 0, 0] = 0
    out, _ = apply_depth_noise(depth, np.ones(depth.shape), NoiseSettings(kind="none"), np.random.default_rng(0))
    assert np.abs(out - depth).max() <= 0.0005 + 1e-12 and out[0, 0, 0] == 0


def test_bad_settings():
    with pytest.raises(SynthError, match="scannet"):
        NoiseSettings(kind="kinect")
    with pytest.raises(SynthError, match="views"):
        CaptureSettings(views=0)
    with pytest.raises(SynthError, match="distance_m"):
        CaptureSettings(distance_m=(3.0, 1.0))
    with pytest.raises(SynthError, match="facing_deg"):
        CaptureSettings(facing_deg=200.0)


@pytest.mark.parametrize("facing", [0.0, 45.0, 180.0])
def test_views_face_the_front(facing):
    """The arc's middle lies within ``facing_deg`` of the object's front; 180 covers every direction."""
    rng = np.random.default_rng(3)
    front = math.radians(250.0)
    offsets = []
    for _ in range(200):
        cams, _ = sample_cameras(np.zeros(3), 0.5, 0.8, CaptureSettings(views=5, facing_deg=facing), rng, front)
        eye = cams.centers.numpy()
        az = np.arctan2(eye[:, 1], eye[:, 0])
        mid = np.angle(np.exp(1j * az).mean())  # the arc's middle (views are evenly spread over it)
        offsets.append(math.degrees(np.angle(np.exp(1j * (mid - front)))))
    offsets = np.abs(np.asarray(offsets))
    assert offsets.max() <= facing + 6.0  # + the views' jitter
    if facing == 0.0:
        assert offsets.max() < 6.0
    else:
        assert offsets.max() > 0.8 * facing  # the offsets do spread over the whole range


# ---------------------------------------------------------------------------
# Scene pieces


def test_box_and_floor_meshes_are_closed_and_outward():
    v, t = box_mesh([1.0, 2.0, 0.5], [2.0, 1.0, 1.0], yaw=0.4)
    tv = v[t]
    n = torch.linalg.cross(tv[:, 1] - tv[:, 0], tv[:, 2] - tv[:, 0], dim=1)
    centroid_dir = tv.mean(1) - torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64)
    assert ((n * centroid_dir).sum(1) > 0).all()  # outward
    edges = torch.cat([t[:, [0, 1]], t[:, [1, 2]], t[:, [2, 0]]])
    assert len({tuple(e) for e in edges.tolist()}) == 36 and all((b, a) in {tuple(e) for e in edges.tolist()} for a, b in edges.tolist())
    area = 0.5 * n.norm(dim=1).sum()
    assert area.item() == pytest.approx(2 * (2 * 1 + 2 * 1 + 1 * 1), rel=1e-12)  # 2 (wd + wh + dh)
    fv, ft = floor_grid([0.5, -0.5], 4.0, 0.5)
    assert (fv[:, 2] == 0).all() and len(ft) == 2 * 8 * 8
    assert fv[:, 0].min().item() == -1.5 and fv[:, 1].max().item() == 1.5


# ---------------------------------------------------------------------------
# Synthesis round trips


@pytest.fixture(scope="module")
def clean_scan(tmp_path_factory):
    out = tmp_path_factory.mktemp("clean")
    return synthesize(BOX, out, seed=11, noise=NoiseSettings(kind="none"), capture=SMALL)


@pytest.fixture(scope="module")
def noisy_scan(tmp_path_factory):
    out = tmp_path_factory.mktemp("noisy")
    return synthesize(BOX, out, seed=12, capture=CaptureSettings(views=5, width=120, height=90))


def test_round_trip_without_noise_lies_on_the_true_mesh(clean_scan):
    gt = json.loads((clean_scan.folder / "ground_truth.json").read_text())
    frames = load_frames(clean_scan.folder, instance_id=gt["object_instance_id"])
    assert frames.num_frames == SMALL.views and frames.depth.shape[1:] == (SMALL.height, SMALL.width)
    torch.testing.assert_close(frames.cameras.cam_to_world.double(), clean_scan.cameras.cam_to_world, atol=1e-6, rtol=0)
    assert (frames.masks.numpy() == (clean_scan.instances == OBJECT_ID)).all()
    pts, cols = frames.to_points()
    assert len(pts) > 300 and cols.shape == pts.shape
    dist = box_surface_distance(pts.double().numpy(), gt)
    assert dist.max() < 1.0e-3  # millimetre quantisation along the ray
    # the fused cloud is exactly the back-projected masked depth
    fused = load_ply(clean_scan.folder / "object_points.ply")
    torch.testing.assert_close(fused.points, pts.float(), atol=1e-5, rtol=0)
    # the ground-truth mesh file is the program's mesh under the ground-truth pose
    mesh = load_ply(clean_scan.folder / "object_mesh.ply")
    p = gt["parameters"]
    local = box_program(p["discrete"], {k: torch.tensor([v]) for k, v in p["continuous"].items()})
    m = torch.tensor(gt["pose"]["world_from_object"], dtype=torch.float64)
    expected = local.verts[0].double() @ m[:3, :3].T + m[:3, 3]
    torch.testing.assert_close(mesh.points.double(), expected, atol=1e-5, rtol=0)
    assert mesh.points[:, 2].min().item() == pytest.approx(0.0, abs=1e-6)  # standing on the floor
    assert gt["pose"]["yaw"] == pytest.approx(math.atan2(m[1, 0], m[0, 0]) % (2 * math.pi))


def test_round_trip_with_noise_within_the_noise_level(noisy_scan):
    gt = noisy_scan.ground_truth
    obs = load_scan(noisy_scan.folder, instance_id=OBJECT_ID)
    pts = obs.points.double().numpy()
    dist = box_surface_distance(pts, gt)
    cams = obs.frames.cameras.centers.double().numpy()
    zmax = np.linalg.norm(pts[:, None, :] - cams[None], axis=2).min(1).max()
    sigma_far = depth_sigma(np.array([zmax]), np.array([math.radians(70)]), NoiseSettings())[0]
    assert np.median(dist) < 0.5 * sigma_far
    assert np.quantile(dist, 0.9) < 1.5 * sigma_far
    assert (dist > 0.5e-3).mean() > 0.2  # the noise is really there
    # missing pixels: the noisy depth lost some of the object's pixels, at random and at edges
    obj = noisy_scan.instances == OBJECT_ID
    lost = (noisy_scan.depth == 0) & obj
    assert 0.01 < lost.sum() / obj.sum() < 0.5
    # the frame the fit uses (stray points removed): on the floor, under the object
    frame = clean_observations(obs).frame
    assert abs(frame.floor_z) < 0.03
    np.testing.assert_allclose(frame.world_from_object[:2, 3].numpy(), np.asarray(gt["pose"]["translation"][:2]), atol=0.08)


def test_capture_is_a_hand_held_partial_scan(noisy_scan):
    gt, cams = noisy_scan.ground_truth, noisy_scan.cameras
    cap = gt["capture"]
    assert 90 <= cap["arc_deg"] <= 200
    eye = cams.centers.numpy()
    assert (eye[:, 2] >= 1.1).all() and (eye[:, 2] <= 1.9).all()
    center = np.asarray(noisy_scan.object_verts.mean(0))
    d = np.linalg.norm(eye[:, :2] - center[:2], axis=1)
    assert (d > 0.9).all() and (d < 3.6).all()
    hit = noisy_scan.clean_depth > 0
    floor = hit & (noisy_scan.instances == 0)
    for i in range(len(cams)):
        assert floor[i].mean() > 0.2, "the floor is in view"
        assert (noisy_scan.instances[i] == OBJECT_ID).any(), "the object is in view"


def test_occluder_hides_part_of_the_object(tmp_path):
    cap = CaptureSettings(views=3, width=80, height=60, occluders=1)
    free = synthesize(BOX, tmp_path / "free", seed=21, noise=NoiseSettings(kind="none"), capture=CaptureSettings(views=3, width=80, height=60))
    occ = synthesize(BOX, tmp_path / "occ", seed=21, noise=NoiseSettings(kind="none"), capture=cap)
    torch.testing.assert_close(free.cameras.cam_to_world, occ.cameras.cam_to_world)  # same draws up to the occluder
    assert len(occ.ground_truth["occluders"]) == 1
    assert (occ.instances == OBJECT_ID + 1).any()
    assert (occ.instances == OBJECT_ID).sum() < (free.instances == OBJECT_ID).sum()
    box = occ.ground_truth["occluders"][0]
    obj_xy = np.asarray(occ.object_verts[:, :2].mean(0))
    eye_d = np.linalg.norm(occ.cameras.centers[:, :2].numpy() - obj_xy, axis=1)
    assert np.linalg.norm(np.asarray(box["center"][:2]) - obj_xy) < eye_d.max()


def test_same_seed_same_files_other_seed_other_files(tmp_path):
    a = synthesize(BOX, tmp_path / "a", seed=3, capture=SMALL)
    b = synthesize(BOX, tmp_path / "b", seed=3, capture=SMALL)
    c = synthesize(BOX, tmp_path / "c", seed=4, capture=SMALL)
    files = sorted(p.relative_to(a.folder) for p in a.folder.rglob("*") if p.is_file())
    assert len(files) == 4 * SMALL.views + 2 + 3  # color, depth, pose, mask per view; 2 intrinsics; 3 files
    for f in files:
        assert (a.folder / f).read_bytes() == (b.folder / f).read_bytes(), f
    assert (a.folder / "depth" / "0.png").read_bytes() != (c.folder / "depth" / "0.png").read_bytes()
    assert a.ground_truth["parameters"] != c.ground_truth["parameters"]


def test_ground_truth_contents(clean_scan):
    gt = json.loads((clean_scan.folder / "ground_truth.json").read_text())
    assert gt["seed"] == 11 and gt["program_name"] == "box"
    assert set(gt["parameters"]["discrete"]) == {"Cells", "Style", "Count"}
    assert set(gt["parameters"]["continuous"]) == {"Width", "Depth", "Height", "Offset"}
    assert len(gt["parameters"]["continuous"]["Offset"]) == 3
    assert gt["noise"]["kind"] == "none" and gt["sampling"]["Height"].startswith("default")
    assert np.allclose(np.asarray(gt["pose"]["world_from_object"])[3], [0, 0, 0, 1])
    assert gt["capture"]["intrinsics"] == SMALL.intrinsics()


def test_empty_program_is_an_error(tmp_path):
    def nothing(discrete, continuous):
        return MeshBatch(verts=torch.zeros(1, 0, 3), corner_verts=torch.zeros(0, dtype=torch.long),
                         face_offsets=torch.zeros(1, dtype=torch.long))

    with pytest.raises(SynthError, match="makes no faces"):
        synthesize(ShapeProgram("empty", SPACE, nothing), tmp_path / "x", capture=SMALL)


def test_views_of_a_large_object_stay_within_the_sensors_range():
    """An object too large to fit the view from within the sensor's reach: the views come closer (the object
    overflows them) instead of stepping back to where nothing is measured; without a range they fit it."""
    rng = np.random.default_rng(5)
    cap = CaptureSettings(views=6)
    for _ in range(50):
        cams, _ = sample_cameras(np.zeros(3), 2.6, 1.0, cap, rng, 0.0, max_range=5.0, footprint=2.4)
        d = np.linalg.norm(cams.centers.numpy()[:, :2], axis=1)
        assert (d + 1.2 <= 5.0 + 1e-9).all()  # the nearer half of the footprint is within range
        assert (d >= cap.distance_m[0] * 0.92).all()
        far, _ = sample_cameras(np.zeros(3), 2.6, 1.0, cap, rng, 0.0)
        assert np.linalg.norm(far.centers.numpy()[:, :2], axis=1).min() > 5.5  # fits the view, out of range


def test_a_large_object_is_mostly_measured(tmp_path):
    """A 4 m long box (a corner sofa's size): most of its pixels get a depth (before, the views stood
    so far back that most of it lay beyond the sensor's 5 m and the scan lost its far half and top)."""
    scan = synthesize(BOX, tmp_path / "big", seed=4, fixed={"Width": 4.0, "Depth": 1.6, "Height": 0.9, "Style": "Plain"},
                      capture=CaptureSettings(views=6, width=120, height=90))
    obj = scan.instances == OBJECT_ID
    assert ((scan.depth > 0) & obj).sum() / obj.sum() > 0.8
    assert scan.ground_truth["capture"]["distance_m"] * 1.08 + 0.5 * math.hypot(2.0, 0.8) <= 5.0 + 1e-9
    top = np.quantile(scan.points[:, 2].double().numpy(), 0.999)
    assert top == pytest.approx(0.9, abs=0.03)  # the scan shows the object's top
