"""Resizing frames to the working size: centre crop, stretch or letterbox (SPEC §8), with
interpolation chosen for photos or for rendered tracking videos. Re-exported by :mod:`core.media`.
"""

from __future__ import annotations

import cv2
import numpy as np

from core.defaults import RESIZE_MODES
from core.media_checks import MediaError, _check_target_size

# Resize modes (core.defaults.RESIZE_MODES): ``crop`` centre-crops to the target aspect, then
# resizes (default); ``stretch`` resizes ignoring the aspect (what DaS training did); ``pad``
# fits inside and letterboxes with black.

RESIZE_CONTENTS = ("photo", "tracking")
"""What is being resized: camera footage, or a rendered tracking video (see :func:`resize_frames`)."""


def _check_resize_request(mode: str, content: str, height: int, width: int) -> None:
    """Refuse an unknown resize mode or content (MediaError) and a bad working size (a bug)."""
    if mode not in RESIZE_MODES:
        raise MediaError(f"resize mode must be one of {RESIZE_MODES}, got {mode!r}")
    if content not in RESIZE_CONTENTS:
        raise MediaError(f"resize content must be one of {RESIZE_CONTENTS}, got {content!r}")
    _check_target_size(height, width)


def _interpolation(scale_x: float, scale_y: float, content: str) -> int:
    # Area averaging avoids aliasing when shrinking. When enlarging, cubic is sharper for
    # photos, but its overshoot would invent colours in a tracking video, whose colours are
    # position and depth codes: there, bilinear (as DaS's torchvision resize did).
    if scale_x <= 1.0 and scale_y <= 1.0:
        return cv2.INTER_AREA
    return cv2.INTER_LINEAR if content == "tracking" else cv2.INTER_CUBIC


def _resize_one(image: np.ndarray, height: int, width: int, content: str = "photo") -> np.ndarray:
    src_height, src_width = image.shape[:2]
    if (src_height, src_width) == (height, width):
        return image.copy()
    interpolation = _interpolation(width / src_width, height / src_height, content)
    return cv2.resize(image, (width, height), interpolation=interpolation)


def crop_box(src_height: int, src_width: int, height: int, width: int) -> tuple[int, int, int, int]:
    """Centre crop of a ``src_height × src_width`` image with the aspect of ``height × width``.

    Returns:
        ``(top, left, crop_height, crop_width)`` in source pixels.
    """
    if src_width * height > width * src_height:  # source is wider: crop columns
        crop_height, crop_width = src_height, max(1, round(src_height * width / height))
    else:
        crop_height, crop_width = max(1, round(src_width * height / width)), src_width
    return (src_height - crop_height) // 2, (src_width - crop_width) // 2, crop_height, crop_width


def pad_box(src_height: int, src_width: int, height: int, width: int) -> tuple[int, int, int, int]:
    """Where a ``src_height × src_width`` image lands when fitted inside ``height × width``.

    Returns:
        ``(top, left, fitted_height, fitted_width)`` in target pixels, centred.
    """
    scale = min(width / src_width, height / src_height)
    fitted_height = min(height, max(1, round(src_height * scale)))
    fitted_width = min(width, max(1, round(src_width * scale)))
    return (height - fitted_height) // 2, (width - fitted_width) // 2, fitted_height, fitted_width


def resize_frames(
    frames: np.ndarray, height: int, width: int, mode: str = "crop", *, content: str = "photo"
) -> np.ndarray:
    """Resize images to the working size.

    Args:
        frames: ``(..., h, w, 3)`` uint8 (one image or a stack of frames).
        height, width: target size in pixels.
        mode: one of :data:`RESIZE_MODES`.
        content: ``"photo"`` (area averaging to shrink, bicubic to enlarge) or ``"tracking"``
            for a rendered tracking video (area to shrink, bilinear to enlarge: no overshoot
            that would invent colours).

    Returns:
        ``(..., height, width, 3)`` uint8. ``crop`` keeps the centre region with the target
        aspect; ``stretch`` distorts; ``pad`` keeps everything, with black bars.
    """
    _check_resize_request(mode, content, height, width)
    frames = np.asarray(frames)
    if frames.ndim < 3 or frames.shape[-1] != 3:
        raise MediaError(f"frames must have shape (..., h, w, 3), got {frames.shape}")
    if frames.dtype != np.uint8:
        raise MediaError(f"frames must be uint8, got {frames.dtype}")
    src_height, src_width = frames.shape[-3:-1]
    if src_height == 0 or src_width == 0:
        raise MediaError(f"frames have no pixels ({src_width}×{src_height})")
    leading = frames.shape[:-3]
    flat = frames.reshape((-1, src_height, src_width, 3))
    out = np.zeros((flat.shape[0], height, width, 3), dtype=np.uint8)
    if mode == "crop":
        top, left, crop_height, crop_width = crop_box(src_height, src_width, height, width)
        for index, image in enumerate(flat):
            out[index] = _resize_one(image[top : top + crop_height, left : left + crop_width], height, width, content)
    elif mode == "stretch":
        for index, image in enumerate(flat):
            out[index] = _resize_one(image, height, width, content)
    else:
        top, left, fitted_height, fitted_width = pad_box(src_height, src_width, height, width)
        for index, image in enumerate(flat):
            out[index, top : top + fitted_height, left : left + fitted_width] = _resize_one(
                image, fitted_height, fitted_width, content
            )
    return out.reshape(leading + (height, width, 3))

