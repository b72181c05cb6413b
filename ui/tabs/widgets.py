"""Input widgets that hand our handlers the value as sent, so our validation speaks first.

Gradio's own preprocessing runs before any handler: ``gr.Image`` opens every upload with PIL
(a text file, a 0-byte file or a decompression bomb fails there with Gradio's generic "error"
text), ``gr.Number`` compares and rounds (``NaN`` with ``precision=0`` fails with "Cannot
convert float NaN to integer", ``"abc"`` with a ``TypeError``), ``gr.Slider`` checks its
bounds and ``gr.ImageEditor`` checks its payload's structure with pydantic, then opens every
layer. These subclasses keep the browser side of their parents (``is_template``) and pass the
upload's path or the raw value on, to be checked by ``core.media``, ``core.validation`` and
``ui.handlers.inputs``, whose messages name the file or field and say what to do.
"""

from __future__ import annotations

from typing import Any, Optional

import gradio as gr
from gradio.components.image_editor import EditorData
from gradio.data_classes import FileData
from gradio.processing_utils import save_bytes_to_cache
from pydantic import ValidationError

from ui.handlers.inputs import UNVERIFIED_FILE


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


class MaskEditor(gr.ImageEditor):
    """A ``gr.ImageEditor`` whose handlers get ``{"background", "layers", "composite"}`` with
    every image as a file path, undecoded — or, when the payload is not an editor value at all
    (an API client sending text, a number, layers that are not files), that payload as sent.

    The browser sends its canvas as PNG blobs (``accept_blobs``), written here to Gradio's cache
    as they are; an API client sends uploaded files, passed on by path.
    """

    is_template = True
    data_model = None  # no pydantic check before preprocess: a malformed payload reaches our handler

    def api_info(self) -> dict[str, Any]:
        """The parent's schema (``EditorData``), for the API page and ``gradio_client``."""
        schema = EditorData.model_json_schema()
        schema["additional_description"] = schema.pop("description", None)
        return schema

    def preprocess(self, payload: Any) -> Any:
        if payload is None:
            return None
        try:
            data = EditorData.model_validate(payload, context={"validate_meta": True})
        except ValidationError:
            return _without_file_names(payload)
        if data.id is None:
            return {
                "background": self._path(data.background),
                "layers": [self._path(layer) for layer in data.layers],
                "composite": self._path(data.composite),
            }
        blobs = self.blob_storage.pop(data.id, None)
        if blobs is None:
            return {"background": None, "layers": [], "composite": None}
        return {
            "background": self._path(blobs.background, "background.png"),
            "layers": [self._path(layer, f"layer_{index}.png") for index, layer in enumerate(blobs.layers)],
            "composite": self._path(blobs.composite, "composite.png"),
        }

    def _path(self, image: Any, name: str = "image.png") -> Optional[str]:
        """A file's path (``FileData``) or the bytes of a blob written to the cache as ``name``."""
        if image is None:
            return None
        if isinstance(image, FileData):
            return str(image.path)
        return save_bytes_to_cache(bytes(image), name, self.GRADIO_CACHE)


def _without_file_names(payload: Any) -> Any:
    """A malformed editor value with every layer that names a file (a path, a dict) replaced by
    :data:`ui.handlers.inputs.UNVERIFIED_FILE`, and no background or composite.

    Gradio checks a well-formed file value against its upload folder before ``preprocess``;
    a malformed one is not checked, so a file name in it may point anywhere on the server and
    must not be opened. Its shape is kept for the handler's message."""
    if not isinstance(payload, dict):
        return payload
    layers = payload.get("layers")
    if isinstance(layers, (list, tuple)):
        layers = [UNVERIFIED_FILE if isinstance(layer, (str, dict)) else layer for layer in layers]
    return {"background": None, "layers": layers, "composite": None}
