"""Building blocks shared by the task recipes: lifting a still or a video into a 3D
:class:`Scene`, projection + rendering, first-frame choice. Conventions: SPEC §3 /
:mod:`core.geometry`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

import trackers.depth
import trackers.points
from core import geometry
from core.geometry import sample_nearest
from core.media import load_image
from core.options import TrackingOptions
from core.progress import CancelFn, ProgressFn, check_cancel, report, scaled
from core.render import render_tracking_video, track_colors
from core.tasks.result import FIRST_FRAME_USER_IMAGE, TaskInputError

TRACKING_PROGRESS_SHARE = 0.6
"""Fraction of a video scene's progress spent on 2D tracking (the rest is video depth)."""
DENSE_FOOTPRINT = "dense"
"""Footprint of a still's one-point-per-pixel cloud (SPEC §5)."""
GRID_FOOTPRINT = "grid"
"""Footprint of a video's grid tracks (SPEC §5)."""


INTRINSICS_ESTIMATED = "estimated"
"""A scene's metadata ``intrinsics`` when the depth model gave them (else ``"fov N°"``): the
source camera then keeps that focal length instead of refining it."""


def intrinsics_or_fov(K: Optional[np.ndarray], width: int, height: int, fov_deg: float) -> tuple[np.ndarray, str]:
    """The estimator's intrinsics when it gave any, else a pinhole with ``fov_deg``; and which."""
    if K is not None:
        return np.asarray(K, dtype=np.float64), INTRINSICS_ESTIMATED
    return geometry.intrinsics_from_fov(width, height, fov_deg), f"fov {fov_deg:g}°"


# --------------------------------------------------------------------------------------------
# Scenes: a still or a video lifted to 3D
# --------------------------------------------------------------------------------------------


@dataclass
class Scene:
    """A source lifted into 3D camera space, ready to be moved, projected and drawn.

    Attributes:
        points: a still: ``(N, 3)`` one static cloud, a point per pixel in row-major order;
            a video: ``(T, N, 3)`` the grid tracks, each frame in that frame's own camera.
        uvz: ``(T, N, 3)`` the video's tracks in pixels with the depth under each; ``None`` for
            a still (its points do not move by themselves).
        uv0: ``(N, 2)`` frame-0 pixel position of each point (what a mask selects by).
        K: ``(3, 3)`` intrinsics.
        keep: ``(N,)`` bool, points that may be drawn at all: a still's pixels where the
            estimator had depth (sky masked by MoGe, no disparity: left black as in DaS);
            all True for a video, whose every grid track is drawn wherever it is inside the
            frame (DaS: the tracker predicts positions through occlusion, SPEC §5).
        tracked_visible: ``(T, N)`` bool, where the 2D tracker saw each video track
            (diagnostics); ``None`` for a still.
        depth: ``(T, H, W)`` float32 depth per frame (a still: ``T = 1``).
        preview: frame-0 cloud for a 3D preview, ``(points (M, 3) float32, colours (M, 3) uint8)``.
        footprint: :data:`DENSE_FOOTPRINT` (still) or :data:`GRID_FOOTPRINT` (video).
        depth_source, tracker, approximate_depth: what made the scene (tracker ``None`` for a still).
        metadata: JSON-ready facts for the settings export.
    """

    points: np.ndarray
    uvz: Optional[np.ndarray]
    uv0: np.ndarray
    K: np.ndarray
    keep: np.ndarray
    tracked_visible: Optional[np.ndarray]
    depth: np.ndarray
    preview: tuple[np.ndarray, np.ndarray]
    footprint: str
    depth_source: str
    tracker: Optional[str]
    approximate_depth: bool
    metadata: dict[str, Any]

    @property
    def is_still(self) -> bool:
        return self.uvz is None

    @property
    def points0(self) -> np.ndarray:
        """``(N, 3)`` the frame-0 cloud in camera space."""
        return self.points if self.is_still else self.points[0]

    @property
    def depth0(self) -> np.ndarray:
        """``(H, W)`` frame-0 depth."""
        return self.depth[0]


def lift_still(image: np.ndarray, tracking: TrackingOptions, *, progress: Optional[ProgressFn] = None) -> Scene:
    """Depth (+ intrinsics when the estimator gives them, else a pinhole of ``tracking.fov_deg``)
    → one point per pixel.

    Args:
        image: ``(H, W, 3)`` uint8.

    Raises:
        TaskInputError: the estimator found no usable depth anywhere.
    """
    height, width = image.shape[:2]
    result = trackers.depth.estimate_depth(
        image, tracking.depth_method, device=tracking.device, allow_download=tracking.allow_download, progress=progress
    )
    K, intrinsics_source = intrinsics_or_fov(result.intrinsics, width, height, tracking.fov_deg)
    depth = np.asarray(result.depth, dtype=np.float32)
    grid = geometry.pixel_grid(height, width).reshape(-1, 2).astype(np.float32)
    points = geometry.unproject_uvz(np.concatenate([grid, depth.reshape(-1, 1)], axis=1), K).astype(np.float32)
    valid = np.asarray(result.valid, dtype=bool).reshape(-1)
    if not valid.any():
        raise TaskInputError(
            f"the depth estimator ({result.source}) found no usable depth in this image; "
            "try another depth model or another image"
        )
    metadata = {
        "depth_source": result.source,
        "depth_model": result.model,
        "depth_approximate": bool(result.approximate),
        "depth_metric": bool(result.metric),
        "intrinsics": intrinsics_source,
        "focal_px": round(float(K[0, 0]), 3),
        "pixels_without_depth": int((~valid).sum()),
    }
    return Scene(
        points=points,
        uvz=None,
        uv0=grid,
        K=K,
        keep=valid,
        tracked_visible=None,
        depth=depth[None],
        preview=(points[valid], np.ascontiguousarray(image.reshape(-1, 3)[valid])),
        footprint=DENSE_FOOTPRINT,
        depth_source=str(result.source),
        tracker=None,
        approximate_depth=bool(result.approximate),
        metadata=metadata,
    )


def lift_video(
    frames: np.ndarray,
    tracking: TrackingOptions,
    *,
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelFn] = None,
) -> Scene:
    """2D grid tracks + per-frame depth aligned over time along those tracks → 3D tracks.

    Args:
        frames: ``(T, H, W, 3)`` uint8.
        progress: tracking reports into [0, :data:`TRACKING_PROGRESS_SHARE`], depth into the rest.
    """
    num_frames, height, width = frames.shape[:3]
    tracks = trackers.points.track_points(
        frames,
        tracking.grid_size,
        method=tracking.tracker,
        allow_download=tracking.allow_download,
        progress=scaled(progress, 0.0, TRACKING_PROGRESS_SHARE),
        cancel=cancel,
    )
    depth, K, depth_source = trackers.depth.estimate_video_depth(
        frames,
        tracking.depth_method,
        tracks=tracks,
        device=tracking.device,
        allow_download=tracking.allow_download,
        progress=scaled(progress, TRACKING_PROGRESS_SHARE, 1.0),
        cancel=cancel,
    )
    K, intrinsics_source = intrinsics_or_fov(K, width, height, tracking.fov_deg)
    depth = np.asarray(depth, dtype=np.float32)
    uv = np.asarray(tracks.uv, dtype=np.float32)
    z = sample_nearest(depth, uv)
    uvz = np.concatenate([uv, z[..., None]], axis=-1).astype(np.float32)
    approximate = depth_source == trackers.depth.BUILTIN_METHOD
    metadata = {
        "tracker": tracks.method,
        "grid_size": int(tracking.grid_size),
        "num_tracks": int(uv.shape[1]),
        "depth_source": depth_source,
        "depth_approximate": approximate,
        "intrinsics": intrinsics_source,
        "focal_px": round(float(K[0, 0]), 3),
    }
    return Scene(
        points=geometry.unproject_uvz(uvz, K),
        uvz=uvz,
        uv0=uv[0],
        K=K,
        keep=np.ones(uv.shape[1], dtype=bool),
        tracked_visible=np.asarray(tracks.visible, dtype=bool),
        depth=depth,
        preview=preview_cloud(depth[0], K, frames[0]),
        footprint=GRID_FOOTPRINT,
        depth_source=str(depth_source),
        tracker=str(tracks.method),
        approximate_depth=bool(approximate),
        metadata=metadata,
    )


def lift_scene(
    frames: np.ndarray,
    still: bool,
    tracking: TrackingOptions,
    *,
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelFn] = None,
) -> Scene:
    """The one "lift into a scene" step of the recipes: frame 0 as a still (:func:`lift_still`)
    or the whole clip as a video (:func:`lift_video`), with progress reported into [0, 1]."""
    if still:
        report(progress, 0.0, "estimating depth")
        scene = lift_still(frames[0], tracking, progress=progress)
        check_cancel(cancel, "estimating depth")
        return scene
    return lift_video(frames, tracking, progress=progress, cancel=cancel)


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
        keep: optional ``(N,)`` or ``(T, N)`` bool; False hides a point (e.g. a pixel without depth).

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
    first_frame: Any, default: np.ndarray, height: int, width: int, resize_mode: str, default_origin: str
) -> tuple[np.ndarray, str]:
    """The image the generated video starts from, and its origin (``TrackingResult.first_frame_origin``).

    Args:
        first_frame: ``None`` (use ``default``), or a user image (path, ``(h, w, 3)`` array or
            PIL image) resized to ``height × width`` with ``resize_mode`` like the source.
        default: ``(H, W, 3)`` uint8, e.g. the source's first frame, whose origin is ``default_origin``.
    """
    if first_frame is None:
        return default, default_origin
    return load_image(first_frame, height, width, resize_mode=resize_mode), FIRST_FRAME_USER_IMAGE


def describe_source(source: Any) -> str:
    """A short, JSON-ready description of an input for the metadata (file name or array shape)."""
    if isinstance(source, (str, Path)):
        return Path(source).name
    shape = getattr(source, "shape", None)
    if shape is not None:
        return f"array {tuple(int(s) for s in shape)}"
    size = getattr(source, "size", None)
    return f"image {size}" if size is not None else type(source).__name__
