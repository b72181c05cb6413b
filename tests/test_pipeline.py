"""DiffusionAsShaderPipeline on the tiny offline checkpoint, and checkpoint validation.

The tiny checkpoint (conftest ``tiny_checkpoint``, written by ``core.tiny``) has the real
folder layout and native size 9 frames of 64×96; two denoising steps keep each call well
under a second while still running the DPM multistep path (its second step uses the first
step's x0 estimate).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import CogVideoXDPMScheduler, CogVideoXTransformer3DModel

from core.checkpoints import TINY_MARKER_FILE, check_das_checkpoint, is_tiny_checkpoint
from core.defaults import NEGATIVE_PROMPT
from core.errors import CheckpointError
from core.pipeline import DiffusionAsShaderPipeline, DiffusionAsShaderPipelineOutput
from core.tiny import write_tiny_checkpoint
from core.transformer import CogVideoXTransformer3DModelTracking

FRAMES, HEIGHT, WIDTH = 9, 64, 96  # the tiny checkpoint's native size
LATENT_FRAMES, LATENT_CHANNELS = 3, 16
STEPS = 2
PROMPT = "a red ball rolls across the table"
SEED = 42


@pytest.fixture(scope="module")
def pipe(tiny_checkpoint: Path) -> DiffusionAsShaderPipeline:
    pipeline = DiffusionAsShaderPipeline.from_pretrained(tiny_checkpoint)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def first_frame() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)


def tracking_video(offset: int = 0) -> np.ndarray:
    """A coloured square moving right by 4 px per frame on black (SPEC §5 style)."""
    video = np.zeros((FRAMES, HEIGHT, WIDTH, 3), dtype=np.uint8)
    for t in range(FRAMES):
        left = 8 + offset + 4 * t
        video[t, 20:36, left : left + 16] = (200, 90, 30)
    return video


def generate(pipe, **overrides) -> DiffusionAsShaderPipelineOutput:
    arguments = dict(
        image=first_frame(),
        prompt=PROMPT,
        tracking_video=tracking_video(),
        num_inference_steps=STEPS,
        generator=torch.Generator().manual_seed(SEED),
    )
    arguments.update(overrides)
    return pipe(**arguments)


def test_loads_the_tiny_checkpoint_through_the_real_code_path(pipe, tiny_checkpoint):
    assert isinstance(pipe.transformer, CogVideoXTransformer3DModelTracking)
    assert isinstance(pipe.scheduler, CogVideoXDPMScheduler)
    assert pipe.scheduler.config.timestep_spacing == "trailing"
    assert pipe.native_size == (FRAMES, HEIGHT, WIDTH)
    assert pipe.vae_scale_factor_spatial == 8 and pipe.vae_scale_factor_temporal == 4
    assert pipe.transformer.config.in_channels == 2 * LATENT_CHANNELS
    assert pipe.transformer.config.num_tracking_blocks < pipe.transformer.config.num_layers
    assert any(linear.weight.abs().sum() > 0 for linear in pipe.transformer.combine_linears)
    assert (tiny_checkpoint / "tokenizer" / "spiece.model").is_file()  # the real T5 tokenizer layout
    assert is_tiny_checkpoint(tiny_checkpoint)
    assert json.loads((tiny_checkpoint / "model_index.json").read_text())["_das_tiny_test_model"] is True


def test_same_seed_same_video_and_tracking_changes_it(pipe):
    first = generate(pipe)
    again = generate(pipe)
    other_tracking = generate(pipe, tracking_video=tracking_video(offset=24))

    assert first.frames.shape == (1, FRAMES, HEIGHT, WIDTH, 3) and first.frames.dtype == np.float32
    assert 0.0 <= first.frames.min() and first.frames.max() <= 1.0 and first.frames.std() > 0.01
    assert not first.interrupted
    np.testing.assert_array_equal(again.frames, first.frames)
    assert np.abs(other_tracking.frames - first.frames).max() > 1e-3


class EncodeSpy:
    """Records the pixel tensors handed to ``vae.encode``."""

    def __init__(self, vae):
        self.vae, self.original, self.inputs = vae, vae.encode, []

    def __enter__(self):
        def spy(pixels, *args, **kwargs):
            self.inputs.append(pixels.detach().clone())
            return self.original(pixels, *args, **kwargs)

        self.vae.encode = spy
        return self

    def __exit__(self, *exc):
        del self.vae.encode  # back to the class method

    def tracking_video_input(self) -> torch.Tensor:
        (video,) = [pixels for pixels in self.inputs if pixels.shape[2] == FRAMES]  # (B, 3, T, H, W)
        return video


@pytest.mark.parametrize("legacy", [False, True])
def test_tracking_video_reaches_the_vae_in_the_training_range(pipe, legacy):
    with EncodeSpy(pipe.vae) as spy:
        generate(pipe, legacy_tracking_range=legacy, output_type="latent")
    video = spy.tracking_video_input()
    assert video.shape == (1, 3, FRAMES, HEIGHT, WIDTH)
    black, square = video[0, :, 0, 0, 0], video[0, :, 0, 28, 16]  # a background pixel, a square pixel
    if legacy:  # DaS web UI: [0, 1]
        torch.testing.assert_close(black, torch.zeros(3))
        torch.testing.assert_close(square, torch.tensor([200, 90, 30]) / 255.0)
    else:  # DaS training / SPEC: [-1, 1]
        assert video.min() < -0.9
        torch.testing.assert_close(black, -torch.ones(3))
        torch.testing.assert_close(square, torch.tensor([200, 90, 30]) / 127.5 - 1.0)
    # The tracking *image* (first frame) is always encoded like the main image: [-1, 1].
    tracking_image = spy.inputs[1]  # order: image, tracking image, tracking video
    assert tracking_image.shape == (1, 3, 1, HEIGHT, WIDTH)
    torch.testing.assert_close(tracking_image[0, :, 0, 0, 0], -torch.ones(3))


def test_cancellation_stops_within_one_step(pipe):
    calls = []
    handle = pipe.transformer.register_forward_hook(lambda *args: calls.append(1))

    def stop_after_first_step(pipeline, step, timestep, tensors):
        pipeline._interrupt = True
        return tensors

    try:
        result = generate(pipe, num_inference_steps=4, callback_on_step_end=stop_after_first_step)
    finally:
        handle.remove()
    assert len(calls) == 1
    assert result.interrupted and result.frames is None
    assert pipe.interrupt


def test_cached_tracking_latents_equal_the_tracking_video_path(pipe):
    video = tracking_video()
    direct = generate(pipe, tracking_video=video, output_type="latent")
    latents = pipe.encode_tracking_video(video, generator=torch.Generator().manual_seed(SEED))
    assert latents.shape == (1, LATENT_FRAMES, LATENT_CHANNELS, HEIGHT // 8, WIDTH // 8)
    cached = generate(
        pipe, tracking_video=None, tracking_latents=latents, tracking_image=video[0], output_type="latent"
    )
    torch.testing.assert_close(cached.frames, direct.frames, rtol=0, atol=0)
    # …and the encoding really is a posterior sample drawn from that generator.
    resampled = pipe.encode_tracking_video(video, generator=torch.Generator().manual_seed(SEED + 1))
    assert (resampled - latents).abs().max() > 0
    # Another seed changes the initial noise (cheap to check here on latents).
    other_seed = generate(pipe, output_type="latent", generator=torch.Generator().manual_seed(SEED + 1))
    assert (other_seed.frames - direct.frames).abs().max() > 1e-3


def test_vae_tiling_and_slicing_change_nothing_at_the_tiny_size(pipe):
    """The engine turns tiling and slicing on (SPEC §10); the tiny model must still work."""
    video = tracking_video()
    latents = pipe.encode_tracking_video(video, generator=torch.Generator().manual_seed(SEED))
    with torch.no_grad():
        decoded = pipe.decode_latents(latents)
    pipe.vae.enable_tiling()
    pipe.vae.enable_slicing()
    try:
        tiled = pipe.encode_tracking_video(video, generator=torch.Generator().manual_seed(SEED))
        torch.testing.assert_close(tiled, latents, rtol=0, atol=0)
        with torch.no_grad():
            torch.testing.assert_close(pipe.decode_latents(tiled), decoded, rtol=0, atol=0)
    finally:
        pipe.vae.disable_tiling()
        pipe.vae.disable_slicing()


def test_default_negative_prompt_and_cfg_batch(pipe):
    seen = []
    handle = pipe.transformer.register_forward_hook(
        lambda module, args, kwargs, output: seen.append(kwargs["tracking_maps"].shape), with_kwargs=True
    )
    try:
        generate(pipe, num_inference_steps=1, output_type="latent")
        generate(pipe, num_inference_steps=1, output_type="latent", guidance_scale=1.0)
    finally:
        handle.remove()
    # CFG doubles the tracking stream too: (2, F, 2·C, h, w), then (1, …) without CFG.
    assert seen == [(2, LATENT_FRAMES, 2 * LATENT_CHANNELS, 8, 12), (1, LATENT_FRAMES, 2 * LATENT_CHANNELS, 8, 12)]
    assert "Watermark present in each frame" in NEGATIVE_PROMPT


def test_public_conditioning_helpers_give_what_generation_feeds_the_transformer(pipe):
    """The trainer conditions with these helpers; they must equal what a generation uses."""
    seen = {}
    handle = pipe.transformer.register_forward_hook(
        lambda module, args, kwargs, output: seen.update(kwargs), with_kwargs=True
    )
    try:
        generate(pipe, num_inference_steps=1, output_type="latent", guidance_scale=1.0)
    finally:
        handle.remove()
    text = pipe.encode_prompt_embeddings([PROMPT])
    assert text.shape == (1, pipe.transformer.config.max_text_seq_length, pipe.text_encoder.config.d_model)
    torch.testing.assert_close(text, seen["encoder_hidden_states"], rtol=0, atol=0)
    cos, sin = pipe.rotary_embeddings(HEIGHT, WIDTH, LATENT_FRAMES)
    # One row per transformer token (3 latent frames × 8 × 12 latent px / 2×2 patches) per head channel.
    assert cos.shape == sin.shape == (LATENT_FRAMES * 8 * 12 // 4, pipe.transformer.config.attention_head_dim)
    torch.testing.assert_close(cos, seen["image_rotary_emb"][0], rtol=0, atol=0)
    torch.testing.assert_close(sin, seen["image_rotary_emb"][1], rtol=0, atol=0)
    # Checkpoints with absolute position embeddings have no rotary ones.
    pipe.transformer.register_to_config(use_rotary_positional_embeddings=False)
    try:
        assert pipe.rotary_embeddings(HEIGHT, WIDTH, LATENT_FRAMES) is None
    finally:
        pipe.transformer.register_to_config(use_rotary_positional_embeddings=True)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(height=72), "multiples of 16"),
        (dict(num_frames=8), "1 \\+ a multiple of 4"),
        (dict(height=96, width=64), "native size"),
        (dict(tracking_video=tracking_video()[:5]), "9 frames of 64×96"),
        (dict(tracking_video=None), "exactly one of tracking_video or tracking_latents"),
        (dict(tracking_video=tracking_video().astype(np.float32)), "\\[0, 1\\]"),
        (dict(max_sequence_length=32), "226 tokens"),
        (
            dict(
                tracking_video=None,
                tracking_latents=torch.zeros(3, LATENT_FRAMES, LATENT_CHANNELS, 8, 12),
                tracking_image=first_frame(),
                num_videos_per_prompt=2,
            ),
            "batch of 3; it must be 1 .* or 2",
        ),
    ],
)
def test_bad_inputs_raise_clear_value_errors(pipe, overrides, message):
    with pytest.raises(ValueError, match=message):
        generate(pipe, **overrides)


def test_missing_checkpoint_folder_raises_checkpoint_error(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(CheckpointError) as error:
        DiffusionAsShaderPipeline.from_pretrained(missing)
    message = str(error.value)
    assert str(missing) in message
    assert "python -m core.download" in message and "hf download EXCAI/Diffusion-As-Shader" in message
    assert "python -m core.tiny" in message


def test_incomplete_checkpoint_names_every_missing_part(tiny_checkpoint, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_checkpoint, broken)
    shutil.rmtree(broken / "vae")
    (broken / "tokenizer" / "spiece.model").unlink()
    (broken / "text_encoder" / "model.safetensors").write_text("version https://git-lfs.github.com/spec/v1\n")
    with pytest.raises(CheckpointError) as error:
        DiffusionAsShaderPipeline.from_pretrained(broken)
    message = str(error.value)
    assert "vae/ (the whole folder is missing)" in message
    assert "tokenizer/spiece.model or tokenizer.json" in message
    assert re.search(r"text_encoder/model.safetensors is a Git LFS pointer", message)
    assert "transformer" not in message and "scheduler" not in message
    assert "python -m core.download" in message


def test_plain_cogvideox_checkpoint_is_rejected(tiny_checkpoint, tmp_path):
    plain = tmp_path / "plain"
    shutil.copytree(tiny_checkpoint, plain)
    config = CogVideoXTransformer3DModel.load_config(plain / "transformer")
    config.pop("num_tracking_blocks")
    shutil.rmtree(plain / "transformer")
    CogVideoXTransformer3DModel.from_config(config).save_pretrained(plain / "transformer")
    with pytest.raises(CheckpointError, match="not Diffusion-as-Shader"):
        DiffusionAsShaderPipeline.from_pretrained(plain)
    check_das_checkpoint(tiny_checkpoint)  # the complete one passes


def test_config_without_num_tracking_blocks_reads_the_count_from_the_weights(checkpoint_without_block_count):
    """In case the published config lacks the field: the weights say how many blocks there are."""
    copy, expected = checkpoint_without_block_count
    loaded = DiffusionAsShaderPipeline.from_pretrained(copy)
    assert loaded.transformer.config.num_tracking_blocks == expected


def test_tiny_checkpoint_is_seeded_and_marked(tmp_path):
    first = write_tiny_checkpoint(tmp_path / "a", seed=3)
    second = write_tiny_checkpoint(tmp_path / "b", seed=3)
    for weights in ("transformer/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.safetensors"):
        assert (first / weights).read_bytes() == (second / weights).read_bytes()
    assert (first / TINY_MARKER_FILE).is_file()
    assert not is_tiny_checkpoint(tmp_path)


def test_model_doc_example_runs(tmp_path, monkeypatch):
    """The five-line example of docs/MODEL.md (it goes into the README) must run as written."""
    doc = (Path(__file__).resolve().parent.parent / "docs" / "MODEL.md").read_text(encoding="utf-8")
    example = re.search(r"```python\n(.*?)```", doc, re.S).group(1)
    assert len(example.strip().splitlines()) == 5
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(example, "docs/MODEL.md", "exec"), namespace)
    assert namespace["video"].shape == (FRAMES, HEIGHT, WIDTH, 3)


def test_uncached_hub_id_offline_raises_checkpoint_error():
    with pytest.raises(CheckpointError, match="neither a local folder nor a Hugging Face Hub model"):
        DiffusionAsShaderPipeline.from_pretrained("nobody-here/not-a-das-model", local_files_only=True)


def test_a_checkpoint_in_the_hub_cache_loads_offline(tiny_checkpoint, tmp_path, monkeypatch):
    """A Hub id whose snapshot is in the local cache (real layout: refs/main → snapshots/<hash>)
    loads with downloads forbidden."""
    repo = tmp_path / "hub" / "models--someone--tiny-das"
    commit = "0123456789abcdef0123456789abcdef01234567"
    shutil.copytree(tiny_checkpoint, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    loaded = DiffusionAsShaderPipeline.from_pretrained("someone/tiny-das", local_files_only=True)
    assert loaded.native_size == (FRAMES, HEIGHT, WIDTH)
