"""Per-session cancellation of running jobs.

A running build or generation registers a fresh flag under ``(session, scope)`` — the browser
session (``gr.Request.session_hash``) and the tab — and passes the flag's ``is_set`` to the core
as its ``cancel`` callback; the core polls it between frames and between denoising steps. The
Cancel button sets every flag of its session and tab, so a generation stops within one step
while other users' jobs (and other tabs of the same user) carry on. Gradio's ``cancels=``
additionally drops the tab's jobs that are still waiting in the queue.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Optional

LOCAL_SESSION = "local"
"""Session id of calls made without a browser request (Python, tests)."""


def session_id(request: object | None) -> str:
    """The session hash of a ``gr.Request`` (or :data:`LOCAL_SESSION` without one)."""
    return str(getattr(request, "session_hash", None) or LOCAL_SESSION)


JOB = "job"
"""Kind of a registered job when the caller names none."""


@dataclass(frozen=True)
class CancelledJobs:
    """The running jobs a Cancel reached: their kinds (``"build"``, ``"generate"`` …) and a way
    to wait until they have stopped."""

    kinds: tuple[str, ...]
    _finished: tuple[threading.Event, ...] = ()

    def __len__(self) -> int:
        return len(self.kinds)

    def wait(self, timeout_s: float) -> bool:
        """Block until every reached job has stopped (or ``timeout_s`` passed); whether they did."""
        deadline = time.monotonic() + timeout_s
        return all(done.wait(max(0.0, deadline - time.monotonic())) for done in self._finished)


@dataclass(frozen=True)
class _Job:
    cancel: threading.Event
    finished: threading.Event
    kind: str


class CancelRegistry:
    """Cancellation flags of the jobs now running, by ``(session, scope)``; thread-safe.

    A Cancel reaches only jobs already running: one that finds nothing cancels nothing, now or
    later (jobs still waiting in the queue are dropped by Gradio's ``cancels=``).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[tuple[str, str], set[_Job]] = {}

    @contextmanager
    def running(self, session: str, scope: str, kind: str = JOB) -> Iterator[Callable[[], bool]]:
        """Register a job of ``kind`` for its lifetime; yields its ``cancel`` callback."""
        job = _Job(threading.Event(), threading.Event(), kind)
        key = (session, scope)
        with self._lock:
            self._jobs.setdefault(key, set()).add(job)
        try:
            yield job.cancel.is_set
        finally:
            with self._lock:
                jobs = self._jobs.get(key)
                if jobs is not None:
                    jobs.discard(job)
                    if not jobs:
                        del self._jobs[key]
            job.finished.set()

    def cancel(self, session: str, scope: Optional[str] = None) -> CancelledJobs:
        """Ask the session's running jobs (of ``scope`` only, when given) to stop."""
        with self._lock:
            jobs = [
                job
                for (job_session, job_scope), group in self._jobs.items()
                if job_session == session and (scope is None or job_scope == scope)
                for job in group
            ]
        for job in jobs:
            job.cancel.set()
        return CancelledJobs(tuple(sorted(job.kind for job in jobs)), tuple(job.finished for job in jobs))

    def running_count(self, session: Optional[str] = None) -> int:
        """How many jobs are registered (of ``session`` only, when given)."""
        with self._lock:
            return sum(len(group) for (job_session, _), group in self._jobs.items() if session in (None, job_session))


RETIRED_TTL_S = 24 * 3600
"""A session's record of a failed build is forgotten after this long (its state is gone by then)."""


class BuildLedger:
    """Which ``(session, scope)`` has no valid tracking video on the server's side.

    A build retires its tab's tracking video when it starts and restores it only when it
    succeeds, all inside the build's own event. Generate consults it, so an API caller who
    generates after a failed or cancelled build gets a message instead of the previous
    build's tracking video (the browser's follow-up event that empties the state never runs
    for API calls).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._retired: dict[tuple[str, str], float] = {}
        self._clock = clock

    def retire(self, session: str, scope: str) -> None:
        with self._lock:
            now = self._clock()
            self._retired = {key: since for key, since in self._retired.items() if now - since < RETIRED_TTL_S}
            self._retired[(session, scope)] = now

    def restore(self, session: str, scope: str) -> None:
        with self._lock:
            self._retired.pop((session, scope), None)

    def is_retired(self, session: str, scope: str) -> bool:
        with self._lock:
            return (session, scope) in self._retired
