"""The add-on's runtime state, shared by the worker threads and the main thread: the jobs this session
follows, the event queue from the workers to the pump, the backend's last health answer and the program
list. Plain Python (no bpy): workers only put events on :data:`EVENTS`; everything else here is read and
written on the main thread."""

from __future__ import annotations

import itertools
import queue
import threading
from dataclasses import dataclass, field
from typing import Any

__all__ = ["EVENTS", "HEALTH", "JOBS", "PROGRAMS", "TERMINAL", "Health", "Job", "ProgramList", "reset"]

TERMINAL = ("succeeded", "failed", "cancelled", "interrupted")
"""The service's final job states."""


@dataclass
class Health:
    state: str = "unknown"
    """unknown, checking, ok or error."""
    text: str = "Not checked yet"
    version: str = ""
    devices: list[str] = field(default_factory=list)
    queue: int = 0
    url: str = ""
    checked: float = 0.0
    """time.monotonic() of the last answer (0: none yet)."""


@dataclass
class ProgramList:
    programs: list[dict] = field(default_factory=list)
    error: str = ""
    loading: bool = False
    url: str = ""

    def get(self, program_id: str) -> dict | None:
        return next((p for p in self.programs if p.get("id") == program_id or p.get("name") == program_id), None)


_counter = itertools.count(1)


@dataclass
class Job:
    """One job this Blender session submitted and follows until its result is applied or it ends."""

    kind: str
    """``reconstruct`` or ``refine``."""
    label: str
    """What the job is for (the scan object's name or the scan file's name); names the result object."""
    scene: str
    program: str
    """Library name, or the name of the object whose program was uploaded."""
    program_kind: str
    """``LIBRARY`` or ``UPLOAD``."""
    scan: str = ""
    """The scan object's name ('' for a file)."""
    scan_path: str = ""
    instance_id: int = 1
    source: str = ""
    """UPLOAD: the object whose modifier is the program (the result is a copy of it)."""
    target: str = ""
    """refine: the result object the job updates."""
    options: dict = field(default_factory=dict)
    key: str = field(default_factory=lambda: f"j{next(_counter)}")
    state: str = "submitting"
    """submitting, queued, running, then applied, failed, cancelled or interrupted (see ``done``)."""
    remote_id: str = ""
    program_id: str = ""
    """The service's id of the program (library name or content hash)."""
    fraction: float = 0.0
    best_objective: float | None = None
    elapsed: float = 0.0
    phase: str = ""
    error: str = ""
    message: str = ""
    preview: str = ""
    """Name of the preview object showing the best candidate so far ('' while there is none)."""
    preview_ids: set[int] = field(default_factory=set)
    """Session ids of the data-blocks the preview brought in (removed when the job fails)."""
    program_blend: str = ""
    """Local path of the library program's .blend ('' while unknown)."""
    program_object: str = ""
    """The object of that .blend carrying the program (the service's ``Program.object``; '' while unknown)."""
    result_object: str = ""
    report_path: str = ""
    done: bool = False
    """The pump has handled the job's end (applied its result, or discarded its preview)."""
    quiet: bool = False
    """An operator waits for the job and reports its failure itself (no status-bar report from the pump)."""
    cancel: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.done and self.state == "applied"


EVENTS: queue.Queue[tuple[str, str, Any]] = queue.Queue()
"""(job key or '' for session-wide events, kind, payload), put by workers, drained by ``jobs.pump``."""
JOBS: dict[str, Job] = {}
HEALTH = Health()
PROGRAMS = ProgramList()
LAST_ERROR = ""
"""The last failure an operator reported (shown in the panel until the next job starts)."""


def reset() -> None:
    """Forget everything (unregister): stop the workers and drop queued events."""
    for job in JOBS.values():
        job.stop.set()
    for job in JOBS.values():
        if job.thread is not None and job.thread.is_alive():
            job.thread.join(timeout=2.0)
    JOBS.clear()
    while True:
        try:
            EVENTS.get_nowait()
        except queue.Empty:
            break
    HEALTH.__init__()
    PROGRAMS.__init__()
    global LAST_ERROR
    LAST_ERROR = ""
