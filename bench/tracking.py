"""Benchmark of the built-in point tracker (trackers/lk_tracker.py): speed and accuracy.

Usage (from the repository root)::

    python bench/tracking.py            # or: python -m bench.tracking
    python bench/tracking.py --repeats 3 --json figures.json

Video: the astronaut photo (scikit-image) at 480×720, turned 0.3° per frame about the frame
centre, zoomed 0.2 % per frame and slid (1.15, 0.55) px per frame, for 49 frames — the motion
is known exactly, so every tracked point has a ground-truth position. A 70 × 70 grid (DaS's
motion-transfer grid, 4,900 points) is tracked from frame 0 with:

- ``coarse-to-fine`` — what the app runs: LK on half-size copies, refined at full size;
- ``full-size`` — the same tracker with ``coarse_to_fine=False`` (full-size LK, the same
  refinement and checks), measured in the same run as the reference.

For frames 12, 24 and 48 it prints the median, 95th-percentile and largest distance (px) from
the truth over every point at least ``EDGE_MARGIN_PX`` inside the frame (the tracker gives every
point a position, confirmed or predicted), and the fraction of those points it confirmed
(``visible``). The frames here are raw renders; ``bench/tracking_quality.py`` measures
coverage and accuracy on H.264-compressed scenes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from trackers import points  # noqa: E402

HEIGHT, WIDTH, NUM_FRAMES = 480, 720, 49
GRID_SIZE = 70
DEGREES_PER_FRAME = 0.3
ZOOM_PER_FRAME = 0.002
SLIDE_PER_FRAME_PX = (1.15, 0.55)
SOURCE_MARGIN_PX = 100
"""The photo is rendered this much larger on every side, so content enters the frame as it moves."""
EDGE_MARGIN_PX = 10
"""Points nearer the frame edge than this are left out of the error (OpenCV sees reflected
content there; documented in trackers/lk_tracker.py)."""
REPORTED_FRAMES = (12, 24, 48)


def synthetic_video() -> tuple[np.ndarray, list[np.ndarray]]:
    """``(T, H, W, 3)`` uint8 frames and, per frame, the 2×3 affine map (OpenCV pixel
    coordinates of the enlarged source) that produced it."""
    from skimage import data

    big_w, big_h = WIDTH + 2 * SOURCE_MARGIN_PX, HEIGHT + 2 * SOURCE_MARGIN_PX
    source = cv2.resize(data.astronaut(), (big_w, big_h), interpolation=cv2.INTER_AREA)
    frames, maps = [], []
    for t in range(NUM_FRAMES):
        affine = cv2.getRotationMatrix2D((big_w / 2, big_h / 2), DEGREES_PER_FRAME * t, 1 + ZOOM_PER_FRAME * t)
        affine[:, 2] += np.asarray(SLIDE_PER_FRAME_PX) * t
        warped = cv2.warpAffine(source, affine, (big_w, big_h), flags=cv2.INTER_LINEAR)
        frames.append(warped[SOURCE_MARGIN_PX : SOURCE_MARGIN_PX + HEIGHT, SOURCE_MARGIN_PX : SOURCE_MARGIN_PX + WIDTH])
        maps.append(affine)
    return np.stack(frames), maps


def true_positions(query_uv: np.ndarray, maps: list[np.ndarray], frame: int) -> np.ndarray:
    """Where the frame-0 points ``query_uv (N, 2)`` (our pixel convention) are on ``frame``."""
    first_inverse = cv2.invertAffineTransform(maps[0])
    cv_source = query_uv - 0.5 + SOURCE_MARGIN_PX
    in_source = cv_source @ first_inverse[:, :2].T + first_inverse[:, 2]
    moved = in_source @ maps[frame][:, :2].T + maps[frame][:, 2]
    return moved - SOURCE_MARGIN_PX + 0.5


def accuracy(tracks: points.PointTracks, query_uv: np.ndarray, maps: list[np.ndarray]) -> dict[str, dict[str, float]]:
    figures = {}
    for frame in REPORTED_FRAMES:
        truth = true_positions(query_uv, maps, frame)
        inside = (
            (truth[:, 0] > EDGE_MARGIN_PX)
            & (truth[:, 0] < WIDTH - EDGE_MARGIN_PX)
            & (truth[:, 1] > EDGE_MARGIN_PX)
            & (truth[:, 1] < HEIGHT - EDGE_MARGIN_PX)
        )
        # Every track has a position in every frame: seen and predicted ones are judged alike.
        error = np.linalg.norm(tracks.uv[frame] - truth, axis=1)[inside]
        figures[f"frame {frame}"] = {
            "median_px": float(np.median(error)),
            "p95_px": float(np.percentile(error, 95)),
            "max_px": float(error.max()),
            "visible_fraction": float((inside & tracks.visible[frame]).sum() / inside.sum()),
        }
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per variant (median reported)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)

    print(f"{platform.machine()}, {len(os.sched_getaffinity(0))} CPUs visible, Python {platform.python_version()}")
    frames, maps = synthetic_video()
    query_uv = points.grid_points(HEIGHT, WIDTH, GRID_SIZE)
    results = {}
    for name, coarse_to_fine in (("coarse-to-fine", True), ("full-size", False)):
        times, tracks = [], None
        for _ in range(args.repeats):
            start = time.perf_counter()
            tracks = points.track_points_lk(frames, query_uv, coarse_to_fine=coarse_to_fine)
            times.append(time.perf_counter() - start)
        results[name] = {"seconds": statistics.median(times), "accuracy": accuracy(tracks, query_uv, maps)}

    print(f"Built-in LK, {GRID_SIZE}×{GRID_SIZE} points, {NUM_FRAMES} frames of {HEIGHT}×{WIDTH} (median of {args.repeats}):")
    for name, figures in results.items():
        print(f"  {name:15s} {figures['seconds']:.2f} s")
        for frame, error in figures["accuracy"].items():
            print(
                f"    {frame:9s} median {error['median_px']:.2f} px, p95 {error['p95_px']:.2f} px, "
                f"max {error['max_px']:.1f} px, seen {100 * error['visible_fraction']:.0f} %"
            )
    speedup = results["full-size"]["seconds"] / results["coarse-to-fine"]["seconds"]
    print(f"  coarse-to-fine is {speedup:.2f}× as fast as full-size LK")
    if args.json:
        args.json.write_text(json.dumps({"results": results, "speedup": speedup}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
