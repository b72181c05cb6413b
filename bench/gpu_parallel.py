"""One video over several GPUs: seconds per step with and without splitting, side by side.

Usage (from the repository root)::

    python bench/gpu_parallel.py --parallel 2 --json parallel.json --markdown parallel.md
    python bench/gpu_parallel.py --parallel 2 --tiny      # toy sizes, 2 CPU processes (logic check)

Starts ``--parallel`` processes (:func:`core.acceleration.parallel.launch`, as the CLI does).
Each builds the full-size random-weight pipeline of ``bench/gpu.py`` on its own GPU and runs
``--steps`` denoising steps twice in the same run: first every GPU on its own video (the
one-GPU figure), then all GPUs on one video through the engine's context parallelism
(``core.engine.configure_pipeline(..., parallel=group)``). Process 0 reports s/step (median
after the first), peak memory (the largest of the GPUs; each one's in the JSON), and the
measured speed-up; s/video for 50 steps is
extrapolated from the steps (latents only: no VAE decode). Needs as many GPUs as processes.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
sys.path.insert(0, str(Path(__file__).resolve().parent))

import gpu  # noqa: E402  (bench/gpu.py: the pipeline builder and the timed run)

DEFAULT_PROCESSES = 2


def run(args) -> dict[str, object] | None:
    """This process's share of the benchmark; process 0 returns the report, the others ``None``."""
    import torch
    import torch.distributed as dist

    from core.acceleration import parallel
    from core.engine import EngineConfig

    group = parallel.join(args.parallel, "cpu" if args.tiny else None)
    device = group.device
    dtype = torch.float32 if args.tiny else torch.bfloat16
    report: dict[str, object] = {"processes": args.parallel, "dtype": str(dtype).replace("torch.", ""),
                                 "steps_per_run": args.steps, "runs": []}
    for label, split in (("one GPU per video", False), (f"one video over {args.parallel} GPUs", True)):
        pipe = gpu.build_pipeline(args.tiny, device, dtype)
        if "device" not in report:
            report.update(gpu._machine_facts(pipe, "cuda" if device.startswith("cuda") else device))
        figures = gpu.run_mode(pipe, "none", args.steps, device, config=EngineConfig(), decode=False,
                               parallel=group if split else None)
        peaks = [None] * args.parallel
        dist.all_gather_object(peaks, figures["peak_gib"])
        figures["peak_gib_per_process"] = peaks
        figures["peak_gib"] = None if None in peaks else max(peaks)
        report["runs"].append({"label": label, **figures})
        del pipe
        gpu.free_memory()
        dist.barrier()
    one, split = report["runs"]
    report["speedup"] = one["s_per_step"] / split["s_per_step"]
    parallel.leave(stop_followers=False)
    return report if group.is_leader else None


def markdown_table(report: dict[str, object]) -> str:
    import diffusers
    import torch

    lines = [
        f"Measured {datetime.date.today().isoformat()} on {report['processes']} × {report.get('device', '?')} with "
        f"`python bench/gpu_parallel.py --parallel {report['processes']}` (torch {torch.__version__}, diffusers "
        f"{diffusers.__version__}); random weights, {report.get('size', '?')} with CFG, {report['dtype']}, "
        f"{report['steps_per_run']} steps per run, both runs in the same session. s/video is **extrapolated** "
        "to 50 steps (before + 50 × s/step, no decode).",
        "",
        "| run | s/step | before steps (s) | s/video, 50 steps (extrapolated) | peak memory, largest GPU |",
        "|---|---:|---:|---:|---:|",
    ]
    for entry in report["runs"]:
        peak = "–" if entry["peak_gib"] is None else f"{entry['peak_gib']:.1f} GiB"
        lines.append(f"| {entry['label']} | {entry['s_per_step']:.2f} | {entry['s_before_first_step']:.1f} | "
                     f"{entry['s_per_video']:.0f} | {peak} |")
    lines += ["", f"Measured speed-up per step: **{report['speedup']:.2f}×** on {report['processes']} GPUs."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parallel", type=int, default=DEFAULT_PROCESSES, help="GPUs (processes) per video")
    parser.add_argument("--steps", type=int, default=4, help="denoising steps per run")
    parser.add_argument("--tiny", action="store_true", help="toy sizes on CPU processes: checks that the script runs")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--markdown", type=Path, default=None)
    args = parser.parse_args(argv)

    import torch

    from core.acceleration import parallel

    if not args.tiny and torch.cuda.device_count() < args.parallel:
        print(f"needs {args.parallel} CUDA GPUs, found {torch.cuda.device_count()}: skipped (--tiny checks the script on the CPU)")
        return 0
    if parallel.launched_world_size() == 1:
        return parallel.launch(args.parallel, [sys.executable, str(Path(__file__).resolve()),
                                               *(sys.argv[1:] if argv is None else argv)])
    report = run(args)
    if report is None:
        return 0
    table = markdown_table(report)
    print(table)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")
    if args.markdown:
        args.markdown.write_text(table, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
