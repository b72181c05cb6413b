"""One validation layer for every boundary: the studio, the API, the CLI and batch jobs.

Each function takes a value as it arrives (an ``int`` or ``float`` from a number box, a ``str``
from the command line or a text field, anything from a JSON job), returns it in its one
canonical type, or raises :class:`InputError` naming the field, the allowed range and what was
given. The bounds are the named constants below, each with the reason for its value, so the
studio, the CLI and the engine refuse the same things with the same words.

Torch-free and Gradio-free: it imports numpy and :mod:`core.camera` only.
"""

from __future__ import annotations

import math
import unicodedata
from typing import Any, Optional

import numpy as np

from core import camera
from core.defaults import MAX_USER_SEED, NUM_FRAMES, RANDOM_SEED, RESIZE_MODES
from core.errors import UserError


class InputError(UserError):
    """A setting outside what the software accepts; the message names the field, the allowed
    range and the value given."""


# --------------------------------------------------------------------------------------------
# Bounds
# --------------------------------------------------------------------------------------------

MIN_SEED = RANDOM_SEED
MAX_SEED = MAX_USER_SEED
"""Seeds are -1 (draw one) or 0 … 2^63 − 1, what torch generators take (64-bit, signed)."""

MIN_STEPS = 1
MAX_STEPS = 1000
"""Denoising steps: the CogVideoX scheduler has 1000 training timesteps, so more steps would
repeat timesteps (diffusers refuses them); DaS uses 50."""

MIN_GUIDANCE = 0.0
MAX_GUIDANCE = 50.0
"""Classifier-free guidance: ≤ 1 disables it, DaS uses 6; far above ~20 the frames saturate,
and 50 is a generous ceiling that keeps the arithmetic finite."""

MIN_FPS = 1.0
MAX_FPS = 120.0
"""Frame rate of a written video: what H.264 players show; a 49-frame clip lasts 0.4–49 s."""

MIN_GRID_SIZE = 2
MAX_GRID_SIZE = 256
"""Tracks per side of the frame-0 grid (DaS: 70). 256² = 65,536 tracks is already one per
2 px at 480 px height; the tracks grow as grid², so this caps them at ~13× DaS's."""

MIN_NUM_POINTS = 1
MAX_NUM_POINTS = 200_000
"""Mesh surface samples (default 40,000). Each costs ~30 bytes per frame (positions, pixels,
visibility): 200,000 samples × 49 frames ≈ 300 MB."""

MIN_NUM_FRAMES = 1
MAX_NUM_FRAMES = 257
"""Frames of a clip: DaS uses 49 and CogVideoX-family checkpoints at most 81; 257 leaves room
while bounding one 480×720 RGB clip to 266 MB."""

MAX_START_S = 600.0
"""Start time in a source video, seconds: the longest accepted video (``core.media.MAX_DURATION_S``)."""

MIN_FOV_DEG = 1.0
MAX_FOV_DEG = 179.0
"""Horizontal field of view of a pinhole: 0° and 180° are degenerate (infinite or zero focal)."""

MAX_AMOUNT = 1e4
"""Largest ``|amount|`` of any motion when nothing more specific applies (degrees of 28 turns)."""
MAX_ROTATION_DEG = camera.MAX_ROTATION_DEG
"""Object ``rot``, mesh ``turntable``/``swing``: the same bound as the camera's ``rot``."""
MAX_OBJECT_SHIFT = 10.0
"""Object ``up``/``down``/``left``/``right``, in frame widths: beyond about one the object has
left the picture at the end; ten keeps the arithmetic finite while allowing exits."""
MAX_DEPTH_FACTOR = 100.0
"""Object ``front``/``back``, in object depths: ``back 100`` shrinks it 101×, to a dot."""
MAX_MESH_OFFSET_RADII = 100.0
"""Mesh ``translate``/``bounce``, in bounding radii of the mesh."""

OBJECT_MOTIONS = ("up", "down", "left", "right", "front", "back", "rot")
MESH_ROTATIONS = ("turntable", "swing")
MESH_OFFSETS = ("translate", "bounce")

MAX_PROMPT_CHARS = 10_000
"""Longest prompt: T5 reads 226 tokens (about 1,000 characters); ten times that is surely a
paste gone wrong, and refusing it bounds tokenisation time."""
MAX_NUMBER_TEXT_CHARS = 100
"""A number typed as text longer than this is refused unread (a 2^63 seed has 19 digits)."""
MAX_ECHO_CHARS = 40
"""Values are quoted in messages up to this length."""
_KEPT_CONTROL_CHARACTERS = frozenset("\n\t")

MAX_CAMERA_MOTION_CHARS = camera.MAX_MOTION_CHARS
MAX_CAMERA_MOTION_STEPS = camera.MAX_MOTION_STEPS


# --------------------------------------------------------------------------------------------
# Numbers
# --------------------------------------------------------------------------------------------


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= MAX_ECHO_CHARS else text[: MAX_ECHO_CHARS - 1] + "…"


def _number_or_text(value: Any, field: str, expected: str) -> Any:
    """``value`` as an int, a float or a stripped string; refuses None, blanks, bools, lists…"""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InputError(f"{field} is empty: enter {expected}.")
    if isinstance(value, (bool, np.bool_)):
        raise InputError(f"{field} must be {expected}, not {value!r}.")
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if len(text) > MAX_NUMBER_TEXT_CHARS:
            raise InputError(f"{field} must be {expected}; got {len(text):,} characters of text.")
        return text
    raise InputError(f"{field} must be {expected}, not a {type(value).__name__}.")


def _parse_float(text: str, field: str, expected: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise InputError(f"{field} must be {expected}; {_shown(text)} is not a number.") from None


def whole_number(value: Any, field: str, low: int, high: int, *, meaning: str = "") -> int:
    """``value`` as an ``int`` in ``[low, high]``.

    Accepts ints, integer-valued floats (``50.0``) and text (``"50"``, ``" 9223372036854775807 "``,
    ``"5e1"``); text of digits is read exactly, so 2^63 − 1 survives. ``meaning`` describes
    the range in the message (e.g. ``"-1 for a random seed, or 0 to …"``).

    Raises:
        InputError: empty, not a number, not whole, not finite, or out of range.
    """
    expected = meaning or f"a whole number from {low:,} to {high:,}"
    number = _number_or_text(value, field, expected)
    if isinstance(number, str):
        try:
            number = int(number)
        except ValueError:
            number = _parse_float(number, field, expected)
    if isinstance(number, float):
        if not math.isfinite(number):
            raise InputError(f"{field} must be {expected}; got {_shown(number)}.")
        if not number.is_integer():
            raise InputError(f"{field} must be a whole number ({expected}); got {_shown(number)}.")
        number = int(number)
    if not low <= number <= high:
        raise InputError(f"{field} must be {expected}; got {_shown(number)}.")
    return number


def real_number(
    value: Any, field: str, low: float, high: float, *, low_open: bool = False, high_open: bool = False, unit: str = ""
) -> float:
    """``value`` as a finite ``float`` in the range (``low_open``/``high_open`` exclude an end).

    Raises:
        InputError: empty, not a number, NaN or infinite, or out of range.
    """
    unit_text = f" {unit}" if unit else ""
    if low_open or high_open:
        bounds = f"{'above' if low_open else 'at least'} {low:g} and {'below' if high_open else 'at most'} {high:g}{unit_text}"
    else:
        bounds = f"from {low:g} to {high:g}{unit_text}"
    expected = f"a number {bounds}"
    number = _number_or_text(value, field, expected)
    if isinstance(number, str):
        number = _parse_float(number, field, expected)
    number = float(number)
    if not math.isfinite(number):
        raise InputError(f"{field} must be a finite number ({bounds}); got {_shown(number)}.")
    too_low = number <= low if low_open else number < low
    too_high = number >= high if high_open else number > high
    if too_low or too_high:
        raise InputError(f"{field} must be {expected}; got {number:g}.")
    return number


def seed(value: Any, *, blank_means_random: bool = False) -> int:
    """A seed: -1 (draw a random one) or 0 … 2^63 − 1.

    ``blank_means_random`` lets a studio's empty seed box mean -1; elsewhere blank is an error.
    """
    if blank_means_random and (value is None or (isinstance(value, str) and not value.strip())):
        return RANDOM_SEED
    return whole_number(
        value, "seed", MIN_SEED, MAX_SEED, meaning=f"-1 for a random seed, or a whole number from 0 to {MAX_SEED}"
    )


def steps(value: Any) -> int:
    """Denoising steps, :data:`MIN_STEPS` … :data:`MAX_STEPS`."""
    return whole_number(value, "steps", MIN_STEPS, MAX_STEPS)


def guidance(value: Any) -> float:
    """Guidance scale, :data:`MIN_GUIDANCE` … :data:`MAX_GUIDANCE`."""
    return real_number(value, "guidance", MIN_GUIDANCE, MAX_GUIDANCE)


def fps(value: Any, *, blank_means_default: bool = False) -> Optional[float]:
    """Output frame rate, :data:`MIN_FPS` … :data:`MAX_FPS`; ``None`` for blank when
    ``blank_means_default`` (the tracking video's rate)."""
    if blank_means_default and (value is None or (isinstance(value, str) and not value.strip())):
        return None
    return real_number(value, "fps", MIN_FPS, MAX_FPS, unit="frames per second")


def grid_size(value: Any) -> int:
    """Tracks per side of the grid, :data:`MIN_GRID_SIZE` … :data:`MAX_GRID_SIZE`."""
    return whole_number(value, "grid size", MIN_GRID_SIZE, MAX_GRID_SIZE)


def num_points(value: Any) -> int:
    """Mesh surface samples, :data:`MIN_NUM_POINTS` … :data:`MAX_NUM_POINTS`."""
    return whole_number(value, "number of points", MIN_NUM_POINTS, MAX_NUM_POINTS)


def num_frames(value: Any) -> int:
    """Frames of a clip, :data:`MIN_NUM_FRAMES` … :data:`MAX_NUM_FRAMES`."""
    return whole_number(value, "number of frames", MIN_NUM_FRAMES, MAX_NUM_FRAMES)


def start_time(value: Any) -> float:
    """Start time in a source video, 0 … :data:`MAX_START_S` seconds (blank is not 0: say it)."""
    return real_number(value, "start time", 0.0, MAX_START_S, unit="seconds")


def fov(value: Any) -> float:
    """Horizontal field of view, :data:`MIN_FOV_DEG` … :data:`MAX_FOV_DEG` degrees."""
    return real_number(value, "field of view", MIN_FOV_DEG, MAX_FOV_DEG, unit="degrees")


def amount(value: Any, what: str = "amount", bound: float = MAX_AMOUNT, unit: str = "") -> float:
    """A finite motion amount with ``|x| ≤ bound``; ``what`` names it in the message."""
    return real_number(value, what, -bound, bound, unit=unit)


def object_amount(value: Any, motion: str) -> float:
    """The amount of an object motion (``core.object_motion`` units), bounded per motion:

    ``up``/``down``/``left``/``right``: ``|a| ≤`` :data:`MAX_OBJECT_SHIFT` frame widths;
    ``front``: ``-MAX_DEPTH_FACTOR ≤ a < 1`` (1 would put the object on the camera);
    ``back``: ``-1 < a ≤ MAX_DEPTH_FACTOR`` (the same rule seen from behind);
    ``rot``: ``|a| ≤`` :data:`MAX_ROTATION_DEG` degrees.
    """
    if motion not in OBJECT_MOTIONS:
        raise InputError(f"object motion must be one of {', '.join(OBJECT_MOTIONS)}; got {_shown(motion)}.")
    field = f"amount of '{motion}'"
    if motion == "rot":
        return real_number(value, field, -MAX_ROTATION_DEG, MAX_ROTATION_DEG, unit="degrees")
    if motion == "front":
        return real_number(value, field, -MAX_DEPTH_FACTOR, 1.0, high_open=True, unit="object depths")
    if motion == "back":
        return real_number(value, field, -1.0, MAX_DEPTH_FACTOR, low_open=True, unit="object depths")
    return real_number(value, field, -MAX_OBJECT_SHIFT, MAX_OBJECT_SHIFT, unit="frame widths")


def mesh_amount(value: Any, procedural: str) -> float:
    """The amount of a procedural mesh motion (``trackers.mesh`` units): degrees for
    ``turntable``/``swing`` (``|a| ≤`` :data:`MAX_ROTATION_DEG`), bounding radii for
    ``translate``/``bounce`` (``|a| ≤`` :data:`MAX_MESH_OFFSET_RADII`), else ``|a| ≤``
    :data:`MAX_AMOUNT`. A bad amount is reported as the amount's fault, never the mesh's."""
    field = f"amount of '{procedural}'"
    if procedural in MESH_ROTATIONS:
        return real_number(value, field, -MAX_ROTATION_DEG, MAX_ROTATION_DEG, unit="degrees")
    if procedural in MESH_OFFSETS:
        return real_number(value, field, -MAX_MESH_OFFSET_RADII, MAX_MESH_OFFSET_RADII, unit="bounding radii")
    return amount(value, field)


def resize_mode(value: Any) -> str:
    """One of :data:`core.defaults.RESIZE_MODES`."""
    if not isinstance(value, str) or value.strip().lower() not in RESIZE_MODES:
        raise InputError(f"resize mode must be one of {', '.join(RESIZE_MODES)}; got {_shown(value)}.")
    return value.strip().lower()


# --------------------------------------------------------------------------------------------
# Text
# --------------------------------------------------------------------------------------------


def _without_control_characters(text: str) -> str:
    """``text`` without control characters (Unicode category C*), except newlines and tabs."""
    return "".join(
        ch for ch in text if ch in _KEPT_CONTROL_CHARACTERS or not unicodedata.category(ch).startswith("C")
    )


def prompt(value: Any, field: str = "prompt", *, required: bool = True) -> str:
    """A prompt: text with at least one visible character, at most :data:`MAX_PROMPT_CHARS`.

    Control characters (other than newlines and tabs) are removed and the ends stripped; a
    prompt of only control characters or spaces counts as empty. With ``required=False``
    (a negative prompt) ``None`` and empty text give ``""``.

    Raises:
        InputError: not text (e.g. a JSON list), too long, or empty when required.
    """
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InputError(f"{field} must be text, not a {type(value).__name__} ({_shown(value)}).")
    if len(value) > MAX_PROMPT_CHARS:
        raise InputError(f"{field} is {len(value):,} characters long; at most {MAX_PROMPT_CHARS:,} are accepted.")
    cleaned = _without_control_characters(value).strip()
    if required and not cleaned:
        raise InputError(f"{field} is empty: describe the video you want in words.")
    return cleaned


def negative_prompt(value: Any) -> str:
    """A negative prompt: as :func:`prompt`, but may be empty."""
    return prompt(value, "negative prompt", required=False)


def camera_motion_text(value: Any, frames: int = NUM_FRAMES) -> str:
    """A camera-motion string, fully checked for a ``frames``-frame clip: at most
    :data:`MAX_CAMERA_MOTION_CHARS` characters and :data:`MAX_CAMERA_MOTION_STEPS` steps
    (refused before parsing), every value within ``core.camera``'s bounds, every range
    inside the clip. ``None`` gives ``""`` (the static camera).

    Raises:
        camera.CameraMotionError: naming the step and token (or the size, before parsing).
    """
    if value is None:
        return ""
    camera.parse_camera_motion(value, frames)
    return value
