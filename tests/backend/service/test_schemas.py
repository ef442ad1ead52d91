"""Request bodies: validation errors are one line naming the field."""

from __future__ import annotations

import pytest


def test_validation_errors_are_one_line_naming_the_field():
    from pydantic import ValidationError

    from backend.service.schemas import JobRequest, one_line_error

    def err(payload):
        with pytest.raises(ValidationError) as e:
            JobRequest.model_validate(payload)
        return one_line_error(e.value.errors())

    assert err({"program": "chair", "options": {"budget": 0}}).startswith("options.budget: Input should be greater")
    assert err({"program": "chair", "scan": {"ply": ""}}).startswith("scan.ply: ")
    assert err({"program": "chair", "scan": {"nope": 1}}).startswith("scan: give the scan as an object")
    assert err({"program": "chair", "options": {"init_pose": [[1, 0], [0, 1]]}}).startswith("options.init_pose: expected a 4x4")
    assert err({"program": "chair", "options": {"budget": float("nan")}}).startswith("options.budget:")
    assert err({"scan": {"ply": "x"}}).startswith("program: Field required")
    assert JobRequest.model_validate({"program": "chair", "scan": {"points": [[0, 0, 0]]}}).scan.points == [(0, 0, 0)]
