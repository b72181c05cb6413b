"""Benchmark of the tracking-video renderer (core/render.py) against a naive per-point renderer.

Usage (from the repository root)::

    python bench/render.py            # or: python -m bench.render
    python bench/render.py --repeats 5 --naive-frames 3

Scene: a floor, a back wall and a box, as a depth map at 480×720 unprojected to one point per
pixel (345,600 points) with ``core.geometry``; the camera then dollies forward, yaws and moves
sideways over 49 frames (per-frame rigid transforms from ``core.geometry``). The same scene is
also sampled on a 70×70 grid of tracks for the ``grid`` footprint.

The naive renderer is what the research code does: sort by depth, then one
``PIL.ImageDraw.rectangle`` call per point, far to near. It is timed in the same run on a few
frames and extrapolated to the whole clip (it takes seconds per frame); its frames are also
compared with ours, pixel for pixel.
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from core import geometry  # noqa: E402
from core import render  # noqa: E402

HEIGHT, WIDTH, NUM_FRAMES = 480, 720, 49
GRID_SIZE = 70
TARGET_DENSE_S = 1.0
TARGET_SPEEDUP = 50.0

FLOOR_CAMERA_HEIGHT = 1.0  # camera this far above the floor (camera +y is down)
WALL_DEPTH = 6.0
BOX_DEPTH, BOX_HALF_WIDTH, BOX_TOP = 3.0, 0.6, -0.2  # box front face depth, half width, top y
DOLLY_FORWARD, SIDE_SHIFT, YAW_DEG = 1.2, 0.4, 12.0  # total motion over the clip


def scene_depth(K: np.ndarray) -> np.ndarray:
    """``(H, W)`` depth of a floor, a back wall and a box front face seen from frame 0."""
    grid = geometry.pixel_grid(HEIGHT, WIDTH, dtype=np.float64)
    ray_x = (grid[..., 0] - K[0, 2]) / K[0, 0]
    ray_y = (grid[..., 1] - K[1, 2]) / K[1, 1]
    depth = np.full((HEIGHT, WIDTH), WALL_DEPTH)
    with np.errstate(divide="ignore"):
        floor = np.where(ray_y > 0, FLOOR_CAMERA_HEIGHT / ray_y, np.inf)
    depth = np.minimum(depth, floor)
    box_x, box_y = ray_x * BOX_DEPTH, ray_y * BOX_DEPTH
    on_box = (np.abs(box_x) < BOX_HALF_WIDTH) & (box_y > BOX_TOP) & (box_y < FLOOR_CAMERA_HEIGHT)
    depth[on_box] = BOX_DEPTH
    return depth.astype(np.float32)


def camera_motion(num_frames: int) -> np.ndarray:
    """``(T, 4, 4)`` transforms of frame-0 points into each frame's camera: dolly, yaw, shift."""
    progress = np.linspace(0.0, 1.0, num_frames)
    yaw = geometry.rotation_about_axis("y", YAW_DEG * progress)
    pivot = np.array([0.0, 0.0, BOX_DEPTH])
    turn = geometry.rotation_about_point(yaw, np.broadcast_to(pivot, (num_frames, 3)))
    shift = geometry.make_se3(
        translation=np.stack([SIDE_SHIFT * progress, np.zeros(num_frames), -DOLLY_FORWARD * progress], axis=-1)
    )
    return shift @ turn


def tracks_for(points0: np.ndarray, K: np.ndarray, motion: np.ndarray) -> np.ndarray:
    uvz, _ = geometry.project_points(geometry.transform_points(motion, points0), K)
    return uvz.astype(np.float32)


def naive_render_frame(uvz: np.ndarray, colors: np.ndarray, half_x: int, half_y: int) -> np.ndarray:
    """One rectangle call per point, far to near (stable on ties), like the research code."""
    image = Image.new("RGB", (WIDTH, HEIGHT))
    draw = ImageDraw.Draw(image)
    order = np.argsort(-uvz[:, 2], kind="stable")
    drawable = render.drawable_points(uvz, HEIGHT, WIDTH)
    for index in order:
        if not drawable[index]:
            continue
        col, row = math.floor(uvz[index, 0]), math.floor(uvz[index, 1])
        fill = tuple(int(channel) for channel in colors[index])
        draw.rectangle([col - half_x, row - half_y, col + half_x, row + half_y], fill=fill)
    return np.asarray(image)


def time_calls(function, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of the fast renderer")
    parser.add_argument("--naive-frames", type=int, default=2, help="frames rendered naively and extrapolated")
    args = parser.parse_args()

    K = geometry.intrinsics_from_fov(WIDTH, HEIGHT)
    depth = scene_depth(K)
    points0 = geometry.unproject_depth(depth, K).reshape(-1, 3)
    motion = camera_motion(NUM_FRAMES)
    dense_uvz = tracks_for(points0, K, motion)

    grid_u = (np.arange(GRID_SIZE) + 0.5) * WIDTH / GRID_SIZE
    grid_v = (np.arange(GRID_SIZE) + 0.5) * HEIGHT / GRID_SIZE
    grid_rows = np.floor(grid_v).astype(int)[:, None]
    grid_cols = np.floor(grid_u).astype(int)[None, :]
    grid_uv = np.stack(np.meshgrid(grid_u, grid_v), axis=-1).reshape(-1, 2)
    grid_depth = depth[grid_rows, grid_cols].reshape(-1, 1)
    grid_points0 = geometry.unproject_uvz(np.concatenate([grid_uv, grid_depth], axis=-1), K)
    grid_uvz = tracks_for(grid_points0, K, motion)

    print("Tracking-video renderer benchmark (bench/render.py)")
    print(f"python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}")
    print(f"scene: floor + wall + box, dense cloud {HEIGHT}x{WIDTH} = {len(points0):,} points, "
          f"{NUM_FRAMES} frames, camera dolly {DOLLY_FORWARD} + yaw {YAW_DEG} deg + shift {SIDE_SHIFT}")

    started = time.perf_counter()
    dense_colors = render.track_colors(dense_uvz[0], HEIGHT, WIDTH)
    print(f"track_colors ({len(points0):,} points): {1e3 * (time.perf_counter() - started):.1f} ms")

    result = {}

    def render_dense() -> None:
        result["dense"] = render.render_tracking_video(dense_uvz, dense_colors, HEIGHT, WIDTH, footprint="dense")

    dense_times = time_calls(render_dense, args.repeats)
    dense_s = statistics.median(dense_times)
    print(f"dense 3x3, {NUM_FRAMES} frames: median {dense_s:.3f} s over {args.repeats} runs "
          f"({', '.join(f'{t:.3f}' for t in dense_times)}) = {1e3 * dense_s / NUM_FRAMES:.1f} ms/frame "
          f"[target <= {TARGET_DENSE_S:.1f} s: {'met' if dense_s <= TARGET_DENSE_S else 'MISSED'}]")

    naive_indices = np.linspace(0, NUM_FRAMES - 1, args.naive_frames).round().astype(int)
    naive_frames, naive_times = [], []
    for index in naive_indices:
        started = time.perf_counter()
        naive_frames.append(naive_render_frame(dense_uvz[index], dense_colors, 1, 1))
        naive_times.append(time.perf_counter() - started)
    naive_per_frame = statistics.mean(naive_times)
    naive_total = naive_per_frame * NUM_FRAMES
    identical = all(np.array_equal(frame, result["dense"][i]) for frame, i in zip(naive_frames, naive_indices))
    speedup = naive_total / dense_s
    print(f"naive PIL rectangle per point: {naive_per_frame:.2f} s/frame measured on frames "
          f"{naive_indices.tolist()}, extrapolated to {NUM_FRAMES} frames = {naive_total:.1f} s")
    print(f"speed-up dense: {speedup:.0f}x [target >= {TARGET_SPEEDUP:.0f}x: "
          f"{'met' if speedup >= TARGET_SPEEDUP else 'MISSED'}]; naive frames pixel-identical: {identical}")

    grid_colors = render.track_colors(grid_uvz[0], HEIGHT, WIDTH)
    (row_low, row_high), (col_low, col_high) = render.footprint_offsets(
        "grid", grid_uvz[0], render.drawable_points(grid_uvz[0], HEIGHT, WIDTH)
    )

    def render_grid() -> None:
        result["grid"] = render.render_tracking_video(grid_uvz, grid_colors, HEIGHT, WIDTH, footprint="grid")

    grid_times = time_calls(render_grid, args.repeats)
    grid_s = statistics.median(grid_times)
    started = time.perf_counter()
    naive_grid = naive_render_frame(grid_uvz[0], grid_colors, col_high, row_high)
    naive_grid_total = (time.perf_counter() - started) * NUM_FRAMES
    print(f"grid {GRID_SIZE}x{GRID_SIZE} = {len(grid_points0):,} tracks, footprint "
          f"{col_high - col_low + 1}x{row_high - row_low + 1} px, {NUM_FRAMES} frames: median {grid_s:.3f} s "
          f"= {1e3 * grid_s / NUM_FRAMES:.1f} ms/frame; naive (frame 0 x {NUM_FRAMES}) {naive_grid_total:.2f} s, "
          f"speed-up {naive_grid_total / grid_s:.0f}x; frame 0 pixel-identical: "
          f"{np.array_equal(naive_grid, result['grid'][0])}")


if __name__ == "__main__":
    main()
