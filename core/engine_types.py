"""The engine's typed inputs and outputs (SPEC §10): how it loads and runs the model
(:class:`EngineConfig`), the sampling settings of one request (:class:`GenerationSettings`),
what the UI shows about it (:class:`EngineStatus`), the files of a finished request
(:class:`GenerationResult`) and the user errors raised when any of them is unusable.

Torch-free: importing this module loads no model code. Everything here is re-exported by
:mod:`core.engine`, where callers import it from.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Optional

import numpy as np

from core import defaults
from core.errors import UserError

OFFLOAD_MODES = ("none", "model", "sequential", "group")
"""Memory modes: full GPU, model CPU offload, sequential (per-layer) offload, group offload."""


class EngineConfigError(UserError):
    """An engine setting is invalid (unknown memory mode, CUDA asked for but absent, ...)."""


class GenerationInputError(UserError):
    """The first frame, tracking video, prompt or settings given to :meth:`core.engine.Engine.generate` are unusable."""


@dataclass
class EngineConfig:
    """How the engine loads and runs the model.

    Attributes:
        checkpoint: local folder or Hub id; ``None`` = ``checkpoints/Diffusion-As-Shader`` if
            present, else ``EXCAI/Diffusion-As-Shader``.
        device: ``"cuda"``, ``"cuda:1"``, ``"cpu"`` or ``None`` (CUDA when available).
        offload: one of :data:`OFFLOAD_MODES` (ignored on CPU).
        output_dir: where result folders are created.
        compile: ``torch.compile`` the transformer (slow first step, faster later ones).
        vae_tiling / vae_slicing: decode the VAE in tiles / one sample at a time (less memory).
        allow_download: fetch a Hub checkpoint that is not on disk yet (only if the machine is
            online; ``HF_HUB_OFFLINE=1`` always wins).
        quantize: weight-only quantisation of the transformer and T5 encoder, one of
            ``core.acceleration.quantize.QUANTIZE_MODES`` ("none", "int8", "fp8"); works with
            offload "none" or "model".
        step_cache_threshold: reuse the transformer's residual on steps whose input barely
            changed (``core.acceleration.step_cache``); ``None`` = off, ``0`` = hooks on but
            nothing skipped (identical output), 0.1–0.3 typical.
        attention_backend: diffusers attention backend ("native", "flash", "sage", ...);
            ``None`` keeps the model's own SDPA processor.
        parallel: processes (GPUs) that share each video (``core.acceleration.parallel``); 1 =
            one process. Above 1 the engine must run in a process that joined such a group
            (the CLI's and studio's ``--parallel N`` start and join it).
    """

    checkpoint: Optional[str] = None
    device: Optional[str] = None
    offload: str = "none"
    output_dir: str | Path = "outputs"
    compile: bool = False
    vae_tiling: bool = True
    vae_slicing: bool = True
    allow_download: bool = True
    quantize: str = "none"
    step_cache_threshold: Optional[float] = None
    attention_backend: Optional[str] = None
    parallel: int = 1

    def __post_init__(self) -> None:
        self._validate_acceleration()
        if self.offload not in OFFLOAD_MODES:
            raise EngineConfigError(f"offload must be one of {', '.join(OFFLOAD_MODES)}; got {self.offload!r}")
        if self.compile and self.offload == "sequential":
            # Sequential offload swaps every layer's weights in and out through hooks during the
            # forward pass, which a compiled graph cannot follow; diffusers supports compiling
            # with model or group offload only.
            raise EngineConfigError(
                "--compile does not work with --offload sequential; use --offload model or group with it"
            )
        if self.checkpoint is not None:
            self.checkpoint = str(self.checkpoint)

    def _validate_acceleration(self) -> None:
        from core.acceleration import ACCELERATION_OFFLOAD_MODES, QUANTIZE_MODES

        if self.quantize not in QUANTIZE_MODES:
            raise EngineConfigError(f"quantize must be one of {', '.join(QUANTIZE_MODES)}; got {self.quantize!r}")
        if self.quantize != "none" and self.offload not in ACCELERATION_OFFLOAD_MODES:
            # Group and sequential offload move every weight through hooks that expect plain tensors.
            raise EngineConfigError(f"--quantize {self.quantize} works with --offload none or model, not {self.offload}")
        threshold = self.step_cache_threshold
        if threshold is not None and not (isinstance(threshold, (int, float)) and np.isfinite(threshold) and threshold >= 0):
            raise EngineConfigError(f"step-cache threshold must be a number >= 0 (0 skips nothing); got {threshold!r}")
        if self.parallel != 1:
            from core.acceleration.parallel import ParallelError, check_parallel

            try:
                check_parallel(self.parallel, self.offload, self.device)
            except ParallelError as error:
                raise EngineConfigError(str(error)) from None


@dataclass
class GenerationSettings:
    """Sampling settings of one request (SPEC §4 defaults).

    Attributes:
        seed: integer seed, or :data:`core.defaults.RANDOM_SEED` (-1) to draw one; the seed used is returned.
        num_inference_steps: denoising steps.
        guidance_scale: classifier-free guidance weight (``<= 1`` disables guidance).
        use_dynamic_cfg: CogVideoX's cosine guidance schedule.
        negative_prompt: what the model should avoid.
        legacy_tracking_range: feed the tracking video to the VAE in [0, 1] like the DaS demo
            instead of [-1, 1] like DaS training (SPEC §4); off by default.
        fps: frame rate of the written video; ``None`` = the tracking video's.
    """

    seed: int = defaults.SEED
    num_inference_steps: int = defaults.NUM_INFERENCE_STEPS
    guidance_scale: float = defaults.GUIDANCE_SCALE
    use_dynamic_cfg: bool = defaults.USE_DYNAMIC_CFG
    negative_prompt: str = defaults.NEGATIVE_PROMPT
    legacy_tracking_range: bool = False
    fps: Optional[float] = None

    def validate(self) -> None:
        """Raise :class:`GenerationInputError` naming the first unusable setting."""
        is_integer = isinstance(self.seed, (int, np.integer))
        if not is_integer or not (self.seed == defaults.RANDOM_SEED or 0 <= self.seed <= defaults.MAX_USER_SEED):
            raise GenerationInputError(f"seed must be a non-negative integer or -1 for a random one; got {self.seed!r}")
        if not isinstance(self.num_inference_steps, (int, np.integer)) or self.num_inference_steps < 1:
            raise GenerationInputError(f"num_inference_steps must be a positive integer; got {self.num_inference_steps!r}")
        if not np.isfinite(self.guidance_scale) or self.guidance_scale < 0:
            raise GenerationInputError(f"guidance_scale must be a finite number >= 0; got {self.guidance_scale!r}")
        if self.fps is not None and not (np.isfinite(self.fps) and self.fps > 0):
            raise GenerationInputError(f"fps must be a positive number (or empty for the tracking video's); got {self.fps!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of every setting."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "GenerationSettings":
        """Settings from a dict (a settings JSON, a batch job); unknown keys raise."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise GenerationInputError(f"unknown generation setting(s) {unknown}; known: {sorted(known)}")
        return cls(**data)


@dataclass(frozen=True)
class EngineStatus:
    """What the UI shows about the engine.

    ``message`` is one human-readable line combining the warnings (CPU, tiny model, not loaded).
    """

    device: str
    dtype: str
    loaded: bool
    checkpoint: str
    is_tiny: bool
    message: str
    warnings: tuple[str, ...] = ()
    processes: int = 1
    """Processes (GPUs) sharing each video (``EngineConfig.parallel``); ``device`` is this one's."""


@dataclass(frozen=True)
class GenerationResult:
    """Files and facts of one finished request.

    ``frames`` is the generated video ``(T, H, W, 3)`` uint8 before H.264 encoding.
    """

    video_path: Path
    tracking_path: Path
    settings_path: Path
    first_frame_path: Path
    seed: int
    output_dir: Path
    elapsed_s: float
    frames: np.ndarray = field(repr=False)
    window_tracking_paths: tuple[Path, ...] = ()
    """``tracking_window_01.mp4`` … of a long video (:meth:`core.engine.Engine.generate_windows`); empty for one window."""
