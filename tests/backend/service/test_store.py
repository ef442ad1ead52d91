"""The SQLite job store recovers after a crash."""

from __future__ import annotations

import pytest


def test_store_recovers_after_a_crash(tmp_path):
    from backend.service.store import JobStore

    store = JobStore(tmp_path / "jobs.sqlite")
    for i, state in enumerate(["succeeded", "running", "queued", "queued"]):
        store.add({"id": f"{i:032x}", "state": state, "program": "chair", "created": "t", "spec": {"id": f"{i:032x}"}})
    assert store.update(f"{0:032x}", files=["result.json"], progress={"fraction": 1.0})
    assert not store.update(f"{0:032x}", state="cancelled", only_if=("queued", "running"))
    store.close()
    store = JobStore(tmp_path / "jobs.sqlite")  # as a restarted server
    interrupted, queued = store.recover()
    assert interrupted == [f"{1:032x}"] and [r["id"] for r in queued] == [f"{2:032x}", f"{3:032x}"]
    assert store.get(f"{1:032x}")["state"] == "interrupted"
    assert store.get(f"{0:032x}")["files"] == ["result.json"] and store.get(f"{0:032x}")["state"] == "succeeded"
    assert [r["id"] for r in store.list()][:2] == [f"{3:032x}", f"{2:032x}"]
    with pytest.raises(ValueError):
        store.update(f"{0:032x}", state="exploded")
