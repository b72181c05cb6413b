"""Quantisation, step caching and attention backends on the tiny DaS model (CPU, float32)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers.models.embeddings import get_3d_rotary_pos_embed
from PIL import Image

from core.acceleration import AccelerationError
from core.acceleration.attention import AttentionBackendError, DispatchingCogVideoXAttnProcessor, set_attention_backend
from core.acceleration.quantize import QuantizationError, check_quantize_mode, parameter_bytes, parameter_memory, quantize_module
from core.acceleration.step_cache import StepCacheConfig, apply_step_cache, remove_step_cache
from core.engine import EngineConfig, EngineConfigError, configure_pipeline
from core.pipeline import DiffusionAsShaderPipeline
from core.tiny import _tiny_transformer

INT8_RELATIVE_TOLERANCE = 0.02
"""Largest |int8 − fp32| output difference, relative to the fp32 output's largest magnitude.

Per-row absmax int8 rounds every weight by at most half a step, 0.5/127 ≈ 0.4 % of its row's
largest weight; through the tiny model's three blocks (2 main + 1 tracking) and the output head
these errors add up to ~1 % (0.8 % measured); 2 % leaves room for seeds without hiding a
broken quantisation (a wrong scale or layout gives errors of order 100 %)."""

CACHE_STEPS = 6
LOOSE_THRESHOLD = 0.5
LOOSE_CACHE_RELATIVE_DIFFERENCE = 0.05
"""Bound on ‖cached − uncached‖ / ‖uncached‖ of the final latents at :data:`LOOSE_THRESHOLD`
(a deliberately loose setting: ≈ 1–2 % measured on the tiny model)."""

BATCH, LATENT_FRAMES, CHANNELS, LATENT_HEIGHT, LATENT_WIDTH, TEXT_TOKENS, TEXT_DIM = 2, 3, 32, 8, 12, 226, 16


@pytest.fixture(scope="module")
def transformer_inputs() -> dict:
    generator = torch.Generator().manual_seed(0)
    shape = (BATCH, LATENT_FRAMES, CHANNELS, LATENT_HEIGHT, LATENT_WIDTH)
    grid = (LATENT_HEIGHT // 2, LATENT_WIDTH // 2)
    return {
        "hidden_states": torch.randn(shape, generator=generator),
        "encoder_hidden_states": torch.randn(BATCH, TEXT_TOKENS, TEXT_DIM, generator=generator),
        "timestep": torch.tensor([500, 500]),
        "image_rotary_emb": get_3d_rotary_pos_embed(16, ((0, 0), grid), grid, LATENT_FRAMES),
        "tracking_maps": torch.randn(shape, generator=generator),
        "return_dict": False,
    }


@torch.no_grad()
def predict(model, inputs: dict) -> torch.Tensor:
    with model.cache_context("cond_uncond"):
        return model(**inputs)[0]


# --------------------------------------------------------------------------------------------
# Quantisation
# --------------------------------------------------------------------------------------------


def test_int8_output_stays_close_to_fp32_and_weight_memory_drops_as_computed(transformer_inputs):
    from torchao.quantization import Int8Tensor

    reference_model = _tiny_transformer(3).eval()
    reference = predict(reference_model, transformer_inputs)
    model = _tiny_transformer(3).eval()
    counts = parameter_memory(model)
    assert parameter_bytes(model) == counts.bytes("none", dtype_bytes=4)

    quantize_module(model, "int8")
    quantized = predict(model, transformer_inputs)

    # Both streams are quantised: main, tracking and combine layers.
    for linear in (model.transformer_blocks[1].ff.net[2], model.transformer_blocks_copy[0].attn1.to_q, model.combine_linears[0]):
        assert isinstance(linear.weight, Int8Tensor)
    difference = (quantized - reference).abs().max() / reference.abs().max()
    assert 0 < difference < INT8_RELATIVE_TOLERANCE
    # Linear weights go from 4 bytes to 1 (+ a scale and a zero point per row); nothing else changes.
    assert parameter_bytes(model) == counts.bytes("int8", dtype_bytes=4)
    assert parameter_bytes(model) < 0.4 * parameter_bytes(reference_model)


def test_fp8_weight_memory_matches_the_computed_figure():
    model = _tiny_transformer(3).to(torch.bfloat16)
    counts = parameter_memory(model)
    assert parameter_bytes(model) == counts.bytes("none")
    quantize_module(model, "fp8")  # storage only: fp8 *compute* is refused off CUDA (below)
    assert parameter_bytes(model) == counts.bytes("fp8")


def test_modes_are_checked_before_anything_runs():
    with pytest.raises(QuantizationError, match="int8"):
        check_quantize_mode("int4")
    with pytest.raises(QuantizationError, match="Use --quantize int8"):
        check_quantize_mode("fp8", "cpu")
    with pytest.raises(EngineConfigError, match="quantize must be one of"):
        EngineConfig(quantize="int4")
    with pytest.raises(EngineConfigError, match="offload none or model"):
        EngineConfig(quantize="int8", offload="group")
    with pytest.raises(EngineConfigError, match="threshold"):
        EngineConfig(step_cache_threshold=-0.1)
    assert issubclass(AccelerationError, ValueError)


# --------------------------------------------------------------------------------------------
# Attention backend
# --------------------------------------------------------------------------------------------


def test_native_dispatcher_backend_equals_the_default_processor(transformer_inputs):
    model = _tiny_transformer(3).eval()
    reference = predict(model, transformer_inputs)
    set_attention_backend(model, "native")
    processors = model.attn_processors
    assert len(processors) == 3 and all(isinstance(p, DispatchingCogVideoXAttnProcessor) for p in processors.values())
    torch.testing.assert_close(predict(model, transformer_inputs), reference, rtol=0, atol=1e-6)


def test_unknown_or_missing_attention_backends_are_refused():
    model = _tiny_transformer(3)
    with pytest.raises(AttentionBackendError, match="unknown attention backend 'fast'"):
        set_attention_backend(model, "fast")
    with pytest.raises(AttentionBackendError, match="cannot run here"):
        set_attention_backend(model, "sage")  # sageattention is not installed here


# --------------------------------------------------------------------------------------------
# Step cache (transformer level: a synthetic slowly-changing trajectory)
# --------------------------------------------------------------------------------------------


def trajectory(inputs: dict, steps: int) -> list[dict]:
    """``steps`` calls with falling timesteps and slowly drifting latents, like a sampler's."""
    generator = torch.Generator().manual_seed(1)
    drift = torch.randn(inputs["hidden_states"].shape, generator=generator)
    timesteps = torch.linspace(999, 1, steps).round().long()
    return [
        {**inputs, "hidden_states": inputs["hidden_states"] + 0.01 * index * drift, "timestep": timesteps[index].repeat(BATCH)}
        for index in range(steps)
    ]


def test_step_cache_with_zero_threshold_is_bit_identical_and_removable(transformer_inputs):
    model = _tiny_transformer(3).eval()
    calls = trajectory(transformer_inputs, 5)
    reference = [predict(model, call) for call in calls]
    state = apply_step_cache(model, StepCacheConfig(threshold=0.0))
    cached = [predict(model, call) for call in calls]
    assert (state.computed_calls, state.skipped_calls) == (5, 0)
    assert all(torch.equal(a, b) for a, b in zip(cached, reference))
    remove_step_cache(model)
    assert torch.equal(predict(model, calls[2]), reference[2])
    assert not hasattr(model.transformer_blocks[0], "_das_step_cache_state")


def test_step_cache_skips_reuse_the_residual_including_the_tracking_stream(transformer_inputs):
    model = _tiny_transformer(3).eval()
    calls = trajectory(transformer_inputs, 6)
    reference = [predict(model, call) for call in calls]
    state = apply_step_cache(model, StepCacheConfig(threshold=1.0))
    cached = [predict(model, call) for call in calls]
    assert state.skipped_calls >= 3 and state.skipped_per_generation == [state.skipped_calls]
    assert torch.equal(cached[0], reference[0])  # the first call of a generation is always computed
    worst = max(((a - b).norm() / b.norm()).item() for a, b in zip(cached, reference))
    assert 0 < worst < 0.1
    # A rising timestep starts a new generation: the same schedule skips the same calls again.
    assert [torch.equal(a, b) for a, b in zip([predict(model, call) for call in calls], cached)] == [True] * len(calls)
    assert state.skipped_per_generation == [state.skipped_calls // 2] * 2
    # Another tracking input changes the output on computed and skipped calls alike.
    other_tracking = [{**call, "tracking_maps": -call["tracking_maps"]} for call in calls]
    changed = [predict(model, call) for call in other_tracking]
    assert all((a - b).abs().max() > 1e-2 for a, b in zip(changed, cached))


# --------------------------------------------------------------------------------------------
# Through the engine's configure_pipeline and the real sampler (tiny checkpoint)
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_pipe(tiny_checkpoint):
    pipe = DiffusionAsShaderPipeline.from_pretrained(tiny_checkpoint)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def sample_latents(pipe, tracking_offset: int = 0) -> torch.Tensor:
    num_frames, height, width = pipe.native_size
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8))
    tracking = np.roll(rng.integers(0, 255, (num_frames, height, width, 3), dtype=np.uint8), tracking_offset, axis=2)
    return pipe(
        image=image,
        prompt="a red car",
        tracking_video=tracking,
        num_inference_steps=CACHE_STEPS,
        generator=torch.Generator().manual_seed(42),
        output_type="latent",
    ).frames


def test_engine_options_reach_the_pipeline_and_the_sampler_skips_steps(tiny_pipe):
    reference = sample_latents(tiny_pipe)

    configure_pipeline(tiny_pipe, EngineConfig(step_cache_threshold=0.0, attention_backend="native"), "cpu")
    state = tiny_pipe.transformer._das_step_cache_state
    assert torch.equal(sample_latents(tiny_pipe), reference)  # "skip none" + native backend: identical
    assert (state.computed_calls, state.skipped_calls) == (CACHE_STEPS, 0)
    remove_step_cache(tiny_pipe.transformer)

    state = apply_step_cache(tiny_pipe.transformer, StepCacheConfig(threshold=LOOSE_THRESHOLD))
    cached = sample_latents(tiny_pipe)
    skipped = state.skipped_per_generation[-1]
    assert 1 <= skipped < CACHE_STEPS
    assert 0 < ((cached - reference).norm() / reference.norm()).item() < LOOSE_CACHE_RELATIVE_DIFFERENCE
    other_tracking = sample_latents(tiny_pipe, tracking_offset=7)
    assert ((other_tracking - cached).norm() / cached.norm()).item() > 1e-2
    remove_step_cache(tiny_pipe.transformer)

    with pytest.raises(EngineConfigError, match="Use --quantize int8"):
        configure_pipeline(tiny_pipe, EngineConfig(quantize="fp8"), "cpu")
    configure_pipeline(tiny_pipe, EngineConfig(quantize="int8"), "cpu")
    from torchao.quantization import Int8Tensor

    assert isinstance(tiny_pipe.text_encoder.encoder.block[0].layer[0].SelfAttention.q.weight, Int8Tensor)
    assert isinstance(tiny_pipe.transformer.transformer_blocks_copy[0].ff.net[2].weight, Int8Tensor)
    quantized = sample_latents(tiny_pipe)
    assert 0 < ((quantized - reference).norm() / reference.norm()).item() < INT8_RELATIVE_TOLERANCE


def test_cli_flags_become_engine_config_fields():
    from core.cli import _engine_config, build_parser

    args = build_parser().parse_args(["status", "--quantize", "int8", "--step-cache", "0.2", "--attention-backend", "native"])
    config = _engine_config(args)
    assert (config.quantize, config.step_cache_threshold, config.attention_backend) == ("int8", 0.2, "native")
    defaults = _engine_config(build_parser().parse_args(["status"]))
    assert (defaults.quantize, defaults.step_cache_threshold, defaults.attention_backend) == ("none", None, None)


# --------------------------------------------------------------------------------------------
# bench/gpu.py: the computed memory table and the --all report format
# --------------------------------------------------------------------------------------------


def load_gpu_bench():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "bench" / "gpu.py"
    spec = importlib.util.spec_from_file_location("bench_gpu", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_memory_table_is_computed_from_the_full_size_configs():
    table = load_gpu_bench().memory_table()
    # CogVideoX-5B's transformer has 5.57 B parameters; 18 tracking blocks of 0.13 B and 19
    # combine layers of 3072² + 3072 add 2.55 B.
    assert "| transformer (42 main + 18 tracking blocks) | 8.13 B | 15.14 | 7.59 | 7.59 |" in table
    assert "| none | 24.4 GiB | no | no | yes | yes | 15.1 GiB | tight | yes | yes | yes |" in table
    assert "| int8 | 12.5 GiB | tight | yes | yes | yes | 7.6 GiB | yes | yes | yes | yes |" in table


def test_all_report_renders_measured_skipped_and_cached_runs():
    bench = load_gpu_bench()
    run = {"s_per_step": 5.0, "s_first_step_end": 30.0, "s_before_first_step": 25.0, "s_decode": 12.0, "s_per_video": 287.0, "peak_gib": 40.0}
    report = {
        "dtype": "bfloat16",
        "steps_per_run": 4,
        "device": "NVIDIA H200",
        "size": "49×480×720",
        "runs": [
            {"label": "baseline: no offload", "settings": {}, **run},
            {"label": "fp8 weights", "settings": {"quantize": "fp8"}, "skipped": "fp8 needs a CUDA GPU"},
            {"label": "step cache 0.2", "settings": {"step_cache_threshold": 0.2}, **run, "s_decode": None, "skipped_calls": 1, "transformer_calls": 4},
        ],
    }
    table = bench.markdown_table(report)
    assert "| baseline: no offload | 5.00 | 30.0 | 25.0 | 12.00 | 287 | 40.0 GiB |  |" in table
    assert "| fp8 weights | – | – | – | – | – | – | fp8 needs a CUDA GPU |" in table
    assert "1 of 4 transformer calls skipped (random weights)" in table
    assert "**extrapolated**" in table and "NVIDIA H200" in table
