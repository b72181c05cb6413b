"""GPU benchmark of a full-size Diffusion-as-Shader pipeline with random weights (no download).

Usage (from the repository root)::

    python bench/gpu.py                              # memory modes none, model, group (+ sequential, 1 step)
    python bench/gpu.py --modes none --steps 50      # one real 50-step video
    python bench/gpu.py --json gpu.json
    python bench/gpu.py --tiny                       # CPU smoke test of this script (tiny sizes)
    python bench/gpu.py --all --json gpu.json --markdown gpu.md   # every speed option, < 9 min on an H100/H200
    python bench/gpu.py --all --tiny                 # the same runs at toy sizes on the CPU (logic check)
    python bench/gpu.py --memory-table               # computed weight memory per quantisation mode (no GPU)

The model is built from configs written below — SPEC §4 sizes: a CogVideoX-5B-I2V transformer
(42 blocks, 48 heads × 64, ``in_channels`` 32, learned + rotary position embeddings) with 18
tracking blocks, a T5-XXL encoder and the CogVideoX VAE — initialised randomly directly on the
GPU in bfloat16, so nothing is downloaded. Speed and memory do not depend on the weights' values.

For each memory mode (:data:`core.engine.OFFLOAD_MODES`, applied by the engine's own
:func:`core.engine.configure_pipeline`) it reports, at 49 frames of 480×720 with CFG:

- seconds per denoising step (median of the steps after the first);
- the seconds before the first step (text encoding, first-frame and tracking-video VAE
  encoding) and after the last (VAE decoding);
- seconds per 50-step video, measured when ``--steps 50`` else extrapolated as
  ``before + 50 · step + after``;
- peak GPU memory (``torch.cuda.max_memory_allocated``).

``--all`` instead measures the engine's speed options one at a time, each on a freshly built
pipeline (quantisation and hooks are not undone): bf16 without offload (the baseline, the only
run that decodes), model offload, int8 and fp8 weights, the step cache, and ``torch.compile``.
It runs ``--steps`` denoising steps each (latents only, except the baseline), keeps to
``--budget-s`` seconds (a run that would not fit is recorded as skipped), and writes one JSON
(``--json``) and one markdown table (``--markdown``) for docs/PERFORMANCE.md. Seconds per
50-step video are extrapolated: ``before + 50 · s/step + the baseline's decode``.

Without CUDA (and without ``--tiny``/``--memory-table``) it prints ``no CUDA: skipped`` and exits 0.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

VIDEO_STEPS = 50
GIB = 1024**3

# CogVideoX-5B-I2V transformer (SPEC §4) + the DaS tracking branch.
FULL_TRANSFORMER = dict(
    num_attention_heads=48,
    attention_head_dim=64,
    in_channels=32,
    out_channels=16,
    flip_sin_to_cos=True,
    freq_shift=0,
    time_embed_dim=512,
    text_embed_dim=4096,
    num_layers=42,
    dropout=0.0,
    attention_bias=True,
    sample_width=90,
    sample_height=60,
    sample_frames=49,
    patch_size=2,
    temporal_compression_ratio=4,
    max_text_seq_length=226,
    activation_fn="gelu-approximate",
    timestep_activation_fn="silu",
    norm_elementwise_affine=True,
    norm_eps=1e-5,
    spatial_interpolation_scale=1.875,
    temporal_interpolation_scale=1.0,
    use_rotary_positional_embeddings=True,
    use_learned_positional_embeddings=True,
    num_tracking_blocks=18,
)
# T5 v1.1 XXL encoder (CogVideoX's text encoder).
FULL_T5 = dict(
    vocab_size=32128,
    d_model=4096,
    d_kv=64,
    d_ff=10240,
    num_layers=24,
    num_heads=64,
    relative_attention_num_buckets=32,
    relative_attention_max_distance=128,
    feed_forward_proj="gated-gelu",
    layer_norm_epsilon=1e-6,
    tie_word_embeddings=False,
    pad_token_id=0,
    eos_token_id=1,
    decoder_start_token_id=0,
)
# CogVideoX VAE (×8 spatial, ×4 temporal, 16 latent channels; 5B scaling factor).
FULL_VAE = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=("CogVideoXDownBlock3D",) * 4,
    up_block_types=("CogVideoXUpBlock3D",) * 4,
    block_out_channels=(128, 256, 256, 512),
    latent_channels=16,
    layers_per_block=3,
    norm_num_groups=32,
    temporal_compression_ratio=4,
    sample_height=480,
    sample_width=720,
    scaling_factor=0.7,
)

# The same structure at toy sizes, to check this script on a CPU in seconds (--tiny).
TINY_TRANSFORMER = {
    **FULL_TRANSFORMER,
    "num_attention_heads": 2,
    "attention_head_dim": 16,
    "time_embed_dim": 16,
    "text_embed_dim": 16,
    "num_layers": 2,
    "num_tracking_blocks": 1,
    "sample_width": 12,
    "sample_height": 8,
    "sample_frames": 9,
}
TINY_T5 = {**FULL_T5, "d_model": 16, "d_kv": 8, "d_ff": 32, "num_layers": 1, "num_heads": 2, "relative_attention_num_buckets": 8}
TINY_VAE = {**FULL_VAE, "block_out_channels": (8, 8, 8, 8), "layers_per_block": 1, "norm_num_groups": 2, "sample_height": 128, "sample_width": 192}

PROMPT = "a red car drives along a mountain road at sunset, cinematic"
TOKENIZER_WORDS = sorted(set(PROMPT.replace(",", " ,").split()) | {".", ","})


def build_tokenizer(max_length: int):
    """A T5 tokenizer with a small in-memory vocabulary (ids stay far below the model's 32 128)."""
    from transformers import T5Tokenizer

    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    vocab += [(f"▁{word}", -1.0) for word in TOKENIZER_WORDS] + [(letter, -5.0) for letter in "abcdefghijklmnopqrstuvwxyz"]
    return T5Tokenizer(vocab=vocab, extra_ids=0, model_max_length=max_length)


def build_pipeline(tiny: bool, device: str, dtype):
    """A DiffusionAsShaderPipeline with random weights, built directly on ``device`` in ``dtype``."""
    import torch
    from diffusers import AutoencoderKLCogVideoX, CogVideoXDPMScheduler
    from transformers import T5Config, T5EncoderModel

    from core.pipeline import DiffusionAsShaderPipeline
    from core.tiny import SCHEDULER_CONFIG
    from core.transformer import CogVideoXTransformer3DModelTracking

    transformer_config, t5_config, vae_config = (
        (TINY_TRANSFORMER, TINY_T5, TINY_VAE) if tiny else (FULL_TRANSFORMER, FULL_T5, FULL_VAE)
    )
    torch.manual_seed(0)
    previous_dtype = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # initialise in the target dtype: no float32 copy of 12 B parameters
    try:
        with torch.device(device):
            transformer = CogVideoXTransformer3DModelTracking(**transformer_config)
            vae = AutoencoderKLCogVideoX(**vae_config)
            text_encoder = T5EncoderModel(T5Config(**t5_config)).eval()
    finally:
        torch.set_default_dtype(previous_dtype)
    return DiffusionAsShaderPipeline(
        tokenizer=build_tokenizer(transformer_config["max_text_seq_length"]),
        text_encoder=text_encoder,
        vae=vae,
        transformer=transformer,
        scheduler=CogVideoXDPMScheduler(**SCHEDULER_CONFIG),
    )


def parameter_count(pipe) -> dict[str, float]:
    """Billions of parameters per component."""
    return {
        name: sum(p.numel() for p in getattr(pipe, name).parameters()) / 1e9
        for name in ("transformer", "text_encoder", "vae")
    }


def _machine_facts(pipe, device: str) -> dict:
    """The device name, working size and parameter counts a report starts with."""
    import torch

    num_frames, height, width = pipe.native_size
    return {
        "device": torch.cuda.get_device_name() if device == "cuda" else platform.processor() or platform.machine(),
        "size": f"{num_frames}×{height}×{width}",
        "parameters_billions": {name: round(value, 3) for name, value in parameter_count(pipe).items()},
    }


def run_mode(pipe, mode: str, steps: int, device: str, config=None, decode: bool = True, parallel=None) -> dict[str, float]:
    """One generation with memory mode ``mode`` (or the whole engine ``config``, and its tokens
    split over the ``parallel`` group when given); timings (s) and peak memory (GiB)."""
    import torch
    from PIL import Image

    from core.engine import EngineConfig, configure_pipeline

    num_frames, height, width = pipe.native_size
    configure_pipeline(pipe, config or EngineConfig(offload=mode), device, parallel)
    rng = np.random.default_rng(0)
    first_frame = Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8))
    tracking = rng.integers(0, 255, (num_frames, height, width, 3), dtype=np.uint8)
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    step_ends: list[float] = []

    def on_step_end(pipeline, step, timestep, tensors):
        if cuda:
            torch.cuda.synchronize()
        step_ends.append(time.perf_counter())
        return tensors

    started = time.perf_counter()
    pipe(
        image=first_frame,
        prompt=PROMPT,
        tracking_video=tracking,
        num_inference_steps=steps,
        generator=torch.Generator("cpu").manual_seed(42),
        callback_on_step_end=on_step_end,
        output_type="np" if decode else "latent",
    )
    if cuda:
        torch.cuda.synchronize()
    finished = time.perf_counter()
    durations = np.diff([started] + step_ends)
    later_steps = durations[1:]
    per_step = float(statistics.median(later_steps)) if len(later_steps) else float(durations[0])
    before = float(durations[0] - per_step)  # the first step's end includes everything before it
    after = finished - step_ends[-1] if decode else None
    measured = finished - started
    return {
        "s_per_step": per_step,
        "s_per_step_mean": float(np.mean(later_steps)) if len(later_steps) else per_step,
        "s_first_step_end": float(durations[0]),
        "s_before_first_step": max(before, 0.0),
        "s_decode": after,
        "s_per_video": measured if steps == VIDEO_STEPS and decode else max(before, 0.0) + VIDEO_STEPS * per_step + (after or 0.0),
        "video_extrapolated": steps != VIDEO_STEPS or not decode,
        "steps_run": steps,
        "peak_gib": torch.cuda.max_memory_allocated() / GIB if cuda else None,
    }


def free_memory() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


# --------------------------------------------------------------------------------------------
# --all: every speed option of the engine, one fresh pipeline each
# --------------------------------------------------------------------------------------------

BENCH_STEP_CACHE_THRESHOLD = 0.2
"""Step-cache threshold of the "cache on" run (mid-range of TeaCache's 0.1–0.3)."""
DEFAULT_BUDGET_S = 480
"""--all stops starting runs after this many seconds (the whole script must stay under 9 minutes)."""

ALL_RUNS: tuple[tuple[str, dict[str, object]], ...] = (
    ("baseline: no offload", {}),
    ("int8 weights", {"quantize": "int8"}),
    ("fp8 weights", {"quantize": "fp8"}),
    (f"step cache {BENCH_STEP_CACHE_THRESHOLD}", {"step_cache_threshold": BENCH_STEP_CACHE_THRESHOLD}),
    ("torch.compile", {"compile": True}),
    ("model offload", {"offload": "model"}),
)
"""(label, EngineConfig fields) per run, most informative first (the budget may cut the last);
the baseline has no offload, quantisation, cache or compile."""


def _unsupported_reason(fields: dict[str, object], device: str, tiny: bool) -> str | None:
    from core.acceleration.quantize import fp8_supported

    if fields.get("quantize") == "fp8" and not fp8_supported(device):
        return "fp8 needs a CUDA GPU with compute capability >= 8.9"
    if tiny and fields.get("compile"):
        return "not run with --tiny (compiling on a CPU takes minutes)"
    return None


def run_all(args, device: str, dtype) -> dict[str, object]:
    """The ``--all`` runs; returns the report (also printed as it goes)."""
    import torch

    from core.engine import EngineConfig

    started_all = time.perf_counter()
    report: dict[str, object] = {"dtype": str(dtype).replace("torch.", ""), "steps_per_run": args.steps, "runs": []}
    baseline_decode = None
    last_run_s = 0.0
    for index, (label, fields) in enumerate(ALL_RUNS):
        entry: dict[str, object] = {"label": label, "settings": fields}
        report["runs"].append(entry)
        reason = _unsupported_reason(fields, device, args.tiny)
        elapsed = time.perf_counter() - started_all
        if reason is None and index > 0 and elapsed + last_run_s * (3 if fields.get("compile") else 1) > args.budget_s:
            reason = f"skipped: time budget ({elapsed:.0f} s of {args.budget_s:.0f} s used)"
        if reason is not None:
            entry["skipped"] = reason
            print(f"  {label:30s} {reason}", flush=True)
            continue
        run_started = time.perf_counter()
        pipe = build_pipeline(args.tiny, device, dtype)
        if "device" not in report:
            report.update(_machine_facts(pipe, device))
        if fields.get("offload", "none") != "none":
            pipe.to("cpu")
            free_memory()
        figures = run_mode(pipe, "none", args.steps, device, config=EngineConfig(**fields), decode=index == 0)
        if index == 0:
            baseline_decode = figures["s_decode"]
        else:
            figures["s_per_video"] += baseline_decode or 0.0
        state = getattr(pipe.transformer, "_das_step_cache_state", None)
        if state is not None:
            figures["skipped_calls"] = state.skipped_per_generation[-1]
            figures["transformer_calls"] = args.steps
        entry.update(figures)
        last_run_s = time.perf_counter() - run_started
        entry["run_s"] = last_run_s
        peak = "n/a" if figures["peak_gib"] is None else f"{figures['peak_gib']:.1f} GiB"
        print(f"  {label:30s} {figures['s_per_step']:7.2f} s/step  ≈{figures['s_per_video']:8.1f} s/video  peak {peak}", flush=True)
        del pipe
        free_memory()
    report["total_s"] = time.perf_counter() - started_all
    return report


def _seconds(value) -> str:
    return "–" if value is None else f"{value:.2f}"


def markdown_table(report: dict[str, object]) -> str:
    """The ``--all`` report as a markdown table (measured s/step and peak; s/video extrapolated)."""
    import datetime

    import diffusers
    import torch

    lines = [
        f"Measured {datetime.date.today().isoformat()} on {report.get('device', '?')} with `python bench/gpu.py --all` "
        f"(torch {torch.__version__}, diffusers {diffusers.__version__}); random weights, {report.get('size', '?')} "
        f"with CFG, {report['dtype']}, {report['steps_per_run']} steps per run (s/step: median after the first). "
        "s/video is **extrapolated** to 50 steps: before + 50 × s/step + the baseline's decode. "
        "Only the baseline decodes, so the other runs' peak memory excludes VAE decoding.",
        "",
        "| run | s/step | first step (s) | before steps (s) | decode (s) | s/video, 50 steps (extrapolated) | peak memory | notes |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for entry in report["runs"]:
        if "skipped" in entry:
            lines.append(f"| {entry['label']} | – | – | – | – | – | – | {entry['skipped']} |")
            continue
        notes = []
        if "skipped_calls" in entry:
            notes.append(f"{entry['skipped_calls']} of {entry['transformer_calls']} transformer calls skipped (random weights)")
        if entry["settings"].get("compile"):
            notes.append("first step includes compiling")
        if entry["settings"].get("offload", "none") != "none" and entry["peak_gib"] is None:
            notes.append("offload ignored on the CPU")
        peak = "–" if entry["peak_gib"] is None else f"{entry['peak_gib']:.1f} GiB"
        lines.append(
            f"| {entry['label']} | {entry['s_per_step']:.2f} | {entry['s_first_step_end']:.1f} | "
            f"{entry['s_before_first_step']:.1f} | {_seconds(entry['s_decode'])} | {entry['s_per_video']:.0f} | {peak} | "
            f"{'; '.join(notes)} |"
        )
    return "\n".join(lines) + "\n"


CACHE_SHARE_THRESHOLDS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5)


def cache_share(device: str, dtype, tiny: bool, steps: int = VIDEO_STEPS) -> str:
    """Count the transformer calls the step cache skips over a ``steps``-step schedule, per threshold.

    Also reports ‖cached − uncached‖ / ‖uncached‖ of the final latents. Returns a markdown table.
    """
    import torch
    from PIL import Image

    from core.acceleration.step_cache import StepCacheConfig, apply_step_cache, remove_step_cache

    pipe = build_pipeline(tiny, device, dtype)
    pipe.set_progress_bar_config(disable=True)
    num_frames, height, width = pipe.native_size
    rng = np.random.default_rng(0)
    first_frame = Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8))
    tracking = rng.integers(0, 255, (num_frames, height, width, 3), dtype=np.uint8)

    def latents():
        return pipe(
            image=first_frame, prompt=PROMPT, tracking_video=tracking, num_inference_steps=steps,
            generator=torch.Generator("cpu").manual_seed(42), output_type="latent",
        ).frames.float()

    reference = latents()
    lines = [
        f"| threshold | transformer calls skipped of {steps} | share | ‖cached − uncached‖ / ‖uncached‖ (final latents) |",
        "|---:|---:|---:|---:|",
    ]
    for threshold in CACHE_SHARE_THRESHOLDS:
        state = apply_step_cache(pipe.transformer, StepCacheConfig(threshold=threshold))
        cached = latents()
        remove_step_cache(pipe.transformer)
        skipped = state.skipped_per_generation[-1]
        difference = ((cached - reference).norm() / reference.norm()).item()
        lines.append(f"| {threshold:g} | {skipped} | {skipped / steps:.0%} | {difference:.4f} |")
        print(lines[-1], flush=True)
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# --memory-table: computed weight memory (no GPU, no weights: meta-device models)
# --------------------------------------------------------------------------------------------

GPU_SIZES_GIB = (16, 24, 40, 80)
ACTIVATION_HEADROOM_GIB = 4
"""Below this much memory left beside the weights a fit is marked "tight" (activations need some)."""


def _fit(need_gib: float, size_gib: float) -> str:
    if need_gib >= size_gib:
        return "no"
    return "tight" if size_gib - need_gib < ACTIVATION_HEADROOM_GIB else "yes"


def memory_table() -> str:
    """Weight memory per component and quantisation mode, computed from the full-size configs."""
    import torch
    from diffusers import AutoencoderKLCogVideoX
    from transformers import T5Config, T5EncoderModel

    from core.acceleration import QUANTIZE_MODES
    from core.acceleration.quantize import parameter_memory
    from core.transformer import CogVideoXTransformer3DModelTracking

    with torch.device("meta"):
        counts = {
            "transformer (42 main + 18 tracking blocks)": parameter_memory(CogVideoXTransformer3DModelTracking(**FULL_TRANSFORMER)),
            "T5-XXL encoder": parameter_memory(T5EncoderModel(T5Config(**FULL_T5))),
            "VAE (not quantised)": parameter_memory(AutoencoderKLCogVideoX(**FULL_VAE), quantized=False),
        }
    gib = {mode: {name: count.bytes(mode) / GIB for name, count in counts.items()} for mode in QUANTIZE_MODES}
    lines = [
        "Computed (not measured) by `python bench/gpu.py --memory-table` from the full-size configs; "
        "GiB of weights, bf16 for everything not quantised.",
        "",
        "| component | parameters | " + " | ".join(f"{mode} (GiB)" for mode in QUANTIZE_MODES) + " |",
        "|---|---:|" + "---:|" * len(QUANTIZE_MODES),
    ]
    for name, count in counts.items():
        billions = (count.linear_weights + count.other) / 1e9
        lines.append(f"| {name} | {billions:.2f} B | " + " | ".join(f"{gib[mode][name]:.2f}" for mode in QUANTIZE_MODES) + " |")
    totals = {mode: sum(gib[mode].values()) for mode in QUANTIZE_MODES}
    largest = {mode: max(gib[mode].values()) for mode in QUANTIZE_MODES}
    lines.append("| **all weights** | | " + " | ".join(f"**{totals[mode]:.2f}**" for mode in QUANTIZE_MODES) + " |")
    lines += [
        "",
        "Do the weights fit on the GPU? (computed; weights only — activations, the attention over "
        "2 × 17,776 tokens and VAE decoding need several GiB more, not measured yet.) "
        "No offload keeps every component on the GPU; model offload keeps one at a time "
        "(the transformer is the largest).",
        "",
        "| mode | weights on GPU, no offload | " + " | ".join(f"{size} GiB" for size in GPU_SIZES_GIB)
        + " | weights on GPU, model offload | " + " | ".join(f"{size} GiB" for size in GPU_SIZES_GIB) + " |",
        "|---|---:|" + ":-:|" * len(GPU_SIZES_GIB) + "---:|" + ":-:|" * len(GPU_SIZES_GIB),
    ]
    for mode in QUANTIZE_MODES:
        fits = lambda need: " | ".join(_fit(need, size) for size in GPU_SIZES_GIB)  # noqa: E731
        lines.append(f"| {mode} | {totals[mode]:.1f} GiB | {fits(totals[mode])} | {largest[mode]:.1f} GiB | {fits(largest[mode])} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modes", default="none,model,group,sequential", help="comma-separated memory modes")
    parser.add_argument("--steps", type=int, default=4, help=f"denoising steps per run (the {VIDEO_STEPS}-step time is extrapolated unless {VIDEO_STEPS})")
    parser.add_argument("--sequential-steps", type=int, default=2, help="steps for the (very slow) sequential mode")
    parser.add_argument("--tiny", action="store_true", help="toy sizes on the CPU: checks that the script runs")
    parser.add_argument("--all", action="store_true", help="measure every speed option (quantisation, step cache, compile, offload)")
    parser.add_argument("--budget-s", type=float, default=DEFAULT_BUDGET_S, help="--all starts no run after this many seconds")
    parser.add_argument("--memory-table", action="store_true", help="print the computed weight-memory table and exit")
    parser.add_argument("--cache-share", action="store_true", help=f"count step-cache skips over a {VIDEO_STEPS}-step schedule per threshold")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--markdown", type=Path, default=None, help="--all: write the markdown table here")
    args = parser.parse_args(argv)

    if args.memory_table:
        table = memory_table()
        print(table)
        if args.markdown:
            args.markdown.write_text(table, encoding="utf-8")
        return 0

    import torch

    from core.engine import OFFLOAD_MODES

    modes = [mode.strip() for mode in args.modes.split(",") if mode.strip()]
    unknown = [mode for mode in modes if mode not in OFFLOAD_MODES]
    if unknown:
        parser.error(f"unknown memory mode(s) {unknown}; choose from {OFFLOAD_MODES}")
    if args.tiny:
        device, dtype, modes = "cpu", torch.float32, ["none"]
    elif torch.cuda.is_available():
        device, dtype = "cuda", torch.bfloat16
    else:
        print("no CUDA: skipped (run on a GPU machine, or pass --tiny to check the script on the CPU)")
        return 0

    if args.cache_share:
        table = cache_share(device, dtype, args.tiny)
        print(table)
        if args.markdown:
            args.markdown.write_text(table, encoding="utf-8")
        return 0
    if args.all:
        report = run_all(args, device, dtype)
        if args.json:
            args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")
        table = markdown_table(report)
        print(table)
        if args.markdown:
            args.markdown.write_text(table, encoding="utf-8")
        return 0

    report: dict[str, object] = {"dtype": str(dtype).replace("torch.", ""), "modes": {}}
    for mode in modes:
        # A fresh pipeline per mode: offload hooks are not undone reliably. It is built on the
        # device (fast random init) and moved to the CPU first for the offload modes.
        started = time.perf_counter()
        pipe = build_pipeline(args.tiny, device, dtype)
        build_s = time.perf_counter() - started
        if "device" not in report:
            report.update(_machine_facts(pipe, device), build_s=build_s)
            print(f"{report['device']}: random DaS with {report['parameters_billions']} B parameters, {report['size']}, built in {build_s:.1f} s")
        if mode != "none":
            pipe.to("cpu")
            free_memory()
        steps = args.sequential_steps if mode == "sequential" else args.steps
        figures = run_mode(pipe, mode, steps, device)
        report["modes"][mode] = figures
        estimate = "≈" if figures["video_extrapolated"] else ""
        peak = "n/a" if figures["peak_gib"] is None else f"{figures['peak_gib']:.1f} GiB"
        print(
            f"  {mode:10s} {figures['s_per_step']:7.2f} s/step   {estimate}{figures['s_per_video']:8.1f} s/video "
            f"({VIDEO_STEPS} steps)   decode {figures['s_decode']:5.1f} s   peak {peak}",
            flush=True,
        )
        del pipe
        free_memory()
    if args.json:
        args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
