"""Running one job of a handler: its cancel flag, its progress bar and its error messages."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Callable, Optional

from core.progress import ProgressFn
from ui.errors import user_errors
from ui.session import JOB, session_id
from ui.studio import Studio


def core_progress(progress: Any) -> Optional[ProgressFn]:
    """Adapt a ``gr.Progress`` to the core's ``progress(fraction, message)`` callback."""
    if progress is None:
        return None

    def report(fraction: float, message: str) -> None:
        progress(fraction, desc=message)

    return report


@contextmanager
def studio_job(
    studio: Studio, action: str, scope: str, request: Any, kind: str = JOB
) -> Iterator[Callable[[], bool]]:
    """Run a handler body as a job (of ``kind``: ``"build"``, ``"generate"`` …) of the request's
    session and ``scope`` (a tab); yields the ``cancel`` callback for the core. Failures become
    ``gr.Error`` titled after ``action``."""
    with user_errors(action), studio.cancels.running(session_id(request), scope, kind) as cancel:
        yield cancel
