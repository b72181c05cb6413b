"""What every media reader and writer shares: :class:`MediaError`, the path types, the largest
accepted picture (:data:`MAX_SIDE_PX`) and the checks of files and sizes made before anything
is decoded. Re-exported by :mod:`core.media`, where callers import them from.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Union

import av
import numpy as np
from PIL import Image

from core.errors import UserError

PathLike = Union[str, os.PathLike]
ImageSource = Union[PathLike, np.ndarray, Image.Image]

MAX_SIDE_PX = 4096
"""Largest accepted width or height of an input image or video, in pixels."""
MAX_IMAGE_PIXELS = MAX_SIDE_PX * MAX_SIDE_PX
"""Most pixels of a decoded image (checked from the header, so a decompression bomb — a small
file that decodes to gigabytes — is refused before decoding)."""

AV_ERRORS = (av.FFmpegError, OSError, EOFError)
"""What PyAV raises on a file it cannot decode or write."""


class MediaError(UserError):
    """A user's media file or array cannot be used; the message says why and what to do."""


def check_file_size(path: PathLike, max_bytes: int) -> int:
    """Raise :class:`MediaError` if ``path`` is missing, empty or larger than ``max_bytes``.

    Returns:
        The file size in bytes.
    """
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"File not found: {path.name}. Upload the file again.")
    size = path.stat().st_size
    if size == 0:
        raise MediaError(f"{path.name} is empty (0 bytes). Upload the file again.")
    if size > max_bytes:
        raise MediaError(
            f"{path.name} is {size / 2**20:.1f} MiB, more than the {max_bytes / 2**20:.1f} MiB allowed. "
            "Trim or compress it first."
        )
    return size


def _check_size(width: int, height: int, name: str) -> None:
    if width <= 0 or height <= 0:
        raise MediaError(f"{name} has no pixels ({width}×{height}). Use another file.")
    if width > MAX_SIDE_PX or height > MAX_SIDE_PX:
        raise MediaError(
            f"{name} is {width}×{height} pixels; at most {MAX_SIDE_PX} pixels a side are accepted. "
            "Downscale it first."
        )


def _check_target_size(height: int, width: int) -> None:
    # The working size comes from the checkpoint, not the user: a bad one is a bug (ValueError).
    if height <= 0 or width <= 0:
        raise ValueError(f"target size must be positive, got {height}×{width}")
    if height > MAX_SIDE_PX or width > MAX_SIDE_PX:
        raise ValueError(f"target size must be at most {MAX_SIDE_PX} a side, got {height}×{width}")


def _existing_file(path: PathLike) -> Path:
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"File not found: {path}. Upload the file again.")
    if path.stat().st_size == 0:
        raise MediaError(f"{path.name} is empty (0 bytes). Upload the file again.")
    return path

