"""The process-wide generation engine: one cached DiffusionAsShader pipeline (SPEC §10).

Every front end (the web UI's four tabs, the Python API, ``python -m core``) sends its
``(first frame, tracking video, prompt, settings)`` to :meth:`Engine.generate` of the engine
returned by :func:`get_engine`. The engine

- resolves the checkpoint (``--checkpoint`` path or Hub id, else ``checkpoints/Diffusion-As-Shader``,
  else the Hub id ``EXCAI/Diffusion-As-Shader``), and explains a missing or incomplete one
  with :class:`core.errors.CheckpointError` instead of a stack trace;
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
  fresh folder under ``output_dir``;
- generates a long tracking video (``N·(T − 1) + 1`` frames) as a chain of native windows
  (:meth:`Engine.generate_windows`, :mod:`core.windows`);
- with ``EngineConfig.parallel`` > 1, splits each video over a group of processes and, in
  process 0, tells the others to repeat each load, unload and window it runs
  (:mod:`core.acceleration.parallel`).

Its parts live next to it and are re-exported here, where callers import them from:
:mod:`core.engine_types` (config, settings, status, result, errors), :mod:`core.placement`
(device choice and :func:`configure_pipeline`), :mod:`core.requests` (checks of a request's
inputs), :mod:`core.tracking_cache` (tracking-video encodings) and :mod:`core.results`
(result folders and the settings JSON).
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import numpy as np
from PIL import Image

from core import defaults
from core.checkpoints import (
    DAS_MODEL,
    choose_das_checkpoint,
    das_checkpoint_dir,
    is_tiny_checkpoint,
    locate_das_checkpoint,
    offline_instructions,
    read_component_config,
)
from core.engine_types import (
    OFFLOAD_MODES,
    EngineConfig,
    EngineConfigError,
    EngineStatus,
    GenerationInputError,
    GenerationResult,
    GenerationSettings,
)
from core.errors import CheckpointError
from core.media import write_video
from core.placement import configure_pipeline, free_memory, pick_device
from core.acceleration.parallel import together
from core.progress import CancelFn, Cancelled, ProgressFn, check_cancel, report, scaled
from core.requests import check_request_sizes, checked_settings, request_first_frame, seed_and_fps
from core.results import (
    FIRST_FRAME_NAME,
    SETTINGS_NAME,
    STAGING_PREFIX,
    STALE_STAGING_AGE_S,
    TRACKING_NAME,
    VIDEO_NAME,
    WINDOW_TRACKING_NAME,
    generation_result,
    remove_stale_staging,
    request_folder_name,
    result_folder,
    settings_record,
    staged_result_folder,
    write_result_files,
    write_settings,
)
from core.tracking_cache import TRACKING_CACHE_SIZE, TRACKING_ENCODING_SEED, TrackingEncodingCache

if TYPE_CHECKING:  # imported lazily at run time: core.pipeline pulls in torch + diffusers
    import torch

    from core.acceleration.parallel import ParallelGroup

    from core.tasks import TrackingResult

__all__ = [
    "CPU_WARNING",
    "DEFAULT_NEGATIVE_PROMPT",
    "FIRST_FRAME_NAME",
    "FRAMES_COMMAND",
    "LOAD_COMMAND",
    "OFFLOAD_MODES",
    "RANDOM_SEED",
    "SETTINGS_NAME",
    "STAGING_PREFIX",
    "STALE_STAGING_AGE_S",
    "TINY_MODEL_MESSAGE",
    "TRACKING_CACHE_SIZE",
    "TRACKING_ENCODING_SEED",
    "TRACKING_NAME",
    "UNLOAD_COMMAND",
    "VIDEO_NAME",
    "WINDOW_TRACKING_NAME",
    "Engine",
    "EngineConfig",
    "EngineConfigError",
    "EngineStatus",
    "GenerationInputError",
    "GenerationResult",
    "GenerationSettings",
    "configure_pipeline",
    "default_checkpoint_dir",
    "get_engine",
    "read_native_size",
    "remove_stale_staging",
    "request_folder_name",
    "reset_engine",
    "resolve_checkpoint",
    "staged_result_folder",
]

logger = logging.getLogger(__name__)

# Re-exported for the studio's widgets, which read them from here; the values live in core.defaults.
DEFAULT_NEGATIVE_PROMPT = defaults.NEGATIVE_PROMPT
RANDOM_SEED = defaults.RANDOM_SEED

LOAD_COMMAND, UNLOAD_COMMAND, FRAMES_COMMAND = "load", "unload", "frames"
"""What a parallel leader tells the other processes to repeat (core.acceleration.parallel.follow)."""

TINY_MODEL_MESSAGE = "tiny test model — output is noise"
CPU_WARNING = "No CUDA device: running on the CPU in float32 — generation will be very slow."


# --------------------------------------------------------------------------------------------
# Checkpoint resolution and native size (no weights loaded)
# --------------------------------------------------------------------------------------------


def default_checkpoint_dir() -> Path:
    """``checkpoints/Diffusion-As-Shader`` next to the code."""
    return das_checkpoint_dir()


def resolve_checkpoint(checkpoint: str | Path | None = None) -> str:
    """Which checkpoint the engine uses, without loading or downloading anything: an existing
    folder, else a Hub id; ``None`` = :func:`default_checkpoint_dir` when it exists, else
    ``EXCAI/Diffusion-As-Shader`` (see :func:`core.checkpoints.choose_das_checkpoint`).

    Raises:
        CheckpointError: ``checkpoint`` is neither an existing folder nor shaped like a Hub id.
    """
    return choose_das_checkpoint(checkpoint, default_dir=default_checkpoint_dir())


def read_native_size(checkpoint: str) -> tuple[int, int, int]:
    """``(num_frames, height, width)`` the checkpoint was trained at, from its configs only.

    ``num_frames = transformer.sample_frames``, ``height = sample_height · s``,
    ``width = sample_width · s`` with ``s`` the VAE's spatial factor (``2^(levels − 1)``, 8 for
    CogVideoX). Falls back to :data:`core.defaults.NATIVE_SIZE` when the config is not readable
    (e.g. a Hub checkpoint not downloaded yet).
    """
    config = read_component_config(checkpoint, "transformer")
    if not config:
        return defaults.NATIVE_SIZE
    vae = read_component_config(checkpoint, "vae") or {}
    blocks = vae.get("block_out_channels")
    spatial = 2 ** (len(blocks) - 1) if blocks else defaults.VAE_SPATIAL_FACTOR
    default_frames, default_height, default_width = defaults.NATIVE_SIZE
    frames = int(config.get("sample_frames", default_frames))
    height = int(config["sample_height"]) * spatial if "sample_height" in config else default_height
    width = int(config["sample_width"]) * spatial if "sample_width" in config else default_width
    return frames, height, width


def _is_tiny(checkpoint: str) -> bool:
    path = Path(checkpoint)
    return path.is_dir() and bool(is_tiny_checkpoint(path))


# --------------------------------------------------------------------------------------------
# The engine
# --------------------------------------------------------------------------------------------


class Engine:
    """One cached DiffusionAsShader pipeline shared by every caller (see the module docstring)."""

    def __init__(self, config: Optional[EngineConfig] = None) -> None:
        self.config = config or EngineConfig()
        self._parallel = self._join_parallel(self.config)
        # In a parallel group the group's lock: the leader's goodbye waits for a running command.
        self._lock = self._parallel.lock if self._parallel is not None else threading.Lock()
        self._pipe = None
        self._loaded_from: Optional[str] = None
        self._tracking_cache = TrackingEncodingCache()
        self.load_count = 0
        """How many times weights were loaded (1 after any number of requests, unless unloaded)."""
        device = self._parallel.device if self._parallel is not None else self.config.device
        self._device_name, self._dtype_name = pick_device(device)

    @staticmethod
    def _join_parallel(config: EngineConfig) -> "ParallelGroup | None":
        """The process group sharing each video (``config.parallel`` > 1), joined by the caller."""
        if config.parallel == 1:
            return None
        from core.acceleration.parallel import current_group

        group = current_group()
        if group is None or group.world_size != config.parallel:
            raise EngineConfigError(
                f"parallel={config.parallel} needs this process to be one of {config.parallel} started together: "
                f"use `python -m core ... --parallel {config.parallel}` or `python webui.py --parallel "
                f"{config.parallel}` (they start them), or call core.acceleration.parallel.run_as_group first"
            )
        if config.compile:
            Engine._check_compiled_split(config)
        return group

    @staticmethod
    def _check_compiled_split(config: EngineConfig) -> None:
        """Refuse ``compile`` with a split into unequal shares at start (not at the first Generate),
        when the checkpoint's transformer config is on this machine."""
        from core.acceleration.parallel import ParallelError, check_compiled_split

        try:
            transformer_config = read_component_config(resolve_checkpoint(config.checkpoint), "transformer")
        except CheckpointError:
            return  # loading says what is wrong with the checkpoint
        if transformer_config is not None:
            try:
                check_compiled_split(transformer_config, config.parallel)
            except ParallelError as error:
                raise EngineConfigError(str(error)) from None

    @property
    def tracking_encode_count(self) -> int:
        """How many tracking videos were VAE-encoded (cache misses)."""
        return self._tracking_cache.encode_count

    @property
    def leads(self) -> bool:
        """Whether this engine tells other processes what to do (process 0 of a parallel group)."""
        return self._parallel is not None and self._parallel.is_leader

    # ---- device and checkpoint -------------------------------------------------------------

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

        An unusable checkpoint gives :data:`core.defaults.NATIVE_SIZE` (DaS's): the studio must still
        start and say what is wrong (:meth:`status`); loading it is what raises.
        """
        try:
            checkpoint = self.checkpoint
        except CheckpointError:
            return defaults.NATIVE_SIZE
        return read_native_size(checkpoint)

    def status(self) -> EngineStatus:
        """Device, dtype, whether loaded, which checkpoint and the warnings the UI must show."""
        try:
            checkpoint = self.checkpoint
        except CheckpointError as error:  # an unusable --checkpoint: report it instead of failing
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
        device = self._device_name if self._parallel is None else f"{self.config.parallel} processes (this one: {self._device_name})"
        message = f"{checkpoint} on {device} ({self._dtype_name}), {state}"
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
            processes=self.config.parallel,
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
            if self.leads:
                self._parallel.announce(UNLOAD_COMMAND)
            self._pipe = None
            self._loaded_from = None
            self._tracking_cache.clear()
            free_memory()

    def _local_checkpoint(self) -> str:
        """The checkpoint as a verified local folder; a Hub id is found in the Hub cache or
        fetched (only if allowed) by :func:`core.checkpoints.locate_das_checkpoint`."""
        resolved = resolve_checkpoint(self.config.checkpoint)
        try:
            return str(locate_das_checkpoint(resolved, allow_download=self.config.allow_download))
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
        from core.pipeline import DiffusionAsShaderPipeline

        report(progress, 0.0, "loading the model")
        if self.leads:
            self._parallel.announce(LOAD_COMMAND)
        started = time.perf_counter()
        with together(self._parallel, "loading the model"):
            path = self._local_checkpoint()
            if self._device_name == "cpu":
                logger.warning(CPU_WARNING)
            if _is_tiny(path):
                logger.warning("checkpoint %s is a %s", path, TINY_MODEL_MESSAGE)
            try:
                pipe = DiffusionAsShaderPipeline.from_pretrained(path, torch_dtype=self.torch_dtype)
            except CheckpointError:
                raise
            except (OSError, RuntimeError, ValueError, KeyError) as error:
                # Library errors while reading this folder's weights and configs mean a broken
                # checkpoint (the layout was checked before): say so instead of a traceback.
                raise CheckpointError(
                    f"The checkpoint at {path} could not be loaded ({type(error).__name__}: {error}). It may be "
                    f"incomplete or corrupted: verify it with `python -m core.download --verify {path}` and "
                    f"download it again if needed."
                ) from error
        configure_pipeline(pipe, self.config, self._device_name, self._parallel)
        if self._parallel is not None and not self._parallel.is_leader:
            pipe.set_progress_bar_config(disable=True)  # the leader's bar is the one to read
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
        check_request_sizes(first_frame, tracking_frames, read_native_size(self.checkpoint))

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
        settings = checked_settings(settings, prompt)
        tracking_frames = np.asarray(getattr(tracking, "frames", tracking))
        if self._is_long(tracking_frames):
            return self.generate_windows(
                first_frame, tracking, prompt, settings, progress=progress, cancel=cancel, run_name=run_name
            )
        first_frame = request_first_frame(first_frame, tracking)
        self.check_sizes(first_frame, tracking_frames)
        metadata = dict(getattr(tracking, "metadata", {}) or {})
        seed, fps = seed_and_fps(settings, tracking)
        check_cancel(cancel, "generation")

        started_at = datetime.now(timezone.utc)
        started = time.perf_counter()
        with self._lock:
            pipe = self._load_locked()
            check_cancel(cancel, "generation")
            frames = self._frames(pipe, first_frame, tracking_frames, prompt, settings, seed, progress, cancel)

        report(progress, 1.0, "writing the video")
        final_dir = result_folder(self.output_dir, run_name, metadata, seed)
        with staged_result_folder(final_dir) as staging:
            write_result_files(staging, frames, tracking_frames, first_frame, fps)
            elapsed = time.perf_counter() - started
            record = settings_record(prompt, seed, settings, fps, metadata, frames)
            self._write_settings(staging, record, started_at, elapsed)
        return generation_result(final_dir, seed, elapsed, frames)

    def _write_settings(self, staging: Path, record: dict[str, Any], started_at: datetime, elapsed: float) -> None:
        """``settings.json`` of ``record`` with this engine's model and tracking-encoding seed."""
        write_settings(
            staging, record, model=self._model_record(), tracking_encoding_seed=TRACKING_ENCODING_SEED,
            started_at=started_at, elapsed=elapsed,
        )

    # ---- long videos ------------------------------------------------------------------------

    def _is_long(self, tracking_frames: np.ndarray) -> bool:
        """Whether ``tracking_frames`` is a chain of 2 or more native windows (``N·(T − 1) + 1`` frames)."""
        from core.windows import windows_in

        if tracking_frames.ndim != 4:
            return False
        windows = windows_in(tracking_frames.shape[0], read_native_size(self.checkpoint)[0])
        return windows is not None and windows > 1

    def generate_windows(
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
        """Generate a long video as a chain of windows of the checkpoint's native length.

        ``tracking`` has ``N·(T − 1) + 1`` frames (build it with
        ``size=core.windows.long_size(native, N)``; :meth:`generate` sends such a tracking
        video here by itself). Window ``k`` reads frames ``k·(T − 1) … k·(T − 1) + T − 1`` of it,
        re-coloured from that window's first frame (:func:`core.windows.window_tracking`), and
        starts from the last generated frame of window ``k − 1`` (the request's first frame for
        window 1). Window ``k`` (0-based) uses seed ``seed + k`` (:func:`core.windows.window_seed`),
        so a seed reproduces the whole video and one window equals :meth:`generate`.

        Progress runs over all windows; ``cancel`` is polled between and within windows, and a
        cancelled run writes nothing. The result folder holds ``video.mp4`` (``N·(T − 1) + 1``
        frames: the repeated first frame of windows 2…N is dropped), ``tracking.mp4`` (the
        whole tracking video), ``tracking_window_01.mp4`` … (what each window read),
        ``first_frame.png`` and ``settings.json`` with a ``windows`` list.

        Raises:
            GenerationInputError, core.windows.WindowError: unusable inputs or length.
            CheckpointError, Cancelled: as :meth:`generate`.
        """
        from core import windows as windowing

        settings = checked_settings(settings, prompt)
        tracking_frames = np.asarray(getattr(tracking, "frames", tracking))
        first_frame = request_first_frame(first_frame, tracking)
        native_frames = read_native_size(self.checkpoint)[0]
        if tracking_frames.ndim != 4:
            raise GenerationInputError(f"the tracking video must be (T, H, W, 3); got shape {tracking_frames.shape}")
        plan = windowing.window_slices(tracking_frames.shape[0], native_frames)
        windowing.check_windows(len(plan), native_frames)
        self.check_sizes(first_frame, tracking_frames[plan[0].frames])
        metadata = dict(getattr(tracking, "metadata", {}) or {})
        seed, fps = seed_and_fps(settings, tracking)
        count = len(plan)

        started_at = datetime.now(timezone.utc)
        started = time.perf_counter()
        # Rendered before taking the model: drawing tracks is CPU work that must not hold the GPU.
        window_videos = []
        for window in plan:
            check_cancel(cancel, "generation")
            report(progress, 0.0, f"window {window.number}/{count}: drawing its tracking video")
            window_videos.append(windowing.window_tracking(tracking, window, cancel=cancel))

        generated: list[np.ndarray] = []
        start_image = first_frame
        with self._lock:
            pipe = self._load_locked()
            for window, window_video in zip(plan, window_videos):
                check_cancel(cancel, "generation")
                share = _labelled(scaled(progress, window.index / count, (window.index + 1) / count), f"window {window.number}/{count}: ")
                window_seed = windowing.window_seed(seed, window.index)
                frames = self._frames(pipe, start_image, window_video, prompt, settings, window_seed, share, cancel)
                generated.append(frames if window.index == 0 else frames[windowing.OVERLAP_FRAMES:])
                # The next window starts from the frame as it is written (uint8), not the float output.
                start_image = np.ascontiguousarray(frames[-1])
        video = np.concatenate(generated, axis=0)

        report(progress, 1.0, "writing the video")
        final_dir = result_folder(self.output_dir, run_name, metadata, seed)
        window_names = [WINDOW_TRACKING_NAME.format(window.number) for window in plan]
        with staged_result_folder(final_dir) as staging:
            write_result_files(staging, video, tracking_frames, first_frame, fps)
            for name, window_video in zip(window_names, window_videos):
                write_video(window_video, staging / name, fps)
            elapsed = time.perf_counter() - started
            record = settings_record(prompt, seed, settings, fps, metadata, video)
            record.update(
                native_frames=int(native_frames),
                windows=[
                    {
                        "index": window.number,
                        "frames": [window.start, window.stop],
                        "seed": windowing.window_seed(seed, window.index),
                        "first_frame": "request first frame" if window.index == 0 else f"last generated frame of window {window.index}",
                        "tracking": name,
                    }
                    for window, name in zip(plan, window_names)
                ],
                files={"window_tracking": window_names},
            )
            self._write_settings(staging, record, started_at, elapsed)
        return generation_result(final_dir, seed, elapsed, video, window_names)

    def _model_record(self) -> dict[str, Any]:
        return {
            "checkpoint": self._loaded_from,
            "is_tiny": _is_tiny(self._loaded_from or ""),
            "device": self._device_name,
            "dtype": self._dtype_name,
            "offload": self.config.offload,
            "parallel": self.config.parallel,
        }

    def follow_frames(
        self, first_frame: np.ndarray, tracking_frames: np.ndarray, prompt: str, settings: dict[str, Any], seed: int
    ) -> np.ndarray:
        """A follower's share of the leader's :meth:`_frames` (same request, no files, no progress).

        Raises:
            Cancelled: the leader cancelled the generation.
        """
        with self._lock:
            pipe = self._load_locked()
            return self._frames(pipe, first_frame, tracking_frames, prompt, GenerationSettings.from_dict(settings), seed, None, None)

    def _frames(
        self,
        pipe,
        first_frame: np.ndarray,
        tracking_frames: np.ndarray,
        prompt: str,
        settings: GenerationSettings,
        seed: int,
        progress: Optional[ProgressFn],
        cancel: Optional[CancelFn],
    ) -> np.ndarray:
        """Encode the tracking video (cached) and denoise one native-length window; ``(T, H, W, 3)`` uint8.

        A parallel leader first hands the same request to the other processes, which run this
        too (:meth:`follow_frames`).
        """
        import torch

        if self.leads:
            request = {"first_frame": first_frame, "tracking_frames": tracking_frames, "prompt": prompt,
                       "settings": settings.to_dict(), "seed": seed}
            self._parallel.announce(FRAMES_COMMAND, request)
        report(progress, 0.0, "encoding the tracking video")
        with together(self._parallel, "encoding the tracking video"):
            conditioning = self._tracking_cache.conditioning(
                pipe, tracking_frames, settings.legacy_tracking_range, self._dtype_name, self._device_name
            )
        steps = int(settings.num_inference_steps)

        def on_step_end(pipeline, step: int, timestep, callback_kwargs: dict) -> dict:
            report(progress, (step + 1) / steps, f"denoising step {step + 1}/{steps}")
            stop = cancel is not None and cancel()
            if self._parallel is not None:
                stop = self._parallel.share_flag(stop)  # every process stops after the same step
            if stop:
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


def _labelled(progress: Optional[ProgressFn], prefix: str) -> Optional[ProgressFn]:
    """``progress`` with ``prefix`` before every message (e.g. which window is running)."""
    if progress is None:
        return None
    return lambda fraction, message: report(progress, fraction, prefix + message)


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
