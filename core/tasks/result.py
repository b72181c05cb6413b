"""What every task recipe returns: the tracking video plus what the UI needs to show and reuse it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np


class TaskInputError(ValueError):
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
        visible: ``(T, N)`` bool — which tracks were drawn in each frame.
        colors: ``(N, 3)`` uint8 colour of each track (SPEC §5).
        fps: frame rate that makes the clip last as long as the covered source time.
        points: ``(M, 3)`` float32 frame-0 point cloud in camera space, for a 3D preview.
        point_colors: ``(M, 3)`` uint8 colours of ``points`` (the source image's colours).
        metadata: JSON-ready facts (task, motion strings, depth source, tracker, sizes,
            ``approximate`` flags, ...), copied into the settings JSON of a generation.
        depth: ``(H, W)`` float32 frame-0 depth map (camera-space z), the control image for
            repainting the first frame; ``None`` when unknown.
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

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        """``(height, width)`` in pixels."""
        return int(self.frames.shape[1]), int(self.frames.shape[2])

    def with_first_frame(self, image: np.ndarray, source: str) -> "TrackingResult":
        """A copy whose first frame is ``image`` ``(H, W, 3)`` uint8 (same size), noting ``source``
        (e.g. ``"user image"``, ``"repainted"``) in the metadata."""
        image = np.asarray(image)
        if image.shape != self.first_frame.shape or image.dtype != np.uint8:
            raise TaskInputError(
                f"the new first frame must be a {self.first_frame.shape[0]}×{self.first_frame.shape[1]} RGB uint8 "
                f"image, got shape {image.shape} and dtype {image.dtype}; load it with "
                f"core.media.load_image(image, {self.first_frame.shape[0]}, {self.first_frame.shape[1]})"
            )
        return dataclasses.replace(self, first_frame=image, metadata={**self.metadata, "first_frame": source})
