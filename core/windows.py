"""Long videos as a chain of windows of the checkpoint's native length.

The model makes ``T`` frames at a time (``T`` = the checkpoint's native frame count, 49 for
DaS, about 6 s at 8 fps). A video of ``N`` windows has ``N·(T − 1) + 1`` frames:

- the task recipe builds **one** long tracking result of that many frames (motion transfer
  samples a longer stretch of the source; camera-motion frame ranges count frames of the whole
  length; a mesh animation spans the whole length);
- window ``k`` covers frames ``k·(T − 1) … k·(T − 1) + T − 1`` of it: consecutive windows share
  one frame (:func:`window_slices`);
- each window's tracking video is the matching slice re-rendered with colours from the
  positions and depths in *that window's* first frame (:func:`window_tracking`), because the
  model was trained on clips coloured by their own frame 0 (SPEC §5);
- window ``k + 1`` starts from the last generated frame of window ``k``; the engine
  (:meth:`core.engine.Engine.generate_windows`) drops that repeated frame when it joins them.

Torch-free: numpy and :mod:`core.render` only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from core import defaults, validation
from core.options import WorkingSize
from core.progress import CancelFn
from core.render import Footprint, render_tracking_video, track_colors

MIN_WINDOWS = 1
MAX_WINDOWS = 5
"""Most windows of one request: 5 × 48 + 1 = 241 frames (about 30 s at 8 fps) for DaS, under
:data:`core.validation.MAX_NUM_FRAMES` (257); every window costs a full generation."""

OVERLAP_FRAMES = 1
"""Frames shared by consecutive windows: the next window starts from the previous one's last frame."""

SECONDS_TOLERANCE = 1e-6
"""A length asked for in seconds that a window count reaches within this is reached (float noise)."""

DENSE_FOOTPRINT = "dense"
GRID_FOOTPRINT = "grid"

WINDOW_SEED_STRIDE = 1
"""Window ``k`` (0-based) uses seed ``(seed + k · stride) mod 2^63``: window 1 uses the request's
own seed (one window equals a plain generation), the others differ and are reproducible."""
SEED_MODULUS = validation.MAX_SEED + 1


class WindowError(validation.InputError):
    """A length (windows or seconds) that cannot be made with this checkpoint."""


@dataclass(frozen=True)
class Window:
    """One window of a long video.

    Attributes:
        index: 0-based position.
        start, stop: frames ``[start, stop)`` of the long clip it covers.
    """

    index: int
    start: int
    stop: int

    @property
    def frames(self) -> slice:
        return slice(self.start, self.stop)

    @property
    def number(self) -> int:
        """1-based, as shown to users and used in file names."""
        return self.index + 1


def max_windows(native_frames: int) -> int:
    """Most windows for a checkpoint of ``native_frames`` frames: :data:`MAX_WINDOWS`, fewer
    when the long clip would pass :data:`core.validation.MAX_NUM_FRAMES`."""
    native_frames = _native_frames(native_frames)
    if native_frames == 1:
        return 1
    return max(1, min(MAX_WINDOWS, (validation.MAX_NUM_FRAMES - OVERLAP_FRAMES) // (native_frames - OVERLAP_FRAMES)))


def _native_frames(value: Any) -> int:
    return validation.num_frames(value)


def total_frames(native_frames: int, windows: int) -> int:
    """Frames of ``windows`` chained windows of ``native_frames``: ``N·(T − 1) + 1``."""
    return windows * (int(native_frames) - OVERLAP_FRAMES) + OVERLAP_FRAMES


def check_windows(windows: Any, native_frames: int) -> int:
    """``windows`` as an int in ``1 … max_windows(native_frames)``.

    Raises:
        WindowError: not a whole number, or too many for this checkpoint.
    """
    highest = max_windows(native_frames)
    try:
        return validation.whole_number(windows, "windows", MIN_WINDOWS, highest)
    except validation.InputError as error:
        raise WindowError(
            f"{error} A window is {native_frames} frames; at most {highest} window(s) "
            f"({total_frames(native_frames, highest)} frames) fit in one request."
        ) from None


def window_count_for_seconds(seconds: Any, native_frames: int, fps: float = defaults.FPS) -> int:
    """The fewest windows whose video lasts at least ``seconds`` at ``fps``.

    ``N`` windows last ``(N·(T − 1) + 1) / fps`` seconds; anything up to one window's length
    gives 1.

    Raises:
        WindowError: not a positive number, or longer than :func:`max_windows` windows last.
    """
    native_frames = _native_frames(native_frames)
    highest = max_windows(native_frames)
    longest = total_frames(native_frames, highest) / fps
    try:
        seconds = validation.real_number(seconds, "length", 0.0, 1e6, low_open=True, unit="seconds")
    except validation.InputError as error:
        raise WindowError(str(error)) from None
    if seconds > longest + SECONDS_TOLERANCE:
        raise WindowError(
            f"length must be at most {longest:g} seconds ({highest} windows of {native_frames} frames at "
            f"{fps:g} fps); got {seconds:g}."
        )
    if native_frames == 1:
        return 1
    needed = (seconds * fps - OVERLAP_FRAMES) / (native_frames - OVERLAP_FRAMES)
    return max(MIN_WINDOWS, math.ceil(needed - SECONDS_TOLERANCE))


def seconds_for_windows(windows: int, native_frames: int, fps: float = defaults.FPS) -> float:
    """How long ``windows`` windows last at ``fps``."""
    return total_frames(native_frames, windows) / fps


def long_size(native: WorkingSize, windows: int) -> WorkingSize:
    """The working size of a ``windows``-window video: ``N·(T − 1) + 1`` frames, same picture size.

    Raises:
        WindowError: too many windows for this checkpoint (see :func:`check_windows`).
    """
    windows = check_windows(windows, native.num_frames)
    return WorkingSize(total_frames(native.num_frames, windows), native.height, native.width)


def windows_in(total: int, native_frames: int) -> Optional[int]:
    """How many windows a clip of ``total`` frames holds, or ``None`` if it is not
    ``N·(T − 1) + 1`` frames for a whole ``N ≥ 1``."""
    total, native_frames = int(total), int(native_frames)
    if native_frames < 2 or total < native_frames:
        return 1 if total == native_frames else None
    windows, remainder = divmod(total - OVERLAP_FRAMES, native_frames - OVERLAP_FRAMES)
    return windows if remainder == 0 else None


def window_slices(total: int, native_frames: int) -> list[Window]:
    """The windows of a ``total``-frame clip: ``native_frames`` each, one frame of overlap.

    Raises:
        WindowError: ``total`` is not ``N·(T − 1) + 1``.
    """
    windows = windows_in(total, native_frames)
    if windows is None:
        raise WindowError(
            f"a long clip must have N·({native_frames} − 1) + 1 frames (e.g. {total_frames(native_frames, 2)} "
            f"for 2 windows); got {total}: rebuild it with core.windows.long_size(...)"
        )
    step = native_frames - OVERLAP_FRAMES
    return [Window(index, index * step, index * step + native_frames) for index in range(windows)]


def window_seed(seed: int, index: int) -> int:
    """The seed of window ``index`` (0-based) for a request seed (see :data:`WINDOW_SEED_STRIDE`)."""
    return (int(seed) + index * WINDOW_SEED_STRIDE) % SEED_MODULUS


def tracking_footprint(tracking: Any) -> Footprint:
    """The footprint the recipe drew ``tracking`` with: ``metadata["footprint"]`` when recorded
    (mesh animation), else ``grid`` for tracks followed through a video, ``dense`` for a still."""
    metadata = getattr(tracking, "metadata", None) or {}
    recorded = metadata.get("footprint")
    if recorded is not None:
        return recorded if isinstance(recorded, str) else int(recorded)
    return GRID_FOOTPRINT if getattr(tracking, "tracker", None) else DENSE_FOOTPRINT


def has_tracks(tracking: Any) -> bool:
    """Whether ``tracking`` carries its tracks (an uploaded tracking video does not)."""
    uvz = getattr(tracking, "uvz", None)
    return uvz is not None and np.ndim(uvz) == 3 and np.shape(uvz)[1] > 0


def window_colors(tracking: Any, window: Window) -> np.ndarray:
    """``(N, 3)`` uint8 colours of the tracks for ``window``: from their position and depth in
    the window's first frame, the depth range over the points drawn there (as the recipes do
    for frame 0 of a clip)."""
    height, width = tracking.frames.shape[1:3]
    first = window.start
    return track_colors(
        tracking.uvz[first], height, width, range_from=np.asarray(tracking.visible[first], dtype=bool)
    )


def window_tracking(tracking: Any, window: Window, *, cancel: Optional[CancelFn] = None) -> np.ndarray:
    """The tracking video of one window, ``(T, H, W, 3)`` uint8.

    A result with tracks is re-rendered over the window's frames with :func:`window_colors`
    and the recipe's footprint (:func:`tracking_footprint`), so every window reads like a clip
    the model was trained on. A tracking video without tracks (made elsewhere) is sliced as it is.

    Args:
        tracking: a :class:`core.tasks.TrackingResult`, or ``(T, H, W, 3)`` uint8 frames.
        window: from :func:`window_slices`.
    """
    frames = np.asarray(getattr(tracking, "frames", tracking))
    if not has_tracks(tracking):
        return np.ascontiguousarray(frames[window.frames])
    if window.index == 0:
        return np.ascontiguousarray(frames[window.frames])  # already coloured from frame 0
    height, width = frames.shape[1:3]
    return render_tracking_video(
        tracking.uvz[window.frames],
        window_colors(tracking, window),
        height,
        width,
        visible=tracking.visible[window.frames],
        footprint=tracking_footprint(tracking),
        cancel=cancel,
    )
