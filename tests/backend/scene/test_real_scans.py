"""fit-scene on the real ScanNet captures in ../shared/real_scans (three scans of one room; research-only data,
read where it lies and never copied): the scene's structure, cleaned real segments, registration of the three
captures, and a real cropped segment fitted end to end. Skipped with a reason when ../shared is absent."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tests.fixtures import ROOT

REAL = ROOT.parent / "shared" / "real_scans"
SCENES = ("scene0000_00", "scene0000_01", "scene0000_02")

pytestmark = pytest.mark.skipif(not all((REAL / s / f"{s}_points.ply").is_file() for s in SCENES),
                                reason=f"the real ScanNet captures are not in {REAL} (../shared is absent)")


def _scene(name: str):
    from backend.scene.readers import load_scene

    return load_scene(REAL / name / f"{name}_points.ply")


def test_structure_of_a_real_room():
    from backend.scene.structure import estimate

    st = estimate(_scene("scene0000_00"))
    assert st.floor_source == "labels" and st.wall_source == "labels"
    assert abs(st.floor_z) < 0.05 and st.tilt_deg < 1.0
    assert len(st.walls) >= 4
    axes = sorted({round(abs(math.degrees(math.atan2(w.normal[1], w.normal[0]))) % 90) for w in st.walls[:4]})
    assert all(a < 6 or a > 84 for a in axes)  # the main walls are the axis-aligned frame's


def test_real_segments_are_cleaned_and_given_surroundings():
    from backend.scene.segments import prepare_object
    from backend.scene.structure import estimate

    scene = _scene("scene0000_00")
    st = estimate(scene)
    bed = prepare_object(scene, st, scene.objects[38])
    assert bed.removed["floor"] + bed.removed["wall"] > 20  # the segment holds floor and wall points
    assert len(bed.observations.context.walls) >= 1 and len(bed.observations.context.points) > 1000
    assert float(bed.observations.points[:, 2].min()) >= st.floor_z + 0.015
    wall_cabinet = prepare_object(scene, st, scene.objects[44])
    assert any(f.startswith("raised") for f in wall_cabinet.flags)
    assert wall_cabinet.observations.context.floor_z is None
    table = prepare_object(scene, st, scene.objects[35])
    assert not any(f.startswith("raised") for f in table.flags)


def test_the_wall_behind_a_base_cabinet_scanned_from_its_front_is_in_its_surroundings():
    # scene0000_00 #43: a base cabinet under the kitchen counter, scanned only on its front; the wall behind it
    # stands 0.54 m behind its points (the counter's depth), and without it the fit's surroundings let a sensor
    # stand behind the cabinet, so its back (and inside) counted as seen and missing
    from backend.scene.segments import SegmentSettings, prepare_object
    from backend.scene.structure import estimate

    scene = _scene("scene0000_00")
    st = estimate(scene)

    def behind(settings):
        obs = prepare_object(scene, st, scene.objects[43], settings).observations
        pts = obs.points.double()
        return [float((pts @ w[:3] + w[3]).min()) for w in obs.context.walls.double()]

    assert any(0.4 < d < 0.7 for d in behind(SegmentSettings()))
    assert not any(0.4 < d < 0.7 for d in behind(SegmentSettings(wall_reach=0.5)))


def test_the_three_captures_register():
    from backend.scene.register import register_scenes

    base = _scene("scene0000_00")
    r1 = register_scenes(_scene("scene0000_01"), base)
    r2 = register_scenes(_scene("scene0000_02"), base)
    assert abs(r1.yaw_deg) < 3.0 and r1.residual < 0.05
    assert abs(abs(r2.yaw_deg) - 90.0) < 3.0 and r2.residual < 0.05


def test_a_real_segment_fitted_end_to_end(tmp_path):
    from backend.cli import main

    rc = main(["fit-scene", str(REAL / "scene0000_00" / "scene0000_00_points.ply"), "-o", str(tmp_path), "--only", "35",
               "--budget", "10", "--jobs", "1", "--quiet"])
    assert rc == 0
    row = json.loads((tmp_path / "summary.json").read_text())["objects"][0]
    assert row["instance"] == 35 and row["state"] == "succeeded" and row["program"] == "table"
    m = row["scan_fit"]
    assert m["f_5cm"] > 0.5 and m["accuracy_cm"] < 6.0, m
    assert {"scene.blend", "scene.glb", "scene.ply", "summary.csv", "scene_report.png"} <= {p.name for p in tmp_path.iterdir()}


def test_no_wall_of_a_real_room_crosses_it():
    # the three captures hold pieces of walls that line up across the room (a partition's stub and a window's
    # jamb metres apart); as one plane they cut through the bed, the tables and the sofa
    from backend.scene.structure import estimate

    for name in SCENES:
        scene = _scene(name)
        st = estimate(scene)
        pts = scene.points.double().numpy()
        lo, hi = pts[:, :2].min(0), pts[:, :2].max(0)
        for w in st.walls:
            # a wall's run lies near the room's outline or is short (a partition): none spans the room's middle
            mid = (-w.d * w.normal + 0.5 * (w.span[0] + w.span[1]) * np.array([-w.normal[1], w.normal[0]]))
            inside = float(min(mid[0] - lo[0], hi[0] - mid[0], mid[1] - lo[1], hi[1] - mid[1]))
            assert inside < 0.5 or w.span[1] - w.span[0] < 2.5, (name, w)
    table = _scene("scene0000_00")
    from backend.scene.segments import prepare_object

    prep = prepare_object(table, estimate(table), table.objects[36])  # the low table under the window
    assert prep.removed["wall"] < 10  # no wall plane through its middle takes its points


def test_a_real_partitions_plane_does_not_cut_the_bed():
    # the bathroom's diagonal partition ends a metre from the bed; its plane, without end, cut the bed's far
    # corner off (the fit was 10 cm short) and took 64 of the bed's points as wall
    from backend.scene.segments import prepare_object
    from backend.scene.structure import estimate

    scene = _scene("scene0000_00")
    bed = prepare_object(scene, estimate(scene), scene.objects[38])
    pts = bed.observations.points.double().numpy()
    for plane in bed.observations.context.walls.numpy():
        assert float(((pts[:, :2] @ plane[:2] + plane[3]) < -0.05).mean()) < 0.02
    assert bed.removed["wall"] < 40


def test_the_real_desks_top_is_its_top_not_what_stands_on_it():
    # something 30 cm tall stands on the desk's right end in all three captures; as the desk's own points it
    # made the objective's top term raise the whole desk top to 1.0 m (its top is at 0.7 m)
    import torch

    from backend.objective import Objective, ObjectiveConfig
    from backend.scene.segments import prepare_object
    from backend.scene.structure import estimate

    scene = _scene("scene0000_00")
    desk = prepare_object(scene, estimate(scene), scene.objects[8])
    assert desk.removed["on top"] > 100 and any(f.startswith("things on its top") for f in desk.flags)
    obs = desk.observations
    top = Objective(obs, obs.frame.world_from_object.double(), ObjectiveConfig()).scan_top
    assert abs(top - 0.72) < 0.05, top
    ctx = obs.context.points
    assert bool(((ctx[:, 2] - obs.frame.floor_z) > 0.8).any())  # what stood on it is its surroundings now
    assert torch.isfinite(ctx).all()


def test_the_real_sectional_takes_a_chaise_on_its_left_in_one_move():
    # the room's corner sectional has its chaise on the left (seen from the front), the mirror image of the
    # sofa program's first chaise; from the straight sofa a search finds first (the pose and sizes below, a
    # coordinate descent's pilot on this segment), a chaise on the right made it worse and none was taken
    from backend.library import resolve_program
    from backend.problem import FitProblem
    from backend.scene.segments import prepare_object
    from backend.scene.structure import estimate
    from backend.search.base import RefineRequest
    from translator.codegen import compile_program
    from translator.loading import load_any
    from translator.params import parameter_space

    scene = _scene("scene0000_00")
    st = estimate(scene)
    assert abs(st.tilt_deg) < 0.5  # the levelled frame is the scan's: the pose below holds in both
    sofa = prepare_object(scene, st, scene.objects[33])
    prog = load_any(resolve_program("sofa"))
    space = parameter_space(prog)
    problem = FitProblem(compile_program(prog), space, sofa.observations)
    straight = {"Width": 2.612, "Depth": 1.1, "Height": 0.861, "Seat Height": 0.414, "Cushion Thickness": 0.16,
                "Back Thickness": 0.188, "Arm Width": 0.3, "Arm Height": 0.72, "Leg Height": 0.075}
    pose = [[-0.9996, 0.0283, 0.0, -0.3266], [-0.0283, -0.9996, 0.0, 1.0336], [0.0, 0.0, 1.0, -0.0079], [0, 0, 0, 1.0]]
    requests = []
    for chaise in ("None", "Right", "Left"):
        config, state = problem.candidate_at({**straight, "Chaise": chaise}, pose)
        requests.append(RefineRequest(config, state, 20))
    none, right, left = (c.objective for c in problem.refine(requests))
    # measured: 0.135, 0.151, 0.125 (0.116, 0.126, 0.098 when mesh_to_scan's hidden samples diluted it)
    assert right > none and left < 0.95 * none, (none, right, left)
