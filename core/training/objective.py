"""The DaS training objective (SPEC §12) as small tensor functions.

Shapes: pixel videos are ``(B, T, 3, H, W)`` in [-1, 1]; latents are ``(B, F, C, h, w)`` with
``F = (T − 1) / 4 + 1``, ``C = 16``, ``h = H / 8``, ``w = W / 8`` (CogVideoX's VAE).

One training example, given clean video latents ``x0``:

- first frame ``I`` (pixels) gets noise ``σ·ε`` with ``σ = exp(N(−3, 0.5))`` before encoding;
  its latent is padded with zeros to ``F`` frames → ``image_latents``;
- the tracking video's first frame is encoded the same way (no noise) → ``tracking_image_latents``;
- with probability 0.05 both first-frame latents are zeroed;
- ``t ~ U{0, …, N−1}``, ``x_t = add_noise(x0, ε, t)``;
- the transformer reads ``cat([x_t, image_latents], dim=2)`` and the tracking stream
  ``cat([tracking_latents, tracking_image_latents], dim=2)`` and predicts ``v``;
- ``x̂0 = get_velocity(v, x_t, t) = √ᾱ_t·x_t − √(1−ᾱ_t)·v`` and the loss is
  ``mean((1 / (1 − ᾱ_t)) · (x̂0 − x0)²)`` — CogVideoX's trainer objective, which DaS kept.

Every random draw takes an explicit :class:`torch.Generator` so a step can be replayed exactly
(resume, fixed-noise sanity checks).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import torch

VAE_TEMPORAL_FACTOR = 4
"""CogVideoX's VAE keeps frame 0 and compresses the rest 4× in time: ``F = (T − 1) / 4 + 1``."""


def step_generator(seed: int, process_index: int, micro_step: int) -> torch.Generator:
    """A CPU generator for one micro-batch of one process, independent of everything else.

    Seeding from ``(seed, process_index, micro_step)`` (mixed by NumPy's ``SeedSequence``)
    makes a step's draws a pure function of its position, so a resumed run draws exactly what
    an uninterrupted one would, without saving RNG state.
    """
    state = np.random.SeedSequence([int(seed), int(process_index), int(micro_step)]).generate_state(1, dtype=np.uint64)
    return torch.Generator(device="cpu").manual_seed(int(state[0]) & ((1 << 63) - 1))


def draw_normal(
    shape: tuple[int, ...], generator: torch.Generator, device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    """Standard normal samples drawn on the CPU generator, then moved (same numbers on any device)."""
    return torch.randn(shape, generator=generator, dtype=torch.float32).to(device=device, dtype=dtype)


def draw_uniform(shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """Uniform [0, 1) samples from the CPU generator."""
    return torch.rand(shape, generator=generator, dtype=torch.float32)


def num_latent_frames(num_frames: int) -> int:
    """Latent frames of a ``num_frames``-frame clip; ``num_frames`` must be ``4k + 1``."""
    if num_frames < 1 or (num_frames - 1) % VAE_TEMPORAL_FACTOR:
        raise ValueError(
            f"CogVideoX's VAE needs 4k+1 frames (e.g. 49, 13, 9), got {num_frames}"
        )
    return (num_frames - 1) // VAE_TEMPORAL_FACTOR + 1


def image_noise_sigma(
    batch_size: int, generator: torch.Generator, log_mean: float, log_std: float
) -> torch.Tensor:
    """Per-sample first-frame noise level ``σ = exp(N(log_mean, log_std))``, shape ``(B,)``."""
    return torch.exp(log_mean + log_std * torch.randn((batch_size,), generator=generator, dtype=torch.float32))


def add_image_noise(images: torch.Tensor, sigma: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """``images + σ·ε`` in [-1, 1] pixel units.

    Args:
        images: ``(B, 1, 3, H, W)`` first frames in [-1, 1].
        sigma: ``(B,)`` noise levels.
    """
    noise = draw_normal(tuple(images.shape), generator, images.device, images.dtype)
    return images + noise * sigma.to(device=images.device, dtype=images.dtype).view(-1, 1, 1, 1, 1)


def latent_moments(vae: Any, frames: torch.Tensor) -> torch.Tensor:
    """VAE posterior parameters (mean ‖ log-variance) of a pixel video, for precomputing.

    Args:
        vae: an ``AutoencoderKLCogVideoX``.
        frames: ``(B, T, 3, H, W)`` in [-1, 1].

    Returns:
        ``(B, 2C, F, h, w)`` — what ``DiagonalGaussianDistribution`` is built from.
    """
    pixels = frames.permute(0, 2, 1, 3, 4).to(device=vae.device, dtype=vae.dtype)
    return vae.encode(pixels).latent_dist.parameters


def sample_latents(moments: torch.Tensor, scaling_factor: float, generator: torch.Generator) -> torch.Tensor:
    """``latent_dist.sample() · scaling_factor`` from posterior parameters, as ``(B, F, C, h, w)``.

    Args:
        moments: ``(B, 2C, F, h, w)`` mean ‖ log-variance (see :func:`latent_moments`).
    """
    from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution

    distribution = DiagonalGaussianDistribution(moments)
    noise = draw_normal(tuple(distribution.mean.shape), generator, moments.device, moments.dtype)
    latents = distribution.mean + distribution.std * noise
    return (latents * scaling_factor).permute(0, 2, 1, 3, 4).contiguous()


def encode_latents(vae: Any, frames: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Encode pixels to scaled latents: ``vae.encode(x).latent_dist.sample() · scaling_factor``.

    Args:
        frames: ``(B, T, 3, H, W)`` in [-1, 1].

    Returns:
        ``(B, F, C, h, w)`` in the VAE's dtype.
    """
    return sample_latents(latent_moments(vae, frames), float(vae.config.scaling_factor), generator)


def pad_first_frame_latents(first_frame_latents: torch.Tensor, num_frames_latent: int) -> torch.Tensor:
    """Zero-pad a first-frame latent ``(B, 1, C, h, w)`` to ``(B, F, C, h, w)`` (CogVideoX I2V)."""
    batch, _, channels, height, width = first_frame_latents.shape
    padding = first_frame_latents.new_zeros((batch, num_frames_latent - 1, channels, height, width))
    return torch.cat([first_frame_latents, padding], dim=1)


def first_frame_dropout_mask(batch_size: int, probability: float, generator: torch.Generator) -> torch.Tensor:
    """``(B,)`` bool: which samples lose both first-frame latents this step."""
    return draw_uniform((batch_size,), generator) < probability


def apply_first_frame_dropout(latents: torch.Tensor, dropped: torch.Tensor) -> torch.Tensor:
    """Zero the samples of ``latents (B, …)`` where ``dropped (B,)`` is true."""
    keep = (~dropped).to(device=latents.device, dtype=latents.dtype).view(-1, *([1] * (latents.dim() - 1)))
    return latents * keep


def draw_timesteps(
    batch_size: int, num_train_timesteps: int, generator: torch.Generator, fixed: Optional[int] = None
) -> torch.Tensor:
    """``(B,)`` int64 timesteps, uniform in ``[0, num_train_timesteps)`` (or all ``fixed``)."""
    if fixed is not None:
        if not 0 <= fixed < num_train_timesteps:
            raise ValueError(f"fixed timestep {fixed} is outside [0, {num_train_timesteps})")
        return torch.full((batch_size,), int(fixed), dtype=torch.int64)
    return torch.randint(0, num_train_timesteps, (batch_size,), generator=generator, dtype=torch.int64)


def diffusion_loss(
    model_output: torch.Tensor,
    noisy_latents: torch.Tensor,
    clean_latents: torch.Tensor,
    timesteps: torch.Tensor,
    scheduler: Any,
) -> torch.Tensor:
    """CogVideoX/DaS loss: SNR-style weighted MSE between the implied ``x0`` and the clean latents.

    ``x̂0 = scheduler.get_velocity(v̂, x_t, t) = √ᾱ_t·x_t − √(1−ᾱ_t)·v̂``, weights
    ``1 / (1 − ᾱ_t)``,
    mean over every element of a sample, then over the batch. Computed in float32.

    Args:
        model_output: ``(B, F, C, h, w)`` predicted velocity ``v̂``.
        noisy_latents: ``(B, F, C, h, w)`` the transformer's noisy input ``x_t``.
        clean_latents: ``(B, F, C, h, w)`` target ``x0``.
        timesteps: ``(B,)`` int64.
        scheduler: a diffusers scheduler with ``alphas_cumprod`` and ``get_velocity``
            (``CogVideoXDPMScheduler``).

    Returns:
        Scalar loss.
    """
    model_output = model_output.float()
    noisy_latents = noisy_latents.float()
    clean_latents = clean_latents.float()
    timesteps = timesteps.to(model_output.device)
    predicted_x0 = scheduler.get_velocity(model_output, noisy_latents, timesteps)
    alphas_cumprod = scheduler.alphas_cumprod.to(device=model_output.device, dtype=torch.float32)
    weights = (1.0 / (1.0 - alphas_cumprod[timesteps])).view(-1, *([1] * (model_output.dim() - 1)))
    per_sample = (weights * (predicted_x0 - clean_latents) ** 2).reshape(model_output.shape[0], -1).mean(dim=1)
    return per_sample.mean()


@dataclass
class Conditioning:
    """The transformer's inputs for one micro-batch (all ``(B, F, C, h, w)`` unless noted).

    ``noisy_input = cat([x_t, image_latents], 2)``, ``tracking_input =
    cat([tracking_latents, tracking_image_latents], 2)`` — ``2C`` channels each.
    """

    video_latents: torch.Tensor
    noisy_latents: torch.Tensor
    noisy_input: torch.Tensor
    tracking_input: torch.Tensor
    timesteps: torch.Tensor
    """``(B,)`` int64."""
    dropped: torch.Tensor
    """``(B,)`` bool: samples whose first-frame latents were zeroed."""
    image_noise_sigma: torch.Tensor
    """``(B,)`` the first-frame noise level used."""


def build_conditioning(
    *,
    video_latents: torch.Tensor,
    first_frame_latents: torch.Tensor,
    tracking_latents: torch.Tensor,
    tracking_first_frame_latents: torch.Tensor,
    scheduler: Any,
    generator: torch.Generator,
    image_dropout: float,
    image_noise_sigma: torch.Tensor,
    fixed_timestep: Optional[int] = None,
) -> Conditioning:
    """Noise the video latents and assemble both streams' inputs (SPEC §12).

    Args:
        video_latents: ``(B, F, C, h, w)`` clean latents ``x0``.
        first_frame_latents: ``(B, 1, C, h, w)`` latents of the noise-augmented first frame.
        tracking_latents: ``(B, F, C, h, w)`` latents of the tracking video.
        tracking_first_frame_latents: ``(B, 1, C, h, w)`` latents of the tracking video's frame 0.
        scheduler: the training noise scheduler (``CogVideoXDPMScheduler``).
        generator: this micro-batch's generator (see :func:`step_generator`).
        image_dropout: probability of zeroing both first-frame latents of a sample.
        image_noise_sigma: ``(B,)`` the σ already applied to the first frame (recorded only).
        fixed_timestep: debugging: this timestep for every sample.
    """
    batch_size, frames = video_latents.shape[:2]
    image_latents = pad_first_frame_latents(first_frame_latents, frames)
    tracking_image_latents = pad_first_frame_latents(tracking_first_frame_latents, frames)
    dropped = first_frame_dropout_mask(batch_size, image_dropout, generator)
    image_latents = apply_first_frame_dropout(image_latents, dropped)
    tracking_image_latents = apply_first_frame_dropout(tracking_image_latents, dropped)

    timesteps = draw_timesteps(batch_size, int(scheduler.config.num_train_timesteps), generator, fixed_timestep)
    noise = draw_normal(tuple(video_latents.shape), generator, video_latents.device, video_latents.dtype)
    timesteps = timesteps.to(video_latents.device)
    noisy_latents = scheduler.add_noise(video_latents, noise, timesteps)
    return Conditioning(
        video_latents=video_latents,
        noisy_latents=noisy_latents,
        noisy_input=torch.cat([noisy_latents, image_latents.to(noisy_latents.dtype)], dim=2),
        tracking_input=torch.cat([tracking_latents, tracking_image_latents.to(tracking_latents.dtype)], dim=2),
        timesteps=timesteps,
        dropped=dropped,
        image_noise_sigma=image_noise_sigma,
    )
