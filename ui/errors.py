"""Turning failures into messages a user can act on.

Every user mistake the core can detect raises a :class:`core.errors.UserError` subclass whose
message says what to do (``CameraMotionError``, ``ObjectMotionError``, ``MediaError``,
``MeshError``, ``TaskInputError``, ``CheckpointError``, ``GenerationInputError``,
``RepaintError`` ...). The handlers run inside :func:`user_errors`, which turns those into
``gr.Error`` toasts, turns a cancellation into a short notice, and turns anything else — a
``ValueError`` from numpy included — into a generic message while the traceback goes to the
server log, never into the page.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Optional

import gradio as gr

from core.errors import UserError
from core.progress import Cancelled

logger = logging.getLogger(__name__)

ERROR_TOAST_SECONDS = 20
"""User-error toasts stay this long: the messages are instructions, give people time to read."""


_STARTS_WITH_FILE_NAME = re.compile(r"^[^\s/\\]*[./\\]\S")
"""A message opening with a file or path name ("broken.obj: …", "f1.ply …"): keep its case."""


def friendly(error: BaseException) -> str:
    """The exception's message as a sentence: first letter capitalised (unless it is a file
    name, whose case matters), no trailing blanks, and safe to show as HTML (Gradio renders
    toasts as HTML, which would swallow placeholders such as ``<dz>``)."""
    text = str(error).strip() or type(error).__name__
    if not _STARTS_WITH_FILE_NAME.match(text):
        text = text[0].upper() + text[1:]
    return html.escape(text, quote=False)


def user_error(message: str, *, title: Optional[str] = None) -> gr.Error:
    """A ``gr.Error`` for a user mistake: the message is the fix, shown long enough to read,
    escaped for the HTML toast, and kept out of the server log's tracebacks."""
    options = {} if title is None else {"title": title}
    return gr.Error(
        html.escape(message, quote=False), duration=ERROR_TOAST_SECONDS, print_exception=False, **options
    )


@contextmanager
def user_errors(action: str) -> Iterator[None]:
    """Run a handler body, reporting failures as ``gr.Error`` (titled after ``action``).

    Args:
        action: what the user asked for, e.g. ``"Building the tracking video"``.

    Raises:
        gr.Error: always, when the body failed: the core's message for a user mistake,
            "cancelled" for a cancellation, a generic message for anything else (a bug).
    """
    try:
        yield
    except gr.Error:
        raise
    except Cancelled as error:
        raise gr.Error(f"{action} was cancelled; nothing was written.", title="Cancelled", print_exception=False) from error
    except UserError as error:
        # A user mistake: the message is the fix.
        logger.info("%s refused: %s", action, error)
        raise gr.Error(friendly(error), title=f"{action} failed", duration=ERROR_TOAST_SECONDS, print_exception=False) from error
    except MemoryError as error:
        logger.exception("%s ran out of memory", action)
        raise gr.Error(
            "The server ran out of memory. Try a shorter or smaller input, or start the studio with --offload model.",
            title=f"{action} failed",
        ) from error
    except Exception as error:  # noqa: BLE001 - the UI boundary: log the traceback, show a message
        logger.exception("%s failed unexpectedly", action)
        raise gr.Error(
            f"{action} failed unexpectedly ({type(error).__name__}). The details are in the server log; "
            "please try again, and report it if it keeps happening.",
            title=f"{action} failed",
            print_exception=False,
        ) from error
