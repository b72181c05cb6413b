"""Rigid motion of a masked object (SPEC §7).

A mask drawn on frame 0 selects points; the object then moves rigidly about the 3D centroid
(the mean) of its selected frame-0 points, from the identity at frame 0 to the full amount at
frame ``T−1``, linearly. Units are scene-independent:

- ``up``/``down``/``left``/``right`` — ``amount`` is a fraction of the frame width *at the
  object's depth*: ``right 0.25`` moves the centroid a quarter of the image width to the right
  on screen (``Δx = amount · W · z_c / f_x``; vertical moves use the same pixel distance,
  ``Δy = amount · W · z_c / f_y``).
- ``front``/``back`` — ``amount`` is a fraction of the centroid's depth along the optical axis;
  ``front`` moves towards the camera (``front 0.5`` halves the depth, so the object looks twice
  as large). (DaS's ``front`` moved the object *away*; ours follows the plain word.)
- ``rot`` — ``amount`` is degrees of yaw about the vertical camera axis through the centroid;
  positive turns the object's camera-facing side towards the image's left (the rotation
  matrix DaS uses, ``R_y(+θ)``).

Object motion acts in frame-0 camera space *before* the camera motion: an object point at
frame ``t`` is ``p_t = C_t · O_t · p_0`` with ``O_t`` from :func:`object_motion_transforms`
and ``C_t`` from :mod:`core.camera`; other points are ``p_t = C_t · p_0``. For a video the
pivot is the centroid in frame 0 (translations do not depend on it).
"""

from __future__ import annotations

import math

import numpy as np

from core.errors import UserError
from core.geometry import (
    make_se3,
    rotation_about_axis,
    rotation_about_point,
    sample_nearest,
    transform_points,
    uv_in_frame,
)

OBJECT_MOTIONS = ("up", "down", "left", "right", "front", "back", "rot")

# On-screen direction of each image-plane move, as a unit step in camera x (right) and y (down).
_IMAGE_PLANE_DIRECTIONS = {"up": (0.0, -1.0), "down": (0.0, 1.0), "left": (-1.0, 0.0), "right": (1.0, 0.0)}
# Sign of the depth change: front comes towards the camera (smaller z).
_DEPTH_DIRECTIONS = {"front": -1.0, "back": 1.0}
YAW_AXIS = "y"
"""The object's vertical axis is the camera's y axis (image-down in OpenCV) through the centroid."""

# Thresholds "at least half of full white" per mask encoding; half rather than "nonzero" so
# JPEG noise in a black background and anti-aliased brush edges do not grow the selection.
_FLOAT_WHITE = 1.0
_UINT8_WHITE = 255
_UINT16_WHITE = 65535
_HALF = 0.5
_LABEL_MASK_MAX = 1
"""Integer masks whose values are all 0 or 1 are label masks: any nonzero value is the object."""


class ObjectMotionError(UserError):
    """A mask or motion request that cannot be applied; the message says what to do."""


# --------------------------------------------------------------------------------------------
# Masks
# --------------------------------------------------------------------------------------------


def _white_level(channel: np.ndarray) -> float:
    """What counts as full white for a single-channel array of this dtype and content."""
    if np.issubdtype(channel.dtype, np.floating):
        # A float image may hold 0–1 or 0–255 (a uint8 image converted to float): read the
        # latter on its own scale, or any JPEG noise above 0.5 would count as the object.
        finite = channel[np.isfinite(channel)]
        if finite.size and finite.max() > _FLOAT_WHITE:
            return float(_UINT8_WHITE)
        return _FLOAT_WHITE
    if channel.size and channel.max() <= _LABEL_MASK_MAX:
        return float(_LABEL_MASK_MAX)
    if channel.dtype == np.uint16 or (channel.size and channel.max() > _UINT8_WHITE):
        return float(_UINT16_WHITE)
    return float(_UINT8_WHITE)


def _is_white(channel: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.asarray(channel >= _HALF * _white_level(channel))


def mask_to_bool(mask: np.ndarray) -> np.ndarray:
    """Turn a user mask into ``(H, W)`` bool, ``True`` = object.

    Accepted:
        - ``(H, W)`` bool, integer or float: a pixel is the object when it is at least half
          white (≥ 0.5 for floats in 0–1, ≥ 128 for uint8 and for floats above 1, i.e. on the
          0–255 scale; integer 0/1 label masks: nonzero).
        - ``(H, W, 3)`` RGB: the brightest channel decides (coloured brush strokes count).
        - ``(H, W, 4)`` RGBA (e.g. a paint layer over a transparent background): when the alpha
          varies, the painted (alpha ≥ half) pixels are the object whatever their colour;
          a fully opaque RGBA image is read by its RGB like an RGB mask.

    Raises:
        ObjectMotionError: any other shape.
    """
    mask = np.asarray(mask)
    if mask.dtype == np.bool_:
        if mask.ndim == 2:
            return mask.copy()
        mask = mask.astype(np.uint8)
    if not (np.issubdtype(mask.dtype, np.number)):
        raise ObjectMotionError(f"the mask must be a numeric image, got dtype {mask.dtype}")
    if mask.ndim == 2:
        return _is_white(mask)
    if mask.ndim == 3 and mask.shape[-1] == 4:
        alpha = mask[..., 3]
        if alpha.size and alpha.min() != alpha.max():
            return _is_white(alpha)
        mask = mask[..., :3]
    if mask.ndim == 3 and mask.shape[-1] in (1, 3):
        return _is_white(mask.max(axis=-1))
    raise ObjectMotionError(
        f"the mask must be an (H, W) array or an (H, W, 3|4) image, got shape {mask.shape}"
    )


def resize_mask(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour resize of a mask ``(h, w[, C])`` to ``(height, width[, C])``, same dtype.

    Pixel centres are aligned (output pixel ``c`` samples input ``floor((c + 0.5) · w / W)``),
    so no value is invented and a mask scaled by an integer factor stays exact.
    """
    mask = np.asarray(mask)
    if mask.ndim not in (2, 3) or mask.shape[0] == 0 or mask.shape[1] == 0:
        raise ObjectMotionError(f"the mask must be an (H, W) or (H, W, C) image, got shape {mask.shape}")
    if height < 1 or width < 1:
        raise ValueError(f"target size must be positive, got {height}×{width}")
    src_height, src_width = mask.shape[:2]
    rows = np.minimum(((np.arange(height) + 0.5) * src_height / height).astype(np.int64), src_height - 1)
    cols = np.minimum(((np.arange(width) + 0.5) * src_width / width).astype(np.int64), src_width - 1)
    return mask[rows[:, None], cols[None, :]]


def select_points(mask: np.ndarray, uv0: np.ndarray, height: int, width: int) -> np.ndarray:
    """Which points the mask selects, by their frame-0 pixel position.

    Args:
        mask: the object mask, any encoding :func:`mask_to_bool` accepts, of size
            ``(height, width)`` (resize it explicitly with :func:`resize_mask` otherwise).
        uv0: ``(N, 2)`` frame-0 pixel positions (``(N, 3)`` uvz also works). A point at
            ``(u, v)`` lies in pixel ``(floor(v), floor(u))`` (SPEC §3); points outside the
            frame or non-finite are never selected.
        height, width: the working frame size.

    Returns:
        ``(N,)`` bool.

    Raises:
        ObjectMotionError: the mask has another size, is empty, or covers no point.
    """
    object_pixels = mask_to_bool(mask)
    if object_pixels.shape != (height, width):
        mask_h, mask_w = object_pixels.shape
        raise ObjectMotionError(
            f"the mask is {mask_h}×{mask_w} (H×W) but the frame is {height}×{width}; draw it on the "
            f"frame itself or resize it first (core.object_motion.resize_mask(mask, {height}, {width}))"
        )
    if not object_pixels.any():
        raise ObjectMotionError("the mask is empty: paint the object white (or opaque) on a black background")
    uv0 = np.asarray(uv0, dtype=np.float64)
    if uv0.ndim != 2 or uv0.shape[-1] not in (2, 3):
        raise ValueError(f"uv0 must have shape (N, 2) or (N, 3), got {uv0.shape}")
    selected = uv_in_frame(uv0, height, width) & sample_nearest(object_pixels, uv0)
    if not selected.any():
        raise ObjectMotionError(
            f"the mask covers {int(object_pixels.sum())} pixels but no tracked point lies inside it; "
            "draw a larger mask or use a denser grid of points"
        )
    return selected


# --------------------------------------------------------------------------------------------
# Transforms
# --------------------------------------------------------------------------------------------


def _normalise_motion(motion: str) -> str:
    name = str(motion).strip().lower()
    if name not in OBJECT_MOTIONS:
        raise ObjectMotionError(f"unknown object motion {motion!r}; use one of: {', '.join(OBJECT_MOTIONS)}")
    return name


def object_centroid(points0: np.ndarray, selected: np.ndarray) -> np.ndarray:
    """Mean ``(3,)`` float64 of the selected, finite frame-0 points ``points0 (N, 3)``."""
    points0 = np.asarray(points0)
    selected = np.asarray(selected, dtype=bool)
    if points0.ndim != 2 or points0.shape[-1] != 3:
        raise ValueError(f"points0 must have shape (N, 3), got {points0.shape}")
    if selected.shape != (points0.shape[0],):
        raise ValueError(f"selected must have shape ({points0.shape[0]},), got {selected.shape}")
    chosen = points0[selected].astype(np.float64)
    chosen = chosen[np.isfinite(chosen).all(axis=-1)]
    if len(chosen) == 0:
        raise ObjectMotionError("no selected point has a valid 3D position; draw the mask over the object")
    return chosen.mean(axis=0)


def linear_ramp(num_frames: int) -> np.ndarray:
    """``(T,)`` progress from 0 at frame 0 to 1 at frame ``T−1`` (a single frame gets 1)."""
    if num_frames < 1:
        raise ValueError(f"num_frames must be positive, got {num_frames}")
    if num_frames == 1:
        return np.ones(1)
    return np.arange(num_frames) / (num_frames - 1)


def object_motion_transforms(
    points0: np.ndarray,
    selected: np.ndarray,
    motion: str,
    amount: float,
    num_frames: int,
    K: np.ndarray,
    *,
    width: int | None = None,
) -> np.ndarray:
    """Per-frame rigid transforms of the selected object, in frame-0 camera space.

    Args:
        points0: ``(N, 3)`` frame-0 camera-space points.
        selected: ``(N,)`` bool, from :func:`select_points`.
        motion: one of :data:`OBJECT_MOTIONS` (case-insensitive).
        amount: fraction of the frame width (up/down/left/right), fraction of the object's
            depth (front/back) or degrees (rot); see the module docstring.
        num_frames: ``T``.
        K: ``(3, 3)`` intrinsics in pixels.
        width: frame width in pixels; defaults to ``2·cx`` (principal point at the centre).

    Returns:
        ``(T, 4, 4)`` float64 ``O_t``, identity at frame 0, the full motion at frame ``T−1``.

    Raises:
        ObjectMotionError: unknown motion, non-finite amount, nothing selected, or a ``front``
            move that would put the object on or behind the camera.
    """
    name = _normalise_motion(motion)
    try:
        amount = float(amount)
    except (TypeError, ValueError):
        raise ObjectMotionError(f"the motion amount must be a number, got {amount!r}") from None
    if not math.isfinite(amount):
        raise ObjectMotionError(f"the motion amount must be a finite number, got {amount!r}")
    selected = np.asarray(selected, dtype=bool)
    if not selected.any():
        raise ObjectMotionError("no point is selected: draw the mask over the object")
    centroid = object_centroid(points0, selected)
    centroid_depth = centroid[2]
    if centroid_depth <= 0:
        raise ObjectMotionError("the selected object is not in front of the camera")
    progress = linear_ramp(num_frames)

    if name == "rot":
        return rotation_about_point(rotation_about_axis(YAW_AXIS, amount * progress), centroid)

    K = np.asarray(K, dtype=np.float64)
    if name in _IMAGE_PLANE_DIRECTIONS:
        frame_width = 2.0 * K[0, 2] if width is None else float(width)
        shift_px = amount * frame_width
        step_x, step_y = _IMAGE_PLANE_DIRECTIONS[name]
        # A shift parallel to the image plane at depth z moves the projection by Δ·f/z pixels.
        offset = np.array(
            [step_x * shift_px * centroid_depth / K[0, 0], step_y * shift_px * centroid_depth / K[1, 1], 0.0]
        )
    else:
        offset = np.array([0.0, 0.0, _DEPTH_DIRECTIONS[name] * amount * centroid_depth])
        if centroid_depth + offset[2] <= 0:
            raise ObjectMotionError(
                f"moving the object {name} by {amount:g} of its depth would put it on or behind the camera; "
                "use an amount below 1"
            )
    return make_se3(None, progress[:, None] * offset)


def apply_object_motion(points: np.ndarray, selected: np.ndarray, transforms: np.ndarray) -> np.ndarray:
    """Move the selected points by the object transforms; leave the others bit-identical.

    Args:
        points: ``(T, N, 3)`` camera-space points per frame (a static ``(N, 3)`` cloud is
            repeated over the ``T`` frames of ``transforms``).
        selected: ``(N,)`` bool.
        transforms: ``(T, 4, 4)`` from :func:`object_motion_transforms`.

    Returns:
        ``(T, N, 3)`` new array, in the points' floating dtype. Apply the camera motion to
        this afterwards (``p_t = C_t · O_t · p_0``).
    """
    points = np.asarray(points)
    if not np.issubdtype(points.dtype, np.floating):
        points = points.astype(np.float32)
    transforms = np.asarray(transforms)
    selected = np.asarray(selected, dtype=bool)
    if transforms.ndim != 3 or transforms.shape[1:] != (4, 4):
        raise ValueError(f"transforms must have shape (T, 4, 4), got {transforms.shape}")
    num_frames = transforms.shape[0]
    if points.ndim == 2:
        points = np.broadcast_to(points, (num_frames,) + points.shape)
    if points.ndim != 3 or points.shape[-1] != 3 or points.shape[0] != num_frames:
        raise ValueError(f"points must have shape ({num_frames}, N, 3) or (N, 3), got {points.shape}")
    if selected.shape != (points.shape[1],):
        raise ValueError(f"selected must have shape ({points.shape[1]},), got {selected.shape}")
    moved = np.array(points, copy=True)
    moved[:, selected] = transform_points(transforms, points[:, selected])
    return moved
