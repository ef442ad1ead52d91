"""Several candidate programs for one category (a list in the ``fit-scene`` map, :mod:`backend.scene.run` step 6):
the choice rule on hand-made results (the first candidate stays unless another beats it by more than the
margin; failed candidates never win), and end to end on a synthetic room holding a corner cabinet and a box
cabinet, both labelled ``cabinet``: the corner program is kept for the corner one and the box program for the box
one, the summary and the object's folder name the program kept, and every candidate's fit is on disk."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from backend.cli import main
from backend.jobs.spec import JobOutcome
from backend.scene.run import CHOICE_MARGIN, CHOICE_METRIC, PlannedObject, SceneRun, choose_candidates, decide_candidates


def _object(tmp_path: Path, results: dict[str, tuple[str, float | None]]) -> tuple[SceneRun, PlannedObject]:
    """An object with one candidate per entry ``program -> (state, F@5cm)`` and its outcomes."""
    folder = tmp_path / "objects" / "1_cabinet"
    plan = PlannedObject("1_cabinet", 1, "cabinet", "cabinet", next(iter(results)), folder)
    run = SceneRun(None, None, [plan])
    for prog, (state, f5) in results.items():
        sub = PlannedObject(f"1_cabinet~{prog}", 1, "cabinet", "cabinet", prog, folder / "candidates" / prog)
        sub.folder.mkdir(parents=True)
        sub.spec = object()
        if f5 is not None:
            (sub.folder / "result.json").write_text(json.dumps({"scan_fit": {CHOICE_METRIC: f5, "accuracy_cm": 1.0},
                                                                "program": prog}))
        run.outcomes[sub.key] = JobOutcome(state, None if state == "succeeded" else "broke")
        plan.candidates.append(sub)
    plan.spec = plan.candidates[0].spec
    return run, plan


@pytest.mark.parametrize("results, kept", [
    ({"cabinet": ("succeeded", 0.80), "corner_cabinet": ("succeeded", 0.80 + CHOICE_MARGIN + 0.01)}, "corner_cabinet"),
    ({"cabinet": ("succeeded", 0.80), "corner_cabinet": ("succeeded", 0.80 + CHOICE_MARGIN - 0.01)}, "cabinet"),
    ({"cabinet": ("succeeded", 0.90), "corner_cabinet": ("succeeded", 0.50)}, "cabinet"),
    ({"cabinet": ("failed", None), "corner_cabinet": ("succeeded", 0.40)}, "corner_cabinet"),
])
def test_choice_keeps_the_first_unless_another_is_clearly_better(tmp_path, results, kept):
    run, plan = _object(tmp_path, results)
    choose_candidates(run)
    assert plan.program == kept and run.outcomes[plan.key].state == "succeeded"
    assert json.loads((plan.folder / "result.json").read_text())["program"] == kept  # the kept fit's files
    choice = json.loads((plan.folder / "choice.json").read_text())
    assert choice["chosen"] == kept and set(choice["candidates"]) == set(results)
    assert plan.choice[kept]["state"] == "succeeded"


def test_choice_with_no_successful_candidate_keeps_the_first_failure(tmp_path):
    run, plan = _object(tmp_path, {"cabinet": ("failed", None), "corner_cabinet": ("cancelled", None)})
    choose_candidates(run)
    assert plan.program == "cabinet" and run.outcomes[plan.key].state == "failed"
    assert not (plan.folder / "result.json").exists()


def test_a_failed_continuation_keeps_the_screening_fit(tmp_path):
    run, plan = _object(tmp_path, {"cabinet": ("succeeded", 0.70), "corner_cabinet": ("succeeded", 0.90)})
    plan.continued, plan.program = True, "corner_cabinet"
    (plan.folder / "result.json").write_text("{}")  # what the continuation left before it broke
    run.outcomes[plan.key] = JobOutcome("failed", "worker died")
    choose_candidates(run)
    assert plan.program == "corner_cabinet" and not plan.continued and run.outcomes[plan.key].state == "succeeded"
    assert json.loads((plan.folder / "result.json").read_text())["program"] == "corner_cabinet"
    assert json.loads((plan.folder / "choice.json").read_text())["continued"] is False
    assert plan.flags == ["the continuation of corner_cabinet failed (worker died): its screening fit is kept"]


def test_a_successful_continuation_is_the_objects_result(tmp_path):
    run, plan = _object(tmp_path, {"cabinet": ("succeeded", 0.70), "corner_cabinet": ("succeeded", 0.90)})
    assert decide_candidates(plan, run.outcomes).program == "corner_cabinet"  # as plan_continuation decides
    plan.continued, plan.program = True, "corner_cabinet"
    (plan.folder / "result.json").write_text(json.dumps({"program": "corner_cabinet", "continued": 1}))
    run.outcomes[plan.key] = JobOutcome("succeeded", None)
    choose_candidates(run)
    assert json.loads((plan.folder / "result.json").read_text())["continued"] == 1  # not replaced by the screening's
    choice = json.loads((plan.folder / "choice.json").read_text())
    assert choice["continued"] is True and choice["chosen"] == "corner_cabinet"
    assert choice["candidates"]["cabinet"][CHOICE_METRIC] == 0.70


@pytest.fixture(scope="module")
def room(tmp_path_factory) -> Path:
    room = tmp_path_factory.mktemp("room")
    # seed 1: a corner cabinet with a 0.33 m cut on 1.16 x 0.65 m legs, and a chest of two drawers
    assert main(["synth-scene", "-o", str(room), "--programs", "corner_cabinet", "cabinet", "--seed", "1"]) == 0
    (room / "map.json").write_text(json.dumps({"cabinet": ["cabinet", "corner_cabinet"]}))
    return room


@pytest.fixture(scope="module")
def fitted(room, tmp_path_factory) -> tuple[Path, list[tuple[str, str]]]:
    """The room fitted (12 s per object, 2 jobs) and the ``(event, job or object key)`` of every fit_scene event."""
    from backend.scene.run import SceneFitSettings, fit_scene

    out = tmp_path_factory.mktemp("fit")
    settings = SceneFitSettings(map=str(room / "map.json"), jobs=2)
    settings.fit.budget = 12.0
    events: list[tuple[str, str]] = []
    fit_scene(str(room / "room_points.ply"), out, settings,
              on_event=lambda kind, *args: events.append((kind, getattr(args[0], "key", None) if args else None)))
    return out, events


@pytest.mark.parametrize("budget, screen_s, continue_s", [(12.0, 3.0, 6.0), (40.0, 10.0, 20.0), (5.0, 2.5, 0.0)])
def test_candidates_are_screened_with_a_share_of_the_budget(room, tmp_path, budget, screen_s, continue_s):
    """Each candidate's screening fit gets ``screen`` of the object's budget (the search alone) and the kept one
    the rest; a budget too small to leave a continuation its shortest fit is split in equal shares of whole fits.
    Under ``--max-evaluations`` the evaluations are split in the same shares as the seconds."""
    from backend.scene.job import read_object_meta
    from backend.scene.run import SceneFitSettings, plan_scene

    settings = SceneFitSettings(map=str(room / "map.json"))
    settings.fit.budget, settings.fit.max_evaluations = budget, 1000
    _, _, plans = plan_scene(str(room / "room_points.ply"), tmp_path, settings)
    assert len(plans) == 2
    for p in plans:
        assert p.continue_s == pytest.approx(continue_s) and [c.program for c in p.candidates] == ["cabinet", "corner_cabinet"]
        for c in p.candidates:
            assert c.spec.config["budget"] == pytest.approx(screen_s)
            assert c.spec.config["max_evaluations"] == round(1000 * screen_s / budget)
            assert read_object_meta(c.folder / "input" / "object.json")["screening"] is bool(continue_s)


def test_a_fit_config_share_splits_the_evaluations_like_the_seconds():
    from backend.fit import FitConfig

    cfg = FitConfig(budget=20.0, max_evaluations=1000, seed=5)
    part = cfg.share(5.0, locks={"Drawers": 2})
    assert (part.budget, part.max_evaluations, part.seed, part.locks) == (5.0, 250, 5, {"Drawers": 2})
    assert cfg.share(0.001).max_evaluations == 1  # never zero: a part always evaluates its start
    assert FitConfig(budget=20.0).share(5.0).max_evaluations is None  # a time budget alone stays one


@pytest.mark.serial  # run alone (scripts/test.sh): short fits whose box-cabinet choice is close to the margin
def test_synthetic_room_keeps_the_right_program(fitted):
    fitted, _ = fitted
    rows = {r["instance"]: r for r in json.loads((fitted / "summary.json").read_text())["objects"]}
    assert rows[1]["category"] == rows[2]["category"] == "cabinet"
    assert rows[1]["program"] == "corner_cabinet", rows[1]["candidates"]
    assert rows[2]["program"] == "cabinet", rows[2]["candidates"]
    for r in rows.values():
        assert r["state"] == "succeeded" and set(r["candidates"]) == {"cabinet", "corner_cabinet"}
        assert all(c["state"] == "succeeded" and c[CHOICE_METRIC] is not None for c in r["candidates"].values())
        folder = Path(r["folder"])
        for prog in ("cabinet", "corner_cabinet"):
            assert (folder / "candidates" / prog / "result.json").is_file()
        # the kept program continued in the object's folder with the rest of the budget, from its screening result
        result = json.loads((folder / "result.json").read_text())
        assert result["provenance"]["inputs"]["program"] == r["program"]
        assert json.loads((folder / "choice.json").read_text())["continued"] is True
        screened = json.loads((folder / "candidates" / r["program"] / "result.json").read_text())
        assert screened["config"]["budget"] == pytest.approx(3.0) and result["config"]["budget"] == pytest.approx(6.0)
        assert result["config"]["init"] == {**screened["discrete"], **screened["continuous"]}
        scan_from_fit = np.asarray(json.loads((folder / "input" / "object.json").read_text())["scan_from_fit"])
        np.testing.assert_allclose(scan_from_fit @ np.asarray(result["config"]["init_pose"]), screened["world_from_program"],
                                   atol=1e-9)  # the screening's pose, in the levelled frame the fit works in
        assert not screened.get("undecided")  # a screening fit is the search alone
    # the corner cabinet's box fit misses its diagonal front by far more than the margin
    corner = rows[1]["candidates"]
    assert corner["corner_cabinet"][CHOICE_METRIC] > corner["cabinet"][CHOICE_METRIC] + CHOICE_MARGIN
    with open(fitted / "summary.csv") as f:
        csv_rows = {int(r["instance"]): r for r in csv.DictReader(f)}
    assert csv_rows[1]["program"] == "corner_cabinet" and "corner_cabinet=" in csv_rows[1]["candidates"]


@pytest.mark.serial  # the same run as the test above
def test_each_object_finishes_once_after_its_last_job(fitted):
    """fit-scene's overall progress counts objects: each object is ``finished`` once, after its screening fits and
    its continuation (three fit jobs here) have ended, not once per job."""
    _, events = fitted
    for key in ("1_cabinet", "2_cabinet"):
        jobs = [i for i, (kind, k) in enumerate(events) if kind == "done" and k is not None and (k == key or k.startswith(key + "~"))]
        finished = [i for i, (kind, k) in enumerate(events) if kind == "finished" and k == key]
        assert len(jobs) == 3 and len(finished) == 1 and finished[0] > max(jobs)
    assert sum(kind == "finished" for kind, _ in events) == 2
