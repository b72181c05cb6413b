"""Where the engine's pipeline runs: the device and dtype (:func:`pick_device`) and how a loaded
pipeline is placed there (:func:`configure_pipeline`): memory mode, quantisation, VAE tiling
and slicing, attention backend, step cache, context parallelism and ``torch.compile``.

Torch and diffusers are imported inside the functions, so importing this module stays cheap.
"""

from __future__ import annotations

import gc
import logging
from typing import TYPE_CHECKING, Optional

from core.engine_types import EngineConfig, EngineConfigError

if TYPE_CHECKING:
    import torch

    from core.acceleration.parallel import ParallelGroup

logger = logging.getLogger(__name__)


def pick_device(requested: Optional[str]) -> tuple[str, str]:
    """``(device, dtype name)`` for a requested device: CUDA in bfloat16 (float16 on GPUs without
    bfloat16), CPU in float32; ``None`` / ``""`` / ``"auto"`` = CUDA when available.

    Raises:
        EngineConfigError: CUDA asked for but absent, or an unknown device name.
    """
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


def free_memory() -> None:
    """Collect garbage and return cached CUDA memory to the driver (after dropping a pipeline)."""
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def configure_pipeline(pipe, config: EngineConfig, device: str, parallel: "ParallelGroup | None" = None) -> None:
    """Place a loaded pipeline on ``device`` with ``config``'s memory mode and VAE options.

    ``none``: everything on the GPU. ``model``: diffusers' model CPU offload (one component on
    the GPU at a time). ``sequential``: layer-by-layer offload (least memory, slowest).
    ``group``: diffusers group offloading of the transformer, text encoder and VAE, streaming
    leaf modules from CPU memory while the previous ones compute. Offload modes are ignored on
    the CPU. ``parallel``: split the transformer's tokens over that group of processes (after
    the step cache, so its skip decisions are shared; before compiling), once every process
    has placed its copy. Also used by ``bench/gpu.py`` so the benchmark measures exactly what
    the app runs.
    """
    from core.acceleration.parallel import together

    with together(parallel, "placing the model"):
        _place(pipe, config, device)
    if parallel is not None:
        _split_over(pipe, config, parallel)
    if config.compile:
        pipe.transformer.compile()


def _place(pipe, config: EngineConfig, device: str) -> None:
    """Quantisation, memory mode, VAE options, attention backend and step cache."""
    import torch

    offload = config.offload
    if config.quantize != "none":
        # Before placement: component by component on the GPU, so the bf16 weights of the
        # whole pipeline never need to fit at once; model offload gets them back on the CPU.
        _quantize(pipe, config, device, keep_on_device=offload == "none")
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
    _apply_acceleration(pipe, config, device)


def _split_over(pipe, config: EngineConfig, parallel: "ParallelGroup") -> None:
    """Context parallelism on the transformer (every process takes the same decisions here)."""
    from core.acceleration.parallel import ParallelError, check_compiled_split, enable_context_parallel

    try:
        if config.compile:
            check_compiled_split(pipe.transformer.config, parallel.world_size)
        enable_context_parallel(pipe.transformer, parallel)
    except ParallelError as error:
        raise EngineConfigError(str(error)) from None


def _apply_acceleration(pipe, config: EngineConfig, device: str) -> None:
    """Attention backend and step cache (quantisation runs before placement, see configure_pipeline)."""
    from core.acceleration import AccelerationError, apply_attention_backend, apply_step_cache_threshold

    try:
        if config.attention_backend is not None:
            apply_attention_backend(pipe, config.attention_backend)
        if config.step_cache_threshold is not None:
            apply_step_cache_threshold(pipe, config.step_cache_threshold)
    except AccelerationError as error:
        raise EngineConfigError(str(error)) from None


def _quantize(pipe, config: EngineConfig, device: str, keep_on_device: bool) -> None:
    from core.acceleration import AccelerationError, quantize_pipeline

    try:
        quantize_pipeline(pipe, config.quantize, device, keep_on_device)
    except AccelerationError as error:
        raise EngineConfigError(str(error)) from None


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
