"""Source-camera estimation against ground truth, with an assumed field of view that is wrong
(figures in docs/CAMERA_MOTION.md, "Estimating the source camera", and docs/QUALITY.md).

For each true field of view, :mod:`bench.synthetic_scene` renders its clip (49 frames at
96 × 144 by default: a dolly with a turn and a roll, a moving box, an occluder) and
:func:`core.source_camera.estimate_source_poses` runs with the studio's default field of view
(``core.defaults.FOV_DEG``) assumed, twice on the same tracks: with the focal length kept
fixed (as for intrinsics a depth model gives) and refined (as for an assumed field of view);
and, for reference, with the true field of view given and kept.
Three kinds of input:

- ``exact`` — the true tracks with 0.3 px noise and the true depth with 1 % noise;
- ``lk + true depth`` — the built-in tracker's tracks, the true depth sampled under them;
- ``lk + builtin`` — the built-in tracker and built-in depth (the studio without weights).

Reported: the field of view found (and its standard deviation), the worst rotation error and
the worst translation-direction error over the path (``synthetic_scene.camera_path_errors``).

Usage (from the repository root)::

    python bench/source_camera_quality.py                      # true FOV 50, 60, 70°
    python bench/source_camera_quality.py --fovs 60 --json fov.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from bench import synthetic_scene  # noqa: E402
from core import defaults, geometry  # noqa: E402
from core.source_camera import SourceCameraOptions, estimate_source_poses  # noqa: E402

TRUE_FOVS_DEG = (50.0, 60.0, 70.0)
GRID_SIZE = 24
INPUTS = ("exact", "lk + true depth", "lk + builtin")
TRUE_FOV_KEPT = "true fov kept"
FOCAL_HANDLING = ("fixed", "refined", TRUE_FOV_KEPT)
"""The assumed focal length kept fixed or refined, and for reference the true one kept."""


def _inputs(video: synthetic_scene.SyntheticVideo, grid_size: int, assumed_fov_deg: float) -> dict[str, tuple]:
    """``{name: (uvz (T, N, 3), visible (T, N), K)}`` for the kinds of input in :data:`INPUTS`."""
    from core.options import TrackingOptions
    from core.tasks.common import lift_video
    from trackers.points import grid_points

    height, width = video.depth.shape[1:]
    assumed_K = geometry.intrinsics_from_fov(width, height, assumed_fov_deg)
    uvz, visible, _ = video.true_tracks(grid_points(height, width, grid_size))
    scene = lift_video(
        video.frames, TrackingOptions(grid_size=grid_size, tracker="lk", depth_method="builtin", fov_deg=assumed_fov_deg)
    )
    uv = scene.uvz[..., :2]
    true_depth = geometry.sample_nearest(video.depth, uv)
    return {
        "exact": (synthetic_scene.noisy_tracks(uvz), visible, assumed_K),
        "lk + true depth": (np.concatenate([uv, true_depth[..., None]], -1), scene.tracked_visible, assumed_K),
        "lk + builtin": (scene.uvz, scene.tracked_visible, scene.K),
    }


def source_camera_quality(
    true_fovs_deg=TRUE_FOVS_DEG,
    assumed_fov_deg: float = defaults.FOV_DEG,
    *,
    num_frames: int = synthetic_scene.DEFAULT_NUM_FRAMES,
    height: int = synthetic_scene.DEFAULT_HEIGHT,
    width: int = synthetic_scene.DEFAULT_WIDTH,
    grid_size: int = GRID_SIZE,
) -> list[dict]:
    """One row per true field of view, input and focal handling (``fixed`` / ``refined``)."""
    rows = []
    for true_fov in true_fovs_deg:
        video = synthetic_scene.render_synthetic_video(num_frames, height, width, fov_deg=true_fov)
        for name, (uvz, visible, K) in _inputs(video, grid_size, assumed_fov_deg).items():
            for focal in FOCAL_HANDLING:
                start = time.perf_counter()
                if focal == TRUE_FOV_KEPT:
                    estimate = estimate_source_poses(uvz, visible, video.K, focal_known=True)
                else:
                    estimate = estimate_source_poses(uvz, visible, K, SourceCameraOptions(refine_focal=focal == "refined"))
                seconds = time.perf_counter() - start
                rotation, direction, scale = synthetic_scene.camera_path_errors(estimate.cam_to_world, video.cam_to_world)
                rows.append({
                    "true_fov_deg": true_fov, "assumed_fov_deg": assumed_fov_deg, "input": name, "focal": focal,
                    "fov_deg": estimate.fov_deg, "fov_std_deg": estimate.fov_std_deg, "focal_result": estimate.focal,
                    "rotation_error_deg": rotation, "direction_error_deg": direction, "travel_ratio": scale,
                    "seconds": seconds,
                })
    return rows


def quality_table(rows: list[dict]) -> str:
    """Markdown table: fixed → refined (true FOV kept) for each true FOV and input."""
    header = [
        "true FOV", "input", "FOV found",
        "rotation error: fixed → refined (true FOV kept)", "direction error: fixed → refined (true FOV kept)",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    by_key = {(row["true_fov_deg"], row["input"], row["focal"]): row for row in rows}
    for true_fov in dict.fromkeys(row["true_fov_deg"] for row in rows):
        for name in INPUTS:
            fixed, refined, true = (by_key[(true_fov, name, focal)] for focal in FOCAL_HANDLING)
            lines.append(
                f"| {true_fov:g}° | {name} | {refined['fov_deg']:.1f}° ± {refined['fov_std_deg']:.2f}° ({refined['focal_result']}) "
                f"| {fixed['rotation_error_deg']:.2f}° → {refined['rotation_error_deg']:.2f}° ({true['rotation_error_deg']:.2f}°) "
                f"| {fixed['direction_error_deg']:.1f}° → {refined['direction_error_deg']:.1f}° ({true['direction_error_deg']:.1f}°) |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fovs", nargs="+", type=float, default=list(TRUE_FOVS_DEG), help="true fields of view (degrees)")
    parser.add_argument("--assumed", type=float, default=defaults.FOV_DEG, help="assumed field of view (degrees)")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    args = parser.parse_args(argv)
    rows = source_camera_quality(args.fovs, args.assumed)
    machine = f"{platform.machine()}, {len(os.sched_getaffinity(0))} CPUs visible, Python {platform.python_version()}"
    print(f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC — {machine}\n")
    print(f"Assumed field of view {args.assumed:g}°\n")
    print(quality_table(rows))
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
