"""Recipes that do not start from a photo: mesh animation and tracking videos rendered
elsewhere (SPEC §9, "Mesh animation"). Each returns a :class:`~core.tasks.result.TrackingResult`."""

from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np

from scipy.spatial import cKDTree

from core import defaults, validation
from core.camera import describe_camera_motion, parse_camera_motion, scale_motion, scene_scale
from core.geometry import in_frame, intrinsics_from_fov, transform_points
from core.media import sample_video_frames
from core.options import WorkingSize
from core.quality import ControlCheck, check_tracking
from core.progress import CancelFn, ProgressFn, check_cancel, report, scaled
from core.render import DENSE_SQUARE_SIDE
from core.tasks.common import choose_first_frame, describe_source, render_tracks
from core.tasks.result import (
    FIRST_FRAME_MESH_RENDER,
    FIRST_FRAME_USER_IMAGE,
    TaskInputError,
    TrackingResult,
)
from trackers.mesh import auto_frame_camera, load_mesh_sequence, procedural_animation, render_mesh_tracks

MESH_PROGRESS_SHARE = 0.6
"""Fraction of the mesh recipe's progress bar spent sampling/projecting the mesh."""


# --------------------------------------------------------------------------------------------
# Footprint and depth for scattered surface samples
# --------------------------------------------------------------------------------------------


COVERAGE_SIDE_PER_NEIGHBOUR_DISTANCE = 4.6
"""Square side, in median nearest-neighbour distances, that makes scattered samples read as a
solid surface. For points scattered uniformly with density ρ the median nearest-neighbour
distance is ``d = sqrt(ln 2 / (π ρ))`` and squares of side ``s`` cover ``1 − exp(−ρ s²)`` of
the surface; ``s = 4.6 d`` gives ``ρ s² ≈ 4.7``, i.e. about 99 % coverage."""
FOOTPRINT_PROBE_FRAMES = 5
"""Frames (spread over the clip) whose sample spacing decides the footprint."""


def sample_footprint(uvz: np.ndarray, visible: np.ndarray) -> str | int:
    """A footprint that closes the gaps between scattered surface samples.

    Surface samples are not on a pixel grid: where they are dense enough the ``dense`` 3×3
    square already covers the surface; sparser samples get squares of side
    :data:`COVERAGE_SIDE_PER_NEIGHBOUR_DISTANCE` × their median nearest-neighbour distance,
    taken in the sparsest of a few frames spread over the clip (a camera moving closer
    spreads the samples apart).

    Args:
        uvz: ``(T, N, 3)`` tracks; visible: ``(T, N)`` bool, the samples that are drawn.

    Returns:
        ``"dense"`` or a square side in pixels.
    """
    spacing = 0.0
    probes = np.unique(np.linspace(0, uvz.shape[0] - 1, FOOTPRINT_PROBE_FRAMES).round().astype(np.int64))
    for frame in probes:
        uv = np.asarray(uvz[frame], dtype=np.float64)[np.asarray(visible[frame], dtype=bool), :2]
        uv = uv[np.isfinite(uv).all(axis=1)]
        if len(uv) >= 2:
            distances, _ = cKDTree(uv).query(uv, k=2)  # k=2: the nearest neighbour other than itself
            spacing = max(spacing, float(np.median(distances[:, 1])))
    side = math.ceil(COVERAGE_SIDE_PER_NEIGHBOUR_DISTANCE * spacing)
    return "dense" if side <= DENSE_SQUARE_SIDE else side


def depth_from_tracks(uvz0: np.ndarray, visible0: np.ndarray, height: int, width: int) -> Optional[np.ndarray]:
    """A frame-0 depth map ``(H, W)`` float32 from scattered tracks: the nearest point per pixel,
    the farthest drawn depth where no point lands. ``None`` without drawable points."""
    uvz0 = np.asarray(uvz0, dtype=np.float64)
    drawable = np.asarray(visible0, dtype=bool) & in_frame(uvz0, height, width) & np.isfinite(uvz0[:, 2])
    if not drawable.any():
        return None
    points = uvz0[drawable]
    depth = np.full(height * width, np.inf)
    pixels = np.floor(points[:, 1]).astype(np.int64) * width + np.floor(points[:, 0]).astype(np.int64)
    np.minimum.at(depth, pixels, points[:, 2])
    depth[~np.isfinite(depth)] = points[:, 2].max()
    return depth.reshape(height, width).astype(np.float32)


# --------------------------------------------------------------------------------------------
# Mesh animation
# --------------------------------------------------------------------------------------------


def _check_on_black(frames: np.ndarray, uvz: np.ndarray, drawn: np.ndarray, metadata: dict) -> ControlCheck:
    """The controllability check of an object on black (a mesh, a tracking video made
    elsewhere), where a mostly black frame is expected: only the scene-wide warnings apply.
    Recorded in ``metadata["check"]`` for the settings JSON."""
    check = check_tracking(frames, uvz, drawn, approximate_depth=False, black_background=True)
    metadata["check"] = check.to_dict()
    return check


def mesh_animation(
    mesh_source: Any,
    *,
    procedural: Optional[str] = None,
    amount: Optional[float] = None,
    camera_motion: Optional[str] = None,
    num_points: Optional[int] = None,
    fov_deg: float = defaults.FOV_DEG,
    size: WorkingSize = WorkingSize(),
    resize_mode: str = defaults.DEFAULT_RESIZE_MODE,
    fps: float = defaults.FPS,
    first_frame: Any = None,
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelFn] = None,
) -> TrackingResult:
    """Mesh animation: an animated mesh seen by a (moving) camera as a tracking video (SPEC §9).

    Args:
        mesh_source: a mesh file, a folder / zip of per-frame meshes with one topology, or a
            ``trimesh.Trimesh`` (with ``procedural``).
        procedural: ``None`` (the source is already animated) or a procedural motion of one
            mesh (``"turntable"``, ``"translate"``, … see ``trackers.mesh``), with ``amount``.
        camera_motion: optional camera-motion string (SPEC §6) applied on top.
        num_points: surface samples (default: the mesh module's).
        fov_deg: horizontal field of view of the virtual camera.
        size: working size (``WorkingSize.from_native(engine.native_size())``).
        resize_mode: how a user ``first_frame`` is resized.
        fps: frame rate of the clip (meshes have no source time).
        first_frame: ``None`` = the mesh's own shaded render, or a user image (e.g. a Blender
            render with textures).

    Raises:
        MeshError: unreadable mesh / unknown procedural motion. CameraMotionError. Cancelled.
    """
    num_frames, height, width = size.num_frames, size.height, size.width
    motion = parse_camera_motion(camera_motion, num_frames) if camera_motion else None
    fps = validation.fps(fps)
    fov_deg = validation.fov(fov_deg)
    if num_points is not None:
        num_points = validation.num_points(num_points)
    if procedural and amount is not None:
        amount = validation.mesh_amount(amount, procedural)
    report(progress, 0.0, "loading the mesh")
    if procedural:
        sequence = procedural_animation(mesh_source, procedural, num_frames, amount)
    else:
        sequence = load_mesh_sequence(mesh_source, num_frames)
    check_cancel(cancel, "mesh animation")
    scale = None
    if motion is not None:
        # Camera translations are in units of the scene's median frame-0 depth (SPEC §6): the
        # depth of the mesh seen by the auto-framed camera that render_mesh_tracks will use.
        framing, _ = auto_frame_camera(sequence.vertices, intrinsics_from_fov(width, height, fov_deg), height, width)
        scale = scene_scale(transform_points(framing, np.asarray(sequence.vertices[0], dtype=np.float64)))
        motion = scale_motion(motion, scale)
    render_kwargs: dict[str, Any] = {"camera_motion": motion, "fov_deg": fov_deg}
    if num_points is not None:
        render_kwargs["num_points"] = int(num_points)
    tracks = render_mesh_tracks(
        sequence, height, width, progress=scaled(progress, 0.0, MESH_PROGRESS_SHARE), cancel=cancel, **render_kwargs
    )
    uvz = np.asarray(tracks.uvz, dtype=np.float32)
    # Only the surface facing the camera, like a rendered tracking video: samples on hidden
    # parts would show through the gaps between the visible ones.
    visible = np.asarray(tracks.visible, dtype=bool) & ~np.asarray(tracks.occluded, dtype=bool)
    footprint = sample_footprint(uvz, visible)
    frames, colors = render_tracks(
        uvz, visible, height, width, footprint=footprint, progress=scaled(progress, MESH_PROGRESS_SHARE, 1.0), cancel=cancel
    )
    mesh_render = np.asarray(tracks.first_frame, dtype=np.uint8)
    first, origin = choose_first_frame(first_frame, mesh_render, height, width, resize_mode, FIRST_FRAME_MESH_RENDER)
    metadata = {
        "task": "mesh_animation",
        "source": describe_source(mesh_source),
        "procedural": procedural,
        "amount": None if amount is None else float(amount),
        "camera_motion": camera_motion or "",
        "camera_description": describe_camera_motion(camera_motion, num_frames),
        "scene_scale": None if scale is None else round(float(scale), 6),
        "num_points": int(uvz.shape[1]),
        "footprint": footprint,
        "fov_deg": float(fov_deg),
        "fps": float(fps),
        "num_frames": int(num_frames),
        "height": int(height),
        "width": int(width),
        "first_frame": origin,
    }
    check = _check_on_black(frames, uvz, visible, metadata)
    report(progress, 1.0, "tracking video ready")
    return TrackingResult(
        frames=frames,
        first_frame=first,
        source_frames=None,
        uvz=uvz,
        visible=visible,
        colors=colors,
        fps=float(fps),
        points=np.asarray(tracks.points[0], dtype=np.float32),
        point_colors=np.asarray(tracks.colors_rgb, dtype=np.uint8),
        metadata=metadata,
        depth=depth_from_tracks(uvz[0], visible[0], height, width),
        task="mesh_animation",
        first_frame_origin=origin,
        check=check,
    )


# --------------------------------------------------------------------------------------------
# A tracking video rendered elsewhere
# --------------------------------------------------------------------------------------------


ASPECT_TOLERANCE = 0.01
"""Relative aspect difference below which an uploaded tracking video counts as the model's aspect."""


def from_tracking_video(
    path: Any,
    *,
    first_frame: Any = None,
    size: WorkingSize = WorkingSize(),
    resize_mode: str = "stretch",
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelFn] = None,
) -> TrackingResult:
    """Use a tracking video rendered elsewhere (e.g. by Blender, as DaS required for meshes).

    The video is resampled uniformly over its whole length to ``size.num_frames`` and resized
    to ``size.height × size.width`` with ``resize_mode``; its fps is set so the clip lasts as long as the
    source. It carries no tracks, so ``uvz``/``points`` are empty.

    Its colours encode each point's frame-0 position relative to the frame (SPEC §5), so the
    default ``"stretch"`` (what DaS did) keeps that code exact whatever the video's aspect;
    ``"crop"`` or ``"pad"`` would shift it. The first frame is fitted the same way so the two
    stay aligned, and enlarging is bilinear (no invented colours). ``metadata["aspect_changed"]``
    says whether the video's aspect differed from ``width / height`` by more than
    :data:`ASPECT_TOLERANCE` (render at the model's 3:2 to avoid distortion).

    Args:
        path: the tracking video file.
        first_frame: required — the image the generated video starts from (path/array/PIL).

    Raises:
        TaskInputError: no first frame. MediaError: unreadable video or image.
    """
    if first_frame is None:
        raise TaskInputError(
            "a tracking video made elsewhere needs a first-frame image (the first frame of the video you "
            "want, e.g. your textured render): pass first_frame= / --first-frame"
        )
    num_frames, height, width = size.num_frames, size.height, size.width
    report(progress, 0.0, "reading the tracking video")
    # Streamed: only the frames used are kept, at the working size (a long, large upload stays cheap).
    sampled = sample_video_frames(path, num_frames, height, width, resize_mode, content="tracking")
    check_cancel(cancel, "reading the tracking video")
    picked = sampled.frames
    source_count, source_fps = sampled.source_frame_count, sampled.source_fps
    source_height, source_width = sampled.source_size
    duration = source_count / float(source_fps) if source_fps and source_fps > 0 else num_frames / defaults.FPS
    fps = num_frames / duration if duration > 0 else defaults.FPS
    first, _ = choose_first_frame(first_frame, picked[0], height, width, resize_mode, FIRST_FRAME_USER_IMAGE)
    metadata = {
        "task": "from_tracking_video",
        "source": describe_source(path),
        "source_frames": source_count,
        "source_fps": float(source_fps or 0.0),
        "fps": float(fps),
        "num_frames": int(num_frames),
        "height": int(height),
        "width": int(width),
        "resize_mode": resize_mode,
        "source_size": [int(source_height), int(source_width)],
        "aspect_changed": bool(abs(source_width * height / (source_height * width) - 1.0) > ASPECT_TOLERANCE),
        "first_frame": FIRST_FRAME_USER_IMAGE,
    }
    frames = np.ascontiguousarray(picked, dtype=np.uint8)
    no_tracks = np.zeros((num_frames, 0, 3), dtype=np.float32)
    # The tracks behind an uploaded video are unknown: only its coverage can be checked.
    check = _check_on_black(frames, no_tracks, np.zeros((num_frames, 0), dtype=bool), metadata)
    report(progress, 1.0, "tracking video ready")
    return TrackingResult(
        frames=frames,
        first_frame=first,
        source_frames=None,
        uvz=no_tracks,
        visible=np.zeros((num_frames, 0), dtype=bool),
        colors=np.zeros((0, 3), dtype=np.uint8),
        fps=float(fps),
        points=np.zeros((0, 3), dtype=np.float32),
        point_colors=np.zeros((0, 3), dtype=np.uint8),
        metadata=metadata,
        depth=None,
        task="from_tracking_video",
        first_frame_origin=FIRST_FRAME_USER_IMAGE,
        check=check,
    )
