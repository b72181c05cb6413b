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
from typing import Callable, Optional

LOCAL_SESSION = "local"
"""Session id of calls made without a browser request (Python, tests)."""


def session_id(request: object | None) -> str:
    """The session hash of a ``gr.Request`` (or :data:`LOCAL_SESSION` without one)."""
    return str(getattr(request, "session_hash", None) or LOCAL_SESSION)


PENDING_CANCEL_WINDOW_S = 3.0
"""How long a Cancel that found nothing running still applies to a job of that session and tab
starting afterwards. Gradio's ``cancels=`` drops jobs still waiting in the queue, but a job
dequeued a moment before the click has not registered its flag yet; it starts within
milliseconds, so a short window catches it without cancelling a generation the user starts
deliberately later."""


class CancelRegistry:
    """Cancellation flags of the jobs now running, by ``(session, scope)``; thread-safe.

    A cancel that finds no running job of its session and scope is remembered for
    :data:`PENDING_CANCEL_WINDOW_S`: a job of that session and scope registering in that window
    starts cancelled (it stops at its first check, before any heavy work).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._flags: dict[tuple[str, str], set[threading.Event]] = {}
        self._pending: dict[tuple[str, Optional[str]], float] = {}
        self._clock = clock

    def _take_pending(self, session: str, scope: str) -> bool:
        """Whether a recent cancel applies to a job starting now (consumes it); lock held."""
        now = self._clock()
        self._pending = {key: deadline for key, deadline in self._pending.items() if deadline >= now}
        hit = False
        for key in ((session, scope), (session, None)):
            if key in self._pending:
                del self._pending[key]
                hit = True
        return hit

    @contextmanager
    def running(self, session: str, scope: str) -> Iterator[Callable[[], bool]]:
        """Register a job for its lifetime; yields its ``cancel`` callback."""
        flag = threading.Event()
        key = (session, scope)
        with self._lock:
            self._flags.setdefault(key, set()).add(flag)
            if self._take_pending(session, scope):
                flag.set()
        try:
            yield flag.is_set
        finally:
            with self._lock:
                flags = self._flags.get(key)
                if flags is not None:
                    flags.discard(flag)
                    if not flags:
                        del self._flags[key]

    def cancel(self, session: str, scope: Optional[str] = None) -> int:
        """Ask the session's running jobs (of ``scope`` only, when given) to stop; returns how
        many were running. With none running, a job starting within
        :data:`PENDING_CANCEL_WINDOW_S` is cancelled instead."""
        with self._lock:
            flags = [
                flag
                for (flag_session, flag_scope), group in self._flags.items()
                if flag_session == session and (scope is None or flag_scope == scope)
                for flag in group
            ]
            if not flags:
                self._pending[(session, scope)] = self._clock() + PENDING_CANCEL_WINDOW_S
        for flag in flags:
            flag.set()
        return len(flags)

    def running_count(self, session: Optional[str] = None) -> int:
        """How many jobs are registered (of ``session`` only, when given)."""
        with self._lock:
            return sum(len(group) for (flag_session, _), group in self._flags.items() if session in (None, flag_session))
