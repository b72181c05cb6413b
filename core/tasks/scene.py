"""Recipes that start from user photos or videos: motion transfer, camera control, object
manipulation (SPEC §9). Each returns a :class:`~core.tasks.result.TrackingResult`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np

from core import geometry
from core.camera import describe_camera_motion, parse_camera_motion, scale_motion, scene_scale
from core.geometry import DEFAULT_FOV_DEG
from core.object_motion import (
    ObjectMotionError,
    OBJECT_MOTIONS,
    apply_object_motion,
    mask_to_bool,
    object_motion_transforms,
    select_points,
)
from core.progress import CancelFn, ProgressFn, check_cancel, report, scaled
from core.tasks.common import (
    DEFAULT_FPS,
    DEFAULT_GRID_SIZE,
    DEFAULT_HEIGHT,
    DEFAULT_NUM_FRAMES,
    DEFAULT_WIDTH,
    choose_first_frame,
    describe_source,
    image_scene,
    preview_cloud,
    render_projected,
    render_tracks,
    transform_and_project_object,
    until_lost,
    video_scene,
)
from core.tasks.result import TaskInputError, TrackingResult

SOURCE_MODES = ("auto", "image", "video")
"""How camera control / object manipulation read their source: ``auto`` (a still → dense
cloud, a video → its own tracks with the motion appended), ``image`` (only the first frame
of a video, as a still), ``video`` (require a video)."""

SCENE_PROGRESS_SHARE = 0.75
"""Fraction of a video recipe's progress bar spent on tracking + depth (the rest is rendering)."""
IMAGE_DEPTH_PROGRESS_SHARE = 0.3
"""Fraction of a still-image recipe's progress bar spent on depth (the rest is rendering)."""
MASK_ASPECT_TOLERANCE = 0.02
"""Relative aspect-ratio difference above which a mask cannot belong to the source image."""


def _load_clip(source: Any, num_frames: int, height: int, width: int, resize_mode: str, start_s: float):
    """A :class:`core.media.VideoClip` from a path, an image, or a ``(T, h, w, 3)`` uint8 array."""
    from core.media import load_media

    if isinstance(source, np.ndarray) and source.ndim == 4:
        return _clip_from_array(source, num_frames, height, width, resize_mode, start_s)
    return load_media(source, num_frames, height, width, resize_mode=resize_mode, start_s=start_s)


def _clip_from_array(
    frames: np.ndarray, num_frames: int, height: int, width: int, resize_mode: str, start_s: float
):
    """An in-memory video, taken to be at :data:`DEFAULT_FPS`, sampled like a file (SPEC §8):
    ``T`` consecutive frames from ``start_s``, or all remaining frames resampled uniformly
    when fewer are left (the output fps then keeps the covered duration)."""
    from core.media import MediaError, VideoClip, resize_frames

    if frames.dtype != np.uint8 or frames.shape[-1] != 3 or frames.shape[0] == 0:
        raise MediaError(f"a video array must be (T, H, W, 3) uint8 with T >= 1; got {frames.shape} {frames.dtype}")
    first = min(int(round(max(start_s, 0.0) * DEFAULT_FPS)), frames.shape[0] - 1)
    remaining = frames.shape[0] - first
    if remaining >= num_frames:
        picked, fps = frames[first : first + num_frames], DEFAULT_FPS
    else:
        picked = frames[first + np.round(np.linspace(0, remaining - 1, num_frames)).astype(np.int64)]
        fps = num_frames * DEFAULT_FPS / remaining
    return VideoClip(
        frames=resize_frames(picked, height, width, resize_mode),
        fps=float(fps),
        source_fps=DEFAULT_FPS,
        start_s=first / DEFAULT_FPS,
        duration_s=num_frames / fps,
        source_duration_s=frames.shape[0] / DEFAULT_FPS,
        is_image=False,
    )


def _base_metadata(task: str, source: Any, clip, num_frames: int, height: int, width: int, resize_mode: str) -> dict:
    return {
        "task": task,
        "source": describe_source(source),
        "source_is_image": bool(clip.is_image),
        "start_s": float(clip.start_s),
        "fps": float(clip.fps),
        "num_frames": int(num_frames),
        "height": int(height),
        "width": int(width),
        "resize_mode": resize_mode,
    }


# --------------------------------------------------------------------------------------------
# Motion transfer
# --------------------------------------------------------------------------------------------


def motion_transfer(
    video: Any,
    *,
    num_frames: int = DEFAULT_NUM_FRAMES,
    height: int = DEFAULT_HEIGHT,
    width: int = DEFAULT_WIDTH,
    resize_mode: str = "crop",
    start_s: float = 0.0,
    grid_size: int = DEFAULT_GRID_SIZE,
    depth_method: str = "auto",
    tracker: str = "auto",
    fov_deg: float = DEFAULT_FOV_DEG,
    first_frame: Any = None,
    device: Optional[str] = None,
    allow_download: bool = False,
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelFn] = None,
) -> TrackingResult:
    """Motion transfer: the source video's motion as a tracking video (SPEC §9).

    A ``grid_size × grid_size`` grid of 2D tracks (:mod:`trackers.points`) plus per-frame
    depth aligned over time along those tracks (:func:`trackers.depth.estimate_video_depth`)
    give ``uvz`` (depth read at the pixel under each track); tracks are drawn with the ``grid``
    footprint, coloured by their frame-0 position and depth. Tracks lost for good are dropped.

    Args:
        video: path to a video (or a ``(T, h, w, 3)`` uint8 array); ``T`` frames are sampled at
            8 fps from ``start_s`` seconds (SPEC §8).
        num_frames, height, width: working size — pass ``engine.native_size()``.
        resize_mode: ``crop`` | ``stretch`` | ``pad`` (:data:`core.media.RESIZE_MODES`).
        grid_size: tracks per side (DaS: 70).
        depth_method / tracker: ``"auto"`` or a name from ``available_depth_methods()`` /
            ``available_point_trackers()``.
        fov_deg: horizontal field of view when the depth method gives no intrinsics.
        first_frame: ``None`` (the video's first frame) or an edited image (path/array/PIL),
            resized like the video — the usual way to change appearance and keep the motion.
        device, allow_download: for model-based depth methods.
        progress, cancel: see :mod:`core.progress`.

    Returns:
        :class:`TrackingResult`; ``points`` is the dense frame-0 cloud with the video's colours.

    Raises:
        MediaError: unreadable video. TaskInputError: a still image was given, or a video whose
        frames are all identical. Cancelled: ``cancel()`` returned True.
    """
    clip = _load_clip(video, num_frames, height, width, resize_mode, start_s)
    if clip.is_image:
        raise TaskInputError(
            "motion transfer needs a video (its motion is what gets transferred); for a still image use "
            "camera control or object manipulation"
        )
    frames = clip.frames
    if len(frames) > 1 and not np.any(frames[1:] != frames[:1]):
        # Every sampled frame is the same picture (a one-frame video, or a still exported as one):
        # tracking would only report "no motion", after all the work.
        raise TaskInputError(
            f"the {clip.duration_s:.1f} s of video used (from {clip.start_s:.1f} s) show one still picture (all "
            "frames identical), so there is no motion to transfer: start later in the video (start_s), or "
            "use camera control or object manipulation to move a still"
        )
    scene = video_scene(
        frames,
        grid_size=grid_size,
        tracker=tracker,
        depth_method=depth_method,
        fov_deg=fov_deg,
        device=device,
        allow_download=allow_download,
        progress=scaled(progress, 0.0, SCENE_PROGRESS_SHARE),
        cancel=cancel,
    )
    keep = until_lost(scene.visible)
    drawn = keep & geometry.in_frame(scene.uvz, height, width)
    tracking, colors = render_tracks(
        scene.uvz, drawn, height, width, footprint="grid", progress=scaled(progress, SCENE_PROGRESS_SHARE, 1.0), cancel=cancel
    )
    points, point_colors = preview_cloud(scene.depth[0], scene.K, frames[0])
    first, first_label = choose_first_frame(first_frame, frames[0], height, width, resize_mode, "source")
    metadata = {
        **_base_metadata("motion_transfer", video, clip, num_frames, height, width, resize_mode),
        **scene.metadata,
        "first_frame": first_label,
    }
    report(progress, 1.0, "tracking video ready")
    return TrackingResult(
        frames=tracking,
        first_frame=first,
        source_frames=frames,
        uvz=scene.uvz,
        visible=drawn,
        colors=colors,
        fps=float(clip.fps),
        points=points,
        point_colors=point_colors,
        metadata=metadata,
        depth=scene.depth[0],
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
    from PIL import Image, UnidentifiedImageError

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
        from PIL import Image, ImageOps, UnidentifiedImageError

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
    from core.media import resize_frames

    grey = np.repeat((selected.astype(np.uint8) * 255)[..., None], 3, axis=-1)
    resized = resize_frames(grey, height, width, resize_mode)[..., 0] >= 128
    if not resized.any():
        raise ObjectMotionError("the mask covers only a part of the image that the resize cropped away")
    return resized, [mask_h, mask_w]


def _check_object_request(request: dict[str, Any]) -> None:
    """Refuse an unknown motion or a non-numeric amount before any heavy work."""
    if str(request["motion"]).strip().lower() not in OBJECT_MOTIONS:
        raise ObjectMotionError(f"unknown object motion {request['motion']!r}; use one of: {', '.join(OBJECT_MOTIONS)}")
    if request["amount"] is None or (isinstance(request["amount"], str) and not request["amount"].strip()):
        raise ObjectMotionError("the motion amount is empty: enter how far to move the object (e.g. 0.25)")
    try:
        amount = float(request["amount"])
    except (TypeError, ValueError):
        raise ObjectMotionError(f"the motion amount must be a number, got {request['amount']!r}") from None
    if not np.isfinite(amount):
        raise ObjectMotionError(f"the motion amount must be a finite number, got {request['amount']!r}")


def _scene_recipe(
    task: str,
    source: Any,
    camera_motion: Optional[str],
    object_request: Optional[dict[str, Any]],
    *,
    num_frames: int,
    height: int,
    width: int,
    resize_mode: str,
    start_s: float,
    source_mode: str,
    depth_method: str,
    tracker: str,
    grid_size: int,
    fov_deg: float,
    first_frame: Any,
    device: Optional[str],
    allow_download: bool,
    progress: Optional[ProgressFn],
    cancel: Optional[CancelFn],
) -> TrackingResult:
    """Camera control, optionally with a masked rigid object motion applied first (SPEC §7, §9)."""
    if source_mode not in SOURCE_MODES:
        raise TaskInputError(f"source_mode must be one of {', '.join(SOURCE_MODES)}; got {source_mode!r}")
    # Check the cheap user inputs before any heavy work.
    motion = parse_camera_motion(camera_motion or "", num_frames)
    if object_request is not None:
        _check_object_request(object_request)
    clip = _load_clip(source, num_frames, height, width, resize_mode, start_s)
    is_image = bool(clip.is_image)
    if source_mode == "video" and is_image:
        raise TaskInputError("source_mode='video' needs a video, but a still image was given")
    use_still = is_image or source_mode == "image"
    mask = mask_from = None
    if object_request is not None:
        mask, mask_from = load_mask(
            object_request["mask"], height, width, resize_mode=resize_mode, source_size=_source_size(source)
        )
    check_cancel(cancel, task)
    frames = clip.frames
    metadata = _base_metadata(task, source, clip, num_frames, height, width, resize_mode)
    metadata.update(camera_motion=camera_motion or "", camera_description=describe_camera_motion(camera_motion, num_frames))

    if use_still:
        report(progress, 0.0, "estimating depth")
        scene = image_scene(frames[0], depth_method=depth_method, fov_deg=fov_deg, device=device, allow_download=allow_download)
        check_cancel(cancel, task)
        K, points0, uv0 = scene.K, scene.points0, scene.uvz0
        points = points0  # (N, 3): one static cloud
        # Pixels without depth are never drawn (DaS leaves them black).
        keep = np.broadcast_to(scene.valid, (num_frames, scene.valid.size))
        scale_from = points0[scene.valid]
        footprint = "dense"
        render_start = IMAGE_DEPTH_PROGRESS_SHARE
        depth0 = scene.depth
        metadata.update(scene.metadata, mode="image", num_points=int(points0.shape[0]))
        preview = (points0[scene.valid], np.ascontiguousarray(frames[0].reshape(-1, 3)[scene.valid]))
    else:
        scene = video_scene(
            frames,
            grid_size=grid_size,
            tracker=tracker,
            depth_method=depth_method,
            fov_deg=fov_deg,
            device=device,
            allow_download=allow_download,
            progress=scaled(progress, 0.0, SCENE_PROGRESS_SHARE),
            cancel=cancel,
        )
        K = scene.K
        points = geometry.unproject_uvz(scene.uvz, K)  # (T, N, 3): each frame in its own camera
        points0, uv0 = points[0], scene.uvz[0]
        keep = until_lost(scene.visible)
        scale_from = points0
        footprint = "grid"
        render_start = SCENE_PROGRESS_SHARE
        depth0 = scene.depth[0]
        metadata.update(scene.metadata, mode="video", camera_mode="append")
        preview = preview_cloud(depth0, K, frames[0])

    scale = scene_scale(scale_from)
    metadata["scene_scale"] = round(float(scale), 6)
    camera = scale_motion(motion, scale)
    if object_request is None:
        uvz = geometry.transform_and_project(points, camera, K)
    else:
        selected = select_points(mask, uv0, height, width)
        transforms = object_motion_transforms(
            points0, selected, object_request["motion"], object_request["amount"], num_frames, K, width=width
        )
        if use_still:
            uvz = transform_and_project_object(points, selected, camera, transforms, K)
        else:
            uvz = geometry.transform_and_project(apply_object_motion(points, selected, transforms), camera, K)
        metadata.update(
            object_motion=str(object_request["motion"]).strip().lower(),
            object_amount=float(object_request["amount"]),
            object_points=int(selected.sum()),
            mask_resized_from=mask_from,
        )
    tracking, visible, colors = render_projected(
        uvz, height, width, footprint=footprint, keep=keep, progress=scaled(progress, render_start, 1.0), cancel=cancel
    )
    first, first_label = choose_first_frame(first_frame, frames[0], height, width, resize_mode, "source")
    metadata["first_frame"] = first_label
    report(progress, 1.0, "tracking video ready")
    return TrackingResult(
        frames=tracking,
        first_frame=first,
        source_frames=frames,
        uvz=uvz,
        visible=visible,
        colors=colors,
        fps=float(clip.fps),
        points=preview[0],
        point_colors=preview[1],
        metadata=metadata,
        depth=depth0,
    )


def camera_control(
    source: Any,
    camera_motion: Optional[str] = "",
    *,
    num_frames: int = DEFAULT_NUM_FRAMES,
    height: int = DEFAULT_HEIGHT,
    width: int = DEFAULT_WIDTH,
    resize_mode: str = "crop",
    start_s: float = 0.0,
    source_mode: str = "auto",
    depth_method: str = "auto",
    tracker: str = "auto",
    grid_size: int = DEFAULT_GRID_SIZE,
    fov_deg: float = DEFAULT_FOV_DEG,
    first_frame: Any = None,
    device: Optional[str] = None,
    allow_download: bool = False,
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelFn] = None,
) -> TrackingResult:
    """Camera control: a camera-motion string applied to a photo or a video (SPEC §6, §9).

    - **Image** (or ``source_mode="image"``): depth (+ intrinsics when the estimator gives
      them, else a pinhole of ``fov_deg``) → one point per pixel → ``p_t = M_t · p_0`` with
      translations in units of the median frame-0 depth → project → ``dense`` footprint.
    - **Video**: grid tracks + aligned depth, each frame's tracks lifted into that frame's
      camera, the camera motion appended on top (``p_t = M_t · p_t^source``) → project →
      ``grid`` footprint.

    Args:
        source: image or video (path, array, PIL image).
        camera_motion: the motion string (``"trans 0 0 -0.5; rot y 10"``, see
            ``docs/CAMERA_MOTION.md``); empty = static camera.
        source_mode: see :data:`SOURCE_MODES`.
        Other arguments: as :func:`motion_transfer`.

    Raises:
        CameraMotionError: invalid motion string (checked before any heavy work).
        MediaError, TaskInputError, Cancelled.
    """
    return _scene_recipe(
        "camera_control",
        source,
        camera_motion,
        None,
        num_frames=num_frames,
        height=height,
        width=width,
        resize_mode=resize_mode,
        start_s=start_s,
        source_mode=source_mode,
        depth_method=depth_method,
        tracker=tracker,
        grid_size=grid_size,
        fov_deg=fov_deg,
        first_frame=first_frame,
        device=device,
        allow_download=allow_download,
        progress=progress,
        cancel=cancel,
    )


def object_manipulation(
    source: Any,
    mask: Any,
    motion: str,
    amount: float,
    *,
    camera_motion: Optional[str] = None,
    num_frames: int = DEFAULT_NUM_FRAMES,
    height: int = DEFAULT_HEIGHT,
    width: int = DEFAULT_WIDTH,
    resize_mode: str = "crop",
    start_s: float = 0.0,
    source_mode: str = "auto",
    depth_method: str = "auto",
    tracker: str = "auto",
    grid_size: int = DEFAULT_GRID_SIZE,
    fov_deg: float = DEFAULT_FOV_DEG,
    first_frame: Any = None,
    device: Optional[str] = None,
    allow_download: bool = False,
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelFn] = None,
) -> TrackingResult:
    """Object manipulation: move the masked object rigidly, optionally with a camera motion (SPEC §7).

    As :func:`camera_control`, plus: the mask (white/opaque = object, on frame 0) selects the
    points; ``motion`` (``up|down|left|right|front|back|rot``) with ``amount`` (fraction of
    the frame width at the object's depth; fraction of its depth; degrees for ``rot``) moves
    them about their 3D centroid, reached linearly over the clip, before the camera motion.

    Args:
        mask: path, PIL image or array; at the working size, or at the source's own size (then
            resized the same way as the source).
        motion, amount: see :mod:`core.object_motion`.
        camera_motion: optional camera-motion string applied after the object motion.

    Raises:
        ObjectMotionError: missing, empty or misaligned mask, unknown motion, bad amount.
        CameraMotionError, MediaError, TaskInputError, Cancelled.
    """
    return _scene_recipe(
        "object_manipulation",
        source,
        camera_motion,
        {"mask": mask, "motion": motion, "amount": amount},
        num_frames=num_frames,
        height=height,
        width=width,
        resize_mode=resize_mode,
        start_s=start_s,
        source_mode=source_mode,
        depth_method=depth_method,
        tracker=tracker,
        grid_size=grid_size,
        fov_deg=fov_deg,
        first_frame=first_frame,
        device=device,
        allow_download=allow_download,
        progress=progress,
        cancel=cancel,
    )
