"""The tracking video: a coloured 3D point cloud drawn frame by frame on black (SPEC §5).

This is what the DaS tracking branch was trained to read, so colours and drawing rules follow
DaS exactly; only the implementation differs (vectorised instead of one rectangle per point).

Colours (:func:`track_colors`)
    Every point keeps one colour for the whole clip, from its frame-0 position and depth:
    ``R = 255·clip(u0/W)``, ``G = 255·clip(v0/H)``, ``B = 255·clip((1/z0 − p2)/(p98 − p2))``
    with ``p2``/``p98`` the 2nd/98th percentiles of ``1/z0``; values are truncated to uint8.

Drawing (:func:`render_tracking_video`)
    Painter's order — far points first, near points last — so a nearer point covers a farther
    one. Points of equal depth are drawn in input order, so the one with the larger index ends
    on top. Each point is a filled rectangle of pixels around the pixel it lands in,
    ``(floor(v), floor(u))`` (SPEC §3); rectangles are clipped at the frame border.

How it is fast
    Painting far-to-near and keeping the last write is the same as keeping, at every pixel, the
    point that is first in the order *(nearest depth, then largest index)* among all points whose
    rectangle covers that pixel. Every rectangle has the same shape relative to its centre
    pixel, so that winner is a sliding-window minimum: scatter each point's sort key
    (``depth bits << 32 | (N − index)``) to its centre pixel keeping the minimum
    (``np.minimum.at``), then take the minimum over the footprint window around every pixel
    (a separable min filter), then look the winners' colours up in a palette. No per-frame sort and no per-point loop.
    Depths are compared as float32 (the project's dtype for ``uvz``, SPEC §3): the bit pattern
    of a positive finite float32 orders exactly like its value.
"""

from __future__ import annotations

from typing import Optional, Union

import numpy as np

from core.progress import CancelFn, ProgressFn, check_cancel, report

Footprint = Union[str, int]

FOOTPRINTS = ("dense", "grid")
"""Named footprints; an ``int`` (the side of a square in pixels) is also accepted."""

DENSE_SQUARE_SIDE = 3
"""Side in pixels of the square drawn for each point of a dense cloud (DaS: 3×3)."""

GRID_HEIGHT_RATIO = 1.5
"""For the ``grid`` footprint the rectangle's half-height is its half-width divided by this."""

GRID_FALLBACK_HALF_EXTENT = 1
"""Half-extent (px) used for ``grid`` when frame 0 has fewer than two drawable points."""

LOW_PERCENTILE, HIGH_PERCENTILE = 2.0, 98.0
"""Percentiles of inverse depth that map to blue = 0 and blue = 255."""

COLOR_SCALE = 255.0

# Sort key of a point: (float32 depth bits << 32) | palette slot, where slot = N − index, so a
# smaller key is nearer or, at equal depth, a larger index. Slot 0 is the black background:
# the empty key has depth bits above every finite float's (< 0x7F800000) and slot 0, so the
# winner's low bits index the palette directly, with no special case for empty pixels.
_INDEX_BITS = 32
_INDEX_MASK = (1 << _INDEX_BITS) - 1
_EMPTY_KEY = np.int64(0x7FFFFFFF << _INDEX_BITS)
_DIRECT_WINDOW_LIMIT = 5
"""Windows up to this many pixels use one shifted minimum per offset (cheaper than doubling)."""


# --------------------------------------------------------------------------------------------
# Colours
# --------------------------------------------------------------------------------------------


def track_colors(
    uvz0: np.ndarray, height: int, width: int, *, range_from: Optional[np.ndarray] = None
) -> np.ndarray:
    """One RGB colour per point from its frame-0 position and depth (SPEC §5).

    Args:
        uvz0: ``(N, 3)`` frame-0 tracks ``(u, v, z)``: pixels, pixels, camera-space depth.
        height, width: frame size in pixels.
        range_from: optional ``(N,)`` bool, the points whose depths set ``p2`` and ``p98``
            (default: all). Pass the points drawn on frame 0 when some are not — e.g. the
            back of a mesh — so the blue channel spans the visible surface, as it did for
            DaS's training videos, whose tracks were all visible on frame 0. When none of
            them has a valid depth, all points are used.

    Returns:
        ``(N, 3)`` uint8 colours: ``R = 255·clip(u0/W, 0, 1)``, ``G = 255·clip(v0/H, 0, 1)``,
        ``B = 255·clip((1/z0 − p2)/(p98 − p2), 0, 1)``, each truncated to an integer
        (``astype(uint8)`` after the multiplication, as DaS does). ``p2`` and ``p98`` are the
        2nd and 98th percentiles (NumPy's default linear interpolation) of ``1/z0`` over the
        points with a finite, positive depth (of ``range_from`` only, when given).

    Edge cases (DaS would produce NaN/undefined bytes here; we choose stable values):
        - a point with a non-finite or non-positive depth gets ``B = 0`` (it is never drawn
          while behind the camera, and a "far" colour is the least surprising if it reappears)
          and does not enter the percentiles; a NaN ``u``/``v`` gives ``R``/``G = 0``;
        - if ``p98 == p2`` (e.g. a fronto-parallel plane) the limit of the formula for a range
          shrinking to zero is used: ``B = 255`` where ``1/z0 > p98``, else ``0``;
        - if no point has a valid depth, ``B = 0`` everywhere.
    """
    uvz0 = np.asarray(uvz0, dtype=np.float64)
    if uvz0.ndim != 2 or uvz0.shape[1] != 3:
        raise ValueError(f"uvz0 must have shape (N, 3), got {uvz0.shape}")
    if height <= 0 or width <= 0:
        raise ValueError(f"frame size must be positive, got {height}×{width}")

    def to_byte(fraction: np.ndarray) -> np.ndarray:
        fraction = np.nan_to_num(np.clip(fraction, 0.0, 1.0), nan=0.0)
        return (fraction * COLOR_SCALE).astype(np.uint8)

    u0, v0, z0 = uvz0[:, 0], uvz0[:, 1], uvz0[:, 2]
    valid_depth = np.isfinite(z0) & (z0 > 0)
    inverse_depth = np.zeros_like(z0)
    np.divide(1.0, z0, out=inverse_depth, where=valid_depth)

    blue_fraction = np.zeros_like(z0)
    in_range = valid_depth
    if range_from is not None:
        range_from = np.asarray(range_from, dtype=bool)
        if range_from.shape != z0.shape:
            raise ValueError(f"range_from must have shape ({z0.shape[0]},), got {range_from.shape}")
        if (valid_depth & range_from).any():
            in_range = valid_depth & range_from
    if in_range.any():
        low, high = np.percentile(inverse_depth[in_range], [LOW_PERCENTILE, HIGH_PERCENTILE])
        if high > low:
            blue_fraction = (inverse_depth - low) / (high - low)
        else:
            blue_fraction = (inverse_depth > high).astype(np.float64)
        blue_fraction[~valid_depth] = 0.0

    colors = np.empty((uvz0.shape[0], 3), dtype=np.uint8)
    colors[:, 0] = to_byte(u0 / width)
    colors[:, 1] = to_byte(v0 / height)
    colors[:, 2] = to_byte(blue_fraction)
    return colors


# --------------------------------------------------------------------------------------------
# Footprints
# --------------------------------------------------------------------------------------------


def drawable_points(uvz: np.ndarray, height: int, width: int, visible: Optional[np.ndarray] = None) -> np.ndarray:
    """Which points get drawn: finite, in front (``z > 0``), centre inside the frame, visible.

    Args:
        uvz: ``(..., N, 3)`` tracks.
        visible: optional ``(..., N)`` bool; ``False`` hides a point.

    Returns:
        ``(..., N)`` bool.
    """
    return _drawable(uvz[..., 0], uvz[..., 1], uvz[..., 2], height, width, visible)


def _drawable(
    u: np.ndarray, v: np.ndarray, z: np.ndarray, height: int, width: int, visible: Optional[np.ndarray]
) -> np.ndarray:
    with np.errstate(invalid="ignore"):  # NaN compares False: not drawn
        drawable = (u >= 0) & (u < width) & (v >= 0) & (v < height) & (z > 0) & (z < np.inf)
    if visible is not None:
        drawable &= visible
    return drawable


def grid_half_extents(uv0: np.ndarray) -> tuple[float, float]:
    """Half-width and half-height (pixels, unrounded) of the ``grid`` footprint.

    Half-width is half the median nearest-neighbour distance between the points ``uv0 (N, 2)``
    (frame-0 pixel positions of the drawable points); half-height is that divided by
    :data:`GRID_HEIGHT_RATIO` (SPEC §5). Fewer than two points → :data:`GRID_FALLBACK_HALF_EXTENT`.
    """
    from scipy.spatial import cKDTree  # imported lazily: only the grid footprint needs it

    uv0 = np.asarray(uv0, dtype=np.float64)
    if uv0.shape[0] < 2:
        half_width = float(GRID_FALLBACK_HALF_EXTENT)
    else:
        # k=2: the nearest neighbour of each point other than itself.
        distances, _ = cKDTree(uv0).query(uv0, k=2)
        half_width = float(np.median(distances[:, 1])) / 2.0
    return half_width, half_width / GRID_HEIGHT_RATIO


def _round_half_up(value: float) -> int:
    return int(np.floor(value + 0.5))


def footprint_offsets(
    footprint: Footprint, uvz0: Optional[np.ndarray] = None, drawable0: Optional[np.ndarray] = None
) -> tuple[tuple[int, int], tuple[int, int]]:
    """Pixel extents of the rectangle drawn around a point's pixel.

    Args:
        footprint: ``"dense"`` (3×3), ``"grid"`` (from the frame-0 spacing) or an ``int`` side.
        uvz0, drawable0: frame-0 tracks ``(N, 3)`` and drawable mask ``(N,)``; needed for ``grid``.

    Returns:
        ``((dy_min, dy_max), (dx_min, dx_max))``, inclusive row and column offsets from the
        point's pixel. A square of side ``s`` spans ``-(s // 2) … (s - 1) // 2`` (centred for odd
        ``s``; one pixel more up/left for even ``s``). For ``grid`` the half-extents are rounded
        to whole pixels (half up), so the rectangle is ``2·round(hw)+1`` × ``2·round(hh)+1``.
    """
    if isinstance(footprint, str):
        if footprint == "dense":
            side = DENSE_SQUARE_SIDE
        elif footprint == "grid":
            if uvz0 is None or drawable0 is None:
                raise ValueError("the 'grid' footprint needs the frame-0 tracks")
            half_width, half_height = grid_half_extents(uvz0[drawable0, :2])
            half_x, half_y = _round_half_up(half_width), _round_half_up(half_height)
            return (-half_y, half_y), (-half_x, half_x)
        else:
            raise ValueError(f"footprint must be one of {FOOTPRINTS} or a positive int, got {footprint!r}")
    elif isinstance(footprint, (int, np.integer)) and not isinstance(footprint, bool):
        side = int(footprint)
        if side < 1:
            raise ValueError(f"footprint side must be at least 1 pixel, got {side}")
    else:
        raise ValueError(f"footprint must be one of {FOOTPRINTS} or a positive int, got {footprint!r}")
    low = -(side // 2)
    return (low, low + side - 1), (low, low + side - 1)


class _AxisWindowMinimum:
    """``out[i] = min(keys[i + low … i + high])`` along one axis of ``(H, W)`` key images
    (inclusive window); reads outside the image count as :data:`_EMPTY_KEY`, which is what
    clips footprints at the frame border.

    Small windows (the 3×3 dense case) take one in-place ``np.minimum`` per offset; larger ones
    take O(log window) passes: running minima over windows of doubling length ``span`` up to the
    largest power of two ≤ the window, then the union of two overlapping ``span``-windows.
    All buffers are allocated once per video: fresh multi-megabyte arrays every frame cost more
    in page faults than the arithmetic itself.
    """

    def __init__(self, shape: tuple[int, int], axis: int, low: int, high: int) -> None:
        self.axis, self.low, self.high = axis, low, high
        self.size = shape[axis]
        self.length = high - low + 1
        self.out = np.empty(shape, dtype=np.int64)
        self.direct = self.length <= _DIRECT_WINDOW_LIMIT
        if not self.direct:
            self.origin = max(-low, 0)  # padded index of keys[0]
            padded_shape = list(shape)
            padded_shape[axis] = self.origin + self.size + max(high, 0)  # room for every read
            # The padding is written once and never touched again; only the middle is refilled.
            self.padded = np.full(padded_shape, _EMPTY_KEY, dtype=np.int64)
            self.ping, self.pong = np.empty_like(self.padded), np.empty_like(self.padded)

    def _along(self, start: int, stop: int) -> tuple[slice, ...]:
        index = [slice(None), slice(None)]
        index[self.axis] = slice(start, stop)
        return tuple(index)

    def __call__(self, keys: np.ndarray) -> np.ndarray:
        """Window minima of ``keys (H, W)`` int64, in a buffer reused by the next call."""
        along, size, out = self._along, self.size, self.out
        if self.direct:
            if self.low <= 0 <= self.high:
                np.copyto(out, keys)
            else:
                out.fill(_EMPTY_KEY)
            for offset in range(self.low, self.high + 1):
                if offset == 0 or abs(offset) >= size:
                    continue
                if offset > 0:
                    target, source = along(0, size - offset), along(offset, size)
                else:
                    target, source = along(-offset, size), along(0, size + offset)
                np.minimum(out[target], keys[source], out=out[target])
            return out

        origin = self.origin
        self.padded[along(origin, origin + size)] = keys
        running, spare = self.padded, self.ping  # running[j] = min(padded[j … j + span − 1])
        valid = self.padded.shape[self.axis]  # entries of `running` that are meaningful
        span = 1
        while span * 2 <= self.length:
            valid -= span
            np.minimum(running[along(0, valid)], running[along(span, span + valid)], out=spare[along(0, valid)])
            running, spare = spare, (self.pong if spare is self.ping else self.ping)
            span *= 2
        first = origin + self.low
        second = origin + self.high - span + 1
        np.minimum(running[along(first, first + size)], running[along(second, second + size)], out=out)
        return out


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------


def render_tracking_video(
    uvz: np.ndarray,
    colors: np.ndarray,
    height: int,
    width: int,
    *,
    visible: Optional[np.ndarray] = None,
    footprint: Footprint = "dense",
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelFn] = None,
) -> np.ndarray:
    """Draw the tracks on black, frame by frame, in painter's order (SPEC §5).

    Args:
        uvz: ``(T, N, 3)`` tracks: ``u, v`` in pixels, ``z`` camera-space depth (> 0 in front).
            Converted to float32 (the project's dtype) for the depth comparison.
        colors: ``(N, 3)`` uint8 colour of each point for the whole clip (see :func:`track_colors`).
        height, width: frame size in pixels.
        visible: optional ``(T, N)`` bool; ``False`` points are not drawn in that frame.
        footprint: ``"dense"`` — 3×3 squares (a point per pixel, e.g. from a depth map);
            ``"grid"`` — rectangles of half-width half the median nearest-neighbour spacing of
            the drawable frame-0 points and half-height that / 1.5 (a sparse grid of tracks);
            an ``int`` — a square of that side. See :func:`footprint_offsets` for pixel extents.
        progress, cancel: see :mod:`core.progress`; checked once per frame.

    Returns:
        ``(T, H, W, 3)`` uint8 frames. A point is drawn only if its depth is finite and > 0, its
        centre ``(u, v)`` lies inside the frame and it is visible; its rectangle is clipped at the
        border. Nearer points cover farther ones; at equal depth the larger index is on top.

    Raises:
        ValueError: on inconsistent shapes or an unknown footprint.
        core.progress.Cancelled: when ``cancel()`` returns True.
    """
    uvz = np.asarray(uvz)
    colors = np.asarray(colors)
    if uvz.ndim != 3 or uvz.shape[2] != 3:
        raise ValueError(f"uvz must have shape (T, N, 3), got {uvz.shape}")
    num_frames, num_points = uvz.shape[:2]
    if colors.shape != (num_points, 3):
        raise ValueError(f"colors must have shape ({num_points}, 3), got {colors.shape}")
    if visible is not None:
        visible = np.asarray(visible, dtype=bool)
        if visible.shape != (num_frames, num_points):
            raise ValueError(f"visible must have shape ({num_frames}, {num_points}), got {visible.shape}")
    if height <= 0 or width <= 0:
        raise ValueError(f"frame size must be positive, got {height}×{width}")
    if num_points > _INDEX_MASK:
        raise ValueError(f"at most {_INDEX_MASK} points can be drawn, got {num_points}")
    colors = colors.astype(np.uint8, copy=False)

    frames = np.zeros((num_frames, height, width, 3), dtype=np.uint8)
    if num_frames == 0:
        return frames
    uvz = uvz.astype(np.float32, copy=False)

    first_visible = None if visible is None else visible[0]
    (row_low, row_high), (col_low, col_high) = footprint_offsets(
        footprint, uvz[0], drawable_points(uvz[0], height, width, first_visible)
    )
    # Palette slot of point i is N − i (see _EMPTY_KEY); slot 0 stays black.
    palette_slot = num_points - np.arange(num_points, dtype=np.int64)
    palette = np.zeros((num_points + 1, 3), dtype=np.uint8)
    palette[palette_slot] = colors
    row_minimum = _AxisWindowMinimum((height, width), 0, -row_high, -row_low)
    col_minimum = _AxisWindowMinimum((height, width), 1, -col_high, -col_low)
    # Per-frame work arrays, allocated once (see _AxisWindowMinimum for why).
    discard_pixel = height * width  # one spare pixel after the frame collects undrawn points
    pixel_keys = np.empty(height * width + 1, dtype=np.int64)
    planes = np.empty((3, num_points), dtype=np.float32)
    pixel = np.empty(num_points, dtype=np.int64)
    column = np.empty(num_points, dtype=np.int64)
    keys = np.empty(num_points, dtype=np.int64)

    for frame_index in range(num_frames):
        check_cancel(cancel, "rendering the tracking video")
        np.copyto(planes, uvz[frame_index].T)  # contiguous u, v, z planes are faster to scan
        u, v, z = planes
        drawable = _drawable(u, v, z, height, width, None if visible is None else visible[frame_index])
        with np.errstate(invalid="ignore"):  # NaN casts land on the discard pixel just below
            # Drawable points have 0 <= u < W and 0 <= v < H, so truncation equals floor.
            np.copyto(pixel, v, casting="unsafe")
            np.copyto(column, u, casting="unsafe")
        pixel *= width
        pixel += column
        np.putmask(pixel, ~drawable, discard_pixel)
        # Positive finite float32 bit patterns order like the values (IEEE 754); the keys of
        # points that are not drawn are garbage but go to the discard pixel.
        np.left_shift(z.view(np.int32), _INDEX_BITS, out=keys, dtype=np.int64)
        keys |= palette_slot

        pixel_keys.fill(_EMPTY_KEY)
        np.minimum.at(pixel_keys, pixel, keys)
        # A point covers pixel p if p − its pixel is in the footprint, i.e. p's winner is the
        # minimum key over the window p − offsets: rows p−dy_max … p−dy_min, same for columns.
        winners = col_minimum(row_minimum(pixel_keys[:discard_pixel].reshape(height, width)))
        winners &= _INDEX_MASK
        np.take(palette, winners, axis=0, out=frames[frame_index])
        report(progress, (frame_index + 1) / num_frames, f"rendered frame {frame_index + 1}/{num_frames}")
    return frames
