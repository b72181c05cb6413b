"""Training settings (:class:`TrainConfig`) and the ``python -m core.train`` argument parser.

Defaults are DaS's settings (SPEC §12) unless noted: AdamW β = (0.9, 0.95), weight decay 1e-3,
lr 1e-4 with cosine-with-restarts and warm-up, gradient clipping 1.0, gradient accumulation 4,
gradient checkpointing, bf16 on GPU.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Optional, Sequence

from core import defaults
from core.errors import UserError

MIXED_PRECISION_CHOICES = ("auto", "no", "bf16", "fp16")
SAVE_DTYPE_CHOICES = ("auto", "fp32", "bf16", "fp16")
LR_SCHEDULER_CHOICES = (
    "cosine_with_restarts",
    "cosine",
    "linear",
    "constant",
    "constant_with_warmup",
    "polynomial",
)

DEFAULT_NUM_TRACKING_BLOCKS = 18
DEFAULT_LEARNING_RATE = 1e-4
DEFAULT_ADAM_BETAS = (0.9, 0.95)
DEFAULT_WEIGHT_DECAY = 1e-3
DEFAULT_ADAM_EPSILON = 1e-8
DEFAULT_MAX_GRAD_NORM = 1.0
DEFAULT_GRADIENT_ACCUMULATION = 4
DEFAULT_WARMUP_STEPS = 100
"""As DaS's training script (``scripts/train_DaS.sh``: 100 warm-up steps, one cosine cycle)."""
DEFAULT_LR_CYCLES = 1
DEFAULT_IMAGE_NOISE_LOG_MEAN = -3.0
DEFAULT_IMAGE_NOISE_LOG_STD = 0.5
"""First-frame noise augmentation: σ = exp(N(−3, 0.5)) per sample, in [-1, 1] pixel units."""
DEFAULT_IMAGE_DROPOUT = 0.05
"""Probability that both first-frame latents of a sample are zeroed (DaS's "noised image dropout")."""
DEFAULT_CHECKPOINTING_STEPS = 500
DEFAULT_VALIDATION_INFERENCE_STEPS = defaults.NUM_INFERENCE_STEPS
DEFAULT_VALIDATION_GUIDANCE = defaults.GUIDANCE_SCALE


class TrainConfigError(UserError):
    """Training settings that cannot work together; the message says which and why."""


@dataclass
class TrainConfig:
    """Everything one training run needs (the command line maps onto it 1:1).

    Attributes:
        base: a base CogVideoX-5B-I2V folder (plain transformer: the tracking branch is built
            from its first blocks) or a DaS checkpoint folder (already has the branch).
        data: a prepared dataset folder (``python -m core.dataset prepare``).
        output: the folder that becomes the finished checkpoint (``model_index.json``,
            ``transformer/``, ``vae/``, …); training state goes to ``output/training/``.
        num_tracking_blocks: tracking blocks to build from a base model (ignored for a DaS
            checkpoint unless it disagrees with the checkpoint, which is an error).
        num_frames, height, width: clip shape; ``None`` reads it from the transformer config
            (``sample_frames``, ``sample_height``·8, ``sample_width``·8), SPEC §3.
        max_train_steps: optimizer steps (each one is ``gradient_accumulation_steps`` micro-batches
            per process).
        train_batch_size: samples per micro-batch per process.
        learning_rate, adam_beta1, adam_beta2, adam_epsilon, weight_decay: AdamW.
        lr_scheduler, lr_warmup_steps, lr_num_cycles: ``diffusers.optimization.get_scheduler``.
        max_grad_norm: gradient clipping (global L2 norm).
        gradient_accumulation_steps: micro-batches per optimizer step.
        gradient_checkpointing: recompute activations in the backward pass (saves memory).
        mixed_precision: ``auto`` = bf16 on CUDA, fp32 (``no``) on CPU. Frozen weights are
            stored in this precision.
        fp32_trainable: keep the trained weights (hence their gradients and AdamW state) in
            float32; ``False`` keeps them in the mixed-precision dtype as DaS did (for the 5B
            model ~20 GB less GPU memory, coarser updates).
        seed: seeds the sample order and every random draw (noise, timestep, augmentation).
        image_noise_log_mean, image_noise_log_std: first-frame noise σ = exp(N(mean, std)).
        image_dropout: probability of zeroing both first-frame latents of a sample.
        fixed_noise: draw the same timestep, noise and augmentation at every step — a sanity
            check that the model can overfit a batch; never for real training.
        fixed_timestep: use this timestep for every sample instead of a uniform draw (debugging).
        precompute: encode latents and prompt embeddings once into ``output/training/precomputed``
            and free the text encoder; the first-frame noise augmentation still runs per step.
        checkpointing_steps: save resumable state every this many optimizer steps (0: only at the end).
        checkpoints_total_limit: keep at most this many checkpoints (``None``: all).
        resume: ``None``, ``"latest"`` or a checkpoint folder.
        validation_steps: render a validation video every this many steps (0: off).
        validation_sample: dataset line (0-based) whose first frame, tracking video and caption
            are used for validation videos.
        validation_inference_steps, validation_guidance: sampler settings of validation videos.
        save_dtype: dtype of the exported transformer (``auto``: bf16 when training in bf16, else fp32).
        dataloader_workers: ``torch.utils.data.DataLoader`` worker processes.
        vae_slicing, vae_tiling: VAE memory savers, both on as in DaS's training script; tiling
            also matches how the inference engine encodes tracking videos (SPEC §10).
        allow_tf32: TF32 matmuls on Ampere+ GPUs.
        report_to: ``none``, ``tensorboard`` or ``wandb`` (through accelerate trackers); a JSON
            log is always written to ``output/training/log.jsonl``.
        link_frozen: hard-link (instead of copy) the frozen components into the output when the
            file system allows it — saves ~10 GB for the real model.
    """

    base: str
    data: str
    output: str
    num_tracking_blocks: Optional[int] = None
    num_frames: Optional[int] = None
    height: Optional[int] = None
    width: Optional[int] = None
    max_train_steps: int = 1000
    train_batch_size: int = 1
    learning_rate: float = DEFAULT_LEARNING_RATE
    adam_beta1: float = DEFAULT_ADAM_BETAS[0]
    adam_beta2: float = DEFAULT_ADAM_BETAS[1]
    adam_epsilon: float = DEFAULT_ADAM_EPSILON
    weight_decay: float = DEFAULT_WEIGHT_DECAY
    lr_scheduler: str = "cosine_with_restarts"
    lr_warmup_steps: int = DEFAULT_WARMUP_STEPS
    lr_num_cycles: int = DEFAULT_LR_CYCLES
    max_grad_norm: float = DEFAULT_MAX_GRAD_NORM
    gradient_accumulation_steps: int = DEFAULT_GRADIENT_ACCUMULATION
    gradient_checkpointing: bool = True
    mixed_precision: str = "auto"
    fp32_trainable: bool = True
    seed: int = defaults.SEED
    image_noise_log_mean: float = DEFAULT_IMAGE_NOISE_LOG_MEAN
    image_noise_log_std: float = DEFAULT_IMAGE_NOISE_LOG_STD
    image_dropout: float = DEFAULT_IMAGE_DROPOUT
    fixed_noise: bool = False
    fixed_timestep: Optional[int] = None
    precompute: bool = False
    checkpointing_steps: int = DEFAULT_CHECKPOINTING_STEPS
    checkpoints_total_limit: Optional[int] = None
    resume: Optional[str] = None
    validation_steps: int = 0
    validation_sample: int = 0
    validation_inference_steps: int = DEFAULT_VALIDATION_INFERENCE_STEPS
    validation_guidance: float = DEFAULT_VALIDATION_GUIDANCE
    save_dtype: str = "auto"
    dataloader_workers: int = 0
    vae_slicing: bool = True
    vae_tiling: bool = True
    allow_tf32: bool = True
    report_to: str = "none"
    link_frozen: bool = False

    def validate(self) -> None:
        """Raise :class:`TrainConfigError` for settings that cannot work."""
        positive = {
            "max_train_steps": self.max_train_steps,
            "train_batch_size": self.train_batch_size,
            "gradient_accumulation_steps": self.gradient_accumulation_steps,
        }
        for name, value in positive.items():
            if value < 1:
                raise TrainConfigError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
        if self.learning_rate <= 0:
            raise TrainConfigError(f"--learning-rate must be positive, got {self.learning_rate}")
        if not 0.0 <= self.image_dropout <= 1.0:
            raise TrainConfigError(f"--image-dropout is a probability in [0, 1], got {self.image_dropout}")
        if self.mixed_precision not in MIXED_PRECISION_CHOICES:
            raise TrainConfigError(f"--mixed-precision must be one of {MIXED_PRECISION_CHOICES}")
        if self.save_dtype not in SAVE_DTYPE_CHOICES:
            raise TrainConfigError(f"--save-dtype must be one of {SAVE_DTYPE_CHOICES}")
        if self.lr_scheduler not in LR_SCHEDULER_CHOICES:
            raise TrainConfigError(f"--lr-scheduler must be one of {LR_SCHEDULER_CHOICES}")
        if self.num_tracking_blocks is not None and self.num_tracking_blocks < 1:
            raise TrainConfigError(f"--num-tracking-blocks must be at least 1, got {self.num_tracking_blocks}")
        for name in ("checkpointing_steps", "validation_steps", "lr_warmup_steps", "dataloader_workers"):
            if getattr(self, name) < 0:
                raise TrainConfigError(f"--{name.replace('_', '-')} cannot be negative")
        if self.checkpoints_total_limit is not None and self.checkpoints_total_limit < 1:
            raise TrainConfigError("--checkpoints-total-limit must be at least 1")
        if Path(self.output).resolve() == Path(self.base).resolve():
            raise TrainConfigError("--output must differ from --base: the export would overwrite the base model")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _bool_flag(parser: argparse.ArgumentParser, name: str, default: bool, help_text: str) -> None:
    parser.add_argument(f"--{name}", action=argparse.BooleanOptionalAction, default=default, help=help_text)


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m core.train`` parser (every :class:`TrainConfig` field has a flag)."""
    parser = argparse.ArgumentParser(
        prog="python -m core.train",
        description="Fine-tune the DaS tracking branch (run under `accelerate launch` for several GPUs).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    io = parser.add_argument_group("inputs and outputs")
    io.add_argument("--base", required=True, help="base CogVideoX-5B-I2V folder or DaS checkpoint folder")
    io.add_argument("--data", required=True, help="dataset folder from `python -m core.dataset prepare`")
    io.add_argument("--output", required=True, help="output folder = the finished checkpoint")
    io.add_argument("--resume", default=None, help="'latest' or a checkpoint folder to continue from")
    io.add_argument(
        "--save-dtype", choices=SAVE_DTYPE_CHOICES, default="auto", help="dtype of the exported transformer"
    )
    io.add_argument("--link-frozen", action="store_true", help="hard-link frozen components into the output")

    model = parser.add_argument_group("model and data")
    model.add_argument(
        "--num-tracking-blocks",
        type=int,
        default=None,
        help=(
            f"tracking blocks built from a base model (default {DEFAULT_NUM_TRACKING_BLOCKS}); "
            "a DaS checkpoint keeps its own"
        ),
    )
    model.add_argument(
        "--num-frames", type=int, default=None, help="frames per clip (default: from the transformer config)"
    )
    model.add_argument("--height", type=int, default=None, help="clip height (default: from the transformer config)")
    model.add_argument("--width", type=int, default=None, help="clip width (default: from the transformer config)")
    _bool_flag(
        model, "precompute", False, "encode latents and prompt embeddings once to disk and free the text encoder"
    )
    model.add_argument("--dataloader-workers", type=int, default=0)

    optim = parser.add_argument_group("optimisation")
    optim.add_argument("--max-train-steps", type=int, default=1000, help="optimizer steps")
    optim.add_argument("--train-batch-size", type=int, default=1, help="samples per micro-batch per process")
    optim.add_argument("--gradient-accumulation-steps", type=int, default=DEFAULT_GRADIENT_ACCUMULATION)
    optim.add_argument("--learning-rate", type=float, default=DEFAULT_LEARNING_RATE)
    optim.add_argument("--adam-beta1", type=float, default=DEFAULT_ADAM_BETAS[0])
    optim.add_argument("--adam-beta2", type=float, default=DEFAULT_ADAM_BETAS[1])
    optim.add_argument("--adam-epsilon", type=float, default=DEFAULT_ADAM_EPSILON)
    optim.add_argument("--weight-decay", type=float, default=DEFAULT_WEIGHT_DECAY)
    optim.add_argument("--lr-scheduler", choices=LR_SCHEDULER_CHOICES, default="cosine_with_restarts")
    optim.add_argument("--lr-warmup-steps", type=int, default=DEFAULT_WARMUP_STEPS)
    optim.add_argument("--lr-num-cycles", type=int, default=DEFAULT_LR_CYCLES)
    optim.add_argument("--max-grad-norm", type=float, default=DEFAULT_MAX_GRAD_NORM)
    _bool_flag(optim, "gradient-checkpointing", True, "recompute activations in the backward pass")
    optim.add_argument(
        "--mixed-precision", choices=MIXED_PRECISION_CHOICES, default="auto", help="auto: bf16 on GPU, no (fp32) on CPU"
    )
    _bool_flag(
        optim, "fp32-trainable", True, "trained weights and AdamW state in fp32 (--no-fp32-trainable: bf16 as DaS)"
    )
    _bool_flag(optim, "allow-tf32", True, "TF32 matmuls on Ampere+ GPUs")
    optim.add_argument("--seed", type=int, default=defaults.SEED)

    objective = parser.add_argument_group("objective (DaS defaults)")
    objective.add_argument("--image-noise-log-mean", type=float, default=DEFAULT_IMAGE_NOISE_LOG_MEAN)
    objective.add_argument("--image-noise-log-std", type=float, default=DEFAULT_IMAGE_NOISE_LOG_STD)
    objective.add_argument("--image-dropout", type=float, default=DEFAULT_IMAGE_DROPOUT)
    objective.add_argument(
        "--fixed-noise", action="store_true", help="same noise/timestep every step: overfit sanity check only"
    )
    objective.add_argument("--fixed-timestep", type=int, default=None, help="debugging: one timestep for every sample")

    memory = parser.add_argument_group("memory")
    _bool_flag(memory, "vae-slicing", True, "encode a batch one sample at a time")
    _bool_flag(memory, "vae-tiling", True, "encode in spatial tiles, as DaS's script and our inference engine do")

    saving = parser.add_argument_group("checkpoints, validation, logging")
    saving.add_argument(
        "--checkpointing-steps", type=int, default=DEFAULT_CHECKPOINTING_STEPS, help="0: only at the end"
    )
    saving.add_argument("--checkpoints-total-limit", type=int, default=None)
    saving.add_argument("--validation-steps", type=int, default=0, help="0: no validation videos")
    saving.add_argument("--validation-sample", type=int, default=0, help="dataset line used for validation videos")
    saving.add_argument("--validation-inference-steps", type=int, default=DEFAULT_VALIDATION_INFERENCE_STEPS)
    saving.add_argument("--validation-guidance", type=float, default=DEFAULT_VALIDATION_GUIDANCE)
    saving.add_argument("--report-to", choices=("none", "tensorboard", "wandb"), default="none")
    return parser


def parse_args(argv: Optional[Sequence[str]] = None) -> TrainConfig:
    """Parse the command line into a validated :class:`TrainConfig`."""
    namespace = vars(build_parser().parse_args(argv))
    names = {item.name for item in fields(TrainConfig)}
    config = TrainConfig(**{key: value for key, value in namespace.items() if key in names})
    config.validate()
    return config
