"""The four task recipes (SPEC §9): user media → :class:`TrackingResult` (a tracking video, a
first frame and what the UI shows), ready for :meth:`core.engine.Engine.generate`.

=========================  ===================================================================
:func:`motion_transfer`     video → grid tracks + aligned depth → tracking video
:func:`camera_control`      image/video + camera-motion string (+ camera mode) → tracking video
:func:`camera_from_video`   photo + reference video → the video's camera moves through the photo
:func:`object_manipulation` image/video + :class:`ObjectMove` (+ camera motion)
:func:`mesh_animation`      animated (or procedurally moved) mesh + camera → tracking video
:func:`from_tracking_video` a tracking video rendered elsewhere (Blender) + a first frame
=========================  ===================================================================

Options travel as the typed objects of :mod:`core.options` (re-exported here): pass
``size=WorkingSize.from_native(engine.native_size())`` so the result fits the loaded
checkpoint, ``clip=ClipOptions(...)`` for how the source is read and
``tracking=TrackingOptions(...)`` for how it is lifted to 3D. User mistakes raise
:class:`core.errors.UserError` subclasses whose message says what to do:
:class:`core.camera.CameraMotionError`, :class:`core.object_motion.ObjectMotionError`,
:class:`core.media.MediaError`, ``trackers.mesh.MeshError``, :class:`TaskInputError`,
:class:`core.options.OptionError`, :class:`core.source_camera.SourceCameraError`.
"""

from core.options import CAMERA_MODES, SOURCE_MODES, ClipOptions, ObjectMove, OptionError, TrackingOptions, WorkingSize
from core.tasks.animation import from_tracking_video, mesh_animation
from core.tasks.result import (
    FIRST_FRAME_MESH_RENDER,
    FIRST_FRAME_REPAINTED,
    FIRST_FRAME_SOURCE,
    FIRST_FRAME_USER_IMAGE,
    TaskInputError,
    TrackingResult,
)
from core.tasks.scene import camera_control, load_mask, motion_transfer, object_manipulation
from core.tasks.camera_copy import camera_from_video

TASKS = ("motion_transfer", "camera_control", "object_manipulation", "mesh_animation", "from_tracking_video")
"""Task names, as in ``TrackingResult.task``."""

__all__ = [
    "CAMERA_MODES",
    "FIRST_FRAME_MESH_RENDER",
    "FIRST_FRAME_REPAINTED",
    "FIRST_FRAME_SOURCE",
    "FIRST_FRAME_USER_IMAGE",
    "SOURCE_MODES",
    "TASKS",
    "ClipOptions",
    "ObjectMove",
    "OptionError",
    "TaskInputError",
    "TrackingOptions",
    "TrackingResult",
    "WorkingSize",
    "camera_control",
    "camera_from_video",
    "from_tracking_video",
    "load_mask",
    "mesh_animation",
    "motion_transfer",
    "object_manipulation",
]
