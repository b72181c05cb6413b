"""Videos with known motion: a window over a photo that pans, zooms and turns (SPEC §5 checks).

A photo (scikit-image's ``astronaut``, ``coffee``, ``chelsea`` or ``rocket``) is scaled onto a
flat canvas; frame ``t`` shows the part of the canvas seen through a window whose pose is the
homography ``frame_to_canvas[t]`` (3 × 3, OpenCV pixel coordinates: pixel centres at
integers). The window pans, zooms in, turns and tilts a little (a perspective term), eased in
and out so the motion starts and stops smoothly. The frames go through H.264
(:func:`core.media.write_video`, read back with :func:`core.media.read_video_frames`), so the
tracker sees realistic compression, and the ground truth is exact for every frame-0 point:
:meth:`HomographyScene.true_positions` maps frame-0 positions (our convention, pixel centres
at ``+0.5``) to frame ``t``, and :meth:`HomographyScene.in_view` says whether that content is
still inside frame ``t``.

Used by ``tests/test_points.py`` and ``bench/tracking_quality.py``; importable from the
repository root as ``bench.homography_scene``.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from core import media

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")
"""scikit-image sample photos used as scenes (all bundled with scikit-image, no download)."""

DEFAULT_NUM_FRAMES, DEFAULT_HEIGHT, DEFAULT_WIDTH = 49, 480, 720
"""DaS's clip: 49 frames of 480 × 720."""
VIDEO_FPS = 8.0
CANVAS_OVERSCAN = 1.35
"""The canvas is this much larger than the frame on each axis, so the moving window stays on the
photo (content enters as it pans) and nothing is padded."""


@dataclass(frozen=True)
class WindowMotion:
    """Total motion of the window over the clip (reached with an ease-in/ease-out profile).

    Attributes:
        pan: ``(x, y)`` window shift on the canvas, as fractions of the frame width/height.
        zoom: final magnification (``> 1`` zooms in: the window shrinks on the canvas).
        turn_deg: window rotation (degrees, counter-clockwise on screen means content turns
            clockwise).
        tilt: perspective term (``h[2, 0]`` of the window's homography, in units of
            ``1 / frame width``): the far side of the window shrinks, like a camera turning
            sideways.
    """

    pan: tuple[float, float] = (0.08, 0.04)
    zoom: float = 1.15
    turn_deg: float = 8.0
    tilt: float = 0.06


SCENE_MOTIONS = {
    "astronaut": WindowMotion(pan=(0.08, 0.04), zoom=1.15, turn_deg=8.0, tilt=0.06),
    "coffee": WindowMotion(pan=(-0.10, 0.03), zoom=1.10, turn_deg=-6.0, tilt=-0.05),
    "chelsea": WindowMotion(pan=(0.06, -0.05), zoom=0.92, turn_deg=5.0, tilt=0.04),
    "rocket": WindowMotion(pan=(-0.05, -0.06), zoom=1.20, turn_deg=-10.0, tilt=0.0),
}
"""One motion per photo: pans both ways, zooms in and out, turns both ways, with and without tilt."""


@dataclass
class HomographyScene:
    """A photo seen through a moving window, with exact ground truth.

    Attributes:
        name: the photo's name.
        frames: ``(T, H, W, 3)`` uint8 as decoded from the H.264 file (or the raw renders when
            built with ``encode=False``).
        frame_to_canvas: ``(T, 3, 3)`` homographies, OpenCV pixel coordinates of frame ``t``
            → canvas pixel coordinates.
    """

    name: str
    frames: np.ndarray
    frame_to_canvas: np.ndarray

    @property
    def size(self) -> tuple[int, int]:
        """``(H, W)``."""
        return self.frames.shape[1:3]

    def true_positions(self, uv0: np.ndarray, frame: int) -> np.ndarray:
        """Where the content at frame-0 positions ``uv0 (N, 2)`` is on ``frame`` (``(N, 2)``, our
        pixel convention)."""
        first_to_frame = np.linalg.inv(self.frame_to_canvas[frame]) @ self.frame_to_canvas[0]
        return _apply_homography(first_to_frame, np.asarray(uv0, np.float64) - 0.5) + 0.5

    def in_view(self, uv0: np.ndarray, frame: int, margin_px: float = 0.0) -> np.ndarray:
        """``(N,)`` bool: the content at ``uv0`` is inside ``frame`` (at least ``margin_px`` from
        its edges). Nothing occludes a flat photo, so in frame means in view."""
        height, width = self.size
        truth = self.true_positions(uv0, frame)
        return (
            (truth[:, 0] >= margin_px)
            & (truth[:, 0] < width - margin_px)
            & (truth[:, 1] >= margin_px)
            & (truth[:, 1] < height - margin_px)
        )


def _apply_homography(matrix: np.ndarray, xy: np.ndarray) -> np.ndarray:
    homogeneous = np.concatenate([xy, np.ones((xy.shape[0], 1))], axis=1) @ matrix.T
    return homogeneous[:, :2] / homogeneous[:, 2:3]


def _ease(fraction: np.ndarray) -> np.ndarray:
    """Smoothstep: zero speed at both ends, like a camera operator's move."""
    return fraction * fraction * (3.0 - 2.0 * fraction)


def window_homographies(
    motion: WindowMotion, num_frames: int, height: int, width: int, canvas_height: int, canvas_width: int
) -> np.ndarray:
    """``(T, 3, 3)`` frame → canvas homographies (OpenCV coordinates) of the moving window.

    The window starts centred on the canvas at scale 1 and reaches ``motion`` on the last frame.
    Each pose is ``C · T(pan) · R(turn) · S(1/zoom) · P(tilt) · C_frame⁻¹``: frame coordinates
    centred, tilted, scaled, turned, then moved to the canvas centre plus the pan.
    """
    centre_frame = np.array([[1, 0, -(width - 1) / 2], [0, 1, -(height - 1) / 2], [0, 0, 1]], np.float64)
    fractions = _ease(np.linspace(0.0, 1.0, num_frames)) if num_frames > 1 else np.zeros(1)
    poses = []
    for s in fractions:
        angle = np.deg2rad(motion.turn_deg * s)
        scale = 1.0 / (1.0 + (motion.zoom - 1.0) * s)
        tilt = np.eye(3)
        tilt[2, 0] = motion.tilt * s / width
        rotate_scale = np.eye(3)
        rotate_scale[:2, :2] = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        move = np.eye(3)
        move[:2, 2] = [
            (canvas_width - 1) / 2 + motion.pan[0] * width * s,
            (canvas_height - 1) / 2 + motion.pan[1] * height * s,
        ]
        poses.append(move @ rotate_scale @ tilt @ centre_frame)
    return np.stack(poses)


def photo(name: str) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB sample photo from scikit-image."""
    from skimage import data

    if name not in PHOTOS:
        raise ValueError(f"unknown photo {name!r}; choose one of {PHOTOS}")
    return np.ascontiguousarray(getattr(data, name)()[..., :3])


def make_scene(
    name: str = "astronaut",
    *,
    num_frames: int = DEFAULT_NUM_FRAMES,
    height: int = DEFAULT_HEIGHT,
    width: int = DEFAULT_WIDTH,
    motion: WindowMotion | None = None,
    encode: bool = True,
) -> HomographyScene:
    """Render a photo seen through a moving window, through H.264 unless ``encode=False``.

    The photo is resized (area or cubic interpolation) to cover the canvas, ``CANVAS_OVERSCAN``
    times the frame, cropping the excess of its longer side; each frame is the canvas resampled
    through the window's homography (bicubic).
    """
    motion = motion or SCENE_MOTIONS.get(name, WindowMotion())
    canvas_height, canvas_width = round(height * CANVAS_OVERSCAN), round(width * CANVAS_OVERSCAN)
    canvas = media.resize_frames(photo(name)[None], canvas_height, canvas_width)[0]
    frame_to_canvas = window_homographies(motion, num_frames, height, width, canvas_height, canvas_width)
    frames = np.stack(
        [
            cv2.warpPerspective(
                canvas,
                pose,
                (width, height),
                flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                borderMode=cv2.BORDER_REFLECT,
            )
            for pose in frame_to_canvas
        ]
    )
    if encode:
        with tempfile.TemporaryDirectory() as folder:
            path = media.write_video(frames, Path(folder) / f"{name}.mp4", VIDEO_FPS)
            frames, _ = media.read_video_frames(path)
    return HomographyScene(name=name, frames=frames, frame_to_canvas=frame_to_canvas)
