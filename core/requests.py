"""Checks of one generation request before the model is touched: its settings and prompt, its
first frame and the sizes of both inputs against the checkpoint's, and the seed and frame rate
it runs with. Every problem raises :class:`core.engine_types.GenerationInputError`.

Torch-free: importing this module loads no model code.
"""

from __future__ import annotations

import secrets
from typing import Any, Optional

import numpy as np

from core import defaults
from core.engine_types import GenerationInputError, GenerationSettings


def checked_settings(settings: Optional[GenerationSettings], prompt: str) -> GenerationSettings:
    """A request's settings (default: SPEC §4) once they and its prompt are checked."""
    settings = settings or GenerationSettings()
    settings.validate()
    if not isinstance(prompt, str) or not prompt.strip():
        raise GenerationInputError("the prompt is empty: describe the video you want (e.g. 'a red car on a mountain road')")
    return settings


def request_first_frame(first_frame: Optional[np.ndarray], tracking: Any) -> np.ndarray:
    """The first frame given, else the tracking result's, as ``(H, W, 3)`` uint8."""
    if first_frame is None:
        if not hasattr(tracking, "first_frame"):
            raise GenerationInputError("a first-frame image is needed when the tracking video is a bare array")
        first_frame = tracking.first_frame
    return _as_uint8_image(first_frame, "the first frame")


def seed_and_fps(settings: GenerationSettings, tracking: Any) -> tuple[int, float]:
    """The seed a request uses (drawn for :data:`core.defaults.RANDOM_SEED`) and the frame rate of its video."""
    seed = secrets.randbelow(defaults.MAX_SEED) if settings.seed == defaults.RANDOM_SEED else int(settings.seed)
    return seed, float(settings.fps or getattr(tracking, "fps", None) or defaults.FPS)


def check_request_sizes(first_frame: np.ndarray, tracking_frames: np.ndarray, native_size: tuple[int, int, int]) -> None:
    """Raise :class:`GenerationInputError` unless both inputs match ``native_size``
    (``(num_frames, height, width)`` of the checkpoint).

    Args:
        first_frame: ``(H, W, 3)`` uint8.
        tracking_frames: ``(T, H, W, 3)`` uint8.
    """
    num_frames, height, width = native_size
    if tracking_frames.ndim != 4 or tracking_frames.shape[-1] != 3:
        raise GenerationInputError(f"the tracking video must be (T, H, W, 3); got shape {tracking_frames.shape}")
    if tracking_frames.dtype != np.uint8:
        raise GenerationInputError(f"the tracking video must be uint8 (0-255); got {tracking_frames.dtype}")
    got = tuple(tracking_frames.shape[:3])
    if got != (num_frames, height, width):
        raise GenerationInputError(
            f"the tracking video is {got[0]} frames of {got[1]}×{got[2]} but this model works at "
            f"{num_frames} frames of {height}×{width}: rebuild it with num_frames, height and width "
            f"from engine.native_size() (or {2 * num_frames - 1}, {3 * num_frames - 2}, … frames for a long "
            f"video of 2, 3, … windows: core.windows.long_size)"
        )
    if first_frame.shape[:2] != (height, width):
        raise GenerationInputError(
            f"the first frame is {first_frame.shape[0]}×{first_frame.shape[1]} but this model works at "
            f"{height}×{width}: resize it (core.media.load_image(image, {height}, {width}))"
        )


def _as_uint8_image(image: Any, what: str) -> np.ndarray:
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[-1] != 3:
        raise GenerationInputError(f"{what} must be an RGB image (H, W, 3); got shape {array.shape}")
    if array.dtype != np.uint8:
        raise GenerationInputError(f"{what} must be uint8 (0-255); got {array.dtype}")
    return array
