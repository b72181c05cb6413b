"""Repaint the first frame from a prompt while keeping the scene's geometry (FLUX.1-Depth-dev).

DaS offers this to change the look of a scene before animating it: a depth-conditioned
text-to-image model paints a new first frame whose layout follows our depth map, so the
tracking video (built from that same depth) still fits it. The model is diffusers'
``FluxControlPipeline`` with the FLUX.1-Depth-dev weights, loaded on demand from
``checkpoints/FLUX.1-Depth-dev`` (or the Hub id ``black-forest-labs/FLUX.1-Depth-dev`` when
downloading is allowed), used once, and freed again so it does not sit next to the DaS model.

The control image is our depth as normalised inverse depth, grey RGB, near = white (the
convention of the depth estimators FLUX.1-Depth was trained with).
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Optional

import numpy as np
from PIL import Image

from core import defaults
from core.checkpoints import ModelSpec, find_or_download_model
from core.errors import CheckpointError, UserError
from core.progress import CancelFn, Cancelled, ProgressFn, check_cancel, report

FLUX_DEPTH_HUB_ID = "black-forest-labs/FLUX.1-Depth-dev"
FLUX_DEPTH_LOCAL_NAME = "FLUX.1-Depth-dev"
DEFAULT_REPAINT_STEPS = 30
DEFAULT_REPAINT_GUIDANCE = 10.0
"""FLUX.1-Depth-dev's recommended sampling (its model card uses 30 steps at guidance 10)."""
DEFAULT_REPAINT_SEED = defaults.SEED
CONTROL_LOW_PERCENTILE, CONTROL_HIGH_PERCENTILE = 1.0, 99.0
"""Inverse-depth percentiles mapped to black / white in the control image (robust to outliers)."""
FLUX_COMPONENTS = ("transformer", "vae", "text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2", "scheduler")
FLUX_DEPTH_MODEL = ModelSpec(
    FLUX_DEPTH_HUB_ID,
    FLUX_DEPTH_LOCAL_NAME,
    "FLUX.1-Depth-dev (depth-conditioned text-to-image), ~35 GB, gated",
    # The diffusers folders only: the repository also holds a single-file copy of the weights.
    ("model_index.json", *(f"{component}/*" for component in FLUX_COMPONENTS)),
)


class RepaintError(UserError):
    """Repainting cannot run (no weights, bad depth map, empty prompt); the message says what to do."""


def flux_checkpoint_dir() -> Path:
    """``checkpoints/FLUX.1-Depth-dev`` next to the code."""
    return FLUX_DEPTH_MODEL.local_dir()


def depth_control_image(depth: np.ndarray) -> np.ndarray:
    """Depth ``(H, W)`` (camera-space z > 0) → control image ``(H, W, 3)`` uint8, near = white.

    Inverse depth is mapped linearly from its 1st percentile (black) to its 99th (white);
    non-finite or non-positive depths become black (far).
    """
    depth = np.asarray(depth, dtype=np.float64)
    if depth.ndim != 2:
        raise RepaintError(f"the depth map must be (H, W), got shape {depth.shape}")
    valid = np.isfinite(depth) & (depth > 0)
    if not valid.any():
        raise RepaintError("the depth map has no valid (finite, positive) value")
    inverse = np.zeros_like(depth)
    np.divide(1.0, depth, out=inverse, where=valid)
    low, high = np.percentile(inverse[valid], [CONTROL_LOW_PERCENTILE, CONTROL_HIGH_PERCENTILE])
    normalised = np.clip((inverse - low) / (high - low), 0.0, 1.0) if high > low else np.full_like(inverse, 0.5)
    normalised[~valid] = 0.0
    grey = np.round(normalised * 255.0).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=-1)


def resolve_repaint_checkpoint(checkpoint: Optional[str | Path] = None, *, allow_download: bool = False) -> str:
    """The local folder of the FLUX.1-Depth-dev weights: a given folder, ``checkpoints/FLUX.1-Depth-dev``,
    an already cached Hub copy (of the given Hub id or FLUX.1-Depth-dev's), or — only with
    ``allow_download`` and when not offline — a fresh download into the Hub cache
    (:func:`core.checkpoints.find_or_download_model`).

    Raises:
        RepaintError: nothing usable and downloading not allowed, offline or failed.
    """
    model = FLUX_DEPTH_MODEL if checkpoint is None else checkpoint
    local = flux_checkpoint_dir()
    try:
        return str(find_or_download_model(model, allow_download=allow_download, root=local.parent))
    except CheckpointError as error:
        raise RepaintError(
            f"Repainting needs the FLUX.1-Depth-dev weights (~35 GB; a gated model: accept its licence on the Hub "
            f"first). Download them with `hf download {FLUX_DEPTH_HUB_ID} --local-dir {local}` or "
            f"allow downloading, or supply your own first-frame image instead. ({str(error).splitlines()[0]})"
        ) from error


def _round_to_multiple(value: int, multiple: int) -> int:
    return max(multiple, int(round(value / multiple)) * multiple)


def repaint_first_frame(
    depth: np.ndarray,
    prompt: str,
    *,
    checkpoint: Optional[str | Path] = None,
    allow_download: bool = False,
    num_inference_steps: int = DEFAULT_REPAINT_STEPS,
    guidance_scale: float = DEFAULT_REPAINT_GUIDANCE,
    seed: int = DEFAULT_REPAINT_SEED,
    device: Optional[str] = None,
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelFn] = None,
) -> np.ndarray:
    """Paint a new first frame from ``prompt`` that follows the scene's depth.

    Args:
        depth: ``(H, W)`` frame-0 depth (``TrackingResult.depth``); the output has this size.
        prompt: what the first frame should show.
        checkpoint: FLUX.1-Depth-dev folder or Hub id (see :func:`resolve_repaint_checkpoint`).
        allow_download: let a Hub id download.
        num_inference_steps, guidance_scale, seed: FLUX sampling.
        device: ``"cuda"``/``"cpu"``/``None`` (CUDA when present; bf16 there, float32 on CPU).
        progress, cancel: see :mod:`core.progress`; cancel is checked after every step.

    Returns:
        ``(H, W, 3)`` uint8 image.

    Raises:
        RepaintError: empty prompt, bad depth, or no weights. Cancelled.
    """
    if not isinstance(prompt, str) or not prompt.strip():
        raise RepaintError("repainting needs a prompt describing the new first frame")
    control = depth_control_image(depth)
    height, width = control.shape[:2]
    source = resolve_repaint_checkpoint(checkpoint, allow_download=allow_download)
    # Imported only now: a request without weights fails fast, without loading diffusers.
    import torch
    from diffusers import FluxControlPipeline

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.bfloat16 if str(device).startswith("cuda") else torch.float32
    check_cancel(cancel, "repainting")
    report(progress, 0.0, "loading FLUX.1-Depth-dev")
    pipe = FluxControlPipeline.from_pretrained(source, dtype=dtype)
    try:
        if str(device).startswith("cuda"):
            # Model offload keeps peak GPU memory near one component, so FLUX fits beside DaS.
            pipe.enable_model_cpu_offload(device=device)
        else:
            pipe.to(device)
        pipe.set_progress_bar_config(disable=True)
        multiple = 2 * int(pipe.vae_scale_factor)  # latents are packed 2×2
        gen_height, gen_width = _round_to_multiple(height, multiple), _round_to_multiple(width, multiple)

        def on_step_end(pipeline, step: int, timestep, callback_kwargs: dict) -> dict:
            report(progress, (step + 1) / num_inference_steps, f"repainting step {step + 1}/{num_inference_steps}")
            if cancel is not None and cancel():
                raise Cancelled("repainting cancelled")
            return callback_kwargs

        image = pipe(
            prompt=prompt,
            control_image=Image.fromarray(control).resize((gen_width, gen_height), Image.BICUBIC),
            height=gen_height,
            width=gen_width,
            num_inference_steps=int(num_inference_steps),
            guidance_scale=float(guidance_scale),
            generator=torch.Generator(device="cpu").manual_seed(int(seed)),
            callback_on_step_end=on_step_end,
            output_type="pil",
        ).images[0]
    finally:
        del pipe
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    if image.size != (width, height):
        image = image.resize((width, height), Image.LANCZOS)
    report(progress, 1.0, "first frame repainted")
    return np.asarray(image.convert("RGB"), dtype=np.uint8)
