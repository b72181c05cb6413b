"""What the input widgets hold, checked: uploads, the source selector, the seed, the object mask."""

from __future__ import annotations

import hashlib
from typing import Any, Optional

import gradio as gr
import numpy as np

from core import validation
from core.defaults import DEFAULT_RESIZE_MODE
from ui.errors import user_error, user_errors
from ui.studio import Studio

SOURCE_IMAGE = "image"
SOURCE_VIDEO = "video"
SOURCE_MODES = (SOURCE_IMAGE, SOURCE_VIDEO)

NO_SIZE_LIMIT = 2**62
"""The byte limit checked when the studio has none."""


def path_of(value: Any) -> Optional[str]:
    """A file path from what a Gradio file/image/video widget gives (path, dict or ``None``)."""
    if value is None:
        return None
    if isinstance(value, dict):  # FileData-like dicts from API clients
        value = value.get("path") or value.get("name") or value.get("video")
        if isinstance(value, dict):
            value = value.get("path")
    if isinstance(value, (list, tuple)):  # a multi-file widget: take the first
        value = value[0] if value else None
    if value is None or str(value).strip() == "":
        return None
    return str(value)


def checked_upload(studio: Studio, value: Any, what: str, *, required: bool = True) -> Optional[str]:
    """The uploaded file's path after checking it exists, is not empty and not too large.

    Raises:
        gr.Error: nothing uploaded (when ``required``).
        MediaError: empty or too large (turned into a message by :func:`ui.errors.user_errors`).
    """
    from core.media import check_file_size

    path = path_of(value)
    if path is None:
        if required:
            raise user_error(f"No {what} yet: upload one (or click one of the examples) first.", title="Missing input")
        return None
    limit = studio.options.max_file_bytes
    check_file_size(path, limit if limit else NO_SIZE_LIMIT)
    return path


def source_path(studio: Studio, source_mode: Any, image: Any, video: Any) -> str:
    """The image or video to start from, following the source selector."""
    if source_mode == SOURCE_VIDEO:
        return checked_upload(studio, video, "source video")
    if source_mode == SOURCE_IMAGE:
        return checked_upload(studio, image, "source image")
    raise user_error(f"Unknown source {source_mode!r}: choose 'image' or 'video'.")


def seed_value(seed: Any) -> int:
    """The seed box's value as an int: -1 (or blank) = random, else 0 … 2^63 − 1, the range the
    engine takes (``core.validation.seed``; text such as ``"abc"`` or NaN gets its message)."""
    return validation.seed(seed, blank_means_random=True)


# --------------------------------------------------------------------------------------------
# The object mask
# --------------------------------------------------------------------------------------------


MASK_EDITOR_API_HELP = (
    "From the API, send the editor value as {\"background\": null, \"layers\": [a PNG file of the "
    "first frame's size, opaque where the object is], \"composite\": null}, or send a mask image as "
    "mask_upload instead."
)
MASK_EDITOR_FIX = "Paint over the object in the mask editor again, or upload a mask image (white = object)."


class UnverifiedFile:
    """Stands in for a file an API client named in a malformed mask-editor value: Gradio checks
    only well-formed file values against its upload folder, so such a name is never opened."""

    def __repr__(self) -> str:
        return "UnverifiedFile()"


UNVERIFIED_FILE = UnverifiedFile()


def _malformed_editor(problem: str) -> Exception:
    return user_error(f"{problem}. {MASK_EDITOR_FIX} {MASK_EDITOR_API_HELP}", title="Unreadable mask")


def mask_from_inputs(studio: Studio, mask_editor: Any, mask_upload: Any) -> Any:
    """The object mask the user gave: an uploaded mask wins over the painted one.

    Args:
        mask_editor: the mask editor's value (``{"background", "layers", "composite"}``, see
            :class:`ui.tabs.widgets.MaskEditor`); its single paint layer (RGBA, painted =
            opaque; a file path, an API client's FileData or an array) is the mask.
        mask_upload: path of an uploaded mask image (white = object), or ``None``.

    Returns:
        The uploaded mask's path, or the painted mask as ``(H, W)`` bool at the working size
        (both for ``core.tasks.load_mask``).

    Raises:
        gr.Error: neither was given, or the editor's value is malformed, unreadable or not of
            the first frame's size (see :func:`painted_mask`).
    """
    upload = checked_upload(studio, mask_upload, "mask image", required=False)
    if upload is not None:
        return upload
    layer = paint_layer(mask_editor)
    if layer is not None:
        return painted_mask(studio, layer)
    raise user_error(
        "No object mask: paint over the object in the mask editor (use the brush), or upload a mask "
        "image (white = object, black = background).",
        title="Missing mask",
    )


def paint_layer(mask_editor: Any) -> Any:
    """The mask editor value's paint layer (a path, an API client's FileData or an array), or
    ``None`` when nothing is painted.

    Raises:
        gr.Error: the value is not an editor value (not a dict, ``layers`` not a list, a layer
            that is not an image file), with what to send instead.
    """
    if mask_editor is None:
        return None
    if not isinstance(mask_editor, dict):
        raise _malformed_editor(f"The mask editor's value is {type(mask_editor).__name__}, not an image-editor value")
    layers = mask_editor.get("layers")
    if layers is None:
        return None
    if not isinstance(layers, (list, tuple)):
        raise _malformed_editor(f"The mask editor's layers are {type(layers).__name__}, not a list of images")
    for number, layer in enumerate(layers, start=1):
        if isinstance(layer, UnverifiedFile):
            raise _malformed_editor(
                f"Layer {number} of the mask editor is not a file uploaded to the studio (send it with "
                "gradio_client's handle_file)"
            )
        if layer is not None and not isinstance(layer, (str, dict, np.ndarray)):
            raise _malformed_editor(f"Layer {number} of the mask editor is {type(layer).__name__}, not an image file")
        if isinstance(layer, (str, dict)) and path_of(layer) is None:
            raise _malformed_editor(f"Layer {number} of the mask editor names no file")
    painted = [layer for layer in layers if layer is not None]
    return painted[0] if painted else None


def painted_mask(studio: Studio, layer: Any) -> np.ndarray:
    """The paint ``layer`` (a file or an ``(H, W[, C])`` array) as ``(H, W)`` bool, read by
    ``core.tasks.load_mask``; it must be at the working size, like the first frame it is
    painted on.

    Raises:
        gr.Error: the file is not a readable image, or the layer has another size.
        ObjectMotionError: nothing painted (turned into a message by :func:`ui.errors.user_errors`).
    """
    from core.media import MediaError, load_image
    from core.tasks import load_mask

    _, height, width = studio.working_size()
    if not isinstance(layer, np.ndarray):
        path = checked_upload(studio, layer, "painted mask")
        try:
            load_image(path, height, width, resize_mode="stretch")  # the image checks of every upload
        except MediaError as error:
            raise _malformed_editor(f"The painted mask could not be read: {error}") from error
        layer = path
    selected, resized_from = load_mask(layer, height, width, resize_mode="stretch")
    if resized_from is not None:
        raise _malformed_editor(
            f"The painted mask is {resized_from[1]}×{resized_from[0]} px but the first frame is {width}×{height}"
        )
    return selected


def painted_mask_digest(mask_editor: Any) -> Optional[str]:
    """A fingerprint of the mask painted in the editor, as a build reads it
    (:func:`core.object_motion.mask_to_bool` of the paint layer): SHA-1 of the selected pixels
    and the layer size, or ``None`` when nothing is painted.

    It tells a user's edit from the app reloading the editor's background, which Gradio also
    reports as an input. A value a build cannot read gets a fingerprint of its own
    (``unreadable:…``), so that computing it never fails: the build says what is wrong.
    """
    from core.errors import UserError
    from core.object_motion import mask_to_bool
    from PIL import Image

    try:
        layer = paint_layer(mask_editor)
        if isinstance(layer, (str, dict)):
            with Image.open(path_of(layer)) as opened:
                layer = np.asarray(opened.convert("RGBA"))
        if layer is None:
            return None
        selected = mask_to_bool(np.asarray(layer))
    except (gr.Error, UserError, OSError, ValueError, Image.DecompressionBombError) as error:
        return f"unreadable:{type(error).__name__}:{hashlib.sha1(repr(mask_editor).encode()).hexdigest()}"
    if not selected.any():
        return None
    digest = hashlib.sha1(np.packbits(selected).tobytes())
    digest.update(str(selected.shape).encode())
    return digest.hexdigest()


MASK_OVERLAY_RGBA = (255, 59, 48, 191)
"""How an uploaded mask is shown over the first frame: the brush's red at 75 % opacity."""


def mask_editor_frame(
    studio: Studio, source_mode: str, image: Any, video: Any, resize_mode: str = DEFAULT_RESIZE_MODE,
    start_s: Any = 0.0, mask_upload: Any = None,
) -> Any:
    """The first frame at the working size, as the mask editor's background (``None`` = no
    source); with an uploaded mask, the frame with that mask drawn over it in red, so the user
    sees which pixels it selects. The mask goes into the background, not the paint layer: the
    editor does not show layers it is given (``layers=False``), and the paint layer stays the
    user's own strokes (an uploaded mask wins over them anyway)."""
    from core.media import load_media

    if path_of(image if source_mode == SOURCE_IMAGE else video) is None:
        return None
    with user_errors("Loading the first frame"):
        source = source_path(studio, source_mode, image, video)
        _, height, width = studio.working_size()
        start = 0.0 if start_s in (None, "") else validation.start_time(start_s)
        frame = load_media(source, 1, height, width, resize_mode=resize_mode, start_s=start).frames[0]
        mask = checked_upload(studio, mask_upload, "mask image", required=False)
        if mask is None:
            return frame
        return with_mask_overlay(frame, mask, resize_mode)


def with_mask_overlay(frame: np.ndarray, path: str, resize_mode: str = DEFAULT_RESIZE_MODE) -> np.ndarray:
    """``frame`` ``(H, W, 3)`` uint8 with :data:`MASK_OVERLAY_RGBA` blended in where the mask
    image at ``path`` selects (as ``core.tasks.load_mask`` reads it at the frame's size)."""
    from core.tasks import load_mask

    height, width = frame.shape[:2]
    selected, _ = load_mask(path, height, width, resize_mode=resize_mode)
    selected = np.asarray(selected, dtype=bool)
    colour, alpha = np.asarray(MASK_OVERLAY_RGBA[:3], dtype=np.float32), MASK_OVERLAY_RGBA[3] / 255.0
    shown = np.asarray(frame[..., :3], dtype=np.float32).copy()
    shown[selected] = (1.0 - alpha) * shown[selected] + alpha * colour
    return np.round(shown).astype(np.uint8)
