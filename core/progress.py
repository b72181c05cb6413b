"""Progress reporting and cooperative cancellation shared by trackers, recipes and the engine.

Long-running functions take two optional keyword arguments:

- ``progress``: a :data:`ProgressFn` called as ``progress(fraction, message)`` with
  ``fraction`` in [0, 1];
- ``cancel``: a :data:`CancelFn` returning ``True`` once the user asked to stop; the
  function then raises :class:`Cancelled` at its next checkpoint (between frames, between
  denoising steps).
"""

from __future__ import annotations

from typing import Callable, Optional

ProgressFn = Callable[[float, str], None]
CancelFn = Callable[[], bool]


class Cancelled(RuntimeError):
    """Raised when a long-running operation stops because its ``cancel`` callback said so."""


def report(progress: Optional[ProgressFn], fraction: float, message: str) -> None:
    """Call ``progress`` if given, clamping ``fraction`` to [0, 1]."""
    if progress is not None:
        progress(min(max(float(fraction), 0.0), 1.0), message)


def check_cancel(cancel: Optional[CancelFn], what: str = "operation") -> None:
    """Raise :class:`Cancelled` if ``cancel`` is given and returns ``True``."""
    if cancel is not None and cancel():
        raise Cancelled(f"{what} cancelled")


def scaled(progress: Optional[ProgressFn], start: float, end: float) -> Optional[ProgressFn]:
    """Map a sub-task's [0, 1] progress into ``[start, end]`` of the parent's progress."""
    if progress is None:
        return None

    def _sub(fraction: float, message: str) -> None:
        report(progress, start + (end - start) * fraction, message)

    return _sub
