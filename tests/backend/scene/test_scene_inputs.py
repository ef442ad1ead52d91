"""backend.scene: what fit-scene reads (labelled PLYs, label sets, ScanNet folders, Scan2CAD boxes), the map,
the scene's structure, the cleaning of segments, the evidence for parameters and scene registration."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from backend.scene.labels import SCANNET20, category_of, label_names
from backend.scene.programs import DEFAULT_MAP, load_map, select_objects
from backend.scene.readers import load_labelled_ply, load_scan2cad_scene, load_scene
from backend.scene.register import register_points
from backend.scene.segments import SegmentSettings, prepare_object
from backend.scene.structure import estimate, fit_plane, wall_planes
from backend.scene.synth import write_labelled_ply
from backend.structures import ScanError
from tests.fixtures.scannet import make_scan2cad, make_scannet_scene


def _room(tmp_path, tilt_deg: float = 0.0, label_field: str = "nyu40", instance_field: str = "instance"):
    """A 4 x 3 m room: floor, two walls, a 'chair' box against the north wall with a strip of floor and a patch
    of wall labelled as it, a 'lamp' (unmapped)."""
    rng = np.random.default_rng(0)
    floor = np.c_[rng.uniform(-2, 2, 4000), rng.uniform(-1.5, 1.5, 4000), np.zeros(4000)]
    north = np.c_[rng.uniform(-2, 2, 2000), np.full(2000, 1.5), rng.uniform(0, 2.5, 2000)]
    east = np.c_[np.full(1500, 2.0), rng.uniform(-1.5, 1.5, 1500), rng.uniform(0, 2.5, 1500)]
    u = rng.uniform(size=(1500, 3))
    box = np.c_[-0.25 + 0.5 * u[:, 0], 1.0 + 0.48 * u[:, 1], 0.9 * u[:, 2]]
    face = rng.integers(0, 5, 1500)  # snap each point onto one of the five visible faces
    box[face == 0, 0], box[face == 1, 0], box[face == 2, 1] = -0.25, 0.25, 1.0
    box[face == 3, 2] = 0.9
    box[face == 4, 2] = 0.9
    strays_floor = np.c_[rng.uniform(-0.3, 0.3, 60), rng.uniform(0.93, 0.99, 60), np.zeros(60)]
    strays_wall = np.c_[rng.uniform(-0.3, 0.3, 60), np.full(60, 1.5), rng.uniform(0.95, 1.2, 60)]
    lamp = np.c_[rng.uniform(1.0, 1.2, 200), rng.uniform(-1.0, -0.8, 200), rng.uniform(0, 1.5, 200)]
    pts = np.concatenate([floor, north, east, box, strays_floor, strays_wall, lamp])
    labels = np.concatenate([np.full(4000, 2), np.full(3500, 1), np.full(1620, 5), np.full(200, 35)])
    inst = np.concatenate([np.zeros(7500, int), np.full(1620, 4), np.full(200, 9)])
    if tilt_deg:
        a = math.radians(tilt_deg)
        rx = np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
        pts = pts @ rx.T
    path = tmp_path / "room.ply"
    from plyfile import PlyData, PlyElement

    arr = np.empty(len(pts), dtype=[("x", "f4"), ("y", "f4"), ("z", "f4"), (label_field, "i4"), (instance_field, "i4")])
    arr["x"], arr["y"], arr["z"] = pts.T
    arr[label_field], arr[instance_field] = labels, inst
    PlyData([PlyElement.describe(arr, "vertex")]).write(str(path))
    return path


def test_labelled_ply_fields_and_instances(tmp_path):
    scene = load_labelled_ply(_room(tmp_path))
    assert sorted(scene.objects) == [4, 9]
    assert scene.objects[4].category == "chair" and scene.objects[9].category == "lamp"
    assert len(scene.objects[4].indices) == 1620 and scene.colors is None
    custom = load_labelled_ply(_room(tmp_path, label_field="cls", instance_field="obj"), "cls", "obj")
    assert sorted(custom.objects) == [4, 9]
    with pytest.raises(ScanError, match="no label field among the vertex fields"):
        load_labelled_ply(_room(tmp_path, label_field="cls", instance_field="obj"))
    with pytest.raises(ScanError, match="no vertex field 'semantics' for the label"):
        load_labelled_ply(_room(tmp_path), label_field="semantics")


def test_label_sets_and_label_files(tmp_path):
    assert label_names("nyu40")[32] == "night stand" and SCANNET20[0] == "wall" and SCANNET20[19] == "other furniture"
    tsv = tmp_path / "scannetv2-labels.combined.tsv"
    tsv.write_text("id\traw_category\tcategory\tcount\tnyu40id\tnyu40class\n1\twall\twall\t1\t1\twall\n"
                   "5\tkitchen cabinets\tkitchen cabinet\t9\t3\tcabinet\n")
    assert label_names(str(tsv)) == {1: "wall", 5: "kitchen cabinet"}
    assert label_names(str(tsv), "nyu40class")[5] == "cabinet"
    js = tmp_path / "labels.json"
    js.write_text(json.dumps({"3": "couch"}))
    assert label_names(str(js)) == {3: "couch"}
    js.write_text("[1, 2]")
    with pytest.raises(ScanError, match="expected an object"):
        label_names(str(js))
    with pytest.raises(ScanError, match="not a label set"):
        label_names("nyu41")
    assert [category_of(n) for n in ("Kitchen_Cabinets", "nightstand", "couch", "office desk", "coffee table",
                                     "bookcase", "lamp")] == ["cabinet", "night stand", "sofa", "desk", "table",
                                                              "bookshelf", "lamp"]


def test_map_defaults_overrides_and_errors(tmp_path):
    m = load_map(None)
    assert m.candidates("Night Stand") == ("cabinet",) and m.candidates("desk") == ("table",)
    assert set(DEFAULT_MAP) >= {"chair", "table", "desk", "sofa", "bed", "cabinet", "night stand", "dresser",
                                "bookshelf", "shelves"}
    f = tmp_path / "map.json"
    f.write_text(json.dumps({"lamp": "bookshelf", "chair": None}))
    m = load_map(f)
    assert m.candidates("lamp") == ("bookshelf",) and m.candidates("chair") == ()
    f.write_text(json.dumps({"lamp": "my_lamp.json"}))
    with pytest.raises(ScanError, match="category 'lamp' names a missing program"):
        load_map(f)
    f.write_text("{")
    with pytest.raises(ScanError, match="not valid JSON"):
        load_map(f)


def test_map_lists_of_candidate_programs(tmp_path):
    """A category may name several programs (its candidates, in order); empty lists, non-strings, missing or
    repeated programs are one-line errors naming the category."""
    f = tmp_path / "map.json"
    f.write_text(json.dumps({"cabinet": ["cabinet", "corner_cabinet"], "lamp": ["bookshelf"]}))
    m = load_map(f)
    assert m.candidates("Kitchen Cabinets") == ("cabinet", "corner_cabinet")
    assert m.candidates("lamp") == ("bookshelf",) and m.candidates("chair") == ("chair",) and m.candidates("door") == ()
    for value, message in (([], "non-empty list"), (["cabinet", 3], "non-empty list"),
                           (["cabinet", "no_such"], "category 'cabinet' names a missing program"),
                           (["cabinet", "cabinet"], "category 'cabinet' names a program twice")):
        f.write_text(json.dumps({"cabinet": value}))
        with pytest.raises(ScanError, match=message) as err:
            load_map(f)
        assert "\n" not in str(err.value)


def test_select_objects_only_skip_and_none_left(tmp_path):
    scene = load_labelled_ply(_room(tmp_path))
    assert [(o.instance, p) for o, p in select_objects(scene, load_map(None))] == [(4, ("chair",))]
    assert select_objects(scene, load_map(None), only=["4"])[0][0].instance == 4
    with pytest.raises(ScanError, match="no instance of a mapped category after --only/--skip"):
        select_objects(scene, load_map(None), skip=["chair"])


def test_structure_floor_gravity_and_walls(tmp_path):
    scene = load_labelled_ply(_room(tmp_path))
    st = estimate(scene)
    assert st.floor_source == "labels" and abs(st.floor_z) < 0.01 and st.tilt_deg < 0.5
    normals = sorted((round(float(w.normal[0]), 2), round(float(w.normal[1]), 2)) for w in st.walls)
    assert normals == [(-1.0, 0.0), (0.0, -1.0)]  # both pointing into the room
    tilted = estimate(load_labelled_ply(_room(tmp_path, tilt_deg=3.0)))
    assert abs(tilted.tilt_deg - 3.0) < 0.2 and abs(tilted.floor_z) < 0.02
    up = tilted.level[:3, :3] @ np.array([0.0, -math.sin(math.radians(3)), math.cos(math.radians(3))])
    assert np.allclose(up, [0, 0, 1], atol=5e-3)
    n, d, inl = fit_plane(np.c_[np.random.default_rng(1).uniform(size=(300, 2)), np.full(300, 0.5)])
    assert np.allclose(n, [0, 0, 1]) and abs(d + 0.5) < 1e-9 and inl.all()


def test_collinear_pieces_of_walls_metres_apart_are_not_one_wall_across_the_room():
    # a partition's stub (x 1..3) and a window's jamb (x -3.4..-3.1) that happen to lie on one line y = -1.5,
    # with a real wall x = -3.5 (y -3..2): no wall may span the room between the two pieces
    rng = np.random.default_rng(0)

    def patch(x0, x1, y0, y1, n):
        return np.c_[rng.uniform(x0, x1, n), rng.uniform(y0, y1, n), rng.uniform(0.0, 2.4, n)]

    pts = np.concatenate([patch(1.0, 3.0, -1.51, -1.49, 600), patch(-3.4, -3.1, -1.51, -1.49, 200),
                          patch(-3.51, -3.49, -3.0, 2.0, 1500)])
    walls = wall_planes(pts, np.array([0.0, 0.0]))
    spans = []
    for w in walls:
        if abs(w.normal[1]) > 0.9:  # the pieces on y = -1.5
            ends = [(-w.d * w.normal + a * np.array([-w.normal[1], w.normal[0]]))[0] for a in w.span]
            spans.append(sorted(ends))
    assert spans and all(hi - lo < 2.5 for lo, hi in spans)  # each piece is its own wall, none crosses the room
    assert any(lo > 0.9 and hi < 3.1 for lo, hi in spans)
    assert any(abs(w.normal[0]) > 0.99 and w.span[1] - w.span[0] > 4.5 for w in walls)  # the real wall is whole


def test_a_short_walls_plane_through_an_objects_far_corner_is_not_its_wall():
    from backend.scene.model import Wall
    from backend.scene.segments import _near_walls

    rng = np.random.default_rng(0)
    bed = np.c_[rng.uniform(-1.0, 0.4, 3000), rng.uniform(-3.45, -1.5, 3000)]  # a bed's footprint
    n = np.array([-0.81, 0.58]) / np.hypot(0.81, 0.58)  # a diagonal partition by the bed's foot, ending 1 m away
    partition = Wall(n, 2.0, (0.0, 1.4), (0.0, 2.3), 700)
    assert float(((bed @ n + partition.d) < -0.05).mean()) > 0.02  # its plane cuts the bed's far corner
    assert _near_walls([partition], bed, 0.5) == []
    back = Wall(np.array([0.0, 1.0]), 3.5, (-3.5, 3.5), (0.0, 2.4), 2000)  # the wall at the bed's head
    assert _near_walls([back, partition], bed, 0.5) == [back]


def _box_surface(rng, lo, hi, n):
    """``n`` points on the surface of the box ``lo..hi`` (3,), area-weighted."""
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    e = hi - lo
    areas = np.array([e[1] * e[2], e[1] * e[2], e[0] * e[2], e[0] * e[2], e[0] * e[1], e[0] * e[1]])
    face = rng.choice(6, n, p=areas / areas.sum())
    pts = lo + rng.uniform(size=(n, 3)) * e
    axis, side = face // 2, face % 2
    pts[np.arange(n), 2 - axis] = np.where(side == 1, hi[2 - axis], lo[2 - axis])
    return pts


def test_things_standing_on_a_flat_top_are_not_the_object():
    from backend.scene.segments import SegmentSettings, _things_on_top

    rng = np.random.default_rng(0)
    s = SegmentSettings()
    desk = np.concatenate([_box_surface(rng, (0, 0, 0.69), (1.2, 0.6, 0.72), 3000)]
                          + [_box_surface(rng, (x, y, 0), (x + 0.05, y + 0.05, 0.69), 150)
                             for x in (0.0, 1.15) for y in (0.0, 0.55)])
    box = _box_surface(rng, (1.0, 0.05, 0.72), (1.15, 0.55, 1.0), 400)  # a box on its right end
    mask, top = _things_on_top(np.concatenate([desk, box]), s)
    assert abs(top - 0.72) < 0.03
    boxed = mask[len(desk):]
    assert boxed[box[:, 2] > 0.78].all() and not boxed[box[:, 2] < 0.73].any() and not mask[:len(desk)].any()
    # an open cabinet's walls above its shelf (the sensor did not see its top) are the cabinet's own
    walls = np.concatenate([_box_surface(rng, (0, 0, 0), (0.9, 0.6, 2.2), 6000)])
    walls = walls[walls[:, 2] < 2.19]  # no points on its top
    shelf = np.c_[rng.uniform(0, 0.9, 1500), rng.uniform(0, 0.6, 1500), rng.uniform(1.0, 1.02, 1500)]
    mask, _ = _things_on_top(np.concatenate([walls, shelf]), s)
    assert not mask.any()


def test_segments_lose_floor_and_wall_strays_and_get_surroundings(tmp_path):
    scene = load_labelled_ply(_room(tmp_path))
    st = estimate(scene)
    prep = prepare_object(scene, st, scene.objects[4])
    obs = prep.observations
    assert prep.removed["floor"] >= 60 and prep.removed["wall"] >= 60
    assert float(obs.points[:, 1].max()) < 1.49 and float(obs.points[:, 2].min()) > 0.015
    assert obs.frame.floor_source == "given" and abs(obs.frame.floor_z) < 0.01
    assert abs(math.remainder(obs.frame.yaw, math.pi / 2)) < 1e-6  # snapped to the walls
    ctx = obs.context
    assert ctx.floor_z is not None and len(ctx.walls) >= 1 and len(ctx.points) > 100
    assert not any(f.startswith("raised") for f in prep.flags)
    assert prepare_object(scene, st, scene.objects[4], SegmentSettings(min_points=5000)) is None


def test_scannet_folder_and_scan2cad_boxes(tmp_path):
    sc = make_scannet_scene(tmp_path / "scene0007_00")
    scene = load_scene(tmp_path / "scene0007_00")
    assert sorted(scene.objects) == [0, 1, 2]  # the empty 'ghost' is not an object
    assert scene.objects[1].category == "chair" and len(scene.objects[1].indices) == len(sc["objects"][1]["vertices"])
    assert int(scene.mask_of("floor").sum()) == len(sc["objects"][0]["vertices"])
    ch = sc["objects"][1]
    half = [s / 2 for s in ch["size"]]
    ann = tmp_path / "full_annotations.json"
    make_scan2cad(ann, "scene0007_00", [{"center": ch["center"], "yaw": ch["yaw"], "half": half}])
    boxed = load_scan2cad_scene(tmp_path / "scene0007_00", ann)
    assert list(boxed.objects) == [0] and boxed.objects[0].category == "chair"
    assert abs(math.remainder(boxed.objects[0].yaw - ch["yaw"], math.pi / 2)) < 1e-6
    assert len(boxed.objects[0].indices) >= len(ch["vertices"])
    with pytest.raises(ScanError, match="goes with a ScanNet scene"):
        load_scene(_room(tmp_path), scan2cad=ann)


def test_register_points_finds_a_turn_and_a_shift():
    rng = np.random.default_rng(0)
    walls = np.concatenate([np.c_[rng.uniform(-2, 3, 800), np.full(800, 2.0), rng.uniform(0, 2, 800)],
                            np.c_[np.full(600, -2.0), rng.uniform(-1, 2, 600), rng.uniform(0, 2, 600)],
                            np.c_[rng.uniform(-2, 0, 400), np.full(400, -1.0), rng.uniform(0, 2, 400)]])
    a = math.radians(90.0)
    r = np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])
    moved = walls @ r.T + [0.4, -0.3, 0.0]
    reg = register_points(moved, walls)
    assert abs(math.remainder(reg.yaw_deg + 90.0, 360.0)) < 1.0
    assert np.abs(reg.apply(moved) - walls).max() < 0.03


def test_write_labelled_ply_round_trip(tmp_path):
    pts = np.random.default_rng(0).uniform(size=(50, 3))
    write_labelled_ply(tmp_path / "r.ply", pts, np.full((50, 3), 0.5), np.full(50, 7), np.arange(50) % 3)
    scene = load_labelled_ply(tmp_path / "r.ply")
    assert sorted(scene.objects) == [1, 2] and scene.objects[1].label == "table"
    torch.testing.assert_close(scene.points, torch.from_numpy(pts).float())


def test_plans_of_a_scannet_folder_and_of_scan2cad_boxes(tmp_path):
    from backend.scene.run import SceneFitSettings, plan_scene

    sc = make_scannet_scene(tmp_path / "scene0007_00")
    _, structure, plans = plan_scene(str(tmp_path / "scene0007_00"), tmp_path / "out", SceneFitSettings())
    assert [(p.instance, p.category, p.program) for p in plans] == [(1, "chair", "chair"), (2, "table", "table")]
    assert structure.floor_source == "labels" and abs(structure.floor_z - sc["floor_z"]) < 1e-3
    meta = json.loads((plans[0].folder / "input" / "object.json").read_text())
    assert meta["instance"] == 1 and meta["program"] == "chair" and plans[0].spec.scene_object == "object.json"
    ch = sc["objects"][1]
    ann = tmp_path / "full_annotations.json"
    make_scan2cad(ann, "scene0007_00", [{"center": ch["center"], "yaw": ch["yaw"], "half": [s / 2 for s in ch["size"]]}])
    _, _, boxed = plan_scene(str(tmp_path / "scene0007_00"), tmp_path / "out2", SceneFitSettings(scan2cad=str(ann)))
    assert [(p.instance, p.category) for p in boxed] == [(0, "chair")]
    assert abs(math.remainder(json.loads((boxed[0].folder / "input" / "object.json").read_text())["frame"]["yaw"]
                              - ch["yaw"], math.pi / 2)) < 1e-6
