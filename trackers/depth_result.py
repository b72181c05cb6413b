"""Types shared by the depth modules: :class:`DepthResult`, :class:`DepthError`, the
estimator signatures, and the small checks every method's output goes through.

Public names are re-exported by :mod:`trackers.depth`; import them from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from core.errors import UserError

RELATIVE_NEAR_DEPTH = 1.0
"""Depth assigned to the 98th-percentile (near) disparity of a relative prediction."""
RELATIVE_FAR_DEPTH = 10.0
"""Depth assigned to the 2nd-percentile (far) disparity; farther disparities are clamped here.
A 10:1 range is a plausible indoor/street scene; only the ratio matters (see :mod:`trackers.depth_models`)."""


class DepthError(UserError):
    """A depth request that cannot be served; the message says what to do."""


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass
class DepthResult:
    """Depth of one image.

    Attributes:
        depth: ``(H, W)`` float32 camera-space depth, > 0 everywhere (invalid pixels hold a
            finite stand-in, the farthest valid depth).
        intrinsics: ``(3, 3)`` pixel intrinsics when the method estimates them, else ``None``
            (callers then use :func:`core.geometry.intrinsics_from_fov`).
        valid: ``(H, W)`` bool, False where the model gave no usable depth (e.g. sky).
        source: the method name that produced it (a key of :func:`available_depth_methods`).
        approximate: True for the weights-free heuristic.
        metric: True when the depth is in metres (up to the model's error), False when the
            scale is arbitrary.
        model: where the weights came from (folder or Hub id), for reproducibility.
        ambiguity: what is unknown about this depth, i.e. how frames of a video are aligned:
            ``"scale_shift"`` (relative inverse depth: scale and shift) or ``"scale"``
            (metric or scale-invariant geometry).
    """

    depth: np.ndarray
    intrinsics: Optional[np.ndarray]
    valid: np.ndarray
    source: str
    approximate: bool
    metric: bool = False
    model: str = ""
    ambiguity: str = "scale_shift"


DepthEstimator = Callable[[np.ndarray], DepthResult]
"""A loaded method: ``estimator(image (H, W, 3) uint8) -> DepthResult``."""

DepthFactory = Callable[[str, bool], DepthEstimator]
"""``factory(device, allow_download) -> estimator``: loads the weights (called once per device)."""


def as_rgb_uint8(image: np.ndarray, what: str = "image") -> np.ndarray:
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=-1)
    if array.ndim != 3 or array.shape[-1] not in (3, 4):
        raise DepthError(f"{what} must be an (H, W, 3) RGB array, got shape {array.shape}")
    if array.shape[-1] == 4:
        array = array[..., :3]
    if array.dtype != np.uint8:
        raise DepthError(f"{what} must be uint8 (0–255), got {array.dtype}")
    if min(array.shape[:2]) < 2:
        raise DepthError(f"{what} is too small: {array.shape[1]}×{array.shape[0]} px")
    return np.ascontiguousarray(array)


def positive_depth(depth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Replace non-finite or non-positive depths by the farthest good one; return (depth, good)."""
    good = np.isfinite(depth) & (depth > 0)
    if good.all():
        return depth.astype(np.float32, copy=False), good
    stand_in = float(depth[good].max()) if good.any() else 1.0
    return np.where(good, depth, stand_in).astype(np.float32), good
