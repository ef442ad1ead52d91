"""The job store: one SQLite database (``jobs.sqlite`` in the data dir, WAL journal) with a row per job.

Every state change is committed before it is reported, so a server killed with SIGKILL loses nothing
that had finished; :meth:`JobStore.recover` (at start) marks the jobs that were running
``interrupted`` and returns the queued ones to run again. One connection is shared by the server's
threads behind a lock (statements take well under a millisecond)."""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..jobs.spec import STATES

__all__ = ["JobStore", "now"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL,
    label TEXT NOT NULL DEFAULT '',
    program TEXT NOT NULL,
    created TEXT NOT NULL,
    started TEXT,
    finished TEXT,
    progress TEXT,
    error TEXT,
    files TEXT NOT NULL DEFAULT '[]',
    options TEXT NOT NULL DEFAULT '{}',
    spec TEXT NOT NULL DEFAULT '{}',
    retry_of TEXT
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state);
"""
_JSON = ("progress", "files", "options", "spec")
_COLUMNS = ("id", "state", "label", "program", "created", "started", "finished", "progress", "error", "files", "options",
            "spec", "retry_of")


def now() -> str:
    """The current time as an ISO 8601 UTC string."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JobStore:
    """Jobs in SQLite: :meth:`add`, :meth:`get`, :meth:`list`, :meth:`update`, :meth:`delete`,
    :meth:`recover`. Rows are returned as dicts with their JSON columns decoded."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=10)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # durable across a process crash (not a power cut)
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @staticmethod
    def _row(cur: sqlite3.Cursor, row: tuple) -> dict[str, Any]:
        d = {c[0]: v for c, v in zip(cur.description, row, strict=True)}
        for k in _JSON:
            if k in d and d[k] is not None:
                d[k] = json.loads(d[k])
        return d

    def add(self, job: dict[str, Any]) -> dict[str, Any]:
        """Insert a job (``id``, ``state``, ``program``, ``created`` required)."""
        row = {k: job.get(k) for k in _COLUMNS}
        row.setdefault("files", [])
        for k in _JSON:
            if row[k] is not None:
                row[k] = json.dumps(row[k])
        row["files"] = row["files"] or "[]"
        row["options"] = row["options"] or "{}"
        row["spec"] = row["spec"] or "{}"
        row["label"] = row["label"] or ""
        with self._lock:
            self._db.execute(f"INSERT INTO jobs ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
                             [row[k] for k in _COLUMNS])
        return self.get(job["id"])

    def get(self, job_id: str) -> dict[str, Any] | None:
        with self._lock:
            cur = self._db.execute(f"SELECT {', '.join(_COLUMNS)} FROM jobs WHERE id = ?", (job_id,))
            row = cur.fetchone()
            return None if row is None else self._row(cur, row)

    def list(self, state: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """Jobs newest first, optionally of one state."""
        sql = f"SELECT {', '.join(_COLUMNS)} FROM jobs" + (" WHERE state = ?" if state else "") + " ORDER BY seq DESC"
        args: list[Any] = [state] if state else []
        if limit:
            sql += " LIMIT ?"
            args.append(int(limit))
        with self._lock:
            cur = self._db.execute(sql, args)
            return [self._row(cur, r) for r in cur.fetchall()]

    def count(self, state: str) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM jobs WHERE state = ?", (state,)).fetchone()[0])

    def update(self, job_id: str, *, only_if: tuple[str, ...] | None = None, **fields: Any) -> bool:
        """Set columns of a job (JSON columns given as data); ``only_if``: only while its state is one of
        these. Returns whether a row changed."""
        if "state" in fields and fields["state"] not in STATES:
            raise ValueError(f"unknown state {fields['state']!r}")
        bad = set(fields) - set(_COLUMNS)
        if bad:
            raise ValueError(f"unknown column(s) {sorted(bad)}")
        values = [json.dumps(v) if k in _JSON and v is not None else v for k, v in fields.items()]
        sql = f"UPDATE jobs SET {', '.join(f'{k} = ?' for k in fields)} WHERE id = ?"
        args = [*values, job_id]
        if only_if:
            sql += f" AND state IN ({', '.join('?' * len(only_if))})"
            args += list(only_if)
        with self._lock:
            return self._db.execute(sql, args).rowcount > 0

    def delete(self, job_id: str) -> bool:
        with self._lock:
            return self._db.execute("DELETE FROM jobs WHERE id = ?", (job_id,)).rowcount > 0

    def recover(self) -> tuple[list[str], list[dict[str, Any]]]:
        """At start: mark the jobs that were running ``interrupted`` (returns their ids) and return the queued
        jobs, oldest first, to run again."""
        with self._lock:
            ids = [r[0] for r in self._db.execute("SELECT id FROM jobs WHERE state = 'running'").fetchall()]
            self._db.execute("UPDATE jobs SET state = 'interrupted', finished = ?, "
                             "error = 'the server stopped while the job ran (retry runs it again)' "
                             "WHERE state = 'running'", (now(),))
            cur = self._db.execute(f"SELECT {', '.join(_COLUMNS)} FROM jobs WHERE state = 'queued' ORDER BY seq")
            queued = [self._row(cur, r) for r in cur.fetchall()]
        return ids, queued
