"""One of the processes that ``tests/test_parallel.py`` starts as a group (not a test module).

``python tests/parallel_worker.py transformer OUT.pt``: the tiny transformer's prediction with
its tokens split over the group, with and without the step cache, and with other tracking maps.
``python tests/parallel_worker.py engine CHECKPOINT OUT.npz``: the Python API (leader: engine
calls; followers: :func:`core.acceleration.parallel.follow`), including a cancelled generation.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.acceleration import parallel  # noqa: E402
from core.acceleration.step_cache import StepCacheConfig, apply_step_cache  # noqa: E402
from core.tiny import _tiny_transformer  # noqa: E402

STEP_CACHE_THRESHOLD = 0.1
STEP_TIMESTEPS = (900, 800, 700, 600, 500, 400)
GENERATION_STEPS = 3
GENERATION_SEED = 11
CANCEL_AFTER_STEPS = 1


UNEVEN_LATENT_SIZE = (10, 6)
"""Latent height and width giving 3 × 5 × 3 = 45 video tokens: 2 processes would get 23 and 22."""


def transformer_inputs(tracking_seed: int = 1) -> dict:
    from diffusers.models.embeddings import get_3d_rotary_pos_embed

    generator = torch.Generator().manual_seed(0)
    shape, grid = (2, 3, 32, 8, 12), (4, 6)
    inputs = {
        "hidden_states": torch.randn(shape, generator=generator),
        "encoder_hidden_states": torch.randn(2, 226, 16, generator=generator),
        "timestep": torch.tensor([500, 500]),
        "image_rotary_emb": get_3d_rotary_pos_embed(16, ((0, 0), grid), grid, 3),
        "return_dict": False,
    }
    inputs["tracking_maps"] = torch.randn(shape, generator=torch.Generator().manual_seed(tracking_seed))
    return inputs


def int8_model():
    """The tiny DaS transformer with int8 weights (torchao), as ``--quantize int8`` makes it."""
    from core.acceleration.quantize import quantize_module

    model = tiny_model()
    quantize_module(model, "int8")
    return model


def tiny_model(step_cache: bool = False, uneven: bool = False):
    """The tiny DaS transformer (seed 0), with the step cache hooks when asked; ``uneven``: at
    :data:`UNEVEN_LATENT_SIZE`, whose video tokens do not split evenly over 2 processes."""
    model = _tiny_transformer(0).eval()
    if uneven:
        from core.transformer import CogVideoXTransformer3DModelTracking

        height, width = UNEVEN_LATENT_SIZE
        resized = CogVideoXTransformer3DModelTracking(**{**model.config, "sample_height": height, "sample_width": width})
        # Same weights; only the learned position embedding's table has the new length.
        state = {key: value for key, value in model.state_dict().items() if "pos_embedding" not in key}
        resized.load_state_dict(state, strict=False)
        model = resized.eval()
    if step_cache:
        apply_step_cache(model, StepCacheConfig(threshold=STEP_CACHE_THRESHOLD))
    return model


@torch.no_grad()
def cached_steps(model) -> tuple[torch.Tensor, list[int]]:
    """Six "sampling steps" of a model with the step cache; the last prediction and the skips."""
    inputs = transformer_inputs()
    prediction = None
    for timestep in STEP_TIMESTEPS:
        with model.cache_context("cond_uncond"):
            prediction = model(**{**inputs, "timestep": torch.tensor([timestep, timestep])})[0]
        inputs["hidden_states"] = inputs["hidden_states"] - 0.05 * torch.cat([prediction, prediction], dim=2)
    return prediction, list(model._das_step_cache_state.skipped_per_generation)


@torch.no_grad()
def run_transformer(out: Path, processes: int) -> int:
    group = parallel.join(processes, "cpu")
    model = tiny_model()
    parallel.enable_context_parallel(model, group)
    prediction = model(**transformer_inputs())[0]
    other_tracking = model(**transformer_inputs(tracking_seed=2))[0]
    try:
        parallel.enable_context_parallel(tiny_model(uneven=True), group)
        uneven = "split"
    except parallel.ParallelError as error:
        uneven = str(error)
    quantized_model = int8_model()
    parallel.enable_context_parallel(quantized_model, group)
    quantized = quantized_model(**transformer_inputs())[0]
    # The cache first, then the split hooks, as configure_pipeline does: each process's
    # step cache sees its share of the tokens and decides on the group's sums.
    cached_model = tiny_model(step_cache=True)
    parallel.enable_context_parallel(cached_model, group)
    cached, skips = cached_steps(cached_model)
    failure = one_sided_failure(group)
    results = [None] * processes
    torch.distributed.all_gather_object(
        results, {"prediction": prediction, "other_tracking": other_tracking, "uneven": uneven, "int8": quantized,
                  "cached": cached, "skips": skips, "failure": failure}
    )
    if group.is_leader:
        torch.save(results, out)
    torch.distributed.destroy_process_group()
    return 0


def one_sided_failure(group) -> str:
    """What each process sees when only the last one fails inside :func:`parallel.together`."""
    try:
        with parallel.together(group, "a test step"):
            if group.rank == group.world_size - 1:
                raise RuntimeError("failed here")
    except parallel.ParallelError as error:
        return str(error)
    except RuntimeError as error:
        return f"own error: {error}"
    return "no error"


def run_engine(checkpoint: str, out: Path, processes: int) -> int:
    from core.engine import Engine, EngineConfig, GenerationSettings
    from core.progress import Cancelled

    config = EngineConfig(checkpoint=checkpoint, device="cpu", output_dir=out.parent / "results", parallel=processes)

    def lead() -> int:
        engine = Engine(config)
        num_frames, height, width = engine.native_size()
        rng = np.random.default_rng(0)
        first_frame = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
        tracking = rng.integers(0, 255, (num_frames, height, width, 3), dtype=np.uint8)
        settings = GenerationSettings(num_inference_steps=GENERATION_STEPS, seed=GENERATION_SEED)
        first = engine.generate(first_frame, tracking, "a red car", settings)
        steps_done = []

        def progress(fraction: float, message: str) -> None:
            if message.startswith("denoising step"):
                steps_done.append(message)

        def cancel_after_first_step() -> bool:
            return len(steps_done) >= CANCEL_AFTER_STEPS

        cancelled = False
        try:  # cancelled during denoising: every process must stop after the same step
            engine.generate(first_frame, tracking, "a red car", settings, progress=progress, cancel=cancel_after_first_step)
        except Cancelled:
            cancelled = True
        again = engine.generate(first_frame, tracking, "a red car", settings)
        engine.unload()
        reloaded = engine.generate(first_frame, tracking, "a red car", settings)
        np.savez(out, first=first.frames, again=again.frames, reloaded=reloaded.frames, cancelled=cancelled,
                 steps_before_cancel=len(steps_done),
                 first_frame=first_frame, tracking=tracking, load_count=engine.load_count)
        return 0

    return parallel.run_as_group(processes, "cpu", lead=lead, make_engine=lambda: Engine(config))


def main(argv: list[str]) -> int:
    mode = argv[0]
    processes = parallel.launched_world_size()
    if mode == "transformer":
        return run_transformer(Path(argv[1]), processes)
    return run_engine(argv[1], Path(argv[2]), processes)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
