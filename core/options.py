"""Typed options shared by the task recipes, the studio, the CLI and dataset preparation.

Each group of settings that travels together is one frozen dataclass, checked when it is
built, so a bad value is refused before any heavy work and no caller re-lists keywords:

=======================  ==================================================================
:class:`WorkingSize`      frames × height × width of the clip (the engine's native size)
:class:`ClipOptions`      how the source is read: resize mode, start time, still/video, camera mode
:class:`TrackingOptions`  how a source is lifted to 3D: depth method, tracker, grid, FOV, device
:class:`ObjectMove`       which object moves (the mask) and how (motion, amount)
=======================  ==================================================================

Torch-free: importing this module loads no model code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

from core import defaults, validation
from core.object_motion import OBJECT_MOTIONS, ObjectMotionError

SOURCE_MODES = ("auto", "image", "video")
"""How camera control / object manipulation read their source: ``auto`` (a still → dense
cloud, a video → its own tracks with the motion appended), ``image`` (only the first frame
of a video, as a still), ``video`` (require a video)."""

CAMERA_APPEND = "append"
CAMERA_OVERRIDE = "override"
CAMERA_STABILISE = "stabilise"
CAMERA_MODES = (CAMERA_APPEND, CAMERA_OVERRIDE, CAMERA_STABILISE)
"""What a video source's own camera becomes (``docs/CAMERA_MOTION.md`` §7): ``append`` (the
camera motion is added on top of the source camera), ``override`` (the source camera, estimated
by :mod:`core.source_camera`, is replaced by the camera motion), ``stabilise`` (replaced by a
still camera). A still has no camera of its own: only ``append`` applies to it."""
_CAMERA_MODE_SPELLINGS = {"stabilize": CAMERA_STABILISE}
"""Other accepted spellings of a camera mode."""

AUTO = "auto"
"""Depth method / tracker name that picks the best one installed."""

OptionError = validation.InputError
"""An option value that cannot be used; the message names the option and what is allowed.
The same error (and the same bounds, :mod:`core.validation`) as the studio's and the CLI's."""


def _require_choice(name: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise OptionError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def _require_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise OptionError(f"{name} must be a positive whole number, got {value!r}")


@dataclass(frozen=True)
class WorkingSize:
    """Frames × height × width (pixels) of a clip: pass the engine's native size."""

    num_frames: int = defaults.NUM_FRAMES
    height: int = defaults.HEIGHT
    width: int = defaults.WIDTH

    def __post_init__(self) -> None:
        validation.num_frames(self.num_frames)
        for name in ("height", "width"):
            _require_positive_int(name, getattr(self, name))

    @classmethod
    def from_native(cls, native: Sequence[int]) -> "WorkingSize":
        """From ``engine.native_size()`` / ``read_native_size(...)``: ``(T, H, W)``."""
        num_frames, height, width = (int(value) for value in native)
        return cls(num_frames, height, width)

    @property
    def frame_shape(self) -> tuple[int, int]:
        """``(height, width)``."""
        return self.height, self.width


@dataclass(frozen=True)
class ClipOptions:
    """How a source photo or video becomes a working-size clip (SPEC §8).

    Attributes:
        resize_mode: ``crop`` | ``stretch`` | ``pad`` (:data:`core.defaults.RESIZE_MODES`).
        start_s: where in a source video the clip starts, in seconds.
        source_mode: see :data:`SOURCE_MODES` (camera control / object manipulation).
        camera_mode: see :data:`CAMERA_MODES` (camera control / object manipulation of a video;
            case ignored, ``stabilize`` accepted; stored normalised).
    """

    resize_mode: str = defaults.DEFAULT_RESIZE_MODE
    start_s: float = 0.0
    source_mode: str = AUTO
    camera_mode: str = CAMERA_APPEND

    def __post_init__(self) -> None:
        _require_choice("resize_mode", self.resize_mode, defaults.RESIZE_MODES)
        _require_choice("source_mode", self.source_mode, SOURCE_MODES)
        camera_mode = str(self.camera_mode).strip().lower()
        camera_mode = _CAMERA_MODE_SPELLINGS.get(camera_mode, camera_mode)
        _require_choice("camera_mode", camera_mode, CAMERA_MODES)
        object.__setattr__(self, "camera_mode", camera_mode)
        # Frozen: normalise through object.__setattr__, once, at construction.
        object.__setattr__(self, "start_s", validation.start_time(self.start_s))


@dataclass(frozen=True)
class TrackingOptions:
    """How a source is lifted to 3D: depth, 2D point tracks and the assumed camera.

    Attributes:
        depth_method: ``"auto"`` or a name from ``trackers.depth.available_depth_methods()``.
        tracker: ``"auto"`` or a name from ``trackers.points.available_point_trackers()``.
        grid_size: tracks per side of the grid laid over frame 0 of a video (DaS: 70).
        fov_deg: horizontal field of view when the depth method gives no intrinsics.
        device: torch device for model-based depth / trackers (``None``: the default).
        allow_download: let depth / tracker models download when not on disk.
    """

    depth_method: str = AUTO
    tracker: str = AUTO
    grid_size: int = defaults.GRID_SIZE
    fov_deg: float = defaults.FOV_DEG
    device: Optional[str] = None
    allow_download: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "grid_size", validation.grid_size(self.grid_size))
        object.__setattr__(self, "fov_deg", validation.fov(self.fov_deg))


@dataclass(frozen=True)
class ObjectMove:
    """A rigid move of the masked object (SPEC §7), checked before any heavy work.

    Attributes:
        mask: path, PIL image or array (white / opaque = object), read by
            :func:`core.tasks.load_mask` at the working size.
        motion: one of :data:`core.object_motion.OBJECT_MOTIONS` (case and spaces ignored;
            stored normalised).
        amount: fraction of the frame width / of the depth, or degrees for ``rot``; a number
            or a numeric string (stored as ``float``).

    Raises:
        ObjectMotionError: no mask, an unknown motion, an empty or non-numeric amount.
    """

    mask: Any = field(compare=False, repr=False)
    motion: str
    amount: float

    def __post_init__(self) -> None:
        if self.mask is None:
            raise ObjectMotionError("object manipulation needs a mask: paint the object white on the first frame")
        motion = str(self.motion).strip().lower()
        if motion not in OBJECT_MOTIONS:
            raise ObjectMotionError(f"unknown object motion {self.motion!r}; use one of: {', '.join(OBJECT_MOTIONS)}")
        amount = self.amount
        if amount is None or (isinstance(amount, str) and not amount.strip()):
            raise ObjectMotionError("the motion amount is empty: enter how far to move the object (e.g. 0.25)")
        amount = validation.object_amount(amount, motion)
        # Frozen: normalise through object.__setattr__, once, at construction.
        object.__setattr__(self, "motion", motion)
        object.__setattr__(self, "amount", amount)
