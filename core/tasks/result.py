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
