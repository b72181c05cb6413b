"""Video depth made consistent over time (used by :func:`trackers.depth.estimate_video_depth`,
which runs a depth method per frame first).

:func:`align_video_depth` aligns every frame to frame 0 — a scale and shift in inverse depth
(relative sources) or a scale (metric sources), fitted robustly on tracked points when tracks
are given, else on whole-frame statistics — so a depth model's per-frame scale jitter does not
become camera shake.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import numpy as np

from core import geometry
from trackers.depth_result import DepthError

if TYPE_CHECKING:  # imported lazily at run time: tracking needs no torch.
    from trackers.points import PointTracks

ALIGN_MODES = ("auto", "scale_shift", "scale", "none")
MIN_ALIGNMENT_POINTS = 16
"""Fewer tracked pairs than this and the per-frame fit falls back to whole-frame statistics."""
THEIL_SEN_PAIRS = 4096
"""Random point pairs whose median slope starts the robust fit."""
OUTLIER_SIGMAS = 3.0
"""Residuals beyond this many robust standard deviations are outliers in the refit."""
ROBUST_FIT_ITERATIONS = 5
MAD_TO_SIGMA = 1.4826
INVERSE_DEPTH_FLOOR_FRACTION = 0.1
"""After alignment, inverse depth is kept above this fraction of the reference frame's 1st
percentile (so an extrapolated shift can never push a pixel behind infinity)."""



def robust_affine_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Fit ``y ≈ s · x + b`` robustly (outliers such as independently moving objects ignored).

    A Theil–Sen start (median slope over random sample pairs — immune to high-leverage
    outliers), then least squares on the inliers within ``OUTLIER_SIGMAS`` robust standard
    deviations, repeated ``ROBUST_FIT_ITERATIONS`` times.

    Args:
        x, y: ``(M,)`` paired samples.

    Returns:
        ``(s, b)``; a median ratio with ``b = 0`` when the data cannot support a line or the
        slope comes out non-positive.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.size < 2 or np.ptp(x) <= 1e-12 * max(float(np.abs(x).max()), 1e-12):
        return _median_ratio(x, y), 0.0
    rng = np.random.default_rng(0)  # deterministic: the same video aligns the same way
    first = rng.integers(0, x.size, THEIL_SEN_PAIRS)
    second = rng.integers(0, x.size, THEIL_SEN_PAIRS)
    dx = x[second] - x[first]
    usable = np.abs(dx) > 1e-12
    if not usable.any():
        return _median_ratio(x, y), 0.0
    scale = float(np.median((y[second] - y[first])[usable] / dx[usable]))
    shift = float(np.median(y - scale * x))
    for _ in range(ROBUST_FIT_ITERATIONS):
        residual = np.abs(y - (scale * x + shift))
        sigma = MAD_TO_SIGMA * float(np.median(residual))
        inliers = residual <= OUTLIER_SIGMAS * sigma + 1e-12 * max(float(np.abs(y).max()), 1.0)
        if inliers.sum() < 2 or np.ptp(x[inliers]) <= 0:
            break
        design = np.stack([x[inliers], np.ones(int(inliers.sum()))], axis=-1)
        (scale, shift), *_ = np.linalg.lstsq(design, y[inliers], rcond=None)
        scale, shift = float(scale), float(shift)
    if not (np.isfinite(scale) and np.isfinite(shift)) or scale <= 0:
        return _median_ratio(x, y), 0.0
    return scale, shift


def _median_ratio(x: np.ndarray, y: np.ndarray) -> float:
    ratio = y / np.maximum(x, 1e-12)
    ratio = ratio[np.isfinite(ratio) & (ratio > 0)]
    return float(np.median(ratio)) if ratio.size else 1.0


def _whole_frame_fit(x_values: np.ndarray, y_values: np.ndarray, mode: str) -> tuple[float, float]:
    """Unpaired fit: match the median (scale) or the median and interquartile range (scale + shift)."""
    x_q1, x_median, x_q3 = np.percentile(x_values, [25, 50, 75])
    y_q1, y_median, y_q3 = np.percentile(y_values, [25, 50, 75])
    if mode == "scale" or x_q3 - x_q1 <= 1e-12:
        return float(y_median / max(x_median, 1e-12)), 0.0
    scale = float((y_q3 - y_q1) / (x_q3 - x_q1))
    return scale, float(y_median - scale * x_median)


def align_video_depth(
    depth: np.ndarray,
    valid: Optional[np.ndarray] = None,
    *,
    tracks: Optional["PointTracks"] = None,
    mode: str = "scale_shift",
) -> np.ndarray:
    """Align every frame's depth to frame 0 so the scene keeps one scale over time.

    Works on inverse depth ``w = 1/z``: frame ``t`` becomes ``s_t · w_t + b_t`` (``mode=
    "scale_shift"``, right for relative predictions) or ``s_t · w_t`` (``"scale"``, right for
    metric ones); ``"none"`` returns the input. With ``tracks``, ``(s_t, b_t)`` is a robust
    fit (:func:`robust_affine_fit`) on the points visible in frames ``t`` and 0 (their inverse
    depths at their own positions), falling back to the previous, already aligned frame when fewer than
    ``MIN_ALIGNMENT_POINTS`` points survive from frame 0, and to whole-frame statistics
    (median, and the interquartile range for the shift) when tracks are missing or too few.

    Args:
        depth: ``(T, H, W)`` positive depth.
        valid: ``(T, H, W)`` bool or ``None`` (all valid).
        tracks: :class:`trackers.points.PointTracks` with ``uv (T, N, 2)`` on these frames.

    Returns:
        ``(T, H, W)`` float32 aligned depth (frame 0 unchanged).
    """
    if mode not in ALIGN_MODES:
        raise ValueError(f"align mode must be one of {ALIGN_MODES}, got {mode!r}")
    depth = np.asarray(depth, dtype=np.float32)
    if mode == "none" or depth.shape[0] < 2:
        return depth
    valid = np.ones(depth.shape, dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
    if tracks is not None and tracks.uv.shape[0] != depth.shape[0]:
        raise DepthError(f"tracks cover {tracks.uv.shape[0]} frames but the depth has {depth.shape[0]}")
    # Frame by frame in float64: whole-video (T, H, W) float64 stacks (135 MB each at
    # 49×480×720) cost more in allocation and memory traffic than the fits themselves. Only
    # frame 0 (the reference) and the previous aligned frame (the fallback) are kept.
    inverse_first = 1.0 / depth[0].astype(np.float64)
    reference_values = inverse_first[valid[0]] if valid[0].any() else inverse_first.ravel()
    floor = INVERSE_DEPTH_FLOOR_FRACTION * float(np.percentile(reference_values, 1))
    result = np.empty(depth.shape, dtype=np.float32)
    result[0] = 1.0 / inverse_first
    aligned_previous = inverse_first
    for frame in range(1, depth.shape[0]):
        inverse = 1.0 / depth[frame].astype(np.float64)
        fit = None
        if tracks is not None:
            for reference, inverse_reference in ((0, inverse_first), (frame - 1, aligned_previous)):
                x, y = _pairs_between(
                    tracks, inverse, inverse_reference, valid[frame], valid[reference], frame, reference
                )
                if x.size >= MIN_ALIGNMENT_POINTS:
                    fit = robust_affine_fit(x, y) if mode == "scale_shift" else (_median_ratio(x, y), 0.0)
                    break
        if fit is None:
            x_values = inverse[valid[frame]] if valid[frame].any() else inverse.ravel()
            fit = _whole_frame_fit(x_values, reference_values, mode)
        scale, shift = fit
        inverse *= scale
        inverse += shift
        aligned_previous = np.maximum(inverse, floor, out=inverse)
        result[frame] = 1.0 / aligned_previous
    return result


def _pairs_between(
    tracks: "PointTracks",
    inverse_frame: np.ndarray,
    inverse_reference: np.ndarray,
    valid_frame: np.ndarray,
    valid_reference: np.ndarray,
    frame: int,
    reference: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Inverse depth of the points visible in both frames: at their positions in ``frame`` (x)
    and in ``reference`` (y)."""
    height, width = inverse_frame.shape
    uv_frame, uv_reference = tracks.uv[frame], tracks.uv[reference]
    both = tracks.visible[frame] & tracks.visible[reference]
    both &= geometry.uv_in_frame(uv_frame, height, width) & geometry.uv_in_frame(uv_reference, height, width)
    uv_frame, uv_reference = uv_frame[both], uv_reference[both]
    keep = geometry.sample_nearest(valid_frame, uv_frame) & geometry.sample_nearest(valid_reference, uv_reference)
    return geometry.sample_nearest(inverse_frame, uv_frame[keep]), geometry.sample_nearest(inverse_reference, uv_reference[keep])
