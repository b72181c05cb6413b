"""The camera-motion language (SPEC §6): text → one 4×4 matrix per frame.

A motion is a ``;``-separated list of steps. Each step is a verb with numbers and an optional
``start end`` frame range::

    trans <dx> <dy> <dz> [start end]      translation, reached linearly over the range
    rot x|y|z <degrees> [start end]       rotation about a camera axis, reached linearly
    spiral <radius> [start end]           DaS's spiral path, looking at a point ahead
    orbit [x|y] <degrees> [start end]     travel on a circle about the scene centre (ours)

Every step yields a per-frame matrix ``S_t``; the steps are composed left to right,
``M_t = S1_t @ S2_t @ ...``, and ``M_t`` maps frame-0 camera-space points to frame ``t``:
``p_t = M_t · p_0`` (OpenCV axes, ``core.geometry``). The matrices returned by
:func:`parse_camera_motion` are *raw*: their translations are in "scene units" — one unit is
the median frame-0 depth of the scene (:func:`scene_scale`). :func:`apply_camera_motion`
multiplies the translations by that depth, so a string means the same thing whatever depth
model produced the scene.

For every string the published DaS code accepts (``trans``/``rot``/``spiral``), the raw
matrices equal DaS's (DaS builds them in float32; ours are float64, so they agree to float32
rounding). Beyond DaS: ``start == end`` is a jump at that frame (DaS divides by zero), frame
numbers may be written as integer-valued floats (``30.0``), non-finite numbers and a zero
spiral radius are rejected (DaS returns NaN matrices), values beyond the bounds below and
ranges that lie wholly outside the clip are rejected (DaS overflows or divides by zero), and
every error is a :class:`CameraMotionError` naming the step and the bad token. The text's
length and step count are checked before anything is parsed (:func:`check_camera_motion_size`).
:func:`camera_motion_warnings` says which frames would show none of the scene.
``docs/CAMERA_MOTION.md`` is the user-facing reference, including the on-screen meaning of each
sign.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.defaults import HEIGHT as DEFAULT_HEIGHT
from core.defaults import NUM_FRAMES
from core.defaults import WIDTH as DEFAULT_WIDTH
from core.errors import UserError
from core.geometry import (
    DEFAULT_FOV_DEG,
    camera_centers,
    in_frame,
    intrinsics_from_fov,
    look_at_rotation,
    make_se3,
    rotation_about_axis,
    rotation_about_point,
    transform_and_project,
    transform_points,
)

DEFAULT_NUM_FRAMES = NUM_FRAMES
"""DaS's fixed clip length; its frame ranges default to ``0 … 48``."""

STEP_SEPARATOR = ";"

MAX_MOTION_CHARS = 4096
"""Longest accepted motion string, in characters. The longest useful string (a step per frame
of a 49-frame clip, ``"trans -0.125 0.25 -0.5 12 13; "``) is about 1.5 KB; the cap keeps a
pasted megabyte from being parsed at all (it is refused before parsing, in microseconds)."""
MAX_MOTION_STEPS = 200
"""Most steps in one string: four per frame of a 49-frame clip."""
MAX_TRANSLATION = 1e3
"""Largest ``|dx|``, ``|dy|``, ``|dz|`` of ``trans``, in scene units (median frame-0 depths).
Everything the camera sees lies within a few scene units; a thousand is far past any useful
move and keeps every product of :data:`MAX_MOTION_STEPS` steps finite."""
MAX_ROTATION_DEG = 1e4
"""Largest ``|degrees|`` of ``rot`` and ``orbit``: about 28 turns over a clip, already a blur."""
MAX_SPIRAL_RADIUS = 1e3
"""Largest ``|radius|`` of ``spiral``, in scene units (the camera travels 0.1 × radius)."""
MAX_ECHO_CHARS = 60
"""Step text and tokens are quoted in error messages up to this length (then "…")."""
WARNING_PROBE_GRID = (9, 13)
"""Rows × columns of probe points on the frame-0 view that :func:`camera_motion_warnings` tracks."""

ROTATION_AXES = ("x", "y", "z")
ORBIT_AXES = ("x", "y")
"""An orbit about the optical axis would be a roll (``rot z``), so only x and y are offered."""

# DaS's spiral (``spiral_poses``) constants, named by what they do. The camera position at
# path parameter s ∈ [0, 1] is r = sin(π s)·radius·SPIRAL_RADIUS_FACTOR, θ = 2π s,
# (x, y, z) = (r sin θ, SPIRAL_VERTICAL_SQUASH · r cos θ, −SPIRAL_DEPTH_FACTOR · r), and it
# looks at (0, 0, radius · SPIRAL_TARGET_DEPTH_FACTOR).
SPIRAL_RADIUS_FACTOR = 0.1
SPIRAL_VERTICAL_SQUASH = 0.3
SPIRAL_DEPTH_FACTOR = 0.5
SPIRAL_TARGET_DEPTH_FACTOR = 0.5
SPIRAL_UP = (0.0, 1.0, 0.0)
"""The 'up' hint of DaS's look-at (+y, which is image-down in OpenCV axes; kept for parity)."""

ORBIT_CENTER_DEPTH = 1.0
"""Depth of the orbit pivot on the optical axis, in scene units (= the median frame-0 depth)."""

# Sign that turns "positive degrees" into the rotation applied to the points about the pivot.
# DaS's rule is "moving left and up is positive", so positive orbits move the camera left
# (about y) or up (about x); working that through p_t = R (p − c) + c gives these signs.
ORBIT_ROTATION_SIGN = {"y": -1.0, "x": 1.0}

_VERB_SYNTAX = {
    "trans": "trans <dx> <dy> <dz> [start end]",
    "rot": "rot x|y|z <degrees> [start end]",
    "spiral": "spiral <radius> [start end]",
    "orbit": "orbit [x|y] <degrees> [start end]",
}
_VERB_VALUE_NAMES = {
    "trans": ("dx", "dy", "dz"),
    "rot": ("degrees",),
    "spiral": ("radius",),
    "orbit": ("degrees",),
}
_VERB_VALUE_LIMITS = {
    "trans": (MAX_TRANSLATION, "scene units"),
    "rot": (MAX_ROTATION_DEG, "degrees"),
    "spiral": (MAX_SPIRAL_RADIUS, "scene units"),
    "orbit": (MAX_ROTATION_DEG, "degrees"),
}
VERBS = tuple(_VERB_SYNTAX)

CAMERA_PRESETS: dict[str, str] = {
    "static": "",
    "pan left": "rot y 20",
    "pan right": "rot y -20",
    "tilt up": "rot x -15",
    "tilt down": "rot x 15",
    "truck left": "trans 0.3 0 0",
    "truck right": "trans -0.3 0 0",
    "crane up": "trans 0 0.2 0",
    "crane down": "trans 0 -0.2 0",
    "dolly in": "trans 0 0 -0.5",
    "dolly out": "trans 0 0 0.5",
    "zoom in (dolly forward)": "trans 0 0 -0.3",
    "zoom out (dolly back)": "trans 0 0 0.3",
    "orbit left": "orbit 30",
    "orbit right": "orbit -30",
    "orbit up": "orbit x 20",
    "spiral": "spiral 2",
    "dolly in + pan left": "trans 0 0 -0.4; rot y 15",
    "orbit left + dolly out": "trans 0 0 0.3; orbit 25",
    "crane up + tilt down": "trans 0 0.2 0; rot x 11",
}
"""Named motions, labelled by what the *camera* does (the test ``test_camera.py`` projects a
synthetic scene through every preset and checks the on-screen motion its name promises)."""


class CameraMotionError(UserError):
    """A camera-motion string that cannot be parsed.

    Attributes:
        step_index: 1-based index of the offending ``;``-separated step (0 when the whole
            text is at fault).
        step_text: that step's text as typed.
        token: the offending token (``""`` when something is missing).
    """

    def __init__(self, message: str, *, step_index: int = 0, step_text: str = "", token: str = ""):
        super().__init__(message)
        self.step_index = step_index
        self.step_text = step_text
        self.token = token


@dataclass(frozen=True)
class CameraMotionStep:
    """One parsed step of a camera-motion string.

    ``start``/``end`` are already clamped to ``[0, T−1]`` and ordered; ``values`` holds the
    numbers in the order of the syntax (``dx, dy, dz`` / ``degrees`` / ``radius``);
    ``written_range`` is the ``(start, end)`` as typed (``None`` when the step has no range), so
    a summary can say when a range was swapped or clamped.
    """

    index: int
    text: str
    verb: str
    axis: str | None
    values: tuple[float, ...]
    start: int
    end: int
    written_range: tuple[int, int] | None = None


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------


def _shorten(text: str) -> str:
    """``text`` cut to :data:`MAX_ECHO_CHARS` for quoting in a message."""
    return text if len(text) <= MAX_ECHO_CHARS else text[: MAX_ECHO_CHARS - 1] + "…"


def _step_error(
    step_index: int, step_text: str, problem: str, token: str, *, verb: str | None
) -> CameraMotionError:
    """The error for one step: its 1-based index and text, the problem, and the syntax to use."""
    hint = _VERB_SYNTAX.get(verb or "", " or ".join(_VERB_SYNTAX.values()))
    message = f'camera motion step {step_index} "{_shorten(step_text)}": {problem}. Expected: {hint}'
    return CameraMotionError(message, step_index=step_index, step_text=step_text, token=token)


def _parse_number(
    token: str, name: str, limit: tuple[float, str], fail: Callable[[str, str], CameraMotionError]
) -> float:
    """A value token as DaS reads it (``float()``), rejecting NaN, infinities and ``|x| > limit``."""
    try:
        value = float(token)
    except ValueError:
        raise fail(f"{name} {_shorten(token)!r} is not a number", token) from None
    if not math.isfinite(value):
        raise fail(f"{name} {_shorten(token)!r} must be a finite number", token)
    bound, unit = limit
    if abs(value) > bound:
        raise fail(f"{name} {_shorten(token)!r} is out of range: use -{bound:g} to {bound:g} {unit}", token)
    return value


def _parse_frame(token: str, name: str, fail: Callable[[str, str], CameraMotionError]) -> int:
    """A frame token as DaS reads it (``int()``), also accepting integer-valued floats."""
    try:
        return int(token)
    except ValueError:
        try:
            as_float = float(token)
        except ValueError:
            raise fail(f"{name} frame {_shorten(token)!r} is not a whole number", token) from None
        if not (math.isfinite(as_float) and as_float.is_integer()):
            raise fail(f"{name} frame {_shorten(token)!r} is not a whole number", token) from None
        return int(as_float)


def _frame_range(
    start_token: str, end_token: str, last_frame: int, fail: Callable[[str, str], CameraMotionError]
) -> tuple[int, int, tuple[int, int]]:
    """``(start, end, written)``: the range clamped to ``[0, last_frame]`` and ordered (DaS's
    rules), and the range as written. A range wholly before frame 0 or wholly after the last
    frame is refused: clamping would collapse it onto one end of the clip (DaS divides by zero
    there), which is never what was meant."""
    written = (_parse_frame(start_token, "start", fail), _parse_frame(end_token, "end", fail))
    low, high = min(written), max(written)
    if high < 0 or low > last_frame:
        where = "before frame 0" if high < 0 else f"after the last frame ({last_frame})"
        raise fail(
            f"frames {written[0]}–{written[1]} lie wholly {where} of this {last_frame + 1}-frame clip; "
            f"use frames 0 to {last_frame}",
            start_token if written[0] == low else end_token,
        )
    clamped = [max(0, min(last_frame, frame)) for frame in written]
    return min(clamped), max(clamped), written


def check_camera_motion_size(text: str) -> None:
    """Refuse a motion string longer than :data:`MAX_MOTION_CHARS` or with more than
    :data:`MAX_MOTION_STEPS` steps, before any parsing (the message never quotes the text).

    Raises:
        CameraMotionError: with ``step_index`` 0.
    """
    if len(text) > MAX_MOTION_CHARS:
        raise CameraMotionError(
            f"camera motion is {len(text):,} characters long; at most {MAX_MOTION_CHARS:,} are accepted. "
            "Shorten it (a step per few frames is plenty)."
        )
    num_steps = sum(1 for step in text.split(STEP_SEPARATOR) if step.strip())
    if num_steps > MAX_MOTION_STEPS:
        raise CameraMotionError(
            f"camera motion has {num_steps} steps; at most {MAX_MOTION_STEPS} are accepted. Merge some steps."
        )


def parse_camera_motion_steps(
    text: str | None, num_frames: int = DEFAULT_NUM_FRAMES
) -> list[CameraMotionStep]:
    """Parse a camera-motion string into its steps (no matrices yet).

    Steps are split on ``;``, stripped, lower-cased and split on whitespace; empty steps are
    skipped. ``None`` or blank text gives no steps (the identity motion). The size limits
    (:func:`check_camera_motion_size`) are checked first.

    Raises:
        CameraMotionError: naming the 1-based step, its text and the bad token.
        ValueError: ``num_frames`` < 1.
    """
    num_frames = _check_num_frames(num_frames)
    if text is None:
        return []
    if not isinstance(text, str):
        raise CameraMotionError(f"camera motion must be text, got {type(text).__name__}")
    check_camera_motion_size(text)
    last_frame = num_frames - 1
    steps: list[CameraMotionStep] = []
    for step_index, raw_step in enumerate(text.split(STEP_SEPARATOR), start=1):
        step_text = raw_step.strip()
        tokens = step_text.lower().split()
        if not tokens:
            continue
        verb, args = tokens[0], tokens[1:]
        fail = functools.partial(
            _step_error, step_index, step_text, verb=verb if verb in _VERB_SYNTAX else None
        )
        if verb not in _VERB_SYNTAX:
            preset = CAMERA_PRESETS.get(" ".join(tokens))
            # A preset name typed as a motion is the likeliest slip; show its string.
            tip = f"; the preset {' '.join(tokens)!r} is written {preset!r}" if preset else ""
            raise fail(f"unknown motion {_shorten(verb)!r} (use {', '.join(VERBS)}){tip}", verb)

        axis: str | None = None
        if verb == "rot":
            if not args:
                raise fail("missing the axis (x, y or z)", "")
            axis, args = args[0], args[1:]
            if axis not in ROTATION_AXES:
                raise fail(f"rotation axis {_shorten(axis)!r} must be x, y or z", axis)
        elif verb == "orbit" and args and args[0] in ROTATION_AXES:
            axis, args = args[0], args[1:]
            if axis not in ORBIT_AXES:
                raise fail(f"orbit axis {axis!r} must be x or y (use 'rot z' to roll)", axis)
        elif verb == "orbit":
            axis = "y"

        value_names = _VERB_VALUE_NAMES[verb]
        num_values = len(value_names)
        if len(args) < num_values:
            missing = value_names[len(args)]
            raise fail(f"missing <{missing}>", "")
        frame_tokens = args[num_values:]
        if len(frame_tokens) == 1:
            raise fail(f"start frame {_shorten(frame_tokens[0])!r} has no end frame", frame_tokens[0])
        if len(frame_tokens) > 2:
            raise fail(f"unexpected extra token {_shorten(frame_tokens[2])!r}", frame_tokens[2])

        limit = _VERB_VALUE_LIMITS[verb]
        values = tuple(
            _parse_number(tok, name, limit, fail) for tok, name in zip(args[:num_values], value_names)
        )
        if verb == "spiral" and values[0] == 0.0:
            raise fail("spiral radius must not be zero", args[0])

        start, end, written = 0, last_frame, None
        if frame_tokens:
            start, end, written = _frame_range(frame_tokens[0], frame_tokens[1], last_frame, fail)
        steps.append(CameraMotionStep(step_index, step_text, verb, axis, values, start, end, written))
    return steps


def _check_num_frames(num_frames: int) -> int:
    if isinstance(num_frames, bool) or int(num_frames) != num_frames or num_frames < 1:
        raise ValueError(f"num_frames must be a positive integer, got {num_frames!r}")
    return int(num_frames)


# --------------------------------------------------------------------------------------------
# Per-step matrices
# --------------------------------------------------------------------------------------------


def step_progress(start: int, end: int, num_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """How far each frame is through a step's range.

    Returns:
        ``progress`` (T,) float64 in [0, 1]: ``(f − start) / (end − start)`` inside the range,
        1 after it; and ``started`` (T,) bool, false before ``start`` (those frames are the
        identity). With ``start == end`` the step jumps: progress is 1 from ``end`` on.
    """
    frames = np.arange(num_frames)
    started = frames >= start
    if end == start:
        progress = started.astype(np.float64)
    else:
        # Same IEEE division as DaS's per-frame ``(f - start) / (end - start)``.
        progress = np.clip((frames - start) / (end - start), 0.0, 1.0)
    return progress, started


def spiral_path(radius: float, num_frames: int) -> np.ndarray:
    """DaS's spiral: ``num_frames`` poses ``[R_lookat | position]`` (T, 4, 4) float64.

    The position loops once around the optical axis (``r`` rises and falls as ``sin(π s)``),
    squashed vertically and pulled towards the camera, while looking at
    ``(0, 0, radius · SPIRAL_TARGET_DEPTH_FACTOR)``. The rotation's columns are the look-at
    right/up/forward axes, as DaS builds them.
    """
    path_parameter = np.linspace(0.0, 1.0, num_frames)
    # Same operation order as DaS so the float64 values agree bit for bit where possible.
    r = np.sin(np.pi * path_parameter) * radius * SPIRAL_RADIUS_FACTOR
    theta = 2 * np.pi * path_parameter
    positions = np.stack(
        [r * np.sin(theta), r * np.cos(theta) * SPIRAL_VERTICAL_SQUASH, -r * SPIRAL_DEPTH_FACTOR], axis=-1
    )
    target = np.array([0.0, 0.0, radius * SPIRAL_TARGET_DEPTH_FACTOR])
    with np.errstate(invalid="ignore", divide="ignore"):
        rotations = look_at_rotation(positions, target, up=SPIRAL_UP)
    return make_se3(rotations, positions)


def _step_matrices(step: CameraMotionStep, num_frames: int) -> np.ndarray:
    """Per-frame matrices (T, 4, 4) of one step, identity before its start."""
    progress, started = step_progress(step.start, step.end, num_frames)
    if step.verb == "trans":
        matrices = make_se3(None, progress[:, None] * np.asarray(step.values))
    elif step.verb == "rot":
        matrices = make_se3(rotation_about_axis(step.axis, step.values[0] * progress))
    elif step.verb == "orbit":
        degrees = ORBIT_ROTATION_SIGN[step.axis] * step.values[0] * progress
        pivot = np.array([0.0, 0.0, ORBIT_CENTER_DEPTH])
        matrices = rotation_about_point(rotation_about_axis(step.axis, degrees), pivot)
    else:  # spiral: frames step through the precomputed path, truncating like DaS's int()
        path = spiral_path(step.values[0], num_frames)
        path_index = np.floor(progress * (num_frames - 1)).astype(np.int64)
        matrices = path[path_index]
    return np.where(started[:, None, None], matrices, np.eye(4))


def parse_camera_motion(text: str | None, num_frames: int = DEFAULT_NUM_FRAMES) -> np.ndarray:
    """Per-frame camera-motion matrices of a motion string, in raw scene units.

    Args:
        text: the motion string (see the module docstring); ``None``/blank → identity.
        num_frames: ``T``. Default ranges are ``0 … T−1`` and frames clamp to it; for T = 49
            the result equals DaS's ``get_default_motion``.

    Returns:
        ``(T, 4, 4)`` float64, ``M_t`` with ``p_t = M_t · p_0``; translations in units of the
        scene's median frame-0 depth (apply :func:`scale_motion` / :func:`apply_camera_motion`).

    Raises:
        CameraMotionError: an unparsable step, or values so large the matrices overflow.
    """
    num_frames = _check_num_frames(num_frames)
    motion = np.broadcast_to(np.eye(4), (num_frames, 4, 4)).copy()
    for step in parse_camera_motion_steps(text, num_frames):
        with np.errstate(over="ignore", invalid="ignore"):
            motion = motion @ _step_matrices(step, num_frames)
        if not np.isfinite(motion).all():
            raise _step_error(
                step.index, step.text, "the numbers are too large (the matrices overflow)", "", verb=step.verb
            )
    return motion


# --------------------------------------------------------------------------------------------
# Scene units
# --------------------------------------------------------------------------------------------


def scene_scale(points0: np.ndarray) -> float:
    """Length of one scene unit: the median depth of the frame-0 points in front of the camera.

    Args:
        points0: ``(..., 3)`` frame-0 camera-space points (any leading shape, e.g. ``(N, 3)``
            or a dense ``(H, W, 3)`` cloud). Non-finite points and points with ``z <= 0`` are
            ignored.

    Returns:
        The median ``z`` (> 0). With no usable point at all it returns 1.0, i.e. the motion
        string is taken in whatever units the points use.
    """
    points0 = np.asarray(points0)
    if points0.ndim == 0 or points0.shape[-1] != 3:
        raise ValueError(f"points0 must have shape (..., 3), got {points0.shape}")
    depth = points0.reshape(-1, 3)[:, 2].astype(np.float64)
    usable = depth[np.isfinite(depth) & (depth > 0)]
    if usable.size == 0:
        return 1.0
    return float(np.median(usable))


def scale_motion(motion: np.ndarray, scene_scale: float) -> np.ndarray:
    """Motion matrices ``(..., 4, 4)`` with their translations multiplied by ``scene_scale``.

    This is ``S · M · S⁻¹`` with ``S`` a uniform scaling, so it commutes with composition:
    scaling a composed motion equals composing the scaled steps (orbits pivot at
    ``ORBIT_CENTER_DEPTH · scene_scale``, spirals scale their radius).
    """
    if not (math.isfinite(scene_scale) and scene_scale > 0):
        raise ValueError(f"scene_scale must be a positive finite number, got {scene_scale!r}")
    scaled = np.array(motion, dtype=np.float64, copy=True)
    scaled[..., :3, 3] *= scene_scale
    return scaled


def apply_camera_motion(points: np.ndarray, motion: np.ndarray, scene_scale: float) -> np.ndarray:
    """Move frame-0 camera-space points into each frame's camera: ``p_t = scale(M)_t · p``.

    Args:
        points: ``(N, 3)`` frame-0 points (one static cloud), or ``(T, N, 3)`` per-frame
            points (e.g. a video's own tracks, with the motion appended on top).
        motion: ``(T, 4, 4)`` raw matrices from :func:`parse_camera_motion`.
        scene_scale: metres (or whatever the points use) per scene unit, normally
            :func:`scene_scale` of the frame-0 points.

    Returns:
        ``(T, N, 3)`` camera-space points, in the points' floating dtype.
    """
    points = np.asarray(points)
    motion = np.asarray(motion)
    if motion.ndim != 3 or motion.shape[1:] != (4, 4):
        raise ValueError(f"motion must have shape (T, 4, 4), got {motion.shape}")
    if points.ndim not in (2, 3) or points.shape[-1] != 3:
        raise ValueError(f"points must have shape (N, 3) or (T, N, 3), got {points.shape}")
    if points.ndim == 3 and points.shape[0] != motion.shape[0]:
        raise ValueError(f"points have {points.shape[0]} frames but the motion has {motion.shape[0]}")
    return transform_points(scale_motion(motion, scene_scale), points)


def camera_path(motion: np.ndarray, scene_scale: float = 1.0) -> np.ndarray:
    """Camera centres ``(T, 3)`` in frame-0 camera space, for plotting the path.

    The centre of frame ``t`` is ``M_t⁻¹ · 0`` for the scaled motion (``M_t`` maps frame-0
    points into camera ``t``).
    """
    return camera_centers(scale_motion(np.asarray(motion, dtype=np.float64), scene_scale))


# --------------------------------------------------------------------------------------------
# Human summary
# --------------------------------------------------------------------------------------------

# Words for what the *camera* does for a positive / negative value (verified by projection in
# tests/test_camera.py; see docs/CAMERA_MOTION.md).
_TRANS_WORDS = (("left", "right"), ("up", "down"), ("back", "forward"))
_ROT_WORDS = {
    "x": ("tilts down", "tilts up"),
    "y": ("pans left", "pans right"),
    "z": ("rolls counter-clockwise", "rolls clockwise"),
}
_ORBIT_WORDS = {"y": ("left", "right"), "x": ("up", "down")}


def _format_number(value: float) -> str:
    return f"{value:g}"


def _describe_step(step: CameraMotionStep) -> str:
    if step.verb == "trans":
        parts = [
            f"{words[0] if value > 0 else words[1]} {_format_number(abs(value))}"
            for value, words in zip(step.values, _TRANS_WORDS)
            if value != 0
        ]
        action = "camera moves " + ", ".join(parts) + " (× scene depth)" if parts else "no movement"
    elif step.verb == "rot":
        degrees = step.values[0]
        positive, negative = _ROT_WORDS[step.axis]
        action = f"camera {positive if degrees >= 0 else negative} {_format_number(abs(degrees))}°"
    elif step.verb == "orbit":
        degrees = step.values[0]
        positive, negative = _ORBIT_WORDS[step.axis]
        direction = positive if degrees >= 0 else negative
        action = f"camera orbits {direction} {_format_number(abs(degrees))}° around the scene centre"
    else:
        action = f"camera spirals (radius {_format_number(step.values[0])} × scene depth)"
    when = f"at frame {step.end}" if step.start == step.end else f"frames {step.start}–{step.end}"
    return f"{when}: {action}{_range_note(step)}"


def _range_note(step: CameraMotionStep) -> str:
    """Says when the written range was read differently: swapped (reversed) or clamped."""
    if step.written_range is None or step.written_range == (step.start, step.end):
        return ""
    first, second = step.written_range
    notes = []
    if first > second:
        notes.append("reversed range swapped")
    if min(first, second) < step.start or max(first, second) > step.end:
        notes.append("clamped to the clip")
    return f" (written {first} {second}: {', '.join(notes)})"


def describe_camera_motion(text: str | None, num_frames: int = DEFAULT_NUM_FRAMES) -> str:
    """A short human summary of a motion string, one line per step (``"static camera"`` if none).

    It accepts exactly the strings :func:`parse_camera_motion` accepts (it builds the matrices
    too), so a live check and a build never disagree.

    Raises:
        CameraMotionError: as :func:`parse_camera_motion`.
    """
    parse_camera_motion(text, num_frames)
    steps = parse_camera_motion_steps(text, num_frames)
    if not steps:
        return "static camera"
    return "\n".join(f"{i}. {_describe_step(step)}" for i, step in enumerate(steps, start=1))


# --------------------------------------------------------------------------------------------
# Warnings: frames that would show nothing
# --------------------------------------------------------------------------------------------


def blank_frames(
    motion: np.ndarray,
    *,
    height: int = DEFAULT_HEIGHT,
    width: int = DEFAULT_WIDTH,
    fov_deg: float = DEFAULT_FOV_DEG,
) -> np.ndarray:
    """Which frames would show none of a flat scene at the median depth: ``(T,)`` bool.

    The probe scene is a :data:`WARNING_PROBE_GRID` of points covering the frame-0 view at depth
    one scene unit (the median depth, where :func:`scale_motion` puts it), seen through a
    pinhole of ``fov_deg``. A frame is blank when no probe lands in its image in front of the
    camera: the tracking video would be black there for any scene near that depth.
    """
    rows, cols = WARNING_PROBE_GRID
    K = intrinsics_from_fov(width, height, fov_deg)
    v, u = np.meshgrid((np.arange(rows) + 0.5) * height / rows, (np.arange(cols) + 0.5) * width / cols, indexing="ij")
    probes = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], axis=-1).reshape(-1, 3)
    uvz = transform_and_project(probes, np.asarray(motion, dtype=np.float64), K)
    return ~in_frame(uvz, height, width).any(axis=-1)


def camera_motion_warnings(text: str | None, num_frames: int = DEFAULT_NUM_FRAMES, **view: Any) -> list[str]:
    """Plain-language warnings about a valid motion string (empty when there is nothing to say).

    Today: runs of frames that would show none of the scene (:func:`blank_frames`; ``view``
    passes ``height``/``width``/``fov_deg`` to it), e.g. ``trans 5 0 0`` or ``rot y 180`` —
    the tracking video would be black there and the model would have nothing to follow.

    Raises:
        CameraMotionError: as :func:`parse_camera_motion`.
    """
    blank = blank_frames(parse_camera_motion(text, num_frames), **view)
    warnings = []
    frames = np.flatnonzero(blank)
    if frames.size:
        breaks = np.flatnonzero(np.diff(frames) > 1)
        starts = np.concatenate([frames[:1], frames[breaks + 1]])
        ends = np.concatenate([frames[breaks], frames[-1:]])
        spans = ", ".join(f"{a}" if a == b else f"{a}–{b}" for a, b in zip(starts.tolist(), ends.tolist()))
        label = "frame" if frames.size == 1 else "frames"
        warnings.append(
            f"the camera sees none of the scene in {label} {spans} (of 0–{num_frames - 1}): the tracking "
            "video is black there and the model has nothing to follow. Use smaller moves or turns "
            "(one scene unit = the median depth of the scene)."
        )
    return warnings


# --------------------------------------------------------------------------------------------
# Camera path with view directions (for plots)
# --------------------------------------------------------------------------------------------

CAMERA_FORWARD = (0.0, 0.0, 1.0)
"""The viewing axis of an OpenCV camera in its own coordinates (+z forward)."""


@dataclass(frozen=True)
class CameraViewPath:
    """Where each frame's camera is and where it looks, in frame-0 camera space.

    Attributes:
        centres: ``(T, 3)`` camera centres (``M_t⁻¹ · 0``).
        view_directions: ``(T, 3)`` unit vectors along each camera's +z axis (``R_tᵀ · e_z``).
    """

    centres: np.ndarray
    view_directions: np.ndarray

    def look_points(self, distance: float) -> np.ndarray:
        """``(T, 3)`` points ``distance`` in front of each camera (same units as the centres)."""
        return self.centres + distance * self.view_directions


def camera_view_path(motion: np.ndarray, scene_scale: float = 1.0) -> CameraViewPath:
    """Camera centres and view directions of a motion ``(T, 4, 4)`` in frame-0 camera space.

    ``M_t`` maps frame-0 points into camera ``t`` (``p_t = R_t p_0 + t_t``), so camera ``t``'s
    forward axis seen from frame 0 is ``R_tᵀ · (0, 0, 1)`` and its centre ``-R_tᵀ t_t``. With
    the default ``scene_scale`` of 1 the centres are in scene units (the median frame-0
    depth), as the motion language states them.
    """
    scaled = scale_motion(np.asarray(motion, dtype=np.float64), scene_scale)
    world_from_camera_rotation = np.swapaxes(scaled[..., :3, :3], -1, -2)
    directions = world_from_camera_rotation @ np.asarray(CAMERA_FORWARD)
    return CameraViewPath(centres=camera_centers(scaled), view_directions=directions)
