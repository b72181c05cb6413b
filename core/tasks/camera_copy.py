"""Copy a camera: a photo's point cloud moved along a reference video's estimated camera path
(``docs/CAMERA_MOTION.md`` "Copying a camera")."""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

import numpy as np

from core import geometry
from core.camera import describe_camera_motion, parse_camera_motion, scale_motion, scene_scale
from core.options import CAMERA_APPEND, ClipOptions, TrackingOptions, WorkingSize
from core.progress import CancelFn, ProgressFn, check_cancel, report, scaled
from core.source_camera import copy_camera, estimate_source_poses
from core.tasks.common import INTRINSICS_ESTIMATED, describe_source, lift_still, lift_video, render_projected
from core.tasks.result import TaskInputError, TrackingResult
from core.tasks.scene import SCENE_PROGRESS_SHARE, _base_metadata, _load_clip, _result, source_camera_metadata

PHOTO_DEPTH_PROGRESS_SHARE = 0.15
"""Fraction of the progress bar spent on the photo's depth (then the reference video, then rendering)."""
COPY_CAMERA_MODE = "copy"
"""``metadata["camera_mode"]`` of a copied camera."""


def camera_from_video(
    photo: Any,
    reference_video: Any,
    camera_motion: Optional[str] = "",
    *,
    size: WorkingSize = WorkingSize(),
    clip: ClipOptions = ClipOptions(),
    tracking: TrackingOptions = TrackingOptions(),
    first_frame: Any = None,
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelFn] = None,
) -> TrackingResult:
    """Camera control by example: the camera of ``reference_video`` moves through ``photo``.

    The photo is lifted to a dense cloud (as :func:`core.tasks.camera_control` does for a
    still); the reference video is tracked and its camera estimated
    (:func:`core.source_camera.estimate_source_poses`); that path becomes the photo's camera
    motion (:func:`core.source_camera.copy_camera`). **Rule:** rotations are copied as they
    are; translations are multiplied by ``photo_scale / reference_scale``, the ratio of the two
    scenes' median frame-0 depths (:func:`core.camera.scene_scale`), so the camera travels the
    same fraction of the scene's depth as in the reference. An optional ``camera_motion``
    string (in units of the photo's median depth, as usual) is applied on top, in the copied
    camera's frame: ``p_t = U_t · R_t · p_0``.

    Args:
        photo: the image to move through (path, array, PIL image; a video's first frame is used).
        reference_video: the video whose camera is copied (path or ``(T, h, w, 3)`` uint8 array);
            sampled like any source (``size.num_frames`` frames from ``clip.start_s``), and the
            result takes its frame rate.
        camera_motion: optional extra camera motion; empty = the copied path alone.
        size, tracking, first_frame, progress, cancel: as :func:`core.tasks.camera_control`.
        clip: resize mode (both inputs) and start time (the reference video);
            ``clip.camera_mode`` must be ``append`` (the copied camera replaces no source camera).

    Returns:
        :class:`TrackingResult` with task ``camera_control``, ``metadata["camera_mode"] = "copy"``,
        both scene scales and their ratio in the metadata, ``source_frames`` = the reference clip
        and ``camera_path`` = the copied camera centres in the photo's frame-0 camera space.

    Raises:
        TaskInputError: the reference is a still, or ``clip.camera_mode`` is not ``append``.
        SourceCameraError: the reference video's camera cannot be estimated.
        CameraMotionError, MediaError, Cancelled.
    """
    num_frames, height, width = size.num_frames, size.height, size.width
    motion = parse_camera_motion(camera_motion or "", num_frames)
    if clip.camera_mode != CAMERA_APPEND:
        raise TaskInputError(
            f"copying a camera moves a photo, which has no camera of its own to replace: camera mode "
            f"{clip.camera_mode!r} does not apply (leave it at 'append')"
        )
    reference = _load_clip(reference_video, size, clip)
    if reference.is_image:
        raise TaskInputError("the reference for copying a camera must be a video (its camera path is copied), not a still")
    photo_clip = _load_clip(photo, size, dataclasses.replace(clip, start_s=0.0))
    image = photo_clip.frames[0]
    check_cancel(cancel, "copy a camera")

    report(progress, 0.0, "estimating depth")
    scene = lift_still(image, tracking, progress=scaled(progress, 0.0, PHOTO_DEPTH_PROGRESS_SHARE))
    check_cancel(cancel, "estimating depth")
    reference_scene = lift_video(
        reference.frames, tracking, progress=scaled(progress, PHOTO_DEPTH_PROGRESS_SHARE, SCENE_PROGRESS_SHARE), cancel=cancel
    )
    report(progress, SCENE_PROGRESS_SHARE, "estimating the reference camera")
    # A focal length the depth model gave is kept; an assumed field of view is refined.
    focal_known = reference_scene.metadata.get("intrinsics") == INTRINSICS_ESTIMATED
    estimate = estimate_source_poses(reference_scene.uvz, reference_scene.tracked_visible, reference_scene.K,
                                     focal_known=focal_known)
    check_cancel(cancel, "estimating the reference camera")

    reference_scale = scene_scale(reference_scene.points0)
    photo_scale = scene_scale(scene.points0[scene.keep])
    copied = copy_camera(estimate.cam_to_world, reference_scale, photo_scale)  # already in the photo's units
    camera = scale_motion(motion, photo_scale) @ copied
    uvz = geometry.transform_and_project(scene.points, camera, scene.K)
    rendered, visible, colors = render_projected(
        uvz, height, width, footprint=scene.footprint, keep=scene.keep,
        progress=scaled(progress, SCENE_PROGRESS_SHARE, 1.0), cancel=cancel,
    )

    # The photo held still for the reference clip's duration: its frame rate is the result's.
    photo_as_clip = dataclasses.replace(reference, frames=np.repeat(image[None], num_frames, axis=0), is_image=True)
    metadata = _base_metadata("camera_control", photo, photo_as_clip, size, clip)
    metadata.update(scene.metadata, mode="image", num_points=int(scene.points.shape[0]))
    metadata.update(
        camera_mode=COPY_CAMERA_MODE,
        camera_motion=camera_motion or "",
        camera_description=describe_camera_motion(camera_motion, num_frames),
        reference=describe_source(reference_video),
        reference_start_s=float(reference.start_s),
        reference_tracker=reference_scene.tracker,
        reference_depth_source=reference_scene.depth_source,
        reference_scene_scale=round(float(reference_scale), 6),
        scene_scale=round(float(photo_scale), 6),
        copy_translation_ratio=round(float(photo_scale / reference_scale), 6),
        **source_camera_metadata(estimate),
    )
    report(progress, 1.0, "tracking video ready")
    result = _result(
        "camera_control", scene, photo_as_clip, size, clip, first_frame,
        frames=rendered, uvz=uvz, visible=visible, colors=colors, metadata=metadata,
        camera_path=geometry.se3_inverse(camera)[:, :3, 3],
    )
    return dataclasses.replace(result, source_frames=reference.frames)

