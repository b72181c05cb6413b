"""CogVideoXTransformer3DModelTracking against diffusers' base model and a plain reference forward.

Dummy models follow diffusers' test style: one seeded tiny config per test, sized so that
every structural feature is present (several heads, rotary + learned position embeddings,
more base blocks than tracking blocks) while a forward pass takes milliseconds.
"""

from __future__ import annotations

import pytest
import torch
from diffusers import CogVideoXTransformer3DModel
from diffusers.models.embeddings import get_3d_rotary_pos_embed

from core.transformer import (
    TRACKING_MODULE_NAMES,
    CogVideoXTransformer3DModelTracking,
    set_tracking_trainable,
)

BATCH = 2  # > 1 so per-sample timesteps and batch handling are exercised
LATENT_CHANNELS = 16  # CogVideoX's latent channels; the model sees 2·16 (I2V concatenation)
LATENT_FRAMES = 3  # sample_frames = 9 → (9 - 1) / 4 + 1 = 3
LATENT_HEIGHT, LATENT_WIDTH = 6, 8  # unequal, so swapped axes fail; patch 2 → 3 × 4 tokens
TEXT_TOKENS = 7  # = max_text_seq_length (learned position embeddings cover exactly this)
TEXT_DIM = 12
HEAD_DIM = 16  # smallest head size the 3D rotary embedding splits evenly
NUM_LAYERS = 3
NUM_TRACKING = 2  # < NUM_LAYERS: the last base block has no tracking partner

BASE_CONFIG = dict(
    num_attention_heads=2,
    attention_head_dim=HEAD_DIM,
    in_channels=2 * LATENT_CHANNELS,
    out_channels=LATENT_CHANNELS,
    time_embed_dim=8,
    text_embed_dim=TEXT_DIM,
    num_layers=NUM_LAYERS,
    sample_width=LATENT_WIDTH,
    sample_height=LATENT_HEIGHT,
    sample_frames=9,
    max_text_seq_length=TEXT_TOKENS,
)
# The three architectures CogVideoX configs select between: 5B-I2V (DaS's base), 2B-style
# sinusoidal positions with an "ofs" embedding, and 1.5-style temporal patches.
CONFIGS = {
    "5b-i2v": dict(use_rotary_positional_embeddings=True, use_learned_positional_embeddings=True),
    "sincos+ofs": dict(ofs_embed_dim=8),
    "patch_t": dict(use_rotary_positional_embeddings=True, patch_size_t=2, sample_frames=17),
}


def base_model(variant: str = "5b-i2v", seed: int = 0) -> CogVideoXTransformer3DModel:
    torch.manual_seed(seed)
    return CogVideoXTransformer3DModel(**{**BASE_CONFIG, **CONFIGS[variant]}).eval()


def randomize_combine_layers(model: CogVideoXTransformer3DModelTracking, seed: int = 1, std: float = 0.2) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for linear in [*model.combine_linears, model.initial_combine_linear]:
            linear.weight.copy_(torch.randn(linear.weight.shape, generator=generator) * std)
            linear.bias.copy_(torch.randn(linear.bias.shape, generator=generator) * std)


def dummy_inputs(model: CogVideoXTransformer3DModel, seed: int = 0) -> dict:
    generator = torch.Generator().manual_seed(seed)
    frames = LATENT_FRAMES if model.config.patch_size_t is None else 2 * LATENT_FRAMES - 2
    shape = (BATCH, frames, 2 * LATENT_CHANNELS, LATENT_HEIGHT, LATENT_WIDTH)
    inputs = dict(
        hidden_states=torch.randn(shape, generator=generator),
        encoder_hidden_states=torch.randn(BATCH, TEXT_TOKENS, TEXT_DIM, generator=generator),
        timestep=torch.tensor([10, 700]),
    )
    if model.config.use_rotary_positional_embeddings:
        p = model.config.patch_size
        grid = (LATENT_HEIGHT // p, LATENT_WIDTH // p)
        temporal = frames if model.config.patch_size_t is None else frames // model.config.patch_size_t
        inputs["image_rotary_emb"] = get_3d_rotary_pos_embed(HEAD_DIM, ((0, 0), grid), grid, temporal)
    if model.config.ofs_embed_dim:
        inputs["ofs"] = torch.tensor([2.0])
    return inputs


def tracking_input(like: torch.Tensor, seed: int) -> torch.Tensor:
    return torch.randn(like.shape, generator=torch.Generator().manual_seed(seed))


def reference_forward(model: CogVideoXTransformer3DModelTracking, inputs: dict, tracking_maps: torch.Tensor) -> torch.Tensor:
    """SPEC §4 written out plainly from the model's parts (5b-i2v config: no ofs, no p_t)."""
    hidden, text = inputs["hidden_states"], inputs["encoder_hidden_states"]
    rotary = inputs.get("image_rotary_emb")
    b, f, _, h, w = hidden.shape
    emb = model.time_embedding(model.time_proj(inputs["timestep"]).to(hidden.dtype))
    main = model.patch_embed(text, hidden)
    track = model.patch_embed(text, tracking_maps)[:, TEXT_TOKENS:]
    text_tokens, x = main[:, :TEXT_TOKENS], main[:, TEXT_TOKENS:]
    y = model.initial_combine_linear(x + track)
    for i in range(NUM_LAYERS):
        x, text_tokens = model.transformer_blocks[i](x, text_tokens, emb, rotary)
        if i < NUM_TRACKING:
            y, _ = model.transformer_blocks_copy[i](y, text_tokens, emb, rotary)
            y = model.combine_linears[i](y)
            x = x + y
    x = model.proj_out(model.norm_out(model.norm_final(x), temb=emb))
    p = model.config.patch_size
    x = x.reshape(b, f, h // p, w // p, LATENT_CHANNELS, p, p)  # tokens: (frame, row, col) × (c, dy, dx)
    return x.permute(0, 1, 4, 2, 5, 3, 6).reshape(b, f, LATENT_CHANNELS, h, w)


@pytest.mark.parametrize("variant", sorted(CONFIGS))
def test_zero_combine_layers_equal_the_base_model_whatever_the_tracking_input(variant):
    base = base_model(variant)
    model = CogVideoXTransformer3DModelTracking.from_base(base, NUM_TRACKING).eval()
    inputs = dummy_inputs(base)
    with torch.no_grad():
        expected = base(**inputs).sample
        for seed in (1, 2):
            tracking = tracking_input(inputs["hidden_states"], seed)
            torch.testing.assert_close(model(**inputs, tracking_maps=tracking).sample, expected, rtol=0, atol=0)
        torch.testing.assert_close(model(**inputs).sample, expected, rtol=0, atol=0)  # no tracking stream


def test_nonzero_combine_layers_match_the_reference_forward_and_depend_on_tracking():
    model = CogVideoXTransformer3DModelTracking.from_base(base_model(), NUM_TRACKING).eval()
    randomize_combine_layers(model)
    inputs = dummy_inputs(model)
    tracking_a = tracking_input(inputs["hidden_states"], 1)
    tracking_b = tracking_input(inputs["hidden_states"], 2)
    with torch.no_grad():
        out_a = model(**inputs, tracking_maps=tracking_a).sample
        out_b = model(**inputs, tracking_maps=tracking_b).sample
        base_out = model(**inputs).sample
        torch.testing.assert_close(out_a, reference_forward(model, inputs, tracking_a), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(out_b, reference_forward(model, inputs, tracking_b), rtol=1e-5, atol=1e-5)
    assert out_a.shape == (BATCH, LATENT_FRAMES, LATENT_CHANNELS, LATENT_HEIGHT, LATENT_WIDTH)
    assert (out_a - out_b).abs().max() > 1e-2
    assert (out_a - base_out).abs().max() > 1e-2


def test_return_dict_false_and_shape_mismatch():
    model = CogVideoXTransformer3DModelTracking.from_base(base_model(), NUM_TRACKING).eval()
    randomize_combine_layers(model)
    inputs = dummy_inputs(model)
    tracking = tracking_input(inputs["hidden_states"], 1)
    with torch.no_grad():
        (as_tuple,) = model(**inputs, tracking_maps=tracking, return_dict=False)
        torch.testing.assert_close(as_tuple, model(**inputs, tracking_maps=tracking).sample, rtol=0, atol=0)
        with pytest.raises(ValueError, match="tracking_maps must have the shape"):
            model(**inputs, tracking_maps=tracking[:, :, :LATENT_CHANNELS])


def expected_tracking_keys(model: CogVideoXTransformer3DModelTracking) -> set[str]:
    block_suffixes = {key.split(".", 2)[2] for key in model.state_dict() if key.startswith("transformer_blocks.0.")}
    keys = {f"transformer_blocks_copy.{i}.{suffix}" for i in range(NUM_TRACKING) for suffix in block_suffixes}
    keys |= {f"combine_linears.{i}.{param}" for i in range(NUM_TRACKING) for param in ("weight", "bias")}
    return keys | {"initial_combine_linear.weight", "initial_combine_linear.bias"}


def test_save_and_load_round_trip_with_exact_state_dict_names(tmp_path):
    base = base_model()
    model = CogVideoXTransformer3DModelTracking.from_base(base, NUM_TRACKING).eval()
    randomize_combine_layers(model)
    model.save_pretrained(tmp_path / "transformer")

    loaded, info = CogVideoXTransformer3DModelTracking.from_pretrained(
        tmp_path / "transformer", output_loading_info=True
    )
    assert info["missing_keys"] == [] and info["unexpected_keys"] == [] and info["mismatched_keys"] == []
    assert loaded.config.num_tracking_blocks == NUM_TRACKING
    assert set(loaded.state_dict()) == set(base.state_dict()) | expected_tracking_keys(model)
    assert "transformer_blocks_copy.1.attn1.to_q.weight" in loaded.state_dict()
    assert "transformer_blocks_copy.2.attn1.to_q.weight" not in loaded.state_dict()

    inputs = dummy_inputs(model)
    tracking = tracking_input(inputs["hidden_states"], 1)
    with torch.no_grad():
        torch.testing.assert_close(
            loaded.eval()(**inputs, tracking_maps=tracking).sample,
            model(**inputs, tracking_maps=tracking).sample,
            rtol=0,
            atol=0,
        )


def test_loads_a_config_written_by_the_das_code(tmp_path):
    """DaS saved its config with an older diffusers: no ofs/patch_size_t/patch_bias keys."""
    model = CogVideoXTransformer3DModelTracking.from_base(base_model(), NUM_TRACKING)
    model.save_pretrained(tmp_path)
    config = CogVideoXTransformer3DModelTracking.load_config(tmp_path)
    for newer_key in ("ofs_embed_dim", "patch_size_t", "patch_bias", "_diffusers_version"):
        config.pop(newer_key)
    config["_diffusers_version"] = "0.32.0.dev0"
    (tmp_path / "config.json").write_text(__import__("json").dumps(config), encoding="utf-8")
    loaded, info = CogVideoXTransformer3DModelTracking.from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    assert loaded.config.patch_size_t is None and loaded.config.num_tracking_blocks == NUM_TRACKING


def test_from_base_copies_blocks_and_zeroes_combine_layers():
    base = base_model()
    model = CogVideoXTransformer3DModelTracking.from_base(base, NUM_TRACKING)
    assert model.config.num_tracking_blocks == NUM_TRACKING
    assert {k: v for k, v in model.config.items() if k in base.config and not k.startswith("_")} == {
        k: v for k, v in base.config.items() if not k.startswith("_")
    }
    for i in range(NUM_TRACKING):
        copied, original = model.transformer_blocks_copy[i].state_dict(), base.transformer_blocks[i].state_dict()
        assert copied.keys() == original.keys()
        for key in original:
            torch.testing.assert_close(copied[key], original[key], rtol=0, atol=0)
            assert copied[key].data_ptr() != original[key].data_ptr()  # a copy, not an alias
    for linear in [*model.combine_linears, model.initial_combine_linear]:
        assert not linear.weight.any() and not linear.bias.any()
    # The main stream keeps the base's tensors (documented: no second copy of the base).
    shared = model.transformer_blocks[0].ff.net[0].proj.weight, base.transformer_blocks[0].ff.net[0].proj.weight
    assert shared[0].data_ptr() == shared[1].data_ptr()
    with pytest.raises(ValueError, match="num_tracking_blocks"):
        CogVideoXTransformer3DModelTracking.from_base(base, NUM_LAYERS + 1)


def test_set_tracking_trainable_freezes_everything_else():
    model = CogVideoXTransformer3DModelTracking.from_base(base_model(), NUM_TRACKING)
    trainable = set_tracking_trainable(model)
    trainable_names = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable_names and all(name.startswith(TRACKING_MODULE_NAMES) for name in trainable_names)
    assert trainable_names == {name for name, _ in model.named_parameters() if name.startswith(TRACKING_MODULE_NAMES)}
    assert {id(p) for p in trainable} == {id(p) for p in model.trainable_parameters()}


def test_gradient_checkpointing_gives_the_same_output_and_gradients():
    base = base_model()
    plain = CogVideoXTransformer3DModelTracking.from_base(base, NUM_TRACKING)
    randomize_combine_layers(plain)
    checkpointed = CogVideoXTransformer3DModelTracking.from_base(base_model(), NUM_TRACKING)
    checkpointed.load_state_dict(plain.state_dict())
    checkpointed.enable_gradient_checkpointing()
    calls = []
    inner = checkpointed._gradient_checkpointing_func
    checkpointed._gradient_checkpointing_func = lambda *args: calls.append(args[0]) or inner(*args)

    inputs = dummy_inputs(plain)
    tracking = tracking_input(inputs["hidden_states"], 1)
    results = []
    for model in (plain, checkpointed):
        model.train()
        set_tracking_trainable(model)
        output = model(**inputs, tracking_maps=tracking).sample
        output.square().mean().backward()
        results.append((output.detach(), {n: p.grad for n, p in model.named_parameters() if p.requires_grad}))

    assert len(calls) == NUM_LAYERS + NUM_TRACKING  # both streams went through checkpointing
    torch.testing.assert_close(results[1][0], results[0][0], rtol=1e-6, atol=1e-6)
    assert results[0][1].keys() == results[1][1].keys()
    for name, grad in results[0][1].items():
        assert grad is not None and grad.abs().sum() > 0, name
        torch.testing.assert_close(results[1][1][name], grad, rtol=1e-5, atol=1e-6)
