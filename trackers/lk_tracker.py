"""The built-in point tracker: pyramidal Lucas–Kanade that gives every track a position in
every frame (:func:`track_points_lk`); :mod:`trackers.points` is the public entry point.

Pixel conventions are those of :mod:`core.geometry`: ``(u, v)`` continuous, the centre of
pixel (row ``r``, column ``c``) at ``(c + 0.5, r + 0.5)``. OpenCV's optical flow puts pixel
centres at integer coordinates, so positions are shifted by half a pixel at that boundary.

OpenCV pyramidal Lucas–Kanade runs from each frame to the next, vectorised over all live
points, coarse to fine: for frames of at least ``COARSE_MIN_SIDE_PX`` LK runs on half-size
copies (half the time), and a small full-resolution window started from its result gives the
final position (half the drift of the large window alone). A step is kept only if (1) LK
converges forward and backward and the round trip lands within
``FORWARD_BACKWARD_THRESHOLD_PX`` of the start (1.5 px on half-size copies), (2) the
small-window refinement moves the point by at most ``LOCAL_AGREEMENT_THRESHOLD_PX`` (catches
points dragged along by an occluder's edge, which the round trip cannot see), (3) the 7 × 7
patch around the point keeps its pattern (normalised cross-correlation ≥
``MIN_PATCH_CORRELATION``) and mean colour (change ≤ ``MAX_PATCH_COLOUR_CHANGE``) — an
occluder covering it fails one of them — and (4) the point stays inside the frame. Known
limits: LK's window moves rigidly, so a rotation costs about 0.1 px of drift per degree per
frame on strongly oriented texture; within half a window of the frame edge OpenCV sees
reflected content and accuracy drops to a few pixels.

Every track gets a position in every frame (DaS draws every frame-0 track wherever it is
inside the frame). A track that fails the checks, or sits on a flat patch where LK cannot
confirm anything, is *predicted* (``_predict_lost``) — by the dominant (camera) motion where
its neighbourhood follows it, else by the local motion of frame-0 neighbours that moved like
it before, else by dense optical flow (DIS) — always from its last confirmed position, so
nothing drifts while it is hidden. Predicted tracks are looked for again by LK from their last
confirmed view (``_reacquire``) and continue as seen tracks when found; ``visible`` is False
where a position was predicted.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable, Optional

import cv2
import numpy as np

from core.progress import CancelFn, ProgressFn, check_cancel, report
from trackers.tracks import LK_METHOD, PointTracks

LK_WINDOW_PX = 21
"""Side of the Lucas–Kanade integration window (px, odd) when LK runs at full resolution."""
LK_PYRAMID_LEVELS = 3
"""Pyramid levels above LK's base image: handles motions up to ~2^3 × window/2 base px per frame."""
COARSE_MIN_SIDE_PX = 256
"""Frames whose shorter side is at least this are tracked coarse-to-fine: LK on a half-size
copy, then refined at full size (see ``_lk_step``). Smaller frames run LK at full size, where
a half-size copy would leave too few pixels for the pyramid."""
COARSE_WINDOW_PX = 13
"""LK window (px, odd) on the half-size copy: 26 full-size px, a little wider than the
full-size window. Measured on a 49-frame 480×720 rotating, zooming photo (bench/tracking.py):
half the time of full-size LK with the same refinement, the same median drift; 11 px loses
more tracks to outliers, 15 px costs 40 % more for no gain."""
COARSE_FORWARD_BACKWARD_THRESHOLD_PX = 1.5
"""Round-trip tolerance (full-size px) when the backward pass runs on the half-size copy,
whose positions are half as precise as full-size ones."""
LK_MAX_ITERATIONS = 30
LK_EPSILON_PX = 0.01
"""Iteration stops once an update is smaller than this (px)."""
LK_MIN_EIGEN_THRESHOLD = 1e-4
"""OpenCV's minimum-eigenvalue test: windows without texture (flat colour) are reported lost."""
FORWARD_BACKWARD_THRESHOLD_PX = 1.0
"""A track is lost when tracking it forward then backward misses its start by more than this."""
LOCAL_WINDOW_PX = 7
"""Side of the small, full-resolution window used to re-check each step (see ``_lk_step``)."""
LOCAL_AGREEMENT_THRESHOLD_PX = 1.0
"""A track is lost when the small-window re-check moves it by more than this: the large window
was dominated by something else, typically an occluder's edge dragging the point along."""
PATCH_RADIUS_PX = 3
"""Half-side of the small patch compared between consecutive frames (7 × 7 px)."""
MIN_PATCH_CORRELATION = 0.5
"""Normalised cross-correlation below which a patch counts as replaced (occluded). Flat
patches (no texture to correlate) are not judged by this test."""
MIN_PATCH_STD = 2.0
"""Grey-level standard deviation (0–255) under which a patch is considered flat."""
MAX_PATCH_COLOUR_CHANGE = 24.0
"""Largest change (0–255, any channel) of the small patch's mean colour from one frame to the
next; more means something else moved over the point (NCC alone ignores such changes by
design, so a flat occluder entering half of the patch would pass it)."""

LOCAL_NEIGHBOURS = 24
"""Nearest frame-0 neighbours whose motion predicts a track that LK did not confirm: about two
grid cells around it, so the fit follows local motion (a turning object, a zoom)."""
WIDE_NEIGHBOURS = 64
"""Wider neighbourhood: judges whether a track follows the dominant motion, and predicts it
when too few near neighbours are confirmed (a lost patch of texture, a small occluder)."""
MIN_NEIGHBOURS = 8
"""Confirmed neighbours needed for a neighbour fit; with fewer, the next source is tried."""
NEIGHBOUR_FIT_RIDGE = 0.01
"""Ridge (relative to the neighbours' spread) pulling the local affine fit towards a pure
translation: keeps few or collinear neighbours well posed at a negligible bias otherwise."""
NEIGHBOUR_FIT_ITERATIONS = 2
"""Robust reweightings of the neighbour fit."""
NEIGHBOUR_FIT_OUTLIER_PX = 1.5
"""Cauchy scale (px) of the reweighting: a neighbour whose motion misses the fit by this much
counts half."""
DENSE_FLOW_PRESET = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM
"""OpenCV DIS preset for the last-resort prediction (regions with no confirmed neighbour):
~60 ms per 480 × 720 frame pair and direction on one core, computed (forward and backward)
only for frames that need it."""
DENSE_FLOW_CONSISTENCY_PX = 1.0
"""Largest forward–backward disagreement (px) of the dense flow at a point it moves."""
REACQUIRE_MAX_CORRECTION_PX = 4.0
"""A predicted track is confirmed again only within this distance of its prediction."""
REACQUIRE_FORWARD_BACKWARD_PX = 0.5
"""Round-trip tolerance (px) for confirming a predicted track again: stricter than a tracking
step's, since a prediction is already good and a wrong confirmation would be followed."""
REACQUIRE_MIN_CORRELATION = 0.8
"""Patch correlation with the last confirmed view needed to confirm a predicted track again."""
REACQUIRE_EDGE_MARGIN_PX = 4.0
"""Predictions nearer the frame edge than this are not looked for (OpenCV would match
reflected content)."""
HISTORY_AGREEMENT_PX = 1.0
HISTORY_AGREEMENT_SLOPE = 0.25
"""A neighbour helps predict a track only if its motion up to the track's last confirmed frame
matched the track's within ``HISTORY_AGREEMENT_PX`` + this × their distance (see
``_same_history``)."""
MIN_HOMOGRAPHY_TRACKS = 16
"""Tracks confirmed on both frames needed to fit the dominant-motion homography."""
HOMOGRAPHY_RANSAC_PX = 1.5
"""RANSAC inlier tolerance (px) of the dominant-motion homography."""
HOMOGRAPHY_AGREEMENT_PX = 1.5
"""A predicted track takes the dominant motion only if its wider neighbourhood's confirmed
tracks follow it within this median distance (px); otherwise it moves with its neighbours."""
REACQUIRE_INTERVAL = 8
"""Besides 1, 2, 4, 8, ... frames after a track was last seen, it is looked for again every
this many frames (see ``_retry_predicted``)."""
GLOBAL_SUPPORT_POINTS = 120
"""Tracks (an even subset of the grid) forming the frame-wide support of the last neighbour fit."""
GLOBAL_SUPPORT_SCALE = 0.15
"""Distance (fraction of the frame diagonal) at which a frame-wide support track counts half."""
REACQUIRE_PYRAMID_LEVELS = 1
"""Pyramid levels for re-acquisition: it starts from the prediction, a few px off at most."""


_LK_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, LK_MAX_ITERATIONS, LK_EPSILON_PX)


_LK_PARAMS = dict(
    winSize=(LK_WINDOW_PX, LK_WINDOW_PX),
    maxLevel=LK_PYRAMID_LEVELS,
    criteria=_LK_CRITERIA,
    minEigThreshold=LK_MIN_EIGEN_THRESHOLD,
)
_LOCAL_LK_PARAMS = dict(
    winSize=(LOCAL_WINDOW_PX, LOCAL_WINDOW_PX),
    maxLevel=0,
    criteria=_LK_CRITERIA,
    minEigThreshold=LK_MIN_EIGEN_THRESHOLD,
    flags=cv2.OPTFLOW_USE_INITIAL_FLOW,
)
_REACQUIRE_LK_PARAMS = dict(_LK_PARAMS, maxLevel=REACQUIRE_PYRAMID_LEVELS, flags=cv2.OPTFLOW_USE_INITIAL_FLOW)


_REMAP_MAX_ROWS = 32_000
"""``cv2.remap`` refuses maps with 32767 rows or more: sample in chunks below that."""


def _remap_rows(image: np.ndarray, map_x: np.ndarray, map_y: np.ndarray) -> np.ndarray:
    """``cv2.remap`` (bilinear, reflected border) of maps shaped ``(R, C)`` with any ``R``."""
    parts = [
        cv2.remap(
            image,
            np.ascontiguousarray(map_x[start : start + _REMAP_MAX_ROWS]),
            np.ascontiguousarray(map_y[start : start + _REMAP_MAX_ROWS]),
            interpolation=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REFLECT,
        )
        for start in range(0, map_x.shape[0], _REMAP_MAX_ROWS)
    ]
    return np.concatenate(parts, axis=0) if len(parts) > 1 else parts[0]


_PATCH_OFFSETS = np.arange(-PATCH_RADIUS_PX, PATCH_RADIUS_PX + 1, dtype=np.float32)


def _patches(grey: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Bilinearly sampled ``(M, P, P)`` patches centred on ``uv (M, 2)`` (our pixel convention).

    ``grey`` is ``(H, W)`` float32 (see :class:`_Frame`: converted once per frame, not per call).
    """
    offsets = _PATCH_OFFSETS
    # Our (u, v) minus 0.5 is OpenCV's coordinate of the same point.
    map_x = (uv[:, 0, None, None] - 0.5 + offsets[None, None, :]).astype(np.float32)
    map_y = (uv[:, 1, None, None] - 0.5 + offsets[None, :, None]).astype(np.float32)
    side = offsets.size
    map_x = np.broadcast_to(map_x, (uv.shape[0], side, side)).reshape(-1, side)
    map_y = np.broadcast_to(map_y, (uv.shape[0], side, side)).reshape(-1, side)
    return _remap_rows(grey, map_x, map_y).reshape(uv.shape[0], side, side)


def _patch_correlation(before: np.ndarray, after: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normalised cross-correlation of paired patches ``(M, P, P)``, whether both are textured,
    and whether ``before`` alone is."""
    a = before.reshape(before.shape[0], -1).astype(np.float64)
    b = after.reshape(after.shape[0], -1).astype(np.float64)
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    std_a, std_b = a.std(axis=1), b.std(axis=1)
    before_textured = std_a > MIN_PATCH_STD
    textured = before_textured & (std_b > MIN_PATCH_STD)
    correlation = (a * b).mean(axis=1) / np.maximum(std_a * std_b, 1e-12)
    return correlation, textured, before_textured


def _to_grey(frame: np.ndarray) -> np.ndarray:
    """``(H, W)`` uint8 luma of an RGB frame (OpenCV's LK works on 8-bit images)."""
    return cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)


def _patch_means(frame: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` float32 mean colour of the small patch around every pixel."""
    side = 2 * PATCH_RADIUS_PX + 1
    return cv2.blur(frame.astype(np.float32), (side, side), borderType=cv2.BORDER_REFLECT)


def _sample(image: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Bilinear samples ``(M, C)`` of ``image (H, W, C)`` at ``uv (M, 2)`` (our pixel convention)."""
    map_x = (uv[:, 0] - 0.5).astype(np.float32).reshape(-1, 1)
    map_y = (uv[:, 1] - 0.5).astype(np.float32).reshape(-1, 1)
    return _remap_rows(image, map_x, map_y).reshape(uv.shape[0], -1)


_COARSE_LK_PARAMS = dict(_LK_PARAMS, winSize=(COARSE_WINDOW_PX, COARSE_WINDOW_PX))

_COARSE_SCALE = 2
"""``cv2.pyrDown`` keeps every second pixel of the blurred image, so coarse pixel ``j`` sits on
full-size pixel ``2 j``: OpenCV coordinates convert by this factor exactly, with no offset."""


@dataclass
class _Frame:
    """What every check needs of one frame, computed once: each frame serves as "next" for
    one step and as "prev" for the following one.

    Note: OpenCV's Python binding does not accept prebuilt pyramids
    (``cv2.buildOpticalFlowPyramid``) in ``calcOpticalFlowPyrLK`` ("prevImg is not a numpy
    array"), so LK rebuilds them per call; that costs ~1 ms of a ~35 ms call (4,900 points), the
    rest being the per-point window work.
    """

    grey: np.ndarray
    """``(H, W)`` uint8 luma, for LK."""
    grey_float: np.ndarray
    """The same as float32, for bilinear patch sampling."""
    means: np.ndarray
    """``(H, W, 3)`` float32 colour averaged over the small patch."""
    coarse: Optional[np.ndarray]
    """``(⌈H/2⌉, ⌈W/2⌉)`` uint8 half-size luma for coarse-to-fine LK, or None (full-size LK)."""
    flow_from_prev: Optional[np.ndarray] = None
    """``(H, W, 2)`` dense flow from the previous frame, once a prediction needed it."""
    flow_to_prev: Optional[np.ndarray] = None
    """``(H, W, 2)`` dense flow back to the previous frame (consistency check)."""

    @classmethod
    def of(cls, frame: np.ndarray, coarse_to_fine: bool) -> "_Frame":
        grey = _to_grey(frame)
        coarse = cv2.pyrDown(grey) if coarse_to_fine else None
        return cls(grey=grey, grey_float=grey.astype(np.float32), means=_patch_means(frame), coarse=coarse)


def _pyramidal_lk(
    image_from: _Frame, image_to: _Frame, cv_points: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float]:
    """Pyramidal LK of ``cv_points (M, 1, 2)`` (OpenCV coordinates, full size) between two
    frames: on the half-size copies when the frames have them, else at full size.

    Returns the full-size OpenCV positions ``(M, 1, 2)``, LK's status ``(M,)`` and the
    round-trip tolerance (px) that suits that precision.
    """
    if image_from.coarse is not None:
        moved, status, _ = cv2.calcOpticalFlowPyrLK(
            image_from.coarse, image_to.coarse, cv_points / _COARSE_SCALE, None, **_COARSE_LK_PARAMS
        )
        return moved * _COARSE_SCALE, status.ravel() == 1, COARSE_FORWARD_BACKWARD_THRESHOLD_PX
    moved, status, _ = cv2.calcOpticalFlowPyrLK(image_from.grey, image_to.grey, cv_points, None, **_LK_PARAMS)
    return moved, status.ravel() == 1, FORWARD_BACKWARD_THRESHOLD_PX


def _lk_step(prev: _Frame, next_: _Frame, uv_prev: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Track ``uv_prev (M, 2)`` from one frame to the next.

    Coarse to fine: pyramidal LK (on the half-size copies for frames of at least
    ``COARSE_MIN_SIDE_PX``) finds the motion, then a small full-resolution window started from
    it refines the position, which is the result. The small window matches the 7 × 7 pixels
    around the point rather than a 26-px neighbourhood, so it halves the drift that
    accumulates from frame to frame; when it cannot judge (a flat spot) the coarse position
    stands.

    Returns:
        ``uv_next (M, 2)`` float32 and ``ok (M,)`` bool. A step is kept when LK converged; the
        refinement moved the point by at most ``LOCAL_AGREEMENT_THRESHOLD_PX`` (more means
        the large window was dominated by something else, typically an occluder's edge
        dragging the point along); the point is inside the frame; its small patch was not
        replaced by something else; and tracking it back lands within the forward–backward
        tolerance of its start. The round trip alone misses points dragged along by an
        occluder's edge, which move consistently both ways; the two local tests catch them.

    The tests run as a cascade, each on the points that passed the ones before, cheapest
    first, with the backward pass (as expensive as the forward one) last. LK tracks every
    point independently of the others, so the result equals running every test on every point.
    """
    height, width = prev.grey.shape
    cv_prev = (uv_prev - 0.5).astype(np.float32).reshape(-1, 1, 2)
    cv_next, ok, round_trip_tolerance = _pyramidal_lk(prev, next_, cv_prev)
    ok &= np.isfinite(cv_next.reshape(-1, 2)).all(axis=1)

    candidates = np.flatnonzero(ok)
    if candidates.size:
        start = cv_next[candidates]
        cv_local, status_local, _ = cv2.calcOpticalFlowPyrLK(
            prev.grey, next_.grey, cv_prev[candidates], start.copy(), **_LOCAL_LK_PARAMS
        )
        refined = status_local.ravel() == 1
        local_shift = np.linalg.norm(cv_local.reshape(-1, 2) - start.reshape(-1, 2), axis=1)
        ok[candidates[refined & ~(local_shift <= LOCAL_AGREEMENT_THRESHOLD_PX)]] = False
        cv_next[candidates[refined]] = cv_local[refined]

    uv_next = cv_next.reshape(-1, 2) + 0.5
    with np.errstate(invalid="ignore"):  # non-finite rows are already rejected
        ok &= (uv_next[:, 0] >= 0) & (uv_next[:, 0] < width) & (uv_next[:, 1] >= 0) & (uv_next[:, 1] < height)

    # A textured patch that changed pattern or turned flat, or any patch that changed colour
    # abruptly, was covered by something (all patches sampled at once, no per-point loop).
    candidates = np.flatnonzero(ok)
    if candidates.size:
        before = _patches(prev.grey_float, uv_prev[candidates])
        after = _patches(next_.grey_float, uv_next[candidates])
        correlation, textured, before_textured = _patch_correlation(before, after)
        colour_change = np.abs(
            _sample(next_.means, uv_next[candidates]) - _sample(prev.means, uv_prev[candidates])
        ).max(axis=-1)
        replaced = (textured & (correlation < MIN_PATCH_CORRELATION)) | (before_textured & ~textured)
        replaced |= colour_change > MAX_PATCH_COLOUR_CHANGE
        # A flat patch cannot confirm where the point is (LK wanders on compression noise):
        # such points are predicted from their textured neighbours instead.
        ok[candidates[replaced | ~textured]] = False

    # Forward–backward: track the survivors back and require a round trip within tolerance.
    candidates = np.flatnonzero(ok)
    if candidates.size:
        cv_back, converged_back, _ = _pyramidal_lk(next_, prev, cv_next[candidates])
        round_trip = np.linalg.norm(cv_back.reshape(-1, 2) - cv_prev[candidates].reshape(-1, 2), axis=1)
        ok[candidates] = converged_back & (round_trip <= round_trip_tolerance)
    return uv_next.astype(np.float32), ok


def _neighbour_lists(query_uv: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``count`` nearest other query points of every query point, on frame 0.

    Frame-0 neighbours are neighbours on the scene's surface, whatever later covers them.

    Returns:
        ``indices (N, k)`` and ``weights (N, k)`` (``k = min(count, N - 1)``): weights fall off
        as ``1 / (1 + (d / d_median)²)`` with the distance ``d``, so the nearest neighbours
        decide the local motion and the farther ones steady it.
    """
    from scipy.spatial import cKDTree

    k = min(count, query_uv.shape[0] - 1)
    if k < 1:
        empty = np.zeros((query_uv.shape[0], 0))
        return empty.astype(np.intp), empty
    distance, index = cKDTree(query_uv).query(query_uv, k=k + 1)
    distance, index = distance[:, 1:], index[:, 1:]  # drop the point itself
    scale = np.maximum(np.median(distance, axis=1, keepdims=True), 1e-6)
    return index.astype(np.intp), 1.0 / (1.0 + (distance / scale) ** 2)


def _global_support(query_uv: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Every track's weighted support from across the frame: an even subset of at most
    ``GLOBAL_SUPPORT_POINTS`` query points, weighted by ``1 / (1 + (d / s)²)`` with ``s`` =
    ``GLOBAL_SUPPORT_SCALE`` × the frame diagonal — the last neighbour fit before dense flow,
    for regions with no confirmed track nearby (a flat sky)."""
    step = max(1, int(np.ceil(query_uv.shape[0] / GLOBAL_SUPPORT_POINTS)))
    support = np.arange(0, query_uv.shape[0], step, dtype=np.intp)
    distance = np.linalg.norm(query_uv[:, None, :] - query_uv[None, support, :], axis=-1)
    scale = GLOBAL_SUPPORT_SCALE * float(np.hypot(height, width))
    index = np.broadcast_to(support, (query_uv.shape[0], support.size))
    return index, 1.0 / (1.0 + (distance / scale) ** 2)


def _fit_neighbour_motion(
    source: np.ndarray, target: np.ndarray, weight: np.ndarray, centre: np.ndarray
) -> np.ndarray:
    """Where ``centre`` goes under the local affine motion of its neighbours (batched).

    Args:
        source, target: ``(M, K, 2)`` neighbour positions in the reference frame and now.
        weight: ``(M, K)`` non-negative (0 for neighbours that cannot be used).
        centre: ``(M, 2)`` the predicted points' positions in the reference frame.

    Returns:
        ``(M, 2)`` predicted positions. The fit is weighted least squares of ``A x + b`` in
        coordinates centred on the point (so ``b`` is the point's displacement), with a small
        ridge pulling ``A`` towards the identity (``NEIGHBOUR_FIT_RIDGE``) so that few or
        collinear neighbours give a translation-like fit instead of a singular one, and
        ``NEIGHBOUR_FIT_ITERATIONS`` reweightings (Cauchy, ``NEIGHBOUR_FIT_OUTLIER_PX``) so that a
        neighbour moving differently (an occluder's edge, a tracking slip) barely counts.
    """
    x0, x1 = source[..., 0] - centre[:, None, 0], source[..., 1] - centre[:, None, 1]
    y0, y1 = target[..., 0] - centre[:, None, 0], target[..., 1] - centre[:, None, 1]
    robust = weight
    for _ in range(NEIGHBOUR_FIT_ITERATIONS + 1):
        w = robust
        wx0, wx1 = w * x0, w * x1
        normal = np.empty((x0.shape[0], 3, 3))
        normal[:, 0, 0] = (wx0 * x0).sum(axis=1)
        normal[:, 0, 1] = normal[:, 1, 0] = (wx0 * x1).sum(axis=1)
        normal[:, 1, 1] = (wx1 * x1).sum(axis=1)
        normal[:, 0, 2] = normal[:, 2, 0] = wx0.sum(axis=1)
        normal[:, 1, 2] = normal[:, 2, 1] = wx1.sum(axis=1)
        normal[:, 2, 2] = w.sum(axis=1) + 1e-12
        rhs = np.empty((x0.shape[0], 3, 2))
        for column, y in enumerate((y0, y1)):
            rhs[:, 0, column] = (wx0 * y).sum(axis=1)
            rhs[:, 1, column] = (wx1 * y).sum(axis=1)
            rhs[:, 2, column] = (w * y).sum(axis=1)
        # Ridge towards A = I (b, the displacement, is left free).
        ridge = NEIGHBOUR_FIT_RIDGE * (normal[:, 0, 0] + normal[:, 1, 1]) + 1e-9
        normal[:, 0, 0] += ridge
        normal[:, 1, 1] += ridge
        rhs[:, 0, 0] += ridge
        rhs[:, 1, 1] += ridge
        params = np.linalg.solve(normal, rhs)
        residual = np.hypot(
            x0 * params[:, None, 0, 0] + x1 * params[:, None, 1, 0] + params[:, None, 2, 0] - y0,
            x0 * params[:, None, 0, 1] + x1 * params[:, None, 1, 1] + params[:, None, 2, 1] - y1,
        )
        robust = weight / (1.0 + (residual / NEIGHBOUR_FIT_OUTLIER_PX) ** 2)
    return centre + params[:, 2, :]


class _DenseFlow:
    """DIS optical flow between consecutive frames, computed only for frames that need it."""

    def __init__(self) -> None:
        self._dis = cv2.DISOpticalFlow_create(DENSE_FLOW_PRESET)

    def displace(self, prev: _Frame, next_: _Frame, uv: np.ndarray) -> np.ndarray:
        """``uv (M, 2)`` on ``prev`` moved by the dense flow to ``next_``; points whose forward
        and backward flows disagree by more than ``DENSE_FLOW_CONSISTENCY_PX`` (a cut, an
        occluder's edge) stay where they are."""
        if next_.flow_from_prev is None:
            next_.flow_from_prev = self._dis.calc(prev.grey, next_.grey, None)
            next_.flow_to_prev = self._dis.calc(next_.grey, prev.grey, None)
        moved = uv + _sample(next_.flow_from_prev, uv)
        round_trip = moved + _sample(next_.flow_to_prev, moved)
        consistent = np.linalg.norm(round_trip - uv, axis=1) <= DENSE_FLOW_CONSISTENCY_PX
        return np.where(consistent[:, None], moved, uv)


def _same_history(uv: np.ndarray, reference: np.ndarray, tracks: np.ndarray, near: np.ndarray) -> np.ndarray:
    """``(R, K)`` bool: neighbour ``near`` moved like track ``tracks`` from frame 0 to the track's
    reference frame (within ``HISTORY_AGREEMENT_PX`` + ``HISTORY_AGREEMENT_SLOPE`` × their
    frame-0 distance, which allows for zoom and rotation). A point hidden by a passing object
    is then predicted from the neighbours that moved with it before, not from the object's."""
    start_near = uv[0][near]
    own = (uv[reference, tracks] - uv[0, tracks])[:, None, :]
    difference = uv[reference[:, None], near] - start_near - own
    offset = start_near - uv[0, tracks][:, None, :]
    spacing = np.hypot(offset[..., 0], offset[..., 1])
    return np.hypot(difference[..., 0], difference[..., 1]) <= HISTORY_AGREEMENT_PX + HISTORY_AGREEMENT_SLOPE * spacing


def _fit_tier(
    uv: np.ndarray,
    visible: np.ndarray,
    frame: int,
    lost: np.ndarray,
    pending: np.ndarray,
    predicted: np.ndarray,
    index: np.ndarray,
    weight: np.ndarray,
    reference: np.ndarray,
) -> None:
    """One neighbour-fit tier of :func:`_predict_lost`: serve the pending tracks that have at
    least ``MIN_NEIGHBOURS`` usable neighbours (confirmed on the reference frame and now, and
    moving like the track before, see :func:`_same_history`).

    ``lost (M,)`` are the track ids; ``pending (M,)`` and ``predicted (M, 2)`` are updated in
    place for the tracks served; ``index``/``weight`` ``(N, K)`` are neighbour lists (see
    :func:`_neighbour_lists`); ``reference (M,)`` is each track's reference frame.
    """
    rows = np.flatnonzero(pending)
    if not rows.size or not index.shape[1]:
        return
    tracks = lost[rows]
    near = index[tracks]  # (R, K)
    ref = reference[rows]
    usable = visible[ref[:, None], near] & visible[frame][near] & _same_history(uv, ref, tracks, near)
    enough = usable.sum(axis=1) >= MIN_NEIGHBOURS
    if not enough.any():
        return
    rows, tracks, near, ref, usable = rows[enough], tracks[enough], near[enough], ref[enough], usable[enough]
    predicted[rows] = _fit_neighbour_motion(
        uv[ref[:, None], near].astype(np.float64),
        uv[frame][near].astype(np.float64),
        weight[tracks] * usable,
        uv[ref, tracks].astype(np.float64),
    )
    pending[rows] = False


def _dominant_motion_step(uv: np.ndarray, visible: np.ndarray, frame: int) -> Optional[np.ndarray]:
    """RANSAC homography ``(3, 3)`` of the tracks confirmed on ``frame - 1`` and ``frame``: the
    dominant (camera) motion of that step, or None when too few tracks support it."""
    common = np.flatnonzero(visible[frame - 1] & visible[frame])
    if common.size < MIN_HOMOGRAPHY_TRACKS:
        return None
    homography, inliers = cv2.findHomography(
        uv[frame - 1, common].astype(np.float64), uv[frame, common].astype(np.float64), cv2.RANSAC, HOMOGRAPHY_RANSAC_PX
    )
    if homography is None or inliers.sum() < MIN_HOMOGRAPHY_TRACKS:
        return None
    return homography


def _homography_tier(
    uv: np.ndarray,
    visible: np.ndarray,
    frame: int,
    lost: np.ndarray,
    pending: np.ndarray,
    predicted: np.ndarray,
    anchor: np.ndarray,
    wide: tuple[np.ndarray, np.ndarray],
    chain: tuple[np.ndarray, np.ndarray],
) -> None:
    """The dominant-motion tier of :func:`_predict_lost`: the homography from the track's last
    confirmed frame to now, composed from per-step RANSAC homographies (``chain``: ``(T', 3, 3)``
    matrices from the start of each frame's unbroken segment, and ``(T',)`` segment ids) — the
    camera's motion over the background, exact for a distant or flat background such as a
    featureless sky or wall. A pending track takes it when most of its wider neighbourhood's
    tracks confirmed on both frames follow it within ``HOMOGRAPHY_AGREEMENT_PX``, or when none is
    confirmed to judge by."""
    matrices_chain, segments = chain
    rows = np.flatnonzero(pending)
    tracks = lost[rows]
    source = anchor[tracks]
    same_segment = segments[source] == segments[frame]
    rows, tracks, source = rows[same_segment], tracks[same_segment], source[same_segment]
    if not rows.size:
        return
    source_to_now = matrices_chain[frame] @ np.linalg.inv(matrices_chain)  # frame a → now, every a
    matrices = source_to_now[source]  # (R, 3, 3)
    index, _ = wide
    if index.shape[1]:
        near = index[tracks]
        usable = visible[source[:, None], near] & visible[frame][near] & _same_history(uv, source, tracks, near)
        mapped = _apply_homographies(matrices, uv[source[:, None], near].astype(np.float64))
        follows = usable & (np.linalg.norm(mapped - uv[frame][near], axis=-1) <= HOMOGRAPHY_AGREEMENT_PX)
        judged = usable.sum(axis=1)
        agrees = (judged == 0) | (2 * follows.sum(axis=1) >= judged)
    else:
        agrees = np.ones(rows.size, dtype=bool)
    rows, tracks, source = rows[agrees], tracks[agrees], source[agrees]
    predicted[rows] = _apply_homographies(matrices[agrees], uv[source, tracks].astype(np.float64)[:, None, :])[:, 0]
    pending[rows] = False


def _apply_homographies(matrices: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """``matrices (R, 3, 3)`` applied to points ``xy (R, K, 2)``."""
    x, y = xy[..., 0], xy[..., 1]
    m = matrices[:, None, :, :]  # broadcast over K
    scale = m[..., 2, 0] * x + m[..., 2, 1] * y + m[..., 2, 2]
    return np.stack(
        [
            (m[..., 0, 0] * x + m[..., 0, 1] * y + m[..., 0, 2]) / scale,
            (m[..., 1, 0] * x + m[..., 1, 1] * y + m[..., 1, 2]) / scale,
        ],
        axis=-1,
    )


def _predict_lost(
    uv: np.ndarray,
    visible: np.ndarray,
    anchor: np.ndarray,
    frame: int,
    lost: np.ndarray,
    neighbours: list[tuple[np.ndarray, np.ndarray]],
    flow_step: Callable[[np.ndarray], np.ndarray],
    chain: tuple[np.ndarray, np.ndarray],
) -> np.ndarray:
    """Positions on ``frame`` of the tracks ``lost (M,)`` that the tracker did not confirm there.

    Tried in order, each for the tracks the previous ones could not serve; the first three map
    the track's last confirmed position (frame ``anchor``) straight to now, so no drift
    accumulates while it is hidden:

    1. the dominant (camera) motion, a homography of all tracks confirmed on both frames, where
       most of the track's wider neighbourhood follows it (:func:`_homography_tier`): the
       background, flat regions, and background points hidden by a passing object (whose
       nearest confirmed neighbours are often the occluder's own points);
    2. the local affine motion of its nearest frame-0 neighbours confirmed on both frames (a
       point on an independently moving object);
    3. the affine motion of its wider neighbourhood;
    4. the frame-wide support's motion from the previous frame, applied to its previous position;
    5. dense optical flow (DIS) from the previous frame, when nothing is confirmed (a cut).
    """
    predicted = np.empty((lost.size, 2))
    pending = np.ones(lost.size, dtype=bool)
    local, wide, global_ = neighbours
    from_anchor = anchor[lost]
    _homography_tier(uv, visible, frame, lost, pending, predicted, anchor, wide, chain)
    _fit_tier(uv, visible, frame, lost, pending, predicted, *local, from_anchor)
    _fit_tier(uv, visible, frame, lost, pending, predicted, *wide, from_anchor)
    _fit_tier(uv, visible, frame, lost, pending, predicted, *global_, np.full(lost.size, frame - 1))
    rows = np.flatnonzero(pending)
    if rows.size:
        predicted[rows] = flow_step(uv[frame - 1, lost[rows]])
    return predicted


def _reacquire(
    anchor_frames: list[np.ndarray],  # grey frames so far, indexed by frame
    anchor: np.ndarray,
    anchor_uv: np.ndarray,
    now: _Frame,
    predicted: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Find predicted tracks again: Lucas–Kanade from each track's last confirmed frame
    (``anchor (M,)``, position ``anchor_uv (M, 2)``) straight to now, started at its predicted
    position ``predicted (M, 2)``.

    A track is confirmed again when LK converges both ways, the round trip lands within
    ``FORWARD_BACKWARD_THRESHOLD_PX`` of its last confirmed position, the result stays within
    ``REACQUIRE_MAX_CORRECTION_PX`` of the prediction and the 7 × 7 patch still correlates
    (``MIN_PATCH_CORRELATION``) with the one it had when last seen. Matching against the last
    confirmed view (not the previous frame) also removes the prediction's error.

    Returns:
        ``uv (M, 2)`` float32 (the LK position where confirmed, else the prediction) and
        ``ok (M,)`` bool.
    """
    height, width = now.grey.shape
    result = predicted.astype(np.float32).copy()
    ok = np.zeros(anchor.size, dtype=bool)
    for source_frame in np.unique(anchor):
        rows = np.flatnonzero(anchor == source_frame)
        source_grey = anchor_frames[source_frame]
        cv_from = (anchor_uv[rows] - 0.5).astype(np.float32).reshape(-1, 1, 2)
        cv_guess = (predicted[rows] - 0.5).astype(np.float32).reshape(-1, 1, 2)
        cv_to, status, _ = cv2.calcOpticalFlowPyrLK(
            source_grey, now.grey, cv_from, cv_guess.copy(), **_REACQUIRE_LK_PARAMS
        )
        cv_back, status_back, _ = cv2.calcOpticalFlowPyrLK(
            now.grey, source_grey, cv_to, cv_from.copy(), **_REACQUIRE_LK_PARAMS
        )
        # The same small-window refinement as a tracking step: the position, and a check.
        cv_local, status_local, _ = cv2.calcOpticalFlowPyrLK(
            source_grey, now.grey, cv_from, cv_to.copy(), **_LOCAL_LK_PARAMS
        )
        local_shift = np.linalg.norm(cv_local.reshape(-1, 2) - cv_to.reshape(-1, 2), axis=1)
        round_trip = np.linalg.norm(cv_back.reshape(-1, 2) - cv_from.reshape(-1, 2), axis=1)
        found = cv_local.reshape(-1, 2) + 0.5
        correction = np.linalg.norm(found - predicted[rows], axis=1)
        with np.errstate(invalid="ignore"):  # non-finite LK output fails every comparison
            good = (
                (status.ravel() == 1)
                & (status_back.ravel() == 1)
                & (status_local.ravel() == 1)
                & (local_shift <= LOCAL_AGREEMENT_THRESHOLD_PX)
                & (round_trip <= REACQUIRE_FORWARD_BACKWARD_PX)
                & (correction <= REACQUIRE_MAX_CORRECTION_PX)
                & (found[:, 0] >= 0)
                & (found[:, 0] < width)
                & (found[:, 1] >= 0)
                & (found[:, 1] < height)
            )
        candidates = np.flatnonzero(good)
        if candidates.size:
            before = _patches(source_grey.astype(np.float32), anchor_uv[rows[candidates]])
            after = _patches(now.grey_float, found[candidates])
            correlation, textured, _ = _patch_correlation(before, after)
            good[candidates] = textured & (correlation >= REACQUIRE_MIN_CORRELATION)
        result[rows[good]] = found[good]
        ok[rows[good]] = True
    return result, ok


def _retry_predicted(
    greys: list[np.ndarray],
    anchor: np.ndarray,
    uv: np.ndarray,
    visible: np.ndarray,
    frame: int,
    lost: np.ndarray,
    now: _Frame,
) -> None:
    """Look for the predicted tracks ``lost`` again on ``frame`` (:func:`_reacquire`), updating
    ``uv`` and ``visible`` in place for those found.

    A predicted track is tried 1, 2, 4, 8, 16, ... frames after it was last seen, and every
    ``REACQUIRE_INTERVAL`` frames: each try costs one LK call per last-seen frame, so trying
    every track on every frame would double the tracking time. Predictions within
    ``REACQUIRE_EDGE_MARGIN_PX`` of the frame edge are not tried.
    """
    height, width = now.grey.shape
    predicted = uv[frame, lost]
    margin = REACQUIRE_EDGE_MARGIN_PX
    gap = frame - anchor[lost]
    retry = (
        (predicted[:, 0] >= margin)
        & (predicted[:, 0] < width - margin)
        & (predicted[:, 1] >= margin)
        & (predicted[:, 1] < height - margin)
        & (((gap & (gap - 1)) == 0) | (gap % REACQUIRE_INTERVAL == 0))
    )
    tracks = lost[retry]
    if tracks.size:
        found, ok = _reacquire(greys, anchor[tracks], uv[anchor[tracks], tracks], now, predicted[retry])
        uv[frame, tracks[ok]] = found[ok]
        visible[frame, tracks[ok]] = True


def track_points_lk(
    frames: np.ndarray,
    query_uv: np.ndarray,
    *,
    coarse_to_fine: Optional[bool] = None,
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelFn] = None,
) -> PointTracks:
    """Track given frame-0 points through a video: every point gets a position in every frame.

    Each frame, (1) tracks seen on the previous frame are followed by Lucas–Kanade with its
    checks (``_lk_step``); (2) every other track is predicted from its neighbours' motion or
    dense flow (``_predict_lost``); (3) predicted tracks are looked for again by LK from their
    last confirmed view (``_reacquire``). ``visible`` is True where a position was confirmed
    by LK (1 or 3) and False where it was predicted (2).

    Args:
        frames: ``(T, H, W, 3)`` uint8 RGB.
        query_uv: ``(N, 2)`` positions on frame 0.
        coarse_to_fine: run LK on half-size copies and refine at full size (about twice as
            fast, the same median accuracy; see ``_lk_step``); ``None`` decides by frame size
            (``COARSE_MIN_SIDE_PX``), ``False`` forces full-size LK.
        progress, cancel: see :mod:`core.progress`; cancel is checked between frames.

    Returns:
        :class:`PointTracks` with finite ``uv (T, N, 2)`` and ``visible (T, N)``.
    """
    num_frames = frames.shape[0]
    num_points = query_uv.shape[0]
    uv = np.empty((num_frames, num_points, 2), dtype=np.float32)
    visible = np.zeros((num_frames, num_points), dtype=bool)
    uv[0] = query_uv
    visible[0] = True
    anchor = np.zeros(num_points, dtype=np.intp)  # last frame each track was confirmed on
    if coarse_to_fine is None:
        coarse_to_fine = min(frames.shape[1:3]) >= COARSE_MIN_SIDE_PX
    neighbours = [_neighbour_lists(query_uv, count) for count in (LOCAL_NEIGHBOURS, WIDE_NEIGHBOURS)]
    neighbours.append(_global_support(query_uv, *frames.shape[1:3]))
    dense_flow = _DenseFlow()
    # Dominant motion composed frame by frame: chain[t] maps the first frame of t's segment to t.
    chain, chain_segment = [np.eye(3)], [0]
    prev = _Frame.of(frames[0], coarse_to_fine)
    greys = [prev.grey]
    for frame in range(1, num_frames):
        check_cancel(cancel, "point tracking")
        report(progress, (frame - 1) / max(num_frames - 1, 1), f"tracking points {frame}/{num_frames - 1}")
        next_ = _Frame.of(frames[frame], coarse_to_fine)
        greys.append(next_.grey)
        uv[frame] = uv[frame - 1]  # placeholder for the neighbour fits, which ignore lost tracks
        alive = np.flatnonzero(visible[frame - 1])
        if alive.size:
            moved, ok = _lk_step(prev, next_, uv[frame - 1, alive])
            uv[frame, alive[ok]] = moved[ok]
            visible[frame, alive[ok]] = True
        step = _dominant_motion_step(uv, visible, frame)
        if step is None:  # the chain breaks (a cut, a blank frame): start a new one here
            chain.append(np.eye(3))
            chain_segment.append(chain_segment[-1] + 1)
        else:
            chain.append(step @ chain[-1])
            chain_segment.append(chain_segment[-1])
        lost = np.flatnonzero(~visible[frame])
        if lost.size:
            flow_step = functools.partial(dense_flow.displace, prev, next_)
            chain_so_far = (np.stack(chain), np.asarray(chain_segment))
            predicted = _predict_lost(uv, visible, anchor, frame, lost, neighbours, flow_step, chain_so_far)
            # Guarantee finite positions (a degenerate homography could divide by ~0).
            unusable = ~np.isfinite(predicted).all(axis=1)
            predicted[unusable] = uv[frame - 1, lost[unusable]]
            uv[frame, lost] = predicted
            _retry_predicted(greys, anchor, uv, visible, frame, lost, next_)
        anchor[visible[frame]] = frame
        prev = next_
    report(progress, 1.0, "tracking done")
    return PointTracks(uv=uv, visible=visible, method=LK_METHOD)
