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
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Callable, Optional

LOCAL_SESSION = "local"
"""Session id of calls made without a browser request (Python, tests)."""


def session_id(request: object | None) -> str:
    """The session hash of a ``gr.Request`` (or :data:`LOCAL_SESSION` without one)."""
    return str(getattr(request, "session_hash", None) or LOCAL_SESSION)


class CancelRegistry:
    """Cancellation flags of the jobs now running, by ``(session, scope)``; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flags: dict[tuple[str, str], set[threading.Event]] = {}

    @contextmanager
    def running(self, session: str, scope: str) -> Iterator[Callable[[], bool]]:
        """Register a job for its lifetime; yields its ``cancel`` callback."""
        flag = threading.Event()
        key = (session, scope)
        with self._lock:
            self._flags.setdefault(key, set()).add(flag)
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
        """Ask the session's running jobs (of ``scope`` only, when given) to stop; returns how many."""
        with self._lock:
            flags = [
                flag
                for (flag_session, flag_scope), group in self._flags.items()
                if flag_session == session and (scope is None or flag_scope == scope)
                for flag in group
            ]
        for flag in flags:
            flag.set()
        return len(flags)

    def running_count(self, session: Optional[str] = None) -> int:
        """How many jobs are registered (of ``session`` only, when given)."""
        with self._lock:
            return sum(len(group) for (flag_session, _), group in self._flags.items() if session in (None, flag_session))


CANCELS = CancelRegistry()
"""The process-wide registry used by the handlers."""
