"""Still images in: a path, an array or a PIL image → ``(H, W, 3)`` uint8 RGB at the working
size, with EXIF orientation, greyscale and transparency handled and decompression bombs
refused from the header (SPEC §8). Re-exported by :mod:`core.media`.
"""

from __future__ import annotations

import os
import struct
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from core.media_checks import MAX_IMAGE_PIXELS, MAX_SIDE_PX, ImageSource, MediaError, _check_size, _existing_file
from core.resize import resize_frames

ALPHA_BACKGROUND_RGB = (255, 255, 255)
"""Transparent image pixels are composited onto white: cut-outs are usually made to sit on
white, and black is what the tracking video uses for "nothing here"."""


def _array_to_rgb(array: np.ndarray) -> np.ndarray:
    """``(h, w)``, ``(h, w, 1|3|4)`` uint8/bool/float-in-[0, 1] → ``(h, w, 3)`` uint8."""
    array = np.asarray(array)
    if array.dtype == np.bool_:
        array = array.astype(np.uint8) * 255
    elif np.issubdtype(array.dtype, np.floating):
        if not np.all(np.isfinite(array)):
            raise MediaError("image array contains NaN or infinite values")
        array = np.round(np.clip(array, 0.0, 1.0) * 255.0).astype(np.uint8)
    elif array.dtype != np.uint8:
        raise MediaError(f"image arrays must be uint8 (0–255) or float (0–1), got {array.dtype}")
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        raise MediaError(f"image arrays must be (h, w), (h, w, 3) or (h, w, 4), got {array.shape}")
    _check_size(array.shape[1], array.shape[0], "The image")
    if array.shape[2] == 1:
        return np.repeat(array, 3, axis=2)
    if array.shape[2] == 4:
        alpha = array[..., 3:].astype(np.float32) / 255.0
        background = np.asarray(ALPHA_BACKGROUND_RGB, dtype=np.float32)
        blended = array[..., :3].astype(np.float32) * alpha + background * (1.0 - alpha)
        return np.round(blended).astype(np.uint8)
    return np.ascontiguousarray(array)


def _pil_to_rgb(image: Image.Image, name: str) -> np.ndarray:
    _check_size(image.width, image.height, name)  # header only: nothing decoded yet
    try:
        image = ImageOps.exif_transpose(image)
        if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
            rgba = image.convert("RGBA")
            background = Image.new("RGBA", rgba.size, ALPHA_BACKGROUND_RGB + (255,))
            return np.asarray(Image.alpha_composite(background, rgba).convert("RGB"))
        return np.asarray(image.convert("RGB"))
    except (OSError, ValueError, SyntaxError) as error:  # PIL reports truncated data as OSError
        raise MediaError(f"{name} is damaged or incomplete ({error}). Re-export or upload it again.") from error


def _decompression_bomb(name: str) -> MediaError:
    return MediaError(
        f"{name} would decode to far more than {MAX_IMAGE_PIXELS:,} pixels (a huge image or a "
        f"decompression bomb); at most {MAX_SIDE_PX}×{MAX_SIDE_PX} pixels are accepted. "
        "Downscale it first."
    )


def _read_image_file(path: Path) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            # PIL only warns between its MAX_IMAGE_PIXELS and twice that: refuse those too.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                return _pil_to_rgb(image, path.name)
    except MediaError:
        raise
    except UnidentifiedImageError as error:
        raise MediaError(
            f"{path.name} is not an image this app can read. Use PNG, JPEG or WebP."
        ) from error
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise _decompression_bomb(path.name) from error
    except (OSError, ValueError, SyntaxError, EOFError, struct.error) as error:
        # Headers that identify a format but then fail (e.g. a damaged TIFF directory).
        raise MediaError(
            f"{path.name} could not be read as an image ({error}). Re-export it as PNG or JPEG."
        ) from error


def load_image(source: ImageSource, height: int, width: int, resize_mode: str = "crop") -> np.ndarray:
    """Load a still image at the working size.

    Args:
        source: a file path, an array (``(h, w)`` grey, ``(h, w, 3)`` RGB or ``(h, w, 4)`` RGBA;
            uint8, or float in [0, 1]) or a PIL image.
        height, width: working size in pixels.
        resize_mode: one of :data:`RESIZE_MODES`.

    Returns:
        ``(height, width, 3)`` uint8 RGB. EXIF orientation is applied; greyscale becomes RGB;
        transparency is composited onto :data:`ALPHA_BACKGROUND_RGB` (white).

    Raises:
        MediaError: unreadable or not an image, more than :data:`MAX_SIDE_PX` a side, bad array.
    """
    if isinstance(source, Image.Image):
        rgb = _pil_to_rgb(source, "The image")
    elif isinstance(source, np.ndarray):
        rgb = _array_to_rgb(source)
    elif isinstance(source, (str, os.PathLike)):
        rgb = _read_image_file(_existing_file(source))
    else:
        raise MediaError(f"cannot load an image from a {type(source).__name__}")
    return resize_frames(rgb, height, width, resize_mode)

