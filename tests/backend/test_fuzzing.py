"""Property-based fuzzing of every reader a user reaches (the targets of backend/fuzzing.py, driven by
hypothesis so that a failure shrinks to a small case): each case is accepted or refused with a one-line
user error, never anything else. ``shapeprog bench fuzz`` runs the same targets for longer."""

from __future__ import annotations

import math
import random
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.fuzzing import HOSTILE_VALUES, TARGETS, Outcome, Target, mutate_json, run_case

EXAMPLES = {"ir": 25, "frames": 30}  # the slow ones (translation, images); 60 for the others


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_every_case_is_accepted_or_refused_in_one_line(name, tmp_path_factory):
    target = TARGETS[name]

    @settings(max_examples=EXAMPLES.get(name, 60), deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(st.randoms(use_true_random=False))
    def case(rng: random.Random) -> None:
        folder = tmp_path_factory.mktemp(name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            outcome = run_case(target, rng, folder)
        assert outcome.kind in ("ok", "clean"), outcome.message
        if outcome.kind == "clean":
            assert "\n" not in outcome.message and outcome.message

    case()


def test_the_harness_tells_clean_errors_from_failures(tmp_path):
    from translator.ir import ProgramError

    def make(fail):
        return Target("t", lambda rng, folder: fail)

    def clean():
        raise ProgramError("x.json: field 'y' is wrong")

    def several_lines():
        raise ProgramError("x.json: line one\nline two")

    def bug():
        raise KeyError("nodes")

    assert run_case(make(lambda: None), random.Random(0), tmp_path) == Outcome("ok", "", [])
    assert run_case(make(clean), random.Random(0), tmp_path).kind == "clean"
    assert run_case(make(several_lines), random.Random(0), tmp_path).kind == "failure"
    out = run_case(make(bug), random.Random(0), tmp_path)
    assert out.kind == "failure" and out.message.startswith("KeyError: 'nodes'")


def test_mutations_change_copies_and_reach_every_kind_of_value():
    data = {"a": [1, 2, {"b": "c"}], "d": 0.5}
    seen = set()
    for seed in range(200):
        m = mutate_json(data, random.Random(seed), 2)
        seen.update(type(v).__name__ for v in _leaves(m))
    assert data == {"a": [1, 2, {"b": "c"}], "d": 0.5}  # the original is left alone
    assert {"float", "int", "str", "NoneType", "bool"} <= seen
    assert any(isinstance(v, float) and math.isnan(v) for v in HOSTILE_VALUES)  # NaN is among the hostile values


def _leaves(x):
    if isinstance(x, dict):
        for v in x.values():
            yield from _leaves(v)
    elif isinstance(x, list):
        for v in x:
            yield from _leaves(v)
    else:
        yield x
