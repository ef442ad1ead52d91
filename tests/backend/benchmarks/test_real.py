"""``shapeprog bench real``: pairing fits of one physical object across captures and judging their consistency
(discrete values equal, lengths within 2 cm), on hand-made fit folders; the bench itself runs on
../shared/real_scans (see the README's reconstruction section)."""

from __future__ import annotations

import numpy as np

from backend.benchmarks.real import RealBenchConfig, _why_inconsistent, consistency, run
from backend.io.ply import write_point_cloud
from backend.scene.register import Registration


def _row(tmp_path, scene, instance, centre, discrete, continuous, program="table"):
    folder = tmp_path / scene / str(instance)
    folder.mkdir(parents=True)
    c = np.asarray(centre, dtype=np.float64)
    write_point_cloud(folder / "fitted.ply", np.stack([c - 0.3, c + 0.3]))
    return {"state": "succeeded", "instance": instance, "category": "table", "program": program, "folder": str(folder),
            "discrete": discrete, "continuous": continuous}


def test_pairs_are_matched_by_position_after_registration_and_judged(tmp_path):
    d = {"Top Shape": "Rectangular", "Leg Style": "Four Legs"}
    c = {"Width": 1.2, "Depth": 0.8, "Height": 0.75}
    a = [_row(tmp_path, "a", 1, [1, 1, 0.4], d, c), _row(tmp_path, "a", 2, [-1, -1, 0.4], d, c)]
    # scene b is turned by 90 degrees: its (-1, 1) is a's (1, 1)
    b = [_row(tmp_path, "b", 7, [-1.05, 1, 0.4], d, {**c, "Width": 1.21}),
         _row(tmp_path, "b", 8, [1, -1, 0.4], {**d, "Leg Style": "Pedestal"}, c)]
    turn = np.eye(4)
    turn[:2, :2] = [[0, 1], [-1, 0]]  # b -> a: (x, y) -> (y, -x)
    pairs = consistency({"a": a, "b": b}, {"b": Registration(turn, 0.0, -90.0)})
    by = {tuple(p["b"]): p for p in pairs}
    assert set(by) == {("b", 7), ("b", 8)}
    assert by[("b", 7)]["a"] == ["a", 1] and by[("b", 7)]["consistent"]
    assert by[("b", 8)]["a"] == ["a", 2] and by[("b", 8)]["discrete_differ"] == ["Leg Style"]
    far = [_row(tmp_path, "c", 9, [3, 3, 0.4], d, {**c, "Height": 0.8})]
    assert consistency({"a": a, "c": far}, {}) == []
    near = [_row(tmp_path, "d", 9, [1.1, 1, 0.4], d, {**c, "Height": 0.8})]
    (pair,) = consistency({"a": a, "d": near}, {})
    assert not pair["consistent"] and pair["length_differ_cm"] == {"Height": 5.0}


def test_fits_that_kept_different_candidate_programs_pair_and_disagree(tmp_path):
    """With several candidate programs per category, the same object fitted as a corner cabinet in one capture
    and a box cabinet in the other is one inconsistent pair; objects without a shared candidate never pair."""
    d, c = {"Front Style": "Doors"}, {"Width": 0.9, "Depth": 0.9, "Height": 0.8}
    both = {"cabinet": {}, "corner_cabinet": {}}
    a = [{**_row(tmp_path, "a", 1, [1, 1, 0.4], d, c, program="corner_cabinet"), "candidates": both}]
    b = [{**_row(tmp_path, "b", 5, [1.05, 1, 0.4], d, c, program="cabinet"), "candidates": both}]
    (pair,) = consistency({"a": a, "b": b}, {})
    assert not pair["consistent"] and pair["program_differ"] == ["corner_cabinet", "cabinet"]
    assert _why_inconsistent(pair) == "program corner_cabinet vs cabinet"  # the bench's line says why
    table = [_row(tmp_path, "c", 6, [1.05, 1, 0.4], d, c)]
    assert consistency({"a": a, "c": table}, {}) == []


def test_missing_data_is_one_line(tmp_path):
    import pytest

    from backend.command import UserError

    with pytest.raises(UserError, match="no scene0000_00/scene0000_00_points.ply"):
        run(RealBenchConfig(data=str(tmp_path), out=str(tmp_path / "o")))
    with pytest.raises(UserError, match="unknown method"):
        run(RealBenchConfig(data=str(tmp_path), scenes="", methods="sa", out=str(tmp_path / "o")))


def _pose(yaw_deg):
    import math

    a = math.radians(yaw_deg)
    m = np.eye(4)
    m[:2, :2] = [[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]]
    return m.tolist()


def test_a_discrete_value_inactive_in_both_fits_is_not_compared(tmp_path):
    # a cabinet with a front of doors: its drawer count means nothing, the two captures may leave any value there
    d = {"Front Style": "Doors", "Base Style": "Plinth", "Has Handles": True, "Double Doors": True, "Shelf Count": 2}
    c = {"Width": 0.8, "Depth": 0.45, "Height": 0.9}
    a = [_row(tmp_path, "a", 1, [1, 1, 0.4], {**d, "Drawer Count": 3}, c, program="cabinet")]
    b = [_row(tmp_path, "b", 2, [1, 1, 0.4], {**d, "Drawer Count": 5}, c, program="cabinet")]
    (pair,) = consistency({"a": a, "b": b}, {})
    assert pair["consistent"], pair
    # with a front of drawers it is the drawer count, and it differs
    a[0]["discrete"]["Front Style"] = b[0]["discrete"]["Front Style"] = "Drawers"
    a[0]["undecided"] = {"Base Style": {"within": ["Plinth", "Legs"], "prior": "Plinth"}}
    (pair,) = consistency({"a": a, "b": b}, {})
    assert pair["discrete_differ"] == ["Drawer Count"] and pair["undecided"] == ["Base Style"]


def test_width_and_depth_exchanged_under_a_quarter_turn_are_one_table_not_one_cabinet(tmp_path):
    d = {"Top Shape": "Rectangular", "Leg Style": "Four Legs", "Has Lower Shelf": False, "Has Apron": True,
         "Round Legs": False}
    c = {"Width": 1.2, "Depth": 0.8, "Height": 0.75}
    a = [_row(tmp_path, "a", 1, [1, 1, 0.4], d, c)]
    b = [_row(tmp_path, "b", 2, [1, 1, 0.4], d, {**c, "Width": 0.8, "Depth": 1.2})]
    a[0]["world_from_program"], b[0]["world_from_program"] = _pose(0), _pose(90)
    (pair,) = consistency({"a": a, "b": b}, {})
    assert pair["consistent"] and pair["swapped_width_depth"], pair
    b[0]["world_from_program"] = _pose(0)  # not turned: a different table
    (pair,) = consistency({"a": a, "b": b}, {})
    assert not pair["consistent"] and set(pair["length_differ_cm"]) == {"Width", "Depth"}
    # a cabinet has a front: turned with its width and depth exchanged it is another cabinet
    dc = {"Front Style": "Doors", "Base Style": "Plinth", "Has Handles": True, "Double Doors": True, "Shelf Count": 2}
    ca = [_row(tmp_path, "ca", 1, [1, 1, 0.4], dc, c, program="cabinet")]
    cb = [_row(tmp_path, "cb", 2, [1, 1, 0.4], dc, {**c, "Width": 0.8, "Depth": 1.2}, program="cabinet")]
    ca[0]["world_from_program"], cb[0]["world_from_program"] = _pose(0), _pose(90)
    (pair,) = consistency({"ca": ca, "cb": cb}, {})
    assert not pair["consistent"] and not pair["swapped_width_depth"]


def test_inconsistent_pairs_are_counted_by_what_makes_them_so(tmp_path):
    from backend.benchmarks.real import why_counts

    d = {"Front Style": "Doors", "Base Style": "Plinth"}
    c = {"Width": 0.9, "Depth": 0.5, "Height": 0.8}
    # one capture could not tell Doors from Drawers (it kept its prior, Drawers); the other decided Doors
    unsure = {"Front Style": {"within": ["Drawers", "Doors"], "prior": "Drawers"}}
    a = [{**_row(tmp_path, "a", 1, [1, 1, 0.4], {**d, "Front Style": "Drawers"}, c, "cabinet"), "undecided": unsure},
         _row(tmp_path, "a", 2, [-1, -1, 0.4], d, c, "cabinet"), _row(tmp_path, "a", 3, [3, 3, 0.4], d, c, "cabinet"),
         _row(tmp_path, "a", 4, [-3, 3, 0.4], d, c, "cabinet")]
    b = [_row(tmp_path, "b", 5, [1, 1, 0.4], d, c, "cabinet"),
         _row(tmp_path, "b", 6, [-1, -1, 0.4], {**d, "Base Style": "Legs"}, c, "cabinet"),  # both decided
         _row(tmp_path, "b", 7, [3, 3, 0.4], d, {**c, "Width": 0.95}, "cabinet"),  # 5 cm of width
         _row(tmp_path, "b", 8, [-3, 3, 0.4], d, c, "cabinet")]
    pairs = {p["a"][1]: p for p in consistency({"a": a, "b": b}, {})}
    assert pairs[1]["undecided_only"] and not pairs[2]["undecided_only"] and pairs[4]["consistent"]
    assert why_counts(list(pairs.values())) == {"program": 0, "decided": 1, "undecided": 1, "lengths": 1}
    # undecided the other way round: the capture that decided kept a value the undecided one ruled out
    a[0]["undecided"] = {"Front Style": {"within": ["Drawers", "Open Shelves"], "prior": "Drawers"}}
    pairs = {p["a"][1]: p for p in consistency({"a": a, "b": b}, {})}
    assert why_counts(list(pairs.values()))["decided"] == 2
