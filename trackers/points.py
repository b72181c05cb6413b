"""2D point tracks on a grid over a video's first frame (SPEC §9, motion transfer): the
public API of the point trackers.

:func:`track_points` tracks a ``grid_size × grid_size`` grid of frame-0 points (optionally
only those inside an object mask) with the tracker ``method`` names;
:func:`available_point_trackers` and :func:`resolve_point_tracker` say which trackers are
usable here. Pixel conventions are those of :mod:`core.geometry`: the centre of pixel
(row ``r``, column ``c``) is at ``(c + 0.5, r + 0.5)``.

Trackers:

- ``"lk"`` (built in, weights-free): Lucas–Kanade with checks that gives every track a
  position in every frame, predicting the ones it cannot confirm — :mod:`trackers.lk_tracker`.
- ``"cotracker3"``: Meta's CoTracker3 (offline model) from a local checkpoint, the
  ``torch.hub`` cache, or a download when allowed — :mod:`trackers.cotracker`. ``"auto"``
  prefers it whenever it is usable, else the built-in tracker.

Shared types (:class:`PointTracks`, :class:`PointTrackingError`) live in
:mod:`trackers.tracks`; this module re-exports them and the names other code uses.

**Visibility.** ``visible`` says where the tracker confirmed a point. The built-in tracker
marks predicted positions False (hidden, flat, or failing a check) and True again once LK
finds the point; CoTracker reports occlusion frame by frame in the same way, its ``uv`` being
its estimate throughout. Both give finite positions for every track in every frame.
Visibility is for diagnostics (how much was predicted rather than seen); it does not decide
what is drawn: every track is drawn wherever it is inside the frame, occlusion being left to
the painter's order, as DaS does (SPEC §5).
"""

from __future__ import annotations

import logging
from typing import Optional

import numpy as np

from core import geometry
from core.object_motion import ObjectMotionError
from core.object_motion import mask_to_bool as object_mask_to_bool
from core.progress import CancelFn, ProgressFn, report
from trackers.cotracker import (
    CHECKPOINTS_ENV,
    COTRACKER3_APPROX_GB,
    COTRACKER_CHECKPOINT_FILES,
    COTRACKER_HUB_ENTRY,
    COTRACKER_HUB_FOLDER,
    COTRACKER_HUB_REPO,
    COTRACKER_HUB_WEIGHTS,
    CoTrackerDownloadError,
    CoTrackerSource,
    cotracker_hub_code_dir,
    cotracker_source,
    load_cotracker,
    prefetch_cotracker,
    torch_hub_dir,
    track_points_cotracker,
    tracker_checkpoints_dir,
)
from trackers.lk_tracker import track_points_lk
from trackers.tracks import COTRACKER_METHOD, LK_METHOD, PointTrackingError, PointTracks

# The public API, re-exports included: other modules import these names from here.
__all__ = [
    "CHECKPOINTS_ENV",
    "COTRACKER3_APPROX_GB",
    "COTRACKER_CHECKPOINT_FILES",
    "COTRACKER_HUB_ENTRY",
    "COTRACKER_HUB_FOLDER",
    "COTRACKER_HUB_REPO",
    "COTRACKER_HUB_WEIGHTS",
    "COTRACKER_METHOD",
    "CoTrackerDownloadError",
    "CoTrackerSource",
    "DEFAULT_GRID_SIZE",
    "LK_METHOD",
    "PointTrackingError",
    "PointTracks",
    "available_point_trackers",
    "cotracker_hub_code_dir",
    "cotracker_source",
    "grid_points",
    "load_cotracker",
    "mask_to_bool",
    "prefetch_cotracker",
    "resolve_point_tracker",
    "torch_hub_dir",
    "track_points",
    "track_points_cotracker",
    "track_points_lk",
    "tracker_checkpoints_dir",
]

logger = logging.getLogger(__name__)

DEFAULT_GRID_SIZE = 70
"""DaS tracks a 70 × 70 grid for motion transfer."""


def grid_points(height: int, width: int, grid_size: int = DEFAULT_GRID_SIZE) -> np.ndarray:
    """Centres of a ``grid_size × grid_size`` partition of the frame.

    Cell ``(i, j)`` (row ``i``, column ``j``) has its centre at
    ``((j + 0.5) W / g, (i + 0.5) H / g)``; points are ordered row by row.

    Returns:
        ``(g², 2)`` float32 ``(u, v)``.
    """
    if grid_size < 1:
        raise PointTrackingError(f"grid size must be at least 1, got {grid_size}")
    u = (np.arange(grid_size, dtype=np.float64) + 0.5) * (width / grid_size)
    v = (np.arange(grid_size, dtype=np.float64) + 0.5) * (height / grid_size)
    uu, vv = np.meshgrid(u, v)
    return np.stack([uu.ravel(), vv.ravel()], axis=-1).astype(np.float32)


def mask_to_bool(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    """A user mask as ``(H, W)`` bool at the video's size, read by the one mask rule of the
    project (:func:`core.object_motion.mask_to_bool`: at least half white, or the painted
    pixels of a paint layer).

    Raises:
        PointTrackingError: an unreadable encoding, another size, or an empty mask.
    """
    try:
        selected = object_mask_to_bool(mask)
    except ObjectMotionError as error:
        raise PointTrackingError(str(error)) from error
    if selected.shape != (height, width):
        raise PointTrackingError(
            f"the mask is {selected.shape[1]}×{selected.shape[0]} px but the video is "
            f"{width}×{height}; resize the mask to the video first"
        )
    if not selected.any():
        raise PointTrackingError("the mask is empty: paint the object white on the first frame")
    return selected


def _query_points(height: int, width: int, grid_size: int, mask: Optional[np.ndarray]) -> np.ndarray:
    points = grid_points(height, width, grid_size)
    if mask is None:
        return points
    selected = mask_to_bool(mask, height, width)
    inside = geometry.sample_nearest(selected, points)
    if not inside.any():
        raise PointTrackingError(
            f"the mask covers no point of the {grid_size}×{grid_size} grid; enlarge the mask or raise the grid size"
        )
    return points[inside]



def available_point_trackers(allow_download: bool = False) -> dict[str, str]:
    """Usable point trackers, name → description, best first (``"auto"`` takes the first).

    Args:
        allow_download: also list CoTracker3 when it would be fetched on first use.
    """
    trackers = {}
    source = cotracker_source(allow_download)
    if source is not None:
        note = "downloads ~100 MB on first use" if source.downloads else "learned, robust to occlusion"
        trackers[COTRACKER_METHOD] = f"CoTracker3 ({note})"
    trackers[LK_METHOD] = "Lucas–Kanade optical flow with forward–backward check (built in, no weights)"
    return trackers


def resolve_point_tracker(method: str = "auto", allow_download: bool = False) -> str:
    """The tracker ``method`` stands for (``"auto"`` → CoTracker3 when usable, else the built-in
    one), without loading anything.

    Raises:
        PointTrackingError: unknown, or not usable here.
    """
    available = available_point_trackers(allow_download)
    name = next(iter(available)) if method == "auto" else method
    if name not in available:
        known = {LK_METHOD, COTRACKER_METHOD}
        if name in known:
            raise PointTrackingError(f"point tracker {name!r} is not available here; use one of {list(available)}")
        raise PointTrackingError(f"unknown point tracker {name!r}; choose one of {list(available)} or 'auto'")
    return name


def track_points(
    frames: np.ndarray,
    grid_size: int = DEFAULT_GRID_SIZE,
    *,
    mask: Optional[np.ndarray] = None,
    method: str = "auto",
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelFn] = None,
    allow_download: bool = False,
) -> PointTracks:
    """Track a regular grid of frame-0 points through a video.

    Args:
        frames: ``(T, H, W, 3)`` uint8 RGB video.
        grid_size: the grid is ``grid_size × grid_size`` cells over the whole frame (see
            :func:`grid_points`); with ``mask`` only the points inside the object are kept.
        mask: optional ``(H, W)`` object mask on frame 0 (white = object).
        method: ``"auto"`` or a key of :func:`available_point_trackers`.
        progress, cancel: see :mod:`core.progress`; cancel is checked between frames.
        allow_download: may CoTracker3 be fetched with ``torch.hub`` when not here.

    Returns:
        :class:`PointTracks` with ``uv (T, N, 2)`` float32 and ``visible (T, N)`` bool.

    Raises:
        PointTrackingError: bad frames, mask or method.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise PointTrackingError(f"frames must be a (T, H, W, 3) RGB video, got shape {frames.shape}")
    if frames.dtype != np.uint8:
        raise PointTrackingError(f"frames must be uint8, got {frames.dtype}")
    if frames.shape[0] == 0:
        raise PointTrackingError("the video has no frames")
    height, width = frames.shape[1:3]
    query_uv = _query_points(height, width, grid_size, mask)
    name = resolve_point_tracker(method, allow_download)
    if name == COTRACKER_METHOD:
        try:
            return track_points_cotracker(frames, query_uv, progress=progress, cancel=cancel, allow_download=allow_download)
        except CoTrackerDownloadError as error:
            if method != "auto":
                raise
            # The build info then names the tracker actually used (lk).
            logger.warning("%s; using the built-in tracker", error)
            report(progress, 0.0, "CoTracker3 could not be downloaded; using the built-in tracker")
    return track_points_lk(frames, query_uv, progress=progress, cancel=cancel)
