"""Recipes that start from user photos or videos: motion transfer, camera control, object
manipulation (SPEC §9). Each returns a :class:`~core.tasks.result.TrackingResult`."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Optional

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from core import defaults, geometry
from core.camera import describe_camera_motion, parse_camera_motion, scale_motion, scene_scale
from core.media import MediaError, VideoClip, load_media, resize_frames
from core.object_motion import (
    ObjectMotionError,
    apply_object_motion,
    mask_to_bool,
    object_motion_transforms,
    select_points,
)
from core.options import CAMERA_APPEND, CAMERA_STABILISE, ClipOptions, ObjectMove, TrackingOptions, WorkingSize
from core.quality import check_tracking
from core.progress import CancelFn, ProgressFn, check_cancel, report, scaled
from core.source_camera import FOCAL_REFINED, SourceCameraEstimate, estimate_source_poses, lift_to_world
from core.tasks.common import (
    INTRINSICS_ESTIMATED,
    Scene,
    choose_first_frame,
    describe_source,
    lift_scene,
    lift_video,
    preview_cloud,
    render_projected,
    transform_and_project_object,
)
from core.tasks.result import FIRST_FRAME_SOURCE, TaskInputError, TrackingResult
from trackers.object_depth import dense_cloud, rigid_object_depth, rigid_track_depth

SCENE_PROGRESS_SHARE = 0.75
"""Fraction of a video recipe's progress bar spent on tracking + depth (the rest is rendering)."""
IMAGE_DEPTH_PROGRESS_SHARE = 0.3
"""Fraction of a still-image recipe's progress bar spent on depth (the rest is rendering)."""
MASK_ASPECT_TOLERANCE = 0.02
"""Relative aspect-ratio difference above which a mask cannot belong to the source image."""
MASK_BINARY_THRESHOLD = 128
"""A resized 0/255 mask is the object where it is at least half white."""


def _load_clip(source: Any, size: WorkingSize, clip: ClipOptions) -> VideoClip:
    """A :class:`core.media.VideoClip` from a path, an image, or a ``(T, h, w, 3)`` uint8 array."""
    if isinstance(source, np.ndarray) and source.ndim == 4:
        return _clip_from_array(source, size, clip)
    return load_media(
        source, size.num_frames, size.height, size.width, resize_mode=clip.resize_mode, start_s=clip.start_s
    )


def _clip_from_array(frames: np.ndarray, size: WorkingSize, clip: ClipOptions) -> VideoClip:
    """An in-memory video, taken to be at :data:`core.defaults.FPS`, sampled like a file (SPEC §8):
    ``T`` consecutive frames from ``start_s``, or all remaining frames resampled uniformly
    when fewer are left (the output fps then keeps the covered duration)."""
    if frames.dtype != np.uint8 or frames.shape[-1] != 3 or frames.shape[0] == 0:
        raise MediaError(f"a video array must be (T, H, W, 3) uint8 with T >= 1; got {frames.shape} {frames.dtype}")
    num_frames = size.num_frames
    first = min(int(round(clip.start_s * defaults.FPS)), frames.shape[0] - 1)
    remaining = frames.shape[0] - first
    if remaining >= num_frames:
        picked, fps = frames[first : first + num_frames], defaults.FPS
    else:
        picked = frames[first + np.round(np.linspace(0, remaining - 1, num_frames)).astype(np.int64)]
        fps = num_frames * defaults.FPS / remaining
    return VideoClip(
        frames=resize_frames(picked, size.height, size.width, clip.resize_mode),
        fps=float(fps),
        source_fps=defaults.FPS,
        start_s=first / defaults.FPS,
        duration_s=num_frames / fps,
        source_duration_s=frames.shape[0] / defaults.FPS,
        is_image=False,
    )


def _base_metadata(task: str, source: Any, clip: VideoClip, size: WorkingSize, options: ClipOptions) -> dict:
    return {
        "task": task,
        "source": describe_source(source),
        "source_is_image": bool(clip.is_image),
        "start_s": float(clip.start_s),
        "fps": float(clip.fps),
        "num_frames": int(size.num_frames),
        "height": int(size.height),
        "width": int(size.width),
        "resize_mode": options.resize_mode,
    }


def _result(
    task: str,
    scene: Scene,
    clip: VideoClip,
    size: WorkingSize,
    options: ClipOptions,
    first_frame: Any,
    *,
    frames: np.ndarray,
    uvz: np.ndarray,
    visible: np.ndarray,
    colors: np.ndarray,
    metadata: dict[str, Any],
    camera_path: Optional[np.ndarray] = None,
) -> TrackingResult:
    """The :class:`TrackingResult` of a recipe that lifted ``clip`` into ``scene``, with its
    controllability check (:func:`core.quality.check_tracking`); ``camera_path`` ``(T, 3)``
    camera centres for the 3D preview (see ``TrackingResult.camera_path``)."""
    check = check_tracking(
        frames,
        uvz,
        visible,
        seen=None if scene.is_still else scene.tracked_visible,
        approximate_depth=scene.approximate_depth,
    )
    first, origin = choose_first_frame(
        first_frame, clip.frames[0], size.height, size.width, options.resize_mode, FIRST_FRAME_SOURCE
    )
    return TrackingResult(
        frames=frames,
        first_frame=first,
        source_frames=clip.frames,
        uvz=uvz,
        visible=visible,
        colors=colors,
        fps=float(clip.fps),
        points=scene.preview[0],
        point_colors=scene.preview[1],
        metadata={**metadata, "first_frame": origin, "check": check.to_dict()},
        depth=scene.depth0,
        check=check,
        task=task,
        first_frame_origin=origin,
        depth_source=scene.depth_source,
        tracker=scene.tracker,
        approximate_depth=scene.approximate_depth,
        tracked_visible=scene.tracked_visible,
        camera_path=None if camera_path is None else np.asarray(camera_path, dtype=np.float32),
    )


# --------------------------------------------------------------------------------------------
# Motion transfer
# --------------------------------------------------------------------------------------------


def motion_transfer(
    video: Any,
    *,
    size: WorkingSize = WorkingSize(),
    clip: ClipOptions = ClipOptions(),
    tracking: TrackingOptions = TrackingOptions(),
    first_frame: Any = None,
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelFn] = None,
) -> TrackingResult:
    """Motion transfer: the source video's motion as a tracking video (SPEC §9).

    A ``grid_size × grid_size`` grid of 2D tracks (:mod:`trackers.points`) plus per-frame
    depth aligned over time along those tracks (:func:`trackers.depth.estimate_video_depth`)
    give ``uvz`` (depth read at the pixel under each track); tracks are drawn with the ``grid``
    footprint, coloured by their frame-0 position and depth. As in DaS, every track is drawn
    in every frame where it is inside the frame — the tracker predicts positions through
    occlusion and the painter's order hides what is behind; the tracker's own visibility is
    kept in ``TrackingResult.tracked_visible``.

    Args:
        video: path to a video (or a ``(T, h, w, 3)`` uint8 array); ``T`` frames are sampled at
            8 fps from ``clip.start_s`` seconds (SPEC §8).
        size: working size — ``WorkingSize.from_native(engine.native_size())``.
        clip: resize mode and start time (``source_mode`` must not be ``"image"``).
        tracking: depth method, tracker, grid size, field of view, device, downloads.
        first_frame: ``None`` (the video's first frame) or an edited image (path/array/PIL),
            resized like the video — the usual way to change appearance and keep the motion.
        progress, cancel: see :mod:`core.progress`.

    Returns:
        :class:`TrackingResult`; ``points`` is the dense frame-0 cloud with the video's colours.

    Raises:
        MediaError: unreadable video. TaskInputError: a still image (or ``source_mode="image"``)
        was given, or a video whose frames are all identical. Cancelled: ``cancel()`` returned True.
    """
    if clip.source_mode == "image":
        raise TaskInputError("motion transfer follows a whole video; source_mode='image' does not apply to it")
    loaded = _load_clip(video, size, clip)
    if loaded.is_image:
        raise TaskInputError(
            "motion transfer needs a video (its motion is what gets transferred); for a still image use "
            "camera control or object manipulation"
        )
    frames = loaded.frames
    if len(frames) > 1 and not np.any(frames[1:] != frames[:1]):
        # Every sampled frame is the same picture (a one-frame video, or a still exported as one):
        # tracking would only report "no motion", after all the work.
        raise TaskInputError(
            f"the {loaded.duration_s:.1f} s of video used (from {loaded.start_s:.1f} s) show one still picture (all "
            "frames identical), so there is no motion to transfer: start later in the video (start_s), or "
            "use camera control or object manipulation to move a still"
        )
    scene = lift_video(frames, tracking, progress=scaled(progress, 0.0, SCENE_PROGRESS_SHARE), cancel=cancel)
    rendered, visible, colors = render_projected(
        scene.uvz,
        size.height,
        size.width,
        footprint=scene.footprint,
        progress=scaled(progress, SCENE_PROGRESS_SHARE, 1.0),
        cancel=cancel,
    )
    metadata = {**_base_metadata("motion_transfer", video, loaded, size, clip), **scene.metadata}
    report(progress, 1.0, "tracking video ready")
    return _result(
        "motion_transfer", scene, loaded, size, clip, first_frame,
        frames=rendered, uvz=scene.uvz, visible=visible, colors=colors, metadata=metadata,
    )


# --------------------------------------------------------------------------------------------
# Camera control and object manipulation
# --------------------------------------------------------------------------------------------


_EXIF_ORIENTATION_TAG = 0x0112
_EXIF_ORIENTATIONS_SWAPPING_SIDES = frozenset({5, 6, 7, 8})
"""EXIF orientations that turn the picture by 90° (transposed, rotated 270°/90°, transversed)."""


def _upright_size(image: Any) -> tuple[int, int]:
    """``(height, width)`` of a PIL image as shown, i.e. after its EXIF orientation, which
    :func:`core.media.load_image` applies (a phone photo stored sideways)."""
    orientation = image.getexif().get(_EXIF_ORIENTATION_TAG)
    if orientation in _EXIF_ORIENTATIONS_SWAPPING_SIDES:
        return image.width, image.height
    return image.height, image.width


def _source_size(source: Any) -> Optional[tuple[int, int]]:
    """``(height, width)`` of the source as shown, before resizing, when cheap to know (images,
    arrays)."""
    if isinstance(source, np.ndarray):
        return (int(source.shape[-3]), int(source.shape[-2])) if source.ndim >= 3 else None
    if isinstance(source, (str, Path)):
        try:
            with Image.open(source) as image:
                return _upright_size(image)
        except (OSError, UnidentifiedImageError):
            return None  # a video or an unreadable file: core.media reports it properly
    if isinstance(source, Image.Image):
        return _upright_size(source)
    return None


def load_mask(
    mask: Any,
    height: int,
    width: int,
    *,
    resize_mode: str = "crop",
    source_size: Optional[tuple[int, int]] = None,
) -> tuple[np.ndarray, Optional[list[int]]]:
    """A user mask as ``(H, W)`` bool (white or opaque = object) at the working size.

    Args:
        mask: path, PIL image or array in any encoding :func:`core.object_motion.mask_to_bool`
            accepts — drawn on the working-size first frame, or on the source image at its own size.
        height, width: working size.
        resize_mode: how the source was resized; a mask at the source's size is resized the same
            way so it stays aligned with the picture (an explicit resize, noted in the metadata).
        source_size: ``(h, w)`` of the source before resizing, when known; a mask whose aspect
            ratio differs from it cannot be aligned and is refused.

    Returns:
        The mask and, when it was resized, its original ``[h, w]``.

    Raises:
        ObjectMotionError: no mask, unreadable, empty, or of an incompatible shape.
    """
    if mask is None:
        raise ObjectMotionError("object manipulation needs a mask: paint the object white on the first frame")
    if isinstance(mask, (str, Path)):
        try:
            with Image.open(mask) as opened:
                image = ImageOps.exif_transpose(opened)  # a photographed or phone-edited mask
                mask = np.asarray(image.convert("RGBA") if image.mode in ("RGBA", "LA", "P") else image)
        except (OSError, UnidentifiedImageError) as error:
            raise ObjectMotionError(f"could not read the mask image {mask}: {error}") from error
    elif not isinstance(mask, np.ndarray):
        mask = np.asarray(mask)
    selected = mask_to_bool(mask)
    if not selected.any():
        raise ObjectMotionError("the mask is empty: paint the object white (or opaque) on a black background")
    if selected.shape == (height, width):
        return selected, None
    mask_h, mask_w = selected.shape
    if source_size is not None:
        source_aspect, mask_aspect = source_size[1] / source_size[0], mask_w / mask_h
        if abs(mask_aspect / source_aspect - 1.0) > MASK_ASPECT_TOLERANCE:
            raise ObjectMotionError(
                f"the mask is {mask_w}×{mask_h} px but the image is {source_size[1]}×{source_size[0]} (or "
                f"{width}×{height} after resizing); draw the mask on the image itself"
            )
    grey = np.repeat((selected.astype(np.uint8) * 255)[..., None], 3, axis=-1)
    resized = resize_frames(grey, height, width, resize_mode)[..., 0] >= MASK_BINARY_THRESHOLD
    if not resized.any():
        raise ObjectMotionError("the mask covers only a part of the image that the resize cropped away")
    return resized, [mask_h, mask_w]


def _rigid_object(scene: Scene, mask: np.ndarray, selected: np.ndarray) -> Scene:
    """The scene with the masked object given a depth that moves as one rigid thing
    (:mod:`trackers.object_depth`): with approximate depth, the depth where the object meets
    the ground; with a depth model, its own relief with edge bleeding clipped. Without this,
    a rigid 3D offset moves each pixel in proportion to ``1/z`` and the object shears.

    Args:
        mask: ``(H, W)`` bool object mask at the working size.
        selected: ``(N,)`` bool, the scene's points inside the mask.
    """
    if scene.is_still:
        depth0 = rigid_object_depth(scene.depth0, mask, approximate=scene.approximate_depth)
        _, points = dense_cloud(depth0, scene.K)
        points = points.astype(np.float32)
        return dataclasses.replace(
            scene, points=points, depth=depth0[None], preview=(points[scene.keep], scene.preview[1])
        )
    uvz = rigid_track_depth(scene.uvz, selected, approximate=scene.approximate_depth, alive=scene.tracked_visible)
    return dataclasses.replace(scene, uvz=uvz, points=geometry.unproject_uvz(uvz, scene.K))


def _scene_recipe(
    task: str,
    source: Any,
    camera_motion: Optional[str],
    move: Optional[ObjectMove],
    *,
    size: WorkingSize,
    clip: ClipOptions,
    tracking: TrackingOptions,
    first_frame: Any,
    progress: Optional[ProgressFn],
    cancel: Optional[CancelFn],
) -> TrackingResult:
    """Camera control, optionally with a masked rigid object motion applied first (SPEC §7, §9)."""
    num_frames, height, width = size.num_frames, size.height, size.width
    # Check the cheap user inputs before any heavy work (ObjectMove checked itself when built).
    motion = parse_camera_motion(camera_motion or "", num_frames)
    loaded = _load_clip(source, size, clip)
    if clip.source_mode == "video" and loaded.is_image:
        raise TaskInputError("source_mode='video' needs a video, but a still image was given")
    still = bool(loaded.is_image) or clip.source_mode == "image"
    _check_camera_mode(clip.camera_mode, still, camera_motion)
    mask = mask_from = None
    if move is not None:
        mask, mask_from = load_mask(move.mask, height, width, resize_mode=clip.resize_mode, source_size=_source_size(source))
    check_cancel(cancel, task)
    render_start = IMAGE_DEPTH_PROGRESS_SHARE if still else SCENE_PROGRESS_SHARE
    scene = lift_scene(loaded.frames, still, tracking, progress=scaled(progress, 0.0, render_start), cancel=cancel)
    metadata = _base_metadata(task, source, loaded, size, clip)
    metadata.update(camera_motion=camera_motion or "", camera_description=describe_camera_motion(camera_motion, num_frames))
    if still:
        metadata.update(scene.metadata, mode="image", num_points=int(scene.points.shape[0]))
    else:
        metadata.update(scene.metadata, mode="video", camera_mode=clip.camera_mode)
    estimate = None
    if clip.camera_mode != CAMERA_APPEND:
        # Estimated from the tracks as the tracker saw them, before a rigid object's depth is re-fitted.
        report(progress, render_start, "estimating the source camera")
        focal_known = scene.metadata.get("intrinsics") == INTRINSICS_ESTIMATED
        estimate = estimate_source_poses(scene.uvz, scene.tracked_visible, scene.K, focal_known=focal_known)
        metadata.update(source_camera_metadata(estimate))
        if estimate.focal == FOCAL_REFINED:
            # The poses belong to the refined focal length: lift (and later project) with it too.
            scene = dataclasses.replace(
                scene,
                K=estimate.K,
                points=geometry.unproject_uvz(scene.uvz, estimate.K),
                preview=preview_cloud(scene.depth[0], estimate.K, loaded.frames[0]),
            )
            metadata["focal_px"] = round(float(estimate.K[0, 0]), 3)
            metadata["intrinsics"] = f"refined from {metadata.get('intrinsics', 'an assumed field of view')}"
        check_cancel(cancel, "estimating the source camera")

    selected = None
    if move is not None:
        selected = select_points(mask, scene.uv0, height, width)
        scene = _rigid_object(scene, mask, selected)
    if estimate is not None:
        # World = frame-0 camera space: points0, and so the scene scale below, are unchanged.
        world = lift_to_world(scene.points, estimate.cam_to_world, static=estimate.static)
        scene = dataclasses.replace(scene, points=world.astype(np.float32))

    # Camera translations are in units of the median frame-0 depth of the points that are drawn.
    scale = scene_scale(scene.points0[scene.keep])
    metadata["scene_scale"] = round(float(scale), 6)
    camera = scale_motion(motion, scale)
    if move is None:
        uvz = geometry.transform_and_project(scene.points, camera, scene.K)
    else:
        transforms = object_motion_transforms(
            scene.points0, selected, move.motion, move.amount, num_frames, scene.K, width=width
        )
        if still:
            uvz = transform_and_project_object(scene.points, selected, camera, transforms, scene.K)
        else:
            uvz = geometry.transform_and_project(apply_object_motion(scene.points, selected, transforms), camera, scene.K)
        metadata.update(
            object_motion=move.motion,
            object_amount=move.amount,
            object_points=int(selected.sum()),
            mask_resized_from=mask_from,
        )
    rendered, visible, colors = render_projected(
        uvz,
        height,
        width,
        footprint=scene.footprint,
        keep=scene.keep,
        progress=scaled(progress, render_start, 1.0),
        cancel=cancel,
    )
    report(progress, 1.0, "tracking video ready")
    return _result(
        task, scene, loaded, size, clip, first_frame,
        frames=rendered, uvz=uvz, visible=visible, colors=colors, metadata=metadata,
        camera_path=None if estimate is None else estimate.camera_centres,
    )


def _check_camera_mode(camera_mode: str, still: bool, camera_motion: Optional[str]) -> None:
    """Refuse camera-mode combinations that cannot mean anything, before any heavy work.

    Raises:
        TaskInputError: ``override`` / ``stabilise`` on a still (it has no camera of its own to
            replace), or ``stabilise`` with a camera-motion string (a still camera has no path).
    """
    if camera_mode == CAMERA_APPEND:
        return
    if still:
        raise TaskInputError(
            f"camera mode {camera_mode!r} replaces a video's own camera, but the source is used as a still "
            "(an image, or source_mode='image'), which has none: use camera mode 'append' for a still"
        )
    if camera_mode == CAMERA_STABILISE and (camera_motion or "").strip():
        raise TaskInputError(
            f"camera mode 'stabilise' holds the camera still, so the camera motion {camera_motion!r} cannot apply: "
            "clear the camera motion, or use camera mode 'override' to follow it instead of the source camera"
        )


def source_camera_metadata(estimate: SourceCameraEstimate) -> dict[str, Any]:
    """JSON-ready facts about an estimated source camera, for the settings export: how many
    tracks were judged static, the median per-frame reprojection error (pixels), the
    camera centres (frame-0 camera space, units of the frame-0 depth) and the field of view
    the poses belong to (``source_focal``: refined, known from the depth model, or assumed)."""
    residual = np.asarray(estimate.residual_px, dtype=np.float64)
    finite = residual[np.isfinite(residual)]
    return {
        "source_static_tracks": int(np.count_nonzero(estimate.static)),
        "source_residual_px": round(float(np.median(finite)), 4) if finite.size else None,
        "source_residual_max_px": round(float(np.max(finite)), 4) if finite.size else None,
        "source_camera_path": np.round(estimate.camera_centres, 5).tolist(),
        "source_fov_deg": round(float(estimate.fov_deg), 3),
        "source_assumed_fov_deg": round(float(estimate.assumed_fov_deg), 3),
        "source_fov_std_deg": round(float(estimate.fov_std_deg), 3) if np.isfinite(estimate.fov_std_deg) else None,
        "source_focal": estimate.focal,
    }


def camera_control(
    source: Any,
    camera_motion: Optional[str] = "",
    *,
    size: WorkingSize = WorkingSize(),
    clip: ClipOptions = ClipOptions(),
    tracking: TrackingOptions = TrackingOptions(),
    first_frame: Any = None,
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelFn] = None,
) -> TrackingResult:
    """Camera control: a camera-motion string applied to a photo or a video (SPEC §6, §9).

    - **Image** (or ``clip.source_mode="image"``): depth (+ intrinsics when the estimator gives
      them, else a pinhole of ``tracking.fov_deg``) → one point per pixel → ``p_t = M_t · p_0``
      with translations in units of the median frame-0 depth → project → ``dense`` footprint.
    - **Video**: grid tracks + aligned depth, each frame's tracks lifted into that frame's
      camera, then the camera mode ``clip.camera_mode`` (:data:`core.options.CAMERA_MODES`):
      ``append`` adds the camera motion on top of the source camera (``p_t = M_t · p_t^source``);
      ``override`` estimates the source camera (:func:`core.source_camera.estimate_source_poses`),
      lifts every frame's tracks to world (= frame-0 camera space) with it and views them from
      the camera motion instead (``p_t = M_t · C_t · p_t^source``); ``stabilise`` is ``override``
      with a still camera (no camera motion allowed) → project → ``grid`` footprint; every track
      is drawn wherever it lands inside the frame. Translations are in units of the median
      frame-0 depth in every mode. ``override`` / ``stabilise`` also set
      ``TrackingResult.camera_path`` (the estimated source camera centres) and the metadata
      ``source_static_tracks``, ``source_residual_px``, ``source_camera_path``.

    Args:
        source: image or video (path, array, PIL image).
        camera_motion: the motion string (``"trans 0 0 -0.5; rot y 10"``, see
            ``docs/CAMERA_MOTION.md``); empty = static camera.
        size, clip, tracking, first_frame, progress, cancel: as :func:`motion_transfer`;
            ``clip.source_mode`` is one of :data:`core.options.SOURCE_MODES`.

    Raises:
        CameraMotionError: invalid motion string (checked before any heavy work).
        TaskInputError: ``override`` / ``stabilise`` on a still, or ``stabilise`` with a camera
            motion (checked before any heavy work).
        SourceCameraError: the source camera cannot be estimated (``override`` / ``stabilise``).
        MediaError, Cancelled.
    """
    return _scene_recipe(
        "camera_control",
        source,
        camera_motion,
        None,
        size=size,
        clip=clip,
        tracking=tracking,
        first_frame=first_frame,
        progress=progress,
        cancel=cancel,
    )


def object_manipulation(
    source: Any,
    move: ObjectMove,
    *,
    camera_motion: Optional[str] = None,
    size: WorkingSize = WorkingSize(),
    clip: ClipOptions = ClipOptions(),
    tracking: TrackingOptions = TrackingOptions(),
    first_frame: Any = None,
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelFn] = None,
) -> TrackingResult:
    """Object manipulation: move the masked object rigidly, optionally with a camera motion (SPEC §7).

    As :func:`camera_control`, plus: ``move.mask`` (white/opaque = object, on frame 0) selects
    the points; ``move.motion`` (``up|down|left|right|front|back|rot``) with ``move.amount``
    (fraction of the frame width at the object's depth; fraction of its depth; degrees for
    ``rot``) moves them about their 3D centroid, reached linearly over the clip, before the
    camera motion.

    Args:
        move: the mask (at the working size, or at the source's own size — then resized the
            same way as the source), the motion and the amount; see :class:`core.options.ObjectMove`.
        camera_motion: optional camera-motion string applied after the object motion.
        clip: as :func:`camera_control`, including ``clip.camera_mode`` for a video: with
            ``override`` / ``stabilise`` the object moves in world space (frame-0 camera space)
            and the result is seen from the new camera.

    Raises:
        ObjectMotionError: empty or misaligned mask (a missing mask, an unknown motion or a bad
            amount are refused when the :class:`~core.options.ObjectMove` is built).
        CameraMotionError, MediaError, TaskInputError, SourceCameraError, Cancelled: as
            :func:`camera_control`.
    """
    return _scene_recipe(
        "object_manipulation",
        source,
        camera_motion,
        move,
        size=size,
        clip=clip,
        tracking=tracking,
        first_frame=first_frame,
        progress=progress,
        cancel=cancel,
    )
