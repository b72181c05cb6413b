"""Building blocks shared by the task recipes: scenes from images and videos, sampling,
projection + rendering, first-frame choice. Conventions: SPEC §3 / :mod:`core.geometry`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from core import geometry
from core.progress import CancelFn, ProgressFn, scaled
from core.render import render_tracking_video, track_colors
from core.tasks.result import TaskInputError

DEFAULT_NUM_FRAMES = 49
DEFAULT_HEIGHT = 480
DEFAULT_WIDTH = 720
DEFAULT_FPS = 8.0
"""Working clip length, size and frame rate when the caller does not pass the engine's native size."""
DEFAULT_GRID_SIZE = 70
"""Tracks per side of the grid laid over frame 0 (DaS: 70 × 70)."""
TRACKING_PROGRESS_SHARE = 0.6
"""Fraction of a video scene's progress spent on 2D tracking (the rest is video depth)."""


# --------------------------------------------------------------------------------------------
# Sampling and visibility
# --------------------------------------------------------------------------------------------


def sample_nearest(maps: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Per-frame maps read at the pixel each continuous position falls in.

    Depth at a track is read from one pixel, as DaS does: interpolating between a near and a
    far pixel at a depth edge would invent a point floating between the two surfaces (with its
    own parallax under camera motion and a blue between theirs).

    Args:
        maps: ``(T, H, W)`` values (e.g. depth).
        uv: ``(T, N, 2)`` pixel positions (pixel ``(r, c)`` covers ``[c, c+1) × [r, r+1)``,
            SPEC §3); positions outside the frame or non-finite are clamped to the border.

    Returns:
        ``(T, N)`` float32.
    """
    maps = np.asarray(maps, dtype=np.float32)
    num_frames, height, width = maps.shape
    column = np.clip(np.floor(np.nan_to_num(uv[..., 0], nan=0.0)), 0, width - 1).astype(np.int64)
    row = np.clip(np.floor(np.nan_to_num(uv[..., 1], nan=0.0)), 0, height - 1).astype(np.int64)
    return maps[np.arange(num_frames)[:, None], row, column]


def until_lost(visible: np.ndarray) -> np.ndarray:
    """Tracks to draw: every frame up to the last one the tracker saw the point in.

    DaS draws occluded tracks too (painter's order handles occlusion); only a track lost for
    good — never visible again — is dropped (SPEC §5).

    Args:
        visible: ``(T, N)`` bool from the tracker.

    Returns:
        ``(T, N)`` bool: ``True`` where the point is visible now or in some later frame.
    """
    visible = np.asarray(visible, dtype=bool)
    return np.flip(np.logical_or.accumulate(np.flip(visible, axis=0), axis=0), axis=0)


def intrinsics_or_fov(K: Optional[np.ndarray], width: int, height: int, fov_deg: float) -> tuple[np.ndarray, str]:
    """The estimator's intrinsics when it gave any, else a pinhole with ``fov_deg``; and which."""
    if K is not None:
        return np.asarray(K, dtype=np.float64), "estimated"
    return geometry.intrinsics_from_fov(width, height, fov_deg), f"fov {fov_deg:g}°"


# --------------------------------------------------------------------------------------------
# Scenes
# --------------------------------------------------------------------------------------------


@dataclass
class ImageScene:
    """A dense point cloud from one image: a point per pixel, row-major.

    ``points0 (H·W, 3)`` camera space, ``uvz0 (H·W, 3)`` its pixel tracks, ``depth (H, W)``,
    ``K (3, 3)``, ``valid (H·W,)`` bool: False where the estimator had no depth (e.g. sky
    masked by MoGe, or no disparity); such pixels hold a stand-in depth and are not drawn, as
    DaS leaves them black.
    """

    points0: np.ndarray
    uvz0: np.ndarray
    depth: np.ndarray
    K: np.ndarray
    metadata: dict[str, Any]
    valid: np.ndarray


@dataclass
class VideoScene:
    """Grid tracks lifted to 3D with time-aligned depth.

    ``uvz (T, N, 3)`` tracks with the depth of the pixel under each, ``visible (T, N)`` the tracker's raw
    visibility, ``depth (T, H, W)``, ``K (3, 3)``.
    """

    uvz: np.ndarray
    visible: np.ndarray
    depth: np.ndarray
    K: np.ndarray
    metadata: dict[str, Any]


def image_scene(
    image: np.ndarray,
    *,
    depth_method: str,
    fov_deg: float,
    device: Optional[str] = None,
    allow_download: bool = False,
) -> ImageScene:
    """Depth (+ intrinsics when the estimator gives them) → one point per pixel.

    Args:
        image: ``(H, W, 3)`` uint8.
    """
    from trackers.depth import estimate_depth

    height, width = image.shape[:2]
    result = estimate_depth(image, depth_method, device=device, allow_download=allow_download)
    K, intrinsics_source = intrinsics_or_fov(result.intrinsics, width, height, fov_deg)
    depth = np.asarray(result.depth, dtype=np.float32)
    grid = geometry.pixel_grid(height, width).reshape(-1, 2)
    uvz0 = np.concatenate([grid, depth.reshape(-1, 1)], axis=1).astype(np.float32)
    points0 = geometry.unproject_uvz(uvz0, K).astype(np.float32)
    valid = np.asarray(result.valid, dtype=bool).reshape(-1)
    if not valid.any():
        raise TaskInputError(
            f"the depth estimator ({result.source}) found no usable depth in this image; "
            "try another depth model or another image"
        )
    metadata = {
        "depth_source": result.source,
        "depth_approximate": bool(result.approximate),
        "depth_metric": bool(result.metric),
        "intrinsics": intrinsics_source,
        "focal_px": round(float(K[0, 0]), 3),
        "pixels_without_depth": int((~valid).sum()),
    }
    return ImageScene(points0=points0, uvz0=uvz0, depth=depth, K=K, metadata=metadata, valid=valid)


def video_scene(
    frames: np.ndarray,
    *,
    grid_size: int,
    tracker: str,
    depth_method: str,
    fov_deg: float,
    device: Optional[str] = None,
    allow_download: bool = False,
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelFn] = None,
) -> VideoScene:
    """2D grid tracks + per-frame depth aligned over time along those tracks → ``uvz``.

    Args:
        frames: ``(T, H, W, 3)`` uint8.
        progress: tracking reports into [0, :data:`TRACKING_PROGRESS_SHARE`], depth into the rest.
    """
    from trackers.depth import BUILTIN_METHOD, estimate_video_depth
    from trackers.points import track_points

    if grid_size < 2:
        raise TaskInputError(f"grid_size must be at least 2 points per side, got {grid_size}")
    num_frames, height, width = frames.shape[:3]
    tracks = track_points(frames, grid_size, method=tracker, progress=scaled(progress, 0.0, TRACKING_PROGRESS_SHARE), cancel=cancel)
    depth, K, depth_source = estimate_video_depth(
        frames,
        depth_method,
        tracks=tracks,
        device=device,
        allow_download=allow_download,
        progress=scaled(progress, TRACKING_PROGRESS_SHARE, 1.0),
        cancel=cancel,
    )
    K, intrinsics_source = intrinsics_or_fov(K, width, height, fov_deg)
    uv = np.asarray(tracks.uv, dtype=np.float32)
    z = sample_nearest(depth, uv)
    uvz = np.concatenate([uv, z[..., None]], axis=-1).astype(np.float32)
    metadata = {
        "tracker": tracks.method,
        "grid_size": int(grid_size),
        "num_tracks": int(uv.shape[1]),
        "depth_source": depth_source,
        "depth_approximate": depth_source == BUILTIN_METHOD,
        "intrinsics": intrinsics_source,
        "focal_px": round(float(K[0, 0]), 3),
    }
    return VideoScene(uvz=uvz, visible=np.asarray(tracks.visible, dtype=bool), depth=depth, K=K, metadata=metadata)


def preview_cloud(depth: np.ndarray, K: np.ndarray, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The frame-0 point cloud for a 3D preview: one point per pixel with the image's colour.

    Args:
        depth: ``(H, W)`` camera-space depth; image: ``(H, W, 3)`` uint8.

    Returns:
        ``points (H·W, 3)`` float32 and ``colors (H·W, 3)`` uint8.
    """
    points = geometry.unproject_depth(np.asarray(depth, dtype=np.float32), K).reshape(-1, 3)
    return points.astype(np.float32), np.ascontiguousarray(image.reshape(-1, 3))


# --------------------------------------------------------------------------------------------
# Projection + rendering
# --------------------------------------------------------------------------------------------


def transform_and_project_object(
    points: np.ndarray, selected: np.ndarray, motion: np.ndarray, object_motion: np.ndarray, K: np.ndarray
) -> np.ndarray:
    """``uvz`` of a still cloud with one rigidly moving object: ``p_t = M_t · O_t · p`` for the
    selected points, ``M_t · p`` for the others (SPEC §7: object motion before camera motion).

    The same as projecting ``core.object_motion.apply_object_motion(points, selected, O)`` moved
    by ``M``, without materialising the ``(T, N, 3)`` moved cloud (~200 MB for a dense 49-frame clip).

    Args:
        points: ``(N, 3)`` frame-0 cloud; selected: ``(N,)`` bool.
        motion: ``(T, 4, 4)`` camera motion; object_motion: ``(T, 4, 4)`` object transforms.
        K: ``(3, 3)`` intrinsics.

    Returns:
        ``(T, N, 3)`` float32 ``uvz``.
    """
    points = np.asarray(points, dtype=np.float32)
    uvz = np.empty((motion.shape[0], points.shape[0], 3), dtype=np.float32)
    uvz[:, ~selected] = geometry.transform_and_project(points[~selected], motion, K)
    uvz[:, selected] = geometry.transform_and_project(points[selected], np.asarray(motion) @ np.asarray(object_motion), K)
    return uvz


def render_projected(
    uvz: np.ndarray,
    height: int,
    width: int,
    *,
    footprint: str,
    keep: Optional[np.ndarray] = None,
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelFn] = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw projected tracks, hiding those outside the frame, behind the camera or not kept.

    Args:
        uvz: ``(T, N, 3)`` projected tracks.
        footprint: ``"dense"`` or ``"grid"`` (see :func:`core.render.render_tracking_video`).
        keep: optional ``(T, N)`` bool; False hides a point (e.g. a track lost for good).

    Returns:
        ``frames (T, H, W, 3)`` uint8, ``visible (T, N)`` bool (what was drawn), ``colors (N, 3)``
        uint8 from the tracks' frame-0 position and depth.
    """
    visible = geometry.in_frame(uvz, height, width)
    if keep is not None:
        visible &= keep
    frames, colors = render_tracks(uvz, visible, height, width, footprint=footprint, progress=progress, cancel=cancel)
    return frames, visible, colors


def render_tracks(
    uvz: np.ndarray,
    visible: np.ndarray,
    height: int,
    width: int,
    *,
    footprint: str,
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelFn] = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw tracks that are already in pixels (motion transfer, meshes); returns frames and colours.

    The depth colour range comes from the points drawn on frame 0 (``visible[0]``): for a mesh
    the hidden back would otherwise take up half of it.
    """
    colors = track_colors(uvz[0], height, width, range_from=np.asarray(visible[0], dtype=bool))
    frames = render_tracking_video(
        uvz, colors, height, width, visible=visible, footprint=footprint, progress=progress, cancel=cancel
    )
    return frames, colors


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


def choose_first_frame(
    first_frame: Any, default: np.ndarray, height: int, width: int, resize_mode: str, default_label: str
) -> tuple[np.ndarray, str]:
    """The image the generated video starts from, and where it came from.

    Args:
        first_frame: ``None`` (use ``default``), or a user image (path, ``(h, w, 3)`` array or
            PIL image) resized to ``height × width`` with ``resize_mode`` like the source.
        default: ``(H, W, 3)`` uint8, e.g. the source's first frame.
    """
    if first_frame is None:
        return default, default_label
    from core.media import load_image

    return load_image(first_frame, height, width, resize_mode=resize_mode), "user image"


def describe_source(source: Any) -> str:
    """A short, JSON-ready description of an input for the metadata (file name or array shape)."""
    if isinstance(source, (str, Path)):
        return Path(source).name
    shape = getattr(source, "shape", None)
    if shape is not None:
        return f"array {tuple(int(s) for s in shape)}"
    size = getattr(source, "size", None)
    return f"image {size}" if size is not None else type(source).__name__
