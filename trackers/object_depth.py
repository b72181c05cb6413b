"""Depth of a masked object that Object Manipulation moves as one rigid thing (SPEC §7).

An object moved parallel to the image plane by a rigid 3D offset ``Δ`` shifts each of its
points on screen by ``Δ · f / z_i`` pixels, so its pixels move together only when its points
share (nearly) one depth. A ``front``/``back`` move changes every depth by the same amount,
which scales the object uniformly on screen under the same condition. The depth under a mask
is therefore made *rigid* before the object is lifted to 3D:

- **Approximate depth** (the built-in ground-plane prior): the prior's depth follows the image
  row, so through an upright object it runs from near (bottom) to far (top) and a sideways
  move shears the object. The object instead gets one depth: the depth where it *meets the
  ground*, the median depth over the lowest rows of the mask (its contact band). That is how
  the object sits in the scene under a ground-plane model: standing on the ground at its base.
- **A real depth model**: the model's relative shape is kept, with two repairs. Outliers
  (background depth bleeding into the mask's edge, a hole of sky) are clipped to a few robust
  standard deviations of the object's inverse depth, and the remaining relief is scaled down,
  if needed, so no point's inverse depth differs from the object's median by more than
  :data:`RELIEF_LIMIT`. Image-plane moves then shift every pixel by the median shift
  ± :data:`RELIEF_LIMIT`, whatever the model predicted.

Only the object's depth changes; the rest of the scene keeps the estimator's depth.
"""

from __future__ import annotations

import numpy as np

from core import geometry

CONTACT_BAND_FRACTION = 0.05
"""The contact band is the lowest 5 % of the mask's rows (at least one row): wide enough to hold
more than a single ragged row of a hand-painted mask, narrow enough to stay where the object
meets the ground."""
MIN_CONTACT_BAND_PX = 1.0
RELIEF_LIMIT = 0.04
"""Largest relative deviation of an object point's inverse depth from the object's median.
A sideways move shifts a point by a pixel distance proportional to its inverse depth, so this
bounds the spread of the object's displacement at ±4 %, inside the 5 % a rigid move allows,
while keeping the model's shape (a 4 % relief at 1 m is 4 cm — a face keeps its nose)."""
OUTLIER_SIGMAS = 3.0
"""Inverse depths beyond this many robust standard deviations from the object's median are
taken as background bleeding into the mask and clipped."""
RELIEF_PERCENTILE = 98.0
"""The relief is scaled so this percentile of the object's points fits :data:`RELIEF_LIMIT`;
the few beyond it are capped there."""
MAD_TO_SIGMA = 1.4826
"""Median absolute deviation → standard deviation for normally distributed values."""


def contact_band(mask: np.ndarray) -> np.ndarray:
    """The object's lowest rows, where it meets the ground: ``(H, W)`` bool inside ``mask``.

    Args:
        mask: ``(H, W)`` bool, non-empty.

    Returns:
        The mask pixels whose row lies in the lowest :data:`CONTACT_BAND_FRACTION` of the mask's
        row span (at least :data:`MIN_CONTACT_BAND_PX` row).
    """
    rows = np.flatnonzero(mask.any(axis=1))
    top, bottom = int(rows[0]), int(rows[-1])
    band_rows = max(MIN_CONTACT_BAND_PX, CONTACT_BAND_FRACTION * (bottom - top + 1))
    in_band = np.arange(mask.shape[0]) > bottom - band_rows
    return mask & in_band[:, None]


def flatten_relief(depth: np.ndarray, keep: np.ndarray | None = None) -> np.ndarray:
    """Depths of one object with outliers clipped and relief bounded (a real depth model).

    Works in inverse depth, where a sideways move's pixel shift is linear: with ``ρ = 1/z``,
    ``m`` the median of ``ρ`` over the object in each frame and ``r = ρ/m − 1``, ``r`` is clipped
    to ``±OUTLIER_SIGMAS`` robust standard deviations, then scaled by one factor for all frames
    so the :data:`RELIEF_PERCENTILE` of ``|r|`` is at most ``RELIEF_LIMIT``, and capped at
    ``±RELIEF_LIMIT``. Every step is monotone and keeps ``r = 0``, so the median depth and the
    depth order of the object's points are unchanged.

    Args:
        depth: ``(T, M)`` positive depths of the object's ``M`` points in each of ``T`` frames
            (``(M,)`` for one frame).
        keep: optional bool of the same shape: points to use for the statistics (e.g. tracks
            still alive); the others are transformed too.

    Returns:
        Same shape, float32.
    """
    depth = np.asarray(depth, dtype=np.float64)
    single = depth.ndim == 1
    if single:
        depth = depth[None]
    positive = np.isfinite(depth) & (depth > 0)
    use = positive if keep is None else positive & np.asarray(keep, dtype=bool).reshape(depth.shape)
    use = np.where(use.any(axis=1, keepdims=True), use, positive)  # a frame with nothing kept: use all
    has_depth = use.any(axis=1, keepdims=True)
    inverse = 1.0 / np.where(positive, depth, 1.0)
    statistics = np.where(use, inverse, np.nan)
    statistics[~has_depth[:, 0]] = 1.0  # frames without any depth are left as they are below
    median = np.nanmedian(statistics, axis=1, keepdims=True)
    relative = inverse / median - 1.0
    sigma = MAD_TO_SIGMA * np.nanmedian(np.abs(statistics / median - 1.0), axis=1, keepdims=True)
    clipped = np.where(positive, np.clip(relative, -OUTLIER_SIGMAS * sigma, OUTLIER_SIGMAS * sigma), 0.0)
    # Scale by the object's typical largest relief (a high percentile, so the clipped outliers
    # do not flatten the rest), then cap what lies beyond.
    typical_largest = float(np.percentile(np.abs(clipped[use]), RELIEF_PERCENTILE)) if use.any() else 0.0
    factor = 1.0 if typical_largest <= RELIEF_LIMIT else RELIEF_LIMIT / typical_largest
    bounded = np.clip(factor * clipped, -RELIEF_LIMIT, RELIEF_LIMIT)
    flattened = np.where(has_depth, 1.0 / (median * (1.0 + bounded)), depth)
    return (flattened[0] if single else flattened).astype(np.float32)


def rigid_object_depth(depth: np.ndarray, mask: np.ndarray, *, approximate: bool) -> np.ndarray:
    """A depth map whose masked object moves as one rigid thing (see the module docstring).

    Args:
        depth: ``(H, W)`` positive camera-space depth of frame 0.
        mask: ``(H, W)`` bool, ``True`` = the object (e.g. from :func:`core.object_motion.mask_to_bool`).
        approximate: ``True`` for the built-in estimate (``DepthResult.approximate``): the
            object gets one depth, where it meets the ground; ``False`` for a depth model: its
            shape is kept with outliers clipped and the relief bounded.

    Returns:
        ``(H, W)`` float32 copy of ``depth`` with only the masked pixels changed.

    Raises:
        ValueError: shapes differ or the mask is empty.
    """
    depth = np.asarray(depth, dtype=np.float32)
    mask = np.asarray(mask, dtype=bool)
    if depth.ndim != 2 or mask.shape != depth.shape:
        raise ValueError(f"depth (H, W) and mask (H, W) must match, got {depth.shape} and {mask.shape}")
    if not mask.any():
        raise ValueError("the mask is empty")
    rigid = depth.copy()
    if approximate:
        rigid[mask] = np.float32(np.median(depth[contact_band(mask)]))
    else:
        rigid[mask] = flatten_relief(depth[mask])
    return rigid


def rigid_track_depth(uvz: np.ndarray, selected: np.ndarray, *, approximate: bool, alive: np.ndarray | None = None) -> np.ndarray:
    """Tracks whose selected object moves as one rigid thing: the video counterpart of
    :func:`rigid_object_depth`, frame by frame.

    Args:
        uvz: ``(T, N, 3)`` tracks (pixels + depth).
        selected: ``(N,)`` bool, the object's tracks (:func:`core.object_motion.select_points`).
        approximate: as :func:`rigid_object_depth`; the contact band is the lowest
            :data:`CONTACT_BAND_FRACTION` of the selected tracks' row span in each frame.
        alive: optional ``(T, N)`` bool, tracks to use for the statistics (e.g. ``until_lost``).

    Returns:
        ``(T, N, 3)`` float32 copy with only the selected tracks' ``z`` changed.
    """
    uvz = np.asarray(uvz, dtype=np.float32)
    selected = np.asarray(selected, dtype=bool)
    if uvz.ndim != 3 or uvz.shape[-1] != 3 or selected.shape != (uvz.shape[1],):
        raise ValueError(f"uvz must be (T, N, 3) and selected (N,), got {uvz.shape} and {selected.shape}")
    if not selected.any():
        raise ValueError("no track is selected")
    rigid = uvz.copy()
    depth = uvz[:, selected, 2].astype(np.float64)
    use = np.isfinite(depth) & (depth > 0)
    if alive is not None:
        use &= np.asarray(alive, dtype=bool)[:, selected]
    use[~use.any(axis=1)] = np.isfinite(depth[~use.any(axis=1)])  # a frame with none alive: use all
    if approximate:
        rows = np.where(use, uvz[:, selected, 1], np.nan)
        bottom = np.nanmax(rows, axis=1, keepdims=True)
        top = np.nanmin(rows, axis=1, keepdims=True)
        band = np.maximum(MIN_CONTACT_BAND_PX, CONTACT_BAND_FRACTION * (bottom - top + 1.0))
        in_band = use & (rows > bottom - band)
        contact = np.nanmedian(np.where(in_band, depth, np.nan), axis=1, keepdims=True)
        rigid[:, selected, 2] = np.broadcast_to(contact, depth.shape)
    else:
        rigid[:, selected, 2] = flatten_relief(depth, use)
    return rigid


def dense_cloud(depth: np.ndarray, K: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One point per pixel, row-major, as :func:`core.tasks.common.image_scene` builds it.

    Args:
        depth: ``(H, W)`` depth; K: ``(3, 3)`` intrinsics.

    Returns:
        ``uvz0 (H·W, 3)`` float32 pixel centres with their depth, ``points0 (H·W, 3)`` float32.
    """
    height, width = depth.shape
    grid = geometry.pixel_grid(height, width).reshape(-1, 2)
    uvz0 = np.concatenate([grid, np.asarray(depth, dtype=np.float32).reshape(-1, 1)], axis=1).astype(np.float32)
    return uvz0, geometry.unproject_uvz(uvz0, K).astype(np.float32)
