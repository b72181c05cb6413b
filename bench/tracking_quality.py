"""Quality benchmark with ground truth: point tracks and depth (figures in docs/QUALITY.md).

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

Hooks, connected by the lead when their modules land: :func:`synthetic_scene_quality` (a 3D
scene with known depth and camera, rendered to video, with an occluder — ``bench/synthetic_scene.py``)
and :func:`object_rigidity_quality` (rigidity of a moved object — ``core/quality.py``).
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Optional

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from bench import homography_scene  # noqa: E402
from trackers import depth as depth_methods  # noqa: E402
from trackers import points  # noqa: E402

GRID_SIZE = 70
REPORTED_FRAMES = (12, 24, 36, 48)
DELTA_THRESHOLD = 1.25
"""δ accuracy: the fraction of pixels whose depth ratio to the truth is below this."""


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


def tracking_benchmark(scene_names: list[str]) -> dict[str, dict[str, dict]]:
    """``{tracker: {scene: {"seconds", "per_frame": track_quality(...)}}}``."""
    results: dict[str, dict[str, dict]] = {}
    scenes = {name: homography_scene.make_scene(name) for name in scene_names}
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
# Hooks for the lead to connect (other modules, written in parallel)
# --------------------------------------------------------------------------------------------


def synthetic_scene_quality() -> Optional[dict]:
    """HOOK — 3D synthetic scene with known depth and camera, rendered to video, with an
    occluder (``bench/synthetic_scene.py``). To connect: render the scene, track its frame-0
    grid with every available tracker and report :func:`track_quality`-style coverage and error
    (in-view = inside the frame and not behind the occluder, from the scene's z-buffer), plus
    :func:`depth_errors` of each depth method on its frame 0. Returns None until connected."""
    if importlib.util.find_spec("bench.synthetic_scene") is None:
        return None
    return None  # not connected yet: the scene module's API is settled when it is merged


def object_rigidity_quality() -> Optional[dict]:
    """HOOK — rigidity of a moved object (``core/quality.py``): to connect, move a masked object
    rigidly in a scene with known depth and report how far the distances between its 3D track
    points stray from frame 0. Returns None until connected."""
    if importlib.util.find_spec("core.quality") is None:
        return None
    return None  # not connected yet


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def _machine() -> str:
    return f"{platform.machine()}, {len(os.sched_getaffinity(0))} CPUs visible, Python {platform.python_version()}"


def print_report(tracking: dict, depth: dict) -> None:
    print(f"{datetime.date.today().isoformat()} — {_machine()}")
    print(f"Point tracks, {GRID_SIZE}×{GRID_SIZE} grid, photo scenes (49 × 480 × 720, H.264), in-view tracks:")
    for method, scenes in tracking.items():
        for name, figures in scenes.items():
            per_frame = figures["per_frame"]
            print(
                f"  {method:10s} {name:10s} {figures['seconds']:5.1f} s  "
                f"coverage min {100 * min(per_frame['coverage']):.1f} %"
            )
            for frame in REPORTED_FRAMES:
                if frame < len(per_frame["coverage"]):
                    print(
                        f"      frame {frame:2d}: coverage {100 * per_frame['coverage'][frame]:5.1f} %, "
                        f"median {per_frame['median_px'][frame]:.2f} px, p95 {per_frame['p95_px'][frame]:.2f} px, "
                        f"seen {100 * per_frame['seen'][frame]:.0f} %"
                    )
    print("Depth on stereo_motorcycle (Middlebury 2014, left image):")
    for method, figures in depth.items():
        print(
            f"  {method:18s} AbsRel {figures['absrel_median']:.3f} / δ<1.25 {100 * figures['delta_median']:.1f} % "
            f"(median scaling); AbsRel {figures['absrel_affine']:.3f} / δ<1.25 {100 * figures['delta_affine']:.1f} % "
            f"(scale+shift of inverse depth); {figures['seconds']:.1f} s"
        )
    for name, hook in (("synthetic 3D scene", synthetic_scene_quality), ("object rigidity", object_rigidity_quality)):
        if hook() is None:
            print(f"{name}: not connected (see the hook's docstring)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenes", nargs="+", default=list(homography_scene.PHOTOS), choices=homography_scene.PHOTOS)
    parser.add_argument("--no-depth", action="store_true", help="skip the depth benchmark")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    args = parser.parse_args(argv)
    tracking = tracking_benchmark(args.scenes)
    depth = {} if args.no_depth else depth_benchmark()
    print_report(tracking, depth)
    if args.json:
        args.json.write_text(json.dumps({"machine": _machine(), "tracking": tracking, "depth": depth}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
