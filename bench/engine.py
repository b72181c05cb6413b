"""Benchmark of the engine and the task recipes (CPU, no weights needed).

Usage (from the repository root)::

    python bench/engine.py                   # both parts
    python bench/engine.py --skip-engine     # only the tracking-video builds
    python bench/engine.py --repeats 3 --json bench-engine.json

1. **Engine** (tiny random checkpoint written to a temporary folder): latency of the first
   request (pays the model load) and of the next ones (model cached, tracking-video encoding
   cached), at the tiny checkpoint's native size. Shows that the load is paid once.
2. **Tracking-video builds** at DaS's working size, 49 frames of 480×720, with the weights-free
   defaults (``depth_method="auto"`` and ``tracker="auto"`` resolve to the built-in estimators
   when no depth/tracker checkpoint is installed), for each of the four tasks plus an uploaded
   tracking video. Target: ≤ 5 s per task on 2 CPU cores.

Inputs are synthetic (scikit-image photos, a texture sliding across the frame, a trimesh box),
made in memory, so the script needs nothing but the repository and its requirements.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

NUM_FRAMES, HEIGHT, WIDTH = 49, 480, 720
TARGET_TRACKING_S = 5.0
SLIDE_PX_PER_FRAME = 3
ENGINE_REQUESTS = 4
ENGINE_STEPS = 4


def _timed(function, repeats: int) -> tuple[float, object]:
    """Median wall time (s) over ``repeats`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def synthetic_inputs(folder: Path) -> dict[str, object]:
    """A photo, a mask, a sliding-texture video, a box mesh and a tracking video at full size."""
    import trimesh
    from skimage import data

    from core.media import write_video

    photo = np.asarray(Image.fromarray(data.astronaut()).resize((WIDTH, HEIGHT), Image.BICUBIC))
    texture = np.asarray(Image.fromarray(data.coffee()).resize((WIDTH + SLIDE_PX_PER_FRAME * NUM_FRAMES, HEIGHT), Image.BICUBIC))
    offset = SLIDE_PX_PER_FRAME * (NUM_FRAMES - 1)
    frames = np.stack([texture[:, offset - SLIDE_PX_PER_FRAME * t : offset - SLIDE_PX_PER_FRAME * t + WIDTH] for t in range(NUM_FRAMES)])
    video = folder / "sliding.mp4"
    write_video(frames, video, fps=8)
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    mask[120:360, 240:480] = 255
    mesh = folder / "box.obj"
    trimesh.creation.box(extents=(1.0, 0.6, 0.8)).export(mesh)
    tracking = folder / "tracking.mp4"
    write_video(np.roll(frames, 7, axis=-1), tracking, fps=8)
    return {"photo": photo, "mask": mask, "video": video, "mesh": mesh, "tracking": tracking}


def bench_tracking(inputs: dict[str, object], repeats: int) -> dict[str, float]:
    """Seconds to build each task's tracking video at 49×480×720."""
    from core import tasks
    from core.options import ObjectMove, WorkingSize

    size = {"size": WorkingSize(NUM_FRAMES, HEIGHT, WIDTH)}
    builds = {
        "motion transfer (video, 70×70 tracks)": lambda: tasks.motion_transfer(inputs["video"], **size),
        "camera control (image, dense)": lambda: tasks.camera_control(inputs["photo"], "trans 0 0 -0.3; rot y 10", **size),
        "camera control (video, 70×70 tracks)": lambda: tasks.camera_control(inputs["video"], "rot y 10", **size),
        "object manipulation (image, dense)": lambda: tasks.object_manipulation(inputs["photo"], ObjectMove(inputs["mask"], "right", 0.2), camera_motion="rot y 5", **size),
        "mesh animation (turntable)": lambda: tasks.mesh_animation(inputs["mesh"], procedural="turntable", **size),
        "uploaded tracking video": lambda: tasks.from_tracking_video(inputs["tracking"], first_frame=inputs["photo"], **size),
    }
    figures = {}
    for name, build in builds.items():
        seconds, result = _timed(build, repeats)
        figures[name] = seconds
        extra = f", depth: {result.metadata.get('depth_source')}" if "depth_source" in result.metadata else ""
        print(f"  {name:42s} {seconds:6.2f} s{extra}", flush=True)
    return figures


def bench_engine(folder: Path) -> dict[str, float]:
    """First vs later request latency on the tiny checkpoint (CPU)."""
    from skimage import data

    from core.engine import Engine, EngineConfig, GenerationSettings
    from core.options import WorkingSize
    from core.tasks import camera_control
    from core.tiny import write_tiny_checkpoint

    started = time.perf_counter()
    checkpoint = write_tiny_checkpoint(folder / "tiny-das")
    print(f"  tiny checkpoint written in {time.perf_counter() - started:.1f} s", flush=True)
    engine = Engine(EngineConfig(checkpoint=str(checkpoint), output_dir=folder / "outputs"))
    tracking = camera_control(data.astronaut(), "rot y 10", size=WorkingSize.from_native(engine.native_size()))
    latencies = []
    for request in range(ENGINE_REQUESTS):
        settings = GenerationSettings(num_inference_steps=ENGINE_STEPS, seed=request)
        started = time.perf_counter()
        engine.generate(None, tracking, "a benchmark", settings)
        latencies.append(time.perf_counter() - started)
        print(f"  request {request + 1}: {latencies[-1]:.2f} s (loads so far: {engine.load_count}, "
              f"tracking encodings: {engine.tracking_encode_count})", flush=True)
    # What the first request paid for: loading the model alone, on a fresh engine.
    fresh = Engine(EngineConfig(checkpoint=str(checkpoint), output_dir=folder / "outputs"))
    started = time.perf_counter()
    fresh.load()
    load_s = time.perf_counter() - started
    print(f"  model load alone: {load_s:.2f} s", flush=True)
    return {
        "first_request_s": latencies[0],
        "later_request_median_s": statistics.median(latencies[1:]),
        "load_s": load_s,
        "loads": engine.load_count,
        "tracking_encodings": engine.tracking_encode_count,
        "native_size": f"{num_frames}×{height}×{width}",
        "steps": ENGINE_STEPS,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=1, help="timed runs per tracking build (median reported)")
    parser.add_argument("--skip-engine", action="store_true")
    parser.add_argument("--skip-tracking", action="store_true")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = parser.parse_args(argv)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs visible, Python {platform.python_version()}")
    report: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if not args.skip_engine:
            print("Engine (tiny checkpoint, CPU):", flush=True)
            report["engine"] = bench_engine(folder)
        if not args.skip_tracking:
            print(f"Tracking-video builds at {NUM_FRAMES}×{HEIGHT}×{WIDTH} (target ≤ {TARGET_TRACKING_S:g} s):", flush=True)
            tracking = bench_tracking(synthetic_inputs(folder), args.repeats)
            report["tracking_s"] = tracking
            slow = [name for name, seconds in tracking.items() if seconds > TARGET_TRACKING_S]
            print("  all within target" if not slow else f"  over target: {', '.join(slow)}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
