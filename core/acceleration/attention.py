"""Attention backend choice for the DaS transformer through diffusers' attention dispatcher.

diffusers' own ``CogVideoXAttnProcessor2_0`` calls ``torch.nn.functional.scaled_dot_product_attention``
directly, so ``model.set_attention_backend(...)`` does not reach it. :class:`DispatchingCogVideoXAttnProcessor`
computes the same joint text + video attention (text tokens first, rotary embedding on the video
part of queries and keys) but hands the attention product to
:func:`diffusers.models.attention_dispatch.dispatch_attention_fn`, which runs the chosen backend:
``native`` (PyTorch SDPA, the default), ``flash`` (flash-attn), ``sage`` (SageAttention), ... —
any :class:`~diffusers.models.attention_dispatch.AttentionBackendName` whose package is installed.
It is installed on every attention layer, main and tracking blocks alike.
"""

from __future__ import annotations

import torch

from core.acceleration import AccelerationError

DEFAULT_ATTENTION_BACKEND = "native"
"""PyTorch scaled-dot-product attention (what the model uses without this module)."""


class AttentionBackendError(AccelerationError):
    """An unknown attention backend, or one whose package is not installed."""


def available_attention_backends() -> list[str]:
    """Every backend name diffusers knows (installed or not)."""
    from diffusers.models.attention_dispatch import AttentionBackendName

    return sorted(name.value for name in AttentionBackendName if not name.value.startswith("_"))


def check_attention_backend(name: str) -> None:
    """Raise :class:`AttentionBackendError` unless ``name`` is a known backend that can run here."""
    from diffusers.models.attention_dispatch import AttentionBackendName, _check_attention_backend_requirements

    try:
        backend = AttentionBackendName(name)
    except ValueError:
        raise AttentionBackendError(
            f"unknown attention backend {name!r}; choose one of {', '.join(available_attention_backends())}"
        ) from None
    try:
        _check_attention_backend_requirements(backend)
    except (RuntimeError, ImportError) as error:
        raise AttentionBackendError(f"attention backend {name!r} cannot run here: {error}") from None


class DispatchingCogVideoXAttnProcessor:
    """CogVideoX joint attention whose product goes through diffusers' attention dispatcher.

    ``_attention_backend`` is the attribute diffusers' ``ModelMixin.set_attention_backend``
    sets; ``None`` uses the dispatcher's active backend (``native`` unless changed with
    ``diffusers.models.attention_dispatch.attention_backend(...)``).
    """

    def __init__(self, backend: str | None = None) -> None:
        self._attention_backend = backend
        self._parallel_config = None

    def __call__(
        self,
        attn,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        image_rotary_emb: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        from diffusers.models.attention_dispatch import dispatch_attention_fn
        from diffusers.models.embeddings import apply_rotary_emb

        if attention_mask is not None:
            raise ValueError("the DaS transformer does not use attention masks")
        text_length = encoder_hidden_states.size(1)
        tokens = torch.cat([encoder_hidden_states, hidden_states], dim=1)
        batch_size, sequence_length, _ = tokens.shape

        # (B, S, heads, head_dim): the dispatcher's layout.
        query = attn.to_q(tokens).unflatten(2, (attn.heads, -1))
        key = attn.to_k(tokens).unflatten(2, (attn.heads, -1))
        value = attn.to_v(tokens).unflatten(2, (attn.heads, -1))
        if attn.norm_q is not None:
            query = attn.norm_q(query)
        if attn.norm_k is not None:
            key = attn.norm_k(key)
        if image_rotary_emb is not None:
            # apply_rotary_emb works on (B, heads, S, D) by default; sequence_dim=1 is our layout.
            query = torch.cat([query[:, :text_length], apply_rotary_emb(query[:, text_length:], image_rotary_emb, sequence_dim=1)], dim=1)
            if not attn.is_cross_attention:
                key = torch.cat([key[:, :text_length], apply_rotary_emb(key[:, text_length:], image_rotary_emb, sequence_dim=1)], dim=1)

        output = dispatch_attention_fn(
            query, key, value, backend=self._attention_backend, parallel_config=self._parallel_config
        )
        output = output.flatten(2, 3).to(query.dtype)
        output = attn.to_out[1](attn.to_out[0](output))
        text_output, video_output = output.split([text_length, sequence_length - text_length], dim=1)
        return video_output, text_output


def set_attention_backend(transformer: torch.nn.Module, backend: str = DEFAULT_ATTENTION_BACKEND) -> None:
    """Route every attention layer of ``transformer`` (main and tracking blocks) through ``backend``.

    Raises:
        AttentionBackendError: unknown backend, or its package (flash-attn, sageattention, ...)
            is not installed / not usable on this machine.
    """
    from diffusers.models.attention_processor import Attention

    check_attention_backend(backend)
    for module in transformer.modules():
        if isinstance(module, Attention):
            module.set_processor(DispatchingCogVideoXAttnProcessor(backend))
