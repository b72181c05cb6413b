"""The one error type for user mistakes.

Every mistake a user can make — a bad camera string, an empty mask, an unreadable file, a
missing checkpoint, a bad batch job — raises a subclass of :class:`UserError` whose message
says what to do. The boundaries (the studio's handlers, the CLI, ``webui.py``) catch
:class:`UserError` alone and show its message. Any other exception is a bug: the boundary
shows a short generic message and logs the traceback.

This module imports nothing heavy, so any layer can raise or catch these errors.
"""

from __future__ import annotations


class UserError(ValueError):
    """A mistake in what the user asked for; ``str(error)`` is the fix, in plain words.

    It subclasses ``ValueError`` because every user mistake is a bad value; boundaries must
    still catch ``UserError`` (never bare ``ValueError``), so that a ``ValueError`` raised
    inside numpy or torch is reported as the bug it is.
    """


class CheckpointError(UserError):
    """A checkpoint folder or Hub id that cannot be used; the message names what is missing
    and how to get it."""
