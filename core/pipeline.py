"""The Diffusion-as-Shader pipeline: first frame + tracking video + prompt → video (SPEC §4).

:class:`DiffusionAsShaderPipeline` is diffusers' CogVideoX image-to-video pipeline with a second
conditioning stream: the VAE latents of a *tracking video* (and of its first frame) go to the
tracking blocks of :class:`~core.transformer.CogVideoXTransformer3DModelTracking`. Everything the
trained checkpoint depends on follows diffusers' ``CogVideoXImageToVideoPipeline`` (and DaS)
exactly — prompt encoding, image latents padded with zeros to the latent frame count, rotary
embeddings, dynamic classifier-free guidance, the DPM scheduler step, decoding — because the
pipeline *inherits* those methods instead of re-implementing them.

Loading: :meth:`DiffusionAsShaderPipeline.from_pretrained` reads the DaS folder layout
(``transformer/``, ``vae/``, ``text_encoder/``, ``tokenizer/``, ``scheduler/``,
``model_index.json``) component by component, after :func:`core.checkpoints.check_das_checkpoint`
has verified it, so a missing or partial download is a :class:`core.errors.CheckpointError`
naming what is missing.

Shapes: images ``(H, W, 3)`` uint8 (or PIL / ``(3, H, W)`` float tensors in [0, 1]); videos
``(T, H, W, 3)`` uint8; latents ``(B, F, C, h, w)`` with ``F = (T - 1) / 4 + 1``, ``C = 16``,
``h, w = H / 8, W / 8``.
"""

from __future__ import annotations

import importlib.util
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import PIL.Image
import torch
from diffusers import AutoencoderKLCogVideoX, CogVideoXDPMScheduler, CogVideoXImageToVideoPipeline
from diffusers.callbacks import MultiPipelineCallbacks, PipelineCallback
from diffusers.pipelines.cogvideo.pipeline_cogvideox_image2video import retrieve_timesteps
from diffusers.schedulers import CogVideoXDDIMScheduler
from diffusers.utils import BaseOutput
from transformers import T5EncoderModel, T5Tokenizer

from core import defaults
from core.checkpoints import HOW_TO_GET_CHECKPOINT, locate_das_checkpoint, tracking_block_count
from core.errors import CheckpointError
from core.transformer import CogVideoXTransformer3DModelTracking

logger = logging.getLogger(__name__)

DYNAMIC_CFG_EXPONENT = 5.0
"""Exponent of CogVideoX's dynamic guidance ramp ``w_t = 1 + w·(1 − cos(π·((S − t)/S)^5))/2``."""

OFS_VALUE = 2.0
"""The "ofs" conditioning value diffusers feeds CogVideoX 1.5 I2V models (unused by DaS / 5B-I2V)."""


@dataclass
class DiffusionAsShaderPipelineOutput(BaseOutput):
    """Output of :class:`DiffusionAsShaderPipeline`.

    Attributes:
        frames: the generated videos — ``output_type="np"``: ``(B, T, H, W, 3)`` float32 in
            [0, 1]; ``"pt"``: ``(B, T, 3, H, W)`` tensor in [0, 1]; ``"pil"``: ``B`` lists of
            ``T`` PIL images; ``"latent"``: ``(B, F, C, h, w)`` latents. ``None`` when the run
            was interrupted (decoding is skipped).
        interrupted: True when a ``callback_on_step_end`` set ``pipe._interrupt``.
    """

    frames: Any
    interrupted: bool = False


# --------------------------------------------------------------------------------------------
# Loading checks
# --------------------------------------------------------------------------------------------


def load_tracking_transformer(
    folder: str | Path, *, torch_dtype: torch.dtype | None = None
) -> CogVideoXTransformer3DModelTracking:
    """Load ``folder/transformer`` as a tracking transformer, refusing any key mismatch.

    A config without ``num_tracking_blocks`` takes the count from the weight names (read from
    the safetensors header or shard index only). diffusers itself only warns about missing or
    unexpected keys (and leaves missing weights uninitialised on the meta device); here any
    mismatch is a :class:`CheckpointError` naming the keys.

    Args:
        folder: a checkpoint folder with a ``transformer/`` subfolder.
        torch_dtype: dtype to load the weights in (default: as stored, float32 for diffusers).
    """
    folder = Path(folder)
    config_overrides = {}
    if "num_tracking_blocks" not in CogVideoXTransformer3DModelTracking.load_config(folder / "transformer"):
        tracking_blocks = tracking_block_count(folder / "transformer")
        if tracking_blocks is not None:
            config_overrides["num_tracking_blocks"] = tracking_blocks
    transformer, loading_info = CogVideoXTransformer3DModelTracking.from_pretrained(
        folder, subfolder="transformer", torch_dtype=torch_dtype, output_loading_info=True, **config_overrides
    )
    mismatched = {key: value for key, value in loading_info.items() if value and key != "error_msgs"}
    if mismatched:
        raise CheckpointError(
            f"transformer weights in '{folder}' do not match CogVideoXTransformer3DModelTracking: {mismatched}. "
            f"{HOW_TO_GET_CHECKPOINT}"
        )
    return transformer


def _check_tokenizer_dependencies(tokenizer_dir: Path) -> None:
    """transformers 5 converts a SentencePiece-only tokenizer (the real T5 layout) with protobuf."""
    if (tokenizer_dir / "tokenizer.json").is_file():
        return
    try:
        if importlib.util.find_spec("google.protobuf") is not None:
            return
    except ModuleNotFoundError:  # no `google` namespace package at all
        pass
    raise ImportError(
        f"{tokenizer_dir} holds only spiece.model, which transformers reads with the `protobuf` "
        "package: run `pip install protobuf`"
    )


# --------------------------------------------------------------------------------------------
# Input conversion
# --------------------------------------------------------------------------------------------

ImageInput = PIL.Image.Image | np.ndarray | torch.Tensor
"""An image: PIL, ``(H, W, 3)`` uint8 / float-in-[0, 1] array, or ``(3, H, W)`` / ``(1, 3, H, W)`` tensor in [0, 1]."""

VideoInput = np.ndarray | torch.Tensor | Sequence[PIL.Image.Image]
"""A video: ``(T, H, W, 3)`` uint8 array, ``(T, 3, H, W)`` float tensor in [0, 1], or a list of PIL images."""

_UINT8_MAX = 255.0
_RANGE_TOLERANCE = 1e-3  # float inputs may overshoot [0, 1] by rounding


def _image_for_processor(image: ImageInput, name: str) -> PIL.Image.Image | torch.Tensor:
    """Turn an image into what diffusers' image processor reads the same way for every type:
    a PIL image, or a ``(1, 3, H, W)`` float tensor in [0, 1]."""
    if isinstance(image, PIL.Image.Image):
        return image
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[-1] != 3:
            raise ValueError(f"{name} as an array must be (H, W, 3), got shape {image.shape}")
        if image.dtype == np.uint8:
            return PIL.Image.fromarray(image)
        tensor = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float()
    elif isinstance(image, torch.Tensor):
        tensor = image.float() / _UINT8_MAX if image.dtype == torch.uint8 else image
        if tensor.ndim == 4 and tensor.shape[0] == 1:
            tensor = tensor[0]
        if tensor.ndim != 3 or tensor.shape[0] != 3:
            raise ValueError(f"{name} as a tensor must be (3, H, W) or (1, 3, H, W), got shape {tuple(image.shape)}")
    else:
        raise ValueError(f"{name} must be a PIL image, a numpy array or a torch tensor, got {type(image).__name__}")
    _check_unit_range(tensor, name)
    return tensor.unsqueeze(0)


def _check_unit_range(tensor: torch.Tensor, name: str) -> None:
    low, high = float(tensor.min()), float(tensor.max())
    if low < -_RANGE_TOLERANCE or high > 1.0 + _RANGE_TOLERANCE:
        raise ValueError(f"{name} must hold values in [0, 1] (or be uint8), got values in [{low:.3f}, {high:.3f}]")


def tracking_video_to_tensor(tracking_video: VideoInput) -> torch.Tensor:
    """A tracking video as a ``(T, 3, H, W)`` float32 tensor in [0, 1].

    Accepts ``(T, H, W, 3)`` uint8 arrays (the project's video convention), ``(T, 3, H, W)``
    float tensors in [0, 1] (DaS's convention) and lists of PIL images.
    """
    if isinstance(tracking_video, torch.Tensor):
        video = tracking_video.float() / _UINT8_MAX if tracking_video.dtype == torch.uint8 else tracking_video.float()
        if video.ndim != 4 or video.shape[1] != 3:
            raise ValueError(f"tracking_video as a tensor must be (T, 3, H, W), got shape {tuple(video.shape)}")
    elif isinstance(tracking_video, np.ndarray):
        if tracking_video.ndim != 4 or tracking_video.shape[-1] != 3:
            raise ValueError(f"tracking_video as an array must be (T, H, W, 3), got shape {tracking_video.shape}")
        video = torch.from_numpy(np.ascontiguousarray(tracking_video)).permute(0, 3, 1, 2).float()
        if tracking_video.dtype == np.uint8:
            video = video / _UINT8_MAX
    elif isinstance(tracking_video, Sequence) and tracking_video and all(
        isinstance(frame, PIL.Image.Image) for frame in tracking_video
    ):
        frames = np.stack([np.asarray(frame.convert("RGB")) for frame in tracking_video])
        video = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / _UINT8_MAX
    else:
        raise ValueError(
            "tracking_video must be a (T, H, W, 3) uint8 array, a (T, 3, H, W) float tensor in [0, 1] "
            f"or a non-empty list of PIL images, got {type(tracking_video).__name__}"
        )
    _check_unit_range(video, "tracking_video")
    return video


def _fork_generator(
    generator: torch.Generator | list[torch.Generator] | None,
) -> torch.Generator | None:
    """An independent copy of (the first of) ``generator`` in its current state."""
    if isinstance(generator, list):
        generator = generator[0]
    if generator is None:
        return None
    fork = torch.Generator(device=generator.device)
    fork.set_state(generator.get_state())
    return fork


# --------------------------------------------------------------------------------------------
# The pipeline
# --------------------------------------------------------------------------------------------


class DiffusionAsShaderPipeline(CogVideoXImageToVideoPipeline):
    r"""Diffusion as Shader: CogVideoX-5B-I2V guided by a tracking video (SPEC §4).

    Components (diffusers names): ``tokenizer`` (T5), ``text_encoder`` (``T5EncoderModel``),
    ``vae`` (``AutoencoderKLCogVideoX``), ``transformer``
    (:class:`~core.transformer.CogVideoXTransformer3DModelTracking`) and ``scheduler``
    (``CogVideoXDPMScheduler`` with ``timestep_spacing="trailing"`` when loaded with
    :meth:`from_pretrained`). Offload order: text encoder → transformer → VAE.

    Prompt encoding, ``prepare_latents``, rotary embeddings, ``decode_latents`` and input
    checks are inherited unchanged from diffusers' ``CogVideoXImageToVideoPipeline``.
    """

    model_cpu_offload_seq = "text_encoder->transformer->vae"

    def __init__(
        self,
        tokenizer: T5Tokenizer,
        text_encoder: T5EncoderModel,
        vae: AutoencoderKLCogVideoX,
        transformer: CogVideoXTransformer3DModelTracking,
        scheduler: CogVideoXDPMScheduler | CogVideoXDDIMScheduler,
    ):
        if not isinstance(transformer, CogVideoXTransformer3DModelTracking):
            raise TypeError(
                f"transformer must be a CogVideoXTransformer3DModelTracking, got {type(transformer).__name__}"
            )
        super().__init__(
            tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer, scheduler=scheduler
        )

    # ----------------------------------------------------------------------------------------
    # Loading
    # ----------------------------------------------------------------------------------------

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | Path,
        *,
        torch_dtype: torch.dtype | None = None,
        local_files_only: bool | None = None,
        revision: str | None = None,
        cache_dir: str | Path | None = None,
        token: str | bool | None = None,
    ) -> "DiffusionAsShaderPipeline":
        """Load a DaS checkpoint folder (or Hub id) component by component.

        The components are read from their subfolders with their own classes, whatever
        ``model_index.json`` names (the published one may name another pipeline class), and
        the scheduler config is turned into ``CogVideoXDPMScheduler`` with
        ``timestep_spacing="trailing"``, as DaS inference does.

        Args:
            pretrained_model_name_or_path: a local folder, or a Hub id such as
                ``"EXCAI/Diffusion-As-Shader"`` (downloaded only when online and not cached).
            torch_dtype: dtype for the transformer, VAE and text encoder (``torch.bfloat16`` on
                GPU; default float32).
            local_files_only, revision, cache_dir, token: Hub options for a Hub id.

        Raises:
            CheckpointError: the checkpoint is missing, incomplete, or its transformer weights
                do not match the model (missing / unexpected keys).
        """
        folder = locate_das_checkpoint(
            pretrained_model_name_or_path,
            allow_download=not local_files_only,
            revision=revision,
            cache_dir=cache_dir,
            token=token,
        )
        transformer = load_tracking_transformer(folder, torch_dtype=torch_dtype)
        vae = AutoencoderKLCogVideoX.from_pretrained(folder, subfolder="vae", torch_dtype=torch_dtype)
        text_encoder_options = {} if torch_dtype is None else {"dtype": torch_dtype}
        text_encoder = T5EncoderModel.from_pretrained(folder, subfolder="text_encoder", **text_encoder_options)
        _check_tokenizer_dependencies(folder / "tokenizer")
        tokenizer = T5Tokenizer.from_pretrained(folder, subfolder="tokenizer")
        scheduler_config = CogVideoXDPMScheduler.load_config(folder, subfolder="scheduler")
        scheduler = CogVideoXDPMScheduler.from_config(scheduler_config, timestep_spacing="trailing")
        return cls(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer, scheduler=scheduler)

    # ----------------------------------------------------------------------------------------
    # Sizes
    # ----------------------------------------------------------------------------------------

    @property
    def native_size(self) -> tuple[int, int, int]:
        """``(num_frames, height, width)`` in pixels the checkpoint was trained at (49, 480, 720 for DaS)."""
        config = self.transformer.config
        return (
            config.sample_frames,
            config.sample_height * self.vae_scale_factor_spatial,
            config.sample_width * self.vae_scale_factor_spatial,
        )

    def latent_frame_count(self, num_frames: int) -> int:
        """Latent frames for ``num_frames`` video frames (49 → 13)."""
        return (num_frames - 1) // self.vae_scale_factor_temporal + 1

    def _check_size(self, num_frames: int, height: int, width: int) -> None:
        """Raise ValueError for a size the VAE or the transformer cannot take."""
        config = self.transformer.config
        if config.patch_size_t is not None:
            raise ValueError("CogVideoX 1.5 transformers (patch_size_t) are not supported by DiffusionAsShaderPipeline")
        pixels_per_token = self.vae_scale_factor_spatial * config.patch_size
        if height <= 0 or width <= 0 or height % pixels_per_token or width % pixels_per_token:
            raise ValueError(f"height and width must be positive multiples of {pixels_per_token}, got {height}×{width}")
        if num_frames < 1 or (num_frames - 1) % self.vae_scale_factor_temporal:
            raise ValueError(
                f"num_frames must be 1 + a multiple of {self.vae_scale_factor_temporal} (e.g. 49), got {num_frames}"
            )
        if config.use_learned_positional_embeddings:
            native_frames, native_height, native_width = self.native_size
            # Learned position embeddings exist only for the training size; at another frame
            # count diffusers would silently swap them for sinusoidal ones.
            if (num_frames, height, width) != (native_frames, native_height, native_width):
                raise ValueError(
                    f"this checkpoint generates only at its native size: {native_frames} frames of "
                    f"{native_height}×{native_width}, got {num_frames} frames of {height}×{width}"
                )

    def _check_text_length(self, max_sequence_length: int, prompt_embeds: torch.Tensor | None) -> None:
        """Absolute position embeddings cover exactly ``max_text_seq_length`` text tokens."""
        config = self.transformer.config
        if config.use_rotary_positional_embeddings and not config.use_learned_positional_embeddings:
            return
        length = max_sequence_length if prompt_embeds is None else prompt_embeds.shape[1]
        if length != config.max_text_seq_length:
            raise ValueError(
                f"this checkpoint needs text embeddings of {config.max_text_seq_length} tokens, got {length}"
            )

    # ----------------------------------------------------------------------------------------
    # Conditioning shared with training
    # ----------------------------------------------------------------------------------------

    @torch.no_grad()
    def encode_prompt_embeddings(
        self,
        prompts: list[str],
        *,
        max_sequence_length: int = defaults.MAX_SEQUENCE_LENGTH,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> torch.Tensor:
        """T5 embeddings ``(B, L, D)`` of ``prompts``, exactly as generation encodes a prompt.

        ``L = max_sequence_length`` (226 for DaS: every prompt is padded or truncated to it);
        ``D`` is the text encoder's width (4096 for T5-XXL). The trainer encodes its captions
        with this, so training and inference see identical text conditioning.
        """
        return self._get_t5_prompt_embeds(
            prompt=list(prompts),
            num_videos_per_prompt=1,
            max_sequence_length=max_sequence_length,
            device=device or self._execution_device,
            dtype=dtype or self.text_encoder.dtype,
        )

    def rotary_embeddings(
        self, height: int, width: int, num_latent_frames: int, device: torch.device | None = None
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The transformer's 3D rotary position embeddings ``(cos, sin)`` for a video of
        ``height × width`` pixels and ``num_latent_frames`` latent frames, each
        ``(num_latent_frames · h · w / p², head_dim)``; ``None`` for checkpoints with absolute
        position embeddings. Generation and training both take them from here."""
        if not self.transformer.config.use_rotary_positional_embeddings:
            return None
        return self._prepare_rotary_positional_embeddings(
            height, width, num_latent_frames, device or self._execution_device
        )

    # ----------------------------------------------------------------------------------------
    # Tracking video encoding
    # ----------------------------------------------------------------------------------------

    @torch.no_grad()
    def encode_tracking_video(
        self,
        tracking_video: VideoInput,
        *,
        generator: torch.Generator | None = None,
        legacy_tracking_range: bool = False,
    ) -> torch.Tensor:
        """VAE-encode a tracking video for the tracking stream (cacheable across prompts).

        The frames go to the VAE in [-1, 1], as in DaS training and evaluation; with
        ``legacy_tracking_range=True`` they go in [0, 1], as the DaS demo / web UI did (a
        train/inference mismatch kept only to reproduce its outputs). The latent is *sampled*
        from the VAE posterior (``latent_dist.sample(generator)``), as DaS does, and scaled by
        ``vae.config.scaling_factor``.

        Args:
            tracking_video: ``(T, H, W, 3)`` uint8 array, ``(T, 3, H, W)`` float tensor in
                [0, 1], or list of PIL images; ``T = 1 + 4k``.
            generator: random generator for the posterior sample. Inside ``__call__`` this is a
                copy of the call's generator taken before any other draw, so
                ``encode_tracking_video(v, generator=torch.Generator().manual_seed(s))``
                reproduces the encoding a call with ``manual_seed(s)`` makes.
            legacy_tracking_range: feed [0, 1] instead of [-1, 1] (DaS web UI behaviour).

        Returns:
            ``(1, F, C, h, w)`` latents in the VAE's dtype, ``F = (T - 1) / 4 + 1``.
        """
        video = tracking_video_to_tensor(tracking_video)
        num_frames = video.shape[0]
        if (num_frames - 1) % self.vae_scale_factor_temporal:
            raise ValueError(
                f"tracking_video must have 1 + a multiple of {self.vae_scale_factor_temporal} frames, got {num_frames}"
            )
        if not legacy_tracking_range:
            video = video * 2.0 - 1.0
        # (T, 3, H, W) → (1, 3, T, H, W): the VAE reads channels before frames.
        video = video.permute(1, 0, 2, 3).unsqueeze(0)
        video = video.to(device=self._execution_device, dtype=self.vae.dtype)
        latents = self.vae.encode(video).latent_dist.sample(generator) * self.vae.config.scaling_factor
        return latents.permute(0, 2, 1, 3, 4)  # (1, F, C, h, w)

    # ----------------------------------------------------------------------------------------
    # Generation
    # ----------------------------------------------------------------------------------------

    @torch.no_grad()
    def __call__(
        self,
        image: ImageInput,
        prompt: str | list[str] | None = None,
        tracking_video: VideoInput | None = None,
        *,
        tracking_latents: torch.Tensor | None = None,
        tracking_image: ImageInput | None = None,
        negative_prompt: str | list[str] | None = defaults.NEGATIVE_PROMPT,
        height: int | None = None,
        width: int | None = None,
        num_frames: int | None = None,
        num_inference_steps: int = defaults.NUM_INFERENCE_STEPS,
        timesteps: list[int] | None = None,
        guidance_scale: float = defaults.GUIDANCE_SCALE,
        use_dynamic_cfg: bool = defaults.USE_DYNAMIC_CFG,
        num_videos_per_prompt: int = 1,
        eta: float = 0.0,
        generator: torch.Generator | list[torch.Generator] | None = None,
        latents: torch.Tensor | None = None,
        prompt_embeds: torch.Tensor | None = None,
        negative_prompt_embeds: torch.Tensor | None = None,
        output_type: str = "np",
        return_dict: bool = True,
        attention_kwargs: dict[str, Any] | None = None,
        callback_on_step_end: Callable[..., dict] | PipelineCallback | MultiPipelineCallbacks | None = None,
        callback_on_step_end_tensor_inputs: list[str] | None = None,
        max_sequence_length: int = defaults.MAX_SEQUENCE_LENGTH,
        legacy_tracking_range: bool = False,
    ) -> DiffusionAsShaderPipelineOutput | tuple:
        """Generate a video from a first frame, a prompt and a tracking video.

        Args:
            image: the first frame (PIL, ``(H, W, 3)`` uint8, or ``(3, H, W)`` tensor in [0, 1]).
            prompt: text prompt(s) (or pass ``prompt_embeds``).
            tracking_video: the tracking video, ``(T, H, W, 3)`` uint8, ``(T, 3, H, W)`` float in
                [0, 1] or list of PIL images, at the generated size and frame count. Its first
                frame is the tracking image. Give either this or ``tracking_latents``.
            tracking_latents: ``(1 | B, F, C, h, w)`` latents from :meth:`encode_tracking_video`
                (a cached encoding); needs ``tracking_image``.
            tracking_image: the tracking video's first frame (as ``image``), with ``tracking_latents``.
            negative_prompt: DaS's negative prompt by default (ignored with ``negative_prompt_embeds``).
            height, width, num_frames: output size; default: the checkpoint's native size
                (``sample_height·8``, ``sample_width·8``, ``sample_frames``: 480, 720, 49 for DaS).
            num_inference_steps, timesteps, guidance_scale, use_dynamic_cfg, eta: sampling; CFG
                is on for ``guidance_scale > 1``; with ``use_dynamic_cfg`` the scale follows
                ``1 + w·(1 − cos(π·((S − t)/S)^5))/2`` (CogVideoX's ramp, ``t`` the timestep value).
            num_videos_per_prompt: videos per prompt (the image and tracking latents are shared).
            generator: random generator(s); the sequence of draws (image latent sample, initial
                noise, tracking image latent sample, a discarded noise draw) is DaS's, so one
                seed gives DaS's initial noise. The tracking video is encoded with a copy of the
                generator taken before those draws (see :meth:`encode_tracking_video`).
            latents: ``(B, F, C, h, w)`` initial noise instead of sampling it.
            prompt_embeds, negative_prompt_embeds: precomputed T5 embeddings.
            output_type: ``"np"`` (default), ``"pt"``, ``"pil"`` or ``"latent"``.
            return_dict: return :class:`DiffusionAsShaderPipelineOutput` (else a 1-tuple).
            attention_kwargs: passed to the attention processors (``"scale"`` scales LoRA).
            callback_on_step_end: ``callback(pipe, step, timestep, tensors) -> dict`` after each
                step; setting ``pipe._interrupt = True`` stops before the next step, skips
                decoding and returns ``frames=None, interrupted=True``.
            callback_on_step_end_tensor_inputs: tensors handed to the callback (default ``["latents"]``).
            max_sequence_length: T5 tokens (226; must equal the transformer's
                ``max_text_seq_length`` for checkpoints with learned position embeddings).
            legacy_tracking_range: encode the tracking video in [0, 1] as the DaS web UI did
                instead of [-1, 1] (training range). Off by default; see docs/MODEL.md.

        Returns:
            :class:`DiffusionAsShaderPipelineOutput` (``frames`` ``(B, T, H, W, 3)`` float32 in
            [0, 1] for ``"np"``), or ``(frames,)``.
        """
        if isinstance(callback_on_step_end, (PipelineCallback, MultiPipelineCallbacks)):
            callback_on_step_end_tensor_inputs = callback_on_step_end.tensor_inputs
        if callback_on_step_end_tensor_inputs is None:
            callback_on_step_end_tensor_inputs = ["latents"]
        if negative_prompt_embeds is not None and negative_prompt is defaults.NEGATIVE_PROMPT:
            negative_prompt = None  # the default text yields to explicitly given embeddings

        # 0. Default size: the checkpoint's native size
        native_frames, native_height, native_width = self.native_size
        num_frames = num_frames or native_frames
        height = height or native_height
        width = width or native_width

        # 1. Check inputs
        image = _image_for_processor(image, "image")
        self.check_inputs(
            image=image,
            prompt=prompt,
            height=height,
            width=width,
            negative_prompt=negative_prompt,
            callback_on_step_end_tensor_inputs=callback_on_step_end_tensor_inputs,
            latents=latents,
            prompt_embeds=prompt_embeds,
            negative_prompt_embeds=negative_prompt_embeds,
        )
        self._check_size(num_frames, height, width)
        self._check_text_length(max_sequence_length, prompt_embeds)
        tracking_frames, tracking_image = self._check_tracking_inputs(
            tracking_video, tracking_latents, tracking_image, num_frames, height, width
        )
        if num_videos_per_prompt < 1:
            raise ValueError(f"num_videos_per_prompt must be >= 1, got {num_videos_per_prompt}")
        self._guidance_scale = guidance_scale
        self._current_timestep = None
        self._attention_kwargs = attention_kwargs
        self._interrupt = False

        # 2. Call parameters
        if isinstance(prompt, str):
            batch_size = 1
        elif isinstance(prompt, list):
            batch_size = len(prompt)
        else:
            batch_size = prompt_embeds.shape[0]
        total_batch = batch_size * num_videos_per_prompt
        if tracking_latents is not None and tracking_latents.shape[0] not in (1, total_batch):
            raise ValueError(
                f"tracking_latents has a batch of {tracking_latents.shape[0]}; it must be 1 (shared by every "
                f"video) or {total_batch} (prompts × num_videos_per_prompt)"
            )
        device = self._execution_device
        do_classifier_free_guidance = guidance_scale > 1.0
        # Taken before any random draw, so the tracking encoding does not shift DaS's sequence.
        tracking_generator = _fork_generator(generator)

        # 3. Encode the prompt (negative first: CFG batches are [uncond, cond])
        prompt_embeds, negative_prompt_embeds = self.encode_prompt(
            prompt=prompt,
            negative_prompt=negative_prompt,
            do_classifier_free_guidance=do_classifier_free_guidance,
            num_videos_per_prompt=num_videos_per_prompt,
            prompt_embeds=prompt_embeds,
            negative_prompt_embeds=negative_prompt_embeds,
            max_sequence_length=max_sequence_length,
            device=device,
        )
        if do_classifier_free_guidance:
            prompt_embeds = torch.cat([negative_prompt_embeds, prompt_embeds], dim=0)

        # 4. Timesteps
        timesteps, num_inference_steps = retrieve_timesteps(self.scheduler, num_inference_steps, device, timesteps)
        self._num_timesteps = len(timesteps)

        # 5. Initial noise and first-frame image latents (padded with zeros to F frames)
        latent_channels = self.transformer.config.in_channels // 2
        image = self._preprocess_batch(image, total_batch, height, width, device, prompt_embeds.dtype)
        latents, image_latents = self.prepare_latents(
            image, total_batch, latent_channels, num_frames, height, width, prompt_embeds.dtype, device, generator, latents
        )

        # 6. Tracking conditioning: the tracking image's latents exactly like the image's
        #    (DaS also draws — and drops — a second initial noise here; we keep the draw so
        #    that the random sequence matches), then the tracking video's latents.
        tracking_image = self._preprocess_batch(tracking_image, total_batch, height, width, device, prompt_embeds.dtype)
        _, tracking_image_latents = self.prepare_latents(
            tracking_image, total_batch, latent_channels, num_frames, height, width, prompt_embeds.dtype, device, generator
        )
        if tracking_latents is None:
            tracking_latents = self.encode_tracking_video(
                tracking_frames, generator=tracking_generator, legacy_tracking_range=legacy_tracking_range
            )
        tracking_latents = tracking_latents.to(device=device, dtype=prompt_embeds.dtype)
        if tracking_latents.shape[0] == 1 and total_batch > 1:
            tracking_latents = tracking_latents.expand(total_batch, -1, -1, -1, -1)
        tracking_input = torch.cat([tracking_latents, tracking_image_latents], dim=2)
        if do_classifier_free_guidance:
            tracking_input = torch.cat([tracking_input] * 2)

        # 7. Scheduler extras, rotary position embeddings, "ofs" embedding (CogVideoX 1.5 only)
        extra_step_kwargs = self.prepare_extra_step_kwargs(generator, eta)
        image_rotary_emb = self.rotary_embeddings(height, width, latents.size(1), device)
        ofs_emb = None if self.transformer.config.ofs_embed_dim is None else latents.new_full((1,), OFS_VALUE)

        # 8. Denoising loop
        num_warmup_steps = max(len(timesteps) - num_inference_steps * self.scheduler.order, 0)
        with self.progress_bar(total=num_inference_steps) as progress_bar:
            old_pred_original_sample = None  # DPM-Solver++ keeps the previous x0 estimate
            for i, t in enumerate(timesteps):
                if self.interrupt:
                    break
                self._current_timestep = t
                latent_model_input = torch.cat([latents] * 2) if do_classifier_free_guidance else latents
                latent_model_input = self.scheduler.scale_model_input(latent_model_input, t)
                latent_image_input = torch.cat([image_latents] * 2) if do_classifier_free_guidance else image_latents
                latent_model_input = torch.cat([latent_model_input, latent_image_input], dim=2)
                timestep = t.expand(latent_model_input.shape[0])

                with self.transformer.cache_context("cond_uncond"):
                    noise_pred = self.transformer(
                        hidden_states=latent_model_input,
                        encoder_hidden_states=prompt_embeds,
                        timestep=timestep,
                        ofs=ofs_emb,
                        image_rotary_emb=image_rotary_emb,
                        attention_kwargs=attention_kwargs,
                        tracking_maps=tracking_input,
                        return_dict=False,
                    )[0]
                noise_pred = noise_pred.float()

                if use_dynamic_cfg:
                    progress = (num_inference_steps - t.item()) / num_inference_steps
                    self._guidance_scale = 1 + guidance_scale * (
                        (1 - math.cos(math.pi * progress**DYNAMIC_CFG_EXPONENT)) / 2
                    )
                if do_classifier_free_guidance:
                    noise_pred_uncond, noise_pred_text = noise_pred.chunk(2)
                    noise_pred = noise_pred_uncond + self.guidance_scale * (noise_pred_text - noise_pred_uncond)

                if isinstance(self.scheduler, CogVideoXDPMScheduler):
                    latents, old_pred_original_sample = self.scheduler.step(
                        noise_pred,
                        old_pred_original_sample,
                        t,
                        timesteps[i - 1] if i > 0 else None,
                        latents,
                        **extra_step_kwargs,
                        return_dict=False,
                    )
                else:
                    latents = self.scheduler.step(noise_pred, t, latents, **extra_step_kwargs, return_dict=False)[0]
                latents = latents.to(prompt_embeds.dtype)

                if callback_on_step_end is not None:
                    step_tensors = {
                        "latents": latents,
                        "prompt_embeds": prompt_embeds,
                        "negative_prompt_embeds": negative_prompt_embeds,
                    }
                    callback_kwargs = {name: step_tensors[name] for name in callback_on_step_end_tensor_inputs}
                    callback_outputs = callback_on_step_end(self, i, t, callback_kwargs) or {}
                    latents = callback_outputs.pop("latents", latents)
                    prompt_embeds = callback_outputs.pop("prompt_embeds", prompt_embeds)
                    negative_prompt_embeds = callback_outputs.pop("negative_prompt_embeds", negative_prompt_embeds)

                if i == len(timesteps) - 1 or ((i + 1) > num_warmup_steps and (i + 1) % self.scheduler.order == 0):
                    progress_bar.update()
        self._current_timestep = None

        # 9. Decode (skipped when interrupted: the latents are not a finished video)
        if self.interrupt:
            video = None
        elif output_type == "latent":
            video = latents
        else:
            video = self.video_processor.postprocess_video(video=self.decode_latents(latents), output_type=output_type)

        self.maybe_free_model_hooks()
        if not return_dict:
            return (video,)
        return DiffusionAsShaderPipelineOutput(frames=video, interrupted=self.interrupt)

    # ----------------------------------------------------------------------------------------
    # __call__ helpers
    # ----------------------------------------------------------------------------------------

    def _check_tracking_inputs(
        self,
        tracking_video: VideoInput | None,
        tracking_latents: torch.Tensor | None,
        tracking_image: ImageInput | None,
        num_frames: int,
        height: int,
        width: int,
    ) -> tuple[torch.Tensor | None, PIL.Image.Image | torch.Tensor]:
        """Validate the tracking inputs; return the tracking frames ``(T, 3, H, W)`` in [0, 1]
        (or None when latents are given) and the tracking image for the image processor."""
        if (tracking_video is None) == (tracking_latents is None):
            raise ValueError("give exactly one of tracking_video or tracking_latents (with tracking_image)")
        if tracking_latents is not None:
            if tracking_image is None:
                raise ValueError("tracking_latents needs tracking_image (the tracking video's first frame)")
            expected = (
                self.latent_frame_count(num_frames),
                self.transformer.config.in_channels // 2,
                height // self.vae_scale_factor_spatial,
                width // self.vae_scale_factor_spatial,
            )
            if tracking_latents.ndim != 5 or tuple(tracking_latents.shape[1:]) != expected:
                raise ValueError(
                    f"tracking_latents must be (B, {', '.join(map(str, expected))}) for {num_frames} frames of "
                    f"{height}×{width}, got {tuple(tracking_latents.shape)}"
                )
            return None, _image_for_processor(tracking_image, "tracking_image")
        if tracking_image is not None:
            raise ValueError("tracking_image goes with tracking_latents; a tracking_video supplies its own first frame")
        frames = tracking_video_to_tensor(tracking_video)
        if tuple(frames.shape[0:1] + frames.shape[2:]) != (num_frames, height, width):
            raise ValueError(
                f"tracking_video must have {num_frames} frames of {height}×{width} (the output size), "
                f"got {frames.shape[0]} frames of {frames.shape[2]}×{frames.shape[3]}"
            )
        # The first frame as a (1, 3, H, W) tensor in [0, 1]: the image processor maps it to
        # [-1, 1] like the main image, whatever range the video itself is encoded in (as DaS).
        return frames, frames[:1]

    def _preprocess_batch(
        self,
        image: PIL.Image.Image | torch.Tensor,
        batch_size: int,
        height: int,
        width: int,
        device: torch.device,
        dtype: torch.dtype,
    ) -> torch.Tensor:
        """Image → ``(batch_size, 3, H, W)`` in [-1, 1] through diffusers' image processor."""
        pixels = self.video_processor.preprocess(image, height=height, width=width).to(device, dtype=dtype)
        return pixels.expand(batch_size, -1, -1, -1) if pixels.shape[0] == 1 else pixels
