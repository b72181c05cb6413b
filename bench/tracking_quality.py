"""Quality benchmark with ground truth: point tracks, depth and moved objects (figures in docs/QUALITY.md).

Usage (from the repository root)::

    python bench/tracking_quality.py                 # every scene, every available method
    python bench/tracking_quality.py --scenes astronaut rocket --json quality.json

Point tracks. For each available point tracker (``trackers.points.available_point_trackers``:
the built-in one always, CoTracker when its weights are present) and each photo scene of
``bench/homography_scene.py`` (a window over a photo that pans, zooms, turns and tilts; 49
frames of 480 × 720 through H.264), DaS's 70 × 70 grid is tracked from frame 0 and compared
with the exact truth. Per frame:

- **coverage** — of the grid tracks whose content is still in view, the fraction drawn (a
  finite position inside the frame): what the tracking video shows (SPEC §5);
- **error** — median and 95th percentile of the distance (px) to the truth over those tracks,
  seen or predicted alike;
- **seen** — the fraction the tracker confirmed (``visible``) rather than predicted.

Depth. For each available depth method (``trackers.depth.available_depth_methods``), the
left image of scikit-image's ``stereo_motorcycle`` (Middlebury 2014) against its ground-truth
disparity (depth ∝ 1 / disparity, so the truth is known up to scale): AbsRel and δ < 1.25
after median scaling (scale-invariant), and after a least-squares scale and shift of inverse
depth (the ambiguity of relative-depth models).

Synthetic 3D scene (:func:`synthetic_scene_quality`, ``bench/synthetic_scene.py``): a
textured room ray-cast along a known camera path (dolly, turn, roll), with a box that moves on
its own and a pole near the camera that hides the background as the camera moves; exact depth
and exact tracks. Per tracker: coverage and error per frame over the in-view tracks (inside
the frame, hidden or not), and at the last frame split into static background, the moving box
and tracks occluded at some frame. Per depth method: AbsRel and δ < 1.25 per frame after one
median scale for the clip, and the spread over frames of the per-frame scale (temporal
consistency). And the motion-transfer recipe end to end: the share of in-view grid tracks its
tracking video draws.

Moved objects (:func:`object_rigidity_quality`): real photos with a mask over an object,
moved by ``core.tasks.object_manipulation`` for every motion and available depth method; how
rigidly the object's pixels move, with the recipe's rigid-object depth and without it.

    python bench/tracking_quality.py --quick         # small sizes, every section, a smoke run
    python bench/tracking_quality.py --sections synthetic rigidity
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from bench import homography_scene, synthetic_scene  # noqa: E402
from core import geometry, media  # noqa: E402
from core.quality import object_rigidity  # noqa: E402
from trackers import depth as depth_methods  # noqa: E402
from trackers import points  # noqa: E402

GRID_SIZE = 70
REPORTED_FRAMES = (12, 24, 36, 48)
DELTA_THRESHOLD = 1.25
"""δ accuracy: the fraction of pixels whose depth ratio to the truth is below this."""
SECTIONS = ("photos", "depth", "synthetic", "rigidity")
ASSETS = Path(__file__).resolve().parents[1] / "assets"

SYNTHETIC_FRAMES = 49
SYNTHETIC_HEIGHT = 240
SYNTHETIC_WIDTH = 360
"""The synthetic scene is ray-cast on the CPU (about 6 s a frame at 480 × 720 on the build
machine): half the working size keeps the full run to minutes."""

RIGIDITY_FRAMES = 13
RIGIDITY_HEIGHT = 240
RIGIDITY_WIDTH = 360
"""Rigidity compares frame 0 with the last frame of a linear move, so few frames suffice."""
RIGIDITY_AMOUNTS = {"left": 0.2, "right": 0.2, "up": 0.2, "down": 0.2, "front": 0.4, "back": 0.4, "rot": 20.0}
"""A fifth of the frame width sideways, 40 % of the object's depth front/back, 20° turns."""
DEPTH_MOTIONS = ("front", "back")
TURN_MOTION = "rot"
SCALE_PAIRS = 2000
MIN_PAIR_PX = 5.0
"""Pairs of points closer than this are left out of the scale spread (rounding dominates)."""
CAT_HEAD = ((0.3125, 0.4167), (0.229, 0.189))
ASTRONAUT_FACE = ((0.27, 0.514), (0.1875, 0.083))
"""Ellipses (centre, radii as fractions of height, width) over Chelsea's head and the astronaut's face."""


# --------------------------------------------------------------------------------------------
# Point tracks on photos with known motion
# --------------------------------------------------------------------------------------------


def track_quality(tracks: points.PointTracks, scene: homography_scene.HomographyScene) -> dict[str, list[float]]:
    """Per-frame coverage, error (median, p95, px) and seen fraction over the in-view tracks."""
    height, width = scene.size
    query = tracks.uv[0]
    figures: dict[str, list[float]] = {"coverage": [], "median_px": [], "p95_px": [], "seen": []}
    for frame in range(tracks.num_frames):
        in_view = scene.in_view(query, frame)
        uv = tracks.uv[frame]
        drawn = (
            np.isfinite(uv).all(axis=1)
            & (uv[:, 0] >= 0)
            & (uv[:, 0] < width)
            & (uv[:, 1] >= 0)
            & (uv[:, 1] < height)
        )
        error = np.linalg.norm(uv - scene.true_positions(query, frame), axis=1)[in_view]
        figures["coverage"].append(float((drawn & in_view).sum() / max(in_view.sum(), 1)))
        figures["median_px"].append(float(np.median(error)))
        figures["p95_px"].append(float(np.percentile(error, 95)))
        figures["seen"].append(float(tracks.visible[frame][in_view].mean()))
    return figures


def tracking_benchmark(scene_names: list[str], **scene_size: int) -> dict[str, dict[str, dict]]:
    """``{tracker: {scene: {"seconds", "per_frame": track_quality(...)}}}``; ``scene_size``:
    ``num_frames``, ``height``, ``width`` of :func:`homography_scene.make_scene` (default 49 × 480 × 720)."""
    results: dict[str, dict[str, dict]] = {}
    scenes = {name: homography_scene.make_scene(name, **scene_size) for name in scene_names}
    for method in points.available_point_trackers():
        results[method] = {}
        for name, scene in scenes.items():
            start = time.perf_counter()
            tracks = points.track_points(scene.frames, GRID_SIZE, method=method)
            seconds = time.perf_counter() - start
            results[method][name] = {"seconds": seconds, "per_frame": track_quality(tracks, scene)}
    return results


# --------------------------------------------------------------------------------------------
# Depth against Middlebury disparity
# --------------------------------------------------------------------------------------------


def depth_errors(predicted_depth: np.ndarray, true_disparity: np.ndarray) -> dict[str, float]:
    """Scale-invariant depth errors of a prediction against a disparity map (invalid: ≤ 0 or inf).

    Returns:
        ``absrel_median`` / ``delta_median``: AbsRel and δ < 1.25 after scaling the prediction
        by the ratio of medians; ``absrel_affine`` / ``delta_affine``: the same after a
        least-squares scale and shift of inverse depth against the true disparity (the
        ambiguity of relative-depth models); the truth's scale is arbitrary (depth = 1 / d).
    """
    valid = np.isfinite(true_disparity) & (true_disparity > 0) & np.isfinite(predicted_depth) & (predicted_depth > 0)
    truth = 1.0 / true_disparity[valid].astype(np.float64)
    depth = predicted_depth[valid].astype(np.float64)

    def errors(estimate: np.ndarray) -> tuple[float, float]:
        ratio = np.maximum(estimate / truth, truth / estimate)
        return float(np.mean(np.abs(estimate - truth) / truth)), float(np.mean(ratio < DELTA_THRESHOLD))

    absrel_median, delta_median = errors(depth * np.median(truth) / np.median(depth))
    inverse = 1.0 / depth
    design = np.stack([inverse, np.ones_like(inverse)], axis=1)
    (scale, shift), *_ = np.linalg.lstsq(design, 1.0 / truth, rcond=None)
    aligned_inverse = np.maximum(scale * inverse + shift, 1e-6 * np.max(1.0 / truth))
    absrel_affine, delta_affine = errors(1.0 / aligned_inverse)
    return {
        "absrel_median": absrel_median,
        "delta_median": delta_median,
        "absrel_affine": absrel_affine,
        "delta_affine": delta_affine,
        "valid_fraction": float(valid.mean()),
    }


def depth_benchmark() -> dict[str, dict[str, float]]:
    """``{method: depth_errors(...) + seconds}`` on ``stereo_motorcycle``'s left image."""
    from skimage import data

    left, _, disparity = data.stereo_motorcycle()
    results = {}
    for method in depth_methods.available_depth_methods():
        start = time.perf_counter()
        estimate = depth_methods.estimate_depth(left, method)
        results[method] = dict(depth_errors(estimate.depth, disparity), seconds=time.perf_counter() - start)
    return results


# --------------------------------------------------------------------------------------------
# A synthetic 3D scene: parallax, an occluder and a moving object, with exact depth
# --------------------------------------------------------------------------------------------


def _encoded(frames: np.ndarray) -> np.ndarray:
    """The frames through H.264 and back, as a user's video would reach the tracker."""
    with tempfile.TemporaryDirectory() as folder:
        path = media.write_video(frames, Path(folder) / "synthetic.mp4", homography_scene.VIDEO_FPS)
        decoded, _ = media.read_video_frames(path)
    return decoded


def _inside(uv: np.ndarray, height: int, width: int) -> np.ndarray:
    """``(..., N)`` bool: finite positions inside the frame (what the tracking video draws)."""
    finite = np.isfinite(uv).all(axis=-1)
    uv = np.nan_to_num(uv, nan=-1.0)
    return finite & (uv[..., 0] >= 0) & (uv[..., 0] < width) & (uv[..., 1] >= 0) & (uv[..., 1] < height)


def synthetic_track_quality(
    uv: np.ndarray, video: synthetic_scene.SyntheticVideo
) -> dict[str, object]:
    """Coverage and error of tracks ``uv (T, N, 2)`` (frame 0 = the queries) on the synthetic scene.

    A track is *in view* in a frame when its true position is inside the frame and in front of
    the camera, hidden behind the pole or not: DaS draws every track there (SPEC §5). Returns
    per-frame ``coverage`` (drawn share of the in-view tracks) and ``median_px`` / ``p95_px``
    over them, plus last-frame median / p95 split into ``static`` (the static scene, never
    hidden), ``pole`` (on the thin occluder near the camera, whose parallax against the
    background is large), ``moving`` (on the moving box) and ``occluded`` (hidden behind
    something while in view at some frame).
    """
    height, width = video.depth.shape[1:]
    truth, unhidden, moving = video.true_tracks(uv[0])
    # Frame 0's camera is the world frame (``cam_to_world[0]`` = identity in the default path).
    world0 = geometry.transform_points(video.cam_to_world[0], geometry.unproject_uvz(truth[0].astype(np.float64), video.K))
    pole = synthetic_scene.on_pole(world0)
    in_view = _inside(truth[..., :2], height, width) & (truth[..., 2] > 0)
    drawn = _inside(uv, height, width)
    error = np.linalg.norm(np.nan_to_num(uv, nan=1e6) - truth[..., :2], axis=-1)
    occluded = (in_view & ~unhidden).any(axis=0)
    figures: dict[str, object] = {"coverage": [], "median_px": [], "p95_px": []}
    for frame in range(uv.shape[0]):
        shown = in_view[frame]
        figures["coverage"].append(float((drawn[frame] & shown).sum() / max(shown.sum(), 1)))
        figures["median_px"].append(float(np.median(error[frame, shown])) if shown.any() else math.nan)
        figures["p95_px"].append(float(np.percentile(error[frame, shown], 95)) if shown.any() else math.nan)
    last = in_view[-1]
    groups = (("static", ~moving & ~occluded & ~pole), ("pole", pole), ("moving", moving), ("occluded", occluded & ~pole))
    for group, members in groups:
        chosen = last & members
        figures[group] = {
            "tracks": int(chosen.sum()),
            "median_px": float(np.median(error[-1, chosen])) if chosen.any() else math.nan,
            "p95_px": float(np.percentile(error[-1, chosen], 95)) if chosen.any() else math.nan,
        }
    return figures


def video_depth_errors(predicted: np.ndarray, truth: np.ndarray) -> dict[str, object]:
    """Per-frame depth errors of a video after one median scale for the whole clip.

    Args:
        predicted, truth: ``(T, H, W)`` depth; truth is inf where nothing was hit (ignored).

    Returns:
        ``absrel`` and ``delta`` per frame (δ < 1.25), their means, and ``scale_std``: the
        standard deviation over frames of log(per-frame median scale / clip scale), which is 0
        for depth that keeps one scale through the clip (temporal consistency).
    """
    valid = np.isfinite(truth) & (truth > 0) & np.isfinite(predicted) & (predicted > 0)
    clip_scale = np.median(truth[valid]) / np.median(predicted[valid])
    absrel, delta, log_scales = [], [], []
    for frame in range(truth.shape[0]):
        chosen = valid[frame]
        true_depth = truth[frame][chosen].astype(np.float64)
        estimate = predicted[frame][chosen].astype(np.float64) * clip_scale
        ratio = np.maximum(estimate / true_depth, true_depth / estimate)
        absrel.append(float(np.mean(np.abs(estimate - true_depth) / true_depth)))
        delta.append(float(np.mean(ratio < DELTA_THRESHOLD)))
        log_scales.append(float(np.log(np.median(true_depth / estimate))))
    return {
        "absrel": absrel,
        "delta": delta,
        "absrel_mean": float(np.mean(absrel)),
        "delta_mean": float(np.mean(delta)),
        "scale_std": float(np.std(log_scales)),
    }


def synthetic_scene_quality(
    num_frames: int = SYNTHETIC_FRAMES,
    height: int = SYNTHETIC_HEIGHT,
    width: int = SYNTHETIC_WIDTH,
    *,
    grid_size: int = GRID_SIZE,
    supersample: int = synthetic_scene.DEFAULT_SUPERSAMPLE,
) -> dict:
    """Tracks, depth and the motion-transfer recipe on the synthetic 3D scene through H.264.

    The camera dollies, turns and rolls (``synthetic_scene.default_camera_path``), a box slides
    and turns on its own, and a pole near the camera hides the background as the camera moves.

    Returns:
        ``{"size", "trackers": {name: synthetic_track_quality + seconds},
        "depth": {method: video_depth_errors + seconds},
        "motion_transfer": {"tracker", "depth", "coverage", "coverage_min", "seconds"}}``.
    """
    from core.options import TrackingOptions, WorkingSize
    from core.tasks import motion_transfer

    video = synthetic_scene.render_synthetic_video(num_frames, height, width, supersample=supersample)
    frames = _encoded(video.frames)
    results: dict = {"size": [num_frames, height, width], "grid_size": grid_size, "trackers": {}, "depth": {}}
    first_tracks = None
    for method in points.available_point_trackers():
        start = time.perf_counter()
        tracks = points.track_points(frames, grid_size, method=method)
        seconds = time.perf_counter() - start
        if first_tracks is None:
            first_tracks = tracks
        results["trackers"][method] = dict(synthetic_track_quality(tracks.uv, video), seconds=seconds)
    for method in depth_methods.available_depth_methods():
        start = time.perf_counter()
        depth, _, _ = depth_methods.estimate_video_depth(frames, method, tracks=first_tracks)
        seconds = time.perf_counter() - start
        results["depth"][method] = dict(video_depth_errors(depth, video.depth), seconds=seconds)

    start = time.perf_counter()
    result = motion_transfer(
        frames, size=WorkingSize(num_frames, height, width), tracking=TrackingOptions(grid_size=grid_size)
    )
    seconds = time.perf_counter() - start
    truth, _, _ = video.true_tracks(result.uvz[0, :, :2])
    in_view = _inside(truth[..., :2], height, width) & (truth[..., 2] > 0)
    drawn = result.visible & _inside(result.uvz[..., :2], height, width)
    coverage = (drawn & in_view).sum(axis=1) / np.maximum(in_view.sum(axis=1), 1)
    results["motion_transfer"] = {
        "tracker": result.tracker,
        "depth": result.depth_source,
        "coverage": coverage.tolist(),
        "coverage_min": float(coverage.min()),
        "seconds": seconds,
    }
    return results


# --------------------------------------------------------------------------------------------
# Moved objects stay rigid, through the object-manipulation recipe
# --------------------------------------------------------------------------------------------


def _ellipse_mask(height: int, width: int, centre: tuple[float, float], radii: tuple[float, float]) -> np.ndarray:
    """An elliptic mask; centre and radii as fractions of (height, width)."""
    from skimage.draw import ellipse

    mask = np.zeros((height, width), dtype=bool)
    rows, cols = ellipse(centre[0] * height, centre[1] * width, radii[0] * height, radii[1] * width, shape=(height, width))
    mask[rows, cols] = True
    return mask


def rigidity_objects(height: int, width: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Real photos at the working size with a mask over their main object: Chelsea's head and the
    astronaut's face (ellipses) and the ball of ``assets/ball_scene.jpg`` (``assets/ball_mask.png``)."""
    from PIL import Image
    from skimage import data

    from core.object_motion import mask_to_bool

    ball_mask = np.asarray(Image.open(ASSETS / "ball_mask.png").convert("RGB"))
    return {
        "cat head": (media.load_image(data.chelsea(), height, width), _ellipse_mask(height, width, *CAT_HEAD)),
        "astronaut face": (media.load_image(data.astronaut(), height, width), _ellipse_mask(height, width, *ASTRONAUT_FACE)),
        "ball": (
            media.load_image(ASSETS / "ball_scene.jpg", height, width),
            mask_to_bool(media.load_image(ball_mask, height, width)),
        ),
    }


def scale_spread(uv0: np.ndarray, uv_t: np.ndarray, pairs: int = SCALE_PAIRS) -> float:
    """Spread of the ratio of pairwise distances after / before a move: (p95 − p5) / median over
    random pairs at least :data:`MIN_PAIR_PX` apart; 0 when the object scales uniformly."""
    rng = np.random.default_rng(0)
    first, second = rng.integers(0, len(uv0), (2, pairs))
    before = np.linalg.norm(uv0[first, :2] - uv0[second, :2], axis=-1)
    after = np.linalg.norm(uv_t[first, :2] - uv_t[second, :2], axis=-1)
    far = before > MIN_PAIR_PX
    ratio = after[far] / before[far]
    low, high = np.percentile(ratio, [5, 95])
    return float((high - low) / np.median(ratio))


def _rigidity_figure(uvz: np.ndarray, selected: np.ndarray, motion: str) -> float:
    """Rigidity of the selected points between frame 0 and the last frame: ``object_rigidity``
    for sideways and up/down, the scale-factor spread for front/back; a turn is not a shift (a
    flat object turned about its centre hardly moves its centre), so for ``rot`` this is only
    the median distance its points move, in pixels."""
    uv0, uv_t = uvz[0, selected, :2], uvz[-1, selected, :2]
    if motion in DEPTH_MOTIONS:
        return scale_spread(uv0, uv_t)
    if motion == TURN_MOTION:
        return float(np.median(np.linalg.norm(uv_t - uv0, axis=-1)))
    return object_rigidity(uv0, uv_t)


def object_rigidity_quality(
    height: int = RIGIDITY_HEIGHT, width: int = RIGIDITY_WIDTH, num_frames: int = RIGIDITY_FRAMES
) -> dict:
    """Rigidity of a moved object on real photos, through ``core.tasks.object_manipulation``.

    For each photo, available depth method and motion (amounts :data:`RIGIDITY_AMOUNTS`), the
    recipe's last-frame positions of the masked points against frame 0 give ``rigid`` (with the
    recipe's rigid-object depth, ``trackers.object_depth``); ``raw`` is the same move of the
    unflattened depth (``core.tasks.common.lift_still`` → ``object_motion_transforms``), i.e. the
    recipe without its rigid-object step. Sideways and up/down: ``object_rigidity`` (median
    deviation of the per-point displacement / median displacement); front/back: the spread of
    per-pair distance scale factors (:func:`scale_spread`); ``rot``: the median distance the
    points move (px), noted only (a turn has no single displacement to deviate from).

    Returns:
        ``{object: {depth method: {motion: {"rigid", "raw"}}}}`` plus ``"size"``.
    """
    from core.object_motion import object_motion_transforms, select_points
    from core.options import ObjectMove, TrackingOptions, WorkingSize
    from core.tasks import object_manipulation
    from core.tasks.common import lift_still, transform_and_project_object

    size = WorkingSize(num_frames, height, width)
    results: dict = {"size": [num_frames, height, width]}
    still_camera = np.broadcast_to(np.eye(4), (num_frames, 4, 4))
    for name, (image, mask) in rigidity_objects(height, width).items():
        results[name] = {}
        for method in depth_methods.available_depth_methods():
            tracking = TrackingOptions(depth_method=method)
            raw_scene = lift_still(image, tracking)
            raw_selected = select_points(mask, raw_scene.uv0, height, width)
            results[name][method] = {}
            for motion, amount in RIGIDITY_AMOUNTS.items():
                result = object_manipulation(image, ObjectMove(mask, motion, amount), size=size, tracking=tracking)
                selected = select_points(mask, result.uvz[0], height, width)
                transforms = object_motion_transforms(
                    raw_scene.points0, raw_selected, motion, amount, num_frames, raw_scene.K, width=width
                )
                raw = transform_and_project_object(raw_scene.points, raw_selected, still_camera, transforms, raw_scene.K)
                results[name][method][motion] = {
                    "rigid": _rigidity_figure(result.uvz, selected, motion),
                    "raw": _rigidity_figure(raw, raw_selected, motion),
                }
    return results


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def _machine() -> str:
    return f"{platform.machine()}, {len(os.sched_getaffinity(0))} CPUs visible, Python {platform.python_version()}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _pct(fraction: float) -> str:
    return f"{100 * fraction:.1f} %"


def _px(median: float, p95: float) -> str:
    return f"{median:.2f} / {p95:.2f} px"


def tracking_table(tracking: dict) -> str:
    """Markdown table of :func:`tracking_benchmark`: one row per tracker and photo scene."""
    rows = []
    for method, scenes in tracking.items():
        for name, figures in scenes.items():
            per_frame = figures["per_frame"]
            last = len(per_frame["coverage"]) - 1
            early = min(REPORTED_FRAMES[0], last)
            rows.append([
                method,
                name,
                f"{figures['seconds']:.1f} s",
                _pct(min(per_frame["coverage"])),
                _px(per_frame["median_px"][early], per_frame["p95_px"][early]),
                _px(per_frame["median_px"][last], per_frame["p95_px"][last]),
                _pct(per_frame["seen"][last]),
            ])
    header = [
        "tracker", "scene", "time", "coverage, worst frame",
        f"frame {REPORTED_FRAMES[0]}: median / p95", "last frame: median / p95", "seen at last",
    ]
    return _table(header, rows)


def depth_table(depth: dict) -> str:
    """Markdown table of :func:`depth_benchmark`."""
    rows = [
        [
            method,
            f"{f['absrel_median']:.3f} / {_pct(f['delta_median'])}",
            f"{f['absrel_affine']:.3f} / {_pct(f['delta_affine'])}",
            f"{f['seconds']:.1f} s",
        ]
        for method, f in depth.items()
    ]
    header = ["method", "AbsRel / δ<1.25, median scaling", "AbsRel / δ<1.25, scale + shift of inverse depth", "time"]
    return _table(header, rows)


def synthetic_tables(synthetic: dict) -> str:
    """Markdown tables of :func:`synthetic_scene_quality` (tracks, depth) and the recipe's coverage."""
    frames = synthetic["size"][0]
    groups = ("static", "pole", "moving", "occluded")
    rows = []
    for method, f in synthetic["trackers"].items():
        rows.append([
            method,
            f"{f['seconds']:.1f} s",
            _pct(min(f["coverage"])),
            _px(f["median_px"][-1], f["p95_px"][-1]),
            *(f"{_px(f[group]['median_px'], f[group]['p95_px'])} ({f[group]['tracks']})" for group in groups),
        ])
    header = [
        "tracker", "time", "coverage, worst frame", f"frame {frames - 1}: median / p95",
        "static (tracks)", "pole (tracks)", "moving box (tracks)", "occluded at some frame (tracks)",
    ]
    tracks = _table(header, rows)
    depth_rows = [
        [
            method,
            f"{f['absrel_mean']:.3f}",
            f"{f['absrel'][0]:.3f} / {f['absrel'][-1]:.3f}",
            _pct(f["delta_mean"]),
            f"{f['scale_std']:.3f}",
            f"{f['seconds']:.1f} s",
        ]
        for method, f in synthetic["depth"].items()
    ]
    depth_header = [
        "depth method", "AbsRel, mean", "AbsRel, first / last frame", "δ<1.25, mean", "std of log scale over frames", "time",
    ]
    depth = _table(depth_header, depth_rows)
    recipe = synthetic["motion_transfer"]
    return (
        f"{tracks}\n\n{depth}\n\nmotion_transfer ({recipe['tracker']}, {recipe['depth']} depth): "
        f"in-view grid tracks drawn, worst frame {_pct(recipe['coverage_min'])} ({recipe['seconds']:.1f} s)"
    )


def rigidity_table(rigidity: dict) -> str:
    motions = list(RIGIDITY_AMOUNTS)
    rows = []
    for name, methods in rigidity.items():
        if name == "size":
            continue
        for method, figures in methods.items():
            cells = [
                f"{figures[m]['rigid']:.1f} px ({figures[m]['raw']:.1f} px)" if m == TURN_MOTION
                else f"{_pct(figures[m]['rigid'])} ({_pct(figures[m]['raw'])})"
                for m in motions
            ]
            rows.append([name, method, *cells])
    header = ["object", "depth", *(f"{m} {RIGIDITY_AMOUNTS[m]:g}" for m in motions)]
    return _table(header, rows)


def print_report(tracking: dict, depth: dict, synthetic: dict | None, rigidity: dict | None) -> None:
    print(f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC — {_machine()}\n")
    if tracking:
        print(f"## Point tracks, {GRID_SIZE}×{GRID_SIZE} grid, photo scenes through H.264, in-view tracks\n")
        print(tracking_table(tracking) + "\n")
    if depth:
        print("## Depth on stereo_motorcycle (Middlebury 2014, left image)\n")
        print(depth_table(depth) + "\n")
    if synthetic:
        size = "×".join(str(n) for n in synthetic["size"])
        print(f"## Synthetic 3D scene, {size} through H.264, {synthetic['grid_size']}×{synthetic['grid_size']} grid\n")
        print(synthetic_tables(synthetic) + "\n")
    if rigidity:
        size = "×".join(str(n) for n in rigidity["size"])
        print(f"## Moved objects through object_manipulation, {size}: rigid-object depth (raw depth)\n")
        print("Sideways, up/down, rot: median deviation / median displacement; front/back: spread of the scale factor.\n")
        print(rigidity_table(rigidity) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenes", nargs="+", default=list(homography_scene.PHOTOS), choices=homography_scene.PHOTOS)
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run of every section in about a minute")
    parser.add_argument("--sections", nargs="+", default=list(SECTIONS), choices=SECTIONS, help="which parts to run")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    args = parser.parse_args(argv)
    sections = set(args.sections)
    if args.quick:
        tracking = tracking_benchmark(args.scenes[:1], num_frames=13, height=120, width=180) if "photos" in sections else {}
        synthetic = synthetic_scene_quality(13, 72, 108, grid_size=20, supersample=1) if "synthetic" in sections else None
        rigidity = object_rigidity_quality(96, 144, 5) if "rigidity" in sections else None
    else:
        tracking = tracking_benchmark(args.scenes) if "photos" in sections else {}
        synthetic = synthetic_scene_quality() if "synthetic" in sections else None
        rigidity = object_rigidity_quality() if "rigidity" in sections else None
    depth = depth_benchmark() if "depth" in sections else {}
    print_report(tracking, depth, synthetic, rigidity)
    if args.json:
        figures = {"machine": _machine(), "tracking": tracking, "depth": depth, "synthetic": synthetic, "rigidity": rigidity}
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
