"""The four task recipes (SPEC §9): user media → :class:`TrackingResult` (a tracking video, a
first frame and what the UI shows), ready for :meth:`core.engine.Engine.generate`.

=========================  ===================================================================
:func:`motion_transfer`     video → grid tracks + aligned depth → tracking video
:func:`camera_control`      image/video + camera-motion string → tracking video
:func:`object_manipulation` image/video + mask + rigid object motion (+ camera motion)
:func:`mesh_animation`      animated (or procedurally moved) mesh + camera → tracking video
:func:`from_tracking_video` a tracking video rendered elsewhere (Blender) + a first frame
=========================  ===================================================================

Pass the engine's native size (``num_frames, height, width = engine.native_size()``) so the
result fits the loaded checkpoint. User mistakes raise ``ValueError`` subclasses whose
message says what to do: :class:`core.camera.CameraMotionError`,
:class:`core.object_motion.ObjectMotionError`, :class:`core.media.MediaError`,
``trackers.mesh.MeshError``, :class:`TaskInputError`.
"""

from core.tasks.animation import from_tracking_video, mesh_animation
from core.tasks.result import TaskInputError, TrackingResult
from core.tasks.scene import SOURCE_MODES, camera_control, load_mask, motion_transfer, object_manipulation

TASKS = ("motion_transfer", "camera_control", "object_manipulation", "mesh_animation", "from_tracking_video")
"""Task names as recorded in ``TrackingResult.metadata["task"]``."""

__all__ = [
    "SOURCE_MODES",
    "TASKS",
    "TaskInputError",
    "TrackingResult",
    "camera_control",
    "from_tracking_video",
    "load_mask",
    "mesh_animation",
    "motion_transfer",
    "object_manipulation",
]
