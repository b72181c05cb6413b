"""The Diffusion-as-Shader transformer: CogVideoX plus a parallel tracking stream (SPEC §4).

:class:`CogVideoXTransformer3DModelTracking` is diffusers' :class:`CogVideoXTransformer3DModel`
with a second, shorter stack of transformer blocks that reads the VAE latents of a *tracking
video* and adds what it computes into the main stream after each of the first
``num_tracking_blocks`` main blocks:

.. code-block:: text

    main  = patch_embed(text, hidden_states)   ─► text tokens T, video tokens X
    track = patch_embed(text, tracking_maps)   ─► video tokens Y (its text tokens are dropped)
    track = initial_combine_linear(X + Y)
    for i, block in enumerate(transformer_blocks):
        X, T = block(X, T)
        if i < num_tracking_blocks:
            track, _ = transformer_blocks_copy[i](track, T)     # T: text tokens *after* main block i
            track = combine_linears[i](track)                   # the projection flows on to block i+1
            X = X + track
    output = unpatchify(proj_out(norm_out(norm_final(X))))

The extra module names (``transformer_blocks_copy``, ``combine_linears``,
``initial_combine_linear``) are the state-dict names of the published checkpoint
``EXCAI/Diffusion-As-Shader`` (folder ``transformer/``), which therefore loads with no missing
or unexpected keys.

Shapes: ``B`` batch, ``F`` latent frames, ``C`` latent channels (16 for CogVideoX), ``h, w``
latent height and width (pixels / 8). Both ``hidden_states`` and ``tracking_maps`` are
``(B, F, 2·C, h, w)``: ``[noisy latents | first-frame image latents]`` for the main stream and
``[tracking-video latents | tracking first-frame latents]`` for the tracking stream.
"""

from __future__ import annotations

import copy
import inspect
from typing import Any, Iterator

import torch
from accelerate import init_empty_weights
from diffusers.configuration_utils import register_to_config
from diffusers.models._modeling_parallel import ContextParallelInput, ContextParallelOutput
from diffusers.models.modeling_outputs import Transformer2DModelOutput
from diffusers.models.transformers.cogvideox_transformer_3d import CogVideoXBlock, CogVideoXTransformer3DModel
from diffusers.utils import apply_lora_scale
from torch import nn

DEFAULT_NUM_TRACKING_BLOCKS = 18
"""Tracking blocks in the published DaS checkpoint (of CogVideoX-5B-I2V's 42 base blocks)."""

TRACKING_MODULE_NAMES = ("transformer_blocks_copy", "combine_linears", "initial_combine_linear")
"""Top-level modules that DaS trains; everything else is the frozen CogVideoX base (SPEC §12)."""


class CogVideoXTransformer3DModelTracking(CogVideoXTransformer3DModel):
    """CogVideoX transformer with a DaS tracking stream (SPEC §4).

    Takes every argument of :class:`CogVideoXTransformer3DModel` (all registered in the config)
    plus ``num_tracking_blocks``: how many of the first base blocks get a parallel tracking
    block (0 ≤ ``num_tracking_blocks`` ≤ ``num_layers``; 18 in the published checkpoint).

    A freshly constructed model has zero ``combine_linears`` and ``initial_combine_linear``
    (as DaS initialises them), so it computes exactly what the base model computes whatever
    the tracking input; loading a checkpoint overwrites them. Unlike the DaS research code,
    constructing or loading the model does *not* change ``requires_grad``: call
    :func:`set_tracking_trainable` for training.
    """

    # Context parallelism (core.acceleration.parallel): where diffusers' hooks split the token
    # sequences over processes and gather them back. Split after the patch embedding, at the
    # first block of each stream (text and video tokens of the main stream, video tokens of the
    # tracking stream: its blocks read the main stream's already split text tokens), with the
    # rotary embedding of the video tokens split the same way at the model's input. Every step
    # in between is per token except attention, which the dispatcher runs context-parallel.
    _cp_plan = {
        "": {
            "image_rotary_emb": (
                ContextParallelInput(split_dim=0, expected_dims=2),
                ContextParallelInput(split_dim=0, expected_dims=2),
            ),
        },
        "transformer_blocks.0": {
            "hidden_states": ContextParallelInput(split_dim=1, expected_dims=3),
            "encoder_hidden_states": ContextParallelInput(split_dim=1, expected_dims=3),
        },
        "transformer_blocks_copy.0": {
            "hidden_states": ContextParallelInput(split_dim=1, expected_dims=3),
        },
        "proj_out": ContextParallelOutput(gather_dim=1, expected_dims=3),
    }

    @register_to_config
    def __init__(
        self,
        num_attention_heads: int = 30,
        attention_head_dim: int = 64,
        in_channels: int = 16,
        out_channels: int | None = 16,
        flip_sin_to_cos: bool = True,
        freq_shift: int = 0,
        time_embed_dim: int = 512,
        ofs_embed_dim: int | None = None,
        text_embed_dim: int = 4096,
        num_layers: int = 30,
        dropout: float = 0.0,
        attention_bias: bool = True,
        sample_width: int = 90,
        sample_height: int = 60,
        sample_frames: int = 49,
        patch_size: int = 2,
        patch_size_t: int | None = None,
        temporal_compression_ratio: int = 4,
        max_text_seq_length: int = 226,
        activation_fn: str = "gelu-approximate",
        timestep_activation_fn: str = "silu",
        norm_elementwise_affine: bool = True,
        norm_eps: float = 1e-5,
        spatial_interpolation_scale: float = 1.875,
        temporal_interpolation_scale: float = 1.0,
        use_rotary_positional_embeddings: bool = False,
        use_learned_positional_embeddings: bool = False,
        patch_bias: bool = True,
        num_tracking_blocks: int = DEFAULT_NUM_TRACKING_BLOCKS,
    ):
        super().__init__(
            num_attention_heads=num_attention_heads,
            attention_head_dim=attention_head_dim,
            in_channels=in_channels,
            out_channels=out_channels,
            flip_sin_to_cos=flip_sin_to_cos,
            freq_shift=freq_shift,
            time_embed_dim=time_embed_dim,
            ofs_embed_dim=ofs_embed_dim,
            text_embed_dim=text_embed_dim,
            num_layers=num_layers,
            dropout=dropout,
            attention_bias=attention_bias,
            sample_width=sample_width,
            sample_height=sample_height,
            sample_frames=sample_frames,
            patch_size=patch_size,
            patch_size_t=patch_size_t,
            temporal_compression_ratio=temporal_compression_ratio,
            max_text_seq_length=max_text_seq_length,
            activation_fn=activation_fn,
            timestep_activation_fn=timestep_activation_fn,
            norm_elementwise_affine=norm_elementwise_affine,
            norm_eps=norm_eps,
            spatial_interpolation_scale=spatial_interpolation_scale,
            temporal_interpolation_scale=temporal_interpolation_scale,
            use_rotary_positional_embeddings=use_rotary_positional_embeddings,
            use_learned_positional_embeddings=use_learned_positional_embeddings,
            patch_bias=patch_bias,
        )
        if not 0 <= num_tracking_blocks <= num_layers:
            raise ValueError(
                f"num_tracking_blocks must be between 0 and num_layers ({num_layers}), got {num_tracking_blocks}"
            )
        inner_dim = num_attention_heads * attention_head_dim

        # The tracking blocks are built with exactly the arguments of the base blocks so that
        # `from_base` can copy base weights into them and the checkpoint's shapes match.
        self.transformer_blocks_copy = nn.ModuleList(
            [
                CogVideoXBlock(
                    dim=inner_dim,
                    num_attention_heads=num_attention_heads,
                    attention_head_dim=attention_head_dim,
                    time_embed_dim=time_embed_dim,
                    dropout=dropout,
                    activation_fn=activation_fn,
                    attention_bias=attention_bias,
                    norm_elementwise_affine=norm_elementwise_affine,
                    norm_eps=norm_eps,
                )
                for _ in range(num_tracking_blocks)
            ]
        )
        self.combine_linears = nn.ModuleList([nn.Linear(inner_dim, inner_dim) for _ in range(num_tracking_blocks)])
        self.initial_combine_linear = nn.Linear(inner_dim, inner_dim)
        self.zero_combine_layers()

    # ----------------------------------------------------------------------------------------
    # Construction helpers
    # ----------------------------------------------------------------------------------------

    def zero_combine_layers(self) -> None:
        """Set ``combine_linears`` and ``initial_combine_linear`` to zero (weights and biases).

        With zero ``combine_linears`` the tracking stream adds nothing to the main stream, so
        the model equals its base model; DaS also zeroes ``initial_combine_linear`` at the start
        of training, which we keep.
        """
        with torch.no_grad():
            for linear in [*self.combine_linears, self.initial_combine_linear]:
                linear.weight.zero_()
                linear.bias.zero_()

    @classmethod
    def from_base(
        cls, base: CogVideoXTransformer3DModel, num_tracking_blocks: int = DEFAULT_NUM_TRACKING_BLOCKS
    ) -> "CogVideoXTransformer3DModelTracking":
        """Build an untrained DaS transformer from a base CogVideoX transformer (SPEC §4, §12).

        The config is the base's plus ``num_tracking_blocks``; tracking block ``i`` is a deep
        copy of base block ``i``; the combine layers are zero, so the result computes exactly
        what ``base`` computes until it is trained.

        The main-stream parameters are *shared* with ``base`` (same tensors, no copy): building
        from the 5B base would otherwise need a second copy of ~5B weights in memory. Pass
        ``copy.deepcopy(base)`` if the two must stay independent.

        Args:
            base: a ``CogVideoXTransformer3DModel`` (e.g. CogVideoX-5B-I2V's ``transformer/``).
            num_tracking_blocks: tracking blocks to create (≤ ``base.config.num_layers``).

        Returns:
            The tracking model, on ``base``'s device and in ``base``'s dtype.
        """
        init_parameters = inspect.signature(cls.__init__).parameters
        config = {key: value for key, value in base.config.items() if key in init_parameters}
        config["num_tracking_blocks"] = num_tracking_blocks

        # Parameters are created on the meta device (no memory, no random init) and then take
        # the base's tensors; buffers stay real and are overwritten from the base below.
        with init_empty_weights():
            model = cls(**config)
        base_state = base.state_dict()
        missing, unexpected = model.load_state_dict(base_state, strict=False, assign=True)
        tracking_missing = [key for key in missing if not key.startswith(TRACKING_MODULE_NAMES)]
        if tracking_missing or unexpected:
            raise ValueError(
                f"base model does not match its own config: missing {tracking_missing}, unexpected {unexpected}"
            )
        for name, buffer in base.named_buffers():
            owner_name, _, buffer_name = name.rpartition(".")
            setattr(model.get_submodule(owner_name), buffer_name, buffer)

        device, dtype = base.device, base.dtype
        model.transformer_blocks_copy = nn.ModuleList(
            [copy.deepcopy(base.transformer_blocks[i]) for i in range(num_tracking_blocks)]
        )
        inner_dim = base.config.num_attention_heads * base.config.attention_head_dim
        model.combine_linears = nn.ModuleList(
            [nn.Linear(inner_dim, inner_dim, device=device, dtype=dtype) for _ in range(num_tracking_blocks)]
        )
        model.initial_combine_linear = nn.Linear(inner_dim, inner_dim, device=device, dtype=dtype)
        model.zero_combine_layers()
        model.train(base.training)
        return model

    def trainable_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters of the tracking branch: ``transformer_blocks_copy``, ``combine_linears``,
        ``initial_combine_linear`` (what DaS trains)."""
        for name in TRACKING_MODULE_NAMES:
            yield from getattr(self, name).parameters()

    # ----------------------------------------------------------------------------------------
    # Forward
    # ----------------------------------------------------------------------------------------

    def _time_embedding(
        self,
        timestep: int | float | torch.Tensor,
        timestep_cond: torch.Tensor | None,
        ofs: int | float | torch.Tensor | None,
        dtype: torch.dtype,
    ) -> torch.Tensor:
        """Timestep (+ optional "ofs") embedding, as the base model computes it: ``(B, time_embed_dim)``."""
        # The sinusoidal projection has no weights and always returns float32; the embedding
        # MLP may run in half precision, hence the cast.
        embedding = self.time_embedding(self.time_proj(timestep).to(dtype=dtype), timestep_cond)
        if self.ofs_embedding is not None:
            embedding = embedding + self.ofs_embedding(self.ofs_proj(ofs).to(dtype=dtype))
        return embedding

    def _run_block(
        self,
        block: CogVideoXBlock,
        video_tokens: torch.Tensor,
        text_tokens: torch.Tensor,
        embedding: torch.Tensor,
        image_rotary_emb: tuple[torch.Tensor, torch.Tensor] | None,
        attention_kwargs: dict[str, Any] | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One CogVideoX block, through the gradient-checkpointing function when enabled."""
        if torch.is_grad_enabled() and self.gradient_checkpointing:
            return self._gradient_checkpointing_func(
                block, video_tokens, text_tokens, embedding, image_rotary_emb, attention_kwargs
            )
        return block(
            hidden_states=video_tokens,
            encoder_hidden_states=text_tokens,
            temb=embedding,
            image_rotary_emb=image_rotary_emb,
            attention_kwargs=attention_kwargs,
        )

    def _unpatchify(self, tokens: torch.Tensor, batch_size: int, num_frames: int, height: int, width: int) -> torch.Tensor:
        """``(B, F'·h/p·w/p, p_t·p·p·C_out)`` tokens → ``(B, F, C_out, h, w)`` latents (base model's layout).

        The channel count is inferred (``-1``) because the I2V model's output has half the
        input channels.
        """
        p = self.config.patch_size
        p_t = self.config.patch_size_t
        if p_t is None:
            # CogVideoX 1.0: tokens are (frame, row, column); each holds a p × p patch.
            patches = tokens.reshape(batch_size, num_frames, height // p, width // p, -1, p, p)
            return patches.permute(0, 1, 4, 2, 5, 3, 6).flatten(5, 6).flatten(3, 4)
        # CogVideoX 1.5: each token also spans p_t frames.
        patches = tokens.reshape(batch_size, (num_frames + p_t - 1) // p_t, height // p, width // p, -1, p_t, p, p)
        return patches.permute(0, 1, 5, 4, 2, 6, 3, 7).flatten(6, 7).flatten(4, 5).flatten(1, 2)

    @apply_lora_scale("attention_kwargs")
    def forward(
        self,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        timestep: int | float | torch.LongTensor,
        timestep_cond: torch.Tensor | None = None,
        ofs: int | float | torch.LongTensor | None = None,
        image_rotary_emb: tuple[torch.Tensor, torch.Tensor] | None = None,
        attention_kwargs: dict[str, Any] | None = None,
        return_dict: bool = True,
        tracking_maps: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor] | Transformer2DModelOutput:
        """Predict the denoising target (``v`` for CogVideoX) for ``hidden_states``.

        Args:
            hidden_states: ``(B, F, C_in, h, w)`` — noisy latents concatenated with the
                first-frame image latents along channels (``C_in = 2·C``).
            encoder_hidden_states: ``(B, L, text_embed_dim)`` T5 text embeddings.
            timestep: ``(B,)`` diffusion timesteps.
            timestep_cond, ofs, image_rotary_emb, attention_kwargs, return_dict: as in
                :meth:`CogVideoXTransformer3DModel.forward` (``attention_kwargs["scale"]``
                scales LoRA layers when PEFT is used).
            tracking_maps: ``(B, F, C_in, h, w)`` — tracking-video latents concatenated with
                the tracking first-frame latents, same layout as ``hidden_states``. ``None``
                skips the tracking stream (the model then equals its base model).

        Returns:
            ``Transformer2DModelOutput(sample=(B, F, C_out, h, w))``, or the 1-tuple
            ``(sample,)`` when ``return_dict`` is False.
        """
        if tracking_maps is not None and tracking_maps.shape != hidden_states.shape:
            raise ValueError(
                f"tracking_maps must have the shape of hidden_states {tuple(hidden_states.shape)}, "
                f"got {tuple(tracking_maps.shape)}"
            )
        batch_size, num_frames, _, height, width = hidden_states.shape
        text_seq_length = encoder_hidden_states.shape[1]

        # 1. Time embedding (shared by both streams)
        embedding = self._time_embedding(timestep, timestep_cond, ofs, hidden_states.dtype)

        # 2. Patch embedding: the same patch_embed (text projection, patch projection and
        #    positional embedding) for both streams; the tracking stream's text tokens are
        #    not used — its blocks read the main stream's text tokens.
        main_tokens = self.embedding_dropout(self.patch_embed(encoder_hidden_states, hidden_states))
        tracking = None
        if tracking_maps is not None:
            tracking_tokens = self.embedding_dropout(self.patch_embed(encoder_hidden_states, tracking_maps))
            tracking_tokens = tracking_tokens[:, text_seq_length:]
        text_tokens = main_tokens[:, :text_seq_length]
        video_tokens = main_tokens[:, text_seq_length:]

        # 3. The tracking stream starts from both streams' video tokens.
        if tracking_maps is not None:
            tracking = self.initial_combine_linear(video_tokens + tracking_tokens)

        # 4. Transformer blocks; tracking block i runs after main block i, on the text tokens
        #    main block i just produced, and its projected output is both added to the main
        #    stream and passed on to tracking block i + 1.
        for index, block in enumerate(self.transformer_blocks):
            video_tokens, text_tokens = self._run_block(
                block, video_tokens, text_tokens, embedding, image_rotary_emb, attention_kwargs
            )
            if tracking is not None and index < len(self.transformer_blocks_copy):
                tracking, _ = self._run_block(
                    self.transformer_blocks_copy[index],
                    tracking,
                    text_tokens,
                    embedding,
                    image_rotary_emb,
                    attention_kwargs,
                )
                tracking = self.combine_linears[index](tracking)
                video_tokens = video_tokens + tracking

        # 5. Output head and unpatchify, as the base model. (norm_final is a per-token
        #    LayerNorm, so normalising the video tokens alone equals normalising them together
        #    with the text tokens, as older diffusers/DaS did, then dropping the text.)
        video_tokens = self.norm_final(video_tokens)
        video_tokens = self.norm_out(video_tokens, temb=embedding)
        video_tokens = self.proj_out(video_tokens)
        output = self._unpatchify(video_tokens, batch_size, num_frames, height, width)

        if not return_dict:
            return (output,)
        return Transformer2DModelOutput(sample=output)


def set_tracking_trainable(model: CogVideoXTransformer3DModelTracking) -> list[nn.Parameter]:
    """Freeze everything but the tracking branch, as DaS trains (SPEC §12).

    Sets ``requires_grad=True`` on ``transformer_blocks_copy``, ``combine_linears`` and
    ``initial_combine_linear`` and ``False`` on every other parameter.

    Returns:
        The trainable parameters (to hand to the optimiser).
    """
    model.requires_grad_(False)
    trainable = list(model.trainable_parameters())
    for parameter in trainable:
        parameter.requires_grad_(True)
    return trainable
