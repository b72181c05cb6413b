"""The process-wide generation engine: one cached DiffusionAsShader pipeline (SPEC §10).

Every front end (the web UI's four tabs, the Python API, ``python -m core``) sends its
``(first frame, tracking video, prompt, settings)`` to :meth:`Engine.generate` of the engine
returned by :func:`get_engine`. The engine

- resolves the checkpoint (``--checkpoint`` path or Hub id, else ``checkpoints/Diffusion-As-Shader``,
  else the Hub id ``EXCAI/Diffusion-As-Shader``), and explains a missing or incomplete one
  with :class:`core.pipeline.CheckpointError` instead of a stack trace;
- loads the pipeline lazily, once, and keeps it; one :class:`threading.Lock` makes sure two
  requests never drive it at the same time;
- picks CUDA in bfloat16 when present, else CPU in float32 with a visible warning, and applies
  the memory mode (full GPU, model / sequential / group CPU offload), VAE tiling and slicing and
  an optional ``torch.compile`` of the transformer;
- reads the working frame count and size from the checkpoint's ``transformer/config.json``
  without loading any weights (:meth:`Engine.native_size`);
- caches the VAE encoding of recent tracking videos, so another seed or prompt on the same
  tracking video skips that encoding;
- reports progress per denoising step and stops within one step when cancelled, leaving no
  partial result folder;
- writes each result (video, tracking video, first frame, settings JSON with versions) into a
  fresh folder under ``output_dir``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import secrets
import shutil
import threading
import time
import uuid
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Optional

import numpy as np

from core.download import CHECKPOINTS_DIR, DAS_HUB_ID, DAS_LOCAL_NAME, DAS_MODEL, offline_instructions
from core.progress import CancelFn, Cancelled, ProgressFn, check_cancel, report

if TYPE_CHECKING:  # imported lazily at run time: core.pipeline pulls in torch + diffusers
    import torch

    from core.tasks import TrackingResult

logger = logging.getLogger(__name__)

# The same text as core.pipeline.DEFAULT_NEGATIVE_PROMPT (a test keeps them equal), repeated
# here so that importing the engine (UI start-up, --tracking-only runs) does not import diffusers.
DEFAULT_NEGATIVE_PROMPT = (
    "The video is not of a high quality, it has a low resolution. Watermark present in each frame. "
    "The background is solid. Strange body and strange trajectory. Distortion."
)
"""DaS's negative prompt (SPEC §4)."""

DEFAULT_SEED = 42
RANDOM_SEED = -1
"""Pass this as ``GenerationSettings.seed`` to draw a fresh seed; the seed used is returned."""
MAX_SEED = 2**31 - 1
"""Upper bound of drawn seeds: small enough to round-trip through JSON and every UI number box."""

DEFAULT_NATIVE_SIZE = (49, 480, 720)
"""(frames, height, width) of CogVideoX-5B-I2V, used when a checkpoint's config cannot be read."""
DEFAULT_VAE_SPATIAL_FACTOR = 8
"""CogVideoX's VAE downsamples 8× in space; the transformer config stores sizes in latent pixels."""
DEFAULT_FPS = 8.0
"""Frame rate of the generated video when neither the settings nor the tracking video say (SPEC §3)."""

OFFLOAD_MODES = ("none", "model", "sequential", "group")
"""Memory modes: full GPU, model CPU offload, sequential (per-layer) offload, group offload."""

TRACKING_CACHE_SIZE = 4
"""How many tracking-video VAE encodings the engine keeps (least recently used goes first)."""
TRACKING_ENCODING_SEED = DEFAULT_SEED
"""Seed of the VAE posterior sample of every tracking video. With the default request seed (42)
this is exactly the sample an uncached pipeline call with that seed draws."""

VIDEO_NAME = "video.mp4"
TRACKING_NAME = "tracking.mp4"
FIRST_FRAME_NAME = "first_frame.png"
SETTINGS_NAME = "settings.json"
STAGING_PREFIX = ".incomplete-"
"""Results are written under this hidden name and renamed when complete (no partial folders)."""

TINY_MODEL_MESSAGE = "tiny test model — output is noise"
CPU_WARNING = "No CUDA device: running on the CPU in float32 — generation will be very slow."


class EngineConfigError(ValueError):
    """An engine setting is invalid (unknown memory mode, CUDA asked for but absent, ...)."""


class GenerationInputError(ValueError):
    """The first frame, tracking video, prompt or settings given to :meth:`Engine.generate` are unusable."""


def _checkpoint_error(message: str) -> Exception:
    """A :class:`core.pipeline.CheckpointError` (imported lazily: it pulls in torch/diffusers)."""
    from core.pipeline import CheckpointError

    return CheckpointError(message)


# --------------------------------------------------------------------------------------------
# Configuration and settings
# --------------------------------------------------------------------------------------------


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
    """

    checkpoint: Optional[str] = None
    device: Optional[str] = None
    offload: str = "none"
    output_dir: str | Path = "outputs"
    compile: bool = False
    vae_tiling: bool = True
    vae_slicing: bool = True
    allow_download: bool = True

    def __post_init__(self) -> None:
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


@dataclass
class GenerationSettings:
    """Sampling settings of one request (SPEC §4 defaults).

    Attributes:
        seed: integer seed, or :data:`RANDOM_SEED` (-1) to draw one; the seed used is returned.
        num_inference_steps: denoising steps.
        guidance_scale: classifier-free guidance weight (``<= 1`` disables guidance).
        use_dynamic_cfg: CogVideoX's cosine guidance schedule.
        negative_prompt: what the model should avoid.
        legacy_tracking_range: feed the tracking video to the VAE in [0, 1] like the DaS demo
            instead of [-1, 1] like DaS training (SPEC §4); off by default.
        fps: frame rate of the written video; ``None`` = the tracking video's.
    """

    seed: int = DEFAULT_SEED
    num_inference_steps: int = 50
    guidance_scale: float = 6.0
    use_dynamic_cfg: bool = True
    negative_prompt: str = DEFAULT_NEGATIVE_PROMPT
    legacy_tracking_range: bool = False
    fps: Optional[float] = None

    def validate(self) -> None:
        """Raise :class:`GenerationInputError` naming the first unusable setting."""
        if not isinstance(self.seed, (int, np.integer)) or not (self.seed == RANDOM_SEED or 0 <= self.seed < 2**63):
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


# --------------------------------------------------------------------------------------------
# Checkpoint resolution and native size (no weights loaded)
# --------------------------------------------------------------------------------------------


def default_checkpoint_dir() -> Path:
    """``checkpoints/Diffusion-As-Shader`` next to the code."""
    return CHECKPOINTS_DIR / DAS_LOCAL_NAME


def resolve_checkpoint(checkpoint: str | Path | None = None) -> str:
    """Which checkpoint a request uses, without loading or downloading anything.

    Args:
        checkpoint: a local folder or a Hub id (``owner/name``), or ``None``.

    Returns:
        An existing local folder (as given, ``~`` expanded), the default
        ``checkpoints/Diffusion-As-Shader`` when ``None`` and that folder exists, else a Hub id
        (the one given, or ``EXCAI/Diffusion-As-Shader``).

    Raises:
        CheckpointError: ``checkpoint`` is neither an existing folder nor shaped like a Hub id.
    """
    if checkpoint is None or str(checkpoint).strip() == "":
        local = default_checkpoint_dir()
        return str(local) if local.is_dir() else DAS_HUB_ID
    text = str(checkpoint).strip()
    path = Path(text).expanduser()
    if path.is_dir():
        return str(path)
    if _looks_like_hub_id(text):
        return text
    raise _checkpoint_error(
        f"Checkpoint {text!r} is not a folder on this machine and not a Hugging Face Hub id (owner/name). "
        f"Download the DaS checkpoint with `python -m core.download`, or pass --checkpoint PATH to a folder "
        f"with model_index.json, transformer/, vae/, text_encoder/, tokenizer/ and scheduler/."
    )


def _looks_like_hub_id(text: str) -> bool:
    parts = text.split("/")
    return (
        len(parts) == 2
        and all(parts)
        and not text.startswith((".", "~"))
        and not os.path.isabs(text)
        and all(part.replace("-", "").replace("_", "").replace(".", "").isalnum() for part in parts)
    )


def _read_json(path: Path) -> Optional[dict]:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, json.JSONDecodeError):
        return None


def _component_config(checkpoint: str, component: str) -> Optional[dict]:
    """``<checkpoint>/<component>/config.json`` from a folder or an already cached Hub snapshot."""
    path = Path(checkpoint)
    if path.is_dir():
        return _read_json(path / component / "config.json")
    try:
        from huggingface_hub import hf_hub_download

        return _read_json(Path(hf_hub_download(checkpoint, f"{component}/config.json", local_files_only=True)))
    except Exception as error:  # noqa: BLE001 - not cached: fall back to the defaults
        logger.debug("no cached %s config for %s: %s", component, checkpoint, error)
        return None


def read_native_size(checkpoint: str) -> tuple[int, int, int]:
    """``(num_frames, height, width)`` the checkpoint was trained at, from its configs only.

    ``num_frames = transformer.sample_frames``, ``height = sample_height · s``,
    ``width = sample_width · s`` with ``s`` the VAE's spatial factor (``2^(levels − 1)``, 8 for
    CogVideoX). Falls back to :data:`DEFAULT_NATIVE_SIZE` when the config is not readable
    (e.g. a Hub checkpoint not downloaded yet).
    """
    config = _component_config(checkpoint, "transformer")
    if not config:
        return DEFAULT_NATIVE_SIZE
    vae = _component_config(checkpoint, "vae") or {}
    blocks = vae.get("block_out_channels")
    spatial = 2 ** (len(blocks) - 1) if blocks else DEFAULT_VAE_SPATIAL_FACTOR
    default_frames, default_height, default_width = DEFAULT_NATIVE_SIZE
    frames = int(config.get("sample_frames", default_frames))
    height = int(config["sample_height"]) * spatial if "sample_height" in config else default_height
    width = int(config["sample_width"]) * spatial if "sample_width" in config else default_width
    return frames, height, width


def _is_tiny(checkpoint: str) -> bool:
    path = Path(checkpoint)
    if not path.is_dir():
        return False
    from core.tiny import is_tiny_checkpoint

    return bool(is_tiny_checkpoint(path))


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def _tracking_key(frames: np.ndarray, legacy_range: bool, dtype: str, device: str) -> str:
    """Cache key of a tracking video's VAE encoding: content hash + everything the encoding depends on."""
    digest = hashlib.blake2b(np.ascontiguousarray(frames).data, digest_size=16)
    digest.update(repr((frames.shape, legacy_range, dtype, device)).encode())
    return digest.hexdigest()


def _json_default(value: Any) -> Any:
    """Make numpy scalars/arrays and paths JSON-serialisable in the settings file."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    return repr(value)


def _versions() -> dict[str, str]:
    import diffusers
    import torch
    import transformers

    import core

    return {
        "app": core.__version__,
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
    }


def _as_uint8_image(image: Any, what: str) -> np.ndarray:
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[-1] != 3:
        raise GenerationInputError(f"{what} must be an RGB image (H, W, 3); got shape {array.shape}")
    if array.dtype != np.uint8:
        raise GenerationInputError(f"{what} must be uint8 (0-255); got {array.dtype}")
    return array


def request_folder_name(task: str, seed: Optional[int] = None) -> str:
    """A fresh, unique result-folder name: ``<date>-<time>-<task>[-s<seed>]-<random>``."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    safe_task = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in task) or "generation"
    seed_part = "" if seed is None else f"-s{seed}"
    return f"{stamp}-{safe_task}{seed_part}-{uuid.uuid4().hex[:6]}"


@contextmanager
def staged_result_folder(final_dir: Path) -> Iterator[Path]:
    """Fill a result folder atomically: yields a hidden staging folder next to ``final_dir``
    that replaces ``final_dir`` when the block succeeds and is deleted when it fails or is
    cancelled, so no partial result folder is ever visible."""
    final_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = final_dir.parent / f"{STAGING_PREFIX}{final_dir.name}-{uuid.uuid4().hex[:6]}"
    staging.mkdir()
    try:
        yield staging
        if final_dir.exists():
            shutil.rmtree(final_dir)
        os.replace(staging, final_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


STALE_STAGING_AGE_S = 3600.0
"""A staging folder older than this is left over from a killed process: a result is staged only
while its files are written (seconds), never across the denoising."""


def remove_stale_staging(output_dir: str | Path, max_age_s: float = STALE_STAGING_AGE_S) -> list[Path]:
    """Delete the ``.incomplete-*`` folders in ``output_dir`` older than ``max_age_s`` (left by a
    hard kill while a result was being written); returns those removed. Young ones may belong
    to a process writing right now and are kept."""
    folder = Path(output_dir)
    if not folder.is_dir():
        return []
    cutoff = time.time() - max_age_s
    removed = []
    for staging in folder.glob(f"{STAGING_PREFIX}*"):
        try:
            if staging.is_dir() and staging.stat().st_mtime < cutoff:
                shutil.rmtree(staging)
                removed.append(staging)
        except OSError as error:  # another process removed it first, or it is not ours to remove
            logger.debug("kept %s: %s", staging, error)
    return removed


# --------------------------------------------------------------------------------------------
# Devices and memory modes
# --------------------------------------------------------------------------------------------


def configure_pipeline(pipe, config: EngineConfig, device: str) -> None:
    """Place a loaded pipeline on ``device`` with ``config``'s memory mode and VAE options.

    ``none``: everything on the GPU. ``model``: diffusers' model CPU offload (one component on
    the GPU at a time). ``sequential``: layer-by-layer offload (least memory, slowest).
    ``group``: diffusers group offloading of the transformer, text encoder and VAE, streaming
    leaf modules from CPU memory while the previous ones compute. Offload modes are ignored on
    the CPU. Also used by ``bench/gpu.py`` so the benchmark measures exactly what the app runs.
    """
    import torch

    offload = config.offload
    if device == "cpu":
        if offload != "none":
            logger.warning("offload=%r has no effect on the CPU; ignoring it", offload)
        pipe.to("cpu")
    elif offload == "none":
        pipe.to(device)
    elif offload == "model":
        pipe.enable_model_cpu_offload(device=device)
    elif offload == "sequential":
        pipe.enable_sequential_cpu_offload(device=device)
    else:
        _enable_group_offload(pipe, torch.device(device))
    vae = getattr(pipe, "vae", None)
    if vae is not None:
        if config.vae_tiling and hasattr(vae, "enable_tiling"):
            vae.enable_tiling()
        if config.vae_slicing and hasattr(vae, "enable_slicing"):
            vae.enable_slicing()
    if config.compile:
        pipe.transformer.compile()


def _enable_group_offload(pipe, device: "torch.device") -> None:
    import torch
    from diffusers.hooks import apply_group_offloading

    cpu = torch.device("cpu")
    for name in ("transformer", "text_encoder", "vae"):
        module = getattr(pipe, name, None)
        if module is None:
            continue
        if hasattr(module, "enable_group_offload"):  # diffusers models
            module.enable_group_offload(onload_device=device, offload_device=cpu, offload_type="leaf_level", use_stream=True)
        else:  # the transformers T5 encoder
            apply_group_offloading(module, onload_device=device, offload_device=cpu, offload_type="leaf_level", use_stream=True)


# --------------------------------------------------------------------------------------------
# The engine
# --------------------------------------------------------------------------------------------


class Engine:
    """One cached DiffusionAsShader pipeline shared by every caller (see the module docstring)."""

    def __init__(self, config: Optional[EngineConfig] = None) -> None:
        self.config = config or EngineConfig()
        self._lock = threading.Lock()
        self._pipe = None
        self._loaded_from: Optional[str] = None
        self._tracking_cache: "OrderedDict[str, dict[str, Any]]" = OrderedDict()
        self.load_count = 0
        """How many times weights were loaded (1 after any number of requests, unless unloaded)."""
        self.tracking_encode_count = 0
        """How many tracking videos were VAE-encoded (cache misses)."""
        self._device_name, self._dtype_name = self._pick_device(self.config.device)

    # ---- device and checkpoint -------------------------------------------------------------

    @staticmethod
    def _pick_device(requested: Optional[str]) -> tuple[str, str]:
        import torch

        if requested in (None, "", "auto"):
            requested = "cuda" if torch.cuda.is_available() else "cpu"
        requested = str(requested)
        if requested.startswith("cuda"):
            if not torch.cuda.is_available():
                raise EngineConfigError("device 'cuda' was asked for but no CUDA GPU is visible; use --device cpu")
            with torch.cuda.device(torch.device(requested)):
                bf16 = torch.cuda.is_bf16_supported()
            if not bf16:
                # Pre-Ampere cards (T4, V100) emulate bfloat16 slowly or not at all.
                logger.warning(
                    "%s has no native bfloat16: running in float16, which CogVideoX-5B was not trained "
                    "in (results may be worse, or NaN on long runs)",
                    torch.cuda.get_device_name(torch.device(requested)),
                )
                return requested, "float16"
            return requested, "bfloat16"
        if requested == "cpu":
            return "cpu", "float32"
        raise EngineConfigError(f"device must be 'cuda', 'cuda:N', 'cpu' or empty for automatic; got {requested!r}")

    @property
    def device(self) -> str:
        """``"cuda"``/``"cuda:N"`` or ``"cpu"``."""
        return self._device_name

    @property
    def torch_dtype(self) -> "torch.dtype":
        """bfloat16 on CUDA (float16 on GPUs without bfloat16), float32 on CPU."""
        import torch

        return getattr(torch, self._dtype_name)

    @property
    def checkpoint(self) -> str:
        """The resolved checkpoint (folder or Hub id); see :func:`resolve_checkpoint`."""
        return self._loaded_from or resolve_checkpoint(self.config.checkpoint)

    @property
    def loaded(self) -> bool:
        return self._pipe is not None

    @property
    def in_use(self) -> bool:
        """Loaded, or holding its lock right now (loading, encoding or generating)."""
        return self._pipe is not None or self._lock.locked()

    @property
    def output_dir(self) -> Path:
        return Path(self.config.output_dir)

    def native_size(self) -> tuple[int, int, int]:
        """``(num_frames, height, width)`` of the checkpoint, read from its config (no weights).

        An unusable checkpoint gives :data:`DEFAULT_NATIVE_SIZE` (DaS's): the studio must still
        start and say what is wrong (:meth:`status`); loading it is what raises.
        """
        try:
            checkpoint = self.checkpoint
        except ValueError:
            return DEFAULT_NATIVE_SIZE
        return read_native_size(checkpoint)

    def status(self) -> EngineStatus:
        """Device, dtype, whether loaded, which checkpoint and the warnings the UI must show."""
        try:
            checkpoint = self.checkpoint
        except ValueError as error:  # an unusable --checkpoint: report it instead of failing
            checkpoint = str(self.config.checkpoint)
            problem = str(error).splitlines()[0]
        else:
            problem = ""
        is_tiny = _is_tiny(checkpoint)
        warnings = []
        if self._device_name == "cpu":
            warnings.append(CPU_WARNING)
        if is_tiny:
            warnings.append(TINY_MODEL_MESSAGE)
        if problem:
            warnings.append(problem)
        state = "loaded" if self.loaded else "not loaded yet (loads on first Generate)"
        message = f"{checkpoint} on {self._device_name} ({self._dtype_name}), {state}"
        if warnings:
            message += " — " + "; ".join(warnings)
        return EngineStatus(
            device=self._device_name,
            dtype=self._dtype_name,
            loaded=self.loaded,
            checkpoint=checkpoint,
            is_tiny=is_tiny,
            message=message,
            warnings=tuple(warnings),
        )

    # ---- loading -----------------------------------------------------------------------------

    def load(self, progress: Optional[ProgressFn] = None):
        """Load the pipeline now (it is otherwise loaded by the first :meth:`generate`); returns it.

        Raises:
            CheckpointError: the checkpoint is missing, incomplete or unreadable; the message
                says what is missing and how to get it.
        """
        with self._lock:
            return self._load_locked(progress)

    def unload(self) -> None:
        """Drop the pipeline and the tracking cache and free GPU memory."""
        with self._lock:
            self._pipe = None
            self._loaded_from = None
            self._tracking_cache.clear()
            self._free_memory()

    @staticmethod
    def _free_memory() -> None:
        import gc

        import torch

        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def _local_checkpoint(self) -> str:
        """The checkpoint as a verified local folder; a Hub id is fetched (or found in the Hub
        cache) by :func:`core.pipeline.resolve_checkpoint`, downloading only if allowed."""
        from core.pipeline import CheckpointError
        from core.pipeline import resolve_checkpoint as fetch_checkpoint

        resolved = resolve_checkpoint(self.config.checkpoint)
        try:
            return str(fetch_checkpoint(resolved, local_files_only=not self.config.allow_download))
        except CheckpointError as error:
            if Path(resolved).is_dir() or self.config.allow_download:
                raise
            raise CheckpointError(
                f"The checkpoint {resolved} is not on this machine and downloading is turned off.\n"
                + offline_instructions(DAS_MODEL, default_checkpoint_dir())
            ) from error

    def _load_locked(self, progress: Optional[ProgressFn] = None):
        if self._pipe is not None:
            return self._pipe
        from core.pipeline import CheckpointError, DiffusionAsShaderPipeline

        report(progress, 0.0, "loading the model")
        path = self._local_checkpoint()
        if self._device_name == "cpu":
            logger.warning(CPU_WARNING)
        if _is_tiny(path):
            logger.warning("checkpoint %s is a %s", path, TINY_MODEL_MESSAGE)
        started = time.perf_counter()
        try:
            pipe = DiffusionAsShaderPipeline.from_pretrained(path, torch_dtype=self.torch_dtype)
        except CheckpointError:
            raise
        except (OSError, RuntimeError, ValueError, KeyError) as error:
            raise _checkpoint_error(
                f"The checkpoint at {path} could not be loaded ({type(error).__name__}: {error}). It may be "
                f"incomplete or corrupted: verify it with `python -m core.download --verify {path}` and "
                f"download it again if needed."
            ) from error
        configure_pipeline(pipe, self.config, self._device_name)
        self._pipe = pipe
        self._loaded_from = path
        self.load_count += 1
        logger.info("loaded %s on %s (%s) in %.1f s", path, self._device_name, self._dtype_name, time.perf_counter() - started)
        report(progress, 1.0, "model loaded")
        return pipe

    # ---- validation ----------------------------------------------------------------------------

    def check_sizes(self, first_frame: np.ndarray, tracking_frames: np.ndarray) -> None:
        """Raise :class:`GenerationInputError` unless both match the checkpoint's native size.

        Args:
            first_frame: ``(H, W, 3)`` uint8.
            tracking_frames: ``(T, H, W, 3)`` uint8.

        Raises:
            CheckpointError: the checkpoint is unusable (said before any size mismatch, which
                would only be a consequence: :meth:`native_size` then gives DaS's size).
        """
        num_frames, height, width = read_native_size(self.checkpoint)
        if tracking_frames.ndim != 4 or tracking_frames.shape[-1] != 3:
            raise GenerationInputError(f"the tracking video must be (T, H, W, 3); got shape {tracking_frames.shape}")
        if tracking_frames.dtype != np.uint8:
            raise GenerationInputError(f"the tracking video must be uint8 (0-255); got {tracking_frames.dtype}")
        got = tuple(tracking_frames.shape[:3])
        if got != (num_frames, height, width):
            raise GenerationInputError(
                f"the tracking video is {got[0]} frames of {got[1]}×{got[2]} but this model works at "
                f"{num_frames} frames of {height}×{width}: rebuild it with num_frames, height and width "
                f"from engine.native_size()"
            )
        if first_frame.shape[:2] != (height, width):
            raise GenerationInputError(
                f"the first frame is {first_frame.shape[0]}×{first_frame.shape[1]} but this model works at "
                f"{height}×{width}: resize it (core.media.load_image(image, {height}, {width}))"
            )

    # ---- tracking latents cache ------------------------------------------------------------------

    def _tracking_conditioning(self, pipe, frames: np.ndarray, legacy_range: bool) -> dict[str, Any]:
        """Keyword arguments for the pipeline carrying the (cached) tracking-video encoding."""
        key = _tracking_key(frames, legacy_range, self._dtype_name, self._device_name)
        cached = self._tracking_cache.get(key)
        if cached is not None:
            self._tracking_cache.move_to_end(key)
            return cached
        import torch

        # A fixed seed for the VAE posterior sample (not the request's): the cached encoding
        # then equals a fresh one, so a seed gives the same video whether the cache hit or not.
        generator = torch.Generator(device="cpu").manual_seed(TRACKING_ENCODING_SEED)
        latents = pipe.encode_tracking_video(frames, generator=generator, legacy_tracking_range=legacy_range)
        # A copy: a view of frame 0 would keep the whole tracking video alive in the cache.
        conditioning = {"tracking_latents": latents, "tracking_image": frames[0].copy()}
        self.tracking_encode_count += 1
        self._tracking_cache[key] = conditioning
        while len(self._tracking_cache) > TRACKING_CACHE_SIZE:
            self._tracking_cache.popitem(last=False)
        return conditioning

    # ---- generation ------------------------------------------------------------------------------

    def generate(
        self,
        first_frame: Optional[np.ndarray],
        tracking: "TrackingResult | np.ndarray",
        prompt: str,
        settings: Optional[GenerationSettings] = None,
        *,
        progress: Optional[ProgressFn] = None,
        cancel: Optional[CancelFn] = None,
        run_name: Optional[str] = None,
    ) -> GenerationResult:
        """Generate a video from a first frame, a tracking video and a prompt.

        Args:
            first_frame: ``(H, W, 3)`` uint8 at the native size; ``None`` = ``tracking.first_frame``.
            tracking: a :class:`core.tasks.TrackingResult` or raw tracking frames ``(T, H, W, 3)`` uint8.
            prompt: what the video shows.
            settings: sampling settings (defaults: SPEC §4).
            progress: called with ``(step / steps, message)`` during denoising.
            cancel: polled between denoising steps; when it returns True the run stops within one
                step, nothing is written, and :class:`core.progress.Cancelled` is raised.
            run_name: name of the result folder under ``output_dir`` (default: a fresh unique
                ``<date>-<task>-s<seed>-<random>``); an existing folder of that name is replaced.

        Returns:
            :class:`GenerationResult` with the paths of ``video.mp4``, ``tracking.mp4``,
            ``first_frame.png`` and ``settings.json`` and the seed actually used.

        Raises:
            GenerationInputError: wrong sizes/dtypes, empty prompt, bad settings.
            CheckpointError: the model cannot be loaded (see :meth:`load`).
            Cancelled: ``cancel()`` returned True.
        """
        from core.media import write_video

        settings = settings or GenerationSettings()
        settings.validate()
        if not isinstance(prompt, str) or not prompt.strip():
            raise GenerationInputError("the prompt is empty: describe the video you want (e.g. 'a red car on a mountain road')")
        tracking_frames = np.asarray(getattr(tracking, "frames", tracking))
        if first_frame is None:
            if not hasattr(tracking, "first_frame"):
                raise GenerationInputError("a first-frame image is needed when the tracking video is a bare array")
            first_frame = tracking.first_frame
        first_frame = _as_uint8_image(first_frame, "the first frame")
        self.check_sizes(first_frame, tracking_frames)
        metadata = dict(getattr(tracking, "metadata", {}) or {})
        seed = secrets.randbelow(MAX_SEED) if settings.seed == RANDOM_SEED else int(settings.seed)
        fps = float(settings.fps or getattr(tracking, "fps", None) or DEFAULT_FPS)
        check_cancel(cancel, "generation")

        started_at = datetime.now(timezone.utc)
        started = time.perf_counter()
        with self._lock:
            pipe = self._load_locked()
            check_cancel(cancel, "generation")
            report(progress, 0.0, "encoding the tracking video")
            conditioning = self._tracking_conditioning(pipe, tracking_frames, settings.legacy_tracking_range)
            frames = self._denoise(pipe, first_frame, conditioning, prompt, settings, seed, progress, cancel)

        report(progress, 1.0, "writing the video")
        final_dir = self.output_dir / (run_name or request_folder_name(str(metadata.get("task", "generation")), seed))
        with staged_result_folder(final_dir) as staging:
            write_video(frames, staging / VIDEO_NAME, fps)
            write_video(tracking_frames, staging / TRACKING_NAME, fps)
            _write_png(first_frame, staging / FIRST_FRAME_NAME)
            elapsed = time.perf_counter() - started
            record = {
                "prompt": prompt,
                "seed": seed,
                "settings": {**settings.to_dict(), "seed": seed, "fps": fps},
                "tracking": metadata,
                "num_frames": int(tracking_frames.shape[0]),
                "height": int(tracking_frames.shape[1]),
                "width": int(tracking_frames.shape[2]),
                "model": {
                    "checkpoint": self._loaded_from,
                    "is_tiny": _is_tiny(self._loaded_from or ""),
                    "device": self._device_name,
                    "dtype": self._dtype_name,
                    "offload": self.config.offload,
                },
                "tracking_encoding_seed": TRACKING_ENCODING_SEED,
                "versions": _versions(),
                "files": {"video": VIDEO_NAME, "tracking": TRACKING_NAME, "first_frame": FIRST_FRAME_NAME},
                "started_at": started_at.isoformat(),
                "finished_at": datetime.now(timezone.utc).isoformat(),
                "elapsed_s": round(elapsed, 3),
            }
            (staging / SETTINGS_NAME).write_text(json.dumps(record, indent=2, default=_json_default), encoding="utf-8")
        return GenerationResult(
            video_path=final_dir / VIDEO_NAME,
            tracking_path=final_dir / TRACKING_NAME,
            settings_path=final_dir / SETTINGS_NAME,
            first_frame_path=final_dir / FIRST_FRAME_NAME,
            seed=seed,
            output_dir=final_dir,
            elapsed_s=elapsed,
            frames=frames,
        )

    def _denoise(
        self,
        pipe,
        first_frame: np.ndarray,
        conditioning: dict[str, Any],
        prompt: str,
        settings: GenerationSettings,
        seed: int,
        progress: Optional[ProgressFn],
        cancel: Optional[CancelFn],
    ) -> np.ndarray:
        """Run the pipeline; returns ``(T, H, W, 3)`` uint8."""
        import torch
        from PIL import Image

        steps = int(settings.num_inference_steps)

        def on_step_end(pipeline, step: int, timestep, callback_kwargs: dict) -> dict:
            report(progress, (step + 1) / steps, f"denoising step {step + 1}/{steps}")
            if cancel is not None and cancel():
                # The pipeline stops before the next step and skips the VAE decode.
                pipeline._interrupt = True
            return callback_kwargs

        # A CPU generator makes the initial noise identical on every device for a given seed.
        generator = torch.Generator(device="cpu").manual_seed(seed)
        output = pipe(
            image=Image.fromarray(first_frame),
            prompt=prompt,
            negative_prompt=settings.negative_prompt,
            num_inference_steps=steps,
            guidance_scale=float(settings.guidance_scale),
            use_dynamic_cfg=bool(settings.use_dynamic_cfg),
            generator=generator,
            callback_on_step_end=on_step_end,
            output_type="np",
            **conditioning,
        )
        if getattr(output, "interrupted", False) or output.frames is None:
            raise Cancelled("generation cancelled")
        return _frames_to_uint8(output.frames)


def _frames_to_uint8(frames: Any) -> np.ndarray:
    """Pipeline output (``(1, T, H, W, 3)`` float in [0, 1], or a list) → ``(T, H, W, 3)`` uint8."""
    array = np.asarray(frames[0] if isinstance(frames, (list, tuple)) else frames)
    if array.ndim == 5:
        array = array[0]
    if array.dtype != np.uint8:
        array = np.clip(np.round(array.astype(np.float32) * 255.0), 0, 255).astype(np.uint8)
    return array


def _write_png(image: np.ndarray, path: Path) -> None:
    from PIL import Image

    Image.fromarray(image).save(path)


# --------------------------------------------------------------------------------------------
# The process-wide engine
# --------------------------------------------------------------------------------------------

_ENGINE: Optional[Engine] = None
_ENGINE_GUARD = threading.Lock()


def get_engine(config: Optional[EngineConfig] = None) -> Engine:
    """The process-wide engine, created on first use.

    Configure it once (``webui.py`` / the CLI pass their ``EngineConfig`` first); later calls
    without a config return the same engine. A different config is accepted only while the
    model is not loaded yet; afterwards it raises :class:`EngineConfigError` (call
    :func:`reset_engine` first).
    """
    global _ENGINE
    with _ENGINE_GUARD:
        if _ENGINE is None:
            _ENGINE = Engine(config)
        elif config is not None and config != _ENGINE.config:
            # A first load still in progress counts: replacing the engine then would load a
            # second copy of the model next to the first.
            if _ENGINE.in_use:
                raise EngineConfigError(
                    "the engine is already loaded with another configuration; call core.engine.reset_engine() first"
                )
            _ENGINE = Engine(config)
        return _ENGINE


def reset_engine() -> None:
    """Unload and forget the process-wide engine (tests, or switching checkpoints)."""
    global _ENGINE
    with _ENGINE_GUARD:
        if _ENGINE is not None:
            _ENGINE.unload()
        _ENGINE = None
