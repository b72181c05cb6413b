"""Input widgets that hand our handlers the value as sent, so our validation speaks first.

Gradio's own preprocessing runs before any handler: ``gr.Image`` opens every upload with PIL
(a text file, a 0-byte file or a decompression bomb fails there with Gradio's generic "error"
text), ``gr.Number`` compares and rounds (``NaN`` with ``precision=0`` fails with "Cannot
convert float NaN to integer", ``"abc"`` with a ``TypeError``) and ``gr.Slider`` checks its
bounds. These subclasses keep the browser side of their parents (``is_template``) and pass the
upload's path or the raw number on, to be checked by ``core.media`` and ``core.validation``,
whose messages name the file or field and say what to do.
"""

from __future__ import annotations

from typing import Any, Optional

import gradio as gr


class ImageFile(gr.Image):
    """A ``gr.Image`` whose handlers get the uploaded file's path, undecoded (create it with
    ``type="filepath"``; no ``__init__`` of its own, since Gradio sends the browser the
    parameters of the class's own constructor)."""

    is_template = True

    def preprocess(self, payload: Any) -> Optional[str]:
        if payload is None:
            return None
        path = getattr(payload, "path", None)
        if path is None or (getattr(payload, "url", None) or "").startswith("data:"):
            return super().preprocess(payload)  # a pasted data URL: Gradio writes it to a file
        return str(path)


class RawNumber(gr.Number):
    """A ``gr.Number`` whose handlers get what was sent (a number, text, ``None``, ``NaN``)."""

    is_template = True

    def preprocess(self, payload: Any) -> Any:
        return payload


class RawSlider(gr.Slider):
    """A ``gr.Slider`` whose handlers get what was sent (bounds are checked by our handlers)."""

    is_template = True

    def preprocess(self, payload: Any) -> Any:
        return payload
