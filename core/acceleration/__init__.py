"""Speed and memory options of the engine: weight quantisation, step caching, attention backends.

Applied by :func:`core.engine.configure_pipeline` from :class:`core.engine.EngineConfig` fields
(``quantize``, ``step_cache_threshold``, ``attention_backend``); measured by
``bench/gpu.py --all``. This package module stays free of torch so that configs validate
cheaply; the submodules (:mod:`.quantize`, :mod:`.step_cache`, :mod:`.attention`) import it.
"""

from __future__ import annotations

from core.errors import UserError

QUANTIZE_MODES = ("none", "int8", "fp8")
"""Weight formats of the transformer's and T5's linear layers (see :mod:`core.acceleration.quantize`)."""
ACCELERATION_OFFLOAD_MODES = ("none", "model")
"""Memory modes quantisation composes with."""


class AccelerationError(UserError):
    """An acceleration option that cannot run here; the message says what to use instead."""


def quantize_pipeline(pipe, mode: str, device=None, keep_on_device: bool = True) -> None:
    """Quantise ``pipe.transformer`` and ``pipe.text_encoder`` (see :mod:`.quantize`)."""
    from core.acceleration.quantize import quantize_pipeline as quantize

    quantize(pipe, mode, device, keep_on_device)


def apply_attention_backend(pipe, backend: str) -> None:
    """Route the transformer's attention through diffusers' dispatcher ``backend`` (see :mod:`.attention`)."""
    from core.acceleration.attention import set_attention_backend

    set_attention_backend(pipe.transformer, backend)


def apply_step_cache_threshold(pipe, threshold: float):
    """Register the step cache on the transformer (see :mod:`.step_cache`); returns its state."""
    from core.acceleration.step_cache import StepCacheConfig, apply_step_cache

    return apply_step_cache(pipe.transformer, StepCacheConfig(threshold=threshold))
