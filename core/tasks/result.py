"""What every task recipe returns: the tracking video plus what the UI needs to show and reuse it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from core.errors import UserError
from core.quality import ControlCheck

FIRST_FRAME_SOURCE = "source"
"""The first frame is the source's own first frame."""
FIRST_FRAME_USER_IMAGE = "user image"
"""The first frame is an image the user supplied (an edited photo, a textured render)."""
FIRST_FRAME_MESH_RENDER = "mesh render"
"""The first frame is the mesh's own shaded render."""
FIRST_FRAME_REPAINTED = "repainted (FLUX.1-Depth-dev)"
"""The first frame was repainted from the scene depth (:mod:`core.repaint`)."""


CAMERA_PATH_SAMPLES_PER_FRAME = 24
"""Points drawn along each frame-to-frame segment of a camera path in the 3D preview."""
CAMERA_PATH_START_COLOR = (40, 220, 90)
CAMERA_PATH_END_COLOR = (230, 40, 40)
"""The path's colour runs from green (frame 0) to red (last frame), so its direction shows."""


def camera_path_points(camera_path: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A camera path as a densified, coloured polyline for a point-cloud preview.

    Args:
        camera_path: ``(T, 3)`` camera centres.

    Returns:
        ``points (S, 3)`` float32 along the straight segments between consecutive centres
        (:data:`CAMERA_PATH_SAMPLES_PER_FRAME` per segment, the last centre included) and
        ``colors (S, 3)`` uint8 running from :data:`CAMERA_PATH_START_COLOR` to
        :data:`CAMERA_PATH_END_COLOR`; empty for an empty path.
    """
    centres = np.asarray(camera_path, dtype=np.float64).reshape(-1, 3)
    if len(centres) == 0:
        return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.uint8)
    if len(centres) == 1:
        points, along = centres, np.zeros(1)
    else:
        steps = np.arange(CAMERA_PATH_SAMPLES_PER_FRAME) / CAMERA_PATH_SAMPLES_PER_FRAME
        starts, ends = centres[:-1, None], centres[1:, None]
        points = (starts + steps[None, :, None] * (ends - starts)).reshape(-1, 3)
        points = np.concatenate([points, centres[-1:]])
        along = np.linspace(0.0, 1.0, len(points))
    start, end = np.asarray(CAMERA_PATH_START_COLOR, np.float64), np.asarray(CAMERA_PATH_END_COLOR, np.float64)
    colors = np.round(start + along[:, None] * (end - start)).astype(np.uint8)
    return points.astype(np.float32), colors


class TaskInputError(UserError):
    """A task was given inputs it cannot use (missing first frame, wrong mode, ...)."""


@dataclass
class TrackingResult:
    """The outcome of a task recipe (SPEC §9), ready for :meth:`core.engine.Engine.generate`.

    Attributes:
        frames: ``(T, H, W, 3)`` uint8 tracking video (raw frames, not H.264-compressed).
        first_frame: ``(H, W, 3)`` uint8 image the generated video starts from.
        source_frames: ``(T, H, W, 3)`` uint8 resized source video (or the still repeated), for
            a side-by-side preview; ``None`` when there is no source video (mesh, uploaded tracking).
        uvz: ``(T, N, 3)`` float32 tracks — ``u, v`` in pixels, ``z`` camera-space depth.
        visible: ``(T, N)`` bool — which tracks were drawn in each frame (inside the frame,
            in front of the camera, and with depth).
        colors: ``(N, 3)`` uint8 colour of each track (SPEC §5).
        fps: frame rate that makes the clip last as long as the covered source time.
        points: ``(M, 3)`` float32 frame-0 point cloud in camera space, for a 3D preview.
        point_colors: ``(M, 3)`` uint8 colours of ``points`` (the source image's colours).
        metadata: JSON-ready facts (task, motion strings, depth source, tracker, sizes,
            ``approximate`` flags, ...), copied into the settings JSON of a generation.
        depth: ``(H, W)`` float32 frame-0 depth map (camera-space z), the control image for
            repainting the first frame; ``None`` when unknown.
        task: which recipe made it (a name of :data:`core.tasks.TASKS`); code branches on this,
            never on ``metadata``.
        first_frame_origin: where ``first_frame`` came from: :data:`FIRST_FRAME_SOURCE`,
            :data:`FIRST_FRAME_USER_IMAGE`, :data:`FIRST_FRAME_MESH_RENDER`,
            :data:`FIRST_FRAME_REPAINTED`.
        depth_source: the depth method used, when the recipe estimated depth.
        tracker: the 2D point tracker used, for video sources.
        approximate_depth: the depth is a rough built-in estimate (no depth model installed).
        tracked_visible: ``(T, N)`` bool, for tracks followed through a video: where the 2D
            tracker saw the point. Diagnostics only: every track is drawn wherever it is inside
            the frame (``visible``), as DaS does; ``None`` for other sources.
        check: the controllability check (:func:`core.quality.check_tracking`): figures and
            plain-words warnings to read before Generate; also in ``metadata["check"]``.
        camera_path: ``(T, 3)`` float32 camera centres in the space of ``points`` (frame-0
            camera space), for the 3D preview: the source video's estimated camera for the
            ``override`` / ``stabilise`` camera modes, the copied camera for
            :func:`core.tasks.camera_from_video`; ``None`` otherwise.
    """

    frames: np.ndarray
    first_frame: np.ndarray
    source_frames: Optional[np.ndarray]
    uvz: np.ndarray
    visible: np.ndarray
    colors: np.ndarray
    fps: float
    points: np.ndarray
    point_colors: np.ndarray
    metadata: dict[str, Any] = field(default_factory=dict)
    depth: Optional[np.ndarray] = None
    task: str = ""
    first_frame_origin: str = FIRST_FRAME_SOURCE
    depth_source: Optional[str] = None
    tracker: Optional[str] = None
    approximate_depth: bool = False
    tracked_visible: Optional[np.ndarray] = None
    check: Optional[ControlCheck] = None
    camera_path: Optional[np.ndarray] = None

    def preview_points(self) -> tuple[np.ndarray, np.ndarray]:
        """``points`` and ``point_colors`` with the camera path (when known) appended as a
        coloured polyline (:func:`camera_path_points`): what a 3D preview shows."""
        if self.camera_path is None:
            return self.points, self.point_colors
        path, path_colors = camera_path_points(self.camera_path)
        return (
            np.concatenate([np.asarray(self.points, np.float32).reshape(-1, 3), path]),
            np.concatenate([np.asarray(self.point_colors, np.uint8).reshape(-1, 3), path_colors]),
        )

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        """``(height, width)`` in pixels."""
        return int(self.frames.shape[1]), int(self.frames.shape[2])

    def with_first_frame(self, image: np.ndarray, origin: str) -> "TrackingResult":
        """A copy whose first frame is ``image`` ``(H, W, 3)`` uint8 (same size), from ``origin``
        (e.g. :data:`FIRST_FRAME_USER_IMAGE`, :data:`FIRST_FRAME_REPAINTED`), which also goes
        into the metadata's ``first_frame`` for the settings JSON."""
        image = np.asarray(image)
        if image.shape != self.first_frame.shape or image.dtype != np.uint8:
            raise TaskInputError(
                f"the new first frame must be a {self.first_frame.shape[0]}×{self.first_frame.shape[1]} RGB uint8 "
                f"image, got shape {image.shape} and dtype {image.dtype}; load it with "
                f"core.media.load_image(image, {self.first_frame.shape[0]}, {self.first_frame.shape[1]})"
            )
        return dataclasses.replace(
            self, first_frame=image, first_frame_origin=origin, metadata={**self.metadata, "first_frame": origin}
        )
