"""Fine-tuning the tracking branch (core/train.py, core/training/) on the CPU with tiny models.

Two starting points are covered: the tiny DaS checkpoint (already has a tracking branch) and a
"base" folder with a plain ``CogVideoXTransformer3DModel`` (the branch is built with
``from_base``), made here from the tiny checkpoint's frozen components. Datasets are one or two
synthetic moving-texture clips prepared with core.dataset at the tiny native size (9×64×96).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import CogVideoXDPMScheduler, CogVideoXTransformer3DModel
from safetensors.torch import load_file

from core import dataset as ds
from core.checkpoints import check_das_checkpoint
from core.media import write_video
from core.progress import Cancelled
from core.training import objective
from core.training.config import TrainConfig, TrainConfigError, parse_args
from core.training.data import SampleOrder
from core.training.models import FROZEN_COMPONENT_CLASSES, FROZEN_COMPONENTS, TRAINABLE_PREFIXES
from core.training.trainer import train

REPO_ROOT = Path(__file__).resolve().parent.parent
NUM_FRAMES, HEIGHT, WIDTH = 9, 64, 96  # the tiny checkpoint's native clip
OVERFIT_STEPS = 30
OVERFIT_TIMESTEP = 500
OVERFIT_LEARNING_RATE = 1e-2  # tiny widths: a big step size still converges
OVERFIT_RATIO = 0.5  # final loss must be below half the first one (observed: ~0.1)
BASE_HEADS = 4  # the synthetic base is wider than the tiny checkpoint (4 × 16 = 64 channels)
BASE_HEAD_DIM = 16
# A freshly initialised output head is too small to reach the velocity targets at all, so no
# amount of tracking-branch training could halve the loss; a trained head (as in CogVideoX) can.
# Scaling the random head up gives the test model that property.
BASE_OUTPUT_GAIN = 4.0


# --------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def fresh_accelerate_state():
    """Each in-process run builds its own Accelerator; accelerate keeps process-wide singletons."""
    from accelerate.state import AcceleratorState, GradientState

    yield
    AcceleratorState._reset_state(True)
    GradientState._reset_state()


def moving_texture(seed: int, num_frames: int = 14) -> np.ndarray:
    """``(T, 72, 112, 3)`` uint8: a blocky random texture sliding diagonally."""
    rng = np.random.default_rng(seed)
    texture = np.kron(rng.integers(0, 256, (20, 30, 3)).astype(np.uint8), np.ones((8, 8, 1), dtype=np.uint8))
    return np.stack([texture[t : t + 72, 2 * t : 2 * t + 112] for t in range(num_frames)])


def make_dataset(folder: Path, count: int) -> Path:
    """A dataset of ``count`` clips prepared with the real motion-transfer recipe."""
    sources = folder / "sources"
    sources.mkdir(parents=True)
    for index in range(count):
        write_video(moving_texture(index), sources / f"texture_{index}.mp4", fps=8.0)
    config = ds.PrepareConfig(num_frames=NUM_FRAMES, height=HEIGHT, width=WIDTH, grid_size=12)
    result = ds.prepare_dataset(sources, folder / "data", config=config)
    assert result.indexed == count
    return folder / "data"


@pytest.fixture(scope="module")
def one_sample(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("one"), 1)


@pytest.fixture(scope="module")
def wide_base(tiny_checkpoint: Path, tmp_path_factory) -> Path:
    """A CogVideoX-I2V-style base folder: plain transformer + the tiny checkpoint's other components."""
    base = tmp_path_factory.mktemp("base") / "cogvideox-base"
    for name in FROZEN_COMPONENTS:
        shutil.copytree(tiny_checkpoint / name, base / name)
    tiny_config = json.loads((tiny_checkpoint / "transformer" / "config.json").read_text())
    torch.manual_seed(0)
    transformer = CogVideoXTransformer3DModel(
        num_attention_heads=BASE_HEADS,
        attention_head_dim=BASE_HEAD_DIM,
        in_channels=tiny_config["in_channels"],
        out_channels=tiny_config["out_channels"],
        time_embed_dim=tiny_config["time_embed_dim"],
        text_embed_dim=tiny_config["text_embed_dim"],
        num_layers=2,
        sample_width=tiny_config["sample_width"],
        sample_height=tiny_config["sample_height"],
        sample_frames=tiny_config["sample_frames"],
        max_text_seq_length=tiny_config["max_text_seq_length"],
        use_rotary_positional_embeddings=True,
        use_learned_positional_embeddings=True,
    )
    with torch.no_grad():
        transformer.proj_out.weight.mul_(BASE_OUTPUT_GAIN)
    transformer.save_pretrained(base / "transformer")
    return base


def quick_config(**overrides) -> TrainConfig:
    """Settings for seconds-long CPU runs (no warm-up, constant lr, no checkpointing by default)."""
    settings = dict(
        max_train_steps=3,
        gradient_accumulation_steps=1,
        learning_rate=1e-3,
        lr_scheduler="constant",
        lr_warmup_steps=0,
        checkpointing_steps=0,
        gradient_checkpointing=False,
        mixed_precision="no",
    )
    settings.update(overrides)
    return TrainConfig(**settings)


def transformer_state(folder: Path) -> dict[str, torch.Tensor]:
    (weights,) = (folder / "transformer").glob("*.safetensors")
    return load_file(str(weights))


def read_log(output: Path) -> list[dict]:
    return [json.loads(line) for line in (output / "training" / "log.jsonl").read_text().splitlines()]


# --------------------------------------------------------------------------------------------
# The objective
# --------------------------------------------------------------------------------------------


def test_loss_is_the_velocity_error(tiny_checkpoint: Path) -> None:
    """With x̂0 = get_velocity(v̂, x_t, t) and weights 1/(1−ᾱ_t), the loss equals mean((v̂ − v)²)."""
    scheduler = CogVideoXDPMScheduler.from_pretrained(tiny_checkpoint, subfolder="scheduler")
    generator = torch.Generator().manual_seed(0)
    shape = (3, 3, 16, 4, 6)
    clean, noise, predicted = (torch.randn(shape, generator=generator) for _ in range(3))
    timesteps = torch.tensor([10, 500, 990])
    noisy = scheduler.add_noise(clean, noise, timesteps)
    loss = objective.diffusion_loss(predicted, noisy, clean, timesteps, scheduler)

    alphas = scheduler.alphas_cumprod[timesteps].float().view(-1, 1, 1, 1, 1)
    velocity = alphas.sqrt() * noise - (1 - alphas).sqrt() * clean
    assert torch.allclose(loss, ((predicted - velocity) ** 2).mean(), rtol=1e-4)
    x0_estimate = alphas.sqrt() * noisy - (1 - alphas).sqrt() * predicted
    weighted = ((x0_estimate - clean) ** 2 / (1 - alphas)).reshape(3, -1).mean(dim=1).mean()
    assert torch.allclose(loss, weighted, rtol=1e-5)
    # The true velocity is a perfect prediction.
    assert objective.diffusion_loss(velocity, noisy, clean, timesteps, scheduler) < 1e-8


def test_conditioning_layout(tiny_checkpoint: Path) -> None:
    scheduler = CogVideoXDPMScheduler.from_pretrained(tiny_checkpoint, subfolder="scheduler")
    batch, frames, channels, height, width = 4, 3, 16, 8, 12
    video = torch.randn(batch, frames, channels, height, width)
    first = torch.randn(batch, 1, channels, height, width)
    tracking = torch.randn(batch, frames, channels, height, width)
    tracking_first = torch.randn(batch, 1, channels, height, width)

    def build(dropout: float, seed: int = 0) -> objective.Conditioning:
        return objective.build_conditioning(
            video_latents=video,
            first_frame_latents=first,
            tracking_latents=tracking,
            tracking_first_frame_latents=tracking_first,
            scheduler=scheduler,
            generator=torch.Generator().manual_seed(seed),
            image_dropout=dropout,
            image_noise_sigma=torch.zeros(batch),
        )

    kept = build(0.0)
    assert kept.noisy_input.shape == kept.tracking_input.shape == (batch, frames, 2 * channels, height, width)
    assert torch.equal(kept.noisy_input[:, :, :channels], kept.noisy_latents)
    assert torch.equal(kept.noisy_input[:, :1, channels:], first)
    assert torch.equal(kept.tracking_input[:, :, :channels], tracking)
    assert torch.equal(kept.tracking_input[:, :1, channels:], tracking_first)
    assert not kept.noisy_input[:, 1:, channels:].any() and not kept.tracking_input[:, 1:, channels:].any()
    assert ((0 <= kept.timesteps) & (kept.timesteps < 1000)).all()

    dropped = build(1.0)
    assert dropped.dropped.all()
    assert not dropped.noisy_input[:, :, channels:].any() and not dropped.tracking_input[:, :, channels:].any()
    assert torch.equal(dropped.tracking_input[:, :, :channels], tracking)  # the tracking video itself stays

    again = build(0.0)
    assert torch.equal(again.noisy_input, kept.noisy_input)  # same generator seed, same draws
    assert not torch.equal(build(0.0, seed=1).noisy_input, kept.noisy_input)


def test_random_draws_follow_das() -> None:
    generator = torch.Generator().manual_seed(0)
    sigma = objective.image_noise_sigma(20000, generator, -3.0, 0.5)
    assert abs(sigma.log().mean().item() + 3.0) < 0.02 and abs(sigma.log().std().item() - 0.5) < 0.02
    dropped = objective.first_frame_dropout_mask(20000, 0.05, generator)
    assert 0.04 < dropped.float().mean().item() < 0.06
    timesteps = objective.draw_timesteps(20000, 1000, generator)
    assert timesteps.min() == 0 and timesteps.max() == 999
    assert torch.equal(objective.draw_timesteps(3, 1000, generator, fixed=7), torch.tensor([7, 7, 7]))
    with pytest.raises(ValueError, match="4k\\+1"):
        objective.num_latent_frames(10)
    assert objective.num_latent_frames(49) == 13


def test_step_generators_and_sample_order_are_reproducible() -> None:
    first = objective.step_generator(42, 0, 5)
    assert torch.equal(torch.rand(4, generator=first), torch.rand(4, generator=objective.step_generator(42, 0, 5)))
    assert not torch.equal(
        torch.rand(4, generator=objective.step_generator(42, 1, 5)),
        torch.rand(4, generator=objective.step_generator(42, 0, 5)),
    )
    orders = [SampleOrder(num_samples=7, batch_size=2, num_processes=2, process_index=rank, seed=3) for rank in (0, 1)]
    assert orders[0].batches_per_epoch == 2
    epoch = [index for micro in range(2) for order in orders for index in order.batch(micro)]
    assert sorted(set(epoch)) == list(range(7))  # every sample once per epoch (one wraps around)
    assert orders[0].batch(5) == SampleOrder(7, 2, 2, 0, 3).batch(5)


# --------------------------------------------------------------------------------------------
# Training runs
# --------------------------------------------------------------------------------------------


def test_overfit_from_a_base_model_changes_only_the_tracking_branch(
    wide_base: Path, one_sample: Path, tmp_path: Path, tiny_checkpoint: Path
) -> None:
    """30 steps on one sample (fixed noise and timestep) drive the loss down; only the tracking
    branch changes; the export is a complete checkpoint that loads and generates."""
    from core.pipeline import DiffusionAsShaderPipeline

    output = tmp_path / "from-base"
    result = train(
        quick_config(
            base=str(wide_base),
            data=str(one_sample),
            output=str(output),
            num_tracking_blocks=2,
            max_train_steps=OVERFIT_STEPS,
            learning_rate=OVERFIT_LEARNING_RATE,
            fixed_noise=True,
            fixed_timestep=OVERFIT_TIMESTEP,
            precompute=True,
        )
    )
    losses = result.losses
    assert len(losses) == OVERFIT_STEPS and all(math.isfinite(loss) for loss in losses)
    assert losses[-1] < OVERFIT_RATIO * losses[0], losses
    assert [record["step"] for record in read_log(output)] == list(range(1, OVERFIT_STEPS + 1))

    # Frozen weights are bit-identical to the base; the tracking branch moved away from its
    # initialisation (copies of the first base blocks, zero combine layers).
    base = transformer_state(wide_base)
    trained = transformer_state(output)
    assert set(trained) - set(base) == {key for key in trained if key.startswith(TRAINABLE_PREFIXES)}
    for key, value in base.items():
        # Loading casts to the training dtype (float32 here; the base stores its position
        # embedding buffer in float64), so compare in the saved dtype.
        assert torch.equal(trained[key], value.to(trained[key].dtype)), key
    for key, value in trained.items():
        if key.startswith("transformer_blocks_copy."):
            initial = base[key.replace("transformer_blocks_copy.", "transformer_blocks.", 1)]
        elif key.startswith(TRAINABLE_PREFIXES):
            initial = torch.zeros_like(value)
        else:
            continue
        if key.endswith(("weight", "bias")) and ".norm" not in key:
            assert not torch.equal(value, initial), f"{key} did not train"
    for name in FROZEN_COMPONENTS:
        for file in (wide_base / name).rglob("*"):
            if file.is_file():
                assert (output / name / file.relative_to(wide_base / name)).read_bytes() == file.read_bytes()

    # A complete checkpoint that the app's loader takes as is.
    check_das_checkpoint(output)
    config = json.loads((output / "transformer" / "config.json").read_text())
    assert config["_class_name"] == "CogVideoXTransformer3DModelTracking" and config["num_tracking_blocks"] == 2
    index = json.loads((output / "model_index.json").read_text())
    assert index["_class_name"] == "DiffusionAsShaderPipeline"
    # The text encoder was freed after --precompute, yet the index still names every component
    # (generic loaders such as DiffusionPipeline.from_pretrained read it).
    # (This base has no index of its own: DaS's classes are recorded, those the tiny checkpoint has.)
    reference_index = json.loads((tiny_checkpoint / "model_index.json").read_text())
    for name in FROZEN_COMPONENTS:
        assert index[name] == reference_index[name] == list(FROZEN_COMPONENT_CLASSES[name]), name
    pipe = DiffusionAsShaderPipeline.from_pretrained(output)
    video = np.zeros((NUM_FRAMES, HEIGHT, WIDTH, 3), dtype=np.uint8)
    frames = pipe(
        image=video[0], prompt="a texture", tracking_video=video, num_inference_steps=2,
        generator=torch.Generator().manual_seed(0),
    ).frames
    assert frames.shape == (1, NUM_FRAMES, HEIGHT, WIDTH, 3) and np.isfinite(frames).all()


def test_resume_continues_exactly_where_it_stopped(tiny_checkpoint: Path, tmp_path_factory) -> None:
    """An interrupted run resumed with ``resume="latest"`` ends with the weights, losses and
    optimizer state of an uninterrupted run (two samples, batch 1, accumulation 2)."""
    data = make_dataset(tmp_path_factory.mktemp("two"), 2)
    settings = dict(
        base=str(tiny_checkpoint),
        data=str(data),
        max_train_steps=3,
        gradient_accumulation_steps=2,
        lr_scheduler="cosine_with_restarts",
        lr_warmup_steps=1,
        precompute=True,
        image_dropout=0.5,  # exercise the dropout draw too
    )
    straight_dir = tmp_path_factory.mktemp("straight")
    straight = train(
        quick_config(output=str(straight_dir), validation_steps=3, validation_inference_steps=2, **settings)
    )
    assert [video.name for video in straight.validation_videos] == ["step-000003.mp4"]

    interrupted_dir = tmp_path_factory.mktemp("interrupted")
    steps_seen: list[float] = []
    with pytest.raises(Cancelled):
        train(
            quick_config(output=str(interrupted_dir), **settings),
            progress=lambda fraction, message: steps_seen.append(fraction),
            cancel=lambda: len(steps_seen) >= 1,
        )
    checkpoint = interrupted_dir / "training" / "checkpoints" / "checkpoint-1"
    assert json.loads((checkpoint / "training_state.json").read_text())["global_step"] == 1
    assert not (interrupted_dir / "model_index.json").exists()  # nothing exported yet

    resumed = train(quick_config(output=str(interrupted_dir), resume="latest", **settings))
    assert resumed.resumed_from == 1 and resumed.global_step == 3
    assert resumed.losses == pytest.approx(straight.losses[1:], rel=1e-5)

    trained = transformer_state(straight_dir)
    again = transformer_state(interrupted_dir)
    tiny = transformer_state(tiny_checkpoint)
    for key, value in trained.items():
        assert torch.allclose(again[key], value, rtol=1e-5, atol=1e-7), key
        if key.startswith(TRAINABLE_PREFIXES):
            assert not torch.equal(value, tiny[key]), f"{key} did not train"
        else:
            assert torch.equal(value, tiny[key].to(value.dtype)), f"frozen {key} changed"
    final = {
        run: torch.load(folder / "training/checkpoints/checkpoint-3/optimizer.bin", weights_only=True)
        for run, folder in (("straight", straight_dir), ("resumed", interrupted_dir))
    }
    for state_straight, state_resumed in zip(final["straight"]["state"].values(), final["resumed"]["state"].values()):
        assert state_straight["step"] == state_resumed["step"] == 3
        assert torch.allclose(state_straight["exp_avg_sq"], state_resumed["exp_avg_sq"], rtol=1e-4, atol=1e-12)


def test_bf16_recipe_keeps_trained_weights_in_fp32(tiny_checkpoint: Path, one_sample: Path, tmp_path: Path) -> None:
    """The GPU recipe, run on the CPU: frozen weights in bf16, the tracking branch and its AdamW
    state in fp32 under bf16 autocast, gradient checkpointing, bf16 export that loads."""
    from core.pipeline import DiffusionAsShaderPipeline

    output = tmp_path / "bf16"
    result = train(
        quick_config(
            base=str(tiny_checkpoint), data=str(one_sample), output=str(output), max_train_steps=2,
            mixed_precision="bf16", gradient_checkpointing=True, checkpointing_steps=2,
        )
    )
    assert len(result.losses) == 2 and all(math.isfinite(loss) for loss in result.losses)
    optimizer = torch.load(output / "training/checkpoints/checkpoint-2/optimizer.bin", weights_only=True)
    assert {state["exp_avg"].dtype for state in optimizer["state"].values()} == {torch.float32}
    trained, tiny = transformer_state(output), transformer_state(tiny_checkpoint)
    assert {value.dtype for value in trained.values()} == {torch.bfloat16}
    for key, value in trained.items():
        if not key.startswith(TRAINABLE_PREFIXES):
            assert torch.equal(value, tiny[key].to(torch.bfloat16)), f"frozen {key} changed"
    assert any(
        not torch.equal(value, tiny[key].to(torch.bfloat16))
        for key, value in trained.items()
        if key.startswith(TRAINABLE_PREFIXES)
    )
    pipe = DiffusionAsShaderPipeline.from_pretrained(output, torch_dtype=torch.bfloat16)
    assert pipe.transformer.dtype == torch.bfloat16


def test_settings_and_data_errors_are_clear(tiny_checkpoint: Path, tmp_path: Path, capsys) -> None:
    from core.train import main

    with pytest.raises(SystemExit):
        parse_args(["--data", "d", "--output", "o"])  # --base is required
    with pytest.raises(TrainConfigError, match="--image-dropout"):
        parse_args(["--base", "b", "--data", "d", "--output", "o", "--image-dropout", "2"])
    with pytest.raises(TrainConfigError, match="must differ from --base"):
        parse_args(["--base", str(tmp_path), "--data", "d", "--output", str(tmp_path)])
    config = parse_args(["--base", "b", "--data", "d", "--output", "o", "--no-gradient-checkpointing", "--precompute"])
    assert config.gradient_checkpointing is False and config.precompute is True
    das_settings = (config.learning_rate, config.adam_beta2, config.weight_decay, config.max_grad_norm)
    assert das_settings == (1e-4, 0.95, 1e-3, 1.0)

    # A dataset made at another size: named precisely before any training.
    sources = tmp_path / "sources"
    sources.mkdir()
    write_video(moving_texture(0), sources / "clip.mp4", fps=8.0)
    small = ds.prepare_dataset(
        sources, tmp_path / "small", config=ds.PrepareConfig(num_frames=5, height=32, width=48),
        tracking_fn=lambda frames, fps: frames,
    )
    assert small.indexed == 1
    code = main(["--base", str(tiny_checkpoint), "--data", str(tmp_path / "small"), "--output", str(tmp_path / "out")])
    assert code == 1
    err = capsys.readouterr().err
    assert "does not fit this model (9 frames of 64×96)" in err
    assert (
        "videos.txt line 1: videos/00000.mp4: frames 5 (expected 9), height 32 (expected 64), width 48 (expected 96)"
        in err
    )
    code = main(
        ["--base", str(tmp_path / "missing"), "--data", str(tmp_path / "small"), "--output", str(tmp_path / "out")]
    )
    assert code == 1 and "is not a folder" in capsys.readouterr().err


@pytest.mark.slow
def test_das_base_is_loaded_with_the_apps_checks(
    tiny_checkpoint: Path, checkpoint_without_block_count: tuple[Path, int], tmp_path: Path
) -> None:
    """Fine-tuning a DaS checkpoint loads it as the app does: the tracking-block count comes
    from the weights when the config lacks it, and missing weights are a clear error (diffusers
    alone would only warn and leave them uninitialised on the meta device)."""
    from safetensors.torch import save_file

    from core.training.models import TrainingCheckpointError, load_components

    without_count, expected_blocks = checkpoint_without_block_count
    components = load_components(without_count, None, torch.float32)
    assert components.transformer.config.num_tracking_blocks == expected_blocks

    incomplete = tmp_path / "incomplete"
    shutil.copytree(tiny_checkpoint, incomplete)
    weights_path = incomplete / "transformer" / "diffusion_pytorch_model.safetensors"
    weights = load_file(weights_path)
    save_file({key: value for key, value in weights.items() if not key.startswith("initial_combine_linear.")}, weights_path)
    with pytest.raises(TrainingCheckpointError, match="initial_combine_linear"):
        load_components(incomplete, None, torch.float32)


def test_two_processes_under_accelerate_launch(tiny_checkpoint: Path, tmp_path: Path) -> None:
    """Two CPU processes under ``accelerate launch``: sharded preparation, then DDP training.

    accelerate 1.15's ``--cpu`` starts a single process whatever ``--num_processes`` says; the
    multi-process launcher (``--multi_gpu``) on a machine without GPUs starts CPU processes,
    which our entry points join into one gloo group (``core.jobs.use_cpu``).
    """
    sources = tmp_path / "sources"
    sources.mkdir()
    for index in range(3):
        write_video(moving_texture(index), sources / f"texture_{index}.mp4", fps=8.0)
    launch = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        "--main_process_port", "0",  # any free port: parallel CI jobs must not collide
        "-m",
    ]
    # CUDA_VISIBLE_DEVICES="" keeps a GPU machine on the CPU path too.
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "CUDA_VISIBLE_DEVICES": "", "ACCELERATE_USE_CPU": "true"}

    def run(arguments: list[str]) -> subprocess.CompletedProcess:
        completed = subprocess.run(
            launch + arguments, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300
        )
        assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
        return completed

    data = tmp_path / "data"
    prepared = run(["core.dataset", "prepare", str(sources), str(data), "--num-frames", "9", "--height", "64",
                    "--width", "96", "--grid-size", "12"])
    assert "[process 0/2] made 2" in prepared.stdout and "[process 1/2] made 1" in prepared.stdout
    assert ds.validate_dataset(data, NUM_FRAMES, HEIGHT, WIDTH).num_samples == 3

    output = tmp_path / "out"
    trained_run = run(["core.train", "--base", str(tiny_checkpoint), "--data", str(data), "--output", str(output),
         "--max-train-steps", "2", "--gradient-accumulation-steps", "1", "--learning-rate", "1e-3",
         "--lr-warmup-steps", "0", "--checkpointing-steps", "1", "--no-gradient-checkpointing"])
    assert "2 process(es)" in trained_run.stdout  # one DDP group, not two separate runs
    log = read_log(output)
    assert [record["step"] for record in log] == [1, 2] and all(math.isfinite(record["loss"]) for record in log)
    assert (output / "training/checkpoints/checkpoint-2/training_state.json").is_file()

    check_das_checkpoint(output)
    trained, tiny = transformer_state(output), transformer_state(tiny_checkpoint)
    assert any(not torch.equal(trained[key], tiny[key]) for key in trained if key.startswith(TRAINABLE_PREFIXES))
