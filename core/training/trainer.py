"""The training loop: fine-tune the tracking branch under ``accelerate`` (SPEC §12).

Run it through ``python -m core.train`` (see docs/TRAINING.md) or call :func:`train` with a
:class:`~core.training.config.TrainConfig`. Layout of ``config.output`` afterwards::

    OUT/                      a complete DaS checkpoint (DiffusionAsShaderPipeline.from_pretrained(OUT))
      model_index.json  transformer/  vae/  text_encoder/  tokenizer/  scheduler/
      training/
        config.json           the settings of the (last) run
        log.jsonl             one line per optimizer step: step, loss, lr, grad_norm, seconds
        checkpoints/checkpoint-<step>/   resumable state (tracking-branch weights, optimizer,
                                         lr scheduler, step) — `--resume latest`
        validation/step-<step>.mp4       validation videos
        precomputed/          latents and prompt embeddings (--precompute)

Determinism: each micro-batch's samples and random draws are pure functions of ``(seed,
process, micro-batch index)`` (:class:`~core.training.data.SampleOrder`,
:func:`~core.training.objective.step_generator`), so a resumed run continues exactly where an
uninterrupted one would be.
"""

from __future__ import annotations

import gc
import json
import logging
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from core import defaults
from core.dataset_index import DatasetError, read_dataset_index, validate_dataset
from core.jobs import use_cpu
from core.media import write_video
from core.progress import CancelFn, Cancelled, ProgressFn, report
from core.training import objective
from core.training.config import TrainConfig, TrainConfigError
from core.training.data import (
    PRECOMPUTED_DIR,
    PRECOMPUTED_META,
    MicroBatchSampler,
    PrecomputedDataset,
    SampleOrder,
    TrackingVideoDataset,
    cache_fingerprint,
    cache_is_current,
    collate,
    precompute,
    read_clip,
)
from core.training.models import (
    TrainingComponents,
    export_checkpoint,
    freeze_for_training,
    load_components,
    load_trainable_state_dict,
    trainable_state_dict,
)

logger = logging.getLogger(__name__)

TRAINING_DIR = "training"
CHECKPOINTS_DIR = "checkpoints"
CHECKPOINT_PREFIX = "checkpoint-"
VALIDATION_DIR = "validation"
LOG_FILE = "log.jsonl"
CONFIG_FILE = "config.json"
STATE_FILE = "training_state.json"
TRACKING_WEIGHTS_FILE = "tracking_branch.safetensors"
VAE_SPATIAL_FACTOR = defaults.VAE_SPATIAL_FACTOR
"""CogVideoX's VAE downsamples 8× in space; transformer configs store sizes in latent pixels."""
VALIDATION_FPS = defaults.FPS
MAX_LISTED_PROBLEMS = 20
"""Dataset problems quoted in the start-up error (``core.dataset validate`` lists them all)."""

DTYPES = {"no": torch.float32, "fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class TrainResult:
    """What :func:`train` did.

    Attributes:
        output_dir: the exported checkpoint folder (``None`` on processes other than the main one).
        global_step: optimizer steps done in total (including before a resume).
        losses: mean loss of every optimizer step of *this* run, averaged over processes.
        resumed_from: the step the run resumed from, or ``None``.
        validation_videos: paths of the validation videos written.
    """

    output_dir: Optional[Path]
    global_step: int
    losses: list[float] = field(default_factory=list)
    resumed_from: Optional[int] = None
    validation_videos: list[Path] = field(default_factory=list)


def resolve_mixed_precision(requested: str) -> str:
    """``auto`` → ``bf16`` on a GPU, ``no`` (float32) on the CPU; other values as given.

    ``accelerate launch`` always exports a mixed-precision setting (``no`` unless configured),
    so it is deliberately not consulted: ``--mixed-precision`` of ``core.train`` decides.
    """
    on_cpu = use_cpu()
    if requested == "auto":
        return "no" if on_cpu else "bf16"
    if requested == "fp16" and on_cpu:
        # bf16 autocast exists on the CPU (slow, but it exercises the GPU code path); fp16 does not.
        raise TrainConfigError("--mixed-precision fp16 needs a CUDA GPU; use 'no' (float32) or 'bf16' on the CPU")
    return requested


def resolve_clip_shape(config: TrainConfig, transformer_config: Any) -> tuple[int, int, int]:
    """``(num_frames, height, width)`` of training clips: the flags, else the transformer's native size.

    Raises:
        TrainConfigError: a size the VAE or the transformer cannot take.
    """
    num_frames = config.num_frames or int(transformer_config.sample_frames)
    height = config.height or int(transformer_config.sample_height) * VAE_SPATIAL_FACTOR
    width = config.width or int(transformer_config.sample_width) * VAE_SPATIAL_FACTOR
    try:
        objective.num_latent_frames(num_frames)
    except ValueError as error:
        raise TrainConfigError(f"--num-frames: {error}") from error
    pixels_per_token = VAE_SPATIAL_FACTOR * int(transformer_config.patch_size)
    if height % pixels_per_token or width % pixels_per_token:
        raise TrainConfigError(f"--height and --width must be multiples of {pixels_per_token}, got {height}×{width}")
    native = (
        int(transformer_config.sample_frames),
        int(transformer_config.sample_height) * VAE_SPATIAL_FACTOR,
        int(transformer_config.sample_width) * VAE_SPATIAL_FACTOR,
    )
    if transformer_config.use_learned_positional_embeddings and (num_frames, height, width) != native:
        raise TrainConfigError(
            f"this transformer has learned position embeddings for {native[0]} frames of "
            f"{native[1]}×{native[2]} only; "
            f"cannot train at {num_frames}×{height}×{width}"
        )
    return num_frames, height, width


def find_checkpoint(checkpoints_dir: Path, resume: str) -> Optional[Path]:
    """The checkpoint folder ``--resume`` names: ``latest`` (highest step, or None) or a path.

    Raises:
        TrainConfigError: an explicit path that is not a checkpoint folder.
    """
    if resume == "latest":
        found = [path for path in checkpoints_dir.glob(f"{CHECKPOINT_PREFIX}*") if (path / STATE_FILE).is_file()]
        return max(found, key=checkpoint_step) if found else None
    path = Path(resume)
    if not (path / STATE_FILE).is_file():
        raise TrainConfigError(f"--resume {resume}: not a training checkpoint folder (no {STATE_FILE})")
    return path


def checkpoint_step(path: Path) -> int:
    """The optimizer step a ``checkpoint-<step>`` folder was saved at."""
    return int(path.name[len(CHECKPOINT_PREFIX):])


class _Trainer:
    """One training run; :func:`train` is the public entry point."""

    def __init__(self, config: TrainConfig, progress: Optional[ProgressFn], cancel: Optional[CancelFn]) -> None:
        from accelerate import Accelerator
        from accelerate.utils import DistributedDataParallelKwargs, ProjectConfiguration, set_seed

        config.validate()
        self.config = config
        self.progress, self.cancel = progress, cancel
        self.output = Path(config.output)
        self.training_dir = self.output / TRAINING_DIR
        self.checkpoints_dir = self.training_dir / CHECKPOINTS_DIR
        mixed_precision = resolve_mixed_precision(config.mixed_precision)
        self.accelerator = Accelerator(
            cpu=use_cpu(),
            gradient_accumulation_steps=config.gradient_accumulation_steps,
            mixed_precision=mixed_precision,
            log_with=None if config.report_to == "none" else config.report_to,
            project_config=ProjectConfiguration(
                project_dir=str(self.training_dir), logging_dir=str(self.training_dir / "logs")
            ),
            # Every trainable parameter gets a gradient at every step: no unused-parameter search.
            # gradient_as_bucket_view: gradients live in DDP's buckets instead of a second copy.
            kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=False, gradient_as_bucket_view=True)],
        )
        set_seed(config.seed)
        self.weight_dtype = DTYPES[mixed_precision]
        if config.allow_tf32 and torch.cuda.is_available():
            torch.backends.cuda.matmul.allow_tf32 = True
        self.losses: list[float] = []
        self.validation_videos: list[Path] = []

    # ----------------------------------------------------------------------------------------
    # Set-up
    # ----------------------------------------------------------------------------------------

    @property
    def device(self) -> torch.device:
        return self.accelerator.device

    def _log(self, message: str) -> None:
        if self.accelerator.is_main_process:
            logger.info(message)
            print(message, flush=True)

    def _load_models(self) -> None:
        config = self.config
        self.components: TrainingComponents = load_components(
            config.base, config.num_tracking_blocks, self.weight_dtype
        )
        self.trainable = freeze_for_training(self.components)
        # Frozen weights stay in the (half-precision) weight dtype; by default the trained ones
        # (and so their gradients and AdamW state) are float32 so small updates are not rounded
        # away. DaS kept everything in bf16: --no-fp32-trainable, ~20 GB less for the 5B model.
        if config.fp32_trainable:
            for parameter in self.trainable:
                parameter.data = parameter.data.float()
        transformer = self.components.transformer
        if config.gradient_checkpointing:
            transformer.enable_gradient_checkpointing()
        transformer.train()
        self.components.vae.to(self.device)
        self.components.text_encoder.to(self.device)
        if config.vae_slicing:
            self.components.vae.enable_slicing()
        if config.vae_tiling:
            self.components.vae.enable_tiling()
        self.num_frames, self.height, self.width = resolve_clip_shape(config, transformer.config)
        self.num_frames_latent = objective.num_latent_frames(self.num_frames)
        self.scaling_factor = float(self.components.vae.config.scaling_factor)
        self.max_sequence_length = int(transformer.config.max_text_seq_length)
        self.num_trainable = sum(parameter.numel() for parameter in self.trainable)

    def _pipeline(self, transformer: Any) -> Any:
        """A DaS pipeline around the components: prompt encoding and rotary embeddings exactly as
        at inference, and validation videos."""
        from diffusers import CogVideoXDPMScheduler

        from core.pipeline import DiffusionAsShaderPipeline

        components = self.components
        return DiffusionAsShaderPipeline(
            tokenizer=components.tokenizer,
            text_encoder=components.text_encoder,
            vae=components.vae,
            transformer=transformer,
            # Inference scheduler as DiffusionAsShaderPipeline.from_pretrained sets it up.
            scheduler=CogVideoXDPMScheduler.from_config(components.scheduler.config, timestep_spacing="trailing"),
        )

    def _load_data(self) -> None:
        config = self.config
        problems = validate_dataset(config.data, self.num_frames, self.height, self.width, decode=False).problems
        if problems:
            listing = "\n".join(f"  - {problem}" for problem in problems[:MAX_LISTED_PROBLEMS])
            hidden = len(problems) - MAX_LISTED_PROBLEMS
            more = f"\n  … and {hidden} more" if hidden > 0 else ""
            raise DatasetError(
                f"dataset {config.data} does not fit this model "
                f"({self.num_frames} frames of {self.height}×{self.width}):\n"
                f"{listing}{more}\n(`python -m core.dataset validate {config.data} --num-frames {self.num_frames} "
                f"--height {self.height} --width {self.width}` lists everything)"
            )
        self.entries = read_dataset_index(config.data)
        self.video_dataset = TrackingVideoDataset(self.entries, self.num_frames, self.height, self.width)
        if not 0 <= config.validation_sample < len(self.entries):
            raise TrainConfigError(
                f"--validation-sample {config.validation_sample} is outside the dataset's {len(self.entries)} samples"
            )

    @torch.no_grad()
    def _encode_prompts(self, prompts: list[str]) -> torch.Tensor:
        """``(B, L, D)`` T5 embeddings, exactly as the pipeline encodes prompts."""
        return self.conditioner.encode_prompt_embeddings(
            prompts, max_sequence_length=self.max_sequence_length, device=self.device, dtype=self.weight_dtype
        )

    def _prepare_precomputed(self) -> None:
        """Encode the dataset once (each process its share), then free the text encoder."""
        accelerator, config = self.accelerator, self.config
        cache_dir = self.training_dir / PRECOMPUTED_DIR
        vae_config = json.dumps(dict(self.components.vae.config), sort_keys=True, default=str)
        fingerprint = cache_fingerprint(
            self.entries,
            {
                "base": str(Path(config.base).resolve()),
                "vae": vae_config,
                "shape": [self.num_frames, self.height, self.width],
                "max_sequence_length": self.max_sequence_length,
                "dtype": str(self.weight_dtype),
            },
        )
        if accelerator.is_main_process and not cache_is_current(cache_dir, fingerprint) and cache_dir.exists():
            shutil.rmtree(cache_dir)
        accelerator.wait_for_everyone()
        shard = range(accelerator.process_index, len(self.entries), accelerator.num_processes)
        made = precompute(
            self.video_dataset, cache_dir, list(shard), self.components.vae, self._encode_prompts, self.weight_dtype
        )
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            meta = {"fingerprint": fingerprint, "samples": len(self.entries)}
            (cache_dir / PRECOMPUTED_META).write_text(json.dumps(meta))
        self._log(f"precomputed latents: {made} new on process {accelerator.process_index}, cache {cache_dir}")
        self.train_dataset = PrecomputedDataset(cache_dir, len(self.entries))

    def _free_text_encoder(self) -> None:
        """Drop the text encoder (T5-XXL: ~9.5 GB in bf16) once every prompt is embedded."""
        self.components.text_encoder = None
        self.conditioner.text_encoder = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def _prepare_validation(self) -> None:
        """Frames, tracking video and (pre-encoded when the text encoder goes) prompt of the validation sample."""
        self.validation = None
        if self.config.validation_steps <= 0 or not self.accelerator.is_main_process:
            return
        entry = self.entries[self.config.validation_sample]
        shape = (self.num_frames, self.height, self.width)
        self.validation = {
            "video": read_clip(entry.video, *shape, what="video"),
            "tracking": read_clip(entry.tracking, *shape, what="tracking video"),
            "prompt": entry.prompt,
            "prompt_embeds": None,
            "negative_prompt_embeds": None,
        }
        if self.config.precompute:
            self.validation["prompt_embeds"] = self._encode_prompts([entry.prompt])
            self.validation["negative_prompt_embeds"] = self._encode_prompts([defaults.NEGATIVE_PROMPT])

    def _prepare_optimisation(self) -> None:
        from diffusers.optimization import get_scheduler

        config, accelerator = self.config, self.accelerator
        optimizer = torch.optim.AdamW(
            self.trainable,
            lr=config.learning_rate,
            betas=(config.adam_beta1, config.adam_beta2),
            eps=config.adam_epsilon,
            weight_decay=config.weight_decay,
        )
        # accelerate steps a prepared scheduler once per process per optimizer step, so the
        # schedule lengths are scaled by the process count (as diffusers' trainers do).
        lr_scheduler = get_scheduler(
            config.lr_scheduler,
            optimizer=optimizer,
            num_warmup_steps=config.lr_warmup_steps * accelerator.num_processes,
            num_training_steps=config.max_train_steps * accelerator.num_processes,
            num_cycles=config.lr_num_cycles,
        )
        self.model, self.optimizer, self.lr_scheduler = accelerator.prepare(
            self.components.transformer, optimizer, lr_scheduler
        )
        accelerator.register_save_state_pre_hook(self._save_hook)
        accelerator.register_load_state_pre_hook(self._load_hook)

    def _save_hook(self, models: list[Any], weights: list[Any], output_dir: str) -> None:
        """Save only the tracking branch (the frozen 5B base would be ~11 GB per checkpoint)."""
        if self.accelerator.is_main_process:
            save_file(
                trainable_state_dict(self.accelerator.unwrap_model(models[0])),
                str(Path(output_dir) / TRACKING_WEIGHTS_FILE),
            )
        weights.clear()  # nothing left for accelerate to save as model weights

    def _load_hook(self, models: list[Any], input_dir: str) -> None:
        model = models.pop()
        load_trainable_state_dict(
            self.accelerator.unwrap_model(model), load_file(str(Path(input_dir) / TRACKING_WEIGHTS_FILE))
        )

    # ----------------------------------------------------------------------------------------
    # One step
    # ----------------------------------------------------------------------------------------

    @torch.no_grad()
    def _conditioning(
        self, batch: dict[str, Any], generator: torch.Generator
    ) -> tuple[objective.Conditioning, torch.Tensor]:
        """Latents, noise and both streams' inputs for a micro-batch; also the prompt embeddings."""
        config, vae = self.config, self.components.vae
        if "video_moments" in batch:
            moments = {
                key: batch[key].to(self.device, vae.dtype)
                for key in ("video_moments", "tracking_moments", "tracking_first_moments")
            }
            video_latents = objective.sample_latents(moments["video_moments"], self.scaling_factor, generator)
            tracking_latents = objective.sample_latents(moments["tracking_moments"], self.scaling_factor, generator)
            tracking_first = objective.sample_latents(moments["tracking_first_moments"], self.scaling_factor, generator)
            first_frame = batch["first_frame"].to(self.device, vae.dtype)
            prompt_embeds = batch["prompt_embeds"].to(self.device, self.weight_dtype)
        else:
            videos = batch["video"].to(self.device, vae.dtype)
            tracking = batch["tracking"].to(self.device, vae.dtype)
            video_latents = objective.encode_latents(vae, videos, generator)
            tracking_latents = objective.encode_latents(vae, tracking, generator)
            tracking_first = objective.encode_latents(vae, tracking[:, :1], generator)
            first_frame = videos[:, :1]
            prompt_embeds = self._encode_prompts(batch["prompt"])
        batch_size = first_frame.shape[0]
        sigma = objective.image_noise_sigma(
            batch_size, generator, config.image_noise_log_mean, config.image_noise_log_std
        )
        noisy_first_frame = objective.add_image_noise(first_frame, sigma, generator)
        first_latents = objective.encode_latents(vae, noisy_first_frame, generator)
        conditioning = objective.build_conditioning(
            video_latents=video_latents.float(),
            first_frame_latents=first_latents.float(),
            tracking_latents=tracking_latents.float(),
            tracking_first_frame_latents=tracking_first.float(),
            scheduler=self.components.scheduler,
            generator=generator,
            image_dropout=config.image_dropout,
            image_noise_sigma=sigma,
            fixed_timestep=config.fixed_timestep,
        )
        return conditioning, prompt_embeds

    def _micro_step_loss(self, batch: dict[str, Any], micro_step: int) -> torch.Tensor:
        config = self.config
        generator = objective.step_generator(
            config.seed, self.accelerator.process_index, 0 if config.fixed_noise else micro_step
        )
        conditioning, prompt_embeds = self._conditioning(batch, generator)
        model_output = self.model(
            hidden_states=conditioning.noisy_input.to(self.weight_dtype),
            encoder_hidden_states=prompt_embeds,
            timestep=conditioning.timesteps,
            image_rotary_emb=self.rotary_emb,
            tracking_maps=conditioning.tracking_input.to(self.weight_dtype),
            return_dict=False,
        )[0]
        return objective.diffusion_loss(
            model_output,
            conditioning.noisy_latents,
            conditioning.video_latents,
            conditioning.timesteps,
            self.components.scheduler,
        )

    # ----------------------------------------------------------------------------------------
    # Checkpoints, validation, logging
    # ----------------------------------------------------------------------------------------

    def _save_checkpoint(self, global_step: int) -> Path:
        """Resumable state at ``global_step`` (every process must call this)."""
        accelerator = self.accelerator
        path = self.checkpoints_dir / f"{CHECKPOINT_PREFIX}{global_step}"
        accelerator.wait_for_everyone()
        accelerator.save_state(str(path))
        if accelerator.is_main_process:
            state = {
                "global_step": global_step,
                "num_processes": accelerator.num_processes,
                "gradient_accumulation_steps": self.config.gradient_accumulation_steps,
                "train_batch_size": self.config.train_batch_size,
                "seed": self.config.seed,
                "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
            }
            # Written last: a folder without it is an interrupted save and is never resumed from.
            (path / STATE_FILE).write_text(json.dumps(state, indent=1))
            self._prune_checkpoints()
        accelerator.wait_for_everyone()
        self._log(f"saved checkpoint {path}")
        return path

    def _prune_checkpoints(self) -> None:
        limit = self.config.checkpoints_total_limit
        if limit is None:
            return
        found = sorted(self.checkpoints_dir.glob(f"{CHECKPOINT_PREFIX}*"), key=checkpoint_step)
        for old in found[:-limit]:
            shutil.rmtree(old)

    def _resume(self) -> Optional[int]:
        config, accelerator = self.config, self.accelerator
        if config.resume is None:
            return None
        path = find_checkpoint(self.checkpoints_dir, config.resume)
        if path is None:
            self._log(f"no checkpoint under {self.checkpoints_dir}: starting a new run")
            return None
        state = json.loads((path / STATE_FILE).read_text())
        accelerator.load_state(str(path))
        changed = [
            key
            for key, now in (
                ("num_processes", accelerator.num_processes),
                ("gradient_accumulation_steps", config.gradient_accumulation_steps),
                ("train_batch_size", config.train_batch_size),
                ("seed", config.seed),
            )
            if state.get(key) != now
        ]
        if changed:
            self._log(
                f"warning: {', '.join(changed)} changed since {path.name}; training continues, but the sample order "
                "and noise differ from an uninterrupted run"
            )
        self._log(f"resumed from {path} (step {state['global_step']})")
        return int(state["global_step"])

    def _write_log(self, record: dict[str, Any]) -> None:
        if not self.accelerator.is_main_process:
            return
        with (self.training_dir / LOG_FILE).open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
        self.accelerator.log({key: value for key, value in record.items() if key != "step"}, step=record["step"])

    def _validate(self, global_step: int) -> None:
        """Render the validation sample with the transformer being trained (main process only)."""
        accelerator = self.accelerator
        if self.validation is not None and accelerator.is_main_process:
            sample = self.validation
            transformer = accelerator.unwrap_model(self.model)
            transformer.eval()
            generator = torch.Generator(device="cpu").manual_seed(self.config.seed)
            if sample["prompt_embeds"] is None:
                prompt_args: dict[str, Any] = {"prompt": sample["prompt"]}
            else:  # the text encoder is gone (--precompute): embeddings made before it went
                prompt_args = {
                    "prompt_embeds": sample["prompt_embeds"],
                    "negative_prompt_embeds": sample["negative_prompt_embeds"],
                }
            started = time.time()
            with accelerator.autocast():
                output = self.conditioner(
                    image=sample["video"][0],
                    tracking_video=sample["tracking"],
                    num_inference_steps=self.config.validation_inference_steps,
                    guidance_scale=self.config.validation_guidance,
                    generator=generator,
                    output_type="np",
                    max_sequence_length=self.max_sequence_length,
                    **prompt_args,
                )
            transformer.train()
            frames = (np.clip(output.frames[0], 0.0, 1.0) * 255.0).round().astype(np.uint8)
            path = self.training_dir / VALIDATION_DIR / f"step-{global_step:06d}.mp4"
            write_video(frames, path, fps=VALIDATION_FPS)
            self.validation_videos.append(path)
            self._log(f"validation video {path} ({time.time() - started:.1f} s)")
        accelerator.wait_for_everyone()

    # ----------------------------------------------------------------------------------------
    # The run
    # ----------------------------------------------------------------------------------------

    def run(self) -> TrainResult:
        config, accelerator = self.config, self.accelerator
        if accelerator.is_main_process:
            self.training_dir.mkdir(parents=True, exist_ok=True)
            (self.training_dir / CONFIG_FILE).write_text(json.dumps(config.to_dict(), indent=1))
        self._load_models()
        self._load_data()
        self.conditioner = self._pipeline(self.components.transformer)
        self.rotary_emb = self.conditioner.rotary_embeddings(
            self.height, self.width, self.num_frames_latent, self.device
        )
        self._prepare_validation()
        if config.precompute:
            self._prepare_precomputed()
            self._free_text_encoder()
        else:
            self.train_dataset = self.video_dataset
        self._prepare_optimisation()
        if config.report_to != "none":
            tracked = {key: value for key, value in config.to_dict().items() if value is not None}
            accelerator.init_trackers("das-tracking-branch", config=tracked)

        resumed_from = self._resume()
        global_step = resumed_from or 0
        accumulation = config.gradient_accumulation_steps
        order = SampleOrder(
            num_samples=len(self.entries),
            batch_size=config.train_batch_size,
            num_processes=accelerator.num_processes,
            process_index=accelerator.process_index,
            seed=config.seed,
        )
        loader = torch.utils.data.DataLoader(
            self.train_dataset,
            batch_sampler=MicroBatchSampler(order, start=global_step * accumulation),
            collate_fn=collate,
            num_workers=config.dataloader_workers,
            pin_memory=torch.cuda.is_available(),
        )
        batches = iter(loader)
        self._log(
            f"training {self.num_trainable:,} tracking-branch parameters on {len(self.entries)} samples "
            f"({self.num_frames}×{self.height}×{self.width}); {accelerator.num_processes} process(es) × batch "
            f"{config.train_batch_size} × accumulation {accumulation}; "
            f"steps {global_step} → {config.max_train_steps}; "
            f"precision {accelerator.mixed_precision}"
        )
        last_saved = resumed_from
        while global_step < config.max_train_steps:
            started = time.time()
            micro_losses = []
            grad_norm = None
            for micro_in_step in range(accumulation):
                batch = next(batches)
                with accelerator.accumulate(self.model):
                    loss = self._micro_step_loss(batch, global_step * accumulation + micro_in_step)
                    accelerator.backward(loss)
                    if accelerator.sync_gradients:
                        grad_norm = accelerator.clip_grad_norm_(self.trainable, config.max_grad_norm)
                    self.optimizer.step()
                    self.lr_scheduler.step()
                    self.optimizer.zero_grad(set_to_none=True)
                micro_losses.append(loss.detach())
            global_step += 1
            step_loss = accelerator.reduce(torch.stack(micro_losses).mean(), reduction="mean").item()
            if not math.isfinite(step_loss):
                raise FloatingPointError(f"loss became {step_loss} at step {global_step}; lower --learning-rate")
            self.losses.append(step_loss)
            record = {
                "step": global_step,
                "loss": step_loss,
                "lr": self.lr_scheduler.get_last_lr()[0],
                "grad_norm": None if grad_norm is None else float(grad_norm),
                "seconds": round(time.time() - started, 3),
            }
            if torch.cuda.is_available():
                record["max_memory_gb"] = round(torch.cuda.max_memory_allocated(self.device) / 2**30, 2)
            self._write_log(record)
            report(self.progress, global_step / config.max_train_steps, f"step {global_step}: loss {step_loss:.4f}")

            cancelled = self.cancel is not None and self.cancel()
            if (config.checkpointing_steps and global_step % config.checkpointing_steps == 0) or cancelled:
                self._save_checkpoint(global_step)
                last_saved = global_step
            if cancelled:
                raise Cancelled(f"training cancelled at step {global_step}; resume with --resume latest")
            if config.validation_steps and global_step % config.validation_steps == 0:
                self._validate(global_step)

        if last_saved != global_step:
            self._save_checkpoint(global_step)  # so a longer run can continue from here
        output_dir = self._export()
        accelerator.end_training()
        return TrainResult(
            output_dir=output_dir,
            global_step=global_step,
            losses=self.losses,
            resumed_from=resumed_from,
            validation_videos=self.validation_videos,
        )

    def _export(self) -> Optional[Path]:
        accelerator = self.accelerator
        accelerator.wait_for_everyone()
        output_dir = None
        if accelerator.is_main_process:
            save_dtype = self.config.save_dtype
            if save_dtype == "auto":
                save_dtype = "bf16" if self.weight_dtype == torch.bfloat16 else "fp32"
            output_dir = export_checkpoint(
                self.output,
                accelerator.unwrap_model(self.model),
                self.components,
                DTYPES[save_dtype],
                link_frozen=self.config.link_frozen,
            )
            self._log(f"exported checkpoint {output_dir} (load it with `python webui.py --checkpoint {output_dir}`)")
        accelerator.wait_for_everyone()
        return output_dir


def train(
    config: TrainConfig, *, progress: Optional[ProgressFn] = None, cancel: Optional[CancelFn] = None
) -> TrainResult:
    """Fine-tune the tracking branch and export a complete checkpoint to ``config.output``.

    Call it from a script started with ``accelerate launch`` (or plainly for one process).
    ``cancel`` is checked after every optimizer step: a cancelled run saves a checkpoint and
    raises :class:`core.progress.Cancelled` (continue with ``resume="latest"``).

    Raises:
        TrainConfigError: unusable settings.
        DatasetError: the dataset is missing or does not match the model's clip shape.
        core.training.models.TrainingCheckpointError: ``config.base`` is not a usable checkpoint.
    """
    return _Trainer(config, progress, cancel).run()
